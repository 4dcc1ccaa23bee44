"""Pre-layout energy of a configuration: synthesis, the simulated workload and OpenSTA, no
place-and-route (issue 21: the default MoE is too large for the built-in flow's placement and
routing in useful time, so its pJ/SOP is estimated before layout).

1. **synthesis** — the flat 2D top, GLBs as SRAM macros, through the flow's own synthesis step
   (:func:`~spikestack.flows.builtin.flow.set_up` and the first of
   :func:`~spikestack.flows.builtin.flow.qflow_steps`: qflow's ``synthesize.sh``, Yosys + ABC to
   osu018, blifFanout), the netlist OpenSTA reads written as the flow writes it (``sta_net.v``);
2. **activity** — :func:`~spikestack.flows.analysis.activity.simulate_activity` of the same configuration
   (seed 0, spike rate 0.2, as ``make run`` and the PPA flow);
3. **power** — :func:`~spikestack.flows.ppa.analysis.analyse_2d` (the OpenSTA session of the
   routed analyses) on that netlist under each wire model of :mod:`spikestack.flows.ppa.wireload`
   (``set_load`` per net, as the routed analysis applies qrouter's wire C);
4. **energy** — :func:`~spikestack.flows.ppa.analysis.energy` at the netlist's STA fmax under
   that wire model, at 0.18 µm and scaled to 28 nm (:func:`scale_energy`), beside ODIN and ReckOn.

Everything is written to ``out_dir`` (``energy.json``, ``energy.md``); a synthesis of the same
Verilog and a simulation of the same configuration already there are reused.
"""
from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

from ...gen.generate import generate_verilog
from ..analysis.activity import simulate_activity
from ..builtin.flow import FlowRun, qflow_step, qflow_steps, set_up
from ..formats.verilog import cells_of
from ..builtin.netlist import repair_header
from ..builtin.platform import FlowError, ensure_tools
from .analysis import analyse_2d, energy
from .wireload import CALIBRATION, WIRE_MODELS, wire_loads_tcl

__all__ = ["synthesize", "prelayout_energy", "scale_energy", "REFERENCES", "SCALING", "energy_md"]

# Published digital SNN processors to compare against (both 28 nm FDSOI, measured silicon).
REFERENCES = {
    "ODIN": {"pj_per_sop": 12.7, "node": "28 nm FDSOI", "vdd": 0.55,
             "cite": "C. Frenkel, M. Lefebvre, J.-D. Legat, D. Bol, \"A 0.086-mm2 12.7-pJ/SOP 64k-Synapse 256-Neuron "
                     "Online-Learning Digital Spiking Neuromorphic Processor in 28-nm CMOS\", IEEE TBioCAS 13(1), 2019",
             "sop": "minimum energy per synaptic operation, measured at 0.55 V: one synaptic event of its 256x256 "
                    "crossbar (a 4-bit weight read and added to a neuron's state), total chip energy / SOPs"},
    "ReckOn": {"pj_per_sop": 5.3, "node": "28 nm FDSOI", "vdd": 0.5,
               "cite": "C. Frenkel, G. Indiveri, \"ReckOn: A 28nm Sub-mm2 Task-Agnostic Spiking Recurrent Neural "
                       "Network Processor Enabling On-Chip Learning over Second-Long Timescales\", ISSCC 2022",
               "sop": "energy per synaptic operation of its spiking RNN (an 8-bit weight accumulated into a neuron), "
                      "as issue 21 quotes it; the supply (0.5 V, its documented operating point) not re-checked "
                      "against the paper here"},
}

# Dynamic energy ~ C V^2, C ~ feature size (first-order constant-field scaling of gate and wire C).
SCALING = {"from_um": 0.18, "from_vdd": 1.8, "to_um": 0.028, "to_vdd": 0.9, "ref_vdd": 0.55,
           "rule": "dynamic energy x (28 nm / 180 nm) x (V / 1.8 V)^2 (C proportional to feature size, "
                   "E = C V^2); leakage not scaled (a 28 nm leakage is not osu018's scaled: it is left out of "
                   "the scaled figure and its 0.18 um share is given)"}


