"""SSA mode on Verilator (issue 23): bit-exact against the golden model (sim/ssa.py).

Four SSA configurations with odd sizes (heads 1, 3, 2, 5; head width 5, 3, 5, 3; T 3, 2, 5, 4;
N 3, 5, 7, 4), heads time-multiplexed on fewer cores, LFSR widths 3 to 8, default and chosen
polynomials; each built once and run on many random cases (rates, weights) plus all-zero and
all-one inputs. Both modes: two of the layers are also the deterministic ones of
``test_mha_rtl.py`` (same build, shared through the cache), and the SSA top keeps their schedule
(same projection and attention cycles). ``spikestack run --backend rtl`` on the held-out
``configs/mha_ssa_small.toml``; Icarus and a random register state after the reset; Verilator
lint; the stitched two-tier top in SSA mode and its formal equivalence with the 2D top (slow).
"""
import shutil
import subprocess
import sys

import numpy as np
import pytest

from spikestack.config import AttentionConfig, HwConfig, LayerConfig, LifConfig, load_config
from spikestack.gen.emit import RESET_CYCLES
from spikestack.gen.generate import generate_verilog, write_design
from spikestack.gen.tiers import check_equivalence
from spikestack.sim.layers import mha_intermediates, run_golden
from spikestack.sim.tensors import random_case
from spikestack.tb.harness import build, compare, simulate, simulate_full
from spikestack.tb.lint import lint

POPS = ("q", "k", "v", "attn", "o")
NAMES = ("wq", "wk", "wv", "wo", "bq", "bk", "bv", "bo")


def mha(t, n, d, heads, hw, q=(24, 3, "hard"), attn=(2, 2, "hard"), o=(24, 3, "hard"), shift=0, att=None,
        v_bits=16, w_bits=8, b_bits=16):
    lifs = {"q": q, "k": (24, 3, "hard"), "v": (24, 3, "hard"), "attn": attn, "o": o}
    return LayerConfig(kind="mha", t=t, n=n, d=d, heads=heads, attn_shift=shift, w_bits=w_bits, b_bits=b_bits,
                       v_bits=v_bits, lif={p: LifConfig(*lifs[p], p) for p in POPS}, hw=hw,
                       attention=att or AttentionConfig())


def ssa(bits, taps=(), seed=1):
    return AttentionConfig(mode="ssa", lfsr_bits=bits, taps=taps, seed=seed)


# the first two are test_mha_rtl.py's h1_odd_shift0 and h3_rounds_shift1 layers
DET = {
    "h1_odd": mha(3, 3, 5, 1, HwConfig(rows=1, cols=3, cores=1), attn=(1, 1, "hard")),
    "h3_rounds": mha(2, 5, 9, 3, HwConfig(rows=2, cols=3, cores=2), attn=(2, 3, "soft"), o=(12, 1, "soft"), shift=1),
}
CONFIGS = {
    "ssa_h1_odd_w3": DET["h1_odd"].replace(attention=ssa(3, seed=5)),
    "ssa_h3_rounds_w5": DET["h3_rounds"].replace(attention=ssa(5, taps=(5, 2), seed=77)),
    "ssa_h2_t5_n7_w8": mha(5, 7, 10, 2, HwConfig(rows=2, cols=4, cores=3), q=(9, 1, "soft"), o=(10, 2, "soft"),
                           att=ssa(8, seed=123), v_bits=8, w_bits=6, b_bits=5),
    "ssa_h5_rounds_w7_dense": mha(4, 4, 15, 5, HwConfig(rows=2, cols=2, cores=2, event_driven=False),
                                  o=(15, 0, "soft"), att=ssa(7, taps=(7, 1), seed=2**32 - 1)),
}


def cases(cfg, seed, n=8):
    out = [random_case(cfg, seed=seed + i, rate=(0.1, 0.3, 0.5, 0.8)[i % 4]) for i in range(n)]
    s, w = random_case(cfg, seed=seed + 99)
    return out + [(np.zeros_like(s), w), (np.ones_like(s), w)]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_ssa_bit_exact(name):
    cfg = CONFIGS[name]
    runs = cases(cfg, sum(map(ord, name)))
    results = simulate(build(cfg), runs)
    rates = []
    for i, ((spikes, tensors), (got, cycles)) in enumerate(zip(runs, results)):
        err = compare(run_golden(cfg, spikes, tensors), got)
        assert err is None, f"{name} case {i}: {err}"
        rates.append(mha_intermediates(cfg, spikes, *(tensors[k] for k in NAMES))["attn_spikes"].mean())
    assert 0 < max(rates) and min(rates) < 1, "no case exercised the SSA output spikes"
    outs = [r[0] for r in results]
    assert any(o.any() for o in outs) and not all(o.all() for o in outs)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DET))
