"""Retirement: the ids of replicas that are gone leave the metadata of every replicated object.

Every replica that ever wrote leaves an entry in version vectors, causal contexts and counters. A
:class:`Retirements` registry (one per replicated object, beside its state) records the decision that a
replica ``r`` is gone, and takes ``r``'s entries out of the state in three phases, after Akka Distributed
Data's pruning (docs/retention.md):

1. **Decided.** An operator or the deployment proposes that ``r`` retires, naming the live ``members`` and
   (optionally) the ``heir``, a surviving member. Records are join-semilattices: registries merge in any
   order. ``r`` itself, if it is still running, stops writing once it hears of the decision. If every
   proposed heir retires in turn, a live replica proposes itself (and becomes a member).
2. **Performed.** Every member keeps a *vote*: the heir it supports (the smallest proposed heir that is not
   itself retiring) and its *mark* of ``r`` (how much of ``r``'s history its state holds: ``r``'s version
   vector entry, its GCounter count, ...). Once every member votes for the same heir with the same mark,
   ``r``'s history is **causally stable**: every live member has everything ``r`` wrote. The heir then
   reserves a *block* of its *archive* (the id ``heir~*``, whose events only the heir allocates) as long as
   ``r``'s history, and records it: ``r``'s event ``k`` *is* event ``base + k`` of the archive.
3. **Normalized.** Every replica that knows the performed record renames ``r``'s events into the block:
   dots ``(r, k)`` become ``(heir~*, base + k)`` in stores and contexts, counts of ``r`` are folded into the
   archive's entry. A renaming is a bijection, so it commutes with the join: replicas converge whatever
   order they learn the record and the writes in, and no value changes. ``r``'s events beyond the recorded
   history (a late write of ``r``) are dropped instead of merged. A state that names archive events beyond
   the records a replica knows is refused (:class:`~crdts.errors.UnknownRetirement`) until the records
   arrive, so nothing is merged under the wrong names.

The performed record is a tombstone kept for ``ttl`` seconds (default one week): within it, a stale state
that still names ``r`` is renamed on arrival, and a late write of ``r`` is dropped; after it, the record is
forgotten and nothing is left of ``r``. The archives stay: one entry per heir, not per retired replica.

>>> from crdts import AWSet
>>> a, b, r = AWSet("a"), AWSet("b"), AWSet("r")
>>> d = r.add("apple"); a.merge(d); b.merge(d)   # r wrote, a and b have it; then r is gone
>>> ra, rb = Retirements("a"), Retirements("b")
>>> ra.decide("r", members=["a", "b"])          # the heir defaults to the smallest member: "a"
>>> for _ in range(2):                           # each votes, then they exchange registries
...     _ = ra.step(a), rb.step(b), ra.merge(rb), rb.merge(ra)
>>> ra.step(a)                                   # the heir sees every vote agree, and performs
['r']
>>> _ = rb.merge(ra), rb.step(b)                 # b learns of it and renames r's events
>>> sorted(a.value), sorted(a.context.vv.items()), a == b
(['apple'], [('a~*', 1)], True)
>>> late = r.add("pear")                         # r did not stop: its late write is refused
>>> ra.receive(a, late)
Traceback (most recent call last):
...
crdts.errors.RetiredReplica: replica 'r' is retired: a late write: its events up to 2, but ...
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from itertools import zip_longest
from typing import Any

import attrs

from . import kernel
from .causal import CausalContext
from .errors import RetiredReplica, UnknownRetirement

__all__ = [
    "ARCHIVE_SUFFIX",
    "DEFAULT_TTL",
    "Block",
    "Performed",
    "Record",
    "Retirements",
    "Vote",
    "archive_of",
    "is_archive",
]

#: The suffix of an archive id: ``archive_of("eu-west") == "eu-west~*"``. Replica ids ending in it are
#: reserved (an archive never writes; its events are allocated by its heir to hold retired replicas' events).
ARCHIVE_SUFFIX = "~*"

#: How long a performed record is kept (seconds): the tombstone that renames stale states and drops late
#: writes of the retired replica. Longer than any message delay, partition or absence of a replica.
DEFAULT_TTL = 7 * 24 * 3600.0

Mark = tuple[int, ...]


def archive_of(replica: str) -> str:
    """The archive id of ``replica``: where, as a heir, it keeps the events of the replicas retired into it.

    >>> archive_of("eu-west"), is_archive("eu-west~*"), is_archive("eu-west~2")
    ('eu-west~*', True, False)
    """
    return replica + ARCHIVE_SUFFIX


def is_archive(replica: str) -> bool:
    """Whether ``replica`` is an archive id (see :func:`archive_of`)."""
    return replica.endswith(ARCHIVE_SUFFIX)


def _add(a: Mark, b: Mark) -> Mark:
    return tuple(x + y for x, y in zip_longest(a, b, fillvalue=0))


def _top(a: Mark, b: Mark) -> Mark:
    return tuple(max(x, y) for x, y in zip_longest(a, b, fillvalue=0))


def _le(a: Mark, b: Mark) -> bool:
    return all(x <= y for x, y in zip_longest(a, b, fillvalue=0))


@attrs.frozen
class Vote:
    """What one member says about a retirement: ``version`` (it increases with every new vote of that member,
    so the latest wins a merge), the ``heir`` it supports (None: no proposed heir is live), and its ``marks``:
    ``(id, mark)`` for the retiring replica and its archive, what its state holds of their histories."""

    version: int
    heir: str | None
    marks: tuple[tuple[str, Mark], ...]


@attrs.frozen
class Block:
    """Where the history of one retired id went: its events ``1 .. final`` (per component of the mark) are the
    archive's events ``base + 1 .. base + final``."""

    replica: str
    base: Mark
    final: Mark


