"""Two-tier split: stitched 3D tops bit-exact with 2D, formal equivalence, F2F map, bad requests."""
import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spikestack.config import HwConfig, LayerConfig, LifConfig, dump_config, load_config
from spikestack.gen.partition import PARTITIONS, TIERS, assignment_for
from spikestack.gen.generate import generate_verilog
from spikestack.gen.tiers import check_equivalence, write_tiers
from spikestack.hw.layers import design_for
from spikestack.sim.layers import run_golden
from spikestack.sim.tensors import random_case
from spikestack.tb.harness import build, compare, simulate

ROOT = Path(__file__).resolve().parents[1]


def _moe(t, n, d, dh, e, k, hw, th=24):
    return LayerConfig(kind="moe", t=t, n=n, d=d, dh=dh, experts=e, top_k=k,
                       lif={"hidden": LifConfig(th, 3, "hard", "hidden"), "out": LifConfig(th, 2, "soft", "out")}, hw=hw)


def _mha(t, n, d, h, shift, hw):
    return LayerConfig(kind="mha", t=t, n=n, d=d, heads=h, attn_shift=shift,
                       lif={p: LifConfig(2 if p == "attn" else 24, 3, "soft" if p == "attn" else "hard", p)
                            for p in ("q", "k", "v", "attn", "o")}, hw=hw)


SMALL = {
    "moe": _moe(2, 5, 7, 11, 3, 2, HwConfig(rows=2, cols=3, cores=2, glb_share=2)),
    "mha": _mha(2, 5, 9, 3, 1, HwConfig(rows=2, cols=3, cores=2)),
}
# small enough for a proof in seconds (the SMALL and default ones are in the slow set)
TINY = {
    "moe": _moe(1, 2, 3, 2, 3, 2, HwConfig(rows=1, cols=2, cores=2, glb_share=2), th=2),
    "mha": _mha(1, 2, 4, 2, 0, HwConfig(rows=1, cols=2, cores=2)),
}


def _cases(cfg, seed):
    return [random_case(cfg, seed=seed + i, rate=r) for i, r in enumerate((0.1, 0.3, 0.6))]


# each kind once in the default suite, in the other partition than its proof below; the rest slow
@pytest.mark.parametrize("kind,partition", [("moe", "logic-on-logic"), ("mha", "memory-on-logic"),
                                            pytest.param("moe", "memory-on-logic", marks=pytest.mark.slow),
                                            pytest.param("mha", "logic-on-logic", marks=pytest.mark.slow)])
def test_stitched_bit_exact(kind, partition):
    """The same bench on the stitched 3D top: golden bits, and the same cycles as 2D."""
    cfg = SMALL[kind]
    runs = _cases(cfg, 3)
    got3 = simulate(build(cfg, f"3d:{partition}"), runs)
    got2 = simulate(build(cfg), runs)
    for (s, w), (o3, c3), (o2, c2) in zip(runs, got3, got2):
        assert compare(run_golden(cfg, s, w), o3) is None
        assert np.array_equal(o2, o3) and c2 == c3


@pytest.mark.slow
@pytest.mark.parametrize("partition", PARTITIONS)
@pytest.mark.parametrize("kind", ["moe", "mha"])
def test_default_stitched_bit_exact(root, kind, partition):
    cfg = load_config(root / "configs" / f"{kind}_default.toml")
    runs = [random_case(cfg, seed=0, rate=0.2), random_case(cfg, seed=1, rate=0.35)]
    for (s, w), (o, _) in zip(runs, simulate(build(cfg, f"3d:{partition}"), runs)):
        assert compare(run_golden(cfg, s, w), o) is None


# each kind and each partition once in the default suite, the other two pairs in the slow one
FORMAL = [("moe", "memory-on-logic"), ("mha", "logic-on-logic"),
          pytest.param("moe", "logic-on-logic", marks=pytest.mark.slow),
          pytest.param("mha", "memory-on-logic", marks=pytest.mark.slow)]
# a mutant (one population's threshold changed) must be caught: once in the default suite (the
# checker is the same code for both kinds), each other pair with another population in the slow one
MUTANTS = [("moe", "memory-on-logic", "hidden"),
           pytest.param("mha", "logic-on-logic", "q", marks=pytest.mark.slow),
           pytest.param("moe", "logic-on-logic", "out", marks=pytest.mark.slow),
           pytest.param("mha", "memory-on-logic", "attn", marks=pytest.mark.slow)]


@pytest.mark.parametrize("kind,partition", FORMAL)
def test_formal_equivalence(kind, partition):
    """Yosys equiv_make/equiv_simple/equiv_induct: the stitched 3D top equals the 2D top in every
    signal and every cycle."""
    res = check_equivalence(TINY[kind], partition)
    assert res["equivalent"], res["log"]
    assert res["equiv_cells"] > 1000 and res["unproven"] == 0


