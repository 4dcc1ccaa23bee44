"""Spiking self-attention: the attention core and the attention dispatcher.

:class:`AttentionCore` computes one head for one query row per cycle (SPEC.md MHA step 2-3)::

    A[m]  = popcount(q & k[m])            m = 0..N-1   (AND + popcount, no multiplier)
    O[i]  = sum over m with v[m][i] = 1 of A[m]         (add A's entries where V spikes)
    S[i]  = LIF_attn(O[i] >> attn_shift)   membrane per lane i, from 0 when ``v_zero``

Two pipeline stages (A registered, then the adds and the LIF): ``spikes`` is valid 2 cycles after
``valid``. Rows of one head must come for n, then t in order (each lane keeps one membrane).

:class:`AttentionDispatcher` walks rounds of heads (``cores`` heads at a time when there are more
heads than cores), tokens n and timesteps t: it reads the query row ``q_glb[n*T + t]`` and the key
and value rows of timestep t (``k_glb[t]``, ``v_glb[t]``: all N tokens side by side), gives each
core its head's slice, and writes the cores' spikes back to ``attn_glb[n*T + t]`` in lane group
``head``. Cost: ``rounds * N * T`` cycles plus 3 cycles of pipeline.
"""
from __future__ import annotations

from amaranth import Cat, Module, Signal, signed
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from ..lib.lif import LifNeuron
from ..lib.shapes import ceil_div

__all__ = ["AttentionCore", "AttentionDispatcher", "attention_in_signature", "attention_out_signature"]


def attention_in_signature(n: int, d: int, head_bits: int = 0) -> wiring.Signature:
    """``head_bits > 0``: the SSA core's input (:mod:`.ssa`), with ``first`` (first row of a head's
    pass: the LFSRs load their seeds) and ``head`` (which head's seeds)."""
    members = {"valid": Out(1), "v_zero": Out(1), "q": Out(d), "k": Out(n * d), "v": Out(n * d)}
    if head_bits:
        members.update({"first": Out(1), "head": Out(head_bits)})
    return wiring.Signature(members)


def attention_out_signature(d: int) -> wiring.Signature:
    return wiring.Signature({"valid": Out(1), "spikes": Out(d)})


class AttentionCore(wiring.Component):
    """One head, one query row per cycle (see module docstring). Parameters: ``n`` tokens, ``d``
    head width, ``shift`` (attn_shift), ``pop`` (the attention LifConfig), ``v_bits``."""

    def __init__(self, *, n: int, d: int, shift: int, pop, v_bits: int):
        self.n, self.d, self.shift, self.pop, self.v_bits = n, d, shift, pop, v_bits
        self.a_bits = max(1, d.bit_length())
        self.o_bits = (n * d).bit_length() + 1          # signed, non-negative values
        super().__init__({"inp": In(attention_in_signature(n, d)), "out": Out(attention_out_signature(d))})

    def elaborate(self, platform):
        m = Module()
        N, d = self.n, self.d
        inp = self.inp
        # stage 1: the attention row A[m] = popcount(q & k_m)
        a = Signal(data.ArrayLayout(self.a_bits, N))
        s1_valid, s1_zero = Signal(), Signal()
        s1_v = Signal(N * d)
        for mm in range(N):
            both = inp.q & inp.k[mm * d:(mm + 1) * d]
            m.d.sync += a[mm].eq(sum((both[i] for i in range(d)), 0))
        m.d.sync += [s1_valid.eq(inp.valid), s1_zero.eq(inp.v_zero), s1_v.eq(inp.v)]
        # stage 2: O[i] = sum of A[m] where v[m][i]; shift; LIF
        spikes = Signal(d)
        for i in range(d):
            o = sum((a[mm] & s1_v[mm * d + i].replicate(self.a_bits) for mm in range(N)), 0)
            cur = Signal(signed(self.o_bits), name=f"i_{i}")
            m.d.comb += cur.eq(o >> self.shift)
            neuron = LifNeuron((self.pop,), self.v_bits, self.o_bits)
            m.submodules[f"lif_{i}"] = neuron
            v = Signal(signed(self.v_bits), name=f"v_{i}")
            m.d.comb += [neuron.v.eq(v), neuron.v_zero.eq(s1_zero), neuron.i.eq(cur), neuron.sel.eq(0),
                         spikes[i].eq(neuron.spike)]
            with m.If(s1_valid):
                m.d.sync += v.eq(neuron.v_next)
        m.d.sync += [self.out.valid.eq(s1_valid), self.out.spikes.eq(spikes)]
        return m


