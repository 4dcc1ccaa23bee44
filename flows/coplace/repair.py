"""Tier nets that the one routing took through the other tier, routed again inside their own tier.

qrouter has no per-net layer limit: in the combined 12-layer stack a net of one tier may detour
through the other tier's metals over two bond vias where its own tier is congested (seen once on
``moe_ppa_small``). Such a net is not a bond and must not cross. Here each such net is routed again
in a second, small qrouter run: the same combined LEF and placed DEF with only those nets in it,
every other net's routed wires and vias as routing obstructions (:func:`route_obstructions`), the
top tier's power stripes as before, and the other tier's six metals obstructed over the whole die
(so the net cannot leave its tier). The new routes replace the old ones in the routed DEF
(:func:`splice_routes`); a net the repair cannot route keeps its detour, and is reported.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..builtin.flow import FlowError, route_cleanup, run_logged, standard_route
from ..formats.def_ import net_blocks, route_statements
from ..analysis.spef import layer_rc, via_table
from .route import closed_layers, other_tier_layers

__all__ = ["route_obstructions", "splice_routes", "repair_strays"]


def route_obstructions(routed_def: str, lef: str, skip: set[str], units: float) -> list[str]:
    """qrouter ``obstruction`` lines (µm) covering every routed wire and via of the nets not in
    ``skip``: each segment a rectangle of its layer's width, each via its metal layers' widths at
    its point."""
    layers = layer_rc(lef)
    widths = {name: v["width_um"] for name, v in layers.items() if "width_um" in v}
    vias = {name: metals for name, (metals, _) in via_table(lef, layers).items()}
    out = []
    for name, block in net_blocks(routed_def).items():
        if name in skip or "ROUTED" not in block:
            continue
        for layer, pts, via in route_statements(block):
            if layer not in widths or not pts:
                continue
            pts = [(x / units, y / units) for x, y in pts]
            h = widths[layer] / 2
            for (x0, y0), (x1, y1) in zip(pts, pts[1:]) if len(pts) > 1 else [(pts[0], pts[0])]:
                out.append(f"obstruction {min(x0, x1) - h:.3f} {min(y0, y1) - h:.3f} {max(x0, x1) + h:.3f} "
                           f"{max(y0, y1) + h:.3f} {layer}")
            if via in vias:
                vx, vy = pts[-1]
                for vl in vias[via]:
                    hv = widths[vl] / 2
                    out.append(f"obstruction {vx - hv:.3f} {vy - hv:.3f} {vx + hv:.3f} {vy + hv:.3f} {vl}")
    return out


def splice_routes(routed_def: str, new_routes_def: str, nets: list[str]) -> tuple[str, list[str]]:
    """``routed_def`` with the blocks of ``nets`` taken from ``new_routes_def`` where that routed
    them; returns the text and the nets replaced."""
    new = net_blocks(new_routes_def)
    old = net_blocks(routed_def)
    done = []
    for n in nets:
        if n in new and n in old and "ROUTED" in new[n]:
            routed_def = routed_def.replace(old[n], new[n].strip("\n"), 1)
            done.append(n)
    return routed_def, done


def repair_strays(rdir: Path, name: str, lef: str, placed_def: str, routed_def: str, strays: dict[str, str],
                  base_cfg: list[str], units: float, die_um: tuple[float, float, float, float], log=print) -> dict:
    """Route ``strays`` (net -> its tier) again in ``rdir/repair`` (module docstring); returns
    ``{"routed_def", "repaired", "kept"}``."""
    work = Path(rdir) / "repair"
    work.mkdir(parents=True, exist_ok=True)
    placed_blocks = net_blocks(placed_def)
    repaired: list[str] = []
    for tier in sorted(set(strays.values())):
        nets = sorted(n for n, t in strays.items() if t == tier and n in placed_blocks)
        if not nets:
            continue
        sec = re.search(r"^NETS\s+\d+\s*;.*?^END NETS\s*$", placed_def, re.S | re.M)
        one = placed_def[:sec.start()] + f"NETS {len(nets)} ;\n" + "\n".join(placed_blocks[n].strip("\n") for n in nets) \
            + "\nEND NETS\n" + placed_def[sec.end():]
        obst = route_obstructions(routed_def, lef, set(nets), units) + \
            closed_layers(other_tier_layers(lef, tier), die_um)
        tag = f"{name}_repair_{tier}"
        (work / f"{tag}.def").write_text(one)
        (work / f"{tag}.cfg").write_text("\n".join([*base_cfg, *obst, f"read_def {tag}.def",
                                                    standard_route(f"{tag}_route.def", route_cleanup(one)), "quit"]) + "\n")
        (work / "combined.lef").write_text(lef)
        log(f"[ppa] coplaced: {len(nets)} {tier} net(s) routed through the other tier; routing them again inside "
            f"{tier} ...")
        try:
            run_logged(["qrouter", "-nog", "-s", f"{tag}.cfg"], work, work / f"{tag}.log", "co-placed repair routing")
        except FlowError as e:
            log(f"[ppa] coplaced: {e}")
        out = work / f"{tag}_route.def"
        if out.exists():
            routed_def, done = splice_routes(routed_def, out.read_text(), nets)
            repaired += done
    kept = sorted(set(strays) - set(repaired))
    return {"routed_def": routed_def, "repaired": sorted(repaired), "kept": kept}
