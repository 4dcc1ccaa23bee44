"""Layer tops as a graph of named blocks, and the two-tier split of the same graph.

A :class:`Design` is a description: named blocks (each built fresh by a factory, so every
elaboration has its own instances), wires between block ports, and exports (top-level ports).
Three tops are elaborated from one description, so they cannot drift apart:

* :func:`flat_top` — the 2D top: every block, every wire.
* :func:`tier_top` — one tier: its blocks, the wires inside it, its exports, and one port per
  signal that crosses to the other tier (an F2F bond).
* :func:`stitched_top` — the 3D top: both tiers as sub-modules, joined only by their bond ports.

:func:`boxed` gives the same description with chosen blocks replaced by a :class:`BlockBox`: an
instance of a cell implemented elsewhere (a hardened macro), with the block's ports. The block
itself is elaborated alone (:func:`block_component`), so the 2D top and both tiers instantiate one
and the same cell, whatever names the parent would have given the block's ports.

Wires are written ``"block.member"`` (a whole port, e.g. a stream or a memory port) on both sides;
they are matched leaf by leaf (``payload``, ``valid``, ...), each leaf driven by the side whose flow
is ``Out``. A reference to one leaf may name a bit range of it, ``"block.member.leaf[lo:hi]"``
(``hi`` exclusive, Python's slice): the wire then joins those bits only, so a wide port can feed
several blocks, or be fed by several, with no block in between. A bond is named after its driving
leaf, ``<block>__<path>`` (a bit range: ``<block>__<path>__<lo>_<hi>``), so one driver feeding
several sinks in the other tier is one bond.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from amaranth import ClockSignal, Instance, Module, ResetSignal, Shape
from amaranth.lib import wiring
from amaranth.lib.wiring import Flow, In, Out

from ...config import ConfigError
from .plan import Plan

__all__ = ["Block", "Design", "Bond", "BlockBox", "boxed", "block_component", "flat_top", "tier_top",
           "stitched_top", "bonds", "TierError", "Parts", "crossing_leaves", "join_port"]


class TierError(ValueError):
    """An impossible tier assignment (unknown block, block on two tiers, empty tier)."""


@dataclass(frozen=True)
class Block:
    """A named block: ``build()`` makes a fresh component; ``role`` is ``memory``, ``control`` or
    ``logic`` (the default memory-on-logic split puts memory and control on the top tier);
    ``group`` names blocks that repeat (hardened once in hierarchical P&R)."""
    name: str
    build: Callable[[], wiring.Component]
    role: str = "logic"
    group: str | None = None


@dataclass
class Design:
    """The description of a layer top (see module docstring)."""
    name: str
    blocks: dict[str, Block] = field(default_factory=dict)
    wires: list[tuple[str, str]] = field(default_factory=list)
    exports: dict[str, str] = field(default_factory=dict)   # top port name -> "block.member"
    plan: Plan | None = None                                  # the host-side protocol of the top

    def add(self, name: str, build, role: str = "logic", group: str | None = None) -> str:
        if name in self.blocks:
            raise ValueError(f"block {name!r} defined twice")
        self.blocks[name] = Block(name, build, role, group)
        return name

    def wire(self, a: str, b: str):
        self.wires.append((a, b))

    def wire_all(self, pairs):
        """``wire(a, b)`` for every ``(a, b)`` of ``pairs``, in order."""
        for a, b in pairs:
            self.wire(a, b)

    def export(self, port: str, target: str):
        self.exports[port] = target

    def export_ports(self, block: str, ports):
        """Top ports named as ``block``'s members: ``export(p, f"{block}.{p}")`` for each."""
        for port in ports:
            self.export(port, f"{block}.{port}")

    def export_host(self, glbs, read=()):
        """The host load port of every GLB of ``glbs`` (``<glb>_host_w``) and the host read port of
        those of ``read`` (``<glb>_host_r``)."""
        for glb in glbs:
            self.export(f"{glb}_host_w", f"{glb}.host_w")
        for glb in read:
            self.export(f"{glb}_host_r", f"{glb}.host_r")


