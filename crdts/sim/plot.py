"""The PNG of ``crdts simulate --plot``: traffic, replication lag and convergence over simulated time.

:func:`plot_series` prepares the data (pure Python: one :class:`Series` per protocol, with a line style
of its own); :func:`plot_runs` draws it with matplotlib (the ``sim`` extra), imported only then.

>>> from crdts.sim import build_scenario, run_protocols
>>> runs = run_protocols(build_scenario(regions=3, ops=5, workload="gset"), ["state", "bprr"])
>>> [(s.protocol, s.linestyle, s.marker) for s in plot_series(runs)]
[('state', '-', 'o'), ('bprr', '--', 's')]
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from .engine import Scenario
from .runs import Run

__all__ = ["MissingExtra", "Series", "figure", "plot_runs", "plot_series", "pyplot"]

_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
_LINESTYLES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")
_MARKS_PER_LINE = 8


class MissingExtra(Exception):
    """An optional dependency is not installed."""


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend; :class:`MissingExtra` says what to install when it is not."""
    try:
        mpl = importlib.import_module("matplotlib")
    except ImportError:
        raise MissingExtra('--plot needs matplotlib: pip install "crdts[sim]"') from None
    mpl.use("Agg")
    return importlib.import_module("matplotlib.pyplot")


@attrs.define
class Series:
    """What the plot draws for one protocol. Times in seconds of simulated time.

    Each protocol gets its own colour, line style and marker, and its markers sit at positions of their own
    (``markevery``), so protocols whose lines coincide stay distinguishable.
    """

    protocol: str
    color: str
    linestyle: str
    marker: str
    markevery: tuple[int, int]
    times: list[float]
    cumulative_bytes: list[int]
    bytes_per_round: list[float]  # NaN where a round sent nothing (a gap on a log scale)
    lag_times: list[float]
    lag_p50: list[float]  # NaN where no peer reported a lag
    lag_p95: list[float]
    total_bytes: int
    quiescent_s: float
    converged_at_s: float | None  # None: did not converge (or the run raised)

    @property
    def has_lag(self) -> bool:
        return any(not math.isnan(v) for v in self.lag_p95)


def _nan(v: float | None) -> float:
    return math.nan if v is None else float(v)