@pytest.mark.parametrize("kind,partition,pop", MUTANTS)
def test_formal_equivalence_catches_a_mutant(kind, partition, pop):
    """The same proof on a mutant 3D top (one population's threshold one higher) fails."""
    cfg = TINY[kind]
    lif = dict(cfg.lif)
    lif[pop] = LifConfig(lif[pop].threshold + 1, lif[pop].leak_shift, lif[pop].reset, pop)
    mutant = check_equivalence(cfg, partition, gate_cfg=cfg.replace(lif=lif))
    assert not mutant["equivalent"] and mutant["unproven"] > 0, f"a changed {pop} threshold was not caught"


@pytest.mark.slow
@pytest.mark.parametrize("kind,partition,size",
                         [(k, p, "small") for k in ("moe", "mha") for p in PARTITIONS]
                         + [(k, "memory-on-logic", "default") for k in ("moe", "mha")])   # the paper's split
def test_formal_equivalence_larger(root, kind, partition, size):
    """The small configurations with every memory word proven; the default ones with the SRAM
    macros cut out (their memories mapped do not fit in Yosys: gen/equiv.py)."""
    cfg = SMALL[kind] if size == "small" else load_config(root / "configs" / f"{kind}_default.toml")
    res = check_equivalence(cfg, partition, memories="map" if size == "small" else "cut")
    assert res["equivalent"], res["log"]
    macros = 0 if size == "small" else len(re.findall(r"^\s*spikestack_sram_\w+ \S+ \(",
                                                       generate_verilog(cfg, "2d", macros=True)[1], re.M))
    assert res["macros_cut"] == macros                 # every GLB and merge buffer, on both sides


def _ports(verilog_text: str) -> dict[str, tuple[str, int]]:
    """Ports of the first module: name -> (direction, width)."""
    first = verilog_text.split("endmodule")[0]
    out = {}
    for m in re.finditer(r"^\s*(input|output)\s+(?:wire\s+|reg\s+)?(?:\[(\d+):(\d+)\]\s+)?(\S+?)\s*;", first, re.M):
        width = int(m.group(2)) - int(m.group(3)) + 1 if m.group(2) else 1
        out[m.group(4).lstrip("\\")] = (m.group(1), width)
    return out


@pytest.mark.parametrize("size", ["ppa_small", pytest.param("default", marks=pytest.mark.slow)])
@pytest.mark.parametrize("partition", PARTITIONS)
@pytest.mark.parametrize("kind", ["moe", "mha"])
def test_f2f_map_matches_tier_ports(tmp_path, root, kind, partition, size):
    """Every bond is a port on both tiers with the same width and opposite directions; nothing else
    crosses: a tier's other ports are exactly its share of the top's ports."""
    cfg = load_config(root / "configs" / f"{kind}_{size}.toml")
    write_tiers(cfg, tmp_path, partition, report=False, log=lambda *_: None)
    fmap = json.loads((tmp_path / "f2f_map.json").read_text())
    ports = {t: _ports((tmp_path / f"{t}.v").read_text()) for t in TIERS}
    bond_names = {b["name"] for b in fmap["bonds"]}
    assert len(bond_names) == len(fmap["bonds"])                      # each bond once
    assert fmap["bond_count"] == sum(b["width"] for b in fmap["bonds"]) > 0
    for b in fmap["bonds"]:
        src, dst = b["direction"].split("->")
        assert ports[src][b["name"]] == ("output", b["width"]), b
        assert ports[dst][b["name"]] == ("input", b["width"]), b
        assert all(fmap["tiers"][dst].count(blk) for blk in b["sink_blocks"])
        assert b["source_block"] in fmap["tiers"][src]
    design = design_for(cfg)
    assign = assignment_for(design, partition)
    top_ports = _ports((tmp_path / f"spikestack_{kind}.v").read_text())
    for t in TIERS:
        exported = {p for p, target in design.exports.items() if assign[target.split(".")[0]] == t}
        own = {p for p in top_ports if any(p == e or p.startswith(e + "__") for e in exported)}
        assert set(ports[t]) - bond_names - {"clk", "rst"} == own
    # the 3D top has the 2D top's ports
    assert _ports((tmp_path / f"spikestack_{kind}_3d.v").read_text()) == top_ports


