"""`make bench` section: the MHA layer on Verilator.

Cycles per stage (Q/K/V projections, attention, output projection: the first two measured by
the sequencer's phase counters) against each stage's ideal (operations / (cores x rows x cols):
synaptic adds for projections, ANDs for Q K^T, adds of A where V spikes for A V), the split of
cycles across stages, and cycles against spike density. Every run is bit-exact checked.
"""
from __future__ import annotations

from pathlib import Path

from ..demo import default_config
from ..hw.layers.mha import MhaPlan
from ..sim.tensors import random_case
from . import markdown_table, simulate_checked

__all__ = ["run"]


def run(out_dir: Path) -> str:
    cfg = default_config("mha")
    plan = MhaPlan(cfg)
    pes = plan.cores * plan.lanes
    dense_cfg = cfg.replace(hw=cfg.hw.__class__(**{**cfg.hw.__dict__, "event_driven": False}))
    parts = []
    case = random_case(cfg, seed=0, rate=0.2)
    r, = simulate_checked(cfg, [case])
    w = plan.stage_work(*case)
    qkv, attn = r["counters"]["cycles_qkv"], r["counters"]["cycles_attn"]
    o = r["cycles"] - qkv - attn
    stages = [
        ("Q/K/V projections", qkv, w["qkv_adds"] / pes),
        ("attention (Q·Kᵀ ANDs + A·V adds)", attn, (w["qk_ands"] + w["av_adds"]) / pes),
        ("output projection", o, w["o_adds"] / pes),
    ]
    ideal = plan.ideal_cycles(*case)
    rows = [[name, cyc, f"{100 * cyc / r['cycles']:.0f} %", f"{idl:.0f}", f"{cyc / idl:.2f}"] for name, cyc, idl in stages]
    rows.append(["total", r["cycles"], "100 %", f"{ideal:.0f}", f"{r['cycles'] / ideal:.2f}"])
    parts = ["Default configuration (SPEC.md: T=4, N=16, D=64, 4 heads, attn_shift 2; 4 cores of 8x8 PEs; "
             "seed 0, spike rate 0.2):\n",
             markdown_table(["stage", "cycles", "share", "ideal (ops / 256 PEs)", "cycles / ideal"], rows)]
    busy = [r["counters"][f"proj_core_{c}_busy_cycles"] for c in range(plan.cores)]
    parts.append(f"\nProjection cores busy {', '.join(map(str, busy))} cycles of {r['cycles']} "
                 f"(utilisation {', '.join('%.2f' % (b / r['cycles']) for b in busy)}); simulation speed "
                 f"{r['cycles'] / max(r['wall_s'], 1e-9) / 1e3:.0f} k cycles/s.\n")
    rates = (0.05, 0.1, 0.2, 0.35, 0.5)
    cases = [random_case(cfg, seed=4, rate=x) for x in rates]
    rows = []
    for x, c, re_, rde in zip(rates, cases, simulate_checked(cfg, cases), simulate_checked(dense_cfg, cases)):
        idl = plan.ideal_cycles(*c)
        rows.append([x, re_["cycles"], re_["counters"]["cycles_qkv"], re_["counters"]["cycles_attn"],
                     f"{idl:.0f}", f"{re_['cycles'] / idl:.2f}", rde["cycles"], f"{rde['cycles'] / re_['cycles']:.2f}x"])
    parts.append("Spike density:\n")
    parts.append(markdown_table(["rate", "cycles", "of which Q/K/V", "of which attention", "ideal", "cycles / ideal",
                                 "dense cycles", "event-driven saving"], rows))
    text = "\n".join(parts)
    (Path(out_dir) / "mha.md").write_text(text + "\n")
    return text
