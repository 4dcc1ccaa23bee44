"""Wire models for a netlist before layout: the wire capacitance each net is given in OpenSTA
(``set_load`` on the net, as the routed analysis applies qrouter's lumped wire C).

* ``none`` — no wire C: only the pins' capacitance (a lower bound on switching power);
* ``fanout`` — a wire-load model per fanout, ``C = c0 + c_fo x fanout`` (pF), fitted by least
  squares to the nets of a routed run (:func:`calibrate`: qrouter's ``.rc``, each net's total
  wire C against its sink count). :data:`CALIBRATION` is the fit measured on the routed 2D of
  ``configs/moe_ppa_small.toml`` (see its ``source``); any routed run can be measured instead.
  A fit from a small design under-estimates a large one's long nets (the mean net length grows
  with the design), so on the default configurations it is a calibrated estimate, not a bound.

Nets are found as the flow's ``loads.tcl`` finds them: by their driver pin
(``[get_nets -of_objects [get_pins {inst/Y}]]``), or by name for a net driven by an input port.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np

from ..formats.rc import rc_entries
from ..builtin.platform import OSU018

__all__ = ["WIRE_MODELS", "CALIBRATION", "calibrate", "output_pins", "net_fanouts", "wire_loads_tcl"]

WIRE_MODELS = ("none", "fanout")

# Measured by `calibrate` on qrouter's .rc of a routed 2D run of configs/moe_ppa_small.toml (GLBs as
# SRAM macros, built-in flow, 10 ns clock); see `source`. It and four older routed runs of 4-7 k cells (MoE, MHA
# reduced configurations, with and without SRAM macros) gave a mean wire C per net of 2.75-2.98 fF.
CALIBRATION = {"c0_pf": 0.000487, "c_fo_pf": 0.001167, "nets": 3971, "mean_c_pf": 0.002975, "mean_fanout": 2.131,
               "source": "qrouter's .rc of the routed 2D of configs/moe_ppa_small.toml (GLBs as SRAM macros, 3930 "
                         "cells + 3 macros, 3971 nets, no failed routes; `spikestack ppa configs/moe_ppa_small.toml "
                         "--2d-only --sram-macros`, the Verilog of commit 18e76a0)"}

_GATE = re.compile(r"^\s*([A-Za-z]\w*)\s+(\S+)\s*\((.*?)\);", re.M | re.S)
_CONN = re.compile(r"\.([\w\[\]]+)\(\s*([^)\s]*)\s*\)")
_PORT = re.compile(r"^\s*(input|output)\s+(?:\[(\d+):(\d+)\]\s+)?([^\s;]+)\s*;", re.M)


def calibrate(rc_text: str, source: str = "") -> dict:
    """Least-squares fit ``C = c0 + c_fo x fanout`` over every net of a qrouter ``.rc``
    (fanout: the net's sinks), with the mean C per fanout up to 8 and the totals."""
    fo, c = [], []
    for _, _, cap, sinks in rc_entries(rc_text):
        if sinks:
            fo.append(len(sinks))
            c.append(cap)
    if len(fo) < 2:
        raise ValueError(f"calibrate: {len(fo)} routed nets with sinks in the .rc; need at least 2")
    x, y = np.asarray(fo, float), np.asarray(c, float)
    a = np.vstack([np.ones_like(x), x]).T
    (c0, c_fo), *_ = np.linalg.lstsq(a, y, rcond=None)
    by_fo = {int(k): round(float(y[x == k].mean()), 6) for k in range(1, 9) if (x == k).any()}
    return {"c0_pf": float(c0), "c_fo_pf": float(c_fo), "nets": len(fo), "mean_c_pf": float(y.mean()),
            "mean_fanout": float(x.mean()), "total_c_pf": float(y.sum()), "mean_c_by_fanout_pf": by_fo,
            "source": source}


def output_pins(liberties: list[Path]) -> dict[str, set[str]]:
    """Cell -> its output pin names, from liberty files (the standard cells and the macros)."""
    out: dict[str, set[str]] = {}
    for lib in liberties:
        cell = None
        pin = None
        for line in Path(lib).read_text().splitlines():
            m = re.match(r"\s*cell\s*\(\s*\"?(\w+)\"?\s*\)", line)
            if m:
                cell = m.group(1)
                out.setdefault(cell, set())
                continue
            m = re.match(r"\s*pin\s*\(\s*\"?(\w+)\"?\s*\)", line)
            if m:
                pin = m.group(1)
                continue
            if cell and pin and re.match(r"\s*direction\s*:\s*output", line):
                out[cell].add(pin)
    return out


def net_fanouts(netlist: str, outputs: dict[str, set[str]]) -> dict[str, tuple[str, int]]:
    """Net -> (its OpenSTA object as the flow's ``loads.tcl`` writes it, sink count: input pins and
    output ports, as qrouter's ``.rc`` lists a net's sinks) for every net of a flat gate netlist
    driven by a cell output or an input port (constants left out)."""
    drivers, sinks = {}, Counter()
    for cell, inst, conns in ((m.group(1), m.group(2), m.group(3)) for m in _GATE.finditer(netlist)):
        if cell in ("module", "input", "output", "wire", "inout", "assign"):
            continue
        outs = outputs.get(cell, set())
        for pin, net in _CONN.findall(conns):
            if not net:
                continue
            if pin in outs:
                drivers[net] = f"[get_nets -of_objects [get_pins {{{inst}/{pin}}}]]"
            else:
                sinks[net] += 1
    for kind, msb, lsb, name in _PORT.findall(netlist):
        bits = [name] if msb == "" else [f"{name}[{i}]" for i in range(min(int(msb), int(lsb)),
                                                                       max(int(msb), int(lsb)) + 1)]
        for b in bits:
            if kind == "input":
                drivers.setdefault(b, f"[get_nets {{{b}}}]")
            else:
                sinks[b] += 1
    return {n: (obj, sinks[n]) for n, obj in drivers.items() if n not in ("vdd", "gnd")}


def wire_loads_tcl(netlist: str, model: str, libs: list[str] = (), calibration: dict | None = None) -> tuple[str, dict]:
    """``set_load`` per net under ``model`` (:data:`WIRE_MODELS`); returns the Tcl and a summary
    (nets loaded, total wire C, the model's parameters)."""
    if model not in WIRE_MODELS:
        raise ValueError(f"wire_model: {model!r} is not one of {', '.join(WIRE_MODELS)}")
    if model == "none":
        return "", {"model": model, "nets": 0, "total_c_pf": 0.0}
    cal = calibration or CALIBRATION
    if cal.get("c0_pf") is None:
        raise ValueError("wire_model: fanout needs a calibration (none measured)")
    fans = net_fanouts(netlist, output_pins([OSU018.liberty, *libs]))
    lines, total = [], 0.0
    for obj, fo in fans.values():
        if fo == 0:
            continue
        c = max(cal["c0_pf"] + cal["c_fo_pf"] * fo, 0.0)
        total += c
        lines.append(f"catch {{set_load {c:.6g} {obj}}}")
    return "\n".join(lines) + "\n", {"model": model, "nets": len(lines), "total_c_pf": total,
                                      "mean_fanout": float(np.mean([fo for _, fo in fans.values() if fo] or [0])),
                                      "c0_pf": cal["c0_pf"], "c_fo_pf": cal["c_fo_pf"], "source": cal.get("source")}
