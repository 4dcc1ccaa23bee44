"""Switching activity from the simulation of the design itself, for OpenSTA's power report.

The generated Verilog (2D top, or the stitched 3D top) is built on Verilator with VCD tracing
(:func:`spikestack.tb.harness.build` with ``trace=True``) and runs one real workload through the
ordinary bench (seeded :func:`~spikestack.sim.tensors.random_case`, the host loads the buffers,
``start``, wait for ``done``, read out). :func:`parse_vcd` counts the toggles of every traced bit
in the compute window only — from the rising edge of ``start`` to that of ``done`` — and the
clock's period gives the number of simulated cycles in that window.

OpenSTA 2.0.17 has no VCD/SAIF reader, so the measurement is handed over with
``set_power_activity``: ``-global -activity`` is the mean toggle rate (toggles per bit per cycle)
of the signal bits inside the blocks (the same set in the 2D and the 3D run: the split is
cycle-equivalent, so both get the same number). Every flip-flop of the gate netlist whose output
net still carries its RTL register name (``core_pe_array_pe_0_1_w_6_`` ←
``core.pe_array.pe_0_1.w[6]``) also has its own measured rate (:func:`register_activity`; names
are matched on their alphanumeric tokens, so synthesis' ``.``/``[``/``]`` → ``_`` mangling does not
matter). In this OpenSTA, ``-global`` overrides every pin's activity and ``-pins`` is broken, so
the per-register rates feed a separate, register-resolved report (``sta::set_power_pin_activity``
on each ``Q`` pin, without ``-global``): see :func:`spikestack.flows.analysis.sta3d.analyse`.

:func:`synaptic_ops` counts the workload's synaptic operations as the benchmarks do
(``plan.work``/``stage_work``: the synaptic adds of the routed work, plus the ANDs of Q·Kᵀ and
adds of A·V for MHA).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ...hw.layers import design_for
from ...sim.tensors import random_case
from ...tb.harness import build, simulate_full
__all__ = ["parse_vcd", "simulate_activity", "synaptic_ops", "register_activity", "activity_tcl", "name_key",
           "flops_of"]


def name_key(name: str) -> str:
    """A name reduced to its alphanumeric tokens, ``_``-joined (``a.b[3]`` == ``a_b_3_``)."""
    return "_".join(re.findall(r"[A-Za-z0-9]+", name))


def _bits(value: str) -> int:
    return int(re.sub(r"[^01]", "0", value), 2) if value else 0


def parse_vcd(path: Path, start: str = "start", done: str = "done", clock: str = "clk") -> dict:
    """Toggle counts per traced bit in the compute window of a bench's VCD.

    Returns ``{"cycles", "period_ps", "window_ps", "bits": {full_bit_name: toggles}, "top"}``;
    full bit names are the scope path below the top module, the variable's name and, for vectors,
    ``[i]`` (e.g. ``core.pe_array.pe_0_1.w[6]``). Verilator's ``$rootio`` scope (the ports seen
    from outside, duplicates of the top's) is left out."""
    ids: dict[str, list[tuple[str, int, int]]] = {}     # id -> [(name, width, lsb)]
    scope: list[str] = []
    top = None
    port_ids: dict[str, str] = {}
    with open(path) as f:
        for line in iter(f.readline, ""):
            if "$enddefinitions" in line:
                break
            tok = line.split()
            if not tok:
                continue
            if tok[0] == "$scope":
                scope.append(tok[2])
            elif tok[0] == "$upscope":
                scope.pop()
            elif tok[0] == "$var":
                width, code, name = int(tok[2]), tok[3], tok[4]
                lsb = 0
                if len(tok) > 6 and tok[5].startswith("["):
                    m = re.match(r"\[(\d+)(?::(\d+))?\]", tok[5])
                    if m:
                        lsb = min(int(m.group(1)), int(m.group(2) or m.group(1)))
                if scope and scope[0] == "$rootio":
                    port_ids[name] = code
                    continue
                if top is None:
                    top = scope[0]
                if len(scope) == 1 and name in (start, done, clock):
                    port_ids.setdefault(name, code)
                full = ".".join(scope[1:] + [name])
                ids.setdefault(code, []).append((full, width, lsb))
        body_start = f.tell()
    for need in (start, done, clock):
        if need not in port_ids:
            raise ValueError(f"{path}: no signal {need!r} in the VCD")
    c_start, c_done, c_clk = port_ids[start], port_ids[done], port_ids[clock]

    # pass 1: the compute window and the clock period
    t = 0
    t0 = t1 = None
    rises = []
    with open(path) as f:
        f.seek(body_start)
        for line in f:
            if line[0] == "#":
                t = int(line[1:])
                continue
            if line[0] in "01":
                code = line[1:].strip()
                if code == c_clk and line[0] == "1" and len(rises) < 64:
                    rises.append(t)
                elif code == c_start and line[0] == "1" and t0 is None:
                    t0 = t
                elif code == c_done and line[0] == "1" and t0 is not None and t1 is None:
                    t1 = t
                    break
    if t0 is None or t1 is None or len(rises) < 2:
        raise ValueError(f"{path}: no start -> done window (start at {t0}, done at {t1})")
    period = int(np.median(np.diff(rises)))

    # pass 2: toggles per bit inside (t0, t1]
    counts: dict[str, np.ndarray] = {code: np.zeros(max(w for _, w, _ in v), dtype=np.int64) for code, v in ids.items()}
    value: dict[str, int] = {}
    t = 0
    with open(path) as f:
        f.seek(body_start)
        for line in f:
            c0 = line[0]
            if c0 == "#":
                t = int(line[1:])
                if t > t1:
                    break
                continue
            if c0 == "b":
                v, code = line[1:].split()
                new = _bits(v)
            elif c0 in "01xzXZ":
                code = line[1:].strip()
                new = 1 if c0 == "1" else 0
            else:
                continue
            if code not in counts:
                continue
            old = value.get(code)
            value[code] = new
            if old is None or t <= t0:
                continue
            x = old ^ new
            cnt = counts[code]
            while x:
                low = x & -x
                i = low.bit_length() - 1
                if i < len(cnt):
                    cnt[i] += 1
                x ^= low
    bits: dict[str, int] = {}
    for code, names in ids.items():
        cnt = counts[code]
        for name, width, lsb in names:
            if width == 1:
                bits[name] = int(cnt[0])
            else:
                for i in range(width):
                    bits[f"{name}[{lsb + i}]"] = int(cnt[i])
    return {"top": top, "cycles": (t1 - t0) / period, "period_ps": period, "window_ps": [t0, t1], "bits": bits}


