"""Configuration -> Verilog of the 2D top, with a manifest of its ports, blocks and buffers.

``write_design(cfg, out_dir)`` elaborates everything in memory first and writes nothing until
all of it succeeded; each file is written through a temporary name and renamed, the manifest
last, so a directory with a ``manifest.json`` is complete.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from ..config import LayerConfig, dump_config
from ..hw.lib.glb import GLB, sram_macros
from ..hw.layers.graph import Design, block_component, boxed, flat_top, stitched_top
from ..hw.layers.stack import stacked_top
from ..hw.layers import TOP_NAMES, design_for
from . import emit
from .atomic import write_atomic
from .partition import assignment_for, stack_assignment

__all__ = ["generate_verilog", "block_verilog", "port_list", "manifest", "write_design", "write_files"]


def generate_verilog(cfg: LayerConfig, variant: str = "2d", macros: bool = False,
                     boxes: dict[str, str] | None = None) -> tuple[str, str]:
    """``(top module name, Verilog text)`` of a configuration's top: ``"2d"``, or ``"3d"`` /
    ``"3d:<partition>"`` for the stitched two-tier top (same ports, same behaviour). With
    ``macros`` every GLB is an SRAM macro instance (:mod:`spikestack.hw.lib.glb`); the text then
    instantiates ``spikestack_sram_*`` cells that it does not define (their views, including a
    behavioural model for simulation: :mod:`spikestack.flows.builtin.sram`). ``boxes`` (block or group
    name -> cell) makes those blocks instances of their cells (:func:`spikestack.hw.layers.graph.boxed`),
    which the text does not define either (:func:`block_verilog` writes them)."""
    if macros:
        with sram_macros():
            return generate_verilog(cfg, variant, boxes=boxes)
    design = design_for(cfg)
    if boxes:
        design = boxed(design, boxes)
    name = TOP_NAMES[cfg.kind]
    if variant == "2d":
        return name, emit.convert(flat_top(design), name=name)
    m = re.fullmatch(r"3d([2-9]):([\w-]+)(:regs)?", variant)
    if m:                                   # "3d<N>:<partition>[:regs]": the N-tier stack (gen/stack.py)
        n = int(m.group(1))
        top = f"{name}_3d{n}"
        return top, emit.convert(stacked_top(design, stack_assignment(design, n, m.group(2)), n, bool(m.group(3))),
                                 name=top)
    if variant.startswith("3d"):            # "3d" or "3d:<partition>": the stitched two-tier top
        partition = variant.split(":", 1)[1] if ":" in variant else "memory-on-logic"
        return f"{name}_3d", emit.convert(stitched_top(design, assignment_for(design, partition)),
                                             name=f"{name}_3d")
    raise ValueError(f"variant: unknown {variant!r}")


def block_verilog(cfg: LayerConfig, block: str, cell: str, macros: bool = False) -> str:
    """The Verilog of one block (or one block of a group) of a configuration, elaborated alone with
    the top module ``cell``: what a :class:`~spikestack.hw.layers.graph.BlockBox` of ``cell`` instantiates."""
    if macros:
        with sram_macros():
            return block_verilog(cfg, block, cell)
    return emit.convert(block_component(design_for(cfg), block), name=cell)


def port_list(top: wiring.Component) -> list[dict]:
    """The top's ports as they appear in Verilog (clk and rst first)."""
    ports = [{"name": "clk", "dir": "input", "width": 1}, {"name": "rst", "dir": "input", "width": 1}]
    for path, member, value in top.signature.flatten(top):
        ports.append({"name": "__".join(str(p) for p in path),
                      "dir": "output" if member.flow == Out else "input",
                      "width": len(value)})
    return ports


def manifest(cfg: LayerConfig, design: Design, top: wiring.Component, name: str, files: list[str]) -> dict:
    memories = []
    for blk, comp in top.blocks.items():
        if isinstance(comp, GLB):
            memories.append({"block": blk, "depth": comp.p.depth, "width": comp.p.width,
                             "granularity": comp.p.granularity, "bits": comp.p.bits,
                             "read_ports": comp.p.macro.read_ports, "write_ports": comp.p.macro.write_ports})
    return {
        "top": name, "kind": cfg.kind, "files": files, "clock": "clk", "reset": "rst (active high, synchronous)",
        "config": dump_config(cfg),
        "ports": port_list(top),
        "blocks": [{"name": b.name, "role": b.role, "group": b.group} for b in design.blocks.values()],
        "wires": [list(w) for w in design.wires],
        "memories": memories,
    }


def write_files(out_dir: Path, files: dict[str, str]) -> list[Path]:
    """Write ``{name: text}`` atomically, in order (put the manifest last)."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return [write_atomic(Path(out_dir) / fname, text) for fname, text in files.items()]


def write_design(cfg: LayerConfig, out_dir: Path, src: bool = False) -> list[Path]:
    """Write ``<top>.v`` and ``manifest.json`` for a configuration (``src``: with ``(* src *)``
    attributes, see :func:`spikestack.gen.emit.convert`)."""
    design = design_for(cfg)
    name = TOP_NAMES[cfg.kind]
    top = flat_top(design)
    text = emit.convert(top, name=name, src=src)
    vfile = f"{name}.v"
    man = manifest(cfg, design, top, name, [vfile])
    return write_files(out_dir, {vfile: text, "manifest.json": json.dumps(man, indent=1) + "\n"})
