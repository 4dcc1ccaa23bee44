"""Block-level benches on Verilator: the LIF PE, the PE array, the event encoder and the attention
head select, every output bit compared with the golden models over random inputs (cycle-by-cycle
bench, tb/cycle_tb.py)."""
import numpy as np
import pytest
from amaranth import Module
from amaranth.lib import wiring

from spikestack.config import LifConfig
from spikestack.hw.blocks.attention import HeadSelect
from spikestack.hw.lib.event import EventEncoder
from spikestack.hw.lib.pe import LifPE, pe_op_layout
from spikestack.hw.lib.pe_array import PEArray
from spikestack.sim.events import row_events
from spikestack.sim.lif import lif_step
from spikestack.tb.harness import build_component, run_bench
from spikestack.tb.streams import layout_fields

POPS = (LifConfig(40, 2, "hard", "a"), LifConfig(25, 0, "soft", "b"), LifConfig(90, 4, "soft", "c"))


def pack(layout, **fields) -> int:
    word = 0
    for name, value in fields.items():
        f = layout[name]
        word |= (int(value) & ((1 << f.width) - 1)) << f.offset
    return word


def signed(x: int, bits: int) -> int:
    return x - (1 << bits) if x & (1 << (bits - 1)) else x


def op_stream(rng, lanes, steps, w_bits, b_bits, v_bits):
    """Random neuron programs: per step a pop, a bias, 0..4 weights per lane, fire or current-only.
    Returns per-cycle (op fields, weights[lanes], biases[lanes]) and the expected outputs."""
    layout = pe_op_layout(len(POPS))
    cycles, expect = [], []
    v = np.zeros(lanes, dtype=np.int64)
    sel = fire = 0
    for s in range(steps):
        new_neuron = s % 5 == 0
        if new_neuron:         # a neuron either fires (a LIF population) or only integrates
            sel = int(rng.integers(len(POPS)))
            fire = int(rng.random() < 0.8)
            v[:] = 0
        n_add = int(rng.integers(0, 5))
        bias = rng.integers(-(1 << (b_bits - 1)), 1 << (b_bits - 1), size=lanes)
        ws = rng.integers(-(1 << (w_bits - 1)), 1 << (w_bits - 1), size=(max(1, n_add), lanes))
        for i in range(max(1, n_add)):
            op = pack(layout, valid=1, first=int(i == 0), add=int(n_add > 0), last=int(i == max(1, n_add) - 1),
                      fire=fire, v_zero=int(new_neuron), sel=sel)
            cycles.append((op, ws[i], bias))
        current = bias + (ws.sum(axis=0) if n_add else 0)
        if fire:
            spk, v = lif_step(v, current, POPS[sel], v_bits)
        else:
            spk = None
        expect.append((len(cycles), current, spk))
        if rng.random() < 0.3:                      # idle cycles between steps
            cycles.append((0, np.zeros(lanes, dtype=np.int64), bias))
    return cycles, expect


def lanes_word(values, bits):
    w = 0
    for l, x in enumerate(values):
        w |= (int(x) & ((1 << bits) - 1)) << (l * bits)
    return w


@pytest.mark.parametrize("rows,cols", [(1, 1), (2, 3)])
def test_pe_array_matches_lif_model(rows, cols):
    w_bits, b_bits, acc_bits, v_bits = 6, 7, 10, 8
    lanes = rows * cols
    if lanes == 1:
        comp = LifPE(POPS, w_bits=w_bits, b_bits=b_bits, acc_bits=acc_bits, v_bits=v_bits)
        top, ports = "lif_pe", {"w": "w", "bias": "bias", "spike": "spike", "current": "current"}
    else:
        comp = PEArray(rows, cols, POPS, w_bits=w_bits, b_bits=b_bits, acc_bits=acc_bits, v_bits=v_bits)
        top, ports = "pe_array", {"w": "weights", "bias": "biases", "spike": "spikes", "current": "currents"}
    rng = np.random.default_rng(1234 + lanes)
    cycles, expect = op_stream(rng, lanes, 120, w_bits, b_bits, v_bits)
    job = {
        "in_op": np.array([str(c[0]) for c in cycles]),
        f"in_{ports['w']}": np.array([str(lanes_word(c[1], w_bits)) for c in cycles]),
        f"in_{ports['bias']}": np.array([str(lanes_word(c[2], b_bits)) for c in cycles]),
        "outputs": np.array([ports["spike"], ports["current"]]),
    }
    res = run_bench(build_component(comp, top), "spikestack.tb.cycle_tb", job)
    spikes = [int(x) for x in res[f"out_{ports['spike']}"]]
    currents = [int(x) for x in res[f"out_{ports['current']}"]]
    fired = 0
    for k, (cycle, current, spk) in enumerate(expect):
        got_i = [signed((currents[cycle - 1] >> (l * acc_bits)) & ((1 << acc_bits) - 1), acc_bits) for l in range(lanes)]
        assert got_i == current.tolist(), f"step {k}: currents {got_i} != {current.tolist()} (seed {1234 + lanes})"
        if spk is not None:
            got_s = [(spikes[cycle - 1] >> l) & 1 for l in range(lanes)]
            assert got_s == spk.tolist(), f"step {k}: spikes {got_s} != {spk.tolist()}"
            fired += int(spk.sum())
    assert fired > 0


