"""DEF (placed and routed designs, as qflow's tools write them), read as text: units and die,
components, pins, the nets reaching the ports, the signal nets and their routes, routing tracks,
the layers the routing uses and the vdd/gnd geometry; and two edits of a placed DEF around hard
macros."""
from __future__ import annotations

import re

__all__ = ["def_units_die", "net_terminals", "die_um", "components", "port_terminals", "tracks", "def_pins", "routed_layers",
           "power_shapes", "snap_to_tracks", "drop_fill_over_macros", "net_kinds", "net_pieces", "net_blocks", "route_statements",
           "route_lengths", "def_stats", "net_count"]


def def_units_die(def_text: str) -> tuple[float, tuple[float, float, float, float]]:
    """A DEF's database units per µm and its die box ``(x0, y0, x1, y1)`` in those units."""
    units = float(re.search(r"UNITS DISTANCE MICRONS (\d+)", def_text).group(1))
    die = re.search(r"DIEAREA \( (\S+) (\S+) \) \( (\S+) (\S+) \)", def_text)
    return units, tuple(float(v) for v in die.groups())


_NETS = re.compile(r"^NETS\s+\d+\s*;(.*?)^END NETS", re.S | re.M)
_NET_START = re.compile(r"(?m)^(?=[ \t]*- \S)")
_PT = re.compile(r"\(\s*([-\d.*]+)\s+([-\d.*]+)(?:\s+[-\d]+)?\s*\)")
_VIA_AT_END = re.compile(r"\)\s*([A-Za-z]\w*)\s*$")


def net_count(def_text: str) -> int:
    """The signal net count the ``NETS`` header declares (0 without one)."""
    m = re.search(r"^NETS\s+(\d+)", def_text, re.M)
    return int(m.group(1)) if m else 0


def net_pieces(body: str) -> list[str]:
    """A ``NETS`` section's text cut before each ``- name`` line (the first piece: what precedes)."""
    return _NET_START.split(body)


def net_blocks(def_text: str) -> dict[str, str]:
    """Signal net name -> its ``- name ... ;`` block in the ``NETS`` section (``SPECIALNETS``, the
    power routes, are not signal nets). Cut at each ``- name`` line, not at the ``;``: qrouter 1.4's
    ``write_def`` leaves out the ``;`` of a net it was told to ignore (seen on every such net of three
    terminals or more), which would join that net to the next one; such a block gets its ``;`` back."""
    sec = _NETS.search(def_text)
    out = {}
    for b in net_pieces(sec.group(1) if sec else "")[1:]:
        b = b.rstrip()
        out[b.split()[1]] = b if b.endswith(";") else b + " ;"
    return out


_TERM = re.compile(r"\(\s*(\S+)\s+(\S+)\s*\)")
_ATTR = re.compile(r"\s\+\s")


def net_terminals(block: str) -> list[tuple[str, str]]:
    """The terminals ``(instance, pin)`` of one net's block (``("PIN", port)`` for a port): the
    connections DEF lists before the net's first ``+`` attribute (``ROUTED``, ``USE``, ...)."""
    return _TERM.findall(_ATTR.split(block, 1)[0])


def route_statements(block: str):
    """``(layer, [(x, y)], via or None)`` per ``+ ROUTED`` / ``NEW`` statement of one net's block, in
    DEF units; a ``*`` repeats the previous point's coordinate; ``via`` is the via named after the
    last point (placed there)."""
    for st in re.split(r"\+\s*ROUTED|\bNEW\b", block)[1:]:
        w = st.split()
        if not w:
            continue
        pts, px, py = [], None, None
        for xs, ys in _PT.findall(st):
            px = px if xs == "*" else float(xs)
            py = py if ys == "*" else float(ys)
            pts.append((px, py))
        via = _VIA_AT_END.search(st.strip().rstrip(";").strip())
        yield w[0], pts, (via.group(1) if via else None)


def route_lengths(block: str) -> dict[str, float]:
    """Layer -> routed length (DEF units) of one net's block."""
    out: dict[str, float] = {}
    for layer, pts, _ in route_statements(block):
        for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
            out[layer] = out.get(layer, 0.0) + abs(x1 - x0) + abs(y1 - y0)
    return out