@attrs.frozen
class Performed:
    """A retirement performed by ``heir`` at ``at`` (seconds, the registry clock of the heir): the blocks of
    its archive that hold the retired replica's history (and its own archive's, if it was a heir)."""

    heir: str
    blocks: tuple[Block, ...]
    at: float

    @property
    def archive(self) -> str:
        return archive_of(self.heir)


@attrs.define
class Record:
    """The retirement of one replica: the proposals (heir -> members), the members' votes, and once performed,
    where its history went. A join-semilattice (:meth:`merge`)."""

    replica: str
    proposals: dict[str, frozenset[str]] = attrs.field(factory=dict)
    votes: dict[str, Vote] = attrs.field(factory=dict)
    performed: Performed | None = None

    def members(self) -> frozenset[str]:
        """Every member named by a proposal."""
        out: frozenset[str] = frozenset()
        for ms in self.proposals.values():
            out |= ms
        return out

    def copy(self) -> Record:
        return Record(self.replica, dict(self.proposals), dict(self.votes), self.performed)

    def since(self, old: Record) -> Record:
        """What this record holds beyond ``old`` (an earlier state of it): a part that, merged into ``old``,
        gives this record. A performed record goes whole; otherwise the proposals (a few heirs: they travel
        whole, so a replica that never had the record learns who proposed) and only the votes that changed."""
        if self.performed is not None or old.performed is not None:
            return self
        return Record(self.replica, dict(self.proposals),
                      {m: v for m, v in self.votes.items() if old.votes.get(m) != v})

    def merge(self, other: Record) -> bool:
        """Join ``other`` (the same replica's record) into this one; True if this one changed. A performed
        record absorbs the rest (its proposals and votes are done with); of two performed by different heirs
        (a misuse: see docs/retention.md) the smaller heir's is kept everywhere."""
        if other.performed is not None:
            mine = self.performed
            if mine is None or (other.performed != mine and other.performed.heir < mine.heir):
                self.performed = other.performed
                self.proposals, self.votes = {}, {}
                return True
            return False
        if self.performed is not None:
            return False
        changed = False
        for heir, ms in other.proposals.items():
            cur = self.proposals.get(heir, frozenset())
            if not ms <= cur:
                self.proposals[heir] = cur | ms
                changed = True
        for m, v in other.votes.items():
            cur_v = self.votes.get(m)
            if cur_v is None or v.version > cur_v.version:
                self.votes[m] = v
                changed = True
        return changed


