"""The spiking MoE layer as a graph of named blocks (SPEC.md "MoE layer").

Blocks (memory/control tier roles in brackets):

* ``activation_glb`` [memory] input spikes, row ``n*T + t``; the output spikes are written back
  into the same rows (lane group ``tile`` of ``tiles_out * P`` bits). Host load and readout.
* ``router_weights`` [memory] ``Wr[j, :]`` at row j (E lanes of w_bits).
* ``router`` [control] scores and top-k (:mod:`.router`), streams ``{n, mask}``.
* ``dispatcher`` [control] reads each routed token's T rows and hands one job per routed expert
  to an idle core of the expert's weight group (:mod:`.dispatch`).
* ``weight_glb_<g>`` [memory] the expert-weight GLB of group g (the paper's GLB A / GLB B),
  shared by ``hw.glb_share`` cores (one read port each). Expert e lives in group ``e % groups`` at
  slot ``e // groups``: W1 rows ``(slot*tiles_h + tile)*D + j`` then W2 rows
  ``W2_BASE + (slot*tiles_out + tile)*Dh + j``; then the biases, bias row ``(slot*tiles_h + tile)``
  (b1) and ``B2_BASE + slot*tiles_out + tile`` (b2) as ``GB`` words from ``B_WORD0 + row*GB``,
  each the low ``BR * b_bits`` bits of a word's top slice (``BR`` = :func:`~spikestack.hw.lib.shapes.bias_packing`,
  ``GB = P / BR * K``, ``K`` = its ``parts`` words a bias when one is
  wider than the slice; loaded into the PEs once per output tile through the core's weight port).
* ``expert_core_<c>`` [logic] a :class:`JobCore`: the expert's hidden layer (fused LIF, local
  hidden buffer) then its output integration ``H @ W2 + b2`` (currents), drained from the PEs
  ``R = hw.drain_lanes`` lanes a cycle (G = P / R words per output row, overlapped with the next
  row's integration).
* ``merge`` [control] sums the routed experts' currents per (token, t, lane group) in the merge
  buffer, R lanes a word.
* ``spike_generator`` [control] the output LIF population, R lanes a cycle, writing back to
  ``activation_glb`` (written in lane groups of R).
* ``sequencer`` [control] start/done handshake and the phase order (route+experts, then fire).

Cycles: the router runs ahead of the cores (a token's route is ready after its T rows' events,
``hw.router_events`` a cycle);
the cores' work is ``sum over jobs of (sum over rows of max(1, popcount))``, shared by the cores
of each group; a row with fewer than G + 1 events waits for the drain of the row before; the
output LIF runs each timestep row of a token as soon as the merge has all its words
(``N*T*tiles_out*G`` cycles, overlapped with the experts but for the last rows').
"""
from __future__ import annotations

import numpy as np
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ...config import LayerConfig, run_precision, signed_bits
from ...sim.elastic import run_tensors, weight_slices
from ...sim.layers import router_scores, top_k_mask
from ...sim.lif import lif_population
from ..blocks.core import CoreParams
from ..blocks.dispatch import Dispatcher
from ..blocks.jobcore import JobCore, JobCoreParams, JobStage
from ..blocks.merge import Merge, SpikeGenerator
from ..blocks.router import Router, RouterParams
from ..lib.control import BusyCounters, RunControl, control_members
from ..lib.glb import GLB, GlbParams
from ..lib.pack import pack_biases, pack_bits, pack_lanes, unpack_bits
from ..lib.shapes import bias_packing, ceil_div
from ..lib.slices import DraftMode, WeightSlices
from .graph import Design, layer_design

__all__ = ["MoePlan", "moe_design"]


