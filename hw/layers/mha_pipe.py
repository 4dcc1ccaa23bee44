"""The MHA attention as a pipeline (``[hw] attn_pipeline = true``; docs/ntier.md).

Phases, ordered by the :class:`PipeSequencer`:

1. **K/V projections.** As in :mod:`.mha`, without Q: the :class:`PipeDispatcher` hands jobs k, v
   per token; the :class:`PipeCollector` writes K and V into ``k_glb`` / ``v_glb``.
2. **Q, attention, output projection, streaming.** Right after the last k, v jobs (the q jobs do
   not wait for their results; the attention stage waits for the last one, the sequencer's
   ``kv_done``), per token n in order: a q job; its Q rows
   leave the collector on the ``q`` stream (in token order) to the :class:`AttentionStage`, which
   holds one token's T Q rows, runs them through the attention cores (K and V rows of timestep t
   from the GLBs) and streams the token's T attention rows to the dispatcher, which hands them to a
   projection core as job o; the collector writes LIF_o's spikes into ``activation_glb``. The
   dispatcher hands out later tokens' q jobs while a token is in the attention stage (at most
   ``cores + 1`` tokens between their q job and their o job).

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
from ..blocks.ssa import attention_latency
from ..lib.arbiter import round_robin
from ..lib.beats import BeatSender
from ..lib.control import RunControl, control_members
from ..lib.delay import delayed
from ..lib.shapes import index_range
from .attn_cores import add_attention_core

__all__ = ["AttentionStage", "PipeDispatcher", "PipeCollector", "PipeSequencer", "q_layout", "rows_layout", "load_token", "hand_out", "write_results"]


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
    token's T attention rows on ``rows``. Two Q slots (one filling while the other runs) and two
    output slots (one sending while the next run writes the other). Rows go to the cores only
    after ``go`` (K and V written), until ``clear`` (a new run)."""

    def __init__(self, plan, head_bits: int = 0, latency: int = 2):
        self.plan, self.head_bits, self.latency = plan, head_bits, latency
        cfg = plan.cfg
        ctl = {"valid": Out(1), "v_zero": Out(1)}
        if head_bits:
            ctl.update({"first": Out(1), "head": Out(head_bits)})

        def rd():
            return Out(wiring.Signature({"addr": Out(plan.kv.addr_width), "en": Out(1)}))
        members = {"clear": In(1), "go": In(1),
                   "q": In(stream.Signature(q_layout(plan))), "rows": Out(stream.Signature(rows_layout(plan))),
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
        T, P, tiles, H, hd, D = cfg.t, p.lanes, p.tiles, cfg.heads, cfg.head_dim, cfg.d
        W = tiles * P
        # two Q slots of T rows (tiles*P bits each), filled word by word, tokens in order
        qbuf = [Signal(T * W, name=f"qbuf_{s}") for s in range(2)]
        qcount = [Signal(range(T * tiles + 1), name=f"qcount_{s}") for s in range(2)]
        qn = [Signal.like(self.q.payload.n, name=f"qn_{s}") for s in range(2)]
        qfull = [Signal(name=f"qfull_{s}") for s in range(2)]
        qfill = Signal()                       # the slot the q stream fills
        qrun = Signal()                        # the slot the next run reads
        word = self.q.payload
        for s in range(2):
            m.d.comb += qfull[s].eq(qcount[s] == T * tiles)
        m.d.comb += self.q.ready.eq(~Mux(qfill, qfull[1], qfull[0]))
        for s in range(2):
            with m.If(self.q.valid & self.q.ready & (qfill == s)):
                m.d.sync += [qbuf[s].word_select(word.t * tiles + word.tile, P).eq(word.spikes),
                             qcount[s].eq(qcount[s] + 1), qn[s].eq(word.n)]
                with m.If(qcount[s] == T * tiles - 1):
                    m.d.sync += qfill.eq(~qfill)
        # two output slots of T attention rows: reserved when a run starts, freed once sent
        taken = [Signal(name=f"taken_{s}") for s in range(2)]
        done = [Signal(name=f"done_{s}") for s in range(2)]
        obuf = [Signal(T * D, name=f"obuf_{s}") for s in range(2)]
        out_n = [Signal.like(qn[0], name=f"out_n_{s}") for s in range(2)]
        wslot = Signal()
        rslot = Signal()
        kv_ready = Signal()                    # K and V are in their GLBs (``go``) until ``clear``
        with m.If(self.clear):
            m.d.sync += kv_ready.eq(0)
        with m.Elif(self.go):
            m.d.sync += kv_ready.eq(1)
        # a run: the T rows of the Q slot to the cores, one a cycle
        running = Signal()
        rt = Signal(range(max(2, T)))
        run_n = Signal.like(qn[0])
        run_q = Signal()
        run_slot = Signal()
        m.d.comb += [self.k_rd.addr.eq(rt), self.v_rd.addr.eq(rt), self.k_rd.en.eq(1), self.v_rd.en.eq(1)]
        start = Signal()
        m.d.comb += start.eq(kv_ready & Mux(qrun, qfull[1], qfull[0]) & ~running & ~Mux(wslot, taken[1], taken[0]))
        with m.If(start):
            m.d.sync += [running.eq(1), rt.eq(0), run_n.eq(Mux(qrun, qn[1], qn[0])), run_q.eq(qrun), qrun.eq(~qrun),
                         run_slot.eq(wslot), wslot.eq(~wslot)]
            for s in range(2):
                with m.If(wslot == s):
                    m.d.sync += [taken[s].eq(1), out_n[s].eq(Mux(qrun, qn[1], qn[0]))]
        with m.If(running):
            m.d.sync += rt.eq(rt + 1)
            with m.If(rt == T - 1):
                m.d.sync += [running.eq(0), rt.eq(0)]
                for s in range(2):
                    with m.If(run_q == s):
                        m.d.sync += qcount[s].eq(0)          # the Q slot is free
        # stage 1: the GLBs' K and V rows arrive with the registered Q row
        s_valid, s_zero = Signal(name="s_valid"), Signal(name="s_zero")
        s_last, s_first, s_slot = Signal(name="s_last"), Signal(name="s_first"), Signal(name="s_slot")
        s_t = Signal.like(rt)
        s_q = Signal(W)
        m.d.sync += [s_valid.eq(running), s_zero.eq(rt == 0), s_last.eq(running & (rt == T - 1)), s_t.eq(rt),
                     s_first.eq((run_n == 0) & (rt == 0)), s_slot.eq(run_slot),
                     s_q.eq(Mux(run_q, qbuf[1], qbuf[0]).word_select(rt, W))]
        for c in range(H):
            port = getattr(self, f"core_{c}")
            m.d.comb += [port.valid.eq(s_valid), port.v_zero.eq(s_zero),
                         getattr(self, f"q_{c}").eq(s_q[c * hd:(c + 1) * hd])]
            if self.head_bits:
                m.d.comb += [port.first.eq(s_first), port.head.eq(c)]
        # the cores' pipeline (``latency`` stages); their spikes into the run's output slot
        p_t, p_last, p_slot = (delayed(m, x, self.latency, name) for x, name in ((s_t, "p_t"), (s_last, "p_last"),
                                                                                  (s_slot, "p_slot")))
        heads = Cat(*(getattr(self, f"spikes_{c}") for c in range(H)))
        for s in range(2):
            with m.If(self.out_valid_0 & (p_slot == s)):
                m.d.sync += obuf[s].word_select(p_t, D).eq(heads)
            with m.If(p_last & (p_slot == s)):
                m.d.sync += done[s].eq(1)
        # a slot's attention rows out, timestep 0 first, slots in turn
        ot = Signal.like(rt)
        m.d.comb += [self.rows.valid.eq(Mux(rslot, done[1], done[0])),
                     self.rows.payload.n.eq(Mux(rslot, out_n[1], out_n[0])), self.rows.payload.t.eq(ot),
                     self.rows.payload.spikes.eq(Mux(rslot, obuf[1], obuf[0]).word_select(ot, D))]
        with m.If(self.rows.valid & self.rows.ready):
            m.d.sync += ot.eq(ot + 1)
            with m.If(ot == T - 1):
                m.d.sync += [ot.eq(0), rslot.eq(~rslot)]
                for s in range(2):
                    with m.If(rslot == s):
                        m.d.sync += [done[s].eq(0), taken[s].eq(0)]
        return m


class PipeDispatcher(wiring.Component):
    """Projection jobs: ``start`` -> per token, jobs k, v from the activation GLB; then per token
    in order, job q (activation GLB) and, when the token's attention rows arrive on ``rows``, job o
    (first): the rows go on to the lowest idle core as its beats, without a copy. The q jobs do
    not wait for the K and V results (the attention stage does). Jobs go to the lowest idle core
    as T beats.

    ``credit``: tokens between their q job and their o job, at most (``1..cores + 3``: two in the
    attention stage's output slots, two in its Q slots, the others' Q words waiting in at most
    ``cores - 1`` cores, so one core is always free for an o job: no deadlock). Default ``cores + 1``:
    more tokens have their Q words wait in token order in more cores (default MHA: 1625 cycles with
    ``cores + 3`` against 1260)."""

    def __init__(self, plan, credit: int | None = None):
        self.plan = plan
        self.credit = plan.cores + 1 if credit is None else credit
        if not 1 <= self.credit <= plan.cores + 3:
            raise ValueError(f"credit: 1..cores+3 ({plan.cores + 3}), got {credit}")
        members = {"start": In(1), "act_rd": In(plan.activation.read_signature()),
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
        fwd = Signal()                        # an o job: the rows stream forwarded to core ``fwd_to``
        fwd_to = Signal(len(cores))
        n = Signal(range(max(2, N)))
        t = Signal(range(T + 1))
        prev_t = Signal(range(T + 1))
        q_next = Signal(range(N + 1))         # next token whose q job is to come
        o_taken = Signal(range(N + 1))        # tokens whose attention rows were taken
        pending = Signal(4)                   # slots still to hand out: q, k, v (o: forwarded)
        start = self.start
        m.d.comb += [self.act_rd.addr.eq(n * T + t), self.act_rd.en.eq(1)]
        with m.If(start):
            m.d.sync += [running.eq(1), pipe.eq(0), n.eq(0), t.eq(0), loading.eq(1), q_next.eq(0), o_taken.eq(0)]
        load_token(m, loading, t, prev_t, n, job, self.act_rd.data[:cfg.d], T, pending, Mux(pipe, 0b0001, 0b0110))
        sel = Signal(range(4))
        chosen = hand_out(m, beats, cores, pending, sel, job)
        for i in range(1, 4):
            with m.If(chosen[i]):
                m.d.comb += sel.eq(i)
        idle = Signal()
        m.d.comb += idle.eq(running & ~loading & ~fwd & ~pending.any() & ~sending & ~start)
        # o jobs: the attention stage's rows (timestep 0 first) go straight to an idle core as beats
        rows = self.rows
        ready = Cat(*(c.ready for c in cores))
        lowest = Signal(len(cores))
        m.d.comb += lowest.eq(ready & (~ready + 1))
        with m.If(fwd):
            for i, c in enumerate(cores):
                m.d.comb += [c.valid.eq(rows.valid & fwd_to[i]), c.payload.spikes.eq(rows.payload.spikes),
                             c.payload.n.eq(rows.payload.n), c.payload.sel.eq(3), c.payload.pop.eq(3)]
            m.d.comb += rows.ready.eq((fwd_to & ready).any())
            with m.If(rows.valid & rows.ready & (rows.payload.t == T - 1)):
                m.d.sync += fwd.eq(0)
        with m.If(idle & ~pipe):
            with m.If(n == N - 1):
                m.d.sync += pipe.eq(1)            # every k, v job sent: the q jobs follow at once
            with m.Else():
                m.d.sync += [n.eq(n + 1), t.eq(0), loading.eq(1)]
        with m.If(idle & pipe):
            with m.If(rows.valid & ready.any()):
                m.d.sync += [fwd.eq(1), fwd_to.eq(lowest), o_taken.eq(o_taken + 1)]
            with m.Elif((q_next < N) & (q_next - o_taken < self.credit)):
                m.d.sync += [n.eq(q_next), t.eq(0), loading.eq(1), q_next.eq(q_next + 1)]
            with m.Elif(o_taken == N):
                m.d.sync += running.eq(0)
        return m


def load_token(m: Module, loading, t, prev_t, n, job, row_data, T: int, pending, slots) -> None:
    """While ``loading``: the token register ``job`` takes token ``n``'s T rows, one a cycle
    (``row_data``: the row read at ``t - 1``, synchronous read); after the last, ``pending`` gets
    the job ``slots`` to hand out and ``loading`` ends. Shared by both dispatchers."""
    with m.If(loading):
        m.d.sync += [t.eq(t + 1), prev_t.eq(t)]
        with m.If(t > 0):
            m.d.sync += job.spikes[prev_t].eq(row_data)
        with m.If(t == T):
            m.d.sync += [loading.eq(0), pending.eq(slots), job.n.eq(n)]


def hand_out(m: Module, beats: BeatSender, cores: list, pending, sel, job):
    """The lowest pending slot (returned, one-hot) as job ``sel`` of the token in ``job``: beat 0
    to the lowest idle core (when no job is being sent), beats 1..T-1 to the same core on the next
    cycles (:class:`~spikestack.hw.lib.beats.BeatSender`); the slot is cleared once beat 0 goes.
    The caller drives ``sel`` from the returned slot. Shared by both dispatchers."""
    chosen = Signal(len(pending))
    m.d.comb += chosen.eq(pending & (~pending + 1))
    taken = 0
    first = Signal(len(cores))
    for i, c in enumerate(cores):
        m.d.comb += first[i].eq(pending.any() & ~beats.sending & c.ready & ~taken)
        taken = taken | c.ready
    beats.drive(m, cores, first, sel, job.spikes,
                lambda payload, s: [payload.n.eq(job.n), payload.sel.eq(s), payload.pop.eq(s)])
    with m.If(first.any()):
        m.d.sync += pending.eq(pending & ~chosen)
    return chosen


def write_results(m: Module, res, valid, T: int, N: int, tiles: int, ports: dict) -> None:
    """A projection core's result (``res``: ``{n, t, tile, sel, spikes}``) written, when ``valid``,
    through the write port ``ports[res.sel]`` in the same cycle (combinational): K and V (sel 1,
    2) at word ``t``, the lane of token ``n``'s tile; Q and o (sel 0, 3) at row ``n*T + t``, the
    lane of the tile. A sel without a port writes nothing. Shared by :class:`PipeCollector` and
    :class:`~spikestack.hw.layers.mha.Collector`."""
    row_en, kv_en = Const(1, tiles) << res.tile, Const(1, N * tiles) << (res.n * tiles + res.tile)
    for sel, port in ports.items():
        lanes = N * tiles if sel in (1, 2) else tiles
        m.d.comb += [port.addr.eq(res.t if sel in (1, 2) else res.n * T + res.t),
                     port.data.eq(Cat(*([res.spikes] * lanes)))]
    with m.If(valid):
        with m.Switch(res.sel):
            for sel, port in sorted(ports.items()):
                with m.Case(sel):
                    m.d.comb += port.en.eq(kv_en if sel in (1, 2) else row_en)


class PipeCollector(wiring.Component):
    """Round-robin over the projection cores' results: K and V to their GLBs, Q on the ``q``
    stream in token order (a core's Q word of a later token waits; ``start``: token 0 next), o spikes
    to the activation GLB. ``complete`` pulses on the ``2*N*T*tiles``-th K/V result (phase 1) or the
    ``N*T*tiles``-th o result (phase 2); Q results are not counted."""

    def __init__(self, plan):
        self.plan = plan
        members = {"start": In(1), "clear": In(1), "complete": Out(1), "q": Out(stream.Signature(q_layout(plan))),
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
        write_results(m, res, any_valid, T, N, tiles, {1: self.k_wr, 2: self.v_wr, 3: self.out_wr})
        exp_kv, exp_o = 2 * N * T * tiles, N * T * tiles
        count = Signal(range(exp_kv + 1))
        counted = Signal()
        m.d.comb += counted.eq(any_valid & ~is_q)
        with m.If(self.clear):
            m.d.sync += count.eq(0)
        with m.Elif(counted):
            m.d.sync += count.eq(count + 1)
        with m.If(self.start):
            m.d.sync += [q_n.eq(0), q_cnt.eq(0)]
        with m.Elif(is_q & self.q.ready):
            m.d.sync += q_cnt.eq(q_cnt + 1)
            with m.If(q_cnt == T * tiles - 1):
                m.d.sync += [q_cnt.eq(0), q_n.eq(q_n + 1)]
        m.d.comb += self.complete.eq(counted & (count == Mux(res.sel == 3, exp_o - 1, exp_kv - 1)))
        return m


class PipeSequencer(wiring.Component):
    """start -> the last K/V result (``kv_done``: the attention stage may run) -> the last o result
    -> done. ``cycles_qkv``: cycles to ``kv_done``; ``cycles_attn``: from there to done."""

    def __init__(self):
        super().__init__({
            **control_members(),
            "qkv_start": Out(1), "kv_done": Out(1), "collect_clear": Out(1), "collect_complete": In(1),
            "cycles_qkv": Out(32), "cycles_attn": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        ctl = RunControl(m, self)
        phase_o = Signal()
        kv_done = self.kv_done
        m.d.comb += kv_done.eq(self.busy & ~phase_o & self.collect_complete)
        with m.If(ctl.go):
            m.d.sync += phase_o.eq(0)
        with m.Elif(kv_done):
            m.d.sync += phase_o.eq(1)
        m.d.comb += [self.qkv_start.eq(ctl.go), self.collect_clear.eq(ctl.go | kv_done),
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
    group = "attention_core" if cfg.hw.attn_split == "off" else "attention_score"
    d.add("attention_stage", lambda: AttentionStage(plan, head_bits, attention_latency(cfg)), role="logic", group=group)
    for x in "kv":
        d.wire_all([(f"attention_stage.{x}_rd.{leaf}", f"{x}_glb.rd0.{leaf}") for leaf in ("addr", "en")])
    for c in range(cfg.heads):
        inp, out = add_attention_core(d, cfg, c)
        d.wire_all([(f"attention_stage.core_{c}.{leaf}", inp(leaf)) for leaf in attention_ctl_members(head_bits)])
        d.wire(f"attention_stage.q_{c}", inp("q"))
        d.wire(f"{out}.valid", f"attention_stage.out_valid_{c}")
        d.wire(f"{out}.spikes", f"attention_stage.spikes_{c}")
        for x in "kv":
            d.wire_all([(f"{x}_glb.rd0.data[{mm * W + c * hd}:{mm * W + (c + 1) * hd}]",
                         f"{inp(x)}[{mm * hd}:{(mm + 1) * hd}]") for mm in range(N)])
    d.wire_all([("sequencer.qkv_start", "collector.start"), ("collector.q", "attention_stage.q"),
                ("attention_stage.rows", "dispatcher.rows"),
                ("sequencer.qkv_start", "attention_stage.clear"), ("sequencer.kv_done", "attention_stage.go")])
