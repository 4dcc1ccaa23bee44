"""The steps of the PPA flow between generating the Verilog and analysing the routed designs:
one flow run (or its earlier report), a tier's hardened blocks, both tiers in one footprint, the
F2F bonds as area pins."""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..builtin.bondpins import plan_bonds, read_lefs, with_bond_pins
from ..builtin.flow import run_flow
from ..formats.def_ import def_stats
from ..formats.verilog import block_classes, replace_with_macro
from ..builtin.harden import harden_for
from ..builtin.platform import OSU018
from ..analysis.sta3d import bus_bits
from .options import FlowJob

__all__ = ["run_job", "flow_or_reuse", "harden_tier", "spread_to_common_footprint", "bond_ports", "area_bond_pins", "swap_blocks"]


def run_job(job: FlowJob, out_dir: Path, clock_ns: float, activity: float, log, **flow_options) -> dict:
    """:func:`~spikestack.flows.builtin.flow.run_flow` of one job in ``out_dir/<job.name>``.

    A first placement (no ``flow_options``) of a design below ``OSU018.knobs.large_cells`` that
    leaves failed routes is placed again at each of ``OSU018.knobs.decongest_densities`` in turn
    (qflow's ``initial_density``: fill cells pad the core, the die grows) until one routes to 0
    failed: qflow packs such a design to about 0.9 utilisation, and a denser one (more flip-flop
    muxes per cell) can leave a few dozen nets unrouted there. The report keeps every attempt
    (``decongest``) and its run time counts them all."""
    def flow(**options) -> dict:
        return run_flow(job.text, job.top, Path(out_dir) / job.name, clock_ns, activity, job.port_loads_pf,
                        job.input_delays_ns, log, blocks=job.blocks, **options)

    def attempt(density, r: dict) -> dict:
        return {"density": density, "failed_routes": r["failed_routes"], "die_area_um2": r["die_area_um2"],
                "utilisation": r["utilisation"], "seconds": r["total_seconds"]}

    rep = flow(**flow_options)
    if flow_options or not rep["failed_routes"] or rep["cells"] > OSU018.knobs.large_cells:
        return rep
    tries = [attempt(None, rep)]
    for density in OSU018.knobs.decongest_densities:
        if not rep["failed_routes"]:
            break
        if rep["utilisation"] is not None and rep["utilisation"] <= density:
            continue
        log(f"[ppa] {job.name}: {rep['failed_routes']} failed routes at utilisation {rep['utilisation']:.2f}; "
            f"placing again at density {density} ...")
        rep = flow(project_vars={"initial_density": f"{density:.3f}"})
        tries.append(attempt(density, rep))
    if len(tries) == 1:
        return rep
    rep["decongest"] = tries
    rep["total_seconds"] = round(sum(a["seconds"] for a in tries), 2)
    (Path(out_dir) / job.name / "ppa.json").write_text(json.dumps(rep, indent=1) + "\n")
    return rep


def flow_or_reuse(job: FlowJob, out_dir: Path, reuse: bool, clock_ns: float, activity: float, log) -> dict:
    """:func:`run_job`, or its earlier report when ``reuse`` and the job's directory holds a
    finished run of the same Verilog (for re-analysing routed designs without routing them again)."""
    out = Path(out_dir) / job.name
    src = out / "work" / "source" / f"{job.top}.v"
    if reuse and (out / "ppa.json").exists() and src.exists() and src.read_text() == job.text \
            and (out / "work" / "sta_net.v").exists():
        return _with_def_stats(json.loads((out / "ppa.json").read_text()), out / "work" / f"{job.top}.def")
    return run_job(job, out_dir, clock_ns, activity, log)


def _with_def_stats(rep: dict, routed_def: Path) -> dict:
    """A stored report with its die and wirelength read again from its routed DEF (what they count
    may have changed since the report was written)."""
    return dict(rep, **def_stats(routed_def.read_text()))


def harden_tier(text: str, tier: str, out_dir: Path, grain: str, abstracts, hashes, clock_ns: float,
                 activity: float, hier: dict, log):
    """A tier's text with its blocks of ``grain`` as macros: the 2D macros where the tier's blocks are
    the same class (same text up to local names); else (the tier generator writes a block's ports
    as buses where the 2D top has them bit by bit, another interface) the tier's own repeated
    blocks of that grain, hardened once for the tier. Returns (text, the abstracts it uses)."""
    swapped = swap_blocks(text, abstracts, hashes)
    if swapped != text:
        return swapped, abstracts
    try:
        new, tabs, _, summary = harden_for(text, Path(out_dir) / f"macros_{tier}", grain, clock_ns, activity, log,
                                           prefix=f"{tier}_")
    except ValueError:
        return text, None                  # no block of that grain on this tier
    hier.setdefault("tier_macros", {})[tier] = summary
    return new, tabs


