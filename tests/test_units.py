"""In-process ``amaranth.sim`` unit tests of three control blocks, as Amaranth tests its own
``lib.fifo``: no Verilog, no Verilator build, a few seconds each.

- :class:`~spikestack.hw.lib.fifo.LaneFIFO` against ``amaranth.lib.fifo.SyncFIFO`` of the same width
  and depth, every output compared every cycle under random writes and reads;
- :class:`~spikestack.hw.blocks.router.Router` against the golden ``router_scores`` / ``top_k_mask``
  (every bit of every route, in token order) with random back-pressure on ``routes``;
- :class:`~spikestack.hw.blocks.dispatch.Dispatcher` against a cycle model of its rule (the lowest
  pending expert whose weight group has a ready core goes to that group's lowest ready core),
  every bit of every job, with cores ready at random.
"""
import numpy as np
import pytest
from amaranth import Module
from amaranth.lib import data, fifo, memory
from amaranth.sim import Simulator

from spikestack.config import signed_bits
from spikestack.hw.blocks.dispatch import Dispatcher
from spikestack.hw.lib.fifo import LaneFIFO
from spikestack.hw.lib.glb import addr_width
from spikestack.hw.blocks.router import Router, RouterParams
from spikestack.hw.lib.shapes import index_range
from spikestack.sim.layers import router_scores, top_k_mask


