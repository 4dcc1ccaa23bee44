"""The spiking core: event encoder + LIF PE array, reading weights and biases from buffers.

This is the compute of every expert core and attention core, and the whole of a spiking linear
layer. A *row* is one input spike vector (one token, one timestep) with what to do with it::

    row = {spikes[d_in], w_base, b_addr, v_zero, fire, sel, tag}

For every set spike j of the row (one cycle each; one cycle for an empty row), the core reads the
weight word ``w_rd[w_base + j]`` — one weight per lane — and every PE adds its lane; the bias
word ``b_rd[b_addr]`` starts the sum (with ``bias_lanes``: the bias the PE holds, loaded through
the weight port once per output tile). After the row's last event the PEs fire (``fire = 1``,
population ``sel``, membrane starting from 0 when ``v_zero``) or emit the current only
(``fire = 0``). Rows of one neuron group must arrive in timestep order, since each PE keeps one
membrane (integration-stationary). Weights are reused across all timesteps and tokens.

Latency: ``out`` is valid 2 cycles after the row's last event (1 for the synchronous buffer read,
1 for the PE registers). Throughput: ``max(1, popcount(spikes))`` cycles per row event-driven.
``out`` has no backpressure.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ...config import LifConfig
from ..lib.event import EventEncoder, flow_signature
from ..lib.glb import addr_width
from ..lib.pe import pe_op_layout
from ..lib.pe_array import PEArray

__all__ = ["CoreParams", "SpikingCore"]


@dataclass(frozen=True)
class CoreParams:
    """Everything that shapes a core; validated once."""
    rows: int
    cols: int
    d_in: int
    pops: tuple[LifConfig, ...]
    w_bits: int
    b_bits: int
    acc_bits: int
    v_bits: int
    w_depth: int
    b_depth: int
    tag_bits: int = 1
    event_driven: bool = True
    hold: bool = False      # a ``hold_last`` input (the JobCore's result drain, issue 21)
    bias_lanes: int = 0     # >0: biases held in the PEs, loaded through the weight port, this many
                            # lanes a word (issue 21; :func:`~spikestack.hw.lib.shapes.bias_packing`)
    bias_base: int = 0      # with bias_lanes: the weight-buffer address of bias word 0
    w_slices: int = 1       # the weight word is this many bit slices; bias words are in the top one
    bias_parts: int = 1     # with bias_lanes: weight words a bias word takes (a bias wider than the
                            # top slice: its slice-wide parts, low part first; then bias_lanes is 1)
    pe_neurons: bool = True  # False: the PEs integrate only; the rows are fired outside (JobCore's drain)

    def __post_init__(self):
        for name in ("rows", "cols", "d_in", "w_depth", "b_depth", "tag_bits", "w_slices"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1")
        if not self.pops:
            raise ValueError("pops: at least one LIF population")
        if self.bias_lanes:
            if self.lanes % self.bias_lanes:
                raise ValueError(f"bias_lanes: {self.bias_lanes} does not divide the {self.lanes} lanes")
            if self.bias_parts < 1 or (self.bias_parts > 1 and self.bias_lanes != 1):
                raise ValueError(f"bias_parts: {self.bias_parts} needs bias_lanes 1 (got {self.bias_lanes})")
            if self.bias_lanes * self.b_bits > self.slice_bits * self.bias_parts:
                raise ValueError(f"bias_lanes: {self.bias_lanes} biases of {self.b_bits} bits do not fit the "
                                 f"{self.slice_bits}-bit top slice of a weight word")
            if self.bias_base + self.b_depth * self.bias_groups > self.w_depth:
                raise ValueError(f"w_depth: {self.w_depth} holds no bias words from bias_base {self.bias_base}")

    @property
    def lanes(self) -> int:
        return self.rows * self.cols

    @property
    def meta_layout(self) -> data.StructLayout:
        return data.StructLayout({
            "w_base": addr_width(self.w_depth), "b_addr": addr_width(self.b_depth), "v_zero": 1, "fire": 1,
            "sel": range(max(2, len(self.pops))), "tag": self.tag_bits})

    @property
    def row_layout(self) -> data.StructLayout:
        return data.StructLayout({"spikes": self.d_in, "meta": self.meta_layout})

    @property
    def out_layout(self) -> data.StructLayout:
        return data.StructLayout({
            "spikes": self.lanes, "currents": data.ArrayLayout(signed(self.acc_bits), self.lanes),
            "tag": self.tag_bits})

    @property
    def w_port(self) -> memory.ReadPort.Signature:
        return memory.ReadPort.Signature(addr_width=addr_width(self.w_depth), shape=self.lanes * self.w_bits)

    @property
    def slice_bits(self) -> int:
        """Bits of a weight word's top slice (the whole word unsliced): where bias words are."""
        return self.lanes * self.w_bits // self.w_slices

    @property
    def bias_groups(self) -> int:
        """Bias words per output tile: ``lanes / bias_lanes * bias_parts`` (1 without bias registers)."""
        return self.lanes // self.bias_lanes * self.bias_parts if self.bias_lanes else 1

    @property
    def b_port(self) -> memory.ReadPort.Signature:
        """The bias buffer's read port of a core without ``bias_lanes`` (a bias word a row)."""
        return memory.ReadPort.Signature(addr_width=addr_width(self.b_depth), shape=self.lanes * self.b_bits)


