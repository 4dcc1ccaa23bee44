"""The MoE layer on Verilator, bit-exact against the golden model.

Each configuration is built once and runs several random cases plus constructed ones: router
ties (equal router-weight columns, all-zero spikes: every score equal), all tokens routed to one
expert (load imbalance), dense and sparse spikes. Odd sizes, top-1/2/3, 3..8 experts, every LIF
option, membrane saturation, and two different ``[hw]`` settings for the same layer.
"""
import numpy as np
import pytest

from spikestack.config import ConfigError, HwConfig, LayerConfig, LifConfig
from spikestack.hw.layers import design_for
from spikestack.hw.layers.moe import MoePlan
from spikestack.sim.layers import router_scores, top_k_mask
from spikestack.sim.tensors import random_case

from layer_checks import bit_exact_runs, default_within_ideal, same_bits_other_cycles


def moe(t, n, d, dh, experts, k, hw, hidden=(24, 3, "hard"), out=(24, 3, "hard"), v_bits=16, w_bits=8, b_bits=16):
    return LayerConfig(kind="moe", t=t, n=n, d=d, dh=dh, experts=experts, top_k=k, w_bits=w_bits, b_bits=b_bits,
                       v_bits=v_bits, lif={"hidden": LifConfig(*hidden, "hidden"), "out": LifConfig(*out, "out")},
                       hw=hw)


LAYER_A = dict(t=3, n=6, d=9, dh=13, experts=5, k=2, hidden=(30, 2, "soft"), out=(20, 0, "hard"))
CONFIGS = {
    "odd_top2_e3": moe(2, 5, 7, 11, 3, 2, HwConfig(rows=2, cols=3, cores=2, glb_share=2)),
    "top1_e8_soft_noleak": moe(3, 6, 9, 5, 8, 1, HwConfig(rows=2, cols=2, cores=4, glb_share=2),
                               hidden=(20, 0, "soft"), out=(15, 1, "soft")),
    "top3_e5_saturating": moe(4, 5, 6, 7, 5, 3, HwConfig(rows=1, cols=4, cores=3, glb_share=1, router_events=1),
                              hidden=(9, 1, "hard"), out=(12, 2, "soft"), v_bits=6, w_bits=6, b_bits=5),
    "layer_a_hw1": moe(**LAYER_A, hw=HwConfig(rows=2, cols=3, cores=2, glb_share=2)),
    "layer_a_hw2_dense": moe(**LAYER_A, hw=HwConfig(rows=3, cols=5, cores=5, glb_share=1, event_driven=False)),
    # 20-bit biases over a 32-bit weight word: one bias a word, four words a tile (issue 21)
    "e4_wide_out_tiles": moe(2, 4, 11, 6, 4, 2, HwConfig(rows=2, cols=2, cores=4, glb_share=2),
                             hidden=(16, 3, "hard"), out=(10, 3, "soft"), b_bits=20),
    # result drain of result_lanes (issue 21): one lane a cycle over an odd array
    # (15 words a row), 2 of 6 (3 words) with output tiles, 5 -> 4 of 12 lanes dense
    "drain_r1_odd": moe(2, 5, 7, 11, 3, 2, HwConfig(rows=3, cols=5, cores=2, glb_share=2, result_lanes=1)),
    "drain_r2_tiles": moe(3, 4, 13, 7, 4, 2, HwConfig(rows=2, cols=3, cores=3, glb_share=2, result_lanes=2),
                          hidden=(12, 1, "soft"), out=(9, 0, "hard")),
    "drain_r4_dense": moe(2, 3, 9, 14, 3, 3, HwConfig(rows=3, cols=4, cores=2, glb_share=1, result_lanes=5,
                                                      event_driven=False)),
    # the paper's PE, a LIF neuron in every PE (hw.fire = "pe"; the others fire in the drain):
    # saturating membranes, and an odd array drained two lanes a cycle
    "fire_pe_saturating": moe(4, 5, 6, 7, 5, 3, HwConfig(rows=1, cols=4, cores=3, glb_share=1, fire="pe"),
                              hidden=(9, 1, "hard"), out=(12, 2, "soft"), v_bits=6, w_bits=6, b_bits=5),
    "fire_pe_r2_odd": moe(3, 4, 13, 7, 4, 2, HwConfig(rows=3, cols=3, cores=3, glb_share=2, result_lanes=3, fire="pe"),
                          hidden=(12, 1, "soft"), out=(9, 0, "hard")),
    # issue 42: the dispatcher holding 2 and 3 tokens (a later token's job passes a waiting one)
    "window2_odd": moe(2, 5, 7, 11, 3, 2, HwConfig(rows=2, cols=3, cores=2, glb_share=1, dispatch_window=2)),
    "window3_top1_e8": moe(3, 6, 9, 5, 8, 1, HwConfig(rows=2, cols=2, cores=4, glb_share=2, dispatch_window=3),
                           hidden=(20, 0, "soft"), out=(15, 1, "soft")),
    # issue 42: a bias wider than a weight word's top slice, loaded over several words: 3-bit
    # weights and 4-bit biases on one 1x1 core (2 words a bias), and 12-bit biases over the 4-bit
    # top slice of a 1x2 array of 2-slice weights (3 words a bias)
    "narrow_w3_b4_1x1": moe(2, 5, 7, 3, 3, 2, HwConfig(rows=1, cols=1, cores=1), hidden=(3, 1, "soft"),
                            out=(2, 0, "hard"), v_bits=7, w_bits=3, b_bits=4),
    # issue 42: the router taking 3 events a cycle (its dense walk: tests/test_units.py), one weight GLB of 3 cores
    "router3_shared_odd": moe(3, 5, 7, 9, 4, 2, HwConfig(rows=2, cols=3, cores=3, glb_share=3, router_events=3,
                                                         result_lanes=3)),
    "narrow_sliced_b12": moe(2, 3, 5, 3, 3, 1, HwConfig(rows=1, cols=2, cores=2, glb_share=1, weight_slices=2),
                             hidden=(6, 1, "hard"), out=(5, 2, "soft"), v_bits=14, w_bits=4, b_bits=12),
}


