"""`make bench-energy`: pre-layout energy per synaptic operation of the default MoE and MHA.

For each configuration (``configs/moe_default.toml``, ``configs/mha_default.toml``; others with
``SPIKESTACK_ENERGY``, a comma list of config names): :func:`~spikestack.flows.ppa.prelayout.prelayout_energy`
— the flow's synthesis of the flat 2D top with SRAM GLB macros, the workload's activity from the
Verilator simulation (seed 0, rate 0.2), OpenSTA power under each wire model (none: a lower
bound; fanout: calibrated on a routed run of the reduced MoE), pJ/SOP at 0.18 µm and scaled to
28 nm, beside ODIN and ReckOn. No place-and-route. A synthesis and a simulation already in the
output directory are reused.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..config import load_config
from ..flows.builtin.platform import FlowError
from ..flows.ppa.prelayout import REFERENCES, SCALING, prelayout_energy
from . import markdown_table

__all__ = ["run", "CONFIGS", "table"]

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ("moe_default", "mha_default")


def _f(x, fmt=".3g"):
    return "-" if x is None else format(x, fmt)


def table(results: dict[str, dict]) -> str:
    """One row per configuration and wire model (config name -> ``prelayout_energy`` result)."""
    rows, failed = [], {}
    for name, res in results.items():
        if "error" in res:
            failed[name] = res["error"].split(" (see ")[0]        # no local paths in the table
            continue
        syn, w = res["synthesis"], res["workload"]
        for m, r in res["models"].items():
            p, e, s = r.get("power_w") or {}, r.get("energy") or {}, r.get("per_sop") or {}
            rows.append([name, f"{syn['cells']} + {syn['macros']} macros", f"{syn['seconds']:.0f}",
                         _f(w.get("sim_seconds"), ".0f"), w["cycles"],
                         w["sops"], m, _f(r["fmax_mhz"], ".1f"), _f(p.get("internal", 0) * 1e3, ".2f"),
                         _f(p.get("switching", 0) * 1e3, ".2f"), _f(p.get("leakage", 0) * 1e6, ".3f"),
                         _f(e.get("pj_per_sop"), ".1f"), _f(e.get("tsops_per_w"), ".4f"),
                         _f(s.get("pj_per_sop_28nm_0v9"), ".2f"), _f(s.get("pj_per_sop_28nm_0v55"), ".2f")])
    header = ["configuration", "cells (synthesis)", "synthesis (s)", "simulation (s)", "cycles", "SOPs", "wire model", "fmax (MHz)",
              "internal (mW)", "switching (mW)", "leakage (µW)", "pJ/SOP 0.18 µm", "TSOPS/W 0.18 µm",
              "pJ/SOP 28 nm 0.9 V", "pJ/SOP 28 nm 0.55 V"]
    refs = "; ".join(f"{n} {r['pj_per_sop']} pJ/SOP ({r['node']}, {r['vdd']} V, {r['cite'].split(', ')[-1]})"
                     for n, r in REFERENCES.items())
    cal = next((r["calibration"] for r in results.values() if "calibration" in r), {})
    notes = "".join(f"\n\nNot measured: **{n}**: {e}" for n, e in failed.items())
    return markdown_table(header, rows) + notes + (
        "\n\nPre-layout (no place-and-route): the flow's synthesis (Yosys + ABC to osu018, GLBs as SRAM macros), "
        "power from OpenSTA with the activity of the Verilator run of the workload (seed 0, rate 0.2), energy as "
        "the routed PPA flow computes it (dynamic energy per cycle at the STA clock + leakage over the run at that "
        f"model's fmax). Wire models: `none` = pin C only (lower bound); `fanout` = {_f(cal.get('c0_pf'), '.4g')} pF "
        f"+ {_f(cal.get('c_fo_pf'), '.4g')} pF x fanout per net, fitted to {cal.get('source')}. Scaling: "
        f"{SCALING['rule']}. Published: {refs}. SOPs as the benchmarks count them (MoE: the routed experts' "
        "synaptic adds; MHA: also the ANDs of Q·Kᵀ and the adds of A·V). Synthesis and simulation seconds: wall "
        "time of their first run (a synthesis or simulation already in the output directory is reused; the bench "
        "time below is then the OpenSTA analyses'). `make bench-energy`.")


def run(out_dir: Path, configs=None) -> str:
    names = configs or [c for c in os.environ.get("SPIKESTACK_ENERGY", ",".join(CONFIGS)).split(",") if c]
    results = {}
    for name in names:
        cfg = load_config(ROOT / "configs" / f"{name}.toml")
        try:
            results[name] = prelayout_energy(cfg, Path(out_dir) / "energy" / name, log=print)
        except FlowError as e:           # e.g. synthesis lost SRAM macros: no number rather than a wrong one
            print(f"bench energy: {name}: {e}")
            results[name] = {"error": str(e)}
    return table(results)
