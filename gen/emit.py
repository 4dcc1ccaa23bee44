"""Amaranth component -> Verilog text, the one way the project writes Verilog.

``convert(component, name)`` elaborates ``component`` to RTLIL with Amaranth and writes it with
the Yosys that ships with Amaranth (``amaranth[builtin-yosys]``), differently from
``amaranth.back.verilog.convert`` in three ways:

- **No initial values.** Registers are declared without an initialiser (``reg [3:0] x;``, not
  ``reg [3:0] x = 4'h0;``) and memories get no ``initial`` block: state comes from ``rst`` only,
  as in silicon, where registers power up unknown. Every register of the design has a
  synchronous reset; a simulation must hold ``rst`` high for :data:`RESET_CYCLES` rising edges of
  ``clk`` before it drives anything else (the benches do).
- **No ``always @*``.** Combinational processes are turned into continuous assignments (Yosys
  ``proc`` with its multiplexer pass) rather than ``always @*`` blocks triggered by an
  initialised dummy register. A 4-state SystemVerilog simulator (Icarus ``-g2012``, and the
  commercial ones) runs an ``always @*`` block only when one of its inputs changes and an
  initialiser makes no event, so logic whose inputs never change stayed X there; continuous
  assignments are evaluated at time 0 by every simulator. The text is plain Verilog-2005.
- **Reproducible bytes.** No ``(* src *)`` attributes by default, so one configuration gives the
  same text in any checkout; ``src=True`` keeps them, with paths relative to the package
  (``spikestack/hw/lib/pe.py:40``) and to Amaranth (``amaranth/lib/memory.py:401``).
"""
from __future__ import annotations

import re
from pathlib import Path

from amaranth.back import rtlil
from amaranth.back.verilog import find_yosys

__all__ = ["RESET_CYCLES", "convert", "relative_src"]

RESET_CYCLES = 1
"""Rising edges of ``clk`` with ``rst`` high that put every register of a generated design in its
reset state (the resets are synchronous and act on one edge; the benches hold it for 3)."""

_PACKAGE = Path(__file__).resolve().parents[1]

_AUTOIDX = 10**9
"""Yosys numbers the names it makes (``$procmux$<n>``) from one counter for the whole design, and
writes a module's wires in name order. Starting the counter at 10^9 gives every such number ten
digits, so name order is creation order and two instances of one block (a PE of an array) come
out as the same text up to their names: block classes (:mod:`spikestack.flows.builtin.harden`) rely on it."""


def _roots() -> list[tuple[str, str]]:
    import amaranth
    return [(str(_PACKAGE) + "/", "spikestack/"), (str(Path(amaranth.__file__).resolve().parent) + "/", "amaranth/")]


def relative_src(text: str) -> str:
    """``(* src = "..." *)`` paths made relative to the package or to Amaranth (other paths keep
    their file name only), so the text does not depend on where the checkout is."""
    roots = _roots()

    def one(path: str) -> str:
        for prefix, short in roots:
            if path.startswith(prefix):
                return short + path[len(prefix):]
        return path.rsplit("/", 1)[-1]

    def attr(m: re.Match) -> str:
        return '(* src = "' + "|".join(one(p) for p in m.group(1).split("|")) + '" *)'

    return re.sub(r'\(\* src = "([^"]*)" \*\)', attr, text)


def convert(component, name: str, *, src: bool = False, ports=None) -> str:
    """The Verilog of ``component`` with top module ``name`` (see the module docstring); ``ports``
    as in Amaranth's converters, for elaboratables without a signature."""
    kwargs = {} if ports is None else {"ports": ports}
    text = rtlil.convert(component, name=name, emit_src=src, **kwargs)
    script = "\n".join([
        f"read_rtlil <<rtlil\n{text}\nrtlil",
        "proc -norom",                      # every process to cells: no `always @*` in the output
        "delete t:$meminit_v2",             # memories have no initial contents (init=[] in hw/)
        "memory_collect",
        "attrmap -remove init",             # registers have no initial value: rst sets them
        "write_verilog",
    ])
    out = find_yosys(lambda ver: ver >= (0, 40)).run(["-q", "--autoidx", str(_AUTOIDX), "-"], script, ignore_warnings=True)
    return relative_src(out) if src else out
