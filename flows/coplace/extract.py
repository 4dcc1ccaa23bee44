"""Wire capacitance of each net of the routed combined DEF, written as RC trees in qrouter's ``.rc``
line format (``net 1 driver ( 0 C sink, sink )``) so :func:`~spikestack.flows.formats.rc.rc_entries`
and the stitched analysis read it as they read qrouter's own.

qrouter's ``.rc`` writer finds no driver on the nets of the mirrored cells ("No driver for net"),
so the parasitics come from the routed geometry instead: every segment's length on its layer times
that layer's capacitance per µm from the combined LEF (``CPERSQDIST`` x width + 2 x
``EDGECAPACITANCE``), every via as one more metal-width square; the driver is the terminal whose
LEF pin is an ``OUTPUT`` (or the chip input pin). :func:`calibration` compares this against
qrouter's own ``.rc`` of an independently routed tier (same layers, same routes)."""
from __future__ import annotations

import re

from ..formats.rc import rc_entries
from .merge import def_nets, read_routes
from .stack import TOP_SUFFIX, layer_caps

__all__ = ["pin_directions", "net_caps", "rc_text", "calibration"]


def pin_directions(lef_texts: list[str]) -> dict[str, dict[str, str]]:
    """Macro -> {pin: INPUT / OUTPUT / INOUT}."""
    out = {}
    for text in lef_texts:
        for m in re.finditer(r"^MACRO\s+(\S+)(.*?)^END\s+\1\b", text, re.S | re.M):
            pins = {}
            for p in re.finditer(r"^\s*PIN\s+(\S+)(.*?)^\s*END\s+\1\b", m.group(2), re.S | re.M):
                d = re.search(r"DIRECTION\s+(\w+)", p.group(2))
                pins[p.group(1)] = d.group(1) if d else "INPUT"
            out[m.group(1)] = pins
    return out


def net_caps(routed_def: str, lef: str) -> dict[str, float]:
    """Net -> wire C (pF) of its routed segments (see the module docstring)."""
    caps = layer_caps(lef)
    per_um = {lay: a + e for lay, (a, e) in caps.items()}
    u = float(re.search(r"UNITS DISTANCE MICRONS (\d+)", routed_def).group(1))
    out = {}
    for net, r in read_routes(routed_def).items():
        out[net] = sum(length / u * per_um.get(lay, 0.0) for lay, length in r["length"].items())
    return out


def rc_text(routed_def: str, lef: str, comps: dict[str, str], scale: float = 1.0) -> str:
    """The ``.rc`` lines of every net of the routed DEF (``comps``: instance -> cell), each net's C
    times ``scale`` (the :func:`calibration` to qrouter's own extraction)."""
    dirs = pin_directions([lef])
    caps = net_caps(routed_def, lef)
    lines = []
    for net, terms in def_nets(routed_def).items():
        drv, sinks = None, []
        for inst, pin in terms:
            if inst == "PIN":
                if drv is None:
                    drv = f"PIN/{pin}"
                continue
            cell = comps.get(inst, "")
            d = dirs.get(cell, {}).get(pin) or dirs.get(cell[:-len(TOP_SUFFIX)], {}).get(pin, "INPUT")
            if d == "OUTPUT" and (drv is None or drv.startswith("PIN/")):
                if drv is not None:
                    sinks.append(drv)
                drv = f"{inst}/{pin}"
            else:
                sinks.append(f"{inst}/{pin}")
        if drv is None:
            continue
        sinks = [s for s in sinks if not s.startswith("PIN/")]
        lines.append(f"{net} 1 {drv} ( 0 {caps.get(net, 0.0) * scale:.6g} {', '.join(sinks)} )")
    return "\n".join(lines) + "\n"


def calibration(routed_def: str, lef: str, qrouter_rc: str) -> dict:
    """This extraction against qrouter's ``.rc`` on the same routed design: total C of each and
    their ratio over the nets both have."""
    mine = net_caps(routed_def, lef)
    theirs = {n: c for n, _, c, _ in rc_entries(qrouter_rc)}
    both = [n for n in theirs if n in mine]
    a, b = sum(mine[n] for n in both), sum(theirs[n] for n in both)
    return {"nets": len(both), "extracted_pf": a, "qrouter_pf": b, "ratio": a / b if b else None}
