"""The cocotb bench every layer top runs on: load buffers, start, wait for done, read out.

It is generic over the layer kind: the design's plan (``spikestack.hw.layers``) says which host
ports to load with which words and how to decode the output buffer. The job file (path in
``SPIKESTACK_JOB``) holds the configuration TOML and one or more cases; the results file
(``SPIKESTACK_RESULT``) receives, per case, the raw output words and the cycle count.
"""
from __future__ import annotations

import os
import time

import tomllib

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge, with_timeout

from spikestack.config import parse_config
from spikestack.hw.layers import design_for
from spikestack.tb.util import start_clock_and_reset, uint


async def _write(dut, clk, port: str, words: list[int]):
    addr, data, en = (getattr(dut, f"{port}__{x}") for x in ("addr", "data", "en"))
    for a, w in enumerate(words):
        addr.value = a
        data.value = w
        en.value = 1
        await RisingEdge(clk)
    en.value = 0


def _probe_terms(dut, spec: str):
    """``label=term&term..``: a term is ``[!]inst.inst.signal`` (true when nonzero, or zero with ``!``)."""
    label, expr = spec.split("=", 1)
    terms = []
    for term in expr.split("&"):
        neg = term.startswith("!")
        handle = dut
        for part in term.lstrip("!").split("."):
            handle = getattr(handle, part)
        terms.append((neg, handle))
    return label, terms


async def _count(clk, done, probes, counts: dict):
    """Count, per probe, the clock cycles (sampled between edges) in which all its terms hold, until ``done``."""
    while True:
        await FallingEdge(clk)
        for label, terms in probes:
            if all((uint(h) == 0) == neg for neg, h in terms):
                counts[label] += 1
        if uint(done):
            return


async def _read(dut, clk, port: str, depth: int) -> list[int]:
    addr, data = getattr(dut, f"{port}__addr"), getattr(dut, f"{port}__data")
    out = []
    for a in range(depth):
        addr.value = a
        await RisingEdge(clk)
        await FallingEdge(clk)
        out.append(uint(data))
    return out


@cocotb.test()
async def run_layer(dut):
    job = np.load(os.environ["SPIKESTACK_JOB"], allow_pickle=False)
    cfg = parse_config(tomllib.loads(str(job["config"])))
    plan = design_for(cfg).plan
    clk = dut.clk
    dut.start.value = 0
    run_inputs = getattr(plan, "run_inputs", None)          # a MoE with [elastic]: the draft input
    precisions = [str(x) for x in job["precisions"]] if "precisions" in job.files else None
    for port, value in (run_inputs() if run_inputs else {}).items():
        getattr(dut, port).value = value
    for name in dir(dut):
        if name.endswith("__en") and "_host_" in name:   # writes off, reads enabled
            getattr(dut, name).value = int("_host_r" in name)
    await start_clock_and_reset(dut, int(job["reset_cycles"]) if "reset_cycles" in job.files else 3)
    results = {}
    n_cases = int(job["cases"])
    # keep_loaded: a buffer is written only when its words differ from those the bench last wrote
    # into it (weights loaded once for a run of cases), except the one the design writes (readout)
    keep = bool(job["keep_loaded"]) if "keep_loaded" in job.files else False
    design_written = plan.readout.replace("_host_r", "_host_w")
    loaded: dict[str, list[int]] = {}
    # probes (GLB accesses, tb.harness.simulate_full): cycles in which a condition on internal signals holds
    probes = [_probe_terms(dut, str(x)) for x in job["probes"]] if "probes" in job.files else []
    for c in range(n_cases):
        spikes = job[f"c{c}_spikes"]
        tensors = {k.split("_", 1)[1]: job[k] for k in job.files if k.startswith(f"c{c}_") and k != f"c{c}_spikes"}
        for port, words in plan.images(spikes, tensors).items():
            if keep and port != design_written and loaded.get(port) == words:
                continue
            await _write(dut, clk, port, words)
            loaded[port] = words
        for port, value in (run_inputs(precisions[c] if precisions else None) if run_inputs else {}).items():
            getattr(dut, port).value = value
        dut.start.value = 1
        await RisingEdge(clk)
        dut.start.value = 0
        t0 = time.perf_counter()
        counts = {label: 0 for label, _ in probes}
        counter = cocotb.start_soon(_count(clk, dut.done, probes, counts)) if probes else None
        await with_timeout(RisingEdge(dut.done), 10 * (plan.dense_cycles() + 1000) * 10, "ns")
        wall = time.perf_counter() - t0
        if counter is not None:
            await counter                 # it returns at the falling edge after done
            for label, v in counts.items():
                results[f"c{c}_probe_{label}"] = np.int64(v)
        else:
            await FallingEdge(clk)
        cycles = uint(dut.cycles)
        for name in plan.counters:
            results[f"c{c}_counter_{name}"] = np.int64(uint(getattr(dut, name)))
        words = await _read(dut, clk, plan.readout, plan.readout_depth())
        results[f"c{c}_spikes"] = plan.decode(words)
        results[f"c{c}_cycles"] = np.int64(cycles)
        results[f"c{c}_wall"] = np.float64(wall)
        dut._log.info("case %d: %d cycles", c, cycles)
    np.savez(os.environ["SPIKESTACK_RESULT"], **results)