class AttentionDispatcher(wiring.Component):
    """Parameters: ``t, n, heads, d`` (head width), ``cores``, ``row_width`` (a Q row: tiles*P
    bits), ``q_addr_bits, kv_addr_bits, attn_addr_bits``.

    Attributes: ``start`` In(1), ``done`` Out(1) (pulse), ``q_rd``, ``k_rd``, ``v_rd`` (read
    ports), ``attn_wr`` (write port, granularity d), ``core_in_<c>`` / ``core_out_<c>``.
    ``head_bits > 0`` (SSA mode): the cores' inputs also carry ``first`` and ``head``.
    """

    def __init__(self, *, t: int, n: int, heads: int, d: int, cores: int, row_width: int,
                 q_addr_bits: int, kv_addr_bits: int, attn_addr_bits: int, head_bits: int = 0):
        self.head_bits = head_bits
        self.t, self.n, self.heads, self.d, self.cores, self.row_width = t, n, heads, d, cores, row_width
        self.rounds = ceil_div(heads, cores)
        members = {
            "start": In(1), "done": Out(1),
            "q_rd": In(memory.ReadPort.Signature(addr_width=q_addr_bits, shape=row_width)),
            "k_rd": In(memory.ReadPort.Signature(addr_width=kv_addr_bits, shape=n * row_width)),
            "v_rd": In(memory.ReadPort.Signature(addr_width=kv_addr_bits, shape=n * row_width)),
            "attn_wr": In(memory.WritePort.Signature(addr_width=attn_addr_bits, shape=heads * d, granularity=d)),
        }
        for c in range(cores):
            members[f"core_in_{c}"] = Out(attention_in_signature(n, d, head_bits))
            members[f"core_out_{c}"] = In(attention_out_signature(d))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        T, N, d, C, R, W = self.t, self.n, self.d, self.cores, self.rounds, self.row_width
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
        # stage 1: buffer data arrives -> slices to the cores
        s_valid, s_zero, s_last = Signal(), Signal(), Signal()
        s_rnd = Signal.like(rnd)
        s_row = Signal.like(self.attn_wr.addr)
        m.d.sync += [s_valid.eq(running), s_zero.eq(t == 0), s_last.eq(running & last), s_rnd.eq(rnd),
                     s_row.eq(n * T + t)]
        if self.head_bits:
            s_first = Signal()
            m.d.sync += s_first.eq((n == 0) & (t == 0))
        for c in range(C):
            port = getattr(self, f"core_in_{c}")
            m.d.comb += [port.valid.eq(s_valid), port.v_zero.eq(s_zero)]
            if self.head_bits:
                m.d.comb += port.first.eq(s_first)
            for r in range(R):
                h = r * C + c
                if h >= self.heads:
                    continue
                with m.If(s_rnd == r):
                    if self.head_bits:
                        m.d.comb += port.head.eq(h)
                    m.d.comb += [
                        port.q.eq(self.q_rd.data[h * d:(h + 1) * d]),
                        port.k.eq(Cat(*(self.k_rd.data[mm * W + h * d:mm * W + (h + 1) * d] for mm in range(N)))),
                        port.v.eq(Cat(*(self.v_rd.data[mm * W + h * d:mm * W + (h + 1) * d] for mm in range(N)))),
                    ]
        # stages 2, 3: the cores' pipeline; write their spikes back
        p_rnd, p_row = [Signal.like(s_rnd) for _ in range(2)], [Signal.like(s_row) for _ in range(2)]
        p_last = [Signal() for _ in range(2)]
        m.d.sync += [p_rnd[0].eq(s_rnd), p_row[0].eq(s_row), p_last[0].eq(s_last),
                     p_rnd[1].eq(p_rnd[0]), p_row[1].eq(p_row[0]), p_last[1].eq(p_last[0])]
        outs = [getattr(self, f"core_out_{c}") for c in range(C)]
        data_bits = Signal(self.heads * d)
        en = Signal(self.heads)
        for r in range(R):
            with m.If(p_rnd[1] == r):
                for c in range(C):
                    h = r * C + c
                    if h < self.heads:
                        m.d.comb += [data_bits[h * d:(h + 1) * d].eq(outs[c].spikes), en[h].eq(outs[c].valid)]
        m.d.comb += [self.attn_wr.addr.eq(p_row[1]), self.attn_wr.data.eq(data_bits), self.attn_wr.en.eq(en)]
        m.d.sync += self.done.eq(p_last[1])
        return m
