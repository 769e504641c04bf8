"""The ``crdts`` command: ``simulate`` (the convergence benchmark), ``inspect`` (decode bytes), ``bench``.

``crdts simulate`` with no flags runs the main job in a few seconds: five regions on three continents
(a latency matrix of one-way delays), an add-wins set with churn, a partition between Europe and the
rest that heals, and every sync protocol on the same seeded schedule. It shows progress on stderr,
prints a table on stdout and exits 0 only when every protocol converged with no lost write.

>>> main(["simulate", "--regions", "3", "--ops", "5", "--protocol", "bprr,state", "--quiet"])
0
>>> print(format_scenario(build_parser().parse_args(["simulate"])))  # doctest: +NORMALIZE_WHITESPACE
5 regions (eu-west, eu-central, us-east, us-west, ap-south), topology mesh, workload awset,
100 updates per region at 1/s, sync every 1000 ms, latency continents (one-way 12-110 ms + up to 5 ms jitter),
partition 30-60:0,1|2,3,4 (default), seed 0

Exit codes: 0 success; 1 a protocol did not converge (or lost a write); 2 bad arguments or bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs

__all__ = [
    "SITES",
    "MissingExtra",
    "Run",
    "build_parser",
    "continents_latency",
    "default_partition",
    "format_scenario",
    "format_table",
    "main",
    "plot_runs",
    "protocol_names",
    "region_names",
    "run_protocols",
    "scenario_from_args",
]

# ------------------------------------------------------------------------------------ regions and latency

#: The ``continents`` latency preset: public-cloud regions and one-way delays in ms (about half the usual
#: round trip between those regions). Illustrative, not measured here. Region i sits at ``SITES[i % 8]``.
SITES = ("eu-west", "eu-central", "us-east", "us-west", "ap-south", "sa-east", "ap-northeast", "ap-southeast")
_ONE_WAY_MS = (
    # eu-w eu-c us-e us-w ap-s sa-e ap-ne ap-se
    (0, 12, 35, 65, 60, 90, 100, 82),       # eu-west (Dublin)
    (12, 0, 45, 75, 55, 100, 112, 80),      # eu-central (Frankfurt)
    (35, 45, 0, 33, 95, 58, 75, 108),       # us-east (Virginia)
    (65, 75, 33, 0, 110, 88, 50, 82),       # us-west (Oregon)
    (60, 55, 95, 110, 0, 150, 62, 30),      # ap-south (Mumbai)
    (90, 100, 58, 88, 150, 0, 128, 162),    # sa-east (Sao Paulo)
    (100, 112, 75, 50, 62, 128, 0, 35),     # ap-northeast (Tokyo)
    (82, 80, 108, 82, 30, 162, 35, 0),      # ap-southeast (Singapore)
)
_SAME_SITE_MS = 1.0


def region_names(n: int) -> list[str]:
    """``eu-west``, ``eu-central``, ... and, past eight regions, ``eu-west-2`` and so on."""
    return [SITES[i % len(SITES)] + (f"-{i // len(SITES) + 1}" if i >= len(SITES) else "") for i in range(n)]


def continents_latency(n: int) -> list[list[float]]:
    """The one-way latency matrix (ms) of ``n`` regions placed on :data:`SITES` in turn.

    >>> m = continents_latency(5)
    >>> m[0][2], m[2][0], m[3][4]
    (35.0, 35.0, 110.0)
    """
    k = len(SITES)
    return [[0.0 if i == j else float(_ONE_WAY_MS[i % k][j % k]) or _SAME_SITE_MS for j in range(n)]
            for i in range(n)]


def default_partition(regions: int, ops: int, rate: float) -> str | None:
    """The partition of the default scenario: the first 2/5 of the regions (Europe, with the ``continents``
    preset) against the rest, from 30% to 60% of the write period; ``None`` when there is nothing to cut.

    >>> default_partition(5, 100, 1.0)
    '30-60:0,1|2,3,4'
    >>> default_partition(1, 100, 1.0) is None
    True
    """
    period = ops / rate
    if regions < 2 or period <= 0:
        return None
    k = max(1, round(regions * 2 / 5))
    a, b = 0.3 * period, 0.6 * period
    left = ",".join(str(i) for i in range(k))
    right = ",".join(str(i) for i in range(k, regions))
    return f"{a:g}-{b:g}:{left}|{right}"


# ------------------------------------------------------------------------------------------ running


def protocol_names() -> list[str]:
    """Every registered sync protocol, in registry order (``all`` runs these; ``op`` once it is registered)."""
    from .sync import PROTOCOLS

    return list(PROTOCOLS)


def _last_write_ms(sc: Any) -> float:
    """When the simulator considers the writes over (the last update plus one sync interval), in ms."""
    return ((sc.ops - 1) / sc.rate * 1000.0 + sc.sync_interval) if sc.ops else 0.0


def _bound_faults(sc: Any) -> tuple[Any, list[str]]:
    """Faults that outlast the run are permanent: stop the run ``max_rounds`` rounds after the last write.

    The simulator waits for every fault to end before it counts rounds; a partition that "never" heals
    (``0-100000:...``) would make it simulate 100,000 s. Such faults are cut at the horizon (the last
    write plus ``max_rounds`` sync intervals) and the run ends there, so it reports what is true: the
    regions did not converge. Returns the scenario to run and one note per permanent fault.
    """
    horizon_s = (_last_write_ms(sc) + sc.max_rounds * sc.sync_interval) / 1000.0
    notes: list[str] = []
    parts = []
    for p in sc.partitions:
        if p.end > horizon_s:
            notes.append(f"partition {_partition_spec(p)} never heals within the run (the run stops "
                         f"{sc.max_rounds} rounds after the last write, at {horizon_s:g} s)")
            p = attrs.evolve(p, end=max(horizon_s, p.start + 1e-3))
        parts.append(p)
    crashes = []
    for c in sc.crashes:
        if c.end > horizon_s:
            notes.append(f"region {c.region} is down until {c.end:g} s, after the end of the run at {horizon_s:g} s")
            c = attrs.evolve(c, end=max(horizon_s, c.start + 1e-3))
        crashes.append(c)
    if not notes:
        return sc, notes
    return attrs.evolve(sc, partitions=tuple(parts), crashes=tuple(crashes), max_rounds=0), notes


def _bind(progress: Callable[[int, str, float], None] | None, k: int, name: str) -> Callable[[float], None] | None:
    if progress is None:
        return None
    return lambda fraction: progress(k, name, fraction)


@attrs.define
class Run:
    """One protocol's run: the simulator's :class:`~crdts.sim.Result` (None if it raised), and why it failed."""

    protocol: str
    result: Any
    ok: bool
    reason: str
    wall_seconds: float
    converged_at_ms: float | None
    quiescent_ms: float
    edges: int
    diameter: int

    def to_json(self) -> dict[str, Any]:
        base: dict[str, Any] = {
            "protocol": self.protocol, "converged": False, "convergence_time_ms": None, "messages": 0,
            "bytes": 0, "payload_units": 0, "metadata_bytes": 0, "conflicts": 0, "lost_writes": 0, "digest": "",
        }
        if self.result is not None:
            base.update(self.result.to_json())
            base["metadata_bytes_share"] = self.result.metadata_bytes_share
        base.update(ok=self.ok, reason=self.reason, wall_seconds=self.wall_seconds,
                    converged_at_ms=self.converged_at_ms, quiescent_ms=self.quiescent_ms)
        return base


def run_protocols(scenario: Any, protocols: Sequence[str],
                  progress: Callable[[int, str, float], None] | None = None) -> list[Run]:
    """Run ``scenario`` once per protocol, each on the same seeded schedule (the simulator draws
    the writes from a generator of their own, so every protocol sees the same writes at the same times).

    ``progress(k, protocol, fraction)`` is called as the k-th run advances. A run that raises is reported
    as failed with the exception as its reason, so one broken protocol does not hide the others.
    """
    from .sim import Simulation

    bounded, notes = _bound_faults(scenario)
    runs = []
    for k, name in enumerate(protocols):
        sc = attrs.evolve(bounded, protocol=name)
        t0 = time.perf_counter()
        sim: Any = None
        try:
            sim = Simulation(sc)
            r = sim.run(progress=_bind(progress, k, name))
        except Exception as exc:  # reported, and the exit status says so
            runs.append(Run(name, None, False, f"error: {type(exc).__name__}: {exc}",
                            time.perf_counter() - t0, None, 0.0, 0, 0))
            continue
        wall = time.perf_counter() - t0
        quiet = sim.quiescent_at()
        facts = sim.describe()
        if r.converged and r.lost_writes == 0 and r.unexpected == 0:
            ok, reason = True, ""
        elif r.converged:
            ok, reason = False, (f"converged but lost {r.lost_writes} acknowledged write(s) "
                                 f"and shows {r.unexpected} never written")
        else:
            ok, reason = False, "; ".join(notes) if notes else r.reason
        at = quiet + r.convergence_time_ms if r.convergence_time_ms is not None else None
        runs.append(Run(name, r, ok, reason, wall, at, quiet, facts["edges"], facts["diameter"]))
    return runs


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


def format_table(runs: Sequence[Run]) -> str:
    """The results table (one row per protocol)."""
    head = ("protocol", "converged", "time", "rounds", "messages", "bytes", "payload", "metadata", "units",
            "full", "mem mean", "mem peak", "cpu s", "conflicts", "lag p50", "lag p95", "lost")
    rows: list[tuple[str, ...]] = [head]
    for run in runs:
        r = run.result
        if r is None:
            rows.append((run.protocol, "ERROR", *["-"] * (len(head) - 2)))
            continue
        t = "-" if r.convergence_time_ms is None else f"{r.convergence_time_ms / 1000:.1f} s"
        rows.append((
            run.protocol, "yes" if r.converged else "NO", t,
            "-" if r.rounds_to_converge is None else str(r.rounds_to_converge),
            _fmt_count(r.messages), _fmt_bytes(r.bytes), _fmt_bytes(r.payload_bytes), _fmt_bytes(r.metadata_bytes),
            _fmt_count(r.payload_units), str(r.full_states), f"{r.memory_units_mean:,.0f}",
            f"{r.memory_units_peak:,}", f"{r.cpu_seconds:.2f}", f"{r.conflicts}/{r.conflicts_seen}",
            _fmt_lag(r.lag_p50_s), _fmt_lag(r.lag_p95_s), str(r.lost_writes),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = []
    for n, row in enumerate(rows):
        cells = [c.ljust(widths[i]) if i < 2 else c.rjust(widths[i]) for i, c in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


_TABLE_NOTE = ("time/rounds: after the last write and heal; bytes = payload (codec bytes of CRDT states and "
               "deltas) + metadata (protocol envelope, seqs, acks, digests); units: elements or entries shipped; "
               "full: full states sent; mem: units held per replica (state + buffers); conflicts: visible at "
               "the end / seen on merge (conflict types); lag: replication lag percentiles over every round and "
               "peer (age of the oldest write a peer lacks; - for protocols that keep no per-peer knowledge); "
               "lost: acknowledged writes missing at the end")


def format_scenario(args: argparse.Namespace) -> str:
    """One paragraph describing the scenario the arguments define."""
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
    return (f"{n} regions ({shown}), topology {topo}, workload {args.workload},\n"
            f"{args.ops} updates per region at {args.rate:g}/s, sync every {args.sync_interval:g} ms, latency {lat},\n"
            + (", ".join(faults) + ", " if faults else "no faults, ") + f"seed {args.seed}")


# ------------------------------------------------------------------------------------------ simulate


def _partition_specs(args: argparse.Namespace) -> tuple[list[str], bool]:
    """The partition specs to run, and whether they are the default one."""
    if args.partition is None:
        d = default_partition(args.regions, args.ops, args.rate)
        return ([d] if d else []), True
    return [s for s in args.partition if s.lower() != "none"], False


def _partition_spec(p: Any) -> str:
    groups = "|".join(",".join(str(r) for r in sorted(g)) for g in p.groups)
    return f"{p.start:g}-{p.end:g}:{groups}"


def _latency(spec: str, regions: int) -> Any:
    if spec == "continents":
        return continents_latency(regions)
    lo, sep, hi = spec.partition("-")
    try:
        low = float(lo)
        high = float(hi) if sep else low
    except ValueError:
        raise ValueError(f"bad --latency {spec!r}: expected 'continents', LOW-HIGH (ms) or MS") from None
    if not 0 <= low <= high:
        raise ValueError(f"bad --latency {spec!r}: need 0 <= LOW <= HIGH")
    return (low, high)


def scenario_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~crdts.sim.Scenario` the ``simulate`` arguments describe. Raises ValueError when invalid."""
    from .sim import Crash, Partition, Scenario, make_workload
    from .sim.topology import build_topology

    make_workload(args.workload, args.regions, args.ops)  # validates the spec
    if args.regions >= 1:
        build_topology(args.topology, args.regions, args.degree, args.seed)
    specs, _ = _partition_specs(args)
    return Scenario(
        regions=args.regions, topology=args.topology, degree=args.degree, workload=args.workload, ops=args.ops,
        rate=args.rate, sync_interval=args.sync_interval, seed=args.seed,
        latency=_latency(args.latency, max(args.regions, 0)), jitter=args.jitter if args.latency == "continents"
        else 0.0, loss=args.loss, dup=args.dup, reorder=args.reorder,
        partitions=tuple(Partition.parse(s) for s in specs), crashes=tuple(Crash.parse(c) for c in args.crash or ()),
        durable=not args.volatile, max_rounds=args.max_rounds, signed=args.signed,
    )


