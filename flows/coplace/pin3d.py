"""Tier-by-tier placement of both tiers, each seeing the other: after Pin-3D (Pentapati et al.,
ICCAD 2020), with graywolf.

Pin-3D places a two-tier design with a 2D placer one tier at a time, the other tier's cells fixed
where they are in 3D, and alternates the tiers for a few passes. Here each pass is one graywolf
placement of one tier's standard cells (its macros stay where :mod:`~spikestack.flows.builtin.macro_place`
puts them: the same columns every pass), with the other tier's pins of every bond net as fixed
zero-width attractor cells at their centroid (:mod:`.attract`), in the tier's frame
(:func:`~spikestack.flows.coplace.pins.tier_shift`). The passes start from the independent
flow's placements (each tier alone): the logic tier (``tier_bottom``) first — in a memory-on-logic
split that is Macro-3D's step, the logic placed under the memory macros' pins — then the other
tier, and so on. After every pass the half-perimeter wirelength of the whole 3D design
(:func:`~spikestack.flows.coplace.pins.hpwl`) is measured; the passes end after
``OSU018.knobs.pin3d_placements`` placements, or when a placement shortens it by less than
``pin3d_settle`` — a later placement is kept if it shortens it, else undone (the first, the logic
tier under the other tier's pins, always stands: it is the co-placed method's baseline step). With
``pin3d_bond_ties`` a placement that lengthens it by less than ``pin3d_settle`` (the same
wirelength, within the annealer's noise) and shortens the bond nets is kept too. Off by default:
on mha_ppa_small logic-on-logic it kept a top-tier placement of +0.2 % HPWL with 3.6x shorter bond
nets, and the routed wirelength came out 6 % longer (docs/3d-methods.md). graywolf anneals from
a fixed seed (qflow's ``*random.seed : 12345``); a later placement that is undone is annealed
again from other seeds (12346, ...: ``pin3d_retries`` more tries) before it ends the passes, and
the first try that stands is kept (on mha_ppa_small logic-on-logic the top tier's pass had lost
3.1 % and was undone, with its pin-to-bond distance 2.5 times the other rows').

Differences from Pin-3D, stated: Pin-3D projects the other tier's *cells* (with a shrunk
footprint in a combined placement) and is timing-driven (OpenROAD's RePlAce); here only the other
tier's pins of the *bond nets* are seen, as attractors, by a wirelength-driven annealing placer;
the tiers share one frame fixed before the first pass (the independent placements' alignment).

Interface: :func:`place_both_tiers`; each tier's last kept placement is in ``co/<tier>/work``
(its synthesised netlist, ``<tier>.def``, ``.pl1``/``.pl2``), the passes in ``co/pin3d.json``.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from pathlib import Path

from ..builtin.flow import FlowError, FlowRun, qflow_step, qflow_steps, set_up
from ..builtin.platform import OSU018, ensure_tools
from .attract import write_attract
from .pins import TIERS, attract_points, hpwl, tier_shift

__all__ = ["place_both_tiers"]


def _read(work: Path, tier: str) -> dict[str, str]:
    return {k: (work / f"{tier}{ext}").read_text() for k, ext in (("def", ".def"), ("pl1", ".pl1"), ("pl2", ".pl2"))}


SEED = 12345                    # qflow's graywolf seed (osu018.par)


def _key(jobs: dict, shift, passes: int, settle: float, retries: int) -> str:
    h = hashlib.sha256(json.dumps([shift, passes, settle] + ([retries] if retries else [])).encode())
    for t in TIERS:
        h.update(jobs[t].text.encode())
    return h.hexdigest()[:16]


def set_seed(par: Path, seed: int) -> None:
    """graywolf's ``*random.seed`` in the parameter file ``par`` set to ``seed``."""
    text, n = re.subn(r"^(\*random\.seed\s*:\s*)\d+", lambda m: f"{m.group(1)}{seed}", par.read_text(), flags=re.M)
    if n != 1:
        raise FlowError(f"{par}: no single '*random.seed' line to set graywolf's seed in")
    par.write_text(text)


def _kept(k: int, wl: dict, best: dict, settle: float, bond_ties: bool) -> bool:
    """Whether placement ``k`` (its 3D HPWL ``wl``) stands against the best kept so far (module
    docstring)."""
    if k == 0 or wl["total"] < best["total"]:
        return True
    return bond_ties and wl["total"] <= best["total"] * (1 + settle) and wl["bond"] < best["bond"]


def _same_decisions(rec: dict, settle: float, bond_ties: bool) -> bool:
    """Whether today's rule (:func:`_kept`) takes the recorded passes' decisions from their HPWLs."""
    best = rec["hpwl_um"]["independent"]
    for k, p in enumerate(rec["passes"]):
        if _kept(k, p["hpwl_um"], best, settle, bond_ties) != p["kept"]:
            return False
        best = p["hpwl_um"] if p["kept"] else best
    return True


