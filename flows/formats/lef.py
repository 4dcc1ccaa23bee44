"""LEF: the abstract of a routed block (:func:`write_lef`: ``MACRO`` of ``CLASS BLOCK``, its pins
stretched to the die edge across the pin ring, ``OBS`` over the core and the ring), the routing
layers of the standard-cell LEF, and the geometry of macros read back (:func:`lef_geometry`)."""
from __future__ import annotations

import math
import re
from pathlib import Path

from ..builtin.platform import OSU018, FlowError
from .def_ import def_pins, power_shapes, routed_layers

__all__ = ["layer_info", "uncovered_routing", "write_lef", "lef_geometry"]








def layer_info(lef: Path = OSU018.stdcell_lef) -> dict[str, dict]:
    """Routing layer -> ``{"direction", "pitch", "width"}`` (µm) from a technology LEF."""
    text = Path(lef).read_text()
    info = {}
    for m in re.finditer(r"^LAYER (\S+)\s*\n(.*?)^END \1", text, re.S | re.M):
        body = m.group(2)
        if "ROUTING" not in body:
            continue
        info[m.group(1)] = {"direction": re.search(r"DIRECTION\s+(\w+)", body).group(1),
                            "pitch": float(re.search(r"PITCH\s+([\d.]+)", body).group(1)),
                            "width": float(re.search(r"WIDTH\s+([\d.]+)", body).group(1))}
    return info


