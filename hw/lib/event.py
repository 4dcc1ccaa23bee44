"""Event encoder: turns a row of input spikes into synaptic events, one per cycle.

Event-driven (the default): the encoder emits one event per *set* bit of the row, lowest index
first, so a zero spike costs nothing; a row with no spike still costs one event (``add = 0``), in
which the PEs add only the bias and fire. Dense mode (``event_driven=False``) walks every index
(one cycle per input, ``add`` = the spike bit), the baseline the benchmarks compare against.

Interface: ``rows`` is a valid/ready stream of ``{spikes, meta}``; a row is accepted the cycle its
last event of the previous row is emitted, so back-to-back rows cost no bubble. ``events`` is a
valid-only flow (no backpressure) of ``{j, add, first, last, meta}``, combinational from the
accepted row: latency 0.
"""
from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from .glb import addr_width

__all__ = ["EventEncoder", "WideEventEncoder", "flow_signature"]


def flow_signature(layout) -> wiring.Signature:
    """A valid-only flow: the producer cannot be stalled (document it where used)."""
    return wiring.Signature({"valid": Out(1), "payload": Out(layout)})


def _lowest_index(m: Module, mask, width: int):
    """Index of the lowest set bit of ``mask`` (0 when none): one-hot isolate, then OR-encode."""
    onehot = Signal(width)
    m.d.comb += onehot.eq(mask & (~mask + 1))
    bits = addr_width(width)
    idx = Signal(bits)
    for b in range(bits):
        sel = [onehot[i] for i in range(width) if (i >> b) & 1]
        if sel:
            m.d.comb += idx[b].eq(Cat(*sel).any())
    return idx


