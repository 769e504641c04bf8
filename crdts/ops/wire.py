"""Op messages on the wire: :class:`OpMessage` and :class:`Ack` in the codec's registry.

``crdts.encode(msg)`` / ``crdts.decode(data)`` handle them like every other crdts type: the same
envelope, replica table, limits and hardening (docs/wire-format.md, section 10). This module adds the
two type codes with ``crdts.codec.register_type`` at import (``crdts.ops`` imports it; ``import crdts``
imports ``crdts.ops``).

>>> from crdts import decode, encode
>>> from crdts.ops import Add, OpMessage
>>> m = OpMessage("eu-west", 3, (("us-east", 2),), Add("apple"))
>>> data = encode(m)
>>> data.hex()
'8818cd02181e826765752d776573746775732d6561737400038201028203656170706c65'
>>> decode(data) == m, len(data)
(True, 36)
"""

from __future__ import annotations

from typing import Any

from .. import codec
from ..causal import Timestamp
from ..errors import EncodeError, SchemaError
from .broadcast import Ack, OpMessage
from .operations import Add, Assign, Clear, Decrement, Increment, Remove, Update

__all__ = ["ACK_CODE", "KIND_CODES", "OPCODES", "OP_MESSAGE_CODE"]

#: Type codes of the envelope (codec.TYPE_CODES).
OP_MESSAGE_CODE = 30
ACK_CODE = 31
#: Operation codes: the first item of an encoded operation.
OPCODES: dict[type, int] = {Increment: 0, Decrement: 1, Assign: 2, Add: 3, Remove: 4, Clear: 5, Update: 6}
_OP_OF = {c: t for t, c in OPCODES.items()}
#: Nested kinds of an Update, by the codec's type code of the delta-state class of the same name.
KIND_CODES: dict[str, int] = {"AWSet": 7, "MVRegister": 9, "CCounter": 12, "ORMap": 13}
_KIND_OF = {c: k for k, c in KIND_CODES.items()}
_MAX_DEPTH = 16  # nested Update levels (crdts.ops._base.MAX_NESTING)
_I64 = 1 << 64


# -- encoding -----------------------------------------------------------------------------------


def _replicas_of_op(op: Any, out: set[str], depth: int = 0) -> None:
    t = type(op)
    if t is Assign and op.timestamp is not None:
        out.add(op.timestamp[2])
    elif t is Update and depth < _MAX_DEPTH:
        _replicas_of_op(op.op, out, depth + 1)


def _enc_op(op: Any, tb: Any, depth: int = 0) -> list[Any]:
    t = type(op)
    code = OPCODES.get(t)
    if code is None:
        raise EncodeError(f"not an operation: {op!r}")
    if t is Increment or t is Decrement:
        if type(op.n) is not int:
            raise EncodeError(f"amount must be an int, got {op.n!r}")
        codec.check_uint(op.n, "amount")
        if op.total is None:
            return [code, op.n]
        if type(op.total) is not int or not -_I64 <= op.total < _I64:
            raise EncodeError(f"counter total {op.total!r} must be an int within -2**64 .. 2**64-1")
        return [code, op.n, op.total]
    if t is Assign:
        v = codec.enc_value(op.value)
        ts = op.timestamp
        if ts is None:
            return [code, v]
        if type(ts[0]) is not int or type(ts[1]) is not int:
            raise EncodeError(f"bad timestamp {ts!r}")
        codec.check_uint(ts[0], "timestamp wall")
        codec.check_uint(ts[1], "timestamp logical")
        return [code, v, ts[0], ts[1], tb.ix[ts[2]]]
    if t is Add or t is Remove:
        return [code, codec.enc_elements([op.element], "element")[0]]
    if t is Clear:
        return [code]
    if depth >= _MAX_DEPTH:
        raise EncodeError(f"operations nest at most {_MAX_DEPTH} maps deep")
    kind = KIND_CODES.get(op.kind)
    if kind is None:
        raise EncodeError(f"unknown nested kind {op.kind!r}")
    return [code, codec.enc_elements([op.key], "key")[0], kind, _enc_op(op.op, tb, depth + 1)]


def _enc_message(m: OpMessage) -> tuple[list[str], list[Any]]:
    if type(m.origin) is not str or type(m.seq) is not int or type(m.deps) is not tuple:
        raise EncodeError(f"not a well-formed OpMessage: {m!r}")
    deps = dict(m.deps)
    replicas = {m.origin, *deps}
    _replicas_of_op(m.op, replicas)
    tb = codec.ReplicaTable(replicas)
    codec.check_uint(m.seq, "seq")
    return tb.ids, [tb.ix[m.origin], m.seq, codec.enc_counts(deps, tb, "deps"), _enc_op(m.op, tb)]


def _enc_ack(a: Ack) -> tuple[list[str], list[Any]]:
    vv = dict(a.delivered)
    tb = codec.ReplicaTable({a.origin, *vv})
    return tb.ids, [tb.ix[a.origin], codec.enc_counts(vv, tb, "delivered")]


