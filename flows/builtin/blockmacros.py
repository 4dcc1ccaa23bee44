"""The upper levels of hierarchical P&R: blocks of the design graph hardened into macros.

``harden_blocks(cfg, ["expert_core", "merge", ...], out_dir)`` takes blocks of a layer's graph
(:mod:`spikestack.hw.layers.graph`, by block name or by group: ``expert_core`` is every
``expert_core_<c>``, which are built alike) and, for each:

1. elaborates the block alone as the cell ``<name>_block``
   (:func:`spikestack.gen.generate.block_verilog`; GLBs inside it as SRAM macros with
   ``sram_macros``);
2. hardens its sub-blocks of the inner ``grains`` first, innermost first (``pe``, ...:
   :func:`spikestack.flows.builtin.harden.harden_for`, the text-based classes of
   :mod:`spikestack.flows.builtin.harden`), so a block is built from macros of the level below. The
   grains nest: each is hardened with the macros of the grains before it inside
   (``blocks=``), and a named grain needs one instance only (``pe,pe_array``: the PE macro, then
   the block's one PE array as a macro of 64 of them; ``repeated`` then: the block's other
   repeated sub-blocks, e.g. its LIF neurons). A sub-block around inner macros gets its route
   layers and output buffers by its port bits as the block does (:func:`~spikestack.flows.builtin.harden.block_options`);
   measured on the default MoE (shared machine), the PE-array level does not pay yet: its 2276
   nets nearly all join an I/O pin to a PE pin across a 1.77 x 1.29 mm die, and qrouter's first
   pass failed 481 of the first 497 (its stage-1 mask keeps a route near the net's bounding box,
   which a PE pin facing away from the I/O pin cannot leave; ``flow report: failed_net_kinds``);
3. hardens the block itself with those macros inside (:func:`spikestack.flows.builtin.harden.harden`
   with ``blocks=``): placed, routed, characterised through the sub-macros' liberty models, and
   written as a LEF + liberty abstract like any other macro. A block of up to ``OSU018.knobs.narrow_pins``
   port bits is routed on ``metal1..metal4`` (``route_layers``), around its inner macros, which
   block those layers, so the parent, routed on all six layers, crosses it on
   ``metal5``/``metal6``; a block that does not route so is routed again on one layer more (then
   the parent crosses it on ``metal6`` only). A wider block (an expert core of the default MoE
   has 2947 port bits and 128 inner macros) is routed on all six layers from the start: on four,
   its nets cannot cross its inner macros, and qrouter's first pass left 2595 of its first 5200
   nets unrouted in the channels between them. The parent routes around such a block, in the
   channels its keep-out leaves (:func:`spikestack.flows.builtin.macro_place.keepout`). A block of more
   than ``OSU018.knobs.buffered_pins`` port bits gets no output buffers (qflow's ``nobuffers``): an expert
   core's outputs otherwise got 1139 of them in its standard-cell core, beside the buffer Yosys
   already puts on an output wired straight to a sub-block's pin (its 1088-bit result word comes
   straight from the FIFO-lane macros), one unloaded.

Blocks are independent jobs and run ``jobs`` at a time (one tool per core). The parents — the 2D
top and both tiers — are then generated with those blocks as instances of their cells
(``boxes=``, :func:`spikestack.hw.layers.graph.boxed`), so all three instantiate the very same macro,
and the built-in flow places and routes them with the macros (``run_flow(blocks=...)``).
"""
from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ...config import load_config
from ...gen.generate import block_verilog
from ...hw.layers.graph import boxed
from ...hw.layers import design_for
from .harden import GRAINS, block_options, harden, harden_for
from .platform import FlowError

__all__ = ["cell_name", "check_blocks", "harden_blocks"]




def cell_name(block: str) -> str:
    """The macro cell of a hardened design block (or group)."""
    return f"{block}_block"


def check_blocks(cfg, names: list[str]):
    """Refuse unknown blocks, a name given twice, or a group named with a member (``ValueError``),
    by the same rules that generating the boxed tops applies (:func:`spikestack.hw.layers.graph.boxed`)."""
    if len(set(names)) != len(names):
        raise ValueError(f"blocks: named twice in {names}")
    boxed(design_for(cfg), {n: cell_name(n) for n in names})


