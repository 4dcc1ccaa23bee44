"""Hierarchical P&R, first half: harden a repeated block once into a macro with an abstract.

``harden(verilog_text, module, out_dir, clock_ns)`` runs the built-in flow
(:func:`.builtin.run_flow`) on one block and writes its **abstract**, the triple a parent flow
consumes exactly as it consumes an SRAM macro:

* ``<name>.lef`` — one ``MACRO`` (``CLASS BLOCK``, ``SIZE`` = the routed die, origin at the die's
  lower-left corner). Every port bit is a ``PIN`` on the layer and at the place the routed DEF has
  it, its ``RECT`` stretched from the pin to the nearest die edge across the pin ring (the block
  routes there only perpendicular to the edge, to reach its pins). ``OBS`` covers the core on every
  layer the block routes on, and the pin ring on the layers that run along each side (as qflow's
  own router obstructions do). The block is routed on ``metal1..metal<route_layers>`` only (default
  4 of the 6 osu018 layers), so ``metal5``/``metal6`` stay free for the parent over the macro.
* ``<name>.lib`` — a liberty timing model built from OpenSTA on the routed block (qrouter's wire
  capacitance per net, the clock propagated through the block's clock buffers). This OpenSTA
  (2.0.17) has no ``write_timing_model``, so the model is built here from ``find_timing_paths`` /
  ``report_checks``, per port bit:

  - input: ``capacitance`` = the input pins it drives + its wire; ``setup_rising`` = period −
    worst setup slack of the paths from that input to a register (input delay 0), ``hold_rising``
    = − worst hold slack of the same paths (both = data delay + the flop's check − the clock's
    insertion delay to that flop);
  - output: ``rising_edge`` arc from ``clk`` = the latest clock → output arrival, a two-point table
    in the output load (the block's own wire plus 0 and :data:`LOAD_STEP_PF`), with the port's slew;
  - a ``combinational`` arc input → output wherever a path exists, its delay the worst arrival with
    the same load slope as the output;
  - ``area`` = the die; ``cell_leakage_power`` from ``report_power``; the block's internal +
    switching power at the stated activity as an energy per ``clk`` cycle on the ``clk`` pin
    (``rise_power``/``fall_power``, scaled so OpenSTA's ``report_power`` gives the block's power back).

  Rise and fall use the worse of the two; delays are max (setup) values.
* ``<name>_min.lib`` — the same model with the shortest clk -> output and input -> output delays,
  for ``read_liberty -min`` (hold checks in the parent).
* ``<name>.v`` — the Verilog blackbox (same module name, same ports); ``<name>.spc``, the routed
  block's transistor-level subcircuit from qflow, completes what a qflow ``hard_macros``
  directory holds (its synthesis reads the ``.lib`` with ``read_liberty -lib``, placement and
  routing the ``.lef``). Yosys and qrouter read these files as written.

Which blocks repeat: :func:`block_classes` hashes every module of a generated Verilog text after
removing what does not change behaviour (``src`` attributes, comments, the names of local wires,
regs and instances — renamed in order of first appearance) and replacing each instantiated sub-module by
the hash of its own class, bottom-up. Two modules in one class are the same text up to those
renamings, hence the same circuit with the same port names: one macro serves both.
:func:`replace_with_macro` rewrites a design so every instance of such a class instantiates the
macro cell, drops their definitions and appends the blackbox.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .builtin import LIBERTY, TECH_DIR, FlowError, def_units_die, liberty_header, run_flow

__all__ = ["MacroAbstract", "harden", "harden_repeated", "write_lef", "characterise", "write_liberty", "modules",
           "block_classes", "repeated_blocks", "design_block_classes", "extract_module", "replace_with_macro",
           "blackbox"]

STD_LEF = TECH_DIR / "osu018_stdcells.lef"
LOAD_STEP_PF = 0.05                # second point of the output-load tables
HALO_UM = 4.0                      # free routing margin of a macro's LEF around the routed block
RING_UM = 4.5                      # the widest pin ring of a macro's LEF (qflow's ring is about 4 um)
OBS_MARGIN_UM = 0.4                # how far a macro's core OBS reaches into its pin ring (half a metal2 pitch)


@dataclass
class MacroAbstract:
    """A hardened block: the files a parent flow reads (LEF, liberty, Verilog blackbox)."""
    name: str
    lef: Path
    lib: Path
    verilog: Path
    width_um: float
    height_um: float
    clock_ns: float
    route_layers: int
    pins: dict[str, dict] = field(default_factory=dict)   # bit name -> {dir, layer, rect}
    flow: dict = field(default_factory=dict)              # run_flow's report
    timing: dict = field(default_factory=dict)            # the characterisation (see characterise)
    seconds: dict = field(default_factory=dict)
    lib_min: Path | None = None                           # the min-delay model (read_liberty -min)

    def to_json(self) -> str:
        d = asdict(self)
        for k in ("lef", "lib", "verilog", "lib_min"):
            d[k] = str(d[k]) if d[k] is not None else None
        return json.dumps(d, indent=1) + "\n"


# --------------------------------------------------------------------------- Verilog structure

_SRC = re.compile(r"\(\*\s*src\s*=\s*\"[^\"]*\"\s*\*\)")     # source locations: not behaviour
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_MODULE = re.compile(r"^\s*module\s+(\\\S+|[A-Za-z_][\w$]*)\s*\((.*?)\);(.*?)^\s*endmodule\b", re.S | re.M)
_IDENT = re.compile(r"\\\S+|[A-Za-z_][\w$]*")
_TOKEN = re.compile(r"\\\S+|[A-Za-z_][\w$]*|\d+'[sS]?[bBoOdDhH][0-9a-fA-FxXzZ_?]+|\d+|\S")


def _clean(text: str) -> str:
    return _COMMENT.sub(" ", _SRC.sub(" ", text))


def _name(n: str) -> str:
    """An identifier without the escape: ``\\a.b`` -> ``a.b``."""
    return n[1:] if n.startswith("\\") else n


@dataclass(frozen=True)
class _Module:
    name: str                  # unescaped
    ports: tuple[str, ...]     # in header order, unescaped
    body: str                  # between the header and endmodule, attributes and comments removed
    text: str                  # the original definition (with attributes)


def modules(verilog_text: str) -> dict[str, _Module]:
    """Every module definition of a Verilog text, by unescaped name."""
    out = {}
    clean = _clean(verilog_text)
    originals = {_name(m.group(1)): m.group(0) for m in _MODULE.finditer(verilog_text)}
    for m in _MODULE.finditer(clean):
        name = _name(m.group(1))
        ports = tuple(_name(p.strip()) for p in m.group(2).split(",") if p.strip())
        out[name] = _Module(name, ports, m.group(3), originals.get(name, m.group(0)))
    return out


def _instances(mod: _Module, known: set[str]) -> list[tuple[str, str]]:
    """(sub-module, instance name) of every instance of a known module in ``mod``."""
    found = []
    for m in re.finditer(r"(?:^|;)\s*(\\\S+|[A-Za-z_][\w$]*)\s+(\\\S+|[A-Za-z_][\w$]*)\s*\(", mod.body):
        if _name(m.group(1)) in known:
            found.append((_name(m.group(1)), _name(m.group(2))))
    return found


_DECL = re.compile(r"(?:^|;)\s*(?:wire|reg|integer)\s+(?:signed\s+)?(?:\[[^\]]*\]\s*)?(\\\S+|[A-Za-z_][\w$]*)")


_PORT_DECL = re.compile(r"(input|output|inout|wire|reg)\s+(signed\s+)?(\[[^\]]*\]\s*)?(\\\S+|[A-Za-z_][\w$]*)\s*(=.*)?", re.S)


_INST = re.compile(r"(\s*)(\\\S+|[A-Za-z_][\w$]*)(\s+)(\\\S+|[A-Za-z_][\w$]*)(\s*)\((.*)\)(\s*)", re.S)


def _split_top(text: str) -> list[str]:
    """``text`` split at the commas outside brackets."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    return parts + ["".join(cur)]


