"""The stochastic spiking attention (SSA) core: ``[attention] mode = "ssa"`` (Xpikeformer).

:class:`SsaAttentionCore` is the drop-in for :class:`~.attention.AttentionCore` in SSA mode: one
head, one query row per cycle, the same ports plus ``first`` / ``head`` from the dispatcher, the
same 2-cycle latency. Its computation is :mod:`spikestack.sim.ssa`'s::

    stage 1: c[m] = popcount(q & k_m)   -> S[m] = r_a[m] < thr_d[c[m]]        (registered: N bits)
    stage 2: o[i] = popcount(S & v[.,i]) -> spike[i] = r_o[i] < thr_N[o[i]]   (registered: d bits)

AND gates, counters (adder trees of single bits), constant tables (``thr``: a small function of
the count, no multiplier) and comparators; no membrane, no LIF, no shift. The N score LFSRs and
d output LFSRs are Galois LFSRs of ``lfsr_bits``: on a valid row each loads
``first ? seed[head] : step(state)`` and uses that value in the same cycle: the score bank in
stage 1 (:class:`SsaScoreStage`), the output bank in stage 2 on the registered row
(:class:`SsaValueStage`), so the two stages are blocks that ``[hw] attn_split`` can put on two
tiers. The seeds of every head are constants selected by ``head`` (so all cores are the same module).
"""
from __future__ import annotations

from amaranth import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ...config import ConfigError, LayerConfig
from ...sim.ssa import lfsr_seeds, thresholds
from ..lib.delay import delayed
from .attention import (AttentionCore, ScoreStage, ValueStage, attention_in_signature, attention_out_signature,
                        join_stages, score_in_signature, score_out_signature)

__all__ = ["SsaAttentionCore", "SsaScoreStage", "SsaValueStage", "attention_core", "attention_stages", "attention_latency",
           "head_bits", "const_table"]


def const_table(index, values, width: int):
    """``values[index]`` as a tree of 2:1 multiplexers over the index bits (entries past the end
    repeat the last value): plain ``?:`` in the Verilog, no case statement, no ``x`` default."""
    values = [int(v) for v in values]
    values += [values[-1]] * ((1 << len(index)) - len(values))

    def tree(bit: int, lo: int, n: int):
        if n == 1:
            return Const(values[lo], width)
        half = n // 2
        return Mux(index[bit], tree(bit - 1, lo + half, half), tree(bit - 1, lo, half))

    return tree(len(index) - 1, 0, 1 << len(index))


def head_bits(cfg: LayerConfig) -> int:
    """Width of the dispatcher's ``head`` output in SSA mode, 0 in deterministic mode."""
    return _head_width(cfg.heads) if cfg.attention.mode == "ssa" else 0


def _head_width(heads: int) -> int:
    """Bits of a head index (at least 1)."""
    return max(1, (heads - 1).bit_length())


def _lfsr(m: Module, name: str, seeds, att, valid, first, head) -> Signal:
    """One LFSR: this row's number ``first ? seed[head] : step(state)``, which its ``state``
    register holds after a ``valid`` row."""
    w, mask = att.lfsr_bits, att.mask
    state = Signal(w, name=f"{name}_state")
    seed = Signal(w, name=f"{name}_seed")
    m.d.comb += seed.eq(int(seeds[0]) if len(seeds) == 1 else const_table(head, seeds, w))
    step = Signal(w, name=f"{name}_step")
    m.d.comb += step.eq((state >> 1) ^ (Const(mask, w) & state[0].replicate(w)))
    cur = Signal(w, name=f"{name}_cur")
    m.d.comb += cur.eq(Mux(first, seed, step))
    with m.If(valid):
        m.d.sync += state.eq(cur)
    return cur


def _below(m: Module, name: str, r: Signal, count, table) -> Signal:
    """``r < table[count]``: the Bernoulli comparison against a constant threshold table."""
    w = len(r) + 1
    thr = Signal(w, name=f"{name}_thr")
    m.d.comb += thr.eq(const_table(count, table, w))
    spike = Signal(name=f"{name}_spike")
    m.d.comb += spike.eq(r < thr)
    return spike


class SsaScoreStage(wiring.Component):
    """Stage 1 of :class:`SsaAttentionCore`: the N score spikes ``out.s`` = Bernoulli(popcount(q &
    k_m) / d), registered with ``valid``, ``first`` and ``head`` (latency 1). Attributes: ``inp``
    In(:func:`~.attention.score_in_signature`), ``out`` Out(:func:`~.attention.score_out_signature`, 1 bit a score)."""

    def __init__(self, *, n: int, d: int, heads: int, att):
        self.n, self.d, self.heads, self.att = n, d, heads, att
        self.head_bits = _head_width(heads)
        super().__init__({"inp": In(score_in_signature(n, d, self.head_bits)),
                          "out": Out(score_out_signature(n, 1, self.head_bits))})

    def elaborate(self, platform):
        m = Module()
        N, d, inp = self.n, self.d, self.inp
        seeds_a, _ = lfsr_seeds(self.att, self.heads, N, d)
        thr_d = thresholds(self.att.lfsr_bits, d)
        for mm in range(N):
            both = inp.q & inp.k[mm * d:(mm + 1) * d]
            count = Signal(range(d + 1), name=f"c_{mm}")
            m.d.comb += count.eq(sum((both[i] for i in range(d)), 0))
            r = _lfsr(m, f"ra_{mm}", seeds_a[:, mm], self.att, inp.valid, inp.first, inp.head)
            m.d.sync += self.out.s[mm].eq(_below(m, f"s_{mm}", r, count, thr_d))
        m.d.sync += [self.out.valid.eq(inp.valid), self.out.first.eq(inp.first), self.out.head.eq(inp.head)]
        return m


