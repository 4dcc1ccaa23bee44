"""A synchronous FIFO whose storage is cut into slices of the word, one sub-module per slice.

:class:`LaneFIFO` behaves exactly as Amaranth's ``fifo.SyncFIFO`` of the same width and depth,
cycle by cycle and bit by bit (same ``level``, ``w_rdy``, ``r_rdy``, first-word fall-through
``r_data`` read combinationally at the read pointer, storage starting at 0): its own logic is the
control (the write and read pointers and the level), and every slice of the word is a
:class:`FifoLane` holding ``depth`` words of that slice. Slices of equal width are the same
module, so a wide FIFO (an expert core's 2-deep FIFO of 64 currents) hardens as one small lane
macro placed once per lane instead of one flat block of thousands of flip-flops.
"""
from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from .shapes import index_range

__all__ = ["FifoLane", "LaneFIFO"]


class FifoLane(wiring.Component):
    """``depth`` words of ``width`` bits: one storage slice of a :class:`LaneFIFO`.

    Word ``w_addr`` takes ``w_data`` at the end of a cycle with ``w_en``; ``r_data`` is word
    ``r_addr`` (combinational read, latency 0: the word written in a cycle is readable in the
    next). Words start at 0.

    Attributes: ``w_addr``, ``r_addr`` In(range(depth)), ``w_en`` In(1), ``w_data`` In(width),
    ``r_data`` Out(width).
    """

    def __init__(self, width: int, depth: int):
        self.width, self.depth = width, depth
        super().__init__({"w_addr": In(index_range(depth)), "w_en": In(1), "w_data": In(width),
                          "r_addr": In(index_range(depth)), "r_data": Out(width)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.storage = storage = memory.Memory(shape=self.width, depth=self.depth, init=[])
        wp, rp = storage.write_port(), storage.read_port(domain="comb")
        m.d.comb += [wp.addr.eq(self.w_addr), wp.en.eq(self.w_en), wp.data.eq(self.w_data),
                     rp.addr.eq(self.r_addr), self.r_data.eq(rp.data)]
        return m


class LaneFIFO(wiring.Component):
    """A ``fifo.SyncFIFO(width=sum(widths), depth=depth)`` stored in slices (see the module docstring).

    Slice i holds bits ``sum(widths[:i])`` up to ``sum(widths[:i+1])`` of the word, in sub-module
    ``slice_<i>``. Latency: a word written in cycle c is on ``r_data`` (``r_rdy``) in cycle c+1;
    ``level`` counts the unread words; a write when full (``w_rdy`` low) is ignored.

    Attributes: ``w_data`` In(width), ``w_en`` In(1), ``w_rdy`` Out(1), ``r_data`` Out(width),
    ``r_en`` In(1), ``r_rdy`` Out(1), ``level`` Out(range(depth + 1)).
    """

    def __init__(self, widths, depth: int):
        if depth < 1 or not widths or min(widths) < 1:
            raise ValueError("LaneFIFO: depth and every slice width must be at least 1")
        self.widths, self.depth = tuple(widths), depth
        self.width = sum(self.widths)
        super().__init__({"w_data": In(self.width), "w_en": In(1), "w_rdy": Out(1),
                          "r_data": Out(self.width), "r_en": In(1), "r_rdy": Out(1),
                          "level": Out(range(depth + 1))})

    def elaborate(self, platform):
        m = Module()
        depth = self.depth
        m.d.comb += [self.w_rdy.eq(self.level != depth), self.r_rdy.eq(self.level != 0)]
        do_read, do_write = self.r_rdy & self.r_en, self.w_rdy & self.w_en
        produce, consume = Signal(range(depth)), Signal(range(depth))
        with m.If(do_write):
            m.d.sync += produce.eq(Mux(produce == depth - 1, 0, produce + 1))
        with m.If(do_read):
            m.d.sync += consume.eq(Mux(consume == depth - 1, 0, consume + 1))
        with m.If(do_write & ~do_read):
            m.d.sync += self.level.eq(self.level + 1)
        with m.If(do_read & ~do_write):
            m.d.sync += self.level.eq(self.level - 1)
        lo = 0
        for i, w in enumerate(self.widths):
            m.submodules[f"slice_{i}"] = lane = FifoLane(w, depth)
            m.d.comb += [lane.w_addr.eq(produce), lane.w_en.eq(do_write), lane.w_data.eq(self.w_data[lo:lo + w]),
                         lane.r_addr.eq(consume), self.r_data[lo:lo + w].eq(lane.r_data)]
            lo += w
        return m