def spread_to_common_footprint(reps: dict, jobs: list[FlowJob], out_dir: Path, clock_ns: float, activity: float, log) -> dict | None:
    """Both tiers in one footprint: the tier with the smaller die is placed again with qflow's
    ``initial_density`` (decongest pads the placement with fill cells) chosen so that its die
    comes out at about the larger tier's, then routed and timed again; its report replaces the
    first one in ``reps``. The die is not set exactly (graywolf sizes it from the padded cells):
    the density is ``1.12 x`` std-cell area / (target die - 1.3 x macro area), the factors
    measured on these flows (pin ring and row margins; macro columns with their gaps)."""
    a, b = reps["tier_top"], reps["tier_bottom"]
    big, small = ("tier_top", "tier_bottom") if a["die_area_um2"] >= b["die_area_um2"] else ("tier_bottom", "tier_top")
    target, r = reps[big]["die_area_um2"], reps[small]
    info = {"target_tier": big, "tier": small, "target_um2": target, "first_die_um2": r["die_area_um2"]}
    if r["die_area_um2"] >= 0.95 * target:
        return dict(info, density=None, die_um2=r["die_area_um2"])
    free = max(target - 1.3 * r.get("macro_area_um2", 0.0), r["cell_area_um2"])
    density = min(0.95, max(0.05, 1.12 * r["cell_area_um2"] / free))
    job = next(j for j in jobs if j.name == small)
    log(f"[ppa] {small}: placing again at density {density:.2f} to fill {big}'s die ({target:.0f} um2) ...")
    reps[small] = run_job(job, out_dir, clock_ns, activity, log, project_vars={"initial_density": f"{density:.3f}"})
    return dict(info, density=round(density, 3), die_um2=reps[small]["die_area_um2"],
                first_seconds=r["total_seconds"], seconds=reps[small]["total_seconds"])


def bond_ports(fmap: dict) -> dict[str, dict[str, str]]:
    """Tier -> {bond port bit (as the tier's DEF names it): INPUT / OUTPUT}."""
    out = {"tier_top": {}, "tier_bottom": {}}
    for b in fmap["bonds"]:
        src, dst = b["direction"].split("->")
        for bit in bus_bits(b["name"], b["width"] - 1 if b["width"] > 1 else -1, 0):
            out[src][bit], out[dst][bit] = "OUTPUT", "INPUT"
    return out


def _rerouted(work: Path, tier: str) -> dict | None:
    """A tier's finished re-route with bond pins (its report), or ``None``."""
    rep, routed, placed = work.parent / "ppa.json", work / f"{tier}.def", work / f"{tier}_unroute.def"
    if not (rep.exists() and routed.exists() and placed.exists() and (work / "sta_net.v").exists()):
        return None
    r = json.loads(rep.read_text())
    # a re-route stopped before qrouter wrote its result leaves the placed DEF under the routed name
    finished = routed.stat().st_mtime >= placed.stat().st_mtime and "+ ROUTED" in routed.read_text()
    return _with_def_stats(r, routed) if "first_routing" in r.get("step_seconds", {}) and finished else None


def area_bond_pins(reps: dict, jobs: list[FlowJob], out_dir: Path, fmap: dict, pitch_um: float, clock_ns: float,
                    activity: float, log, reuse: bool = False) -> dict:
    """F2F bonds as area pins (:mod:`spikestack.flows.builtin.bondpins`): one location per bond from both
    tiers' placements, written into both tiers' DEFs as ``metal6`` pins; both tiers are routed,
    extracted and timed again (in parallel). Their reports replace the first ones in ``reps``.
    ``reuse``: both tiers' finished re-routes with the same bond locations are kept."""
    t0 = time.time()
    tiers = ("tier_top", "tier_bottom")
    works = {t: Path(out_dir).resolve() / t / "work" for t in tiers}
    defs = {t: (works[t] / f"{t}_unroute.def").read_text() for t in tiers}
    geo = {}
    for t in tiers:
        geo.update(read_lefs(works[t], OSU018.stdcell_lef))
    ports = bond_ports(fmap)
    plan = plan_bonds(defs, geo, sorted(ports["tier_top"]), pitch_um)
    plan_s = time.time() - t0
    record = Path(out_dir) / "bond_pins.json"
    locations = {p: list(xy) for p, xy in plan.locations.items()}
    done = {t: _rerouted(works[t], t) for t in tiers} if reuse and record.exists() else {}
    if done and all(done.values()) and json.loads(record.read_text())["locations"] == json.loads(json.dumps(locations)):
        log(f"[ppa] F2F bonds as area pins: reusing both tiers' routings with the same {len(locations)} bonds")
        reps.update(done)
        jobs = []
    else:
        log(f"[ppa] F2F bonds as area pins: {len(plan.locations)} bonds on a {plan.grid_um[0]:.1f} x "
            f"{plan.grid_um[1]:.1f} um grid; routing both tiers again ...")

    def edit(tier):
        def write(work):
            (work / f"{tier}_unroute.def").write_text(with_bond_pins(defs[tier], plan.locations, ports[tier]))
        return write

    with ThreadPoolExecutor(max_workers=2) as pool:
        futs = {}
        for job in jobs:
            if job.name in tiers:
                futs[job.name] = pool.submit(run_job, job, out_dir, clock_ns, activity, log, reroute=edit(job.name))
        for name, f in futs.items():
            reps[name] = f.result()
    record.write_text(json.dumps({"locations": locations, "grid_um": plan.grid_um}, indent=1) + "\n")
    return {"method": "area pins on metal6 at the midpoint of the two tiers' pin centroids (one-pass, "
                      "post-placement form of Pin-3D's inter-tier via planning)",
            "bonds": len(plan.locations), "grid_um": list(plan.grid_um), "pitch_um": pitch_um,
            "mean_offset_um": {t: round(v, 1) for t, v in plan.offsets_um.items()},
            "without_cells": plan.unplaced, "plan_seconds": round(plan_s, 2),
            "seconds": round(time.time() - t0, 1)}


def swap_blocks(text: str, abstracts, hashes: dict[str, str]) -> str:
    """Every module of ``text`` in a hardened class becomes an instance of its macro."""
    for ab in abstracts:
        cls = block_classes(text)
        members = [m for m, h in cls.items() if h == hashes[ab.name]]
        if members:
            text = replace_with_macro(text, members, ab.name, ab.verilog.read_text())
    return text
