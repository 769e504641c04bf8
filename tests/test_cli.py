"""The ``crdts`` command: argument errors, exit statuses, the binding JSON keys, inspect, plots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from crdts import AWSet, GCounter, LWWMap, encode
from crdts.cli import _Progress, main, protocol_names

SMALL = ["simulate", "--regions", "3", "--ops", "5", "--protocol", "bprr,state"]
BINDING_RESULT_KEYS = {"protocol", "converged", "convergence_time_ms", "messages", "bytes", "payload_units",
                       "metadata_bytes", "conflicts", "lost_writes", "digest"}


# --------------------------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize("argv", [
    [],
    ["frobnicate"],
    ["simulate", "--regions", "0"],
    ["simulate", "--regions", "many"],
    ["simulate", "--protocol", "carrier-pigeon"],
    ["simulate", "--workload", "gmap:lots"],
    ["simulate", "--workload", "nosuch"],
    ["simulate", "--topology", "hypercube"],
    ["simulate", "--partition", "40-10:0|1"],
    ["simulate", "--partition", "10-40:0,1|9"],
    ["simulate", "--crash", "7@1-2"],
    ["simulate", "--loss", "1.5"],
    ["simulate", "--latency", "fast"],
    ["simulate", "--no-such-flag"],
    ["inspect"],
])
def test_argument_errors_print_usage_and_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "usage: crdts" in err
    assert "error:" in err
    assert "Traceback" not in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--regions", "--topology", "--degree", "--protocol", "--workload", "--ops", "--rate",
                 "--sync-interval", "--seed", "--loss", "--dup", "--reorder", "--partition", "--crash", "--json",
                 "--plot", "--quiet", "--latency", "--max-rounds", "--volatile"):
        assert flag in out


# --------------------------------------------------------------------------------------------- simulate


def test_small_run_converges_exit_0_and_quiet_is_silent(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL, "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_table_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL, "--crash", "1@2-3", "--loss", "0.1", "--dup", "0.1", "--reorder"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[out.splitlines().index(next(x for x in out.splitlines() if x.startswith("protocol")))]
    for col in ("protocol", "converged", "rounds", "messages", "bytes", "payload", "metadata", "units", "cpu", "lost"):
        assert col in header
    assert "\nbprr " in out and "\nstate " in out
    assert "2 of 2 protocols converged" in out


def test_json_has_the_binding_keys(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    assert main([*SMALL, "--quiet", "--json", str(path), "--partition", "1-2:0|1,2"]) == 0
    doc = json.loads(path.read_text())
    assert set(doc) >= {"params", "results"}
    assert doc["params"]["regions"] == 3 and doc["params"]["partitions"] == ["1-2:0|1,2"]
    assert [r["protocol"] for r in doc["results"]] == ["bprr", "state"]
    for r in doc["results"]:
        assert set(r) >= BINDING_RESULT_KEYS
        assert r["converged"] is True and r["lost_writes"] == 0
        assert isinstance(r["digest"], str) and len(r["digest"]) == 64
    assert doc["results"][0]["digest"] == doc["results"][1]["digest"]


def test_all_runs_every_protocol_on_the_same_schedule(tmp_path: Path) -> None:
    # AWSet with churn: which element a region removes is drawn at random. Every protocol must see the same
    # writes, so the converged states (and their digests) are identical across protocols.
    path = tmp_path / "all.json"
    rc = main(["simulate", "--regions", "3", "--ops", "12", "--workload", "awset", "--protocol", "all", "--quiet",
               "--json", str(path)])
    assert rc == 0
    doc = json.loads(path.read_text())
    assert [r["protocol"] for r in doc["results"]] == protocol_names()
    assert len({r["digest"] for r in doc["results"]}) == 1


def test_permanent_partition_fails_and_says_why(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    rc = main(["simulate", "--regions", "3", "--ops", "5", "--protocol", "bprr", "--partition", "0-100000:0|1,2",
               "--max-rounds", "20", "--quiet", "--json", str(path)])
    assert rc == 1
    err = capsys.readouterr().err
    assert "bprr did not converge" in err and "never heals" in err
    r = json.loads(path.read_text())["results"][0]
    assert r["converged"] is False and r["convergence_time_ms"] is None and "never heals" in r["reason"]


def test_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "sub" / "run.png"
    assert main([*SMALL, "--quiet", "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    assert main([*SMALL, "--quiet", "--plot", str(tmp_path / "x.png")]) == 2
    assert 'pip install "crdts[sim]"' in capsys.readouterr().err


def test_progress_falls_back_to_a_percentage_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setitem(sys.modules, "tqdm", None)
    stream = io.StringIO()
    bar = _Progress(2, enabled=True, stream=stream, delay=0.0)
    for k, f in ((0, 0.5), (0, 1.0), (1, 1.0)):
        bar(k, "bprr", f)
    bar.close()
    assert "25%" in stream.getvalue() and "100%" in stream.getvalue()
    quiet = io.StringIO()
    off = _Progress(1, enabled=False, stream=quiet, delay=0.0)
    off(0, "bprr", 1.0)
    off.close()
    assert quiet.getvalue() == ""


# --------------------------------------------------------------------------------------------- inspect


def test_inspect_prints_a_decoded_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = AWSet("eu-west")
    s.add("apple")
    s.add("pear")
    path = tmp_path / "s.bin"
    path.write_bytes(encode(s))
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("AWSet") and "apple" in out and "eu-west" in out


def test_inspect_json_and_hex_from_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    m = LWWMap("r1")
    m.set("k", 1)
    m.set(2, "two")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(encode(m).hex().encode() + b"\n")))
    assert main(["inspect", "-", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["type"] == "LWWMap" and doc["units"] == 2
    assert sorted(map(tuple, doc["value"]), key=repr) == [("k", 1), (2, "two")]


@pytest.mark.parametrize("data", [b"garbage", b"", encode(GCounter())[:-1] + b"\xff\xff"])
def test_inspect_of_garbage_exits_2_without_traceback(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(data)
    proc = subprocess.run([sys.executable, "-m", "crdts.cli", "inspect", str(path)], capture_output=True,
                          text=True, timeout=60, cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("crdts inspect: not a valid crdts encoding:")
    assert proc.stdout == ""


def test_inspect_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["inspect", str(tmp_path / "nope.bin")]) == 2
    assert "cannot read" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------- bench


def test_bench_summary_reads_both_result_layouts() -> None:
    from crdts.cli import _summary_lines

    types_doc = {"results": [{"name": "AWSet.add", "crdts_us": 1.0, "plain_us": 0.04, "ratio": 25.0,
                              "baseline": "set.add"}],
                 "targets": [{"what": "AWSet.add / set.add", "measured": 25.0, "limit": 50.0, "pass": True}]}
    codec_doc = {"results": [{"name": "awset", "bytes": 10, "bytes_ratio": 1.09, "decode_ratio": 4.5}]}
    t = "\n".join(_summary_lines(types_doc))
    assert "AWSet.add" in t and "25.0x" in t and "PASS  AWSet.add / set.add: 25.00 (limit 50.0)" in t
    assert _summary_lines(codec_doc) == ["    awset  bytes 1.09x   decode 4.50x"]
