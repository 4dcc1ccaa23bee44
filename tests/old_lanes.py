"""The merge and the spike generator as they were before the per-lane restructuring (commit 1f41938),
the job core before its buffers and membranes went into slices and LIF lanes and the attention
core before its rows and lanes (issue 39), the SSA attention core before its two stages (issue 43), kept verbatim
as the reference of the formal equivalence proofs in ``test_lanes.py``."""
from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from spikestack.hw.lib.glb import GLB, GlbParams, addr_width
from spikestack.hw.blocks import attention, jobcore
from spikestack.hw.blocks.core import SpikingCore
from spikestack.hw.lib.lif import LifNeuron
from spikestack.hw.lib.shapes import index_range
from spikestack.config import ConfigError
from spikestack.hw.blocks.attention import attention_in_signature, attention_out_signature
from spikestack.hw.blocks.ssa import const_table
from spikestack.sim.ssa import lfsr_seeds, thresholds

__all__ = ["Merge", "SpikeGenerator", "JobCore", "AttentionCore", "SsaAttentionCore"]


def _range(n: int):
    return range(max(2, n))


class Merge(wiring.Component):
    """Parameters: ``t, n, tiles, lanes, cores, m_bits, expected``, ``result_layout``.

    Attributes: ``start`` In(1), ``results_<c>`` In(stream) per core, ``complete`` Out(1),
    ``acc_r`` Out(ReadPort) — the merge buffer's read port for the spike generator.
    """

    def __init__(self, *, t: int, n: int, tiles: int, lanes: int, cores: int, m_bits: int, expected: int,
                 result_layout: data.StructLayout):
        self.t, self.n, self.tiles, self.lanes, self.cores = t, n, tiles, lanes, cores
        self.m_bits, self.expected, self.result_layout = m_bits, expected, result_layout
        self.depth = t * n * tiles
        self.addr_bits = addr_width(self.depth)
        members = {"start": In(1), "complete": Out(1),
                   "acc_r": Out(memory.ReadPort.Signature(addr_width=self.addr_bits, shape=lanes * m_bits))}
        for c in range(cores):
            members[f"results_{c}"] = In(stream.Signature(result_layout))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        P, C = self.lanes, self.cores
        srcs = [getattr(self, f"results_{c}") for c in range(C)]
        # --- round-robin arbiter ---
        prio = Signal(range(max(2, C)))
        grant = Signal(range(max(2, C)))
        any_valid = Signal()
        for off in reversed(range(C)):          # lowest offset from prio wins
            for c in range(C):
                with m.If((prio + off) % C == c if C > 1 else 1):
                    with m.If(srcs[c].valid):
                        m.d.comb += [grant.eq(c), any_valid.eq(1)]
        res = Signal(self.result_layout)
        for c in range(C):
            with m.If(any_valid & (grant == c)):
                m.d.comb += [srcs[c].ready.eq(1), res.eq(srcs[c].payload)]
        with m.If(any_valid):
            m.d.sync += prio.eq(Mux(grant == C - 1, 0, grant + 1))
        # --- read-modify-write on the merge buffer (a GLB: an SRAM macro in macro mode) ---
        lanes = data.ArrayLayout(signed(self.m_bits), P)
        m.submodules.buffer = buf = GLB(GlbParams(depth=self.depth, width=lanes.size, read_ports=2,
                                                  write_ports=1, host_write=False))
        wp, rp, hp = buf.wr0, buf.rd0, buf.rd1
        m.d.comb += [hp.addr.eq(self.acc_r.addr), hp.en.eq(self.acc_r.en), self.acc_r.data.eq(hp.data)]
        addr = Signal(self.addr_bits)
        m.d.comb += [addr.eq((res.n * self.t + res.t) * self.tiles + res.tile), rp.addr.eq(addr), rp.en.eq(1)]
        seen = Signal(self.depth)
        s_valid = Signal()
        s_addr = Signal(self.addr_bits)
        s_cur = Signal.like(res.currents)
        s_seen = Signal()
        m.d.sync += [s_valid.eq(any_valid), s_addr.eq(addr), s_cur.eq(res.currents)]
        same_row = Signal()                     # this cycle's read is the row written this cycle
        m.d.comb += same_row.eq(s_valid & (s_addr == addr))
        # a row seen by the result just before (written this cycle) counts as seen
        m.d.sync += s_seen.eq(seen.bit_select(addr, 1) | same_row)
        with m.If(self.start):
            m.d.sync += seen.eq(0)
        with m.Elif(s_valid):
            m.d.sync += seen.eq(seen | (Const(1, self.depth) << s_addr))
        # The buffer's reads see the memory before this cycle's write: a read of the row being
        # written takes the written word from the bypass register instead (write-through).
        bypass = Signal()
        written = Signal(lanes.size)
        m.d.sync += [bypass.eq(same_row), written.eq(wp.data)]
        old = data.View(lanes, Mux(bypass, written, rp.data))
        new = data.View(lanes, wp.data)
        m.d.comb += [wp.addr.eq(s_addr), wp.en.eq(s_valid)]
        for l in range(P):
            m.d.comb += new[l].eq(Mux(s_seen, old[l], 0) + s_cur[l])
        count = Signal(range(self.expected + 1))
        with m.If(self.start):
            m.d.sync += count.eq(0)
        with m.Elif(s_valid):
            m.d.sync += count.eq(count + 1)
        m.d.comb += self.complete.eq(s_valid & (count == self.expected - 1))
        return m


