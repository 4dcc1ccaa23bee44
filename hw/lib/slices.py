"""Bit-sliced expert weights (issue 24, after ELMoE-3D): the slice join in front of a core, and the
run's draft mode.

With ``[hw] weight_slices = S > 1`` the expert-weight GLB of a group is S banks
(``weight_glb_<g>_s<i>``, slice 0 the most significant), each ``P * w_bits/S`` bits wide: lane l
of bank i holds bits ``[w_bits - (i+1) b, w_bits - i b)`` of lane l's weight (``b = w_bits/S``).
:class:`WeightSlices` sits beside its expert core (on the logic tier of a 3D split, so every bank
crosses the bond as its own group of signals) and looks to the core like the one weight GLB it
replaces: it forwards the core's address to every bank and joins lane l's slices into a
``w_bits`` weight, the same bits the one-word GLB holds.

In a draft run (``draft`` high, the layer has an ``[elastic]`` table) the banks below the top
``draft_slices`` are not read: their read enable is low and their address held at 0 for the
whole run (no SRAM reads, no toggles on their bonds), and their bits of the weight are the
constant of ``elastic.rounding`` (``truncate``: zeros; ``midpoint``: a one in the first dropped
bit, then zeros) - see :mod:`spikestack.sim.elastic`. Latency: none added (wires and one mux level).

:class:`DraftMode` holds the mode of a run: the top's ``draft`` input sampled at start (``go``).
"""
from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["WeightSlices", "DraftMode"]


class WeightSlices(wiring.Component):
    """Parameters: ``lanes``, ``w_bits``, ``slices`` (S), ``addr_bits``; ``draft_slices`` (``None``:
    no draft input; else the slices a draft run reads), ``rounding``.

    Attributes: ``w_rd`` Out(ReadPort, lanes*w_bits) - the core's weight port; ``s<i>``
    In(ReadPort, lanes*w_bits/S) - bank i's read port; ``draft`` In(1) (when ``draft_slices`` is
    set and smaller than S)."""

    def __init__(self, *, lanes: int, w_bits: int, slices: int, addr_bits: int,
                 draft_slices: int | None = None, rounding: str = "truncate"):
        if slices < 2 or w_bits % slices:
            raise ValueError(f"slices: {slices} must be >= 2 and divide w_bits={w_bits}")
        if draft_slices is not None and not 1 <= draft_slices <= slices:
            raise ValueError(f"draft_slices: {draft_slices} not in 1..{slices}")
        self.lanes, self.w_bits, self.slices, self.b = lanes, w_bits, slices, w_bits // slices
        self.draft_slices = draft_slices if draft_slices is not None and draft_slices < slices else None
        self.rounding = rounding
        members = {"w_rd": Out(memory.ReadPort.Signature(addr_width=addr_bits, shape=lanes * w_bits))}
        for i in range(slices):
            members[f"s{i}"] = In(memory.ReadPort.Signature(addr_width=addr_bits, shape=lanes * self.b))
        if self.draft_slices is not None:
            members["draft"] = In(1)
        super().__init__(members)

    def _fill(self, i: int) -> int:
        """The value bank i's bits take in a draft run that does not read it."""
        return 1 << (self.b - 1) if self.rounding == "midpoint" and i == self.draft_slices else 0

    def elaborate(self, platform):
        m = Module()
        S, b, P = self.slices, self.b, self.lanes
        ports = [getattr(self, f"s{i}") for i in range(S)]
        dropped = [self.draft_slices is not None and i >= self.draft_slices for i in range(S)]
        for i, port in enumerate(ports):
            if dropped[i]:
                m.d.comb += [port.addr.eq(Mux(self.draft, 0, self.w_rd.addr)),
                             port.en.eq(self.w_rd.en & ~self.draft)]
            else:
                m.d.comb += [port.addr.eq(self.w_rd.addr), port.en.eq(self.w_rd.en)]
        lanes = []
        for l in range(P):
            parts = []
            for i in reversed(range(S)):              # least significant slice first
                bits = ports[i].data[l * b:(l + 1) * b]
                if dropped[i]:
                    bits = Mux(self.draft, Const(self._fill(i), b), bits)
                parts.append(bits)
            lanes.append(Cat(*parts))
        m.d.comb += self.w_rd.data.eq(Cat(*lanes))
        return m


class DraftMode(wiring.Component):
    """The mode of a run. Attributes: ``draft`` In(1) (the top's input, read at start), ``go``
    In(1) (the start pulse), ``mode`` Out(1): ``draft`` in the start cycle, then held until the
    next start."""

    def __init__(self):
        super().__init__({"draft": In(1), "go": In(1), "mode": Out(1)})

    def elaborate(self, platform):
        m = Module()
        held = Signal()
        with m.If(self.go):
            m.d.sync += held.eq(self.draft)
        m.d.comb += self.mode.eq(Mux(self.go, self.draft, held))
        return m
