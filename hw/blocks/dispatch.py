"""The MoE dispatcher: turns routed tokens into jobs for the expert cores.

For each route ``{n, mask}`` it reads the token's T spike rows from the activation GLB (T + 1
cycles) into its token register, then hands one job per routed expert e to an idle core of e's
weight group ``g = e % groups`` (``sel = e // groups`` is the expert's slot in that group's weight
GLB): T beats ``{n, sel, pop = 0, spikes[t]}``, t = 0..T-1, the first one chosen by the rule
below, the others to the same core on the next cycles (a core takes a job's T beats unstalled). Among routed experts whose group has an idle core the
lowest index goes first, and within a group the lowest idle core takes it, so experts sharing a
GLB share its cores dynamically (load balancing under routing skew).

With ``window`` W > 1 (``hw.dispatch_window``) the dispatcher holds W tokens: the next route is
loaded into a free token register while the others' jobs go out, and a job of a later token may
go to an idle core while an earlier token's expert waits for its group (no head-of-line
blocking); the oldest token with a dispatchable job goes first (the spike generator fires tokens
in order, so a token passed over for long would hold up all later ones' output). The cores' results are summed
exactly in the merge, so the order never changes the result.

Interface: ``routes`` In(stream), ``act_rd`` (activation GLB read port), ``jobs_<c>`` Out(stream)
one per core. Cost: T + 1 cycles per token plus T cycles per job, overlapped with the cores.
"""
from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ..lib.beats import BeatSender
from .router import route_layout

__all__ = ["Dispatcher"]


class Dispatcher(wiring.Component):
    """Parameters: ``t, n, d, experts``, ``core_groups`` (tuple: the group of each core),
    ``groups``, ``job_layout``, ``act_addr_bits``; ``window``: token registers (``hw.dispatch_window``)."""

    def __init__(self, *, t: int, n: int, d: int, experts: int, core_groups: tuple[int, ...], groups: int,
                 job_layout: data.StructLayout, act_addr_bits: int, act_width: int, window: int = 1):
        if window < 1:
            raise ValueError("window: at least 1")
        self.t, self.n, self.d, self.experts, self.window = t, n, d, experts, window
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
        T, E, G, W = self.t, self.experts, self.groups, self.window
        cores = [getattr(self, f"jobs_{c}") for c in range(len(self.core_groups))]
        C = len(cores)
        n_tok = [Signal(self.job_layout.members["n"], name=f"n_tok_{i}") for i in range(W)]
        rows = [Signal(data.ArrayLayout(self.d, T), name=f"rows_{i}") for i in range(W)]   # token registers
        pending = [Signal(E, name=f"pending_{i}") for i in range(W)]
        loading = Signal()
        slot = Signal(range(max(2, W)))                  # the token register being loaded
        beats = BeatSender(T, C, self.job_layout.members["sel"])
        sending = beats.sending
        send_slot = Signal(range(max(2, W)))             # the token register beats 1..T-1 come from
        t = Signal(range(T + 1))
        # --- load: the lowest free token register takes the next route, rows n*T + t ---
        free = [Signal(name=f"free_{i}") for i in range(W)]
        for i in range(W):
            m.d.comb += free[i].eq(~pending[i].any() & ~(sending & (send_slot == i)))
        m.d.comb += [self.routes.ready.eq(~loading & sum((f.as_unsigned() for f in free), 0).any()),
                     self.act_rd.en.eq(1)]
        base = Signal.like(self.act_rd.addr)
        m.d.comb += self.act_rd.addr.eq(base + t)
        with m.If(self.routes.valid & self.routes.ready):
            m.d.sync += [loading.eq(1), t.eq(0), base.eq(self.routes.payload.n * T)]
            lowest = Signal(range(max(2, W)))          # the lowest free token register
            for i in reversed(range(W)):
                with m.If(free[i]):
                    m.d.comb += lowest.eq(i)
            m.d.sync += slot.eq(lowest)
            for i in range(W):
                with m.If(lowest == i):
                    m.d.sync += [n_tok[i].eq(self.routes.payload.n), pending[i].eq(self.routes.payload.mask)]
        prev_t = Signal(range(T + 1))
        with m.If(loading):
            m.d.sync += [t.eq(t + 1), prev_t.eq(t)]
            with m.If(t > 0):
                for i in range(W):
                    with m.If(slot == i):
                        m.d.sync += rows[i][prev_t].eq(self.act_rd.data[:self.d])
            with m.If(t == T):
                m.d.sync += loading.eq(0)
        # --- dispatch: the lowest loaded token register, then its lowest routed expert whose
        # group has an idle core (beat 0) ---
        group_ready = [Signal(name=f"group_ready_{g}") for g in range(G)]
        for g in range(G):
            m.d.comb += group_ready[g].eq(
                sum((cores[c].ready for c in range(C) if self.core_groups[c] == g), 0) != 0)
        ready_e = Signal(E)
        m.d.comb += ready_e.eq(sum((group_ready[e % G].as_unsigned() << e for e in range(E)), 0))
        avail = [Signal(E, name=f"avail_{i}") for i in range(W)]
        for i in range(W):
            m.d.comb += avail[i].eq(pending[i] & ready_e & ~(sending | (loading & (slot == i))).replicate(E))
        # the oldest token first (routes come in token order): a later token passes only when the
        # earlier one's experts wait for their groups, so tokens complete about in order for the
        # spike generator, which fires them in order
        src = Signal(range(max(2, W)))                   # the token register chosen this cycle
        pick = Signal(E)
        for i in range(W):
            oldest = avail[i].any()
            for j in range(W):
                if j != i:
                    oldest = oldest & (~avail[j].any() | (n_tok[i] < n_tok[j]))
            with m.If(oldest):
                m.d.comb += [src.eq(i), pick.eq(avail[i])]
        chosen = Signal(E)
        m.d.comb += chosen.eq(pick & (~pick + 1))          # lowest set bit, one-hot
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
        cur = Signal(data.ArrayLayout(self.d, T))
        n_cur = Signal.like(n_tok[0])
        rd = Mux(sending, send_slot, src)
        for i in range(W):
            with m.If(rd == i):
                m.d.comb += [cur.eq(rows[i]), n_cur.eq(n_tok[i])]
        beats.drive(m, cores, first, sel, cur,
                    lambda payload, s: [payload.n.eq(n_cur), payload.pop.eq(0), payload.sel.eq(s)])
        with m.If(chosen.any()):
            m.d.sync += send_slot.eq(src)
            for i in range(W):
                with m.If(src == i):
                    m.d.sync += pending[i].eq(pending[i] & ~chosen)
        return m