class EventEncoder(wiring.Component):
    """Parameters: ``d_in`` spikes per row, ``meta`` layout carried along, ``event_driven``.

    Attributes: ``rows`` In(stream {spikes: d_in, meta}), ``events`` Out(flow {j, add, first, last, meta}).
    Throughput: max(1, popcount(row)) cycles per row event-driven, ``d_in`` dense.

    With ``stallable=True`` there is one more input, ``stall`` In(1): in a cycle with ``stall`` no
    event is emitted and no row accepted (the encoder keeps its state); it may depend
    combinationally on ``events.payload``, which does not depend on it.
    """

    def __init__(self, d_in: int, meta, event_driven: bool = True, stallable: bool = False):
        self.d_in, self.meta_layout, self.event_driven = d_in, meta, event_driven
        self.stallable = stallable
        self.row_layout = data.StructLayout({"spikes": d_in, "meta": meta})
        self.event_layout = data.StructLayout({
            "j": range(max(2, d_in)), "add": 1, "first": 1, "last": 1, "meta": meta})
        members = {
            "rows": In(stream.Signature(self.row_layout)),
            "events": Out(flow_signature(self.event_layout)),
        }
        if stallable:
            members["stall"] = In(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        D = self.d_in
        busy = Signal()
        mask = Signal(D)
        meta = Signal(self.meta_layout)
        cur_mask = Signal(D)
        cur_meta = Signal(self.meta_layout)
        row = self.rows.payload
        ready = (~busy & ~self.stall) if self.stallable else ~busy
        m.d.comb += [
            self.rows.ready.eq(ready),
            cur_mask.eq(Mux(busy, mask, row.spikes)),
            cur_meta.eq(Mux(busy, meta.as_value(), row.meta.as_value())),
        ]
        ev = self.events.payload
        valid = ((busy | self.rows.valid) & ~self.stall) if self.stallable else (busy | self.rows.valid)
        m.d.comb += [self.events.valid.eq(valid), ev.first.eq(~busy), ev.meta.eq(cur_meta)]
        if self.event_driven:
            rest = Signal(D)
            m.d.comb += [
                rest.eq(cur_mask & (cur_mask - 1)),
                ev.j.eq(_lowest_index(m, cur_mask, D)),
                ev.add.eq(cur_mask.any()),
                ev.last.eq(~rest.any()),
            ]
            with m.If(valid):
                m.d.sync += [busy.eq(~ev.last), mask.eq(rest), meta.eq(cur_meta)]
        else:
            j = Signal(range(max(2, D)))
            cur_j = Signal(range(max(2, D)))
            m.d.comb += [
                cur_j.eq(Mux(busy, j, 0)),
                ev.j.eq(cur_j),
                ev.add.eq(cur_mask.bit_select(cur_j, 1)),
                ev.last.eq(cur_j == D - 1),
            ]
            with m.If(valid):
                m.d.sync += [busy.eq(~ev.last), j.eq(cur_j + 1), mask.eq(cur_mask), meta.eq(cur_meta)]
        return m


class WideEventEncoder(wiring.Component):
    """An :class:`EventEncoder` emitting up to ``lanes`` events a cycle (the router's, issue 42).

    Event-driven, a cycle takes the ``lanes`` lowest set bits of what is left of the row:
    ``events`` is a flow of ``{j[lanes], add[lanes], first, last, meta}``, lane w valid when
    ``add[w]`` (an empty row: one cycle, no ``add``). Dense (``event_driven=False``), a cycle walks
    ``lanes`` indices, ``add[w]`` = the spike bit of ``j[w]`` (indices past the row: 0).
    Throughput: ``max(1, ceil(popcount / lanes))`` cycles a row event-driven, ``ceil(d_in / lanes)``
    dense; rows back to back as in :class:`EventEncoder` (not stallable).
    """

    def __init__(self, d_in: int, meta, lanes: int, event_driven: bool = True):
        if lanes < 1:
            raise ValueError("lanes: at least 1")
        self.d_in, self.meta_layout, self.lanes, self.event_driven = d_in, meta, lanes, event_driven
        self.row_layout = data.StructLayout({"spikes": d_in, "meta": meta})
        self.event_layout = data.StructLayout({
            "j": data.ArrayLayout(range(max(2, d_in)), lanes), "add": lanes, "first": 1, "last": 1, "meta": meta})
        super().__init__({
            "rows": In(stream.Signature(self.row_layout)),
            "events": Out(flow_signature(self.event_layout)),
        })

    def elaborate(self, platform):
        m = Module()
        D, W = self.d_in, self.lanes
        busy = Signal()
        mask = Signal(D)
        meta = Signal(self.meta_layout)
        cur_mask = Signal(D)
        cur_meta = Signal(self.meta_layout)
        row = self.rows.payload
        m.d.comb += [
            self.rows.ready.eq(~busy),
            cur_mask.eq(Mux(busy, mask, row.spikes)),
            cur_meta.eq(Mux(busy, meta.as_value(), row.meta.as_value())),
        ]
        ev = self.events.payload
        valid = busy | self.rows.valid
        m.d.comb += [self.events.valid.eq(valid), ev.first.eq(~busy), ev.meta.eq(cur_meta)]
        if self.event_driven:
            left = cur_mask
            for w in range(W):
                rest = Signal(D, name=f"rest_{w}")
                m.d.comb += [rest.eq(left & (left - 1)), ev.j[w].eq(_lowest_index(m, left, D)),
                             ev.add[w].eq(left.any())]
                left = rest
            m.d.comb += ev.last.eq(~left.any())
            with m.If(valid):
                m.d.sync += [busy.eq(~ev.last), mask.eq(left), meta.eq(cur_meta)]
        else:
            j = Signal(range(D + W))
            cur_j = Signal(range(D + W))
            m.d.comb += [cur_j.eq(Mux(busy, j, 0)), ev.last.eq(cur_j + W >= D)]
            for w in range(W):
                m.d.comb += [ev.j[w].eq(cur_j + w), ev.add[w].eq((cur_j + w < D) & cur_mask.bit_select(cur_j + w, 1))]
            with m.If(valid):
                m.d.sync += [busy.eq(~ev.last), j.eq(cur_j + W), mask.eq(cur_mask), meta.eq(cur_meta)]
        return m
