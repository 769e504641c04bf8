"""Running a region as a process: ``crdts region serve --config region.toml``.

It opens the store (refusing another region's or a foreign file), starts the region, its transport (mutual
TLS or NATS JetStream) and its HTTP API, and runs until SIGTERM or SIGINT. With ``port_file`` set, it writes
``{"http": port, "peer": port}`` there once it listens (tests and the demo use port 0 and read it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from typing import Any

from ..store import SQLiteStore
from ..sync.trust import Authorizer, Grant
from .config import RegionConfig
from .region import Region

__all__ = ["serve"]

log = logging.getLogger("crdts.net")


async def serve(cfg: RegionConfig, *, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None) -> None:
    from aiohttp import web

    from .http import build_app

    os.makedirs(cfg.data_dir, exist_ok=True)
    store = SQLiteStore(cfg.store_path, replica=cfg.name)
    auth = Authorizer({p.name: Grant(frozenset(p.origins), relay=p.relay) for p in cfg.peers})
    region = Region(store, peers=[p.name for p in cfg.peers], sync_interval=cfg.sync_interval,
                    limits=cfg.limits, authorizer=auth, forward=cfg.forward, confirm_timeout=cfg.confirm_timeout)
    await region.start()
    host: Any
    faults = None
    if cfg.transport == "tls":
        from .tls import Faults, PeerAddress, TLSHost, client_context, server_context

        faults = Faults()
        assert cfg.cert and cfg.key and cfg.ca
        host = TLSHost(region, listen=cfg.listen, peers=[PeerAddress(p.name, *p.address) for p in cfg.peers
                                                         if p.address is not None],
                       server_ssl=server_context(str(cfg.cert), str(cfg.key), str(cfg.ca)),
                       client_ssl=client_context(str(cfg.cert), str(cfg.key), str(cfg.ca)), faults=faults)
    else:
        from .jetstream import JetStreamHost

        host = JetStreamHost(region, url=cfg.nats_url, keyspace=cfg.keyspace, max_age=cfg.max_age)
        faults = host.faults
    await host.start()
    app = build_app(region, faults=faults, admin=cfg.admin, extra_health=getattr(host, "health", None))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, cfg.http[0], cfg.http[1])
    await site.start()
    http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    if cfg.port_file is not None:
        tmp = str(cfg.port_file) + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"http": http_port, "peer": getattr(host, "port", 0)}, f)
        os.replace(tmp, cfg.port_file)
    log.info("region %s (%s) serving: http %s, peers %s", region.name, region.replica_id, http_port,
             getattr(host, "port", cfg.nats_url))
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    compactor = asyncio.create_task(_compact_forever(region))
    try:
        await stop.wait()
    finally:
        compactor.cancel()
        await runner.cleanup()
        await host.close()
        await region.close()


async def _compact_forever(region: Region) -> None:
    while True:
        await asyncio.sleep(max(5.0, 20 * region.sync_interval))
        try:
            await region.compact()
        except Exception:
            log.exception("compaction failed (will try again)")
