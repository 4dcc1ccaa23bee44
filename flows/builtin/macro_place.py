"""Hard-macro placement around graywolf, used by the built-in flow (``run_flow``) as qflow's
``graywolf``: ``python -m spikestack.flows.builtin.macro_place <graywolf> [options] <root>``.

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
4. the I/O pins go on a ring around core and macros (:func:`ring_pins`): each pin as near the
   point of the ring that faces the centre of its net's other pins as ``OSU018.tech.io_pin_pitch_cu`` between
   pins allows, with a routing channel between the ring and the macros that grows with the
   pins (:func:`ring_channel`). graywolf's own pad placer crowds thousands of pins onto two
   sides of a die it then makes millimetres wide (an expert core's 2947 pins: 1230 on the top,
   1230 on the bottom, 244 on each of the others).

Large designs (:func:`is_large`: more than ``OSU018.knobs.large_pins`` I/O pins or ``OSU018.knobs.large_cells`` cells)
get a sparser core (:func:`spread`: fill cells to ``OSU018.knobs.spread_density``), with or without hard
macros, so that every large implementation of a comparison has one cell density; with macros, their
macros in an order that follows the nets (:func:`order_macros`: the macros that talk most to
the cells nearest the core, partners stacked together). All large designs
are placed with fewer annealing moves (``TWSC*fast``, :func:`tune_par`: the same share,
``1 / OSU018.knobs.anneal_fast`` of qflow's moves per cell, for every large design) and without TimberWolfSC's channel global router, whose feed-through
assignment the over-the-cell router qrouter does not use: an expert core of 8.7 k cells and
2947 pins took 26 min in graywolf as qflow sets it up, 52 s so.
The net list graywolf writes only with its global router (``<root>.pin``) is then written from
the ``.cel`` file and the placement (:func:`write_pin_file`).

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

from ..coplace import attract
from .platform import OSU018

GAP = 1000          # 10 µm in graywolf units (centimicrons)


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


def place_macros(macros: list[dict], rows: list[tuple[int, int, int, int]], ordered: bool = False) -> list[dict]:
    """Lower-left corners: columns left of the core, up to :func:`column_height` high, each macro
    with its :func:`keepout` (see the module docstring). Only on the left: qflow's ``addspacers``
    widens the core rightwards (a 2 um power stripe every 50 um) and pushes whatever stands to its
    right in the same rows, macros included, into each other. The columns fill from the core
    outwards, each from the bottom up, in the order given when ``ordered`` (:func:`order_macros`),
    else tallest first and by name."""
    x0 = min(r[0] for r in rows)
    y0 = min(r[1] for r in rows)
    y1 = y0 + column_height(macros, rows)
    placed, col_right, y, col_w = [], x0 - GAP, y0 + GAP, 0
    for m in (macros if ordered else sorted(macros, key=lambda m: (-m["h"], _natural(m["name"])))):
        k = keepout(m)
        if y > y0 + GAP and y + m["h"] + 2 * k > max(y1, y0 + GAP + m["h"] + 2 * k):
            col_right -= col_w + GAP
            y, col_w = y0 + GAP, 0
        llx = col_right - k - m["w"]
        llx -= (llx - x0) % OSU018.tech.site_cu                   # same site grid as the cells
        placed.append(dict(m, llx=llx, lly=y + k))
        y += m["h"] + 2 * k + GAP
        col_w = max(col_w, col_right - llx + k)
    return placed


def order_macros(macros: list[dict], std_text: str) -> list[dict]:
    """The order the columns are filled in, nearest the core first: macros by the nets they share
    with the standard cells (most first), each followed at once by the chain of macros it talks to
    alone (a PE and its output-FIFO slice: nets joining two macros only), so partners are stacked
    side by side in a column."""
    core_nets, kind = set(), None
    for line in std_text.splitlines():
        w = line.split()
        if w[:1] in (["cell"], ["pad"], ["padgroup"]):
            kind = w[0]
        elif kind == "cell" and w[:2] == ["pin", "name"] and len(w) > 4:
            core_nets.add(w[4])
    users: dict[str, set[int]] = {}
    for i, m in enumerate(macros):
        for _, net, _, _ in m["pins"]:
            users.setdefault(net, set()).add(i)
    def affinity(i):
        return len({net for _, net, _, _ in macros[i]["pins"]} & core_nets)
    def partners(i):
        shared: dict[int, int] = {}
        for _, net, _, _ in macros[i]["pins"]:
            if len(users[net]) == 2:
                (j,) = users[net] - {i}
                shared[j] = shared.get(j, 0) + 1
        return shared
    todo = sorted(range(len(macros)), key=lambda i: (-affinity(i), _natural(macros[i]["name"])))
    done, out = set(), []
    for i in todo:
        while i is not None and i not in done:
            done.add(i)
            out.append(macros[i])
            shared = {j: n for j, n in partners(i).items() if j not in done}
            i = max(shared, key=lambda j: (shared[j], -todo.index(j))) if shared else None
    return out


def tune_par(par_text: str) -> str:
    """The graywolf parameter file of a large design (:func:`is_large`): ``TWSC*fast`` (annealing
    moves per cell divided by ``OSU018.knobs.anneal_fast``, the same for every large design, so
    every implementation of a comparison gets the same placement effort per cell) and
    TimberWolfSC's global router off."""
    text = re.sub(r"^TWSC\*do\.global\.route.*$", "TWSC*do.global.route  : off", par_text, flags=re.M)
    text = re.sub(r"^TWSC\*fast.*\n", "", text, flags=re.M)
    return text.rstrip("\n") + f"\nTWSC*fast : {OSU018.knobs.anneal_fast}\n"


