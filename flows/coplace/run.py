"""Co-placed pseudo-3D: Macro-3D for the memories (Bamberg et al., DATE 2020), Pin-3D for the logic on
both tiers (Pentapati et al., ICCAD 2020).

Macro-3D implements a memory-on-logic face-to-face stack with a 2D tool by (1) one footprint for
both dies, (2) the memory die's macros placed over the logic die, where they take none of its
rows, (3) a combined technology — the logic die's metals, the F2F bond layer, the memory die's
metals mirrored above — so (4) the logic cells are placed seeing the memory pins where they are in
3D and (5) one routing run over the combined stack connects both dies, the bonds being where
routes cross the bond layer; (6) the result is split into the two dies. Pin-3D places logic on
both tiers the same way, one tier at a time with the other fixed, alternating. Here:

1. **one frame**: the two tiers' dies from the independent flow (each tier alone), the top tier
   moved so that its bond pins' centroid sits over the logic tier's centre, keeping the smaller
   die inside the larger (:func:`~spikestack.flows.coplace.merge.top_offset`): one footprint;
2. **tiers placed in turn** (:mod:`spikestack.flows.coplace.pin3d`): the logic tier
   (``tier_bottom``) synthesised and placed again by graywolf with every bond's top-tier pins as a
   fixed zero-width attractor cell at their centroid (:mod:`spikestack.flows.coplace.attract`),
   then the top tier's standard cells (memory-on-logic: the router, dispatcher, merge and spike
   generators beside the SRAM macros; logic-on-logic: its half of the cores) with the logic tier's
   new pins as attractors, and so on until the 3D wirelength settles; macros keep their places;
3. the combined LEF (:mod:`spikestack.flows.coplace.stack`: ``metal1-6``, ``f2f``, ``metal6b-1b``,
   12 layers) and one DEF of both tiers, routed in one grid with each net kept to its metals
   (:mod:`spikestack.flows.coplace.route`: the 3D nets over both tiers, then each tier's nets with
   the other tier's metals closed); bonds counted from the routed ``F2F_BOND`` vias; wirelength per tier from the routed segments; per-tier DEFs split out;
4. timing and power: one SPEF of the combined routing (:mod:`spikestack.flows.analysis.spef`: an RC tree
   per net over both tiers' wires, the vias and the bond vias with the bond's R and C, named after
   the stitched netlist; ``coplaced.spef``) read by one OpenSTA run of the stitched netlist
   (:func:`~spikestack.flows.ppa.analysis.analyse_3d` with ``spef``). A tier placed here is timed
   with its own netlist (its placement re-ran qflow's fanout buffering). Each net's lumped wire C
   is still split into per-tier ``.rc`` files (a bond net's whole C on its driving tier), for the
   lumped analysis of :mod:`spikestack.flows.analysis.sta3d` that the independent method uses.

Differences from the papers, stated: the memory tier's macros stay where the independent flow's
macro placement put them (columns beside its cell rows), not re-placed in 3D view; the other
tier is seen through its bond pins only (Pin-3D projects all its cells); no timing-driven
placement or post-route optimisation (graywolf/qrouter have none); the top die is not mirrored in
x (its placement is taken as seen from above); its power stripes are obstructions, not nets.
"""
from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

from ..builtin.flow import failed_routes, route_cleanup
from ..builtin.netlist import repair_header
from ..analysis.spef import VIA_R_OHM, spef_for
from ..formats.def_ import components, def_units_die, die_um, power_shapes
from ..formats.lef import lef_geometry
from ..formats.rc import rc_entries
from ..builtin.platform import OSU018
from .extract import calibration, rc_text
from .merge import PREFIX, combined_def, read_routes, split_def, top_offset
from .pin3d import place_both_tiers
from .repair import repair_strays
from .route import base_cfg, qrouter_run, route_by_tier
from .pins import TIERS, bond_pin_centroid, centroid, pin_points
from .stack import combined_lef, tier_of_layer

__all__ = ["coplaced", "bond_metrics", "min_distance", "split_rc"]


def _bond_bits(fmap: dict) -> set[str]:
    out = set()
    for b in fmap["bonds"]:
        w = b["width"]
        out |= {b["name"]} if w == 1 else {f"{b['name']}[{i}]" for i in range(w)}
    return out


