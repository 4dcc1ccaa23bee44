"""Verilog views of the SRAM macros' interface (:class:`spikestack.hw.lib.glb.SramShape`): the blackbox
(for synthesis, STA netlists and the proofs with macros cut out), a behavioural model (for
simulation) and the macros a netlist instantiates. The physical views (LEF, liberty) are
:mod:`spikestack.flows.builtin.sram`."""
from __future__ import annotations

import re

from ..hw.lib.glb import SramShape

__all__ = ["blackbox_verilog", "behavioural_verilog", "shapes_in", "with_models"]


def _port_decl(s: SramShape) -> tuple[str, list[str]]:
    names = [p for p, _, _ in s.pins()]
    decl = [f"  {d} {p};" for p, d, _ in s.pins()]
    return ", ".join(names), decl


def blackbox_verilog(s: SramShape) -> str:
    """The macro as a Verilog blackbox (scalar ports, as in the LEF and liberty)."""
    names, decl = _port_decl(s)
    return "\n".join(["(* blackbox *)", f"module {s.name}({names});", *decl, "endmodule", ""])


def behavioural_verilog(s: SramShape) -> str:
    """A simulation model with the semantics of the ``Memory`` it replaces: contents start at 0;
    per write port and lane, ``mem[addr]`` lane <= din when ``we``; per read port,
    ``dout <= mem[addr]`` when ``en`` (the old word when the same address is written in that
    cycle: not transparent, like ``read_port()``), held while ``en`` is low. Two write ports
    writing one word and lane in the same cycle is undefined for ``Memory`` (and for a real
    SRAM); here the later port wins."""
    names, decl = _port_decl(s)
    aw, w, g = s.addr_width, s.width, s.width // s.lanes
    cat = lambda prefix, n: "{" + ", ".join(f"{prefix}{b}" for b in reversed(range(n))) + "}"   # noqa: E731
    body = [f"  reg [{w - 1}:0] mem [0:{s.depth - 1}];", "  integer i;",
            f"  initial for (i = 0; i < {s.depth}; i = i + 1) mem[i] = {w}'d0;"]
    for i in range(s.write_ports):
        body += [f"  wire [{aw - 1}:0] w{i}_addr = {cat(f'w{i}_addr', aw)};",
                 f"  wire [{w - 1}:0] w{i}_din = {cat(f'w{i}_din', w)};"]
    for j in range(s.read_ports):
        body += [f"  wire [{aw - 1}:0] r{j}_addr = {cat(f'r{j}_addr', aw)};", f"  reg [{w - 1}:0] r{j}_q;"]
        body += [f"  assign r{j}_dout{b} = r{j}_q[{b}];" for b in range(w)]
    body.append("  always @(posedge clk) begin")
    for j in range(s.read_ports):
        body.append(f"    if (r{j}_en) r{j}_q <= mem[r{j}_addr];")
    for i in range(s.write_ports):
        for k in range(s.lanes):
            body.append(f"    if (w{i}_we{k}) mem[w{i}_addr][{(k + 1) * g - 1}:{k * g}] <= w{i}_din[{(k + 1) * g - 1}:{k * g}];")
    body.append("  end")
    return "\n".join([f"module {s.name}({names});", *decl, *body, "endmodule", ""])


def shapes_in(verilog_text: str) -> list[SramShape]:
    """The distinct SRAM macros instantiated in a netlist (from the cell names)."""
    names = set(re.findall(r"^\s*(" + re.escape(SramShape.PREFIX) + r"\w+)\s+\S+\s*\(", verilog_text, re.M))
    return sorted((SramShape.from_name(n) for n in names), key=lambda s: s.name)


def with_models(verilog_text: str) -> str:
    """A netlist with the behavioural model of every SRAM macro it instantiates appended (for
    simulation, e.g. ``harness.build(cfg, verilog_text=with_models(text), top=top)``)."""
    return verilog_text + "\n" + "\n".join(behavioural_verilog(s) for s in shapes_in(verilog_text))
