"""The fused spike-generation step of a LIF neuron, shared by every PE and spike generator.

:class:`LifNeuron` is combinational. Given the membrane ``v`` before the step (``v_zero`` forces
it to 0 for the first timestep of a neuron), the exact synaptic current ``i`` of the step and the
population select ``sel``, it computes (SPEC.md)::

    L = V - (V >> k)             k = leak_shift of the selected population (0: no leak)
    H = sat(L + I)               saturate to v_bits signed
    S = H >= threshold
    V' = (0 if hard else H - threshold) if S else H

Several populations (e.g. Q, K and V) may share one neuron; their parameters are constants and
``sel`` picks one, so the cost is a few multiplexers, not a unit per population.
"""
from __future__ import annotations

from amaranth import Mux, Module, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ...config import LifConfig

__all__ = ["LifNeuron"]


class LifNeuron(wiring.Component):
    """Combinational LIF update (latency 0).

    Parameters
    ----------
    pops : tuple of LifConfig
        The populations this neuron can run, selected by ``sel``.
    v_bits, i_bits : int
        Widths of the membrane and of the synaptic current.

    Attributes
    ----------
    v : In(signed(v_bits)), v_zero : In(1), i : In(signed(i_bits)), sel : In(range(len(pops)))
    spike : Out(1), v_next : Out(signed(v_bits))
    """

    def __init__(self, pops: tuple[LifConfig, ...], v_bits: int, i_bits: int):
        if not pops:
            raise ValueError("pops: at least one LIF population is needed")
        self.pops, self.v_bits, self.i_bits = tuple(pops), v_bits, i_bits
        super().__init__({
            "v": In(signed(v_bits)),
            "v_zero": In(1),
            "i": In(signed(i_bits)),
            "sel": In(range(max(2, len(self.pops)))),
            "spike": Out(1),
            "v_next": Out(signed(v_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        vb = self.v_bits
        vmax, vmin = (1 << (vb - 1)) - 1, -(1 << (vb - 1))
        v = Mux(self.v_zero, 0, self.v)

        def pick(values):
            """The constant of the selected population (a mux tree; a wire when all are equal)."""
            if len(set(values)) == 1:
                return values[0]
            out = values[-1]
            for idx in range(len(values) - 2, -1, -1):
                out = Mux(self.sel == idx, values[idx], out)
            return out

        shifts = sorted({p.leak_shift for p in self.pops})
        leak = 0
        for k in shifts:            # V >> k is wiring; only the select costs logic
            if k:
                leak = Mux(pick([p.leak_shift for p in self.pops]) == k, v >> k, leak)
        leaked = (v - leak) if any(shifts) else v
        total = leaked + self.i
        h = Mux(total > vmax, vmax, Mux(total < vmin, vmin, total))
        threshold = pick([p.threshold for p in self.pops])
        soft = pick([int(p.reset == "soft") for p in self.pops])
        m.d.comb += self.spike.eq(h >= threshold)
        with m.If(self.spike):
            m.d.comb += self.v_next.eq(Mux(soft, h - threshold, 0))
        with m.Else():
            m.d.comb += self.v_next.eq(h)
        return m
