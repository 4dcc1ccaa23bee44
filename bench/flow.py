"""`make bench-flow`: run time of the built-in PPA flow, per step, and how it grows with experts.

For E = 2, 4, 8 experts (one expert core each, the reduced PPA configuration's shapes otherwise:
``configs/moe_ppa_small.toml``), the full PPA job (2D and both tiers, simulation of the activity,
whole-design STA) runs with GLBs as SRAM macros, flat and hierarchical (every PE hardened once,
``--harden pe``). Each row gives the cells placed and routed, the time of each step (hardening,
synthesis, placement, routing, STA of each flow; the 2D flow and the tiers run two at a time on
the two cores), cells per second of flow time, and the total wall time of the job. Flat runs above
``FLAT_MAX_EXPERTS`` are skipped (their time grows as cells^1.9: see the issue's table).
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from ..config import load_config
from ..flows.ppa import PpaOptions, ppa_for_config
from . import markdown_table

__all__ = ["run", "EXPERTS", "FLAT_MAX_EXPERTS"]

ROOT = Path(__file__).resolve().parents[1]
EXPERTS = (2, 4, 8)
FLAT_MAX_EXPERTS = 4


def config_for(experts: int):
    base = load_config(ROOT / "configs" / "moe_ppa_small.toml")
    return dataclasses.replace(base, experts=experts, hw=dataclasses.replace(base.hw, cores=experts))


def _steps(rep: dict) -> str:
    s = rep["step_seconds"]
    return f"{s['synthesis']:.0f} / {s['placement']:.0f} / {s['routing']:.0f} / {s['sta']:.0f}"


def run(out_dir: Path, experts=EXPERTS, flat_max: int = FLAT_MAX_EXPERTS) -> str:
    out_dir = Path(out_dir) / "flow"
    rows, raw = [], {}
    for e in experts:
        for mode in ("flat", "hier"):
            if mode == "flat" and e > flat_max:
                continue
            cfg = config_for(e)
            t0 = time.time()
            res = ppa_for_config(cfg, out_dir / f"moe_e{e}_{mode}",
                                 PpaOptions(sram_macros=True, harden="pe" if mode == "hier" else None,
                                            method="independent"),
                                 log=lambda *_: None)
            wall = time.time() - t0
            reps = {"2d": res["2d"], **res["3d"]["tiers"]}
            h = res.get("hierarchy", {})
            hard = h.get("seconds", 0.0) + sum(t["seconds"] for t in h.get("tier_macros", {}).values())
            cells = sum(r["cells"] for r in reps.values())
            flow_s = sum(r["total_seconds"] for r in reps.values())
            raw[f"e{e}_{mode}"] = {"wall_s": wall, "harden_s": hard, "reports": {k: {x: r[x] for x in (
                "cells", "macros", "step_seconds", "total_seconds", "failed_routes", "die_area_um2")}
                for k, r in reps.items()}, "ratios": res["ratios_3d_over_2d"]}
            rows.append([e, mode, reps["2d"]["cells"], reps["2d"]["macros"],
                         f"{reps['tier_top']['cells']} / {reps['tier_bottom']['cells']}",
                         f"{hard:.0f}", _steps(reps["2d"]), _steps(reps["tier_top"]), _steps(reps["tier_bottom"]),
                         sum(r["failed_routes"] or 0 for r in reps.values()),
                         f"{cells / flow_s:.1f}", f"{wall:.0f}"])
    (out_dir / "flow_bench.json").write_text(json.dumps(raw, indent=1) + "\n")
    header = ["experts", "flow", "2D cells", "2D macros", "tier cells (top / bottom)", "hardening (s)",
              "2D synth / place / route / STA (s)", "top tier (s)", "bottom tier (s)", "failed routes",
              "cells/s (flow time)", "job wall time (s)"]
    return markdown_table(header, rows) + (
        "\n\nE experts on E expert cores (configs/moe_ppa_small.toml's shapes otherwise), GLBs as SRAM macros; "
        "`hier` hardens the PE once (per netlist: the 2D top and the logic tier write its ports differently) "
        "and places and routes the tops with its macros. Job wall time includes the Verilator activity runs "
        "and the whole-design STA. 2 cores, `make bench-flow`.")
