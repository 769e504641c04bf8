"""Signed deltas: each origin signs what it writes; every receiver verifies before it merges.

Protocols that relay other replicas' writes cannot tell, from the link a message came on, who wrote what
it carries. With signing on, every write travels as an *entry* ``(origin, seq, payload)`` (plus, for the
op protocol, the causal dependencies) with an Ed25519 signature of the origin over exactly those fields,
and is relayed as it was signed. A receiver checks the signature against the origin's public key in its
:class:`KeyRegistry` before anything else; a relaying peer can then neither invent writes, nor change
one (its payload, its causal context, its position), nor attribute a write to another origin.

The keys belong to replica ids without their incarnation suffix (``eu-west`` signs for ``eu-west~2`` too).
Needs the ``signing`` extra (``pip install "crdts[signing]"``, which installs ``cryptography``).

>>> signer = Signer.generate("eu-west")
>>> keys = KeyRegistry({"eu-west": signer.public_key})
>>> sig = signer.sign("eu-west~1", 7, b"payload")
>>> keys.verify("eu-west~1", 7, b"payload", sig)
>>> keys.verify("eu-west~1", 8, b"payload", sig)
Traceback (most recent call last):
  ...
crdts.sync.signing.BadSignature: the signature of eu-west~1:8 does not verify against eu-west's key: ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cbor2

from ..errors import CRDTError
from .trust import base_replica

__all__ = ["BadSignature", "KeyRegistry", "Signer"]

_CONTEXT = b"crdts signed delta v1\x00"


class BadSignature(CRDTError):
    """An entry's signature is missing, malformed, from an unknown origin or does not verify."""

    def __init__(self, origin: str, seq: int, reason: str) -> None:
        self.origin = origin
        self.seq = seq
        self.reason = reason
        super().__init__(f"the signature of {origin}:{seq} {reason}")


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError('signed deltas need the cryptography package: pip install "crdts[signing]"') from None
    return ed25519


def signed_bytes(origin: str, seq: int, payload: bytes, deps: list[Any] | None = None) -> bytes:
    """What is signed: a fixed context string, then the CBOR of ``[origin, seq, deps, payload]``."""
    return _CONTEXT + cbor2.dumps([origin, seq, deps or [], payload], canonical=True)


class Signer:
    """The private key of one replica id (and its incarnations). ``public_key`` is 32 raw bytes."""

    def __init__(self, replica: str, private_key: Any) -> None:
        """``private_key``: an ``Ed25519PrivateKey`` or its 32 raw bytes."""
        ed = _crypto()
        from cryptography.hazmat.primitives import serialization as ser

        self.replica = base_replica(replica)
        self._key = ed.Ed25519PrivateKey.from_private_bytes(private_key) if isinstance(private_key, bytes) \
            else private_key

        self.public_key: bytes = self._key.public_key().public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)

    @classmethod
    def generate(cls, replica: str) -> Signer:
        """A new random key for ``replica``."""
        return cls(replica, _crypto().Ed25519PrivateKey.generate())

    def sign(self, origin: str, seq: int, payload: bytes, deps: list[Any] | None = None) -> bytes:
        if base_replica(origin) != self.replica:
            raise ValueError(f"this key signs for {self.replica!r}, not {origin!r}")
        return bytes(self._key.sign(signed_bytes(origin, seq, payload, deps)))


class KeyRegistry:
    """Public keys by replica id (without incarnation suffix): who may originate writes for which id."""

    def __init__(self, keys: Mapping[str, Any]) -> None:
        ed = _crypto()
        self._keys: dict[str, Any] = {}
        for replica, key in keys.items():
            self._keys[base_replica(replica)] = ed.Ed25519PublicKey.from_public_bytes(key) \
                if isinstance(key, bytes) else key

    def __contains__(self, replica: object) -> bool:
        return isinstance(replica, str) and base_replica(replica) in self._keys

    def verify(self, origin: str, seq: int, payload: bytes, signature: Any, deps: list[Any] | None = None) -> None:
        """Raise :class:`BadSignature` unless ``signature`` is ``origin``'s over exactly these fields."""
        key = self._keys.get(base_replica(origin))
        if key is None:
            raise BadSignature(origin, seq, f"cannot be checked: no key for {base_replica(origin)!r}")
        if type(signature) is not bytes or len(signature) != 64:
            raise BadSignature(origin, seq, "is not a 64-byte Ed25519 signature")
        try:
            key.verify(signature, signed_bytes(origin, seq, payload, deps))
        except Exception:
            raise BadSignature(origin, seq, f"does not verify against {base_replica(origin)}'s key: forged or "
                                            f"altered on the way") from None
