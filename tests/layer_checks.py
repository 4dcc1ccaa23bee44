"""The checks every layer kind's RTL tests share (linear, MoE, MHA): every case bit-exact with the
golden model, a layer under two ``[hw]`` settings, and the default configuration against its ideal
cycles."""
import numpy as np

from spikestack.config import LayerConfig, load_config
from spikestack.hw.layers import design_for
from spikestack.sim.layers import run_golden
from spikestack.sim.tensors import random_case
from spikestack.tb.harness import build, compare, simulate


def bit_exact_runs(cfg: LayerConfig, runs: list, name: str):
    """Simulate ``runs`` (``(spikes, tensors)`` pairs) on one build of ``cfg``'s RTL and assert every
    output bit equal to :func:`run_golden`'s; yields ``(i, spikes, tensors, cycles)`` for the kind's
    own checks. Once all are yielded: the outputs were neither all 0 nor all 1 (the cases mean
    something)."""
    results = simulate(build(cfg), runs)
    for i, ((spikes, tensors), (got, cycles)) in enumerate(zip(runs, results)):
        err = compare(run_golden(cfg, spikes, tensors), got)
        assert err is None, f"{name} case {i}: {err}"
        yield i, spikes, tensors, cycles
    outs = [r[0] for r in results]
    assert any(o.any() for o in outs) and not all(o.all() for o in outs), f"{name}: every output the same bit"


def same_bits_other_cycles(a: LayerConfig, b: LayerConfig, runs: list):
    """Two ``[hw]`` settings of the same layer give the same bits and different cycles."""
    ra, rb = simulate(build(a), runs), simulate(build(b), runs)
    for (ga, ca), (gb, cb) in zip(ra, rb):
        assert np.array_equal(ga, gb)
        assert ca != cb


def default_within_ideal(path, factor: float):
    """A configuration file's layer, two seeded inputs: bit-exact and within ``factor`` x the ideal
    cycles of its plan."""
    cfg = load_config(path)
    plan = design_for(cfg).plan
    runs = [random_case(cfg, seed=0, rate=0.2), random_case(cfg, seed=1, rate=0.2)]
    for (s, w), (got, cycles) in zip(runs, simulate(build(cfg), runs)):
        assert compare(run_golden(cfg, s, w), got) is None
        assert cycles <= factor * plan.ideal_cycles(s, w), (cycles, plan.ideal_cycles(s, w))
