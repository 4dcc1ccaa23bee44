"""Where the pins of the two placed tiers are, in one frame: pin points, the other tier's pins of
each bond as attractor points (:mod:`.attract`), and the half-perimeter wirelength of the 3D design.

Frames: the logic tier (``tier_bottom``) at its own DEF coordinates, the other tier moved by
``shift`` (µm, :func:`~spikestack.flows.coplace.merge.top_offset`), as in
:func:`~spikestack.flows.coplace.merge.combined_def`.
"""
from __future__ import annotations

import re

import numpy as np

from ..formats.def_ import components
from .attract import row_positions
from .merge import PREFIX, combined_def, def_nets
from .stack import TOP_SUFFIX

__all__ = ["TIERS", "pin_points", "centroid", "bond_pin_centroid", "attract_points", "tier_shift", "hpwl"]

TIERS = ("tier_top", "tier_bottom")
# qflow's decongest.tcl names a cell it pads with fill ``<fill>.<width>[X<n>].<instance>`` in graywolf's
# files; place2def writes the fill first, from the padded cell's left edge, as ``<fill>_0_<instance>``
# (the instance: what follows the last dot), ``<fill>_1_<instance>``, ..., then the cell
PADDED = re.compile(r"([^ \t.]+)\.[0-9X]+\.")


def pin_points(def_text: str, geo: dict, prefix: str = "", shift: tuple[float, float] = (0.0, 0.0)) -> dict:
    """``(instance, pin) -> (x, y)`` µm for every component pin of a DEF (macro pins at their LEF
    place, standard cells at their centre); instances named with ``prefix``, moved by ``shift``."""
    out = {}
    for inst, (cell, x, y, orient) in components(def_text).items():
        g = geo.get(cell[:-len(TOP_SUFFIX)] if cell.endswith(TOP_SUFFIX) else cell)
        if g is None:
            continue
        w, h = g["size"]
        for pin, (px, py) in g["pins"].items():
            if g["class"] != "CORE" and orient == "N":
                out[(prefix + inst, pin)] = (x + px + shift[0], y + py + shift[1])
            else:
                out[(prefix + inst, pin)] = (x + w / 2 + shift[0], y + h / 2 + shift[1])
    return out


def centroid(pts):
    """The mean of the points that are not ``None`` (``None`` if there are none)."""
    pts = [p for p in pts if p is not None]
    return (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)) if pts else None


def _port(net: str, terms, bond_bits: set[str]) -> str | None:
    # a tier placed with attractors has no pin on its bond nets: the net is named after the port
    port = next((q for i, q in terms if i == "PIN"), None)
    return port if port is not None else (net if net in bond_bits else None)


def bond_pin_centroid(top_def: str, geo: dict, bond_bits: set[str]) -> tuple[float, float] | None:
    """The centroid (µm) of a tier's pins on bond nets."""
    pts = pin_points(top_def, geo)
    return centroid([pts.get((i, q)) for net, terms in def_nets(top_def).items()
                     if _port(net, terms, bond_bits) in bond_bits for i, q in terms if i != "PIN"])


def tier_shift(tier: str, shift: tuple[float, float]) -> tuple[float, float]:
    """What moves the *other* tier's coordinates into ``tier``'s frame (``shift`` moves the top
    tier into the logic tier's)."""
    return tuple(shift) if tier == "tier_bottom" else (-shift[0], -shift[1])


def _gw_translation(tier_def: str, tier_pl1: str):
    """DEF point (centimicrons) -> graywolf's frame, from the cells found in both the placed DEF
    and graywolf's ``.pl1``. It is not one translation: qflow's ``addspacers`` widens the rows at
    each power stripe, so a cell's DEF-minus-graywolf x offset steps along x (on a mid-size tier,
    74 distinct offsets from 2.8 to 58.8 µm). A point takes the x offset of the cell nearest to it
    in DEF x, and the y offset all cells share (their median)."""
    comps = components(tier_def)
    dx, ox, oy = [], [], []
    for line in tier_pl1.splitlines():
        w = line.split()
        name = w[0] if w else ""
        padded = PADDED.match(name)
        if padded:                    # a spread design's cell padded with fill (macro_place.spread)
            name = f"{padded.group(1)}_0_{name.rsplit('.', 1)[1]}"
        if len(w) >= 5 and name in comps:
            x, y = comps[name][1] * 100, comps[name][2] * 100
            dx.append(x)
            ox.append(x - int(w[1]))
            oy.append(y - int(w[2]))
    if not dx:
        raise ValueError("attract: no cell of the .pl1 in the placed DEF")
    order = np.argsort(dx, kind="stable")
    dx, ox = np.asarray(dx, dtype=float)[order], np.asarray(ox, dtype=float)[order]
    ty = float(np.median(oy))

    def move(x: float, y: float) -> tuple[float, float]:
        i = int(np.searchsorted(dx, x))
        j = i - 1 if i == len(dx) or (i > 0 and x - dx[i - 1] <= dx[i] - x) else i
        return x - float(ox[j]), y - ty
    return move


def attract_points(other_def: str, tier_def: str, tier_pl1: str, tier_pl2: str, geo: dict,
                   bond_bits: set[str], shift: tuple[float, float]) -> dict[str, tuple[int, int]]:
    """Each bond's pin centroid on the other tier (``other_def``), moved into the placed tier's frame
    by ``shift`` (µm, :func:`tier_shift`) and into graywolf's (``.pl1`` vs the placed ``tier_def``),
    as (row, x from the row's left end)."""
    pts = pin_points(other_def, geo, shift=shift)
    move = _gw_translation(tier_def, tier_pl1)
    want = {}
    for net, terms in def_nets(other_def).items():
        port = _port(net, terms, bond_bits)
        if port is None or port not in bond_bits:
            continue
        c = centroid([pts.get((i, q)) for i, q in terms if i != "PIN"])
        if c:
            want[port] = move(c[0] * 100, c[1] * 100)
    return row_positions(tier_pl2, want)


def hpwl(defs: dict[str, str], geo: dict, bond_bits: set[str], shift: tuple[float, float]) -> dict[str, float]:
    """Half-perimeter wirelength (µm) of the 3D design: every net of both tiers over its cell and
    macro pins, a bond net over its pins on both tiers (``total``, and ``bond`` for the bond nets)."""
    _, info = combined_def(defs, bond_bits, "hpwl", shift)
    u = info["units"]
    pins = {}
    for t in TIERS:
        pins.update(pin_points(defs[t], geo, PREFIX[t], tuple(v / u for v in info["offsets"][t])))
    total = bond = 0.0
    for net, terms in info["terms"].items():
        pts = [pins[k] for k in terms if k in pins]
        if len(pts) < 2:
            continue
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        w = max(xs) - min(xs) + max(ys) - min(ys)
        total += w
        if info["kinds"].get(net) == "bond":
            bond += w
    return {"total": round(total, 1), "bond": round(bond, 1)}