def layer_design(cfg, kind: str, plan_class) -> tuple[Design, Plan]:
    """An empty ``Design`` named ``spikestack_<kind>`` with the host plan ``plan_class(cfg)`` (the
    one place a layer top checks that the configuration is of its kind)."""
    if cfg.kind != kind:
        raise ConfigError(f"kind: expected {kind!r}, got {cfg.kind!r}")
    plan = plan_class(cfg)
    return Design(f"spikestack_{kind}", plan=plan), plan


def port_name(path) -> str:
    """The Verilog port name Amaranth gives a flattened signature member (``job__payload``)."""
    return "__".join(str(p) for p in path)


class BlockBox(wiring.Component):
    """A block as one instance of the cell ``cell``: the block's signature, no logic.

    The cell is the block elaborated alone (:func:`block_component` converted with
    ``name=cell``): its ports are ``clk``, ``rst`` and every flattened member of
    the signature, named as :func:`port_name` names them. Latency: the cell's."""

    def __init__(self, signature: wiring.Signature, cell: str):
        self.cell = cell
        super().__init__(signature)

    def elaborate(self, platform):
        conn = {"i_clk": ClockSignal(), "i_rst": ResetSignal()}
        for path, member, value in self.signature.flatten(self):
            conn[("o_" if member.flow == Out else "i_") + port_name(path)] = value
        m = Module()
        m.submodules.cell = Instance(self.cell, **conn)
        return m


def block_component(design: Design, name: str) -> wiring.Component:
    """A fresh instance of block ``name`` (of a group: any member, they are built alike), to be
    elaborated alone as the cell of its :class:`BlockBox`."""
    if name in design.blocks:
        return design.blocks[name].build()
    members = [b for b in design.blocks.values() if b.group == name]
    if not members:
        raise ValueError(f"block {name!r}: no block or group of that name (blocks: {', '.join(design.blocks)})")
    return members[0].build()


def boxed(design: Design, cells: dict[str, str]) -> Design:
    """The description with every block named in ``cells`` — by its name or its group — built as
    a :class:`BlockBox` of ``cells[name]`` (same signature, so the same wires and bonds).
    ``ValueError`` for a name that is no block or group, or a group named with one of its members."""
    groups = {b.group: [m.name for m in design.blocks.values() if m.group == b.group]
              for b in design.blocks.values() if b.group}
    for name in cells:
        both = sorted(set(groups.get(name, ())) & set(cells) - {name})
        if both:
            raise ValueError(f"blocks: {name} and its member {both[0]} both named")
    out = Design(design.name, wires=list(design.wires), exports=dict(design.exports), plan=design.plan)
    found = set()
    for b in design.blocks.values():
        key = b.name if b.name in cells else b.group if b.group in cells else None
        build = b.build
        if key is not None:
            found.add(key)
            build = (lambda b=b, cell=cells[key]: _box_of(b.build, cell))
        out.blocks[b.name] = Block(b.name, build, b.role, b.group)
    missing = set(cells) - found
    if missing:
        raise ValueError(f"blocks: no block or group named {', '.join(sorted(missing))} in {design.name} "
                         f"(have {', '.join(sorted(set(design.blocks) | set(groups)))})")
    return out


def _box_of(build, cell: str) -> BlockBox:
    comp = build()
    comp._MustUse__silence = True         # built only for its signature
    return BlockBox(wiring.Signature(dict(comp.signature.members)), cell)


_RANGE = re.compile(r"(.*)\[(\d+):(\d+)\]")


def _unranged(ref: str) -> tuple[str, tuple[int, int] | None]:
    """``"b.m.leaf[lo:hi]"`` -> ``("b.m.leaf", (lo, hi))``; without a range, ``(ref, None)``."""
    m = _RANGE.fullmatch(ref)
    return (m.group(1), (int(m.group(2)), int(m.group(3)))) if m else (ref, None)


def _split(ref: str) -> tuple[str, tuple[str, ...]]:
    block, *path = _unranged(ref)[0].split(".")
    return block, tuple(path)


def _member(comp: wiring.Component, path: tuple[str, ...]):
    """(signature member, value) of a member path of a component."""
    member = comp.signature.members[path[0]]
    value = getattr(comp, path[0])
    for name in path[1:]:
        member = member.signature.members[name]
        value = getattr(value, name)
    return member, value


