"""The PPA report: ``ppa.md`` from the result of :func:`~spikestack.flows.ppa.ppa_for_config`, and
the paper's 3D/2D ranges it is read against."""
from __future__ import annotations

from pathlib import Path

from ..builtin.flow import markdown
from .methods import methods_md

__all__ = ["PAPER_RANGES", "PAPER_RATIOS", "ratio", "report_md"]


PAPER_RANGES = {   # arXiv 2412.05540, 3D vs 2D, 28 nm commercial flow
    "frequency": "+3 to +5.1 %", "footprint": "-39 to -41 %", "memory_latency": "-26.9 to -29 %",
    "power": "up to -14.4 %",
}


PAPER_RATIOS = {   # the same, as 3D/2D ratio intervals (footprint, fmax, memory latency, power)
    "footprint": (0.59, 0.61), "fmax": (1.03, 1.051), "memory_latency": (0.71, 0.731), "power": (0.856, 1.0),
}


def ratio(a, b):
    return (a / b) if a is not None and b else None


def _f(x, fmt=".3f", scale=1.0):
    return "-" if x is None else format(x * scale, fmt)


def _pct(r):
    return "-" if r is None else f"{(r - 1) * 100:+.1f} %"


def _mem(w: dict) -> dict:
    """The memory-access path compared: between the same registers in 2D and 3D where found."""
    m = w.get("memory_access_matched", {})
    return m if m.get("found") else w.get("memory_access", {})


def _same_line(sc: dict) -> str:
    if sc.get("same") is None:
        return sc.get("note", "not checked")
    d = ", ".join(f"{c} {a} / {b}" for c, (a, b) in sc["differences"].items()) or "none"
    return (f"{sc['cells_2d']} synthesised cells in 2D, {sc['cells_3d']} in the two tiers; cells that differ "
            f"(2D / 3D): {d} ({'only the output-port buffers' if sc['same'] else 'NOT only the output-port buffers'}"
            "; qflow's fanout buffering comes after this count)")


def _path_line(p: dict) -> str:
    if not p or not p.get("found"):
        return "no path found"
    tiers = " -> ".join(p.get("tiers") or []) or "one die"
    kind = f"from a {p['start_kind']}, " if p.get("start_kind") else ""
    return (f"{p['startpoint']} -> {p['endpoint']}, {_f(p.get('delay_ns'))} ns ({kind}a path of {p.get('pins', 0)} pins; "
            f"through: {tiers})")


def _hierarchy_md(res: dict) -> list[str]:
    """The hardened blocks of a hierarchical run (``harden=``), per netlist flavour."""
    h = res.get("hierarchy")
    if not h:
        return []
    rows = ["| macro | hardened for | instances | cells | size (µm, with halo) | flow (s) | abstract (s) |",
            "|---|---|---|---|---|---|---|"]
    groups = [("2D top", h["macros"], "instances_2d")] + [
        (t, v["macros"], "instances") for t, v in h.get("tier_macros", {}).items()]
    for where, macros, key in groups:
        for name, m in macros.items():
            rows.append(f"| {name} | {where} | {m[key]} | {m['cells']} | {m['size_um'][0]:.1f} x {m['size_um'][1]:.1f} | "
                        f"{m['seconds']['flow']:.0f} | {m['seconds']['abstract']:.0f} |")
    total = h["seconds"] + sum(v["seconds"] for v in h.get("tier_macros", {}).values())
    out = ["", f"Hierarchical flow: each repeated `{h['grain']}` block hardened once (LEF with pins, OBS and a "
           f"routing halo; liberty timing and power model from OpenSTA on the routed block: "
           f"flows/builtin/harden.py), then placed as a macro in the 2D top and the tiers; hardening {total:.0f} s in all.", "",
           *rows, ""]
    if h.get("blocks"):
        grains = "/".join(h.get("block_grains") or [h["grain"]])
        out += [f"Design blocks hardened alone, each from its inner `{grains}` macros (flows/builtin/blockmacros.py), "
                f"and placed as macros in the 2D top and both tiers; {h['blocks_seconds']:.0f} s for all of them "
                f"({len(h['blocks'])} jobs, two at a time):", "",
                "| block | cell | inner macros (cells x instances) | cells | macros | pins | size (µm, with halo) | "
                "place (s) | route (s) | block wall time (s) |", "|---|---|---|---|---|---|---|---|---|---|"]
        for name, b in h["blocks"].items():
            inner = ", ".join(f"{n} ({m['cells']} x {m['instances']})" for g in b["inner"].values()
                              for n, m in g["macros"].items()) or "-"
            st = b.get("step_seconds", {})
            out.append(f"| {name} | {b['cell']} | {inner} | {b['cells']} | {b['macros']} | {b['pins']} | "
                       f"{b['size_um'][0]:.1f} x {b['size_um'][1]:.1f} | {st.get('placement', 0):.0f} | "
                       f"{st.get('routing', 0):.0f} | {b['wall_seconds']:.0f} |")
        out.append("")
    return out


