"""The combined technology of a face-to-face stack, as one LEF that qrouter routes in one run.

After Macro-3D (Bamberg et al., DATE 2020): the logic tier's metals (``metal1`` .. ``metal6`` of
osu018), an F2F bond cut layer ``f2f`` (the hybrid bond: a cut of ``BOND_CUT_UM``, at least the
bond pitch from the next, carrying the bond's R), then the memory tier's metals mirrored above
(``metal6b`` .. ``metal1b``: the top die is flipped onto the bottom one, so its top metal faces
the bond). 12 routing layers: qrouter's limit (``MAX_LAYERS 12``). Every cell and macro placed on
the top tier gets a copy whose pins and obstructions are on the mirrored layers (``<name>_T``),
so a top-tier pin is reached from ``metal1b`` and a net from one tier to the other must pass the
``f2f`` cut: a bond is where a route crosses that layer.
"""
from __future__ import annotations

import re

__all__ = ["BOND_LAYER", "BOND_VIA", "TOP_SUFFIX", "combined_lef", "mirror_macro", "routing_layers", "tier_of_layer",
           "layer_caps"]

BOND_LAYER = "f2f"
BOND_VIA = "F2F_BOND"
TOP_SUFFIX = "_T"
BOND_CUT_UM = 0.5          # the bond's cut (a Cu pad under the metal6 pitch of 1.6 um)
_METAL = re.compile(r"\bLAYER\s+(metal\d|via\d?)\s*;")


def _b(layer: str) -> str:
    return layer + "b"


def _blocks(text: str, kind: str) -> list[tuple[str, str]]:
    """``(name, text)`` of every ``kind`` (LAYER, VIA, VIARULE, SITE, MACRO) block of a LEF."""
    out = []
    for m in re.finditer(rf"^{kind}\s+(\S+)(?:\s+\w+)?\s*$(.*?)^END\s+\1\s*$", text, re.S | re.M):
        out.append((m.group(1), m.group(0)))
    return out


def routing_layers(lef: str) -> list[str]:
    """The routing layers of a LEF in order."""
    return [n for n, t in _blocks(lef, "LAYER") if re.search(r"TYPE\s+ROUTING", t)]


def tier_of_layer(layer: str) -> str:
    """``tier_top`` for a mirrored layer, ``bond`` for the bond cut, else ``tier_bottom``."""
    return "bond" if layer == BOND_LAYER else "tier_top" if layer.endswith("b") else "tier_bottom"


def layer_caps(lef: str) -> dict[str, tuple[float, float]]:
    """Routing layer -> (area capacitance pF/um2, edge capacitance pF/um), from ``CPERSQDIST`` /
    ``EDGECAPACITANCE`` (osu018 gives them per um2 and per um in pF)."""
    out = {}
    for name, t in _blocks(lef, "LAYER"):
        a = re.search(r"CPERSQDIST\s+([\d.eE+-]+)", t)
        e = re.search(r"EDGECAPACITANCE\s+([\d.eE+-]+)", t)
        w = re.search(r"WIDTH\s+([\d.]+)", t)
        if a and w:
            out[name] = (float(a.group(1)) * float(w.group(1)), float(e.group(1)) * 2 if e else 0.0)
    return out


def _rename_layers(text: str) -> str:
    return _METAL.sub(lambda m: f"LAYER {_b(m.group(1))} ;", text)


def mirror_macro(macro_text: str) -> str:
    """A MACRO block as the top tier's copy: named ``<name>_T``, every layer mirrored."""
    name = re.match(r"MACRO\s+(\S+)", macro_text).group(1)
    text = re.sub(rf"^(MACRO|END|\s*FOREIGN)\s+{re.escape(name)}\b", lambda m: f"{m.group(1)} {name}{TOP_SUFFIX}",
                  macro_text, flags=re.M)
    return _rename_layers(text)


def _layer_copy(block: str, name: str) -> str:
    new = _b(name)
    return re.sub(rf"^(LAYER|END)\s+{name}\b", lambda m: f"{m.group(1)} {new}", block, flags=re.M)