def _protocols(spec: str) -> list[str]:
    known = protocol_names()
    if spec.strip() == "all":
        return known
    out = []
    for p in (x.strip() for x in spec.split(",")):
        if p not in known:
            raise ValueError(f"unknown protocol {p!r}; choose from {', '.join(known)} or all")
        if p not in out:
            out.append(p)
    if not out:
        raise ValueError("--protocol needs at least one protocol")
    return out


def _params(args: argparse.Namespace, scenario: Any, protocols: list[str], runs: Sequence[Run]) -> dict[str, Any]:
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


def cmd_simulate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        protocols = _protocols(args.protocol)
        scenario = scenario_from_args(args)
        if args.signed:
            from .sync import PROTOCOLS

            signing = [p for p in protocols if getattr(PROTOCOLS[p], "signs", False)]
            if args.protocol.strip() != "all" and signing != protocols:
                raise ValueError("--signed runs the protocols that relay writes as their origins signed them: "
                                 "digest and op")
            protocols = signing
    except ValueError as exc:
        parser.error(str(exc))
    if args.plot:
        _matplotlib()  # fail before a long run, not after it
    out = sys.stdout
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
        print(format_table(runs), file=out)
        print(file=out)
        print(_wrap(_TABLE_NOTE), file=out)
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


def _wrap(text: str, width: int = 110) -> str:
    import textwrap

    return textwrap.fill(text, width)


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


