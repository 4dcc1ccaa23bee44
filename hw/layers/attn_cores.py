"""The attention cores of an MHA layer graph: one block each, or two with ``[hw] attn_split``."""
from __future__ import annotations

from typing import Callable

from ..blocks.ssa import attention_core, attention_stages
from .graph import Design

__all__ = ["add_attention_core"]


def add_attention_core(d: Design, cfg, c: int, group: str = "attention_core") -> tuple[Callable[[str], str], str]:
    """Attention core ``c`` in ``d``: the block ``attention_core_<c>`` (in ``group``), or with
    ``[hw] attn_split`` its two stages, ``attention_score_<c>`` (group ``attention_score``: Q·Kᵀ
    and the score row's register) and ``attention_value_<c>`` (group ``attention_value``: A·V and the
    neurons), the score row wired from one to the other, so a stack can put them on two tiers.
    Returns ``(inp, out)``: ``inp(x)`` is the reference of the core's input member ``x`` (``q``,
    ``k``, ``valid``, ... at the score stage; ``v`` at the value stage), ``out`` that of its output."""
    if cfg.hw.attn_split == "off":
        core = f"attention_core_{c}"
        d.add(core, lambda: attention_core(cfg), role="logic", group=group)
        return (lambda x: f"{core}.inp.{x}"), f"{core}.out"
    score, value = attention_stages(cfg)
    s, v = f"attention_score_{c}", f"attention_value_{c}"
    d.add(s, score, role="logic", group="attention_score")
    d.add(v, value, role="logic", group="attention_value")
    d.wire(f"{s}.out", f"{v}.inp")
    return (lambda x: f"{v}.v" if x == "v" else f"{s}.inp.{x}"), f"{v}.out"
