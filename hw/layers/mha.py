"""The spiking multi-head attention layer as a graph of named blocks (SPEC.md "MHA layer").

Phases, ordered by the ``sequencer``:

1. **Q/K/V projections.** The ``dispatcher`` reads each token's T input rows from
   ``activation_glb`` and hands three jobs (q, k, v) to idle ``proj_core_<c>`` blocks — job cores
   (:mod:`.jobcore`) whose PE arrays run the projection with its fused LIF population; all
   projection weights and biases are in ``weight_glb`` (one read port per core). The
   ``collector`` writes the spikes: Q to ``q_glb`` row ``n*T + t``; K and V to ``k_glb`` /
   ``v_glb`` row t, lane group ``n*tiles + tile`` (all tokens of a timestep side by side).
2. **Attention.** The ``attention_dispatcher`` splits features into heads and feeds
   ``attention_core_<c>`` (one head per core per round; heads time-multiplexed when there are
   more heads than cores): AND/popcount ``Q K^T``, ``· V`` as adds, ``>> attn_shift``, the
   attention LIF. Spikes go to ``attn_glb`` (row ``n*T + t``, lane group = head): heads merged.
3. **Output projection.** The dispatcher hands one job (o) per token with the rows of
   ``attn_glb``; the collector writes ``LIF_o`` spikes back into ``activation_glb``.

Cycles: phase 1 ``≈ 3 * sum(max(1, popcount(S[t, n]))) * tiles / cores``, phase 2
``rounds * N * T``, phase 3 ``≈ sum(max(1, popcount(S_attn))) * tiles / cores``, plus pipeline
fill and T + 1 cycles per token to load it.
"""
from __future__ import annotations

import numpy as np
from amaranth import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ...config import LayerConfig
from ...sim.layers import mha_intermediates
from ..blocks.attention import AttentionDispatcher, HeadSelect, attention_ctl_members
from ..blocks.core import CoreParams
from ..blocks.jobcore import JobCore, JobCoreParams, JobStage
from ..blocks.ssa import attention_latency, head_bits
from ..lib.arbiter import round_robin
from ..lib.beats import BeatSender
from ..lib.control import BusyCounters, RunControl, control_members
from ..lib.glb import GLB, GlbParams
from ..lib.pack import pack_biases, pack_bits, pack_lanes, unpack_bits
from ..lib.shapes import bias_packing, ceil_div
from .attn_cores import add_attention_core
from .graph import Design, layer_design
from .mha_pipe import PipeCollector, PipeDispatcher, PipeSequencer, hand_out, load_token, pipe_wiring, write_results

__all__ = ["MhaPlan", "mha_design", "PROJECTIONS"]

PROJECTIONS = ("q", "k", "v", "o")


