"""The MHA attention as a pipeline (``[hw] attn_pipeline = true``, docs/ntier.md) on Verilator.

Bit-exact against the golden model on odd sizes (heads 1 to 3, one or several output tiles, idle
projection cores, dense and event-driven cores, a saturating membrane, SSA mode), random inputs at
several rates plus all-zero and all-one inputs; the same bits as the layer without the option; the
configuration refused when it cannot be built; the 4-tier ``pipeline`` stack of such a layer with
the projection cores, the attention stage and its cores on successive tiers, its Q and attention-row
streams registered across the bonds, bit-exact.
"""
import numpy as np
import pytest

from spikestack.config import AttentionConfig, ConfigError, HwConfig, LayerConfig, LifConfig, dump_config, parse_config
from spikestack.gen.partition import stack_assignment
from spikestack.hw.layers import design_for
from spikestack.hw.layers.stack import nets, registered_streams
from spikestack.sim.layers import mha_intermediates, run_golden
from spikestack.sim.tensors import random_case
from spikestack.tb.harness import build, compare, simulate

import tomllib

POPS = ("q", "k", "v", "attn", "o")
NAMES = ("wq", "wk", "wv", "wo", "bq", "bk", "bv", "bo")


def mha(t, n, d, heads, shift, hw, q=(24, 3, "hard"), kv=(24, 3, "hard"), attn=(2, 2, "hard"), o=(24, 3, "hard"),
        v_bits=16, w_bits=8, b_bits=16, att=None):
    lifs = {"q": q, "k": kv, "v": kv, "attn": attn, "o": o}
    return LayerConfig(kind="mha", t=t, n=n, d=d, heads=heads, attn_shift=shift, w_bits=w_bits, b_bits=b_bits,
                       v_bits=v_bits, lif={p: LifConfig(*lifs[p], p) for p in POPS},
                       hw=HwConfig(**hw, attn_pipeline=True), attention=att or AttentionConfig())


CONFIGS = {
    # one core for everything: the credit of two tokens between q and o jobs with a single core
    "h1_odd_1core_2tiles": mha(3, 3, 5, 1, 0, dict(rows=1, cols=3, cores=1), attn=(1, 1, "hard")),
    "h3_t2_n5_3tiles": mha(2, 5, 9, 3, 1, dict(rows=2, cols=2, cores=3), attn=(2, 3, "soft"), o=(12, 1, "soft")),
    "h2_saturating_idle_core": mha(4, 7, 10, 2, 2, dict(rows=2, cols=4, cores=3), q=(9, 1, "hard"),
                                   kv=(11, 2, "soft"), attn=(2, 1, "hard"), o=(10, 2, "soft"),
                                   v_bits=6, w_bits=6, b_bits=5),
    # test_mha_rtl.py's layer_b_hw2_dense with the option (its build without it is shared)
    "h3_dense_4cores": mha(3, 5, 12, 3, 1, dict(rows=4, cols=4, cores=4, event_driven=False),
                           q=(20, 0, "soft"), kv=(30, 1, "hard"), attn=(2, 0, "soft"), o=(25, 3, "hard")).replace(
        lif={p: LifConfig(*x, p) for p, x in zip(POPS, ((20, 0, "soft"), (30, 1, "hard"), (16, 2, "soft"),
                                                      (2, 0, "soft"), (25, 3, "hard")))}),
    "ssa_h2_t5_n7": mha(5, 7, 10, 2, 0, dict(rows=2, cols=4, cores=3), q=(9, 1, "soft"), o=(10, 2, "soft"),
                        att=AttentionConfig(mode="ssa", lfsr_bits=8, seed=123), v_bits=8, w_bits=6, b_bits=5),
}


def cases(cfg, seed):
    out = [random_case(cfg, seed=seed + i, rate=r) for i, r in enumerate((0.05, 0.3, 0.7))]
    s, w = random_case(cfg, seed=seed + 9)
    return out + [(np.zeros_like(s), w), (np.ones_like(s), w)]


# the default suite keeps two configurations (one core; three heads over three tiles); the rest are slow
SLOW = {"h2_saturating_idle_core", "h3_dense_4cores", "ssa_h2_t5_n7"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(CONFIGS)])
def test_pipeline_bit_exact(name):
    cfg = CONFIGS[name]
    runs = cases(cfg, sum(map(ord, name)))
    attn_any = False
    outs = []
    for (s, w), (got, cycles) in zip(runs, simulate(build(cfg), runs)):
        assert compare(run_golden(cfg, s, w), got) is None, name
        assert 0 < cycles <= design_for(cfg).plan.dense_cycles()
        attn_any |= bool(mha_intermediates(cfg, s, *(w[k] for k in NAMES))["attn_spikes"].any())
        outs.append(got)
    assert attn_any, "no case exercised the attention spikes"
    assert any(o.any() for o in outs) and not all(o.all() for o in outs)


