"""Golden model of elastic experts (issue 24, after ELMoE-3D): bit-sliced weights and draft runs.

A ``w_bits`` two's-complement weight is stored as ``S`` slices of ``b = w_bits / S`` bits, slice 0
the most significant: ``slice_i = (w mod 2^w_bits) >> (w_bits - (i+1) b)  mod 2^b``. Full precision
joins all S slices, which gives back w exactly.

A draft run reads the top ``u`` slices only (``elastic.draft_slices``); the ``r = (S - u) b`` bits
it does not read take a constant value (``elastic.rounding``):

* ``truncate``: zeros, ``w_d = (w >> r) << r`` (arithmetic shift; the floor to a multiple of 2^r),
* ``midpoint``: a one then zeros, ``w_d = ((w >> r) << r) + 2^(r-1)`` (r > 0): the middle of the
  interval of weights sharing the kept slices, so the draft error is centred on zero.

Both stay within w_bits, so every accumulator of the full layer holds the draft sums too. A draft run
routes each token to its top ``elastic.k_draft`` experts (same router weights and scores, same tie
rule) and runs them on the draft weights ``w1, w2``; the router weights and biases stay exact.
"""
from __future__ import annotations

import numpy as np

from ..config import LayerConfig, run_precision

__all__ = ["weight_slices", "join_slices", "draft_weights", "run_tensors"]


def weight_slices(w: np.ndarray, w_bits: int, slices: int) -> np.ndarray:
    """``(S, *w.shape)`` unsigned slice values, slice 0 the most significant."""
    b = w_bits // slices
    u = np.asarray(w, dtype=np.int64) & ((1 << w_bits) - 1)
    shifts = np.array([w_bits - (i + 1) * b for i in range(slices)], dtype=np.int64)
    return (u[None] >> shifts.reshape((-1,) + (1,) * u.ndim)) & ((1 << b) - 1)


def join_slices(sl: np.ndarray, w_bits: int, used: int | None = None, rounding: str = "truncate") -> np.ndarray:
    """Signed weights from the top ``used`` slices of ``sl`` (all when None), the rest filled as
    ``rounding`` says (the hardware's view; :func:`draft_weights` is the same in arithmetic)."""
    S = sl.shape[0]
    used = S if used is None else used
    b = w_bits // S
    u = np.zeros(sl.shape[1:], dtype=np.int64)
    for i in range(used):
        u |= sl[i].astype(np.int64) << (w_bits - (i + 1) * b)
    r = (S - used) * b
    if r and rounding == "midpoint":
        u |= 1 << (r - 1)
    return np.where(u >= 1 << (w_bits - 1), u - (1 << w_bits), u)


def draft_weights(w: np.ndarray, w_bits: int, slices: int, used: int, rounding: str) -> np.ndarray:
    """The weights a draft run computes with (module docstring)."""
    r = (slices - used) * (w_bits // slices)
    d = (np.asarray(w, dtype=np.int64) >> r) << r
    return d + (1 << (r - 1)) if r and rounding == "midpoint" else d


def run_tensors(cfg: LayerConfig, tensors: dict, precision: str | None = None) -> tuple[int, dict]:
    """``(k, tensors)`` a MoE run computes with in ``precision`` (default: the configuration's)."""
    if run_precision(cfg, precision) == "full":
        return cfg.top_k, tensors
    e = cfg.elastic
    out = dict(tensors)
    for name in ("w1", "w2"):
        out[name] = draft_weights(tensors[name], cfg.w_bits, cfg.hw.weight_slices, e.draft_slices, e.rounding)
    return e.k_draft, out
