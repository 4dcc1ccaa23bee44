"""The spiking linear layer on Verilator, bit-exact against the golden model.

Each configuration is built once; several random cases (sparse, default, dense, all-zero,
all-one spikes) run in one simulation. Odd sizes, layers wider than the array (tiling), both
reset modes, leak on and off, membrane saturation and the dense (non event-driven) schedule.
"""
import numpy as np
import pytest

from spikestack.config import HwConfig, LayerConfig, LifConfig, load_config
from spikestack.hw.layers.linear import LinearPlan
from spikestack.sim.layers import linear_layer
from spikestack.sim.tensors import random_case
from spikestack.tb.harness import build, compare, simulate

from layer_checks import bit_exact_runs


def linear(t, n, d, d_out, rows, cols, th=64, k=3, reset="hard", v_bits=16, w_bits=8, b_bits=16, dense=False):
    return LayerConfig(kind="linear", t=t, n=n, d=d, d_out=d_out, w_bits=w_bits, b_bits=b_bits, v_bits=v_bits,
                       lif={"out": LifConfig(th, k, reset, "out")},
                       hw=HwConfig(rows=rows, cols=cols, cores=1, event_driven=not dense))


CONFIGS = {
    "odd_tiled_hard_leak": linear(3, 5, 7, 11, 2, 3, th=40, k=3),
    "partial_tile_soft_noleak": linear(4, 3, 13, 5, 3, 3, th=50, k=0, reset="soft"),
    "saturating_soft": linear(6, 4, 9, 7, 1, 4, th=20, k=1, reset="soft", v_bits=6),
    "saturating_hard_narrow": linear(5, 3, 11, 6, 2, 2, th=9, k=2, reset="hard", v_bits=5, w_bits=6, b_bits=4),
    "dense_schedule": linear(2, 3, 16, 16, 4, 4, th=64, k=2, dense=True),
    "single_neuron": linear(3, 1, 1, 1, 1, 1, th=3, k=1),
}


def cases(cfg, seed):
    out = [random_case(cfg, seed=seed + i, rate=r) for i, r in enumerate((0.05, 0.2, 0.5, 0.9))]
    s, w = random_case(cfg, seed=seed + 9)
    out.append((np.zeros_like(s), w))          # no spike at all: bias only
    out.append((np.ones_like(s), w))           # every spike
    return out


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_linear_bit_exact(name):
    cfg = CONFIGS[name]
    seed = sum(map(ord, name))
    plan = LinearPlan(cfg)
    for i, spikes, tensors, cycles in bit_exact_runs(cfg, cases(cfg, seed), f"{name} (seed {seed})"):
        # cycle model: one cycle per spike (or per input when dense), at least one per row, per tile
        per_row = (spikes.sum(axis=2).clip(min=1) if cfg.hw.event_driven
                   else np.full(spikes.shape[:2], cfg.d))
        work = plan.tiles * int(per_row.sum())
        assert work <= cycles <= work + 16, f"{name} case {i}: {cycles} cycles for {work} events"


@pytest.mark.slow
def test_default_linear_bit_exact(root):
    cfg = load_config(root / "configs" / "linear_default.toml")
    runs = [random_case(cfg, seed=s) for s in range(3)]
    for (s, w), (got, cycles) in zip(runs, simulate(build(cfg), runs)):
        assert compare(linear_layer(cfg, s, w["w"], w["b"]), got) is None
        assert cycles < 1.2 * (s.sum(axis=2).clip(min=1).sum() * LinearPlan(cfg).tiles) + 16