def def_stats(def_text: str) -> dict:
    """Die (area, width, height, µm) and routed wirelength (µm) of the signal nets; the power routes
    (``SPECIALNETS``) are left out, as the co-placed flow's wirelength leaves them out."""
    units, (x0, y0, x1, y1) = def_units_die(def_text)
    wl = sum(sum(route_lengths(b).values()) for b in net_blocks(def_text).values())
    return {"die_area_um2": (x1 - x0) / units * (y1 - y0) / units, "die_w_um": (x1 - x0) / units,
            "die_h_um": (y1 - y0) / units, "wirelength_um": wl / units}


def die_um(def_text: str) -> tuple[float, float, float, float]:
    """The die box, µm."""
    u, die = def_units_die(def_text)
    return tuple(v / u for v in die)


def components(def_text: str) -> dict[str, tuple[str, float, float, str]]:
    """Instance -> (cell, x, y, orientation), µm."""
    u = def_units_die(def_text)[0]
    sec = re.search(r"^COMPONENTS.*?^END COMPONENTS", def_text, re.S | re.M)
    out = {}
    for m in re.finditer(r"^-\s+(\S+)\s+(\S+)\s+\+\s+(?:PLACED|FIXED)\s+\(\s*([-\d.]+)\s+([-\d.]+)\s*\)\s*(\w+)",
                         sec.group(0) if sec else "", re.M):
        out[m.group(1)] = (m.group(2), float(m.group(3)) / u, float(m.group(4)) / u, m.group(5))
    return out


def port_terminals(def_text: str) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """Top-level port -> (net, [(instance, pin), ...]) of the net that reaches it."""
    sec = re.search(r"^NETS.*?^END NETS", def_text, re.S | re.M)
    out = {}
    for net in re.finditer(r"^-\s+(\S+)(.*?);\s*$", sec.group(0) if sec else "", re.S | re.M):
        terms = re.findall(r"\(\s*(\S+)\s+(\S+)\s*\)", net.group(2))
        cells = [(i, p) for i, p in terms if i != "PIN"]
        for i, p in terms:
            if i == "PIN":
                out[p] = (net.group(1), cells)
    return out


def net_kinds(def_text: str, macro_cells: set[str], nets: set[str] | None = None) -> dict[str, int]:
    """How many nets (of ``nets``, default all) reach an I/O pin and/or a pin of a hard macro (an
    instance of ``macro_cells``): ``{"port+macro", "port", "macro", "cells"}`` -> count. Failed
    routes of hierarchical blocks gather on the nets between the I/O ring and macro pins (merge
    block of the default MoE: 427 of its 554 such nets failed qrouter's first passes, 134 of its
    4525 cell-only nets)."""
    cell_of = {i: c for i, (c, *_rest) in components(def_text).items()}
    out = {"port+macro": 0, "port": 0, "macro": 0, "cells": 0}
    for name, block in net_blocks(def_text).items():
        if nets is not None and name not in nets:
            continue
        terms = net_terminals(block)
        port = any(i == "PIN" for i, _ in terms)
        macro = any(cell_of.get(i) in macro_cells for i, _ in terms)
        out["port+macro" if port and macro else "port" if port else "macro" if macro else "cells"] += 1
    return out


def tracks(def_text: str, axis: str, layer: str) -> tuple[float, float]:
    """(first track, track pitch) of ``layer`` along ``axis``, µm."""
    u = def_units_die(def_text)[0]
    m = re.search(rf"TRACKS {axis} ([-\d.]+) DO \d+ STEP ([\d.]+) LAYER {layer}\b", def_text)
    if not m:
        raise ValueError(f"no {axis} tracks on {layer} in the DEF")
    return float(m.group(1)) / u, float(m.group(2)) / u


