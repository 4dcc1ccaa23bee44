"""The MoE dispatcher: turns routed tokens into jobs for the expert cores.

For each route ``{n, mask}`` it reads the token's T spike rows from the activation GLB (T + 1
cycles) into its token register, then hands one job per routed expert e to an idle core of e's
weight group ``g = e % groups`` (``sel = e // groups`` is the expert's slot in that group's weight
GLB): T beats ``{n, sel, pop = 0, spikes[t]}``, t = 0..T-1, the first one chosen by the rule
below, the others to the same core on the next cycles (a core takes a job's T beats unstalled). Among routed experts whose group has an idle core the
lowest index goes first, and within a group the lowest idle core takes it, so experts sharing a
GLB share its cores dynamically (load balancing under routing skew).

Interface: ``routes`` In(stream), ``act_rd`` (activation GLB read port), ``jobs_<c>`` Out(stream)
one per core. Cost: T + 1 cycles per token plus T cycles per job, overlapped with the cores.
"""
from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ..lib.beats import BeatSender
from .router import route_layout

__all__ = ["Dispatcher"]


class Dispatcher(wiring.Component):
    """Parameters: ``t, n, d, experts``, ``core_groups`` (tuple: the group of each core),
    ``groups``, ``job_layout``, ``act_addr_bits``."""

    def __init__(self, *, t: int, n: int, d: int, experts: int, core_groups: tuple[int, ...], groups: int,
                 job_layout: data.StructLayout, act_addr_bits: int, act_width: int):
        self.t, self.n, self.d, self.experts = t, n, d, experts
        self.core_groups, self.groups, self.job_layout = tuple(core_groups), groups, job_layout
        members = {
            "routes": In(stream.Signature(route_layout(n, experts))),
            "act_rd": In(memory.ReadPort.Signature(addr_width=act_addr_bits, shape=act_width)),
        }
        for c in range(len(self.core_groups)):
            members[f"jobs_{c}"] = Out(stream.Signature(job_layout))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        T, E, G = self.t, self.experts, self.groups
        cores = [getattr(self, f"jobs_{c}") for c in range(len(self.core_groups))]
        C = len(cores)
        n_tok = Signal(self.job_layout.members["n"])
        rows = Signal(data.ArrayLayout(self.d, T))      # the token register: its T spike rows
        pending = Signal(E)
        loading = Signal()
        beats = BeatSender(T, C, self.job_layout.members["sel"])
        sending = beats.sending
        t = Signal(range(T + 1))
        # --- load: read rows n*T + t, data one cycle later ---
        m.d.comb += [self.routes.ready.eq(~loading & ~pending.any() & ~sending), self.act_rd.en.eq(1)]
        base = Signal.like(self.act_rd.addr)
        m.d.comb += self.act_rd.addr.eq(base + t)
        with m.If(self.routes.valid & self.routes.ready):
            m.d.sync += [n_tok.eq(self.routes.payload.n), loading.eq(1), t.eq(0),
                         base.eq(self.routes.payload.n * T), pending.eq(self.routes.payload.mask)]
        prev_t = Signal(range(T + 1))
        with m.If(loading):
            m.d.sync += [t.eq(t + 1), prev_t.eq(t)]
            with m.If(t > 0):
                m.d.sync += rows[prev_t].eq(self.act_rd.data[:self.d])
            with m.If(t == T):
                m.d.sync += loading.eq(0)
        # --- dispatch: the lowest routed expert whose group has an idle core (beat 0) ---
        group_ready = [Signal(name=f"group_ready_{g}") for g in range(G)]
        for g in range(G):
            m.d.comb += group_ready[g].eq(
                sum((cores[c].ready for c in range(C) if self.core_groups[c] == g), 0) != 0)
        avail = Signal(E)
        m.d.comb += avail.eq(pending & ~(loading | sending).replicate(E) &
                             sum((group_ready[e % G].as_unsigned() << e for e in range(E)), 0))
        chosen = Signal(E)
        m.d.comb += chosen.eq(avail & (~avail + 1))        # lowest set bit, one-hot
        first = Signal(C)                                  # the core taking beat 0 this cycle
        for e in range(E):
            g = e % G
            with m.If(chosen[e]):
                taken = 0
                for c in range(C):
                    if self.core_groups[c] == g:
                        m.d.comb += first[c].eq(cores[c].ready & ~taken)
                        taken = taken | cores[c].ready
        sel = Signal(self.job_layout.members["sel"])
        for e in range(E):
            with m.If(chosen[e]):
                m.d.comb += sel.eq(e // G)
        beats.drive(m, cores, first, sel, rows,
                    lambda payload, s: [payload.n.eq(n_tok), payload.pop.eq(0), payload.sel.eq(s)])
        with m.If(chosen.any()):
            m.d.sync += pending.eq(pending & ~chosen)
        return m
