"""A rows x cols array of LIF PEs sharing one control word: the compute of every core.

Lane ``l = r * cols + c`` is PE (r, c). All PEs receive the same ``op`` each cycle (the event
address is broadcast), each with its own weight and bias lane, so one input spike costs one
cycle for all ``rows * cols`` output neurons. Latency: outputs registered, ``out_valid`` one
cycle after an op with ``last``.
"""
from __future__ import annotations

from amaranth import Module, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..config import LifConfig
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
                 acc_bits: int, v_bits: int):
        if rows < 1 or cols < 1:
            raise ValueError(f"rows, cols: must be >= 1, got {rows}x{cols}")
        self.rows, self.cols, self.pops = rows, cols, tuple(pops)
        self.lanes = rows * cols
        self.widths = dict(w_bits=w_bits, b_bits=b_bits, acc_bits=acc_bits, v_bits=v_bits)
        P = self.lanes
        super().__init__({
            "op": In(pe_op_layout(len(self.pops))),
            "weights": In(data.ArrayLayout(signed(w_bits), P)),
            "biases": In(data.ArrayLayout(signed(b_bits), P)),
            "spikes": Out(P),
            "currents": Out(data.ArrayLayout(signed(acc_bits), P)),
            "out_valid": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        for r in range(self.rows):
            for c in range(self.cols):
                lane = r * self.cols + c
                pe = LifPE(self.pops, **self.widths)
                m.submodules[f"pe_{r}_{c}"] = pe
                m.d.comb += [
                    pe.op.eq(self.op), pe.w.eq(self.weights[lane]), pe.bias.eq(self.biases[lane]),
                    self.spikes[lane].eq(pe.spike), self.currents[lane].eq(pe.current),
                ]
        m.d.sync += self.out_valid.eq(self.op.valid & self.op.last)
        return m
