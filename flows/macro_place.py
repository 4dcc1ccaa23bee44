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
   channel) plus a keep-out that grows with their pins (:func:`keepout`) away from it, from
   each other and from the die's bottom edge, a new column
   when a column would rise above the core — or above the side of a square die holding core and
   macros, when the macros dominate (:func:`column_height`);
3. each macro is written to ``<root>.pl1`` / ``<root>.pl2`` (after the components, before the
   I/O pins: :func:`insert_components`) and each of its pins to
   ``<root>.pin`` (next to the other pins of its net) in the form graywolf gives placed hard
   cells, so qflow's ``place2def.tcl`` puts them in the DEF (``COMPONENTS``, ``NETS``) and the
   die around them;
4. the I/O pins of the core's left side move to the left of the macro columns, those of its top
   side above them (:func:`shift_edge_pins`), so every pin is on the die's edge, with a routing
   channel between the pins and the macros that grows with the pins (:func:`channel`).

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


def keepout(m: dict) -> int:
    """The free margin a macro keeps on every side, on top of half of ``GAP``: 0.1 µm per pin
    (two facing macros leave 0.2 µm per pin between them, a metal2/metal4 track pair for every
    second pin), so a channel grows with the nets that leave the macros into it."""
    return 10 * len(m.get("pins", ()))


def column_height(macros: list[dict], rows: list[tuple[int, int, int, int]]) -> int:
    """How high the macro columns may rise: the core's height, or the side of a square holding
    the core and every macro with its gaps when that is higher. A top made mostly of macros (a
    hierarchical parent with little glue) then gets a squarish die instead of one row of
    macros beside a flat core."""
    core_w = max(r[2] for r in rows) - min(r[0] for r in rows)
    core_h = max(r[3] for r in rows) - min(r[1] for r in rows)
    area = core_w * core_h + sum((m["w"] + GAP + 2 * keepout(m)) * (m["h"] + GAP + 2 * keepout(m)) for m in macros)
    return max(core_h, int(area ** 0.5), max((m["h"] + 2 * keepout(m) for m in macros), default=0))


def place_macros(macros: list[dict], rows: list[tuple[int, int, int, int]]) -> list[dict]:
    """Lower-left corners: columns left of the core, up to :func:`column_height` high, each macro
    with its :func:`keepout` (see the module docstring)."""
    x0 = min(r[0] for r in rows)
    y0 = min(r[1] for r in rows)
    y1 = y0 + column_height(macros, rows)
    placed, col_right, y, col_w = [], x0 - GAP, y0 + GAP, 0
    for m in sorted(macros, key=lambda m: (-m["h"], _natural(m["name"]))):
        k = keepout(m)
        if y > y0 + GAP and y + m["h"] + 2 * k > max(y1, y0 + GAP + m["h"] + 2 * k):
            col_right -= col_w + GAP
            y, col_w = y0 + GAP, 0
        llx = col_right - k - m["w"]
        llx -= (llx - x0) % GRID_X                   # same site grid as the cells
        placed.append(dict(m, llx=llx, lly=y + k))
        y += m["h"] + 2 * k + GAP
        col_w = max(col_w, col_right - llx + k)
    return placed


def channel(pl_text: str, side: str) -> int:
    """The routing channel kept between the macros and the die edge of a side (row ``-1`` left,
    ``-4`` top) with its I/O pins: ``GAP`` plus half a metal2/3 track pitch (0.4 µm) per pin
    of that side, so the nets of pins that face a macro can run along it to an opening."""
    n = sum(1 for l in pl_text.splitlines() if l.startswith("twpin_") and l.split()[-1] == side)
    return GAP + 40 * n


def shift_edge_pins(pl_text: str, dx: int, dy: int = 0) -> str:
    """The I/O pins graywolf put on the core's left side (``twpin_*`` lines of row ``-1``) moved by
    ``dx`` (negative), to the left of the macro columns, and those of its top side (row ``-4``)
    up by ``dy``, above columns that rise higher than the core: on the die's edges. Left where
    they were, they would sit inside the die."""
    out = []
    for line in pl_text.splitlines():
        w = line.split()
        if len(w) >= 7 and w[0].startswith("twpin_") and w[-1] in ("-1", "-4"):
            mx, my = (dx, 0) if w[-1] == "-1" else (0, dy)
            line = f"{w[0]} {int(w[1]) + mx} {int(w[2]) + my}  {int(w[3]) + mx} {int(w[4]) + my}  {' '.join(w[5:])}"
        out.append(line)
    return "\n".join(out) + "\n"


def insert_components(pl_text: str, boxes: list[str]) -> str:
    """A placement file (``.pl1``/``.pl2``) with the macro lines ``boxes`` after the components
    and before the pins (``twpin_*`` lines): qflow's ``place2def.tcl`` reads components first,
    then pins, and closes ``COMPONENTS`` after the last component it counted — macros written
    after the pins put every pin inside ``COMPONENTS``, and the DEF's ``PINS`` had no location."""
    lines = pl_text.rstrip("\n").splitlines()
    first_pin = next((i for i, l in enumerate(lines) if l.lstrip().startswith("twpin_")), len(lines))
    return "\n".join(lines[:first_pin] + boxes + lines[first_pin:]) + "\n"


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
    rows = _rows(pl2.read_text())
    text = pl1.read_text()
    dx = min(m["llx"] for m in placed) - min(r[0] for r in rows) - channel(text, "-1")
    dy = max(0, max(m["lly"] + m["h"] for m in placed) - max(r[3] for r in rows))
    dy = dy + channel(text, "-4") if dy else 0
    pl1.write_text(insert_components(shift_edge_pins(pl1.read_text(), dx, dy), boxes))
    pl2.write_text(insert_components(shift_edge_pins(pl2.read_text(), dx, dy), boxes))
    pin.write_text(merge_pins(pin.read_text(), placed))
    print(f"macro_place: {len(placed)} hard macros placed left of the standard-cell core: "
          + ", ".join(f"{m['name']} at ({m['llx']}, {m['lly']})" for m in placed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