def _sorted_connections(stmt: str, child_ports: dict[str, tuple[str, ...]]) -> str:
    """An instance statement of a known sub-module with its ``.port(net)`` connections in the
    order of the sub-module's header (Yosys writes them in name order); other statements as they are."""
    m = _INST.fullmatch(stmt)
    if not m or _name(m.group(2)) not in child_ports:
        return stmt
    pos = {q: i for i, q in enumerate(child_ports[_name(m.group(2))])}
    conns = _split_top(m.group(6))
    key = lambda c: pos.get(_name(re.match(r"\s*\.\s*(\\\S+|[A-Za-z_][\w$]*)", c).group(1))
                            if re.match(r"\s*\.", c) else "", len(pos))
    return stmt if not all(re.match(r"\s*\.", c) for c in conns) else \
        m.group(1) + m.group(2) + " " + m.group(4) + " (" + ",".join(c.strip() for c in sorted(conns, key=key)) + ")"


def _signature(mod: _Module, child_class: dict[str, str], child_ports: dict[str, tuple[str, ...]] | None = None) -> str:
    """The module's text with local names renamed in order of appearance, sub-modules replaced by
    their class, its own ports by their position in the header and the port names of a
    connection ``.port(net)`` to a sub-module by that port's position in the sub-module's header.
    Port names are not part of the circuit: Amaranth names a sub-module's ports after the parent's
    signal bits they carry (``port$259$8``), which differ from one PE of an array to the next."""
    known = set(child_class)
    child_ports = child_ports or {}
    locals_ = {_name(m.group(1)) for m in _DECL.finditer(mod.body)} - set(mod.ports)
    locals_ |= {inst for _, inst in _instances(mod, known)}
    own = {p: f"<port {i}>" for i, p in enumerate(mod.ports)}
    # the port declarations come in name order, which is not the header's: keep them aside, by position
    decls, stmts = [], []
    for st in mod.body.split(";"):
        m = _PORT_DECL.fullmatch(st.strip())
        if m and _name(m.group(4)) in own:
            decls.append((own[_name(m.group(4))], m.group(1), m.group(2) or "", re.sub(r"\s", "", m.group(3) or ""),
                          (m.group(5) or "").strip()))
        else:
            stmts.append(_sorted_connections(st, child_ports))
    rename: dict[str, str] = {}
    out = [repr(sorted(decls, key=lambda d: int(d[0][6:-1])))]
    prev = ""
    current: dict[str, int] = {}           # the ports of the sub-module whose instance is being read
    for tok in _TOKEN.findall(";".join(stmts)):
        n = _name(tok) if _IDENT.fullmatch(tok) else None
        if tok == ";":
            current = {}
        if n is not None and prev == ".":
            if n in current:
                tok = f"<pin {current[n]}>"
        elif n is not None:
            if n in child_class:
                current = {q: i for i, q in enumerate(child_ports.get(n, ()))}
                tok = f"<class {child_class[n]}>"
            elif n in own:
                tok = own[n]
            elif n in locals_:
                tok = rename.setdefault(n, f"<local {len(rename)}>")
        out.append(tok)
        prev = tok
    return f"ports {len(mod.ports)}\n" + " ".join(out)


def block_classes(verilog_text: str) -> dict[str, str]:
    """Module name -> class hash; modules with one hash are identical up to local renaming."""
    mods = modules(verilog_text)
    known = set(mods)
    cls: dict[str, str] = {}

    def visit(name: str, stack=()):
        if name in cls:
            return cls[name]
        if name in stack:
            raise ValueError(f"recursive module {name}")
        for child, _ in _instances(mods[name], known):
            visit(child, stack + (name,))
        subs = {c: cls[c] for c, _ in _instances(mods[name], known)}
        sig = _signature(mods[name], subs, {c: mods[c].ports for c in subs})
        cls[name] = hashlib.sha256(sig.encode()).hexdigest()[:16]
        return cls[name]

    for name in mods:
        visit(name)
    return cls


def repeated_blocks(verilog_text: str, min_count: int = 2, outermost: bool = False) -> list[list[str]]:
    """The classes with at least ``min_count`` members (module names, in text order), largest
    definitions first. A class nested in another repeated class is listed too (it repeats there)
    unless ``outermost``: then only classes not inside a member of another listed class."""
    cls = block_classes(verilog_text)
    by: dict[str, list[str]] = {}
    for name, h in cls.items():
        by.setdefault(h, []).append(name)
    mods = modules(verilog_text)
    groups = [g for g in by.values() if len(g) >= min_count]
    if outermost:
        inside = set()
        for g in groups:
            for m in g:
                inside |= set(_descendants(mods, m)) - {m}
        groups = [g for g in groups if not set(g) <= inside]
    return sorted(groups, key=lambda g: -len(mods[g[0]].text))


def design_block_classes(design, top_name: str, verilog_text: str) -> dict[str, list[str]]:
    """``Design.blocks[...].group`` -> the module names of its blocks, checked to be one class
    (raises ``ValueError`` naming the odd block if the group's modules differ)."""
    cls = block_classes(verilog_text)
    out: dict[str, list[str]] = {}
    for blk in design.blocks.values():
        if blk.group is None:
            continue
        mod = f"{top_name}.{blk.name}"
        if mod not in cls:
            raise ValueError(f"block {blk.name}: no module {mod} in the Verilog")
        out.setdefault(blk.group, []).append(mod)
    for group, mods in out.items():
        first = cls[mods[0]]
        for m in mods[1:]:
            if cls[m] != first:
                raise ValueError(f"group {group}: {m} differs from {mods[0]}; they cannot share a macro")
    return out


def _escape(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][\w$]*", name) else "\\" + name + " "


def _descendants(mods: dict[str, _Module], name: str) -> list[str]:
    seen, todo = [], [name]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.append(n)
        todo += [c for c, _ in _instances(mods[n], set(mods))]
    return seen


def extract_module(verilog_text: str, module: str, new_name: str) -> str:
    """``module`` and everything below it as a standalone text whose top is ``new_name``."""
    mods = modules(verilog_text)
    if module not in mods:
        raise ValueError(f"module {module!r} not in the Verilog (have e.g. {', '.join(list(mods)[:5])})")
    parts = []
    for n in _descendants(mods, module):
        text = mods[n].text
        if n == module:
            text = re.sub(r"^(\s*module\s+)(\\\S+\s|[A-Za-z_][\w$]*)", lambda m: m.group(1) + new_name + " ",
                          _MODULE.search(text).group(0), count=1)
            text = text.replace("(* top =  1  *)", "")
            text = "(* top = 1 *)\n" + text
        else:
            text = text.replace("(* top =  1  *)", "")
        parts.append(text)
    return "\n\n".join(parts) + "\n"


def _port_decls(mod_text: str, ports: tuple[str, ...]) -> list[str]:
    decls = []
    clean = _clean(mod_text)
    for p in ports:
        m = re.search(r"(?:^|;)\s*(input|output|inout)\s+(?:wire\s+|reg\s+)?(?:signed\s+)?(\[[^\]]*\]\s*)?\\?"
                      + re.escape(_escape(p).strip().lstrip("\\")) + r"\s*;", clean)
        if not m:
            raise ValueError(f"no declaration for port {p}")
        decls.append(f"  {m.group(1)} {(m.group(2) or '').strip()} {_escape(p)};".replace("  ;", " ;"))
    return decls


