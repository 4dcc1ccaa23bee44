"""The two pseudo-3D methods side by side against one 2D baseline: ``independent`` (each tier placed
and routed alone, bonds as area pins afterwards: :mod:`spikestack.flows.bondpins`) and ``coplaced``
(Macro-3D memory-on-logic: :mod:`spikestack.flows.coplace.run`)."""
from __future__ import annotations

__all__ = ["METHODS", "method_numbers", "methods_md"]

METHODS = ("independent", "coplaced")


def _ratio(a, b):
    return (a / b) if a is not None and b else None


def method_numbers(res: dict) -> dict:
    """Per method: footprint, fmax, memory access, power, wirelength, bonds, mean pin-to-bond
    distance, failed routes, and each one's ratio to 2D (``None`` where a method did not run)."""
    w = res.get("whole_design", {})
    w2 = w.get("2d", {})
    r2 = res["2d"]
    base = {"footprint_um2": r2["die_area_um2"], "fmax_mhz": w2.get("fmax_mhz"),
            "memory_access_ns": w2.get("memory_access", {}).get("delay_ns"),
            "power_w": w2.get("power_w", {}).get("total"), "wirelength_um": r2["wirelength_um"]}
    out = {"2d": base}
    d3 = res.get("3d")
    if d3:
        w3 = w.get("3d", {})
        bp = d3.get("bond_pins") or {}
        off = bp.get("mean_offset_um") or {}
        out["independent"] = {
            "footprint_um2": d3["footprint_um2"], "fmax_mhz": w3.get("fmax_mhz"),
            "memory_access_ns": w3.get("memory_access", {}).get("delay_ns"),
            "power_w": w3.get("power_w", {}).get("total"), "wirelength_um": d3["wirelength_um"],
            "bonds": bp.get("bonds", d3["bonds"]),
            "mean_pin_to_bond_um": (sum(off.values()) / len(off)) if off else None,
            "failed_routes": sum((t.get("failed_routes") or 0) for t in d3["tiers"].values())}
    co = res.get("coplaced")
    base_co = base
    if co:
        wc = w.get("3d_coplaced", {})
        ws = w.get("2d_spef")
        if ws:      # the 2D design with the co-placed design's kind of parasitics (a SPEF)
            base_co = dict(base, fmax_mhz=ws.get("fmax_mhz"),
                           memory_access_ns=ws.get("memory_access", {}).get("delay_ns"),
                           power_w=ws.get("power_w", {}).get("total"))
            out["2d_spef"] = dict(base_co)
        mpb = [v for v in co["bonds"]["mean_pin_to_bond_um"].values() if v is not None]
        out["coplaced"] = {
            "footprint_um2": co["footprint_um2"], "fmax_mhz": wc.get("fmax_mhz"),
            "memory_access_ns": wc.get("memory_access", {}).get("delay_ns"),
            "power_w": wc.get("power_w", {}).get("total"), "wirelength_um": co["wirelength_um"],
            "bonds": co["bonds"]["bonds"], "mean_pin_to_bond_um": sum(mpb) / len(mpb) if mpb else None,
            "failed_routes": co["failed_routes"]}
    for m in METHODS:
        if m in out:
            b = base_co if m == "coplaced" else base
            out[m]["ratios"] = {k: _ratio(out[m][k], b[k]) for k in base}
            out[m]["parasitics"] = w.get("3d_coplaced" if m == "coplaced" else "3d", {}).get("parasitics")
    out["2d"]["parasitics"] = w2.get("parasitics")
    if "2d_spef" in out:
        out["2d_spef"]["parasitics"] = w["2d_spef"].get("parasitics")
    return out


def _f(x, fmt=".3f", scale=1.0):
    return "-" if x is None else format(x * scale, fmt)


