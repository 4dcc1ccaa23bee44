"""The attention core as two blocks of the layer graph (``[hw] attn_split``, issue 43, docs/ntier.md):
Q·Kᵀ scores (``attention_score_<c>``) and A·V lanes with their neurons (``attention_value_<c>``),
so that a stack puts them on successive tiers with the score row crossing one bond, from register
to logic (``wire``) or from register to register (``registered``: one more cycle a row).

Bit-exact against the golden model and equal to the layer without the option (deterministic and
SSA attention, with and without ``attn_pipeline``, more heads than cores, odd sizes); the stacked
4-tier ``pipeline`` top with the stages on tiers 1 and 2, bonds as wires or registered; the stack
formally equal to its 2D top (mutant caught); the monolithic cores, now built of the two stages,
against their form before, every output bit every cycle; the option refused where it cannot be.
"""
import dataclasses

import numpy as np
import pytest

from spikestack.config import AttentionConfig, ConfigError, HwConfig, LayerConfig, LifConfig, dump_config, parse_config
from spikestack.gen.partition import stack_assignment
from spikestack.hw.layers import design_for
from spikestack.hw.layers.stack import nets
from spikestack.sim.layers import run_golden
from spikestack.tb.harness import build, compare, simulate

import old_lanes
import test_mha_pipe
import test_mha_rtl
from test_lanes import _lockstep
from test_tiers import TINY

import tomllib

SSA = AttentionConfig(mode="ssa", lfsr_bits=8, seed=5)


def split(cfg: LayerConfig, how: str) -> LayerConfig:
    return cfg.replace(hw=dataclasses.replace(cfg.hw, attn_split=how))


BASE = {
    # three heads on two cores: head selects, two rounds; the registered score word adds a cycle
    "rounds": test_mha_rtl.CONFIGS["h3_rounds_shift1"],
    "rounds_ssa": test_mha_rtl.CONFIGS["h3_rounds_shift1"].replace(attention=SSA),
    "saturating": test_mha_rtl.CONFIGS["h2_saturating_shift2"],
    "pipe": test_mha_pipe.CONFIGS["h3_t2_n5_3tiles"],
    "pipe_ssa": test_mha_pipe.CONFIGS["ssa_h2_t5_n7"],
}
FAST = {("rounds", "registered"), ("pipe", "registered")}


@pytest.mark.parametrize("name,how", [pytest.param(n, h, marks=() if (n, h) in FAST else pytest.mark.slow)
                                      for n in sorted(BASE) for h in ("wire", "registered")])
def test_split_bit_exact(name, how):
    """Golden bits, the bits of the layer without the option; the cycles of it (``wire``) or, with
    ``registered``, one more per attention pass (in the pipeline each token's rows come a cycle
    later and the projection jobs around them move: within N cycles, fewer or more)."""
    base = BASE[name]
    cfg = split(base, how)
    runs = test_mha_rtl.cases(cfg, sum(map(ord, name)))
    pipe = cfg.hw.attn_pipeline
    for (s, w), (o, c), (o0, c0) in zip(runs, simulate(build(cfg), runs), simulate(build(base), runs)):
        assert compare(run_golden(cfg, s, w), o) is None, (name, how)
        assert np.array_equal(o, o0)
        if how == "wire":
            assert c == c0
        elif not pipe:
            assert c == c0 + 1
        else:               # a token's rows a cycle later: the q and o jobs around them move
            assert abs(c - c0) <= cfg.n, (c, c0)
    assert any(o.any() for o, _ in simulate(build(cfg), runs))


