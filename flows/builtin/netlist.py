"""Repairs of qflow's synthesised netlists, applied by the built-in flow (``run_flow``): both
after synthesis, and the header repair again on the netlist OpenSTA reads (placement may write
it anew from the BLIF).

* :func:`repair_header` — qflow's ``blif2Verilog`` garbles the netlist of a module with
  thousands of port bits: the port list and the ``input``/``output`` lines of the default MoE's
  expert core (2947 port bits) and merge block (5555) came out as truncated names and bytes that
  are not text (``b_rd__da``, ``\\x90\\x8a...``), and in the body the bits of the ports it lost
  are written as nets of their own (``results__payload_1094_`` for ``results__payload[1094]``),
  so the netlist OpenSTA reads was cut off from its ports. The instances are right. The header is
  rebuilt from the source's port declarations, and those nets renamed back to port bits, whenever
  its port list differs from the source's.
* :func:`drop_port_buffers` — Yosys writes a buffer (``write_blif -buf``) between a net and the
  output port it is wired to under another name. For an output wired straight to a hard macro's
  pin (an expert core's 1088-bit result word comes straight from its FIFO-lane macros) that
  buffer is a standard cell placed in the core, far from the macro, and every such net crosses
  into the core and out again. With qflow's output buffers off (``nobuffers``) these buffers do
  nothing else: they are taken out of both the BLIF (placement) and the Verilog netlist (STA), and
  the macro pin drives the port.
"""
from __future__ import annotations

import re

from ..formats.verilog import escape, modules, port_decls

__all__ = ["repair_header", "drop_port_buffers"]

_BUF_BLIF = re.compile(r"^\.gate (BUFX\d+) A=(\S+) Y=(\S+)[ \t]*$", re.M)
_BUF_V = re.compile(r"^[ \t]*(BUFX\d+) \S+ \( \.A\(([^()\s]+)\), \.Y\(([^()\s]+)\) \);[ \t]*\n", re.M)


def repair_header(netlist: bytes | str, top: str, source: str) -> str:
    """``netlist`` (qflow's ``<top>.rtlnopwr.v``, bytes as read) with the header of module ``top``
    — ``module top (...);`` and its port declarations, up to the first other line — rebuilt from
    ``top``'s port declarations in ``source`` when its ports are not the source's (in any order),
    and the body's nets ``<port>_<i>_`` renamed ``<port>[<i>]`` for the source's vector ports;
    otherwise the same text."""
    text = netlist.decode("utf-8", "replace") if isinstance(netlist, bytes) else netlist
    mod = modules(source).get(top)
    if mod is None:
        return text
    want = [escape(p).strip() for p in mod.ports]
    m = re.match(r"\s*module\s+\S+\s*\((.*?)\);", text, re.S)
    got = {p.strip() for p in m.group(1).split(",")} if m else set()
    if m and got == set(want):
        return text
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines) and (re.match(r"\s*(module\b|input\b|output\b|inout\b|$)", lines[i]) or i == 0):
        i += 1
    decls = [re.sub(r"\s+", " ", d.strip()) for d in port_decls(mod.text, mod.ports)]
    header = f"module {escape(top).strip()} ({', '.join(want)});\n\n" + "\n".join(decls) + "\n\n"
    body = "".join(lines[i:])
    vectors = [p for p, d in zip(mod.ports, decls) if "[" in d and re.fullmatch(r"[A-Za-z_]\w*", p)]
    if vectors:                     # bits of the ports it lost, written as nets: port_7_ -> port[7]
        body = re.sub(r"(?<![\w$\\])(" + "|".join(map(re.escape, sorted(vectors, key=len, reverse=True)))
                      + r")_(\d+)_(?![\w$])", r"\1[\2]", body)
    return header + body


def _outputs_blif(blif: str) -> set[str]:
    m = re.search(r"^\.outputs[ \t]+((?:.*\\\n)*.*)$", blif, re.M)
    return set(m.group(1).replace("\\\n", " ").split()) if m else set()


def _outputs_v(netlist: str) -> set[str]:
    return {m.group(1) for m in re.finditer(r"^\s*output\s+(?:\[[^\]]*\]\s*)?(\S+?)\s*;", netlist, re.M)}


def drop_port_buffers(blif: str, netlist: str, macro_cells: set[str]) -> tuple[str, str, int]:
    """``(blif, netlist, n)``: both netlists without the ``n`` buffers each of which is the only
    load of a net driven by a pin of a ``macro_cells`` instance and drives an output port (see the
    module docstring); the macro pin then drives the port. Both texts come back unchanged (n = 0)
    when the two netlists do not name the same number of such buffers."""
    def strip(text, buf_re, outputs, token, is_macro_line, port_of):
        uses: dict[str, int] = {}
        for t in re.findall(token, text):
            uses[t] = uses.get(t, 0) + 1
        macro_nets = set()
        for line in text.splitlines():
            if is_macro_line(line):
                macro_nets.update(re.findall(token, line))
        drop = {}
        for b in buf_re.finditer(text):
            a, y = b.group(2), b.group(3)
            if port_of(y) in outputs and a in macro_nets and uses.get(a) == 2 and uses.get(y) == 1:
                drop[a] = (b.group(0), y)
        return drop

    macro_line_blif = lambda l: l.startswith(".gate ") and l.split()[1] in macro_cells
    macro_line_v = lambda l: l.split(" ", 1)[0] in macro_cells
    drop_b = strip(blif, _BUF_BLIF, _outputs_blif(blif), r"=(\S+)", macro_line_blif, lambda y: y)
    drop_v = strip(netlist, _BUF_V, _outputs_v(netlist), r"\(([^()\s]+)\)", macro_line_v,
                   lambda y: y.split("[", 1)[0])
    if not drop_b or len(drop_b) != len(drop_v):
        return blif, netlist, 0

    def rewrite(text, drop, is_macro_line, sub):
        out = []
        gone = {line for line, _ in drop.values()}
        for line in text.splitlines(keepends=True):
            if line in gone or line.rstrip("\n") in gone:
                continue
            if is_macro_line(line):
                line = sub(line)
            out.append(line)
        return "".join(out)

    ren_b = {a: y for a, (_, y) in drop_b.items()}
    ren_v = {a: y for a, (_, y) in drop_v.items()}
    blif = rewrite(blif, drop_b, macro_line_blif,
                   lambda l: re.sub(r"=(\S+)", lambda m: "=" + ren_b.get(m.group(1), m.group(1)), l))
    netlist = rewrite(netlist, drop_v, macro_line_v,
                      lambda l: re.sub(r"\(([^()\s]+)\)", lambda m: "(" + ren_v.get(m.group(1), m.group(1)) + ")", l))
    return blif, netlist, len(drop_b)
