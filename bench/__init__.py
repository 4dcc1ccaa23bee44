"""`make bench`: cycles against the ideal, event-driven savings and simulation speed.

Every number is measured on the generated RTL running on Verilator (``tb.harness``), with
seeded inputs; the tables are written to ``out_dir/bench.json`` and into the marked sections of
``BENCHMARKS.md``. Layer benches register in :data:`SECTIONS` (``name -> module:function``);
each function takes the output directory and returns Markdown.
"""
from __future__ import annotations

import importlib
import json
import re
import time
from pathlib import Path

from ..config import HwConfig, LayerConfig, LifConfig
from ..flows.formats.markdown import markdown_table
from ..hw.layers.linear import LinearPlan
from ..sim.layers import run_golden
from ..sim.tensors import random_case
from ..tb.harness import build, compare, simulate_full

__all__ = ["bench", "bench_linear", "SECTIONS", "markdown_table", "simulate_checked", "update_sections"]

SECTIONS = {
    "linear": "spikestack.bench:bench_linear",
    "moe": "spikestack.bench.moe:run",
    "mha": "spikestack.bench.mha:run",
    "elastic": "spikestack.bench.elastic:run",
    "flow": "spikestack.bench.flow:run",
    "census": "spikestack.bench.census:run",
    "ssa": "spikestack.bench.ssa:run",
    "defaults": "spikestack.bench.defaults:run",
    "ppa3d": "spikestack.bench.ppa3d:run",
    "energy": "spikestack.bench.energy:run",
    "router": "spikestack.bench.router:run",
    "chunks": "spikestack.bench.router:run_chunks",
    "scaling": "spikestack.bench.scaling:run",
    "stack": "spikestack.bench.stack:run",
}
# need the PD tools: `make bench-flow` (an hour of place-and-route), `make bench-census` (synthesis only);
# ssa: `make bench-ssa` (Verilator builds, synthesis, two flows); defaults: the first rows of moe and mha alone;
# ppa3d: `make bench-ppa3d` (both 3D methods through place-and-route); energy: `make bench-energy`
# (pre-layout pJ/SOP of the default MoE and MHA: synthesis, simulation, OpenSTA); router: `make bench-router`
# (qrouter's time per net against the die area); chunks: `make bench-chunks` (checkpointed routing against one run)
# scaling: `make bench-scaling` (the MoE over experts, cores, top-k and routing skew, issue 42)
# stack: `make bench-stack` (N-tier stacks: cycles with and without registered bonds, bonds per interface)
ON_REQUEST = {"flow", "census", "ssa", "defaults", "ppa3d", "energy", "router", "chunks", "scaling", "stack"}


def simulate_checked(cfg: LayerConfig, cases: list) -> list[dict]:
    """:func:`~spikestack.tb.harness.simulate_full` of ``cases`` on the configuration's RTL, every
    output checked bit-exact against the golden model (``AssertionError`` naming the first mismatch)."""
    out = simulate_full(build(cfg), cases)
    for (s, w), r in zip(cases, out):
        err = compare(run_golden(cfg, s, w), r["spikes"])
        if err:
            raise AssertionError(f"{cfg.kind} bench: RTL differs from the golden model: {err}")
    return out


def _linear(t, n, d, d_out, rows, cols, dense=False) -> LayerConfig:
    return LayerConfig(kind="linear", t=t, n=n, d=d, d_out=d_out, lif={"out": LifConfig(64, 3, "hard", "out")},
                       hw=HwConfig(rows=rows, cols=cols, cores=1, event_driven=not dense))


def bench_linear(out_dir: Path) -> str:
    """Cycles of the spiking linear layer against T*N*Din*Dout/(rows*cols), and Verilator speed."""
    sizes = [
        (4, 16, 64, 64, 8, 8), (4, 16, 64, 128, 8, 8), (4, 16, 128, 64, 8, 8),
        (4, 16, 64, 64, 4, 4), (3, 7, 37, 29, 8, 8),
    ]
    rows = []
    for t, n, d, d_out, r, c in sizes:
        res = {}
        for dense in (False, True):
            cfg = _linear(t, n, d, d_out, r, c, dense)
            case = random_case(cfg, seed=0, rate=0.2)
            b = build(cfg)
            out, = simulate_full(b, [case])
            assert compare(run_golden(cfg, *case), out["spikes"]) is None, f"mismatch in bench {cfg}"
            res[dense] = out
        plan = LinearPlan(_linear(t, n, d, d_out, r, c))
        ideal = plan.ideal_cycles()
        ev_ideal = plan.ideal_cycles(case[0])
        ed, de = res[False], res[True]
        rows.append([f"{t}x{n}x{d}->{d_out}", f"{r}x{c}", f"{ideal:.0f}", de["cycles"], f"{de['cycles'] / ideal:.2f}",
                     ed["cycles"], f"{ev_ideal:.0f}", f"{ed['cycles'] / ev_ideal:.2f}",
                     f"{de['cycles'] / ed['cycles']:.2f}x",
                     f"{ed['cycles'] / max(ed['wall_s'], 1e-9) / 1e3:.0f} k", f"{de['cycles'] / max(de['wall_s'], 1e-9) / 1e3:.0f} k"])
    header = ["T x N x Din -> Dout", "PE array", "ideal T·N·Din·Dout/PEs", "dense cycles", "dense / ideal",
              "event-driven cycles", "event ideal (SOPs/PEs)", "event / event ideal", "saving",
              "sim speed (cycles/s, event)", "sim speed (cycles/s, dense)"]
    text = markdown_table(header, rows)
    (Path(out_dir) / "linear.md").write_text(text + "\n")
    return text


def update_sections(path: Path, sections: dict[str, str]):
    """Replace ``<!-- bench:NAME -->...<!-- /bench:NAME -->`` blocks (appending missing ones)."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    for name, body in sections.items():
        block = f"<!-- bench:{name} -->\n{body.strip()}\n<!-- /bench:{name} -->"
        pat = re.compile(rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->", re.S)
        text = pat.sub(lambda _: block, text) if pat.search(text) else text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def bench(out_dir: Path, table: Path | None = None, only: list[str] | None = None) -> int:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sections, timings = {}, {}
    for name, ref in SECTIONS.items():
        if (only and name not in only) or (not only and name in ON_REQUEST):
            continue
        mod, fn = ref.split(":")
        try:
            func = getattr(importlib.import_module(mod), fn)
        except (ImportError, AttributeError):
            print(f"bench {name}: not available in this version")
            continue
        t0 = time.time()
        print(f"bench {name}: running ...", flush=True)
        sections[name] = func(out_dir)
        timings[name] = time.time() - t0
        print(sections[name])
        print(f"bench {name}: {timings[name]:.0f} s", flush=True)
    stamp = time.strftime("%Y-%m-%d")
    key, target = ("provenance", "make bench") if not only else ("provenance_" + "_".join(only), f"make bench-{'-'.join(only)}")
    sections[key] = (f"Tables above produced by `{target}` on {stamp} "
                              f"(bench time: {', '.join(f'{k} {v:.0f} s' for k, v in timings.items())}).")
    (out_dir / "bench.json").write_text(json.dumps({"sections": sections, "seconds": timings}, indent=1))
    if table:
        update_sections(Path(table), sections)
        print(f"tables -> {table}")
    return 0
