"""Golden model of a LIF population (SPEC.md), vectorised over neurons, int64 throughout.

For each neuron, V starts at 0, and for t = 0..T-1::

    L    = V - (V >> k)          (k >= 1; L = V when k = 0, integrate-and-fire)
    H    = sat(L + I[t])         (saturate to v_bits signed)
    S[t] = H >= threshold
    V    = (0 if hard else H - threshold) if S[t] else H
"""
from __future__ import annotations

import numpy as np

from ..config import LifConfig

__all__ = ["saturate", "leak", "lif_step", "lif_population"]


def saturate(x: np.ndarray, v_bits: int) -> np.ndarray:
    """Clip to the signed ``v_bits`` range."""
    return np.clip(x, -(1 << (v_bits - 1)), (1 << (v_bits - 1)) - 1)


def leak(v: np.ndarray, leak_shift: int) -> np.ndarray:
    """``L = V - (V >> k)`` with an arithmetic (floor) shift; identity when ``k == 0``."""
    return v - (v >> leak_shift) if leak_shift else v


def lif_step(v: np.ndarray, current: np.ndarray, cfg: LifConfig, v_bits: int):
    """One timestep of a population: ``(v, I[t]) -> (spikes uint8, v_next)``."""
    h = saturate(leak(v, cfg.leak_shift) + current, v_bits)
    s = h >= cfg.threshold
    v_next = np.where(s, 0 if cfg.reset == "hard" else h - cfg.threshold, h)
    return s.astype(np.uint8), v_next


def lif_population(current: np.ndarray, cfg: LifConfig, v_bits: int) -> np.ndarray:
    """Spikes ``(T, ...)`` uint8 of a population driven by exact integer currents ``(T, ...)``."""
    current = np.asarray(current, dtype=np.int64)
    v = np.zeros(current.shape[1:], dtype=np.int64)
    out = np.empty(current.shape, dtype=np.uint8)
    for t in range(current.shape[0]):      # timesteps are sequential by definition
        out[t], v = lif_step(v, current[t], cfg, v_bits)
    return out
