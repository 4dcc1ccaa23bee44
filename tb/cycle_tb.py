"""A cycle-by-cycle cocotb bench for single blocks.

The job holds, for every input port, one value per cycle (``in_<port>``, Python ints as object
arrays are not allowed in .npz, so wide values come as decimal strings), and the list of output
ports to sample (``outputs``). Each cycle: drive the inputs, let the clock rise, sample the
outputs after the edge. The result holds ``out_<port>`` (decimal strings, one per cycle).
"""
from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge

from spikestack.tb.util import start_clock_and_reset, uint



@cocotb.test()
async def run_cycles(dut):
    job = np.load(os.environ["SPIKESTACK_JOB"], allow_pickle=False)
    inputs = {k[3:]: [int(x) for x in job[k]] for k in job.files if k.startswith("in_")}
    outputs = [str(x) for x in job["outputs"]]
    n = len(next(iter(inputs.values())))
    for port in inputs:
        getattr(dut, port).value = 0
    await start_clock_and_reset(dut)
    rec = {p: [] for p in outputs}
    for c in range(n):
        for port, vals in inputs.items():
            getattr(dut, port).value = vals[c]
        await RisingEdge(dut.clk)
        await FallingEdge(dut.clk)
        for p in outputs:
            rec[p].append(str(uint(getattr(dut, p))))
    np.savez(os.environ["SPIKESTACK_RESULT"], **{f"out_{p}": np.array(v) for p, v in rec.items()})
