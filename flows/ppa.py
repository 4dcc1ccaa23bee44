"""PPA of a configuration: the 2D top and its two-tier (pseudo-3D) split through the built-in flow.

2D: the flat top through :func:`run_flow`. Pseudo-3D: each tier of the split
(:mod:`spikestack.gen.tiers`) through the same flow on its own — a tier-by-tier implementation in
the spirit of the tier-by-tier step of Shrunk-2D / Pin-3D, simplified: each tier is placed in its
own die (no shared 3D footprint, no 3D-aware placement), its F2F bond ports are I/O pins, and each
bond is modelled by a lumped load on the driving tier's bond port (default: a hybrid bond of
3.0 Ω, 0.6 fF at 1 µm pitch — the values of issue #8, typical of published Cu-Cu hybrid bonding,
e.g. imec/TSMC SoIC reports of ~1 fF and a few Ω per bond). Inter-tier paths are timed per tier
(bond input arrival = the bond's RC delay, 3.0 Ω x 0.6 fF ≈ 2 fs, i.e. 0), not across both tiers.
The 3D footprint is the larger tier's die; power is the sum of the tiers.

The two tiers run in parallel (one tool per core). Results: ``ppa.json`` and ``ppa.md`` with the
2D and per-tier reports and the 3D/2D ratios next to the paper's ranges.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..gen.config import LayerConfig
from .builtin import markdown, run_flow

__all__ = ["ppa_for_config", "PAPER_RANGES", "BOND"]

PAPER_RANGES = {   # arXiv 2412.05540, 3D vs 2D, 28 nm commercial flow
    "frequency": "+3 to +5.1 %", "footprint": "-39 to -41 %", "memory_latency": "-26.9 to -29 %",
    "power": "up to -14.4 %",
}
BOND = {"r_ohm": 3.0, "c_ff": 0.6, "pitch_um": 1.0}


def _ratio(a, b):
    return (a / b) if a is not None and b else None


def ppa_for_config(cfg: LayerConfig, out_dir: Path, partition: str = "memory-on-logic", clock_ns: float = 10.0,
                   activity: float = 0.1, three_d: bool = True, bond: dict | None = None, log=print,
                   sram_macros: bool = False) -> dict:
    """PPA of the 2D top and (``three_d``) of each tier, see the module docstring. ``sram_macros``:
    the GLBs are SRAM macros (:mod:`spikestack.flows.sram`) in the 2D top and in the tiers."""
    from ..gen.generate import generate_verilog
    from ..gen.tiers import f2f_map, tier_sources
    bond = dict(BOND, **(bond or {}))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    top, text = generate_verilog(cfg, "2d", macros=sram_macros)
    jobs = [("2d", text, top, None, None)]
    fmap = None
    if three_d:
        src = tier_sources(cfg, partition, macros=sram_macros)
        fmap = f2f_map(src)
        c_pf = bond["c_ff"] * 1e-3
        for tier in ("tier_top", "tier_bottom"):
            outs = {b["name"]: c_pf for b in fmap["bonds"] if b["direction"].startswith(tier)}
            ins = {b["name"]: bond["r_ohm"] * bond["c_ff"] * 1e-15 * 1e9 for b in fmap["bonds"]
                   if b["direction"].endswith(tier)}
            jobs.append((tier, src["texts"][f"{tier}.v"], tier, outs, ins))
    with ThreadPoolExecutor(max_workers=2) as pool:
        futs = {name: pool.submit(run_flow, t, tp, out_dir / name, clock_ns, activity, loads, delays, log)
                for name, t, tp, loads, delays in jobs}
        reps = {name: f.result() for name, f in futs.items()}
    result = {"config": cfg.kind, "clock_ns": clock_ns, "activity": activity, "sram_macros": sram_macros,
              "2d": reps["2d"]}
    if three_d:
        tiers = [reps["tier_top"], reps["tier_bottom"]]
        fp3 = max(r["die_area_um2"] for r in tiers)
        slack3 = min(r["worst_slack_ns"] for r in tiers)
        p3 = sum(r["power_w"]["total"] for r in tiers)
        f3 = 1e3 / (clock_ns - slack3)
        r2 = reps["2d"]
        result["3d"] = {
            "method": "tier-by-tier 2D implementation of each tier (Shrunk-2D/Pin-3D style tier step, "
                      "simplified: see flows/ppa.py)",
            "partition": partition, "bond": bond, "bonds": fmap["bond_count"],
            "tiers": {"tier_top": reps["tier_top"], "tier_bottom": reps["tier_bottom"]},
            "footprint_um2": fp3, "cell_area_um2": sum(r["cell_area_um2"] for r in tiers),
            "wirelength_um": sum(r["wirelength_um"] for r in tiers), "worst_slack_ns": slack3,
            "fmax_mhz": f3, "power_w": p3,
            "bond_pitch_fits_um": (fp3 / fmap["bond_count"]) ** 0.5 if fmap["bond_count"] else None,
        }
        result["ratios_3d_over_2d"] = {
            "footprint": _ratio(fp3, r2["die_area_um2"]), "fmax": _ratio(f3, r2["fmax_mhz"]),
            "power": _ratio(p3, r2["power_w"]["total"]),
            "wirelength": _ratio(result["3d"]["wirelength_um"], r2["wirelength_um"]),
        }
        result["paper_ranges"] = PAPER_RANGES
    (out_dir / "ppa.json").write_text(json.dumps(result, indent=1) + "\n")
    (out_dir / "ppa.md").write_text(report_md(result))
    return result


def report_md(res: dict) -> str:
    reps = [res["2d"]] + (list(res["3d"]["tiers"].values()) if "3d" in res else [])
    lines = [f"# PPA: {res['config']} (clock {res['clock_ns']} ns, activity {res['activity']})", "", markdown(reps)]
    if "3d" in res:
        r, d3 = res["ratios_3d_over_2d"], res["3d"]
        lines += [f"Pseudo-3D ({d3['partition']}): {d3['bonds']} F2F bonds, bond model {d3['bond']}; "
                  f"method: {d3['method']}.", "",
                  "| metric | 2D | 3D | 3D / 2D | paper (3D vs 2D) |", "|---|---|---|---|---|",
                  f"| footprint (µm²) | {res['2d']['die_area_um2']:.0f} | {d3['footprint_um2']:.0f} | "
                  f"{r['footprint']:.3f} | {PAPER_RANGES['footprint']} |",
                  f"| fmax (MHz) | {res['2d']['fmax_mhz']:.1f} | {d3['fmax_mhz']:.1f} | {r['fmax']:.3f} | "
                  f"{PAPER_RANGES['frequency']} |",
                  f"| power (mW) | {res['2d']['power_w']['total'] * 1e3:.3f} | {d3['power_w'] * 1e3:.3f} | "
                  f"{r['power']:.3f} | {PAPER_RANGES['power']} |",
                  f"| wirelength (µm) | {res['2d']['wirelength_um']:.0f} | {d3['wirelength_um']:.0f} | "
                  f"{r['wirelength']:.3f} | - |",
                  f"| memory-access latency | not measured | not measured | - | {PAPER_RANGES['memory_latency']} |",
                  "",
                  "Where these differ from the paper: 180 nm open cells and a flat per-tier flow instead of a "
                  "28 nm commercial 3D flow; " + (
                      "GLBs are SRAM macros of an analytical 180 nm model (flows/sram.py), not characterised ones; "
                      if res.get("sram_macros") else
                      "GLBs are flip-flops here (SRAM macros: --sram-macros), so the memory tier is much larger "
                      "than the logic tier and the footprint saving is bounded by that imbalance; ") + "the "
                  "tiers are timed separately (no cross-tier path) and power uses a global activity, not the "
                  "simulation's toggles."]
    return "\n".join(lines) + "\n"
