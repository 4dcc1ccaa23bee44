"""Elastic experts (issue 24): bit-sliced expert weights and draft runs, golden and RTL.

Golden: the slice decomposition gives the weights back exactly; the draft weights of the golden
model equal an independent model that cuts each weight's two's-complement bit string; the draft
layer equals the independent loop model of test_golden on those weights with top-k_draft.
RTL (Verilator, one build per configuration, every case in both modes in one simulator process,
the modes alternating so the draft input is switched between runs): bit-exact with the golden model
of each mode; full precision on sliced banks bit-exact with the unsliced golden model (today's).
Bad combinations are refused naming the field, before anything is written.
"""
import subprocess
import sys

import numpy as np
import pytest

from spikestack.config import ConfigError, ElasticConfig, HwConfig, dump_config, parse_config
from spikestack.gen.generate import generate_verilog
from spikestack.hw.layers import design_for
from spikestack.hw.layers.moe import MoePlan
from spikestack.sim.elastic import draft_weights, join_slices, weight_slices
from spikestack.sim.layers import run_golden
from spikestack.sim.tensors import random_case
from spikestack.tb.harness import build, compare, simulate_full

from test_golden import ref_moe
from test_moe_rtl import constructed, moe


def elastic(cfg, slices, **e):
    return cfg.replace(hw=HwConfig(**{**cfg.hw.__dict__, "weight_slices": slices}), elastic=ElasticConfig(**e))


# ---- golden ------------------------------------------------------------------------------------

