"""Hard-macro placement around graywolf, used by the built-in flow (``run_flow``) as qflow's
``graywolf``: ``python -m spikestack.flows.macro_place <graywolf> [options] <root>``.

qflow 1.3 hands hard macros to graywolf as ``hardcell`` entries of the ``.cel`` file; graywolf
then runs its mixed flow (TimberWolfMC for the macros and a standard-cell block, then
TimberWolfSC). Here that works for one small macro but TimberWolfMC's compaction step
(``mc_compact``) aborts ("stack smashing detected", exit 134) on the MoE PPA configuration with
its four GLB macros. So macros are placed here instead, and graywolf places only the standard
cells:

1. the ``hardcell`` entries are taken out of ``<root>.cel`` (the original is kept as
   ``<root>.cel.macros``); graywolf places the standard cells (TimberWolfSC);
2. the macros go into columns to the left of the standard-cell core, ``GAP`` (10 µm of routing
   channel) away from it and from each other, bottom-aligned with the first row, a new column
   when a column would rise above the core;
3. each macro is written to ``<root>.pl1`` / ``<root>.pl2`` and each of its pins to
   ``<root>.pin`` (next to the other pins of its net) in the form graywolf gives placed hard
   cells, so qflow's ``place2def.tcl`` puts them in the DEF (``COMPONENTS``, ``NETS``) and the
   die around them.

Limits: the standard cells are placed without seeing the macro pins (the nets to a macro are
placed as if that pin did not exist), so the cells that talk to a macro are not pulled towards
it; wirelength to the macros is longer than a macro-aware placer would give.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

GAP = 1000          # 10 µm in graywolf units (centimicrons)
GRID_X = 80         # the osu018 site width


def split_cel(text: str) -> tuple[str, list[dict]]:
    """``(cel without hardcells, hardcells)``; each hardcell: name, w, h, pins [(pin, net, x, y)]."""
    keep, macros, cur = [], [], None
    for line in text.splitlines():
        w = line.split()
        if w[:1] == ["hardcell"]:
            cur = {"name": w[3], "pins": []}
            macros.append(cur)
            continue
        if w[:1] in (["cell"], ["pad"]) or (w[:1] == ["padgroup"]):
            cur = None
        if cur is None:
            keep.append(line)
            continue
        if w[:1] == ["corners"]:
            xs, ys = [int(v) for v in w[2::2]], [int(v) for v in w[3::2]]
            cur["w"], cur["h"] = max(xs) - min(xs), max(ys) - min(ys)
        elif w[:2] == ["pin", "name"]:
            pin = re.sub(r"^.*_bF\$pin/", "", w[2])
            cur["pins"].append((pin, w[4], int(w[-2]), int(w[-1])))
    return "\n".join(keep) + "\n", macros


def _rows(pl2: str) -> list[tuple[int, int, int, int]]:
    out = []
    for line in pl2.splitlines():
        w = line.split()
        if len(w) >= 5 and w[0].isdigit():
            out.append(tuple(int(v) for v in w[1:5]))
    return out


def _natural(name: str) -> list:
    """Sort key with the numbers of a name compared as numbers (``pe_0_2`` before ``pe_0_10``), so
    the macros of an array are placed in the array's order."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.findall(r"\d+|\D+", name)]


def place_macros(macros: list[dict], rows: list[tuple[int, int, int, int]]) -> list[dict]:
    """Lower-left corners: columns left of the core (see the module docstring)."""
    x0 = min(r[0] for r in rows)
    y0 = min(r[1] for r in rows)
    y1 = max(r[3] for r in rows)
    placed, col_right, y, col_w = [], x0 - GAP, y0, 0
    for m in sorted(macros, key=lambda m: (-m["h"], _natural(m["name"]))):
        if y > y0 and y + m["h"] > max(y1, y0 + m["h"]):
            col_right -= col_w + GAP
            y, col_w = y0, 0
        llx = col_right - m["w"]
        llx -= (llx - x0) % GRID_X                   # same site grid as the cells
        placed.append(dict(m, llx=llx, lly=y))
        y += m["h"] + GAP
        col_w = max(col_w, col_right - llx)
    return placed


def merge_pins(pin_text: str, placed: list[dict]) -> str:
    """Macro pins into the ``.pin`` file, each after the last line of its net."""
    lines = pin_text.splitlines()
    last: dict[str, int] = {}
    for i, line in enumerate(lines):
        last[line.split(" ", 1)[0]] = i
    extra: dict[int, list[str]] = {}
    tail = []
    for m in placed:
        for pin, net, x, y in m["pins"]:
            row = f"{net} 0 {m['name']} {pin} {m['llx'] + x} {m['lly'] + y} 0 0 2"
            if net in last:
                extra.setdefault(last[net], []).append(row)
            else:
                tail.append(row)
    out = []
    for i, line in enumerate(lines):
        out.append(line)
        out.extend(extra.get(i, []))
    return "\n".join(out + tail) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    graywolf, args = argv[0], argv[1:]
    root = args[-1]
    cel = Path(f"{root}.cel")
    if not cel.exists() or not re.search(r"^hardcell", cel.read_text(), re.M):
        os.execv(graywolf, [graywolf, *args])
    text = cel.read_text()
    Path(f"{root}.cel.macros").write_text(text)
    std, macros = split_cel(text)
    cel.write_text(std)
    r = subprocess.run([graywolf, *args])
    if r.returncode:
        return r.returncode
    pl1, pl2, pin = Path(f"{root}.pl1"), Path(f"{root}.pl2"), Path(f"{root}.pin")
    placed = place_macros(macros, _rows(pl2.read_text()))
    boxes = [f"{m['name']} {m['llx']} {m['lly']}  {m['llx'] + m['w']} {m['lly'] + m['h']}  0 0" for m in placed]
    pl1.write_text(pl1.read_text().rstrip("\n") + "\n" + "\n".join(boxes) + "\n")
    pl2.write_text(pl2.read_text().rstrip("\n") + "\n" + "\n".join(boxes) + "\n")
    pin.write_text(merge_pins(pin.read_text(), placed))
    print(f"macro_place: {len(placed)} hard macros placed left of the standard-cell core: "
          + ", ".join(f"{m['name']} at ({m['llx']}, {m['lly']})" for m in placed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
