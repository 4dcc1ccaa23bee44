"""The host-side protocol of a layer top: what a bench loads into its buffers, how it reads the
result back, and the work of an input (synaptic operations, ideal cycles). Every layer kind has a
plan (:class:`~spikestack.hw.layers.linear.LinearPlan`, :class:`~spikestack.hw.layers.moe.MoePlan`,
:class:`~spikestack.hw.layers.mha.MhaPlan`), carried by its :class:`~spikestack.hw.layers.graph.Design`."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ...config import LayerConfig

__all__ = ["Plan"]


@runtime_checkable
class Plan(Protocol):
    """Attributes
    ----------
    cfg: the layer's configuration.
    readout: the host read port of the buffer that holds the result.
    counters: the hardware counters the top exports (busy cycles per core, per phase), by port name.
    """
    cfg: LayerConfig
    readout: str
    counters: list[str]

    def images(self, spikes: np.ndarray, tensors: dict) -> dict[str, list[int]]:
        """Buffer contents for one run: ``{host write port: words from address 0}``."""

    def readout_depth(self) -> int:
        """Words to read from :attr:`readout`."""

    def decode(self, words: list[int]) -> np.ndarray:
        """The words read back -> output spikes ``(T, N, D_out)``."""

    def dense_cycles(self) -> int:
        """A bound on the cycles of any input (for time-outs)."""

    def sops(self, spikes: np.ndarray, tensors: dict) -> int:
        """Synaptic operations of one input (from the golden model), as the benchmarks count them."""

    def ideal_cycles(self, spikes: np.ndarray | None = None, tensors: dict | None = None) -> float:
        """The operations / the PEs; without an input, every row dense."""