# ------------------------------------------------------------------------------------------ plot


class MissingExtra(Exception):
    """An optional dependency is not installed."""


def _matplotlib() -> Any:
    try:
        mpl = importlib.import_module("matplotlib")
    except ImportError:
        raise MissingExtra('--plot needs matplotlib: pip install "crdts[sim]"') from None
    mpl.use("Agg")
    return importlib.import_module("matplotlib.pyplot")


def plot_runs(runs: Sequence[Run], scenario: Any, path: str, title: str = "") -> None:
    """A PNG: cumulative bytes sent over simulated time per protocol (top) and bytes per round (bottom),
    a marker where each protocol converged, partitions and crashes shaded."""
    plt = _matplotlib()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    peak = 1
    for run in runs:
        r = run.result
        if r is None or not r.timeline:
            continue
        xs = [t / 1000 for t, _, _ in r.timeline]
        ys = [b for _, b, _ in r.timeline]
        peak = max(peak, ys[-1])
        (line,) = top.plot(xs, ys, label=f"{run.protocol} ({_fmt_bytes(r.bytes)})", linewidth=1.6)
        per = [b - a for a, b in zip([0, *ys[:-1]], ys, strict=True)]
        bottom.plot(xs, per, color=line.get_color(), linewidth=1.0)
        if run.converged_at_ms is not None:
            top.plot([run.converged_at_ms / 1000], [ys[-1]], marker="*", markersize=12, color=line.get_color(),
                     markeredgecolor="black", linestyle="none")
        else:
            top.plot([xs[-1]], [ys[-1]], marker="X", markersize=10, color=line.get_color(), linestyle="none")
    for ax in (top, bottom):
        for n, p in enumerate(scenario.partitions):
            ax.axvspan(p.start, p.end, color="0.85", zorder=0, label="partition" if n == 0 and ax is top else None)
        for n, c in enumerate(scenario.crashes):
            ax.axvspan(c.start, c.end, color="#f4c7c3", zorder=0, alpha=0.6,
                       label="crash" if n == 0 and ax is top else None)
        ax.grid(True, alpha=0.3)
    top.set_yscale("log" if peak > 10_000 else "linear")
    top.set_ylabel("bytes sent (cumulative)")
    bottom.set_ylabel("bytes per sync round")
    bottom.set_xlabel("simulated time (s)")
    top.plot([], [], marker="*", color="0.3", linestyle="none", label="converged")
    top.legend(fontsize=8, loc="lower right")
    top.set_title(title or "crdts simulate")
    fig.tight_layout()
    target = Path(path)
    if not target.parent.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------------------ inspect


