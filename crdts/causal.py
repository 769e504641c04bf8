"""Causality: dots, version vectors, causal contexts and hybrid logical clocks.

A *dot* ``(replica, counter)`` names one event: the ``counter``-th event made by ``replica``
(counters start at 1). A :class:`CausalContext` is a set of dots, stored compactly as a version
vector (every dot up to ``vv[r]`` for each replica ``r``) plus a *cloud* of dots beyond it that are
not yet contiguous. It is compacted on every join, so the cloud is empty whenever the dots are
contiguous.

>>> cc = CausalContext()
>>> cc.add(Dot("a", 1)); cc.add(Dot("a", 3))
>>> cc.vv, sorted(cc.cloud)
({'a': 1}, [('a', 3)])
>>> cc.add(Dot("a", 2))
>>> cc.vv, cc.cloud
({'a': 3}, set())
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from functools import partial
from operator import ge, lt
from typing import Any, ClassVar, NamedTuple

__all__ = ["DEFAULT_MAX_DRIFT", "HLC", "UINT_LIMIT", "CausalContext", "Dot", "Ordering", "Timestamp",
           "VersionVector"]

#: Every counter the library handles (dot counters, version vector and context entries, grow-only counter
#: entries, sequence numbers, the two parts of a timestamp) lies in ``0 .. UINT_LIMIT - 1``: the range of
#: the wire format. It is also the bound a merge enforces: a merge refuses a value whose next write could
#: not be encoded (a counter that a write would push to ``UINT_LIMIT``). Stated here once.
UINT_LIMIT = 1 << 64

#: The default maximum drift of a hybrid logical clock: one hour, in nanoseconds (the unit of the default
#: time source, ``time.time_ns``). A remote timestamp further ahead of the local clock is refused.
DEFAULT_MAX_DRIFT = 3600 * 10**9


class Dot(NamedTuple):
    """One event: the ``counter``-th event made by ``replica``.

    A dot is a plain tuple, so ``Dot("a", 1) == ("a", 1)``; the kernel stores dots as plain tuples.

    >>> Dot("eu-west", 3)
    Dot(replica='eu-west', counter=3)
    """

    replica: str
    counter: int


class Ordering(enum.Enum):
    """The partial order between two version vectors."""

    BEFORE = "before"
    AFTER = "after"
    EQUAL = "equal"
    CONCURRENT = "concurrent"


def _check_replica(replica: object) -> str:
    if type(replica) is not str or not replica:
        raise TypeError(f"replica ids are non-empty str, got {replica!r}")
    return replica


def _check_counter(counter: object, what: str = "counter") -> int:
    if type(counter) is not int or counter < 1:
        raise ValueError(f"{what} must be an int >= 1, got {counter!r}")
    return counter


class VersionVector:
    """A map replica -> count of events seen from it; absent replicas count 0.

    Cost: one dict entry per replica that ever wrote. Merge is the pointwise maximum, O(replicas).

    >>> a = VersionVector({"a": 2}); b = VersionVector({"b": 1})
    >>> a.compare(b)
    <Ordering.CONCURRENT: 'concurrent'>
    >>> c = a.copy(); c.merge(b); c
    VersionVector({'a': 2, 'b': 1})
    >>> a <= c, a.compare(c), c.compare(a)
    (True, <Ordering.BEFORE: 'before'>, <Ordering.AFTER: 'after'>)
    """

    __slots__ = ("_vv",)

    def __init__(self, entries: Mapping[str, int] | None = None) -> None:
        self._vv: dict[str, int] = {}
        if entries:
            for r, n in entries.items():
                _check_replica(r)
                if type(n) is not int or n < 0:
                    raise ValueError(f"version vector entry for {r!r} must be an int >= 0, got {n!r}")
                if n:
                    self._vv[r] = n

    def __getitem__(self, replica: str) -> int:
        return self._vv.get(replica, 0)

    def get(self, replica: str) -> int:
        """The number of events seen from ``replica`` (0 if none). O(1)."""
        return self._vv.get(replica, 0)

    def increment(self, replica: str) -> Dot:
        """Count one more event of ``replica`` and return its dot. O(1)."""
        n = self._vv.get(_check_replica(replica), 0) + 1
        self._vv[replica] = n
        return Dot(replica, n)

    def merge(self, other: VersionVector) -> None:
        """Pointwise maximum, in place. O(len(other))."""
        vv = self._vv
        for r, n in other._vv.items():
            if n > vv.get(r, 0):
                vv[r] = n

    def compare(self, other: VersionVector) -> Ordering:
        """Where ``self`` stands relative to ``other``. O(replicas)."""
        le = all(n <= other._vv.get(r, 0) for r, n in self._vv.items())
        ge = all(n <= self._vv.get(r, 0) for r, n in other._vv.items())
        if le and ge:
            return Ordering.EQUAL
        if le:
            return Ordering.BEFORE
        if ge:
            return Ordering.AFTER
        return Ordering.CONCURRENT

    def __le__(self, other: VersionVector) -> bool:
        return self.compare(other) in (Ordering.BEFORE, Ordering.EQUAL)

    def __lt__(self, other: VersionVector) -> bool:
        return self.compare(other) is Ordering.BEFORE

    def __ge__(self, other: VersionVector) -> bool:
        return other <= self

    def __gt__(self, other: VersionVector) -> bool:
        return other < self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VersionVector) and self._vv == other._vv

    __hash__ = None  # type: ignore[assignment]

    def __contains__(self, replica: object) -> bool:
        """``"eu" in vv``: whether ``vv`` counts an event of that replica, as ``in`` on a dict of its entries.

        A dot is not a replica id: ``("eu", 3) in vv`` raises TypeError; ask :meth:`contains_dot`.
        """
        if isinstance(replica, tuple):
            raise TypeError(f"`in` on a VersionVector looks up a replica id; for the dot {replica!r} use "
                            f"vv.contains_dot(dot)")
        return replica in self._vv

    def contains_dot(self, dot: tuple[str, int]) -> bool:
        """Whether the event ``dot = (replica, counter)`` is covered: ``0 < counter <= vv[replica]``. O(1)."""
        return isinstance(dot, tuple) and len(dot) == 2 and type(dot[1]) is int \
            and 0 < dot[1] <= self._vv.get(dot[0], 0)

    def __iter__(self) -> Iterator[str]:
        return iter(self._vv)

    def __len__(self) -> int:
        return len(self._vv)

    def items(self) -> Iterable[tuple[str, int]]:
        return self._vv.items()

    def keys(self) -> Iterable[str]:
        """The replicas counted (those with an entry above 0)."""
        return self._vv.keys()

    def values(self) -> Iterable[int]:
        return self._vv.values()

    def to_dict(self) -> dict[str, int]:
        return dict(self._vv)

    def copy(self) -> VersionVector:
        vv = VersionVector()
        vv._vv = dict(self._vv)
        return vv

    def __repr__(self) -> str:
        return f"VersionVector({dict(sorted(self._vv.items()))!r})"


def above(counters: Collection[int], m: int) -> set[int]:
    """A new set of the ``counters`` greater than ``m``. C-level (a copy, filtered only if some are not)."""
    return set(counters) if not m or min(counters, default=m + 1) > m else set(filter(partial(lt, m), counters))


def add_dots(by: dict[str, set[int]], dots: Iterable[tuple[str, int]]) -> None:
    """Add plain (already valid) dots to a ``{replica: counters}`` grouping, a context's cloud layout."""
    for r, c in dots:
        s = by.get(r)
        if s is None:
            by[r] = {c}
        else:
            s.add(c)


