"""Spiking self-attention: the attention core and the attention dispatcher.

:class:`AttentionCore` computes one head for one query row per cycle (SPEC.md MHA step 2-3)::

    A[m]  = popcount(q & k[m])            m = 0..N-1   (AND + popcount, no multiplier)
    O[i]  = sum over m with v[m][i] = 1 of A[m]         (add A's entries where V spikes)
    S[i]  = LIF_attn(O[i] >> attn_shift)   membrane per lane i, from 0 when ``v_zero``

Two pipeline stages (A registered, then the adds and the LIF): ``spikes`` is valid 2 cycles after
``valid``. Rows of one head must come for n, then t in order (each lane keeps one membrane).

:class:`AttentionDispatcher` walks rounds of heads (``cores`` heads at a time when there are more
heads than cores), tokens n and timesteps t: it addresses the query row ``q_glb[n*T + t]`` and the
key and value rows of timestep t (``k_glb[t]``, ``v_glb[t]``: all N tokens side by side), tells
the cores a row is there, and writes the cores' spikes back to ``attn_glb[n*T + t]`` in lane group
``head`` (lane enables). It carries no data: each core's Q, K and V slices go from the buffers'
read ports to the core as wiring of the layer graph (with one round), or through the core's
:class:`HeadSelect` (more heads than cores: the slice changes by round), and every core's spikes
go straight to its heads' lanes of ``attn_glb``'s write data. Cost: ``rounds * N * T`` cycles plus
``1 + latency`` cycles of pipeline (the cores' latency: 2, or 3 with a registered score word).
"""
from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..lib.delay import delayed
from ..lib.lif import LifLane
from ..lib.shapes import ceil_div

__all__ = ["AttentionCore", "ScoreRow", "AttnLane", "ScoreStage", "ValueStage", "join_stages",
           "score_in_signature", "score_out_signature", "attention_widths", "AttentionDispatcher", "HeadSelect", "attention_in_signature", "attention_out_signature",
           "attention_ctl_members"]


def attention_in_signature(n: int, d: int, head_bits: int = 0) -> wiring.Signature:
    """``head_bits > 0``: the SSA core's input (:mod:`.ssa`), with ``first`` (first row of a head's
    pass: the LFSRs load their seeds) and ``head`` (which head's seeds)."""
    members = {"valid": Out(1), "v_zero": Out(1), "q": Out(d), "k": Out(n * d), "v": Out(n * d)}
    if head_bits:
        members.update({"first": Out(1), "head": Out(head_bits)})
    return wiring.Signature(members)


def attention_ctl_members(head_bits: int = 0) -> tuple[str, ...]:
    """The members of :func:`attention_in_signature` the dispatcher drives (the rest is data)."""
    return ("valid", "v_zero") + (("first", "head") if head_bits else ())


def attention_out_signature(d: int) -> wiring.Signature:
    return wiring.Signature({"valid": Out(1), "spikes": Out(d)})


class ScoreRow(wiring.Component):
    """Stage 1 of :class:`AttentionCore` for one key row m: ``a`` = popcount(``q & k``), registered
    (latency 1; 0 after ``rst``). Attributes: ``q``, ``k`` In(d), ``a`` Out(a_bits)."""

    def __init__(self, d: int, a_bits: int):
        self.d = d
        super().__init__({"q": In(d), "k": In(d), "a": Out(a_bits)})

    def elaborate(self, platform):
        m = Module()
        both = self.q & self.k
        m.d.sync += self.a.eq(sum((both[i] for i in range(self.d)), 0))
        return m


class AttnLane(wiring.Component):
    """Stage 2 of :class:`AttentionCore` for one output lane i: the value column ``v`` (bit m =
    ``v[m][i]``) registered beside the stage-1 scores, ``O = sum of a[m] where v[m]``, shifted
    right by ``shift``, into a :class:`~spikestack.hw.lib.lif.LifLane` (its membrane updated when
    ``valid``, from 0 when ``zero``); ``spike`` registered (so 2 cycles after the row).
    Attributes: ``a`` In(n*a_bits) (the stage-1 row, registered), ``v`` In(n), ``valid``,
    ``zero`` In(1) (of the stage-1 row), ``spike`` Out(1)."""

    def __init__(self, *, n: int, a_bits: int, o_bits: int, shift: int, pop, v_bits: int):
        self.n, self.a_bits, self.o_bits, self.shift, self.pop, self.v_bits = n, a_bits, o_bits, shift, pop, v_bits
        super().__init__({"a": In(n * a_bits), "v": In(n), "valid": In(1), "zero": In(1), "spike": Out(1)})

    def elaborate(self, platform):
        m = Module()
        ab = self.a_bits
        v_col = Signal(self.n)
        m.d.sync += v_col.eq(self.v)
        o = sum((self.a[k * ab:(k + 1) * ab] & v_col[k].replicate(ab) for k in range(self.n)), 0)
        cur = Signal(signed(self.o_bits))
        m.d.comb += cur.eq(o >> self.shift)
        m.submodules.lif = lif = LifLane(self.pop, self.v_bits, self.o_bits)
        m.d.comb += [lif.en.eq(self.valid), lif.zero.eq(self.zero), lif.i.eq(cur)]
        m.d.sync += self.spike.eq(lif.spike)
        return m


