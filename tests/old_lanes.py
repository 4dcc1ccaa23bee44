"""The merge and the spike generator as they were before the per-lane restructuring (commit 1f41938),
and the job core's firing drain before its membranes moved into LIF lanes (issue 39), kept verbatim
as the reference of the formal equivalence proofs in ``test_lanes.py``."""
from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from spikestack.hw.lib.glb import GLB, GlbParams, addr_width
from spikestack.hw.blocks import jobcore
from spikestack.hw.lib.lif import LifNeuron
from spikestack.hw.lib.shapes import index_range

__all__ = ["Merge", "SpikeGenerator", "JobCore"]


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
    """The job core with its firing drain's membranes in one G-word memory beside R shared
    :class:`LifNeuron` s (before they moved into :class:`~spikestack.hw.lib.lif.LifLane` s)."""

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