def _run(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()                   # until the bench returns (the clock is a background process)


# --- LaneFIFO ---------------------------------------------------------------------------------

@pytest.mark.parametrize("widths,depth", [((3,), 1), ((1, 4, 2), 2), ((5, 5, 5), 3), ((7, 1), 5)])
def test_lane_fifo_is_a_sync_fifo(widths, depth):
    m = Module()
    m.submodules.lanes = lanes = LaneFIFO(widths, depth)
    m.submodules.ref = ref = fifo.SyncFIFO(width=sum(widths), depth=depth)
    rng = np.random.default_rng(sum(widths) * 10 + depth)
    outputs = ("w_rdy", "r_rdy", "level", "r_data")
    seen = {"reads": 0}

    async def bench(ctx):
        for _ in range(400):
            w_en, r_en = int(rng.random() < 0.6), int(rng.random() < 0.5)
            w_data = int(rng.integers(0, 1 << sum(widths)))
            for f in (lanes, ref):
                ctx.set(f.w_en, w_en)
                ctx.set(f.r_en, r_en)
                ctx.set(f.w_data, w_data)
            got = {k: ctx.get(getattr(lanes, k)) for k in outputs}
            want = {k: ctx.get(getattr(ref, k)) for k in outputs}
            if not want["r_rdy"]:
                got.pop("r_data"), want.pop("r_data")       # SyncFIFO's r_data is not defined when empty
            assert got == want
            seen["reads"] += want["r_rdy"] and r_en
            await ctx.tick()

    _run(m, bench)
    assert seen["reads"] > 50


# --- Router -------------------------------------------------------------------------------------

def _rom(m, name, words, width):
    mem = memory.Memory(shape=width, depth=max(len(words), 1), init=words)
    m.submodules[name] = mem
    return mem.read_port()


def _connect_read(m, port, rp):
    m.d.comb += [rp.addr.eq(port.addr), rp.en.eq(port.en), port.data.eq(rp.data)]


@pytest.mark.parametrize("t,n,d,experts,top_k,seed,lanes,dense", [
    (1, 3, 5, 3, 1, 0, 1, False), (2, 4, 7, 5, 2, 1, 1, False), (3, 5, 4, 4, 4, 2, 1, False),
    (2, 6, 9, 6, 3, 3, 1, False),
    # issue 42: 2 and 3 events a cycle (hw.router_events), event-driven and dense over an odd row
    (2, 5, 7, 4, 2, 4, 2, False), (3, 4, 9, 5, 3, 5, 3, False), (2, 4, 7, 3, 1, 6, 2, True)])
def test_router_routes_every_token_as_the_golden_model(t, n, d, experts, top_k, seed, lanes, dense):
    rng = np.random.default_rng(seed)
    w_bits = 4
    spikes = (rng.random((t, n, d)) < 0.4).astype(np.int64)
    wr = rng.integers(-(1 << (w_bits - 1)), 1 << (w_bits - 1), size=(d, experts))
    wr[:, 1 % experts] = wr[:, 0]                         # ties: the lower index must win
    want = top_k_mask(router_scores(spikes, wr), top_k)
    score_bits = signed_bits(-(1 << (w_bits - 1)) * t * d, ((1 << (w_bits - 1)) - 1) * t * d)
    act_bits = addr_width(t * n)
    p = RouterParams(t=t, n=n, d=d, experts=experts, top_k=top_k, w_bits=w_bits, score_bits=score_bits,
                     act_addr_bits=act_bits, act_width=d, lanes=lanes, event_driven=not dense)
    m = Module()
    m.submodules.router = router = Router(p)
    rows = [int(sum(int(b) << j for j, b in enumerate(spikes[tt, nn]))) for nn in range(n) for tt in range(t)]
    words = [int(sum((int(v) & ((1 << w_bits) - 1)) << (e * w_bits) for e, v in enumerate(wr[j]))) for j in range(d)]
    _connect_read(m, router.act_rd, _rom(m, "act", rows, d))
    _connect_read(m, router.wr_rd, _rom(m, "wr", words, experts * w_bits))
    for w in range(1, lanes):
        _connect_read(m, getattr(router, f"wr_rd{w}"), _rom(m, f"wr{w}", words, experts * w_bits))
    got = []

    async def bench(ctx):
        ctx.set(router.start, 1)
        await ctx.tick()
        ctx.set(router.start, 0)
        for _ in range(40 * t * n * (d + 2)):
            ready = int(rng.random() < 0.5)
            ctx.set(router.routes.ready, ready)
            if ready and ctx.get(router.routes.valid):
                payload = ctx.get(router.routes.payload.as_value())
                r = data.Const(router.routes.payload.shape(), payload)
                got.append((int(r.n), int(r.mask)))
            if len(got) == n:
                break
            await ctx.tick()

    _run(m, bench)
    masks = [int(sum(int(b) << e for e, b in enumerate(row))) for row in want]
    assert got == list(zip(range(n), masks))


# --- Dispatcher ---------------------------------------------------------------------------------

@pytest.mark.parametrize("t,n,d,experts,core_groups,groups,seed", [
    (1, 3, 4, 2, (0, 1), 2, 0), (2, 4, 5, 3, (0, 0, 1), 2, 1), (3, 3, 3, 5, (0, 1, 2, 0), 3, 2),
    (2, 5, 6, 4, (0, 0, 0), 1, 3)])
def test_dispatcher_gives_each_routed_expert_the_rule_s_core(t, n, d, experts, core_groups, groups, seed):
    rng = np.random.default_rng(seed)
    spikes = (rng.random((t, n, d)) < 0.5).astype(np.int64)
    masks = [int(rng.integers(1, 1 << experts)) for _ in range(n)]
    sels = -(-experts // groups)
    layout = data.StructLayout({"n": index_range(n), "sel": index_range(sels), "pop": index_range(2),
                                "spikes": d})                   # one beat: a job is t of them
    dut = Dispatcher(t=t, n=n, d=d, experts=experts, core_groups=core_groups, groups=groups, job_layout=layout,
                     act_addr_bits=addr_width(t * n), act_width=d + 1)
    m = Module()
    m.submodules.dispatcher = dut
    rows = [int(sum(int(b) << j for j, b in enumerate(spikes[tt, nn]))) | (1 << d)   # a bit above the spikes
            for nn in range(n) for tt in range(t)]
    _connect_read(m, dut.act_rd, _rom(m, "act", rows, d + 1))
    cores = [getattr(dut, f"jobs_{c}") for c in range(len(core_groups))]
    jobs = []

    async def bench(ctx):
        token, pending, sending = 0, 0, None
        for _ in range(60 * n * (t + experts + 2) * t):
            ctx.set(dut.routes.valid, token < n)
            if token < n:
                shift = dut.routes.payload.shape()["mask"].offset
                ctx.set(dut.routes.payload.as_value(), token | masks[token] << shift)
            ready = [int(rng.random() < 0.4) for _ in cores]
            for c, r in zip(cores, ready):
                ctx.set(c.ready, r)
            valid = [ctx.get(c.valid) for c in cores]
            if sending is not None:
                # beats 1..t-1 of the job go to the same core, in order, with the same n, sel, pop
                c = sending[2]
                assert valid == [int(i == c) for i in range(len(cores))]
                if ready[c]:
                    beat = data.Const(layout, ctx.get(cores[c].payload.as_value()))
                    assert (int(beat.n), int(beat.sel), int(beat.pop)) == (sending[0], sending[3], sending[4])
                    sending[5].append(int(beat.spikes))
                    if len(sending[5]) == t:
                        jobs.append(tuple(sending))
                        sending = None
            elif any(valid):
                # the rule: the lowest pending expert whose group has a ready core, its lowest ready core
                e = min(e for e in range(experts) if pending >> e & 1
                        and any(r and g == e % groups for r, g in zip(ready, core_groups)))
                c = min(c for c, (r, g) in enumerate(zip(ready, core_groups)) if r and g == e % groups)
                assert valid == [int(i == c) for i in range(len(cores))]
                beat = data.Const(layout, ctx.get(cores[c].payload.as_value()))
                job = [int(beat.n), e, c, int(beat.sel), int(beat.pop), [int(beat.spikes)]]
                if t == 1:
                    jobs.append(tuple(job))
                else:
                    sending = job
                pending &= ~(1 << e)
            if ctx.get(dut.routes.valid) and ctx.get(dut.routes.ready):
                assert pending == 0
                pending = masks[token]
                token += 1
            if token == n and not pending and sending is None:
                break
            await ctx.tick()

    _run(m, bench)
    row = lambda nn: [int(sum(int(b) << j for j, b in enumerate(spikes[tt, nn]))) for tt in range(t)]
    assert [j[0] for j in jobs] == sorted(j[0] for j in jobs), "a token's jobs before the next token's"
    for nn in range(n):
        assert sorted(j[1] for j in jobs if j[0] == nn) == [e for e in range(experts) if masks[nn] >> e & 1]
    for nn, e, c, sel, pop, sp in jobs:
        assert (sel, pop, core_groups[c], sp) == (e // groups, 0, e % groups, row(nn))
    assert len(jobs) == sum(bin(mk).count("1") for mk in masks), "every routed expert's job, all t beats"
