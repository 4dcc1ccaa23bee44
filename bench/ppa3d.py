"""`make bench-ppa3d`: the two pseudo-3D methods against the same 2D, on the reduced PPA configurations.

For each configuration (``configs/moe_ppa_small.toml``; more with ``SPIKESTACK_PPA3D``, a comma list of
config names), one PPA job with GLBs as SRAM macros and ``method="coplaced"``: the 2D top, the
independent tiers with area bond pins (today's method, the baseline) and the co-placed Macro-3D
memory-on-logic flow (:mod:`spikestack.flows.coplace.run`), analysed by the same whole-design STA.
Finished flow runs in the output directory are reused (``reuse``).
"""
from __future__ import annotations

import os
from pathlib import Path

from ..config import load_config
from ..flows.ppa import PpaOptions, ppa_for_config
from . import markdown_table

__all__ = ["run", "CONFIGS", "table"]

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ("moe_ppa_small",)


def _f(x, fmt=".3f"):
    return "-" if x is None else format(x, fmt)


def table(results: dict[str, dict]) -> str:
    """The methods table of several PPA results (config name -> ``ppa_for_config`` result)."""
    rows = []
    for name, res in results.items():
        nums = res["methods"]
        for m in ("independent", "coplaced"):
            n = nums.get(m)
            if not n:
                continue
            r = n["ratios"]
            rows.append([name, m, _f(r["wirelength_um"]), _f(r["memory_access_ns"]), _f(r["power_w"]),
                         _f(r["footprint_um2"]), _f(r["fmax_mhz"]), n["bonds"], _f(n["mean_pin_to_bond_um"], ".1f"),
                         n["failed_routes"]])
    header = ["configuration", "3D method", "wirelength 3D/2D", "memory access 3D/2D", "power 3D/2D",
              "footprint 3D/2D", "fmax 3D/2D", "F2F bonds", "mean pin-to-bond (µm)", "failed routes (3D)"]
    return markdown_table(header, rows) + (
        "\n\nSame 2D baseline for both methods (the same flat run, qflow defaults). `independent`: each tier "
        "placed and routed alone, bonds as area pins at the midpoint of their pins' centroids, tiers routed again. "
        "`coplaced`: Macro-3D memory-on-logic — one footprint, the logic tier placed with the memory tier's bond "
        "pins as fixed attractors, one qrouter run over a 12-layer stack (metal1-6, F2F cut, metal6b-1b), bonds "
        "counted from the routed F2F vias. Timing and power of 2D and both methods from SPEFs of their routed "
        "DEFs by one extractor (flows/spef.py: wire R and C per routed piece, via R, the bond's R and C), one "
        "OpenSTA run each. GLBs as SRAM macros, memory-on-logic, OSU 0.18 µm, `make bench-ppa3d`.")


def run(out_dir: Path, configs=None) -> str:
    names = configs or [c for c in os.environ.get("SPIKESTACK_PPA3D", ",".join(CONFIGS)).split(",") if c]
    results = {}
    for name in names:
        cfg = load_config(ROOT / "configs" / f"{name}.toml")
        results[name] = ppa_for_config(cfg, Path(out_dir) / "ppa3d" / name,
                                       PpaOptions(sram_macros=True, method="coplaced", reuse=True), log=print)
    return table(results)