def constructed(cfg, seed):
    """Random cases plus router ties and load imbalance."""
    out = [random_case(cfg, seed=seed + i, rate=r) for i, r in enumerate((0.1, 0.3, 0.6))]
    s, w = random_case(cfg, seed=seed + 7)
    tie = dict(w)
    tie["wr"] = np.repeat(w["wr"][:, :1], cfg.experts, axis=1)          # every score equal
    out.append((s, tie))
    pair = dict(w)
    pair["wr"] = w["wr"].copy()
    pair["wr"][:, 1::2] = pair["wr"][:, 0::2][:, :pair["wr"][:, 1::2].shape[1]]   # pairwise ties
    out.append((s, pair))
    out.append((np.zeros_like(s), w))                                       # no spike: all scores 0
    skew = dict(w)
    top = (1 << (cfg.w_bits - 1)) - 1                                      # router weights within w_bits
    skew["wr"] = np.full_like(w["wr"], -min(3, top))
    skew["wr"][:, cfg.experts - 1] = min(5, top)                                     # every token to the last expert
    out.append((random_case(cfg, seed=seed + 8, rate=0.4)[0], skew))
    out.append((np.ones_like(s), w))                                        # every spike
    return out


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_moe_bit_exact(name):
    cfg = CONFIGS[name]
    seed = sum(map(ord, name))
    runs = constructed(cfg, seed)
    plan = MoePlan(cfg)
    for i, spikes, tensors, cycles in bit_exact_runs(cfg, runs, name):
        work = plan.work(spikes, tensors)
        # the busiest group's core cycles shared by its cores bound the run from below
        per_group = [sum(work["core_cycles"][e] for e in range(g, cfg.experts, plan.groups)) / len(plan.members_of[g])
                     for g in range(plan.groups)]
        assert cycles >= max(per_group), f"{name} case {i}: {cycles} cycles below the work"
        assert cycles <= plan.dense_cycles()
    # the constructed cases did what they claim
    tie_mask = top_k_mask(router_scores(*[runs[3][0], runs[3][1]["wr"]]), cfg.top_k)
    assert (tie_mask[:, :cfg.top_k]).all()
    skew_mask = top_k_mask(router_scores(runs[6][0], runs[6][1]["wr"]), cfg.top_k)
    assert skew_mask[:, cfg.experts - 1].all()


def test_result_lanes():
    """result_lanes: the largest divisor of rows*cols not above it; the drain words it makes
    (groups per tile), the narrow result word, and a refused 0."""
    hw = HwConfig(rows=3, cols=5, result_lanes=4)
    assert (hw.drain_lanes, hw.drain_groups) == (3, 5)
    assert (HwConfig(rows=8, cols=8).drain_lanes, HwConfig(rows=1, cols=3, result_lanes=64).drain_lanes) == (8, 3)
    with pytest.raises(ConfigError, match="hw.result_lanes"):
        HwConfig(result_lanes=0)
    plan = MoePlan(CONFIGS["drain_r2_tiles"])
    assert plan.job.result_layout["currents"].shape.length == 2 and plan.job.groups == 3


def test_biases_through_the_weight_port():
    """Biases live after the weights in the weight GLB, as many a word as fit its top slice (the
    largest divisor of the lanes); a bias wider than the slice takes several words (issue 42)."""
    plan = MoePlan(CONFIGS["drain_r2_tiles"])                 # 6 lanes x 8 bits: 3 biases of 16 a word
    assert (plan.bias_lanes, plan.bias_words, plan.job.core.bias_groups) == (3, 2, 2)
    assert plan.weights[0].depth == plan.b_word0 + plan.job.core.b_depth * 2
    assert not any(name.startswith("bias_glb") for name in design_for(CONFIGS["drain_r2_tiles"]).blocks)
    assert MoePlan(CONFIGS["e4_wide_out_tiles"]).bias_words == 4
    one = MoePlan(moe(2, 3, 4, 5, 2, 1, HwConfig(rows=1, cols=1)))          # 16-bit biases, 8-bit words
    assert (one.bias_lanes, one.bias_parts, one.bias_words, one.job.core.bias_groups) == (1, 2, 2, 2)
    narrow = MoePlan(CONFIGS["narrow_w3_b4_1x1"])
    assert (narrow.bias_lanes, narrow.bias_parts, narrow.bias_words) == (1, 2, 2)
    sliced = MoePlan(CONFIGS["narrow_sliced_b12"])                          # 2 lanes x 2 top bits
    assert (sliced.bias_lanes, sliced.bias_parts, sliced.bias_words) == (1, 3, 6)


