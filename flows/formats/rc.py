"""qrouter's ``.rc`` file: one line per routed net, ``net ? driver (tree of (C R) pairs and sinks)``.
Read once here (:func:`rc_entries`); the flows keep each net's total wire capacitance (lumped C,
wire resistance dropped)."""
from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["rc_entries", "loads_tcl"]

_PAIR = re.compile(r"\(\s*([-\d.eE+]+)\s+([-\d.eE+]+)")
_SINK = re.compile(r"(\S+/\S+)\s*[,)]")


def rc_entries(rc_text: str) -> Iterator[tuple[str, str, float, list[str]]]:
    """``(net, driver, wire C pF, sinks)`` per net; a driver ``PIN/<port>`` is a top-level input."""
    for line in rc_text.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        c = sum(float(cc) for _, cc in _PAIR.findall(line))
        yield parts[0], parts[2], c, _SINK.findall(line)


def loads_tcl(rc_text: str, extra_port_loads: dict[str, float] | None = None) -> tuple[str, float]:
    """OpenSTA ``set_load`` per net from the RC trees (total wire C, pF, on the net found from its
    driver pin, or by name for a net driven by an input port); and the total wire C."""
    lines, total = [], 0.0
    for _, drv, c, _ in rc_entries(rc_text):
        total += c
        obj = (f"[get_nets {{{drv[4:]}}}]" if drv.startswith("PIN/")
               else f"[get_nets -of_objects [get_pins {{{drv}}}]]")
        lines.append(f"catch {{set_load {c:.6g} {obj}}}")
    for port, c in (extra_port_loads or {}).items():
        lines.append(f"catch {{set_load {c:.6g} [get_ports {{{port}}}]}}")
    return "\n".join(lines) + "\n", total
