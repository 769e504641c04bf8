"""A region's HTTP API (on 127.0.0.1) and its configuration file."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

aiohttp = pytest.importorskip("aiohttp")

from aiohttp import web  # noqa: E402

from crdts.net import Region  # noqa: E402
from crdts.net.config import ConfigError, load_config  # noqa: E402
from crdts.net.http import build_app  # noqa: E402
from crdts.net.tls import Faults  # noqa: E402
from crdts.store import SQLiteStore  # noqa: E402


async def serving(tmp_path, *, admin=False, max_bytes=None):
    region = Region(SQLiteStore(tmp_path / "eu.db", replica="eu", max_bytes=max_bytes), peers=["us"],
                    commit_delay=0)
    await region.start()
    faults = Faults()
    runner = web.AppRunner(build_app(region, faults=faults, admin=admin))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return region, runner, f"http://127.0.0.1:{port}", faults


def run(tmp_path, body, **kw):
    async def main():
        region, runner, url, faults = await serving(tmp_path, **kw)
        try:
            async with aiohttp.ClientSession() as http:
                await body(http, url, region, faults)
        finally:
            await runner.cleanup()
            await region.close()

    asyncio.run(main())


async def call(http, method, url, body=None, raw=None):
    async with http.request(method, url, json=body, data=raw) as r:
        text = await r.text()
        return r.status, text


def test_writes_of_each_kind_are_committed_and_read_back(tmp_path):
    async def body(http, url, region, faults):
        import json

        writes = [("cart", {"type": "AWSet", "op": "add", "args": ["apple"]}),
                  ("cart", {"type": "AWSet", "op": "add", "args": [["pear", 2]]}),
                  ("hits", {"type": "PNCounter", "op": "increment", "args": [5]}),
                  ("hits", {"type": "PNCounter", "op": "decrement", "args": [2]}),
                  ("motd", {"type": "LWWRegister", "op": "assign", "args": ["hello"]}),
                  ("prefs", {"type": "LWWMap", "op": "set", "args": ["theme", "dark"]}),
                  ("profile", {"type": "ORMap", "op": "update", "key": "tags",
                               "nested": {"type": "AWSet", "op": "add", "args": ["vip"]}})]
        lsns = []
        for name, spec in writes:
            status, text = await call(http, "POST", f"{url}/objects/{name}", spec)
            assert status == 200, text
            lsns.append(json.loads(text)["lsn"])
        assert lsns == sorted(lsns) and lsns[-1] == region.committed == len(writes)
        got = {}
        for name in ("cart", "hits", "motd", "prefs", "profile"):
            status, text = await call(http, "GET", f"{url}/objects/{name}")
            assert status == 200
            got[name] = json.loads(text)
        assert sorted(map(str, got["cart"]["value"])) == sorted(map(str, ["apple", ["pear", 2]]))
        assert got["hits"]["value"] == 3 and got["hits"]["type"] == "PNCounter"
        assert got["motd"]["value"] == "hello"
        assert got["prefs"]["value"] == {"theme": "dark"}
        status, text = await call(http, "GET", f"{url}/objects?prefix=p")
        assert json.loads(text)["names"] == ["prefs", "profile"]
        status, text = await call(http, "GET", f"{url}/health")
        doc = json.loads(text)
        assert doc["region"] == "eu" and doc["lsn"] == len(writes) and doc["objects"] == 5
        assert doc["peers"]["us"]["lag"] == len(writes)
        status, text = await call(http, "GET", f"{url}/metrics")
        assert status == 200 and 'crdts_region_lsn{region="eu",state="committed"} 7.0' in text
        assert 'crdts_region_peer_lag_entries{peer="us",region="eu"} 7.0' in text

    run(tmp_path, body)


def test_bad_requests_get_a_clear_status_and_change_nothing(tmp_path):
    async def body(http, url, region, faults):
        await call(http, "POST", f"{url}/objects/cart", {"type": "AWSet", "op": "add", "args": ["a"]})
        before = region.committed
        cases = [
            ("cart", {"type": "Nope", "op": "add", "args": []}, 400, "unknown type"),
            ("cart", {"type": "AWSet", "op": "__class__", "args": []}, 400, "no operation"),
            ("cart", {"type": "AWSet", "op": "add", "args": "a"}, 400, "array"),
            ("cart", {"type": "PNCounter", "op": "increment", "args": [1]}, 409, "is a AWSet"),
            ("hits", {"type": "PNCounter", "op": "increment", "args": ["x"]}, 400, "takes an int"),
            ("map", {"type": "ORMap", "op": "update", "key": "k"}, 400, "nested"),
            ("map", {"type": "ORMap", "op": "update", "key": "k", "nested": {"type": "GCounter", "op": "add"}}, 400,
             "no operation"),
            ("cart", ["not", "an", "object"], 400, "JSON object"),
        ]
        for name, spec, status, words in cases:
            got, text = await call(http, "POST", f"{url}/objects/{name}", spec)
            assert got == status and words in text, (spec, got, text)
        got, text = await call(http, "POST", f"{url}/objects/cart", raw=b"{not json")
        assert got == 400 and "not JSON" in text
        assert (await call(http, "GET", f"{url}/objects/nothing"))[0] == 404
        assert (await call(http, "POST", f"{url}/admin/faults", {"blocked": ["us"]}))[0] == 404
        assert faults.blocked == set()
        assert region.committed == before and region.get("cart").value == {"a"}
        assert region.get("hits") is None and region.get("map") is None

    run(tmp_path, body)


def test_a_full_disk_answers_503_and_the_object_is_as_it_was(tmp_path):
    async def body(http, url, region, faults):
        status, _ = await call(http, "POST", f"{url}/objects/cart", {"type": "AWSet", "op": "add", "args": ["a"]})
        assert status == 200
        big = "x" * 200_000
        status, text = await call(http, "POST", f"{url}/objects/cart", {"type": "AWSet", "op": "add", "args": [big]})
        assert status == 503 and "full" in text
        assert region.get("cart").value == {"a"}
        assert region.events[-1].reason == "commit-failed"
        status, _ = await call(http, "POST", f"{url}/objects/cart", {"type": "AWSet", "op": "add", "args": ["b"]})
        assert status == 200 and region.get("cart").value == {"a", "b"}

    run(tmp_path, body, max_bytes=96 * 1024)


def test_the_admin_fault_switch_exists_only_when_enabled(tmp_path):
    async def body(http, url, region, faults):
        status, _ = await call(http, "POST", f"{url}/admin/faults", {"blocked": ["us"], "dup": 0.5})
        assert status == 200 and faults.blocked == {"us"} and faults.dup == 0.5

    run(tmp_path, body, admin=True)


CONFIG = """
[region]
name = "eu"
data_dir = "data/eu"
listen = "127.0.0.1:7401"
http = "127.0.0.1:8401"
sync_interval = 0.25