def harden_blocks(cfg, names: list[str], out_dir: Path, *, grains=(), clock_ns: float = 10.0,
                  activity: float = 0.1, sram_macros: bool = False, route_layers: int = 4, jobs: int = 2,
                  log=print, flat=()) -> tuple[dict[str, str], list, dict]:
    """Harden each named block (see the module docstring) into ``out_dir/<name>``; the blocks of
    ``flat`` without inner macros (their ``grains`` left out: every cell of the block placed
    among the others). Returns
    ``(cells, abstracts, summary)``: block or group -> cell (the ``boxes`` of the parents'
    generation), the blocks' abstracts, and per block its cells, size, inner macros and times."""
    check_blocks(cfg, names)
    if set(flat) - set(names):
        raise ValueError(f"flat_blocks: {', '.join(sorted(set(flat) - set(names)))} not among the blocks "
                         f"{', '.join(names)}")
    out_dir = Path(out_dir).resolve()

    def one(name: str):
        t0 = time.time()
        cell = cell_name(name)
        d = out_dir / name
        text = block_verilog(cfg, name, cell, macros=sram_macros)
        inner, inner_summary = [], {}
        for g in (() if name in flat else grains):   # innermost first: each grain's macros hold the ones below
            try:
                text, abstracts, _, summary = harden_for(text, d / f"inner_{g}", g, clock_ns, activity, log,
                                                         prefix=f"{name}_", blocks=list(inner) or None, min_count=1)
            except ValueError:             # no block of that grain inside this one
                continue
            inner += abstracts
            inner_summary[g] = summary
        layers, buffered = block_options(text, cell, route_layers)
        log(f"[blocks] {name}: hardening {cell}" + (f" from {len(inner)} inner macro(s)" if inner else "")
            + f", routed on {layers} layers ...")
        try:
            ab = harden(text, cell, d, clock_ns, name=cell, activity=activity, route_layers=layers, log=log,
                        blocks=inner, output_buffers=buffered)
        except FlowError as e:
            if "failed routes" not in str(e) or layers >= 6:
                raise
            log(f"[blocks] {name}: {e}; again on {layers + 1} routing layers")
            ab = harden(text, cell, d, clock_ns, name=cell, activity=activity, route_layers=layers + 1,
                        log=log, blocks=inner, output_buffers=buffered)
        return ab, {"cell": cell, "cells": ab.flow["cells"], "macros": ab.flow.get("macros", 0),
                    "size_um": [ab.width_um, ab.height_um], "pins": len(ab.pins), "seconds": ab.seconds,
                    "step_seconds": ab.flow.get("step_seconds", {}),
                    "step_cpu_seconds": ab.flow.get("step_cpu_seconds", {}), "wall_seconds": round(time.time() - t0, 2),
                    "inner": inner_summary, "lef": str(ab.lef), "liberty": str(ab.lib),
                    "failed_routes": ab.flow.get("failed_routes"), "cache": ab.cache}

    t0 = time.time()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = dict(zip(names, pool.map(one, names)))
    summary = {"seconds": round(time.time() - t0, 2), "blocks": {n: s for n, (_, s) in results.items()}}
    (out_dir / "blocks.json").write_text(json.dumps(summary, indent=1) + "\n")
    return {n: cell_name(n) for n in names}, [ab for ab, _ in results.values()], summary


def main(argv=None) -> int:
    """``python -m spikestack.flows.builtin.blockmacros CONFIG -o DIR --blocks expert_core,merge
    [--grains pe,pe_array,repeated] [--sram-macros] [--jobs N]``: harden design blocks alone, each
    from its nested inner macros (grains innermost first), and print each level's size and times."""
    ap = argparse.ArgumentParser(prog="python -m spikestack.flows.builtin.blockmacros", description=main.__doc__)
    ap.add_argument("config")
    ap.add_argument("-o", required=True, help="output directory")
    ap.add_argument("--blocks", required=True, help="design blocks or groups, comma-separated")
    ap.add_argument("--grains", default="", help="inner grains, innermost first (pe,pe_array,repeated)")
    ap.add_argument("--flat", default="", help="blocks hardened without inner macros, comma-separated")
    ap.add_argument("--sram-macros", action="store_true")
    ap.add_argument("--clock-ns", type=float, default=10.0)
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args(argv)
    grains = [g for g in args.grains.split(",") if g]
    for g in grains:
        if g not in GRAINS:
            raise SystemExit(f"--grains: unknown grain {g!r}; choose from {', '.join(sorted(GRAINS))}")
    _, _, summary = harden_blocks(load_config(args.config), [b for b in args.blocks.split(",") if b], Path(args.o),
                                  grains=grains, clock_ns=args.clock_ns, sram_macros=args.sram_macros,
                                  jobs=args.jobs, flat=tuple(b for b in args.flat.split(",") if b))
    for name, b in summary["blocks"].items():
        for g, s in b["inner"].items():
            for m, x in s["macros"].items():
                print(f"{name} / {g}: {m} x{x['instances']}: {x['cells']} cells, {x['size_um'][0]} x "
                      f"{x['size_um'][1]} um, steps {x['step_seconds']}, CPU {x.get('step_cpu_seconds')}")
        print(f"{name}: {b['cells']} cells, {b['macros']} macros, {b['size_um'][0]} x {b['size_um'][1]} um, "
              f"{b['pins']} pins, steps {b['step_seconds']}, CPU {b['step_cpu_seconds']}, {b['wall_seconds']:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
