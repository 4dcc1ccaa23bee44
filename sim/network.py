"""Golden model of a network: the layers of a :class:`~spikestack.netconfig.NetworkConfig` in order,
each layer's output spikes the next one's input spikes (SPEC.md per layer)."""
from __future__ import annotations

import dataclasses

import numpy as np

from ..config import ConfigError
from ..netconfig import NetworkConfig, split_tensors
from .layers import run_golden
from .tensors import check_spikes, check_tensors

__all__ = ["check_network_tensors", "run_network_golden", "batch_tokens", "unbatch_tokens", "with_tokens"]


def with_tokens(net: NetworkConfig, n: int) -> NetworkConfig:
    """The same network for runs of ``n`` tokens."""
    return dataclasses.replace(net, n=n, layers=tuple((name, cfg.replace(n=n)) for name, cfg in net.layers))


def check_network_tensors(net: NetworkConfig, tensors: dict) -> list[dict]:
    """Validated per-layer tensors from ``{"<layer>.<tensor>": array}`` (errors name ``<layer>.<tensor>``)."""
    out = []
    for (name, cfg), ts in zip(net.layers, split_tensors(net, tensors)):
        try:
            out.append(check_tensors(cfg, ts))
        except ConfigError as e:
            raise ConfigError(f"weights.{name}.{e}") from None
    return out


def run_network_golden(net: NetworkConfig, spikes: np.ndarray, per_layer: list[dict]) -> list[np.ndarray]:
    """Output spikes of every layer (the last one is the network's output) for input ``(T, N, D)``."""
    x = check_spikes(net.layers[0][1], spikes)
    outs = []
    for (_, cfg), ts in zip(net.layers, per_layer):
        x = run_golden(cfg, x, ts)
        outs.append(x)
    return outs


def batch_tokens(samples: np.ndarray, n: int) -> list[np.ndarray]:
    """Samples ``(S, T, D)`` -> runs ``(T, n, D)``, one sample per token (the last run padded with
    zero spikes). Valid for chains of linear and MoE layers, whose tokens are independent."""
    S, T, D = samples.shape
    runs = []
    for i in range(0, S, n):
        chunk = np.zeros((n, T, D), dtype=np.uint8)
        part = samples[i:i + n]
        chunk[:len(part)] = part
        runs.append(chunk.transpose(1, 0, 2).copy())
    return runs


def unbatch_tokens(runs: list[np.ndarray], count: int) -> np.ndarray:
    """Inverse of :func:`batch_tokens`: runs ``(T, n, D)`` -> ``(count, T, D)``."""
    return np.concatenate([r.transpose(1, 0, 2) for r in runs], axis=0)[:count]