def scale_energy(pj: float, to_um: float = SCALING["to_um"], to_vdd: float = SCALING["to_vdd"],
                 from_um: float = SCALING["from_um"], from_vdd: float = SCALING["from_vdd"]) -> float:
    """A dynamic energy at ``from_um``/``from_vdd`` scaled to ``to_um``/``to_vdd`` by
    ``E ~ C V^2`` with ``C ~ feature size``."""
    if min(pj, to_um, to_vdd, from_um, from_vdd) < 0 or not from_um or not from_vdd:
        raise ValueError("scale_energy: energies, nodes and supplies must be positive")
    return pj * (to_um / from_um) * (to_vdd / from_vdd) ** 2


def synthesize(text: str, top: str, out_dir: Path, log=print, reuse: bool = True) -> dict:
    """The flow's synthesis step alone on ``text`` in ``out_dir/work`` (SRAM macros set up as in
    :func:`~spikestack.flows.builtin.flow.run_flow`), and ``work/sta_net.v`` (header repaired, as the
    flow's parasitics step writes it). Returns cells, macros, their liberty files, seconds.
    With ``reuse``, a finished synthesis of the same text in ``out_dir`` is kept. ``FlowError``
    when the netlist holds fewer SRAM macro instances than Yosys mapped (the power would miss them)."""
    out_dir = Path(out_dir).resolve()
    work = out_dir / "work"
    done = out_dir / "synth.json"
    if reuse and done.exists() and (work / "sta_net.v").exists() \
            and (work / "source" / f"{top}.v").read_text() == text:
        log(f"[energy] {top}: reusing the synthesis in {out_dir}")
        return _macros_kept(json.loads(done.read_text()))
    run = FlowRun(text, top, out_dir, ensure_tools(), log)
    set_up(run, None, None)
    name, cmd, logname = qflow_steps(run)[0]
    t0 = time.time()
    qflow_step(run, 1, name, cmd, logname)
    net = repair_header((work / f"{top}.rtlnopwr.v").read_bytes(), top, text)
    net = "\n".join(l for l in net.splitlines() if not l.lstrip().startswith("FILL ")) + "\n"
    (work / "sta_net.v").write_text(net)
    cells = cells_of(net)
    macro_names = {m["name"] for m in run.macros}
    blif = {f: len(_SRAM_BLIF.findall(_read(work / f))) for f in ("tmp.blif", f"{top}.blif")}
    rep = {"top": top, "cells": sum(1 for c in cells.values() if c not in macro_names),
           "macros": sum(1 for c in cells.values() if c in macro_names),
           "macros_in_source": len(_SRAM_INST.findall(text)), "macros_in_blif": blif,
           "flops": sum(1 for c in cells.values() if c.startswith("DFF")),
           "libs": sorted(str(m["lib"]) for m in run.macros), "seconds": round(time.time() - t0, 1),
           "log": str(run.logs / logname)}
    done.write_text(json.dumps(rep, indent=1) + "\n")
    return _macros_kept(rep)


_SRAM_INST = re.compile(r"^\s*spikestack_sram_\w+\s+\S+\s*\(", re.M)
_SRAM_BLIF = re.compile(r"^\.(?:gate|subckt)\s+spikestack_sram_", re.M)


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _macros_kept(rep: dict) -> dict:
    """``rep``, or ``FlowError`` when the netlist lost SRAM macro instances of Yosys' mapped
    netlist (``tmp.blif``; Yosys itself may drop a macro whose outputs are unused, as the
    routed flow does: that is not a loss)."""
    mapped = next(iter(rep["macros_in_blif"].values()), rep["macros_in_source"])
    if rep["macros"] < mapped:
        raise FlowError(f"synthesis of {rep['top']} kept {rep['macros']} of the {mapped} SRAM macro instances Yosys "
                        f"mapped ({rep['macros_in_source']} in the source; after blifFanout: "
                        f"{list(rep['macros_in_blif'].values())[-1]}); its power would miss the others "
                        f"(see {rep['log']})")
    return rep


