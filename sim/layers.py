"""Golden models of the layers of SPEC.md: spiking linear, MoE and MHA (numpy, int64 inside).

Every function takes the validated :class:`LayerConfig`, the input spikes ``(T, N, D)`` and the
tensors by their SPEC names, and returns output spikes ``(T, N, D_out)`` as ``uint8``. The
intermediate results the hardware exposes for debugging (router scores, top-k mask, Q/K/V, ...)
come from the helpers below so that benches can compare them too.
"""
from __future__ import annotations

import numpy as np

from ..config import LayerConfig
from .elastic import run_tensors
from .lif import lif_population
from .ssa import ssa_attention

__all__ = ["synaptic", "linear_layer", "router_scores", "top_k_mask", "moe_layer",
           "moe_expert_currents", "mha_layer", "mha_intermediates", "run_golden"]


def synaptic(spikes: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Exact synaptic current ``S @ W (+ b)``: the sum of the weights where the spike is 1."""
    i = spikes.astype(np.int64) @ w.astype(np.int64)
    return i if b is None else i + b.astype(np.int64)


def linear_layer(cfg: LayerConfig, spikes, w, b) -> np.ndarray:
    """``S_out = LIF_out(S_in @ W + b)``."""
    return lif_population(synaptic(spikes, w, b), cfg.lif["out"], cfg.v_bits)


def router_scores(spikes, wr) -> np.ndarray:
    """``r[n, e] = sum_t sum_j S[t, n, j] * Wr[j, e]`` (exact), shape ``(N, E)``."""
    return spikes.astype(np.int64).sum(axis=0) @ wr.astype(np.int64)


def top_k_mask(scores: np.ndarray, k: int) -> np.ndarray:
    """Boolean ``(N, E)``: the k largest scores per token, the lower expert index winning ties."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    mask = np.zeros(scores.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=1)
    return mask


def moe_expert_currents(cfg: LayerConfig, spikes, w1, b1, w2, b2) -> np.ndarray:
    """Every expert's output current for every token, ``(E, T, N, D)`` (routing applied later)."""
    s = spikes.astype(np.int64)
    hidden_current = np.einsum("tnd,edh->etnh", s, w1.astype(np.int64)) + b1.astype(np.int64)[:, None, None, :]
    hidden = lif_population(hidden_current.transpose(1, 0, 2, 3), cfg.lif["hidden"], cfg.v_bits)  # (T,E,N,Dh)
    return (np.einsum("tenh,ehd->etnd", hidden.astype(np.int64), w2.astype(np.int64))
            + b2.astype(np.int64)[:, None, None, :])


def moe_layer(cfg: LayerConfig, spikes, wr, w1, b1, w2, b2, k: int | None = None) -> np.ndarray:
    """Router scores -> top-k -> experts -> merge (exact sum of the routed currents) -> LIF_out.
    ``k``: experts per token (default ``cfg.top_k``; a draft run's ``k_draft``)."""
    mask = top_k_mask(router_scores(spikes, wr), cfg.top_k if k is None else k)  # (N, E)
    currents = moe_expert_currents(cfg, spikes, w1, b1, w2, b2)                   # (E, T, N, D)
    merged = np.einsum("etnd,ne->tnd", currents, mask.astype(np.int64))
    return lif_population(merged, cfg.lif["out"], cfg.v_bits)


def mha_intermediates(cfg: LayerConfig, spikes, wq, wk, wv, wo, bq, bk, bv, bo) -> dict:
    """Q, K, V, attention current and attention spikes of SPEC's spiking self-attention."""
    T, N, D = spikes.shape
    H, dh = cfg.heads, cfg.head_dim
    q = lif_population(synaptic(spikes, wq, bq), cfg.lif["q"], cfg.v_bits)
    k = lif_population(synaptic(spikes, wk, bk), cfg.lif["k"], cfg.v_bits)
    v = lif_population(synaptic(spikes, wv, bv), cfg.lif["v"], cfg.v_bits)
    if cfg.attention.mode == "ssa":          # Xpikeformer's stochastic spiking attention (sim/ssa.py)
        return {"q": q, "k": k, "v": v, **ssa_attention(cfg, q, k, v)}
    qh, kh, vh = (x.astype(np.int64).reshape(T, N, H, dh) for x in (q, k, v))
    a = np.einsum("tnhd,tmhd->thnm", qh, kh)                                      # (T,H,N,N) counts
    o = np.einsum("thnm,tmhd->tnhd", a, vh)                                       # (T,N,H,d)
    i_attn = (o >> cfg.attn_shift).reshape(T, N, D)
    s_attn = lif_population(i_attn, cfg.lif["attn"], cfg.v_bits)
    return {"q": q, "k": k, "v": v, "attn_map": a, "attn_current": i_attn, "attn_spikes": s_attn}


def mha_layer(cfg: LayerConfig, spikes, wq, wk, wv, wo, bq, bk, bv, bo) -> np.ndarray:
    """Q/K/V -> per-head (Q K^T) V >> attn_shift -> LIF_attn -> heads merged -> LIF_o(. @ Wo + bo)."""
    s_attn = mha_intermediates(cfg, spikes, wq, wk, wv, wo, bq, bk, bv, bo)["attn_spikes"]
    return lif_population(synaptic(s_attn, wo, bo), cfg.lif["o"], cfg.v_bits)


def run_golden(cfg: LayerConfig, spikes: np.ndarray, tensors: dict, precision: str | None = None) -> np.ndarray:
    """Dispatch on ``cfg.kind`` with the tensors of SPEC.md by name; ``precision`` (MoE with an
    ``[elastic]`` table): ``full`` or ``draft`` (:mod:`.elastic`), default the configuration's."""
    if precision is not None and cfg.kind != "moe":
        run_tensors(cfg, tensors, precision)            # refuses draft without [elastic]
    if cfg.kind == "linear":
        return linear_layer(cfg, spikes, tensors["w"], tensors["b"])
    if cfg.kind == "moe":
        k, tensors = run_tensors(cfg, tensors, precision)
        return moe_layer(cfg, spikes, *(tensors[x] for x in ("wr", "w1", "b1", "w2", "b2")), k=k)
    if cfg.kind == "mha":
        return mha_layer(cfg, spikes, *(tensors[k] for k in ("wq", "wk", "wv", "wo", "bq", "bk", "bv", "bo")))
    raise ValueError(cfg.kind)