def def_pins(def_text: str) -> tuple[float, tuple[float, float, float, float], dict[str, dict]]:
    units, die = def_units_die(def_text)
    sec = re.search(r"^PINS \d+ ;(.*?)^END PINS", def_text, re.S | re.M).group(1)
    pins = {}
    for m in re.finditer(r"-\s+(\S+)\s+\+\s+NET\s+\S+(.*?);", sec, re.S):
        body = m.group(2)
        lay = re.search(r"\+ LAYER (\S+) \( (\S+) (\S+) \) \( (\S+) (\S+) \)", body)
        pl = re.search(r"\+ (?:PLACED|FIXED) \( (\S+) (\S+) \) (\S+)", body)
        d = re.search(r"\+ DIRECTION (\S+)", body)
        use = re.search(r"\+ USE (\S+)", body)
        if not (lay and pl):
            continue
        x, y = float(pl.group(1)), float(pl.group(2))
        pins[m.group(1)] = {"layer": lay.group(1),
                            "rect": [x + float(lay.group(2)), y + float(lay.group(3)),
                                     x + float(lay.group(4)), y + float(lay.group(5))],
                            "direction": d.group(1) if d else None, "use": use.group(1) if use else None}
    return units, die, pins


def routed_layers(def_text: str, signal_only: bool = False) -> list[str]:
    """The layers the routed nets use (without the vdd/gnd special nets if ``signal_only``)."""
    nets = re.search(r"^NETS \d+ ;(.*?)^END NETS", def_text, re.S | re.M)
    special = re.search(r"^SPECIALNETS \d+ ;(.*?)^END SPECIALNETS", def_text, re.S | re.M)
    sp = special.group(1) if special else ""
    if signal_only:
        sp = re.sub(r"^-\s+(vdd|gnd)\b.*?;\s*$", "", sp, flags=re.S | re.M)
    text = (nets.group(1) if nets else "") + sp
    return sorted(set(re.findall(r"(?:ROUTED|NEW|FIXED)\s+(metal\d)", text)), key=lambda l: int(l[5:]))


def power_shapes(def_text: str, above: int) -> dict[str, list[tuple[str, list[float]]]]:
    """The vdd/gnd geometry (stripes, via pads; DEF units) on layers above ``metal<above>``."""
    vias = {}
    vsec = re.search(r"^VIAS \d+ ;(.*?)^END VIAS", def_text, re.S | re.M)
    for m in re.finditer(r"-\s+(\S+)(.*?);", vsec.group(1) if vsec else "", re.S):
        vias[m.group(1)] = [(l, [float(a), float(b), float(c), float(d)]) for l, a, b, c, d in
                            re.findall(r"RECT (\S+) \( (\S+) (\S+) \) \( (\S+) (\S+) \)", m.group(2))]
    sec = re.search(r"^SPECIALNETS \d+ ;(.*?)^END SPECIALNETS", def_text, re.S | re.M)
    shapes: dict[str, list] = {}
    for m in re.finditer(r"^-\s+(\S+)(.*?);\s*$", sec.group(1) if sec else "", re.S | re.M):
        net = m.group(1)
        if net not in ("vdd", "gnd"):
            continue
        for seg in re.finditer(r"(?:FIXED|ROUTED|NEW)\s+(metal(\d))\s+(\d+)\s+\( (\S+) (\S+) \)"
                               r"(?:\s+\( (\S+) (\S+) \))?(?:\s+([A-Za-z]\w*))?", m.group(2)):
            lay, li, wid, x0, y0, x1, y1, via = seg.groups()
            x0, y0 = float(x0), float(y0)
            if via and x1 == "*" and y1 == "*":
                for vl, r in vias.get(via, []):
                    if vl.startswith("metal") and int(vl[5:]) > above:
                        shapes.setdefault(net, []).append((vl, [x0 + r[0], y0 + r[1], x0 + r[2], y0 + r[3]]))
            elif x1 is not None and int(li) > above:
                x1 = x0 if x1 == "*" else float(x1)
                y1 = y0 if y1 == "*" else float(y1)
                hw = float(wid) / 2
                shapes.setdefault(net, []).append(
                    (lay, [min(x0, x1) - hw, min(y0, y1) - (hw if y0 == y1 else 0),
                           max(x0, x1) + hw, max(y0, y1) + (hw if y0 == y1 else 0)]))
    for net, rects in shapes.items():            # drop repeats and shapes inside another one
        uniq = list(dict.fromkeys((l, tuple(r)) for l, r in rects))
        shapes[net] = [(l, list(r)) for l, r in uniq if not any(
            l2 == l and (l2, r2) != (l, r) and r2[0] <= r[0] and r2[1] <= r[1] and r2[2] >= r[2] and r2[3] >= r[3]
            for l2, r2 in uniq)]
    return shapes