def attention_widths(n: int, d: int) -> tuple[int, int]:
    """``(a_bits, o_bits)`` of a head of ``n`` tokens and width ``d``: a score A[m] (0..d) and a
    lane's sum O[i] (0..n*d, signed)."""
    return max(1, d.bit_length()), (n * d).bit_length() + 1


def score_in_signature(n: int, d: int, head_bits: int = 0) -> wiring.Signature:
    """What a score stage takes of a row: :func:`attention_in_signature` without ``v``."""
    members = dict(attention_in_signature(n, d, head_bits).members)
    del members["v"]
    return wiring.Signature(members)


def score_out_signature(n: int, s_bits: int, head_bits: int = 0) -> wiring.Signature:
    """A score stage's registered row: ``valid``, the ``n`` scores of ``s_bits`` (``s``) and what
    the value stage needs with them: ``zero`` (deterministic) or ``first`` and ``head`` (SSA)."""
    members = {"valid": Out(1), "s": Out(n * s_bits)}
    members.update({"first": Out(1), "head": Out(head_bits)} if head_bits else {"zero": Out(1)})
    return wiring.Signature(members)


class ScoreStage(wiring.Component):
    """Q·Kᵀ of one row (stage 1 of :class:`AttentionCore`): ``n`` :class:`ScoreRow` s (``row_<m>``),
    ``out.s`` the row of scores A[m] (``a_bits`` each), ``out.valid`` and ``out.zero`` (``inp.v_zero``)
    registered beside them (latency 1). Attributes: ``inp`` In(:func:`score_in_signature`),
    ``out`` Out(:func:`score_out_signature`)."""

    def __init__(self, *, n: int, d: int):
        self.n, self.d = n, d
        self.a_bits, _ = attention_widths(n, d)
        super().__init__({"inp": In(score_in_signature(n, d)), "out": Out(score_out_signature(n, self.a_bits))})

    def elaborate(self, platform):
        m = Module()
        d, ab, inp = self.d, self.a_bits, self.inp
        for k in range(self.n):
            m.submodules[f"row_{k}"] = row = ScoreRow(d, ab)
            m.d.comb += [row.q.eq(inp.q), row.k.eq(inp.k[k * d:(k + 1) * d]), self.out.s[k * ab:(k + 1) * ab].eq(row.a)]
        m.d.sync += [self.out.valid.eq(inp.valid), self.out.zero.eq(inp.v_zero)]
        return m


class ValueStage(wiring.Component):
    """A·V, shift and LIF of one row (stage 2 of :class:`AttentionCore`): ``d`` :class:`AttnLane` s
    (``lane_<i>``, each with its neuron and membrane) on a :class:`ScoreStage`'s row ``inp`` and the
    V row ``v`` (N*d bits) that came with that row's Q and K, one cycle before ``inp``.
    ``regs`` > 0: ``inp`` registered that many more times on arrival (and ``v`` alike), so the
    score word crosses a bond from register to register (3D-Flow); latency from ``inp``:
    ``1 + regs``. Attributes: ``inp`` In(:func:`score_out_signature`), ``v`` In(n*d), ``out``
    Out(:func:`attention_out_signature`)."""

    def __init__(self, *, n: int, d: int, shift: int, pop, v_bits: int, regs: int = 0):
        self.n, self.d, self.shift, self.pop, self.v_bits, self.regs = n, d, shift, pop, v_bits, regs
        self.a_bits, self.o_bits = attention_widths(n, d)
        super().__init__({"inp": In(score_out_signature(n, self.a_bits)), "v": In(n * d),
                          "out": Out(attention_out_signature(d))})

    def elaborate(self, platform):
        m = Module()
        N, d = self.n, self.d
        valid, zero = (delayed(m, x, self.regs, name) for x, name in ((self.inp.valid, "valid"), (self.inp.zero, "zero")))
        a = delayed(m, self.inp.s, self.regs, "s")
        v = delayed(m, self.v, self.regs, "v")
        m.d.sync += self.out.valid.eq(valid)
        for i in range(d):
            m.submodules[f"lane_{i}"] = lane = AttnLane(n=N, a_bits=self.a_bits, o_bits=self.o_bits, shift=self.shift,
                                                        pop=self.pop, v_bits=self.v_bits)
            m.d.comb += [lane.a.eq(a), lane.valid.eq(valid), lane.zero.eq(zero), self.out.spikes[i].eq(lane.spike)]
            m.d.comb += [lane.v[k].eq(v[k * d + i]) for k in range(N)]     # bit by bit: one port, one class
        return m