def ref_draft_weight(w: int, w_bits: int, slices: int, used: int, rounding: str) -> int:
    """One weight, from its bit string: keep the top used*b characters, fill the rest."""
    bits = format(w & ((1 << w_bits) - 1), f"0{w_bits}b")
    keep = used * (w_bits // slices)
    rest = w_bits - keep
    fill = ("1" + "0" * (rest - 1)) if rest and rounding == "midpoint" else "0" * rest
    u = int(bits[:keep] + fill, 2)
    return u - (1 << w_bits) if bits[0] == "1" else u


@pytest.mark.parametrize("w_bits,slices", [(8, 2), (8, 4), (6, 3), (6, 2), (4, 4), (8, 8), (9, 3)])
def test_slices_roundtrip_and_draft(w_bits, slices):
    rng = np.random.default_rng(w_bits * 16 + slices)
    w = rng.integers(-(1 << (w_bits - 1)), 1 << (w_bits - 1), size=(3, 11, 5))
    w.flat[:2] = [-(1 << (w_bits - 1)), (1 << (w_bits - 1)) - 1]
    sl = weight_slices(w, w_bits, slices)
    assert sl.shape == (slices,) + w.shape and sl.min() >= 0 and sl.max() < 1 << (w_bits // slices)
    assert np.array_equal(join_slices(sl, w_bits), w)
    for used in range(1, slices + 1):
        for rounding in ("truncate", "midpoint"):
            d = draft_weights(w, w_bits, slices, used, rounding)
            ref = np.vectorize(lambda x: ref_draft_weight(int(x), w_bits, slices, used, rounding))(w)
            assert np.array_equal(d, ref), (used, rounding)
            assert np.array_equal(join_slices(sl, w_bits, used, rounding), d)
            step = 1 << ((slices - used) * (w_bits // slices))
            err = d - w
            lo, hi = (-(step - 1), 0) if rounding == "truncate" else (-(step // 2 - 1) if step > 1 else 0, step // 2)
            assert err.min() >= lo and err.max() <= hi, (used, rounding, err.min(), err.max())


# 4 x 2 PEs: a 16-bit bias fits the top slice of a weight word in 4 slices (the cores load biases
# through the weight port)
GOLDEN_CFG = moe(2, 5, 7, 6, 4, 3, HwConfig(rows=4, cols=2, cores=2), hidden=(18, 2, "soft"), out=(15, 1, "hard"))


@pytest.mark.parametrize("k_draft,used,rounding", [(1, 1, "truncate"), (2, 1, "midpoint"), (3, 2, "truncate"),
                                                    (1, 4, "midpoint")])
def test_draft_layer_matches_independent_model(k_draft, used, rounding):
    cfg = elastic(GOLDEN_CFG, 4, k_draft=k_draft, draft_slices=used, rounding=rounding)
    for seed in range(3):
        s, w = random_case(cfg, seed=seed, rate=0.35)
        full = run_golden(cfg, s, w, "full")
        assert np.array_equal(full, run_golden(GOLDEN_CFG, s, w))             # full precision: today's
        dw = {k: (np.vectorize(lambda x: ref_draft_weight(int(x), 8, 4, used, rounding))(v) if k in ("w1", "w2")
                  else v) for k, v in w.items()}
        ref = ref_moe(GOLDEN_CFG.replace(top_k=k_draft), s, *(dw[k] for k in ("wr", "w1", "b1", "w2", "b2")))
        assert np.array_equal(run_golden(cfg, s, w, "draft"), ref)


BAD = [
    ({"hw": {"weight_slices": 3}}, "hw.weight_slices: 3 does not divide w_bits=8"),
    ({"elastic": {"k_draft": 3}}, "elastic.k_draft: 3 > top_k=2"),
    ({"hw": {"weight_slices": 2}, "elastic": {"draft_slices": 4}}, "elastic.draft_slices: 4 > hw.weight_slices=2"),
    ({"elastic": {"draft_slices": 2}}, "elastic.draft_slices: 2 > hw.weight_slices=1"),
    ({"elastic": {"k_draft": 0}}, "elastic.k_draft: must be >= 1"),
    ({"elastic": {"rounding": "nearest"}}, "elastic.rounding"),
    ({"elastic": {"precision": "half"}}, "elastic.precision"),
    ({"elastic": {"top_k": 1}}, "elastic.top_k: unknown key"),
    ({"elastic": 3}, "elastic: expected a table"),
    ({"hw": {"weight_slices": 0}}, "hw.weight_slices: must be >= 1"),
]


def _moe_table(**extra):
    return {"kind": "moe", "t": 2, "n": 2, "d": 3, "dh": 3, "experts": 3, "top_k": 2,
            "lif": {"hidden": {"threshold": 9}, "out": {"threshold": 9}}, **extra}


@pytest.mark.parametrize("extra,msg", BAD)
def test_bad_combinations_refused(extra, msg):
    with pytest.raises(ConfigError, match="^" + msg.replace("(", r"\(").replace(".", r"\.")):
        parse_config(_moe_table(**extra))


@pytest.mark.parametrize("kind,extra,msg", [
    ("linear", {"elastic": {}}, "elastic: the draft mode is for kind 'moe' only"),
    ("mha", {"hw": {"weight_slices": 2}}, "hw.weight_slices: bit-sliced weights are for kind 'moe' only"),
])
def test_draft_on_other_kinds_refused(kind, extra, msg):
    table = {"kind": kind, "t": 2, "n": 2, "d": 4, "lif": {}, **extra}
    table.update({"linear": {"d_out": 3, "lif": {"out": {"threshold": 9}}},
                  "mha": {"heads": 2, "lif": {p: {"threshold": 9} for p in ("q", "k", "v", "attn", "o")}}}[kind])
    with pytest.raises(ConfigError, match="^" + msg):
        parse_config(table)


def test_cli_precision_refused_before_writing(tmp_path):
    """`spikestack run --precision draft` without [elastic]: status 2, the field named, no file."""
    (tmp_path / "c.toml").write_text(dump_config(GOLDEN_CFG))
    s, w = random_case(GOLDEN_CFG, seed=0)
    np.savez(tmp_path / "w.npz", **w)
    np.savez(tmp_path / "s.npz", spikes=s)
    out = tmp_path / "o.npz"
    r = subprocess.run([sys.executable, "-m", "spikestack.cli", "run", str(tmp_path / "c.toml"), "--weights",
                        str(tmp_path / "w.npz"), "--spikes", str(tmp_path / "s.npz"), "--out", str(out),
                        "--precision", "draft"], capture_output=True, text=True)
    assert r.returncode == 2 and "precision: draft needs an [elastic] table" in r.stderr, r.stderr
    assert not out.exists()


def test_cli_ppa_precision_refused_before_writing(tmp_path, root):
    """`spikestack ppa --precision draft` without [elastic]: status 2, the field named, nothing written."""
    out = tmp_path / "ppa"
    r = subprocess.run([sys.executable, "-m", "spikestack.cli", "ppa", str(root / "configs" / "moe_ppa_small.toml"),
                        "-o", str(out), "--precision", "draft"], capture_output=True, text=True)
    assert r.returncode == 2 and "precision: draft needs an [elastic] table" in r.stderr, r.stderr
    assert not out.exists()


def test_unsliced_design_unchanged():
    """weight_slices = 1 without [elastic]: no slice join, no draft port, one weight GLB per group
    (the Verilog of every earlier configuration; its bytes are compared in the report's check)."""
    d = design_for(GOLDEN_CFG)
    assert not [b for b in d.blocks if b.startswith(("weight_slices", "draft_mode"))]
    assert "draft" not in d.exports and "weight_glb_0" in d.blocks
    d2 = design_for(elastic(GOLDEN_CFG, 2, k_draft=1))
    assert {"weight_glb_0_s0", "weight_glb_0_s1", "weight_slices_0", "draft_mode"} <= set(d2.blocks)
    assert generate_verilog(GOLDEN_CFG)[1] != generate_verilog(elastic(GOLDEN_CFG, 2, k_draft=1))[1]


# ---- RTL ---------------------------------------------------------------------------------------

RTL = {
    # odd sizes, two slices, expert axis 2 -> 1, truncation
    "s2_top2_k1_trunc": elastic(moe(2, 5, 7, 11, 3, 2, HwConfig(rows=2, cols=3, cores=2, glb_share=2)),
                                2, k_draft=1, draft_slices=1, rounding="truncate"),
    # three slices of 6-bit weights, two kept, top-3 -> 2, midpoint, saturating membranes
    "s3_top3_k2_mid": elastic(moe(3, 5, 6, 7, 5, 3, HwConfig(rows=1, cols=4, cores=3, glb_share=1),
                                  hidden=(9, 1, "hard"), out=(12, 2, "soft"), v_bits=6, w_bits=6, b_bits=5),
                              3, k_draft=2, draft_slices=2, rounding="midpoint"),
}
RTL_SLOW = {
    # expert axis only (one slice), default mode draft
    "s1_top2_k1": elastic(moe(2, 4, 11, 6, 4, 2, HwConfig(rows=2, cols=2, cores=4, glb_share=2),
                              hidden=(16, 3, "hard"), out=(10, 3, "soft")), 1, k_draft=1, draft_slices=1,
                          precision="draft"),
    # four 2-bit slices, one kept, k_draft = top_k (bit axis only), dense schedule
    "s4_top2_k2_mid_dense": elastic(moe(3, 6, 9, 13, 5, 2, HwConfig(rows=3, cols=5, cores=5, glb_share=1,
                                                                        event_driven=False),
                                        hidden=(30, 2, "soft"), out=(20, 0, "hard")),
                                    4, k_draft=2, draft_slices=1, rounding="midpoint"),
    # sliced banks without a draft mode: full precision only
    "s2_no_draft": moe(2, 5, 7, 11, 3, 2, HwConfig(rows=2, cols=3, cores=2, glb_share=2, weight_slices=2)),
}


def check_rtl(name, cfg, variant="2d"):
    seed = sum(map(ord, name))
    base = constructed(cfg, seed)
    modes = ("full", "draft") if cfg.elastic is not None else ("full",)
    runs = [(c, modes[(i + j) % len(modes)]) for i, c in enumerate(base) for j in range(len(modes))]
    res = simulate_full(build(cfg, variant), [c for c, _ in runs],
                        precisions=[p for _, p in runs] if cfg.elastic is not None else None)
    plan = MoePlan(cfg)
    today = cfg.replace(hw=HwConfig(**{**cfg.hw.__dict__, "weight_slices": 1}), elastic=None)
    cycles = {m: 0 for m in modes}
    for i, (((s, w), mode), r) in enumerate(zip(runs, res)):
        expected = run_golden(cfg, s, w, mode if cfg.elastic is not None else None)
        err = compare(expected, r["spikes"])
        assert err is None, f"{name} case {i} ({mode}): {err}"
        if mode == "full":
            assert np.array_equal(expected, run_golden(today, s, w))
        work = plan.work(s, w, mode if cfg.elastic is not None else None)
        per_group = [sum(work["core_cycles"][e] for e in range(g, cfg.experts, plan.groups))
                     / len(plan.members_of[g]) for g in range(plan.groups)]
        assert max(per_group) <= r["cycles"] <= plan.dense_cycles()
        cycles[mode] += r["cycles"]
    if "draft" in modes and cfg.elastic.k_draft < cfg.top_k:
        assert cycles["draft"] < cycles["full"], cycles
    outs = [r["spikes"] for r in res]
    assert any(o.any() for o in outs) and not all(o.all() for o in outs)
    if "draft" in modes:       # the draft did something different somewhere (else the test shows nothing)
        diffs = [not np.array_equal(run_golden(cfg, s, w, "draft"), run_golden(cfg, s, w, "full")) for s, w in base]
        assert any(diffs)


@pytest.mark.parametrize("name", sorted(RTL))
def test_elastic_rtl_bit_exact(name):
    check_rtl(name, RTL[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RTL_SLOW))
def test_elastic_rtl_bit_exact_slow(name):
    check_rtl(name, RTL_SLOW[name])


@pytest.mark.slow
def test_elastic_3d_stitched_bit_exact():
    """The stitched two-tier top (memory-on-logic: the slice banks on the memory tier, each its
    own bonds) in both modes."""
    check_rtl("s2_top2_k1_trunc", RTL["s2_top2_k1_trunc"], "3d:memory-on-logic")


def test_cli_precision_draft_golden(tmp_path):
    """`spikestack run --precision draft|full` on a configuration with [elastic] (golden backend)."""
    cfg = elastic(GOLDEN_CFG, 4, k_draft=1, draft_slices=1, rounding="midpoint")
    (tmp_path / "c.toml").write_text(dump_config(cfg))
    s, w = random_case(cfg, seed=4, rate=0.4)
    np.savez(tmp_path / "w.npz", **w)
    np.savez(tmp_path / "s.npz", spikes=s)
    got = {}
    for mode in ("draft", "full"):
        out = tmp_path / f"{mode}.npz"
        r = subprocess.run([sys.executable, "-m", "spikestack.cli", "run", str(tmp_path / "c.toml"), "--weights",
                            str(tmp_path / "w.npz"), "--spikes", str(tmp_path / "s.npz"), "--out", str(out),
                            "--precision", mode], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        got[mode] = np.load(out)["spikes"]
        assert np.array_equal(got[mode], run_golden(cfg, s, w, mode))
    assert not np.array_equal(got["draft"], got["full"])


def test_tier_split_gives_each_slice_its_bonds():
    """memory-on-logic: every bank on the memory tier, every slice join with its core on the logic
    tier, so each slice has its own bonds (the same count per slice); logic-on-logic: joins and
    banks follow their cores."""
    from spikestack.gen.partition import assignment_for
    from spikestack.gen.tiers import f2f_map, tier_sources
    cfg = elastic(moe(2, 3, 5, 4, 4, 2, HwConfig(rows=2, cols=2, cores=4, glb_share=2)), 2, k_draft=1)
    d = design_for(cfg)
    mol = assignment_for(d, "memory-on-logic")
    assert all(mol[f"weight_glb_{g}_s{i}"] == "tier_top" for g in range(2) for i in range(2))
    assert all(mol[f"weight_slices_{c}"] == mol[f"expert_core_{c}"] == "tier_bottom" for c in range(4))
    fmap = f2f_map(tier_sources(cfg, "memory-on-logic", tiers_only=True))
    P, b, ports = 4, 4, 2       # lanes, bits per slice, read ports per bank
    addr = d.plan.weights[0].addr_width
    assert fmap["weight_slice_bonds"] == {"s0": 2 * ports * (P * b + addr + 1), "s1": 2 * ports * (P * b + addr + 1)}
    lol = assignment_for(d, "logic-on-logic")
    for c in range(4):
        assert lol[f"weight_slices_{c}"] == lol[f"expert_core_{c}"]
    for g, cores in enumerate(((0, 1), (2, 3))):
        assert lol[f"weight_glb_{g}_s0"] == lol[f"weight_glb_{g}_s1"] == lol[f"expert_core_{cores[0]}"]


@pytest.mark.slow
def test_elastic_icarus_same_bits_and_cycles():
    """Icarus Verilog (-g2012, 4-state): both modes bit-exact, with Verilator's cycles."""
    cfg = RTL["s2_top2_k1_trunc"]
    runs = [(c, m) for c in constructed(cfg, 3)[:3] for m in ("draft", "full")]
    cases, modes = [c for c, _ in runs], [m for _, m in runs]
    ica = simulate_full(build(cfg, simulator="icarus"), cases, precisions=modes)
    ver = simulate_full(build(cfg), cases, precisions=modes)
    for ((s, w), m), a, v in zip(runs, ica, ver):
        assert compare(run_golden(cfg, s, w, m), a["spikes"]) is None
        assert a["cycles"] == v["cycles"]
