"""``ppa_for_config``: the PPA flow of a configuration, 2D and two tiers (see :mod:`spikestack.flows.ppa`)."""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

from ...config import LayerConfig
from ...gen.generate import generate_verilog
from ...gen.tiers import f2f_map, tier_sources
from ..analysis.activity import simulate_activity
from ..builtin.blockmacros import harden_blocks
from ..builtin.harden import harden_for
from ..coplace.run import coplaced
from ..builtin.samecells import boxed_cells as every_block_boxed, gate_blocks, live_cells, prune, same_cells_check, with_gates
from .analysis import (analyse_2d, analyse_3d, block_cells, energy, macro_libs, memory_key, pe_box_cells,
                       spef_independent)
from .options import FlowJob, PpaOptions
from .methods import method_numbers
from .layout import layout_pictures
from .plot import ratio_plot
from .report import PAPER_RANGES, ratio, report_md
from .steps import area_bond_pins, flow_or_reuse, harden_tier, spread_to_common_footprint

__all__ = ["ppa_for_config", "PpaOptions", "FlowJob"]


def ppa_for_config(cfg: LayerConfig, out_dir: Path, options: PpaOptions | None = None, log=print,
                   **changes) -> dict:
    """2D and two-tier PPA of ``cfg`` (see :mod:`spikestack.flows.ppa` and :class:`PpaOptions`);
    ``changes``: options given by name, over ``options``. The steps, in order: the hardened blocks
    (``blocks``: :func:`spikestack.flows.builtin.blockmacros.harden_blocks`; ``harden``:
    :func:`~spikestack.flows.builtin.harden.harden_for`), the flow jobs (:class:`FlowJob`: the 2D top and
    each tier, run ``jobs`` at a time), one footprint for both tiers
    (:func:`~spikestack.flows.ppa.steps.spread_to_common_footprint`), the bonds as area pins
    (:func:`~spikestack.flows.ppa.steps.area_bond_pins`), the simulated activity, the whole-design
    analyses (:mod:`spikestack.flows.ppa.analysis`), the 3D/2D ratios, ``ppa.json``, the plot and
    ``ppa.md``."""
    o = (options or PpaOptions()).replace(**changes)
    partition, clock_ns, activity, three_d, harden, blocks = (o.partition, o.clock_ns, o.activity, o.three_d,
                                                              o.harden, o.blocks)
    sram_macros, seed, rate = o.sram_macros, o.seed, o.rate
    bond = asdict(o.bond)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cells, block_abs, hier = None, [], None
    if blocks:
        log(f"[ppa] hierarchical flow: hardening the blocks {', '.join(blocks)}"
            + (f" from their {'/'.join(o.block_grains or [harden])} macros" if harden or o.block_grains else "")
            + " ...")
        grains = list(o.block_grains or ([harden] if harden else []))
        cells, block_abs, bsum = harden_blocks(cfg, list(blocks), out_dir / "blocks", grains=grains,
                                               clock_ns=clock_ns, activity=activity, sram_macros=sram_macros,
                                               jobs=o.jobs, log=log, flat=o.flat_blocks)
        hier = {"grain": harden, "block_grains": grains, "flat_blocks": list(o.flat_blocks), "blocks": bsum["blocks"],
                "blocks_seconds": bsum["seconds"], "seconds": 0.0,
                "macros": {}}
    same = o.same_cells and not blocks and not harden
    gates = None
    if same:
        # the same cells in 2D and 3D: each block synthesised once, its gate netlist in the 2D top
        # and in its tier (flows/builtin/samecells.py)
        cells_sc = every_block_boxed(cfg)
        gates = gate_blocks(cfg, cells_sc, out_dir / "netlist", sram_macros, log)
        top, text = generate_verilog(cfg, "2d", macros=sram_macros, boxes=cells_sc)
        text = with_gates(text, gates)
        alive = live_cells(text, top, out_dir / "netlist" / "live")
        text = prune(text, alive, top)
    else:
        top, text = generate_verilog(cfg, "2d", macros=sram_macros, boxes=cells)
    abstracts, hashes = None, {}
    if harden:
        log(f"[ppa] hierarchical flow: hardening the repeated {harden} blocks once ...")
        try:
            text, abstracts, hashes, summary = harden_for(text, out_dir / "macros", harden, clock_ns, activity, log)
        except ValueError:
            if not blocks:
                raise
            summary = {"seconds": 0.0, "macros": {}}      # every block of that grain is inside a hardened block
        hier = dict(hier or {}, grain=harden, seconds=summary["seconds"],
                    macros={n: {"instances_2d": m.pop("instances"), **m} for n, m in summary["macros"].items()})
    jobs = [FlowJob("2d", text, top, blocks=(abstracts or []) + block_abs or None)]
    fmap = None
    if three_d:
        src = tier_sources(cfg, partition, macros=sram_macros, boxes=cells_sc if same else cells, tiers_only=True)
        if same:
            src["texts"] = {k: prune(with_gates(v, gates), alive, k[:-2]) for k, v in src["texts"].items()}
        fmap = f2f_map(src)
        (out_dir / "f2f_map.json").write_text(json.dumps(fmap, indent=1) + "\n")
        c_pf = bond["c_ff"] * 1e-3
        for tier in ("tier_top", "tier_bottom"):
            outs = {b["name"]: c_pf for b in fmap["bonds"] if b["direction"].startswith(tier)}
            ins = {b["name"]: bond["r_ohm"] * bond["c_ff"] * 1e-15 * 1e9 for b in fmap["bonds"]
                   if b["direction"].endswith(tier)}
            ttext = src["texts"][f"{tier}.v"]
            tblocks = None
            if harden:
                ttext, tblocks = harden_tier(ttext, tier, out_dir, harden, abstracts or [], hashes, clock_ns,
                                              activity, hier, log)
            jobs.append(FlowJob(tier, ttext, tier, outs, ins, (tblocks or []) + block_abs or None))
    with ThreadPoolExecutor(max_workers=max(1, o.jobs)) as pool:
        futs = {j.name: pool.submit(flow_or_reuse, j, out_dir, o.reuse, clock_ns, activity, log) for j in jobs}
        reps = {name: f.result() for name, f in futs.items()}
    fill = (spread_to_common_footprint(reps, jobs, out_dir, clock_ns, activity, log)
            if three_d and o.common_footprint else None)
    pins = (area_bond_pins(reps, jobs, out_dir, fmap, bond["pitch_um"], clock_ns, activity, log, reuse=o.reuse)
            if three_d and o.bond_pins else None)
    co = None
    if three_d and o.method == "coplaced":
        log(f"[ppa] coplaced 3D (Macro-3D + Pin-3D, {partition}): the tiers placed in turn under each other's "
            "bond pins, one routing over both ...")
        co = coplaced(out_dir, fmap, {j.name: j for j in jobs if j.name != "2d"}, bond, log, keep_placement=o.reuse)
    result = {"config": cfg.kind, "clock_ns": clock_ns, "activity": activity, "sram_macros": sram_macros,
              "2d": reps["2d"]}
    if same and three_d:
        result["same_cells"] = dict(same_cells_check({n: out_dir / n for n in ("2d", "tier_top", "tier_bottom")},
                                                     {"2d": top, "tier_top": "tier_top", "tier_bottom": "tier_bottom"}),
                                    blocks=len(gates), method="each block synthesised once (flows/builtin/samecells.py)")
    if hier:
        hier["instances"] = {name: {ab.name: r.get("macro_cells", {}).get(ab.name, {}).get("count", 0)
                                    for ab in (abstracts or []) + block_abs}
                             for name, r in reps.items()}
        result["hierarchy"] = hier

    # activity of the workload, measured on the simulation of each design
    acts = {}
    if o.sim_activity:
        for key, variant in [("2d", "2d")] + ([("3d", f"3d:{partition}")] if three_d else []):
            acts[key] = simulate_activity(cfg, variant, seed=seed, rate=rate, workdir=out_dir / "sim" / key, log=log,
                                          precision=o.precision)
        result["workload"] = {
            "seed": seed, "rate": rate, "sops": acts["2d"]["sops"], "cycles": acts["2d"]["cycles"],
            "activity": {k: {x: a[x] for x in ("variant", "cycles", "sim_cycles_window", "mean_toggle_rate", "bits",
                                              "vcd_bytes", "source")} for k, a in acts.items()}}
    boxed_cells = set((cells or {}).values())
    pe_boxes = pe_box_cells(cfg, cells or {})
    whole = {"2d": analyse_2d(cfg, out_dir, top, clock_ns, acts.get("2d"), log, macro_libs(reps, ["2d"]),
                              (block_cells(reps, ["2d"]) - boxed_cells) | pe_boxes)}
    mkey = memory_key(whole["2d"])
    if three_d:
        whole["3d"] = analyse_3d(cfg, out_dir, src["name"], fmap, clock_ns, bond, acts.get("3d"), log,
                                 macro_libs(reps, ["tier_top", "tier_bottom"]),
                                 (block_cells(reps, ["tier_top", "tier_bottom"]) - boxed_cells) | pe_boxes, match=mkey)
        if co:
            # the co-placed design from one SPEF of both tiers and the bonds; the 2D design beside it
            # from a SPEF by the same extraction (flows/analysis/spef.py)
            spef = out_dir / "coplaced" / "coplaced.spef"
            whole["2d_spef"] = analyse_2d(cfg, out_dir, top, clock_ns, acts.get("2d"), log, macro_libs(reps, ["2d"]),
                                          (block_cells(reps, ["2d"]) - boxed_cells) | pe_boxes, spef=True)
            mkey_spef = memory_key(whole["2d_spef"])      # the SPEF 2D path, timed between the same ends in 3D
            whole["3d_coplaced"] = analyse_3d(cfg, out_dir / "coplaced", src["name"], fmap, clock_ns, bond,
                                              acts.get("3d"), log, macro_libs(reps, ["tier_top", "tier_bottom"]),
                                              (block_cells(reps, ["tier_top", "tier_bottom"]) - boxed_cells) | pe_boxes,
                                              spef=spef if spef.exists() else None, match=mkey_spef)
            # and the independent 3D design the same way: each tier extracted, joined at the bond pins
            text, st = spef_independent(out_dir, fmap, bond, f"{src['name']}_3d")
            (out_dir / "3d_spef").mkdir(parents=True, exist_ok=True)
            (out_dir / "3d_spef" / "independent.spef").write_text(text)
            whole["3d_spef"] = analyse_3d(cfg, out_dir, src["name"], fmap, clock_ns, bond, acts.get("3d"), log,
                                          macro_libs(reps, ["tier_top", "tier_bottom"]),
                                          (block_cells(reps, ["tier_top", "tier_bottom"]) - boxed_cells) | pe_boxes,
                                          spef=out_dir / "3d_spef" / "independent.spef", subdir="3d_spef",
                                          match=mkey_spef)
            whole["3d_spef"]["spef"]["stats"] = st
    for k, a in whole.items():
        a_key = {"3d_coplaced": "3d", "3d_spef": "3d", "2d_spef": "2d"}.get(k, k)
        if a_key in acts and a.get("power_w"):
            a["energy"] = energy(a["power_w"], acts[a_key]["cycles"], acts[a_key]["sops"], clock_ns, a.get("fmax_mhz"))
    result["whole_design"] = whole
    w2 = whole["2d"]
    if three_d:
        tiers = [reps["tier_top"], reps["tier_bottom"]]
        fp3 = max(r["die_area_um2"] for r in tiers)
        slack_tiers = min(r["worst_slack_ns"] for r in tiers)
        p3 = sum(r["power_w"]["total"] for r in tiers)
        w3 = whole["3d"]
        f3 = w3.get("fmax_mhz")
        r2 = reps["2d"]
        result["3d"] = {
            "method": "tier-by-tier 2D implementation of each tier (Shrunk-2D/Pin-3D style tier step, "
                      "simplified: see flows/ppa.py)" + ("; F2F bonds as area pins (flows/builtin/bondpins.py)" if pins else "")
                      + "; timing and power of the stitched 3D netlist "
                      "(flows/analysis/sta3d.py)",
            "partition": partition, "bond": bond, "bonds": fmap["bond_count"],
            "tiers": {"tier_top": reps["tier_top"], "tier_bottom": reps["tier_bottom"]},
            "footprint_um2": fp3, "cell_area_um2": sum(r["cell_area_um2"] for r in tiers),
            "wirelength_um": sum(r["wirelength_um"] for r in tiers),
            "worst_slack_ns": w3["worst_path"].get("slack_ns"), "fmax_mhz": f3,
            "worst_slack_tier_by_tier_ns": slack_tiers, "fmax_tier_by_tier_mhz": 1e3 / (clock_ns - slack_tiers),
            "critical_path_tiers": w3["worst_path"].get("tiers"),
            "power_w": p3,
            "bond_pitch_fits_um": (fp3 / fmap["bond_count"]) ** 0.5 if fmap["bond_count"] else None,
            "common_footprint": fill,
            "bond_pins": pins,
        }
        mem2, mem3 = w2.get("memory_access", {}), _memory(w3)
        pw2, pw3 = w2.get("power_w", {}).get("total"), w3.get("power_w", {}).get("total")
        e2, e3 = w2.get("energy", {}), w3.get("energy", {})
        result["ratios_3d_over_2d"] = {
            "footprint": ratio(fp3, r2["die_area_um2"]), "fmax": ratio(f3, w2.get("fmax_mhz")),
            "memory_latency": ratio(mem3.get("delay_ns"), mem2.get("delay_ns")),
            "memory_latency_worst_each": ratio(w3.get("memory_access", {}).get("delay_ns"),
                                               w2.get("memory_access", {}).get("delay_ns")),
            "power": ratio(pw3, pw2) if pw3 else ratio(p3, r2["power_w"]["total"]),
            "power_flow_global_activity": ratio(p3, r2["power_w"]["total"]),
            "wirelength": ratio(result["3d"]["wirelength_um"], r2["wirelength_um"]),
            "pj_per_sop": ratio(e3.get("pj_per_sop"), e2.get("pj_per_sop")),
            "power_register_resolved": ratio((w3.get("power_registers_w") or {}).get("total"),
                                              (w2.get("power_registers_w") or {}).get("total")),
        }
        result["paper_ranges"] = PAPER_RANGES
        if co:
            result["coplaced"] = co
        result["methods"] = method_numbers(result)
    (out_dir / "ppa.json").write_text(json.dumps(result, indent=1) + "\n")
    if o.plot and three_d:
        result["plot"] = str(ratio_plot(result["ratios_3d_over_2d"], out_dir / "ppa_ratios.png",
                                        title=f"{cfg.kind}: 3D / 2D (OSU 0.18 um, built-in flow)"))
        (out_dir / "ppa.json").write_text(json.dumps(result, indent=1) + "\n")
    if o.plot:
        result["layouts"] = _pictures(out_dir, result, log)
    (out_dir / "ppa.md").write_text(report_md(result))
    return result


def _memory(analysis: dict) -> dict:
    """The 3D memory-access path for the 3D/2D ratio: between the 2D worst path's own start and end
    registers where they were found (``memory_access_matched``), else the 3D design's own worst."""
    m = analysis.get("memory_access_matched", {})
    return m if m.get("found") else analysis.get("memory_access", {})

def _pictures(out_dir: Path, result: dict, log) -> dict:
    """The layout pictures (:mod:`spikestack.flows.ppa.layout`); without the ``klayout`` package
    (``pip install spikestack[flow]``) the report says so instead."""
    try:
        import klayout.lay  # noqa: F401
    except ImportError:
        log("[ppa] layout pictures skipped: no klayout package (pip install 'spikestack[flow]')")
        return {"skipped": "no klayout package (pip install 'spikestack[flow]')"}
    t0 = time.time()
    made = layout_pictures(out_dir, result)
    log(f"[ppa] layout pictures: {', '.join(made.values())} ({time.time() - t0:.0f} s)")
    return made