class SpikingCore(wiring.Component):
    """See the module docstring.

    Attributes
    ----------
    rows : In(stream of CoreParams.row_layout)
    w_rd : In(ReadPort.Signature)   the weight buffer's read port (1-cycle latency), lanes*w_bits wide
    b_rd : In(ReadPort.Signature)   the bias buffer's read port, lanes*b_bits wide (no ``bias_lanes``)
    out : Out(flow of CoreParams.out_layout)   spikes / currents of all lanes and the row's tag
    busy : Out(1)                   a row is in flight (for utilisation counters)

    With ``CoreParams.hold``: ``hold_last`` In(1) — while high, the encoder emits no event with
    ``last`` (it waits; the PEs' ``current`` registers keep the last row's sums for a drain), and
    ``last_op`` Out(1) — an op with ``last`` is in the PEs this cycle (its currents are on ``out``
    the next cycle), ``last_tag`` Out(tag_bits) — that op's row tag.

    With ``CoreParams.bias_lanes`` R: the PEs hold their biases (the rows' ``b_addr`` is unused) and
    there is no ``b_rd``: biases come through the weight port. A cycle with ``bias_load`` reads
    weight word ``bias_addr`` instead of an event's (the encoder waits that cycle: no event, no
    row accepted); the low ``R * b_bits`` bits of the word's top slice (:attr:`CoreParams.slice_bits`:
    the top ``w_bits / w_slices`` bits of every lane, lane 0 first) are written into lane group
    ``bias_group`` of the PEs at the end of the next cycle, so a row accepted then or later sees them.
    With ``bias_parts`` K > 1 (a bias wider than the top slice; R = 1) bias word ``bias_group`` is
    part ``bias_group % K`` (low part first) of lane ``bias_group // K``: the first K - 1 parts are
    held in a staging register, the last writes the assembled bias into the PE.
    """

    def __init__(self, p: CoreParams):
        self.p = p
        members = {
            "rows": In(stream.Signature(p.row_layout)),
            "w_rd": In(p.w_port),
            "out": Out(flow_signature(p.out_layout)),
            "busy": Out(1),
        }
        if p.hold:
            members.update({"hold_last": In(1), "last_op": Out(1), "last_tag": Out(p.tag_bits)})
        if p.bias_lanes:
            members.update({"bias_load": In(1), "bias_addr": In(addr_width(p.w_depth)),
                            "bias_group": In(range(max(2, p.bias_groups)))})
        else:
            members["b_rd"] = In(p.b_port)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        p = self.p
        m.submodules.encoder = enc = EventEncoder(p.d_in, p.meta_layout, p.event_driven,
                                                  stallable=p.hold or bool(p.bias_lanes))
        m.submodules.pe_array = arr = PEArray(
            p.rows, p.cols, p.pops, w_bits=p.w_bits, b_bits=p.b_bits, acc_bits=p.acc_bits, v_bits=p.v_bits,
            bias_lanes=p.bias_lanes, neurons=p.pe_neurons)
        if p.bias_lanes and p.bias_parts == 1:
            m.d.sync += [arr.bias_we.eq(self.bias_load), arr.bias_group.eq(self.bias_group)]
        m.d.comb += [
            enc.rows.valid.eq(self.rows.valid),
            enc.rows.payload.eq(self.rows.payload),
            self.rows.ready.eq(enc.rows.ready),
        ]
        ev = enc.events.payload
        # stage E: address the buffers with the event
        m.d.comb += self.w_rd.en.eq(1)
        if p.bias_lanes:
            m.d.comb += self.w_rd.addr.eq(Mux(self.bias_load, self.bias_addr, ev.meta.w_base + ev.j))
        else:
            m.d.comb += [self.w_rd.addr.eq(ev.meta.w_base + ev.j), self.b_rd.addr.eq(ev.meta.b_addr),
                         self.b_rd.en.eq(1)]
        # stage P: the op meets the buffer data in the PEs
        op = Signal(pe_op_layout(len(p.pops)))
        tag_p = Signal(p.tag_bits)
        m.d.sync += [
            op.valid.eq(enc.events.valid), op.first.eq(ev.first), op.add.eq(ev.add), op.last.eq(ev.last),
            op.fire.eq(ev.meta.fire), op.v_zero.eq(ev.meta.v_zero), op.sel.eq(ev.meta.sel),
            tag_p.eq(ev.meta.tag),
        ]
        m.d.comb += [arr.op.eq(op), arr.weights.eq(self.w_rd.data)]
        if p.bias_lanes:
            # gated by the load (operand isolation: the PEs' bias inputs keep still while weights
            # stream; it also keeps them a bus of their own, not bits of the weight bus)
            top = self._top_slice(self.w_rd.data)
            if p.bias_parts > 1:
                top = self._bias_parts(m, arr, top)
            m.d.comb += arr.biases.eq(Mux(arr.bias_we, top[:p.bias_lanes * p.b_bits], 0))
        else:
            m.d.comb += arr.biases.eq(self.b_rd.data)
        stall = self.bias_load if p.bias_lanes else 0
        if p.hold:
            stall = stall | (self.hold_last & ev.last)
            m.d.comb += [self.last_op.eq(op.valid & op.last), self.last_tag.eq(tag_p)]
        if enc.stallable:
            m.d.comb += enc.stall.eq(stall)
        # stage O: registered PE outputs
        tag_o = Signal(p.tag_bits)
        with m.If(op.valid & op.last):
            m.d.sync += tag_o.eq(tag_p)
        out = self.out.payload
        m.d.comb += [
            self.out.valid.eq(arr.out_valid),
            out.spikes.eq(arr.spikes), out.currents.eq(arr.currents), out.tag.eq(tag_o),
            self.busy.eq(enc.events.valid | op.valid),
        ]
        return m

    def _bias_parts(self, m, arr, top):
        """``bias_parts`` K > 1: stage parts 0..K-2 of a bias word, write the PE on part K-1; returns
        the assembled bias bits (valid with ``arr.bias_we``)."""
        p, K, S = self.p, self.p.bias_parts, self.p.slice_bits
        we, group = Signal(), Signal(range(p.bias_groups))
        m.d.sync += [we.eq(self.bias_load), group.eq(self.bias_group)]
        part, last = Signal(range(K)), Signal()
        with m.Switch(group):
            for i in range(p.bias_groups):
                with m.Case(i):
                    m.d.comb += [part.eq(i % K), last.eq(i % K == K - 1), arr.bias_group.eq(i // K)]
        stash = Signal(S * (K - 1))
        with m.If(we & ~last):
            with m.Switch(part):
                for k in range(K - 1):
                    with m.Case(k):
                        m.d.sync += stash[k * S:(k + 1) * S].eq(top[:S])
        m.d.comb += arr.bias_we.eq(we & last)
        return Cat(stash, top[:S])

    def _top_slice(self, word):
        """The top ``w_bits / w_slices`` bits of every lane of a weight word, lane 0 lowest."""
        p = self.p
        if p.w_slices == 1:
            return word
        b = p.w_bits // p.w_slices
        return Cat(*(word[(l + 1) * p.w_bits - b:(l + 1) * p.w_bits] for l in range(p.lanes)))
