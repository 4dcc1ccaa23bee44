"""The MHA attention as a pipeline (``[hw] attn_pipeline = true``; docs/ntier.md).

Phases, ordered by the :class:`PipeSequencer`:

1. **K/V projections.** As in :mod:`.mha`, without Q: the :class:`PipeDispatcher` hands jobs k, v
   per token; the :class:`PipeCollector` writes K and V into ``k_glb`` / ``v_glb``.
2. **Q, attention, output projection, streaming.** Per token n (in order): a q job; its Q rows
   leave the collector on the ``q`` stream (in token order) to the :class:`AttentionStage`, which
   holds one token's T Q rows, runs them through the attention cores (K and V rows of timestep t
   from the GLBs) and streams the token's T attention rows to the dispatcher, which hands them to a
   projection core as job o; the collector writes LIF_o's spikes into ``activation_glb``. The
   dispatcher takes the next token's Q while a token is in the attention stage (at most two tokens
   between their q job and their o job).

There is no ``q_glb`` and no ``attn_glb``: the Q round trip and the attention rows' round trip are
valid/ready streams (``collector.q`` -> ``attention_stage.q``, ``attention_stage.rows`` ->
``dispatcher.rows``), so a stack can register their bonds. The arithmetic is that of the attention
cores (:mod:`..blocks.attention`, :mod:`..blocks.ssa`), unchanged: one head per core
(``hw.cores >= heads``), rows of a head in the order n, then t.
"""
from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..blocks.attention import attention_ctl_members
from ..blocks.ssa import attention_core
from ..lib.arbiter import round_robin
from ..lib.beats import BeatSender
from ..lib.control import RunControl, control_members
from ..lib.shapes import index_range

__all__ = ["AttentionStage", "PipeDispatcher", "PipeCollector", "PipeSequencer", "q_layout", "rows_layout"]


def q_layout(plan) -> data.StructLayout:
    """One Q result word: token n, timestep t, output tile, its P spikes."""
    cfg = plan.cfg
    return data.StructLayout({"n": index_range(cfg.n), "t": index_range(cfg.t), "tile": index_range(plan.tiles),
                              "spikes": plan.lanes})


def rows_layout(plan) -> data.StructLayout:
    """One attention row: token n, timestep t, D spikes (all heads)."""
    cfg = plan.cfg
    return data.StructLayout({"n": index_range(cfg.n), "t": index_range(cfg.t), "spikes": cfg.d})