[tls]
cert = "certs/eu.pem"
key = "certs/eu.key"
ca = "certs/ca.pem"

[[peers]]
name = "us"
address = "127.0.0.1:7402"
relay = false

[limits]
max_log = 1000
"""


def test_a_configuration_file_is_read_with_paths_relative_to_it(tmp_path):
    (tmp_path / "eu.toml").write_text(CONFIG)
    cfg = load_config(tmp_path / "eu.toml")
    assert cfg.name == "eu" and cfg.listen == ("127.0.0.1", 7401) and cfg.sync_interval == 0.25
    assert cfg.store_path == tmp_path / "data" / "eu" / "store.db"
    assert cfg.cert == tmp_path / "certs" / "eu.pem"
    assert cfg.peers[0].name == "us" and cfg.peers[0].origins == ("us",) and cfg.peers[0].relay is False
    assert cfg.limits.max_log == 1000


@pytest.mark.parametrize("change, words", [
    (("name = \"eu\"", ""), "needs a name"),
    (("sync_interval = 0.25", "transport = \"carrier-pigeon\""), "transport"),
    (("cert = \"certs/eu.pem\"", ""), "needs [tls] cert"),
    (("address = \"127.0.0.1:7402\"", "address = \"nowhere\""), "host:port"),
    (("max_log = 1000", "max_logs = 1000"), "[limits]"),
    (("[region]", "[region"), "eu.toml"),
])
def test_a_bad_configuration_says_which_key(tmp_path, change, words):
    (tmp_path / "eu.toml").write_text(CONFIG.replace(*change))
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "eu.toml")
    assert words in str(err.value)


def test_serve_refuses_a_bad_configuration_with_status_2(tmp_path):
    (tmp_path / "eu.toml").write_text(CONFIG.replace("name = \"eu\"", ""))
    got = subprocess.run([sys.executable, "-m", "crdts", "region", "serve", "--config", str(tmp_path / "eu.toml")],
                         capture_output=True, text=True, timeout=60)
    assert got.returncode == 2 and "needs a name" in got.stderr
