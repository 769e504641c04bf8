"""The churn run (crdts.sim.churn, ``crdts simulate --churn``): retirement keeps a one-element set's full state
bounded while regions leave and join, whichever sync protocol carries the registries; without it the state grows
with every replica id that ever wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crdts.cli import main
from crdts.sim.churn import ChurnScenario, churn_run
from crdts.sync import PROTOCOLS


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_retirement_keeps_the_state_within_twice_the_never_churned_one(protocol: str) -> None:
    r = churn_run(ChurnScenario(events=40, rate=0.5, samples=4), protocol)
    assert r.converged and r.protocol == protocol
    last = r.samples[-1]
    assert last["churned"] == 40
    assert max(s["pruned_state"] / s["baseline_state"] for s in r.samples) <= 2
    assert last["unpruned_entries"] > 20 and last["pruned_entries"] <= 2 * 5
    assert last["unpruned_state"] > 4 * last["baseline_state"]


def test_simulate_churn_runs_every_protocol_and_writes_json(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "churn.json"
    assert main(["simulate", "--churn", "1", "--churn-events", "10", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["converged"] and sorted(doc["protocols"]) == sorted(PROTOCOLS)
    assert all(p["samples"][-1]["churned"] == 10 for p in doc["protocols"].values())
    text = capsys.readouterr().out
    assert "protocol digest:" in text and "pruned" in text


def test_simulate_churn_takes_a_list_of_protocols(tmp_path: Path) -> None:
    out = tmp_path / "churn.json"
    assert main(["simulate", "--churn", "1", "--churn-events", "6", "--protocol", "op,bprr", "--quiet",
                 "--json", str(out)]) == 0
    assert list(json.loads(out.read_text())["protocols"]) == ["op", "bprr"]


@pytest.mark.parametrize("flag", [["--topology", "ring"], ["--protocol", "nope"], ["--loss", "0.1"]])
def test_simulate_churn_refuses_flags_that_do_not_apply(flag: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--churn", "1", "--churn-events", "5", *flag]) == 2
    err = capsys.readouterr().err
    assert ("nope" if flag[1] == "nope" else "--churn") in err


def test_the_registry_stays_bounded_by_its_tombstones_whichever_protocol_carries_it() -> None:
    # with a short ttl records expire all along: an archive that came back without its (expired) record would
    # stay for good, and the registry would grow with the run
    sc = ChurnScenario(events=30, rate=0.5, ttl=8.0, samples=2)
    ends = {p: churn_run(sc, p).samples[-1]["pruned_registry"] for p in ("state", "op")}
    assert ends["op"] == ends["state"] < 600, ends


def test_op_messages_name_only_live_replicas_and_pending_retirements(monkeypatch: pytest.MonkeyPatch) -> None:
    """The op protocol's causal-broadcast vectors (the delivered vector of an opsync or a snapshot, the timestamp
    of an operation) drop a retired replica once its retirement is performed: a message names at most the live
    regions, the retirements its sender still has pending, and one region that left this round (its decision
    has not reached the sender yet), however many regions came and went. Without retirement they name them all."""
    import crdts.sim.churn as churn
    from crdts.sync import LocalTransport
    from crdts.sync.messages import decode_message

    seen: dict[bool, list[tuple[int, int]]] = {True: [], False: []}   # pruned? -> (entries, bound)

    class Recording(LocalTransport):
        def send(self, src, dst, data, info):
            m = decode_message(data)
            entries = {"ops": lambda: max(len(e[2]) + 1 for e in m.meta[0]),   # deps and the origin's own seq
                       "opsync": lambda: len(m.meta[1]), "snapshot": lambda: len(m.meta[0])}.get(m.kind)
            if entries is not None:
                reg = self.nodes[src].retirements
                pending = 0 if reg is None else len(reg.pending())
                seen[reg is not None].append((entries(), len(self.nodes) + pending + 1))
            super().send(src, dst, data, info)

    monkeypatch.setattr(churn, "LocalTransport", Recording)
    r = churn_run(ChurnScenario(events=40, rate=0.5, samples=2), "op")
    assert r.converged
    assert all(n <= bound for n, bound in seen[True]), max(n - bound for n, bound in seen[True])
    assert max(n for n, _ in seen[False]) > 30      # without retirement: every region that ever wrote
