"""Both tiers in one DEF over the combined stack (:mod:`spikestack.flows.coplace.stack`), and the
routed result read back: where the bonds are, each net's length per tier, the per-tier DEFs.

:func:`combined_def` puts the two placed tiers into one footprint (centres aligned, offsets on an
8 um grid so that every cell keeps its place on the routing tracks), prefixes their instances
(``B_`` logic tier, ``T_`` memory tier, whose cells become their mirrored ``<cell>_T`` copies),
and joins the nets: a bond port of the F2F map is one net from its driver on one tier to its sinks
on the other (no pin: the router takes it through the bond layer where it likes); a chip input
used by both tiers is one net from its pin on the logic tier (the chip's I/O die) to both tiers'
sinks; every other net stays on its tier. :func:`read_routes` finds the bonds in the routed DEF
(every ``F2F_BOND`` via of a net) and each net's wire length per layer.
"""
from __future__ import annotations

import math
import re

from ..formats.def_ import components, def_units_die, net_blocks, net_terminals, route_lengths, route_statements
from ..builtin.platform import OSU018
from .stack import BOND_VIA, TOP_SUFFIX, tier_of_layer

__all__ = ["PREFIX", "top_offset", "def_nets", "def_pins_raw", "combined_def", "read_routes", "split_def"]

PREFIX = {"tier_bottom": "B_", "tier_top": "T_"}


def def_nets(def_text: str) -> dict[str, list[tuple[str, str]]]:
    """Net -> its terminals ``(instance, pin)`` (``("PIN", port)`` for a port) of a placed DEF."""
    return {name: net_terminals(block) for name, block in net_blocks(def_text).items()}


def def_pins_raw(def_text: str) -> dict[str, str]:
    """Port -> the text of its ``PINS`` entry (only pins with a location)."""
    sec = re.search(r"^PINS\s+\d+\s*;(.*?)^END PINS", def_text, re.S | re.M)
    out = {}
    for b in re.findall(r"^\s*-.*?;\s*$", sec.group(1) if sec else "", re.S | re.M):
        if "PLACED" in b or "FIXED" in b:
            out[b.split()[1]] = b.strip()
    return out


def _tracks(def_text: str) -> list[tuple[str, float, int, float, str]]:
    return [(a, float(s), int(n), float(st), lay) for a, s, n, st, lay in
            re.findall(r"TRACKS\s+(\w)\s+([-\d.]+)\s+DO\s+(\d+)\s+STEP\s+([\d.]+)\s+LAYER\s+(\S+)\s*;", def_text)]


def _shift_pin(block: str, dx: int, dy: int, mirror: bool) -> str:
    block = re.sub(r"(PLACED|FIXED)\s+\(\s*([-\d]+)\s+([-\d]+)\s*\)",
                   lambda m: f"{m.group(1)} ( {int(m.group(2)) + dx} {int(m.group(3)) + dy} )", block)
    if mirror:
        block = re.sub(r"LAYER\s+(metal\d)\b", r"LAYER \1b", block)
    return block


def top_offset(top_die_um, bottom_die_um, target_um=None) -> tuple[float, float]:
    """Where the memory tier goes over the logic tier (µm, added to its coordinates): ``target_um``
    (a point of the memory tier: its bond pins' centroid) over the logic tier's centre, but with
    the logic die kept inside the memory die where it fits (so the footprint stays the larger die);
    without a target, centres aligned. Rounded to the platform's ``tech.track_align_um``."""
    align = OSU018.tech.track_align_um
    a0, b0, a1, b1 = top_die_um
    c0, d0, c1, d1 = bottom_die_um
    tx, ty = target_um or ((a0 + a1) / 2, (b0 + b1) / 2)
    out = []
    for lo_t, hi_t, lo_b, hi_b, t in ((a0, a1, c0, c1, tx), (b0, b1, d0, d1, ty)):
        s = round(((lo_b + hi_b) / 2 - t) / align) * align
        lo, hi = math.ceil((hi_b - hi_t) / align) * align, math.floor((lo_b - lo_t) / align) * align
        if lo <= hi:                                       # keep [lo_b, hi_b] inside [lo_t + s, hi_t + s]
            s = min(max(s, lo), hi)
        out.append(float(s))
    return out[0], out[1]