def _leaves(member, value) -> dict[tuple[str, ...], tuple[Flow, object]]:
    """Leaf paths (relative to the member) -> (flow seen from the owning block, signal)."""
    if member.is_port:
        return {(): (member.flow, value)}
    # member.signature is already flipped for an In member, so its leaves' flows are the block's
    return {tuple(str(p) for p in path): (leaf.flow, v) for path, leaf, v in member.signature.flatten(value)}


def _width(v) -> int:
    return Shape.cast(v.shape()).width


def _ref_leaves(comps: dict, ref: str) -> dict[tuple[str, ...], tuple[Flow, object]]:
    """``_leaves`` of a reference; a bit range (``leaf[lo:hi]``) is one leaf, those bits of it."""
    base, bits = _unranged(ref)
    blk, path = _split(base)
    member, value = _member(comps[blk], path)
    leaves = _leaves(member, value)
    if bits is None:
        return leaves
    if not member.is_port:
        raise ValueError(f"wire end {ref}: a bit range needs one port, {base} has members")
    lo, hi = bits
    if not 0 <= lo < hi <= _width(value):
        raise ValueError(f"wire end {ref}: bits {lo}:{hi} are not within the port's {_width(value)} bits")
    flow, v = leaves[()]
    return {(): (flow, v[lo:hi])}


def _leaf_ref(ref: str, path: tuple[str, ...]) -> str:
    """The reference of leaf ``path`` under ``ref`` (a bit range is a leaf already)."""
    base, bits = _unranged(ref)
    return ref if bits else ".".join((base,) + path)


def _connect(m: Module, comps: dict, a: str, b: str):
    """Drive each sink leaf of wire a<->b from the matching source leaf."""
    la = _ref_leaves(comps, a)
    lb = _ref_leaves(comps, b)
    if set(la) != set(lb):
        raise ValueError(f"wire {a} <-> {b}: ports do not match ({sorted(la)} vs {sorted(lb)})")
    for path, (fa, va) in la.items():
        fb, vb = lb[path]
        if _width(va) != _width(vb):
            raise ValueError(f"wire {a} <-> {b}: {'.'.join(path) or 'port'} is {_width(va)} vs {_width(vb)} bits")
        if fa == Out and fb == In:
            m.d.comb += vb.eq(va)
        elif fa == In and fb == Out:
            m.d.comb += va.eq(vb)
        else:
            raise ValueError(f"wire {a} <-> {b}: {'.'.join(path) or 'port'} has two {fa.name} ends")


class _Top(wiring.Component):
    """A component elaborated from (part of) a design."""

    def __init__(self, members, elaborate_fn):
        self._elaborate_fn = elaborate_fn
        super().__init__(members)

    def elaborate(self, platform):
        return self._elaborate_fn(self)


def _build(design: Design, names, inspect_only: bool = False) -> dict:
    comps = {n: design.blocks[n].build() for n in names}
    if inspect_only:                 # built only to read their signatures: not an error to drop them
        for c in comps.values():
            c._MustUse__silence = True
    return comps


def _join(m: Module, outer, member, inner):
    """Connect an outer port to the same-shaped inner port it exports (same flows)."""
    for leaf, (flow, sig) in _leaves(member, inner).items():
        o = outer
        for name in leaf:
            o = getattr(o, name)
        m.d.comb += o.eq(sig) if flow == Out else sig.eq(o)


def _export_into(m: Module, top, port: str, comps: dict, target: str):
    blk, path = _split(target)
    _join(m, getattr(top, port), *_member(comps[blk], path))


def flat_top(design: Design, name: str | None = None, inspect_only: bool = False) -> wiring.Component:
    """The 2D top: every block and wire of the design, exports as ports. ``inspect_only``: built
    to read its ports and blocks (a manifest), not to be elaborated (no unused-elaboratable
    warning when it is dropped)."""
    comps = _build(design, design.blocks, inspect_only)
    members = {port: _member(comps[_split(t)[0]], _split(t)[1])[0] for port, t in design.exports.items()}

    def elaborate(top):
        m = Module()
        for n, c in comps.items():
            m.submodules[n] = c
        for a, b in design.wires:
            _connect(m, comps, a, b)
        for port, target in design.exports.items():
            _export_into(m, top, port, comps, target)
        return m

    top = _Top(members, elaborate)
    top.blocks = comps
    if inspect_only:
        top._MustUse__silence = True
    return top


