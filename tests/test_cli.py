"""The ``crdts`` command: argument errors, exit statuses, the binding JSON keys, inspect, plots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from crdts import AWSet, GCounter, LWWMap, encode
from crdts.cli import _Progress, main
from crdts.sim import protocol_names

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
    header = next(x for x in out.splitlines() if x.startswith("protocol"))
    for col in ("protocol", "converged", "time", "rounds", "messages", "bytes", "metadata", "units", "lag p95", "lost"):
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
    assert proc.stderr.startswith("crdts inspect: neither a crdts encoding (")
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


# --------------------------------------------------------------------------------------------- help texts


def _examples(help_text: str) -> list[str]:
    """The command lines of the "examples:" paragraph of a help text."""
    lines = help_text.split("examples:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return [x.strip() for x in lines if x.strip().startswith("crdts ")]


def _shell_words(line: str) -> list[str]:
    """What a POSIX shell passes to the command: words, with a trailing ``> FILE`` redirection removed.
    Any other shell operator (an unquoted ``|`` above all) fails the test."""
    import shlex

    lex = shlex.shlex(line, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    words = list(lex)
    if len(words) >= 2 and words[-2] == ">":
        words = words[:-2]
    operators = [w for w in words if w and set(w) <= set("();<>|&")]
    assert not operators, f"{line!r}: the shell would read {operators} as operators"
    return words


@pytest.mark.parametrize("command", [[], ["simulate"], ["bench"]])
def test_every_help_example_pastes_into_a_shell_and_parses(command: list[str],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from crdts.cli import build_parser, prepare

    assert main([*command, "--help"]) == 0
    examples = _examples(capsys.readouterr().out)
    assert len(examples) >= 2
    for line in examples:
        words = _shell_words(line)
        assert words[0] == "crdts"
        argv = [w for w in words[1:] if w != "--help"]
        args = build_parser().parse_args(argv)  # SystemExit (a usage error) fails the test
        if args.command == "simulate":
            prepare(args)  # the scenario, protocols and columns are valid, and no flag is refused


def test_the_partition_example_is_quoted(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--partition '10-40:0,1|2,3,4'" in out
    assert "e.g. '10-40:0,1|2,3,4'" in out and "'0-100000:0|1,2'" in out
    with pytest.raises(AssertionError, match="operators"):
        _shell_words("crdts simulate --partition 10-40:0,1|2,3,4")


# --------------------------------------------------------------------------------------------- flags that do not apply


@pytest.mark.parametrize(("argv", "message"), [
    (["--topology", "star", "--degree", "3"], "--degree applies to --topology partial-mesh only"),
    (["--degree", "3"], "--degree applies to --topology partial-mesh only"),
    (["--latency", "1-5", "--jitter", "2"], "--jitter adds to the 'continents' latency matrix"),
    (["--volatile"], "--volatile says how crashed regions restart"),
    (["--partition", "none", "--partition", "1-2:0|1,2"], "--partition none means no partition"),
    (["--quiet", "--wide"], "--wide chooses the table's columns, and --quiet prints no table"),
    (["-q", "--columns", "bytes"], "--columns chooses the table's columns"),
    (["--columns", "bytes,speed"], "unknown column 'speed'"),
])
def test_flags_that_change_nothing_are_refused(argv: list[str], message: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL, *argv]) == 2
    err = capsys.readouterr().err
    assert "usage: crdts simulate" in err and message in err


def test_wide_and_columns_together_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL, "--wide", "--columns", "bytes"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["--topology", "partial-mesh", "--degree", "2"],
    ["--jitter", "0"],
    ["--latency", "continents", "--jitter", "9"],
    ["--crash", "1@1-2", "--volatile"],
    ["--partition", "none"],
])
def test_flags_that_apply_are_accepted(argv: list[str]) -> None:
    assert main([*SMALL, "--quiet", *argv]) == 0


# --------------------------------------------------------------------------------------------- the table


@pytest.fixture(scope="module")
def default_runs() -> tuple[Any, list[Any]]:
    """The runs of ``crdts simulate`` with no flags (every protocol, the default scenario)."""
    from crdts.cli import build_parser, prepare
    from crdts.sim import run_protocols

    protocols, scenario, _ = prepare(build_parser().parse_args(["simulate"]))
    return scenario, run_protocols(scenario, protocols)


def test_the_default_table_fits_100_columns(default_runs: tuple[Any, list[Any]]) -> None:
    from crdts.cli import COLUMNS, format_table

    _, runs = default_runs
    table, hidden = format_table(runs)
    assert max(len(line) for line in table.splitlines()) <= 100
    assert len(table.splitlines()) == 2 + len(runs)
    assert hidden  # some columns are left out, and named
    wide, none_hidden = format_table(runs, [c.name for c in COLUMNS], width=None)
    assert none_hidden == [] and max(len(line) for line in wide.splitlines()) > 100


def test_the_default_output_fits_100_columns(capsys: pytest.CaptureFixture[str]) -> None:
    # the scenario paragraph, the table and its notes of a run with every protocol and every kind of fault
    rc = main(["simulate", "--regions", "9", "--ops", "10", "--crash", "1@2-3", "--loss", "0.1", "--dup", "0.1",
               "--reorder", "--partition", "1-4:0,1,2,3|4,5,6,7,8"])
    assert rc == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 100
    assert "Not shown: payload" in out and "--wide shows every column" in out


def test_a_table_too_wide_drops_columns_in_order(default_runs: tuple[Any, list[Any]]) -> None:
    from crdts.cli import DEFAULT_COLUMNS, format_table

    _, runs = default_runs
    table, hidden = format_table(runs, width=80)
    assert max(len(line) for line in table.splitlines()) <= 80
    assert "rounds" in hidden and "protocol" in table and "converged" in table and "lost" in table
    full, _ = format_table(runs, DEFAULT_COLUMNS, width=None)
    assert full.splitlines()[0].split() == ["protocol", "converged", "time", "rounds", "messages", "bytes",
                                            "metadata", "units", "mem", "mean", "lag", "p95", "lost"]


def test_wide_shows_every_column_and_columns_picks(capsys: pytest.CaptureFixture[str]) -> None:
    from crdts.cli import COLUMNS

    assert main([*SMALL, "--wide"]) == 0
    out = capsys.readouterr().out
    header = next(x for x in out.splitlines() if x.startswith("protocol"))
    for c in COLUMNS:
        assert c.head in header
    assert "Not shown" not in out
    assert main([*SMALL, "--columns", "lost,bytes"]) == 0
    out = capsys.readouterr().out
    header = next(x for x in out.splitlines() if x.startswith("protocol"))
    assert header.split() == ["protocol", "lost", "bytes"]  # in the order asked


def test_json_to_stdout_keeps_the_table_off_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL, "--json", "-"]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)  # nothing but the JSON
    assert [r["protocol"] for r in doc["results"]] == ["bprr", "state"]
    assert "protocol  converged" in err and "2 of 2 protocols converged" in err


# --------------------------------------------------------------------------------------------- python -m crdts


def test_python_m_crdts_is_the_tour_without_arguments_and_the_command_with_them() -> None:
    root = Path(__file__).resolve().parent.parent
    tour = subprocess.run([sys.executable, "-m", "crdts"], capture_output=True, text=True, timeout=60, cwd=root)
    assert tour.returncode == 0 and "Converged: True" in tour.stdout
    helped = subprocess.run([sys.executable, "-m", "crdts", "--help"], capture_output=True, text=True, timeout=60,
                            cwd=root)
    assert helped.returncode == 0 and helped.stdout.startswith("usage: crdts")
    assert "simulate" in helped.stdout and "examples:" in helped.stdout


def test_python_m_crdts_passes_arguments_and_status_through(capsys: pytest.CaptureFixture[str]) -> None:
    from crdts.__main__ import main as module_main

    assert module_main(["simulate", "--regions", "0"]) == 2
    assert "usage: crdts simulate" in capsys.readouterr().err
    assert module_main([*SMALL, "--quiet"]) == 0


# --------------------------------------------------------------------------------------------- bench status


def _fake_bench(monkeypatch: pytest.MonkeyPatch, name: str, behaviour: str) -> None:
    """A runner module ``name`` that passes, fails a target, exits 1 or raises."""
    import types

    from crdts import cli

    def run(argv: list[str]) -> int:
        out = Path(argv[argv.index("--json") + 1])
        if behaviour == "raise":
            raise RuntimeError("boom")
        targets = [{"target": "speed", "what": "speed", "measured": 2.0, "limit": 1.0,
                    "pass": behaviour != "target"}]
        out.write_text(json.dumps({"results": [], "targets": targets}))
        return 1 if behaviour == "exit" else 0

    mod = types.ModuleType(name)
    mod.main = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setitem(cli._BENCHES, name, cli.Bench("a fake", module=name))


@pytest.fixture
def only_fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    from crdts import cli

    monkeypatch.setattr(cli, "_BENCHES", {})


@pytest.mark.usefixtures("only_fakes")
def test_bench_exits_1_and_names_every_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    for name, behaviour in (("fine", "pass"), ("slow", "target"), ("broken", "exit"), ("crashy", "raise")):
        _fake_bench(monkeypatch, name, behaviour)
    assert main(["bench", "--quick", "--json-dir", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    summary = out.split("\nbenchmarks:\n", 1)[1]
    assert "fine     ok" in summary
    assert "slow     FAILED: 1 target(s) failed: speed" in summary
    assert "broken   FAILED: exit status 1" in summary
    assert "crashy   FAILED: raised RuntimeError: boom" in summary
    assert "crdts bench: failed: slow, broken, crashy" in err


@pytest.mark.usefixtures("only_fakes")
def test_bench_exits_0_when_every_target_passes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    _fake_bench(monkeypatch, "fine", "pass")
    assert main(["bench", "--json-dir", str(tmp_path)]) == 0
    assert "fine     ok" in capsys.readouterr().out


def test_bench_checks_of_the_icde_layout_count_too() -> None:
    from crdts.cli import _failed_targets

    doc = {"checks": [{"check": "T1", "result": "PASS"}, {"check": "T2", "result": "FAIL"},
                      {"check": "T3", "result": "SKIP"}],
           "targets": [{"target": "a", "pass": True}, {"target": "b", "pass": False}]}
    assert _failed_targets(doc) == ["b", "T2"]


def test_bench_without_a_source_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    # As from a non-editable install: the packaged runners are there, the checkout's scripts are not.
    from crdts import cli

    monkeypatch.setattr(cli, "_checkout", lambda: None)
    for key in ("types", "codec"):
        got = cli._bench_runner(key)
        assert not isinstance(got, str) and got[0].__name__ == f"crdts.bench.{key}" and callable(got[0].main)
    assert main(["bench", "--only", "hostile"]) == 2
    err = capsys.readouterr().err
    assert "cannot run hostile" in err and "not part of the installed package" in err
    monkeypatch.setattr(cli, "_BENCHES", {"hostile": cli._BENCHES["hostile"]})
    assert main(["bench", "--json-dir", str(tmp_path)]) == 0  # nothing ran, nothing failed
    assert "hostile  skipped: benchmarks/bench_hostile.py is not part of the installed package" in \
        capsys.readouterr().out


@pytest.mark.parametrize("key", ["types", "codec"])
def test_packaged_benchmarks_run_and_write_their_targets(key: str, tmp_path: Path) -> None:
    import importlib

    mod = importlib.import_module(f"crdts.bench.{key}")
    out = tmp_path / f"{key}.json"
    assert mod.main(["--quick", "--n", "200", "--repeats", "1", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["targets"] and all(isinstance(t["pass"], bool) for t in doc["targets"])
    assert doc["command"].startswith(f"python -m crdts.bench.{key} --quick")
    assert not (tmp_path / "benchmarks").exists()


def test_inspect_reads_sync_messages(tmp_path, capsys):
    import json

    from crdts import AWSet, encode
    from crdts.cli import main
    from crdts.sync import encode_message

    delta = AWSet("eu").add("apple")
    path = tmp_path / "m.bin"
    path.write_bytes(encode_message("seq", 7, payload=encode(delta)))
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "sync message 'seq'" in out and "counter:  7" in out and "AWSet" in out and "apple" in out
    path.write_bytes(encode_message("log", [["eu", 1, encode(delta)]]))
    assert main(["inspect", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "log" and doc["fields"]["entries"][0]["origin"] == "eu"
    path.write_bytes(b"\x83\x01\x63")
    assert main(["inspect", str(path)]) == 2
    assert "nor a sync message" in capsys.readouterr().err


def test_inspect_shows_metadata_sizes_of_an_object_and_of_a_retirement_registry(tmp_path, capsys):
    from crdts import ConflictMap
    from crdts.retention import Retirements

    m = ConflictMap("eu")
    m.set("k", 1)
    m.merge(ConflictMap("us").set("k", 2))
    path = tmp_path / "m.bin"
    path.write_bytes(encode(m))
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "metadata: replicas 2, context 2, cloud 0, archives 0, dots 2, siblings 2, conflicted 1" in out
    assert main(["inspect", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["metadata"] == {"replicas": 2, "context": 2, "cloud": 0, "archives": 0, "dots": 2, "siblings": 2,
                               "conflicted": 1}
    s, us = AWSet("eu"), AWSet("us")
    s.add("x")
    us.add("y")
    s.merge(us.add("z"))                               # us:2 without us:1: a scattered dot
    path.write_bytes(encode(s))
    assert main(["inspect", str(path), "--json"]) == 0
    meta = json.loads(capsys.readouterr().out)["metadata"]
    assert meta["context"] == 1 and meta["cloud"] == 1 and meta["dots"] == 2 and meta["replicas"] == 2
    r = Retirements("eu")
    r.decide("us", members=["eu", "us"])
    path.write_bytes(encode(r))
    assert main(["inspect", str(path)]) == 0
    assert "metadata: pending 1, tombstones 0, archives 0, votes 0" in capsys.readouterr().out
    assert main(["inspect", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metadata"]["pending"] == 1