def snap_to_tracks(def_text: str, cells: set[str]) -> str:
    """The placed DEF with every instance of the macro ``cells`` moved up and right (less than a
    track pitch: 0.8 um, 1 um) so its origin sits on the routing tracks (``TRACKS X`` of metal2,
    ``TRACKS Y`` of metal1). A hardened block's pins lie on its own tracks, which start at its
    LEF origin; off by half a pitch (qflow puts the components' lower-left at a half-pitch
    offset), qrouter finds no tap on a 0.3 um pin ("has no taps", the net unroutable)."""
    tx = re.search(r"^TRACKS X (-?[\d.]+) DO \d+ STEP (\d+) LAYER metal2\b", def_text, re.M)
    ty = re.search(r"^TRACKS Y (-?[\d.]+) DO \d+ STEP (\d+) LAYER metal1\b", def_text, re.M)
    if not (tx and ty and cells):
        return def_text
    (ox, sx), (oy, sy) = (int(float(tx.group(1))), int(tx.group(2))), (int(float(ty.group(1))), int(ty.group(2)))

    def move(m: re.Match) -> str:
        if m.group(2) not in cells:
            return m.group(0)
        x, y = int(m.group(3)), int(m.group(4))
        return f"{m.group(1)}( {x + (ox - x) % sx} {y + (oy - y) % sy} ){m.group(5)}"
    return re.sub(r"^(- \S+ (\S+) \+ PLACED )\( (-?\d+) (-?\d+) \)(.*)$", move, def_text, flags=re.M)


def drop_fill_over_macros(def_text: str, sizes: dict[str, tuple[int, int]]) -> str:
    """The placed DEF without the ``FILL`` cells that lie on a macro (``sizes``: macro cell ->
    (width, height) in DEF units) or outside the columns of the standard cells. qflow's
    ``addspacers`` fills every row from the left to the right edge of all components, macros
    included, so rows beside macro columns were filled across them: 212 k fill cells on an expert core's macros, overlapping their pins and
    obstructions and read by qrouter one by one."""
    boxes, xs = [], []
    for m in re.finditer(r"^- \S+ (\S+) \+ PLACED \( (-?\d+) (-?\d+) \)", def_text, re.M):
        if m.group(1) in sizes:
            x, y = int(m.group(2)), int(m.group(3))
            w, h = sizes[m.group(1)]
            boxes.append((x, y, x + w, y + h))
        elif m.group(1) != "FILL":
            xs.append(int(m.group(2)))
    if not boxes:
        return def_text
    lo, hi = (min(xs), max(xs) + 2000) if xs else (None, None)       # the standard-cell core
    step = 5000
    grid: dict[tuple[int, int], list] = {}
    for b in boxes:
        for i in range(b[0] // step, b[2] // step + 1):
            for j in range(b[1] // step, b[3] // step + 1):
                grid.setdefault((i, j), []).append(b)
    fill = re.compile(r"^- \S+ FILL \+ PLACED \( (-?\d+) (-?\d+) \)")
    out, dropped = [], 0
    for line in def_text.splitlines():
        m = fill.match(line)
        if m:
            x, y = int(m.group(1)), int(m.group(2))
            if (lo is not None and not lo <= x <= hi) or any(
                    b[0] <= x + 40 <= b[2] and b[1] <= y + 500 <= b[3] for b in grid.get((x // step, y // step), ())):
                dropped += 1
                continue
        out.append(line)
    text = "\n".join(out) + "\n"
    return re.sub(r"^COMPONENTS (\d+) ;", lambda c: f"COMPONENTS {int(c.group(1)) - dropped} ;", text, count=1,
                  flags=re.M)