def test_split_graph_and_four_tiers():
    """Two blocks a core; the ``pipeline`` partition of 4 tiers: projection cores, score stages
    (with the attention stage), value stages, then control and memory; the score row crosses one
    interface (tier 1 -> 2), V comes down one (3 -> 2), K passes through the value tier (3 -> 1)."""
    for name in ("rounds", "pipe"):
        cfg = split(BASE[name], "registered")
        d = design_for(cfg)
        cores = cfg.heads if cfg.hw.attn_pipeline else min(cfg.heads, cfg.hw.cores)
        assert not any(b.startswith("attention_core") for b in d.blocks)
        assert {f"attention_score_{c}" for c in range(cores)} | {f"attention_value_{c}" for c in range(cores)} <= set(d.blocks)
        assert ("attention_score_0.out", "attention_value_0.inp") in d.wires
    cfg = split(BASE["pipe"], "wire")
    d = design_for(cfg)
    a = stack_assignment(d, 4, "pipeline")
    assert {a[b] for b in d.blocks if b.startswith("proj_core")} == {0}
    assert {a[b] for b in d.blocks if b.startswith("attention_score")} | {a["attention_stage"]} == {1}
    assert {a[b] for b in d.blocks if b.startswith("attention_value")} == {2}
    assert a["k_glb"] == a["v_glb"] == a["dispatcher"] == 3
    by_source = {}
    for net in nets(d, a, 4):
        by_source.setdefault(net.source.split(".")[0], []).append(net)
    score = [n for n in by_source["attention_score_0"] if n.source.endswith(".s")]
    assert len(score) == 1 and score[0].crossings() == [(1, "up")]
    assert score[0].width == cfg.n * cfg.head_dim.bit_length()
    k_to_scores = [n for n in by_source["k_glb"] if any(s.startswith("attention_score") for s, _ in n.sinks)]
    v_to_values = [n for n in by_source["v_glb"] if any(s.startswith("attention_value") for s, _ in n.sinks)]
    assert k_to_scores and all(n.crossings() == [(1, "down"), (2, "down")] for n in k_to_scores)
    assert v_to_values and all(n.crossings() == [(2, "down")] for n in v_to_values)


@pytest.mark.parametrize("how", ["wire", pytest.param("registered", marks=pytest.mark.slow)])
def test_split_four_tier_stack_bit_exact(how):
    """The 4-tier stack: bonds as wires (the 2D top's cycles) and registered streams (more)."""
    cfg = split(BASE["pipe"], how)
    runs = test_mha_rtl.cases(cfg, 31)[:3]
    flat = simulate(build(cfg), runs)
    for variant in ("3d4:pipeline", "3d4:pipeline:regs"):
        for (s, w), (o, c), (_, c0) in zip(runs, simulate(build(cfg, variant), runs), flat):
            assert compare(run_golden(cfg, s, w), o) is None, variant
            assert c == c0 if not variant.endswith(":regs") else c > c0


def test_split_stack_formal_equivalence():
    """The 4-tier ``pipeline`` stack of a tiny split layer (registered score word) formally equal
    to its 2D top, every register and output every cycle."""
    from spikestack.gen.equiv import check_equivalence
    res = check_equivalence(split(TINY["mha"], "registered"), "pipeline", tiers=4)
    assert res["equivalent"], res["log"]
    assert res["equiv_cells"] > 1000 and res["unproven"] == 0


@pytest.mark.slow
def test_split_stack_formal_catches_a_mutant():
    """The same proof against a stack whose attention threshold is one higher fails."""
    from spikestack.gen.equiv import check_equivalence
    cfg = split(TINY["mha"], "registered")
    lif = dict(cfg.lif)
    a = lif["attn"]
    lif["attn"] = LifConfig(a.threshold + 1, a.leak_shift, a.reset, "attn")
    bad = check_equivalence(cfg, "pipeline", gate_cfg=cfg.replace(lif=lif), tiers=4)
    assert not bad["equivalent"] and bad["unproven"] > 0


@pytest.mark.parametrize("n,d,heads,seed", [(5, 4, 3, 1), (7, 3, 1, 2)])
def test_ssa_core_of_two_stages_equals_the_core_before(n, d, heads, seed):
    """The SSA core as a score stage and a value stage (the output LFSRs step one cycle later, on
    the registered row) against the monolithic core before (``old_lanes.SsaAttentionCore``) over
    2000 cycles of random rows (``valid``, ``first`` and ``head`` random too): ``out.valid`` equal in
    every cycle, ``out.spikes`` in every cycle it is valid (the only ones the dispatcher writes: on
    the others the old core showed its LFSR state, the new one the next number); another seed is
    caught."""
    from spikestack.hw.blocks.ssa import SsaAttentionCore
    att = AttentionConfig(mode="ssa", lfsr_bits=7, seed=seed)
    spikes = lambda get, c: get(c.out.valid) & (get(c.out.spikes) != 0)
    kw = dict(n=n, d=d, heads=heads)
    when = {"out.spikes": "out.valid"}
    assert _lockstep(old_lanes.SsaAttentionCore(att=att, **kw), SsaAttentionCore(att=att, **kw), 2000, seed, spikes,
                     when) > 50
    other = AttentionConfig(mode="ssa", lfsr_bits=7, seed=seed + 100)
    with pytest.raises(AssertionError, match=r"cycle \d+: out"):
        _lockstep(old_lanes.SsaAttentionCore(att=att, **kw), SsaAttentionCore(att=other, **kw), 2000, seed, spikes, when)


