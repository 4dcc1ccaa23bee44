"""`make bench-ppa3d`: the two pseudo-3D methods against the same 2D, on the PPA configurations.

For each configuration (:data:`CONFIGS`; others with ``SPIKESTACK_PPA3D``, a comma list of config
names) and each partition (:data:`PARTITIONS`; ``SPIKESTACK_PPA3D_PARTITIONS``), one PPA job with
GLBs as SRAM macros and ``method="coplaced"``: the 2D top, the independent tiers with area bond pins
(today's method, the baseline) and the co-placed Macro-3D + Pin-3D flow
(:mod:`spikestack.flows.coplace.run`), analysed by the same whole-design STA. The partitions of a
configuration share its 2D run (copied); finished flow runs in the output directory are reused.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..config import load_config
from ..flows.ppa import PpaOptions, ppa_for_config
from . import markdown_table

__all__ = ["run", "CONFIGS", "table"]

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ("moe_ppa_small", "mha_ppa_small", "moe_ppa_mid")
PARTITIONS = ("memory-on-logic", "logic-on-logic")


def _f(x, fmt=".3f"):
    return "-" if x is None else format(x, fmt)


def table(results: dict[str, dict]) -> str:
    """The methods table of several PPA results (config name -> ``ppa_for_config`` result)."""
    rows = []
    for (name, part), res in results.items():
        nums = res["methods"]
        for m in ("independent", "coplaced"):
            n = nums.get(m)
            if not n:
                continue
            r = n["ratios"]
            passes = len(res["coplaced"]["placements"]) if m == "coplaced" else "-"
            routing = "-" if m != "coplaced" else (
                "by tier" if res["coplaced"].get("routing", {}).get("groups") else "one run + repair")
            # tier nets the router took through the other tier (two bonds): qrouter has no per-net layer limit
            stray = "-"
            if m == "coplaced":
                co = res["coplaced"]
                left = len(co["bonds"]["unexpected_crossing"])
                found = co.get("stray_tier_nets", {}).get("found", left)
                stray = f"{found}" + (f" ({left} still crossing)" if left else "")
            rows.append([name, part, m, passes, routing, _f(r["wirelength_um"]), _f(r["memory_access_ns"]), _f(r["power_w"]),
                         _f(r["footprint_um2"]), _f(r["fmax_mhz"]), n["bonds"], _f(n["mean_pin_to_bond_um"], ".1f"),
                         n["failed_routes"], stray])
    header = ["configuration", "partition", "3D method", "tier placements", "routing", "wirelength 3D/2D", "memory access 3D/2D", "power 3D/2D",
              "footprint 3D/2D", "fmax 3D/2D", "F2F bonds", "mean pin-to-bond (µm)", "failed routes (3D)",
              "tier nets through the other tier"]
    return markdown_table(header, rows) + (
        "\n\nSame 2D baseline for both methods (the same flat run, qflow defaults). `independent`: each tier "
        "placed and routed alone, bonds as area pins at the midpoint of their pins' centroids, tiers routed again. "
        "`coplaced`: Macro-3D + Pin-3D — one footprint, the macros over the other tier, the tiers placed in "
        "turn with the other tier's bond pins as fixed attractors (tier placements: how many graywolf runs "
        "before the 3D wirelength settled, the logic tier first), routed over a 12-layer stack (metal1-6, F2F cut, metal6b-1b): the 3D nets "
        "first, then each tier's nets with the other tier's metals closed (flows/coplace/route.py; qrouter has no "
        "per-net layer limit); bonds counted from the routed F2F vias; the last column: tier nets routed through "
        "the other tier (over two bonds), 0 by construction, and before they were routed again inside their tier "
        "(flows/coplace/repair.py) with `FlowKnobs.coplace_tier_layers` off. Timing and power of 2D and both methods from SPEFs of their routed "
        "DEFs by one extractor (flows/analysis/spef.py: wire R and C per routed piece, via R, the bond's R and C), one "
        "OpenSTA run each. GLBs as SRAM macros, OSU 0.18 µm, `make bench-ppa3d`.")


def _env_list(var: str, default) -> list[str]:
    return [c for c in os.environ.get(var, ",".join(default)).split(",") if c]


def run(out_dir: Path, configs=None, partitions=None) -> str:
    names = configs or _env_list("SPIKESTACK_PPA3D", CONFIGS)
    parts = partitions or _env_list("SPIKESTACK_PPA3D_PARTITIONS", PARTITIONS)
    results = {}
    for name in names:
        cfg = load_config(ROOT / "configs" / f"{name}.toml")
        first = None
        for part in parts:
            out = Path(out_dir) / "ppa3d" / name / part
            if first is not None and (first / "2d").is_dir() and not (out / "2d").exists():
                out.mkdir(parents=True, exist_ok=True)
                shutil.copytree(first / "2d", out / "2d", symlinks=True)     # the same 2D run
            results[name, part] = ppa_for_config(cfg, out, PpaOptions(sram_macros=True, method="coplaced", reuse=True,
                                                                       partition=part), log=print)
            first = first or out
    return table(results)