class MhaPlan:
    """Sizes, buffer layouts and the host protocol of the MHA top (see module docstring)."""

    readout = "activation_glb_host_r"

    def __init__(self, cfg: LayerConfig):
        hw = cfg.hw
        self.cfg = cfg
        T, N, D, H = cfg.t, cfg.n, cfg.d, cfg.heads
        P = self.lanes = hw.lanes
        self.cores = hw.cores
        self.counters = ["cycles_qkv", "cycles_attn"] + [f"proj_core_{c}_busy_cycles" for c in range(hw.cores)]
        self.attn_cores = min(hw.cores, H)
        self.rounds = ceil_div(H, self.attn_cores)
        self.tiles = ceil_div(D, P)
        self.width = self.tiles * P
        # biases after the weights in the weight GLB: bias row s*tiles + tile as GB words of BR lanes
        # from B_WORD0 + row*GB, loaded into the PEs once per tile through the core's weight port
        self.bias_room, self.bias_lanes, self.bias_parts = bias_packing(cfg)   # BR, K
        self.bias_words = P // self.bias_lanes * self.bias_parts                 # GB
        self.b_word0 = 4 * self.tiles * D
        w_depth = self.b_word0 + 4 * self.tiles * self.bias_words
        self.job = JobCoreParams(
            CoreParams(rows=hw.rows, cols=hw.cols, d_in=D, pops=tuple(cfg.lif[p] for p in PROJECTIONS),
                       w_bits=cfg.w_bits, b_bits=cfg.b_bits, acc_bits=cfg.synaptic_bits(D), v_bits=cfg.v_bits,
                       w_depth=w_depth, b_depth=4 * self.tiles, bias_base=self.b_word0,
                       event_driven=hw.event_driven),
            t=T, n=N, sels=4,
            stages=(JobStage(din=D, tiles=self.tiles, w_base=0, b_base=0, fire=True),),
            bias_lanes=self.bias_lanes, bias_parts=self.bias_parts, fire_lanes=hw.drain_lanes if hw.fire == "drain" else 0)
        self.activation = GlbParams(depth=T * N, width=self.width, granularity=P, read_ports=1,
                                    write_ports=1, host_read=True)
        self.weights = GlbParams(depth=w_depth, width=P * cfg.w_bits, read_ports=self.cores)
        # buffers the host never loads: no host write port (no tied-off SRAM pins)
        self.q = GlbParams(depth=T * N, width=self.width, granularity=P, read_ports=1, write_ports=1,
                           host_write=False)
        self.kv = GlbParams(depth=T, width=N * self.width, granularity=P, read_ports=1, write_ports=1,
                            host_write=False)
        self.attn = GlbParams(depth=T * N, width=D, granularity=cfg.head_dim, read_ports=1, write_ports=1,
                              host_write=False)

    # -- host side ---------------------------------------------------------------------------
    def images(self, spikes: np.ndarray, tensors: dict) -> dict[str, list[int]]:
        cfg, P, tiles, D = self.cfg, self.lanes, self.tiles, self.cfg.d
        w = np.zeros((4 * tiles * D, P), dtype=np.int64)
        b = np.zeros((4 * tiles, P), dtype=np.int64)
        for s, name in enumerate(PROJECTIONS):
            wp = np.zeros((D, tiles * P), dtype=np.int64)
            wp[:, :D] = tensors[f"w{name}"]
            w[s * tiles * D:(s + 1) * tiles * D] = wp.reshape(D, tiles, P).transpose(1, 0, 2).reshape(tiles * D, P)
            bp = np.zeros(tiles * P, dtype=np.int64)
            bp[:D] = tensors[f"b{name}"]
            b[s * tiles:(s + 1) * tiles] = bp.reshape(tiles, P)
        return {
            "activation_glb_host_w": pack_bits(spikes.transpose(1, 0, 2).reshape(-1, D)),
            "weight_glb_host_w": pack_lanes(w, cfg.w_bits) + pack_biases(b, cfg.b_bits, self.bias_lanes, self.bias_parts,
                                                                         self.bias_room),
        }

    def readout_depth(self) -> int:
        return self.cfg.t * self.cfg.n

    def decode(self, words: list[int]) -> np.ndarray:
        cfg = self.cfg
        bits = unpack_bits(words, self.width)[:, :cfg.d]
        return bits.reshape(cfg.n, cfg.t, cfg.d).transpose(1, 0, 2).copy()

    def glb_probes(self, where=lambda block: block) -> tuple[str, ...]:
        """GLB row accesses as probes of :func:`spikestack.tb.harness.simulate_full` (``label=term&..``
        over internal signals; ``where(block)``: the block's instance path in the top). A write is a
        cycle with a write enable; a read is a row a block takes: the dispatcher's token loads (rows 1..T
        of ``loading``), a row of the attention cores (``running``: one Q, K and V row, or K and V with
        ``attn_pipeline``). The GLBs' read enables are tied high, so these count rows used, not SRAM reads."""
        disp = where("dispatcher")
        load = f"{disp}.loading&{disp}.t"
        glbs = ("activation", "k", "v") if self.cfg.hw.attn_pipeline else ("activation", "q", "k", "v", "attn")
        out = [f"{g}_glb_wr={where(f'{g}_glb')}.wr0__en" for g in glbs]
        if self.cfg.hw.attn_pipeline:
            run = f"{where('attention_stage')}.running"
            out += [f"activation_glb_rd={load}", f"k_glb_rd={run}", f"v_glb_rd={run}"]
        else:
            run = f"{where('attention_dispatcher')}.running"
            out += [f"activation_glb_rd={load}&!{disp}.phase_o", f"attn_glb_rd={load}&{disp}.phase_o"]
            out += [f"{g}_glb_rd={run}" for g in "qkv"]
        return tuple(out)

    def dense_cycles(self) -> int:
        cfg = self.cfg
        rows = cfg.t * cfg.n
        loads = 4 * cfg.n * self.tiles * self.bias_words         # bias words, one a cycle per tile
        return 4 * rows * cfg.d * self.tiles + self.rounds * rows + 4 * cfg.n * (cfg.t + 2) + loads + 256

    def stage_work(self, spikes, tensors) -> dict:
        """Operations per stage for one input (golden model): synaptic adds of the projections,
        ANDs of Q K^T, adds of A V (A's entries where V spikes)."""
        cfg = self.cfg
        s = np.asarray(spikes, dtype=np.int64)
        mid = mha_intermediates(cfg, s, *(tensors[k] for k in ("wq", "wk", "wv", "wo", "bq", "bk", "bv", "bo")))
        T, N, D, H, d = cfg.t, cfg.n, cfg.d, cfg.heads, cfg.head_dim
        rows_in, rows_attn = s.sum(axis=2), mid["attn_spikes"].astype(np.int64).sum(axis=2)
        v_spikes = int(mid["v"].sum())
        return {
            "qkv_adds": 3 * int(rows_in.sum()) * D,
            "qk_ands": H * T * N * N * d,
            "av_adds": N * v_spikes,
            "o_adds": int(rows_attn.sum()) * D,
            "qkv_events": 3 * int(np.maximum(rows_in, 1).sum()) * self.tiles,
            "o_events": int(np.maximum(rows_attn, 1).sum()) * self.tiles,
            "attention_cycles": self.rounds * T * N,
        }

    def sops(self, spikes, tensors) -> int:
        """Operations of every stage: the projections' synaptic adds, the ANDs of Q K^T, the adds of A V."""
        w = self.stage_work(spikes, tensors)
        return int(w["qkv_adds"] + w["qk_ands"] + w["av_adds"] + w["o_adds"])

    def ideal_cycles(self, spikes=None, tensors=None) -> float:
        """Operations of every stage / (cores * rows * cols); without an input, dense rows."""
        cfg = self.cfg
        pes = self.cores * self.lanes
        if spikes is None:
            rows = cfg.t * cfg.n
            ops = 4 * rows * cfg.d * cfg.d + cfg.heads * cfg.t * cfg.n * cfg.n * cfg.head_dim * 2
        else:
            ops = self.sops(spikes, tensors)
        return ops / pes