def join_stages(m: Module, inp, out, score, value) -> None:
    """An attention core's ports ``inp``, ``out`` onto its two stages in ``m``: ``score`` gets
    ``inp`` but ``v``, ``value`` gets ``v`` and the score row, ``out`` is ``value.out``."""
    wiring.connect(m, score.out, value.inp)
    for name in score.inp.signature.members:
        m.d.comb += getattr(score.inp, name).eq(getattr(inp, name))
    m.d.comb += [value.v.eq(inp.v), out.valid.eq(value.out.valid), out.spikes.eq(value.out.spikes)]


class AttentionCore(wiring.Component):
    """One head, one query row per cycle (see module docstring). Parameters: ``n`` tokens, ``d``
    head width, ``shift`` (attn_shift), ``pop`` (the attention LifConfig), ``v_bits``.

    A :class:`ScoreStage` (``score``: ``n`` :class:`ScoreRow` s) into a :class:`ValueStage`
    (``value``: ``d`` :class:`AttnLane` s): a hierarchical flow hardens one row and one lane (issue
    39: the adds were 70 % of the default core's 9,857 own cells), and ``[hw] attn_split`` puts the
    two stages in the layer graph as blocks of their own (on two tiers of a stack)."""

    def __init__(self, *, n: int, d: int, shift: int, pop, v_bits: int):
        self.n, self.d, self.shift, self.pop, self.v_bits = n, d, shift, pop, v_bits
        self.a_bits, self.o_bits = attention_widths(n, d)
        super().__init__({"inp": In(attention_in_signature(n, d)), "out": Out(attention_out_signature(d))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.score = score = ScoreStage(n=self.n, d=self.d)
        m.submodules.value = value = ValueStage(n=self.n, d=self.d, shift=self.shift, pop=self.pop, v_bits=self.v_bits)
        join_stages(m, self.inp, self.out, score, value)
        return m


class AttentionDispatcher(wiring.Component):
    """Parameters: ``t, n, heads, cores``, ``q_addr_bits, kv_addr_bits, attn_addr_bits``;
    ``head_bits > 0`` (SSA mode): the cores also get ``first`` and ``head``.

    Attributes: ``start`` In(1), ``done`` Out(1) (pulse); ``q_rd``, ``k_rd``, ``v_rd`` (``addr``,
    ``en`` of a read port); ``attn_wr`` (``addr``, ``en``: one lane a head); ``round`` (with more
    than one round: the round of the rows the buffers return this cycle, for the
    :class:`HeadSelect` blocks); ``core_<c>`` (``valid``, ``v_zero`` [, ``first``, ``head``] of
    core c's input, :func:`attention_ctl_members`); ``out_valid_<c>`` In(1) (core c's
    ``out.valid``). Same schedule and pipeline as the cores' data: rows at the cores one cycle
    after their address, spikes written ``latency`` (the cores', default 2) cycles later.
    """

    def __init__(self, *, t: int, n: int, heads: int, cores: int,
                 q_addr_bits: int, kv_addr_bits: int, attn_addr_bits: int, head_bits: int = 0, latency: int = 2):
        self.head_bits, self.latency = head_bits, latency
        self.t, self.n, self.heads, self.cores = t, n, heads, cores
        self.rounds = ceil_div(heads, cores)

        def rd(bits):
            return Out(wiring.Signature({"addr": Out(bits), "en": Out(1)}))
        ctl = {"valid": Out(1), "v_zero": Out(1)}
        if head_bits:
            ctl.update({"first": Out(1), "head": Out(head_bits)})
        members = {
            "start": In(1), "done": Out(1),
            "q_rd": rd(q_addr_bits), "k_rd": rd(kv_addr_bits), "v_rd": rd(kv_addr_bits),
            "attn_wr": Out(wiring.Signature({"addr": Out(attn_addr_bits), "en": Out(heads)})),
        }
        if self.rounds > 1:
            members["round"] = Out(range(self.rounds))
        for c in range(cores):
            members[f"core_{c}"] = Out(wiring.Signature(ctl))
            members[f"out_valid_{c}"] = In(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        T, N, C, R = self.t, self.n, self.cores, self.rounds
        running = Signal()
        rnd = Signal(range(max(2, R)))
        n = Signal(range(max(2, N)))
        t = Signal(range(max(2, T)))
        last = Signal()
        m.d.comb += [
            self.q_rd.addr.eq(n * T + t), self.k_rd.addr.eq(t), self.v_rd.addr.eq(t),
            self.q_rd.en.eq(1), self.k_rd.en.eq(1), self.v_rd.en.eq(1),
            last.eq((rnd == R - 1) & (n == N - 1) & (t == T - 1)),
        ]
        with m.If(self.start):
            m.d.sync += [running.eq(1), rnd.eq(0), n.eq(0), t.eq(0)]
        with m.Elif(running):
            m.d.sync += t.eq(t + 1)
            with m.If(t == T - 1):
                m.d.sync += [t.eq(0), n.eq(n + 1)]
                with m.If(n == N - 1):
                    m.d.sync += [n.eq(0), rnd.eq(rnd + 1)]
            with m.If(last):
                m.d.sync += running.eq(0)
        # stage 1: the buffers' rows arrive (at the cores, or their HeadSelect)
        s_valid, s_zero, s_last = Signal(), Signal(), Signal()
        s_rnd = Signal.like(rnd)
        s_row = Signal.like(self.attn_wr.addr)
        m.d.sync += [s_valid.eq(running), s_zero.eq(t == 0), s_last.eq(running & last), s_rnd.eq(rnd),
                     s_row.eq(n * T + t)]
        if R > 1:
            m.d.comb += self.round.eq(s_rnd)
        if self.head_bits:
            s_first = Signal()
            m.d.sync += s_first.eq((n == 0) & (t == 0))
        for c in range(C):
            port = getattr(self, f"core_{c}")
            m.d.comb += [port.valid.eq(s_valid), port.v_zero.eq(s_zero)]
            if self.head_bits:
                m.d.comb += [port.first.eq(s_first),
                             port.head.eq(c if R == 1 else Mux(s_rnd * C + c < self.heads, s_rnd * C + c, 0))]
        # the cores' pipeline (``latency`` stages); their spikes are wired to their heads' lanes:
        # enable the lanes of this round's heads
        p_rnd, p_row, p_last = (delayed(m, x, self.latency, name) for x, name in ((s_rnd, "p_rnd"), (s_row, "p_row"),
                                                                                    (s_last, "p_last")))
        en = Signal(self.heads)
        for h in range(self.heads):
            r, c = divmod(h, C)
            valid = getattr(self, f"out_valid_{c}")
            m.d.comb += en[h].eq(valid & (p_rnd == r) if R > 1 else valid)
        m.d.comb += [self.attn_wr.addr.eq(p_row), self.attn_wr.en.eq(en)]
        m.d.sync += self.done.eq(p_last)
        return m


class HeadSelect(wiring.Component):
    """One attention core's Q, K and V slices when there are more heads than cores: ``cand_<r>``
    (``q`` d bits, ``k`` and ``v`` N*d bits: the slices of the core's head of round r, wired from
    the buffers' read data) -> ``out`` (``q``, ``k``, ``v`` of round ``round``). Combinational."""

    def __init__(self, *, n: int, d: int, rounds: int):
        self.n, self.d, self.rounds = n, d, rounds
        data = {"q": Out(d), "k": Out(n * d), "v": Out(n * d)}
        members = {"round": In(range(rounds)), "out": Out(wiring.Signature(data))}
        for r in range(rounds):
            members[f"cand_{r}"] = In(wiring.Signature(data))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        for r in range(self.rounds):
            cand = getattr(self, f"cand_{r}")
            with m.If(self.round == r):
                m.d.comb += [self.out.q.eq(cand.q), self.out.k.eq(cand.k), self.out.v.eq(cand.v)]
        return m