def place_both_tiers(co: Path, jobs: dict, ind: dict[str, Path], geo: dict, bond_bits: set[str],
                     shift: tuple[float, float], log=print, reuse: bool = False) -> dict:
    """Alternating placements (module docstring) in ``co/<tier>``, from the independent runs' work
    directories ``ind[tier]``; ``jobs``: tier -> its flow job (Verilog text, macro blocks).
    Returns ``{"defs": tier -> placed DEF, "replaced": tiers placed here, "passes": [...],
    "hpwl_um": {"independent": ..., "final": ...}}``; ``reuse``: the passes of the same
    Verilog, frame and knobs already in ``co`` are kept."""
    knobs = OSU018.knobs
    record = co / "pin3d.json"
    key = _key(jobs, shift, knobs.pin3d_placements, knobs.pin3d_settle, knobs.pin3d_retries)
    if reuse and record.exists():
        rec = json.loads(record.read_text())
        if rec.get("key") == key and _same_decisions(rec, knobs.pin3d_settle, knobs.pin3d_bond_ties) and all((co / t / "work" / f"{t}.def").exists() for t in rec["replaced"]):
            log(f"[ppa] coplaced: reusing {len(rec['passes'])} tier placements in {co}")
            rec["defs"] = {t: (co / t / "work" / f"{t}.def").read_text() if t in rec["replaced"]
                           else (ind[t] / f"{t}_unroute.def").read_text() for t in TIERS}
            return rec
    state = {t: _read(ind[t], t) | {"def": (ind[t] / f"{t}_unroute.def").read_text()} for t in TIERS}
    defs = {t: state[t]["def"] for t in TIERS}
    wl0 = hpwl(defs, geo, bond_bits, shift)
    log(f"[ppa] coplaced: 3D half-perimeter wirelength of the independent placements: {wl0['total']:.0f} µm "
        f"(bond nets {wl0['bond']:.0f})")
    runs, synthesised, passes, replaced, best = {}, set(), [], set(), wl0
    for k in range(knobs.pin3d_placements):
        tier = ("tier_bottom", "tier_top")[k % 2]
        other = TIERS[0] if tier == TIERS[1] else TIERS[1]
        t0 = time.time()
        run = runs.setdefault(tier, FlowRun(jobs[tier].text, tier, co / tier, ensure_tools(), log))
        steps = qflow_steps(run)
        snap = run.out_dir / "synthesised"
        if tier not in synthesised:
            set_up(run, jobs[tier].blocks, None)
            qflow_step(run, 1, *steps[0])
            if snap.exists():
                shutil.rmtree(snap)
            shutil.copytree(run.work, snap)
            synthesised.add(tier)
        points = attract_points(defs[other], state[tier]["def"], state[tier]["pl1"], state[tier]["pl2"], geo,
                                bond_bits, tier_shift(tier, shift))
        prev = run.out_dir / "work.prev"
        if prev.exists():
            shutil.rmtree(prev)
        if tier in replaced:
            run.work.rename(prev)
        else:
            shutil.rmtree(run.work)
        for attempt in range(1 + (knobs.pin3d_retries if k else 0)):
            if attempt:
                shutil.rmtree(run.work)
            shutil.copytree(snap, run.work)
            write_attract(run.work / f"{tier}.attract", points)
            set_seed(run.work / f"{tier}.par", SEED + attempt)
            log(f"[ppa] coplaced: placement {k + 1} of at most {knobs.pin3d_placements}: {tier} with "
                f"{len(points)} bond pins of {other} as attractors" + (f", seed {SEED + attempt}" if attempt else "")
                + " ...")
            qflow_step(run, 2, *steps[1])
            new = _read(run.work, tier)
            wl = hpwl({**defs, tier: new["def"]}, geo, bond_bits, shift)
            gain = (best["total"] - wl["total"]) / best["total"] if best["total"] else 0.0
            kept = _kept(k, wl, best, knobs.pin3d_settle, knobs.pin3d_bond_ties)
            passes.append({"tier": tier, "attractors": len(points), "seed": SEED + attempt, "hpwl_um": wl,
                           "gain": round(gain, 4), "kept": kept, "seconds": round(time.time() - t0, 1)})
            log(f"[ppa] coplaced: {tier} placed: 3D wirelength {wl['total']:.0f} µm (bond nets {wl['bond']:.0f}), "
                f"{abs(100 * gain):.1f} % {'shorter' if gain >= 0 else 'longer'} than the best so far"
                + (": undone" if not kept else ", within the settle tolerance with shorter bond nets: kept"
                   if k and gain < 0 else ""))
            t0 = time.time()
            if kept:
                break
        if kept:
            state[tier], defs[tier], best = new, new["def"], wl
            replaced.add(tier)
        else:
            shutil.rmtree(run.work)
            if prev.exists():
                prev.rename(run.work)
        if not kept or (k >= 1 and gain < knobs.pin3d_settle):
            break
    for t in TIERS:
        if (co / t / "work.prev").exists():
            shutil.rmtree(co / t / "work.prev")
        if t not in replaced and (co / t).exists():
            shutil.rmtree(co / t)                  # a tier whose placement was never kept: the independent one stands
    rec = {"key": key, "replaced": sorted(replaced), "passes": passes,
           "hpwl_um": {"independent": wl0, "final": hpwl(defs, geo, bond_bits, shift)},
           "knobs": {"placements": knobs.pin3d_placements, "settle": knobs.pin3d_settle,
                     "bond_ties": knobs.pin3d_bond_ties, "retries": knobs.pin3d_retries}}
    record.write_text(json.dumps(rec, indent=1) + "\n")
    return rec | {"defs": defs}
