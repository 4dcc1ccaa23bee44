"""Merge of routed expert currents, and the output spike generator.

:class:`Merge` takes the result streams of all expert cores (round-robin, one result per cycle)
and accumulates each ``{n, t, tile, currents[P]}`` into the merge buffer at row
``(n*T + t)*tiles + tile``: the first result of a row is written, later ones are added (a
per-row *seen* flag, cleared by ``start``, replaces a clearing pass). The read-modify-write is
pipelined over two cycles; the buffer (a :class:`~spikestack.hw.lib.glb.GLB` without host port: one
write, two synchronous reads, an SRAM macro in macro mode) reads the memory as it was before the
cycle's write, so a bypass register forwards the word just written and back-to-back results for
the same row add correctly. ``complete`` pulses when the ``expected``-th result has been written. The sum is
exact: the buffer's lanes are wide enough for k experts' currents.

:class:`SpikeGenerator` then walks the merge buffer (for n, for tile, for t), runs the output LIF
population on P lanes (membrane from 0 at t = 0), and writes the spikes to the activation GLB at
row ``n*T + t``, lane group ``tile`` (write-back). One row per cycle; ``done`` pulses after the
last write. In the MoE (``gated``) it walks (n, t, tile) instead and fires each timestep row of a
token as soon as the merge has all of that row's words (``rows_done``).

Both keep only control in their own logic: each lane's datapath is a sub-module, the same class
for every lane (:class:`MergeLane`, :class:`~spikestack.hw.lib.lif.LifLane`), so a hierarchical flow hardens one lane and
places it P times.
"""
from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ..lib.arbiter import round_robin
from ..lib.glb import GLB, GlbParams, addr_width
from ..lib.lif import LifLane
from ..lib.shapes import index_range

__all__ = ["Merge", "MergeLane", "SpikeGenerator"]