class SsaValueStage(wiring.Component):
    """Stage 2 of :class:`SsaAttentionCore`: ``out.spikes`` = Bernoulli(popcount(S & v[., i]) / N)
    from a :class:`SsaScoreStage` row ``inp`` and the V row ``v`` of one cycle before; the output
    LFSRs step on ``inp``'s ``valid`` / ``first`` / ``head`` (the numbers of the monolithic core,
    whose output bank steps one cycle earlier and is read from its register). ``regs``, latency:
    as :class:`~.attention.ValueStage`."""

    def __init__(self, *, n: int, d: int, heads: int, att, regs: int = 0):
        self.n, self.d, self.heads, self.att, self.regs = n, d, heads, att, regs
        self.head_bits = _head_width(heads)
        super().__init__({"inp": In(score_out_signature(n, 1, self.head_bits)), "v": In(n * d),
                          "out": Out(attention_out_signature(d))})

    def elaborate(self, platform):
        m = Module()
        N, d, inp = self.n, self.d, self.inp
        _, seeds_o = lfsr_seeds(self.att, self.heads, N, d)
        thr_n = thresholds(self.att.lfsr_bits, N)
        valid, first, head, scores = (delayed(m, x, self.regs, name) for x, name in (
            (inp.valid, "valid"), (inp.first, "first"), (inp.head, "head"), (inp.s, "s")))
        v = delayed(m, self.v, self.regs + 1, "v")
        spikes = Signal(d)
        for i in range(d):
            count = Signal(range(N + 1), name=f"o_{i}")
            m.d.comb += count.eq(sum((scores[mm] & v[mm * d + i] for mm in range(N)), 0))
            r = _lfsr(m, f"ro_{i}", seeds_o[:, i], self.att, valid, first, head)
            m.d.comb += spikes[i].eq(_below(m, f"out_{i}", r, count, thr_n))
        m.d.sync += [self.out.valid.eq(valid), self.out.spikes.eq(spikes)]
        return m


class SsaAttentionCore(wiring.Component):
    """One head per pass, one query row per cycle (module docstring): a :class:`SsaScoreStage`
    (``score``) into a :class:`SsaValueStage` (``value``). Parameters: ``n`` tokens, ``d`` head
    width, ``heads`` (seed tables), ``att`` the :class:`~spikestack.config.AttentionConfig`."""

    def __init__(self, *, n: int, d: int, heads: int, att):
        if att.mode != "ssa":
            raise ConfigError(f"attention.mode: SsaAttentionCore needs 'ssa', got {att.mode!r}")
        self.n, self.d, self.heads, self.att = n, d, heads, att
        self.head_bits = _head_width(heads)
        super().__init__({"inp": In(attention_in_signature(n, d, self.head_bits)),
                          "out": Out(attention_out_signature(d))})

    def elaborate(self, platform):
        m = Module()
        kw = dict(n=self.n, d=self.d, heads=self.heads, att=self.att)
        m.submodules.score = score = SsaScoreStage(**kw)
        m.submodules.value = value = SsaValueStage(**kw)
        join_stages(m, self.inp, self.out, score, value)
        return m


def attention_core(cfg: LayerConfig) -> wiring.Component:
    """The attention core of the configuration's mode (``[attention] mode``)."""
    if cfg.attention.mode == "ssa":
        return SsaAttentionCore(n=cfg.n, d=cfg.head_dim, heads=cfg.heads, att=cfg.attention)
    return AttentionCore(n=cfg.n, d=cfg.head_dim, shift=cfg.attn_shift, pop=cfg.lif["attn"], v_bits=cfg.v_bits)


def attention_latency(cfg: LayerConfig) -> int:
    """Cycles from a row at an attention core (or its score stage) to its spikes: 2, plus the
    score word's register on arrival with ``[hw] attn_split = "registered"``."""
    return 2 + (cfg.hw.attn_split == "registered")


def attention_stages(cfg: LayerConfig) -> tuple:
    """``[hw] attn_split``: the factories of the two blocks an attention core becomes, ``(score,
    value)`` (the value stage registers the score word on arrival when the split is ``registered``)."""
    regs = attention_latency(cfg) - 2
    if cfg.attention.mode == "ssa":
        kw = dict(n=cfg.n, d=cfg.head_dim, heads=cfg.heads, att=cfg.attention)
        return (lambda: SsaScoreStage(**kw)), (lambda: SsaValueStage(**kw, regs=regs))
    return ((lambda: ScoreStage(n=cfg.n, d=cfg.head_dim)),
            (lambda: ValueStage(n=cfg.n, d=cfg.head_dim, shift=cfg.attn_shift, pop=cfg.lif["attn"], v_bits=cfg.v_bits,
                                regs=regs)))
