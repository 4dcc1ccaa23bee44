"""N-tier stacks of one layer design: tiers ``tier_0`` (bottom) .. ``tier_<N-1>`` (top), bonds only
between adjacent tiers.

A signal driven on tier ``s`` and used on tier ``t`` crosses every interface between them: on each
tier strictly between, it enters on one face and leaves on the other (a feed-through, no logic).
Interface ``i`` joins ``tier_i`` and ``tier_<i+1>``; a tier's port on its lower face is
``dn__<net>``, on its upper face ``up__<net>`` (``<net>`` named after the driving leaf, as the
two-tier :func:`~spikestack.hw.layers.graph.bonds` names a bond).

* :func:`stack_tier` — one tier: its blocks, the wires inside it, its exports, its face ports.
* :func:`stacked_top` — the N-tier top: the tiers joined only by their face ports.

With ``regs`` the bonds of every valid/ready stream that tolerates latency (:func:`registered_streams`)
are registered on the receiving tier (a flip-flop per bond bit, reset to 0), so a stream crossing
``k`` interfaces takes ``k`` cycles each way: the sender sends only on a credit (``valid & ready``,
ready registered back from the far end), and the far end keeps a FIFO of ``2k + 3`` words whose
credit is "room for ``2k + 1`` more": the credit seen by the sender is ``k`` cycles old, its word
lands ``k`` cycles later, and a word written this cycle is in ``level`` only the next. Memory ports, plain
signals stay combinational (docs/ntier.md says which and why).
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .graph import Design, Parts, TierError, crossing_leaves, join_port

__all__ = ["Net", "tier_name", "nets", "check_stack", "registered_streams", "stack_tier", "stacked_top"]


def tier_name(i: int) -> str:
    return f"tier_{i}"


@dataclass(frozen=True)
class Net:
    """A signal crossing tiers: its driver on ``tier``, its sinks on other tiers."""
    name: str
    width: int
    source: str
    tier: int
    sinks: tuple[tuple[str, int], ...]      # (sink leaf, its tier)
    kind: str = "signal"                     # the wire's member: stream, memory or signal
    wire: int = -1                           # index of (the first) wire in design.wires
    leaf: tuple[str, ...] = ()               # the leaf's path in its member ("valid",)

    @property
    def top(self) -> int:
        return max([self.tier] + [t for _, t in self.sinks])

    @property
    def bottom(self) -> int:
        return min([self.tier] + [t for _, t in self.sinks])

    def crossings(self) -> list[tuple[int, str]]:
        """``(interface, "up"|"down")`` for every interface the net crosses."""
        return ([(i, "up") for i in range(self.tier, self.top)]
                + [(i, "down") for i in range(self.bottom, self.tier)])

    def ports(self, k: int) -> dict[str, str]:
        """Face ports of this net on tier ``k``: port name -> ``"in"``|``"out"``."""
        out = {}
        if self.tier <= k < self.top:
            out[f"up__{self.name}"] = "out"
        if self.tier < k <= self.top:
            out[f"dn__{self.name}"] = "in"
        if self.bottom < k <= self.tier:
            out[f"dn__{self.name}"] = "out"
        if self.bottom <= k < self.tier:
            out[f"up__{self.name}"] = "in"
        return out


def _span(net: Net) -> int:
    return net.top - net.bottom


def registered_streams(all_nets: list[Net]) -> dict[int, dict[str, Net]]:
    """The valid/ready streams that can cross registered bonds: wire index -> ``{"valid",
    "payload", "ready"}`` nets, each point to point.
    Memory ports (an address answered the next cycle) and plain signals (fixed-latency
    protocols) are left combinational."""
    groups: dict[int, dict[str, Net]] = {}
    for net in all_nets:
        if net.kind == "stream" and len(net.leaf) == 1:
            groups.setdefault(net.wire, {})[net.leaf[0]] = net
    return {w: g for w, g in groups.items() if set(g) == {"valid", "payload", "ready"}
            and all(len(x.sinks) == 1 for x in g.values())}


def check_stack(design: Design, assignment: dict[str, int], n: int) -> dict[str, int]:
    """Every block on a tier ``0..n-1``, no tier empty; :class:`TierError` naming the block or tier."""
    for blk, tier in assignment.items():
        if blk not in design.blocks:
            raise TierError(f"tiers: block {blk!r} does not exist (blocks: {', '.join(design.blocks)})")
        if not (isinstance(tier, int) and 0 <= tier < n):
            raise TierError(f"tiers: block {blk!r} assigned to tier {tier!r}, outside 0..{n - 1}")
    missing = [b for b in design.blocks if b not in assignment]
    if missing:
        raise TierError(f"tiers: blocks without a tier: {', '.join(missing)}")
    for t in range(n):
        if t not in assignment.values():
            raise TierError(f"tiers: {tier_name(t)} is empty")
    return assignment


def nets(design: Design, assignment: dict[str, int], n: int) -> list[Net]:
    """Every signal crossing tiers, one net per driving leaf (sinks on any other tiers)."""
    check_stack(design, assignment, n)
    found: dict[str, dict] = {}

    def tier(ref):
        return assignment[ref.split(".")[0].split("[")[0]]
    for x in crossing_leaves(design, lambda a, b: assignment[a] != assignment[b]):
        e = found.setdefault(x["name"], {**x, "sinks": []})
        e["sinks"].append((x["sink"], tier(x["sink"])))
    return [Net(k, e["width"], e["source"], tier(e["source"]), tuple(e["sinks"]), e["kind"], e["wire"], e["leaf"])
            for k, e in found.items()]


class _Tier(wiring.Component):
    def __init__(self, members, elaborate_fn):
        self._elaborate_fn = elaborate_fn
        super().__init__(members)

    def elaborate(self, platform):
        return self._elaborate_fn(self)


def stack_tier(design: Design, assignment: dict[str, int], n: int, k: int, regs: bool = False,
               all_nets: list[Net] | None = None) -> wiring.Component:
    """Tier ``k`` of an ``n``-tier stack (module docstring)."""
    all_nets = nets(design, assignment, n) if all_nets is None else all_nets
    names = [b for b in design.blocks if assignment[b] == k]
    parts = Parts(design, names)
    exports = {p: t for p, t in design.exports.items() if assignment[t.split(".")[0]] == k}
    members = {port: parts.member(target) for port, target in exports.items()}
    mine = [(net, net.ports(k)) for net in all_nets if net.ports(k)]
    for net, ports in mine:
        for port, d in ports.items():
            members[port] = (Out if d == "out" else In)(net.width)

    streams = registered_streams(all_nets) if regs else {}
    role = {net.name: (w, leaf) for w, group in streams.items() for leaf, net in group.items()}

    def elaborate(top):
        m = Module()
        for name, c in parts.comps.items():
            m.submodules[name] = c
        for a, b in design.wires:
            if assignment[a.split(".")[0]] == k and assignment[b.split(".")[0]] == k:
                parts.connect(m, a, b)
        for port, target in exports.items():
            parts.export_into(m, top, port, target)
        arrived = {}
        for net, ports in mine:                  # what arrives on this tier (registered: stream bonds)
            if net.tier != k:
                inp = getattr(top, next(p for p, d in ports.items() if d == "in"))
                if net.name in role:
                    r = Signal(net.width, name=f"bondreg__{net.name}")
                    m.d.sync += r.eq(inp)
                    inp = r
                arrived[net.name] = inp
        fifos = {}
        for w, group in streams.items():         # the receiving end of a registered stream: a FIFO
            if group["valid"].sinks[0][1] == k:
                fifo = SyncFIFO(width=group["payload"].width, depth=2 * _span(group["valid"]) + 3)
                m.submodules[f"bondfifo_{w}"] = fifos[w] = fifo
                m.d.comb += [fifo.w_en.eq(arrived[group["valid"].name]),
                             fifo.w_data.eq(arrived[group["payload"].name]),
                             fifo.r_en.eq(parts.value(group["ready"].source))]
        for net, ports in mine:
            w, leaf = role.get(net.name, (None, None))
            if net.tier == k:
                value = parts.value(net.source)
                if leaf == "valid":              # sent only when the far end has room (its credit)
                    value = value & arrived[streams[w]["ready"].name]
                elif leaf == "ready":            # room for every word that may still be on its way
                    value = fifos[w].level < fifos[w].depth - 2 * _span(net)
            else:
                value = arrived[net.name]
                for sink, t in net.sinks:
                    if t != k:
                        continue
                    if w in fifos and leaf in ("valid", "payload"):
                        m.d.comb += parts.value(sink).eq(fifos[w].r_rdy if leaf == "valid" else fifos[w].r_data)
                    else:
                        m.d.comb += parts.value(sink).eq(value)
            for p, d in ports.items():
                if d == "out":
                    m.d.comb += getattr(top, p).eq(value)
        return m

    top = _Tier(members, elaborate)
    top.blocks = parts.comps
    return top


def stacked_top(design: Design, assignment: dict[str, int], n: int, regs: bool = False) -> wiring.Component:
    """The N-tier top: ``tier_0`` .. ``tier_<n-1>`` joined only by their face ports."""
    if n < 2:
        raise TierError(f"tiers: a stack needs at least 2, got {n}")
    all_nets = nets(design, assignment, n)
    tiers = [stack_tier(design, assignment, n, k, regs, all_nets) for k in range(n)]
    members, owner = {}, {}
    for k, comp in enumerate(tiers):
        for port in design.exports:
            if port in comp.signature.members:
                members[port] = comp.signature.members[port]
                owner[port] = k

    def elaborate(top):
        m = Module()
        for k, comp in enumerate(tiers):
            m.submodules[tier_name(k)] = comp
        for net in all_nets:
            for i, way in net.crossings():
                lo, hi = getattr(tiers[i], f"up__{net.name}"), getattr(tiers[i + 1], f"dn__{net.name}")
                m.d.comb += (hi.eq(lo) if way == "up" else lo.eq(hi))
        for port, k in owner.items():
            join_port(m, getattr(top, port), members[port], getattr(tiers[k], port))
        return m

    top = _Tier(members, elaborate)
    top.tiers = tiers
    return top
