"""A rows x cols array of LIF PEs sharing one control word: the compute of every core.

Lane ``l = r * cols + c`` is PE (r, c). All PEs receive the same ``op`` each cycle (the event
address is broadcast), each with its own weight and bias lane, so one input spike costs one
cycle for all ``rows * cols`` output neurons. Latency: outputs registered, ``out_valid`` one
cycle after an op with ``last``.

With ``bias_lanes`` R > 0 the PEs keep their biases in registers (``LifPE(bias_reg=True)``),
loaded through a narrow port: ``biases`` is R lanes, and in a cycle with ``bias_we`` lane
``l`` of ``bias_group`` g (PE lane ``g*R + l``) takes ``biases[l]``; P / R cycles load a tile.
With ``neurons=False`` the PEs integrate only (``LifPE(neuron=False)``; ``spikes`` is 0).
"""
from __future__ import annotations

from amaranth import Const, Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ...config import LifConfig
from .pe import LifPE, pe_op_layout

__all__ = ["PEArray"]


class PEArray(wiring.Component):
    """Parameters: rows, cols, pops, w_bits, b_bits, acc_bits, v_bits.

    Attributes
    ----------
    op : In(pe_op_layout)                         the control word (broadcast)
    weights : In(ArrayLayout(signed(w_bits), P))  one weight per lane
    biases : In(ArrayLayout(signed(b_bits), P))   one bias per lane
    spikes : Out(P)                               lane l's spike in bit l
    currents : Out(ArrayLayout(signed(acc_bits), P))
    out_valid : Out(1)                            the cycle after op.valid & op.last
    """

    def __init__(self, rows: int, cols: int, pops: tuple[LifConfig, ...], *, w_bits: int, b_bits: int,
                 acc_bits: int, v_bits: int, bias_lanes: int = 0, neurons: bool = True):
        if rows < 1 or cols < 1:
            raise ValueError(f"rows, cols: must be >= 1, got {rows}x{cols}")
        self.rows, self.cols, self.pops = rows, cols, tuple(pops)
        self.lanes = rows * cols
        self.widths = dict(w_bits=w_bits, b_bits=b_bits, acc_bits=acc_bits, v_bits=v_bits)
        P = self.lanes
        if bias_lanes and P % bias_lanes:
            raise ValueError(f"bias_lanes: {bias_lanes} does not divide the {P} lanes")
        self.bias_lanes = bias_lanes
        self.neurons = neurons
        members = {
            "op": In(pe_op_layout(len(self.pops))),
            "weights": In(data.ArrayLayout(signed(w_bits), P)),
            "biases": In(data.ArrayLayout(signed(b_bits), bias_lanes or P)),
            "spikes": Out(P),
            "currents": Out(data.ArrayLayout(signed(acc_bits), P)),
            "out_valid": Out(1),
        }
        if bias_lanes:
            members.update({"bias_we": In(1), "bias_group": In(range(max(2, P // bias_lanes)))})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        R = self.bias_lanes
        if R:
            load = Signal(self.lanes // R)          # one write enable per lane group
            m.d.comb += load.eq(self.bias_we.replicate(len(load)) & (Const(1, len(load)) << self.bias_group))
        for r in range(self.rows):
            for c in range(self.cols):
                lane = r * self.cols + c
                pe = LifPE(self.pops, **self.widths, bias_reg=bool(R), neuron=self.neurons)
                m.submodules[f"pe_{r}_{c}"] = pe
                m.d.comb += [
                    pe.op.eq(self.op), pe.w.eq(self.weights[lane]),
                    self.spikes[lane].eq(pe.spike), self.currents[lane].eq(pe.current),
                ]
                if R:
                    m.d.comb += [pe.bias.eq(self.biases[lane % R]), pe.bias_we.eq(load[lane // R])]
                else:
                    m.d.comb += pe.bias.eq(self.biases[lane])
        m.d.sync += self.out_valid.eq(self.op.valid & self.op.last)
        return m
