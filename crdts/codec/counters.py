"""Wire forms of the counters: GCounter (code 1), PNCounter (code 2) and the causal counter (code 12)."""

from __future__ import annotations

from itertools import chain
from typing import Any

from ..causal import CausalContext
from ..counters import CCounter, GCounter, PNCounter
from ._wire import Body, Decoder, ReplicaTable, enc_counts, enc_dotfun, enc_ints, register_causal, register_type


def _enc_gcounter(x: GCounter) -> Body:
    tb = ReplicaTable(x._p)
    return tb.ids, [enc_counts(x._p, tb, "GCounter")]


def _dec_gcounter(d: Decoder, body: list[Any]) -> GCounter:
    x = GCounter.__new__(GCounter)
    x._replica = None
    x._p = d.counts(body[0], "body.counts")
    return x


def _enc_pncounter(x: PNCounter) -> Body:
    tb = ReplicaTable(chain(x._p, x._n))
    return tb.ids, [enc_counts(x._p, tb, "PNCounter"), enc_counts(x._n, tb, "PNCounter")]


def _dec_pncounter(d: Decoder, body: list[Any]) -> PNCounter:
    x = PNCounter.__new__(PNCounter)
    x._replica = None
    x._p = d.counts(body[0], "body.increments")
    x._n = d.counts(body[1], "body.decrements")
    return x


def _enc_ccounter_store(store: Any, tb: ReplicaTable) -> Any:
    return enc_dotfun(store, tb, enc_ints)


def _dec_ccounter_store(d: Decoder, x: Any, ctx: CausalContext, path: str) -> Any:
    return d.dotfun(x, ctx, path, "ints")


register_type(GCounter, 1, encode=_enc_gcounter, decode=_dec_gcounter, arity=1, _builtin=True)
register_type(PNCounter, 2, encode=_enc_pncounter, decode=_dec_pncounter, arity=2, _builtin=True)
register_causal(CCounter, 12, encode_store=_enc_ccounter_store, decode_store=_dec_ccounter_store, _builtin=True)
