"""Golden model of the stochastic spiking attention (SSA) mode (``[attention] mode = "ssa"``).

Xpikeformer's SSA engine (arXiv 2408.08794; docs/ssa.md) per head and
timestep, with Q, K, V the spikes of the projections' LIF populations::

    c[n, m]   = popcount(Q[n] & K[m])                  AND gates + a counter, 0 .. d
    S[n, m]   = r_a[m] < thr_d[c[n, m]]                 Bernoulli(~ c / d): the attention score spike
    o[n, i]   = sum over m of S[n, m] & V[m, i]          AND gates + a counter, 0 .. N
    out[n, i] = r_o[i] < thr_N[o[n, i]]                 Bernoulli(~ o / N): the attention output spike

No softmax, no multiplier, no membrane. ``thr_D[c] = ceil(c * 2**w / D)`` (a constant table:
``r < thr_D[c]`` is exactly ``r * D < c * 2**w``), so with ``r`` uniform on ``1 .. 2**w - 1`` a
spike has probability ``(thr_D[c] - 1) / (2**w - 1)``, within ``1 / 2**w`` of ``c / D``;
``c = 0`` never spikes, ``c = D`` always does.

The random numbers come from Galois LFSRs (``AttentionConfig``: width, taps, base seed). Every
head has N "score" LFSRs (one per key m) and d "output" LFSRs (one per output lane i). A head's
LFSRs start at their own seeds (:func:`lfsr_seeds`) at its first query row and step once per row,
rows in the order ``j = n * T + t``: row j uses the j-th state (the seed is state 0). This is what
the hardware does whatever ``[hw] cores`` is, so the result does not depend on the schedule.
"""
from __future__ import annotations

import numpy as np

from ..config import AttentionConfig, LayerConfig

__all__ = ["lfsr_seeds", "lfsr_states", "thresholds", "ssa_random", "ssa_attention"]

_M64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def lfsr_seeds(att: AttentionConfig, heads: int, n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Nonzero seeds ``(score (H, N), output (H, d))``: seed of (head h, bank b, lane k) is
    ``1 + splitmix64(seed << 32 | h << 17 | b << 16 | k) mod (2**w - 1)``."""
    period = (1 << att.lfsr_bits) - 1

    def one(h, b, k):
        return 1 + _splitmix64((att.seed << 32) | (h << 17) | (b << 16) | k) % period

    score = np.array([[one(h, 0, m) for m in range(n)] for h in range(heads)], dtype=np.int64)
    out = np.array([[one(h, 1, i) for i in range(d)] for h in range(heads)], dtype=np.int64)
    return score, out


def lfsr_states(att: AttentionConfig, seeds: np.ndarray, steps: int) -> np.ndarray:
    """States ``(steps, *seeds.shape)``: state 0 is the seed, then one Galois step (shift right,
    XOR the mask when the bit shifted out is 1) per row, all LFSRs at once."""
    seeds = np.asarray(seeds, dtype=np.int64)
    out = np.empty((steps,) + seeds.shape, dtype=np.int64)
    s = seeds.copy()
    for j in range(steps):              # a sequence: each state is the step of the one before
        out[j] = s
        s = (s >> 1) ^ (att.mask * (s & 1))
    return out


def thresholds(lfsr_bits: int, denominator: int) -> np.ndarray:
    """``thr[c] = ceil(c * 2**w / denominator)`` for ``c = 0 .. denominator``."""
    c = np.arange(denominator + 1, dtype=np.int64)
    return -((-c << lfsr_bits) // denominator)


def ssa_random(cfg: LayerConfig) -> tuple[np.ndarray, np.ndarray]:
    """The random numbers of every comparison: score ``r_a (T, H, N, M)`` (row n, key m) and
    output ``r_o (T, N, H, d)``."""
    att, T, N, H, dh = cfg.attention, cfg.t, cfg.n, cfg.heads, cfg.head_dim
    sa, so = lfsr_seeds(att, H, N, dh)
    ra = lfsr_states(att, sa, N * T).reshape(N, T, H, N).transpose(1, 2, 0, 3)
    ro = lfsr_states(att, so, N * T).reshape(N, T, H, dh).transpose(1, 0, 2, 3)
    return ra, ro


def ssa_attention(cfg: LayerConfig, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> dict:
    """SSA of spikes ``q, k, v (T, N, D)``: ``attn_map`` (T, H, N, M) counts, ``attn_scores``
    (T, H, N, M) score spikes, ``attn_current`` (T, N, D) output counts, ``attn_spikes`` (T, N, D)."""
    T, N, D = q.shape
    H, dh, w = cfg.heads, cfg.head_dim, cfg.attention.lfsr_bits
    qh, kh, vh = (np.asarray(x, dtype=np.int64).reshape(T, N, H, dh) for x in (q, k, v))
    ra, ro = ssa_random(cfg)
    a = np.einsum("tnhd,tmhd->thnm", qh, kh)                                  # AND + count, 0..d
    s = (ra < thresholds(w, dh)[a]).astype(np.int64)                          # score spikes
    o = np.einsum("thnm,tmhd->tnhd", s, vh)                                   # AND + count, 0..N
    out = (ro < thresholds(w, N)[o]).astype(np.uint8)
    return {"attn_map": a, "attn_scores": s.astype(np.uint8), "attn_current": o.reshape(T, N, D),
            "attn_spikes": out.reshape(T, N, D)}
