"""A job-driven spiking core: the expert core of the MoE layer and the projection core of MHA.

A *job* is one token's work on one weight set: ``{n, sel, pop, spikes[T][din0]}`` (token n, weight
set ``sel`` — an expert of this core's weight GLB, or a projection — LIF population ``pop`` and the
token's input spikes of all T timesteps, held in the core's local activation buffer). It arrives
as T beats on ``job`` (``{n, sel, pop, spikes[din0]}``, timestep 0 first); a row of timestep t
may start once beat t is in. The core
runs one or two *stages* on its :class:`SpikingCore`:

* stage 0: for each output tile, for t in 0..T-1: the row ``spikes[t]`` against weight rows
  ``w_base0 + (sel*tiles0 + tile)*din0 + j`` and bias row ``b_base0 + sel*tiles0 + tile``. With two
  stages it fires (LIF population ``pop``) into the local hidden buffer (``T`` words of
  ``tiles0*P`` spikes), otherwise its results (spikes or currents) leave the core.
* stage 1 (two-stage jobs, the expert's output integration ``H @ W2 + b2``): for each output
  tile, for t: the row ``hidden[t][:din1]`` (issued once hidden word t is complete, i.e. stage 0's
  last tile has written timestep t) against ``w_base1 + (sel*tiles1 + tile)*din1 + j``, current
  only (no LIF).

Results leave through ``results`` (stream ``{n, t, tile, sel, spikes, currents}``), buffered in a
``out_depth``-deep FIFO (currents: a :class:`~spikestack.hw.lib.fifo.LaneFIFO`, one storage slice per
lane); the core issues a result-producing row only when the FIFO has room for
every row in flight, so ``results`` may be stalled without losing anything. A new job's beats are
accepted (``job.ready``) once every row of the current one has entered the core, so jobs run back
to back.

Cost per job: ``sum over rows of max(1, popcount(row))`` cycles, plus the cycles a row's last op
waits for the drain of the row before (``lanes / out_lanes`` cycles a row when draining), in a
two-stage job for its hidden word, and with ``bias_lanes`` the ``lanes / bias_lanes`` weight-port
cycles of each output tile's bias words.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ..lib.fifo import FifoLane, LaneFIFO
from ..lib.lif import LifLane
from ..lib.shapes import index_range
from .core import CoreParams, SpikingCore

__all__ = ["JobStage", "JobCoreParams", "JobCore"]


@dataclass(frozen=True)
class JobStage:
    din: int            # input spikes per row
    tiles: int          # output tiles of P lanes
    w_base: int         # weight row of (sel 0, tile 0, j 0)
    b_base: int         # bias row of (sel 0, tile 0)
    fire: bool          # LIF spikes (True) or exact currents (False)


@dataclass(frozen=True)
class JobCoreParams:
    """A job core: the :class:`~spikestack.hw.blocks.core.SpikingCore` of ``core`` running jobs of ``t``
    timesteps of one of ``n`` tokens through one or two ``stages`` (``sels`` weight sets).
    ``core.d_in`` is the widest stage's input; ``core.tag_bits`` is set here, to the job tag
    (:attr:`tag_layout`)."""
    core: CoreParams
    t: int
    n: int
    sels: int
    stages: tuple[JobStage, ...]
    out_depth: int = 2
    drain_lanes: int = 0    # >0, currents only: drained this many lanes a cycle (no result FIFO)
    bias_lanes: int = 0     # >0: biases loaded into the PEs once per output tile through the weight
                            # port, this many lanes a word (``core.bias_base``: word of bias row 0)
    bias_parts: int = 1     # weight words a bias word takes (CoreParams.bias_parts)
    fire_lanes: int = 0     # >0: every row leaves the PEs this many lanes a cycle and firing rows
                            # meet that many shared LIF neurons there (the PEs have none)

    def __post_init__(self):
        if len(self.stages) not in (1, 2):
            raise ValueError("stages: one or two")
        if len(self.stages) == 2 and self.stages[1].din > self.stages[0].tiles * self.lanes:
            raise ValueError("stages[1].din: wider than the hidden buffer")
        din = max(s.din for s in self.stages)
        if self.core.d_in != din:
            raise ValueError(f"core.d_in: {self.core.d_in}, but the widest stage takes {din}")
        if self.drain_lanes and self.lanes % self.drain_lanes:
            raise ValueError(f"drain_lanes: {self.drain_lanes} does not divide the {self.lanes} lanes")
        if self.fire_lanes and self.lanes % self.fire_lanes:
            raise ValueError(f"fire_lanes: {self.fire_lanes} does not divide the {self.lanes} lanes")
        if self.fire_lanes and self.drain_lanes and self.fire_lanes != self.drain_lanes:
            raise ValueError(f"fire_lanes: {self.fire_lanes} differs from drain_lanes {self.drain_lanes}")
        object.__setattr__(self, "core", dataclasses.replace(
            self.core, tag_bits=self.tag_layout.size, hold=self.drains or bool(self.fire_lanes),
            bias_lanes=self.bias_lanes, bias_parts=self.bias_parts, pe_neurons=not self.fire_lanes))

    @property
    def out_lanes(self) -> int:
        """Lanes a cycle leaving the PEs' current registers (0: all at once)."""
        return self.fire_lanes or self.drain_lanes

    @property
    def drains(self) -> bool:
        """Results are currents drained ``out_lanes`` a cycle from the PEs' current registers."""
        return bool(self.out_lanes) and not self.stages[-1].fire

    @property
    def groups(self) -> int:
        """Result words per output row: ``lanes / out_lanes`` when draining, else 1."""
        return self.lanes // self.out_lanes if self.drains else 1

    @property
    def lanes(self) -> int:
        return self.core.lanes

    @property
    def acc_bits(self) -> int:
        return self.core.acc_bits

    @property
    def max_tiles(self) -> int:
        return max(s.tiles for s in self.stages)

    @property
    def job_layout(self) -> data.StructLayout:
        """One beat of a job on the ``job`` port: a job is ``t`` beats, timestep 0 first, each
        with the same ``n, sel, pop`` and that timestep's input spikes."""
        return data.StructLayout({
            "n": index_range(self.n), "sel": index_range(self.sels), "pop": index_range(len(self.core.pops)),
            "spikes": self.stages[0].din})

    @property
    def job_store_layout(self) -> data.StructLayout:
        """The core's local activation buffer: the current job, all ``t`` timesteps."""
        return data.StructLayout({
            "n": index_range(self.n), "sel": index_range(self.sels), "pop": index_range(len(self.core.pops)),
            "spikes": data.ArrayLayout(self.stages[0].din, self.t)})

    @property
    def tag_layout(self) -> data.StructLayout:
        fields = {"stage": 1, "tile": index_range(self.max_tiles), "t": index_range(self.t),
                  "n": index_range(self.n), "sel": index_range(self.sels)}
        if self.fire_lanes:
            fields["pop"] = index_range(len(self.core.pops))     # the drain's neurons fire the row's population
        return data.StructLayout(fields)

    @property
    def result_layout(self) -> data.StructLayout:
        fields = {"n": index_range(self.n), "t": index_range(self.t), "tile": index_range(self.stages[-1].tiles),
                  "sel": index_range(self.sels)}
        if self.stages[-1].fire:
            fields["spikes"] = self.lanes
        elif self.drains:
            if self.groups > 1:
                fields["group"] = index_range(self.groups)
            fields["currents"] = data.ArrayLayout(signed(self.acc_bits), self.drain_lanes)
        else:
            fields["currents"] = data.ArrayLayout(signed(self.acc_bits), self.lanes)
        return data.StructLayout(fields)