def _plain(v: Any) -> Any:
    """A JSON-able form of a CRDT value: sets sorted into lists, non-str map keys as [key, value] pairs."""
    if isinstance(v, (set, frozenset)):
        return sorted((_plain(x) for x in v), key=lambda x: (type(x).__name__, repr(x)))
    if isinstance(v, dict):
        if all(isinstance(k, str) for k in v):
            return {k: _plain(x) for k, x in sorted(v.items())}
        return [[_plain(k), _plain(x)] for k, x in sorted(v.items(), key=lambda kv: repr(kv[0]))]
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, bytes):
        return {"bytes": v.hex()}
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)
    return v


def _read_input(source: str) -> bytes:
    data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    text = data.strip()
    # Hex text (as printed by ``encode(x).hex()``) is accepted too: a codec message never starts with an
    # ASCII hex digit, so the two cannot be confused.
    if text and len(text) % 2 == 0 and all(c in b"0123456789abcdefABCDEF" for c in text):
        return bytes.fromhex(text.decode("ascii"))
    return data


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
                           "dot_cloud": sorted(list(d) for d in ctx.cloud)}
    if hasattr(obj, "values") and not callable(obj.values):
        info["value"] = obj.values
    elif hasattr(obj, "value"):
        info["value"] = obj.value
    else:
        info["value"] = repr(obj)
    return info


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
        print(f"crdts inspect: not a valid crdts encoding: {exc}", file=sys.stderr)
        return 2
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
    print("  value:   " + pprint.pformat(info["value"], width=100, sort_dicts=True).replace("\n", "\n           "))
    return 0


