"""The layer tops by kind: ``design_for(cfg)`` returns the block graph of a configuration.

Every design carries a ``plan``, the host-side protocol the benches and the command line use
(:class:`~spikestack.hw.layers.plan.Plan`: memory images, readout and decode, counters, synaptic
operations and ideal cycles).
"""
from __future__ import annotations

from ...config import LayerConfig
from .graph import Design
from .linear import linear_design
from .mha import mha_design
from .moe import moe_design

__all__ = ["design_for", "TOP_NAMES"]

TOP_NAMES = {"linear": "spikestack_linear", "moe": "spikestack_moe", "mha": "spikestack_mha"}


def design_for(cfg: LayerConfig) -> Design:
    """The block graph of a configuration's top."""
    return {"linear": linear_design, "moe": moe_design, "mha": mha_design}[cfg.kind](cfg)