def combined_lef(stdcell_lef: str, macro_lefs: list[str], top_cells: set[str], bond_pitch_um: float,
                 bond_r_ohm: float) -> str:
    """The combined LEF: header, SITE and the bottom stack of ``stdcell_lef``, the bond cut, the
    mirrored stack, the bottom VIAs and VIARULEs, the bond VIA and the mirrored VIAs; then every
    MACRO of ``stdcell_lef`` and ``macro_lefs`` and, for each name in ``top_cells``, its mirrored
    copy (:func:`mirror_macro`)."""
    head = stdcell_lef[:re.search(r"^(LAYER|VIA|SITE|MACRO)\s", stdcell_lef, re.M).start()]
    layers = _blocks(stdcell_lef, "LAYER")
    order = [n for n, _ in layers]
    stack = [t for _, t in layers]
    metals = [n for n in order if n.startswith("metal") or re.fullmatch(r"via\d?", n)]
    top_metal = metals[-1]
    top_width = float(re.search(r"WIDTH\s+([\d.]+)", dict(layers)[top_metal]).group(1))
    spacing = max(bond_pitch_um - BOND_CUT_UM, 0.1)
    stack.append(f"LAYER {BOND_LAYER}\n  TYPE CUT ;\n  SPACING {spacing:.3f} ;\n"
                 f"  RESISTANCE {bond_r_ohm:g} ;\nEND {BOND_LAYER}\n")
    for n in reversed(metals):
        stack.append(_layer_copy(dict(layers)[n], n))
    vias = _blocks(stdcell_lef, "VIA")
    out_vias = [t for _, t in vias]
    half, pad = BOND_CUT_UM / 2, max(BOND_CUT_UM, top_width) / 2
    out_vias.append(f"VIA {BOND_VIA} DEFAULT\n  LAYER {top_metal} ;\n    RECT {-pad:.3f} {-pad:.3f} {pad:.3f} {pad:.3f} ;\n"
                    f"  LAYER {BOND_LAYER} ;\n    RECT {-half:.3f} {-half:.3f} {half:.3f} {half:.3f} ;\n"
                    f"  LAYER {_b(top_metal)} ;\n    RECT {-pad:.3f} {-pad:.3f} {pad:.3f} {pad:.3f} ;\nEND {BOND_VIA}\n")
    for name, t in vias:
        lays = re.findall(r"LAYER\s+(\S+)\s*;", t)
        t2 = re.sub(rf"^(VIA|END)\s+{name}\b", lambda m: f"{m.group(1)} {name}B", t, flags=re.M)
        t2 = _rename_layers(t2)
        # the mirrored stack is upside down: the via's upper metal comes first, as qrouter reads a
        # via's layers bottom-up in stack order
        if len(lays) == 3:
            parts = re.split(r"(?=^\s*LAYER\s)", t2, flags=re.M)
            body = [p for p in parts[1:]]
            last = body[-1]
            end = re.search(r"^END\s", last, re.M)
            tail = last[end.start():] if end else ""
            body[-1] = last[:end.start()] if end else last
            t2 = parts[0] + "".join(reversed(body)) + tail
        out_vias.append(t2)
    rules = [t for _, t in _blocks(stdcell_lef, "VIARULE")]
    sites = [t for _, t in _blocks(stdcell_lef, "SITE")]
    macros = _blocks(stdcell_lef, "MACRO")
    for text in macro_lefs:
        macros += _blocks(text, "MACRO")
    seen, out_macros = set(), []
    for name, t in macros:
        if name in seen:
            continue
        seen.add(name)
        out_macros.append(t)
        if name in top_cells:
            out_macros.append(mirror_macro(t))
    missing = set(top_cells) - seen
    if missing:
        raise ValueError(f"combined LEF: no MACRO for the top-tier cells {sorted(missing)[:5]}")
    parts = [head] + stack + out_vias + rules + sites + out_macros + ["END LIBRARY\n"]
    return "\n".join(p.rstrip("\n") + "\n" for p in parts)