def blackbox(name: str, mod_text: str) -> str:
    """A blackbox module ``name`` with the ports (names, directions, widths) of ``mod_text``."""
    m = _MODULE.search(_clean(mod_text))
    ports = tuple(_name(p.strip()) for p in m.group(2).split(",") if p.strip())
    body = "\n".join(_port_decls(mod_text, ports))
    return (f"(* blackbox *)\nmodule {_escape(name)}({', '.join(_escape(p) for p in ports)});\n"
            f"{body}\nendmodule\n")


def _rename_connections(text: str, module: str, new_module: str, ports: dict[str, str]) -> str:
    """In a parent's text, every instance of ``module`` becomes one of ``new_module`` with its
    connection names ``.old(net)`` renamed by ``ports`` (old -> new)."""
    inst = re.compile(r"(^|;)(\s*)(" + re.escape(_escape(module).strip()) + r")(\s+)(\\\S+\s|[A-Za-z_][\w$]*)(\s*\()(.*?)(\)\s*;)",
                      re.S | re.M)

    def conn(m: re.Match) -> str:
        body = re.sub(r"\.\s*(\\\S+\s|[A-Za-z_][\w$]*)(\s*\()",
                      lambda c: "." + _escape(ports.get(_name(c.group(1).strip()), _name(c.group(1).strip()))).strip()
                      + " " + c.group(2).lstrip(), m.group(7))
        return m.group(1) + m.group(2) + _escape(new_module).strip() + m.group(4) + m.group(5) + m.group(6) + body + m.group(8)
    return inst.sub(conn, text)


def macro_pin(port: str) -> str:
    """A port's name on a macro: liberty readers (Yosys, qflow's tools) take no ``$`` or ``.`` in a
    pin name, so ``port$259$8`` becomes ``port_259_8``."""
    return re.sub(r"[^A-Za-z0-9_]", "_", port)


def clean_ports(text: str, module: str) -> str:
    """``text`` with the ports of ``module`` renamed by :func:`macro_pin` inside that module."""
    mods = modules(text)
    mod = mods[module]
    new = mod.text
    for port in mod.ports:
        clean = macro_pin(port)
        if clean != port:
            if clean in mod.ports:
                raise ValueError(f"{module}: ports {port!r} and {clean!r} would share a macro pin name")
            new = re.sub(r"(?<![\w$.\\])\\?" + re.escape(port) + r"(?![\w$.])", clean + " ", new)
    return text.replace(mod.text, new)


def replace_with_macro(verilog_text: str, members: list[str], macro: str, macro_verilog: str) -> str:
    """Every instance of a module in ``members`` (one class, see :func:`block_classes`) becomes an
    instance of ``macro``; the members' definitions and whatever only they used are dropped and
    ``macro_verilog`` (the blackbox, with the first member's ports) is appended. A member's port
    names may differ from the first member's (the class matches ports by position): each
    instance's connections are renamed position by position."""
    mods = modules(verilog_text)
    cls = block_classes(verilog_text)
    if len({cls[m] for m in members}) != 1:
        raise ValueError("replace_with_macro: the members are not one class of identical modules")
    own = mods[members[0]].ports
    bb = modules(macro_verilog).get(macro) if macro_verilog else None
    ref = bb.ports if bb else tuple(macro_pin(p) for p in own)       # the macro's pins, by position
    if len(ref) != len(own) or any(macro_pin(a) != macro_pin(b) for a, b in zip(ref, own)):
        raise ValueError(f"replace_with_macro: {macro} ports differ from {members[0]}'s")
    memberset = set(members)
    # every module still reachable from the tops once the members are leaves
    tops = [n for n in mods if not any(n in {c for c, _ in _instances(mods[o], set(mods))} for o in mods)]
    keep, todo = set(), list(tops)
    while todo:
        n = todo.pop()
        if n in keep or n in memberset:
            continue
        keep.add(n)
        todo += [c for c, _ in _instances(mods[n], set(mods))]
    out = []
    for n, mod in mods.items():
        if n not in keep:
            continue
        text = mod.text
        for c in {c for c, _ in _instances(mod, memberset)}:
            text = _rename_connections(text, c, macro, dict(zip(mods[c].ports, ref)))
        out.append(text)
    return "\n\n".join(out) + "\n\n" + macro_verilog


def _def_pins(def_text: str) -> tuple[float, tuple[float, float, float, float], dict[str, dict]]:
    units, die = def_units_die(def_text)
    sec = re.search(r"^PINS \d+ ;(.*?)^END PINS", def_text, re.S | re.M).group(1)
    pins = {}
    for m in re.finditer(r"-\s+(\S+)\s+\+\s+NET\s+\S+(.*?);", sec, re.S):
        body = m.group(2)
        lay = re.search(r"\+ LAYER (\S+) \( (\S+) (\S+) \) \( (\S+) (\S+) \)", body)
        pl = re.search(r"\+ (?:PLACED|FIXED) \( (\S+) (\S+) \) (\S+)", body)
        d = re.search(r"\+ DIRECTION (\S+)", body)
        use = re.search(r"\+ USE (\S+)", body)
        if not (lay and pl):
            continue
        x, y = float(pl.group(1)), float(pl.group(2))
        pins[m.group(1)] = {"layer": lay.group(1),
                            "rect": [x + float(lay.group(2)), y + float(lay.group(3)),
                                     x + float(lay.group(4)), y + float(lay.group(5))],
                            "direction": d.group(1) if d else None, "use": use.group(1) if use else None}
    return units, die, pins


def _routed_layers(def_text: str, signal_only: bool = False) -> list[str]:
    """The layers the routed nets use (without the vdd/gnd special nets if ``signal_only``)."""
    nets = re.search(r"^NETS \d+ ;(.*?)^END NETS", def_text, re.S | re.M)
    special = re.search(r"^SPECIALNETS \d+ ;(.*?)^END SPECIALNETS", def_text, re.S | re.M)
    sp = special.group(1) if special else ""
    if signal_only:
        sp = re.sub(r"^-\s+(vdd|gnd)\b.*?;\s*$", "", sp, flags=re.S | re.M)
    text = (nets.group(1) if nets else "") + sp
    return sorted(set(re.findall(r"(?:ROUTED|NEW|FIXED)\s+(metal\d)", text)), key=lambda l: int(l[5:]))