class MergeLane(wiring.Component):
    """One lane of the merge's read-modify-write: the same module for every lane.

    Cycle 1 registers the lane's current of the granted core (``cur[grant]`` if ``any_valid``,
    else 0) in ``s_cur``. Cycle 2 adds it to the buffer word: ``wr = (s_seen ? old : 0) + s_cur``
    where ``old = bypass ? written : rd`` — ``written`` is the lane's ``wr`` of the cycle before,
    forwarded when the row read is the row just written (the buffer reads the memory before the
    write). Latency: ``wr`` is combinational in ``s_seen, bypass, rd`` and one cycle after
    ``cur, grant, any_valid``.

    Parameters: ``cores`` (C), ``i_bits`` (a result current, signed), ``m_bits`` (a merge-buffer
    lane, signed; the sum wraps to it).

    Attributes: ``cur`` In(C x signed(i_bits)), ``grant`` In(range(C)), ``any_valid``, ``s_seen``,
    ``bypass`` In(1), ``rd`` In(signed(m_bits)) (the lane of the buffer's read data),
    ``wr`` Out(signed(m_bits)) (the lane of the buffer's write data).
    """

    def __init__(self, *, cores: int, i_bits: int, m_bits: int):
        self.cores = cores
        super().__init__({
            "cur": In(data.ArrayLayout(signed(i_bits), cores)), "grant": In(index_range(cores)),
            "any_valid": In(1), "s_seen": In(1), "bypass": In(1),
            "rd": In(signed(m_bits)), "wr": Out(signed(m_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        s_cur = Signal.like(self.cur[0])
        m.d.sync += s_cur.eq(0)
        for c in range(self.cores):
            with m.If(self.any_valid & (self.grant == c)):
                m.d.sync += s_cur.eq(self.cur[c])
        written = Signal.like(self.wr)
        m.d.sync += written.eq(self.wr)
        old = Mux(self.bypass, written, self.rd)
        m.d.comb += self.wr.eq(Mux(self.s_seen, old, 0) + s_cur)
        return m


class Merge(wiring.Component):
    """Parameters: ``t, n, tiles, lanes, cores, m_bits, expected``, ``result_layout``, ``groups``.

    With ``groups`` G > 1 a result carries ``lanes`` currents of lane group ``group`` of its tile
    (the cores drain an output row G words at a time): the buffer has G rows of ``lanes`` per
    (n, t, tile), row ``((n*T + t)*tiles + tile)*G + group``, each with its seen flag; ``expected``
    counts words.

    Attributes: ``start`` In(1), ``results_<c>`` In(stream) per core, ``complete`` Out(1),
    ``acc_r`` Out(ReadPort) — the merge buffer's read port for the spike generator.

    Its own logic is the control (arbiter, row address, seen flags, bypass condition, count); the
    per-lane datapath is ``lane_<l>``, one :class:`MergeLane` per lane (one class: the lanes'
    parameters do not depend on l). Latency: a result accepted in cycle c is in the buffer at
    the end of cycle c+1; ``complete`` is high in cycle c+1 of the ``expected``-th result.
    """

    def __init__(self, *, t: int, n: int, tiles: int, lanes: int, cores: int, m_bits: int, expected: int,
                 result_layout: data.StructLayout, groups: int = 1, per_row: int = 0,
                 expected_draft: int | None = None):
        self.t, self.n, self.tiles, self.lanes, self.cores = t, n, tiles, lanes, cores
        self.m_bits, self.expected, self.result_layout = m_bits, expected, result_layout
        self.groups, self.per_row = groups, per_row
        self.expected_draft = expected_draft        # a draft run's results (issue 24): adds ``draft`` In(1)
        self.i_bits = result_layout.members["currents"].elem_shape.width
        self.depth = t * n * tiles * groups
        self.addr_bits = addr_width(self.depth)
        members = {"start": In(1), "complete": Out(1),
                   "acc_r": Out(memory.ReadPort.Signature(addr_width=self.addr_bits, shape=lanes * m_bits))}
        for c in range(cores):
            members[f"results_{c}"] = In(stream.Signature(result_layout))
        if per_row:
            members["rows_done"] = Out(n * t)
        if expected_draft is not None:
            members["draft"] = In(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        P, C = self.lanes, self.cores
        srcs = [getattr(self, f"results_{c}") for c in range(C)]
        grant, any_valid = round_robin(m, [s.valid for s in srcs])
        row = ("n", "t", "tile") + (("group",) if self.groups > 1 else ())   # the granted result's row
        res = Signal(data.StructLayout({k: self.result_layout.members[k] for k in row}))
        for c in range(C):
            with m.If(any_valid & (grant == c)):
                m.d.comb += [srcs[c].ready.eq(1)] + [res[k].eq(srcs[c].payload[k]) for k in row]
        # --- read-modify-write on the merge buffer (a GLB: an SRAM macro in macro mode) ---
        lanes = data.ArrayLayout(signed(self.m_bits), P)
        m.submodules.buffer = buf = GLB(GlbParams(depth=self.depth, width=lanes.size, read_ports=2,
                                                  write_ports=1, host_write=False))
        wp, rp, hp = buf.wr0, buf.rd0, buf.rd1
        m.d.comb += [hp.addr.eq(self.acc_r.addr), hp.en.eq(self.acc_r.en), self.acc_r.data.eq(hp.data)]
        addr = Signal(self.addr_bits)
        if self.groups > 1:
            m.d.comb += addr.eq(((res.n * self.t + res.t) * self.tiles + res.tile) * self.groups + res.group)
        else:
            m.d.comb += addr.eq((res.n * self.t + res.t) * self.tiles + res.tile)
        m.d.comb += [rp.addr.eq(addr), rp.en.eq(1)]
        seen = Signal(self.depth)
        s_valid = Signal()
        s_addr = Signal(self.addr_bits)
        s_seen = Signal()
        m.d.sync += [s_valid.eq(any_valid), s_addr.eq(addr)]
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
        m.d.sync += bypass.eq(same_row)
        rd, wr = data.View(lanes, rp.data), data.View(lanes, wp.data)
        m.d.comb += [wp.addr.eq(s_addr), wp.en.eq(s_valid)]
        for l in range(P):
            m.submodules[f"lane_{l}"] = lane = MergeLane(cores=C, i_bits=self.i_bits, m_bits=self.m_bits)
            m.d.comb += [lane.grant.eq(grant), lane.any_valid.eq(any_valid), lane.s_seen.eq(s_seen),
                         lane.bypass.eq(bypass), lane.rd.eq(rd[l]), wr[l].eq(lane.wr)]
            m.d.comb += [lane.cur[c].eq(srcs[c].payload.currents[l]) for c in range(C)]
        count = Signal(range(self.expected + 1))
        with m.If(self.start):
            m.d.sync += count.eq(0)
        with m.Elif(s_valid):
            m.d.sync += count.eq(count + 1)
        expected = self.expected if self.expected_draft is None else Mux(self.draft, self.expected_draft, self.expected)
        m.d.comb += self.complete.eq(s_valid & (count == expected - 1))
        if self.per_row:
            self._row_counts(m, s_valid, res.n * self.t + res.t)
        return m

    def _row_counts(self, m, s_valid, res_row):
        """``rows_done[n*T + t]``: all ``per_row`` words of token n's timestep t (every tile and
        lane group of its k experts) are in the buffer (set the cycle after its last word is
        written, so a read issued then sees it; cleared by ``start``)."""
        per_row = self.per_row
        if self.expected_draft is not None:         # a draft run routes k_draft of top_k experts a token
            per_row = Mux(self.draft, self.per_row * self.expected_draft // self.expected, self.per_row)
        s_row = Signal(range(self.n * self.t))
        m.d.sync += s_row.eq(res_row)
        for i in range(self.n * self.t):
            cnt = Signal(range(self.per_row + 1), name=f"row_{i}_words")
            with m.If(self.start):
                m.d.sync += [cnt.eq(0), self.rows_done[i].eq(0)]
            with m.Elif(s_valid & (s_row == i)):
                m.d.sync += cnt.eq(cnt + 1)
                with m.If(cnt == per_row - 1):
                    m.d.sync += self.rows_done[i].eq(1)


class SpikeGenerator(wiring.Component):
    """Parameters: ``t, n, tiles, lanes, m_bits, v_bits, pop`` (the output LifConfig),
    ``out_addr_bits``, ``out_width`` (tiles*lanes, written in lane groups).

    Attributes: ``start`` In(1), ``done`` Out(1), ``acc_rd`` In(ReadPort), ``out_wr`` In(WritePort).
    Latency: ``done`` 2 cycles after the last row is read; one row per cycle.

    With ``groups`` G > 1 (the merge buffer of a :class:`Merge` with G lane groups) it walks
    (n, tile, group, t), ``lanes`` neurons at a time, and writes lane group ``tile*G + group`` of
    ``out_wr`` (``tiles*G*lanes`` bits in groups of ``lanes``).

    With ``gated`` (the MoE, issue 42) it walks (n, t, tile, group) instead and starts each
    timestep row (n, t) once ``rows_ready[n*T + t]`` (In(n*t), the merge's ``rows_done``) is set,
    so a token's early timesteps fire while its experts still integrate the later ones; each lane
    then keeps ``tiles*G`` membranes (:class:`LifLane` ``slots``).

    Its own logic is the walk and the write-back; each lane's neuron and membrane is ``lif_<l>``,
    one :class:`LifLane` per lane (one class).
    """

    def __init__(self, *, t: int, n: int, tiles: int, lanes: int, m_bits: int, v_bits: int, pop,
                 out_addr_bits: int, groups: int = 1, gated: bool = False):
        self.t, self.n, self.tiles, self.lanes = t, n, tiles, lanes
        self.m_bits, self.v_bits, self.pop = m_bits, v_bits, pop
        self.groups, self.gated = groups, gated
        depth = t * n * tiles * groups
        members = {} if not gated else {"rows_ready": In(n * t)}
        super().__init__(members | {
            "start": In(1), "done": Out(1),
            "acc_rd": In(memory.ReadPort.Signature(addr_width=addr_width(depth),
                                                   shape=lanes * m_bits)),
            "out_wr": In(memory.WritePort.Signature(addr_width=out_addr_bits, shape=tiles * groups * lanes,
                                                    granularity=lanes)),
        })

    def elaborate(self, platform):
        if self.gated:
            return self._rowwise()
        m = Module()
        T, P, tiles, G = self.t, self.lanes, self.tiles, self.groups
        running = Signal()
        n = Signal(index_range(self.n))
        tile = Signal(index_range(tiles))
        t = Signal(index_range(T))
        last = Signal()
        if G > 1:
            group = Signal(index_range(G))
            m.d.comb += [self.acc_rd.addr.eq(((n * T + t) * tiles + tile) * G + group),
                         last.eq((n == self.n - 1) & (tile == tiles - 1) & (group == G - 1) & (t == T - 1))]
        else:
            m.d.comb += [self.acc_rd.addr.eq((n * T + t) * tiles + tile),
                         last.eq((n == self.n - 1) & (tile == tiles - 1) & (t == T - 1))]
        m.d.comb += self.acc_rd.en.eq(1)
        step = running
        with m.If(self.start):
            m.d.sync += [running.eq(1), n.eq(0), tile.eq(0), t.eq(0)]
            if G > 1:
                m.d.sync += group.eq(0)
        with m.Elif(step):
            m.d.sync += t.eq(t + 1)
            with m.If(t == T - 1):
                m.d.sync += t.eq(0)
                if G > 1:
                    m.d.sync += group.eq(group + 1)
                    with m.If(group == G - 1):
                        m.d.sync += [group.eq(0), tile.eq(tile + 1)]
                        with m.If(tile == tiles - 1):
                            m.d.sync += [tile.eq(0), n.eq(n + 1)]
                else:
                    m.d.sync += tile.eq(tile + 1)
                    with m.If(tile == tiles - 1):
                        m.d.sync += [tile.eq(0), n.eq(n + 1)]
            with m.If(last):
                m.d.sync += running.eq(0)
        # stage 2: buffer data arrives; LIF on every lane
        s_valid, s_last, s_zero = Signal(), Signal(), Signal()
        s_row = Signal(self.out_wr.addr.shape())
        s_tile = Signal(index_range(tiles * G))       # the lane group written
        m.d.sync += [s_valid.eq(step), s_last.eq(step & last), s_zero.eq(t == 0),
                     s_row.eq(n * T + t), s_tile.eq(tile * G + group if G > 1 else tile)]
        self._lanes(m, s_valid, s_zero, s_row, s_tile, s_last)
        return m

    def _lanes(self, m, s_valid, s_zero, s_row, s_tile, s_last, slots: int = 1):
        """Stage 2: the buffer word read the cycle before meets the lanes' neurons; write-back."""
        P, S = self.lanes, self.tiles * self.groups
        cur = data.View(data.ArrayLayout(signed(self.m_bits), P), self.acc_rd.data)
        spikes = Signal(P)
        for l in range(P):
            m.submodules[f"lif_{l}"] = lane = LifLane(self.pop, self.v_bits, self.m_bits, slots)
            m.d.comb += [lane.en.eq(s_valid), lane.zero.eq(s_zero), lane.i.eq(cur[l]), spikes[l].eq(lane.spike)]
            if slots > 1:
                m.d.comb += lane.slot.eq(s_tile)
        m.d.comb += [self.out_wr.addr.eq(s_row), self.out_wr.data.eq(Cat(*([spikes] * S))),
                     self.out_wr.en.eq(s_valid.replicate(S) & (Const(1, S) << s_tile))]
        m.d.sync += self.done.eq(s_last)

    def _rowwise(self):
        """``gated``: walk (row = n*T + t, slot = tile*G + group), a row once it is ready."""
        m = Module()
        T, R, S = self.t, self.n * self.t, self.tiles * self.groups
        running = Signal()
        row = Signal(index_range(R))
        t = Signal(index_range(T))
        slot = Signal(index_range(S))
        last = Signal()
        m.d.comb += [self.acc_rd.addr.eq(row * S + slot), self.acc_rd.en.eq(1),
                     last.eq((row == R - 1) & (slot == S - 1))]
        step = Signal()
        m.d.comb += step.eq(running & ((slot != 0) | self.rows_ready.bit_select(row, 1)))
        with m.If(self.start):
            m.d.sync += [running.eq(1), row.eq(0), t.eq(0), slot.eq(0)]
        with m.Elif(step):
            m.d.sync += slot.eq(slot + 1)
            with m.If(slot == S - 1):
                m.d.sync += [slot.eq(0), row.eq(row + 1), t.eq(Mux(t == T - 1, 0, t + 1))]
            with m.If(last):
                m.d.sync += running.eq(0)
        s_valid, s_last, s_zero = Signal(), Signal(), Signal()
        s_row = Signal(self.out_wr.addr.shape())
        s_slot = Signal(index_range(S))
        m.d.sync += [s_valid.eq(step), s_last.eq(step & last), s_zero.eq(t == 0), s_row.eq(row), s_slot.eq(slot)]
        self._lanes(m, s_valid, s_zero, s_row, s_slot, s_last, slots=S)
        return m