def _steps_md(reps: list[dict]) -> list[str]:
    """Run time of each step of each flow (the tiers run in parallel with the 2D flow, two at a time)."""
    steps = ("synthesis", "placement", "routing", "parasitics", "sta")
    rows = ["", "Run time by step (s):", "", "| design | " + " | ".join(steps) + " | total | cells/s |",
            "|---|" + "---|" * (len(steps) + 2)]
    for r in reps:
        st = r.get("step_seconds", {})
        rows.append(f"| {r['top']} | " + " | ".join(f"{st.get(k, 0):.0f}" for k in steps)
                    + f" | {r['total_seconds']:.0f} | {_f(r.get('cells_per_second'), '.0f')} |")
    if any("first_routing" in r.get("step_seconds", {}) for r in reps):
        rows += ["", "Tiers routed again to their F2F bond pins: routing is the second route; the total "
                     "includes the first one."]
    for r in reps:
        if r.get("decongest"):
            tries = "; ".join(f"{'qflow packing' if a['density'] is None else 'density ' + str(a['density'])}: "
                              f"{a['failed_routes']} failed routes, die {a['die_area_um2']:.0f} µm², "
                              f"utilisation {_f(a['utilisation'], '.2f')}" for a in r["decongest"])
            rows += ["", f"{r['top']} placed again to route (flows/ppa/steps.run_job): {tries}; its total counts "
                         "every attempt."]
    return rows + [""]


def _layouts_md(res: dict) -> list[str]:
    """The layout pictures of :mod:`spikestack.flows.ppa.layout`, one under the other."""
    pics = res.get("layouts")
    if not pics:
        return []
    if "skipped" in pics:
        return ["## Layout", "", f"Layout pictures skipped: {pics['skipped']}.", ""]
    from .layout import PICTURES
    out = ["## Layout", "", "The routed DEFs drawn by KLayout from their LEFs (flows/ppa/layout.py): cells and "
           "macros as outlines, the die as a black frame, the bottom tier's metals in cool colours and the top "
           "tier's in warm ones; F2F bonds as yellow squares.", ""]
    for key, (_, caption) in PICTURES.items():
        if key in pics:
            out += [f"![{caption}]({pics[key]})", ""]
    return out


