"""cocotb bench of the event encoder: offers rows with valid/ready (with random idle gaps) and
records every event emitted as ``j,add,first,last,tag`` (the tag is the row's index).

The job holds the rows, the cycle budget and the two ports' payload fields
(:func:`spikestack.tb.streams.layout_fields`): the payloads are packed and unpacked through them."""
from __future__ import annotations

import os
import random

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge, Timer

from spikestack.tb.streams import StreamSink, StreamSource
from spikestack.tb.util import start_clock_and_reset


@cocotb.test()
async def run_events(dut):
    job = np.load(os.environ["SPIKESTACK_JOB"], allow_pickle=False)
    rows = [int(x) for x in job["rows"]]
    source = StreamSource(dut, "rows", str(job["rows_fields"]))
    sink = StreamSink(dut, "events", str(job["events_fields"]))
    rnd = random.Random(7)
    await start_clock_and_reset(dut)
    events, k = [], 0
    for _ in range(int(job["n_cycles"]) * 3):
        offer = k < len(rows) and rnd.random() < 0.8
        if offer:
            source.offer({"spikes": rows[k], "meta.tag": k})
        else:
            source.idle()
        await Timer(1, "ns")                      # let the combinational outputs settle
        if sink.fired():
            e = sink.payload()
            events.append(",".join(str(e[f]) for f in ("j", "add", "first", "last", "meta.tag")))
        if offer and source.taken():
            k += 1
        await RisingEdge(dut.clk)
        await FallingEdge(dut.clk)
    np.savez(os.environ["SPIKESTACK_RESULT"], events=np.array(events))