@pytest.mark.parametrize("d_in,event_driven", [(1, True), (7, True), (16, True), (5, False)])
def test_event_encoder_matches_model(d_in, event_driven):
    from amaranth.lib import data
    meta = data.StructLayout({"tag": 6})
    enc = EventEncoder(d_in, meta, event_driven)
    rng = np.random.default_rng(d_in)
    rows = [(rng.random(d_in) < p).astype(np.uint8) for p in (0.0, 1.0, 0.3, 0.6, 0.1) * 6]
    # the bench offers row k (valid, tag = k) every cycle until accepted (ready), with random gaps
    n_cycles = sum(len(row_events(r, event_driven)) + 2 for r in rows) + 10
    job_rows = np.array([str(int("".join(map(str, r[::-1])), 2)) for r in rows])
    job = {"rows": job_rows, "n_cycles": np.int64(n_cycles),
           "rows_fields": np.array(layout_fields(enc.row_layout)),
           "events_fields": np.array(layout_fields(enc.event_layout))}
    res = run_bench(build_component(enc, "event_encoder"), "spikestack.tb.event_tb", job)
    got = [tuple(int(x) for x in e.split(",")) for e in res["events"]]
    want = [(j, a, f, l, k) for k, r in enumerate(rows) for (j, a, f, l) in row_events(r, event_driven)]
    assert got == want


class RegisteredHeadSelect(wiring.Component):
    """HeadSelect with its outputs registered: a clock for the cycle bench (the block is combinational)."""

    def __init__(self, **params):
        self.inner = HeadSelect(**params)
        super().__init__(dict(self.inner.signature.members))

    def elaborate(self, platform):
        m = Module()
        m.submodules.select = self.inner
        m.d.comb += self.inner.round.eq(self.round)
        for x in "qkv":
            m.d.sync += getattr(self.out, x).eq(getattr(self.inner.out, x))
            for r in range(self.inner.rounds):
                m.d.comb += getattr(getattr(self.inner, f"cand_{r}"), x).eq(getattr(getattr(self, f"cand_{r}"), x))
        return m


@pytest.mark.parametrize("n,d,rounds", [(5, 3, 2), (2, 1, 3)])
def test_head_select_matches_model(n, d, rounds):
    """An attention core's head slices by round (heads > cores): ``out`` is ``cand_<round>``, every
    bit, random slices and rounds each cycle."""
    rng = np.random.default_rng(100 * n + 10 * d + rounds)
    cycles = 60
    widths = {"q": d, "k": n * d, "v": n * d}
    cand = {(r, x): [int("".join(map(str, rng.integers(0, 2, w))), 2) for _ in range(cycles)]
            for r in range(rounds) for x, w in widths.items()}
    sel = rng.integers(0, rounds, cycles)
    job = {"in_round": np.array([str(r) for r in sel]),
           **{f"in_cand_{r}__{x}": np.array([str(v) for v in vals]) for (r, x), vals in cand.items()},
           "outputs": np.array([f"out__{x}" for x in widths])}
    res = run_bench(build_component(RegisteredHeadSelect(n=n, d=d, rounds=rounds), "head_select"),
                    "spikestack.tb.cycle_tb", job)
    for x in widths:
        got = [int(v) for v in res[f"out_out__{x}"]]
        want = [cand[(int(r), x)][c] for c, r in enumerate(sel)]
        assert got == want, f"out.{x}: first difference at cycle {next(c for c in range(cycles) if got[c] != want[c])}"