def report_md(res: dict) -> str:
    reps = [res["2d"]] + (list(res["3d"]["tiers"].values()) if "3d" in res else [])
    lines = [f"# PPA: {res['config']} (clock {res['clock_ns']} ns)", "",
             f"Each flow's own report (each die alone; power with a global activity of {res['activity']}):", "",
             markdown(reps)] + _hierarchy_md(res) + _steps_md(reps)
    w = res.get("whole_design", {})
    w2, w3 = w.get("2d", {}), w.get("3d", {})
    if "3d" not in res:
        m2 = w2.get("memory_access", {})
        e2 = w2.get("energy", {})
        lines += [f"Whole-design STA: fmax {_f(w2.get('fmax_mhz'), '.1f')} MHz; memory-access path: {_path_line(m2)}; "
                  f"power with the simulated activity {_f(w2.get('power_w', {}).get('total'), '.3f', 1e3)} mW; "
                  f"{_f(e2.get('pj_per_sop'), '.2f')} pJ/SOP, {_f(e2.get('tsops_per_w'), '.4f')} TSOPS/W.", ""]
        return "\n".join(lines + _layouts_md(res)) + "\n"
    r, d3 = res["ratios_3d_over_2d"], res["3d"]
    e2, e3 = w2.get("energy", {}), w3.get("energy", {})
    m2, m3 = _mem(w2), _mem(w3)
    p2, p3 = w2.get("power_w", {}).get("total"), w3.get("power_w", {}).get("total")
    cf = d3.get("common_footprint")
    cf_line = ("Each tier in its own die (footprint = the larger die; `--common-footprint` spreads the smaller tier "
               "over it)." if not cf else
               f"Common footprint: {cf['tier']} placed again at density {cf['density']} to fill {cf['target_tier']}'s "
               f"die of {cf['target_um2']:.0f} µm²: its die {cf['first_die_um2']:.0f} -> {cf['die_um2']:.0f} µm² "
               f"(flow {cf.get('first_seconds', 0):.0f} s + {cf.get('seconds', 0):.0f} s); the tier reports and the 3D "
               "analysis use the spread tier." if cf.get("density") else
               f"Common footprint: the tiers' dies are within 5 % ({cf['first_die_um2']:.0f} / {cf['target_um2']:.0f} µm²).")
    bp = d3.get("bond_pins")
    bp_line = ("F2F bond ports have no location in the tiers (`--no-bond-pins`): their nets end at the cells, "
               "so no wire to the bonds is counted." if not bp else
               f"F2F bonds as area pins: {bp['bonds']} bonds on metal6 on a {bp['grid_um'][0]:.1f} x {bp['grid_um'][1]:.1f} µm "
               f"grid (bond pitch {bp['pitch_um']} µm; the metal6 pitch bounds it), each at the midpoint of its pins' "
               f"centroids on the two tiers (a one-pass, post-placement form of Pin-3D's via planning); both tiers routed "
               f"again to them ({bp['seconds']:.0f} s). Mean distance from a tier's pins to its bond: "
               + ", ".join(f"{t} {v:.0f} µm" for t, v in bp["mean_offset_um"].items())
               + " — the tiers are placed without knowing the other tier, so bond nets cross the die.")
    lines += [f"Two-tier F2F 3D ({d3['partition']}): {d3['bonds']} bonds, bond model R = {d3['bond']['r_ohm']} Ω, "
              f"C = {d3['bond']['c_ff']} fF, pitch {d3['bond']['pitch_um']} µm. Method: {d3['method']}. {cf_line}",
              "", bp_line, "",
              "| metric | 2D | 3D | 3D / 2D | change | paper (3D vs 2D) |", "|---|---|---|---|---|---|",
              f"| footprint (µm²) | {res['2d']['die_area_um2']:.0f} | {d3['footprint_um2']:.0f} | "
              f"{_f(r['footprint'])} | {_pct(r['footprint'])} | {PAPER_RANGES['footprint']} |",
              f"| fmax, whole design (MHz) | {_f(w2.get('fmax_mhz'), '.1f')} | {_f(d3['fmax_mhz'], '.1f')} | "
              f"{_f(r['fmax'])} | {_pct(r['fmax'])} | {PAPER_RANGES['frequency']} |",
              f"| memory-access path GLB -> PE (ns) | {_f(m2.get('delay_ns'))} | {_f(m3.get('delay_ns'))} | "
              f"{_f(r['memory_latency'])} | {_pct(r['memory_latency'])} | {PAPER_RANGES['memory_latency']} |",
              f"| power, simulated activity (mW) | {_f(p2, '.3f', 1e3)} | {_f(p3, '.3f', 1e3)} | "
              f"{_f(r['power'])} | {_pct(r['power'])} | {PAPER_RANGES['power']} |",
              f"| energy (pJ / SOP) | {_f(e2.get('pj_per_sop'))} | {_f(e3.get('pj_per_sop'))} | "
              f"{_f(r['pj_per_sop'])} | {_pct(r['pj_per_sop'])} | - |",
              f"| TSOPS/W | {_f(e2.get('tsops_per_w'), '.4f')} | {_f(e3.get('tsops_per_w'), '.4f')} | "
              f"{_f(ratio(e3.get('tsops_per_w'), e2.get('tsops_per_w')))} | - | - |",
              f"| wirelength (µm) | {res['2d']['wirelength_um']:.0f} | {d3['wirelength_um']:.0f} | "
              f"{_f(r['wirelength'])} | {_pct(r['wirelength'])} | - |",
              f"| power, flows' global activity {res['activity']} (mW) | {res['2d']['power_w']['total'] * 1e3:.3f} | "
              f"{d3['power_w'] * 1e3:.3f} (sum of tiers) | {_f(r['power_flow_global_activity'])} | "
              f"{_pct(r['power_flow_global_activity'])} | - |",
              f"| fmax, tier by tier (MHz) | {res['2d']['fmax_mhz']:.1f} | {d3['fmax_tier_by_tier_mhz']:.1f} | "
              f"{_f(ratio(d3['fmax_tier_by_tier_mhz'], res['2d']['fmax_mhz']))} | - | - |", ""]
    lines += methods_md(res)
    if res.get("plot"):
        lines += [f"![3D / 2D ratios]({Path(res['plot']).name})", ""]
    lines += _layouts_md(res)
    wp = w3.get("worst_path", {})
    rc = w3.get("bond_rc", {})
    crosses = wp.get("tiers") or []
    lines += ["## 3D timing: one OpenSTA run on the stitched design", "",
              f"Both tiers' routed netlists under `{Path(w3.get('netlist', '')).name}`, joined by {w3.get('bond_nets')} "
              f"bond nets; each tier's routed wire loads re-targeted with its instance prefix; each bond net "
              f"carries driver-tier wire C + {d3['bond']['c_ff']} fF bond + receiver-tier wire C. Bond R "
              f"({rc.get('r_ohm')} Ω) x downstream C: worst {_f(rc.get('worst_ps'), '.3f')} ps "
              f"(bond `{rc.get('worst_bond')}`), mean {_f(rc.get('mean_ps'), '.3f')} ps — negligible next to "
              f"one gate (~100 ps here), so not annotated.", "",
              f"- worst path (3D fmax {_f(d3['fmax_mhz'], '.1f')} MHz): {wp.get('startpoint')} -> {wp.get('endpoint')}, "
              f"critical path {_f(w3.get('critical_path_ns'))} ns; tiers on the path: {' -> '.join(crosses) or '-'}"
              f" ({'crosses the F2F bonds' if len(set(crosses)) > 1 else 'stays in one tier'})"]
    for t, p in w3.get("internal", {}).items():
        lines.append(f"- worst path between registers of {t}: {_path_line(p)}")
    lines += [f"- 2D worst path: {w2.get('worst_path', {}).get('startpoint')} -> "
              f"{w2.get('worst_path', {}).get('endpoint')}, critical path {_f(w2.get('critical_path_ns'))} ns", "",
              "## Memory-access path (GLB -> PE registers)", "",
              "Start: the GLB storage (flip-flops, or SRAM macros, named after a memory block: "
              f"{', '.join(w2.get('selection', {}).get('memory_blocks', []))}) and the GLBs' read-port registers "
              "(one logic stage after the storage and one before a PE register); end: registers of the PE cores "
              f"({', '.join(w2.get('selection', {}).get('pe_blocks', []))}). Delay = clock-to-Q + logic + wires + "
              "setup (the minimum period of that path).", "",
              "The table's path (and the 3D/2D ratio) is the 2D design's worst memory-access path, timed in 3D "
              "between the same two registers (found in the tiers' netlists by the nets on their pins; the same "
              "cells in both, flows/builtin/samecells.py): "
              + ("found in 3D." if w3.get("memory_access_matched", {}).get("same_ends_as_2d") else
                 "NOT found in 3D; the 3D design's own worst path is compared."), "",
              f"- 2D: {_path_line(w2.get('memory_access', {}))}; selection {w2.get('selection')}",
              f"- 3D, between the same registers: {_path_line(w3.get('memory_access_matched', {}))}",
              f"- 3D, its own worst: {_path_line(w3.get('memory_access', {}))}; selection {w3.get('selection')}",
              *([f"- Same cells: {_same_line(res['same_cells'])}"] if res.get("same_cells") else []), ""]
    wl = res.get("workload")
    if wl:
        lines += ["## Activity and energy", ""]
        for k, a in wl["activity"].items():
            lines.append(f"- {k}: {a['source']} ({a['variant']}); workload seed {wl['seed']}, spike rate {wl['rate']}; "
                         f"{a['cycles']} cycles start -> done ({a['sim_cycles_window']:.0f} simulated cycles in the "
                         f"window); mean toggle rate {a['mean_toggle_rate']:.4f} per bit per cycle over the {a['bits']} "
                         "signal bits inside the blocks (given to OpenSTA as `set_power_activity -global -activity`)")
        if w2.get("power_registers_w") and w3.get("power_registers_w"):
            lines.append(f"- Register-resolved power (the Q pins of {w2['selection']['registers_with_activity']} (2D) / "
                         f"{w3['selection']['registers_with_activity']} (3D) flip-flops matched by name at their own "
                         "rates, inputs at the mean rate, the rest propagated by OpenSTA; constant ties left undriven "
                         f"in that run, see flows/analysis/sta3d.py): 2D {w2['power_registers_w']['total'] * 1e3:.3f} mW, 3D "
                         f"{w3['power_registers_w']['total'] * 1e3:.3f} mW, 3D/2D {_f(r.get('power_register_resolved'))}. "
                         "A cross-check, not the headline: OpenSTA derives the logic's activity from the inputs, not "
                         "from these registers.")
        for k, e in (("2d", e2), ("3d", e3)):
            if e:
                lines.append(f"- {k}: {e['sops']} synaptic operations in {e['cycles']} cycles at fmax "
                             f"(period {e['period_ns']:.3f} ns): {e['energy_pj']:.1f} pJ, {e['pj_per_sop']:.2f} pJ/SOP, "
                             f"{e['tsops_per_w']:.4f} TSOPS/W, {e['gsops']:.3f} GSOPS, latency {e['latency_us']:.3f} µs")
        lines.append("")
    lines += ["## Where these differ from the paper", "", *_differences(res), "",
              "Tool logs: each flow's `*/logs/`, `2d/analysis/logs/sta.log` and `3d/logs/sta.log` for the "
              "whole-design runs."]
    return "\n".join(lines) + "\n"