class SpikeGenerator(wiring.Component):
    """Parameters: ``t, n, tiles, lanes, m_bits, v_bits, pop`` (the output LifConfig),
    ``out_addr_bits``, ``out_width`` (tiles*lanes, written in lane groups).

    Attributes: ``start`` In(1), ``done`` Out(1), ``acc_rd`` In(ReadPort), ``out_wr`` In(WritePort).
    Latency: ``done`` 2 cycles after the last row is read; one row per cycle.
    """

    def __init__(self, *, t: int, n: int, tiles: int, lanes: int, m_bits: int, v_bits: int, pop,
                 out_addr_bits: int):
        self.t, self.n, self.tiles, self.lanes = t, n, tiles, lanes
        self.m_bits, self.v_bits, self.pop = m_bits, v_bits, pop
        depth = t * n * tiles
        super().__init__({
            "start": In(1), "done": Out(1),
            "acc_rd": In(memory.ReadPort.Signature(addr_width=addr_width(depth),
                                                   shape=lanes * m_bits)),
            "out_wr": In(memory.WritePort.Signature(addr_width=out_addr_bits, shape=tiles * lanes,
                                                    granularity=lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        T, P, tiles = self.t, self.lanes, self.tiles
        running = Signal()
        n = Signal(_range(self.n))
        tile = Signal(_range(tiles))
        t = Signal(_range(T))
        last = Signal()
        m.d.comb += [self.acc_rd.addr.eq((n * T + t) * tiles + tile), self.acc_rd.en.eq(1),
                     last.eq((n == self.n - 1) & (tile == tiles - 1) & (t == T - 1))]
        with m.If(self.start):
            m.d.sync += [running.eq(1), n.eq(0), tile.eq(0), t.eq(0)]
        with m.Elif(running):
            m.d.sync += t.eq(t + 1)
            with m.If(t == T - 1):
                m.d.sync += [t.eq(0), tile.eq(tile + 1)]
                with m.If(tile == tiles - 1):
                    m.d.sync += [tile.eq(0), n.eq(n + 1)]
            with m.If(last):
                m.d.sync += running.eq(0)
        # stage 2: buffer data arrives; LIF on every lane
        s_valid, s_last, s_zero = Signal(), Signal(), Signal()
        s_row = Signal(self.out_wr.addr.shape())
        s_tile = Signal(_range(tiles))
        m.d.sync += [s_valid.eq(running), s_last.eq(running & last), s_zero.eq(t == 0),
                     s_row.eq(n * T + t), s_tile.eq(tile)]
        cur = data.View(data.ArrayLayout(signed(self.m_bits), P), self.acc_rd.data)
        spikes = Signal(P)
        for l in range(P):
            neuron = LifNeuron((self.pop,), self.v_bits, self.m_bits)
            m.submodules[f"lif_{l}"] = neuron
            v = Signal(signed(self.v_bits), name=f"v_{l}")
            m.d.comb += [neuron.v.eq(v), neuron.v_zero.eq(s_zero), neuron.i.eq(cur[l]), neuron.sel.eq(0),
                         spikes[l].eq(neuron.spike)]
            with m.If(s_valid):
                m.d.sync += v.eq(neuron.v_next)
        m.d.comb += [self.out_wr.addr.eq(s_row), self.out_wr.data.eq(Cat(*([spikes] * tiles))),
                     self.out_wr.en.eq(s_valid.replicate(tiles) & (Const(1, tiles) << s_tile))]
        m.d.sync += self.done.eq(s_last)
        return m


class JobCore(jobcore.JobCore):
    """The job core before issue 39's buffer slices: its job spikes in one register and its hidden
    buffer in one memory (``elaborate``), the firing drain's membranes in one G-word memory beside
    R shared :class:`LifNeuron` s (``_fire_drain``, before they moved into
    :class:`~spikestack.hw.lib.lif.LifLane` s)."""

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

        # --- the local activation buffer: the current job ---
        job = Signal(p.job_store_layout)
        loaded = Signal(range(T + 1))                   # beats of the current job received
        active = Signal()
        stage = Signal()
        tile = Signal(index_range(p.max_tiles))
        t = Signal(index_range(T))

        # --- the local hidden buffer (two-stage jobs) ---
        if two:
            s0 = p.stages[0]
            hid = memory.Memory(shape=s0.tiles * P, depth=T, init=[])
            m.submodules.hidden = hid
            hid_w = hid.write_port(granularity=P)
            hid_r = hid.read_port(domain="comb")
            m.d.comb += hid_r.addr.eq(t)
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
                if i == 0:
                    m.d.comb += row.spikes.eq(job.spikes[t])
                else:
                    m.d.comb += row.spikes.eq(hid_r.data[:s.din])
        accept_row = core.rows.valid & core.rows.ready
        last_t = t == T - 1
        if p.bias_lanes:
            self._bias_loader(m, core, active, accept_row & last_t, meta.b_addr)
        # a job's beats are taken while it has fewer than T; its rows start with its first beat
        m.d.comb += self.job.ready.eq(loaded < T)
        beat = self.job.payload
        with m.If(self.job.valid & self.job.ready):
            m.d.sync += [job.n.eq(beat.n), job.sel.eq(beat.sel), job.pop.eq(beat.pop),
                         job.spikes[loaded[:len(t)] if T > 1 else 0].eq(beat.spikes), loaded.eq(loaded + 1)]
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
            tiles0 = p.stages[0].tiles
            hid_result = fired & (ftag.stage == 0)
            m.d.comb += [
                hid_w.addr.eq(ftag.t), hid_w.data.eq(Cat(*([fspikes] * tiles0))),
                hid_w.en.eq(hid_result.replicate(tiles0) & (Const(1, tiles0) << ftag.tile)),
            ]
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
        :class:`LifNeuron` s there, with the membranes of the current output tile in a G-word
        buffer (``v_zero`` on its timestep 0, as in the PEs): its spike word is complete with the
        last group (returned as ``(fired, tag, spikes)``, valid that cycle). A row of currents
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
        m.submodules.membranes = vmem = memory.Memory(shape=R * vb, depth=G, init=[])
        v_r, v_w = vmem.read_port(domain="comb"), vmem.write_port()
        spikes_now, v_next = Signal(R), Signal(R * vb)
        for lane in range(R):
            m.submodules[f"lif_{lane}"] = nrn = LifNeuron(p.core.pops, vb, ab)
            m.d.comb += [nrn.v.eq(v_r.data.word_select(lane, vb)), nrn.v_zero.eq(keep.t == 0),
                         nrn.i.eq(cur.word_select(lane, ab)), nrn.sel.eq(keep.pop),
                         spikes_now[lane].eq(nrn.spike), v_next.word_select(lane, vb).eq(nrn.v_next)]
        adv = Signal()
        if p.drains:
            res = self.results.payload
            m.d.comb += [self.results.valid.eq(busy & ~fire_now), adv.eq(busy & (fire_now | self.results.ready)),
                         res.n.eq(keep.n), res.t.eq(keep.t), res.tile.eq(keep.tile), res.sel.eq(keep.sel),
                         res.currents.eq(cur)]
            if p.groups > 1:
                m.d.comb += res.group.eq(group)
        else:
            m.d.comb += adv.eq(busy)
        m.d.comb += [v_r.addr.eq(group), v_w.addr.eq(group), v_w.data.eq(v_next), v_w.en.eq(adv & fire_now)]
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


class AttentionCore(attention.AttentionCore):
    """The attention core before issue 39's rows and lanes: stage 1 and stage 2 flat in one
    module, ``d`` shared-nothing :class:`LifNeuron` s beside their membranes ``v_<i>``."""

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


class SsaAttentionCore(wiring.Component):
    """One head per pass, one query row per cycle (module docstring). Parameters: ``n`` tokens,
    ``d`` head width, ``heads`` (seed tables), ``att`` the :class:`~spikestack.config.AttentionConfig`."""

    def __init__(self, *, n: int, d: int, heads: int, att):
        if att.mode != "ssa":
            raise ConfigError(f"attention.mode: SsaAttentionCore needs 'ssa', got {att.mode!r}")
        self.n, self.d, self.heads, self.att = n, d, heads, att
        self.head_bits = max(1, (heads - 1).bit_length())
        super().__init__({"inp": In(attention_in_signature(n, d, self.head_bits)),
                          "out": Out(attention_out_signature(d))})

    def _lfsr(self, m: Module, name: str, seeds) -> tuple[Signal, Signal]:
        """One LFSR: ``(cur, state)``; ``cur`` is this row's number, ``state`` holds it afterwards."""
        w, mask, inp = self.att.lfsr_bits, self.att.mask, self.inp
        state = Signal(w, name=f"{name}_state")
        seed = Signal(w, name=f"{name}_seed")
        m.d.comb += seed.eq(int(seeds[0]) if len(seeds) == 1 else const_table(inp.head, seeds, w))
        step = Signal(w, name=f"{name}_step")
        m.d.comb += step.eq((state >> 1) ^ (Const(mask, w) & state[0].replicate(w)))
        cur = Signal(w, name=f"{name}_cur")
        m.d.comb += cur.eq(Mux(inp.first, seed, step))
        with m.If(inp.valid):
            m.d.sync += state.eq(cur)
        return cur, state

    @staticmethod
    def _below(m: Module, name: str, r: Signal, count, table) -> Signal:
        """``r < table[count]``: the Bernoulli comparison against a constant threshold table."""
        w = len(r) + 1
        thr = Signal(w, name=f"{name}_thr")
        m.d.comb += thr.eq(const_table(count, table, w))
        spike = Signal(name=f"{name}_spike")
        m.d.comb += spike.eq(r < thr)
        return spike

    def elaborate(self, platform):
        m = Module()
        N, d, inp, w = self.n, self.d, self.inp, self.att.lfsr_bits
        seeds_a, seeds_o = lfsr_seeds(self.att, self.heads, N, d)
        thr_d, thr_n = thresholds(w, d), thresholds(w, N)
        # stage 1: score spikes S[m] = Bernoulli(popcount(q & k_m) / d)
        scores = Signal(N)
        s1_valid = Signal()
        s1_v = Signal(N * d)
        for mm in range(N):
            both = inp.q & inp.k[mm * d:(mm + 1) * d]
            count = Signal(range(d + 1), name=f"c_{mm}")
            m.d.comb += count.eq(sum((both[i] for i in range(d)), 0))
            r, _ = self._lfsr(m, f"ra_{mm}", seeds_a[:, mm])
            m.d.sync += scores[mm].eq(self._below(m, f"s_{mm}", r, count, thr_d))
        m.d.sync += [s1_valid.eq(inp.valid), s1_v.eq(inp.v)]
        # stage 2: output spikes = Bernoulli(popcount(S & v[., i]) / N)
        spikes = Signal(d)
        for i in range(d):
            count = Signal(range(N + 1), name=f"o_{i}")
            m.d.comb += count.eq(sum((scores[mm] & s1_v[mm * d + i] for mm in range(N)), 0))
            _, r = self._lfsr(m, f"ro_{i}", seeds_o[:, i])
            m.d.comb += spikes[i].eq(self._below(m, f"out_{i}", r, count, thr_n))
        m.d.sync += [self.out.valid.eq(s1_valid), self.out.spikes.eq(spikes)]
        return m
