"""F2F bond pins as area pins: one location per bond, shared by both tiers, routed to on top metal.

After both tiers are placed (in one footprint), every bond gets an (x, y) in the die: the
midpoint of the centroids of the cell and macro pins it connects to on the two tiers. This is a
one-pass, post-placement form of the inter-tier via planning of Pin-3D (Pentapati et al.,
"Pin-3D: A Physical Synthesis and Post-Layout Optimization Flow for Heterogeneous Monolithic 3D
ICs", ICCAD 2020), where the tiers are placed with each other's pins in view and the vias land
between them; here the tiers are placed blind to each other, so a bond sits between two
independent placements. Locations are snapped to a bond grid on the top routing layer (``metal6``
tracks, at least the bond pitch apart; osu018's metal6 pitch of 1.6 µm is coarser than a
1 µm hybrid-bond pitch, so the grid is the metal's) and spread by a spiral search when two bonds
want one grid point; points over macros (SRAM abstracts obstruct their area) and on the
metal6 power stripes are not used.

Each tier's unrouted DEF then gets its bond ports as ``PINS`` on ``metal6`` at those points
(before, bond ports were I/O pins on the die edge, or had no location at all when the die has
hard macros, and then qrouter left their terminals unrouted), and the tier is routed again: the
bond nets now run from the cells up to the bond in the area of the die, so wirelength, wire load
and timing include the way to the F2F via.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from ..formats.def_ import components, def_units_die, die_um, port_terminals, power_shapes, tracks
from ..formats.lef import lef_geometry
from .platform import OSU018

__all__ = ["Bond", "BondPlan", "plan_bonds", "with_bond_pins", "read_lefs"]



def _pin_xy(inst: str, pin: str, comps, geo) -> tuple[float, float] | None:
    if inst not in comps:
        return None
    cell, x, y, orient = comps[inst]
    g = geo.get(cell)
    if g is None:
        return x, y
    w, h = g["size"]
    if g["class"] != "CORE" and pin in g["pins"] and orient == "N":
        px, py = g["pins"][pin]
        return x + px, y + py
    return x + w / 2, y + h / 2


def _centroid(points):
    pts = [p for p in points if p is not None]
    if not pts:
        return None
    return sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)


@dataclass(frozen=True)
class Bond:
    """A face-to-face bond: a hybrid Cu-Cu bond of ``r_ohm`` and ``c_ff`` at ``pitch_um`` (the values
    of issue #8, typical of published hybrid bonding: ~1 fF and a few Ω per bond)."""
    r_ohm: float = 3.0
    c_ff: float = 0.6
    pitch_um: float = 1.0


@dataclass
class BondPlan:
    locations: dict[str, tuple[float, float]]     # port -> (x, y) µm, the same on both tiers
    grid_um: tuple[float, float]
    offsets_um: dict[str, float]                  # tier -> mean |centroid - bond| (Manhattan)
    unplaced: list[str]                           # ports with no cell on either tier (die centre)


def plan_bonds(defs: dict[str, str], geo: dict[str, dict], ports: list[str],
               pitch_um: float = Bond.pitch_um) -> BondPlan:
    """One location per bond ``port`` (the port's name on both tiers) from the tiers' placed DEFs."""
    tiers = list(defs)
    comps = {t: components(defs[t]) for t in tiers}
    terms = {t: port_terminals(defs[t]) for t in tiers}
    # the bond grid: metal6 tracks in x, metal5 tracks in y, at least the bond pitch (and 2 rows) apart
    ref = defs[tiers[0]]
    x0, sx = tracks(ref, "X", OSU018.tech.top_metal)
    y0, sy = tracks(ref, "Y", "metal5")
    kx, ky = max(1, math.ceil(pitch_um / sx - 1e-9)), max(2, math.ceil(pitch_um / sy - 1e-9))
    gx, gy = kx * sx, ky * sy
    dies = [die_um(defs[t]) for t in tiers]
    lo_x, lo_y = max(d[0] for d in dies) + gx, max(d[1] for d in dies) + 2 * gy
    hi_x, hi_y = min(d[2] for d in dies) - gx, min(d[3] for d in dies) - 2 * gy
    ix = (math.ceil((lo_x - x0) / gx), math.floor((hi_x - x0) / gx))
    iy = (math.ceil((lo_y - y0) / gy), math.floor((hi_y - y0) / gy))
    blocked = set()
    for t in tiers:
        for cell, x, y, _ in comps[t].values():
            g = geo.get(cell)
            if g and g["class"] != "CORE":
                w, h = g["size"]
                for i in range(math.floor((x - x0) / gx), math.ceil((x + w - x0) / gx) + 1):
                    for j in range(math.floor((y - y0) / gy), math.ceil((y + h - y0) / gy) + 1):
                        blocked.add((i, j))
    # the power stripes on the pin layer (qflow's power grid): a bond pin on one would short it
    clear = OSU018.tech.top_metal_half_um + 0.5 + 0.3                  # half pin + metal6 spacing + margin, um
    for t in tiers:
        u = def_units_die(defs[t])[0]
        for rects in power_shapes(defs[t], int(OSU018.tech.top_metal[5:]) - 1).values():
            for lay, r in rects:
                if lay != OSU018.tech.top_metal:
                    continue
                a, b, c, d = (v / u for v in r)
                for i in range(math.floor((a - clear - x0) / gx), math.ceil((c + clear - x0) / gx) + 1):
                    if a - clear < x0 + i * gx < c + clear:
                        for j in range(math.floor((b - clear - y0) / gy), math.ceil((d + clear - y0) / gy) + 1):
                            if b - clear < y0 + j * gy < d + clear:
                                blocked.add((i, j))
    want, unplaced = {}, []
    cents = {}
    for p in ports:
        cs = {t: _centroid([_pin_xy(i, q, comps[t], geo) for i, q in terms[t].get(p, ("", []))[1]]) for t in tiers}
        cents[p] = cs
        have = [c for c in cs.values() if c is not None]
        if not have:
            unplaced.append(p)
            have = [((lo_x + hi_x) / 2, (lo_y + hi_y) / 2)]
        want[p] = (sum(c[0] for c in have) / len(have), sum(c[1] for c in have) / len(have))
    taken, locs = set(), {}
    # in order of position (deterministic); each takes the free site nearest to where it wants to be
    for p in sorted(ports, key=lambda q: (want[q][1], want[q][0], q)):
        ci = min(max(round((want[p][0] - x0) / gx), ix[0]), ix[1])
        cj = min(max(round((want[p][1] - y0) / gy), iy[0]), iy[1])
        spot = None
        for r in range(0, max(ix[1] - ix[0], iy[1] - iy[0]) + 2):
            ring = [(ci + a, cj + b) for a in range(-r, r + 1) for b in range(-r, r + 1) if max(abs(a), abs(b)) == r]
            ring = [(i, j) for i, j in ring if ix[0] <= i <= ix[1] and iy[0] <= j <= iy[1]
                    and (i, j) not in taken and (i, j) not in blocked]
            if ring:
                spot = min(ring, key=lambda s: (abs(s[0] - ci) * gx + abs(s[1] - cj) * gy, s))
                break
        if spot is None:
            raise ValueError(f"no free bond site for {p}: the die has {(ix[1]-ix[0]+1)*(iy[1]-iy[0]+1)} sites "
                             f"for {len(ports)} bonds at {gx:.1f} x {gy:.1f} um")
        taken.add(spot)
        locs[p] = (round(x0 + spot[0] * gx, 3), round(y0 + spot[1] * gy, 3))
    offsets = {}
    for t in tiers:
        d = [abs(cents[p][t][0] - locs[p][0]) + abs(cents[p][t][1] - locs[p][1]) for p in ports if cents[p][t]]
        offsets[t] = sum(d) / len(d) if d else 0.0
    return BondPlan(locs, (gx, gy), offsets, unplaced)


def with_bond_pins(def_text: str, locations: dict[str, tuple[float, float]], directions: dict[str, str]) -> str:
    """``def_text`` with a ``metal6`` pin for every port of ``locations`` whose net reaches a cell
    of this tier (``directions``: port -> INPUT / OUTPUT); other pins (power, chip I/O) are kept,
    an earlier pin of a bond port is dropped."""
    u = def_units_die(def_text)[0]
    terms = port_terminals(def_text)
    sec = re.search(r"^PINS\s+\d+\s*;(.*?)^END PINS", def_text, re.S | re.M)
    if not sec:
        raise ValueError("no PINS section in the DEF")
    kept = [b for b in re.findall(r"^-.*?;\s*$", sec.group(1), re.S | re.M)
            if b.split()[1] not in locations]                 # a pin placed before is replaced
    half = int(round(OSU018.tech.top_metal_half_um * u))
    new = []
    for p, (x, y) in sorted(locations.items()):
        if p not in terms or not terms[p][1]:
            continue                                    # the bit is not used on this tier: no pin
        net = terms[p][0]
        new.append(f"- {p} + NET {net} + DIRECTION {directions.get(p, 'INPUT')}\n"
                   f"  + LAYER {OSU018.tech.top_metal} ( -{half} -{half} ) ( {half} {half} )\n"
                   f"  + PLACED ( {int(round(x * u))} {int(round(y * u))} ) N ;")
    body = "\n".join(kept + new)
    return def_text[:sec.start()] + f"PINS {len(kept) + len(new)} ;\n{body}\n" + def_text[sec.end(1):]


def read_lefs(work: Path, stdcell_lef: Path) -> dict[str, dict]:
    """The geometry of the standard cells and of every macro view in a flow's work directory."""
    texts = [Path(stdcell_lef).read_text()]
    texts += [p.read_text() for p in sorted((Path(work) / "source" / "macros").glob("*/*.lef"))]
    return lef_geometry(texts)