def combined_def(defs: dict[str, str], bond_bits: set[str], name: str, top_shift_um=None,
                 top_cells_mirrored: bool = True) -> tuple[str, dict]:
    """One DEF of both placed tiers (``defs``: tier -> placed DEF text) over the combined stack;
    ``bond_bits``: the F2F map's bond port bits. Returns ``(def text, info)``; ``info``: the die
    (DEF units), each tier's offset, each combined net's tier(s) and kind (``tier``, ``bond``,
    ``shared_input``), the units."""
    u = def_units_die(defs["tier_bottom"])[0]
    dies = {t: def_units_die(d)[1] for t, d in defs.items()}
    cx = {t: ((d[0] + d[2]) / 2, (d[1] + d[3]) / 2) for t, d in dies.items()}
    grid = OSU018.tech.track_align_um * u
    off = {"tier_bottom": (0, 0)}
    if top_shift_um is None:
        off["tier_top"] = tuple(int(round((cx["tier_bottom"][i] - cx["tier_top"][i]) / grid) * grid) for i in (0, 1))
    else:
        off["tier_top"] = tuple(int(round(v * u)) for v in top_shift_um)
    boxes = [(d[0] + off[t][0], d[1] + off[t][1], d[2] + off[t][0], d[3] + off[t][1]) for t, d in dies.items()]
    die = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
    comps, nets, pins = [], {}, {}
    kinds: dict[str, str] = {}
    tier_nets = {t: def_nets(d) for t, d in defs.items()}
    ports = {t: {p for terms in tier_nets[t].values() for i, p in terms if i == "PIN"} for t in defs}
    for t, d in defs.items():
        p, (dx, dy) = PREFIX[t], off[t]
        for inst, (cell, x, y, orient) in components(d).items():
            if cell.startswith("FILL"):
                continue
            c = cell + TOP_SUFFIX if (t == "tier_top" and top_cells_mirrored) else cell
            comps.append(f"- {p}{inst} {c} + PLACED ( {int(round(x * u)) + dx} {int(round(y * u)) + dy} ) {orient} ;")
        for net, terms in tier_nets[t].items():
            if net in ("vdd", "gnd"):
                continue
            port = next((q for i, q in terms if i == "PIN"), None)
            if port is None and net in bond_bits:
                port = net              # a bond port placed without a pin (attractor placement): net = port
            cells = [(p + i, q) for i, q in terms if i != "PIN"]
            if port is not None and port in bond_bits:
                key, kind = port, "bond"
            elif port is not None and all(port in ports[x] for x in defs):
                key, kind = port, "shared_input"
            elif port is not None:
                key, kind = port, t
            else:
                key, kind = p + net, t
            nets.setdefault(key, []).extend(cells)
            kinds[key] = kind
            if port is not None and kind != "bond":
                raw = def_pins_raw(d).get(port)
                if raw and (kind == t or t == "tier_bottom"):
                    pins[port] = _shift_pin(raw, dx, dy, mirror=(t == "tier_top"))
                    if ("PIN", port) not in nets[key]:
                        nets[key].append(("PIN", port))
    tracks = []
    for a, start, n, step, lay in _tracks(defs["tier_bottom"]):
        lo, hi = (die[0], die[2]) if a == "X" else (die[1], die[3])
        first = start + math.ceil((lo - start) / step) * step
        count = int((hi - first) // step) + 1
        for layer in (lay, lay + "b"):
            tracks.append(f"TRACKS {a} {int(first)} DO {count} STEP {int(step)} LAYER {layer} ;")
    bot = defs["tier_bottom"]
    for port, raw in def_pins_raw(bot).items():
        if port in ("vdd", "gnd"):
            pins[port] = raw
    bus = re.search(r'BUSBITCHARS\s+"(..)"', bot)
    vias = re.search(r"^VIAS\s+\d+\s*;.*?^END VIAS\s*$", bot, re.S | re.M)
    special = re.search(r"^SPECIALNETS\s+\d+\s*;.*?^END SPECIALNETS\s*$", bot, re.S | re.M)
    lines = ["VERSION 5.6 ;", "NAMESCASESENSITIVE ON ;", 'DIVIDERCHAR "/" ;',
             f'BUSBITCHARS "{bus.group(1) if bus else "[]"}" ;',
             f"DESIGN {name} ;", f"UNITS DISTANCE MICRONS {int(u)} ;", "",
             f"DIEAREA ( {int(die[0])} {int(die[1])} ) ( {int(die[2])} {int(die[3])} ) ;", ""]
    lines += tracks + [""] + ([vias.group(0), ""] if vias else []) + [f"COMPONENTS {len(comps)} ;"] + comps + ["END COMPONENTS", ""]
    lines += [f"PINS {len(pins)} ;"] + list(pins.values()) + ["END PINS", ""]
    routed = {k: v for k, v in nets.items() if len(v) > 1}
    lines.append(f"NETS {len(routed)} ;")
    for k, terms in routed.items():
        lines.append(f"- {k}")
        lines += ["  " + " ".join(f"( {i} {q} )" for i, q in terms[j:j + 4]) for j in range(0, len(terms), 4)]
        lines.append(";")
    lines += ["END NETS", ""] + ([special.group(0), ""] if special else []) + ["END DESIGN", ""]
    info = {"units": u, "die": die, "offsets": off, "kinds": {k: kinds[k] for k in routed},
            "terms": routed}
    return "\n".join(lines), info


def read_routes(routed_def: str) -> dict[str, dict]:
    """Per routed net: ``length`` (DEF units per layer), ``bonds`` (the ``F2F_BOND`` via points)."""
    out = {}
    for name, block in net_blocks(routed_def).items():
        bonds = [pts[-1] for _, pts, via in route_statements(block) if via == BOND_VIA and pts]
        out[name] = {"length": route_lengths(block), "bonds": bonds}
    return out


def split_def(routed_def: str, tier: str) -> str:
    """One tier's share of the routed combined DEF: its components (own names and cells), of every
    net its terminals and the route segments on its layers (mirrored layers named back), its chip
    pins; the logic tier keeps the power nets. A bond via stays on the segment it ends."""
    p = PREFIX[tier]
    out, sec, net = [], None, None

    def own(inst):
        return inst.startswith(p)

    def flush(block):
        terms = [t for t in block["terms"] if t[0] == "PIN" or own(t[0])]
        routes = [r for r in block["routes"] if tier_of_layer(r.split()[1 if r.startswith("NEW") else 2]) in (tier, "bond")]
        if not terms:
            return []
        if routes:
            routes[0] = "+ ROUTED " + routes[0].split(None, 1 if routes[0].startswith("NEW") else 2)[-1]
        body = [f"- {block['name'][len(p):] if own(block['name']) else block['name']}",
                "  " + " ".join(f"( {i[len(p):] if own(i) else i} {q} )" for i, q in terms)]
        return body + ["  " + (r if i == 0 else "NEW " + r.split(None, 1)[1]) for i, r in enumerate(routes)] + [";"]
    for line in routed_def.splitlines():
        w = line.split()
        if w[:1] in (["COMPONENTS"], ["NETS"], ["PINS"], ["SPECIALNETS"], ["VIAS"]):
            sec = w[0]
            out.append(line)
            continue
        if w[:1] == ["END"] and len(w) > 1 and w[1] == sec:
            if net:
                out += flush(net)
                net = None
            sec = None
            out.append(line)
            continue
        if sec == "COMPONENTS" and w[:1] == ["-"]:
            if own(w[1]):
                cell = w[2][:-len(TOP_SUFFIX)] if w[2].endswith(TOP_SUFFIX) else w[2]
                out.append(line.replace(f"- {w[1]} {w[2]}", f"- {w[1][len(p):]} {cell}", 1))
        elif sec == "NETS":
            if w[:1] == ["-"]:
                if net:
                    out += flush(net)
                net = {"name": w[1], "terms": [], "routes": []}
            elif net is not None and w[:1] in (["+"], ["NEW"]) and ("ROUTED" in w[:2] or w[0] == "NEW"):
                net["routes"].append(line.strip())
            elif net is not None:
                net["terms"] += net_terminals(line)
        elif sec in ("SPECIALNETS", "VIAS") and tier != "tier_bottom":
            continue
        else:
            out.append(line)
    text = "\n".join(out) + "\n"
    for name in ("COMPONENTS", "NETS"):
        m = re.search(rf"^{name}\s+\d+\s*;(.*?)^END {name}", text, re.S | re.M)
        if m:
            n = len(re.findall(r"^\s*-\s", m.group(1), re.M))
            text = text[:m.start()] + f"{name} {n} ;" + text[m.start(1):]
    if tier == "tier_top":
        text = re.sub(r"\b(metal\d)b\b", r"\1", text)
        text = re.sub(r"\b(via\d?)b\b", r"\1", text)
    return text