@dataclass(frozen=True)
class Bond:
    """One F2F bond: a signal driven on one tier and used on the other."""
    name: str
    width: int
    source: str            # "block.path" of the driver
    sinks: tuple[str, ...]  # "block.path" of every sink
    from_tier: str
    to_tier: str


def _check_assignment(design: Design, assignment: dict[str, str]) -> dict[str, str]:
    tiers = ("tier_top", "tier_bottom")
    for blk, tier in assignment.items():
        if blk not in design.blocks:
            raise TierError(f"tiers: block {blk!r} does not exist (blocks: {', '.join(design.blocks)})")
        if tier not in tiers:
            raise TierError(f"tiers: block {blk!r} assigned to unknown tier {tier!r} (expected {tiers})")
    missing = [b for b in design.blocks if b not in assignment]
    if missing:
        raise TierError(f"tiers: blocks without a tier: {', '.join(missing)}")
    for tier in tiers:
        if tier not in assignment.values():
            raise TierError(f"tiers: {tier} is empty")
    return assignment


def bonds(design: Design, assignment: dict[str, str]) -> list[Bond]:
    """Every signal crossing between the tiers, one bond per driving leaf."""
    _check_assignment(design, assignment)
    comps = _build(design, design.blocks, inspect_only=True)
    found: dict[str, dict] = {}
    for a, b in design.wires:
        ba, bb = _split(a)[0], _split(b)[0]
        if assignment[ba] == assignment[bb]:
            continue
        la = _ref_leaves(comps, a)
        _ref_leaves(comps, b)                      # the other end must name a member too (raises if not)
        for path, (fa, va) in la.items():
            (src_ref, src_b, sink_ref, sink_b) = ((a, ba, b, bb) if fa == Out else (b, bb, a, ba))
            src, sink = _leaf_ref(src_ref, path), _leaf_ref(sink_ref, path)
            name = _RANGE.sub(r"\1__\2_\3", src).replace(".", "__")
            entry = found.setdefault(name, {"width": _width(va), "source": src, "sinks": [],
                                            "from": assignment[src_b], "to": assignment[sink_b]})
            entry["sinks"].append(sink)
    return [Bond(n, e["width"], e["source"], tuple(e["sinks"]), e["from"], e["to"]) for n, e in found.items()]


def tier_top(design: Design, assignment: dict[str, str], tier: str) -> wiring.Component:
    """One tier as a component: its blocks, internal wires, exports and bond ports."""
    all_bonds = bonds(design, assignment)
    names = [b for b in design.blocks if assignment[b] == tier]
    comps = _build(design, names)
    members = {}
    exports = {p: t for p, t in design.exports.items() if assignment[_split(t)[0]] == tier}
    for port, target in exports.items():
        blk, path = _split(target)
        members[port] = _member(comps[blk], path)[0]
    for bond in all_bonds:
        if bond.from_tier == tier:
            members[bond.name] = Out(bond.width)
        elif bond.to_tier == tier:
            members[bond.name] = In(bond.width)

    def leaf_value(ref: str):
        blk, path = _split(ref)
        comp = comps[blk]
        value = getattr(comp, path[0])
        for p in path[1:]:
            value = getattr(value, p)
        bits = _unranged(ref)[1]
        return value[bits[0]:bits[1]] if bits else value

    def elaborate(top):
        m = Module()
        for n, c in comps.items():
            m.submodules[n] = c
        for a, b in design.wires:
            if assignment[_split(a)[0]] == tier and assignment[_split(b)[0]] == tier:
                _connect(m, comps, a, b)
        for port, target in exports.items():
            _export_into(m, top, port, comps, target)
        for bond in all_bonds:
            if bond.from_tier == tier:
                m.d.comb += getattr(top, bond.name).eq(leaf_value(bond.source))
            elif bond.to_tier == tier:
                for sink in bond.sinks:
                    m.d.comb += leaf_value(sink).eq(getattr(top, bond.name))
        return m

    top = _Top(members, elaborate)
    top.blocks = comps
    return top


