"""`make run`: the main job on the default configurations.

For each default configuration (``configs/{linear,moe,mha}_default.toml``): write the seeded
inputs (seed 0, spike rate 0.2), generate the Verilog, run the golden model and the generated
RTL on Verilator, check that they agree bit for bit and report the cycles; then the PPA report
(when the physical-design flow is available). Everything goes under ``out_dir``.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .config import ConfigError, dump_config, load_config
from .gen.generate import write_design
from .hw.layers import design_for
from .sim.layers import run_golden
from .sim.tensors import random_case
from .tb.harness import build, compare, simulate_full

__all__ = ["demo", "CONFIG_DIR", "default_config"]

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def default_config(kind: str):
    return load_config(CONFIG_DIR / f"{kind}_default.toml")


def _step(msg: str):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def demo(out_dir: Path, kinds=("linear", "moe", "mha")) -> int:
    out_dir = Path(out_dir)
    rows = []
    for kind in kinds:
        cfg = default_config(kind)
        d = out_dir / kind
        d.mkdir(parents=True, exist_ok=True)
        spikes, tensors = random_case(cfg, seed=0, rate=0.2)
        (d / "config.toml").write_text(dump_config(cfg))
        np.savez(d / "weights.npz", **tensors)
        np.savez(d / "spikes.npz", spikes=spikes)
        golden = run_golden(cfg, spikes, tensors)
        np.savez(d / "golden.npz", spikes=golden)
        _step(f"{kind}: golden model -> {d / 'golden.npz'} (output spike rate {golden.mean():.3f})")
        try:
            files = write_design(cfg, d / "rtl")
        except ConfigError as e:
            _step(f"{kind}: rtl backend not available ({e})")
            rows.append((kind, "golden only", "-", "-", "-"))
            continue
        _step(f"{kind}: Verilog -> {files[0]}")
        t0 = time.time()
        b = build(cfg)
        _step(f"{kind}: Verilator build {time.time() - t0:.1f} s (cached by the Verilog's hash)")
        r, = simulate_full(b, [(spikes, tensors)])
        err = compare(golden, r["spikes"])
        np.savez(d / "rtl.npz", spikes=r["spikes"].astype(np.uint8), cycles=np.int64(r["cycles"]))
        plan = b_plan(cfg)
        ideal = plan.ideal_cycles(spikes, tensors) if _takes_inputs(plan.ideal_cycles) else plan.ideal_cycles()
        status = "bit-exact" if err is None else f"MISMATCH: {err}"
        _step(f"{kind}: rtl -> {d / 'rtl.npz'}: {r['cycles']} cycles (ideal {ideal:.0f}), {status}")
        rows.append((kind, status, str(r["cycles"]), f"{ideal:.0f}", f"{r['cycles'] / max(ideal, 1):.2f}"))
        if err is not None:
            return 1
    lines = ["| layer | rtl vs golden | cycles | ideal | cycles / ideal |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    (out_dir / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    _step(f"summary -> {out_dir / 'summary.md'}")
    return 0


def b_plan(cfg):
    return design_for(cfg).plan


def _takes_inputs(fn) -> bool:
    import inspect
    return len(inspect.signature(fn).parameters) >= 2
