"""N-tier stacks (3, 4 tiers): bit-exact stacked tops, formal equivalence with the 2D top, bond maps
per interface, named partitions, registered bonds, bad requests (docs/ntier.md)."""
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from spikestack.config import LifConfig, dump_config, load_config
from spikestack.gen.equiv import check_equivalence
from spikestack.gen.partition import assignment_for, stack_assignment
from spikestack.gen.stack import write_stack
from spikestack.hw.layers import design_for
from spikestack.sim.layers import run_golden
from spikestack.sim.tensors import random_case
from spikestack.tb.harness import build, compare, simulate

from test_tiers import SMALL, TINY, _cases, _ports


@pytest.mark.parametrize("kind,variant", [("mha", "3d4:pipeline"),
                                          pytest.param("moe", "3d3:memory-on-logic", marks=pytest.mark.slow),
                                          pytest.param("moe", "3d4:memory-control-logic", marks=pytest.mark.slow),
                                          pytest.param("mha", "3d5:pipeline", marks=pytest.mark.slow)])   # 3 groups (heads > cores): 4 or 5 tiers
def test_stack_bit_exact(kind, variant):
    """The bench on the stacked top: golden bits, the same cycles as 2D (bonds are wires)."""
    cfg = SMALL[kind]
    runs = _cases(cfg, 5)
    for (s, w), (o, c), (o2, c2) in zip(runs, simulate(build(cfg, variant), runs), simulate(build(cfg), runs)):
        assert compare(run_golden(cfg, s, w), o) is None
        assert np.array_equal(o, o2) and c == c2


@pytest.mark.parametrize("kind,variant", [("moe", "3d3:memory-on-logic"),
                                          pytest.param("mha", "3d4:pipeline", marks=pytest.mark.slow)])
def test_registered_bonds_bit_exact(kind, variant):
    """Registers on the stream bonds: golden bits, more cycles than without (each registered stream
    crossing takes a cycle per interface each way)."""
    cfg = SMALL[kind]
    runs = _cases(cfg, 7)
    plain = simulate(build(cfg, variant), runs)
    for (s, w), (o, c), (_, c0) in zip(runs, simulate(build(cfg, variant + ":regs"), runs), plain):
        assert compare(run_golden(cfg, s, w), o) is None
        assert c > c0


@pytest.mark.parametrize("kind,n,partition", [("moe", 4, "memory-control-logic"),
                                              pytest.param("mha", 3, "pipeline", marks=pytest.mark.slow),
                                              pytest.param("mha", 4, "pipeline", marks=pytest.mark.slow),
                                              pytest.param("moe", 3, "memory-on-logic", marks=pytest.mark.slow)])
def test_stack_formal_equivalence(kind, n, partition):
    res = check_equivalence(TINY[kind], partition, tiers=n)
    assert res["equivalent"], res["log"]
    assert res["equiv_cells"] > 1000 and res["unproven"] == 0


