"""Wire forms of the flags: EWFlag (code 10, a DotSet) and DWFlag (code 11, a DotFun of booleans)."""

from __future__ import annotations

from typing import Any

from ..causal import CausalContext
from ..flags import DWFlag, EWFlag
from ._wire import Decoder, ReplicaTable, enc_bools, enc_dotfun, enc_dotset, register_causal


def _enc_ew(store: Any, tb: ReplicaTable) -> Any:
    return enc_dotset(store, tb)


def _dec_ew(d: Decoder, x: Any, ctx: CausalContext, path: str) -> Any:
    return d.dotset(x, ctx, path)


def _enc_dw(store: Any, tb: ReplicaTable) -> Any:
    return enc_dotfun(store, tb, enc_bools)


def _dec_dw(d: Decoder, x: Any, ctx: CausalContext, path: str) -> Any:
    return d.dotfun(x, ctx, path, "bools")


register_causal(EWFlag, 10, encode_store=_enc_ew, decode_store=_dec_ew, _builtin=True)
register_causal(DWFlag, 11, encode_store=_enc_dw, decode_store=_dec_dw, _builtin=True)
