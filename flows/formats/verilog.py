"""Verilog structure, read as text: the modules of a generated (or synthesised) Verilog text, their
ports and instances, blackboxes, the extraction of one module with everything below it, and the
classes of identical modules (:func:`block_classes`) that hierarchical place-and-route hardens once.

Which blocks repeat: :func:`block_classes` hashes every module after removing what does not change
behaviour (``src`` attributes, comments, the names of local wires, regs and instances — renamed in
order of first appearance) and replacing each instantiated sub-module by the hash of its own class,
bottom-up. Two modules in one class are the same text up to those renamings, hence the same circuit
with the same port names: one macro serves both. :func:`replace_with_macro` rewrites a design so
every instance of such a class instantiates the macro cell, drops their definitions and appends
the blackbox.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

__all__ = ["Module", "modules", "instances", "descendants", "escape", "port_decls", "port_bits", "blackbox",
           "extract_module", "macro_pin", "clean_ports", "block_classes", "repeated_blocks",
           "design_block_classes", "replace_with_macro", "cells_of"]


_SRC = re.compile(r"\(\*\s*src\s*=\s*\"[^\"]*\"\s*\*\)")     # source locations: not behaviour


_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)


_MODULE = re.compile(r"^\s*module\s+(\\\S+|[A-Za-z_][\w$]*)\s*\((.*?)\);(.*?)^\s*endmodule\b", re.S | re.M)


_IDENT = re.compile(r"\\\S+|[A-Za-z_][\w$]*")


_TOKEN = re.compile(r"\\\S+|[A-Za-z_][\w$]*|\d+'[sS]?[bBoOdDhH][0-9a-fA-FxXzZ_?]+|\d+|\S")


def _clean(text: str) -> str:
    return _COMMENT.sub(" ", _SRC.sub(" ", text))


def unescape(n: str) -> str:
    """An identifier without the escape: ``\\a.b`` -> ``a.b``."""
    return n[1:] if n.startswith("\\") else n


@dataclass(frozen=True)
class Module:
    name: str                  # unescaped
    ports: tuple[str, ...]     # in header order, unescaped
    body: str                  # between the header and endmodule, attributes and comments removed
    text: str                  # the original definition (with attributes)


def modules(verilog_text: str) -> dict[str, Module]:
    """Every module definition of a Verilog text, by unescaped name."""
    out = {}
    clean = _clean(verilog_text)
    originals = {unescape(m.group(1)): m.group(0) for m in _MODULE.finditer(verilog_text)}
    for m in _MODULE.finditer(clean):
        name = unescape(m.group(1))
        ports = tuple(unescape(p.strip()) for p in m.group(2).split(",") if p.strip())
        out[name] = Module(name, ports, m.group(3), originals.get(name, m.group(0)))
    return out


def instances(mod: Module, known: set[str]) -> list[tuple[str, str]]:
    """(sub-module, instance name) of every instance of a known module in ``mod``."""
    found = []
    for m in re.finditer(r"(?:^|;)\s*(\\\S+|[A-Za-z_][\w$]*)\s+(\\\S+|[A-Za-z_][\w$]*)\s*\(", mod.body):
        if unescape(m.group(1)) in known:
            found.append((unescape(m.group(1)), unescape(m.group(2))))
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
    if not m or unescape(m.group(2)) not in child_ports:
        return stmt
    pos = {q: i for i, q in enumerate(child_ports[unescape(m.group(2))])}
    conns = _split_top(m.group(6))
    key = lambda c: pos.get(unescape(re.match(r"\s*\.\s*(\\\S+|[A-Za-z_][\w$]*)", c).group(1))
                            if re.match(r"\s*\.", c) else "", len(pos))
    return stmt if not all(re.match(r"\s*\.", c) for c in conns) else \
        m.group(1) + m.group(2) + " " + m.group(4) + " (" + ",".join(c.strip() for c in sorted(conns, key=key)) + ")"


def _signature(mod: Module, child_class: dict[str, str], child_ports: dict[str, tuple[str, ...]] | None = None) -> str:
    """The module's text with local names renamed in order of appearance, sub-modules replaced by
    their class, its own ports by their position in the header and the port names of a
    connection ``.port(net)`` to a sub-module by that port's position in the sub-module's header.
    Port names are not part of the circuit: Amaranth names a sub-module's ports after the parent's
    signal bits they carry (``port$259$8``), which differ from one PE of an array to the next."""
    known = set(child_class)
    child_ports = child_ports or {}
    locals_ = {unescape(m.group(1)) for m in _DECL.finditer(mod.body)} - set(mod.ports)
    locals_ |= {inst for _, inst in instances(mod, known)}
    own = {p: f"<port {i}>" for i, p in enumerate(mod.ports)}
    # the port declarations come in name order, which is not the header's: keep them aside, by position
    decls, stmts = [], []
    for st in mod.body.split(";"):
        m = _PORT_DECL.fullmatch(st.strip())
        if m and unescape(m.group(4)) in own:
            decls.append((own[unescape(m.group(4))], m.group(1), m.group(2) or "", re.sub(r"\s", "", m.group(3) or ""),
                          (m.group(5) or "").strip()))
        else:
            stmts.append(_sorted_connections(st, child_ports))
    rename: dict[str, str] = {}
    out = [repr(sorted(decls, key=lambda d: int(d[0][6:-1])))]
    prev = ""
    current: dict[str, int] = {}           # the ports of the sub-module whose instance is being read
    for tok in _TOKEN.findall(";".join(stmts)):
        n = unescape(tok) if _IDENT.fullmatch(tok) else None
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
        for child, _ in instances(mods[name], known):
            visit(child, stack + (name,))
        subs = {c: cls[c] for c, _ in instances(mods[name], known)}
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
                inside |= set(descendants(mods, m)) - {m}
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


def escape(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][\w$]*", name) else "\\" + name + " "


def descendants(mods: dict[str, Module], name: str) -> list[str]:
    seen, todo = [], [name]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.append(n)
        todo += [c for c, _ in instances(mods[n], set(mods))]
    return seen


def extract_module(verilog_text: str, module: str, new_name: str) -> str:
    """``module`` and everything below it as a standalone text whose top is ``new_name``."""
    mods = modules(verilog_text)
    if module not in mods:
        raise ValueError(f"module {module!r} not in the Verilog (have e.g. {', '.join(list(mods)[:5])})")
    parts = []
    for n in descendants(mods, module):
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


def port_decls(mod_text: str, ports: tuple[str, ...]) -> list[str]:
    decls = []
    clean = _clean(mod_text)
    for p in ports:
        m = re.search(r"(?:^|;)\s*(input|output|inout)\s+(?:wire\s+|reg\s+)?(?:signed\s+)?(\[[^\]]*\]\s*)?\\?"
                      + re.escape(escape(p).strip().lstrip("\\")) + r"\s*;", clean)
        if not m:
            raise ValueError(f"no declaration for port {p}")
        decls.append(f"  {m.group(1)} {(m.group(2) or '').strip()} {escape(p)};".replace("  ;", " ;"))
    return decls


def blackbox(name: str, mod_text: str) -> str:
    """A blackbox module ``name`` with the ports (names, directions, widths) of ``mod_text``."""
    m = _MODULE.search(_clean(mod_text))
    ports = tuple(unescape(p.strip()) for p in m.group(2).split(",") if p.strip())
    body = "\n".join(port_decls(mod_text, ports))
    return (f"(* blackbox *)\nmodule {escape(name)}({', '.join(escape(p) for p in ports)});\n"
            f"{body}\nendmodule\n")


def _rename_connections(text: str, module: str, new_module: str, ports: dict[str, str]) -> str:
    """In a parent's text, every instance of ``module`` becomes one of ``new_module`` with its
    connection names ``.old(net)`` renamed by ``ports`` (old -> new)."""
    inst = re.compile(r"(^|;)(\s*)(" + re.escape(escape(module).strip()) + r")(\s+)(\\\S+\s|[A-Za-z_][\w$]*)(\s*\()(.*?)(\)\s*;)",
                      re.S | re.M)

    def conn(m: re.Match) -> str:
        body = re.sub(r"\.\s*(\\\S+\s|[A-Za-z_][\w$]*)(\s*\()",
                      lambda c: "." + escape(ports.get(unescape(c.group(1).strip()), unescape(c.group(1).strip()))).strip()
                      + " " + c.group(2).lstrip(), m.group(7))
        return m.group(1) + m.group(2) + escape(new_module).strip() + m.group(4) + m.group(5) + m.group(6) + body + m.group(8)
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
    tops = [n for n in mods if not any(n in {c for c, _ in instances(mods[o], set(mods))} for o in mods)]
    keep, todo = set(), list(tops)
    while todo:
        n = todo.pop()
        if n in keep or n in memberset:
            continue
        keep.add(n)
        todo += [c for c, _ in instances(mods[n], set(mods))]
    out = []
    for n, mod in mods.items():
        if n not in keep:
            continue
        text = mod.text
        for c in {c for c, _ in instances(mod, memberset)}:
            text = _rename_connections(text, c, macro, dict(zip(mods[c].ports, ref)))
        out.append(text)
    return "\n\n".join(out) + "\n\n" + macro_verilog


def port_bits(netlist: str, top: str) -> list[tuple[str, str]]:
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


def cells_of(netlist: str) -> dict[str, str]:
    """Instance -> cell of a gate-level netlist (one module, as the flow's tools write it)."""
    return {inst: cell for cell, inst in re.findall(r"^\s*([A-Za-z]\w*)\s+(\S+)\s*\(", netlist, re.M)
            if cell not in ("module", "input", "output", "wire", "inout", "assign")}
