"""`make digits`: the trained digits classifier on the float model, the integer golden model and the RTL.

Reads ``configs/digits/digits.toml`` and its weights (``make train-digits`` writes them), encodes
the fixed test split (:mod:`.digits_train`), and runs it

* through the float model (the stored float weights, theta = 1, no rounding),
* through the integer golden model (:mod:`spikestack.sim.network`),
* through the generated RTL on Verilator (:mod:`spikestack.tb.network`): one top per layer, built
  once, all test images in one simulation per layer (``n`` images a run, one per token), weights
  loaded once; every layer's output spikes are compared bit for bit with the golden model's.

Prints accuracies, cycles per inference, wall times, RTL samples per second and the energy per
inference: each layer's synaptic operations on the test split times that layer's pJ/SOP from the
pre-layout energy flow (:func:`spikestack.flows.ppa.prelayout.prelayout_energy`, wire model
``fanout``). The flow takes minutes per layer (40 minutes for the three on a loaded 2-core
machine), so the figures it measured are kept in ``DIGITS_PJ_PER_SOP`` and ``--energy`` reruns it
(synthesis and activity reused from the output directory afterwards); a network with other layer
names falls back to the default MoE's pJ/SOP (``FALLBACK_PJ_PER_SOP``). The output says which.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ..hw.layers import design_for
from ..netconfig import load_network, split_tensors
from ..sim.network import batch_tokens, check_network_tensors, run_network_golden, unbatch_tokens
from ..sim.snn_train import forward
from ..tb.harness import compare
from ..tb.network import run_network_rtl
from .digits_train import CONFIG_DIR, SPEC, encode, load_split, predict

__all__ = ["run", "main", "FALLBACK_PJ_PER_SOP", "DIGITS_PJ_PER_SOP"]

#: pJ/SOP at 0.18 um of moe_default, wire model fanout (BENCHMARKS.md, `make bench-energy`, 2026-12-02)
FALLBACK_PJ_PER_SOP = 84.8
#: pJ/SOP (0.18 um; 28 nm 0.9 V scaled) of the digits layers from the pre-layout flow, wire model fanout,
#: its own workload (seeded random spikes, rate 0.2): `python -m spikestack.bench.digits --energy --no-rtl`
DIGITS_PJ_PER_SOP = {"fc1": (44.5, 1.73), "moe": (153.5, 5.97), "fc2": (56.9, 2.21)}


def _energy(net, out_dir: Path, log) -> dict:
    """pJ/SOP (0.18 um, wire model ``fanout``) per layer from the pre-layout flow."""
    from ..flows.ppa.prelayout import prelayout_energy
    res = {}
    for name, cfg in net.layers:
        t0 = time.time()
        e = prelayout_energy(cfg, out_dir / f"energy_{name}", models=("fanout",), log=lambda *_: None)
        per = e["models"]["fanout"].get("per_sop") or {}
        res[name] = {"pj_per_sop": per.get("dynamic_pj_per_sop", 0) + per.get("leakage_pj_per_sop", 0),
                     "pj_per_sop_28nm": per.get("pj_per_sop_28nm_0v9", 0), "seconds": round(time.time() - t0, 1)}
        log(f"  energy {name}: {res[name]['pj_per_sop']:.1f} pJ/SOP (pre-layout, {res[name]['seconds']} s)")
    return res


def run(net_path: Path = CONFIG_DIR / "digits.toml", out_dir: Path = Path("out/digits"), rtl: bool = True,
        energy: bool = False, limit: int | None = None, log=print) -> dict:
    t_all = time.time()
    net = load_network(net_path)
    with np.load(net.weights_path()) as f:
        stored = {k: f[k] for k in f.files}
    per_layer = check_network_tensors(net, {k: v for k, v in stored.items() if not k.startswith("float.")})
    floats = {k[len("float."):]: v.astype(float) for k, v in stored.items() if k.startswith("float.")}
    _, _, xte, yte = load_split()
    if limit:
        xte, yte = xte[:limit], yte[:limit]
    attn = any(cfg.kind == "mha" for _, cfg in net.layers)
    if attn:        # one image a run: its 8 row tokens attend to each other
        from . import digits_attn as variant
        X = variant.tokens(xte, net.t)                                   # (T, S, 8, 16)
        runs, per_run, spec, pred = [X[:, i] for i in range(len(yte))], 1, variant.SPEC, variant.predict
        float_in, last = X, lambda outs: np.stack(outs, axis=1)          # -> (T, S, 8, 10)
    else:           # n images a run, one per token
        samples = encode(xte, net.t)                                     # (S, T, 64)
        runs, per_run, spec, pred = batch_tokens(samples, net.n), net.n, SPEC, predict
        float_in = samples.transpose(1, 0, 2)
        last = lambda outs: unbatch_tokens(outs, len(yte)).transpose(1, 0, 2)  # noqa: E731
    res = {"samples": len(yte), "t": net.t, "tokens_per_run": net.n, "images_per_run": per_run}
    if floats:
        out, _ = forward(spec, floats, float_in, quant=False)
        res["float_accuracy"] = float((pred(out) == yte).mean())
    t0 = time.time()
    golden = [run_network_golden(net, r, per_layer) for r in runs]      # [run][layer] (T, n, D)
    res["golden_s"] = round(time.time() - t0, 2)
    pred_g = pred(last([g[-1] for g in golden]))
    res["golden_accuracy"] = float((pred_g == yte).mean())
    sops = {}
    for li, (name, cfg) in enumerate(net.layers):
        plan = design_for(cfg).plan
        ins = [runs[i] if li == 0 else golden[i][li - 1] for i in range(len(runs))]
        sops[name] = sum(plan.sops(x, per_layer[li]) for x in ins) / len(yte)
    res["sops_per_inference"] = sops
    if rtl:
        t0 = time.time()
        r = run_network_rtl(net, per_layer, runs, log=log)
        wall = time.time() - t0
        mism = []
        for li, (name, _) in enumerate(net.layers):
            for i in range(len(runs)):
                bad = compare(golden[i][li], r["layers"][li][i], f"{name} run {i}")
                if bad:
                    mism.append(bad)
        pred_r = pred(last(r["layers"][-1]))
        res.update(rtl_accuracy=float((pred_r == yte).mean()), rtl_equal_golden=not mism,
                   rtl_predictions_equal=bool((pred_r == pred_g).all()), mismatches=mism[:5],
                   cycles_per_run={n: float(c.mean()) for (n, _), c in zip(net.layers, r["cycles"])},
                   build_s=round(sum(r["build_s"]), 1), sim_s=round(sum(r["sim_s"]), 1), rtl_wall_s=round(wall, 1))
        res["cycles_per_inference"] = float(r["cycles"].sum(axis=0).mean()) / per_run
        res["rtl_samples_per_s"] = len(yte) / sum(r["sim_s"])
    if energy:
        e = _energy(net, out_dir, log)
        res["energy_source"] = "pre-layout flow of each layer, run now (0.18 um, wire model fanout)"
    elif [n for n, _ in net.layers] == list(DIGITS_PJ_PER_SOP) and all(DIGITS_PJ_PER_SOP.values()):
        e = {n: {"pj_per_sop": v[0], "pj_per_sop_28nm": v[1]} for n, v in DIGITS_PJ_PER_SOP.items()}
        res["energy_source"] = ("pJ/SOP of each layer from the pre-layout flow (0.18 um, wire model fanout, "
                                "measured once: --energy reruns it, minutes per layer)")
    else:
        e = {name: {"pj_per_sop": FALLBACK_PJ_PER_SOP} for name, _ in net.layers}
        res["energy_source"] = (f"{FALLBACK_PJ_PER_SOP} pJ/SOP for every layer: the pre-layout figure of moe_default "
                                "(BENCHMARKS.md, fanout wires, 0.18 um); `--energy` runs the flow on these layers")
    res["pj_per_sop"] = {n: e[n]["pj_per_sop"] for n in e}
    res["energy_nj_per_inference"] = sum(sops[n] * e[n]["pj_per_sop"] for n in sops) / 1e3
    if all("pj_per_sop_28nm" in e[n] for n in sops):
        res["energy_nj_per_inference_28nm"] = sum(sops[n] * e[n]["pj_per_sop_28nm"] for n in sops) / 1e3
    res["wall_s"] = round(time.time() - t_all, 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "digits.json").write_text(json.dumps(res, indent=1) + "\n")
    return res


def report(res: dict) -> str:
    lines = [f"digits test split: {res['samples']} images, t = {res['t']}, {res['images_per_run']} image(s) per run "
             f"of {res['tokens_per_run']} tokens"]
    if "float_accuracy" in res:
        lines.append(f"  float model accuracy      {res['float_accuracy'] * 100:.2f} %")
    lines.append(f"  integer golden accuracy   {res['golden_accuracy'] * 100:.2f} %")
    if "rtl_accuracy" in res:
        lines += [f"  RTL accuracy              {res['rtl_accuracy'] * 100:.2f} %  (every layer's spikes equal to the golden "
                  f"model's on every sample: {'yes' if res['rtl_equal_golden'] else 'NO'})",
                  f"  cycles per inference      {res['cycles_per_inference']:.1f}  (per run of {res['images_per_run']}: "
                  + ", ".join(f"{n} {c:.0f}" for n, c in res["cycles_per_run"].items()) + ")",
                  f"  RTL: builds {res['build_s']} s, simulation {res['sim_s']} s = "
                  f"{res['rtl_samples_per_s']:.1f} samples/s"]
    lines += ["  SOPs per inference        " + ", ".join(f"{n} {s:.0f}" for n, s in res["sops_per_inference"].items()),
              f"  energy per inference      {res['energy_nj_per_inference']:.2f} nJ at 0.18 um"
              + (f", {res['energy_nj_per_inference_28nm']:.3f} nJ scaled to 28 nm 0.9 V"
                 if "energy_nj_per_inference_28nm" in res else "") + f" ({res['energy_source']})",
              "  pJ/SOP                    " + ", ".join(f"{n} {v:.1f}" for n, v in res["pj_per_sop"].items()),
              f"  wall time                 {res['wall_s']} s"]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spikestack.bench.digits", description=__doc__.split("\n")[0])
    ap.add_argument("--net", default=str(CONFIG_DIR / "digits.toml"))
    ap.add_argument("--out", default="out/digits")
    ap.add_argument("--no-rtl", action="store_true", help="float and golden only")
    ap.add_argument("--energy", action="store_true", help="pJ/SOP from the pre-layout flow of each layer (slow)")
    ap.add_argument("--limit", type=int, default=None, help="first LIMIT test images only")
    a = ap.parse_args(argv)
    res = run(Path(a.net), Path(a.out), rtl=not a.no_rtl, energy=a.energy, limit=a.limit)
    print(report(res))
    return 0 if res.get("rtl_equal_golden", True) else 1


if __name__ == "__main__":
    sys.exit(main())