def _power_shapes(def_text: str, above: int) -> dict[str, list[tuple[str, list[float]]]]:
    """The vdd/gnd geometry (stripes, via pads; DEF units) on layers above ``metal<above>``."""
    vias = {}
    vsec = re.search(r"^VIAS \d+ ;(.*?)^END VIAS", def_text, re.S | re.M)
    for m in re.finditer(r"-\s+(\S+)(.*?);", vsec.group(1) if vsec else "", re.S):
        vias[m.group(1)] = [(l, [float(a), float(b), float(c), float(d)]) for l, a, b, c, d in
                            re.findall(r"RECT (\S+) \( (\S+) (\S+) \) \( (\S+) (\S+) \)", m.group(2))]
    sec = re.search(r"^SPECIALNETS \d+ ;(.*?)^END SPECIALNETS", def_text, re.S | re.M)
    shapes: dict[str, list] = {}
    for m in re.finditer(r"^-\s+(\S+)(.*?);\s*$", sec.group(1) if sec else "", re.S | re.M):
        net = m.group(1)
        if net not in ("vdd", "gnd"):
            continue
        for seg in re.finditer(r"(?:FIXED|ROUTED|NEW)\s+(metal(\d))\s+(\d+)\s+\( (\S+) (\S+) \)"
                               r"(?:\s+\( (\S+) (\S+) \))?(?:\s+([A-Za-z]\w*))?", m.group(2)):
            lay, li, wid, x0, y0, x1, y1, via = seg.groups()
            x0, y0 = float(x0), float(y0)
            if via and x1 == "*" and y1 == "*":
                for vl, r in vias.get(via, []):
                    if vl.startswith("metal") and int(vl[5:]) > above:
                        shapes.setdefault(net, []).append((vl, [x0 + r[0], y0 + r[1], x0 + r[2], y0 + r[3]]))
            elif x1 is not None and int(li) > above:
                x1 = x0 if x1 == "*" else float(x1)
                y1 = y0 if y1 == "*" else float(y1)
                hw = float(wid) / 2
                shapes.setdefault(net, []).append(
                    (lay, [min(x0, x1) - hw, min(y0, y1) - (hw if y0 == y1 else 0),
                           max(x0, x1) + hw, max(y0, y1) + (hw if y0 == y1 else 0)]))
    for net, rects in shapes.items():            # drop repeats and shapes inside another one
        uniq = list(dict.fromkeys((l, tuple(r)) for l, r in rects))
        shapes[net] = [(l, list(r)) for l, r in uniq if not any(
            l2 == l and (l2, r2) != (l, r) and r2[0] <= r[0] and r2[1] <= r[1] and r2[2] >= r[2] and r2[3] >= r[3]
            for l2, r2 in uniq)]
    return shapes


def _layer_info() -> dict[str, dict]:
    text = STD_LEF.read_text()
    info = {}
    for m in re.finditer(r"^LAYER (\S+)\s*\n(.*?)^END \1", text, re.S | re.M):
        body = m.group(2)
        if "ROUTING" not in body:
            continue
        info[m.group(1)] = {"direction": re.search(r"DIRECTION\s+(\w+)", body).group(1),
                            "pitch": float(re.search(r"PITCH\s+([\d.]+)", body).group(1)),
                            "width": float(re.search(r"WIDTH\s+([\d.]+)", body).group(1))}
    return info


