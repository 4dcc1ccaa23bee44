"""The same cells in 2D and 3D (flows/builtin/samecells.py): the text side, no tools (the synthesised
cells are compared on a real run in tests/test_flow.py, test_2d_and_tiers_have_the_same_cells)."""
import re

from spikestack.config import HwConfig, LayerConfig, LifConfig
from spikestack.flows.formats.verilog import modules
from spikestack.flows.builtin.samecells import boxed_cells, with_gates
from spikestack.gen.generate import generate_verilog
from spikestack.gen.tiers import tier_sources
from spikestack.hw.layers import design_for

MOE = LayerConfig(kind="moe", t=1, n=2, d=3, dh=2, experts=2, top_k=2, w_bits=4, b_bits=6, v_bits=8,
                  lif={"hidden": LifConfig(8, 3, "hard", "hidden"), "out": LifConfig(8, 3, "hard", "out")},
                  hw=HwConfig(rows=1, cols=3, cores=2, glb_share=2))


def _fake_gates(cells: dict[str, str], text: str) -> dict[str, str]:
    """A stand-in gate netlist per cell: its ports (from the wrapper that instantiates it) and one
    marker instance naming the cell."""
    out = {}
    for m in modules(text).values():
        hit = re.search(r"^\s*(\w+)\s+\\cell\s*\(", m.body, re.M)
        if hit and hit.group(1) in cells.values():
            ports = ", ".join(m.ports)
            out[hit.group(1)] = (f"module {hit.group(1)}({ports});\n  MARK_{hit.group(1)} u ();\nendmodule\n")
    return out


def test_every_block_boxed_once_per_group():
    cells = boxed_cells(MOE)
    design = design_for(MOE)
    keys = {b.group or b.name for b in design.blocks.values()}
    assert set(cells) == keys and len(set(cells.values())) == len(cells)
    assert "expert_core" in cells and "expert_core_0" not in cells       # the cores share one cell


def test_2d_and_tiers_instantiate_the_same_gate_modules_and_no_glue():
    """Each block's wrapper becomes the block's gate module (named as the wrapper); the 2D top and
    the two tiers together hold every block exactly once, the same gate text, and the tops hold no
    cell (the glue of the layer graph is wiring)."""
    cells = boxed_cells(MOE)
    _, text2d = generate_verilog(MOE, "2d", boxes=cells)
    gates = _fake_gates(cells, text2d)
    assert set(gates) == set(cells.values())
    g2d = with_gates(text2d, gates)
    tiers = {k: with_gates(v, gates) for k, v in tier_sources(MOE, boxes=cells, tiers_only=True)["texts"].items()}

    def blocks(text, top):
        mods = modules(text)
        marks = {}
        for name, m in mods.items():
            hit = re.search(r"MARK_(\w+)", m.body)
            if hit:
                assert name.startswith(top + "."), name
                marks[name[len(top) + 1:]] = hit.group(1)
        body = mods[top].body
        insts = re.findall(r"^\s*(\\\S+|\w+)\s+\\?(\S+)\s*\(", body, re.M)
        assert all(c.lstrip("\\").startswith(top + ".") for c, _ in insts)     # only block instances
        return marks

    b2 = blocks(g2d, "spikestack_moe")
    b3 = {**blocks(tiers["tier_top.v"], "tier_top"), **blocks(tiers["tier_bottom.v"], "tier_bottom")}
    assert b2 == b3 and set(b2) == set(design_for(MOE).blocks)
    assert "\\cell" not in g2d and all("\\cell" not in t for t in tiers.values())


def test_memory_path_ends_are_found_again_in_a_tier_by_their_nets():
    """A flip-flop is matched by its Q net (2D and tier instance names differ), an SRAM macro by
    its cell and the nets on its pins (most in common)."""
    from spikestack.flows.ppa.analysis import matched_instance, register_keys
    two = ("module top (clk);\n  input clk;\n"
           "  DFFPOSX1 DFFPOSX1_7 ( .CLK(clk), .D(n1), .Q(\\weight_glb_0.mem[3] ) );\n"
           "  DFFPOSX1 DFFPOSX1_9 ( .CLK(clk), .D(n2), .Q(expert_core_0_core_acc_1_) );\n"
           "  spikestack_sram_8x3_w1r2 spikestack_sram_8x3_w1r2_1 ( .clk(clk), .rd0_addr(a0), .rd0_data(\\activation_glb.rd0 ) );\n"
           "endmodule\n")
    tier = ("module tier_bottom (clk);\n  input clk;\n"
            "  DFFPOSX1 DFFPOSX1_2 ( .CLK(clk), .D(m1), .Q(expert_core_0_core_acc_1_) );\n"
            "  DFFPOSX1 DFFPOSX1_3 ( .CLK(clk), .D(m2), .Q(weight_glb_0_mem_3_) );\n"
            "  spikestack_sram_8x3_w1r2 spikestack_sram_8x3_w1r2_4 ( .clk(clk), .rd0_addr(b0), .rd0_data(other) );\n"
            "  spikestack_sram_8x3_w1r2 spikestack_sram_8x3_w1r2_5 ( .clk(clk), .rd0_addr(b1), .rd0_data(activation_glb_rd0) );\n"
            "endmodule\n")
    k2, k3 = register_keys(two), register_keys(tier, "tier_bottom/")
    assert matched_instance(k2["DFFPOSX1_9"], k3) == "tier_bottom/DFFPOSX1_2"
    assert matched_instance(k2["DFFPOSX1_7"], k3) == "tier_bottom/DFFPOSX1_3"
    assert matched_instance(k2["spikestack_sram_8x3_w1r2_1"], k3) == "tier_bottom/spikestack_sram_8x3_w1r2_5"
    assert matched_instance(("Q", "nothing_here"), k3) is None
