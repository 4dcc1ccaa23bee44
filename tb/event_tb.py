"""cocotb bench of the event encoder: offers rows with valid/ready (with random idle gaps) and
records every event emitted as ``j,add,first,last,tag`` (the tag is the row's index)."""
from __future__ import annotations

import os
import random

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge, Timer

from spikestack.tb.util import start_clock_and_reset, uint



@cocotb.test()
async def run_events(dut):
    job = np.load(os.environ["SPIKESTACK_JOB"], allow_pickle=False)
    rows = [int(x) for x in job["rows"]]
    d_in = int(job["d_in"])
    jbits = max(1, (max(2, d_in) - 1).bit_length())
    rnd = random.Random(7)
    dut.rows__valid.value = 0
    await start_clock_and_reset(dut)
    events, k = [], 0
    for _ in range(int(job["n_cycles"]) * 3):
        offer = k < len(rows) and rnd.random() < 0.8
        dut.rows__valid.value = int(offer)
        dut.rows__payload.value = (rows[k] | (k << d_in)) if offer else 0
        await Timer(1, "ns")                      # let the combinational outputs settle
        if uint(dut.events__valid):
            p = uint(dut.events__payload)
            j = p & ((1 << jbits) - 1)
            add, first, last = ((p >> (jbits + i)) & 1 for i in range(3))
            tag = p >> (jbits + 3)
            events.append(f"{j},{add},{first},{last},{tag}")
        if offer and uint(dut.rows__ready):
            k += 1
        await RisingEdge(dut.clk)
        await FallingEdge(dut.clk)
    np.savez(os.environ["SPIKESTACK_RESULT"], events=np.array(events))
