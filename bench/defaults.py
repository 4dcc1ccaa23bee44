"""`spikestack bench --only defaults`: cycles of the default MoE and MHA against their ideal.

The first rows of the ``moe`` and ``mha`` sections alone (seed 0, spike rate 0.2, bit-exact
checked): one Verilator build and one run per layer, for a quick before/after of a hardware change.
"""
from __future__ import annotations

from pathlib import Path

from ..demo import default_config
from ..hw.layers.mha import MhaPlan
from ..hw.layers.moe import MoePlan
from ..sim.tensors import random_case
from . import markdown_table, simulate_checked

__all__ = ["run"]


def run(out_dir: Path) -> str:
    rows = []
    for kind, plan_cls in (("moe", MoePlan), ("mha", MhaPlan)):
        cfg = default_config(kind)
        case = random_case(cfg, seed=0, rate=0.2)
        r, = simulate_checked(cfg, [case])
        ideal = plan_cls(cfg).ideal_cycles(*case)
        rows.append([f"{kind}_default", cfg.hw.drain_lanes, r["cycles"], f"{ideal:.0f}", f"{r['cycles'] / ideal:.2f}"])
    text = markdown_table(["configuration", "result lanes", "cycles", "ideal (ops / 256 PEs)", "cycles / ideal"], rows)
    (Path(out_dir) / "defaults.md").write_text(text + "\n")
    return text