def _differences(res: dict) -> list[str]:
    r = res["ratios_3d_over_2d"]
    w = res.get("whole_design", {})
    w2, w3 = w.get("2d", {}), w.get("3d", {})
    out = ["- The paper uses a 28 nm commercial flow with SRAM macros and 3D-aware place-and-route; here "
           "OSU 0.18 µm open cells, qflow/graywolf/qrouter runs, each tier placed in its own die."]
    reps = [res["2d"]] + list(res.get("3d", {}).get("tiers", {}).values())
    bad = [(x["top"], x["failed_routes"], x.get("failed_nets", [])) for x in reps if x.get("failed_routes")]
    if bad:
        out.append("- Unrouted nets (qrouter gave up; `work/fail.out`): " + "; ".join(
            f"{t}: {n} ({', '.join(nets[:4])})" for t, n, nets in bad) + ". Their wires are missing from the loads, "
            "so those designs' timing and power are slightly optimistic. A `gnd`/`vdd` net here is a constant tie "
            "of a macro pin (osu018 has no tie cells, so synthesis ties macro inputs to the power nets).")
    if r.get("footprint") is not None and r["footprint"] > PAPER_RATIOS["footprint"][1]:
        t = res["3d"]["tiers"]
        glbs = ("the GLBs are SRAM macros of an analytical 180 nm model (flows/builtin/sram.py), placed in columns "
                "beside the core" if res.get("sram_macros") else
                "the GLBs are flip-flops (SRAM macros: `--sram-macros`)")
        area = {k: t[k].get("cell_macro_area_um2", t[k]["cell_area_um2"]) for k in ("tier_top", "tier_bottom")}
        out.append(f"- Footprint: {glbs}; the memory tier ({area['tier_top']:.0f} µm² of cells and macros) and the "
                   f"logic tier ({area['tier_bottom']:.0f} µm²) are not balanced, and the 3D footprint, the larger "
                   "tier, is bounded by that imbalance; the paper's tiers are balanced.")
    if r.get("fmax") is not None and not (PAPER_RATIOS["fmax"][0] <= r["fmax"] <= PAPER_RATIOS["fmax"][1]):
        out.append("- fmax: each design's own critical path decides (each die placed independently" + (
                   ", the same cells partitioned" if (res.get("same_cells") or {}).get("same") else
                   ", the tiers synthesised apart") + "); at 180 nm gate delays dominate and 3D's shorter wires matter less than "
                   "at 28 nm.")
    elif r.get("fmax") is not None:
        out.append("- fmax: within the paper's range here, but for a different reason: the critical path "
                   f"({' -> '.join(w3.get('worst_path', {}).get('tiers') or [])}) is a path inside one tier, "
                   "placed in a die smaller than the 2D one (shorter wires), not a wire saved by the bonds.")
    m2, m3 = _mem(w2), _mem(w3)
    if r.get("memory_latency") is not None and not (PAPER_RATIOS["memory_latency"][0] <= r["memory_latency"]
                                                      <= PAPER_RATIOS["memory_latency"][1]):
        kinds = {m2.get("start_kind"), m3.get("start_kind")}
        extra = ("; 3D is timed between the same two registers as 2D" if m3.get("same_ends_as_2d") else
                 "; both start at a GLB read-port register" if kinds == {"GLB read-port register"} else
                 f"; 2D starts at a {m2.get('start_kind')}, 3D at a {m3.get('start_kind')} (synthesis keeps a read "
                 "register on the memory tier when its reader is on the other tier)")
        into = ("into a hardened PE block (its input pin; the block's setup time from its liberty model "
                "holds the PE datapath behind the pin)" if res.get("hierarchy") and "macro" in str(m3.get("endpoint", ""))
                else "into a PE register")
        out.append(f"- Memory access: the worst GLB -> PE path runs through the PE datapath (adders, LIF: "
                   f"{m2.get('pins')} / {m3.get('pins')} pins in 2D / 3D) {into}{extra}. Gate delays "
                   "dominate it at 180 nm, and the part 3D shortens — the GLB-to-PE wires, one F2F bond instead of "
                   "a trip across a die — is small" + ("; the SRAM macros' modelled access time is the same in 2D and 3D" if
                   res.get("sram_macros") else "; with flip-flop GLBs there is no macro access time either") + ". The "
                   "paper's SRAM macros at 28 nm make the memory-to-logic wires a much larger share.")
    p2, p3 = w2.get("power_w", {}), w3.get("power_w", {})
    if r.get("power") is not None and r["power"] > PAPER_RATIOS["power"][1] and p2 and p3:
        cells2 = res["2d"]["cells"]
        cells3 = sum(t["cells"] for t in res["3d"]["tiers"].values())
        out.append(f"- Power: 3D/2D internal (cell) power {_f(ratio(p3['internal'], p2['internal']))}, switching "
                   f"(wire + pin) power {_f(ratio(p3['switching'], p2['switching']))}, wirelength "
                   f"{_f(r.get('wirelength'))}. " + (
                   f"The tiers hold the 2D design's cells ({cells3} in 3D, {cells2} in 2D: the bond ports' buffers), "
                   if (res.get("same_cells") or {}).get("same") else
                   "The tiers are synthesised apart, so no logic is optimised across the "
                   f"tier boundary ({'the same number of cells, ' + str(cells2) + ',' if cells2 == cells3 else f'{cells3} cells in 3D, {cells2} in 2D,'} "
                   "in a different mix: more multiplexers and buffers), ") + "each tier has its own clock tree and the bonds add load; the wire capacitance 3D saves "
                   "is a small share of the power at 180 nm, where cell internal power" + (
                       "" if res.get("sram_macros") else " and the flip-flop GLBs") + " dominate.")
    return out