class Retirements:
    """The retirement records of one replicated object: a join-semilattice kept beside the object's state,
    exchanged between its replicas, and the rules that take retired replicas out of the state.

    ``owner`` is the replica id this registry votes and performs as (None: it only follows). ``ttl`` is how
    long a performed record is kept (seconds); ``clock`` gives wall-clock seconds (the same time base at every
    replica; the simulator passes its simulated time).

    * :meth:`decide` proposes a retirement; :meth:`merge` joins another replica's registry;
    * :meth:`step` (call it every sync round) refreshes this replica's votes from its state, performs the
      retirements this replica is the heir of once every member agrees, forgets expired records and
      normalizes the state;
    * :meth:`receive` merges a state or delta from elsewhere into the state under the records (refuses what
      names unknown archive events, renames and drops what names retired replicas), :meth:`normalize` and
      :meth:`normalized` apply the records to a state.

    Cost: O(records) per :meth:`receive` when the payload names no retired replica; O(size of the state) once
    per retirement when the state is renamed.
    """

    __slots__ = ("archives", "clock", "owner", "records", "ttl", "version")

    def __init__(self, owner: str | None = None, *, ttl: float = DEFAULT_TTL,
                 clock: Callable[[], float] = time.time) -> None:
        if owner is not None and (type(owner) is not str or not owner):
            raise TypeError(f"owner must be a non-empty str or None, got {owner!r}")
        if type(ttl) not in (int, float) or not ttl > 0:
            raise ValueError(f"ttl must be a number of seconds > 0, got {ttl!r}")
        self.owner = owner
        self.ttl = float(ttl)
        self.clock = clock
        self.records: dict[str, Record] = {}
        #: archive id -> the end of the blocks allocated in it (survives the records that allocated them)
        self.archives: dict[str, Mark] = {}
        #: increases whenever the registry changes (what a node compares to know when to send it)
        self.version = 0

    # -- reads -------------------------------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if type(other) is not Retirements:
            return NotImplemented
        return self.records == other.records and self.archives == other.archives

    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        return bool(self.records or self.archives)

    def __repr__(self) -> str:
        return (f"Retirements(owner={self.owner!r}, pending={sorted(self.pending())}, "
                f"performed={sorted(self.tombstones())})")

    def pending(self) -> set[str]:
        """Replicas decided but not yet performed."""
        return {r for r, rec in self.records.items() if rec.performed is None}

    def tombstones(self) -> set[str]:
        """Replicas performed whose record is still kept."""
        return {r for r, rec in self.records.items() if rec.performed is not None}

    def is_retired(self, replica: str) -> bool:
        """Whether ``replica`` is decided or performed here (it may not write any more)."""
        return replica in self.records

    def metrics(self) -> dict[str, int]:
        """``pending`` and ``tombstones`` (records by phase), ``archives``, ``votes`` held."""
        return {"pending": len(self.pending()), "tombstones": len(self.tombstones()), "archives": len(self.archives),
                "votes": sum(len(rec.votes) for rec in self.records.values())}

    def copy(self) -> Retirements:
        c = Retirements(self.owner, ttl=self.ttl, clock=self.clock)
        c.records = {r: rec.copy() for r, rec in self.records.items()}
        c.archives = dict(self.archives)
        c.version = self.version
        return c

    def rebind(self, owner: str | None) -> None:
        """Vote and perform as ``owner`` from now on (a new incarnation of the replica)."""
        if owner is not None and (type(owner) is not str or not owner):
            raise TypeError(f"owner must be a non-empty str or None, got {owner!r}")
        self.owner = owner

    # -- deciding and merging ------------------------------------------------------------------------------------

    def decide(self, replica: str, *, members: Iterable[str], heir: str | None = None) -> None:
        """Propose that ``replica`` retires. ``members`` are the live replicas whose votes are needed (include
        ``replica`` itself if it still runs: it then reports its own history, and nothing it wrote is lost);
        ``heir`` (default: the smallest member other than ``replica``) must be one of them. Proposing again
        (another heir, more members) adds to the record; a performed retirement is left as it is. Every live
        member should be named, and proposals for one replica should name the same members: then at most one
        heir ever performs. Raises TypeError/ValueError for a bad argument (nothing changes)."""
        if type(replica) is not str or not replica:
            raise TypeError(f"replica must be a non-empty str, got {replica!r}")
        if is_archive(replica):
            raise ValueError(f"{replica!r} is an archive: it retires with the replica it belongs to")
        if isinstance(members, str):
            raise TypeError(f"members is a collection of replica ids, not the str {members!r}")
        ms = frozenset(members)
        for m in ms:
            if type(m) is not str or not m or is_archive(m):
                raise ValueError(f"members are replica ids (non-empty str, not archives), got {m!r}")
        live = ms - {replica}
        if not live:
            raise ValueError(f"retiring {replica!r} needs at least one other member to inherit its history")
        if heir is None:
            heir = min(live)
        elif heir not in live:
            raise ValueError(f"the heir {heir!r} must be one of the members other than {replica!r}: {sorted(live)}")
        rec = self.records.get(replica)
        if rec is not None and rec.performed is not None:
            return
        if rec is None:
            rec = self.records[replica] = Record(replica)
        before = rec.proposals.get(heir, frozenset())
        if not ms <= before:
            rec.proposals[heir] = before | ms
            self.version += 1

    def merge(self, other: Retirements) -> bool:
        """Join ``other`` (another replica's registry of the same object) into this one. Records performed longer
        than ``ttl`` ago (by this registry's clock) are not taken back. Returns True if this registry changed.
        Call :meth:`step` (or :meth:`normalize`) on the state afterwards. O(records)."""
        if type(other) is not Retirements:
            raise TypeError(f"cannot merge {type(other).__name__} into Retirements")
        if other is self:
            return False
        now = self.clock()
        changed = False
        expired: set[str] = set()
        for r, rec in other.records.items():
            if rec.performed is not None and rec.performed.at + self.ttl < now:
                expired.add(archive_of(r))   # nor the archive of an expired heir (see _expire)
                continue
            mine = self.records.get(r)
            if mine is None:
                self.records[r] = rec.copy()
                changed = True
            else:
                changed |= mine.merge(rec)
            p = self.records[r].performed
            if p is not None:
                changed |= self._allocated(p)
        for a, top in other.archives.items():
            if a in expired:
                continue
            cur = self.archives.get(a, ())
            if not _le(top, cur):
                self.archives[a] = _top(cur, top)
                changed = True
        if changed:
            self.version += 1
        return changed

    def _allocated(self, p: Performed) -> bool:
        a = p.archive
        cur = self.archives.get(a, ())
        top = cur
        for b in p.blocks:
            top = _top(top, _add(b.base, b.final))
        if top != cur:
            self.archives[a] = top
            return True
        return False

    # -- voting and performing -----------------------------------------------------------------------------------

    def _heir(self, rec: Record) -> str | None:
        valid = [h for h in rec.proposals if h != rec.replica and h not in self.records]
        return min(valid) if valid else None

    def _required(self, rec: Record) -> set[str]:
        return {m for m in rec.members() if m == rec.replica or m not in self.records}

    @staticmethod
    def _marks(x: Any, replica: str) -> tuple[tuple[str, Mark], ...]:
        return tuple((i, x._rt_mark(i)) for i in (replica, archive_of(replica)))

    def step(self, x: Any) -> list[str]:
        """One round of the protocol at this replica, with ``x`` its state: forget expired records, refresh this
        replica's votes from ``x``, perform the retirements whose heir it is once every member votes for it with
        the same marks, and normalize ``x``. Returns the replicas whose retirement it performed now.
        O(records * members), plus the renaming of ``x`` when a record is new to it."""
        now = self.clock()
        changed = self._expire(now)
        done: list[str] = []
        me = self.owner
        for r in sorted(self.records):
            rec = self.records[r]
            if rec.performed is not None:
                continue
            heir = self._heir(rec)
            if heir is None and me is not None and me != r and me not in self.records:
                # every proposed heir is retiring too (or left): this live replica proposes itself; the smallest
                # such proposal wins everywhere, as any other
                rec.proposals[me] = frozenset(self._required(rec) | {me})
                heir = self._heir(rec)
                changed = True
            marks = self._marks(x, r)
            if me is not None and me in self._required(rec):
                v = rec.votes.get(me)
                if v is None or v.heir != heir or v.marks != marks:
                    rec.votes[me] = Vote(1 if v is None else v.version + 1, heir, marks)
                    changed = True
            if heir is not None and heir == me and self._agreed(rec, heir, marks):
                self._perform(rec, x, marks, now)
                done.append(r)
                changed = True
        if changed:
            self.version += 1
        self.normalize(x)
        return done

    def _agreed(self, rec: Record, heir: str, marks: tuple[tuple[str, Mark], ...]) -> bool:
        for m in self._required(rec):
            v = rec.votes.get(m)
            if v is None or v.heir != heir or v.marks != marks:
                return False
        return True

    def _perform(self, rec: Record, x: Any, marks: tuple[tuple[str, Mark], ...], now: float) -> None:
        heir = str(self.owner)
        a = archive_of(heir)
        top = _top(self.archives.get(a, ()), x._rt_mark(a))
        blocks = []
        for i, m in marks:
            blocks.append(Block(i, top, m))
            top = _add(top, m)
        rec.performed = Performed(heir, tuple(blocks), now)
        rec.proposals, rec.votes = {}, {}
        self.archives[a] = _top(self.archives.get(a, ()), top)

    def _expire(self, now: float) -> bool:
        gone = [r for r, rec in self.records.items() if rec.performed is not None and rec.performed.at + self.ttl < now]
        for r in gone:
            del self.records[r]
            a = archive_of(r)
            if a in self.archives and not any(b.replica == a for rec in self.records.values()
                                              if rec.performed is not None for b in rec.performed.blocks):
                del self.archives[a]   # the archive of a retired heir: its events were renamed long ago
        return bool(gone)

    # -- applying the records to states --------------------------------------------------------------------------

    def _ordered(self) -> list[Performed]:
        """The performed records in an order where a record comes after those whose heir it retires (their
        renamed events are in the archive it renames in turn). O(records)."""
        perf = {r: rec.performed for r, rec in self.records.items() if rec.performed is not None}
        heir_of: dict[str, list[str]] = {}       # heir -> the retired replicas it performed, in record order
        for q, p in perf.items():
            heir_of.setdefault(p.heir, []).append(q)
        out: list[Performed] = []
        seen: set[str] = set()

        def visit(r: str, stack: frozenset[str]) -> None:
            if r in seen or r in stack:
                return
            for q in heir_of.get(r, ()):
                visit(q, stack | {r})
            seen.add(r)
            out.append(perf[r])

        for r in sorted(perf):
            visit(r, frozenset())
        return out

    def _blocks(self) -> list[tuple[Performed, Block]]:
        return [(p, b) for p in self._ordered() for b in p.blocks]

    def check(self, y: Any) -> None:
        """Refuse ``y`` (raise :class:`~crdts.errors.UnknownRetirement`, change nothing) if it names events of an
        archive beyond the blocks the records known here allocated. O(replica ids of ``y``)."""
        for i in y._rt_ids():
            if is_archive(i):
                known = self.archives.get(i, ())
                m = y._rt_top(i)
                if not _le(m, known):
                    raise UnknownRetirement(i, m, tuple(known) or tuple(0 for _ in m))

    def late(self, y: Any, blocks: list[tuple[Performed, Block]] | None = None) -> dict[str, tuple[Mark, Mark]]:
        """The retired replicas of which ``y`` holds events beyond their recorded history: replica -> (the
        furthest event ``y`` holds, the end of the recorded history). ``blocks``: :meth:`_blocks`, if at hand."""
        ids = y._rt_ids()
        out: dict[str, tuple[Mark, Mark]] = {}
        for _, b in self._blocks() if blocks is None else blocks:
            if b.replica in ids:
                m = y._rt_top(b.replica)
                if not _le(m, b.final):
                    out[b.replica] = (m, b.final)
        return out

    def normalize(self, x: Any, blocks: list[tuple[Performed, Block]] | None = None) -> bool:
        """Apply every performed record to ``x`` in place: drop the retired replicas' events beyond their
        recorded histories, and rename the rest into their heirs' archives. The value does not change (unless
        ``x`` held a late write of a retired replica, which goes). If ``x`` is the state of a replica decided
        to retire, it becomes read-only (bound to no replica): a retired replica writes no more. Returns True
        if ``x`` changed.
        O(records) when ``x`` names no retired replica."""
        if not self.records:
            return False
        if getattr(x, "_replica", None) in self.records:
            x._replica = None   # the retired replica's own state: read-only from now on (its ids are being reused)
        ids = x._rt_ids()
        changed = False
        for p, b in self._blocks() if blocks is None else blocks:
            if b.replica in ids:
                c1 = x._rt_filter(b.replica, b.final)
                c2 = x._rt_alias(b.replica, p.archive, b.base, b.final)
                if c1 or c2:
                    changed = True
                    ids = x._rt_ids()
        return changed

    def normalized(self, y: Any, blocks: list[tuple[Performed, Block]] | None = None) -> Any:
        """``y`` with the records applied: ``y`` itself if it names no retired replica, else a normalized copy."""
        if not self.records:
            return y
        if blocks is None:
            blocks = self._blocks()
        ids = y._rt_ids()
        if not any(b.replica in ids for _, b in blocks):
            return y
        z = y.copy()
        self.normalize(z, blocks)
        return z

    def receive(self, x: Any, y: Any) -> Any:
        """Merge ``y`` (a state or delta from another replica) into ``x`` under the records, and return the
        normalized ``y`` that was merged (what a protocol should pass on).

        Refuses whole, changing nothing: a ``y`` naming archive events no known record allocated
        (:class:`~crdts.errors.UnknownRetirement`: merge the sender's registry first), and a ``y`` holding events
        of a retired replica beyond its recorded history (:class:`~crdts.errors.RetiredReplica`: a late write of
        the retired replica, or a state that merged one before its holder knew of the retirement, and is
        accepted once its holder has applied the records). Otherwise events of retired replicas are renamed,
        and the rest merged as ``x.merge`` would. O(records + replica ids of ``y``) plus the merge when ``y``
        names no retired replica."""
        z = self.admit(y)
        x.merge(z)
        if self.records:
            self.normalize(x)
        return z

    def admit(self, y: Any) -> Any:
        """``y`` as it may be merged here: checked (:class:`~crdts.errors.UnknownRetirement`), late writes of
        retired replicas refused (:class:`~crdts.errors.RetiredReplica`), the rest renamed (a copy when anything
        is). Changes nothing; :meth:`receive` is this followed by the merge."""
        self.check(y)
        if not self.records:
            return y
        blocks = self._blocks()        # ordered once for both steps
        late = self.late(y, blocks)
        if late:
            r, (m, f) = next(iter(late.items()))
            raise RetiredReplica(r, f"a late write: its events up to {_fmt(m)}, but its retirement recorded its "
                                    f"history up to {_fmt(f)}")
        return self.normalized(y, blocks)


