"""Verification that does not lean on one simulator or on one checkout.

- Icarus Verilog in SystemVerilog mode (``-g2012``, 4-state: every register and memory bit starts
  at X) runs small linear, MoE and MHA tops bit-exact with the golden model and with Verilator's
  cycle counts.
- The generated Verilog has no initial values, and on Verilator with every register and memory
  bit started at random (two seeds) and ``rst`` held for :data:`~spikestack.gen.emit.RESET_CYCLES`
  edges, the runs are bit-exact and take the same cycles; without the reset they are not.
- One configuration gives the same bytes from two copies of the package in different
  directories (different hash seeds), and ``spikestack gen`` prints no Python warning.
"""
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from test_linear_rtl import CONFIGS as LINEAR
from test_linear_rtl import cases as linear_cases
from test_mha_rtl import CONFIGS as MHA
from test_mha_rtl import cases as mha_cases
from test_moe_rtl import CONFIGS as MOE
from test_moe_rtl import constructed as moe_cases

from spikestack.config import dump_config
from spikestack.gen.emit import RESET_CYCLES, convert
from spikestack.gen.generate import generate_verilog
from spikestack.sim.layers import run_golden
from spikestack.sim.tensors import random_case
from spikestack.tb.harness import build, compare, simulate

# odd sizes; the same configurations as the Verilator tests, so their builds are shared
SMALL = {
    "linear": (LINEAR["odd_tiled_hard_leak"], linear_cases),
    "moe": (MOE["odd_top2_e3"], moe_cases),
    "mha": (MHA["h3_rounds_shift1"], mha_cases),
}
needs_icarus = pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed (make pd-tools)")


def _runs(kind, n):
    cfg, cases = SMALL[kind]
    return cfg, cases(cfg, 40)[:n]


@needs_icarus
@pytest.mark.parametrize("kind", sorted(SMALL))
def test_icarus_sv_mode_is_bit_exact_with_verilators_cycles(kind):
    cfg, runs = _runs(kind, 3)
    on_icarus = simulate(build(cfg, simulator="icarus"), runs)
    on_verilator = simulate(build(cfg), runs)
    for i, ((s, w), (got, cycles), (_, v_cycles)) in enumerate(zip(runs, on_icarus, on_verilator)):
        assert compare(run_golden(cfg, s, w), got) is None, f"{kind} case {i}"
        assert cycles == v_cycles, f"{kind} case {i}: {cycles} cycles on Icarus, {v_cycles} on Verilator"
    assert any(g.any() for g, _ in on_icarus)


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_reset_alone_sets_the_state(kind):
    cfg, runs = _runs(kind, 2)
    top, text = generate_verilog(cfg)
    assert not re.search(r"^\s*reg\b[^;]*=", text, re.M), "a register with an initial value"
    assert "initial" not in text and "always @*" not in text
    b = build(cfg)
    zero = simulate(b, runs)
    for seed in (1, 2):
        rand = simulate(b, runs, random_init=seed, reset_cycles=RESET_CYCLES)
        for i, ((s, w), (got, cycles), (_, z_cycles)) in enumerate(zip(runs, rand, zero)):
            assert compare(run_golden(cfg, s, w), got) is None, f"{kind} seed {seed} case {i}"
            assert cycles == z_cycles


def test_without_reset_random_state_shows():
    """The control: the same random start without the reset does not give the right result, so
    the test above does start from random state."""
    cfg, runs = _runs("moe", 1)
    b = build(cfg)
    bad = 0
    for seed in (1, 2):
        try:
            (got, _), = simulate(b, runs, random_init=seed, reset_cycles=0)
            bad += compare(run_golden(cfg, *runs[0]), got) is not None
        except RuntimeError:            # the bench timed out or failed: also not right
            bad += 1
    assert bad > 0


_FROM_COPY = ("import sys, spikestack; assert spikestack.__file__.startswith(sys.argv[1]), spikestack.__file__; "
              "from spikestack.cli import main; sys.exit(main(sys.argv[2:]))")


def _copy_package(root, dest):
    shutil.copytree(root, dest / "spikestack", ignore=shutil.ignore_patterns(
        ".venv", ".git", "out", "build", "__pycache__", "*.egg-info", ".pytest_cache", "tests"))