class CausalContext:
    """A set of dots: a compact version vector ``vv`` plus a *cloud* of non-contiguous dots.

    The cloud is kept by replica, as ``{replica: set of counters}`` (a set of plain ints per replica, never
    an empty one): a scattered dot costs one int in a set, and every pass over the cloud (join, check,
    encode) is a C-level set operation per replica. :attr:`cloud` gives it as a set of ``(replica,
    counter)`` tuples, built on demand.

    Invariant (checked by ``_check``): every scattered counter ``n`` of replica ``r`` has ``n > vv.get(r, 0) +
    1``, so two contexts holding the same dots have the same representation, and the cloud is empty whenever
    each replica's dots are contiguous from 1.

    Cost: O(replicas + cloud). ``contains`` is O(1); ``join`` is O(len(other.vv) + other's cloud + dots
    made contiguous).

    >>> a = CausalContext(); a.add(a.next_dot("a"))
    >>> b = CausalContext(); b.add(Dot("a", 2))
    >>> a.join(b); a
    CausalContext(vv={'a': 2}, cloud=[])
    """

    __slots__ = ("_cl", "vv")

    #: The most scattered dots (the cloud) a replica's context may hold after a merge; a merge that would
    #: exceed it is refused with :class:`~crdts.errors.LimitExceeded`. Honest replicas hold a few (dots
    #: delivered out of order); a hostile peer could otherwise plant millions that never compact.
    max_cloud: ClassVar[int] = 100_000

    def __init__(self, vv: Mapping[str, int] | None = None, cloud: Iterable[tuple[str, int]] = ()) -> None:
        self.vv: dict[str, int] = {}
        # The cloud: replica -> its scattered counters (never an empty set). Code outside this class reads
        # it (``_cloud_of``, ``cloud_size``) but never changes it; a new context is built with ``_raw``.
        self._cl: dict[str, set[int]] = {}
        if vv:
            for r, n in vv.items():
                _check_replica(r)
                if type(n) is not int or n < 0:
                    raise ValueError(f"context entry for {r!r} must be an int >= 0, got {n!r}")
                if n:
                    self.vv[r] = n
        cl = self._cl
        for d in cloud:
            r = _check_replica(d[0])
            c = _check_counter(d[1], "dot counter")
            s = cl.get(r)
            if s is None:
                cl[r] = {c}
            else:
                s.add(c)
        self.compact()

    @classmethod
    def _raw(cls, vv: dict[str, int], cloud: dict[str, set[int]]) -> CausalContext:
        """A context of already valid, already compact parts (the codec's and the kernel's way in); takes
        ownership of both."""
        cc = cls.__new__(cls)
        cc.vv = vv
        cc._cl = cloud
        return cc

    @classmethod
    def _of_dot(cls, replica: str, counter: int) -> CausalContext:
        """A context holding exactly the (valid) dot ``(replica, counter)``: a one-write delta's."""
        cc = cls.__new__(cls)
        if counter == 1:
            cc.vv, cc._cl = {replica: 1}, {}
        else:
            cc.vv, cc._cl = {}, {replica: {counter}}
        return cc

    @classmethod
    def _of_dots(cls, dots: Iterable[tuple[str, int]]) -> CausalContext:
        """A context holding exactly ``dots`` (already valid)."""
        cc = cls.__new__(cls)
        cc.vv = {}
        cl: dict[str, set[int]] = {}
        add_dots(cl, dots)
        cc._cl = cl
        if any(1 in s for s in cl.values()):   # only a first dot can start the (empty) version vector
            cc.compact()
        return cc

    def copy(self) -> CausalContext:
        return CausalContext._raw(self.vv.copy(), {r: s.copy() for r, s in self._cl.items()})

    @property
    def cloud(self) -> set[tuple[str, int]]:
        """The scattered dots, as a new set of ``(replica, counter)`` tuples. O(cloud)."""
        return {(r, c) for r, s in self._cl.items() for c in s}

    def cloud_size(self) -> int:
        """How many scattered dots the context holds. O(replicas of the cloud)."""
        cl = self._cl
        return sum(map(len, cl.values())) if cl else 0

    def _cloud_of(self, replica: str) -> Collection[int]:
        """The counters of ``replica``'s scattered dots (do not change them). O(1)."""
        return self._cl.get(replica, ())

    def cloud_dots(self) -> Iterator[tuple[str, int]]:
        """The scattered dots, one ``(replica, counter)`` tuple at a time. O(cloud)."""
        for r, s in self._cl.items():
            for c in s:
                yield (r, c)

    def contains(self, dot: tuple[str, int]) -> bool:
        """Whether ``dot`` is in this context. O(1)."""
        r, c = dot
        return c <= self.vv.get(r, 0) or c in self._cl.get(r, ())

    __contains__ = contains

    def max(self, replica: str) -> int:
        """The highest counter of ``replica`` in this context (0 if none). O(1 + its scattered dots)."""
        return max(self._cl.get(replica, ()), default=self.vv.get(replica, 0))

    def next_dot(self, replica: str) -> Dot:
        """The next unused dot of ``replica`` (not recorded; ``add`` records it). O(1) with an empty cloud."""
        return Dot(replica, self.max(replica) + 1)

    def add(self, dot: tuple[str, int]) -> None:
        """Record one dot, keeping the representation compact. O(1) amortised (O(dots it makes contiguous))."""
        self._add_counters(dot[0], (dot[1],))

    def _add_counters(self, r: str, cs: Collection[int]) -> None:
        """Record a few counters of ``r``, in order: each continues the entry (pulling the run of the cloud
        that then continues it) or joins the cloud. O(len(cs) log len(cs) + dots made contiguous)."""
        vv, cl = self.vv, self._cl
        m = vv.get(r, 0)
        s = cl.get(r)
        for c in sorted(cs) if len(cs) > 1 else cs:
            if c == m + 1:
                m = c
                while s and m + 1 in s:   # pull the run that now continues the entry
                    m += 1
                    s.remove(m)
            elif c > m:
                if s is None:
                    s = cl[r] = {c}
                else:
                    s.add(c)
        if m:
            vv[r] = m
        if s is not None and not s:
            del cl[r]

    def join(self, other: CausalContext) -> None:
        """Union with ``other`` in place, compacting only what the union touched.

        O(len(other.vv) + other's cloud + dots made contiguous), plus, for each replica whose entry jumps,
        the smaller of the jump and this cloud's dots of that replica: never O(a jump the other side
        claims), and never a pass over the whole cloud for an ordinary delta.
        """
        vv, cl = self.vv, self._cl
        touched: dict[str, int] | None = None   # replica -> its entry before the join, for those to settle
        for r, n in other.vv.items():
            m = vv.get(r, 0)
            if n > m:
                vv[r] = n
                if r in cl:
                    if touched is None:
                        touched = {}
                    touched[r] = m
        for r, t in other._cl.items():
            if len(t) <= 4:                 # a delta's few dots (the usual case), one by one
                self._add_counters(r, t)
                continue
            m = vv.get(r, 0)
            s = cl.get(r)
            if s is None:
                s = above(t, m)             # a copy of theirs beyond our entry
                if not s:
                    continue
                cl[r] = s
            else:
                s.update(t if not m else filter(partial(lt, m), t))
            if touched is None:
                touched = {}
            touched.setdefault(r, m)
        if touched:
            for r, m in touched.items():
                self._settle(r, m)

    def _settle(self, r: str, m: int) -> None:
        """Compact replica ``r`` after its entry moved up from ``m`` and/or counters joined its cloud (all of
        them beyond its entry): drop the scattered counters the entry now covers, pull the run that
        continues it. O(min(jump, r's cloud) + the run)."""
        vv, cl = self.vv, self._cl
        s = cl.get(r)
        if s is None:
            return
        n = vv.get(r, 0)
        if n > m:
            if n - m <= len(s):
                s.difference_update(range(m + 1, n + 1))
            else:
                s.difference_update([c for c in s if c <= n])
        while n + 1 in s:
            n += 1
            s.remove(n)
        if n:
            vv[r] = n
        if not s:
            del cl[r]

    def joined_cloud_size(self, other: CausalContext) -> int:
        """How many scattered dots this context would hold after ``join(other)``, without joining.
        O(other's representation + the smaller of each jump and this cloud's dots of the replica)."""
        vv, cl = self.vv, self._cl
        ovv, ocl = other.vv, other._cl
        size = self.cloud_size()
        for r in ovv.keys() | ocl.keys():
            m = vv.get(r, 0)
            top = max(m, ovv.get(r, 0))
            mine = cl.get(r, ())
            if top > m and mine:          # our scattered dots that other's entry covers
                if top - m <= len(mine):
                    size -= sum(map(mine.__contains__, range(m + 1, top + 1)))
                else:
                    size -= sum(map(partial(ge, top), mine))
            theirs = ocl.get(r, ())
            if theirs:                    # theirs beyond the new entry that we lack
                fresh = set(theirs).difference(mine) if mine else theirs
                size += sum(map(partial(lt, top), fresh))
            c = top + 1                   # the run that would continue the entry moves into the vv
            while c in mine or c in theirs:
                size -= 1
                c += 1
        return size

    def compact(self) -> None:
        """Move contiguous scattered dots into the version vector and drop covered ones. O(cloud)."""
        vv, cl = self.vv, self._cl
        for r in list(cl):
            s = cl[r]
            m = vv.get(r, 0)
            if m and min(s) <= m:
                s.difference_update([c for c in s if c <= m])
                if not s:
                    del cl[r]
                    continue
            if m + 1 in s:
                self._settle(r, m)

    def dots(self) -> Iterator[tuple[str, int]]:
        """Every dot in the context (may be many: the version vector expands). O(dots)."""
        for r, n in self.vv.items():
            for i in range(1, n + 1):
                yield (r, i)
        yield from self.cloud_dots()

    def size(self) -> int:
        """How many dots the context holds. O(replicas)."""
        return sum(self.vv.values()) + self.cloud_size()

    def is_empty(self) -> bool:
        return not self.vv and not self._cl

    def version_vector(self) -> VersionVector:
        """The contiguous part as a :class:`VersionVector`."""
        v = VersionVector()
        v._vv = dict(self.vv)
        return v

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CausalContext) and self.vv == other.vv and self._cl == other._cl

    __hash__ = None  # type: ignore[assignment]

    def __le__(self, other: CausalContext) -> bool:
        """Inclusion of dot sets. O(replicas + clouds): a range beyond ``other``'s entry must sit in its cloud."""
        ovv, ocl = other.vv, other._cl
        for r, n in self.vv.items():
            m = ovv.get(r, 0)
            if n > m:
                theirs = ocl.get(r, ())
                if n - m > len(theirs) or not all(map(theirs.__contains__, range(m + 1, n + 1))):
                    return False
        for r, s in self._cl.items():
            theirs = ocl.get(r) or set()
            if not s <= theirs and not all(c <= ovv.get(r, 0) or c in theirs for c in s):
                return False
        return True

    def _check(self) -> None:
        """The representation's invariants, per replica by C-level passes. O(cloud)."""
        from .errors import InvariantError

        vv = self.vv
        if type(vv) is not dict or type(self._cl) is not dict:
            raise InvariantError("a causal context holds a dict of entries and a dict of scattered counters")
        for r, n in vv.items():
            if type(r) is not str or not r or type(n) is not int or n < 1:
                raise InvariantError(f"bad version vector entry {r!r}: {n!r}")
        for r, s in self._cl.items():
            if type(r) is not str or not r or type(s) is not set or not s:
                raise InvariantError(f"bad cloud of replica {r!r}: {s!r}")
            if set(map(type, s)) != {int}:
                raise InvariantError(f"bad cloud dot of replica {r!r}: "
                                     f"{next(c for c in s if type(c) is not int)!r}")
            low = min(s)
            if low < 1:
                raise InvariantError(f"bad cloud dot {(r, low)!r}")
            if low <= vv.get(r, 0) + 1:
                raise InvariantError(f"cloud dot {(r, low)!r} should have been compacted (vv has {vv.get(r, 0)})")

    def __repr__(self) -> str:
        return f"CausalContext(vv={dict(sorted(self.vv.items()))!r}, cloud={sorted(self.cloud)!r})"