def min_distance(points: list[tuple[float, float]], cell_um: float) -> float:
    """The least distance between two of ``points`` (inf for fewer than two), by a grid of ``cell_um``."""
    grid: dict[tuple[int, int], list[int]] = {}
    for k, (x, y) in enumerate(points):
        grid.setdefault((int(x // cell_um), int(y // cell_um)), []).append(k)
    least = math.inf
    for k, (x, y) in enumerate(points):
        i, j = int(x // cell_um), int(y // cell_um)
        for a in (-1, 0, 1):
            for b in (-1, 0, 1):
                for l in grid.get((i + a, j + b), ()):
                    if l > k:
                        least = min(least, math.hypot(x - points[l][0], y - points[l][1]))
    return least


def bond_metrics(routes: dict, info: dict, pins: dict, pitch_um: float) -> dict:
    """Bonds from the routed DEF: count, nets that cross, the least distance between two bonds,
    the mean Manhattan distance from each tier's pin centroid of a bond net to its nearest bond."""
    u = info["units"]
    bonds = [(n, (x / u, y / u)) for n, r in routes.items() for x, y in r["bonds"]]
    crossing = {n for n, _ in bonds}
    kinds = info["kinds"]
    least = min_distance([p for _, p in bonds], pitch_um)
    dist = {t: [] for t in TIERS}
    for n in crossing:
        if kinds.get(n) != "bond":
            continue
        for t in TIERS:
            c = centroid([pins.get((i, q)) for i, q in info["terms"][n] if i.startswith(PREFIX[t])])
            if c:
                bx = [(x / u, y / u) for x, y in routes[n]["bonds"]]
                dist[t].append(min(abs(c[0] - x) + abs(c[1] - y) for x, y in bx))
    # a net must cross when it has terminals on both tiers (a bond bit used on one tier only does not)
    both = {n for n, terms in info["terms"].items()
            if all(any(i.startswith(PREFIX[t]) for i, _ in terms) for t in TIERS)}
    expected = {n for n in both if kinds.get(n) in ("bond", "shared_input")}
    return {"bonds": len(bonds), "nets_crossing": len(crossing),
            "bond_nets": sum(1 for n in crossing if kinds.get(n) == "bond"),
            "shared_input_nets": sum(1 for n in crossing if kinds.get(n) == "shared_input"),
            "expected_crossing": len(expected), "missing_crossing": sorted(expected - crossing)[:20],
            "unexpected_crossing": sorted(crossing - expected)[:20],
            "tier_nets_spanning_both": sorted(both - expected)[:20],
            "one_tier_bond_bits": sum(1 for n, k in kinds.items() if k == "bond" and n not in both),
            "min_bond_distance_um": None if least == math.inf else round(least, 3),
            "mean_pin_to_bond_um": {t: round(sum(v) / len(v), 1) if v else None for t, v in dist.items()},
            "locations_um": [[n, round(x, 2), round(y, 2)] for n, (x, y) in bonds]}


def split_rc(rc_text: str, info: dict) -> dict[str, str]:
    """qrouter's combined RC trees as each tier's ``.rc`` (prefixes dropped): a tier net as it is;
    a bond net or a shared input with its whole wire C on its driving tier (the pin's tier for an
    input) and an entry of C 0 with the sinks on the other (``PIN/<port>`` as driver)."""
    out = {t: [] for t in TIERS}
    def tier(name):
        return next((t for t in TIERS if name.startswith(PREFIX[t])), None)
    def strip(name):
        t = tier(name)
        return name[len(PREFIX[t]):] if t else name
    for net, drv, c, sinks in rc_entries(rc_text):
        kind = info["kinds"].get(net)
        by = {t: [strip(s) for s in sinks if tier(s) == t] for t in TIERS}
        if kind in TIERS:
            out[kind].append(f"{net[len(PREFIX[kind]):] if net.startswith(PREFIX[kind]) else net} 1 {strip(drv)} "
                             f"( 0 {c:.6g} {', '.join(by[kind])} )")
            continue
        home = tier(drv) or "tier_bottom"
        for t in TIERS:
            d = strip(drv) if t == home else f"PIN/{net}"
            out[t].append(f"{net} 1 {d} ( 0 {c if t == home else 0:.6g} {', '.join(by[t])} )")
    return {t: "\n".join(v) + "\n" for t, v in out.items()}


def _strays(routes: dict, kinds: dict) -> dict[str, str]:
    """Tier nets that cross the bond layer: net -> its tier."""
    return {n: kinds[n] for n, r in routes.items() if r["bonds"] and kinds.get(n) in TIERS}


def _top_power_obstructions(top_def: str, shift: tuple[int, int]) -> list[str]:
    u = def_units_die(top_def)[0]
    out = []
    for rects in power_shapes(top_def, 1).values():
        for lay, r in rects:
            x0, y0, x1, y1 = ((r[0] + shift[0]) / u, (r[1] + shift[1]) / u, (r[2] + shift[0]) / u, (r[3] + shift[1]) / u)
            out.append(f"obstruction {x0:.2f} {y0:.2f} {x1:.2f} {y1:.2f} {lay}b")
    return out


def coplaced(out_dir: Path, fmap: dict, jobs: dict, bond: dict, log=print, keep_placement: bool = False) -> dict:
    """The co-placed 3D implementation (module docstring) in ``out_dir/coplaced``, from the
    independent flow's runs in ``out_dir/tier_top`` / ``out_dir/tier_bottom``; ``jobs``: tier -> its
    flow job. Writes each tier's ``work/sta_net.v`` and ``work/<tier>.rc`` there for
    :func:`~spikestack.flows.ppa.analyse_3d` and returns the method's numbers (``coplaced.json``).
    ``keep_placement``: tier placements and a routing of the same Verilog already in
    ``out_dir/coplaced`` are kept (``reuse``)."""
    t0 = time.time()
    out_dir = Path(out_dir).resolve()
    co = out_dir / "coplaced"
    co.mkdir(parents=True, exist_ok=True)
    ind = {t: out_dir / t / "work" for t in TIERS}
    bits = _bond_bits(fmap)
    macro_lefs = sorted({p for t in TIERS for p in (ind[t] / "source" / "macros").glob("*/*.lef")})
    std = OSU018.stdcell_lef.read_text()
    geo = lef_geometry([std] + [p.read_text() for p in macro_lefs])
    # 2. one frame for both tiers (the independent placements' alignment), then the tiers placed in
    # turn, each with the other's bond pins as attractors (flows/coplace/pin3d.py)
    ind_top = (ind["tier_top"] / "tier_top_unroute.def").read_text()
    ind_bottom = (ind["tier_bottom"] / "tier_bottom_unroute.def").read_text()
    shift = top_offset(die_um(ind_top), die_um(ind_bottom), bond_pin_centroid(ind_top, geo, bits))
    placed = place_both_tiers(co, jobs, ind, geo, bits, shift, log, reuse=keep_placement)
    place_s = time.time() - t0
    defs = placed["defs"]
    top_def = defs["tier_top"]
    # 3. the combined stack, one DEF, one routing
    top_cells = {c for c, *_ in components(top_def).values() if not c.startswith("FILL")}
    lef = combined_lef(std, [p.read_text() for p in macro_lefs], top_cells, bond["pitch_um"], bond["r_ohm"])
    name = fmap["top"]
    def_text, info = combined_def(defs, bits, name, shift)
    obst = _top_power_obstructions(top_def, info["offsets"]["tier_top"])
    u0 = info["units"]
    die = tuple(v / u0 for v in info["die"])
    cleanup = route_cleanup(def_text)
    by_tier = OSU018.knobs.coplace_tier_layers
    if by_tier:
        # each net kept to its metals: the 3D nets, then each tier's (flows/coplace/route.py)
        r = route_by_tier(co / "route", name, lef, def_text, obst, info["kinds"], die, cleanup, log, reuse=keep_placement)
        routed, route_s, failed, groups = r["routed_def"], r["seconds"], r["failed"], r["groups"]
        retries = r["retries"]
        (co / "route" / f"{name}_route.def").write_text(routed)
    else:
        routed, route_s, log_text = qrouter_run(co / "route", name, lef, def_text, base_cfg(obst), cleanup, log,
                                                f"{name} (co-placed, 12 layers)", reuse=keep_placement)
        failed, groups, retries = (failed_routes(log_text) if routed else None), [], []
    log(f"[ppa] coplaced: routing over the 12-layer stack: {route_s:.0f} s")
    routes = read_routes(routed)
    strays = _strays(routes, info["kinds"])
    repair = {"repaired": [], "kept": []}
    if strays and routed:
        # tier nets the router took through the other tier: routed again inside their own tier
        repair = repair_strays(co / "route", name, lef, def_text, routed, strays, base_cfg(obst), u0, die, log)
        routed = repair.pop("routed_def")
        (co / "route" / f"{name}_route.def").write_text(routed)
        routes = read_routes(routed)
        log(f"[ppa] coplaced: {len(repair['repaired'])} of {len(strays)} stray tier nets routed again inside their tier")
    u = info["units"]
    wl = {t: 0.0 for t in (*TIERS, "bond")}
    for r in routes.values():
        for lay, length in r["length"].items():
            wl[tier_of_layer(lay)] += length / u
    pins = {}
    for t in TIERS:
        pins.update(pin_points(defs[t], geo, PREFIX[t], tuple(v / u for v in info["offsets"][t])))
    bonds = bond_metrics(routes, info, pins, bond["pitch_um"])
    # 4. per-tier DEFs, netlists and RC trees for the stitched analysis
    # parasitics from the routed geometry (qrouter finds no driver on the mirrored cells' nets),
    # scaled to qrouter's own extraction as measured on the independently routed logic tier
    cal = calibration((ind["tier_bottom"] / "tier_bottom.def").read_text(), std, (ind["tier_bottom"] / "tier_bottom.rc").read_text())
    scale = 1.0 / cal["ratio"] if cal["ratio"] else 1.0
    comps = {i: c for i, (c, *_) in components(routed).items()} if routed else {}
    rc = rc_text(routed, lef, comps, scale) if routed else ""
    tier_rc = split_rc(rc, info)
    for t in TIERS:
        w = co / t / "work"
        w.mkdir(parents=True, exist_ok=True)
        if t in placed["replaced"]:
            # a tier placed here has its own netlist: its placement re-ran qflow's fanout
            # buffering, whose buffer-to-sink assignment differs from the independent run's
            net = repair_header((w / f"{t}.rtlnopwr.v").read_bytes(), t, jobs[t].text)
            (w / "sta_net.v").write_text("\n".join(x for x in net.splitlines() if not x.lstrip().startswith("FILL "))
                                         + "\n")
        else:
            shutil.copy(ind[t] / "sta_net.v", w / "sta_net.v")
        (w / f"{t}.rc").write_text(tier_rc[t])
        if routed:
            (w / f"{t}_split.def").write_text(split_def(routed, t))
    # one SPEF of both tiers and the bonds, named after the stitched netlist (flows/analysis/spef.py)
    spef_stats = None
    if routed:
        nets = {f"{t}/": (co / t / "work" / "sta_net.v").read_text() for t in TIERS}
        spef, spef_stats = spef_for(routed, lef, nets, {PREFIX[t]: f"{t}/" for t in TIERS}, bond["r_ohm"],
                                    bond["c_ff"] * 1e-3, f"{name}_3d", c_scale=scale)
        (co / "coplaced.spef").write_text(spef)
    x0, y0, x1, y1 = info["die"]
    res = {"method": "coplaced (Macro-3D + Pin-3D: one footprint, the macros over the other tier, the tiers placed "
                     "in turn with the other tier's bond pins as attractors until the 3D wirelength settles, "
                     "routed over a "
                     "12-layer combined stack, bonds where routes cross the f2f layer)",
           "footprint_um2": (x1 - x0) * (y1 - y0) / u / u, "die_um": [x0 / u, y0 / u, x1 / u, y1 / u],
           "offsets_um": {t: [v / u for v in o] for t, o in info["offsets"].items()},
           "placements": placed["passes"], "hpwl_um": placed["hpwl_um"], "replaced_tiers": placed["replaced"],
           "attractors": placed["passes"][0]["attractors"] if placed["passes"] else 0, "failed_routes": failed,
           "route_cleanup": cleanup,
           "routing": {"mode": "by tier: the 3D nets, then each tier's nets with the other tier's metals closed"
                       if by_tier else "one run over all nets, crossing tier nets routed again inside their tier",
                       "groups": groups, "retries": retries},
           "stray_tier_nets": {"found": len(strays), "rerouted_in_tier": repair["repaired"],
                               "left_crossing": repair["kept"]},
           "wirelength_um": wl["tier_top"] + wl["tier_bottom"], "wirelength_tier_um": wl,
           "nets": len(info["kinds"]), "rc_nets": sum(1 for _ in rc_entries(rc)),
           "extraction": {"method": "routed segments x LEF layer C, scaled to qrouter's .rc", "scale": round(scale, 4),
                          "calibration": cal},
           "spef": {"file": str(co / "coplaced.spef") if spef_stats else None, "stats": spef_stats,
                    "method": "flows/analysis/spef.py: each routed piece R = RPERSQ x length / width and its C (pi), vias "
                              f"{VIA_R_OHM:g} ohm, F2F bond via {bond['r_ohm']:g} ohm + {bond['c_ff']:g} fF, "
                              "one RC tree per net"},
           "bonds": {k: v for k, v in bonds.items() if k != "locations_um"},
           "seconds": {"placement": round(place_s, 1), "routing": round(route_s, 1),
                       "total": round(time.time() - t0, 1)}}
    (co / "coplaced.json").write_text(json.dumps(res, indent=1) + "\n")
    (co / "bonds.json").write_text(json.dumps(bonds["locations_um"]) + "\n")
    (co / "net_kinds.json").write_text(json.dumps(info["kinds"]) + "\n")
    return res
