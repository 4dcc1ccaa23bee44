"""The layer tops by kind: ``design_for(cfg)`` returns the block graph of a configuration.

Every design carries a ``plan`` with the host-side protocol the benches and the command line use:
``images(spikes, tensors) -> {host port: words}``, ``readout`` (host read port),
``readout_depth()``, ``decode(words) -> spikes``, ``dense_cycles()`` and ``ideal_cycles()``.
"""
from __future__ import annotations

from ..gen.config import LayerConfig
from .graph import Design

__all__ = ["design_for", "TOP_NAMES"]

TOP_NAMES = {"linear": "spikestack_linear", "moe": "spikestack_moe", "mha": "spikestack_mha"}


def design_for(cfg: LayerConfig) -> Design:
    if cfg.kind == "linear":
        from .linear import linear_design
        return linear_design(cfg)
    if cfg.kind == "moe":
        from .moe import moe_design
        return moe_design(cfg)
    if cfg.kind == "mha":
        from .mha import mha_design
        return mha_design(cfg)
    raise ValueError(f"kind: {cfg.kind!r}")