class MhaDispatcher(wiring.Component):
    """Projection jobs: ``start_qkv`` -> for each token, jobs q, k, v from the activation GLB;
    ``start_o`` -> for each token, job o from the attention GLB. Each token's T rows are read into
    the token register (T + 1 cycles), then its jobs go to the lowest idle core."""

    def __init__(self, plan: MhaPlan):
        self.plan = plan
        p = plan
        members = {
            "start_qkv": In(1), "start_o": In(1),
            "act_rd": In(p.activation.read_signature()),
            "attn_rd": In(p.attn.read_signature()),
        }
        for c in range(p.cores):
            members[f"jobs_{c}"] = Out(stream.Signature(p.job.job_layout))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        p, cfg = self.plan, self.plan.cfg
        T, N = cfg.t, cfg.n
        cores = [getattr(self, f"jobs_{c}") for c in range(p.cores)]
        job = Signal(p.job.job_store_layout)              # the token register: n and its T rows
        beats = BeatSender(T, len(cores), range(4))
        sending = beats.sending
        phase_o = Signal()
        running = Signal()
        loading = Signal()
        n = Signal(range(max(2, N)))
        t = Signal(range(T + 1))
        prev_t = Signal(range(T + 1))
        pending = Signal(3)          # projection slots still to hand out: q,k,v (phase 1) or o
        row = Signal.like(self.act_rd.addr)
        m.d.comb += [row.eq(n * T + t), self.act_rd.addr.eq(row), self.attn_rd.addr.eq(row),
                     self.act_rd.en.eq(1), self.attn_rd.en.eq(1)]
        with m.If(self.start_qkv | self.start_o):
            m.d.sync += [running.eq(1), loading.eq(1), phase_o.eq(self.start_o), n.eq(0), t.eq(0)]
        load_token(m, loading, t, prev_t, n, job, Mux(phase_o, self.attn_rd.data, self.act_rd.data[:cfg.d]), T,
                   pending, Mux(phase_o, 0b001, 0b111))
        # hand out the token's jobs, lowest projection first, to the lowest idle core
        sel = Signal(range(4))
        chosen = hand_out(m, beats, cores, pending, sel, job)
        with m.If(phase_o):
            m.d.comb += sel.eq(3)
        with m.Elif(chosen[1]):
            m.d.comb += sel.eq(1)
        with m.Elif(chosen[2]):
            m.d.comb += sel.eq(2)
        # the token's jobs all sent: the next token
        with m.If(running & ~loading & ~pending.any() & ~sending & ~(self.start_qkv | self.start_o)):
            with m.If(n == N - 1):
                m.d.sync += running.eq(0)
            with m.Else():
                m.d.sync += [n.eq(n + 1), t.eq(0), loading.eq(1)]
        return m