def call_archive(hook: Callable[..., Any], *dropped: Any, what: str) -> bool:
    """Hand what a bound dropped to an operator's archive hook. The hook must not stop the dropping, nor
    replication: an exception it raises is logged (``what`` names the hook) and False returned, for the caller
    to count."""
    try:
        hook(*dropped)
        return True
    except Exception:
        logging.getLogger("crdts").exception("crdts: %s archive hook raised; what it was given is dropped", what)
        return False


def _fmt(m: Mark) -> str:
    return str(m[0]) if len(m) == 1 else str(list(m))


# -- the causal types' side (called by crdts._base.Causal) ------------------------------------------------------


def causal_ids(x: Any) -> set[str]:
    """The replica ids a causal state's context names (its store's dots all lie in the context)."""
    return kernel._replicas(x._ctx)


def _live_of(store: Any, ctx: CausalContext, r: str) -> list[tuple[str, int]]:
    """The live dots of ``r`` in ``store``: O(min(r's events in ``ctx``, dots of the store))."""
    by = getattr(store, "by", None)
    if type(by) is dict:   # DotSetMap: the live dots by replica
        m = by.get(r)
        return [(r, c) for c in m] if m else []
    n = ctx.vv.get(r, 0)
    cl = ctx._cloud_of(r)
    held = kernel.dots_of(store)
    if n + len(cl) <= kernel.ndots(store):
        out = [(r, c) for c in range(1, n + 1) if (r, c) in held]
        out.extend((r, c) for c in cl if (r, c) in held)
        return out
    return [d for d in held if d[0] == r]


