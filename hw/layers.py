"""The layer tops by kind: ``design_for(cfg)`` returns the block graph of a configuration.

Every design carries a ``plan`` with the host-side protocol the benches and the command line use:
``images(spikes, tensors) -> {host port: words}``, ``readout`` (host read port),
``readout_depth()``, ``decode(words) -> spikes``, ``dense_cycles()`` and ``ideal_cycles()``.
"""
from __future__ import annotations

from ..config import ConfigError, LayerConfig
from .graph import Design

__all__ = ["design_for", "TOP_NAMES"]

TOP_NAMES = {"linear": "spikestack_linear", "moe": "spikestack_moe", "mha": "spikestack_mha"}


def design_for(cfg: LayerConfig) -> Design:
    """The block graph of a configuration's top."""
    import importlib
    module, fn = {"linear": ("linear", "linear_design"), "moe": ("moe", "moe_design"),
                  "mha": ("mha", "mha_design")}[cfg.kind]
    try:
        mod = importlib.import_module(f"{__package__}.{module}")
    except ModuleNotFoundError as e:
        if e.name != f"{__package__}.{module}":
            raise
        raise ConfigError(f"kind: no hardware for {cfg.kind!r} in this version") from None
    return getattr(mod, fn)(cfg)