class Collector(wiring.Component):
    """Round-robin over the projection cores' results (one per cycle): Q/K/V spikes to their
    buffers, o spikes back to the activation GLB. ``clear`` resets the count; ``complete`` pulses
    on the ``expected_qkv``-th (phase 1) or ``expected_o``-th (phase 3) result."""

    def __init__(self, plan: MhaPlan):
        self.plan = plan
        p = plan
        members = {
            "clear": In(1), "complete": Out(1),
            "q_wr": In(p.q.write_signature()), "k_wr": In(p.kv.write_signature()),
            "v_wr": In(p.kv.write_signature()), "out_wr": In(p.activation.write_signature()),
        }
        for c in range(p.cores):
            members[f"results_{c}"] = In(stream.Signature(p.job.result_layout))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        p, cfg = self.plan, self.plan.cfg
        T, N, C, tiles = cfg.t, cfg.n, p.cores, p.tiles
        srcs = [getattr(self, f"results_{c}") for c in range(C)]
        grant, any_valid = round_robin(m, [s.valid for s in srcs])
        res = Signal(p.job.result_layout)
        for c in range(C):
            with m.If(any_valid & (grant == c)):
                m.d.comb += [srcs[c].ready.eq(1), res.eq(srcs[c].payload)]
        write_results(m, res, any_valid, T, N, tiles, {0: self.q_wr, 1: self.k_wr, 2: self.v_wr, 3: self.out_wr})
        exp_qkv, exp_o = 3 * N * T * tiles, N * T * tiles
        count = Signal(range(exp_qkv + 1))
        with m.If(self.clear):
            m.d.sync += count.eq(0)
        with m.Elif(any_valid):
            m.d.sync += count.eq(count + 1)
        m.d.comb += self.complete.eq(any_valid & (count == Mux(res.sel == 3, exp_o - 1, exp_qkv - 1)))
        return m


