"""A network on the generated RTL: one generated top per layer, each fed the previous layer's spikes.

Every layer's top is built once (:func:`~spikestack.tb.harness.build`, cached by its Verilog) and
simulated once for all runs: the runs are the cases of one simulation, its weights loaded by the
bench for the first case only (``keep_loaded``), then only the input spikes are written per case.
The output spikes of layer i over all runs are the input cases of layer i+1. The chain of tops
costs one build per distinct layer and the host's spike transfer between layers (not counted in
the cycles: cycles are each top's start-to-done count, summed over the layers).
"""
from __future__ import annotations

import time

import numpy as np

from ..netconfig import NetworkConfig
from .harness import build, simulate_full

__all__ = ["run_network_rtl"]


def run_network_rtl(net: NetworkConfig, per_layer: list[dict], runs: list[np.ndarray],
                    simulator: str = "verilator", log=None) -> dict:
    """Runs ``(T, N, D_in)`` through every layer's top; returns ``{"layers": [outputs per run per
    layer], "cycles": (layers, runs) int array, "build_s": [...], "sim_s": [...]}``."""
    x = [np.asarray(r, dtype=np.uint8) for r in runs]
    layers, cycles, build_s, sim_s = [], [], [], []
    for (name, cfg), ts in zip(net.layers, per_layer):
        t0 = time.time()
        b = build(cfg, simulator=simulator)
        t1 = time.time()
        res = simulate_full(b, [(s, ts) for s in x], keep_loaded=True)
        t2 = time.time()
        x = [r["spikes"].astype(np.uint8) for r in res]
        layers.append(x)
        cycles.append([r["cycles"] for r in res])
        build_s.append(t1 - t0)
        sim_s.append(t2 - t1)
        if log:
            log(f"  {name} ({cfg.kind}): build {t1 - t0:.1f} s, {len(x)} runs simulated in {t2 - t1:.1f} s, "
                f"{int(np.mean(cycles[-1]))} cycles per run")
    return {"layers": layers, "cycles": np.array(cycles, dtype=np.int64), "build_s": build_s, "sim_s": sim_s}