def _drop_dots(store: Any, ctx: CausalContext, dots: Iterable[tuple[str, int]]) -> None:
    """Remove ``dots`` (held by ``store``) from it, through the causal join with a delta that saw them."""
    kernel.join_into(store, ctx, kernel.empty_like(store), CausalContext._of_dots(set(dots)))


def _rename(store: Any, r: str, a: str, base: int) -> Any:
    """A copy of ``store`` (holding only dots of ``r``) with every dot ``(r, c)`` named ``(a, base + c)``."""
    t = type(store)
    if t is set or t is frozenset:
        return {(a, base + c) for _, c in store}
    if t is dict:
        return {(a, base + d[1]): v for d, v in store.items()}
    if t is kernel.DotSetMap:
        return kernel.DotSetMap.of({e: [(a, base + c) for _, c in ds] for e, ds in store.items()})
    return t.of({k: _rename(sub, r, a, base) for k, sub in store.items()})


def causal_filter(x: Any, r: str, final: Mark) -> bool:
    """Drop the events of ``r`` beyond ``final`` from a causal state (store and context). True if any."""
    f = final[0] if final else 0
    ctx = x._ctx
    n = ctx.vv.get(r, 0)
    late_cloud = [c for c in ctx._cloud_of(r) if c > f]
    if n <= f and not late_cloud:
        return False
    store = x._store
    live_late = [d for d in _live_of(store, ctx, r) if d[1] > f]
    if live_late:
        _drop_dots(store, ctx, live_late)
    if n > f:
        if f:
            ctx.vv[r] = f
        else:
            del ctx.vv[r]
    if late_cloud:
        kept = ctx._cl[r]
        kept.difference_update(late_cloud)
        if not kept:
            del ctx._cl[r]
    return True


