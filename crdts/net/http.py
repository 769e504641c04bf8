"""A region's local HTTP API (aiohttp: the ``net`` extra), for the applications of that region.

=============================  ================================================================================
``GET /objects/{name}``         ``{"type", "value", "lsn"}``: the object's value as JSON (``crdts.to_json``)
``POST /objects/{name}``        a write: ``{"type": "AWSet", "op": "add", "args": ["apple"]}``; for an ORMap,
                                ``{"type": "ORMap", "op": "update", "key": "k", "nested": {"type", "op", "args"}}``.
                                Answers ``{"lsn": n}`` once the write is committed (durable); 400 for a bad
                                request, 409 for a type clash, 503 when the store cannot commit
``GET /objects?prefix=p``       the names of the objects (at most 1,000, sorted)
``GET /health``                 the region, its incarnation, lsn, peers (connected, lag in log entries)
``GET /metrics``                Prometheus text (``prometheus_client``)
``POST /admin/faults``          (with ``admin = true`` only) ``{"blocked": [...], "dup": p, "delay": s,
                                "latency": s}``
=============================  ================================================================================

Bind it to 127.0.0.1 (the default): it is the region's own API, not meant for other regions.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

import crdts

from .._json import to_json
from ..errors import CRDTError
from ..store import StoreError
from .region import Region

__all__ = ["build_app"]

#: The mutators the API may call, per type (``ORMap.update`` is handled apart).
MUTATORS: dict[str, tuple[str, ...]] = {
    "GCounter": ("increment",), "PNCounter": ("increment", "decrement"), "GSet": ("add",),
    "TwoPSet": ("add", "remove"), "AWSet": ("add", "remove", "clear"), "RWSet": ("add", "remove", "clear"),
    "LWWRegister": ("assign",), "MVRegister": ("assign",), "EWFlag": ("enable", "disable"),
    "DWFlag": ("enable", "disable"), "LWWMap": ("set", "remove"), "ConflictRegister": ("assign", "resolve"),
    "ConflictMap": ("set", "remove", "resolve"), "ORMap": ("update", "remove", "clear"), "CCounter": ("increment",
                                                                                                    "decrement"),
}


def _element(v: Any) -> Any:
    """JSON arrays as tuples (set elements and map keys are hashable)."""
    return tuple(_element(x) for x in v) if isinstance(v, list) else v


def _class(name: Any) -> type:
    cls = getattr(crdts, name, None) if isinstance(name, str) and name in MUTATORS else None
    if cls is None:
        raise web.HTTPBadRequest(text=f"unknown type {name!r}; one of {sorted(MUTATORS)}")
    return cls


def _call(obj: Any, spec: dict[str, Any], depth: int = 0) -> Any:
    op = spec.get("op")
    tname = type(obj).__name__
    if op not in MUTATORS.get(tname, ()):
        raise web.HTTPBadRequest(text=f"{tname} has no operation {op!r} here; one of {MUTATORS.get(tname)}")
    args = spec.get("args") or []
    if not isinstance(args, list):
        raise web.HTTPBadRequest(text="args is a JSON array")
    if op == "update":
        nested = spec.get("nested")
        if depth > 8 or not isinstance(nested, dict):
            raise web.HTTPBadRequest(text="update needs 'key' and a 'nested' operation")
        ncls = _class(nested.get("type"))
        return obj.update(_element(spec.get("key")), ncls, lambda n: _call(n, nested, depth + 1))
    if op in ("assign", "set") and tname not in ("LWWMap", "ConflictMap"):
        return getattr(obj, op)(*args)
    if tname in ("LWWMap", "ConflictMap") and op in ("set", "resolve"):
        return getattr(obj, op)(_element(args[0]), *args[1:])
    return getattr(obj, op)(*[_element(a) for a in args])


def build_app(region: Region, *, faults: Any = None, admin: bool = False, extra_health: Any = None) -> web.Application:
    app = web.Application(client_max_size=region.limits.max_frame_bytes)

    async def get_object(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        obj = region.get(name)
        if obj is None:
            raise web.HTTPNotFound(text=f"no object {name!r}")
        return web.json_response({"type": type(obj).__name__, "value": to_json(obj.value), "lsn": region.committed})

    async def post_object(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        try:
            spec = await request.json()
        except json.JSONDecodeError as exc:
            raise web.HTTPBadRequest(text=f"not JSON: {exc}") from None
        if not isinstance(spec, dict):
            raise web.HTTPBadRequest(text="a write is a JSON object {type, op, args}")
        cls = _class(spec.get("type"))
        existing = region.get(name)
        if existing is not None and type(existing) is not cls:
            raise web.HTTPConflict(text=f"object {name!r} is a {type(existing).__name__}, not a {cls.__name__}")
        try:
            lsn = await region.write(name, cls, lambda obj: _call(obj, spec), returns_delta=True)
        except web.HTTPException:
            raise
        except StoreError as exc:
            raise web.HTTPServiceUnavailable(text=str(exc)) from None
        except (CRDTError, TypeError, ValueError, IndexError, KeyError) as exc:
            raise web.HTTPBadRequest(text=f"{type(exc).__name__}: {exc}") from None
        return web.json_response({"lsn": lsn})

    async def list_objects(request: web.Request) -> web.Response:
        prefix = request.query.get("prefix", "")
        names = sorted(n for n in region.objects if n.startswith(prefix))[:1000]
        return web.json_response({"names": names, "count": len(region.objects)})

    async def health(request: web.Request) -> web.Response:
        doc = {"ok": True, "region": region.name, "replica": region.replica_id, "incarnation": region.incarnation,
               "lsn": region.lsn, "committed": region.committed, "objects": len(region.objects),
               "peers": {n: {"connected": p.connected, "sent": p.sent, "received": p.received,
                             "lag": region.committed - p.sent} for n, p in sorted(region.peers.items())},
               "rejected": region.stats["rejected"], "limits": region.stats["limits"]}
        if extra_health is not None:
            doc.update(extra_health())
        return web.json_response(doc)

    async def metrics(request: web.Request) -> web.Response:
        from prometheus_client import CollectorRegistry, Gauge, generate_latest

        reg = CollectorRegistry()
        g = Gauge("crdts_region_lsn", "the last log sequence number", ["region", "state"], registry=reg)
        g.labels(region.name, "made").set(region.lsn)
        g.labels(region.name, "committed").set(region.committed)
        Gauge("crdts_region_objects", "objects in the keyspace", ["region"], registry=reg).labels(
            region.name).set(len(region.objects))
        Gauge("crdts_region_log_entries", "log entries kept for peers", ["region"], registry=reg).labels(
            region.name).set(len(region.log))
        lag = Gauge("crdts_region_peer_lag_entries", "log entries a peer has not acknowledged", ["region", "peer"],
                    registry=reg)
        up = Gauge("crdts_region_peer_connected", "1 while the peer is connected", ["region", "peer"], registry=reg)
        for n, p in region.peers.items():
            lag.labels(region.name, n).set(region.committed - p.sent)
            up.labels(region.name, n).set(1 if p.connected else 0)
        c = Gauge("crdts_region_total", "counters of the region", ["region", "what"], registry=reg)
        for what in ("writes", "merges", "commits", "frames_sent", "bytes_sent", "frames_received", "bytes_received",
                     "catchups", "incarnations"):
            c.labels(region.name, what).set(region.stats[what])
        rej = Gauge("crdts_region_rejected", "frames refused, by reason", ["region", "reason"], registry=reg)
        for reason, k in region.stats["rejected"].items():
            rej.labels(region.name, reason).set(k)
        return web.Response(body=generate_latest(reg), content_type="text/plain", charset="utf-8")

    async def set_faults(request: web.Request) -> web.Response:
        if not admin or faults is None:
            raise web.HTTPNotFound()
        spec = await request.json()
        faults.blocked = set(spec.get("blocked", []))
        faults.dup = float(spec.get("dup", 0.0))
        faults.delay = float(spec.get("delay", 0.0))
        faults.latency = float(spec.get("latency", 0.0))
        return web.json_response({"blocked": sorted(faults.blocked), "dup": faults.dup, "delay": faults.delay,
                                  "latency": faults.latency})

    app.add_routes([web.get("/objects/{name}", get_object), web.post("/objects/{name}", post_object),
                    web.get("/objects", list_objects), web.get("/health", health), web.get("/metrics", metrics),
                    web.post("/admin/faults", set_faults)])
    return app
