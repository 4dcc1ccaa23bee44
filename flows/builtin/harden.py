"""Hierarchical P&R, first half: harden a repeated block once into a macro with an abstract.

``harden(verilog_text, module, out_dir, clock_ns)`` runs the built-in flow
(:func:`.builtin.run_flow`) on one block and writes its **abstract**, the triple a parent flow
consumes exactly as it consumes an SRAM macro:

* ``<name>.lef`` — one ``MACRO`` (``CLASS BLOCK``, ``SIZE`` = the routed die, origin at the die's
  lower-left corner). Every port bit is a ``PIN`` on the layer and at the place the routed DEF has
  it, its ``RECT`` stretched from the pin to the nearest die edge across the pin ring (the block
  routes there only perpendicular to the edge, to reach its pins). ``OBS`` covers the core on every
  layer the block routes on, and the pin ring on the layers that run along each side (as qflow's
  own router obstructions do). The block is routed on ``metal1..metal<route_layers>`` only (default
  4 of the 6 osu018 layers), so ``metal5``/``metal6`` stay free for the parent over the macro.
* ``<name>.lib`` — a liberty timing model built from OpenSTA on the routed block (qrouter's wire
  capacitance per net, the clock propagated through the block's clock buffers). This OpenSTA
  (2.0.17) has no ``write_timing_model``, so the model is built here from ``find_timing_paths`` /
  ``report_checks``, per port bit:

  - input: ``capacitance`` = the input pins it drives + its wire; ``setup_rising`` = period −
    worst setup slack of the paths from that input to a register (input delay 0), ``hold_rising``
    = − worst hold slack of the same paths (both = data delay + the flop's check − the clock's
    insertion delay to that flop);
  - output: ``rising_edge`` arc from ``clk`` = the latest clock → output arrival, a two-point table
    in the output load (the block's own wire plus 0 and
    the platform's ``knobs.load_step_pf``), with the port's slew;
  - a ``combinational`` arc input → output wherever a path exists, its delay the worst arrival with
    the same load slope as the output;
  - ``area`` = the die; ``cell_leakage_power`` from ``report_power``; the block's internal +
    switching power at the stated activity as an energy per ``clk`` cycle on the ``clk`` pin
    (``rise_power``/``fall_power``, scaled so OpenSTA's ``report_power`` gives the block's power back).

  Rise and fall use the worse of the two; delays are max (setup) values.
* ``<name>_min.lib`` — the same model with the shortest clk -> output and input -> output delays,
  for ``read_liberty -min`` (hold checks in the parent).
* ``<name>.v`` — the Verilog blackbox (same module name, same ports); ``<name>.spc``, the routed
  block's transistor-level subcircuit from qflow, completes what a qflow ``hard_macros``
  directory holds (its synthesis reads the ``.lib`` with ``read_liberty -lib``, placement and
  routing the ``.lef``). Yosys and qrouter read these files as written.

Which blocks repeat (classes of identical modules, one macro per class) is read from the Verilog
text by :func:`spikestack.flows.formats.verilog.block_classes`; the Verilog, DEF, LEF and liberty
readers and writers are in :mod:`spikestack.flows.formats`, the OpenSTA run in
:mod:`spikestack.flows.builtin.characterise`; this module runs the flow and writes the abstract.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ...config import load_config
from ...gen.generate import generate_verilog
from .blockcache import block_key, building, cache_enabled, commit, entry, materialise
from .flow import run_flow
from .characterise import characterise
from ..formats.lef import write_lef
from ..formats.liberty import write_liberty
from ..formats.verilog import (blackbox, block_classes, clean_ports, descendants, extract_module, modules, port_bits,
                              port_decls, repeated_blocks, replace_with_macro)
from .platform import OSU018, FlowError

__all__ = ["MacroAbstract", "harden", "harden_repeated", "harden_for", "GRAINS", "block_options", "port_bit_count"]


@dataclass
class MacroAbstract:
    """A hardened block: the files a parent flow reads (LEF, liberty, Verilog blackbox)."""
    name: str
    lef: Path
    lib: Path
    verilog: Path
    width_um: float
    height_um: float
    clock_ns: float
    route_layers: int
    pins: dict[str, dict] = field(default_factory=dict)   # bit name -> {dir, layer, rect}
    flow: dict = field(default_factory=dict)              # run_flow's report
    timing: dict = field(default_factory=dict)            # the characterisation (see characterise)
    seconds: dict = field(default_factory=dict)
    lib_min: Path | None = None                           # the min-delay model (read_liberty -min)
    cache: dict = field(default_factory=dict)             # {"key", "hit"}: the block cache (flows.blockcache)

    def to_json(self) -> str:
        d = asdict(self)
        for k in ("lef", "lib", "verilog", "lib_min"):
            d[k] = str(d[k]) if d[k] is not None else None
        return json.dumps(d, indent=1) + "\n"


def harden(verilog_text: str, module: str, out_dir: Path, clock_ns: float = 10.0, *, name: str | None = None,
           activity: float = 0.1, route_layers: int = 4, clock: str = "clk", log=print,
           blocks: list | None = None, output_buffers: bool = True) -> MacroAbstract:
    """Harden ``module`` of ``verilog_text`` (the text's top, or any module in it, which is then
    extracted with everything below it) and write its abstract into ``out_dir``:
    ``<name>.lef``, ``<name>.lib``, ``<name>.v``, ``abstract.json``; the flow's files stay in
    ``out_dir/flow``. ``name`` (the macro cell) defaults to the module's last path component.
    ``blocks``: hardened sub-blocks (abstracts) the text instantiates as macros — the block is then
    the next level of the hierarchy, placed and routed with them and timed through their models.
    ``output_buffers=False``: no buffer cell added on every output (qflow's ``nobuffers``); the
    outputs are driven by their logic (or by the one buffer an output wired straight to a
    sub-block's pin still gets).

    Cached (:mod:`spikestack.flows.builtin.blockcache`): a block hardened before with the same Verilog,
    knobs, sub-blocks and tools is copied from ``<cache>/blocks/<key>`` and not hardened again
    (``MacroAbstract.cache``: its key and whether it was a hit)."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    mods = modules(verilog_text)
    if module not in mods:
        raise ValueError(f"harden: no module {module!r} in the Verilog")
    name = name or re.sub(r"\W", "_", module.split(".")[-1])
    text = verilog_text if name == module and len(descendants(mods, module)) == len(mods) \
        else extract_module(verilog_text, module, name)
    text = clean_ports(text, name)
    args = dict(clock_ns=clock_ns, activity=activity, route_layers=route_layers, clock=clock,
                output_buffers=output_buffers)
    if not cache_enabled():
        return _harden_into(text, name, out_dir, log=log, blocks=blocks, **args)
    key = block_key(text, name, args, blocks)
    hit, built = entry(key), False
    if hit is None:
        with building(key) as (hit, build):
            if hit is None:
                log(f"[harden] {name}: not in the block cache, hardening into {build} ...")
                t0 = time.time()
                try:
                    ab = _harden_into(text, name, build, log=log, blocks=blocks, **args)
                except FlowError:           # the logs where the caller looks for them; the build stays
                    if (build / "flow" / "logs").is_dir():
                        shutil.rmtree(out_dir / "flow" / "logs", ignore_errors=True)
                        shutil.copytree(build / "flow" / "logs", out_dir / "flow" / "logs")
                    raise
                ab.timing["cache_key"] = key
                (build / "abstract.json").write_text(ab.to_json())
                hit = commit(key, build, {
                    "name": name, "key": key, "cells": ab.flow.get("cells"), "macros": ab.flow.get("macros", 0),
                    "die_um": [ab.width_um, ab.height_um], "pins": len(ab.pins),
                    "failed_routes": ab.flow.get("failed_routes"), "route_layers": route_layers,
                    "clock_ns": clock_ns, "inner": sorted(b.name for b in blocks or ()), "seconds": ab.seconds,
                    "wall_seconds": round(time.time() - t0, 2)})
                built = True
    materialise(hit, out_dir)
    d = json.loads((out_dir / "abstract.json").read_text())
    for k in ("lef", "lib", "verilog", "lib_min"):
        d[k] = out_dir / Path(d[k]).name if d.get(k) else None
    d["cache"] = {"key": key, "hit": not built}
    outs = d["timing"].get("outputs_ns") or {}        # JSON made the output loads' keys text: numbers again
    d["timing"]["outputs_ns"] = {o: {k: {float(x): v for x, v in arcs.items()} for k, arcs in kinds.items()}
                                 for o, kinds in outs.items()}
    ab = MacroAbstract(**d)
    ab.timing["cache_key"] = key
    (out_dir / "abstract.json").write_text(ab.to_json())
    log(f"[harden] {name}: " + (f"hardened and stored in the block cache {key[:12]}" if built else
                                 f"taken from the block cache {key[:12]} (hardened nothing)"))
    return ab


def _harden_into(text: str, name: str, out_dir: Path, *, clock_ns: float, activity: float, route_layers: int,
                 clock: str, output_buffers: bool, log, blocks) -> MacroAbstract:
    """:func:`harden`'s work, uncached: the flow and the abstract of ``name`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    for attempt in (1, 2):          # graywolf now and then exits with status 2 on a design it places
        try:                        # fine on the next run: one retry
            rep = run_flow(text, name, out_dir / "flow", clock_ns=clock_ns, activity=activity, log=log,
                           project_vars={**({"route_layers": str(route_layers)} if route_layers else {}),
                                         **({} if output_buffers else {"nobuffers": "1"})} or None,
                           blocks=blocks)
            break
        except FlowError as e:
            if attempt == 2 or "placement" not in str(e):
                raise
            log(f"[harden] {name}: {e}; retrying once")
    t_flow = time.time() - t0
    if rep["failed_routes"] is None:      # qrouter 1.4.71 ends with "Final: Failed net routes: N"
        m = re.search(r"Final: Failed net routes: (\d+)", (out_dir / "flow" / "logs" / "route.log").read_text())
        rep["failed_routes"] = int(m.group(1)) if m else None
    if rep["failed_routes"] is None or rep["failed_routes"]:
        what = "no routing result in the route log" if rep["failed_routes"] is None \
            else f"{rep['failed_routes']} failed routes (route_layers {route_layers})"
        raise FlowError(f"harden {name}: {what}; no abstract written")
    work = out_dir / "flow" / "work"
    t0 = time.time()
    log(f"[harden] {name}: characterising the routed block (OpenSTA) ...")
    timing = characterise(work, name, clock_ns, activity, clock=clock, log_path=out_dir / "flow" / "logs" /
                          "characterise.log", libs=[v["liberty"] for v in rep.get("macro_views", {}).values()])
    netlist = (work / "sta_net.v").read_text()
    dirs = dict(port_bits(netlist, name))
    geo = write_lef(name, (work / f"{name}.def").read_text(), (work / f"{name}.cfg").read_text(), dirs,
                    out_dir / f"{name}.lef")
    missing = sorted(b for b in dirs if b not in geo["pins"])
    if missing:                 # a port the parent could not reach: no abstract rather than a wrong one
        raise FlowError(f"harden {name}: {len(missing)} ports have no placed pin in the routed DEF "
                        f"(e.g. {', '.join(missing[:3])}); no abstract written")
    write_liberty(name, timing, geo["width"] * geo["height"], out_dir / f"{name}.lib")
    write_liberty(name, timing, geo["width"] * geo["height"], out_dir / f"{name}_min.lib", corner="min")
    (out_dir / f"{name}.v").write_text(blackbox(name, modules(text)[name].text))   # ports in RTL order
    spc = work / f"{name}.spc"                   # qflow's hard-macro directories also carry a SPICE subckt
    if spc.exists():
        (out_dir / f"{name}.spc").write_text(spc.read_text())
    t_abs = time.time() - t0
    ab = MacroAbstract(name, out_dir / f"{name}.lef", out_dir / f"{name}.lib", out_dir / f"{name}.v",
                       geo["width"], geo["height"], clock_ns, route_layers, geo["pins"], rep, timing,
                       {"flow": round(t_flow, 2), "abstract": round(t_abs, 2)}, out_dir / f"{name}_min.lib")
    ab.timing["obs_layers"] = geo["obs_layers"]
    ab.timing["core_um"] = geo["core"]
    (out_dir / "abstract.json").write_text(ab.to_json())
    log(f"[harden] {name}: {rep['cells']} cells, {geo['width']} x {geo['height']} um, "
        f"{len(geo['pins'])} pins, routed on {', '.join(geo['obs_layers'])}; flow {t_flow:.0f} s")
    return ab


def _stem(path: str) -> str:
    """A class's macro stem: the last component of its first member's path, without its index."""
    return re.sub(r"\W", "_", path.split(".")[-1]).rstrip("_0123456789")


def harden_repeated(verilog_text: str, out_dir: Path, clock_ns: float = 10.0, *, select=None, min_count: int = 2,
                    activity: float = 0.1, route_layers: int = 4, log=print,
                    jobs: int = 1, blocks: list | None = None) -> tuple[str, list[MacroAbstract]]:
    """Harden each distinct repeated block once and swap every instance for its macro.

    ``select(members) -> macro name or None`` picks the classes (lists of identical modules, see
    :func:`repeated_blocks`; default: the outermost ones, named after their first member's last
    path component). Classes are hardened smallest first, each into ``out_dir/<name>``. Returns
    the parent's Verilog (blackboxes appended) and the abstracts; ``out_dir/macros.json`` lists,
    per macro, its files, its instances and the hardening time. ``blocks``: macros of the level
    below (abstracts) the text already instantiates: a class that holds them is hardened with
    them inside (the next level of a nested hierarchy), its route layers and output buffers chosen
    by its port bits (:func:`block_options`)."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    if select is None:
        chosen = [(g, _stem(g[0]) or "macro")
                  for g in repeated_blocks(verilog_text, min_count, outermost=True)]
    else:
        chosen = [(g, select(g)) for g in repeated_blocks(verilog_text, min_count)]
        chosen = [(g, n) for g, n in chosen if n]
    mods = modules(verilog_text)
    covered: set[str] = set()
    picked = []
    depth = {g[0]: len(descendants(mods, g[0])) for g, _ in chosen}
    for g, n in sorted(chosen, key=lambda c: (-depth[c[0][0]], -len(mods[c[0][0]].text))):   # outer first: skip nested
        if set(g) & covered:
            continue
        for m in g:
            covered |= set(descendants(mods, m))
        picked.append((g, n))
    names = [n for _, n in picked]
    if len(set(names)) != len(names):
        raise ValueError(f"harden_repeated: two classes would share a macro name ({names})")
    text, abstracts, listing = verilog_text, [], {}
    picked = sorted(picked, key=lambda c: len(mods[c[0][0]].text))

    def one(c):
        layers, buffered = route_layers, True
        if blocks:                  # a class around macros of the level below: a block like any other
            layers, buffered = block_options(verilog_text, c[0][0], route_layers)
        return harden(verilog_text, c[0][0], out_dir / c[1], clock_ns, name=c[1], activity=activity,
                      route_layers=layers, log=log, blocks=blocks, output_buffers=buffered)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:      # classes are independent jobs
        done = list(pool.map(one, picked))
    for (g, n), ab in zip(picked, done):
        text = replace_with_macro(text, g, n, ab.verilog.read_text())
        abstracts.append(ab)
        listing[n] = {"lef": str(ab.lef), "lib": str(ab.lib), "verilog": str(ab.verilog), "instances": g,
                      "cells": ab.flow["cells"], "size_um": [ab.width_um, ab.height_um], "seconds": ab.seconds}
    (out_dir / "macros.json").write_text(json.dumps(listing, indent=1) + "\n")
    return text, abstracts


def port_bit_count(verilog_text: str, module: str) -> int:
    """The port bits of ``module`` in a Verilog text (each ``input``/``output`` declaration's width)."""
    m = modules(verilog_text)[module]
    n = 0
    for d in port_decls(m.text, m.ports):
        r = re.search(r"\[\s*(\d+)\s*:\s*(\d+)\s*\]", d)
        n += abs(int(r.group(1)) - int(r.group(2))) + 1 if r else 1
    return n


def block_options(verilog_text: str, module: str, route_layers: int = 4) -> tuple[int, bool]:
    """``(route layers, output buffers)`` of a block hardened around macros of the level below:
    ``route_layers`` up to ``OSU018.knobs.narrow_pins`` port bits, all six beyond (its nets then
    cross its inner macros); buffered outputs up to ``OSU018.knobs.buffered_pins`` port bits
    (see :mod:`spikestack.flows.builtin.blockmacros`)."""
    bits = port_bit_count(verilog_text, module)
    return (route_layers if bits <= OSU018.knobs.narrow_pins else 6), bits <= OSU018.knobs.buffered_pins


GRAINS = {"pe": r"\.pe_\d+_\d+$", "pe_array": r"\.pe_array$", "core": r"\.core$", "expert_core": r"\.expert_core_\d+$",
          "attention_core": r"\.attention_core_\d+$", "proj_core": r"\.proj_core_\d+$",
          "repeated": None,      # every outermost repeated class (PEs, lanes, ...)
          "lanes": None}         # the same but the PEs: the PE array stays flat in its block
_PE = re.compile(r"\.pe_\d+_\d+(\.|$)")


def harden_for(text: str, out_dir: Path, grain: str, clock_ns: float, activity: float, log=print, prefix: str = "",
               jobs: int = 1, blocks: list | None = None, min_count: int = 2):
    """Hierarchical step of the PPA flow: harden each distinct block of ``grain`` (a key of
    :data:`spikestack.flows.builtin.harden.GRAINS`: ``pe``, ``pe_array``, ``expert_core``, ...) of a
    Verilog text once (:func:`~spikestack.flows.builtin.harden.harden_repeated`), the macros named
    ``<prefix><grain>_macro[N]`` (grain ``repeated``: every outermost repeated class,
    ``<prefix><block>_macro``; ``jobs`` classes hardened at once). Returns the parent text, the abstracts, per macro the class hash
    of its blocks (to find them in the tiers) and a summary for the report: the wall time and, per
    macro, its instances, cells, size, times and files. ``ValueError`` if no block matches.
    ``blocks``: the macros of the grain below, already in the text (a nested hierarchy, e.g. the
    ``pe`` macros inside a ``pe_array``); ``min_count``: instances a named grain needs to be
    hardened (1 inside a hardened block, which holds one ``pe_array``)."""
    if grain not in GRAINS:
        raise ValueError(f"harden grain {grain!r}: choose one of {', '.join(sorted(GRAINS))}")
    pattern = GRAINS[grain]
    names = {}

    mods = modules(text)
    inner = "".join(f"|{re.escape(ab.name)}" for ab in blocks or ())
    hard = re.compile(rf"^\s*(?:spikestack_sram_\w+|\w+_block{inner})\s+\S+\s*\(", re.M)   # SRAM, block, inner cells

    def holds_macro(name: str) -> bool:
        return any(hard.search(mods[d].body) for d in descendants(mods, name))

    def select(g):
        if pattern is None and holds_macro(g[0]):
            return None                     # a GLB's SRAM wrapper or a block's box: already a macro
        if grain == "lanes" and _PE.search(g[0]):
            return None                     # a PE or a block inside one: left flat
        if pattern is None:                 # "repeated": every class, named after its blocks
            stem = _stem(g[0]) or "block"
            taken = sum(1 for n in names.values() if n.startswith(f"{prefix}{stem}_macro"))
            return names.setdefault(g[0], f"{prefix}{stem}_macro" + (str(taken) if taken else ""))
        if not re.search(pattern, g[0]):
            return None
        names.setdefault(g[0], f"{prefix}{grain}_macro" + (str(len(names)) if names else ""))
        return names[g[0]]
    t0 = time.time()
    cls = block_classes(text)
    parent, abstracts = harden_repeated(text, out_dir, clock_ns, select=select, activity=activity, log=log,
                                        jobs=jobs, blocks=blocks, min_count=min_count if pattern else 2)
    if not abstracts:
        raise ValueError(f"harden grain {grain!r}: no repeated block of the design matches {pattern}")
    listing = json.loads((Path(out_dir) / "macros.json").read_text())
    hashes = {ab.name: cls[listing[ab.name]["instances"][0]] for ab in abstracts}
    summary = {"seconds": round(time.time() - t0, 2), "macros": {
        ab.name: {"instances": len(listing[ab.name]["instances"]), "cells": ab.flow["cells"],
                  "size_um": [ab.width_um, ab.height_um], "seconds": ab.seconds,
                  "step_seconds": ab.flow["step_seconds"], "step_cpu_seconds": ab.flow.get("step_cpu_seconds", {}),
                  "lef": str(ab.lef), "liberty": str(ab.lib), "cache": ab.cache}
        for ab in abstracts}}
    return parent, abstracts, hashes, summary


def main(argv=None) -> int:
    """``python -m spikestack.flows.builtin.harden CONFIG -o DIR [--grain pe|pe_array|expert_core|outermost]``:
    harden each distinct repeated block of a configuration's 2D top once and write the parent with
    the macros swapped in (``<top>_macros.v``) next to the macro directories and ``macros.json``."""
    ap = argparse.ArgumentParser(prog="python -m spikestack.flows.builtin.harden", description=main.__doc__)
    ap.add_argument("config")
    ap.add_argument("-o", required=True, help="output directory")
    ap.add_argument("--grain", default="outermost", choices=sorted(GRAINS) + ["outermost"])
    ap.add_argument("--clock-ns", type=float, default=10.0)
    ap.add_argument("--route-layers", type=int, default=4)
    args = ap.parse_args(argv)
    top, text = generate_verilog(load_config(args.config))
    select = None
    if args.grain == "lanes":
        select = lambda g: None if _PE.search(g[0]) else _stem(g[0])
    elif args.grain not in ("outermost", "repeated"):
        pattern = GRAINS[args.grain]
        select = lambda g: args.grain if re.search(pattern, g[0]) else None
    parent, abstracts = harden_repeated(text, Path(args.o), args.clock_ns, select=select,
                                        route_layers=args.route_layers)
    (Path(args.o) / f"{top}_macros.v").write_text(parent)
    for ab in abstracts:
        n = len(json.loads((Path(args.o) / "macros.json").read_text())[ab.name]["instances"])
        print(f"{ab.name}: {ab.flow['cells']} cells, {ab.width_um} x {ab.height_um} um, x{n} instances, "
              f"hardened in {ab.seconds['flow'] + ab.seconds['abstract']:.0f} s ({ab.lef}, {ab.lib}, {ab.verilog})")
    print(f"wrote {Path(args.o) / f'{top}_macros.v'} and {Path(args.o) / 'macros.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
