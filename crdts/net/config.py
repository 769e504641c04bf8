"""A region's configuration file (TOML), as ``crdts region serve --config region.toml`` reads it::

    [region]
    name = "eu-west"                 # the region's replica id
    data_dir = "data/eu-west"        # its store: data_dir/store.db
    listen = "127.0.0.1:7401"        # where peers connect (transport "tls")
    http = "127.0.0.1:8401"          # the HTTP API (JSON objects, /metrics, /health)
    transport = "tls"                # or "jetstream"
    sync_interval = 0.5              # seconds between sync rounds
    admin = false                    # /admin/faults (tests only)
    forward = true                   # pass on others' writes (false: a full mesh whose peers have relay = false)
    confirm_timeout = 5.0            # at start, writes wait until the peers confirm our store is current

    [tls]                            # mutual TLS between regions
    cert = "certs/eu-west.pem"       # our certificate (its SAN names this region) and key
    key = "certs/eu-west.key"
    ca = "certs/ca.pem"              # the deployment's CA: peers must present a certificate it signed

    [[peers]]                        # one table per peer region
    name = "us-east"
    address = "10.0.2.10:7401"       # host:port (transport "tls")
    origins = ["us-east"]            # replica ids it may originate (default: its name)
    relay = true                     # may it forward others' writes (default true)

    [jetstream]                      # transport "jetstream"
    url = "nats://127.0.0.1:4222"
    keyspace = "shop"
    max_age = 86400                  # seconds the stream keeps writes (then a catch-up sends states)

    [limits]                         # crdts.net.RegionLimits fields
    max_frame_bytes = 4194304
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import attrs

from .region import RegionLimits

__all__ = ["PeerConfig", "RegionConfig", "load_config"]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]


class ConfigError(ValueError):
    """A configuration file that cannot be used: says which key and why."""


def _addr(text: str, key: str) -> tuple[str, int]:
    host, _, port = str(text).rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"{key}: expected host:port, got {text!r}")
    return host, int(port)


@attrs.frozen
class PeerConfig:
    name: str
    address: tuple[str, int] | None = None
    origins: tuple[str, ...] = ()
    relay: bool = True


@attrs.frozen
class RegionConfig:
    name: str
    data_dir: Path
    listen: tuple[str, int] = ("127.0.0.1", 0)
    http: tuple[str, int] = ("127.0.0.1", 0)
    transport: str = "tls"
    sync_interval: float = 0.5
    admin: bool = False
    forward: bool = True
    confirm_timeout: float = 5.0
    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None
    peers: tuple[PeerConfig, ...] = ()
    nats_url: str = "nats://127.0.0.1:4222"
    keyspace: str = "crdts"
    max_age: float = 86400.0
    limits: RegionLimits = attrs.field(factory=RegionLimits)
    port_file: Path | None = None

    @property
    def store_path(self) -> Path:
        return self.data_dir / "store.db"


def load_config(path: str | os.PathLike[str]) -> RegionConfig:
    """Read and check a region's TOML configuration (relative paths are relative to the file)."""
    p = Path(path)
    try:
        doc: dict[str, Any] = tomllib.loads(p.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{p}: {exc}") from exc
    base = p.parent
    reg = doc.get("region") or {}
    if "name" not in reg:
        raise ConfigError(f"{p}: [region] needs a name")

    def path_of(v: Any) -> Path | None:
        return None if v is None else (base / v if not os.path.isabs(v) else Path(v))

    tls = doc.get("tls") or {}
    js = doc.get("jetstream") or {}
    peers = []
    for i, peer in enumerate(doc.get("peers") or []):
        if "name" not in peer:
            raise ConfigError(f"{p}: peers[{i}] needs a name")
        peers.append(PeerConfig(peer["name"], _addr(peer["address"], f"peers[{i}].address") if "address" in peer
                                else None, tuple(peer.get("origins") or [peer["name"]]), bool(peer.get("relay", True))))
    transport = reg.get("transport", "tls")
    if transport not in ("tls", "jetstream"):
        raise ConfigError(f"{p}: region.transport is 'tls' or 'jetstream', not {transport!r}")
    if transport == "tls" and not all(tls.get(k) for k in ("cert", "key", "ca")):
        raise ConfigError(f"{p}: transport 'tls' needs [tls] cert, key and ca")
    try:
        limits = RegionLimits(**(doc.get("limits") or {}))
    except TypeError as exc:
        raise ConfigError(f"{p}: [limits]: {exc}") from exc
    return RegionConfig(
        name=str(reg["name"]), data_dir=path_of(reg.get("data_dir", reg["name"])) or base,
        listen=_addr(reg.get("listen", "127.0.0.1:0"), "region.listen"),
        http=_addr(reg.get("http", "127.0.0.1:0"), "region.http"), transport=transport,
        sync_interval=float(reg.get("sync_interval", 0.5)), admin=bool(reg.get("admin", False)),
        forward=bool(reg.get("forward", True)), confirm_timeout=float(reg.get("confirm_timeout", 5.0)),
        cert=path_of(tls.get("cert")), key=path_of(tls.get("key")), ca=path_of(tls.get("ca")),
        peers=tuple(peers), nats_url=str(js.get("url", "nats://127.0.0.1:4222")),
        keyspace=str(js.get("keyspace", "crdts")), max_age=float(js.get("max_age", 86400)),
        limits=limits, port_file=path_of(reg.get("port_file")))