# -- decoding -----------------------------------------------------------------------------------
# Only the decoder state's table (``ids``, ``used``) and its entry count are used: the rest is here.


def _array(x: Any, path: str) -> list[Any]:
    if type(x) is not list:
        raise SchemaError(path, f"expected an array, got {type(x).__name__}")
    return x


def _uint(x: Any, path: str, low: int = 0) -> int:
    if type(x) is not int or x < low:  # a bignum decodes to an int subclass: refused here
        raise SchemaError(path, f"expected an int >= {low}, got {x!r}")
    return x


def _ridx(d: Any, x: Any, path: str) -> str:
    if type(x) is not int or not 0 <= x < len(d.ids):
        raise SchemaError(path, f"expected a replica index below {len(d.ids)}, got {x!r}")
    d.used.add(x)
    return d.ids[x]


def _counts(d: Any, x: Any, path: str) -> dict[str, int]:
    xs = _array(x, path)
    if len(xs) % 2:
        raise SchemaError(path, "expected [rix, n, rix, n, ...]")
    out: dict[str, int] = {}
    last = -1
    for i in range(0, len(xs), 2):
        r = _ridx(d, xs[i], f"{path}[{i}]")
        if xs[i] <= last:
            raise SchemaError(path, "replica indexes must be strictly ascending")
        last = xs[i]
        out[r] = _uint(xs[i + 1], f"{path}[{i + 1}]", 1)
    d.count(len(out))
    return out


def _dec_op(d: Any, x: Any, path: str, depth: int = 0) -> Any:
    xs = _array(x, path)
    if not xs or type(xs[0]) is not int or xs[0] not in _OP_OF:
        raise SchemaError(path, f"expected an operation [opcode, ...] with opcode in {sorted(_OP_OF)}")
    t = _OP_OF[xs[0]]
    n = len(xs)
    d.count(1)
    if t is Increment or t is Decrement:
        if n not in (2, 3):
            raise SchemaError(path, f"{t.__name__} has 1 or 2 fields, got {n - 1}")
        amount = _uint(xs[1], f"{path}.n")
        if n == 2:
            return t(amount)
        total = xs[2]
        if type(total) is not int or not -_I64 <= total < _I64:
            raise SchemaError(f"{path}.total", "expected an int within -2**64 .. 2**64-1")
        return t(amount, total)
    if t is Assign:
        if n == 2:
            return Assign(codec.dec_value(xs[1], f"{path}.value", 0))
        if n != 5:
            raise SchemaError(path, f"Assign has 1 or 4 fields, got {n - 1}")
        ts = Timestamp(_uint(xs[2], f"{path}.wall"), _uint(xs[3], f"{path}.logical"),
                       _ridx(d, xs[4], f"{path}.replica"))
        return Assign(codec.dec_value(xs[1], f"{path}.value", 0), ts)
    if t is Add or t is Remove:
        if n != 2:
            raise SchemaError(path, f"{t.__name__} has 1 field, got {n - 1}")
        return t(codec.dec_element(xs[1], f"{path}.element"))
    if t is Clear:
        if n != 1:
            raise SchemaError(path, f"Clear has no fields, got {n - 1}")
        return Clear()
    if n != 4:
        raise SchemaError(path, f"Update has 3 fields, got {n - 1}")
    if depth >= _MAX_DEPTH:
        raise SchemaError(path, f"operations nest at most {_MAX_DEPTH} maps deep")
    kind = _KIND_OF.get(xs[2]) if type(xs[2]) is int else None
    if kind is None:
        raise SchemaError(f"{path}.kind", f"expected a nested type code in {sorted(_KIND_OF)}, got {xs[2]!r}")
    return Update(codec.dec_element(xs[1], f"{path}.key"), kind, _dec_op(d, xs[3], f"{path}.op", depth + 1))


def _dec_message(d: Any, body: list[Any]) -> OpMessage:
    origin = _ridx(d, body[0], "body.origin")
    seq = _uint(body[1], "body.seq", 1)
    deps = _counts(d, body[2], "body.deps")
    if origin in deps:
        raise SchemaError("body.deps", "the origin has no entry in its own deps (its seq implies it)")
    op = _dec_op(d, body[3], "body.op")
    if type(op) is Assign and op.timestamp is not None and op.timestamp.replica != origin:
        raise SchemaError("body.op.replica", "a last-writer-wins timestamp carries its origin's id")
    return OpMessage(origin, seq, tuple(sorted(deps.items())), op)


def _dec_ack(d: Any, body: list[Any]) -> Ack:
    origin = _ridx(d, body[0], "body.origin")
    return Ack(origin, tuple(sorted(_counts(d, body[1], "body.delivered").items())))


def _register() -> None:
    codec.register_type(OpMessage, OP_MESSAGE_CODE, encode=_enc_message, decode=_dec_message, arity=4, _builtin=True)
    codec.register_type(Ack, ACK_CODE, encode=_enc_ack, decode=_dec_ack, arity=2, _builtin=True)


_register()