def test_partitions_place_blocks(root):
    cfg = load_config(root / "configs" / "moe_default.toml")      # its weight GLBs as the paper's pairs
    design = design_for(cfg.replace(hw=dataclasses.replace(cfg.hw, glb_share=2)))
    mol = assignment_for(design, "memory-on-logic")
    assert {b for b, t in mol.items() if t == "tier_bottom"} == {f"expert_core_{c}" for c in range(4)}
    lol = assignment_for(design, "logic-on-logic")
    assert lol["expert_core_0"] == lol["expert_core_1"] == lol["weight_glb_0"] == "tier_bottom"
    assert lol["expert_core_2"] == lol["weight_glb_1"] == "tier_top"
    over = assignment_for(design, "memory-on-logic", {"router": "bottom"})
    assert over["router"] == "tier_bottom"


def test_tier_report(tmp_path):
    from spikestack.flows.builtin.platform import OSU018
    write_tiers(TINY["moe"], tmp_path, "memory-on-logic", log=lambda *_: None, liberty=OSU018.liberty)
    rep = json.loads((tmp_path / "tiers_report.json").read_text())
    fmap = json.loads((tmp_path / "f2f_map.json").read_text())
    assert rep["bonds"] == fmap["bond_count"] > 0
    for t in TIERS:
        st = rep["tiers"][t]
        assert st["cells"] > 0 and st["flops"] > 0
        if OSU018.liberty.exists():
            assert st["area_um2"] > 0 and st["max_bond_pitch_um"] > 0
    assert "F2F bonds" in (tmp_path / "tiers_report.md").read_text()


def _gen(tmp_path, *args):
    cfg = tmp_path / "c.toml"
    cfg.write_text(dump_config(SMALL["moe"]))
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "spikestack.cli", "gen", str(cfg), "-o", str(out),
                        "--tiers", "2", "--no-report", *args], capture_output=True, text=True)
    return r, out


@pytest.mark.parametrize("args,needle", [
    (["--assign", "nosuch=top"], "'nosuch' does not exist"),
    (["--assign", "router=top", "--assign", "router=bottom"], "two tiers"),
    (["--assign", "expert_core_0=top", "--assign", "expert_core_1=top"], "tier_bottom is empty"),
    (["--partition", "sideways"], "partition"),
    (["--assign", "router=middle"], "top or bottom"),
])
def test_bad_tier_requests(tmp_path, args, needle):
    r, out = _gen(tmp_path, *args)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_gen_tiers_writes_everything(tmp_path):
    r, out = _gen(tmp_path, "--partition", "logic-on-logic")
    assert r.returncode == 0, r.stderr
    names = {p.name for p in out.iterdir()}
    assert {"spikestack_moe.v", "tier_top.v", "tier_bottom.v", "spikestack_moe_3d.v", "f2f_map.json",
            "manifest.json"} <= names
    assert not any(n.startswith(".") for n in names)


@pytest.mark.parametrize("mutant", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_formal_equivalence_with_macros_cut(mutant):
    """``memories="cut"``: each SRAM macro's pins are ports of both flattened tops (its outputs
    shared inputs, its inputs proven outputs); the proof still holds, and still catches a mutant."""
    cfg = TINY["moe"]
    gate = None
    if mutant:
        lif = dict(cfg.lif)
        lif["out"] = LifConfig(lif["out"].threshold + 1, lif["out"].leak_shift, lif["out"].reset, "out")
        gate = cfg.replace(lif=lif)
    res = check_equivalence(cfg, "memory-on-logic", gate_cfg=gate, memories="cut")
    assert res["macros_cut"] == 4                        # 3 GLBs (biases in the weight GLB) and the merge buffer
    if mutant:
        assert not res["equivalent"] and res["unproven"] > 0
    else:
        assert res["equivalent"] and res["equiv_cells"] > 1000, res["log"]
    with pytest.raises(ValueError, match="memories: 'none'"):
        check_equivalence(cfg, memories="none")


def test_evert_macros_makes_pins_ports():
    from spikestack.gen.equiv import _evert_macros    # noqa: PLC2701  (the unit under test)
    rtlil = "\n".join([
        "attribute \\top 1", "module \\gold", "  wire input 1 \\clk", "  wire width 2 output 2 \\q",
        "  wire width 2 \\a", "  cell \\sram \\glb.macro", "    connect \\clk \\clk", "    connect \\addr0 \\a [0]",
        "    connect \\dout0 \\q [1]", "  end", "end",
        "attribute \\src \"x.v:1\"", "attribute \\blackbox 1", "module \\sram", "  wire input 1 \\clk",
        "  wire input 2 \\addr0", "  wire output 3 \\dout0", "end", ""])
    text, n = _evert_macros(rtlil)
    assert n == 1 and "cell \\sram" not in text and "module \\sram" not in text
    assert "  wire output 3 \\glb.macro.clk" in text and "  wire output 4 \\glb.macro.addr0" in text
    assert "  wire input 5 \\glb.macro.dout0" in text
    assert "  connect \\glb.macro.addr0 \\a [0]" in text and "  connect \\q [1] \\glb.macro.dout0" in text