def test_both_modes_same_schedule(name):
    """Deterministic and SSA tops of one layer: each bit-exact with its golden model, the same
    projections, the same projection and attention cycles (the SSA core keeps the 2-cycle
    pipeline; the output projection's cycles follow the attention spikes), different attention."""
    det, sto = DET[name], next(c for c in CONFIGS.values() if c.replace(attention=AttentionConfig()) == DET[name])
    runs = cases(det, 5, n=4)
    got_d, got_s = simulate_full(build(det), runs), simulate_full(build(sto), runs)
    differs = False
    for (s, w), rd, rs in zip(runs, got_d, got_s):
        assert compare(run_golden(det, s, w), rd["spikes"]) is None
        assert compare(run_golden(sto, s, w), rs["spikes"]) is None
        for counter in ("cycles_qkv", "cycles_attn"):
            assert rd["counters"][counter] == rs["counters"][counter]
        a, b = (mha_intermediates(c, s, *(w[k] for k in NAMES))["attn_spikes"] for c in (det, sto))
        differs |= not np.array_equal(a, b)
    assert differs


@pytest.mark.slow
def test_ssa_stitched_two_tiers():
    """The SSA top split in two tiers (cores on both tiers: logic-on-logic), stitched: golden bits,
    2D cycles."""
    cfg = CONFIGS["ssa_h3_rounds_w5"]
    runs = cases(cfg, 17, n=4)
    got3, got2 = simulate(build(cfg, "3d:logic-on-logic"), runs), simulate(build(cfg), runs)
    for (s, w), (o3, c3), (o2, c2) in zip(runs, got3, got2):
        assert compare(run_golden(cfg, s, w), o3) is None
        assert np.array_equal(o2, o3) and c2 == c3


def test_cli_run_rtl_held_out(tmp_path, root):
    """``spikestack run --backend rtl`` on configs/mha_ssa_small.toml (in no other RTL test) gives
    the golden backend's bits."""
    cfg_path = root / "configs" / "mha_ssa_small.toml"
    cfg = load_config(cfg_path)
    for seed, rate in ((3, 0.3), (4, 0.6)):
        s, w = random_case(cfg, seed=seed, rate=rate)
        np.savez(tmp_path / "w.npz", **w)
        np.savez(tmp_path / "s.npz", spikes=s)
        outs = {}
        for backend in ("rtl", "golden"):
            r = subprocess.run([sys.executable, "-m", "spikestack.cli", "run", cfg_path, "--weights", tmp_path / "w.npz",
                                "--spikes", tmp_path / "s.npz", "--out", tmp_path / f"{backend}.npz",
                                "--backend", backend], capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            outs[backend] = np.load(tmp_path / f"{backend}.npz")
        np.testing.assert_array_equal(outs["rtl"]["spikes"], outs["golden"]["spikes"])
        np.testing.assert_array_equal(outs["rtl"]["spikes"], run_golden(cfg, s, w))
        assert int(outs["rtl"]["cycles"]) > 0


def test_ssa_on_icarus_and_from_random_state():
    """The SSA top on Icarus (-g2012, 4-state: every register starts X) with Verilator's bits and
    cycles, and on Verilator from a random register state after the reset: the LFSR states come
    from the reset and the seeds, never from initial values."""
    if shutil.which("iverilog") is None:
        pytest.skip("iverilog not installed (make pd-tools)")
    cfg = CONFIGS["ssa_h3_rounds_w5"]
    runs = cases(cfg, 31, n=3)
    top, text = generate_verilog(cfg)
    assert "initial" not in text and "always @*" not in text
    on_icarus = simulate(build(cfg, simulator="icarus"), runs)
    on_verilator = simulate(build(cfg), runs)
    randomised = simulate(build(cfg), runs, random_init=7, reset_cycles=RESET_CYCLES)
    for (s, w), (gi, ci), (gv, cv), (gr, cr) in zip(runs, on_icarus, on_verilator, randomised):
        assert compare(run_golden(cfg, s, w), gi) is None and compare(run_golden(cfg, s, w), gr) is None
        assert np.array_equal(gi, gv) and ci == cv == cr


def test_ssa_lint_clean(tmp_path, root):
    """The SSA top is Verilator -Wall clean with the project's waivers."""
    cfg = load_config(root / "configs" / "mha_ssa_small.toml")
    v = [f for f in write_design(cfg, tmp_path) if f.suffix == ".v"][0]
    assert lint(v, v.stem) == []


@pytest.mark.slow
def test_ssa_formal_two_tiers():
    """Yosys proof that the stitched two-tier SSA top equals the 2D top in every signal and cycle
    (cores on both tiers), and that a 3D top with another LFSR seed is caught."""
    cfg = mha(1, 2, 4, 2, HwConfig(rows=1, cols=2, cores=2), att=ssa(3, seed=9))
    res = check_equivalence(cfg, "logic-on-logic")
    assert res["equivalent"] and res["unproven"] == 0, res["log"]
    mutant = check_equivalence(cfg, "logic-on-logic", gate_cfg=cfg.replace(attention=ssa(3, seed=10)))
    assert not mutant["equivalent"] and mutant["unproven"] > 0
