"""SRAM macros for the GLBs: a stated area/timing/energy model and the views the flows need.

One macro per distinct GLB shape (:class:`spikestack.hw.lib.glb.SramShape`: depth, width, write
ports, read ports, write lanes). For each: a LEF abstract (``MACRO ... CLASS BLOCK``) on the
OSU 0.18 µm (``qflow-tech-osu018``) grid, a liberty model (area, pin capacitances, setup/hold to
``clk``, clk->dout delay = access time, energy per access, leakage) that OpenSTA and Yosys read,
a Verilog blackbox (for synthesis / STA netlists) and a behavioural Verilog model (for
simulation; same semantics as the ``amaranth.lib.memory.Memory`` it replaces).

The model (:class:`SramModel`) — an analytical, CACTI-style estimate, not a characterised macro:

* **Bitcell.** A 6T cell of 5.6 µm² (3.36 x 1.67 µm), the 180 nm-generation figure published for
  Intel's 0.18 µm logic process (Yang et al., IEDM 1998: 5.59 µm²; foundry 0.18 µm cells are
  4.4-4.7 µm², so this is the conservative end). The OSU cells are drawn to MOSIS SCMOS rules,
  not to a foundry SRAM rule set, so no such cell exists in this library: it is an assumption.
* **Ports.** The 6T cell has one read/write port (taken by write port 0). Each further port
  adds to the cell, following CACTI's multi-port cell model (Wilton & Jouppi, WRL 93/5; Thoziyoor
  et al., CACTI 5.1, HPL-2008-20): a further *write* port adds two access transistors, a
  differential bitline pair (+2 bitline pitches of width) and a wordline (+1 wordline pitch of
  height); a further *read* port adds a 2-transistor single-ended read stack (8T style), one
  bitline (+1 pitch) and one wordline (+1 pitch). Pitches are the osu018 metal pitches (metal2
  0.8 µm for bitlines, metal3 1.0 µm for wordlines). A 1W+1R cell is therefore 4.16 x 2.67 µm =
  11.1 µm² (1.98x); published hand-drawn 8T cells are ~1.3x a 6T (Chang et al., VLSI 2005), so
  the rule over-estimates the extra-port cost of small port counts — kept because it is stated
  and grows the way multi-porting does (both sides grow with the port count: area ~ P²).
* **Periphery** (per macro, in the osu018 cell scale: 10 µm rows): per port a row decoder and
  wordline driver column ``dec_w0 + dec_w_per_bit x address bits`` µm wide; per read port a
  sense-amplifier / output-latch strip, per write port a write-driver / input-latch strip
  (``sa_h`` / ``wd_h`` µm tall across the columns); a control block (``ctrl_w x ctrl_h``) and a
  ring ``edge`` µm wide. Columns are folded (column mux 1/2/4/8) to keep the array near square.
  The macro is widened if its pins (every other metal2 track on the top and bottom edges) need
  more room, and rounded up to the site grid (0.8 µm) and the row height (10 µm).
* **Timing**, in FO4 of this library (``fo4_ns`` = 0.12 ns: INVX1 of ``osu018_stdcells.lib``
  driving four INVX1 inputs, 4 x 9.3 fF, at 0.18 ns input slew): access = decoder
  (``2 + log2(rows)`` FO4) + wordline/bitline (``2 + rows/16 + cols/64`` FO4, x ``1 + 0.1`` per
  extra port for the added loading) + sense and output (3 FO4); clk->dout = access +
  ``r_out`` x load. Setup of every input to the rising clock = 2 FO4, hold = 0.5 FO4. Cycle
  time (not checked by STA here) = access + 3 FO4 precharge.
* **Energy** per access at 1.8 V: read = ``cols x rows x c_bl x VDD x v_swing`` (bitline swing
  to the sense threshold) + decoder ``(log2(rows)+1) x c_dec x VDD²`` + wordline
  ``cols x c_wl x VDD²`` + sense/latch ``cols x c_sa x VDD²``; write = bitlines at full swing
  ``cols x rows x c_bl x VDD²`` + decoder + wordline. In the liberty it is ``internal_power`` on
  ``clk`` (energy per rising edge, pJ) with ``when`` = that port's enable, so OpenSTA counts it
  in proportion to the enable's activity. Leakage = ``leak_bit`` per bit x port factor +
  ``leak_col`` per column and port + ``leak_fixed``.

Units as in ``osu018_stdcells.lib``: ns, pF, pJ (V x pF x V), nW, µm².
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ...hw.lib.glb import SramShape
from ...gen.macros import behavioural_verilog, blackbox_verilog, shapes_in, with_models
from ..formats.liberty import liberty_header

__all__ = ["SramModel", "MacroView", "MODEL", "macro_view", "lef_text", "liberty_text", "blackbox_verilog",
           "behavioural_verilog", "shapes_in", "with_models", "write_macro", "write_macros"]


@dataclass(frozen=True)
class SramModel:
    """The technology numbers of the SRAM model (see the module docstring for their sources)."""
    cell_w_um: float = 3.36          # 6T cell, 5.6 um^2 (180 nm generation)
    cell_h_um: float = 1.67
    bitline_pitch_um: float = 0.8    # osu018 metal2 pitch
    wordline_pitch_um: float = 1.0   # osu018 metal3 pitch
    dec_w0_um: float = 12.0          # decoder + wordline driver, per port
    dec_w_per_bit_um: float = 2.4
    sa_h_um: float = 30.0            # sense amp + output latch strip, per read port
    wd_h_um: float = 20.0            # write driver + input latch strip, per write port
    ctrl_w_um: float = 24.0
    ctrl_h_um: float = 20.0
    edge_um: float = 4.0             # ring around the body; includes the routing halo below
    halo_um: float = 2.0             # unobstructed margin inside the ring (graywolf abuts cells)
    site_w_um: float = 0.8           # osu018 SITE core 0.8 x 10
    row_h_um: float = 10.0
    pin_w_um: float = 1.2            # pin width: covers a metal2 track wherever the macro lands
    pin_pitch_um: float = 2.4        # minimum pin pitch (three metal2 tracks)
    fo4_ns: float = 0.12
    r_out_ns_per_pf: float = 1.0     # output driver ~ BUFX4
    vdd: float = 1.8
    c_bl_ff: float = 1.2             # bitline cap per cell (access junction + 1.7 um of metal2)
    c_wl_ff: float = 1.5             # wordline cap per cell (two gates + wire)
    c_dec_ff: float = 20.0           # decoder cap per address bit
    c_sa_ff: float = 8.0             # sense amp + latch per column
    v_swing: float = 0.3             # read bitline swing (V)
    c_addr_pf: float = 0.012         # input pin capacitances (~1.3 DFF D-pins)
    c_din_pf: float = 0.009
    c_en_pf: float = 0.012
    c_clk_pf: float = 0.02
    c_clk_per_col_pf: float = 0.0008
    leak_bit_nw: float = 0.05        # a DFFPOSX1 of the library leaks 0.16 nW
    leak_col_nw: float = 0.5
    leak_fixed_nw: float = 5.0


MODEL = SramModel()


@dataclass(frozen=True)
class MacroView:
    """A shape under the model: geometry, timing and energy."""
    shape: SramShape
    model: SramModel
    col_mux: int
    rows: int
    cols: int
    cell_w_um: float
    cell_h_um: float
    array_w_um: float
    array_h_um: float
    width_um: float
    height_um: float
    access_ns: float
    cycle_ns: float
    setup_ns: float
    hold_ns: float
    read_pj: float
    write_pj: float
    leakage_nw: float
    pin_x: dict = field(default_factory=dict, compare=False)   # pin -> (x um, "top"|"bottom")

    @property
    def area_um2(self) -> float:
        return self.width_um * self.height_um

    @property
    def cell_area_um2(self) -> float:
        return self.cell_w_um * self.cell_h_um

    def as_dict(self) -> dict:
        return {"name": self.shape.name, "depth": self.shape.depth, "width": self.shape.width,
                "write_ports": self.shape.write_ports, "read_ports": self.shape.read_ports,
                "lanes": self.shape.lanes, "rows": self.rows, "cols": self.cols, "col_mux": self.col_mux,
                "bitcell_um2": round(self.cell_area_um2, 3), "size_um": [self.width_um, self.height_um],
                "area_um2": round(self.area_um2, 2), "access_ns": round(self.access_ns, 4),
                "cycle_ns": round(self.cycle_ns, 4), "read_pj": round(self.read_pj, 5),
                "write_pj": round(self.write_pj, 5), "leakage_nw": round(self.leakage_nw, 4)}


def _ceil_to(x: float, step: float) -> float:
    return round(math.ceil(x / step - 1e-9) * step, 3)


def macro_view(shape: SramShape, model: SramModel = MODEL) -> MacroView:
    """Geometry, timing and energy of a shape (see the module docstring)."""
    m = model
    extra_w, extra_r = shape.write_ports - 1, shape.read_ports
    cell_w = m.cell_w_um + m.bitline_pitch_um * (2 * extra_w + extra_r)
    cell_h = m.cell_h_um + m.wordline_pitch_um * (extra_w + extra_r)
    col_mux = 1                                   # fold columns while the array is taller than wide
    while (col_mux < 8 and shape.depth % (2 * col_mux) == 0
           and (shape.depth / col_mux) * cell_h > 2 * (shape.width * col_mux) * cell_w):
        col_mux *= 2
    rows, cols = shape.depth // col_mux, shape.width * col_mux
    ports = shape.write_ports + shape.read_ports
    row_bits = max(1, (rows - 1).bit_length())
    array_w, array_h = cols * cell_w, rows * cell_h
    body_w = array_w + ports * (m.dec_w0_um + m.dec_w_per_bit_um * row_bits) + m.ctrl_w_um
    body_h = max(array_h + shape.read_ports * m.sa_h_um + shape.write_ports * m.wd_h_um, m.ctrl_h_um)
    pins = shape.pins()
    per_edge = math.ceil(len(pins) / 2)
    width = _ceil_to(max(body_w + 2 * m.edge_um, (per_edge + 1) * m.pin_pitch_um + 2 * m.edge_um), 2 * m.site_w_um)
    height = _ceil_to(body_h + 2 * m.edge_um, m.row_h_um)
    # pins: inputs of the write ports and clk on the bottom edge, read ports on the top, balanced
    bottom = [p for p in pins if not p[0].startswith("r")]
    top = [p for p in pins if p[0].startswith("r")]
    while len(bottom) > per_edge:
        top.insert(0, bottom.pop())
    while len(top) > per_edge:
        bottom.append(top.pop(0))
    pin_x = {}
    for edge, group in (("bottom", bottom), ("top", top)):       # spread evenly, centres on the site grid
        step = (width - 2 * m.edge_um) / max(1, len(group))
        for k, (name, _, _) in enumerate(group):
            x = m.edge_um + (k + 0.5) * step
            pin_x[name] = (round(m.site_w_um / 2 + math.floor((x - m.site_w_um / 2) / m.site_w_um) * m.site_w_um, 3),
                           edge)
    port_load = 1 + 0.1 * (ports - 1)
    access = m.fo4_ns * ((2 + math.log2(max(rows, 2))) + (2 + rows / 16 + cols / 64) * port_load + 3)
    v2 = m.vdd ** 2
    dec = (row_bits + 1) * m.c_dec_ff * v2 * 1e-3
    wl = cols * m.c_wl_ff * v2 * 1e-3
    read = cols * rows * m.c_bl_ff * m.vdd * m.v_swing * 1e-3 + dec + wl + cols * m.c_sa_ff * v2 * 1e-3
    write = cols * rows * m.c_bl_ff * v2 * 1e-3 + dec + wl
    leak = (shape.depth * shape.width * m.leak_bit_nw * (cell_w * cell_h) / (m.cell_w_um * m.cell_h_um) ** 0.5
            + cols * ports * m.leak_col_nw + m.leak_fixed_nw)
    return MacroView(shape, model, col_mux, rows, cols, cell_w, cell_h, array_w, array_h, width, height,
                     access, access + 3 * m.fo4_ns, 2 * m.fo4_ns, 0.5 * m.fo4_ns, read, write, leak, pin_x)


# --------------------------------------------------------------------------------------------- LEF

def lef_text(v: MacroView) -> str:
    """The LEF abstract of one macro (one macro per file: qflow's blif2cel reads a hard-macro LEF
    to its end). Pins: metal2, ``pin_w_um`` (1.2 µm) wide and 0.8 µm deep, spread along the top
    and bottom edges; 1.2 µm holds a whole metal2 track (pitch 0.8, wire 0.3) wherever graywolf
    puts the macro (it does not snap hard macros to the track grid). OBS: metal1 and metal2 over
    the body, metal2 leaving a 2 µm band along the pin edges, metal3 leaving a 4 µm band (room to
    turn out of the pins), all of them ``halo_um`` (2 µm) in from the left and right edges: graywolf
    abuts standard cells to the macro off the site grid, and their metal1 pins must stay
    reachable; metal4-metal6 are left for routing over the macro (the model's macro uses
    metal1-metal3 inside)."""
    s, w, h = v.shape, v.width_um, v.height_um
    lines = ["VERSION 5.4 ;", "NAMESCASESENSITIVE ON ;", 'BUSBITCHARS "[]" ;', 'DIVIDERCHAR "/" ;',
             "UNITS", "  DATABASE MICRONS 1000 ;", "END UNITS", "",
             f"MACRO {s.name}", "  CLASS BLOCK ;", f"  FOREIGN {s.name} 0.000 0.000 ;", "  ORIGIN 0.000 0.000 ;",
             f"  SIZE {w:.3f} BY {h:.3f} ;", "  SYMMETRY X Y ;"]
    for name, direction, role in s.pins():
        x, edge = v.pin_x[name]
        y0, y1 = (0.0, 0.8) if edge == "bottom" else (h - 0.8, h)
        lines += [f"  PIN {name}", f"    DIRECTION {direction.upper()} ;"]
        if role == "clk":
            lines.append("    USE CLOCK ;")
        hw = v.model.pin_w_um / 2
        lines += ["    PORT", "      LAYER metal2 ;", f"        RECT {x - hw:.3f} {y0:.3f} {x + hw:.3f} {y1:.3f} ;",
                  "    END", f"  END {name}"]
    x0, x1 = v.model.halo_um, w - v.model.halo_um
    lines.append("  OBS")
    for layer, band in (("metal1", 1.0), ("metal2", 2.0), ("metal3", 4.0)):
        lines += [f"    LAYER {layer} ;", f"      RECT {x0:.3f} {band:.3f} {x1:.3f} {h - band:.3f} ;"]
    lines += ["  END", f"END {s.name}", "", "END LIBRARY", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------- liberty

_LOADS = (0.005, 0.025, 0.1, 0.3)


def liberty_text(v: MacroView) -> str:
    """A liberty library with the one macro cell (units of ``osu018_stdcells.lib``)."""
    s, m = v.shape, v.model
    caps = {"clk": m.c_clk_pf + m.c_clk_per_col_pf * v.cols * (s.write_ports + s.read_ports),
            "addr": m.c_addr_pf, "din": m.c_din_pf, "we": m.c_en_pf, "en": m.c_en_pf}
    idx = ", ".join(f"{c:g}" for c in _LOADS)
    delay = ", ".join(f"{v.access_ns + m.r_out_ns_per_pf * c:.4f}" for c in _LOADS)
    slew = ", ".join(f"{0.08 + 2.0 * m.r_out_ns_per_pf * c:.4f}" for c in _LOADS)
    out = [f"/* SRAM macro {s.name}: analytical model of spikestack.flows.builtin.sram (not characterised).",
           f"   {s.depth} words x {s.width} bits, {s.write_ports} write / {s.read_ports} read ports, "
           f"access {v.access_ns:.3f} ns, {v.width_um:.1f} x {v.height_um:.1f} um. */",
           *liberty_header(f"{s.name}_lib", m.vdd),
           f"  lu_table_template(sram_load_{len(_LOADS)}) {{",
           "    variable_1 : total_output_net_capacitance;", f'    index_1 ("{idx}");', "  }",
           f"  cell ({s.name}) {{",
           f"    area : {v.area_um2:.2f};", "    dont_touch : true;", "    is_macro_cell : true;",
           "    interface_timing : true;",
           f"    cell_leakage_power : {v.leakage_nw:.4f};"]
    for name, direction, role in s.pins():
        out += [f"    pin ({name}) {{", f"      direction : {direction};"]
        if direction == "input":
            out.append(f"      capacitance : {caps[role]:.5f};")
        if role == "clk":
            out.append("      clock : true;")
            for i in range(s.write_ports):
                en = " | ".join(f"w{i}_we{k}" for k in range(s.lanes))
                out += ["      internal_power () {", f'        when : "{en}";',
                        f'        rise_power (scalar) {{ values ("{v.write_pj:.5f}"); }}',
                        '        fall_power (scalar) { values ("0"); }', "      }"]
            for j in range(s.read_ports):
                out += ["      internal_power () {", f'        when : "r{j}_en";',
                        f'        rise_power (scalar) {{ values ("{v.read_pj:.5f}"); }}',
                        '        fall_power (scalar) { values ("0"); }', "      }"]
        elif direction == "input":
            for kind, val in (("setup_rising", v.setup_ns), ("hold_rising", v.hold_ns)):
                out += ["      timing () {", '        related_pin : "clk";', f"        timing_type : {kind};",
                        f'        rise_constraint (scalar) {{ values ("{val:.4f}"); }}',
                        f'        fall_constraint (scalar) {{ values ("{val:.4f}"); }}', "      }"]
        else:
            out += ["      max_capacitance : 0.5;", "      timing () {", '        related_pin : "clk";',
                    "        timing_type : rising_edge;", "        timing_sense : non_unate;"]
            for table, vals in (("cell_rise", delay), ("cell_fall", delay), ("rise_transition", slew),
                                ("fall_transition", slew)):
                out.append(f'        {table} (sram_load_{len(_LOADS)}) {{ values ("{vals}"); }}')
            out.append("      }")
        out.append("    }")
    out += ["  }", "}", ""]
    return "\n".join(out)


# ----------------------------------------------------------------------------------------- Verilog

def write_macro(shape: SramShape, directory: Path, model: SramModel = MODEL) -> dict:
    """Write ``<name>.lef``, ``<name>.lib``, ``<name>_bb.v``, ``<name>_model.v`` into ``directory``
    (one directory per macro: qflow's ``hard_macros`` takes one LEF and one liberty from each)."""
    v = macro_view(shape, model)
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    files = {"lef": d / f"{shape.name}.lef", "lib": d / f"{shape.name}.lib",
             "blackbox": d / f"{shape.name}_bb.v", "model": d / f"{shape.name}_model.v"}
    files["lef"].write_text(lef_text(v))
    files["lib"].write_text(liberty_text(v))
    files["blackbox"].write_text(blackbox_verilog(shape))
    files["model"].write_text(behavioural_verilog(shape))
    return {"view": v, **files}


def write_macros(shapes, directory: Path, model: SramModel = MODEL) -> dict[str, dict]:
    """:func:`write_macro` for each shape, in ``directory/<name>/``."""
    return {s.name: write_macro(s, Path(directory) / s.name, model) for s in shapes}
