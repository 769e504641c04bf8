"""Wire form of the retirement records (:class:`crdts.retention.Retirements`, code 40).

Body ``[records, archives]``, every list sorted and every id a text string (no replica table):

* a record is ``[replica, proposals, votes, performed]``: proposals ``[[heir, [member, ...]], ...]`` by heir;
  votes ``[[member, version, heir or null, [[id, mark], ...]], ...]`` by member, a mark an array of uints;
  performed ``null`` or ``[heir, at, [[id, base, final], ...]]`` (``at`` seconds, a float or an uint);
* an archive is ``[archive id, top]``.

A performed record carries no proposals or votes. Only the records travel: the owner, the time to live and the
clock are the receiving registry's own settings.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

from ..errors import SchemaError
from ..retention import ARCHIVE_SUFFIX, Block, Performed, Record, Retirements, Vote, archive_of, is_archive
from ._wire import Body, Decoder, check_uint, register_type

RETIREMENTS_CODE = 40


def _mark(m: tuple[int, ...], what: str) -> list[int]:
    for n in m:
        check_uint(n, what)
    return list(m)


def _enc(x: Retirements) -> Body:
    records = []
    for r in sorted(x.records):
        rec = x.records[r]
        proposals = [[h, sorted(ms)] for h, ms in sorted(rec.proposals.items())]
        votes = [[m, v.version, v.heir, [[i, _mark(mk, "a vote's mark")] for i, mk in v.marks]]
                 for m, v in sorted(rec.votes.items())]
        p = rec.performed
        performed = None if p is None else [
            p.heir, p.at, [[b.replica, _mark(b.base, "a block's base"), _mark(b.final, "a block's end")]
                           for b in p.blocks]]
        records.append([r, proposals, votes, performed])
    archives = [[a, _mark(top, "an archive's end")] for a, top in sorted(x.archives.items())]
    return [], [records, archives]


def _text(x: Any, path: str) -> str:
    if type(x) is not str or not x:
        raise SchemaError(path, "expected a replica id (a non-empty text string)")
    return x


def _dec_mark(d: Decoder, x: Any, path: str) -> tuple[int, ...]:
    xs = d.array(x, path)
    if len(xs) > 8:
        raise SchemaError(path, "a mark has at most 8 counts")
    return tuple(d.uint(n, path) for n in xs)


def _sorted(keys: list[Any], path: str) -> None:
    if any(a >= b for a, b in pairwise(keys)):
        raise SchemaError(path, "entries must be sorted and unique")


def _dec(d: Decoder, body: list[Any]) -> Retirements:
    recs_x = d.array(body[0], "body.records")
    d.count(len(recs_x))
    out = Retirements()
    names: list[str] = []
    for i, rx in enumerate(recs_x):
        path = f"body.records[{i}]"
        replica, props_x, votes_x, perf_x = d.array(rx, path, size=4)
        r = _text(replica, f"{path}.replica")
        if is_archive(r):
            raise SchemaError(path, f"an archive ({ARCHIVE_SUFFIX}) retires with its heir, never on its own")
        names.append(r)
        rec = Record(r)
        heirs: list[str] = []
        for j, px in enumerate(d.array(props_x, f"{path}.proposals")):
            h, ms_x = d.array(px, f"{path}.proposals[{j}]", size=2)
            h = _text(h, f"{path}.proposals[{j}].heir")
            ms_l = [_text(m, f"{path}.proposals[{j}].members") for m in d.array(ms_x, f"{path}.proposals[{j}]")]
            d.count(len(ms_l) + 1)
            _sorted(ms_l, f"{path}.proposals[{j}].members")
            if h not in ms_l or h == r or any(map(is_archive, ms_l)):
                raise SchemaError(f"{path}.proposals[{j}]", "the heir is a member other than the retired replica, "
                                  "and members are replica ids")
            heirs.append(h)
            rec.proposals[h] = frozenset(ms_l)
        _sorted(heirs, f"{path}.proposals")
        voters: list[str] = []
        for j, vx in enumerate(d.array(votes_x, f"{path}.votes")):
            m, version, heir, marks_x = d.array(vx, f"{path}.votes[{j}]", size=4)
            m = _text(m, f"{path}.votes[{j}].member")
            version = d.uint(version, f"{path}.votes[{j}].version")
            if version < 1:
                raise SchemaError(f"{path}.votes[{j}]", "vote versions start at 1")
            if heir is not None:
                heir = _text(heir, f"{path}.votes[{j}].heir")
            marks = []
            for k, mx in enumerate(d.array(marks_x, f"{path}.votes[{j}].marks")):
                i2, mk = d.array(mx, f"{path}.votes[{j}].marks[{k}]", size=2)
                marks.append((_text(i2, f"{path}.votes[{j}].marks[{k}]"), _dec_mark(d, mk, f"{path}.votes[{j}]")))
            d.count(len(marks) + 1)
            if [i2 for i2, _ in marks] != [r, archive_of(r)]:
                raise SchemaError(f"{path}.votes[{j}]", "a vote marks the retired replica and its archive")
            voters.append(m)
            rec.votes[m] = Vote(version, heir, tuple(marks))
        _sorted(voters, f"{path}.votes")
        if perf_x is not None:
            if rec.proposals or rec.votes:
                raise SchemaError(path, "a performed record carries no proposals or votes")
            heir, at, blocks_x = d.array(perf_x, f"{path}.performed", size=3)
            heir = _text(heir, f"{path}.performed.heir")
            if heir == r or is_archive(heir):
                raise SchemaError(f"{path}.performed", "the heir is a replica other than the retired one")
            if type(at) not in (int, float) or type(at) is bool or not math.isfinite(at) or at < 0:
                raise SchemaError(f"{path}.performed.at", "expected seconds (a finite number >= 0)")
            blocks = []
            for k, bx in enumerate(d.array(blocks_x, f"{path}.performed.blocks")):
                i2, base, final = d.array(bx, f"{path}.performed.blocks[{k}]", size=3)
                blocks.append(Block(_text(i2, f"{path}.performed.blocks[{k}]"), _dec_mark(d, base, path),
                                    _dec_mark(d, final, path)))
            d.count(len(blocks))
            if [b.replica for b in blocks] != [r, archive_of(r)] or len({len(b.base) for b in blocks}
                                                                        | {len(b.final) for b in blocks}) > 1:
                raise SchemaError(f"{path}.performed", "blocks for the retired replica and its archive, marks of "
                                  "one length")
            rec.performed = Performed(heir, tuple(blocks), float(at))
        elif not rec.proposals:
            raise SchemaError(path, "a record is proposed or performed")
        out.records[r] = rec
    _sorted(names, "body.records")
    arch: list[str] = []
    for i, ax in enumerate(d.array(body[1], "body.archives")):
        a, top = d.array(ax, f"body.archives[{i}]", size=2)
        a = _text(a, f"body.archives[{i}]")
        if not is_archive(a):
            raise SchemaError(f"body.archives[{i}]", f"an archive id ends in {ARCHIVE_SUFFIX!r}")
        arch.append(a)
        out.archives[a] = _dec_mark(d, top, f"body.archives[{i}]")
    d.count(len(arch))
    _sorted(arch, "body.archives")
    for rec in out.records.values():   # every performed block lies within its archive's known end
        p = rec.performed
        if p is not None:
            top = out.archives.get(p.archive, ())
            for b in p.blocks:
                end = tuple(x + y for x, y in zip(b.base, b.final, strict=True))
                if any(e > t for e, t in zip(end, (*top, *(0,) * len(end)), strict=False)):
                    raise SchemaError("body.archives", f"the archive of {p.heir!r} ends before the blocks of "
                                      f"{rec.replica!r}")
    out.version = 0
    return out


register_type(Retirements, RETIREMENTS_CODE, encode=_enc, decode=_dec, arity=2, _builtin=True)
