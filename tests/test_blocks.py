"""Design blocks as macro instances (hw.graph.boxed): one cell for the 2D top and both tiers,
formally equal to the design, bad requests refused; and the two-level hierarchical flow."""
import re
import subprocess
import sys

import pytest

from spikestack.flows.formats.verilog import modules
from spikestack.config import LifConfig
from spikestack.gen.generate import block_verilog, generate_verilog
from spikestack.gen.tiers import check_box_equivalence, tier_sources

from test_tiers import SMALL, TINY

BOXES = {"moe": {"expert_core": "expert_core_block", "merge": "merge_block", "spike_generator": "spike_generator_block",
                 "router": "router_block"},
         "mha": {"proj_core": "proj_core_block", "attention_core": "attention_core_block", "collector": "collector_block"}}


def _instances(text: str, cell: str) -> list[set[str]]:
    """The connected port names of every instance of ``cell`` in a Verilog text."""
    return [set(re.findall(r"\.(\S+?)\s*\(", m.group(1)))
            for m in re.finditer(rf"^\s*{cell}\s+\S+\s*\((.*?)\);", text, re.S | re.M)]


@pytest.mark.parametrize("kind", ["moe", "mha"])
def test_boxed_tops_instantiate_one_cell_with_its_ports(kind):
    cfg, boxes = SMALL[kind], BOXES[kind]
    _, text = generate_verilog(cfg, "2d", boxes=boxes)
    tiers = tier_sources(cfg, boxes=boxes, tiers_only=True)["texts"]
    assert set(tiers) == {"tier_top.v", "tier_bottom.v"}
    for block, cell in boxes.items():
        own = block_verilog(cfg, block, cell)
        ports = set(modules(own)[cell].ports)
        assert {"clk", "rst"} <= ports and len(ports) > 4
        insts = {name: _instances(t, cell) for name, t in [("2d", text), *tiers.items()]}
        n2d = len(insts["2d"])
        assert n2d == cfg.hw.cores if block.endswith("_core") else n2d == 1
        assert len(insts["tier_top.v"]) + len(insts["tier_bottom.v"]) == n2d   # each block on one tier
        for found in insts.values():
            assert all(conns == ports for conns in found), f"{cell}: ports differ from its own Verilog"
        assert f"module {cell}" not in text                    # the cell is defined by its own text only


# slow, with the hierarchical flows it guards (test_flow): moe 2.5-4 min, mha 1-1.5 min
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["moe", "mha"])
def test_boxed_top_is_formally_the_design(kind):
    """Yosys equiv_make/equiv_simple/equiv_induct: the 2D top with its blocks as cell instances,
    plus the cells' own Verilog, equals the 2D top in every register and output, every cycle; a
    mutant cell (one threshold changed) is caught."""
    cfg, boxes = TINY[kind], BOXES[kind]
    res = check_box_equivalence(cfg, boxes)
    assert res["equivalent"], res["log"]
    assert res["equiv_cells"] > 1000 and res["unproven"] == 0
    pop = "hidden" if kind == "moe" else "attn"
    lif = dict(cfg.lif)
    lif[pop] = LifConfig(lif[pop].threshold + 1, lif[pop].leak_shift, lif[pop].reset, pop)
    mutant = check_box_equivalence(cfg, boxes, gate_cfg=cfg.replace(lif=lif))
    assert not mutant["equivalent"] and mutant["unproven"] > 0


def test_unknown_blocks_are_refused(tmp_path, root):
    from spikestack.flows.builtin.blockmacros import check_blocks
    with pytest.raises(ValueError, match="no block or group named nope"):
        check_blocks(SMALL["moe"], ["expert_core", "nope"])
    with pytest.raises(ValueError, match="both named"):
        check_blocks(SMALL["moe"], ["expert_core", "expert_core_0"])
    out = tmp_path / "ppa"
    r = subprocess.run([sys.executable, "-m", "spikestack.cli", "ppa", str(root / "configs" / "moe_ppa_small.toml"),
                        "-o", str(out), "--blocks", "expert_core,attention_core"], capture_output=True, text=True)
    assert r.returncode == 2 and "attention_core" in r.stderr and not out.exists()


def test_flat_blocks_are_hardened_without_inner_macros(monkeypatch, tmp_path):
    """``flat`` blocks (``spikestack ppa --flat-blocks``) get none of the ``grains``' inner macros, the others
    all of them; a flat block that is not among the blocks is refused, naming the option, before any
    flow runs. (The flows are stand-ins here: what is checked is which macros each block is built from.)"""
    import spikestack.flows.builtin.blockmacros as bm
    from spikestack.flows.builtin.harden import MacroAbstract
    inner, built = [], {}

    def harden_for(text, d, grain, *a, **k):
        inner.append((d.parent.name, grain))
        return text, [], None, {"macros": {}}

    def harden(text, cell, d, clock_ns, **k):
        built[d.name] = [b for b in k["blocks"]]
        return MacroAbstract(cell, d / "a.lef", d / "a.lib", d / "a.v", 1.0, 1.0, clock_ns, k["route_layers"],
                             flow={"cells": 1})

    monkeypatch.setattr(bm, "harden_for", harden_for)
    monkeypatch.setattr(bm, "harden", harden)
    with pytest.raises(ValueError, match="flat_blocks: expert_core not among"):
        bm.harden_blocks(SMALL["moe"], ["merge"], tmp_path, grains=["repeated"], flat=("expert_core",), jobs=1)
    assert not inner and not built
    bm.harden_blocks(SMALL["moe"], ["merge", "spike_generator"], tmp_path, grains=["repeated"], flat=("merge",),
                     jobs=1, log=lambda *a: None)
    assert inner == [("spike_generator", "repeated")] and set(built) == {"merge", "spike_generator"}
