"""One LIF processing element: synaptic integration, membrane accumulation and spike generation, fused.

The PE is integration-stationary: its current accumulator ``I`` and membrane ``V`` stay in place
while events (the addresses of input spikes) stream past. A synapse is an *add* of the weight
where the spike is 1 — there is no multiplier. One operation per cycle (``op``, see
:data:`pe_op_layout`)::

    I_next = (bias if op.first else I) + (w if op.add else 0)
    if op.last:  currents <= I_next
                 if op.fire:  spike, V <= LIF(V or 0 if op.v_zero, I_next)   (see LifNeuron)

Latency: ``spike`` and ``current`` are registered, valid the cycle after an op with ``last``.
A step with no input spike is one op with ``first``, ``last`` and not ``add`` (the bias only).

With ``bias_reg=True`` the PE keeps its bias in a register, loaded from ``bias`` in a cycle with
``bias_we`` (its new value is used from the next cycle on), so a bias enters once per output tile
instead of with every row.

With ``neuron=False`` the PE integrates only (no membrane, no LIF step, ``spike`` is 0): a core
that fires its rows in the result drain (:class:`~spikestack.hw.blocks.jobcore.JobCore`, a few
shared neurons fed from the PEs' ``current`` registers) saves the neuron in every PE.
"""
from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ...config import LifConfig
from .lif import LifNeuron

__all__ = ["pe_op_layout", "LifPE"]


def pe_op_layout(n_pops: int) -> data.StructLayout:
    """Control word shared by all PEs of an array (one per cycle)."""
    return data.StructLayout({
        "valid": 1,     # an operation this cycle
        "first": 1,     # start a new synaptic sum from the bias
        "add": 1,       # add this cycle's weight
        "last": 1,      # the sum is complete: emit the current and, with fire, run the LIF step
        "fire": 1,      # 1: LIF step (spike out); 0: current only (membrane untouched)
        "v_zero": 1,    # first timestep of this neuron: the membrane before the (firing) step is 0
        "sel": range(max(2, n_pops)),  # which LIF population
    })


class LifPE(wiring.Component):
    """A LIF processing element (see module docstring).

    Parameters
    ----------
    pops : LIF populations it can run; w_bits, b_bits, acc_bits, v_bits : widths.

    Attributes
    ----------
    op : In(pe_op_layout), w : In(signed(w_bits)), bias : In(signed(b_bits))
    spike : Out(1), current : Out(signed(acc_bits))  — registered, valid after an op with last.
    """

    def __init__(self, pops: tuple[LifConfig, ...], *, w_bits: int, b_bits: int, acc_bits: int, v_bits: int,
                 bias_reg: bool = False, neuron: bool = True):
        self.pops = tuple(pops)
        self.neuron = neuron
        self.w_bits, self.b_bits, self.acc_bits, self.v_bits = w_bits, b_bits, acc_bits, v_bits
        self.bias_reg = bias_reg
        members = {
            "op": In(pe_op_layout(len(self.pops))),
            "w": In(signed(w_bits)),
            "bias": In(signed(b_bits)),
            "spike": Out(1),
            "current": Out(signed(acc_bits)),
        }
        if bias_reg:
            members["bias_we"] = In(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        op = self.op
        acc = Signal(signed(self.acc_bits))
        v = Signal(signed(self.v_bits))
        i_next = Signal(signed(self.acc_bits))
        bias = self.bias
        if self.bias_reg:
            bias = Signal(signed(self.b_bits))
            with m.If(self.bias_we):
                m.d.sync += bias.eq(self.bias)
        m.d.comb += i_next.eq(Mux(op.first, bias, acc) + Mux(op.add, self.w, 0))
        with m.If(op.valid):
            m.d.sync += acc.eq(i_next)
            with m.If(op.last):
                m.d.sync += self.current.eq(i_next)
        if not self.neuron:
            return m
        m.submodules.neuron = neuron = LifNeuron(self.pops, self.v_bits, self.acc_bits)
        m.d.comb += [neuron.v.eq(v), neuron.v_zero.eq(op.v_zero), neuron.i.eq(i_next), neuron.sel.eq(op.sel)]
        with m.If(op.valid & op.last & op.fire):
            m.d.sync += [v.eq(neuron.v_next), self.spike.eq(neuron.spike)]
        return m
