"""`spikestack bench --only defaults`: cycles of the default MoE and MHA against their ideal.

The first rows of the ``moe`` and ``mha`` sections alone (seed 0, spike rate 0.2, bit-exact
checked): one Verilator build and one run per layer, for a quick before/after of a hardware change;
and the same layers with ``[hw] fire = "pe"`` (the paper's PE, a neuron in each) beside the
default's shared neurons in the drain.
"""
from __future__ import annotations

import dataclasses
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
        for fire in ("drain", "pe"):
            cfg = default_config(kind)
            if fire != cfg.hw.fire:
                cfg = dataclasses.replace(cfg, hw=dataclasses.replace(cfg.hw, fire=fire))
            case = random_case(cfg, seed=0, rate=0.2)
            r, = simulate_checked(cfg, [case])
            ideal = plan_cls(cfg).ideal_cycles(*case)
            rows.append([f"{kind}_default" + ("" if fire == "drain" else ' with fire = "pe"'), cfg.hw.drain_lanes,
                         fire, r["cycles"], f"{ideal:.0f}", f"{r['cycles'] / ideal:.2f}"])
    text = markdown_table(["configuration", "result lanes", "LIF step", "cycles", "ideal (ops / 256 PEs)",
                           "cycles / ideal"], rows)
    (Path(out_dir) / "defaults.md").write_text(text + "\n")
    return text