def _cached_activity(cfg, out_dir: Path, seed: int, rate: float, log) -> dict:
    """:func:`simulate_activity` of ``cfg``'s 2D top, kept in ``out_dir/activity.json`` for the
    same configuration, seed and rate."""
    f = Path(out_dir) / "activity.json"
    key = {"config": repr(cfg), "seed": seed, "rate": rate}
    if f.exists():
        got = json.loads(f.read_text())
        if got.get("key") == key:
            log(f"[energy] reusing the simulated activity in {f}")
            return got["activity"]
    t0 = time.time()
    act = simulate_activity(cfg, "2d", seed=seed, rate=rate, workdir=Path(out_dir) / "sim", log=log)
    act["seconds"] = round(time.time() - t0, 1)
    shutil.rmtree(Path(out_dir) / "sim", ignore_errors=True)
    f.write_text(json.dumps({"key": key, "activity": act}) + "\n")
    return act


def _split(power_w: dict, cycles: int, sops: int, clock_ns: float, period_ns: float) -> dict:
    """pJ/SOP split into dynamic (internal + switching, clock-independent per cycle) and leakage
    (over the run at ``period_ns``), and the dynamic part scaled (:data:`SCALING`)."""
    dyn = (power_w["internal"] + power_w["switching"]) * clock_ns * 1e3 * cycles / sops
    leak = power_w["leakage"] * period_ns * 1e3 * cycles / sops
    s28 = scale_energy(dyn)
    s28_ref = scale_energy(dyn, to_vdd=SCALING["ref_vdd"])
    return {"dynamic_pj_per_sop": dyn, "leakage_pj_per_sop": leak, "leakage_share": leak / (dyn + leak),
            "pj_per_sop_28nm_0v9": s28, "tsops_per_w_28nm_0v9": 1.0 / s28,
            "pj_per_sop_28nm_0v55": s28_ref, "tsops_per_w_28nm_0v55": 1.0 / s28_ref}


def prelayout_energy(cfg, out_dir: Path, models=WIRE_MODELS, calibration: dict | None = None, clock_ns: float = 10.0,
                     seed: int = 0, rate: float = 0.2, reuse: bool = True, sram_macros: bool = True,
                     log=print) -> dict:
    """Pre-layout energy of ``cfg``'s workload (module docstring): synthesis in ``out_dir/2d``,
    activity in ``out_dir/activity.json``, one OpenSTA analysis per wire model of ``models`` in
    ``out_dir/2d/prelayout_<model>``; writes and returns ``energy.json`` (and ``energy.md``).
    ``sram_macros=False``: the GLBs as flip-flops (as a PPA run without ``--sram-macros``)."""
    for m in models:
        if m not in WIRE_MODELS:
            raise ValueError(f"wire_model: {m!r} is not one of {', '.join(WIRE_MODELS)}")
    cal = calibration or CALIBRATION
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    top, text = generate_verilog(cfg, "2d", macros=sram_macros)
    syn = synthesize(text, top, out_dir / "2d", log, reuse=reuse)
    act = _cached_activity(cfg, out_dir, seed, rate, log) if reuse else simulate_activity(
        cfg, "2d", seed=seed, rate=rate, workdir=out_dir / "sim", log=log)
    net = (out_dir / "2d" / "work" / "sta_net.v").read_text()
    res = {"config": cfg.kind, "top": top, "clock_ns": clock_ns, "sram_macros": sram_macros,
           "method": "pre-layout: flow synthesis (Yosys + ABC, osu018, GLBs as "
                     + ("SRAM macros" if sram_macros else "flip-flops") + "), no place-and-route; "
                     "OpenSTA power with the simulated activity under a stated wire model",
           "synthesis": syn,
           "workload": {"seed": seed, "rate": rate, "cycles": act["cycles"], "sops": act["sops"],
                        "mean_toggle_rate": act["mean_toggle_rate"], "bits": act["bits"],
                        "sim_seconds": act.get("seconds")},
           "calibration": cal, "scaling": SCALING, "references": REFERENCES, "models": {}}
    for m in models:
        t1 = time.time()
        tcl, wire = wire_loads_tcl(net, m, syn["libs"], cal)
        log(f"[energy] {top}: wire model {m}: {wire['nets']} nets, {wire['total_c_pf']:.1f} pF of wire; OpenSTA ...")
        a = analyse_2d(cfg, out_dir, top, clock_ns, act, log, syn["libs"], loads=(tcl, f"prelayout_{m}"))
        e = energy(a.get("power_w"), act["cycles"], act["sops"], clock_ns, a.get("fmax_mhz"))
        row = {"wire": wire, "fmax_mhz": a.get("fmax_mhz"), "critical_path_ns": a.get("critical_path_ns"),
               "power_w": a.get("power_w"), "power_registers_w": a.get("power_registers_w"),
               "memory_access_ns": a.get("memory_access", {}).get("delay_ns"), "energy": e,
               "log": a.get("log"), "seconds": round(time.time() - t1, 1)}
        if e:
            row["per_sop"] = _split(a["power_w"], act["cycles"], act["sops"], clock_ns, e["period_ns"])
        res["models"][m] = row
    res["seconds"] = round(time.time() - t0, 1)
    (out_dir / "energy.json").write_text(json.dumps(res, indent=1) + "\n")
    (out_dir / "energy.md").write_text(energy_md(res))
    return res


