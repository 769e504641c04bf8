"""The churn run (crdts.sim.churn, ``crdts simulate --churn``): retirement keeps a one-element set's full state
bounded while regions leave and join; without it the state grows with every replica id that ever wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crdts.cli import main
from crdts.sim.churn import ChurnScenario, churn_run


def test_retirement_keeps_the_state_within_twice_the_never_churned_one() -> None:
    r = churn_run(ChurnScenario(events=40, rate=0.5, samples=4))
    assert r.converged
    last = r.samples[-1]
    assert last["churned"] == 40
    assert last["pruned_state"] <= 2 * last["baseline_state"]
    assert last["unpruned_entries"] > 20 and last["pruned_entries"] <= 2 * 5
    assert last["unpruned_state"] > 4 * last["baseline_state"]


def test_simulate_churn_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "churn.json"
    assert main(["simulate", "--churn", "1", "--churn-events", "10", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["converged"] and doc["samples"][-1]["churned"] == 10
    assert "pruned" in capsys.readouterr().out


@pytest.mark.parametrize("flag", [["--topology", "ring"], ["--protocol", "bprr"], ["--loss", "0.1"]])
def test_simulate_churn_refuses_flags_that_do_not_apply(flag: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--churn", "1", "--churn-events", "5", *flag]) == 2
    assert "--churn" in capsys.readouterr().err
