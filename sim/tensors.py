"""The tensors of a layer: their SPEC names and shapes, validation, and a seeded generator.

:func:`tensor_shapes` is the single table of what W.npz must hold for a configuration;
:func:`check_tensors` rejects a missing, misshapen or out-of-width tensor naming it;
:func:`random_case` makes reproducible weights and spikes (seed 0 for the defaults).
"""
from __future__ import annotations

import numpy as np

from ..config import ConfigError, LayerConfig

__all__ = ["tensor_shapes", "check_tensors", "check_spikes", "random_case"]


def tensor_shapes(cfg: LayerConfig) -> dict[str, tuple[tuple[int, ...], str]]:
    """``name -> (shape, 'w' | 'b')`` for every tensor the layer needs."""
    D = cfg.d
    if cfg.kind == "linear":
        return {"w": ((D, cfg.d_out), "w"), "b": ((cfg.d_out,), "b")}
    if cfg.kind == "moe":
        E, Dh = cfg.experts, cfg.dh
        return {"wr": ((D, E), "w"), "w1": ((E, D, Dh), "w"), "b1": ((E, Dh), "b"),
                "w2": ((E, Dh, D), "w"), "b2": ((E, D), "b")}
    if cfg.kind == "mha":
        shapes = {f"w{x}": ((D, D), "w") for x in "qkvo"}
        shapes.update({f"b{x}": ((D,), "b") for x in "qkvo"})
        return shapes
    raise ConfigError(f"kind: {cfg.kind!r}")


def _check_int_range(name: str, a: np.ndarray, bits: int, what: str):
    if not np.issubdtype(a.dtype, np.integer) and not np.issubdtype(a.dtype, np.bool_):
        if np.issubdtype(a.dtype, np.floating) and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
            a = a.astype(np.int64)
        else:
            raise ConfigError(f"{name}: expected integers, got dtype {a.dtype}")
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if a.size and (a.min() < lo or a.max() > hi):
        bad = a.min() if a.min() < lo else a.max()
        raise ConfigError(f"{name}: value {int(bad)} outside {what}={bits} range [{lo}, {hi}]")
    return a.astype(np.int64)


def check_tensors(cfg: LayerConfig, tensors) -> dict[str, np.ndarray]:
    """Validated int64 copies of the layer's tensors (extra names are an error too)."""
    out = {}
    shapes = tensor_shapes(cfg)
    for name, (shape, kind) in shapes.items():
        if name not in tensors:
            raise ConfigError(f"{name}: missing tensor (expected shape {shape})")
        a = np.asarray(tensors[name])
        if a.shape != shape:
            raise ConfigError(f"{name}: shape {a.shape}, expected {shape}")
        bits, what = (cfg.w_bits, "w_bits") if kind == "w" else (cfg.b_bits, "b_bits")
        out[name] = _check_int_range(name, a, bits, what)
    for name in tensors:
        if name not in shapes:
            raise ConfigError(f"{name}: unexpected tensor for kind {cfg.kind!r} "
                              f"(expected {', '.join(shapes)})")
    return out


def check_spikes(cfg: LayerConfig, spikes) -> np.ndarray:
    """Validated ``(T, N, D)`` uint8 spikes (values 0 or 1)."""
    a = np.asarray(spikes)
    shape = (cfg.t, cfg.n, cfg.d)
    if a.shape != shape:
        raise ConfigError(f"spikes: shape {a.shape}, expected (t, n, d) = {shape}")
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.bool_)
            or np.issubdtype(a.dtype, np.floating)):
        raise ConfigError(f"spikes: expected 0/1 integers, got dtype {a.dtype}")
    bad = ~np.isin(a, (0, 1))
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ConfigError(f"spikes: value {a[idx]!r} at {idx} is not 0 or 1")
    return a.astype(np.uint8)


def random_case(cfg: LayerConfig, seed: int = 0, rate: float = 0.2, w_scale: float = 1.0):
    """Seeded ``(spikes, tensors)``: Bernoulli(rate) spikes, uniform weights and biases.

    Weights span the full ``w_bits`` range times ``w_scale``; biases are drawn from a small
    range (a quarter of a typical threshold) so that neurons neither all fire nor all stay silent.
    """
    rng = np.random.default_rng(seed)
    spikes = (rng.random((cfg.t, cfg.n, cfg.d)) < rate).astype(np.uint8)
    tensors = {}
    wmax = max(1, int(((1 << (cfg.w_bits - 1)) - 1) * w_scale))
    bmax = min((1 << (cfg.b_bits - 1)) - 1, 16)
    for name, (shape, kind) in tensor_shapes(cfg).items():
        if kind == "w":
            tensors[name] = rng.integers(-wmax, wmax + 1, size=shape, dtype=np.int64)
        else:
            tensors[name] = rng.integers(-bmax, bmax + 1, size=shape, dtype=np.int64)
    return spikes, tensors
