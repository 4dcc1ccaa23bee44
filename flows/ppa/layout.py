"""Layout pictures of a PPA run: the routed DEFs drawn to PNG with KLayout (the ``klayout`` package
of PyPI reads LEF/DEF and draws without a display), titled and keyed with matplotlib.

:func:`layout_pictures` draws, from a finished run's directory, the routed 2D design, each tier, the
two tiers of the independent 3D method overlaid in their footprint (the F2F bond pins as markers)
and, after ``--method coplaced``, the co-placed design routed over the combined stack (the
``F2F_BOND`` vias as markers). The bottom tier's metals (the logic tier of memory-on-logic) are
drawn in cool colours, the top tier's in warm ones; standard cells and macros as outlines, the die as a black frame.
"""
from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from ..formats.def_ import def_units_die
from ..builtin.platform import OSU018

__all__ = ["layout_pictures", "render_layout", "PICTURES"]

# (file name, caption) of every picture, in the order of ppa.md
PICTURES = {"2d": ("layout_2d.png", "2D, routed"),
            "tier_bottom": ("layout_tier_bottom.png", "bottom tier (tier_bottom), routed"),
            "tier_top": ("layout_tier_top.png", "top tier (tier_top), routed"),
            "3d": ("layout_3d.png", "3D, independent tiers overlaid (F2F bond pins marked)"),
            "3d_coplaced": ("layout_3d_coplaced.png", "3D, co-placed: both tiers routed in one stack (bonds marked)")}

# metal -> (bottom-tier colour, top-tier colour); cuts drawn in the colour of the metal below
_METALS = {"metal1": ("#b0b7bb", "#c9b8b0"), "metal2": ("#1f77b4", "#d62728"), "metal3": ("#2ca02c", "#ff7f0e"),
           "metal4": ("#17becf", "#e377c2"), "metal5": ("#9467bd", "#bcbd22"), "metal6": ("#08306b", "#8c2d04")}
_CUTS = {"via": "metal1", "via1": "metal1", "via2": "metal2", "via3": "metal3", "via4": "metal4", "via5": "metal5"}
_BOND = "#000000"


def _read_def(def_path: Path, lefs: list[Path]):
    import klayout.db as db
    units, _ = def_units_die(def_path.read_text())
    o = db.LoadLayoutOptions()
    c = o.lefdef_config
    c.dbu = 1.0 / units
    c.lef_files = [str(p) for p in lefs]
    c.read_lef_with_def = False
    c.macro_resolution_mode = 1         # the cells' geometry from their LEF (default: ghost cells, as FOREIGN)
    c.produce_cell_outlines = True
    c.cell_outline_layer = "OUTLINE"
    o.lefdef_config = c                 # the property is a copy: set it back
    ly = db.Layout()
    ly.dbu = 1.0 / units
    ly.read(str(def_path), o)
    return ly


def _style(name: str) -> tuple[str, int, bool] | None:
    """(colour, dither pattern, visible) of a layer read from a DEF; ``None``: not drawn."""
    base = name.split(".")[0]
    kind = name.split(".")[1] if "." in name else ""
    if kind in ("LABEL", "LEFLABEL"):
        return None
    top = base.endswith("b") and base[:-1] in _METALS | _CUTS
    base = base[:-1] if top else base
    if base in _METALS:
        return _METALS[base][int(top)], (1 if kind == "PIN" else 2 if base == "metal1" else 9), True
    if base in _CUTS:
        return _METALS[_CUTS[base]][int(top)], 1, True
    if base == "f2f":
        return _BOND, 0, True
    return None


