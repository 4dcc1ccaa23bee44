"""`make bench-scaling` (issue 42): how the MoE scales with experts, cores, top-k and routing skew.

The default MoE's tokens and sizes (T=4, N=16, D=64, Dh=128, 8x8 PEs a core, spike rate 0.2, seed
0) with one thing changed a point, under three ``[hw]`` schedules:

* ``pairs``: the paper's layout (weight GLBs shared by core pairs, expert e in group
  ``e % groups``; the dispatcher holds one token);
* ``pairs, window 4``: the same GLBs, the dispatcher holding 4 tokens (``hw.dispatch_window``);
* ``shared``: one weight GLB with a read port per core (``hw.glb_share = cores``: any core runs
  any expert; ``configs/moe_default.toml``).

Every point is one Verilator build running the routing skews of :data:`SKEWS` (router weights of
expert 0 raised by ``skew``: from the router's own balance to expert 0 taking most tokens), every
output checked bit-exact against the golden model. Per run: cycles / ideal (routed synaptic adds /
(cores x PEs)), the cores' busy counters as utilisation (mean and lowest core), the tokens of the
busiest expert, weight-GLB reads (one word per core event cycle plus the bias words of every job
tile, from the golden model's work) and the GLB bits of the top. A PNG plot goes next to the table.
"""
from __future__ import annotations

import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..demo import default_config
from ..hw.layers.moe import MoePlan
from ..sim.tensors import random_case
from . import markdown_table, simulate_checked

__all__ = ["run", "POINTS", "SKEWS", "SCHEDULES"]

SKEWS = (0, 16, 64)
SCHEDULES = {"pairs": {"glb_share": 2}, "pairs, window 4": {"glb_share": 2, "dispatch_window": 4},
             "shared": {"shared": True}}
# (axis, layer changes, hw changes, schedules)
POINTS = ([("experts", {"experts": e}, {}, tuple(SCHEDULES) if e in (4, 16) else ("pairs", "shared"))
           for e in (4, 8, 16, 32, 64)]
          + [("cores", {"experts": 16}, {"cores": c}, ("shared",)) for c in (8, 16)]
          + [("top-k", {"experts": 16, "top_k": k}, {}, ("shared",)) for k in (1, 4)])


def point_config(layer: dict, hw: dict, schedule: str):
    base = default_config("moe")
    h = {**hw, **SCHEDULES[schedule]}
    if h.pop("shared", False):
        h["glb_share"] = h.get("cores", base.hw.cores)
    return base.replace(**layer, hw=dataclasses.replace(base.hw, **h))


def skewed(cfg, skew: int, seed: int = 0):
    s, w = random_case(cfg, seed=seed, rate=0.2)
    w = dict(w)
    wr = w["wr"].copy()
    wr[:, 0] = np.clip(wr[:, 0] + skew, -(1 << (cfg.w_bits - 1)), (1 << (cfg.w_bits - 1)) - 1)
    w["wr"] = wr
    return s, w


def glb_bits(plan: MoePlan) -> int:
    glbs = [plan.activation, plan.router_w] + (plan.weights if plan.slices == 1 else
                                              [b for g in plan.weight_banks for b in g])
    return sum(g.depth * g.width for g in glbs)


def measure(cfg) -> list[dict]:
    plan = MoePlan(cfg)
    cases = [skewed(cfg, s) for s in SKEWS]
    out = []
    for skew, case, r in zip(SKEWS, cases, simulate_checked(cfg, cases)):
        work = plan.work(*case)
        jobs = int(work["mask"].sum())
        ideal = plan.ideal_cycles(*case)
        util = [r["counters"][k] / r["cycles"] for k in plan.counters]
        out.append({"skew": skew, "cycles": r["cycles"], "ideal": ideal, "ratio": r["cycles"] / ideal,
                    "util_mean": float(np.mean(util)), "util_min": float(min(util)),
                    "top_tokens": int(work["mask"].sum(axis=0).max()),
                    "reads": int(work["core_cycles"].sum()) + jobs * (plan.tiles_h + plan.tiles_out) * plan.bias_words,
                    "glb_bits": glb_bits(plan), "groups": plan.groups})
    return out


