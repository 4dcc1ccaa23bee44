"""The token router: expert scores by synaptic adds, then top-k with the lower-index tie rule.

For every token n (rows ``n*T + t`` of the activation GLB, t = 0..T-1) the router streams the
rows through an :class:`EventEncoder` and, for each set spike j, adds the router-weight word
``Wr[j, :]`` (E lanes, one per expert) to the token's E scores — ``r[n, e] = sum_t sum_j S[t,n,j]
Wr[j,e]``, no multiplier. When the token's last row is done it selects the experts whose score is
beaten by fewer than k others, where e' beats e if ``r[e'] > r[e]`` or ``r[e'] == r[e]`` and
``e' < e`` (exactly SPEC's tie rule), and emits ``routes`` ``{n, mask}`` (mask bit e = routed).

Interface: ``start`` (pulse) begins a pass over all N tokens; ``act_rd`` and ``wr_rd`` read the
activation GLB and the router-weight buffer (1-cycle reads); ``routes`` is a stream with a
4-deep FIFO (the router stalls when it is full). Cost: ``sum over rows of max(1, popcount)``
cycles event-driven (``max(1, ceil(popcount / lanes))`` with ``lanes`` events a cycle), plus
about 4 cycles of pipeline; a token's route leaves 3 cycles after its last event.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, fifo, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ..lib.event import EventEncoder, WideEventEncoder
from ..lib.glb import addr_width
from ..lib.shapes import index_range

__all__ = ["RouterParams", "Router", "route_layout"]


def route_layout(n: int, experts: int) -> data.StructLayout:
    return data.StructLayout({"n": index_range(n), "mask": experts})


@dataclass(frozen=True)
class RouterParams:
    t: int
    n: int
    d: int
    experts: int
    top_k: int
    w_bits: int
    score_bits: int
    act_addr_bits: int
    act_width: int
    event_driven: bool = True
    depth: int = 4
    k_draft: int = 0        # > 0: a ``draft`` input selects top-k_draft instead of top-k (issue 24)
    lanes: int = 1          # spike events a cycle (``hw.router_events``), one router-weight read port each

    def __post_init__(self):
        if not 1 <= self.top_k <= self.experts:
            raise ValueError("top_k: must be in 1..experts")
        if not 0 <= self.k_draft <= self.top_k:
            raise ValueError("k_draft: must be in 0..top_k")
        if self.lanes < 1:
            raise ValueError("lanes: at least 1")

    @property
    def w_port(self):
        return memory.ReadPort.Signature(addr_width=addr_width(self.d),
                                         shape=self.experts * self.w_bits)

    @property
    def act_port(self):
        return memory.ReadPort.Signature(addr_width=self.act_addr_bits, shape=self.act_width)


class Router(wiring.Component):
    """See the module docstring. Attributes: ``start`` In(1), ``act_rd``, ``wr_rd`` (read ports),
    ``routes`` Out(stream of route_layout); with ``k_draft``, ``draft`` In(1) (top-k_draft while high);
    with ``lanes`` L > 1, ``wr_rd1`` .. ``wr_rd<L-1>``: a read port of the router weights for each
    further event of a cycle (a :class:`~spikestack.hw.lib.event.WideEventEncoder`)."""

    def __init__(self, p: RouterParams):
        self.p = p
        members = {
            "start": In(1),
            "act_rd": In(p.act_port),
            "wr_rd": In(p.w_port),
            **{f"wr_rd{w}": In(p.w_port) for w in range(1, p.lanes)},
            "routes": Out(stream.Signature(route_layout(p.n, p.experts))),
        }
        if p.k_draft:
            members["draft"] = In(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        p, T, E = self.p, self.p.t, self.p.experts
        meta_layout = data.StructLayout({"n": index_range(p.n), "t_first": 1, "t_last": 1})
        row_layout = data.StructLayout({"spikes": p.d, "meta": meta_layout})

        # --- fetch rows n*T + t into a small queue ---
        qdepth = 4
        m.submodules.queue = queue = fifo.SyncFIFO(width=row_layout.size, depth=qdepth)
        fetching = Signal()
        row = Signal(index_range(p.t * p.n))
        n = Signal(index_range(p.n))
        t = Signal(index_range(T))
        inflight = Signal()
        issue = Signal()
        meta = Signal(meta_layout)
        m.d.comb += [issue.eq(fetching & (queue.level + inflight < qdepth - 1)),
                     self.act_rd.addr.eq(row), self.act_rd.en.eq(1)]
        m.d.sync += inflight.eq(issue)
        with m.If(self.start):
            m.d.sync += [fetching.eq(1), row.eq(0), n.eq(0), t.eq(0)]
        with m.Elif(issue):
            m.d.sync += [meta.n.eq(n), meta.t_first.eq(t == 0), meta.t_last.eq(t == T - 1),
                         row.eq(row + 1), t.eq(t + 1)]
            with m.If(t == T - 1):
                m.d.sync += [t.eq(0), n.eq(n + 1)]
                with m.If(n == p.n - 1):
                    m.d.sync += fetching.eq(0)
        row_in = Signal(row_layout)
        m.d.comb += [row_in.spikes.eq(self.act_rd.data[:p.d]), row_in.meta.eq(meta),
                     queue.w_en.eq(inflight), queue.w_data.eq(row_in)]

        # --- events; only start a token's last row when its route has room ---
        m.submodules.routes_fifo = rfifo = fifo.SyncFIFO(width=route_layout(p.n, E).size, depth=p.depth)
        tokens_inflight = Signal(range(p.depth + 2))
        L = p.lanes
        if L > 1:
            m.submodules.encoder = enc = WideEventEncoder(p.d, meta_layout, L, p.event_driven)
        else:
            m.submodules.encoder = enc = EventEncoder(p.d, meta_layout, p.event_driven)
        q_row = data.View(row_layout, queue.r_data)
        room = Signal()
        m.d.comb += [
            room.eq(rfifo.level + tokens_inflight < p.depth),
            enc.rows.valid.eq(queue.r_rdy & room), enc.rows.payload.eq(queue.r_data),
            queue.r_en.eq(enc.rows.ready & room),
        ]
        token_in = enc.rows.valid & enc.rows.ready & q_row.meta.t_last
        ev = enc.events.payload
        ports = [self.wr_rd] + [getattr(self, f"wr_rd{w}") for w in range(1, L)]
        for w, port in enumerate(ports):
            m.d.comb += [port.addr.eq(ev.j[w] if L > 1 else ev.j), port.en.eq(1)]

        # --- stage P: accumulate the scores ---
        op = Signal(data.StructLayout({"valid": 1, "add": L, "clear": 1, "finish": 1, "n": index_range(p.n)}))
        m.d.sync += [op.valid.eq(enc.events.valid), op.add.eq(ev.add), op.clear.eq(ev.first & ev.meta.t_first),
                     op.finish.eq(ev.last & ev.meta.t_last), op.n.eq(ev.meta.n)]
        ws = [data.View(data.ArrayLayout(signed(p.w_bits), E), port.data) for port in ports]
        scores = Signal(data.ArrayLayout(signed(p.score_bits), E))
        fin_valid = Signal()
        fin_n = Signal(index_range(p.n))
        with m.If(op.valid):
            for e in range(E):
                m.d.sync += scores[e].eq(Mux(op.clear, 0, scores[e])
                                         + sum(Mux(op.add[w], ws[w][e], 0) for w in range(L)))
        m.d.sync += [fin_valid.eq(op.valid & op.finish), fin_n.eq(op.n)]

        # --- stage F: top-k of the final scores ---
        mask = Signal(E)
        for e in range(E):
            beats = [(scores[o] > scores[e]) | ((scores[o] == scores[e]) if o < e else 0)
                     for o in range(E) if o != e]
            count = sum(beats) if beats else 0
            k = Mux(self.draft, p.k_draft, p.top_k) if p.k_draft else p.top_k
            m.d.comb += mask[e].eq(count < k)
        m.d.comb += [rfifo.w_en.eq(fin_valid), rfifo.w_data.eq(Cat(fin_n, mask))]
        m.d.sync += tokens_inflight.eq(tokens_inflight + token_in - fin_valid)
        m.d.comb += [self.routes.valid.eq(rfifo.r_rdy), self.routes.payload.eq(rfifo.r_data),
                     rfifo.r_en.eq(self.routes.ready)]
        return m