def synaptic_ops(cfg, spikes, tensors) -> int:
    """Synaptic operations of one input, counted as the benchmarks count them."""
    return design_for(cfg).plan.sops(spikes, tensors)


def simulate_activity(cfg, variant: str = "2d", seed: int = 0, rate: float = 0.2, workdir: Path | None = None,
                      log=print, precision: str | None = None) -> dict:
    """Run one seeded workload on the traced Verilator build of ``variant`` (``"2d"`` or
    ``"3d:<partition>"``) and measure its activity. Returns ``{"variant", "seed", "rate", "cycles",
    "sim_cycles_window", "mean_toggle_rate", "bits", "toggles": {name: rate}, "sops", "vcd"}``
    (``toggles``: per bit, toggles per cycle in the compute window; ``mean_toggle_rate``: their mean
    over the signals inside the blocks, ``bits`` of them). ``precision``: ``full`` or ``draft`` for a
    MoE with ``[elastic]`` (default: the configuration's)."""
    import tempfile
    spikes, tensors = random_case(cfg, seed=seed, rate=rate)
    log(f"[activity] {variant}: Verilator build with VCD tracing, workload seed {seed}, rate {rate} ...")
    b = build(cfg, variant, trace=True)
    workdir = Path(workdir or tempfile.mkdtemp(prefix="spikestack_act_")).resolve()
    r, = simulate_full(b, [(spikes, tensors)], workdir=workdir, waves=True,
                       precisions=[precision] if getattr(cfg, "elastic", None) is not None else None)
    vcd = parse_vcd(workdir / "dump.vcd")
    cycles = vcd["cycles"]
    clk = {k for k in vcd["bits"] if k.split(".")[-1] == "clk"}
    rates = {k: v / cycles for k, v in vcd["bits"].items() if k not in clk}
    # the mean over the blocks' own signals: the glue wires between blocks in the top scope (and,
    # in 3D, the tiers' port copies of them) are left out, so that the 2D and 3D runs of the same
    # blocks average the same signals (the tier split is cycle-equivalent: the same toggles)
    depth = 2 if variant.startswith("3d") else 1
    inner = [v for k, v in rates.items() if k.count(".") >= depth and not k.split("[")[0].endswith(".clk")]
    mean = float(np.mean(inner)) if inner else 0.0
    vcd_size = (workdir / "dump.vcd").stat().st_size
    (workdir / "dump.vcd").unlink()          # the counts are kept; the dump is not needed
    return {"variant": variant, "seed": seed, "rate": rate, "cycles": r["cycles"],
            "sim_cycles_window": cycles, "period_ps": vcd["period_ps"], "mean_toggle_rate": mean,
            "bits": len(inner), "named_bits": len(rates), "toggles": rates, "sops": synaptic_ops(cfg, spikes, tensors),
            "vcd_bytes": vcd_size, "source": "Verilator VCD (--trace) of the generated Verilog, "
                                                "toggles counted from start to done"}


def flops_of(netlist: str) -> dict[str, str]:
    """Flip-flop instances of a gate netlist -> the net on their ``Q`` pin."""
    out = {}
    for m in re.finditer(r"^\s*((?:DFF|LATCH)\w*)\s+(\S+)\s*\((.*?)\);", netlist, re.M | re.S):
        q = re.search(r"\.Q\(\s*([^)\s]+)\s*\)", m.group(3))
        if q:
            out[m.group(2)] = q.group(1)
    return out


def register_activity(flops: dict[str, str], toggles: dict[str, float]) -> dict[str, float]:
    """Flip-flop instance -> measured toggle rate, for every flop whose ``Q`` net name matches a
    traced RTL bit (token-wise, see :func:`name_key`)."""
    by_key = {name_key(k): v for k, v in toggles.items()}
    return {inst: by_key[name_key(q)] for inst, q in flops.items() if name_key(q) in by_key}


def activity_tcl(mean: float, per_pin: dict[str, float], digits: int = 4) -> str:
    """``set_power_activity`` commands: the global mean, then one per measured ``Q`` pin (pins
    with the same rounded rate share a command)."""
    lines = [f"set_power_activity -global -activity {mean:.6g}"]
    groups: dict[float, list[str]] = {}
    for pin, a in per_pin.items():
        groups.setdefault(round(min(max(a, 0.0), 1.0), digits), []).append(pin)
    for a, pins in sorted(groups.items()):
        for i in range(0, len(pins), 200):
            chunk = " ".join(pins[i:i + 200])
            lines.append(f"set_power_activity -pins [get_pins {{{chunk}}}] -activity {a:g}")
    return "\n".join(lines) + "\n"
