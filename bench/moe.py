"""`make bench` section: the MoE layer on Verilator.

Cycles against the ideal (synaptic adds of the routed work / (cores x rows x cols)), measured
per-core utilisation (the cores' busy counters), scaling with experts (4 -> 16), routing skew
and spike density (0.05 -> 0.5), and the saving of event-driven integration over the dense
schedule on the default configuration. Every run is checked bit-exact against the golden model.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..demo import default_config
from ..hw.layers.moe import MoePlan
from ..sim.tensors import random_case
from . import markdown_table, simulate_checked
from .scaling import skewed

__all__ = ["run"]


def run(out_dir: Path) -> str:
    cfg = default_config("moe")
    plan = MoePlan(cfg)
    dense_cfg = cfg.replace(hw=cfg.hw.__class__(**{**cfg.hw.__dict__, "event_driven": False}))
    parts = []

    # 1. default configuration: cycles vs ideal, event-driven vs dense, per-core utilisation
    case = random_case(cfg, seed=0, rate=0.2)
    r, = simulate_checked(cfg, [case])
    rd, = simulate_checked(dense_cfg, [case])
    work = plan.work(*case)
    ideal = plan.ideal_cycles(*case)
    parts.append("Default configuration (SPEC.md: T=4, N=16, D=64, Dh=128, E=4, top-2; 4 cores of 8x8 PEs, "
                 "weight GLBs shared by core pairs; seed 0, spike rate 0.2):\n")
    parts.append(markdown_table(
        ["schedule", "cycles", "ideal (routed SOPs / 256 PEs)", "cycles / ideal", "sim speed (cycles/s)"],
        [["event-driven", r["cycles"], f"{ideal:.0f}", f"{r['cycles'] / ideal:.2f}",
          f"{r['cycles'] / max(r['wall_s'], 1e-9) / 1e3:.0f} k"],
         ["dense (every input)", rd["cycles"], f"{ideal:.0f}", f"{rd['cycles'] / ideal:.2f}",
          f"{rd['cycles'] / max(rd['wall_s'], 1e-9) / 1e3:.0f} k"]]))
    parts.append(f"\nEvent-driven integration saves {rd['cycles'] / r['cycles']:.2f}x cycles on the default "
                 f"configuration ({rd['cycles']} -> {r['cycles']}).\n")
    rows = []
    for e in range(cfg.experts):
        rows.append([e, int(work["mask"][:, e].sum()), int(work["adds"][e]), int(work["core_cycles"][e]),
                     f"{e % plan.groups} (cores {', '.join(map(str, plan.members_of[e % plan.groups]))})"])
    parts.append(markdown_table(["expert", "tokens routed", "synaptic adds", "core cycles of its jobs", "weight GLB"], rows))
    rows = [[c, r["counters"][f"expert_core_{c}_busy_cycles"],
             f"{r['counters'][f'expert_core_{c}_busy_cycles'] / r['cycles']:.2f}"] for c in range(plan.cores)]
    parts.append("\n" + markdown_table(["core", "busy cycles (hardware counter)", "utilisation"], rows))

    # 2. experts 4 -> 16 (same cores)
    rows = []
    for E in (4, 8, 16):
        c = cfg.replace(experts=E)
        p = MoePlan(c)
        cs = [random_case(c, seed=s, rate=0.2) for s in range(2)]
        rs = simulate_checked(c, cs)
        cyc = np.mean([x["cycles"] for x in rs])
        idl = np.mean([p.ideal_cycles(*x) for x in cs])
        rows.append([E, cfg.top_k, p.cores, p.groups, p.slots, f"{cyc:.0f}", f"{idl:.0f}", f"{cyc / idl:.2f}"])
    parts.append("\nScaling with experts (4 cores, top-2, mean of 2 seeds):\n")
    parts.append(markdown_table(["experts", "top-k", "cores", "weight GLBs", "experts per GLB", "cycles", "ideal",
                                 "cycles / ideal"], rows))

    # 3. routing skew (router weights biased towards expert 0)
    rows = []
    cases = [skewed(cfg, s, seed=3) for s in (0, 8, 16, 32, 64)]
    for (s, w), res, sk in zip(cases, simulate_checked(cfg, cases), (0, 8, 16, 32, 64)):
        wk = plan.work(s, w)
        share = wk["mask"].sum(axis=0)
        idl = plan.ideal_cycles(s, w)
        rows.append([sk, "/".join(map(str, share)), f"{res['cycles']}", f"{idl:.0f}", f"{res['cycles'] / idl:.2f}"])
    parts.append("\nRouting skew (Wr[:, 0] + skew; tokens per expert):\n")
    parts.append(markdown_table(["skew", "tokens per expert", "cycles", "ideal", "cycles / ideal"], rows))

    # 4. spike density
    rows = []
    rates = (0.05, 0.1, 0.2, 0.35, 0.5)
    cases = [random_case(cfg, seed=4, rate=x) for x in rates]
    for x, (s, w), re_, rde in zip(rates, cases, simulate_checked(cfg, cases), simulate_checked(dense_cfg, cases)):
        idl = plan.ideal_cycles(s, w)
        rows.append([x, re_["cycles"], f"{idl:.0f}", f"{re_['cycles'] / idl:.2f}", rde["cycles"],
                     f"{rde['cycles'] / re_['cycles']:.2f}x"])
    parts.append("\nSpike density (input rate; dense = the same hardware walking every input):\n")
    parts.append(markdown_table(["rate", "event-driven cycles", "ideal", "cycles / ideal", "dense cycles",
                                 "event-driven saving"], rows))
    text = "\n".join(parts)
    (Path(out_dir) / "moe.md").write_text(text + "\n")
    return text
