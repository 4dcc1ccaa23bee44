"""`make bench-ssa`: Xpikeformer's stochastic spiking attention (SSA) against the deterministic
attention core, on the same generator and flows.

1. **Behaviour** over T = 4, 8, 16 on one MHA layer (N = 8, D = 16, 2 heads of 8; Q/K/V/O
   integrate-and-fire; the deterministic attention is the rate-coded counterpart of SSA: soft-reset
   IF with ``threshold * 2**attn_shift = d_head * N``, so both fire at about ``O / (d_head * N)``):
   seeded inputs, SSA over LFSR seeds 1..8. Per T and mode: cycles on Verilator (total and the
   attention phase; every RTL output checked bit-exact against the golden model — for LFSR seed 1;
   the seeds are constants of the Verilog, so the other seeds run on the golden model, which the
   tests hold bit-exact), spike rates, agreement of the layer's output spikes with the
   deterministic layer, and the mean per-neuron firing-rate error against it.
2. **Cells**: the attention core alone (``gen.generate.block_verilog``) synthesised to OSU 0.18 µm
   (``flows.census``) in both modes, for the behaviour layer and for the default configuration's
   attention-core shape (N = 16, d_head = 16).
3. **Power**: the attention core of ``configs/mha_ssa_small.toml`` and of the behaviour layer
   (T = 8) in both modes through the built-in flow (Yosys/ABC, graywolf, qrouter, OpenSTA; 10 ns
   clock, global switching activity 0.1), one run at a time.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from . import simulate_checked
from ..config import AttentionConfig, HwConfig, LayerConfig, LifConfig, load_config
from ..flows.builtin.flow import run_flow
from ..flows.analysis.census import census
from ..flows.formats.markdown import markdown_table
from ..gen.generate import block_verilog
from ..sim.layers import mha_intermediates, run_golden
from ..sim.tensors import random_case

__all__ = ["run", "bench_layer", "TIMESTEPS", "SEEDS"]

ROOT = Path(__file__).resolve().parents[1]
TIMESTEPS = (4, 8, 16)
SEEDS = tuple(range(1, 9))
INPUTS = ((0, 0.25), (1, 0.4))          # (input seed, input spike rate)
NAMES = ("wq", "wk", "wv", "wo", "bq", "bk", "bv", "bo")


def bench_layer(t: int, seed: int | None = None) -> LayerConfig:
    """The behaviour layer; ``seed`` None: deterministic attention, else SSA with that LFSR seed."""
    lif = {p: LifConfig(8, 0, "soft", p) for p in ("q", "k", "v")}
    lif["attn"] = LifConfig(16, 0, "soft", "attn")      # 16 * 2**2 = d_head * N = 64
    lif["o"] = LifConfig(4, 0, "soft", "o")
    cfg = LayerConfig(kind="mha", t=t, n=8, d=16, heads=2, attn_shift=2, lif=lif,
                      hw=HwConfig(rows=2, cols=4, cores=2))
    return cfg if seed is None else cfg.replace(attention=AttentionConfig(mode="ssa", lfsr_bits=8, seed=seed))


def _behaviour(record: dict) -> str:
    rows = []
    for t in TIMESTEPS:
        det = bench_layer(t)
        cases = [random_case(det, seed=s, rate=r) for s, r in INPUTS]
        rtl = {"deterministic": simulate_checked(det, cases), "ssa": simulate_checked(bench_layer(t, SEEDS[0]), cases)}
        ref = [(mha_intermediates(det, s, *(w[k] for k in NAMES))["attn_spikes"], run_golden(det, s, w))
               for s, w in cases]
        stats = {"attn_rate": [], "out_rate": [], "agree": [], "attn_err": [], "out_err": []}
        for seed in SEEDS:
            cfg = bench_layer(t, seed)
            for (s, w), (a_det, o_det) in zip(cases, ref):
                a = mha_intermediates(cfg, s, *(w[k] for k in NAMES))["attn_spikes"]
                o = run_golden(cfg, s, w)
                stats["attn_rate"].append(a.mean())
                stats["out_rate"].append(o.mean())
                stats["agree"].append((o == o_det).mean())
                stats["attn_err"].append(np.abs(a.mean(axis=0) - a_det.mean(axis=0)).mean())
                stats["out_err"].append(np.abs(o.mean(axis=0) - o_det.mean(axis=0)).mean())
        for mode, res in rtl.items():
            cyc = f"{np.mean([r['cycles'] for r in res]):.0f} / {np.mean([r['counters']['cycles_attn'] for r in res]):.0f}"
            if mode == "deterministic":
                rows.append([t, mode, cyc, f"{np.mean([a.mean() for a, _ in ref]):.3f}",
                             f"{np.mean([o.mean() for _, o in ref]):.3f}", "1", "0", "0"])
            else:
                def f(x):
                    return f"{np.mean(x):.3f} ({np.min(x):.3f}-{np.max(x):.3f})"
                rows.append([t, f"ssa (seeds {SEEDS[0]}-{SEEDS[-1]})", cyc, f(stats["attn_rate"]), f(stats["out_rate"]),
                             f(stats["agree"]), f(stats["attn_err"]), f(stats["out_err"])])
            record.setdefault("behaviour", {}).setdefault(str(t), {})[mode] = {
                "cycles": [r["cycles"] for r in res], "cycles_attn": [r["counters"]["cycles_attn"] for r in res]}
        record["behaviour"][str(t)]["ssa_stats"] = {k: [float(x) for x in v] for k, v in stats.items()}
    return markdown_table(["T", "attention", "cycles: total / attention phase (RTL)", "attention spike rate",
                           "output spike rate", "output spike agreement with deterministic",
                           "attention rate error (per neuron)", "output rate error (per neuron)"], rows)


def _core_cells(cfg: LayerConfig) -> dict:
    text = block_verilog(cfg, "attention_core_0", "attention_core")
    blocks = census(text, "attention_core", jobs=1)
    return {"cells": blocks[0].subtree_cells, "flops": sum(b.flops * b.instances for b in blocks),
            "area_um2": sum(b.area_um2 * b.instances for b in blocks)}


def _cells(record: dict) -> str:
    default = load_config(ROOT / "configs" / "mha_default.toml")
    shapes = {"behaviour layer (N 8, d_head 8)": bench_layer(8),
              "mha_default shape (N 16, d_head 16)": default,
              "mha_ssa_small (N 3, d_head 3)": load_config(ROOT / "configs" / "mha_ssa_small.toml")}
    rows = []
    for name, cfg in shapes.items():
        det = cfg.replace(attention=AttentionConfig())
        sto = cfg if cfg.attention.mode == "ssa" else cfg.replace(attention=AttentionConfig(mode="ssa", lfsr_bits=8))
        d, s = _core_cells(det), _core_cells(sto)
        record.setdefault("cells", {})[name] = {"deterministic": d, "ssa": s}
        rows.append([name, d["cells"], s["cells"], f"{s['cells'] / d['cells']:.2f}", d["flops"], s["flops"],
                     f"{d['area_um2']:.0f}", f"{s['area_um2']:.0f}", f"{s['area_um2'] / d['area_um2']:.2f}"])
    return markdown_table(["attention core of", "cells det.", "cells SSA", "SSA / det.", "flip-flops det.",
                           "flip-flops SSA", "cell area det. (µm²)", "cell area SSA (µm²)", "area SSA / det."], rows)


def _power(out_dir: Path, record: dict) -> str:
    small = load_config(ROOT / "configs" / "mha_ssa_small.toml")
    cores = {"mha_ssa_small (N 3, d_head 3)": (small.replace(attention=AttentionConfig()), small),
             "behaviour layer (N 8, d_head 8)": (bench_layer(8), bench_layer(8, SEEDS[0]))}
    rows = []
    for name, pair in cores.items():
        for mode, c in zip(("deterministic", "ssa"), pair):
            t0 = time.time()
            tag = "small" if "small" in name else "layer"
            rep = run_flow(block_verilog(c, "attention_core_0", "attention_core"), "attention_core",
                           out_dir / f"flow_{tag}_{mode}", clock_ns=10.0, activity=0.1, log=lambda *_: None)
            p = rep["power_w"]
            record.setdefault("power", {}).setdefault(name, {})[mode] = {
                k: rep[k] for k in ("cells", "flops", "cell_area_um2", "die_area_um2", "fmax_mhz", "failed_routes",
                                    "power_w")}
            rows.append([name, mode, rep["cells"], rep["flops"], f"{rep['cell_area_um2']:.0f}",
                         f"{rep['die_area_um2']:.0f}", f"{rep['fmax_mhz']:.1f}" if rep["fmax_mhz"] else "-",
                         rep["failed_routes"], f"{1e3 * p.get('total', float('nan')):.3f}", f"{time.time() - t0:.0f}"])
    return markdown_table(["attention core of", "mode", "cells", "flip-flops", "cell area (µm²)", "die (µm²)",
                           "fmax (MHz)", "failed routes", "power (mW, activity 0.1)", "flow (s)"], rows)


def run(out_dir: Path) -> str:
    out_dir = Path(out_dir) / "ssa"
    out_dir.mkdir(parents=True, exist_ok=True)
    record: dict = {}
    parts = ["**Behaviour** (`spikestack bench --only ssa`): MHA layer N 8, D 16, 2 heads, inputs at rates "
             f"{', '.join(str(r) for _, r in INPUTS)} (seeds {', '.join(str(s) for s, _ in INPUTS)}); SSA with "
             "8-bit LFSRs (x^8+x^6+x^5+x^4+1), values: mean (min-max) over LFSR seeds and inputs. Agreement: "
             "fraction of the layer's output spikes (T x N x D) equal to the deterministic layer's; rate "
             "error: mean over neurons of |firing rate over T - deterministic rate|.", "",
             _behaviour(record), "",
             "**Cells** of one attention core (Yosys + ABC to OSU 0.18 µm, flattened; SSA cores with 8-bit "
             "LFSRs except mha_ssa_small's own 6-bit ones):", "", _cells(record), "",
             "**Power** (built-in flow on the attention core alone, 10 ns clock; OpenSTA with one global "
             "switching activity of 0.1 for both modes, not the activity of a workload):", "", _power(out_dir, record)]
    (out_dir / "ssa.json").write_text(json.dumps(record, indent=1, default=float) + "\n")
    return "\n".join(parts)