class MhaSequencer(wiring.Component):
    """start -> projections (q, k, v) -> attention -> output projection -> done."""

    def __init__(self):
        super().__init__({
            **control_members(),
            "qkv_start": Out(1), "o_start": Out(1), "collect_clear": Out(1), "collect_complete": In(1),
            "attn_start": Out(1), "attn_done": In(1),
            "cycles_qkv": Out(32), "cycles_attn": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        ctl = RunControl(m, self)
        phase_o = Signal()
        with m.If(ctl.go):
            m.d.sync += phase_o.eq(0)
        with m.Elif(self.attn_done):
            m.d.sync += phase_o.eq(1)
        m.d.comb += [
            self.qkv_start.eq(ctl.go),
            self.collect_clear.eq(ctl.go | self.attn_done),
            self.attn_start.eq(self.busy & ~phase_o & self.collect_complete),
            self.o_start.eq(self.attn_done),
            ctl.finish.eq(self.busy & phase_o & self.collect_complete),
        ]
        # phase boundaries: cycles at the end of the projections and of the attention
        with m.If(self.attn_start):
            m.d.sync += self.cycles_qkv.eq(self.cycles + 1)
        with m.If(self.attn_done):
            m.d.sync += self.cycles_attn.eq(self.cycles + 1 - self.cycles_qkv)
        return m


def _attention_wiring(d: Design, plan: MhaPlan):
    """Phase 2's wires: the dispatcher's addresses, enables and core controls; the data as bit
    ranges — core c's head slices of the Q, K and V rows (through its ``head_select_<c>`` when the
    slice changes by round), and its spikes into its heads' lanes of ``attn_glb``'s write data."""
    cfg, C, R, W = plan.cfg, plan.attn_cores, plan.rounds, plan.width
    N, hd = cfg.n, cfg.head_dim
    for x in "qkv":
        d.wire_all([(f"attention_dispatcher.{x}_rd.{leaf}", f"{x}_glb.rd0.{leaf}") for leaf in ("addr", "en")])
    d.wire_all([(f"attention_dispatcher.attn_wr.{leaf}", f"attn_glb.wr0.{leaf}") for leaf in ("addr", "en")])
    for c in range(C):
        inp, out = add_attention_core(d, cfg, c)
        d.wire_all([(f"attention_dispatcher.core_{c}.{leaf}", inp(leaf)) for leaf in attention_ctl_members(head_bits(cfg))])
        d.wire(f"{out}.valid", f"attention_dispatcher.out_valid_{c}")
        if R > 1:
            d.add(f"head_select_{c}", lambda: HeadSelect(n=N, d=hd, rounds=R), role="logic", group="head_select")
            d.wire("attention_dispatcher.round", f"head_select_{c}.round")
            d.wire_all([(f"head_select_{c}.out.{x}", inp(x)) for x in "qkv"])
        for r in range(R):
            h = r * C + c
            if h >= cfg.heads:
                continue
            dst = (lambda x, r=r: f"head_select_{c}.cand_{r}.{x}") if R > 1 else inp
            d.wire(f"q_glb.rd0.data[{h * hd}:{(h + 1) * hd}]", dst("q"))
            for x in "kv":
                d.wire_all([(f"{x}_glb.rd0.data[{mm * W + h * hd}:{mm * W + (h + 1) * hd}]",
                             f"{dst(x)}[{mm * hd}:{(mm + 1) * hd}]") for mm in range(N)])
            d.wire(f"{out}.spikes", f"attn_glb.wr0.data[{h * hd}:{(h + 1) * hd}]")


def mha_design(cfg: LayerConfig) -> Design:
    """The graph of the MHA layer (see module docstring; ``hw.attn_pipeline``: :mod:`.mha_pipe`)."""
    d, plan = layer_design(cfg, "mha", MhaPlan)
    pipe = cfg.hw.attn_pipeline
    glbs = (("activation_glb", plan.activation), ("weight_glb", plan.weights), ("k_glb", plan.kv), ("v_glb", plan.kv))
    if not pipe:
        glbs = glbs[:2] + (("q_glb", plan.q),) + glbs[2:] + (("attn_glb", plan.attn),)
    for name, params in glbs:
        d.add(name, lambda params=params: GLB(params), role="memory")
    if pipe:
        d.add("sequencer", PipeSequencer, role="control")
        d.add("dispatcher", lambda: PipeDispatcher(plan), role="control")
        d.add("collector", lambda: PipeCollector(plan), role="control")
    else:
        d.add("sequencer", MhaSequencer, role="control")
        d.add("dispatcher", lambda: MhaDispatcher(plan), role="control")
        d.add("collector", lambda: Collector(plan), role="control")
    for c in range(plan.cores):
        d.add(f"proj_core_{c}", lambda: JobCore(plan.job), role="logic", group="proj_core")
    d.add("busy_counters", lambda: BusyCounters(plan.cores), role="control")
    if pipe:
        pipe_wiring(d, plan, head_bits(cfg))
    else:
        d.add("attention_dispatcher", lambda: AttentionDispatcher(
            t=cfg.t, n=cfg.n, heads=cfg.heads, cores=plan.attn_cores,
            q_addr_bits=plan.q.addr_width, kv_addr_bits=plan.kv.addr_width, attn_addr_bits=plan.attn.addr_width,
            head_bits=head_bits(cfg), latency=attention_latency(cfg)), role="control")
        _attention_wiring(d, plan)
    starts = ([("sequencer.qkv_start", "dispatcher.start")] if pipe else
              [("sequencer.qkv_start", "dispatcher.start_qkv"), ("sequencer.o_start", "dispatcher.start_o")])
    collect = [("sequencer.collect_clear", "collector.clear"), ("collector.complete", "sequencer.collect_complete")]
    attn = [] if pipe else [("sequencer.attn_start", "attention_dispatcher.start"),
                            ("attention_dispatcher.done", "sequencer.attn_done")]
    d.wire_all(starts + collect + attn + [("dispatcher.act_rd", "activation_glb.rd0")]
               + ([] if pipe else [("dispatcher.attn_rd", "attn_glb.rd0")]))
    for c in range(plan.cores):
        d.wire(f"dispatcher.jobs_{c}", f"proj_core_{c}.job")
        d.wire(f"proj_core_{c}.w_rd", f"weight_glb.rd{c}")
        d.wire(f"proj_core_{c}.results", f"collector.results_{c}")
        d.wire(f"proj_core_{c}.busy", f"busy_counters.busy_{c}")
        d.export(f"proj_core_{c}_busy_cycles", f"busy_counters.count_{c}")
    d.wire("sequencer.qkv_start", "busy_counters.clear")
    d.wire_all([(f"collector.{x}_wr", f"{x}_glb.wr0") for x in ("kv" if pipe else "qkv")]
               + [("collector.out_wr", "activation_glb.wr0")])
    d.export_ports("sequencer", ("start", "busy", "done", "cycles", "cycles_qkv", "cycles_attn"))
    d.export_host(("activation_glb", "weight_glb"), read=("activation_glb",))
    return d