def causal_alias(x: Any, r: str, a: str, base: Mark, final: Mark) -> bool:
    """Rename ``r``'s events into archive ``a`` from ``base`` on: the live dots in the store (same payloads, same
    keys) and the context. True if ``x`` named ``r``."""
    ctx = x._ctx
    n = ctx.vv.get(r, 0)
    cl = list(ctx._cloud_of(r))     # a copy: the context's cloud of r goes below
    if not n and not cl:
        return False
    b = base[0] if base else 0
    store = x._store
    live = _live_of(store, ctx, r)
    if live:
        part = kernel.restrict(store, live)
        _drop_dots(store, ctx, live)
        renamed = _rename(part, r, a, b)
        kernel.join_into(store, CausalContext(), renamed, CausalContext._of_dots({(a, b + c) for _, c in live}))
    vv = ctx.vv
    vv.pop(r, None)
    ctx._cl.pop(r, None)
    m = vv.get(a, 0)
    scattered: list[int] = []
    if n:
        if m >= b:
            if b + n > m:
                vv[a] = b + n
        else:  # the archive's earlier blocks are not all here yet: the run waits in the cloud
            scattered.extend(range(b + 1, b + n + 1))
    scattered.extend(b + c for c in cl)
    if scattered:
        ctx._cl.setdefault(a, set()).update(scattered)
    ctx.compact()
    return True


def counter_fold(part: dict[str, int], r: str, a: str, base: int, final: int) -> bool:
    """A grow-only counter's side of a retirement: once the archive's count has reached the end of ``r``'s block
    its count includes ``r``'s, so ``r``'s entry goes; where the archive stands at the block's start and the
    entry holds all of ``r``'s history, the fold happens here (the same at every replica). True if changed."""
    n = part.get(r, 0)
    if not n:
        return False
    have = part.get(a, 0)
    if have >= base + final:
        del part[r]
        return True
    if have == base and n == final:
        part[a] = base + final
        del part[r]
        return True
    return False


def counter_filter(part: dict[str, int], r: str, final: int) -> bool:
    n = part.get(r, 0)
    if n <= final:
        return False
    if final:
        part[r] = final
    else:
        del part[r]
    return True
