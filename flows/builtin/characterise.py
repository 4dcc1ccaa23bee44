"""Characterisation of a routed block with OpenSTA, port by port: the numbers its liberty model
(:func:`spikestack.flows.formats.liberty.write_liberty`) is written from. See
:mod:`spikestack.flows.builtin.harden` for what each number is."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ..formats.liberty import pin_caps
from ..formats.rc import rc_entries
from ..formats.sta import parse_power
from ..formats.verilog import port_bits
from .platform import OSU018, FlowError

__all__ = ["characterise", "input_caps"]


def input_caps(netlist: str, rc_text: str, inputs: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """(total capacitance, wire capacitance) in pF of the net each input port drives."""
    caps = pin_caps()
    load = {p: 0.0 for p in inputs}
    wire = {p: 0.0 for p in inputs}
    for m in re.finditer(r"^\s*(\w+)\s+(\S+)\s*\((.*?)\);", netlist, re.M | re.S):
        cell = m.group(1)
        for pin, net in re.findall(r"\.(\w+)\(\s*([^()\s]+)\s*\)", m.group(3)):
            if net in load:
                load[net] += caps.get((cell, pin), 0.0)
    for _, drv, c, _ in rc_entries(rc_text):
        if drv.startswith("PIN/") and drv[4:] in load:
            wire[drv[4:]] += c
    return {p: load[p] + wire[p] for p in inputs}, wire


def _tcl_list(names) -> str:
    return "{" + " ".join("{" + n + "}" for n in names) + "}"


def characterise(work: Path, top: str, clock_ns: float, activity: float, clock: str = "clk",
                 propagated: bool = True, log_path: Path | None = None, libs=()) -> dict:
    """Time the routed block in ``work`` (run_flow's ``sta_net.v`` and ``loads.tcl``) port by port;
    see the module docstring for what each number is. ``libs``: the liberty models of the macros
    the block instantiates (SRAMs, hardened sub-blocks)."""
    netlist = (work / "sta_net.v").read_text()
    bits = port_bits(netlist, top)
    inputs = [b for b, d in bits if d == "input" and b != clock]
    outputs = [b for b, d in bits if d == "output"]
    rc = work / f"{top}.rc"
    caps, wire = input_caps(netlist, rc.read_text() if rc.exists() else "", inputs + [clock])
    # run_flow's loads.tcl reaches a port's net with get_nets -of_objects [get_ports ...], which this
    # OpenSTA rejects (inside a catch): the wire of each input port's net is set here by net name
    (work / "port_loads.tcl").write_text("".join(f"catch {{set_load {c:.6g} [get_nets {{{p}}}]}}\n"
                                                 for p, c in wire.items() if c > 0))
    tcl = [f"read_liberty {OSU018.liberty}", *(f"read_liberty {l}" for l in libs), "read_verilog sta_net.v",
           f"link_design {top}",
           f"create_clock -name clk -period {clock_ns} [get_ports {{{clock}}}]",
           "set_propagated_clock [all_clocks]" if propagated else "",
           f"set ins [get_ports {_tcl_list(inputs)}]" if inputs else "set ins {}",
           "if {[llength $ins]} {set_input_delay 0 -clock clk $ins}",
           "set_output_delay 0 -clock clk [all_outputs]", "source loads.tcl", "source port_loads.tcl",
           "set regd [all_registers -data_pins]", "set regc [all_registers -clock_pins]",
           f"set nout {max(1, len(outputs))}",
           "proc pe {tag ends} { foreach e $ends { if {![$e is_unconstrained]} {"
           " puts \"@@ $tag [get_full_name [[$e path] pin]] [$e slack] [$e data_arrival_time]\" } } }",
           f"foreach p {_tcl_list(inputs)} {{",
           "  foreach mm {max min} {",
           "    if {[llength $regd]} {pe \"REG $mm $p\" [find_timing_paths -from [get_ports $p] -to $regd -path_delay $mm]}",
           "    pe \"COMB $mm $p\" [find_timing_paths -from [get_ports $p] -to [all_outputs] -path_delay $mm"
           " -group_count $nout -endpoint_count 1]",
           "  }", "}",
           f"foreach load {{0 {OSU018.knobs.load_step_pf}}} {{",
           "  if {[llength [all_outputs]]} {set_load $load [all_outputs]}",
           f"  foreach o {_tcl_list(outputs)} {{",
           "    puts \"@@OUT $o $load\"",
           "    report_checks -to [get_ports $o] -path_delay max -fields {slew} -digits 4",
           "    puts \"@@CLK $o $load\"",
           "    if {[llength $regc]} {report_checks -from $regc -to [get_ports $o] -path_delay max -fields {slew} -digits 4}",
           "    puts \"@@CLKMIN $o $load\"",
           "    if {[llength $regc]} {report_checks -from $regc -to [get_ports $o] -path_delay min -fields {slew} -digits 4}",
           "  }", "}",
           "if {[llength [all_outputs]]} {set_load 0 [all_outputs]}",
           "puts \"@@CHECKS\"", "report_checks -path_delay max -digits 4",
           f"set_power_activity -global -activity {activity}", "puts \"@@POWER\"", "report_power -digits 6"]
    (work / "characterise.tcl").write_text("\n".join(tcl) + "\n")
    r = subprocess.run(["sta", "-no_splash", "-exit", "characterise.tcl"], cwd=work, capture_output=True, text=True)
    out = r.stdout + r.stderr
    if log_path:
        Path(log_path).write_text(out)
    if r.returncode or "Error" in out.replace("catch", ""):
        errs = [l for l in out.splitlines() if l.startswith("Error")]
        if r.returncode or errs:
            raise FlowError(f"OpenSTA characterisation failed: {errs[:3] or out[-300:]}")
    setup, hold, comb = {}, {}, {}
    for m in re.finditer(r"^@@ (REG|COMB) (max|min) (\S+) (\S+) (\S+) (\S+)$", out, re.M):
        kind, mm, src, end = m.group(1), m.group(2), m.group(3), m.group(4)
        slack, arr = float(m.group(5)) * 1e9, float(m.group(6)) * 1e9      # the Tcl API speaks seconds
        if kind == "REG":
            if mm == "max":
                setup[src] = max(setup.get(src, -1e9), clock_ns - slack)
            else:
                hold[src] = max(hold.get(src, -1e9), -slack)
        else:
            key = (src, end)
            c = comb.setdefault(key, {"max": None, "min": None})
            c[mm] = arr if c[mm] is None else (max(c[mm], arr) if mm == "max" else min(c[mm], arr))
    out_arcs: dict[str, dict] = {}
    for m in re.finditer(r"^@@(OUT|CLKMIN|CLK) (\S+) (\S+)\n(.*?)(?=^@@)", out, re.M | re.S):
        kind, o, load, rep = m.group(1), m.group(2), float(m.group(3)), m.group(4)
        arr = re.search(r"^\s*([-\d.]+)\s+data arrival time", rep, re.M)
        slew = re.search(r"^\s*([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+[v^]\s+" + re.escape(o) + r" \(out\)", rep, re.M)
        if not arr:
            continue
        d = out_arcs.setdefault(o, {}).setdefault(kind, {})
        d[load] = {"delay": float(arr.group(1)), "slew": float(slew.group(1)) if slew else 0.0}
    checks = out.split("@@CHECKS", 1)[1].split("@@POWER", 1)[0]
    slacks = [float(x) for x in re.findall(r"^\s*([-\d.]+)\s+slack \((?:MET|VIOLATED)\)", checks, re.M)]
    power = parse_power(out.split("@@POWER", 1)[1])
    worst = min(slacks) if slacks else None
    return {"inputs": inputs, "outputs": outputs, "clock": clock, "clock_ns": clock_ns,
            "propagated_clock": propagated, "activity": activity,
            "input_cap_pf": caps, "setup_ns": setup, "hold_ns": hold,
            "comb_ns": {f"{a}->{b}": v for (a, b), v in comb.items()}, "outputs_ns": out_arcs,
            "worst_slack_ns": worst, "critical_path_ns": clock_ns - worst if worst is not None else None,
            "power_w": power}