def test_dispatch_window_config():
    """hw.dispatch_window: validated once (one line naming it), written back only when not 1, and the
    dispatcher it builds holds that many token registers."""
    from spikestack.config import dump_config, parse_config
    import tomllib
    with pytest.raises(ConfigError, match=r"^hw.dispatch_window"):
        HwConfig(dispatch_window=0)
    cfg = CONFIGS["window2_odd"]
    assert parse_config(tomllib.loads(dump_config(cfg))) == cfg
    assert "dispatch_window" not in dump_config(CONFIGS["odd_top2_e3"])
    design = design_for(cfg)
    assert design.blocks["dispatcher"].build().window == 2


def test_router_events_config():
    """hw.router_events: validated once (one line naming it), written back only when not 2, and a
    router-weight read port for each event of a cycle."""
    from spikestack.config import dump_config, parse_config
    import tomllib
    with pytest.raises(ConfigError, match=r"^hw.router_events"):
        HwConfig(router_events=0)
    cfg = CONFIGS["router3_shared_odd"]
    assert parse_config(tomllib.loads(dump_config(cfg))) == cfg
    assert "router_events" not in dump_config(CONFIGS["odd_top2_e3"])
    assert MoePlan(cfg).router_w.read_ports == 3 and MoePlan(cfg).router.lanes == 3
    router = design_for(cfg).blocks["router"].build()
    assert hasattr(router, "wr_rd2") and not hasattr(router, "wr_rd3")


def test_result_lanes_same_bits():
    """The same layer drained 1 and 5 lanes a cycle: the same bits, other cycles."""
    a = CONFIGS["drain_r1_odd"]
    b = a.replace(hw=HwConfig(rows=3, cols=5, cores=2, glb_share=2, result_lanes=5))
    same_bits_other_cycles(a, b, constructed(a, 11)[:3])


@pytest.mark.slow          # layer_a_hw1 is bit-exact in the default suite, layer_a_hw2_dense in make test-slow
def test_hw_settings_same_bits():
    """Two [hw] settings of the same layer give the same bits (and different cycles)."""
    a, b = CONFIGS["layer_a_hw1"], CONFIGS["layer_a_hw2_dense"]
    same_bits_other_cycles(a, b, constructed(a, 5)[:3])


@pytest.mark.slow
def test_default_moe_within_ideal(root):
    """The default configuration: bit-exact and within 1.10x of the ideal cycles (issue 42)."""
    default_within_ideal(root / "configs" / "moe_default.toml", 1.10)


def test_scaling_phases_from_a_vcd(tmp_path):
    """bench/scaling.vcd_phases: a core's cycles between start and done by what its encoder does."""
    from spikestack.bench.scaling import PHASES, vcd_phases
    names = ["start", "done", "clk"] + [f"expert_core_0.core.{s}" for s in ("encoder.events__valid", "bias_load",
                                                                           "encoder.stall")]
    head = ["$scope module spikestack_moe $end"]
    for i, n in enumerate(names):
        *path, leaf = n.split(".")
        head += [f"$scope module {p} $end" for p in path] + [f"$var wire 1 {chr(33 + i)} {leaf} $end"]
        head += ["$upscope $end"] * len(path)
    head += ["$upscope $end", "$enddefinitions $end"]
    # cycles 0..7 from start to done: idle, bias, event, event, held, event, idle, idle (done)
    per_cycle = [(1, 0, 0, 0, 0), (0, 0, 0, 1, 1), (0, 0, 1, 0, 0), (0, 0, 1, 0, 0), (0, 0, 0, 0, 1),
                 (0, 0, 1, 0, 0), (0, 0, 0, 0, 0), (0, 1, 0, 0, 0)]
    body = []
    for t, (start, done, ev, bias, stall) in enumerate(per_cycle):
        body += [f"#{2 * t}", "0#"] + [f"{v}{chr(33 + i)}" for i, v in
                                       zip((0, 1, 3, 4, 5), (start, done, ev, bias, stall))]
        body += [f"#{2 * t + 1}", "1#"]
    (tmp_path / "d.vcd").write_text("\n".join(head + body) + "\n")
    got = vcd_phases(tmp_path / "d.vcd", 1)
    assert list(got) == list(PHASES)
    assert [got[k] for k in PHASES] == [3, 2, 0, 1, 2]
