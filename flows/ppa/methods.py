"""The two pseudo-3D methods side by side against one 2D baseline: ``independent`` (each tier placed
and routed alone, bonds as area pins afterwards: :mod:`spikestack.flows.builtin.bondpins`) and ``coplaced``
(Macro-3D memory-on-logic: :mod:`spikestack.flows.coplace.run`)."""
from __future__ import annotations

__all__ = ["METHODS", "method_numbers", "methods_md"]

METHODS = ("independent", "coplaced")


def _ratio(a, b):
    return (a / b) if a is not None and b else None


def _timing(wd: dict) -> dict:
    # the memory-access path between the same GLB storage and PE registers in 2D and 3D where found
    m = wd.get("memory_access_matched", {})
    m = m if m.get("found") else wd.get("memory_access", {})
    return {"fmax_mhz": wd.get("fmax_mhz"), "memory_access_ns": m.get("delay_ns"),
            "power_w": wd.get("power_w", {}).get("total"), "parasitics": wd.get("parasitics")}


def method_numbers(res: dict) -> dict:
    """Per method: footprint, fmax, memory access, power, wirelength, bonds, mean pin-to-bond
    distance, failed routes, the parasitics the timing and power used, and each one's ratio to 2D
    (``None`` where a method did not run). Where the whole-design analyses from SPEFs ran
    (``2d_spef``, ``3d_spef``, ``3d_coplaced`` with a SPEF: ``--method coplaced``), every method's
    timing and power and the 2D baseline's come from them (one kind of parasitics for all)."""
    w = res.get("whole_design", {})
    spef = "2d_spef" in w
    r2 = res["2d"]
    base = {"footprint_um2": r2["die_area_um2"], "wirelength_um": r2["wirelength_um"],
            **_timing(w.get("2d_spef" if spef else "2d", {}))}
    out = {"2d": base}
    d3 = res.get("3d")
    if d3:
        bp = d3.get("bond_pins") or {}
        off = bp.get("mean_offset_um") or {}
        out["independent"] = {
            "footprint_um2": d3["footprint_um2"], "wirelength_um": d3["wirelength_um"],
            **_timing(w.get("3d_spef" if spef and "3d_spef" in w else "3d", {})),
            "bonds": bp.get("bonds", d3["bonds"]),
            "mean_pin_to_bond_um": (sum(off.values()) / len(off)) if off else None,
            "failed_routes": sum((t.get("failed_routes") or 0) for t in d3["tiers"].values())}
    co = res.get("coplaced")
    if co:
        mpb = [v for v in co["bonds"]["mean_pin_to_bond_um"].values() if v is not None]
        out["coplaced"] = {
            "footprint_um2": co["footprint_um2"], "wirelength_um": co["wirelength_um"],
            **_timing(w.get("3d_coplaced", {})),
            "bonds": co["bonds"]["bonds"], "mean_pin_to_bond_um": sum(mpb) / len(mpb) if mpb else None,
            "failed_routes": co["failed_routes"]}
    keys = [k for k in base if k != "parasitics"]
    for m in METHODS:
        if m in out:
            out[m]["ratios"] = {k: _ratio(out[m][k], base[k]) for k in keys}
    return out


def _f(x, fmt=".3f", scale=1.0):
    return "-" if x is None else format(x * scale, fmt)