# ------------------------------------------------------------------------------------------ bench

_BENCHES = {"types": "bench_types.py", "codec": "bench_codec.py", "hostile": "bench_hostile.py",
            "workloads": "bench_workloads.py"}


def _benchmarks_dir() -> Path | None:
    here = Path(__file__).resolve().parent.parent / "benchmarks"
    return here if here.is_dir() else None


@contextlib.contextmanager
def _argv(argv: list[str]) -> Iterator[None]:
    saved = sys.argv
    sys.argv = argv
    try:
        yield
    finally:
        sys.argv = saved


def _load_bench(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"_crdts_bench_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _summary_lines(doc: dict[str, Any]) -> list[str]:
    """Each result row of a benchmark JSON as its ratios to the plain-Python baseline, then its targets.

    Rows name their ratios ``ratio`` (with ``crdts_us``/``plain_us``, as bench_types writes) or
    ``<what>_ratio`` (as bench_codec writes: bytes, encode, decode); targets are ``{what, measured, limit, pass}``.
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


def cmd_bench(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    where = _benchmarks_dir()
    if where is None:
        print("crdts bench: the benchmark scripts live in the source checkout (benchmarks/); "
              "run it from a clone installed with pip install -e .", file=sys.stderr)
        return 2
    wanted = list(_BENCHES) if args.only == "all" else [args.only]
    outdir = Path(args.json_dir) if args.json_dir else Path(tempfile.mkdtemp(prefix="crdts-bench-"))
    summary: list[tuple[str, list[str]]] = []
    status = 0
    for key in wanted:
        script = where / _BENCHES[key]
        if not script.exists():
            print(f"crdts bench: {script.name} is not there yet; skipped", file=sys.stderr)
            continue
        out = outdir / f"{key}.json"
        argv = ["--json", str(out)] + (["--quick"] if args.quick else [])
        print(f"== {script.name} {' '.join(argv)}", file=sys.stderr, flush=True)
        mod = _load_bench(script)
        try:
            with _argv([str(script), *argv]):
                rc = mod.main(argv)
        except SystemExit as exc:  # the script's own argument parser refused something
            rc = exc.code if isinstance(exc.code, int) else 1
        status = status or int(rc or 0)
        if out.exists():
            summary.append((key, _summary_lines(json.loads(out.read_text(encoding="utf-8")))))
    if summary:
        print("\nRatios to the plain-Python baseline of the same run (crdts time / plain time):")
        for key, lines in summary:
            print(f"\n  {key}")
            print("\n".join(lines))
        print(f"\nJSON results in {outdir}")
    return status


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


_SIM_EPILOG = """\
examples:
  crdts simulate            # the default: 5 regions on 3 continents, a partition that heals, all protocols
  crdts simulate --regions 15 --topology tree --workload gset --protocol state,bprr
  crdts simulate --workload gmap:30 --protocol all --json out.json --plot out.png
  crdts simulate --partition 10-40:0,1|2,3,4 --crash 2@50-60 --loss 0.1 --dup 0.05 --reorder

fault schedule (seconds of simulated time; writes happen from 0 to OPS/RATE s):
  --partition A-B:G1|G2[|G3]   from A to B only regions of the same group talk, e.g. 10-40:0,1|2,3,4
                               (repeatable; 'none' for no partition; by default the first 2/5 of the
                               regions are cut from the rest from 30% to 60% of the write period).
                               A partition that lasts past the run (e.g. 0-100000:0|1,2) never heals:
                               the run stops --max-rounds rounds after the last write and fails.
  --crash R@A-B                region R is down from A to B, then restarts from its durable state
                               (--volatile: it restarts empty, as a new incarnation)

exit status: 0 every protocol converged with no lost write; 1 otherwise (a line on stderr says why);
2 bad arguments.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crdts", description="crdts: conflict-free replicated data types. Convergence benchmarks, "
        "decoding of encoded states, micro benchmarks.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"crdts {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    sim = sub.add_parser(
        "simulate", help="run the convergence benchmark on the embedded network simulator",
        description="Run N regions with one CRDT each, a sync protocol (or all of them, on the same seeded "
        "schedule) and a fault schedule on a deterministic simulated network. Progress on stderr, a table "
        "on stdout.", epilog=_SIM_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    from .sim import TOPOLOGIES, WORKLOADS

    g = sim.add_argument_group("scenario")
    g.add_argument("--regions", type=_pos_int, default=5, metavar="N", help="number of regions (default 5)")
    g.add_argument("--topology", default="mesh", choices=sorted(TOPOLOGIES), metavar="T",
                   help=f"overlay: {', '.join(TOPOLOGIES)} (default mesh)")
    g.add_argument("--degree", type=_pos_int, default=4, metavar="D",
                   help="neighbours per region of a partial-mesh (default 4)")
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
    n.add_argument("--jitter", type=_ms, default=5.0, metavar="MS",
                   help="uniform extra ms added to the continents matrix (default 5)")
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
    o.add_argument("--json", metavar="PATH", help="write the results as JSON (- for stdout)")
    o.add_argument("--plot", metavar="PATH", help='write a PNG of bytes over time (needs pip install "crdts[sim]")')
    o.add_argument("--quiet", "-q", action="store_true", help="no progress and no table (the exit status tells)")
    sim.set_defaults(func=cmd_simulate, subparser=sim)

    ins = sub.add_parser("inspect", help="decode an encoded state, delta or op and print it",
                         description="Decode bytes written by crdts.encode (raw, or as hex text) and print "
                         "the object. Bad input: the codec's error on stderr and exit status 2.")
    ins.add_argument("file", metavar="FILE", help="file to read, or - for standard input")
    ins.add_argument("--json", action="store_true", help="print JSON instead of text")
    ins.set_defaults(func=cmd_inspect, subparser=ins)

    ben = sub.add_parser("bench", help="run the micro benchmarks and print ratios to plain Python",
                         description="Run benchmarks/bench_types.py, bench_codec.py, bench_hostile.py and "
                         "bench_workloads.py (from a source checkout) and print each figure as a ratio to the "
                         "plain-Python (or honest-message) baseline measured in the same run; the exit status is "
                         "non-zero when a benchmark's target fails.")
    ben.add_argument("--quick", action="store_true", help="fewer repetitions: a smoke run")
    ben.add_argument("--only", choices=["all", *_BENCHES], default="all", help="which benchmark (default all)")
    ben.add_argument("--json-dir", metavar="DIR", help="where to write the JSON results (default: a temp dir)")
    ben.set_defaults(func=cmd_bench, subparser=ben)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``crdts`` console script. Returns the exit status."""
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