def count_cells(cel_text: str) -> tuple[int, int]:
    """Standard cells and I/O pins (pads) of a ``.cel`` file."""
    lines = cel_text.splitlines()
    return sum(1 for l in lines if l.startswith("cell ")), sum(1 for l in lines if l.startswith("pad "))


def is_large(cel_text: str) -> bool:
    """Whether graywolf runs fast (:func:`tune_par`): more than ``OSU018.knobs.large_pins`` I/O pins (its
    global router's run time grows with them: 26 min for an expert core's 2947) or more than
    ``OSU018.knobs.large_cells`` standard cells. Below both, qflow's settings stay: on a flat 7.4 k-cell MoE
    the fast placement left qrouter 682 failed nets in its first pass instead of a few."""
    cells, pads = count_cells(cel_text)
    return pads > OSU018.knobs.large_pins or cells > OSU018.knobs.large_cells


def spread(root: str) -> None:
    """Pad ``<root>.cel``'s standard cells with fill cells to ``OSU018.knobs.spread_density`` of the core
    (qflow's ``decongest.tcl``, what its ``initial_density`` project variable runs; the unpadded
    file is kept as ``<root>.cel.bak``). For every large design: graywolf packs its core to
    ~86-92 % and the thousands of nets to the macros and I/O pins cannot leave it (expert core,
    2765 such nets: 31 % of qrouter's first-pass nets failed so, 20 % at density 0.4); a large
    design without macros (moe_ppa_mid's logic tier: 22.5 k cells packed to 92 % of its die)
    failed 2115 of its first 2976 nets so."""
    cmd = [str(OSU018.qflow_scripts / "decongest.tcl"), root, str(OSU018.stdcell_lef), "FILL",
           str(OSU018.knobs.spread_density), "--units=100"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    acel = Path(f"{root}.acel")
    if r.returncode or not acel.exists():
        raise RuntimeError(f"decongest.tcl failed ({r.returncode}): {(r.stdout + r.stderr)[-500:]}")
    cel = Path(f"{root}.cel")
    cel.replace(f"{root}.cel.bak")
    acel.replace(cel)
    print(f"macro_place: {cel} padded with fill cells to a core density of {OSU018.knobs.spread_density}")


def write_pin_file(cel_text: str, pl1_text: str) -> str:
    """graywolf's net list (``<root>.pin``: ``net subnet instance pin x y row orient layer``, the
    lines of a net together), from the ``.cel`` file's cells and pads and the ``.pl1`` placement
    (pin = cell centre + its offset). Written by TimberWolfSC's global router, which
    :func:`tune_par` turns off for large designs; qflow's ``place2def`` reads the net names,
    instances and pins from it."""
    where = {}
    for line in pl1_text.splitlines():
        w = line.split()
        if len(w) >= 5 and not w[0].isdigit():
            where[w[0]] = ((int(w[1]) + int(w[3])) // 2, (int(w[2]) + int(w[4])) // 2)
    nets: dict[str, list[str]] = {}
    inst = None
    for line in cel_text.splitlines():
        w = line.split()
        if w[:1] in (["cell"], ["pad"]):
            inst = w[2] if w[0] == "cell" else w[3]
        elif w[:1] == ["hardcell"]:
            inst = None
        elif inst and w[:2] == ["pin", "name"] and w[3] == "signal" and w[4] != "TW_PASS_THRU":
            x, y = where.get(inst, (0, 0))
            nets.setdefault(w[4], []).append(f"{w[4]} 1 {inst} {w[2]} {x + int(w[-2])} {y + int(w[-1])} 0 0 1")
    return "".join(l + "\n" for rows in nets.values() for l in rows)


def ring_channel(n_pins: int) -> int:
    """The routing channel between the pin ring and the macros and cells inside it: two ``GAP``
    plus 0.01 um per pin (30 um more for 3000 pins), room for the nets of evenly spread pins to
    turn towards their cells."""
    return 2 * GAP + n_pins


def _side_of(s: float, sides: list[tuple[str, float]]) -> tuple[str, float]:
    for side, length in sides:
        if s <= length:
            return side, s
        s -= length
    return sides[-1][0], sides[-1][1]


def ring_pins(pl_text: str, pin_text: str, box: tuple[int, int, int, int]) -> str:
    """The ``twpin_*`` lines of a placement file moved onto a ring around ``box`` (the core and
    macros, lower-left and upper-right): the ring is ``box`` grown by :func:`ring_channel`, and
    more when its perimeter holds fewer than one pin per ``OSU018.tech.io_pin_pitch_cu``. Each pin aims at the
    point of the ring on the ray from the box centre through the centre of its net's other
    pins (from ``pin_text``, a ``.pin`` file with the macro pins merged); the pins then keep
    the order of those points and move apart to ``OSU018.tech.io_pin_pitch_cu`` (the ring cut open in the widest
    gap between wanted points; pushed forwards, then back from the end), a corner margin left
    free, each on the side it lands on (rows -1 left, -2 right, -3 bottom, -4 top)."""
    lines = pl_text.rstrip("\n").splitlines()
    pins = [l.split()[0] for l in lines if l.startswith("twpin_")]
    if not pins:
        return pl_text
    net_of, members = {}, {}
    for line in pin_text.splitlines():
        w = line.split()
        if len(w) < 6:
            continue
        if w[2].startswith("twpin_"):
            net_of[w[2]] = w[0]
        else:
            members.setdefault(w[0], []).append((int(w[4]), int(w[5])))
    x0, y0, x1, y1 = box
    c = ring_channel(len(pins))
    x0, y0, x1, y1 = x0 - c, y0 - c, x1 + c, y1 + c
    margin = 2 * GAP
    need = len(pins) * OSU018.tech.io_pin_pitch_cu + 8 * margin
    grow = max(0, need - 2 * ((x1 - x0) + (y1 - y0))) / 8
    x0, y0, x1, y1 = int(x0 - grow), int(y0 - grow), int(x1 + grow), int(y1 + grow)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w_, h_ = x1 - x0, y1 - y0

    def ring_s(px: float, py: float) -> float:
        """Perimeter coordinate (counter-clockwise from the lower-left corner) of the ray from
        the centre through (px, py)."""
        dx, dy = px - cx, py - cy
        if dx == 0 and dy == 0:
            dx = 1.0
        t = min(abs(w_ / 2 / dx) if dx else float("inf"), abs(h_ / 2 / dy) if dy else float("inf"))
        x, y = cx + dx * t, cy + dy * t
        if abs(y - y0) < 1e-6 * h_ + 1:
            return x - x0
        if abs(x - x1) < 1e-6 * w_ + 1:
            return w_ + (y - y0)
        if abs(y - y1) < 1e-6 * h_ + 1:
            return w_ + h_ + (x1 - x)
        return 2 * w_ + h_ + (y1 - y)

    # the ring's usable stretches (corners left free), counter-clockwise from the lower-left
    full = [("-3", w_), ("-2", h_), ("-4", w_), ("-1", h_)]
    sides = [(side, length - 2 * margin) for side, length in full]
    usable = sum(l for _, l in sides)

    def to_usable(s: float) -> float:
        u = 0.0
        for (_, length), (_, ul) in zip(full, sides):
            if s <= length:
                return u + min(max(s - margin, 0.0), ul)
            s -= length
            u += ul
        return usable

    target = {}
    for p in pins:
        pts = members.get(net_of.get(p, ""), [])
        px, py = (sum(x for x, _ in pts) / len(pts), sum(y for _, y in pts) / len(pts)) if pts else (cx, cy)
        target[p] = to_usable(ring_s(px, py))
    # cut the ring open in the widest gap between wanted places, then keep the order and push
    # pins apart to OSU018.tech.io_pin_pitch_cu: forwards from each one's place, then back from the end
    order = sorted(pins, key=lambda p: target[p])
    ts = [target[p] for p in order]
    gaps = [((ts[(i + 1) % len(ts)] - ts[i]) % usable or (usable if len(ts) == 1 else 0.0), i)
            for i in range(len(ts))]
    _, cut = max(gaps)
    start = (ts[cut] + gaps[cut][0] / 2) % usable
    order = sorted(pins, key=lambda p: (target[p] - start) % usable)
    want = [(target[p] - start) % usable for p in order]
    pos = []
    for w in want:
        pos.append(max(w, pos[-1] + OSU018.tech.io_pin_pitch_cu) if pos else max(w, OSU018.tech.io_pin_pitch_cu / 2))
    hi = usable - OSU018.tech.io_pin_pitch_cu / 2
    for i in range(len(pos) - 1, -1, -1):
        hi = min(pos[i], hi)
        pos[i] = hi
        hi -= OSU018.tech.io_pin_pitch_cu
    placed = {}
    for p, u in zip(order, pos):
        side, d = _side_of((u + start) % usable, sides)
        d = int(d) + margin
        if side == "-3":
            x, y = x0 + d, y0
        elif side == "-2":
            x, y = x1, y0 + d
        elif side == "-4":
            x, y = x1 - d, y1
        else:
            x, y = x0, y1 - d
        if side in ("-1", "-2"):
            box_ = (x - 50, y - 40, x + 50, y + 40)
        else:
            box_ = (x - 40, y - 50, x + 40, y + 50)
        orient = {"-1": 7, "-2": 6, "-3": 0, "-4": 3}[side]
        placed[p] = f"{p} {box_[0]} {box_[1]}  {box_[2]} {box_[3]}  {orient} {side}"
    return "\n".join(placed.get(l.split()[0], l) if l.startswith("twpin_") else l for l in lines) + "\n"


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
    cel, par = Path(f"{root}.cel"), Path(f"{root}.par")
    # large or not is decided on the design's own pins, before attractors take the place of its bond
    # pads: a tier placed with the other tier's pins as attractors gets the settings (spread, rows,
    # annealing) of its own independent placement, whose rows the attractors are given in
    text = cel.read_text() if cel.exists() else ""
    large = is_large(text)
    attracted = attract.apply(root)          # the other tier's pins as fixed attractors (coplaced 3D)
    if attracted:
        text = cel.read_text()
    if large and par.exists():
        par.write_text(tune_par(par.read_text()))
    has_macros = bool(re.search(r"^hardcell", text, re.M))
    if large:
        spread(root)
        text = cel.read_text()
    if not has_macros and not large and not attracted:
        os.execv(graywolf, [graywolf, *args])
    std, macros = split_cel(text)
    if has_macros:
        Path(f"{root}.cel.macros").write_text(text)
        cel.write_text(std)
    r = subprocess.run([graywolf, *args])
    if r.returncode:
        return r.returncode
    pl1, pl2, pin = Path(f"{root}.pl1"), Path(f"{root}.pl2"), Path(f"{root}.pin")
    if large:
        pin.write_text(write_pin_file(std, pl1.read_text()))
        print(f"macro_place: {pin} written from {cel} and {pl1} (graywolf ran without its global router)")
    if attracted:
        attract.restore(root)
        print(f"macro_place: {attracted['attractors']} attractor cells (the other tier's pins) placed with the "
              f"cells and taken out again")
    if not has_macros:
        return 0
    rows = _rows(pl2.read_text())
    placed = place_macros(order_macros(macros, std), rows, ordered=True) if large else place_macros(macros, rows)
    boxes = [f"{m['name']} {m['llx']} {m['lly']}  {m['llx'] + m['w']} {m['lly'] + m['h']}  0 0" for m in placed]
    pin.write_text(merge_pins(pin.read_text(), placed))
    box = (min([r[0] for r in rows] + [m["llx"] - keepout(m) for m in placed]),
           min([r[1] for r in rows] + [m["lly"] - keepout(m) for m in placed]),
           max([r[2] for r in rows] + [m["llx"] + m["w"] + keepout(m) for m in placed]),
           max([r[3] for r in rows] + [m["lly"] + m["h"] + keepout(m) for m in placed]))
    pins_text = pin.read_text()
    for f in (pl1, pl2):
        f.write_text(insert_components(ring_pins(f.read_text(), pins_text, box), boxes))
    print(f"macro_place: {len(placed)} hard macros placed left of the standard-cell core, I/O pins on a ring "
          f"around them: " + ", ".join(f"{m['name']} at ({m['llx']}, {m['lly']})" for m in placed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