def methods_md(res: dict) -> list[str]:
    """The side-by-side table of ``ppa.md`` (empty without the co-placed method)."""
    nums = res.get("methods") or {}
    if "coplaced" not in nums:
        return []
    b, i, c = nums["2d"], nums.get("independent", {}), nums["coplaced"]
    ri, rc = i.get("ratios", {}), c.get("ratios", {})
    rows = [("footprint (µm²)", "footprint_um2", ".0f", 1.0), ("fmax, whole design (MHz)", "fmax_mhz", ".1f", 1.0),
            ("memory-access path (ns)", "memory_access_ns", ".3f", 1.0),
            ("power, simulated activity (mW)", "power_w", ".3f", 1e3), ("wirelength (µm)", "wirelength_um", ".0f", 1.0)]
    kinds = {b.get("parasitics"), i.get("parasitics"), c.get("parasitics")} - {None}
    lines = ["## Two 3D methods against the same 2D", "",
             "`independent`: each tier placed and routed alone, each bond an area pin at the midpoint of its "
             "pins' centroids, both tiers routed again (flows/builtin/bondpins.py). `coplaced`: Macro-3D memory-on-logic "
             "(flows/coplace/): one footprint, the logic tier placed with the memory tier's bond pins as fixed "
             "attractors, routed over a 12-layer stack (metal1-6, F2F bond cut, metal6b-1b): the 3D nets first, then "
             "each tier's nets with the other tier's metals closed; bonds where routes cross the bond layer.", "",
             ("Parasitics of the timing and power in this table, all three columns: " + kinds.pop() + "."
              if len(kinds) == 1 else "Parasitics of the timing and power in this table: " + "; ".join(
                  f"{k}: {v.get('parasitics')}" for k, v in (("2D", b), ("independent", i), ("coplaced", c))))
             + " (The sections above, and `whole_design` `2d` / `3d` in ppa.json, are the lumped analysis.)", "",
             "| metric | 2D | independent | independent / 2D | coplaced | coplaced / 2D |", "|---|---|---|---|---|---|"]
    for label, k, fmt, sc in rows:
        lines.append(f"| {label} | {_f(b.get(k), fmt, sc)} | {_f(i.get(k), fmt, sc)} | {_f(ri.get(k))} | "
                     f"{_f(c.get(k), fmt, sc)} | {_f(rc.get(k))} |")
    cells3 = sum(t["cells"] for t in res["3d"]["tiers"].values())
    how = ("the 2D netlist partitioned, + bond-port buffers" if (res.get("same_cells") or {}).get("same")
           else "both tiers synthesised apart")
    lines += [f"| standard cells ({how}) | {res['2d']['cells']} | {cells3} | "
              f"{_f(cells3 / res['2d']['cells'])} | {cells3} | {_f(cells3 / res['2d']['cells'])} |",
              f"| F2F bonds | - | {i.get('bonds', '-')} | - | {c.get('bonds', '-')} | - |",
              f"| mean pin-to-bond distance (µm) | - | {_f(i.get('mean_pin_to_bond_um'), '.1f')} | - | "
              f"{_f(c.get('mean_pin_to_bond_um'), '.1f')} | - |",
              f"| failed routes | {res['2d'].get('failed_routes')} | {i.get('failed_routes', '-')} | - | "
              f"{c.get('failed_routes', '-')} | - |", ""]
    co = res["coplaced"]
    bd = co["bonds"]
    lines += [f"Co-placed routing: {co['nets']} nets, {bd['nets_crossing']} cross the bond layer ({bd['bond_nets']} "
              f"F2F-map bonds, {bd['shared_input_nets']} chip inputs used on both tiers, which enter on the logic "
              f"tier); missing crossings {len(bd['missing_crossing'])}, unexpected {len(bd['unexpected_crossing'])}; "
              f"least distance between two bonds {bd['min_bond_distance_um']} µm; mean pin-to-bond distance "
              + ", ".join(f"{t} {v} µm" for t, v in bd["mean_pin_to_bond_um"].items())
              + "; wirelength per tier " + ", ".join(f"{t} {v:.0f} µm" for t, v in co["wirelength_tier_um"].items())
              + f"; {co['seconds']['placement']:.0f} s placement, {co['seconds']['routing']:.0f} s routing.", ""]
    for label, key in (("2D", "2d_spef"), ("independent 3D", "3d_spef"), ("co-placed 3D", "3d_coplaced")):
        sp = res.get("whole_design", {}).get(key, {}).get("spef")
        st = (co.get("spef") or {}).get("stats") if key == "3d_coplaced" else (sp or {}).get("stats")
        if not (sp and st):
            continue
        parts = [st] if "tiers" not in st else list(st["tiers"].values())
        a = sp["annotation"]
        lines += [f"SPEF of the {label} design: {st['nets']} nets, {sum(p['vias'] for p in parts)} vias, "
                  + (f"{st['bond_vias']} bond vias" if "tiers" not in st else
                     f"{st['bonds_joined']} bonds joined at their area pins by the bond's R and C")
                  + f"; {sum(p['joined'] for p in parts)} nets whose routed pieces were joined by an estimated wire; "
                  f"OpenSTA annotated {a['annotated']} of the netlist's {a['netlist_nets']} nets of two or more "
                  f"pins ({a['not_found']} SPEF nets not found).", ""]
    return lines