def render_layout(png: Path, defs: list[tuple[Path, list[Path], str]], title: str,
                  bonds_um: list[tuple[float, float]] | None = None, width_px: int = 1100) -> Path:
    """Draw ``defs`` (each ``(routed DEF, LEFs, tier)`` with tier ``bottom`` or ``top``: the top
    tier's layers are drawn in its warm colours) overlaid in one picture, with ``bonds_um`` as
    markers, into ``png`` (written atomically)."""
    import klayout.db as db
    import klayout.lay as lay
    layout = None
    for def_path, lefs, tier in defs:
        ly = _read_def(Path(def_path), lefs)
        if tier == "top":
            for li in ly.layer_indexes():
                info = ly.get_info(li)
                if info.name and info.name.split(".")[0] in _METALS | _CUTS:
                    head, *rest = info.name.split(".")
                    ly.set_info(li, db.LayerInfo(info.layer + 100, info.datatype, ".".join([head + "b", *rest])))
        if layout is None:
            layout = ly
        else:
            layout.top_cell().copy_tree(ly.top_cell())
    top = layout.top_cell()
    outline = layout.layer(db.LayerInfo("OUTLINE"))
    die = db.Box()
    for s in top.shapes(outline).each():
        die += s.bbox()
    if die.empty():
        die = top.bbox()
    frame = layout.layer(db.LayerInfo(900, 0, "DIE"))
    top.shapes(frame).insert(db.Path([db.Point(die.left, die.bottom), db.Point(die.left, die.top),
                                      db.Point(die.right, die.top), db.Point(die.right, die.bottom),
                                      db.Point(die.left, die.bottom)], max(die.width(), die.height()) // 250 + 1))
    if bonds_um:
        mark = layout.layer(db.LayerInfo(901, 0, "BONDS"))
        r = max(die.width(), die.height()) // 140 + 1
        for x, y in bonds_um:
            cx, cy = round(x / layout.dbu), round(y / layout.dbu)
            top.shapes(mark).insert(db.Box(cx - r, cy - r, cx + r, cy + r))
    view = lay.LayoutView()
    for key, value in (("background-color", "#ffffff"), ("grid-visible", "false"), ("text-visible", "false"),
                       ("inst-visible", "false"), ("min-inst-label-size", "100000"), ("bitmap-oversampling", "2")):
        view.set_config(key, value)
    view.show_layout(layout, False)
    view.clear_layers()
    order = sorted(layout.layer_indexes(), key=lambda li: _order(layout.get_info(li).name or ""))
    for li in order:
        name = layout.get_info(li).name or ""
        node = lay.LayerPropertiesNode()
        node.source_layer_index = li
        if name == "OUTLINE":
            node.frame_color, node.fill_color, node.dither_pattern, node.width = 0x606060, 0xf0f0f0, 1, 1
        elif name == "DIE":
            node.frame_color = node.fill_color = 0x000000
            node.dither_pattern, node.width = 0, 1
        elif name == "BONDS":
            node.frame_color, node.fill_color, node.dither_pattern, node.width = 0x000000, 0xffd700, 0, 2
        else:
            st = _style(name)
            if st is None:
                continue
            colour = int(st[0][1:], 16)
            node.frame_color = node.fill_color = colour
            node.dither_pattern, node.width = st[1], 1
        view.insert_layer(view.end_layers(), node)
    view.max_hier()
    h_px = max(200, round(width_px * die.height() / max(die.width(), 1)))
    box = die.to_dtype(layout.dbu)
    box = box.enlarged(max(box.width(), box.height()) * 0.01)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.png"
        view.save_image_with_options(str(raw), width_px, h_px, 0, 2, 0, box, False)
        legend = sorted({_legend(layout.get_info(li).name or "") for li in order} - {None})
        if any("(top tier)" in n for n, _ in legend):
            legend = [(n if "(" in n else f"{n} (bottom tier)", c) for n, c in legend]
        return _keyed(raw, png, title, (box.left, box.right, box.bottom, box.top), legend, bool(bonds_um))


def _order(name: str) -> tuple:
    """Draw order: outlines under the metals, the metals from the bottom tier's up, the frame and
    the bond markers on top."""
    if name == "OUTLINE":
        return (0,)
    if name in ("DIE", "BONDS"):
        return (9, name)
    base = name.split(".")[0]
    top = base.endswith("b") and base[:-1] in _METALS | _CUTS
    m = re.search(r"\d+", base)
    return (2 if top else 1, int(m.group()) if m else 0, base, name)


def _legend(name: str) -> tuple[str, str] | None:
    base = name.split(".")[0]
    top = base.endswith("b") and base[:-1] in _METALS
    if base in _METALS or top:
        return (f"{base[:-1] if top else base} ({'top' if top else 'bottom'} tier)" if top else base,
                _METALS[base[:-1] if top else base][int(top)])
    return None


def _keyed(raw: Path, png: Path, title: str, extent, legend, bonds: bool) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    img = mpimg.imread(str(raw))
    w, h = img.shape[1], img.shape[0]
    fig, ax = plt.subplots(figsize=(w / 100 + 2.4, h / 100 + 0.8), dpi=100)
    ax.imshow(img, extent=extent, interpolation="antialiased")
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("µm")
    ax.set_ylabel("µm")
    handles = [Patch(facecolor=c, edgecolor=c, label=n) for n, c in legend]
    handles.append(Patch(facecolor="#f0f0f0", edgecolor="#606060", label="cell / macro outline"))
    if bonds:
        handles.append(Patch(facecolor="#ffd700", edgecolor="#000000", label="F2F bond"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    tmp = png.with_name(f".{png.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(png)
    return png


def _lefs(work: Path) -> list[Path]:
    """The technology LEF and the LEFs of the macros a flow's ``work`` directory placed."""
    return [OSU018.stdcell_lef, *sorted((work / "source" / "macros").glob("*/*.lef"))]


def layout_pictures(out_dir: Path, result: dict) -> dict[str, str]:
    """The pictures of :data:`PICTURES` that the PPA run in ``out_dir`` has (key -> file name in
    ``out_dir``), from each flow's routed ``<flow>/work/<top>.def`` and its LEFs, the bond pins of
    ``bond_pins.json`` and the co-placed run's ``coplaced/route/<top>_route.def`` over its combined
    LEF with the bonds of ``coplaced/bonds.json``."""
    out_dir = Path(out_dir)
    made = {}
    title = result["config"]
    flows = {"2d": result["2d"]["top"], **{t: t for t in ("tier_bottom", "tier_top") if "3d" in result}}
    for key, top in flows.items():
        work = out_dir / key / "work"
        if (work / f"{top}.def").exists():
            name, cap = PICTURES[key]
            render_layout(out_dir / name, [(work / f"{top}.def", _lefs(work), "top" if key == "tier_top" else "bottom")],
                          f"{title}: {cap}")
            made[key] = name
    if "tier_bottom" in made and "tier_top" in made:
        pins = out_dir / "bond_pins.json"
        bonds = list(json.loads(pins.read_text())["locations"].values()) if pins.exists() else []
        name, cap = PICTURES["3d"]
        render_layout(out_dir / name, [(out_dir / t / "work" / f"{t}.def", _lefs(out_dir / t / "work"),
                                        "bottom" if t == "tier_bottom" else "top") for t in ("tier_bottom", "tier_top")],
                      f"{title}: {cap}" if bonds else f"{title}: 3D, independent tiers overlaid (no bond pins)",
                      [(float(x), float(y)) for x, y in bonds])
        made["3d"] = name
    co = out_dir / "coplaced"
    fmap = out_dir / "f2f_map.json"
    if co.is_dir() and fmap.exists():
        routed = co / "route" / f"{json.loads(fmap.read_text())['top']}_route.def"
        stack = sorted(co.rglob("combined.lef"))
        if routed.exists() and stack:
            bonds = json.loads((co / "bonds.json").read_text()) if (co / "bonds.json").exists() else []
            name, cap = PICTURES["3d_coplaced"]
            render_layout(out_dir / name, [(routed, stack[:1], "bottom")], f"{title}: {cap}",
                          [(float(b[-2]), float(b[-1])) for b in bonds])
            made["3d_coplaced"] = name
    return made