def _core_from_cfg(cfg_text: str, die_um: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The core area: the die minus qflow's pin-ring obstructions in the qrouter script."""
    x0, y0, x1, y1 = die_um
    cx0, cy0, cx1, cy1 = x0, y0, x1, y1
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    for m in re.finditer(r"^obstruction (\S+) (\S+) (\S+) (\S+) \S+", cfg_text, re.M):
        a, b, c, d = map(float, m.groups())
        if d - b > c - a:                 # vertical strip: left or right side
            if (a + c) / 2 < mx:
                cx0 = max(cx0, min(c, mx))
            else:
                cx1 = min(cx1, max(a, mx))
        else:
            if (b + d) / 2 < my:
                cy0 = max(cy0, min(d, my))
            else:
                cy1 = min(cy1, max(b, my))
    return cx0, cy0, cx1, cy1


def uncovered_routing(def_text: str, core_um: list[float], obs_layers: list[str]) -> list[tuple]:
    """Routed points of the block's signal nets that the abstract's OBS does not cover and that are
    not the net's own pin stub: (net, layer, x, y) in µm from the die's lower-left corner. Inside
    the core every routed layer is covered; in the pin ring, a layer is covered along the sides it
    runs parallel to, and only a port's own net may run across the ring (to its pin)."""
    units, die, pins = def_pins(def_text)
    info = layer_info()
    nets = re.search(r"^NETS \d+ ;(.*?)^END NETS", def_text, re.S | re.M)
    bad = []
    for m in re.finditer(r"^-\s+(\S+)(.*?);\s*$", nets.group(1) if nets else "", re.S | re.M):
        net = m.group(1)
        for seg in re.finditer(r"(?:ROUTED|NEW)\s+(metal\d)\s+\( (\S+) (\S+) \)(?:\s+\( (\S+) (\S+) \))?", m.group(2)):
            lay, x0, y0, x1, y1 = seg.groups()
            x0, y0 = float(x0), float(y0)
            x1 = x0 if x1 in (None, "*") else float(x1)
            y1 = y0 if y1 in (None, "*") else float(y1)
            for x, y in ((x0, y0), (x1, y1)):
                px, py = (x - die[0]) / units, (y - die[1]) / units
                if lay not in obs_layers:
                    bad.append((net, lay, px, py))
                    continue
                if core_um[0] <= px <= core_um[2] and core_um[1] <= py <= core_um[3]:
                    continue
                horizontal = info[lay]["direction"] == "HORIZONTAL"
                along = (horizontal and not core_um[1] <= py <= core_um[3]) or \
                        (not horizontal and not core_um[0] <= px <= core_um[2])
                if not along and net in pins:
                    continue                               # a port's stub across the ring
                if along:
                    continue                               # covered by the ring OBS of that layer
                bad.append((net, lay, px, py))
    return bad


def write_lef(name: str, def_text: str, cfg_text: str, port_dirs: dict[str, str], path: Path,
              halo_um: float = OSU018.knobs.halo_um) -> dict:
    """Write the LEF abstract of a routed block; returns its geometry (µm, origin at the lower-left
    corner of the macro): ``width``, ``height``, ``pins``, ``obs_layers``, ``core``. ``OBS`` covers
    the layers the signal nets are routed on; vdd/gnd shapes above them (qflow's power stripes and
    their via pads) become parts of the vdd/gnd pins. The macro is the routed die plus a free
    ``halo_um`` on every side (no OBS there, the signal pins stretched across it to the macro's
    edge): the parent's router reaches every pin even where the macro abuts another or the die's
    edge (without it, macros placed at the parent's die edge left pins with no way in)."""
    units, die, pins = def_pins(def_text)
    dx, dy = die[0], die[1]
    w, h = (die[2] - die[0]) / units, (die[3] - die[1]) / units
    hl = max(0.0, halo_um)
    layers = layer_info()
    used = routed_layers(def_text, signal_only=True)
    top = max(int(l[5:]) for l in used) if used else 1
    power = power_shapes(def_text, top)
    die_um = tuple(v / units for v in die)
    core = _core_from_cfg(cfg_text, die_um)
    core = (core[0] - dx / units, core[1] - dy / units, core[2] - dx / units, core[3] - dy / units)
    # the pin ring is the die's edge: where macro placement left a wider channel between the pins
    # and the core (flows/builtin/macro_place.py), the channel is the block's own routing space, inside the OBS
    core = (min(core[0], OSU018.tech.pin_ring_um), min(core[1], OSU018.tech.pin_ring_um), max(core[2], w - OSU018.tech.pin_ring_um), max(core[3], h - OSU018.tech.pin_ring_um))
    g = lambda v: round(round(v / 0.05) * 0.05, 3)       # the manufacturing grid
    out_pins = {}
    lines = ["VERSION 5.6 ;", 'BUSBITCHARS "[]" ;', 'DIVIDERCHAR "/" ;', "", f"MACRO {name}",
             "  CLASS BLOCK ;", f"  FOREIGN {name} 0 0 ;", "  ORIGIN 0 0 ;", f"  SIZE {g(w + 2 * hl)} BY {g(h + 2 * hl)} ;",
             "  SYMMETRY X Y ;"]
    for pin, p in pins.items():
        x0, y0, x1, y1 = ((p["rect"][0] - dx) / units, (p["rect"][1] - dy) / units,
                          (p["rect"][2] - dx) / units, (p["rect"][3] - dy) / units)
        # stretch the pin across the ring to the nearest die edge, at least the layer's width wide
        hw = layers[p["layer"]]["width"] / 2
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        side = min((cx, "W"), (w - cx, "E"), (cy, "S"), (h - cy, "N"))[1]
        if side == "W":
            x0, x1 = 0.0, max(x1, core[0]) if cx < core[0] else x1
        elif side == "E":
            x0, x1 = (min(x0, core[2]) if cx > core[2] else x0), w
        elif side == "S":
            y0, y1 = 0.0, max(y1, core[1]) if cy < core[1] else y1
        else:
            y0, y1 = (min(y0, core[3]) if cy > core[3] else y0), h
        if side in "WE":
            y0, y1 = min(y0, cy - hw), max(y1, cy + hw)
        else:
            x0, x1 = min(x0, cx - hw), max(x1, cx + hw)
        # into the macro's frame (the halo around the die), across the halo to the macro's edge
        x0, y0, x1, y1 = x0 + hl, y0 + hl, x1 + hl, y1 + hl
        if side == "W":
            x0 = 0.0
        elif side == "E":
            x1 = w + 2 * hl
        elif side == "S":
            y0 = 0.0
        else:
            y1 = h + 2 * hl
        rect = [g(x0), g(y0), g(x1), g(y1)]
        use = "POWER" if pin == "vdd" or p["use"] == "POWER" else "GROUND" if pin == "gnd" or p["use"] == "GROUND" \
            else "SIGNAL"
        direction = {"input": "INPUT", "output": "OUTPUT"}.get(port_dirs.get(pin, ""), "INOUT")
        out_pins[pin] = {"dir": direction, "use": use, "layer": p["layer"], "rect": rect, "side": side}
        lines += [f"  PIN {pin}", f"    DIRECTION {direction} ;", f"    USE {use} ;", "    PORT",
                  f"      LAYER {p['layer']} ;", f"        RECT {rect[0]} {rect[1]} {rect[2]} {rect[3]} ;"]
        for lay, r in power.get(pin, []):         # stripes and via pads above the signal layers
            rr = [g(hl + max(0.0, (r[0] - dx) / units)), g(hl + max(0.0, (r[1] - dy) / units)),
                  g(hl + min(w, (r[2] - dx) / units)), g(hl + min(h, (r[3] - dy) / units))]
            lines += [f"      LAYER {lay} ;", f"        RECT {rr[0]} {rr[1]} {rr[2]} {rr[3]} ;"]
        lines += ["    END", f"  END {pin}"]
    lines.append("  OBS")
    up = lambda v: round(math.ceil(round(v / 0.05, 6)) * 0.05, 3)
    down = lambda v: round(math.floor(round(v / 0.05, 6)) * 0.05, 3)
    # the core's OBS reaches OSU018.tech.obs_margin_um into the pin ring (a wire may end a fraction of a track
    # outside the core, at a macro pin in the core's edge row), rounded outwards
    mg = OSU018.tech.obs_margin_um
    core = (max(0.0, core[0] - mg), max(0.0, core[1] - mg), min(w, core[2] + mg), min(h, core[3] + mg))
    gcore = [down(core[0] + hl), down(core[1] + hl), up(core[2] + hl), up(core[3] + hl)]
    x_lo, y_lo, x_hi, y_hi = g(hl), g(hl), g(w + hl), g(h + hl)                           # the routed die
    for lay in used:
        lines += [f"    LAYER {lay} ;", f"      RECT {gcore[0]} {gcore[1]} {gcore[2]} {gcore[3]} ;"]
        # the pin ring along the sides where this layer runs parallel to the edge
        if layers[lay]["direction"] == "HORIZONTAL":
            lines += [f"      RECT {x_lo} {y_lo} {x_hi} {gcore[1]} ;", f"      RECT {x_lo} {gcore[3]} {x_hi} {y_hi} ;"]
        else:
            lines += [f"      RECT {x_lo} {y_lo} {gcore[0]} {y_hi} ;", f"      RECT {gcore[2]} {y_lo} {x_hi} {y_hi} ;"]
    lines += ["  END", f"END {name}", "", "END LIBRARY", ""]
    bad = uncovered_routing(def_text, [core[0], core[1], core[2], core[3]], used)
    if bad:
        raise FlowError(f"LEF abstract of {name}: {len(bad)} routed points outside the OBS, e.g. {bad[:3]}")
    Path(path).write_text("\n".join(lines))
    return {"width": g(w + 2 * hl), "height": g(h + 2 * hl), "pins": out_pins, "obs_layers": used,
            "core": [down(core[0]), down(core[1]), up(core[2]), up(core[3])], "halo": hl}     # core: die frame


def lef_geometry(lef_texts: list[str]) -> dict[str, dict]:
    """Macro -> ``{"size": (w, h), "class": str, "pins": {pin: (x, y)}}`` (µm; pin: centre of its
    first rectangle)."""
    out = {}
    for text in lef_texts:
        for m in re.finditer(r"^MACRO\s+(\S+)(.*?)^END\s+\1\b", text, re.S | re.M):
            body = m.group(2)
            size = re.search(r"SIZE\s+([\d.]+)\s+BY\s+([\d.]+)", body)
            cls = re.search(r"CLASS\s+(\w+)", body)
            pins = {}
            for p in re.finditer(r"^\s*PIN\s+(\S+)(.*?)^\s*END\s+\1\b", body, re.S | re.M):
                r = re.search(r"RECT\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)", p.group(2))
                if r:
                    x0, y0, x1, y1 = map(float, r.groups())
                    pins[p.group(1)] = ((x0 + x1) / 2, (y0 + y1) / 2)
            out[m.group(1)] = {"size": (float(size.group(1)), float(size.group(2))) if size else (0.0, 0.0),
                               "class": cls.group(1) if cls else "CORE", "pins": pins}
    return out
