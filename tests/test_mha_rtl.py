"""The MHA layer on Verilator, bit-exact against the golden model.

Heads 1..8 (time-multiplexed when there are more heads than attention cores), odd d and N,
attn_shift 0..3, every LIF option, membrane saturation, dense and sparse spikes, and two
``[hw]`` settings for the same layer giving the same bits. Each configuration is built once.
"""
import numpy as np
import pytest

from spikestack.config import HwConfig, LayerConfig, LifConfig
from spikestack.hw.layers.mha import MhaPlan
from spikestack.sim.layers import mha_intermediates
from spikestack.sim.tensors import random_case

from layer_checks import bit_exact_runs, default_within_ideal, same_bits_other_cycles

POPS = ("q", "k", "v", "attn", "o")


def mha(t, n, d, heads, shift, hw, lifs, v_bits=16, w_bits=8, b_bits=16):
    return LayerConfig(kind="mha", t=t, n=n, d=d, heads=heads, attn_shift=shift, w_bits=w_bits, b_bits=b_bits,
                       v_bits=v_bits, lif={p: LifConfig(*lifs[p], p) for p in POPS}, hw=hw)


def lifs(q=(24, 3, "hard"), k=(24, 3, "hard"), v=(24, 3, "hard"), attn=(2, 2, "hard"), o=(24, 3, "hard")):
    return dict(q=q, k=k, v=v, attn=attn, o=o)


LAYER_B = dict(t=3, n=5, d=12, heads=3, shift=1,
               lifs=lifs(q=(20, 0, "soft"), k=(30, 1, "hard"), v=(16, 2, "soft"), attn=(2, 0, "soft"), o=(25, 3, "hard")))
CONFIGS = {
    "h1_odd_shift0": mha(3, 3, 5, 1, 0, HwConfig(rows=1, cols=3, cores=1), lifs(attn=(1, 1, "hard"))),
    "h3_rounds_shift1": mha(2, 5, 9, 3, 1, HwConfig(rows=2, cols=3, cores=2), lifs(attn=(2, 3, "soft"), o=(12, 1, "soft"))),
    "h8_tiled_shift3_soft": mha(3, 8, 16, 8, 3, HwConfig(rows=2, cols=2, cores=4),
                                lifs(q=(15, 0, "soft"), k=(15, 0, "soft"), v=(15, 0, "soft"), attn=(1, 0, "soft"),
                                     o=(15, 0, "soft"))),
    "h2_saturating_shift2": mha(4, 7, 10, 2, 2, HwConfig(rows=2, cols=4, cores=3),
                                lifs(q=(9, 1, "hard"), k=(11, 2, "soft"), v=(7, 1, "hard"), attn=(2, 1, "hard"),
                                     o=(10, 2, "soft")), v_bits=6, w_bits=6, b_bits=5),
    "layer_b_hw1": mha(**LAYER_B, hw=HwConfig(rows=2, cols=3, cores=2)),
    "layer_b_hw2_dense": mha(**LAYER_B, hw=HwConfig(rows=4, cols=4, cores=4, event_driven=False)),
    # drained 1 of 9 lanes a cycle, 3 of 15 with two tiles; biases through the weight port (issue 21):
    # 3 of 9 lanes a word, 5 of 15
    "bias_r1_odd": mha(2, 4, 9, 3, 1, HwConfig(rows=3, cols=3, cores=2, result_lanes=1), lifs(o=(10, 2, "soft"))),
    "bias_r3_tiles": mha(3, 5, 20, 4, 2, HwConfig(rows=3, cols=5, cores=3, result_lanes=4), lifs()),
    "fire_pe_r2": mha(2, 5, 9, 3, 1, HwConfig(rows=2, cols=3, cores=2, result_lanes=2, fire="pe"),
                      lifs(attn=(2, 3, "soft"), o=(12, 1, "soft"))),
    # issue 42: 4-bit biases wider than a 1x1 core's 3-bit weight word: two words a bias
    "narrow_w3_b4_1x1": mha(2, 3, 4, 2, 1, HwConfig(rows=1, cols=1, cores=1),
                            lifs(q=(4, 1, "soft"), k=(4, 1, "hard"), v=(4, 0, "soft"), attn=(1, 1, "hard"),
                                 o=(4, 1, "soft")), v_bits=8, w_bits=3, b_bits=4),
}


def cases(cfg, seed):
    out = [random_case(cfg, seed=seed + i, rate=r) for i, r in enumerate((0.05, 0.3, 0.7))]
    s, w = random_case(cfg, seed=seed + 9)
    out.append((np.zeros_like(s), w))
    out.append((np.ones_like(s), w))
    return out


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_mha_bit_exact(name):
    cfg = CONFIGS[name]
    seed = sum(map(ord, name))
    plan = MhaPlan(cfg)
    attn_any = False
    for i, spikes, tensors, cycles in bit_exact_runs(cfg, cases(cfg, seed), name):
        work = plan.stage_work(spikes, tensors)
        assert cycles >= (work["qkv_events"] + work["o_events"]) / plan.cores + work["attention_cycles"]
        assert cycles <= plan.dense_cycles()
        mid = mha_intermediates(cfg, spikes, *(tensors[k] for k in ("wq", "wk", "wv", "wo", "bq", "bk", "bv", "bo")))
        attn_any |= bool(mid["attn_spikes"].any())
    assert attn_any, "no case exercised the attention spikes"


@pytest.mark.slow          # each of the two configurations is bit-exact with the golden model in the default suite
def test_hw_settings_same_bits():
    a, b = CONFIGS["layer_b_hw1"], CONFIGS["layer_b_hw2_dense"]
    same_bits_other_cycles(a, b, cases(a, 11)[:3])


@pytest.mark.slow
def test_default_mha_within_ideal(root):
    """The default configuration: bit-exact and within 2x of the ideal cycles."""
    default_within_ideal(root / "configs" / "mha_default.toml", 2)