def plot_series(runs: Sequence[Run]) -> list[Series]:
    """One :class:`Series` per run with a result (a run that raised has nothing to draw)."""
    out = []
    for k, run in enumerate(runs):
        r = run.result
        if r is None or not r.timeline:
            continue
        times = [t / 1000 for t, _, _ in r.timeline]
        cum = [b for _, b, _ in r.timeline]
        per = [float(b - a) or math.nan for a, b in zip([0, *cum[:-1]], cum, strict=True)]
        # every protocol's markers at places of their own: one every `step` points, from its own start
        step = max(len(runs), len(times) // _MARKS_PER_LINE)
        start = (k * step) // len(runs)
        out.append(Series(
            protocol=run.protocol, color=_COLORS[k % len(_COLORS)], linestyle=_LINESTYLES[k % len(_LINESTYLES)],
            marker=_MARKERS[k % len(_MARKERS)], markevery=(start, step), times=times, cumulative_bytes=cum,
            bytes_per_round=per, lag_times=[t / 1000 for t, _, _, _ in r.lag_timeline],
            lag_p50=[_nan(p50) for _, p50, _, _ in r.lag_timeline],
            lag_p95=[_nan(p95) for _, _, p95, _ in r.lag_timeline], total_bytes=r.bytes,
            quiescent_s=run.quiescent_ms / 1000,
            converged_at_s=None if run.converged_at_ms is None else run.converged_at_ms / 1000,
        ))
    return out


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _shade(ax: Any, scenario: Scenario, end: float, label: bool) -> None:
    """Partitions and crashes, cut at ``end`` (s): a fault that outlasts the run is shown until it stops."""
    for n, p in enumerate(scenario.partitions):
        if p.start < end:
            ax.axvspan(p.start, min(p.end, end), color="0.88", zorder=0,
                       label="partition" if label and n == 0 else None)
    for n, c in enumerate(scenario.crashes):
        if c.start < end:
            ax.axvspan(c.start, min(c.end, end), color="#f4c7c3", zorder=0, alpha=0.6,
                       label=f"crash (region {c.region})" if label and n == 0 else None)


def figure(runs: Sequence[Run], scenario: Scenario, title: str = "") -> Any:
    """The matplotlib figure :func:`plot_runs` saves: three panels over simulated time and one of
    convergence times.

    1. bytes sent, cumulative (log scale); 2. bytes per sync round (log scale, so one protocol's burst
    does not flatten the others); 3. replication lag, p95 bold and p50 faint, for the protocols that
    keep per-peer knowledge; 4. convergence: one bar per protocol, the seconds from the last write and
    heal until every region agreed (a cross where they did not).
    """
    plt = pyplot()
    series = plot_series(runs)
    n = max(1, len(runs))
    fig = plt.figure(figsize=(11, 10.5 + 0.25 * n))
    grid = fig.add_gridspec(4, 1, height_ratios=[3, 2.2, 2.2, 0.5 + 0.3 * n], hspace=0.3)
    cum = fig.add_subplot(grid[0])
    per = fig.add_subplot(grid[1], sharex=cum)
    lag = fig.add_subplot(grid[2], sharex=cum)
    conv = fig.add_subplot(grid[3])
    for s in series:
        style = dict(color=s.color, linestyle=s.linestyle, marker=s.marker, markevery=s.markevery, markersize=5,
                     linewidth=1.5)
        cum.plot(s.times, s.cumulative_bytes, label=f"{s.protocol} ({_fmt_bytes(s.total_bytes)})", **style)
        per.plot(s.times, s.bytes_per_round, **style)
        if s.has_lag:
            lag.plot(s.lag_times, s.lag_p95, **style)
            lag.plot(s.lag_times, s.lag_p50, color=s.color, linestyle=s.linestyle, linewidth=0.8, alpha=0.45)
    without = [s.protocol for s in series if not s.has_lag]
    if without:
        lag.set_title(f"no lag for {', '.join(without)}: no per-peer knowledge to measure it from", loc="left",
                      fontsize=8, color="0.35")
    quiet = max((run.quiescent_ms for run in runs), default=0.0) / 1000
    end = max((s.times[-1] for s in series), default=1.0)
    for ax in (cum, per, lag):
        _shade(ax, scenario, end, label=ax is cum)
        ax.axvline(quiet, color="0.4", linewidth=0.8, linestyle=(0, (4, 3)), zorder=1,
                   label="last write and heal" if ax is cum else None)
        ax.grid(True, alpha=0.3)
    for ax in (cum, per):
        ax.tick_params(labelbottom=False)
    cum.set_yscale("log")
    per.set_yscale("log")
    cum.set_ylabel("bytes sent\n(cumulative, log)")
    per.set_ylabel("bytes per sync round\n(log)")
    lag.set_ylabel("replication lag (s)\np95 bold, p50 faint")
    lag.margins(y=0.1)
    lag.set_ylim(bottom=0)
    lag.set_xlabel("simulated time (s)")
    cum.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    cum.set_title(title or "crdts simulate")
    _convergence(conv, runs, series, scenario)
    fig.align_ylabels([cum, per, lag, conv])
    fig.subplots_adjust(left=0.11, right=0.82, top=0.96, bottom=0.05)
    return fig


def _convergence(ax: Any, runs: Sequence[Run], series: Sequence[Series], scenario: Scenario) -> None:
    """One bar per protocol (first at the top): seconds from the last write and heal to agreement."""
    by_name = {s.protocol: s for s in series}
    took = [None if by_name.get(r.protocol) is None or r.converged_at_ms is None
            else (r.converged_at_ms - r.quiescent_ms) / 1000 for r in runs]
    right = max([t for t in took if t is not None] or [1.0])
    for row, (run, t) in enumerate(zip(runs, took, strict=True)):
        y = len(runs) - 1 - row
        s = by_name.get(run.protocol)
        color = s.color if s else "0.5"
        if t is not None:
            ax.barh(y, t, color=color, height=0.6, edgecolor="black", linewidth=0.6)
            rounds = run.result.rounds_to_converge if run.result is not None else None
            label = f"{t:.1f} s" + ("" if rounds is None else f" ({rounds} round{'' if rounds == 1 else 's'})")
            ax.annotate(label, (t, y), xytext=(5, 0), textcoords="offset points", va="center", fontsize=8)
        else:
            ax.barh(y, right, color="none", height=0.6, edgecolor=color, hatch="//", linewidth=0.8)
            ax.plot([right], [y], marker="X", markersize=9, color=color, markeredgecolor="black",
                    linestyle="none")
            ax.annotate("not converged" if run.result is not None else "error", (0, y), xytext=(5, 0),
                        textcoords="offset points", va="center", fontsize=8, color="#b00",
                        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.9})
    ax.set_yticks(range(len(runs)), [r.protocol for r in reversed(runs)])
    ax.set_ylim(-0.6, len(runs) - 0.4)
    ax.set_xlim(0, right * 1.25)
    if all(t is None for t in took):
        ax.set_xticks([])
    ax.set_xlabel("seconds to converge after the last write and heal")
    ax.set_ylabel("converged")
    ax.grid(True, axis="x", alpha=0.3)


def plot_runs(runs: Sequence[Run], scenario: Scenario, path: str | Path, title: str = "") -> Path:
    """Write the PNG of :func:`figure` to ``path`` (parent folders made as needed); returns the path."""
    plt = pyplot()
    fig = figure(runs, scenario, title)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target
