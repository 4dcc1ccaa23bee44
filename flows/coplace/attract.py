"""The other tier's pins as fixed attractors in graywolf's placement of a tier.

graywolf rejects fixed ``port`` terminals inside the core (its front end, and TimberWolfSC crashes
on them), but a fixed standard cell (``initially fixed <x> from left of block <row>``) of zero
width pulls the cells connected to it like any other cell. So for each bond of a tier, its I/O
pad in the ``.cel`` file is replaced by a zero-width fixed cell at the point over which the other
tier's pins of that bond sit (the centroid of those pins), in row / offset-from-row-start terms
of this tier's rows. After graywolf the attractor cells are taken out of the placement (``.pl1``,
``.pl2``), the net list (``.pin``) and the ``.cel`` file, so qflow's ``place2def`` writes the tier
without them (the bond nets end at cells; the combined routing joins them to the other tier).

Used by :mod:`spikestack.flows.builtin.macro_place` (qflow's ``graywolf``) when the work directory holds
``<root>.attract``: one line per attractor, ``port row x_from_row_left``.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..builtin.platform import OSU018

__all__ = ["ATTRACT_PREFIX", "write_attract", "add_attractors", "strip_attractors", "apply", "restore",
           "row_positions"]

ATTRACT_PREFIX = "ss3d_attract_"


def write_attract(path: Path, points: dict[str, tuple[int, int]]) -> None:
    """``<root>.attract``: port -> (row, x from the row's left end, centimicrons)."""
    Path(path).write_text("".join(f"{p} {r} {x}\n" for p, (r, x) in sorted(points.items())))


def row_positions(pl2_text: str, points: dict[str, tuple[float, float]]) -> dict[str, tuple[int, int]]:
    """Points (graywolf units) -> (row, x from the row's left end): the nearest row, x clamped into
    ``OSU018.knobs.attract_row_margin`` of the shortest row."""
    rows = []
    for line in pl2_text.splitlines():
        w = line.split()
        if len(w) >= 5 and w[0].isdigit():
            rows.append((int(w[0]), int(w[1]), int(w[2]), int(w[3]), int(w[4])))
    if not rows:
        raise ValueError("no rows in the .pl2 file")
    # graywolf's rows (blocks) are as long as the shortest placed row, less a margin: a fixed cell
    # past a block's end is a fatal input error ("outside the length of its block")
    usable = int(OSU018.knobs.attract_row_margin * min(r[3] - r[1] for r in rows))
    out = {}
    for p, (x, y) in points.items():
        r = min(rows, key=lambda r: abs((r[2] + r[4]) / 2 - y))
        out[p] = (r[0], int(min(max(x - r[1], 0), usable)))
    return out


def add_attractors(cel_text: str, points: dict[str, tuple[int, int]]) -> tuple[str, int]:
    """The ``.cel`` with the pads of ``points``' ports replaced by fixed zero-width cells; returns
    the text and how many were placed."""
    blocks = re.split(r"(?m)^(?=(?:cell|pad|hardcell|padgroup)\s)", cel_text)
    last_cell = max((int(b.split()[1]) for b in blocks if b.startswith("cell ")), default=0)
    kept, extra, n = [], [], 0
    for b in blocks:
        w = b.split()
        if b.startswith("pad ") and len(w) > 3 and w[3].startswith("twpin_") and w[3][6:] in points:
            port = w[3][6:]
            row, x = points[port]
            n += 1
            extra.append(f"cell {last_cell + n} {ATTRACT_PREFIX}{n}\ninitially fixed {x} from left of block {row}\n"
                         f"left 0 right 0 bottom -{OSU018.tech.row_half_cu} top {OSU018.tech.row_half_cu}\n"
                         f"pin name A signal {port} layer 1 0 0\n")
            continue
        kept.append(b)
    # pads are numbered from 1 in order: renumber the remaining ones
    out, pad_no, cells_done = [], 0, False
    for b in kept:
        if b.startswith("pad ") and not cells_done:
            out.extend(extra)
            cells_done = True
        if b.startswith("pad "):
            pad_no += 1
            b = re.sub(r"^pad\s+\d+", f"pad {pad_no}", b)
        out.append(b)
    if not cells_done:
        out.extend(extra)
    return "".join(out), n


def strip_attractors(text: str) -> str:
    """Lines naming an attractor cell taken out (``.pl1``, ``.pl2``, ``.pin``)."""
    return "".join(l for l in text.splitlines(keepends=True) if ATTRACT_PREFIX not in l)


def apply(root: str) -> dict | None:
    """Before graywolf: ``<root>.cel`` with the attractors of ``<root>.attract`` (the original kept
    as ``<root>.cel.noattract``); ``None`` without an ``.attract`` file."""
    att = Path(f"{root}.attract")
    if not att.exists():
        return None
    points = {}
    for line in att.read_text().splitlines():
        p, r, x = line.split()
        points[p] = (int(r), int(x))
    cel = Path(f"{root}.cel")
    text = cel.read_text()
    Path(f"{root}.cel.noattract").write_text(text)
    new, n = add_attractors(text, points)
    cel.write_text(new)
    return {"attractors": n}


def restore(root: str) -> None:
    """After graywolf: the attractors out of ``.pl1`` / ``.pl2`` / ``.pin`` and ``.cel``."""
    for ext in ("pl1", "pl2", "pin"):
        f = Path(f"{root}.{ext}")
        if f.exists():
            f.write_text(strip_attractors(f.read_text()))
    cel = Path(f"{root}.cel")
    blocks = re.split(r"(?m)^(?=(?:cell|pad|hardcell|padgroup)\s)", cel.read_text())
    cel.write_text("".join(b for b in blocks if ATTRACT_PREFIX not in b.split("\n", 1)[0]))
