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

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ...config import LifConfig

__all__ = ["LifNeuron", "LifLane"]


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


class LifLane(wiring.Component):
    """One output neuron: a :class:`LifNeuron` and its membrane register ``v``, the same module
    for every lane (a hierarchical flow hardens one lane and places it in every slot).

    ``spike`` is the neuron's spike for current ``i`` and membrane ``zero ? 0 : v`` (combinational,
    latency 0); ``v`` takes the neuron's ``v_next`` at the end of every cycle with ``en``.

    With ``slots`` S > 1 the lane keeps S membranes (one per lane group it serves) and ``slot``
    In(range(S)) picks the one read and written this cycle. ``pops``: one LIF population, or
    several (a tuple) chosen by ``sel`` In(range(len(pops))) as in :class:`LifNeuron`.
    Users: the spike generator (:mod:`spikestack.hw.blocks.merge`), the job core's firing drain
    (:mod:`spikestack.hw.blocks.jobcore`), the attention lanes (:mod:`spikestack.hw.blocks.attention`).
    Membranes reset to 0 with ``rst``.

    Attributes: ``en``, ``zero`` In(1), ``i`` In(signed(i_bits)), ``spike`` Out(1).
    """

    def __init__(self, pops, v_bits: int, i_bits: int, slots: int = 1):
        self.pops = tuple(pops) if isinstance(pops, (tuple, list)) else (pops,)
        self.v_bits, self.i_bits, self.slots = v_bits, i_bits, slots
        members = {"en": In(1), "zero": In(1), "i": In(signed(i_bits)), "spike": Out(1)}
        if slots > 1:
            members["slot"] = In(range(slots))
        if len(self.pops) > 1:
            members["sel"] = In(range(len(self.pops)))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.neuron = neuron = LifNeuron(self.pops, self.v_bits, self.i_bits)
        m.d.comb += [neuron.v_zero.eq(self.zero), neuron.i.eq(self.i),
                     neuron.sel.eq(self.sel if len(self.pops) > 1 else 0), self.spike.eq(neuron.spike)]
        if self.slots == 1:
            v = Signal(signed(self.v_bits))
            m.d.comb += neuron.v.eq(v)
            with m.If(self.en):
                m.d.sync += v.eq(neuron.v_next)
            return m
        vs = [Signal(signed(self.v_bits), name=f"v_{s}") for s in range(self.slots)]
        level, bit = vs, 0                      # a tree of 2:1 muxes on the bits of slot (a switch
        while len(level) > 1:                   # becomes an overlapping casez, a chain compares)
            level = [Mux(self.slot[bit], level[min(i + 1, len(level) - 1)], level[i])
                     for i in range(0, len(level), 2)]
            bit += 1
        m.d.comb += neuron.v.eq(level[0])
        for s in range(self.slots):
            with m.If(self.en & (self.slot == s)):
                m.d.sync += vs[s].eq(neuron.v_next)
        return m
