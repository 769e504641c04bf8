"""Wire forms of the registers: LWWRegister (code 5) and MVRegister (code 9, a DotFun of values)."""

from __future__ import annotations

from typing import Any

from ..causal import CausalContext
from ..errors import SchemaError
from ..registers import LWWRegister, MVRegister
from ._wire import (
    Body,
    Decoder,
    ReplicaTable,
    dec_value,
    enc_dotfun,
    enc_timestamp,
    enc_value,
    enc_values,
    register_causal,
    register_type,
)


def _enc_lwwregister(x: LWWRegister) -> Body:
    ts = x._ts
    if ts is None:
        return [], []
    enc_timestamp(ts, "LWWRegister")
    return [ts[2]], [ts[0], ts[1], 0, enc_value(x._value)]


def _dec_lwwregister(d: Decoder, body: list[Any]) -> LWWRegister:
    x = LWWRegister.__new__(LWWRegister)
    x._replica = None
    x._clock = None
    if not body:
        x._ts, x._value = None, None
        return x
    if len(body) != 4:
        raise SchemaError("body", f"expected 0 or 4 items, got {len(body)}")
    x._ts = (d.uint(body[0], "body.wall"), d.uint(body[1], "body.logical"), d.ridx(body[2], "body.replica"))
    x._value = dec_value(body[3], "body.value", 0)
    return x


def _enc_mv(store: Any, tb: ReplicaTable) -> Any:
    return enc_dotfun(store, tb, enc_values)


def _dec_mv(d: Decoder, x: Any, ctx: CausalContext, path: str) -> Any:
    return d.dotfun(x, ctx, path, "values")


register_type(LWWRegister, 5, encode=_enc_lwwregister, decode=_dec_lwwregister, _builtin=True)
register_causal(MVRegister, 9, encode_store=_enc_mv, decode_store=_dec_mv, _builtin=True)
