"""Region names, the ``continents`` latency preset and the default partition of ``crdts simulate``."""

from __future__ import annotations

from typing import Any

__all__ = ["LATENCY_PRESETS", "SITES", "continents_latency", "default_partition", "parse_latency", "region_names"]

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
    """``eu-west``, ``eu-central``, ... and, past eight regions, ``eu-west-2`` and so on.

    >>> region_names(9)[-2:]
    ['ap-southeast', 'eu-west-2']
    """
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


#: Named latency matrices (a function of the number of regions); ``parse_latency`` knows these names.
LATENCY_PRESETS = {"continents": continents_latency}


def parse_latency(spec: str, regions: int) -> Any:
    """A :class:`~crdts.sim.Scenario` ``latency`` from a preset name (a matrix), ``LOW-HIGH`` or ``MS``
    (a uniform range in ms). Raises ValueError for anything else.

    >>> parse_latency("1-5", 3), parse_latency("20", 3), len(parse_latency("continents", 3))
    ((1.0, 5.0), (20.0, 20.0), 3)
    """
    if spec in LATENCY_PRESETS:
        return LATENCY_PRESETS[spec](regions)
    lo, sep, hi = spec.partition("-")
    try:
        low = float(lo)
        high = float(hi) if sep else low
    except ValueError:
        names = ", ".join(f"'{n}'" for n in LATENCY_PRESETS)
        raise ValueError(f"bad latency {spec!r}: expected {names}, LOW-HIGH (ms) or MS") from None
    if not 0 <= low <= high:
        raise ValueError(f"bad latency {spec!r}: need 0 <= LOW <= HIGH")
    return (low, high)


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