def test_same_bytes_from_two_checkouts_and_no_warnings(tmp_path, root):
    outs = []
    for i, where in enumerate(("a/deep/checkout", "b")):
        pkg = tmp_path / where
        _copy_package(root, pkg)
        out = tmp_path / f"out{i}"
        r = subprocess.run([sys.executable, "-c", _FROM_COPY, str(pkg), "gen", str(root / "configs" / "mha_ppa_small.toml"),
                            "-o", str(out), "--tiers", "2", "--no-report"],
                           cwd=tmp_path, capture_output=True, text=True,
                           env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(pkg), "PYTHONHASHSEED": str(i + 1)})
        assert r.returncode == 0, r.stderr
        assert r.stderr == "", f"warnings printed: {r.stderr[:2000]}"
        outs.append(out)
    names = sorted(p.name for p in outs[0].iterdir())
    assert {"spikestack_mha.v", "tier_top.v", "tier_bottom.v", "spikestack_mha_3d.v"} <= set(names)
    for name in names:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    assert str(tmp_path) not in (outs[0] / "spikestack_mha.v").read_text()


def test_src_attributes_on_request_are_relative(root):
    from spikestack.hw.lib.pe import LifPE
    from spikestack.config import LifConfig
    pe = LifPE((LifConfig(64, 3, "hard", "out"),), w_bits=4, b_bits=6, acc_bits=8, v_bits=8)
    text = convert(pe, "pe", src=True)
    paths = [p for attr in re.findall(r'\(\* src = "([^"]*)" \*\)', text) for p in attr.split("|")]
    assert any(p.startswith("spikestack/hw/") for p in paths)
    assert all(p.startswith(("spikestack/", "amaranth/")) for p in paths), paths[:5]
    assert str(root) not in text
    assert "(* src" not in convert(LifPE((LifConfig(64, 3, "hard", "out"),), w_bits=4, b_bits=6, acc_bits=8,
                                         v_bits=8), "pe")


@pytest.fixture
def cli_run(tmp_path):
    """``spikestack run`` on one random case of a small odd MoE: call with the extra arguments and
    the output's name; returns (the finished process, the configuration, spikes, tensors)."""
    cfg = MOE["odd_top2_e3"]
    (tmp_path / "c.toml").write_text(dump_config(cfg))
    s, w = random_case(cfg, seed=3)
    np.savez(tmp_path / "w.npz", **w)
    np.savez(tmp_path / "s.npz", spikes=s)

    def run(args, out):
        r = subprocess.run([sys.executable, "-m", "spikestack.cli", "run", str(tmp_path / "c.toml"),
                            "--weights", str(tmp_path / "w.npz"), "--spikes", str(tmp_path / "s.npz"),
                            "--out", str(tmp_path / out), *args], capture_output=True, text=True)
        return r, cfg, s, w
    return run


@needs_icarus
def test_cli_runs_the_rtl_on_icarus(tmp_path, cli_run):
    outs = {}
    for sim in ("icarus", "verilator"):
        r, cfg, s, w = cli_run(["--backend", "rtl", "--simulator", sim], f"{sim}.npz")
        assert r.returncode == 0, r.stderr[-2000:]
        outs[sim] = np.load(tmp_path / f"{sim}.npz")
    assert np.array_equal(outs["icarus"]["spikes"], run_golden(cfg, s, w))
    assert int(outs["icarus"]["cycles"]) == int(outs["verilator"]["cycles"])


@pytest.mark.parametrize("args,word", [(["--backend", "rtl", "--simulator", "modelsim"], "simulator"),
                                       (["--simulator", "icarus"], "simulator")])
def test_cli_refuses_a_bad_simulator(tmp_path, cli_run, args, word):
    r, *_ = cli_run(args, "o.npz")
    assert r.returncode == 2 and r.stderr.startswith(f"spikestack: error: {word}:")
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "o.npz").exists()


def test_cxx_optimisation_is_checked(monkeypatch):
    """SPIKESTACK_CXX_OPT: a gcc -O level or nothing; anything else is refused naming it."""
    from spikestack.tb.harness import cxx_opt
    monkeypatch.setenv("SPIKESTACK_CXX_OPT", "-O0")
    assert cxx_opt() == "-O0"
    monkeypatch.delenv("SPIKESTACK_CXX_OPT")
    assert cxx_opt() == ""
    monkeypatch.setenv("SPIKESTACK_CXX_OPT", "-O0 -march=native")
    with pytest.raises(ValueError, match="SPIKESTACK_CXX_OPT"):
        cxx_opt()