@pytest.mark.slow
def test_stack_formal_catches_a_mutant():
    cfg = TINY["moe"]
    lif = dict(cfg.lif)
    lif["hidden"] = LifConfig(lif["hidden"].threshold + 1, lif["hidden"].leak_shift, lif["hidden"].reset, "hidden")
    res = check_equivalence(cfg, "memory-control-logic", gate_cfg=cfg.replace(lif=lif), tiers=4)
    assert not res["equivalent"] and res["unproven"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("kind,n,partition", [("moe", 3, "memory-on-logic"), ("moe", 4, "memory-control-logic"),
                                              ("mha", 3, "pipeline"), ("mha", 4, "pipeline")])
def test_default_stack(root, kind, n, partition):
    """The default configurations: proof with the SRAM macros cut, and one bit-exact run."""
    cfg = load_config(root / "configs" / f"{kind}_default.toml")
    res = check_equivalence(cfg, partition, memories="cut", tiers=n)
    assert res["equivalent"], res["log"]
    runs = [random_case(cfg, seed=0, rate=0.2)]
    for (s, w), (o, _) in zip(runs, simulate(build(cfg, f"3d{n}:{partition}"), runs)):
        assert compare(run_golden(cfg, s, w), o) is None


def test_named_partitions(root):
    moe = design_for(load_config(root / "configs" / "moe_default.toml"))
    mha = design_for(load_config(root / "configs" / "mha_default.toml"))
    # N = 2 through the stack: the two-tier partitions, tier_top = 1
    for d in (moe, mha):
        for p in ("memory-on-logic", "logic-on-logic"):
            two = assignment_for(d, p)
            assert stack_assignment(d, 2, p) == {b: int(t == "tier_top") for b, t in two.items()}
    a = stack_assignment(moe, 3)
    assert [a[f"expert_core_{c}"] for c in range(4)] == [0, 0, 1, 1]
    assert all(a[b] == 2 for b, blk in moe.blocks.items() if not blk.group)
    a = stack_assignment(mha, 3, "pipeline")
    assert {a[f"proj_core_{c}"] for c in range(4)} == {0} and {a[f"attention_core_{c}"] for c in range(4)} == {1}
    a = stack_assignment(mha, 4, "pipeline")
    assert a["q_glb"] == 3 and a["sequencer"] == 2 and a["attention_core_3"] == 1
    a = stack_assignment(moe, 4, "memory-control-logic", {"router": 0})
    assert a["weight_glb_0"] == 3 and a["dispatcher"] == 2 and a["router"] == 0


@pytest.mark.parametrize("kind,n,partition", [("moe", 3, "memory-on-logic"), ("mha", 4, "pipeline")])
def test_bond_maps_match_tier_ports(tmp_path, root, kind, n, partition):
    """Bonds only between adjacent tiers; each a port on both faces with the same width and opposite
    directions; a feed-through tier has the net on both faces; nothing else crosses."""
    cfg = load_config(root / "configs" / f"{kind}_ppa_small.toml")
    write_stack(cfg, tmp_path, n, partition, report=False, log=lambda *_: None)
    sm = json.loads((tmp_path / "stack_map.json").read_text())
    ports = {k: _ports((tmp_path / f"tier_{k}.v").read_text()) for k in range(n)}
    assert [x["bond_kind"] for x in sm["interfaces"]] == ["f2b"] * (n - 2) + ["f2f"]
    names = {k: set() for k in range(n)}
    for i, x in enumerate(sm["interfaces"]):
        bm = json.loads((tmp_path / x["file"]).read_text())
        assert bm["interface"] == [f"tier_{i}", f"tier_{i + 1}"] and bm["bond_count"] == x["bond_count"] > 0
        for b in bm["bonds"]:
            up = b["direction"] == f"tier_{i}->tier_{i + 1}"
            assert up or b["direction"] == f"tier_{i + 1}->tier_{i}"
            assert ports[i][f"up__{b['name']}"] == ("output" if up else "input", b["width"])
            assert ports[i + 1][f"dn__{b['name']}"] == ("input" if up else "output", b["width"])
            names[i].add(f"up__{b['name']}")
            names[i + 1].add(f"dn__{b['name']}")
    assert sum(sm["feed_through_bits"].values()) > 0
    design = design_for(cfg)
    a = stack_assignment(design, n, partition)
    top_ports = _ports((tmp_path / f"spikestack_{kind}.v").read_text())
    for k in range(n):
        exported = {p for p, t in design.exports.items() if a[t.split(".")[0]] == k}
        own = {p for p in top_ports if any(p == e or p.startswith(e + "__") for e in exported)}
        assert set(ports[k]) - names[k] - {"clk", "rst"} == own
    assert _ports((tmp_path / f"spikestack_{kind}_3d{n}.v").read_text()) == top_ports


def _gen(tmp_path, *args):
    cfg = tmp_path / "c.toml"
    cfg.write_text(dump_config(SMALL["moe"]))
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "spikestack.cli", "gen", str(cfg), "-o", str(out), "--no-report", *args],
                       capture_output=True, text=True)
    return r, out


@pytest.mark.parametrize("args,needle", [
    (["--tiers", "3", "--assign", "nosuch=1"], "'nosuch' does not exist"),
    (["--tiers", "3", "--assign", "router=3"], "must be 0..2"),
    (["--tiers", "3", "--assign", "expert_core_0=2", "--assign", "expert_core_1=2"], "tier_0 is empty"),
    (["--tiers", "4", "--partition", "pipeline"], "needs 2 or 3 tiers"),
    (["--tiers", "5"], "tiers: must be"),
    (["--bond-regs"], "need --tiers 2 or more"),
])
def test_bad_stack_requests(tmp_path, args, needle):
    r, out = _gen(tmp_path, *args)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_gen_three_tiers_writes_everything(tmp_path):
    r, out = _gen(tmp_path, "--tiers", "3", "--bond-regs")
    assert r.returncode == 0, r.stderr
    names = {p.name for p in out.iterdir()}
    assert {"spikestack_moe.v", "tier_0.v", "tier_1.v", "tier_2.v", "spikestack_moe_3d3.v", "stack_map.json",
            "bonds_tier_0_tier_1.json", "bonds_tier_1_tier_2.json", "manifest.json"} <= names
    bm = json.loads((out / "bonds_tier_1_tier_2.json").read_text())
    assert bm["bond_kind"] == "f2f" and 0 < bm["registered_bits"] < bm["bond_count"]
    assert re.search(r"bondreg__", (out / "tier_2.v").read_text())
