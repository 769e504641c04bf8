"""Wire forms of the causality values: VersionVector (code 20), CausalContext (21), Timestamp (22)."""

from __future__ import annotations

from typing import Any

from ..causal import CausalContext, Timestamp, VersionVector
from ._wire import Body, Decoder, ReplicaTable, enc_context, enc_counts, enc_timestamp, register_type


def _enc_versionvector(x: VersionVector) -> Body:
    tb = ReplicaTable(x._vv)
    return tb.ids, [enc_counts(x._vv, tb, "VersionVector")]


def _dec_versionvector(d: Decoder, body: list[Any]) -> VersionVector:
    v = VersionVector()
    v._vv = d.counts(body[0], "body.vv")
    return v


def _enc_causalcontext(x: CausalContext) -> Body:
    tb, body = enc_context(x)
    return tb.ids, body


def _dec_causalcontext(d: Decoder, body: list[Any]) -> CausalContext:
    return d.context(body[0], body[1], "body")


def _enc_ts(x: Timestamp) -> Body:
    from ..errors import EncodeError

    enc_timestamp(x, "Timestamp")
    if type(x[2]) is not str or not x[2]:
        raise EncodeError(f"Timestamp replica must be a non-empty str, got {x[2]!r}")
    return [x[2]], [x[0], x[1], 0]


def _dec_ts(d: Decoder, body: list[Any]) -> Timestamp:
    return Timestamp(d.uint(body[0], "body.wall"), d.uint(body[1], "body.logical"), d.ridx(body[2], "body.replica"))


register_type(VersionVector, 20, encode=_enc_versionvector, decode=_dec_versionvector, arity=1, _builtin=True)
register_type(CausalContext, 21, encode=_enc_causalcontext, decode=_dec_causalcontext, arity=2, _builtin=True)
register_type(Timestamp, 22, encode=_enc_ts, decode=_dec_ts, arity=3, _builtin=True)