def stitched_top(design: Design, assignment: dict[str, str]) -> wiring.Component:
    """The 3D top: ``tier_top`` and ``tier_bottom`` joined only by their bond ports."""
    tiers = {t: tier_top(design, assignment, t) for t in ("tier_top", "tier_bottom")}
    members = {}
    owner = {}
    for t, comp in tiers.items():
        for port in design.exports:
            if port in comp.signature.members:
                members[port] = comp.signature.members[port]
                owner[port] = t
    all_bonds = bonds(design, assignment)

    def elaborate(top):
        m = Module()
        for t, comp in tiers.items():
            m.submodules[t] = comp
        for bond in all_bonds:
            src, dst = tiers[bond.from_tier], tiers[bond.to_tier]
            m.d.comb += getattr(dst, bond.name).eq(getattr(src, bond.name))
        for port, t in owner.items():
            _join(m, getattr(top, port), members[port], getattr(tiers[t], port))
        return m

    top = _Top(members, elaborate)
    top.tiers = tiers
    return top


class Parts:
    """Blocks of a design built for one top (an N-tier stack's tier, :mod:`spikestack.hw.layers.stack`):
    wires among them, exports, and the signal of any leaf reference."""

    def __init__(self, design: Design, names, inspect_only: bool = False):
        self.design = design
        self.comps = _build(design, names, inspect_only)

    def block_of(self, ref: str) -> str:
        return _split(ref)[0]

    def member(self, target: str):
        """The signature member of an export target."""
        blk, path = _split(target)
        return _member(self.comps[blk], path)[0]

    def connect(self, m: Module, a: str, b: str):
        _connect(m, self.comps, a, b)

    def export_into(self, m: Module, top, port: str, target: str):
        _export_into(m, top, port, self.comps, target)

    def value(self, ref: str):
        """The signal of a leaf reference (with its bit range)."""
        blk, path = _split(ref)
        value = getattr(self.comps[blk], path[0])
        for p in path[1:]:
            value = getattr(value, p)
        bits = _unranged(ref)[1]
        return value[bits[0]:bits[1]] if bits else value


def join_port(m: Module, outer, member, inner):
    """Connect an outer port to the same-shaped inner port it exports (same flows)."""
    _join(m, outer, member, inner)


def crossing_leaves(design: Design, between) -> list[dict]:
    """Every leaf of every wire whose two blocks ``between(block_a, block_b)`` says are apart:
    ``{"name", "width", "source", "sink", "wire", "leaf", "kind"}`` — the bond name as
    :func:`bonds` names it, the wire's index in ``design.wires``, the leaf's path in its member
    (``("valid",)``) and the member's kind: ``stream`` (valid/ready), ``memory`` (a memory read or
    write port: fixed latency) or ``signal`` (anything else)."""
    from amaranth.lib import memory, stream
    comps = _build(design, design.blocks, inspect_only=True)
    out = []
    for i, (a, b) in enumerate(design.wires):
        ba, bb = _split(a)[0], _split(b)[0]
        if not between(ba, bb):
            continue
        la = _ref_leaves(comps, a)
        _ref_leaves(comps, b)
        member = _member(comps[ba], _split(a)[1])[0] if _unranged(a)[1] is None else None
        sig = None if member is None or member.is_port else member.signature
        kind = ("stream" if isinstance(sig, stream.Signature) else
                "memory" if isinstance(sig, (memory.ReadPort.Signature, memory.WritePort.Signature)) else "signal")
        for path, (fa, va) in la.items():
            src_ref, sink_ref = (a, b) if fa == Out else (b, a)
            src, sink = _leaf_ref(src_ref, path), _leaf_ref(sink_ref, path)
            out.append({"name": _RANGE.sub(r"\1__\2_\3", src).replace(".", "__"), "width": _width(va),
                        "source": src, "sink": sink, "wire": i, "leaf": path, "kind": kind})
    return out