class AttentionStage(wiring.Component):
    """One token at a time: collect its T Q rows (``q`` stream, any order of t and tile), run them
    through the attention cores (one row a cycle: ``k_rd`` / ``v_rd`` address timestep t, the
    cores' K and V slices are wired from the GLBs' read data; ``q_<c>`` is head c's Q slice), collect
    the cores' spikes (``spikes_<c>``, ``out_valid_<c>``, 2 cycles after their row) and send the
    token's T attention rows on ``rows``. The Q buffer takes the next token as soon as the last row
    of a token has gone to the cores."""

    def __init__(self, plan, head_bits: int = 0):
        self.plan, self.head_bits = plan, head_bits
        cfg = plan.cfg
        ctl = {"valid": Out(1), "v_zero": Out(1)}
        if head_bits:
            ctl.update({"first": Out(1), "head": Out(head_bits)})

        def rd():
            return Out(wiring.Signature({"addr": Out(plan.kv.addr_width), "en": Out(1)}))
        members = {"q": In(stream.Signature(q_layout(plan))), "rows": Out(stream.Signature(rows_layout(plan))),
                   "k_rd": rd(), "v_rd": rd()}
        for c in range(cfg.heads):
            members[f"core_{c}"] = Out(wiring.Signature(ctl))
            members[f"q_{c}"] = Out(cfg.head_dim)
            members[f"spikes_{c}"] = In(cfg.head_dim)
            members[f"out_valid_{c}"] = In(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        p, cfg = self.plan, self.plan.cfg
        T, P, tiles, H, hd = cfg.t, p.lanes, p.tiles, cfg.heads, cfg.head_dim
        W = tiles * P
        # the Q buffer: T rows of tiles*P bits, filled word by word
        qbuf = Signal(T * W)
        qcount = Signal(range(T * tiles + 1))
        qn = Signal.like(self.q.payload.n)
        q_full = Signal()
        m.d.comb += [q_full.eq(qcount == T * tiles), self.q.ready.eq(~q_full)]
        with m.If(self.q.valid & ~q_full):
            m.d.sync += [qbuf.word_select(self.q.payload.t * tiles + self.q.payload.tile, P).eq(self.q.payload.spikes),
                         qcount.eq(qcount + 1), qn.eq(self.q.payload.n)]
        # the run: T rows to the cores, one a cycle
        running = Signal()
        inflight = Signal()
        obuf_full = Signal()
        rt = Signal(range(max(2, T)))
        run_n = Signal.like(qn)
        m.d.comb += [self.k_rd.addr.eq(rt), self.v_rd.addr.eq(rt), self.k_rd.en.eq(1), self.v_rd.en.eq(1)]
        start = Signal()
        m.d.comb += start.eq(q_full & ~running & ~inflight & ~obuf_full)
        with m.If(start):
            m.d.sync += [running.eq(1), inflight.eq(1), rt.eq(0), run_n.eq(qn)]
        with m.If(running):
            m.d.sync += rt.eq(rt + 1)
            with m.If(rt == T - 1):
                m.d.sync += [running.eq(0), rt.eq(0), qcount.eq(0)]       # the Q buffer is free
        # stage 1: the GLBs' K and V rows arrive with the registered Q row
        s_valid, s_zero = Signal(name="s_valid"), Signal(name="s_zero")
        s_last, s_first = Signal(name="s_last"), Signal(name="s_first")
        s_t = Signal.like(rt)
        s_q = Signal(W)
        m.d.sync += [s_valid.eq(running), s_zero.eq(rt == 0), s_last.eq(running & (rt == T - 1)), s_t.eq(rt),
                     s_first.eq((run_n == 0) & (rt == 0)), s_q.eq(qbuf.word_select(rt, W))]
        for c in range(H):
            port = getattr(self, f"core_{c}")
            m.d.comb += [port.valid.eq(s_valid), port.v_zero.eq(s_zero),
                         getattr(self, f"q_{c}").eq(s_q[c * hd:(c + 1) * hd])]
            if self.head_bits:
                m.d.comb += [port.first.eq(s_first), port.head.eq(c)]
        # stages 2, 3: the cores' pipeline; their spikes into the output buffer
        p_t = [Signal.like(rt) for _ in range(2)]
        p_last = [Signal() for _ in range(2)]
        m.d.sync += [p_t[0].eq(s_t), p_t[1].eq(p_t[0]), p_last[0].eq(s_last), p_last[1].eq(p_last[0])]
        obuf = Signal(T * cfg.d)
        out_n = Signal.like(qn)
        with m.If(self.out_valid_0):
            m.d.sync += obuf.word_select(p_t[1], cfg.d).eq(Cat(*(getattr(self, f"spikes_{c}") for c in range(H))))
        with m.If(p_last[1]):
            m.d.sync += [inflight.eq(0), obuf_full.eq(1), out_n.eq(run_n)]
        # the token's attention rows out, timestep 0 first
        ot = Signal.like(rt)
        m.d.comb += [self.rows.valid.eq(obuf_full), self.rows.payload.n.eq(out_n), self.rows.payload.t.eq(ot),
                     self.rows.payload.spikes.eq(obuf.word_select(ot, cfg.d))]
        with m.If(self.rows.valid & self.rows.ready):
            m.d.sync += ot.eq(ot + 1)
            with m.If(ot == T - 1):
                m.d.sync += [ot.eq(0), obuf_full.eq(0)]
        return m


class PipeDispatcher(wiring.Component):
    """Projection jobs: ``start_qkv`` -> per token, jobs k, v from the activation GLB;
    ``start_o`` -> per token in order, job q (activation GLB) and, when the token's attention rows
    arrive on ``rows``, job o from them. Jobs go to the lowest idle core as T beats."""

    def __init__(self, plan):
        self.plan = plan
        members = {"start_qkv": In(1), "start_o": In(1), "act_rd": In(plan.activation.read_signature()),
                   "rows": In(stream.Signature(rows_layout(plan)))}
        for c in range(plan.cores):
            members[f"jobs_{c}"] = Out(stream.Signature(plan.job.job_layout))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        p, cfg = self.plan, self.plan.cfg
        T, N = cfg.t, cfg.n
        cores = [getattr(self, f"jobs_{c}") for c in range(p.cores)]
        job = Signal(p.job.job_store_layout)
        beats = BeatSender(T, len(cores), range(4))
        sending = beats.sending
        pipe = Signal()
        running = Signal()
        loading = Signal()
        taking = Signal()
        n = Signal(range(max(2, N)))
        t = Signal(range(T + 1))
        prev_t = Signal(range(T + 1))
        q_next = Signal(range(N + 1))         # next token whose q job is to come
        o_taken = Signal(range(N + 1))        # tokens whose attention rows were taken
        pending = Signal(4)                   # slots still to hand out: q, k, v, o
        start = self.start_qkv | self.start_o
        m.d.comb += [self.act_rd.addr.eq(n * T + t), self.act_rd.en.eq(1)]
        with m.If(start):
            m.d.sync += [running.eq(1), pipe.eq(self.start_o), n.eq(0), t.eq(0), loading.eq(self.start_qkv),
                         q_next.eq(0), o_taken.eq(0)]
        with m.If(loading):
            m.d.sync += [t.eq(t + 1), prev_t.eq(t)]
            with m.If(t > 0):
                m.d.sync += job.spikes[prev_t].eq(self.act_rd.data[:cfg.d])
            with m.If(t == T):
                m.d.sync += [loading.eq(0), pending.eq(Mux(pipe, 0b0001, 0b0110)), job.n.eq(n)]
        # a token's attention rows: T beats into the token register
        m.d.comb += self.rows.ready.eq(taking)
        with m.If(self.rows.valid & taking):
            m.d.sync += [job.spikes[self.rows.payload.t].eq(self.rows.payload.spikes), job.n.eq(self.rows.payload.n)]
            with m.If(self.rows.payload.t == T - 1):
                m.d.sync += [taking.eq(0), pending.eq(0b1000)]
        chosen = Signal(4)
        m.d.comb += chosen.eq(pending & (~pending + 1))
        sel = Signal(range(4))
        for i in range(1, 4):
            with m.If(chosen[i]):
                m.d.comb += sel.eq(i)
        taken = 0
        first = Signal(len(cores))
        for i, c in enumerate(cores):
            m.d.comb += first[i].eq(pending.any() & ~sending & c.ready & ~taken)
            taken = taken | c.ready
        beats.drive(m, cores, first, sel, job.spikes,
                    lambda payload, s: [payload.n.eq(job.n), payload.sel.eq(s), payload.pop.eq(s)])
        with m.If(first.any()):
            m.d.sync += pending.eq(pending & ~chosen)
        idle = Signal()
        m.d.comb += idle.eq(running & ~loading & ~taking & ~pending.any() & ~sending & ~start)
        credit = Const(2, q_next.shape())
        with m.If(idle & ~pipe):
            with m.If(n == N - 1):
                m.d.sync += running.eq(0)
            with m.Else():
                m.d.sync += [n.eq(n + 1), t.eq(0), loading.eq(1)]
        with m.If(idle & pipe):
            with m.If(self.rows.valid):
                m.d.sync += [taking.eq(1), o_taken.eq(o_taken + 1)]
            with m.Elif((q_next < N) & (q_next - o_taken < credit)):
                m.d.sync += [n.eq(q_next), t.eq(0), loading.eq(1), q_next.eq(q_next + 1)]
            with m.Elif(o_taken == N):
                m.d.sync += running.eq(0)
        return m


class PipeCollector(wiring.Component):
    """Round-robin over the projection cores' results: K and V to their GLBs, Q on the ``q``
    stream in token order (a core's Q word of a later token waits), o spikes to the activation
    GLB. ``complete`` pulses on the ``2*N*T*tiles``-th K/V result (phase 1) or the
    ``N*T*tiles``-th o result (phase 2); Q results are not counted."""

    def __init__(self, plan):
        self.plan = plan
        members = {"clear": In(1), "complete": Out(1), "q": Out(stream.Signature(q_layout(plan))),
                   "k_wr": In(plan.kv.write_signature()), "v_wr": In(plan.kv.write_signature()),
                   "out_wr": In(plan.activation.write_signature())}
        for c in range(plan.cores):
            members[f"results_{c}"] = In(stream.Signature(plan.job.result_layout))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        p, cfg = self.plan, self.plan.cfg
        T, N, C, tiles = cfg.t, cfg.n, p.cores, p.tiles
        srcs = [getattr(self, f"results_{c}") for c in range(C)]
        q_n = Signal(range(max(2, N)))
        q_cnt = Signal(range(max(2, T * tiles)))
        eligible = [s.valid & ((s.payload.sel != 0) | (s.payload.n == q_n)) for s in srcs]
        grant, any_valid = round_robin(m, eligible)
        res = Signal(p.job.result_layout)
        for c in range(C):
            with m.If(any_valid & (grant == c)):
                m.d.comb += res.eq(srcs[c].payload)
        is_q = Signal()
        moved = Signal()
        m.d.comb += [is_q.eq(any_valid & (res.sel == 0)), moved.eq(any_valid & (~is_q | self.q.ready))]
        for c in range(C):
            with m.If(moved & (grant == c)):
                m.d.comb += srcs[c].ready.eq(1)
        m.d.comb += [self.q.valid.eq(is_q), self.q.payload.n.eq(res.n), self.q.payload.t.eq(res.t),
                     self.q.payload.tile.eq(res.tile), self.q.payload.spikes.eq(res.spikes)]
        kv_en = Const(1, N * tiles) << (res.n * tiles + res.tile)
        m.d.comb += [
            self.out_wr.addr.eq(res.n * T + res.t), self.out_wr.data.eq(Cat(*([res.spikes] * tiles))),
            self.k_wr.addr.eq(res.t), self.k_wr.data.eq(Cat(*([res.spikes] * (N * tiles)))),
            self.v_wr.addr.eq(res.t), self.v_wr.data.eq(Cat(*([res.spikes] * (N * tiles)))),
        ]
        with m.If(any_valid):
            with m.Switch(res.sel):
                with m.Case(1):
                    m.d.comb += self.k_wr.en.eq(kv_en)
                with m.Case(2):
                    m.d.comb += self.v_wr.en.eq(kv_en)
                with m.Case(3):
                    m.d.comb += self.out_wr.en.eq(Const(1, tiles) << res.tile)
        exp_kv, exp_o = 2 * N * T * tiles, N * T * tiles
        count = Signal(range(exp_kv + 1))
        counted = Signal()
        m.d.comb += counted.eq(any_valid & ~is_q)
        with m.If(self.clear):
            m.d.sync += [count.eq(0), q_n.eq(0), q_cnt.eq(0)]
        with m.Else():
            with m.If(counted):
                m.d.sync += count.eq(count + 1)
            with m.If(is_q & self.q.ready):
                m.d.sync += q_cnt.eq(q_cnt + 1)
                with m.If(q_cnt == T * tiles - 1):
                    m.d.sync += [q_cnt.eq(0), q_n.eq(q_n + 1)]
        m.d.comb += self.complete.eq(counted & (count == Mux(res.sel == 3, exp_o - 1, exp_kv - 1)))
        return m


class PipeSequencer(wiring.Component):
    """start -> K/V projections -> the streaming phase (Q, attention, output projection) -> done.
    ``cycles_qkv``: cycles of phase 1; ``cycles_attn``: of phase 2."""

    def __init__(self):
        super().__init__({
            **control_members(),
            "qkv_start": Out(1), "o_start": Out(1), "collect_clear": Out(1), "collect_complete": In(1),
            "cycles_qkv": Out(32), "cycles_attn": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        ctl = RunControl(m, self)
        phase_o = Signal()
        kv_done = Signal()
        m.d.comb += kv_done.eq(self.busy & ~phase_o & self.collect_complete)
        with m.If(ctl.go):
            m.d.sync += phase_o.eq(0)
        with m.Elif(kv_done):
            m.d.sync += phase_o.eq(1)
        m.d.comb += [self.qkv_start.eq(ctl.go), self.collect_clear.eq(ctl.go | kv_done), self.o_start.eq(kv_done),
                     ctl.finish.eq(self.busy & phase_o & self.collect_complete)]
        with m.If(kv_done):
            m.d.sync += self.cycles_qkv.eq(self.cycles + 1)
        with m.If(ctl.finish):
            m.d.sync += self.cycles_attn.eq(self.cycles + 1 - self.cycles_qkv)
        return m


def pipe_wiring(d, plan, head_bits: int):
    """The streaming phase's blocks and wires (called by :func:`.mha.mha_design`)."""
    cfg = plan.cfg
    N, hd, W = cfg.n, cfg.head_dim, plan.width
    d.add("attention_stage", lambda: AttentionStage(plan, head_bits), role="logic", group="attention_core")
    for c in range(cfg.heads):
        d.add(f"attention_core_{c}", lambda: attention_core(cfg), role="logic", group="attention_core")
    for x in "kv":
        d.wire_all([(f"attention_stage.{x}_rd.{leaf}", f"{x}_glb.rd0.{leaf}") for leaf in ("addr", "en")])
    for c in range(cfg.heads):
        core = f"attention_core_{c}"
        d.wire_all([(f"attention_stage.core_{c}.{leaf}", f"{core}.inp.{leaf}") for leaf in attention_ctl_members(head_bits)])
        d.wire(f"attention_stage.q_{c}", f"{core}.inp.q")
        d.wire(f"{core}.out.valid", f"attention_stage.out_valid_{c}")
        d.wire(f"{core}.out.spikes", f"attention_stage.spikes_{c}")
        for x in "kv":
            d.wire_all([(f"{x}_glb.rd0.data[{mm * W + c * hd}:{mm * W + (c + 1) * hd}]",
                         f"{core}.inp.{x}[{mm * hd}:{(mm + 1) * hd}]") for mm in range(N)])
    d.wire_all([("collector.q", "attention_stage.q"), ("attention_stage.rows", "dispatcher.rows")])