def test_split_config():
    base = BASE["rounds"]
    with pytest.raises(ConfigError, match=r"^hw\.attn_split: expected one of off, wire, registered, got 'yes'"):
        HwConfig(attn_split="yes")
    with pytest.raises(ConfigError, match=r"^hw\.attn_split: only for kind 'mha', not 'moe'"):
        LayerConfig(kind="moe", t=1, n=2, d=3, experts=2, dh=3, top_k=1,
                    lif={p: LifConfig(2, 1, "hard", p) for p in ("hidden", "out")},
                    hw=HwConfig(rows=1, cols=2, cores=2, attn_split="wire"))
    for how in ("wire", "registered"):
        text = dump_config(split(base, how))
        assert "attn_split" in text and parse_config(tomllib.loads(text)) == split(base, how)
    assert "attn_split" not in dump_config(base)


def test_split_lint_clean(tmp_path, root):
    """Verilator -Wall clean (tb/lint.vlt's waivers), both ways, like every other generated top."""
    from spikestack.config import load_config
    from spikestack.gen.generate import write_design
    from spikestack.tb.lint import lint
    cfg = load_config(root / "configs" / "mha_ppa_small.toml")
    for how, pipe in (("wire", False), ("registered", True)):
        c = cfg.replace(hw=dataclasses.replace(cfg.hw, attn_split=how, attn_pipeline=pipe))
        v = [f for f in write_design(c, tmp_path / how) if f.suffix == ".v"][0]
        assert lint(v, v.stem) == []


@pytest.mark.slow
def test_default_mha_split_four_tiers(root):
    """The default MHA with ``attn_pipeline`` and a registered score row, ``gen --tiers 4``'s
    ``pipeline`` stack (projection cores, Q·Kᵀ, A·V, control and memory): formally equal to its 2D
    top (SRAM macros cut) and one bit-exact run of the stack with registered stream bonds."""
    from spikestack.config import load_config
    from spikestack.gen.equiv import check_equivalence
    from spikestack.sim.tensors import random_case
    base = load_config(root / "configs" / "mha_default.toml")
    cfg = split(base.replace(hw=dataclasses.replace(base.hw, attn_pipeline=True)), "registered")
    res = check_equivalence(cfg, "pipeline", memories="cut", tiers=4)
    assert res["equivalent"], res["log"]
    runs = [random_case(cfg, seed=0, rate=0.2)]
    for (s, w), (o, _) in zip(runs, simulate(build(cfg, "3d4:pipeline:regs"), runs)):
        assert compare(run_golden(cfg, s, w), o) is None


def test_gen_four_tiers_bond_map_of_the_score_row(tmp_path):
    """``gen --tiers 4`` of a split layer: the score rows are the only bonds from the Q·Kᵀ tier to
    the A·V tier, marked registered when the A·V blocks register them (``registered``), not otherwise."""
    import json
    from spikestack.gen.stack import write_stack
    for how in ("wire", "registered"):
        cfg = split(TINY["mha"], how)
        write_stack(cfg, tmp_path / how, 4, "pipeline", report=False, log=lambda *_: None)
        bm = json.loads((tmp_path / how / "bonds_tier_1_tier_2.json").read_text())
        up = [b for b in bm["bonds"] if b["direction"] == "tier_1->tier_2" and not b["feed_through"]]
        assert up and all(b["source_block"].startswith("attention_score_") for b in up)
        assert {b["name"].split("__", 2)[2] for b in up} == {"valid", "zero", "s"}
        assert all(b["registered"] is (how == "registered") for b in up)