def methods_md(res: dict) -> list[str]:
    """The side-by-side table of ``ppa.md`` (empty without the co-placed method)."""
    nums = res.get("methods") or {}
    if "coplaced" not in nums:
        return []
    b, i, c = nums["2d"], nums.get("independent", {}), nums["coplaced"]
    bs = nums.get("2d_spef") or {}
    ri, rc = i.get("ratios", {}), c.get("ratios", {})
    rows = [("footprint (µm²)", "footprint_um2", ".0f", 1.0), ("fmax, whole design (MHz)", "fmax_mhz", ".1f", 1.0),
            ("memory-access path (ns)", "memory_access_ns", ".3f", 1.0),
            ("power, simulated activity (mW)", "power_w", ".3f", 1e3), ("wirelength (µm)", "wirelength_um", ".0f", 1.0)]
    spef = bool(bs)
    lines = ["## Two 3D methods against the same 2D", "",
             "`independent`: each tier placed and routed alone, each bond an area pin at the midpoint of its "
             "pins' centroids, both tiers routed again (flows/bondpins.py). `coplaced`: Macro-3D memory-on-logic "
             "(flows/coplace/): one footprint, the logic tier placed with the memory tier's bond pins as fixed "
             "attractors, one qrouter run over a 12-layer stack (metal1-6, F2F bond cut, metal6b-1b), bonds where "
             "routes cross the bond layer.", "",
             "Parasitics of each column (timing and power): "
             + "; ".join(f"**{k}**: {v}" for k, v in (("2D", b.get("parasitics")), ("2D (SPEF)", bs.get("parasitics")),
                                                         ("independent", i.get("parasitics")),
                                                         ("coplaced", c.get("parasitics"))) if v)
             + (". The independent method is compared with the 2D design of the same (lumped) parasitics, the "
                "co-placed one with the 2D design from a SPEF by the same extractor; the independent method's "
                "tiers are not yet extracted to a SPEF." if spef else "."), "",
             "| metric | 2D | independent | independent / 2D | " + ("2D (SPEF) | " if spef else "")
             + "coplaced | coplaced / 2D" + (" (SPEF)" if spef else "") + " |",
             "|---|---|---|---|---|---|" + ("---|" if spef else "")]
    for label, k, fmt, sc in rows:
        col = f"{_f(bs.get(k), fmt, sc)} | " if spef else ""
        lines.append(f"| {label} | {_f(b.get(k), fmt, sc)} | {_f(i.get(k), fmt, sc)} | {_f(ri.get(k))} | {col}"
                     f"{_f(c.get(k), fmt, sc)} | {_f(rc.get(k))} |")
    gap = "- | " if spef else ""
    cells3 = sum(t["cells"] for t in res["3d"]["tiers"].values())
    lines += [f"| standard cells (both tiers synthesised apart) | {res['2d']['cells']} | {cells3} | "
              f"{_f(cells3 / res['2d']['cells'])} | {gap}{cells3} | {_f(cells3 / res['2d']['cells'])} |",
              f"| F2F bonds | - | {i.get('bonds', '-')} | - | {gap}{c.get('bonds', '-')} | - |",
              f"| mean pin-to-bond distance (µm) | - | {_f(i.get('mean_pin_to_bond_um'), '.1f')} | - | {gap}"
              f"{_f(c.get('mean_pin_to_bond_um'), '.1f')} | - |",
              f"| failed routes | {res['2d'].get('failed_routes')} | {i.get('failed_routes', '-')} | - | {gap}"
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
    for label, key in (("co-placed 3D", "3d_coplaced"), ("2D", "2d_spef")):
        sp = res.get("whole_design", {}).get(key, {}).get("spef")
        st = (co.get("spef") or {}).get("stats") if key == "3d_coplaced" else (sp or {}).get("stats")
        if sp and st:
            a = sp["annotation"]
            lines += [f"SPEF of the {label} design: {st['nets']} nets ({st['vias']} vias, {st['bond_vias']} bond vias; "
                      f"{st['joined']} nets whose routed pieces were joined by an estimated wire, {st['unmapped']} "
                      f"not found in the netlist); OpenSTA annotated {a['annotated']} of the netlist's "
                      f"{a['netlist_nets']} nets ({a['not_found']} SPEF nets not found).", ""]
    return lines