class MoePlan:
    """Sizes, buffer layouts and the host protocol of the MoE top (see module docstring)."""

    readout = "activation_glb_host_r"

    def __init__(self, cfg: LayerConfig):
        hw = cfg.hw
        self.cfg = cfg
        E, D, Dh, T, N = cfg.experts, cfg.d, cfg.dh, cfg.t, cfg.n
        P = self.lanes = hw.lanes
        self.drain_lanes, self.drain_groups = hw.drain_lanes, hw.drain_groups     # R, G = P / R
        self.cores = min(hw.cores, E * hw.glb_share)
        self.groups = min(ceil_div(self.cores, hw.glb_share), E)
        self.core_groups = tuple(min(c // hw.glb_share, self.groups - 1) for c in range(self.cores))
        self.slots = ceil_div(E, self.groups)                    # experts per group (max)
        self.tiles_h, self.tiles_out = ceil_div(Dh, P), ceil_div(D, P)
        self.w2_base = self.slots * self.tiles_h * D
        self.b2_base = self.slots * self.tiles_h
        self.slices, self.elastic = hw.weight_slices, cfg.elastic
        self.bias_room, self.bias_lanes, self.bias_parts = bias_packing(cfg)   # BR, K
        self.bias_words = P // self.bias_lanes * self.bias_parts                            # GB
        self.b_word0 = self.w2_base + self.slots * self.tiles_out * Dh       # first bias word
        b_depth = self.b2_base + self.slots * self.tiles_out                 # bias rows
        w_depth = self.b_word0 + b_depth * self.bias_words
        acc_bits = max(cfg.synaptic_bits(D), cfg.synaptic_bits(Dh))
        w_lo, w_hi = -(1 << (cfg.w_bits - 1)), (1 << (cfg.w_bits - 1)) - 1
        b_lo, b_hi = -(1 << (cfg.b_bits - 1)), (1 << (cfg.b_bits - 1)) - 1
        k = cfg.top_k
        self.m_bits = signed_bits(k * (Dh * w_lo + b_lo), k * (Dh * w_hi + b_hi))
        self.score_bits = signed_bits(T * D * w_lo, T * D * w_hi)
        self.job = JobCoreParams(
            CoreParams(rows=hw.rows, cols=hw.cols, d_in=max(D, Dh), pops=(cfg.lif["hidden"],), w_bits=cfg.w_bits,
                       b_bits=cfg.b_bits, acc_bits=acc_bits, v_bits=cfg.v_bits, w_depth=w_depth, b_depth=b_depth,
                       bias_base=self.b_word0, w_slices=self.slices, event_driven=hw.event_driven),
            t=T, n=N, sels=self.slots,
            stages=(JobStage(din=D, tiles=self.tiles_h, w_base=0, b_base=0, fire=True),
                    JobStage(din=Dh, tiles=self.tiles_out, w_base=self.w2_base, b_base=self.b2_base, fire=False)),
            drain_lanes=self.drain_lanes, bias_lanes=self.bias_lanes, bias_parts=self.bias_parts,
            fire_lanes=self.drain_lanes if hw.fire == "drain" else 0)
        self.counters = [f"expert_core_{c}_busy_cycles" for c in range(self.cores)]
        self.members_of = [tuple(c for c in range(self.cores) if self.core_groups[c] == g) for g in range(self.groups)]
        self.activation = GlbParams(depth=T * N, width=self.tiles_out * P, granularity=self.drain_lanes, read_ports=2,
                                    write_ports=1, host_read=True)
        self.router_w = GlbParams(depth=D, width=E * cfg.w_bits, read_ports=hw.router_events)
        self.weights = [GlbParams(depth=w_depth, width=P * cfg.w_bits, read_ports=len(self.members_of[g]))
                        for g in range(self.groups)]
        # bit-sliced weights and the draft mode (issue 24): S banks per group, slice 0 the top bits
        self.weight_banks = [[GlbParams(depth=w_depth, width=P * cfg.w_bits // self.slices,
                                        read_ports=len(self.members_of[g])) for _ in range(self.slices)]
                             for g in range(self.groups)] if self.slices > 1 else []
        self.router = RouterParams(t=T, n=N, d=D, experts=E, top_k=k, w_bits=cfg.w_bits,
                                   score_bits=self.score_bits, act_addr_bits=self.activation.addr_width,
                                   act_width=self.activation.width,
                                   event_driven=hw.event_driven, lanes=hw.router_events,
                                   k_draft=cfg.elastic.k_draft if cfg.elastic else 0)

    # -- host side ---------------------------------------------------------------------------
    def images(self, spikes: np.ndarray, tensors: dict) -> dict[str, list[int]]:
        cfg, P = self.cfg, self.lanes
        E, D, Dh = cfg.experts, cfg.d, cfg.dh
        th, to = self.tiles_h, self.tiles_out
        img = {
            "activation_glb_host_w": pack_bits(spikes.transpose(1, 0, 2).reshape(-1, D)),
            "router_weights_host_w": pack_lanes(tensors["wr"], cfg.w_bits),
        }
        for g in range(self.groups):
            w = np.zeros((self.weights[g].depth, P), dtype=np.int64)
            w = w[:self.b_word0]
            b = np.zeros((self.job.core.b_depth, P), dtype=np.int64)
            for e in range(g, E, self.groups):
                s = e // self.groups
                w1 = np.zeros((D, th * P), dtype=np.int64)
                w1[:, :Dh] = tensors["w1"][e]
                w[s * th * D:(s + 1) * th * D] = w1.reshape(D, th, P).transpose(1, 0, 2).reshape(th * D, P)
                w2 = np.zeros((Dh, to * P), dtype=np.int64)
                w2[:, :D] = tensors["w2"][e]
                base = self.w2_base + s * to * Dh
                w[base:base + to * Dh] = w2.reshape(Dh, to, P).transpose(1, 0, 2).reshape(to * Dh, P)
                b1 = np.zeros(th * P, dtype=np.int64)
                b1[:Dh] = tensors["b1"][e]
                b[s * th:(s + 1) * th] = b1.reshape(th, P)
                b2 = np.zeros(to * P, dtype=np.int64)
                b2[:D] = tensors["b2"][e]
                b[self.b2_base + s * to:self.b2_base + (s + 1) * to] = b2.reshape(to, P)
            bias = pack_biases(b, cfg.b_bits, self.bias_lanes, self.bias_parts, self.bias_room)   # top slice
            if self.slices > 1:
                for i, sl in enumerate(weight_slices(w, cfg.w_bits, self.slices)):
                    img[f"weight_glb_{g}_s{i}_host_w"] = (pack_lanes(sl, cfg.w_bits // self.slices)
                                                          + (bias if i == 0 else [0] * len(bias)))
            else:
                img[f"weight_glb_{g}_host_w"] = pack_lanes(w, cfg.w_bits) + bias
        return img

    def readout_depth(self) -> int:
        return self.cfg.t * self.cfg.n

    def decode(self, words: list[int]) -> np.ndarray:
        cfg = self.cfg
        bits = unpack_bits(words, self.tiles_out * self.lanes)[:, :cfg.d]
        return bits.reshape(cfg.n, cfg.t, cfg.d).transpose(1, 0, 2).copy()

    def dense_cycles(self) -> int:
        """A bound on the cycles of any input (every row dense, all work on one core)."""
        cfg = self.cfg
        jobs = cfg.n * cfg.top_k
        per_job = cfg.t * (self.tiles_h * cfg.d + self.tiles_out * cfg.dh) + 16
        per_job += (self.tiles_h + self.tiles_out) * self.bias_words            # bias loads, one word a cycle
        return (cfg.t * cfg.n * cfg.d + jobs * (per_job + cfg.t * self.tiles_out * self.drain_groups)
                + cfg.t * cfg.n * self.tiles_out * self.drain_groups + 256)

    def run_inputs(self, precision: str | None = None) -> dict[str, int]:
        """Top inputs a run holds from before start to done: ``draft`` (with ``[elastic]``)."""
        mode = run_precision(self.cfg, precision)
        return {"draft": int(mode == "draft")} if self.elastic is not None else {}

    def weight_bits_per_read(self, precision: str | None = None) -> int:
        """Weight-GLB bits one core read returns in a run: P * w_bits, or the draft's slices."""
        cfg, used = self.cfg, self.slices
        if run_precision(cfg, precision) == "draft":
            used = self.elastic.draft_slices
        return self.lanes * cfg.w_bits // self.slices * used

    def work(self, spikes, tensors, precision: str | None = None) -> dict:
        """The routed work of one input (from the golden model): synaptic adds per expert;
        ``precision``: of a run with ``[elastic]`` (its k and weights)."""
        cfg = self.cfg
        k, tensors = run_tensors(cfg, tensors, precision)
        s = np.asarray(spikes, dtype=np.int64)
        mask = top_k_mask(router_scores(s, tensors["wr"]), k)                  # (N, E)
        pop_in = s.sum(axis=2)                                                  # (T, N)
        adds = np.zeros(cfg.experts, dtype=np.int64)
        events = np.zeros(cfg.experts, dtype=np.int64)                          # core cycles, P lanes each
        for e in range(cfg.experts):
            toks = np.flatnonzero(mask[:, e])
            if not len(toks):
                continue
            cur = np.einsum("tnd,dh->tnh", s[:, toks], tensors["w1"][e].astype(np.int64)) + tensors["b1"][e]
            h = lif_population(cur, cfg.lif["hidden"], cfg.v_bits).astype(np.int64)
            pop_h = h.sum(axis=2)
            adds[e] = pop_in[:, toks].sum() * cfg.dh + pop_h.sum() * cfg.d
            events[e] = (np.maximum(pop_in[:, toks], 1).sum() * self.tiles_h
                         + np.maximum(pop_h, 1).sum() * self.tiles_out)
        return {"mask": mask, "adds": adds, "core_cycles": events,
                "router_adds": int(pop_in.sum()) * cfg.experts}

    def sops(self, spikes, tensors) -> int:
        """Synaptic adds of the routed work (both expert layers of every routed token)."""
        return int(self.work(spikes, tensors)["adds"].sum())

    def ideal_cycles(self, spikes=None, tensors=None) -> float:
        """Synaptic adds of the routed work / (cores * rows * cols). Without an input: every
        routed row dense."""
        cfg = self.cfg
        if spikes is None:
            adds = cfg.n * cfg.top_k * cfg.t * (cfg.d * cfg.dh + cfg.dh * cfg.d)
        else:
            adds = self.sops(spikes, tensors)
        return adds / (self.cores * self.lanes)


class MoeSequencer(wiring.Component):
    """Start/done handshake and phase order: start -> router + merge clear + spike generator (which
    fires each token once the merge has all its words); spike generator done -> done."""

    def __init__(self):
        super().__init__({
            **control_members(),
            "router_start": Out(1), "merge_start": Out(1),
            "fire_start": Out(1), "fire_done": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        ctl = RunControl(m, self)
        m.d.comb += [self.router_start.eq(ctl.go), self.merge_start.eq(ctl.go),
                     self.fire_start.eq(ctl.go), ctl.finish.eq(self.fire_done)]
        return m


def moe_design(cfg: LayerConfig) -> Design:
    """The graph of the MoE layer (see module docstring)."""
    d, plan = layer_design(cfg, "moe", MoePlan)
    d.add("activation_glb", lambda: GLB(plan.activation), role="memory")
    d.add("router_weights", lambda: GLB(plan.router_w), role="memory")
    d.add("sequencer", MoeSequencer, role="control")
    d.add("router", lambda: Router(plan.router), role="control")
    d.add("dispatcher", lambda: Dispatcher(
        t=cfg.t, n=cfg.n, d=cfg.d, experts=cfg.experts, core_groups=plan.core_groups, groups=plan.groups,
        job_layout=plan.job.job_layout, act_addr_bits=plan.activation.addr_width,
        act_width=plan.activation.width, window=cfg.hw.dispatch_window), role="control")
    S = plan.slices
    for g in range(plan.groups):
        if S > 1:
            for i in range(S):
                d.add(f"weight_glb_{g}_s{i}", lambda g=g, i=i: GLB(plan.weight_banks[g][i]), role="memory")
        else:
            d.add(f"weight_glb_{g}", lambda g=g: GLB(plan.weights[g]), role="memory")
    for c in range(plan.cores):
        d.add(f"expert_core_{c}", lambda: JobCore(plan.job), role="logic", group="expert_core")
    d.add("busy_counters", lambda: BusyCounters(plan.cores), role="control")
    G = plan.drain_groups
    d.add("merge", lambda: Merge(t=cfg.t, n=cfg.n, tiles=plan.tiles_out, lanes=plan.drain_lanes, cores=plan.cores,
                                 m_bits=plan.m_bits, expected=cfg.n * cfg.top_k * cfg.t * plan.tiles_out * G,
                                 result_layout=plan.job.result_layout, groups=G,
                                 per_row=cfg.top_k * plan.tiles_out * G,
                                 expected_draft=(cfg.n * cfg.elastic.k_draft * cfg.t * plan.tiles_out * G
                                                 if cfg.elastic else None)), role="control")
    d.add("spike_generator", lambda: SpikeGenerator(
        t=cfg.t, n=cfg.n, tiles=plan.tiles_out, lanes=plan.drain_lanes, m_bits=plan.m_bits, v_bits=cfg.v_bits,
        pop=cfg.lif["out"], out_addr_bits=plan.activation.addr_width, groups=G, gated=True), role="control")
    d.wire_all([("sequencer.router_start", "router.start"), ("sequencer.merge_start", "merge.start"),
                ("merge.rows_done", "spike_generator.rows_ready"),
                ("sequencer.fire_start", "spike_generator.start"), ("spike_generator.done", "sequencer.fire_done"),
                ("router.act_rd", "activation_glb.rd0"), ("router.wr_rd", "router_weights.rd0"),
                ("router.routes", "dispatcher.routes"), ("dispatcher.act_rd", "activation_glb.rd1")])
    d.wire_all([(f"router.wr_rd{w}", f"router_weights.rd{w}") for w in range(1, cfg.hw.router_events)])
    _elastic_blocks(d, plan)
    for g, members in enumerate(plan.members_of):
        for i, c in enumerate(members):
            if S > 1:
                for s in range(S):
                    d.wire(f"weight_slices_{c}.s{s}", f"weight_glb_{g}_s{s}.rd{i}")
            else:
                d.wire(f"expert_core_{c}.w_rd", f"weight_glb_{g}.rd{i}")
    for c in range(plan.cores):
        d.wire(f"dispatcher.jobs_{c}", f"expert_core_{c}.job")
        d.wire(f"expert_core_{c}.results", f"merge.results_{c}")
        d.wire(f"expert_core_{c}.busy", f"busy_counters.busy_{c}")
        d.export(f"expert_core_{c}_busy_cycles", f"busy_counters.count_{c}")
    d.wire("sequencer.router_start", "busy_counters.clear")
    d.wire("spike_generator.acc_rd", "merge.acc_r")
    d.wire("spike_generator.out_wr", "activation_glb.wr0")
    d.export_ports("sequencer", ("start", "busy", "done", "cycles"))
    banks = [f"_s{i}" for i in range(S)] if S > 1 else [""]
    d.export_host(["activation_glb", "router_weights"] + [x for g in range(plan.groups)
                                                          for x in [f"weight_glb_{g}{b}" for b in banks]],
                  read=("activation_glb",))
    return d


def _elastic_blocks(d: Design, plan: MoePlan):
    """Issue 24: the slice join beside each core (``weight_slices > 1``) and the draft mode
    (``[elastic]``): ``draft`` input, latched at start, to the router (top-k_draft), the merge (its
    count of results) and the slice joins (banks not read)."""
    cfg, S, e = plan.cfg, plan.slices, plan.elastic
    dropped = e is not None and S > 1 and e.draft_slices < S
    if S > 1:
        for c in range(plan.cores):
            d.add(f"weight_slices_{c}", lambda: WeightSlices(
                lanes=plan.lanes, w_bits=cfg.w_bits, slices=S, addr_bits=plan.weights[0].addr_width,
                draft_slices=e.draft_slices if e else None, rounding=e.rounding if e else "truncate"),
                role="logic", group="weight_slices")
            d.wire(f"expert_core_{c}.w_rd", f"weight_slices_{c}.w_rd")
    if e is None:
        return
    d.add("draft_mode", DraftMode, role="control")
    d.export("draft", "draft_mode.draft")
    d.wire_all([("sequencer.router_start", "draft_mode.go"), ("draft_mode.mode", "router.draft"),
                ("draft_mode.mode", "merge.draft")])
    if dropped:
        for c in range(plan.cores):
            d.wire("draft_mode.mode", f"weight_slices_{c}.draft")