def _f(x, fmt=".3g"):
    return "-" if x is None else format(x, fmt)


def energy_md(res: dict) -> str:
    """``energy.md`` of a :func:`prelayout_energy` result."""
    syn, w = res["synthesis"], res["workload"]
    lines = [f"# Pre-layout energy of {res['top']} (no place-and-route)", "",
             f"{res['method']}.", "",
             f"Synthesis: {syn['cells']} cells ({syn['flops']} flip-flops), {syn['macros']} SRAM macros, "
             f"{syn['seconds']:.0f} s. Workload: seed {w['seed']}, spike rate {w['rate']}: {w['cycles']} cycles, "
             f"{w['sops']} SOPs, mean toggle rate {w['mean_toggle_rate']:.4f} over {w['bits']} bits.", "",
             "| wire model | wire C (pF) | fmax (MHz) | internal (mW) | switching (mW) | leakage (µW) | "
             "pJ/SOP 0.18 µm | TSOPS/W 0.18 µm | pJ/SOP 28 nm 0.9 V | pJ/SOP 28 nm 0.55 V |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for m, r in res["models"].items():
        p, e, s = r.get("power_w") or {}, r.get("energy") or {}, r.get("per_sop") or {}
        lines.append("| " + " | ".join([
            m, _f(r["wire"]["total_c_pf"], ".1f"), _f(r["fmax_mhz"], ".1f"),
            _f(p.get("internal", 0) * 1e3, ".2f"), _f(p.get("switching", 0) * 1e3, ".2f"),
            _f(p.get("leakage", 0) * 1e6, ".3f"), _f(e.get("pj_per_sop"), ".2f"), _f(e.get("tsops_per_w"), ".4f"),
            _f(s.get("pj_per_sop_28nm_0v9"), ".3f"), _f(s.get("pj_per_sop_28nm_0v55"), ".3f")]) + " |")
    lines += ["", "Power at the STA clock of " f"{res['clock_ns']} ns with the measured activity; energy per "
              "cycle = (internal + switching) x clock period (it does not depend on the clock) + leakage x the "
              "period at that model's fmax, as `flows/ppa/analysis.py` `energy()` computes it for the routed runs.",
              "", f"Scaling: {res['scaling']['rule']}.", "",
              "Wire models: `none` — pin capacitance only (a lower bound); `fanout` — C = "
              f"{_f((res['calibration'] or {}).get('c0_pf'), '.4g')} pF + "
              f"{_f((res['calibration'] or {}).get('c_fo_pf'), '.4g')} pF x fanout per net, fitted to "
              f"{(res['calibration'] or {}).get('source')}.", "", "Published (28 nm FDSOI, measured):", ""]
    for name, ref in res["references"].items():
        lines.append(f"- {name}: {ref['pj_per_sop']} pJ/SOP at {ref['vdd']} V ({ref['cite']}); SOP: {ref['sop']}.")
    lines += ["", "SOP here: one synaptic addition of a weight for an input spike (MoE: the routed experts' "
              "adds, both expert layers; MHA: also the ANDs of Q·Kᵀ and the adds of A·V), counted by the layer "
              "plan as the benchmarks count them."]
    return "\n".join(lines) + "\n"
