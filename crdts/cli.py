"""The ``crdts`` command: ``simulate`` (the convergence benchmark), ``inspect`` (decode bytes), ``bench``.

This module parses arguments and prints; what it runs lives in :mod:`crdts.sim` (scenarios, runs, plots)
and :mod:`crdts.bench` (the micro benchmarks).

``crdts simulate`` with no flags runs the main job in a few seconds: five regions on three continents
(a latency matrix of one-way delays), an add-wins set with churn, a partition between Europe and the
rest that heals, and every sync protocol on the same seeded schedule. It shows progress on stderr,
prints a table on stdout and exits 0 only when every protocol converged with no lost write.

>>> main(["simulate", "--regions", "3", "--ops", "5", "--protocol", "bprr,state", "--quiet"])
0
>>> print(format_scenario(build_parser().parse_args(["simulate"])))
5 regions (eu-west, eu-central, us-east, us-west, ap-south), topology mesh, workload awset
100 updates per region at 1/s, sync every 1000 ms
latency continents (one-way 12-110 ms + up to 5 ms jitter)
partition 30-60:0,1|2,3,4 (default), seed 0

Exit codes: 0 success; 1 a protocol did not converge (or lost a write), or a benchmark target failed;
2 bad arguments or bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
import os
import sys
import tempfile
import textwrap
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs

from ._json import to_json as _plain
from .sim import (
    TOPOLOGIES,
    WORKLOADS,
    MissingExtra,
    Result,
    Run,
    Scenario,
    build_scenario,
    continents_latency,
    default_partition,
    plot_runs,
    protocol_names,
    region_names,
    run_protocols,
    select_protocols,
)

__all__ = [
    "COLUMNS",
    "DEFAULT_COLUMNS",
    "Column",
    "MissingExtra",
    "build_parser",
    "format_scenario",
    "format_table",
    "main",
    "parse_columns",
    "prepare",
    "scenario_from_args",
]

#: Width the default table is fitted to (``--wide`` and ``--columns`` show what they are asked for).
TABLE_WIDTH = 100

# ------------------------------------------------------------------------------------------ progress


class _Progress:
    """A progress bar on stderr: tqdm when installed, else a percentage line; shown after a short delay."""

    def __init__(self, total_runs: int, enabled: bool, stream: TextIO | None = None, delay: float = 0.3) -> None:
        self.total = total_runs
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.delay = delay
        self.start = time.monotonic()
        self.bar: Any = None
        self.last = -1
        self.shown = False
        if enabled:
            try:
                tqdm = importlib.import_module("tqdm").tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=100 * total_runs, file=self.stream, delay=delay, unit="%", leave=False,
                                bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")

    def __call__(self, k: int, protocol: str, fraction: float) -> None:
        if not self.enabled:
            return
        pos = int(100 * k + 100 * min(1.0, max(0.0, fraction)))
        if self.bar is not None:
            self.bar.set_description_str(f"simulate {protocol} ({k + 1}/{self.total})", refresh=False)
            if pos > self.bar.n:
                self.bar.update(pos - self.bar.n)
            return
        pct = pos // self.total
        if pct != self.last and time.monotonic() - self.start >= self.delay:
            self.last = pct
            self.shown = True
            self.stream.write(f"\rsimulate {protocol} ({k + 1}/{self.total}): {pct:3d}%")
            self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.shown:
            self.stream.write("\r" + " " * 60 + "\r")
            self.stream.flush()

# ------------------------------------------------------------------------------------------ output


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError  # pragma: no cover


def _fmt_count(n: float) -> str:
    return f"{n / 1e6:.2f}M" if n >= 10_000_000 else f"{n:,.0f}"


def _fmt_lag(s: float | None) -> str:
    return "-" if s is None else f"{s:.1f} s"


def _fmt_time(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.1f} s"


@attrs.frozen
class Column:
    """One column of the results table: its ``--columns`` name, header, cell and footnote."""

    name: str
    head: str
    cell: Callable[[Result], str]
    note: str = ""


#: Every column of the table, in order (``--wide`` shows them all). ``protocol`` always comes first.
COLUMNS: tuple[Column, ...] = (
    Column("converged", "converged", lambda r: "yes" if r.converged else "NO"),
    Column("time", "time", lambda r: _fmt_time(r.convergence_time_ms),
           "time/rounds: to converge, after the last write and heal"),
    Column("rounds", "rounds", lambda r: "-" if r.rounds_to_converge is None else str(r.rounds_to_converge)),
    Column("messages", "messages", lambda r: _fmt_count(r.messages)),
    Column("bytes", "bytes", lambda r: _fmt_bytes(r.bytes),
           "bytes = payload (codec bytes of CRDT states and deltas) + metadata (protocol envelope, seqs, acks, "
           "digests)"),
    Column("payload", "payload", lambda r: _fmt_bytes(r.payload_bytes)),
    Column("metadata", "metadata", lambda r: _fmt_bytes(r.metadata_bytes)),
    Column("units", "units", lambda r: _fmt_count(r.payload_units), "units: elements or entries shipped"),
    Column("full", "full", lambda r: str(r.full_states), "full: full states sent"),
    Column("mem-mean", "mem mean", lambda r: f"{r.memory_units_mean:,.0f}",
           "mem: units held per replica (state + buffers)"),
    Column("mem-peak", "mem peak", lambda r: f"{r.memory_units_peak:,}"),
    Column("cpu", "cpu s", lambda r: f"{r.cpu_seconds:.2f}", "cpu: seconds spent in the nodes"),
    Column("conflicts", "conflicts", lambda r: f"{r.conflicts}/{r.conflicts_seen}",
           "conflicts: visible at the end / seen on merge (conflict types)"),
    Column("lag-p50", "lag p50", lambda r: _fmt_lag(r.lag_p50_s),
           "lag: replication lag percentiles over every round and peer (age of the oldest write a peer lacks; "
           "- for protocols that keep no per-peer knowledge)"),
    Column("lag-p95", "lag p95", lambda r: _fmt_lag(r.lag_p95_s)),
    Column("lost", "lost", lambda r: str(r.lost_writes), "lost: acknowledged writes missing at the end"),
)
_BY_NAME = {c.name: c for c in COLUMNS}
#: The columns of the default table; the later ones in :data:`_DROP_ORDER` go first if it is too wide.
DEFAULT_COLUMNS = ("converged", "time", "rounds", "messages", "bytes", "metadata", "units", "mem-mean", "lag-p95",
                   "lost")
_DROP_ORDER = ("rounds", "metadata", "mem-mean", "units", "messages", "lag-p95")


def _render(runs: Sequence[Run], cols: Sequence[Column]) -> str:
    head = ("protocol", *(c.head for c in cols))
    rows: list[tuple[str, ...]] = [head]
    for run in runs:
        r = run.result
        if r is None:
            rows.append((run.protocol, "ERROR", *["-"] * (len(cols) - 1)) if cols else (run.protocol,))
            continue
        rows.append((run.protocol, *(c.cell(r) for c in cols)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = []
    for n, row in enumerate(rows):
        cells = [c.ljust(widths[i]) if i < 2 else c.rjust(widths[i]) for i, c in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def parse_columns(spec: str) -> tuple[str, ...]:
    """``--columns``: ``all`` or comma-separated column names (see :data:`COLUMNS`). Raises ValueError.

    >>> parse_columns("bytes, lost,protocol")
    ('bytes', 'lost')
    """
    if spec.strip() == "all":
        return tuple(c.name for c in COLUMNS)
    out: list[str] = []
    for name in (x.strip() for x in spec.split(",")):
        if name == "protocol" or name in out:
            continue
        if name not in _BY_NAME:
            raise ValueError(f"unknown column {name!r}; choose from protocol, {', '.join(_BY_NAME)} or all")
        out.append(name)
    return tuple(out)


def format_table(runs: Sequence[Run], columns: Sequence[str] | None = None,
                 width: int | None = TABLE_WIDTH) -> tuple[str, list[str]]:
    """The results table (one row per protocol) and the names of the columns it leaves out.

    ``columns`` names the columns to show (default :data:`DEFAULT_COLUMNS`). When ``width`` is given and
    the table is wider, columns are dropped (rounds first, then metadata, mean memory, units, messages,
    lag) until it fits.
    """
    names = list(DEFAULT_COLUMNS if columns is None else columns)
    table = _render(runs, [_BY_NAME[n] for n in names])
    for victim in _DROP_ORDER:
        if width is None or max(map(len, table.splitlines())) <= width:
            break
        if victim in names:
            names.remove(victim)
            table = _render(runs, [_BY_NAME[n] for n in names])
    return table, [c.name for c in COLUMNS if c.name not in names]


def _table_note(shown: Sequence[str], hidden: Sequence[str]) -> str:
    # a column whose footnote another column carries: (column, the one with the note)
    carried = {"payload": "bytes", "metadata": "bytes", "rounds": "time", "mem-peak": "mem-mean",
               "lag-p95": "lag-p50"}
    with_note = {carried.get(name, name) for name in shown}
    text = "; ".join(c.note for c in COLUMNS if c.note and c.name in with_note)
    if hidden:
        text += f". Not shown: {', '.join(hidden)} (--wide shows every column, --columns NAME,... picks them)"
    return text


def _wrap(text: str, width: int = TABLE_WIDTH) -> str:
    return textwrap.fill(text, width)


def format_scenario(args: argparse.Namespace) -> str:
    """A few lines (at most 100 columns wide) describing the scenario the arguments define."""
    n = args.regions
    names = region_names(n)
    shown = ", ".join(names[:8]) + (", ..." if n > 8 else "")
    topo = args.topology + (f" (degree {args.degree})" if args.topology == "partial-mesh" else "")
    if args.latency == "continents":
        m = continents_latency(n)
        off = [m[i][j] for i in range(n) for j in range(n) if i != j] or [0.0]
        lat = f"continents (one-way {min(off):g}-{max(off):g} ms + up to {args.jitter:g} ms jitter)"
    else:
        lat = f"uniform {args.latency} ms"
    faults = []
    specs, default = _partition_specs(args)
    faults += [f"partition {s}" + (" (default)" if default else "") for s in specs]
    faults += [f"crash {c}" for c in args.crash or ()]
    for flag, v in (("loss", args.loss), ("dup", args.dup)):
        if v:
            faults.append(f"{flag} {v:g}")
    if args.reorder:
        faults.append(f"reorder (up to {args.reorder:g} ms extra)")
    if args.volatile:
        faults.append("volatile restarts")
    lines = [f"{n} regions ({shown}), topology {topo}, workload {args.workload}",
             f"{args.ops} updates per region at {args.rate:g}/s, sync every {args.sync_interval:g} ms",
             f"latency {lat}",
             (", ".join(faults) + ", " if faults else "no faults, ") + f"seed {args.seed}"]
    return "\n".join(textwrap.fill(line, TABLE_WIDTH, subsequent_indent="  ") for line in lines)


# ------------------------------------------------------------------------------------------ simulate


def _partition_specs(args: argparse.Namespace) -> tuple[list[str], bool]:
    """The partition specs to run, and whether they are the default one."""
    if args.partition is None:
        d = default_partition(args.regions, args.ops, args.rate)
        return ([d] if d else []), True
    return [s for s in args.partition if s.lower() != "none"], False


def scenario_from_args(args: argparse.Namespace) -> Scenario:
    """The :class:`~crdts.sim.Scenario` the ``simulate`` arguments describe. Raises ValueError when invalid."""
    specs, _ = _partition_specs(args)
    return build_scenario(
        regions=args.regions, topology=args.topology, degree=args.degree, workload=args.workload, ops=args.ops,
        rate=args.rate, sync_interval=args.sync_interval, seed=args.seed, latency=args.latency,
        jitter=args.jitter, loss=args.loss, dup=args.dup, reorder=args.reorder, partitions=specs,
        crashes=args.crash or (), volatile=args.volatile, max_rounds=args.max_rounds, signed=args.signed,
    )


def _refuse_what_does_not_apply(args: argparse.Namespace) -> None:
    """A flag that would change nothing is refused (ValueError), rather than silently ignored."""
    given: set[str] = getattr(args, "given", set())
    if "degree" in given and args.topology != "partial-mesh":
        raise ValueError(f"--degree applies to --topology partial-mesh only (a {args.topology} has no degree "
                         "to choose)")
    if "jitter" in given and args.latency != "continents":
        raise ValueError("--jitter adds to the 'continents' latency matrix; with a uniform --latency "
                         f"{args.latency} the range already sets the spread")
    if args.volatile and not args.crash:
        raise ValueError("--volatile says how crashed regions restart: give a --crash R@A-B too")
    specs = args.partition or []
    if any(s.lower() == "none" for s in specs) and len(specs) > 1:
        raise ValueError("--partition none means no partition: it cannot be combined with other partitions")
    if args.quiet and (args.wide or args.columns):
        raise ValueError(f"{'--wide' if args.wide else '--columns'} chooses the table's columns, and --quiet "
                         "prints no table")


def prepare(args: argparse.Namespace) -> tuple[list[str], Scenario, tuple[str, ...] | None]:
    """Check the ``simulate`` arguments: the protocols to run, the scenario and the table columns (None for
    the default table). Raises ValueError with the message for the user; runs nothing."""
    _refuse_what_does_not_apply(args)
    protocols = select_protocols(args.protocol)
    scenario = scenario_from_args(args)
    if args.signed:
        from .sync import PROTOCOLS

        signing = [p for p in protocols if getattr(PROTOCOLS[p], "signs", False)]
        if args.protocol.strip() != "all" and signing != protocols:
            raise ValueError("--signed runs the protocols that relay writes as their origins signed them: "
                             "digest and op")
        protocols = signing
    columns = tuple(c.name for c in COLUMNS) if args.wide else parse_columns(args.columns) if args.columns else None
    return protocols, scenario, columns


def _params(args: argparse.Namespace, scenario: Scenario, protocols: list[str], runs: Sequence[Run]) -> dict[str, Any]:
    specs, default = _partition_specs(args)
    first = next((r for r in runs if r.result is not None), None)
    return {
        "regions": scenario.regions, "region_names": region_names(scenario.regions),
        "topology": scenario.topology, "degree": scenario.degree,
        "edges": first.edges if first else None, "diameter": first.diameter if first else None,
        "protocols": protocols, "workload": scenario.workload, "ops": scenario.ops, "rate": scenario.rate,
        "sync_interval_ms": scenario.sync_interval, "seed": scenario.seed, "latency": args.latency,
        "latency_ms": scenario.latency,
        "jitter_ms": scenario.jitter, "loss": scenario.loss, "dup": scenario.dup, "reorder_ms": scenario.reorder,
        "partitions": specs, "default_partition": default and bool(specs), "crashes": list(args.crash or ()),
        "durable": scenario.durable, "max_rounds": scenario.max_rounds, "signed": scenario.signed,
        "command": ["crdts", "simulate", *args.argv],
    }


#: simulate flags the churn run does not use: (name, default)
#: The simulate options the churn run does not take: any of them away from its default is refused.
_NOT_CHURN = ("topology", "workload", "ops", "rate", "sync_interval", "latency", "loss", "dup", "reorder", "partition",
              "crash", "volatile", "signed", "wide", "columns", "max_rounds")


def cmd_churn(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``crdts simulate --churn RATE``: the churn run of :mod:`crdts.sim.churn`, for each protocol."""
    from .sim.churn import ChurnScenario, churn_runs, format_churn

    given: set[str] = getattr(args, "given", set())
    wrong = [f"--{k.replace('_', '-')}" for k in _NOT_CHURN if getattr(args, k) != parser.get_default(k)] + [
        f"--{k}" for k in ("degree", "jitter") if k in given]
    if wrong:
        parser.error(f"{', '.join(wrong)} do(es) not apply to --churn: the churn run syncs over a full mesh of "
                     "lossless links, one round per simulated second, with one write per round")
    try:
        protocols = select_protocols(args.protocol)
        sc = ChurnScenario(live=args.regions, events=args.churn_events, rate=args.churn, ttl=args.retire_ttl,
                           seed=args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    if args.plot:
        from .sim.plot import pyplot

        pyplot()
    out = sys.stderr if args.json == "-" else sys.stdout
    results = churn_runs(sc, protocols)
    if not args.quiet:
        print(f"crdts simulate --churn {sc.rate:g}: {sc.live} live regions, {sc.events} leave-and-join events, "
              f"retirement records kept {sc.ttl:g} s; bytes of the encoded full state of live region 0, "
              f"kB sent by every region of the run so far", file=out)
        for p, result in results.items():
            print(f"\nprotocol {p}:", file=out)
            print(format_churn(result), file=out)
            last = result.samples[-1]
            print(f"at the end: pruned {last['pruned_state']} B = "
                  f"{last['pruned_state'] / last['baseline_state']:.2f}x the never-churned state "
                  f"({last['baseline_state']} B); unpruned {last['unpruned_state']} B = "
                  f"{last['unpruned_state'] / last['baseline_state']:.2f}x", file=out)
    if args.json:
        doc = {"scenario": next(iter(results.values())).to_json()["scenario"],
               "converged": all(r.converged for r in results.values()),
               "protocols": {p: {"converged": r.converged, "samples": r.samples} for p, r in results.items()}}
        _write(args.json, json.dumps(doc, indent=2) + "\n")
    if args.plot:
        from .sim.churn import plot_churn

        plot_churn(results, args.plot)
    bad = [p for p, r in results.items() if not r.converged]
    if bad:
        print(f"crdts simulate: the churn run did not settle for {', '.join(bad)} (replicas differ or retirements "
              "pending)", file=sys.stderr)
        return 1
    return 0


def cmd_simulate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.churn is not None:
        return cmd_churn(args, parser)
    try:
        protocols, scenario, columns = prepare(args)
    except ValueError as exc:
        parser.error(str(exc))
    if args.plot:
        from .sim.plot import pyplot

        pyplot()  # fail before a long run, not after it
    # With --json - the JSON owns stdout; what people read goes to stderr.
    out = sys.stderr if args.json == "-" else sys.stdout
    if not args.quiet:
        print(format_scenario(args), file=out)
        print(file=out)
        out.flush()
    bar = _Progress(len(protocols), enabled=not args.quiet)
    try:
        runs = run_protocols(scenario, protocols, progress=bar)
    finally:
        bar.close()
    if not args.quiet:
        table, hidden = format_table(runs, columns, width=None if columns else TABLE_WIDTH)
        print(table, file=out)
        print(file=out)
        shown = [c.name for c in COLUMNS if c.name not in hidden]
        print(_wrap(_table_note(shown, hidden if columns is None else [])), file=out)
    if args.json:
        doc = {"params": _params(args, scenario, protocols, runs), "results": [r.to_json() for r in runs]}
        _write(args.json, json.dumps(doc, indent=2, default=_json_default) + "\n")
    if args.plot:
        plot_runs(runs, scenario, args.plot, title=f"crdts simulate: {scenario.regions} regions, "
                  f"{scenario.topology}, {scenario.workload}")
    failed = [r for r in runs if not r.ok]
    by_reason: dict[str, list[str]] = {}
    for r in failed:
        verb = "did not converge: " if r.result is None or not r.result.converged else ""
        by_reason.setdefault(verb + r.reason, []).append(r.protocol)
    for reason, names in by_reason.items():
        print(f"crdts simulate: {', '.join(names)} {reason}" if reason.startswith("did not") else
              f"crdts simulate: {', '.join(names)}: {reason}", file=sys.stderr)
    if not args.quiet:
        print(f"\n{len(runs) - len(failed)} of {len(runs)} protocols converged with no lost write"
              + ("." if not failed else f"; failed: {', '.join(r.protocol for r in failed)}."), file=out)
    return 1 if failed else 0


def _json_default(o: Any) -> Any:
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return str(o)


def _write(path: str, text: str) -> None:
    if path == "-":
        sys.stdout.write(text)
        return
    p = Path(path)
    if p.parent and not p.parent.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")


# ------------------------------------------------------------------------------------------ inspect


def _read_input(source: str) -> bytes:
    data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    text = data.strip()
    # Hex text (as printed by ``encode(x).hex()``) is accepted too: a codec message never starts with an
    # ASCII hex digit, so the two cannot be confused.
    if text and len(text) % 2 == 0 and all(c in b"0123456789abcdefABCDEF" for c in text):
        return bytes.fromhex(text.decode("ascii"))
    return data


def metadata_sizes(obj: Any) -> dict[str, int]:
    """The metadata sizes of a decoded object: ``CRDT.metadata()`` (version vector / context entries, scattered
    dots, replicas, archives, per type dots, siblings...), or for a retirement registry its ``metrics()``
    (retirements ``pending``, ``tombstones``, ``archives``, ``votes``). {} when it reports none."""
    from .retention import Retirements

    with contextlib.suppress(Exception):
        if isinstance(obj, Retirements):
            return dict(obj.metrics())
        meta = getattr(obj, "metadata", None)
        if callable(meta):
            return {k: int(v) for k, v in meta().items()}
    return {}


def describe_object(obj: Any, size: int) -> dict[str, Any]:
    """What ``inspect`` shows of a decoded object."""
    info: dict[str, Any] = {"type": type(obj).__name__, "bytes": size}
    with contextlib.suppress(Exception):
        from .codec import TYPE_CODES

        if type(obj) in TYPE_CODES:
            info["type_code"] = TYPE_CODES[type(obj)]
    if hasattr(obj, "units"):
        with contextlib.suppress(Exception):
            info["units"] = obj.units()
    ctx = getattr(obj, "context", None)
    if ctx is not None and hasattr(ctx, "vv"):
        info["context"] = {"version_vector": dict(sorted(ctx.vv.items())),
                           "dot_cloud": sorted(list(d) for d in ctx.cloud_dots())}
    meta = metadata_sizes(obj)
    if meta:
        info["metadata"] = meta
    if hasattr(obj, "values") and not callable(obj.values):
        info["value"] = obj.values
    elif hasattr(obj, "value"):
        info["value"] = obj.value
    else:
        info["value"] = repr(obj)
    return info


def describe_message(data: bytes) -> dict[str, Any]:
    """What ``inspect`` shows of a sync message (see crdts.sync.messages): its kind, its fields, and the
    CRDT payload it carries, decoded. Raises DecodeError when ``data`` is not one."""
    from .codec import decode
    from .sync.messages import KINDS, decode_message

    msg = decode_message(data)
    names = {"uint": "counter", "vv": "vector", "replica": "replica", "entries3": "entries", "entries4": "entries",
             "entries_osbs": "entries", "entries_osdbs": "entries"}
    fields: dict[str, Any] = {}
    for check, value in zip(KINDS[msg.kind][0], msg.meta, strict=True):
        name = names.get(check, check)
        if name == "entries":
            value = [{"origin": e[0], "seq": e[1], "bytes": len(e[-2] if len(e) in (4, 5) and
                                                              check.endswith("bs") else e[-1])} for e in value]
        fields[name] = value
    info: dict[str, Any] = {"kind": msg.kind, "bytes": len(data), "fields": fields}
    if msg.payload is not None:
        info["payload"] = describe_object(decode(msg.payload), len(msg.payload))
    return info


def _plain_message(info: dict[str, Any]) -> dict[str, Any]:
    out = dict(info)
    if "payload" in out:
        out["payload"] = dict(out["payload"], value=_plain(out["payload"]["value"]))
    return out


def cmd_inspect(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .codec import decode
    from .errors import DecodeError

    try:
        data = _read_input(args.file)
    except OSError as exc:
        print(f"crdts inspect: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        obj = decode(data)
    except DecodeError as exc:
        try:
            info = describe_message(data)
        except DecodeError as exc2:
            print(f"crdts inspect: neither a crdts encoding ({exc}) nor a sync message ({exc2})", file=sys.stderr)
            return 2
        if args.json:
            print(json.dumps(_plain_message(info), indent=2, default=_json_default))
            return 0
        print(f"sync message {info['kind']!r}")
        print(f"  bytes:    {info['bytes']}")
        for name, value in info["fields"].items():
            print(f"  {name + ':':<9} {value}")
        if "payload" in info:
            p = info["payload"]
            print(f"  payload:  {p['type']}, {p['bytes']} bytes, value {p['value']!r:.200}")
        return 0
    info = describe_object(obj, len(data))
    if args.json:
        info["value"] = _plain(info["value"])
        print(json.dumps(info, indent=2, default=_json_default))
        return 0
    import pprint

    head = f"{info['type']}" + (f" (type code {info['type_code']})" if "type_code" in info else "")
    print(head)
    print(f"  bytes:   {info['bytes']}")
    if "units" in info:
        print(f"  units:   {info['units']}")
    if "context" in info:
        c = info["context"]
        print(f"  context: version vector {c['version_vector']}, dot cloud {c['dot_cloud'] or 'empty'}")
    if "metadata" in info:
        print("  metadata: " + ", ".join(f"{k} {v}" for k, v in info["metadata"].items()))
    print("  value:   " + pprint.pformat(info["value"], width=100, sort_dicts=True).replace("\n", "\n           "))
    return 0


# ------------------------------------------------------------------------------------------ bench


@attrs.frozen
class Bench:
    """A benchmark ``crdts bench`` runs: a runner module inside the package (works installed), or a script
    in a source checkout's ``benchmarks/`` folder. Either has ``main(argv) -> int`` and takes ``--quick``
    and ``--json PATH``; its JSON may list ``targets`` (``{what, measured, limit, pass}``) or ``checks``
    (``{check, measured, limit, result}``), and a failed one fails the command."""

    what: str
    module: str | None = None
    script: str | None = None


#: The benchmarks of ``crdts bench``, by ``--only`` name (add one here: a module, or a script for now).
_BENCHES: dict[str, Bench] = {
    "types": Bench("the data types beside plain Python", module="crdts.bench.types"),
    "codec": Bench("the wire format beside plain cbor2", module="crdts.bench.codec"),
    "hostile": Bench("hostile messages beside honest ones", script="bench_hostile.py"),
    "workloads": Bench("two regions that have talked: merges, codec, memory", script="bench_workloads.py"),
    "regions": Bench("region processes: durable writes, lag, round and catch-up cost", script="bench_regions.py"),
}


def _checkout() -> Path | None:
    from .bench._common import checkout

    return checkout()


@contextlib.contextmanager
def _argv(argv: list[str]) -> Iterator[None]:
    saved = sys.argv
    sys.argv = argv
    try:
        yield
    finally:
        sys.argv = saved


def _load_script(path: Path) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_crdts_bench_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _bench_runner(key: str) -> tuple[Any, str] | str:
    """The runner's module and its label, or why it cannot run here."""
    b = _BENCHES[key]
    if b.module is not None:
        return importlib.import_module(b.module), f"python -m {b.module}"
    assert b.script is not None
    root = _checkout()
    if root is None:
        return (f"benchmarks/{b.script} is not part of the installed package: run crdts bench from a clone of "
                "the crdts repository installed with pip install -e .")
    path = root / "benchmarks" / b.script
    if not path.is_file():
        return f"{path} is not there"
    return _load_script(path), f"benchmarks/{b.script}"


def _failed_targets(doc: dict[str, Any]) -> list[str]:
    """The names of the targets (or checks) a benchmark's JSON marks as failed."""
    out = []
    for t in doc.get("targets", []) or []:
        if isinstance(t, dict) and t.get("pass") is False:
            out.append(str(t.get("target", t.get("what", "?"))))
    for c in doc.get("checks", []) or []:
        if isinstance(c, dict) and c.get("result") == "FAIL":
            out.append(str(c.get("check", "?")))
    return out


def _summary_lines(doc: dict[str, Any]) -> list[str]:
    """Each result row of a benchmark JSON as its ratios to the plain-Python baseline, then its targets.

    Rows name their ratios ``ratio`` (with ``crdts_us``/``plain_us``, as the types benchmark writes) or
    ``<what>_ratio`` (as the codec benchmark writes: bytes, encode, decode); targets are
    ``{what, measured, limit, pass}``.
    """
    rows = [r for r in doc.get("results", []) if isinstance(r, dict)]
    names = [str(r.get("name", "?")) + (f" (N={r['state_n']:,})" if "state_n" in r else "") for r in rows]
    w = max((len(n) for n in names), default=10)
    lines = []
    for name, r in zip(names, rows, strict=True):
        if "ratio" in r:
            lines.append(f"    {name:<{w}}  {r.get('crdts_us', float('nan')):>10.3f} us  vs "
                         f"{r.get('plain_us', float('nan')):>8.3f} us  {r['ratio']:>7.1f}x  {r.get('baseline', '')}")
            continue
        ratios = [(k[: -len("_ratio")], v) for k, v in r.items()
                  if k.endswith("_ratio") and isinstance(v, (int, float))]
        if ratios:
            lines.append(f"    {name:<{w}}  " + "   ".join(f"{k} {v:.2f}x" for k, v in ratios))
    for t in doc.get("targets", []):
        if isinstance(t, dict) and "measured" in t:
            lines.append(f"    {'PASS' if t.get('pass') else 'FAIL'}  {t.get('what', t.get('target', '?'))}: "
                         f"{t['measured']:.2f} (limit {t.get('limit')})")
    return lines


def _run_bench(key: str, quick: bool, outdir: Path) -> tuple[str, list[str], dict[str, Any] | None]:
    """Run one benchmark: its verdict (``ok``, ``FAILED ...``, ``skipped ...``), why, and its JSON."""
    got = _bench_runner(key)
    if isinstance(got, str):
        return "skipped", [got], None
    mod, label = got
    out = outdir / f"{key}.json"
    argv = ["--json", str(out)] + (["--quick"] if quick else [])
    print(f"== {key}: {label} {' '.join(argv)}", file=sys.stderr, flush=True)
    try:
        with _argv([label, *argv]):
            rc = mod.main(argv)
    except SystemExit as exc:  # the runner's own argument parser refused something
        rc = exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:
        traceback.print_exc()
        return "FAILED", [f"raised {type(exc).__name__}: {exc}"], None
    doc = json.loads(out.read_text(encoding="utf-8")) if out.exists() else None
    why = [] if not rc else [f"exit status {rc}"]
    if doc is None:
        why.append("wrote no results")
    else:
        bad = _failed_targets(doc)
        if bad:
            why.append(f"{len(bad)} target(s) failed: {', '.join(bad)}")
    return ("FAILED" if why else "ok"), why, doc


def cmd_bench(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    wanted = list(_BENCHES) if args.only == "all" else [args.only]
    if args.only != "all":
        got = _bench_runner(args.only)
        if isinstance(got, str):
            print(f"crdts bench: cannot run {args.only}: {got}", file=sys.stderr)
            return 2
    outdir = Path(args.json_dir) if args.json_dir else Path(tempfile.mkdtemp(prefix="crdts-bench-"))
    outdir.mkdir(parents=True, exist_ok=True)
    verdicts: list[tuple[str, str, list[str]]] = []
    summary: list[tuple[str, list[str]]] = []
    for key in wanted:
        verdict, why, doc = _run_bench(key, args.quick, outdir)
        verdicts.append((key, verdict, why))
        if doc is not None:
            summary.append((key, _summary_lines(doc)))
    if summary:
        print("\nRatios to the plain-Python baseline of the same run (crdts time / plain time):")
        for key, lines in summary:
            print(f"\n  {key}")
            print("\n".join(lines))
        print(f"\nJSON results in {outdir}")
    print("\nbenchmarks:")
    for key, verdict, why in verdicts:
        print(f"  {key:<8} {verdict}" + (f": {'; '.join(why)}" if why else ""))
    failed = [key for key, verdict, _ in verdicts if verdict == "FAILED"]
    if failed:
        print(f"crdts bench: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


# ------------------------------------------------------------------------------------------ parser


def _nonneg_int(s: str) -> int:
    v = int(s)
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {s}")
    return v


def _pos_int(s: str) -> int:
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {s}")
    return v


def _pos_float(s: str) -> float:
    v = float(s)
    if not v > 0 or not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {s}")
    return v


def _prob(s: str) -> float:
    v = float(s)
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1), got {s}")
    return v


def _ms(s: str) -> float:
    v = float(s)
    if not 0 <= v < math.inf:
        raise argparse.ArgumentTypeError(f"expected milliseconds >= 0, got {s}")
    return v


class _Given(argparse.Action):
    """Stores the value and notes that the flag was given (``args.given``), for flags that apply only
    together with another one."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        namespace.given = {*getattr(namespace, "given", ()), self.dest}


_MAIN_EPILOG = """\
examples:
  crdts simulate                      # every sync protocol through a partition that heals
  crdts simulate --help               # regions, topology, workload, faults, --json, --plot
  crdts inspect state.bin             # decode what crdts.encode wrote (raw bytes or hex)
  crdts bench --quick                 # micro benchmarks, as ratios to plain Python

python -m crdts ARGS is the same command; python -m crdts alone is a short tour of the types.
"""

_SIM_EPILOG = """\
examples:
  crdts simulate            # the default: 5 regions on 3 continents, a partition that heals, all protocols
  crdts simulate --regions 15 --topology tree --workload gset --protocol state,bprr
  crdts simulate --regions 12 --topology partial-mesh --degree 3 --latency 1-5 --partition none
  crdts simulate --workload gmap:30 --protocol all --json out.json --plot out.png
  crdts simulate --partition '10-40:0,1|2,3,4' --crash 2@50-60 --loss 0.1 --dup 0.05 --reorder
  crdts simulate --crash 1@20-30 --volatile --wide --json - > run.json

fault schedule (seconds of simulated time; writes happen from 0 to OPS/RATE s):
  --partition 'A-B:G1|G2[|G3]' from A to B only regions of the same group talk, e.g. '10-40:0,1|2,3,4'
                               (quote it: | is a pipe to the shell). Repeatable; 'none' for no
                               partition; by default the first 2/5 of the regions are cut from the rest
                               from 30% to 60% of the write period. A partition that lasts past the run
                               (e.g. '0-100000:0|1,2') never heals: the run stops --max-rounds rounds
                               after the last write and fails.
  --crash R@A-B                region R is down from A to B, then restarts from its durable state
                               (--volatile: it restarts empty, as a new incarnation)

flags that change nothing are refused: --degree without --topology partial-mesh, --jitter with a
uniform --latency, --volatile without --crash, --wide or --columns with --quiet. --quiet silences the
terminal only: --json and --plot still write their files.

""" + textwrap.fill("table: fitted to 100 columns by default (the columns left out are named under it); --wide "
                   "shows every column, --columns picks them: protocol, " + ", ".join(c.name for c in COLUMNS) + ".",
                   100) + """

exit status: 0 every protocol converged with no lost write; 1 otherwise (a line on stderr says why);
2 bad arguments.
"""

_BENCH_EPILOG = """\
examples:
  crdts bench --quick                       # every benchmark, fewer repetitions
  crdts bench --only codec --json-dir results

exit status: 0 every benchmark ran and met its targets; 1 one failed (the summary says which and why);
2 bad arguments, or the benchmark asked for with --only cannot run here.
"""


def cmd_region_serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import asyncio
    import logging

    try:
        from .net.config import ConfigError, load_config
        from .net.serve import serve
    except ImportError as exc:
        raise MissingExtra(f'regions need the net extra (aiohttp): pip install "crdts[net]" ({exc})') from None
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"crdts region serve: {exc}", file=sys.stderr)
        return 2
    from .store import StoreError

    try:
        asyncio.run(serve(cfg))
    except StoreError as exc:
        print(f"crdts region serve: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_region_demo(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        from .net.demo import run_demo
    except ImportError as exc:
        raise MissingExtra(f'the demo needs the net extra: pip install "crdts[net]" ({exc})') from None
    try:
        return run_demo(directory=args.dir, transport=args.transport, writes=args.writes, quiet=args.quiet)
    except RuntimeError as exc:          # a region or nats-server that did not start
        print(f"crdts region demo: {exc}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="crdts", description="crdts: conflict-free replicated data types. Convergence benchmarks, "
        "decoding of encoded states, micro benchmarks.", epilog=_MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"crdts {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    sim = sub.add_parser(
        "simulate", help="run the convergence benchmark on the embedded network simulator",
        description="Run N regions with one CRDT each, a sync protocol (or all of them, on the same seeded "
        "schedule) and a fault schedule on a deterministic simulated network. Progress on stderr, a table "
        "on stdout.", epilog=_SIM_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = sim.add_argument_group("scenario")
    g.add_argument("--regions", type=_pos_int, default=5, metavar="N", help="number of regions (default 5)")
    g.add_argument("--topology", default="mesh", choices=sorted(TOPOLOGIES), metavar="T",
                   help=f"overlay: {', '.join(TOPOLOGIES)} (default mesh)")
    g.add_argument("--degree", type=_pos_int, default=4, metavar="D", action=_Given,
                   help="neighbours per region of a partial-mesh (default 4; partial-mesh only)")
    g.add_argument("--protocol", default="all", metavar="P[,P...]",
                   help="sync protocol(s): " + ", ".join(protocol_names()) + ", or all (default all)")
    g.add_argument("--workload", default="awset", metavar="W",
                   help=", ".join(WORKLOADS) + ", or gmap:K (K%% of a region's share of 1,000 keys per update); "
                   "awset adds with 30%% removes (default awset)")
    g.add_argument("--ops", type=_nonneg_int, default=100, metavar="N", help="updates per region (default 100)")
    g.add_argument("--rate", type=_pos_float, default=1.0, metavar="R",
                   help="updates per second of simulated time, per region (default 1)")
    g.add_argument("--sync-interval", type=_pos_float, default=1000.0, metavar="MS",
                   help="anti-entropy period in simulated ms (default 1000)")
    g.add_argument("--seed", type=int, default=0, metavar="S", help="everything is deterministic for a seed")
    g.add_argument("--max-rounds", type=_nonneg_int, default=200, metavar="N",
                   help="sync rounds after the last write and heal before giving up (default 200)")
    n = sim.add_argument_group("network and faults")
    n.add_argument("--latency", default="continents", metavar="continents|LOW-HIGH|MS",
                   help="one-way latency: the 'continents' matrix of cloud regions (default), or uniform ms")
    n.add_argument("--jitter", type=_ms, default=5.0, metavar="MS", action=_Given,
                   help="uniform extra ms added to the continents matrix (default 5; continents only)")
    n.add_argument("--loss", type=_prob, default=0.0, metavar="P", help="per-message loss probability")
    n.add_argument("--dup", type=_prob, default=0.0, metavar="P", help="per-message duplication probability")
    n.add_argument("--reorder", type=_ms, nargs="?", const=500.0, default=0.0, metavar="MS",
                   help="random extra delay up to MS per message, which reorders them (500 if no MS given)")
    n.add_argument("--partition", action="append", metavar="A-B:G1|G2", help="a partition (repeatable; see below)")
    n.add_argument("--crash", action="append", metavar="R@A-B", help="a crash and restart (repeatable)")
    n.add_argument("--volatile", action="store_true", help="crashed regions lose their state (restart empty)")
    n.add_argument("--signed", action="store_true",
                   help="every region signs its writes (Ed25519; digest and op protocols; needs crdts[signing])")
    o = sim.add_argument_group("output")
    o.add_argument("--json", metavar="PATH", help="write the results as JSON (- for stdout: the table then "
                   "goes to stderr)")
    o.add_argument("--plot", metavar="PATH", help='write a PNG of traffic, replication lag and convergence over '
                   'time (needs pip install "crdts[sim]")')
    o.add_argument("--quiet", "-q", action="store_true", help="no progress and no table (the exit status tells)")
    ch = sim.add_argument_group("churn (regions leave for good and new ones join; see docs/retention.md)")
    ch.add_argument("--churn", type=_pos_float, default=None, metavar="RATE",
                    help="run the churn benchmark instead: RATE leave-and-join events per sync round (one round "
                    "per simulated second), --regions live regions at all times; a table of the metadata bytes "
                    "of a one-element set with retirement, without it, and with never-churned regions, for each "
                    "--protocol (all by default)")
    ch.add_argument("--churn-events", type=_nonneg_int, default=1000, metavar="N",
                    help="leave-and-join events in the churn run (default 1000)")
    ch.add_argument("--retire-ttl", type=_pos_float, default=60.0, metavar="S",
                    help="seconds a retirement record is kept in the churn run (default 60)")
    cols = o.add_mutually_exclusive_group()
    cols.add_argument("--wide", action="store_true", help="every column of the table (wider than 100)")
    cols.add_argument("--columns", metavar="NAME[,NAME...]", help="the table's columns (see below), or all")
    sim.set_defaults(func=cmd_simulate, subparser=sim)

    ins = sub.add_parser("inspect", help="decode an encoded state, delta, op or sync message and print it",
                         description="Decode bytes written by crdts.encode (raw, or as hex text) and print "
                         "the object. Bad input: the codec's error on stderr and exit status 2.")
    ins.add_argument("file", metavar="FILE", help="file to read, or - for standard input")
    ins.add_argument("--json", action="store_true", help="print JSON instead of text")
    ins.set_defaults(func=cmd_inspect, subparser=ins)

    listing = "; ".join(f"{k}: {b.what}" + (" (source checkout only)" if b.module is None else "")
                        for k, b in _BENCHES.items())
    ben = sub.add_parser("bench", help="run the micro benchmarks and print ratios to plain Python",
                         description=f"Run the micro benchmarks ({listing}) and print each figure as a ratio "
                         "to the plain-Python (or honest-message) baseline measured in the same run, then "
                         "which benchmarks met their targets.", epilog=_BENCH_EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    ben.add_argument("--quick", action="store_true", help="fewer repetitions: a smoke run")
    ben.add_argument("--only", choices=["all", *_BENCHES], default="all", help="which benchmark (default all)")
    ben.add_argument("--json-dir", metavar="DIR", help="where to write the JSON results (default: a temp dir)")
    ben.set_defaults(func=cmd_bench, subparser=ben)

    reg = sub.add_parser("region", help="run a region as a process (serve), or three on this machine (demo)",
                         description="Regions as real processes: a durable keyspace of named CRDTs per region, "
                         "replicated over mutual TLS or NATS JetStream, with a local HTTP API. See "
                         "docs/deployment.md.")
    rsub = reg.add_subparsers(dest="region_command", metavar="SUBCOMMAND")
    srv = rsub.add_parser("serve", help="run one region from its configuration file")
    srv.add_argument("--config", required=True, help="the region's TOML file (see docs/deployment.md)")
    srv.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    srv.set_defaults(func=cmd_region_serve, subparser=srv)
    demo = rsub.add_parser("demo", help="three regions on loopback: writes, a cut-off region, the heal")
    demo.add_argument("--dir", help="where the demo's stores and certificates go (default: a temp dir)")
    demo.add_argument("--transport", choices=["tls", "jetstream"], default="tls")
    demo.add_argument("--writes", type=int, default=60, help="writes per region (default 60)")
    demo.add_argument("--quiet", action="store_true", help="no progress, only the summary")
    demo.set_defaults(func=cmd_region_demo, subparser=demo)

    def region_help(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
        reg.print_help()
        return 2

    reg.set_defaults(func=region_help, subparser=reg)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``crdts`` console script (and of ``python -m crdts ARGS``). Returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse: usage errors (2), --help/--version (0)
        return int(exc.code or 0)
    args.argv = args_list[1:] if args_list and args_list[0] == args.command else args_list
    try:
        return int(args.func(args, args.subparser))
    except SystemExit as exc:  # parser.error inside a command
        return int(exc.code or 0)
    except MissingExtra as exc:
        print(f"crdts {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        with contextlib.suppress(Exception):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