class JobCore(wiring.Component):
    """See the module docstring.

    Attributes
    ----------
    job : In(stream of job_layout)
    w_rd : In(ReadPort.Signature)         weight buffer read port (shared GLB; biases too, with
                                          ``bias_lanes``)
    b_rd : In(ReadPort.Signature)         bias buffer read port (without ``bias_lanes``)
    results : Out(stream of result_layout)
    busy : Out(1)                         a row is in the PE array this cycle (for utilisation
                                          counters: :class:`~spikestack.hw.lib.control.BusyCounters`)
    """

    def __init__(self, p: JobCoreParams):
        self.p = p
        super().__init__({
            "job": In(stream.Signature(p.job_layout)),
            "w_rd": In(p.core.w_port),
            **({} if p.bias_lanes else {"b_rd": In(p.core.b_port)}),
            "results": Out(stream.Signature(p.result_layout)),
            "busy": Out(1),
        })

    def _result_fifo(self):
        """The result FIFO, ``out_depth`` words of ``result_layout``. Currents: a :class:`LaneFIFO`
        (the ``SyncFIFO`` behaviour, stored in slices: the tag fields, then one :class:`FifoLane`
        of ``acc_bits`` per lane — a default expert core's word is 1098 bits, 2196 flip-flops in one
        flat block otherwise). Spikes (one bit per lane, a word of lanes + tag bits, e.g. 74):
        a ``SyncFIFO``, a few hundred cells, where 1-bit slices would only add modules."""
        p = self.p
        if p.stages[-1].fire:
            return fifo.SyncFIFO(width=p.result_layout.size, depth=p.out_depth)
        tag_bits = p.result_layout["currents"].offset
        assert tag_bits + p.lanes * p.acc_bits == p.result_layout.size
        return LaneFIFO((tag_bits,) + (p.acc_bits,) * p.lanes, p.out_depth)

    @staticmethod
    def _spike_rows(m, name: str, width: int, P: int, T: int, t) -> list:
        """A local spike buffer of ``T`` rows of ``width`` bits in slices of ``P`` bits (the last
        narrower), sub-modules ``<name>_<k>``: one :class:`~spikestack.hw.lib.fifo.FifoLane`
        (``T`` words, written a word a cycle, read combinationally) a slice, the same class
        everywhere, so a hierarchical flow hardens one slice, not the core's largest flat logic
        (issue 39). Slice k holds bits ``k*P ..`` of each row; every slice reads row ``t``.
        Callers drive the write port, ``w_data`` bit by bit: from a ``Cat`` Amaranth would give
        each slice other port names (``port$<n>$0``) and the slices would not be one class."""
        rows = []
        for k in range(-(-width // P)):
            m.submodules[f"{name}_{k}"] = r = FifoLane(min(P, width - k * P), T)
            m.d.comb += r.r_addr.eq(t)
            rows.append(r)
        return rows

    def _bias_loader(self, m, core, active, tile_done, tile_row):
        """Biases once per output tile: while the next row's tile has no biases in the PEs
        (``_bias_ok`` low), read its ``G = P / bias_lanes`` words one a cycle through the weight
        port (word ``bias_base + tile_row*G + g``) into the PEs' bias registers; rows of the tile
        are issued from the cycle after the last read. Each read takes the weight port for a cycle
        (the row before waits: G cycles a tile); its first op, the only one that reads the bias,
        is in the PEs the cycle after it is accepted, before any new bias is written."""
        G = self.p.core.bias_groups
        group = Signal(index_range(G))
        load = Signal()
        m.d.comb += [load.eq(active & ~self._bias_ok), core.bias_load.eq(load), core.bias_group.eq(group),
                     core.bias_addr.eq(self.p.core.bias_base + tile_row * G + group)]
        with m.If(load):
            m.d.sync += group.eq(group + 1)
            with m.If(group == G - 1):
                m.d.sync += [group.eq(0), self._bias_ok.eq(1)]
        with m.If(tile_done):
            m.d.sync += self._bias_ok.eq(0)

    def elaborate(self, platform):
        m = Module()
        p, P, T = self.p, self.p.lanes, self.p.t
        self._bias_ok = Signal() if p.bias_lanes else Const(1)
        cp = p.core
        two = len(p.stages) == 2
        m.submodules.core = core = SpikingCore(cp)
        wiring.connect(m, wiring.flipped(self.w_rd), core.w_rd)
        if not p.bias_lanes:
            wiring.connect(m, wiring.flipped(self.b_rd), core.b_rd)
        m.d.comb += self.busy.eq(core.busy)

        # --- the local activation buffer: the current job (its spike rows in P-bit slices) ---
        job = Signal(data.StructLayout({k: p.job_store_layout.members[k] for k in ("n", "sel", "pop")}))
        loaded = Signal(range(T + 1))                   # beats of the current job received
        active = Signal()
        stage = Signal()
        tile = Signal(index_range(p.max_tiles))
        t = Signal(index_range(T))
        job_rows = self._spike_rows(m, "job_rows", p.stages[0].din, P, T, t)

        # --- the local hidden buffer (two-stage jobs) ---
        if two:
            s0 = p.stages[0]
            hidden = self._spike_rows(m, "hidden", s0.tiles * P, P, T, t)
            got = Signal(range(s0.tiles * T + 1))         # hidden rows of this job written so far
            # a stage-1 row of timestep t waits for hidden word t: its last tile's row written
            gate = Mux(stage == 0, loaded > t, got > (s0.tiles - 1) * T + t)
        else:
            gate = loaded > t                          # a row of timestep t waits for its beat

        # --- result FIFO and credits (a drain needs neither: it holds the PEs' next last op) ---
        final_stage = Signal()
        m.d.comb += final_stage.eq(stage == (len(p.stages) - 1))
        credit = Signal()
        if p.drains:
            m.d.comb += credit.eq(1)
        else:
            m.submodules.out_fifo = out_fifo = self._result_fifo()
            inflight = Signal(range(p.out_depth + 2))
            m.d.comb += credit.eq(~final_stage | (out_fifo.level + inflight < p.out_depth))

        # --- row issue ---
        row = core.rows.payload
        meta = row.meta
        tag = Signal(p.tag_layout)
        m.d.comb += [
            core.rows.valid.eq(active & gate & credit & self._bias_ok),
            tag.stage.eq(stage), tag.tile.eq(tile), tag.t.eq(t), tag.n.eq(job.n), tag.sel.eq(job.sel),
            meta.tag.eq(tag), meta.v_zero.eq(t == 0), meta.sel.eq(job.pop),
        ]
        if p.fire_lanes:
            m.d.comb += tag.pop.eq(job.pop)
        for i, s in enumerate(p.stages):
            with m.If(stage == i):
                block = job.sel * s.tiles + tile
                m.d.comb += [
                    meta.w_base.eq(s.w_base + block * s.din), meta.b_addr.eq(s.b_base + block),
                    meta.fire.eq(int(s.fire)),
                ]
                rows = job_rows if i == 0 else hidden
                m.d.comb += row.spikes.eq(Cat(*(r.r_data for r in rows))[:s.din])
        accept_row = core.rows.valid & core.rows.ready
        last_t = t == T - 1
        if p.bias_lanes:
            self._bias_loader(m, core, active, accept_row & last_t, meta.b_addr)
        # a job's beats are taken while it has fewer than T; its rows start with its first beat
        m.d.comb += self.job.ready.eq(loaded < T)
        beat = self.job.payload
        taken = self.job.valid & self.job.ready
        for k, r in enumerate(job_rows):
            m.d.comb += [r.w_addr.eq(loaded[:len(t)] if T > 1 else 0), r.w_en.eq(taken)]
            m.d.comb += [r.w_data[b].eq(beat.spikes[k * P + b]) for b in range(r.width)]
        with m.If(taken):
            m.d.sync += [job.n.eq(beat.n), job.sel.eq(beat.sel), job.pop.eq(beat.pop), loaded.eq(loaded + 1)]
            with m.If(loaded == 0):
                m.d.sync += [active.eq(1), stage.eq(0), tile.eq(0), t.eq(0)]
                if two:
                    m.d.sync += got.eq(0)
        with m.If(accept_row):
            m.d.sync += t.eq(t + 1)
            with m.If(last_t):
                m.d.sync += [t.eq(0), tile.eq(tile + 1)]
                for i, s in enumerate(p.stages):
                    with m.If((stage == i) & (tile == s.tiles - 1)):
                        if i == len(p.stages) - 1:
                            m.d.sync += [active.eq(0), loaded.eq(0)]
                        else:
                            m.d.sync += [stage.eq(i + 1), tile.eq(0)]

        # --- results: fired rows (spike words) from the PEs or from the drain's neurons ---
        out = core.out.payload
        otag = data.View(p.tag_layout, out.tag)
        if p.fire_lanes:
            fired, ftag, fspikes = self._fire_drain(m, core, otag)
        else:
            fired, ftag, fspikes = core.out.valid, otag, out.spikes
        if two:
            hid_result = fired & (ftag.stage == 0)
            for k, r in enumerate(hidden):
                m.d.comb += [r.w_addr.eq(ftag.t), r.w_en.eq(hid_result & (ftag.tile == k))]
                m.d.comb += [r.w_data[b].eq(fspikes[b]) for b in range(P)]
            with m.If(hid_result):
                m.d.sync += got.eq(got + 1)
        if p.fire_lanes and p.drains:
            return m                                   # the drain gave the current results too
        last_stage = len(p.stages) - 1
        if p.stages[-1].fire:
            final_result = fired & (ftag.stage == last_stage)
        else:
            final_result = core.out.valid & (otag.stage == last_stage)
        if p.drains:
            self._drain(m, core, final_result, otag)
            return m
        rtag = ftag if p.stages[-1].fire else otag
        res = Signal(p.result_layout)
        m.d.comb += [res.n.eq(rtag.n), res.t.eq(rtag.t), res.tile.eq(rtag.tile), res.sel.eq(rtag.sel)]
        if p.stages[-1].fire:
            m.d.comb += res.spikes.eq(fspikes)
        else:
            m.d.comb += res.currents.eq(out.currents)
        m.d.comb += [out_fifo.w_en.eq(final_result), out_fifo.w_data.eq(res)]
        issued = accept_row & final_stage
        m.d.sync += inflight.eq(inflight + issued - final_result)
        m.d.comb += [
            self.results.valid.eq(out_fifo.r_rdy), self.results.payload.eq(out_fifo.r_data),
            out_fifo.r_en.eq(self.results.ready),
        ]
        return m

    def _fire_drain(self, m, core, otag):
        """Every row's currents leave the PEs ``fire_lanes`` (R) a cycle, group g = 0..G-1 from the
        cycle after they are on ``core.out`` (G = P / R). A firing row meets R shared
        :class:`~spikestack.hw.lib.lif.LifLane` s ``lif_<l>`` there, each holding its G membranes
        of the current output tile (``slot`` = group; ``zero`` on its timestep 0, as in the PEs),
        so the membranes sit inside the repeated lane a hierarchical flow hardens, not in the
        core's own logic (issue 39: they were 46 % of the default expert core's own cells). Its
        spike word is complete with the last group (returned as ``(fired, tag, spikes)``, valid
        that cycle). A row of currents
        (the last stage, not firing) leaves through ``results`` a group a cycle. Until the last
        group goes, the core holds any row's last op (it would overwrite ``current``)."""
        p, P, R = self.p, self.p.lanes, self.p.fire_lanes
        G, vb, ab = P // R, p.core.v_bits, p.acc_bits
        busy = Signal()
        group = Signal(index_range(G))
        keep = Signal(p.tag_layout)
        fires = [s.fire for s in p.stages]
        fire_now = Const(int(fires[0]), 1) if len(fires) == 1 else Mux(keep.stage, int(fires[1]), int(fires[0]))
        cur = core.out.payload.currents.as_value().word_select(group, R * ab)
        last_group = group == G - 1
        spikes_now = Signal(R)
        adv = Signal()
        for lane in range(R):       # each lane keeps its G membranes (one per group it serves)
            m.submodules[f"lif_{lane}"] = nrn = LifLane(p.core.pops, vb, ab, slots=G)
            m.d.comb += [nrn.en.eq(adv & fire_now), nrn.zero.eq(keep.t == 0), nrn.i.eq(cur.word_select(lane, ab)),
                         spikes_now[lane].eq(nrn.spike)]
            if G > 1:
                m.d.comb += nrn.slot.eq(group)
            if len(p.core.pops) > 1:
                m.d.comb += nrn.sel.eq(keep.pop)
        if p.drains:
            res = self.results.payload
            m.d.comb += [self.results.valid.eq(busy & ~fire_now), adv.eq(busy & (fire_now | self.results.ready)),
                         res.n.eq(keep.n), res.t.eq(keep.t), res.tile.eq(keep.tile), res.sel.eq(keep.sel),
                         res.currents.eq(cur)]
            if p.groups > 1:
                m.d.comb += res.group.eq(group)
        else:
            m.d.comb += adv.eq(busy)
        spk = Signal(P)
        with m.If(adv & fire_now):
            m.d.sync += spk.word_select(group, R).eq(spikes_now)
        word = Cat(spk[:(G - 1) * R], spikes_now) if G > 1 else spikes_now
        with m.If(adv):
            m.d.sync += group.eq(group + 1)
            with m.If(last_group):
                m.d.sync += [busy.eq(0), group.eq(0)]
        with m.If(core.out.valid):
            m.d.sync += [busy.eq(1), group.eq(0), keep.eq(otag)]
        m.d.comb += core.hold_last.eq(core.last_op | core.out.valid | (busy & ~(last_group & adv)))
        fired = Signal()
        m.d.comb += fired.eq(adv & fire_now & last_group)
        return fired, keep, word

    def _drain(self, m, core, final_result, otag):
        """Results leave ``drain_lanes`` currents a cycle, straight from the PEs' ``current``
        registers: a final row's currents are on ``core.out`` in cycle O, words ``group`` 0..G-1
        go out from cycle O+1 on (one per accepted cycle). Until the last word goes, the core
        holds any row's last op (it would overwrite ``current``): an op with ``last`` may enter
        the PEs only once no final row is in the PEs (P), on ``out`` (O), or undrained, but for
        its last word leaving this cycle."""
        p, G, R = self.p, self.p.groups, self.p.drain_lanes
        busy = Signal()
        group = Signal(index_range(G))
        keep = Signal(data.StructLayout({k: p.result_layout.members[k] for k in ("n", "t", "tile", "sel")}))
        words = core.out.payload.currents.as_value()
        res = self.results.payload
        take = self.results.valid & self.results.ready
        last_word = group == G - 1
        m.d.comb += [self.results.valid.eq(busy), res.n.eq(keep.n), res.t.eq(keep.t), res.tile.eq(keep.tile),
                     res.sel.eq(keep.sel), res.currents.eq(words.word_select(group, R * p.acc_bits))]
        if G > 1:
            m.d.comb += res.group.eq(group)
        with m.If(take):
            m.d.sync += group.eq(group + 1)
            with m.If(last_word):
                m.d.sync += [busy.eq(0), group.eq(0)]
        with m.If(final_result):
            m.d.sync += [busy.eq(1), group.eq(0), keep.n.eq(otag.n), keep.t.eq(otag.t), keep.tile.eq(otag.tile),
                         keep.sel.eq(otag.sel)]
        ptag = data.View(p.tag_layout, core.last_tag)
        in_pes = core.last_op & (ptag.stage == len(p.stages) - 1)
        m.d.comb += core.hold_last.eq(in_pes | final_result | (busy & ~(last_word & self.results.ready)))