def _core_from_cfg(cfg_text: str, die_um: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The core area: the die minus qflow's pin-ring obstructions in the qrouter script."""
    x0, y0, x1, y1 = die_um
    cx0, cy0, cx1, cy1 = x0, y0, x1, y1
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    for m in re.finditer(r"^obstruction (\S+) (\S+) (\S+) (\S+) \S+", cfg_text, re.M):
        a, b, c, d = map(float, m.groups())
        if d - b > c - a:                 # vertical strip: left or right side
            if (a + c) / 2 < mx:
                cx0 = max(cx0, min(c, mx))
            else:
                cx1 = min(cx1, max(a, mx))
        else:
            if (b + d) / 2 < my:
                cy0 = max(cy0, min(d, my))
            else:
                cy1 = min(cy1, max(b, my))
    return cx0, cy0, cx1, cy1


def uncovered_routing(def_text: str, core_um: list[float], obs_layers: list[str]) -> list[tuple]:
    """Routed points of the block's signal nets that the abstract's OBS does not cover and that are
    not the net's own pin stub: (net, layer, x, y) in µm from the die's lower-left corner. Inside
    the core every routed layer is covered; in the pin ring, a layer is covered along the sides it
    runs parallel to, and only a port's own net may run across the ring (to its pin)."""
    units, die, pins = _def_pins(def_text)
    info = _layer_info()
    nets = re.search(r"^NETS \d+ ;(.*?)^END NETS", def_text, re.S | re.M)
    bad = []
    for m in re.finditer(r"^-\s+(\S+)(.*?);\s*$", nets.group(1) if nets else "", re.S | re.M):
        net = m.group(1)
        for seg in re.finditer(r"(?:ROUTED|NEW)\s+(metal\d)\s+\( (\S+) (\S+) \)(?:\s+\( (\S+) (\S+) \))?", m.group(2)):
            lay, x0, y0, x1, y1 = seg.groups()
            x0, y0 = float(x0), float(y0)
            x1 = x0 if x1 in (None, "*") else float(x1)
            y1 = y0 if y1 in (None, "*") else float(y1)
            for x, y in ((x0, y0), (x1, y1)):
                px, py = (x - die[0]) / units, (y - die[1]) / units
                if lay not in obs_layers:
                    bad.append((net, lay, px, py))
                    continue
                if core_um[0] <= px <= core_um[2] and core_um[1] <= py <= core_um[3]:
                    continue
                horizontal = info[lay]["direction"] == "HORIZONTAL"
                along = (horizontal and not core_um[1] <= py <= core_um[3]) or \
                        (not horizontal and not core_um[0] <= px <= core_um[2])
                if not along and net in pins:
                    continue                               # a port's stub across the ring
                if along:
                    continue                               # covered by the ring OBS of that layer
                bad.append((net, lay, px, py))
    return bad


def write_lef(name: str, def_text: str, cfg_text: str, port_dirs: dict[str, str], path: Path,
              halo_um: float = HALO_UM) -> dict:
    """Write the LEF abstract of a routed block; returns its geometry (µm, origin at the lower-left
    corner of the macro): ``width``, ``height``, ``pins``, ``obs_layers``, ``core``. ``OBS`` covers
    the layers the signal nets are routed on; vdd/gnd shapes above them (qflow's power stripes and
    their via pads) become parts of the vdd/gnd pins. The macro is the routed die plus a free
    ``halo_um`` on every side (no OBS there, the signal pins stretched across it to the macro's
    edge): the parent's router reaches every pin even where the macro abuts another or the die's
    edge (without it, macros placed at the parent's die edge left pins with no way in)."""
    units, die, pins = _def_pins(def_text)
    dx, dy = die[0], die[1]
    w, h = (die[2] - die[0]) / units, (die[3] - die[1]) / units
    hl = max(0.0, halo_um)
    layers = _layer_info()
    used = _routed_layers(def_text, signal_only=True)
    top = max(int(l[5:]) for l in used) if used else 1
    power = _power_shapes(def_text, top)
    die_um = tuple(v / units for v in die)
    core = _core_from_cfg(cfg_text, die_um)
    core = (core[0] - dx / units, core[1] - dy / units, core[2] - dx / units, core[3] - dy / units)
    # the pin ring is the die's edge: where macro placement left a wider channel between the pins
    # and the core (flows/macro_place.py), the channel is the block's own routing space, inside the OBS
    core = (min(core[0], RING_UM), min(core[1], RING_UM), max(core[2], w - RING_UM), max(core[3], h - RING_UM))
    g = lambda v: round(round(v / 0.05) * 0.05, 3)       # the manufacturing grid
    out_pins = {}
    lines = ["VERSION 5.6 ;", 'BUSBITCHARS "[]" ;', 'DIVIDERCHAR "/" ;', "", f"MACRO {name}",
             "  CLASS BLOCK ;", f"  FOREIGN {name} 0 0 ;", "  ORIGIN 0 0 ;", f"  SIZE {g(w + 2 * hl)} BY {g(h + 2 * hl)} ;",
             "  SYMMETRY X Y ;"]
    for pin, p in pins.items():
        x0, y0, x1, y1 = ((p["rect"][0] - dx) / units, (p["rect"][1] - dy) / units,
                          (p["rect"][2] - dx) / units, (p["rect"][3] - dy) / units)
        # stretch the pin across the ring to the nearest die edge, at least the layer's width wide
        hw = layers[p["layer"]]["width"] / 2
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        side = min((cx, "W"), (w - cx, "E"), (cy, "S"), (h - cy, "N"))[1]
        if side == "W":
            x0, x1 = 0.0, max(x1, core[0]) if cx < core[0] else x1
        elif side == "E":
            x0, x1 = (min(x0, core[2]) if cx > core[2] else x0), w
        elif side == "S":
            y0, y1 = 0.0, max(y1, core[1]) if cy < core[1] else y1
        else:
            y0, y1 = (min(y0, core[3]) if cy > core[3] else y0), h
        if side in "WE":
            y0, y1 = min(y0, cy - hw), max(y1, cy + hw)
        else:
            x0, x1 = min(x0, cx - hw), max(x1, cx + hw)
        # into the macro's frame (the halo around the die), across the halo to the macro's edge
        x0, y0, x1, y1 = x0 + hl, y0 + hl, x1 + hl, y1 + hl
        if side == "W":
            x0 = 0.0
        elif side == "E":
            x1 = w + 2 * hl
        elif side == "S":
            y0 = 0.0
        else:
            y1 = h + 2 * hl
        rect = [g(x0), g(y0), g(x1), g(y1)]
        use = "POWER" if pin == "vdd" or p["use"] == "POWER" else "GROUND" if pin == "gnd" or p["use"] == "GROUND" \
            else "SIGNAL"
        direction = {"input": "INPUT", "output": "OUTPUT"}.get(port_dirs.get(pin, ""), "INOUT")
        out_pins[pin] = {"dir": direction, "use": use, "layer": p["layer"], "rect": rect, "side": side}
        lines += [f"  PIN {pin}", f"    DIRECTION {direction} ;", f"    USE {use} ;", "    PORT",
                  f"      LAYER {p['layer']} ;", f"        RECT {rect[0]} {rect[1]} {rect[2]} {rect[3]} ;"]
        for lay, r in power.get(pin, []):         # stripes and via pads above the signal layers
            rr = [g(hl + max(0.0, (r[0] - dx) / units)), g(hl + max(0.0, (r[1] - dy) / units)),
                  g(hl + min(w, (r[2] - dx) / units)), g(hl + min(h, (r[3] - dy) / units))]
            lines += [f"      LAYER {lay} ;", f"        RECT {rr[0]} {rr[1]} {rr[2]} {rr[3]} ;"]
        lines += ["    END", f"  END {pin}"]
    lines.append("  OBS")
    up = lambda v: round(math.ceil(round(v / 0.05, 6)) * 0.05, 3)
    down = lambda v: round(math.floor(round(v / 0.05, 6)) * 0.05, 3)
    # the core's OBS reaches OBS_MARGIN_UM into the pin ring (a wire may end a fraction of a track
    # outside the core, at a macro pin in the core's edge row), rounded outwards
    mg = OBS_MARGIN_UM
    core = (max(0.0, core[0] - mg), max(0.0, core[1] - mg), min(w, core[2] + mg), min(h, core[3] + mg))
    gcore = [down(core[0] + hl), down(core[1] + hl), up(core[2] + hl), up(core[3] + hl)]
    x_lo, y_lo, x_hi, y_hi = g(hl), g(hl), g(w + hl), g(h + hl)                           # the routed die
    for lay in used:
        lines += [f"    LAYER {lay} ;", f"      RECT {gcore[0]} {gcore[1]} {gcore[2]} {gcore[3]} ;"]
        # the pin ring along the sides where this layer runs parallel to the edge
        if layers[lay]["direction"] == "HORIZONTAL":
            lines += [f"      RECT {x_lo} {y_lo} {x_hi} {gcore[1]} ;", f"      RECT {x_lo} {gcore[3]} {x_hi} {y_hi} ;"]
        else:
            lines += [f"      RECT {x_lo} {y_lo} {gcore[0]} {y_hi} ;", f"      RECT {gcore[2]} {y_lo} {x_hi} {y_hi} ;"]
    lines += ["  END", f"END {name}", "", "END LIBRARY", ""]
    bad = uncovered_routing(def_text, [core[0], core[1], core[2], core[3]], used)
    if bad:
        raise FlowError(f"LEF abstract of {name}: {len(bad)} routed points outside the OBS, e.g. {bad[:3]}")
    Path(path).write_text("\n".join(lines))
    return {"width": g(w + 2 * hl), "height": g(h + 2 * hl), "pins": out_pins, "obs_layers": used,
            "core": [down(core[0]), down(core[1]), up(core[2]), up(core[3])], "halo": hl}     # core: die frame


# --------------------------------------------------------------------------- liberty model

def _lib_pin_caps() -> dict[tuple[str, str], float]:
    """(cell, pin) -> input capacitance (pF) of the standard cells."""
    text = LIBERTY.read_text()
    caps = {}
    for cm in re.finditer(r"\bcell\s*\(\s*\"?(\w+)\"?\s*\)\s*\{", text):
        depth, i = 1, cm.end()
        start = i
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        body = text[start:i]
        for pm in re.finditer(r"\bpin\s*\(\s*\"?(\w+)\"?\s*\)\s*\{([^{}]*)", body):
            c = re.search(r"\bcapacitance\s*:\s*([\d.eE+-]+)", pm.group(2))
            if c:
                caps[(cm.group(1), pm.group(1))] = float(c.group(1))
    return caps


def _port_bits(netlist: str, top: str) -> list[tuple[str, str]]:
    """(bit name, direction) of the gate netlist's ports, bits MSB first as declared."""
    bits = []
    for m in re.finditer(r"^\s*(input|output|inout)\s+(?:\[(\d+):(\d+)\]\s*)?([\w$\\.\[\]]+)\s*;", netlist, re.M):
        d, hi, lo, n = m.groups()
        if hi is None:
            bits.append((n, d))
        else:
            hi, lo = int(hi), int(lo)
            step = -1 if hi >= lo else 1
            bits += [(f"{n}[{i}]", d) for i in range(hi, lo + step, step)]
    return bits


def _input_caps(netlist: str, rc_text: str, inputs: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """(total capacitance, wire capacitance) in pF of the net each input port drives."""
    caps = _lib_pin_caps()
    load = {p: 0.0 for p in inputs}
    wire = {p: 0.0 for p in inputs}
    for m in re.finditer(r"^\s*(\w+)\s+(\S+)\s*\((.*?)\);", netlist, re.M | re.S):
        cell = m.group(1)
        for pin, net in re.findall(r"\.(\w+)\(\s*([^()\s]+)\s*\)", m.group(3)):
            if net in load:
                load[net] += caps.get((cell, pin), 0.0)
    for line in rc_text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2].startswith("PIN/") and parts[2][4:] in load:
            wire[parts[2][4:]] += sum(float(c) for _, c in re.findall(r"\(\s*([-\d.eE+]+)\s+([-\d.eE+]+)", line))
    return {p: load[p] + wire[p] for p in inputs}, wire


def _tcl_list(names) -> str:
    return "{" + " ".join("{" + n + "}" for n in names) + "}"


def characterise(work: Path, top: str, clock_ns: float, activity: float, clock: str = "clk",
                 propagated: bool = True, log_path: Path | None = None, libs=()) -> dict:
    """Time the routed block in ``work`` (run_flow's ``sta_net.v`` and ``loads.tcl``) port by port;
    see the module docstring for what each number is. ``libs``: the liberty models of the macros
    the block instantiates (SRAMs, hardened sub-blocks)."""
    netlist = (work / "sta_net.v").read_text()
    bits = _port_bits(netlist, top)
    inputs = [b for b, d in bits if d == "input" and b != clock]
    outputs = [b for b, d in bits if d == "output"]
    rc = work / f"{top}.rc"
    caps, wire = _input_caps(netlist, rc.read_text() if rc.exists() else "", inputs + [clock])
    # run_flow's loads.tcl reaches a port's net with get_nets -of_objects [get_ports ...], which this
    # OpenSTA rejects (inside a catch): the wire of each input port's net is set here by net name
    (work / "port_loads.tcl").write_text("".join(f"catch {{set_load {c:.6g} [get_nets {{{p}}}]}}\n"
                                                 for p, c in wire.items() if c > 0))
    tcl = [f"read_liberty {LIBERTY}", *(f"read_liberty {l}" for l in libs), "read_verilog sta_net.v",
           f"link_design {top}",
           f"create_clock -name clk -period {clock_ns} [get_ports {{{clock}}}]",
           "set_propagated_clock [all_clocks]" if propagated else "",
           f"set ins [get_ports {_tcl_list(inputs)}]" if inputs else "set ins {}",
           "if {[llength $ins]} {set_input_delay 0 -clock clk $ins}",
           "set_output_delay 0 -clock clk [all_outputs]", "source loads.tcl", "source port_loads.tcl",
           "set regd [all_registers -data_pins]", "set regc [all_registers -clock_pins]",
           f"set nout {max(1, len(outputs))}",
           "proc pe {tag ends} { foreach e $ends { if {![$e is_unconstrained]} {"
           " puts \"@@ $tag [get_full_name [[$e path] pin]] [$e slack] [$e data_arrival_time]\" } } }",
           f"foreach p {_tcl_list(inputs)} {{",
           "  foreach mm {max min} {",
           "    if {[llength $regd]} {pe \"REG $mm $p\" [find_timing_paths -from [get_ports $p] -to $regd -path_delay $mm]}",
           "    pe \"COMB $mm $p\" [find_timing_paths -from [get_ports $p] -to [all_outputs] -path_delay $mm"
           " -group_count $nout -endpoint_count 1]",
           "  }", "}",
           f"foreach load {{0 {LOAD_STEP_PF}}} {{",
           "  if {[llength [all_outputs]]} {set_load $load [all_outputs]}",
           f"  foreach o {_tcl_list(outputs)} {{",
           "    puts \"@@OUT $o $load\"",
           "    report_checks -to [get_ports $o] -path_delay max -fields {slew} -digits 4",
           "    puts \"@@CLK $o $load\"",
           "    if {[llength $regc]} {report_checks -from $regc -to [get_ports $o] -path_delay max -fields {slew} -digits 4}",
           "    puts \"@@CLKMIN $o $load\"",
           "    if {[llength $regc]} {report_checks -from $regc -to [get_ports $o] -path_delay min -fields {slew} -digits 4}",
           "  }", "}",
           "if {[llength [all_outputs]]} {set_load 0 [all_outputs]}",
           "puts \"@@CHECKS\"", "report_checks -path_delay max -digits 4",
           f"set_power_activity -global -activity {activity}", "puts \"@@POWER\"", "report_power -digits 6"]
    (work / "characterise.tcl").write_text("\n".join(tcl) + "\n")
    r = subprocess.run(["sta", "-no_splash", "-exit", "characterise.tcl"], cwd=work, capture_output=True, text=True)
    out = r.stdout + r.stderr
    if log_path:
        Path(log_path).write_text(out)
    if r.returncode or "Error" in out.replace("catch", ""):
        errs = [l for l in out.splitlines() if l.startswith("Error")]
        if r.returncode or errs:
            raise FlowError(f"OpenSTA characterisation failed: {errs[:3] or out[-300:]}")
    setup, hold, comb = {}, {}, {}
    for m in re.finditer(r"^@@ (REG|COMB) (max|min) (\S+) (\S+) (\S+) (\S+)$", out, re.M):
        kind, mm, src, end = m.group(1), m.group(2), m.group(3), m.group(4)
        slack, arr = float(m.group(5)) * 1e9, float(m.group(6)) * 1e9      # the Tcl API speaks seconds
        if kind == "REG":
            if mm == "max":
                setup[src] = max(setup.get(src, -1e9), clock_ns - slack)
            else:
                hold[src] = max(hold.get(src, -1e9), -slack)
        else:
            key = (src, end)
            c = comb.setdefault(key, {"max": None, "min": None})
            c[mm] = arr if c[mm] is None else (max(c[mm], arr) if mm == "max" else min(c[mm], arr))
    out_arcs: dict[str, dict] = {}
    for m in re.finditer(r"^@@(OUT|CLKMIN|CLK) (\S+) (\S+)\n(.*?)(?=^@@)", out, re.M | re.S):
        kind, o, load, rep = m.group(1), m.group(2), float(m.group(3)), m.group(4)
        arr = re.search(r"^\s*([-\d.]+)\s+data arrival time", rep, re.M)
        slew = re.search(r"^\s*([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+[v^]\s+" + re.escape(o) + r" \(out\)", rep, re.M)
        if not arr:
            continue
        d = out_arcs.setdefault(o, {}).setdefault(kind, {})
        d[load] = {"delay": float(arr.group(1)), "slew": float(slew.group(1)) if slew else 0.0}
    checks = out.split("@@CHECKS", 1)[1].split("@@POWER", 1)[0]
    slacks = [float(x) for x in re.findall(r"^\s*([-\d.]+)\s+slack \((?:MET|VIOLATED)\)", checks, re.M)]
    pm = re.search(r"^Total\s+([\d.eE+-]+)\s+([\d.eE+-]+)\s+([\d.eE+-]+)\s+([\d.eE+-]+)",
                   out.split("@@POWER", 1)[1], re.M)
    power = dict(zip(("internal", "switching", "leakage", "total"), map(float, pm.groups()))) if pm else {}
    worst = min(slacks) if slacks else None
    return {"inputs": inputs, "outputs": outputs, "clock": clock, "clock_ns": clock_ns,
            "propagated_clock": propagated, "activity": activity,
            "input_cap_pf": caps, "setup_ns": setup, "hold_ns": hold,
            "comb_ns": {f"{a}->{b}": v for (a, b), v in comb.items()}, "outputs_ns": out_arcs,
            "worst_slack_ns": worst, "critical_path_ns": clock_ns - worst if worst is not None else None,
            "power_w": power}


def _fmt(v: float) -> str:
    return f"{v:.5g}"


def _bus_groups(bits: list[str]) -> list[tuple[str, list[str]]]:
    """Group bit names ``a[3]``… into buses (in order of first appearance); scalars alone."""
    order, groups = [], {}
    for b in bits:
        m = re.fullmatch(r"(.+)\[(\d+)\]", b)
        base = m.group(1) if m else None
        key = base if base else ("", b)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(b)
    return [(k if isinstance(k, str) else None, groups[k]) for k in order]


def write_liberty(name: str, timing: dict, area_um2: float, path: Path, corner: str = "max") -> None:
    """The liberty model of a characterised block (see the module docstring). ``corner="min"``
    writes the same model with the shortest clk -> output and input -> output delays instead of the
    longest, for OpenSTA's ``read_liberty -min`` (hold checks in the parent)."""
    if corner not in ("max", "min"):
        raise ValueError(f"corner: 'max' or 'min', got {corner!r}")
    T = timing["clock_ns"]
    clock = timing["clock"]
    step = LOAD_STEP_PF
    power = timing["power_w"]
    # the block's internal + switching energy per clock cycle (W * ns -> pJ); OpenSTA 2.0.17 charges
    # rise_power and fall_power of an input pin each at the pin's transition density (2 / period
    # for a clock), so a quarter of it goes on each edge
    energy_pj = (power.get("internal", 0.0) + power.get("switching", 0.0)) * T * 1e3
    leak_nw = power.get("leakage", 0.0) * 1e9
    comb_to: dict[str, list[tuple[str, float]]] = {}
    for k, v in timing["comb_ns"].items():
        a, b = k.split("->")
        if v.get(corner) is not None:
            comb_to.setdefault(b, []).append((a, v[corner]))
    L = [f"/* Timing model of the hardened block {name}: clock {clock} {T} ns, written by spikestack.flows.harden.",
         f"   Activity {timing['activity']}; clock {'propagated' if timing['propagated_clock'] else 'ideal'}"
         f" inside the block; {corner} delays, rise = fall = the {'worse' if corner == 'max' else 'better'}"
         " of the two. */",
         *liberty_header(f"{name}_{'lib' if corner == 'max' else 'min_lib'}"),
         "  lu_table_template(harden_load) {", "    variable_1 : total_output_net_capacitance;",
         f'    index_1 ("0, {step}");', "  }"]
    ports = [(clock, "input")] + [(b, "input") for b in timing["inputs"]] + [(b, "output") for b in timing["outputs"]]
    direction = dict(ports)
    buses = _bus_groups([p for p, _ in ports])
    for base, members in buses:
        if base is not None:
            idx = [int(re.fullmatch(r".+\[(\d+)\]", m).group(1)) for m in members]
            L += [f"  type(bus_{base}_{len(members)}) {{", "    base_type : array;", "    data_type : bit;",
                  f"    bit_width : {len(members)};", f"    bit_from : {idx[0]};", f"    bit_to : {idx[-1]};",
                  f"    downto : {'true' if idx[0] >= idx[-1] else 'false'};", "  }"]
    L += [f"  cell({name}) {{", f"    area : {_fmt(area_um2)};", "    is_macro_cell : true;", "    dont_touch : true;", "    dont_use : true;",
          "    interface_timing : true;", f"    cell_leakage_power : {_fmt(leak_nw)};"]

    def table(kind: str, d0: float, d1: float) -> list[str]:
        return [f"        {kind}(harden_load) {{ values(\"{_fmt(d0)}, {_fmt(d1)}\"); }}"]

    def pin_body(p: str, ind: str) -> list[str]:
        out = [f"{ind}direction : {direction[p]};"]
        if direction[p] == "input":
            out.append(f"{ind}capacitance : {_fmt(timing['input_cap_pf'].get(p, 0.0))};")
        if p == clock:
            out += [f"{ind}clock : true;",
                    f"{ind}internal_power() {{ rise_power(scalar) {{ values(\"{_fmt(energy_pj / 4)}\"); }}"
                    f" fall_power(scalar) {{ values(\"{_fmt(energy_pj / 4)}\"); }} }}"]
        elif direction[p] == "input":
            for kind, table_ in (("setup_rising", timing["setup_ns"]), ("hold_rising", timing["hold_ns"])):
                if p in table_:
                    v = _fmt(table_[p])
                    out += [f"{ind}timing() {{", f"{ind}  related_pin : \"{clock}\";", f"{ind}  timing_type : {kind};",
                            f"{ind}  rise_constraint(scalar) {{ values(\"{v}\"); }}",
                            f"{ind}  fall_constraint(scalar) {{ values(\"{v}\"); }}", f"{ind}}}"]
        else:
            arcs = timing["outputs_ns"].get(p, {})
            slope = 0.0
            allp = arcs.get("OUT") or arcs.get("CLK") or {}
            if 0.0 in allp and step in allp:
                slope = max(0.0, (allp[step]["delay"] - allp[0.0]["delay"]) / step)
            slews = (allp.get(0.0, {}).get("slew", 0.0), allp.get(step, {}).get("slew", 0.0))
            clk_arc = arcs.get("CLK" if corner == "max" else "CLKMIN", {})
            if 0.0 in clk_arc:
                d0 = clk_arc[0.0]["delay"]
                d1 = clk_arc.get(step, {}).get("delay", d0 + slope * step)
                out += [f"{ind}timing() {{", f"{ind}  related_pin : \"{clock}\";", f"{ind}  timing_type : rising_edge;"]
                for k in ("cell_rise", "cell_fall"):
                    out += [l.replace("        ", ind + "  ", 1) for l in table(k, d0, d1)]
                for k in ("rise_transition", "fall_transition"):
                    out += [l.replace("        ", ind + "  ", 1) for l in table(k, *slews)]
                out.append(f"{ind}}}")
            for src, d in comb_to.get(p, []):
                out += [f"{ind}timing() {{", f"{ind}  related_pin : \"{src}\";", f"{ind}  timing_type : combinational;",
                        f"{ind}  timing_sense : non_unate;"]
                for k in ("cell_rise", "cell_fall"):
                    out += [l.replace("        ", ind + "  ", 1) for l in table(k, d, d + slope * step)]
                for k in ("rise_transition", "fall_transition"):
                    out += [l.replace("        ", ind + "  ", 1) for l in table(k, *slews)]
                out.append(f"{ind}}}")
        return out

    for base, members in buses:
        if base is None:
            p = members[0]
            L += [f"    pin({p}) {{"] + pin_body(p, "      ") + ["    }"]
        else:
            L += [f"    bus({base}) {{", f"      bus_type : bus_{base}_{len(members)};",
                  f"      direction : {direction[members[0]]};"]
            for p in members:
                L += [f"      pin({p}) {{"] + pin_body(p, "        ") + ["      }"]
            L += ["    }"]
    L += ["  }", "}", ""]
    Path(path).write_text("\n".join(L))


# --------------------------------------------------------------------------- harden

def harden(verilog_text: str, module: str, out_dir: Path, clock_ns: float = 10.0, *, name: str | None = None,
           activity: float = 0.1, route_layers: int = 4, clock: str = "clk", log=print,
           blocks: list | None = None, output_buffers: bool = True) -> MacroAbstract:
    """Harden ``module`` of ``verilog_text`` (the text's top, or any module in it, which is then
    extracted with everything below it) and write its abstract into ``out_dir``:
    ``<name>.lef``, ``<name>.lib``, ``<name>.v``, ``abstract.json``; the flow's files stay in
    ``out_dir/flow``. ``name`` (the macro cell) defaults to the module's last path component.
    ``blocks``: hardened sub-blocks (abstracts) the text instantiates as macros — the block is then
    the next level of the hierarchy, placed and routed with them and timed through their models.
    ``output_buffers=False``: no buffer cell added on every output (qflow's ``nobuffers``); the
    outputs are driven by their logic (or by the one buffer an output wired straight to a
    sub-block's pin still gets)."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    mods = modules(verilog_text)
    if module not in mods:
        raise ValueError(f"harden: no module {module!r} in the Verilog")
    name = name or re.sub(r"\W", "_", module.split(".")[-1])
    text = verilog_text if name == module and len(_descendants(mods, module)) == len(mods) \
        else extract_module(verilog_text, module, name)
    text = clean_ports(text, name)
    t0 = time.time()
    for attempt in (1, 2):          # graywolf now and then exits with status 2 on a design it places
        try:                        # fine on the next run: one retry
            rep = run_flow(text, name, out_dir / "flow", clock_ns=clock_ns, activity=activity, log=log,
                           project_vars={**({"route_layers": str(route_layers)} if route_layers else {}),
                                         **({} if output_buffers else {"nobuffers": "1"})} or None,
                           blocks=blocks)
            break
        except FlowError as e:
            if attempt == 2 or "placement" not in str(e):
                raise
            log(f"[harden] {name}: {e}; retrying once")
    t_flow = time.time() - t0
    if rep["failed_routes"] is None:      # qrouter 1.4.71 ends with "Final: Failed net routes: N"
        m = re.search(r"Final: Failed net routes: (\d+)", (out_dir / "flow" / "logs" / "route.log").read_text())
        rep["failed_routes"] = int(m.group(1)) if m else None
    if rep["failed_routes"] is None or rep["failed_routes"]:
        what = "no routing result in the route log" if rep["failed_routes"] is None \
            else f"{rep['failed_routes']} failed routes (route_layers {route_layers})"
        raise FlowError(f"harden {name}: {what}; no abstract written")
    work = out_dir / "flow" / "work"
    t0 = time.time()
    log(f"[harden] {name}: characterising the routed block (OpenSTA) ...")
    timing = characterise(work, name, clock_ns, activity, clock=clock, log_path=out_dir / "flow" / "logs" /
                          "characterise.log", libs=[v["liberty"] for v in rep.get("macro_views", {}).values()])
    netlist = (work / "sta_net.v").read_text()
    dirs = dict(_port_bits(netlist, name))
    geo = write_lef(name, (work / f"{name}.def").read_text(), (work / f"{name}.cfg").read_text(), dirs,
                    out_dir / f"{name}.lef")
    missing = sorted(b for b in dirs if b not in geo["pins"])
    if missing:                 # a port the parent could not reach: no abstract rather than a wrong one
        raise FlowError(f"harden {name}: {len(missing)} ports have no placed pin in the routed DEF "
                        f"(e.g. {', '.join(missing[:3])}); no abstract written")
    write_liberty(name, timing, geo["width"] * geo["height"], out_dir / f"{name}.lib")
    write_liberty(name, timing, geo["width"] * geo["height"], out_dir / f"{name}_min.lib", corner="min")
    (out_dir / f"{name}.v").write_text(blackbox(name, modules(text)[name].text))   # ports in RTL order
    spc = work / f"{name}.spc"                   # qflow's hard-macro directories also carry a SPICE subckt
    if spc.exists():
        (out_dir / f"{name}.spc").write_text(spc.read_text())
    t_abs = time.time() - t0
    ab = MacroAbstract(name, out_dir / f"{name}.lef", out_dir / f"{name}.lib", out_dir / f"{name}.v",
                       geo["width"], geo["height"], clock_ns, route_layers, geo["pins"], rep, timing,
                       {"flow": round(t_flow, 2), "abstract": round(t_abs, 2)}, out_dir / f"{name}_min.lib")
    ab.timing["obs_layers"] = geo["obs_layers"]
    ab.timing["core_um"] = geo["core"]
    (out_dir / "abstract.json").write_text(ab.to_json())
    log(f"[harden] {name}: {rep['cells']} cells, {geo['width']} x {geo['height']} um, "
        f"{len(geo['pins'])} pins, routed on {', '.join(geo['obs_layers'])}; flow {t_flow:.0f} s")
    return ab


def harden_repeated(verilog_text: str, out_dir: Path, clock_ns: float = 10.0, *, select=None, min_count: int = 2,
                    activity: float = 0.1, route_layers: int = 4, log=print,
                    jobs: int = 1) -> tuple[str, list[MacroAbstract]]:
    """Harden each distinct repeated block once and swap every instance for its macro.

    ``select(members) -> macro name or None`` picks the classes (lists of identical modules, see
    :func:`repeated_blocks`; default: the outermost ones, named after their first member's last
    path component). Classes are hardened smallest first, each into ``out_dir/<name>``. Returns
    the parent's Verilog (blackboxes appended) and the abstracts; ``out_dir/macros.json`` lists,
    per macro, its files, its instances and the hardening time."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    if select is None:
        chosen = [(g, re.sub(r"\W", "_", g[0].split(".")[-1]).rstrip("_0123456789") or "macro")
                  for g in repeated_blocks(verilog_text, min_count, outermost=True)]
    else:
        chosen = [(g, select(g)) for g in repeated_blocks(verilog_text, min_count)]
        chosen = [(g, n) for g, n in chosen if n]
    mods = modules(verilog_text)
    covered: set[str] = set()
    picked = []
    depth = {g[0]: len(_descendants(mods, g[0])) for g, _ in chosen}
    for g, n in sorted(chosen, key=lambda c: (-depth[c[0][0]], -len(mods[c[0][0]].text))):   # outer first: skip nested
        if set(g) & covered:
            continue
        for m in g:
            covered |= set(_descendants(mods, m))
        picked.append((g, n))
    names = [n for _, n in picked]
    if len(set(names)) != len(names):
        raise ValueError(f"harden_repeated: two classes would share a macro name ({names})")
    text, abstracts, listing = verilog_text, [], {}
    picked = sorted(picked, key=lambda c: len(mods[c[0][0]].text))
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:      # classes are independent jobs
        done = list(pool.map(lambda c: harden(verilog_text, c[0][0], out_dir / c[1], clock_ns, name=c[1],
                                              activity=activity, route_layers=route_layers, log=log), picked))
    for (g, n), ab in zip(picked, done):
        text = replace_with_macro(text, g, n, ab.verilog.read_text())
        abstracts.append(ab)
        listing[n] = {"lef": str(ab.lef), "lib": str(ab.lib), "verilog": str(ab.verilog), "instances": g,
                      "cells": ab.flow["cells"], "size_um": [ab.width_um, ab.height_um], "seconds": ab.seconds}
    (out_dir / "macros.json").write_text(json.dumps(listing, indent=1) + "\n")
    return text, abstracts


GRAINS = {"pe": r"\.pe_\d+_\d+$", "pe_array": r"\.pe_array$", "expert_core": r"\.expert_core_\d+$",
          "attention_core": r"\.attention_core_\d+$", "proj_core": r"\.proj_core_\d+$",
          "repeated": None}      # every outermost repeated class (PEs, lanes, ...)


def main(argv=None) -> int:
    """``python -m spikestack.flows.harden CONFIG -o DIR [--grain pe|pe_array|expert_core|outermost]``:
    harden each distinct repeated block of a configuration's 2D top once and write the parent with
    the macros swapped in (``<top>_macros.v``) next to the macro directories and ``macros.json``."""
    import argparse
    from ..config import load_config
    from ..gen.generate import generate_verilog
    ap = argparse.ArgumentParser(prog="python -m spikestack.flows.harden", description=main.__doc__)
    ap.add_argument("config")
    ap.add_argument("-o", required=True, help="output directory")
    ap.add_argument("--grain", default="outermost", choices=sorted(GRAINS) + ["outermost"])
    ap.add_argument("--clock-ns", type=float, default=10.0)
    ap.add_argument("--route-layers", type=int, default=4)
    args = ap.parse_args(argv)
    top, text = generate_verilog(load_config(args.config))
    select = None
    if args.grain not in ("outermost", "repeated"):
        pattern = GRAINS[args.grain]
        select = lambda g: args.grain if re.search(pattern, g[0]) else None
    parent, abstracts = harden_repeated(text, Path(args.o), args.clock_ns, select=select,
                                        route_layers=args.route_layers)
    (Path(args.o) / f"{top}_macros.v").write_text(parent)
    for ab in abstracts:
        n = len(json.loads((Path(args.o) / "macros.json").read_text())[ab.name]["instances"])
        print(f"{ab.name}: {ab.flow['cells']} cells, {ab.width_um} x {ab.height_um} um, x{n} instances, "
              f"hardened in {ab.seconds['flow'] + ab.seconds['abstract']:.0f} s ({ab.lef}, {ab.lib}, {ab.verilog})")
    print(f"wrote {Path(args.o) / f'{top}_macros.v'} and {Path(args.o) / 'macros.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
