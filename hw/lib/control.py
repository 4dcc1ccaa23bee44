"""Start/done handshake and the cycle counter every layer top has.

``start`` (a pulse while idle) raises ``busy``; the layer's sequencer raises ``finish`` for one
cycle when its last result is written, which drops ``busy`` and raises ``done`` (held until the
next start). ``cycles`` counts the clock cycles from the start pulse to done.
"""
from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["control_members", "RunControl", "BusyCounters"]


def control_members(cycle_bits: int = 32) -> dict:
    """The handshake ports of a layer top (exported as they are)."""
    return {"start": In(1), "busy": Out(1), "done": Out(1), "cycles": Out(cycle_bits)}


class RunControl:
    """Builds the handshake logic into ``m`` for a component having :func:`control_members`.

    ``go`` is high for the one cycle in which a run starts (initialise counters on it);
    drive ``finish`` high for one cycle when the run is complete.
    """

    def __init__(self, m: Module, comp):
        self.go = Signal()
        self.finish = Signal()
        m.d.comb += self.go.eq(comp.start & ~comp.busy)
        with m.If(self.go):
            m.d.sync += [comp.busy.eq(1), comp.done.eq(0), comp.cycles.eq(0)]
        with m.Elif(comp.busy):
            m.d.sync += comp.cycles.eq(comp.cycles + 1)
            with m.If(self.finish):
                m.d.sync += [comp.busy.eq(0), comp.done.eq(1)]


class BusyCounters(wiring.Component):
    """One 32-bit counter per core of the cycles its ``busy_<i>`` input was high since ``clear``
    (``count_<i>``, registered: latency 1). The cores' utilisation counters, kept out of the cores
    so that each core has a 1-bit ``busy`` port instead of a 32-bit counter port."""

    def __init__(self, n: int):
        if n < 1:
            raise ValueError("n: at least one core")
        self.n = n
        members = {"clear": In(1)}
        for i in range(n):
            members[f"busy_{i}"] = In(1)
            members[f"count_{i}"] = Out(32)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        for i in range(self.n):
            busy, count = getattr(self, f"busy_{i}"), getattr(self, f"count_{i}")
            with m.If(self.clear):
                m.d.sync += count.eq(0)
            with m.Elif(busy):
                m.d.sync += count.eq(count + 1)
        return m