def _plot(records: list[dict], path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, axis, key in zip(axes, ("experts", "cores", "top-k"), ("experts", "cores", "top_k")):
        for sched in SCHEDULES:
            for skew, style in zip(SKEWS, ("-o", "--s", ":^")):
                pts = sorted((r[key], r["ratio"]) for r in records
                             if r["schedule"] == sched and r["skew"] == skew and (r["axis"] == axis or
                                                                                 r["default_" + key]))
                if len(pts) > 1:
                    ax.plot(*zip(*pts), style, label=f"{sched}, skew {skew}")
        ax.axhline(1.10, color="grey", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xlabel(axis)
        ax.set_ylabel("cycles / ideal")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=90)
    tmp.replace(path)


def cells(schedules=tuple(SCHEDULES)) -> str:
    """Census (synthesis to osu018) of the default layer's dispatcher under each schedule, and the
    weight GLBs' SRAM macro shapes (the rest of the top is the same)."""
    from amaranth.back import verilog
    from ..flows.analysis.census import census
    from ..hw.layers import design_for
    rows = []
    for sched in schedules:
        cfg = point_config({}, {}, sched)
        plan = MoePlan(cfg)
        text = verilog.convert(design_for(cfg).blocks["dispatcher"].build(), name="dispatcher")
        top = census(text, "dispatcher", jobs=2)[0]
        shapes = sorted({f"{len(plan.weights)} x {g.depth} words x {g.width} bits, {g.read_ports} read ports"
                         for g in plan.weights})
        rows.append([sched, top.subtree_cells, top.flops, "; ".join(shapes)])
    return markdown_table(["schedule (default layer, E=4)", "dispatcher cells", "dispatcher flip-flops",
                           "weight GLBs"], rows)


def run(out_dir: Path, points=POINTS, census: bool = True) -> str:
    """The study over ``points`` (:data:`POINTS`: all of it); ``census``: the cells table too."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = default_config("moe")
    records, rows = [], []
    todo = [(axis, sched, point_config(layer, hw, sched)) for axis, layer, hw, schedules in points for sched in schedules]
    with ThreadPoolExecutor(2) as pool:             # two builds at a time (each a Verilator build + run)
        measured = pool.map(lambda x: measure(x[2]), todo)
        for (axis, sched, cfg), ms in zip(todo, measured):
            for m in ms:
                rec = {"axis": axis, "schedule": sched, "experts": cfg.experts, "cores": cfg.hw.cores,
                       "top_k": cfg.top_k, **m}
                # the experts sweep's 16-expert point is also the cores and top-k sweeps' default
                rec.update({f"default_{k}": axis == "experts" and cfg.experts == 16 and k != "experts"
                            for k in ("experts", "cores", "top_k")})
                records.append(rec)
                rows.append([axis, cfg.experts, cfg.hw.cores, cfg.top_k, sched, m["skew"], m["top_tokens"],
                             m["cycles"], f"{m['ideal']:.0f}", f"{m['ratio']:.2f}",
                             f"{m['util_mean']:.2f} / {m['util_min']:.2f}", m["reads"], m["glb_bits"]])
            print(f"scaling: {axis} E={cfg.experts} C={cfg.hw.cores} k={cfg.top_k} {sched}: "
                  + ", ".join(f"{r['ratio']:.2f}" for r in records[-len(SKEWS):]), flush=True)
            (out_dir / "scaling.json").write_text(json.dumps(records, indent=1))
    _plot(records, out_dir / "scaling.png")
    table = markdown_table(["axis", "experts", "cores", "top-k", "schedule", "skew", "tokens of the busiest expert",
                            "cycles", "ideal", "cycles / ideal", "core utilisation mean / lowest",
                            "weight-GLB reads", "GLB bits"], rows)
    text = (f"The default MoE's tokens (T={base.t}, N={base.n}, D={base.d}, Dh={base.dh}, 8x8 PEs a core; "
            f"seed 0, spike rate 0.2), one axis changed a point; skew: router weights of expert 0 raised by "
            f"that much. Plot: `{out_dir / 'scaling.png'}`.\n\n" + table)
    try:
        if census:
            text += ("\n\nCost (census of the dispatcher alone; the rest of the top differs only in the weight "
                     "GLBs' read ports):\n\n" + cells())
    except Exception as err:                   # the PD tools are optional for this bench
        text += f"\n\nCells: census not run ({err})."
    (out_dir / "scaling.md").write_text(text + "\n")
    return text


PHASES = ("event", "before the first event", "bias load", "last event held", "after the last event")


def vcd_phases(vcd: Path, cores: int) -> dict:
    """Each expert core's cycles from start to done of a traced run (``tb.harness.build(cfg,
    trace=True)``), by what its encoder does: an event, a bias word on the weight port, a row's
    last event held for the drain of the row before, before its first or after its last event;
    returns the mean over the cores of each (:data:`PHASES`)."""
    sigs = {"start": "spikestack_moe.start", "done": "spikestack_moe.done", "clk": "spikestack_moe.clk"}
    for c in range(cores):
        q = f"spikestack_moe.expert_core_{c}.core."
        sigs.update({(c, "ev"): q + "encoder.events__valid", (c, "bias"): q + "bias_load",
                     (c, "stall"): q + "encoder.stall"})
    ids, scope, val, rows = {}, [], {}, []
    with open(vcd) as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            if w[0] == "$scope":
                scope.append(w[2])
            elif w[0] == "$upscope":
                scope.pop()
            elif w[0] == "$var":
                ids.setdefault(".".join(scope + [w[4]]), w[3])
            elif w[0] == "$enddefinitions":
                break
        want = {ids[name]: key for key, name in sigs.items()}
        val = {key: 0 for key in sigs}
        for line in f:
            if line[0] in "01" and line[1:].strip() in want:
                key = want[line[1:].strip()]
                if key == "clk" and line[0] == "1" and not val["clk"]:
                    rows.append(dict(val))
                val[key] = int(line[0])
    first = next(i for i, r in enumerate(rows) if r["start"])
    last = next(i for i, r in enumerate(rows) if i > first and r["done"])
    run = rows[first:last + 1]
    out = dict.fromkeys(PHASES, 0.0)
    for c in range(cores):
        ev = [i for i, r in enumerate(run) if r[(c, "ev")]]
        for i, r in enumerate(run):
            k = ("before the first event" if i < ev[0] else "after the last event" if i > ev[-1] else
                 "event" if r[(c, "ev")] else "bias load" if r[(c, "bias")] else
                 "last event held" if r[(c, "stall")] else None)
            if k:
                out[k] += 1 / cores
    return out


def phases(cfg, skew: int = 0) -> dict:
    """:func:`vcd_phases` of a traced run of ``cfg`` at ``skew`` (checked bit-exact), with its cycles."""
    import tempfile
    from ..tb.harness import build, compare, simulate_full
    from ..sim.layers import run_golden
    case = skewed(cfg, skew)
    with tempfile.TemporaryDirectory(prefix="spikestack_phases_") as tmp:
        r, = simulate_full(build(cfg, trace=True), [case], workdir=Path(tmp), waves=True)
        err = compare(run_golden(cfg, *case), r["spikes"])
        if err:
            raise AssertionError(f"scaling phases: RTL differs from the golden model: {err}")
        return {"cycles": r["cycles"], **vcd_phases(Path(tmp) / "dump.vcd", MoePlan(cfg).cores)}


def main(argv=None) -> int:
    """``python -m spikestack.bench.scaling --experts 4,16 --schedules shared --out DIR``: a subset of
    the study (the default's tokens; ``--cores`` and ``--top-k`` at 16 experts, as in :data:`POINTS`),
    without the census; prints the table."""
    import argparse
    ap = argparse.ArgumentParser(prog="python -m spikestack.bench.scaling", description=main.__doc__)
    ap.add_argument("--experts", default="4,8,16,32,64", help="comma-separated expert counts ('' for none)")
    ap.add_argument("--cores", default="", help="comma-separated core counts, at 16 experts")
    ap.add_argument("--top-k", default="", help="comma-separated top-k, at 16 experts")
    ap.add_argument("--schedules", default="shared", help=f"comma-separated, of: {'; '.join(SCHEDULES)}")
    ap.add_argument("--out", default="out/bench/scaling_subset", help="output directory")
    ap.add_argument("--phases", action="store_true",
                    help="instead: a traced run of each --experts point (skew 0), its cores' cycles by phase")
    a = ap.parse_args(argv)
    scheds = tuple(x.strip() for x in a.schedules.split(",") if x.strip())
    bad = [x for x in scheds if x not in SCHEDULES]
    if bad:
        ap.error(f"--schedules: unknown {bad[0]!r}")
    ints = lambda text: [int(x) for x in text.split(",") if x.strip()]
    if a.phases:
        for e in ints(a.experts):
            for sched in scheds:
                ph = phases(point_config({"experts": e}, {}, sched))
                print(f"E={e} {sched}: {ph['cycles']} cycles; per core: "
                      + ", ".join(f"{k} {ph[k]:.1f}" for k in PHASES), flush=True)
        return 0
    points = ([("experts", {"experts": e}, {}, scheds) for e in ints(a.experts)]
              + [("cores", {"experts": 16}, {"cores": c}, scheds) for c in ints(a.cores)]
              + [("top-k", {"experts": 16, "top_k": k}, {}, scheds) for k in ints(a.top_k)])
    print(run(Path(a.out), points, census=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