class Timestamp(NamedTuple):
    """A hybrid-logical-clock reading: totally ordered as the tuple ``(wall, logical, replica)``.

    ``wall`` is in nanoseconds since the epoch (or whatever unit the clock's time source gives).
    """

    wall: int
    logical: int
    replica: str


def _boot_ns() -> int:
    """A monotonic clock that keeps counting through a suspend where the platform has one (Linux)."""
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME)


_MONOTONIC: Callable[[], int] = _boot_ns if hasattr(time, "CLOCK_BOOTTIME") else time.monotonic_ns
_AUTO: Any = object()


class HLC:
    """A hybrid logical clock (Kulkarni et al. 2014) bound to one replica.

    ``now()`` returns strictly increasing timestamps; ``observe(ts)`` moves the clock past a
    remote timestamp, so any event after the observation is ordered after it, whatever the wall
    clocks say. The time source is injectable (``time_source`` returns an int, by default
    ``time.time_ns``).

    **Drift guard.** ``max_drift`` (in the time source's unit; default :data:`DEFAULT_MAX_DRIFT`, one hour
    in ns; ``None`` turns the guard off) bounds what one bad clock can do to everyone's:

    * :meth:`check` refuses a remote timestamp further than ``max_drift`` ahead of this clock's physical
      time (the types call it before a merge, so the merge is refused whole and changes nothing);
      without it a single write stamped a century ahead would pin every clock that saw it, and every later
      write everywhere would carry that wall time;
    * a forward jump of the local time source by more than ``max_drift`` beyond what the monotonic
      clock has measured since the last good reading is a glitch: the clock keeps counting from the last
      good reading on the monotonic clock instead (``glitches`` counts these readings) until the time
      source agrees again, or :meth:`resync` accepts its new reading (after a deliberate clock change).
      This needs a monotonic clock in the same unit as the time source: by default it is on only for the
      default time source (``monotonic=`` gives one for another source).

    >>> t = iter([100, 100, 90])
    >>> clock = HLC("a", time_source=lambda: next(t))
    >>> clock.now(), clock.now()
    (Timestamp(wall=100, logical=0, replica='a'), Timestamp(wall=100, logical=1, replica='a'))
    >>> clock.observe(Timestamp(500, 7, "b"))
    >>> clock.now()                     # wall clock says 90, but we have seen 500:7
    Timestamp(wall=500, logical=8, replica='a')
    """

    __slots__ = ("_anchor", "_hi", "_last", "_lo", "_logical", "_monotonic", "_recheck", "_wall", "glitches",
                 "max_drift", "replica", "time_source")

    def __init__(self, replica: str, time_source: Callable[[], int] = time.time_ns, *,
                 max_drift: int | None = DEFAULT_MAX_DRIFT, monotonic: Callable[[], int] | None = _AUTO) -> None:
        self.replica = _check_replica(replica)
        self.time_source = time_source
        if max_drift is not None and (type(max_drift) is not int or max_drift < 0):
            raise ValueError(f"max_drift is an int >= 0 (in the time source's unit) or None, got {max_drift!r}")
        self.max_drift = max_drift
        if monotonic is _AUTO:
            monotonic = _MONOTONIC if time_source is time.time_ns else None
        self._recheck = (max_drift or 0) // 3600
        self.monotonic = monotonic if max_drift is not None else None
        self._last = 0         # the last physical reading
        self.glitches = 0
        self._wall = 0
        self._logical = 0

    @property
    def monotonic(self) -> Callable[[], int] | None:
        """The monotonic clock of the glitch guard (None: no guard). Setting it restarts the guard."""
        return self._monotonic

    @monotonic.setter
    def monotonic(self, clock: Callable[[], int] | None) -> None:
        self._monotonic = clock
        self._anchor: tuple[int, int] | None = None
        # A reading in ``_lo .. _hi`` needs no further look (the hot path: one type test, one chained compare):
        # without the glitch guard, the range of the format; with it, the last good reading up to one recheck
        # interval after it (empty until the next reading, so that one anchors the guard).
        self._lo, self._hi = (1, 0) if clock is not None else (0, UINT_LIMIT - 1)

    def physical(self) -> int:
        """The time source's reading, with a forward glitch beyond ``max_drift`` replaced (see the class).

        The monotonic clock is read only when the reading moved on by more than ``max_drift / 3600`` (one
        second by default) since the last check, so a clock ticked often pays one comparison per reading.
        """
        pt = self.time_source()
        if type(pt) is not int or not self._lo <= pt <= self._hi:
            return self._checked(pt)
        return pt

    def _checked(self, pt: Any) -> int:
        """A reading outside the window of :meth:`physical`: refused if it is not an int of the format's range;
        else ``pt``, or the monotonic clock's estimate when ``pt`` jumped ahead of it by more than ``max_drift``."""
        if type(pt) is not int or not 0 <= pt < UINT_LIMIT:
            raise ValueError(f"an HLC time source returns an int in 0 .. 2**64-1 (e.g. time.time_ns), got {pt!r}")
        mono = self._monotonic
        if mono is None:
            return pt
        m = mono()
        a = self._anchor
        if a is not None:
            expected = a[0] + (m - a[1])
            if pt > expected + self.max_drift:  # type: ignore[operator]
                self.glitches += 1
                return min(max(expected, 0), UINT_LIMIT - 1)
        self._anchor = (pt, m)
        self._lo, self._hi = pt, min(pt + self._recheck, UINT_LIMIT - 1)
        return pt

    def resync(self) -> None:
        """Accept the time source's next reading as it is (after a deliberate change of the system clock)."""
        self._anchor = None
        if self._monotonic is not None:
            self._lo, self._hi = 1, 0

    def now(self) -> Timestamp:
        """A new timestamp, greater than every one this clock returned or observed. O(1)."""
        return Timestamp(*self.tick())

    def tick(self) -> tuple[int, int, str]:
        """:meth:`now` as a plain ``(wall, logical, replica)`` tuple: what the types store, and cheaper on
        their hot paths (no :class:`Timestamp` is built). O(1)."""
        pt = self.time_source()
        if type(pt) is not int or not self._lo <= pt <= self._hi:   # physical(), inlined: this is a hot path
            pt = self._checked(pt)
        self._last = pt
        if pt > self._wall:
            self._wall = pt
            self._logical = 0
        else:
            self._logical += 1
        return (self._wall, self._logical, self.replica)

    def fresh(self, replica: str) -> HLC:
        """A new clock for ``replica`` with this one's configuration (time source, ``max_drift``, monotonic
        clock), starting from nothing observed."""
        return HLC(replica, self.time_source, max_drift=self.max_drift, monotonic=self.monotonic)

    def check(self, ts: tuple[int, int, str]) -> None:
        """Refuse a remote timestamp this clock must not observe; changes nothing. O(1).

        Raises :class:`~crdts.errors.ClockDrift` when ``ts`` is more than ``max_drift`` ahead of this
        clock's physical time, and :class:`~crdts.errors.LimitExceeded` when its logical part is so high
        that the next local write could not be encoded.
        """
        from .errors import ClockDrift, LimitExceeded

        if ts[1] >= UINT_LIMIT - 1:
            raise LimitExceeded("a timestamp's logical counter", ts[1], UINT_LIMIT - 2)
        drift = self.max_drift
        if drift is not None and ts[0] - drift > self._last:
            # Only a timestamp far ahead of the last reading costs a fresh one (and a reading is never
            # taken otherwise: a deterministic time source sees the same calls with or without the guard).
            pt = self.physical()
            self._last = max(self._last, pt)
            if ts[0] - pt > drift:
                raise ClockDrift(ts, pt, drift)

    def observe(self, ts: tuple[int, int, str]) -> None:
        """Move the clock past a remote timestamp (called on merge, after :meth:`check`). O(1)."""
        wall, logical = ts[0], ts[1]
        if wall > self._wall:
            self._wall = wall
            self._logical = logical
        elif wall == self._wall and logical > self._logical:
            self._logical = logical

    def peek(self) -> tuple[int, int]:
        """The last (wall, logical) reading, without advancing."""
        return (self._wall, self._logical)

    def __repr__(self) -> str:
        return f"HLC({self.replica!r}, wall={self._wall}, logical={self._logical})"