@pytest.mark.slow
def test_pipeline_same_bits_as_2d_design():
    """The option changes where data waits, not the bits: the same outputs as the layer without it."""
    cfg = CONFIGS["h3_dense_4cores"]
    plain = cfg.replace(hw=HwConfig(rows=4, cols=4, cores=4, event_driven=False))
    runs = cases(cfg, 3)[:3]
    for (a, _), (b, _) in zip(simulate(build(cfg), runs), simulate(build(plain), runs)):
        assert np.array_equal(a, b)


def test_pipeline_design_has_no_q_or_attention_glb():
    d = design_for(CONFIGS["h3_t2_n5_3tiles"])
    assert {"q_glb", "attn_glb", "attention_dispatcher"}.isdisjoint(d.blocks)
    assert {"attention_stage", "k_glb", "v_glb"} <= set(d.blocks)
    assert ("collector.q", "attention_stage.q") in d.wires and ("attention_stage.rows", "dispatcher.rows") in d.wires


def test_pipeline_config():
    base = CONFIGS["h3_t2_n5_3tiles"]
    with pytest.raises(ConfigError, match=r"^hw\.attn_pipeline: needs hw\.cores >= heads"):
        base.replace(hw=HwConfig(rows=2, cols=2, cores=2, attn_pipeline=True))
    with pytest.raises(ConfigError, match=r"^hw\.attn_pipeline: expected true or false"):
        HwConfig(attn_pipeline=1)
    text = dump_config(base)
    assert "attn_pipeline = true" in text and parse_config(tomllib.loads(text)) == base
    assert "attn_pipeline" not in dump_config(base.replace(hw=HwConfig(rows=2, cols=2, cores=3)))


def test_pipeline_refused_for_moe():
    with pytest.raises(ConfigError, match=r"^hw\.attn_pipeline: only for kind 'mha'"):
        LayerConfig(kind="moe", t=1, n=2, d=3, experts=2, dh=3, top_k=1,
                    lif={p: LifConfig(2, 1, "hard", p) for p in ("hidden", "out")},
                    hw=HwConfig(rows=1, cols=2, cores=2, attn_pipeline=True))


def test_pipeline_stack_tiers_and_registered_streams():
    """4-tier ``pipeline``: projection cores on tier 0, the attention stage and its cores on tier 1,
    control on 2, memory on 3; the Q and attention-row streams cross bonds and are registrable."""
    cfg = CONFIGS["h3_t2_n5_3tiles"]
    d = design_for(cfg)
    a = stack_assignment(d, 4, "pipeline")
    assert {a[f"proj_core_{c}"] for c in range(3)} == {0}
    assert {a["attention_stage"]} | {a[f"attention_core_{c}"] for c in range(3)} == {1}
    assert a["dispatcher"] == a["collector"] == 2 and a["k_glb"] == 3
    regs = registered_streams(nets(d, a, 4))
    sources = {g["valid"].source for g in regs.values()}
    assert {"collector.q.valid", "attention_stage.rows.valid"} <= sources, sources


@pytest.mark.parametrize("variant", [pytest.param("3d4:pipeline", marks=pytest.mark.slow), "3d4:pipeline:regs"])
def test_pipeline_stack_bit_exact(variant):
    """The stacked top, bonds as wires (the 2D top's cycles) or registered (more cycles)."""
    cfg = CONFIGS["h3_t2_n5_3tiles"]
    runs = cases(cfg, 21)[:3]
    flat = simulate(build(cfg), runs)
    for (s, w), (o, c), (_, c2) in zip(runs, simulate(build(cfg, variant), runs), flat):
        assert compare(run_golden(cfg, s, w), o) is None
        assert c == c2 if not variant.endswith(":regs") else c > c2


def test_pipeline_lint_clean(tmp_path, root):
    """Verilator -Wall clean (tb/lint.vlt's waivers), like every other generated top."""
    from spikestack.config import load_config
    from spikestack.gen.generate import write_design
    from spikestack.tb.lint import lint
    cfg = load_config(root / "configs" / "mha_ppa_small.toml")
    cfg = cfg.replace(hw=HwConfig(**{**vars(cfg.hw), "attn_pipeline": True}))
    v = [f for f in write_design(cfg, tmp_path) if f.suffix == ".v"][0]
    assert lint(v, v.stem) == []


@pytest.mark.slow
def test_pipeline_stack_formal_equivalence():
    """The 4-tier ``pipeline`` stack of a tiny layer with the option, formally equal to its 2D top."""
    from spikestack.gen.equiv import check_equivalence
    from test_tiers import TINY
    cfg = TINY["mha"].replace(hw=HwConfig(rows=1, cols=2, cores=2, attn_pipeline=True))
    res = check_equivalence(cfg, "pipeline", tiers=4)
    assert res["equivalent"], res["log"]
    assert res["equiv_cells"] > 1000 and res["unproven"] == 0
