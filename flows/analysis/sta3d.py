"""Timing and power of the routed designs as wholes: the stitched two-tier 3D design, the 2D design.

After the built-in flow (:func:`spikestack.flows.builtin.flow.run_flow`) has routed each tier on its
own, :func:`stitch_netlist` writes a 3D top that instantiates both tiers' routed gate netlists
(each flow's ``work/sta_net.v``; module names are the tier names) joined by the bond nets of the
F2F map, and :func:`analyse` runs one OpenSTA session on it:

* **wire loads** — each tier's qrouter RC trees (``work/<tier>.rc``, the same data its
  ``loads.tcl`` was written from, for the tier as top) re-targeted with the instance prefix
  (``tier_top/NAND2X1_3/Y``) by :func:`loads_3d_tcl`. A bond net is one electrical net from the
  driver in one tier to its sinks in the other, so it gets one lumped load on the driver's net:
  the driving tier's wire C + the bond's C (:class:`~spikestack.flows.ppa.Bond` ``c_ff``, hybrid bond 0.6 fF) + the receiving
  tier's wire C. A top-level input shared by both tiers (``clk``, ``rst``) gets the sum of both
  tiers' wire C.
* **bond resistance** — the flow models wires as lumped C without R, so a bond's R adds an RC
  delay R x (C downstream of the bond: bond C + receiving wire C + receiving pins' input C); it is
  computed for every bond (:func:`bond_rc_delays`) and reported (worst bond: a fraction of a
  picosecond for 3 Ω — negligible against gate delays of ~100 ps), not annotated.
* **timing** — the worst path of the whole 3D design (its fmax), which tiers it runs through;
  each tier's worst internal register-to-register path; the **memory-access path**: the worst
  path from the GLB storage (flip-flops, or later SRAM macros, whose instance or output net names
  start with a memory block's name: ``activation_glb``, ``weight_glb_0``, ``router_weights``,
  ``q_glb``, ...) to a register of a PE core (``expert_core_*``, ``proj_core_*``,
  ``attention_core_*``, ``core``) — the same selection in 2D and 3D;
* **power** — with the switching activity measured on the simulation of the same design
  (:mod:`spikestack.flows.analysis.activity`): ``-global`` set to the measured mean toggle rate (the
  headline figure), and in a second OpenSTA run a register-resolved figure (each matched
  flip-flop's ``Q`` pin at its measured rate, inputs at the mean rate, the rest propagated by
  OpenSTA; this OpenSTA's ``-global`` overrides every pin's own activity, hence two runs).

The same analysis runs on the 2D design's routed netlist (``analyse`` with one netlist), so the
2D and 3D numbers come from one method. The wire loads can instead be a SPEF (``loads_tcl`` =
``read_spef ...``: :mod:`spikestack.flows.analysis.spef`), as for the co-placed 3D design and the 2D design
beside it.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .activity import activity_tcl, flops_of, name_key
from ..formats.liberty import pin_caps
from ..formats.rc import rc_entries
from ..formats.sta import parse_power
from ..formats.verilog import cells_of
from ..builtin.platform import OSU018, FlowError

__all__ = ["stitch_netlist", "module_ports", "loads_3d_tcl", "bond_rc_delays", "analyse", "block_prefixes",
           "parse_paths", "select_instances", "bus_bits"]

_PORT_DECL = re.compile(r"^\s*(input|output|inout)\s+(?:\[(\d+):(\d+)\]\s+)?([^\s;]+)\s*;", re.M)


def module_ports(netlist: str) -> dict[str, tuple[str, int, int]]:
    """Ports of a flat gate netlist's module: ``name -> (direction, msb, lsb)`` (-1, -1: scalar)."""
    out = {}
    for d, msb, lsb, name in _PORT_DECL.findall(netlist):
        out[name] = (d, int(msb) if msb else -1, int(lsb) if lsb else -1)
    return out


def bus_bits(name: str, msb: int, lsb: int) -> list[str]:
    if msb < 0:
        return [name]
    lo, hi = min(msb, lsb), max(msb, lsb)
    return [f"{name}[{i}]" for i in range(lo, hi + 1)]


def stitch_netlist(tier_nets: dict[str, str], top: str, bonds: list[str] | None = None) -> tuple[str, dict]:
    """The 3D top joining the tiers' gate netlists by name.

    A port that is an output of one tier and an input of the other is a bond (an internal net of
    the 3D top); ``bonds`` (the F2F map's bond names), when given, must be exactly that set. Any
    other port is a port of the 3D top (an input of both tiers, e.g. ``clk``, is one input).
    Returns ``(verilog, info)`` with ``info = {"bonds": {name: (from, to, msb, lsb)}, "inputs",
    "outputs"}``."""
    ports = {t: module_ports(text) for t, text in tier_nets.items()}
    tiers = list(tier_nets)
    if len(tiers) != 2:
        raise FlowError(f"stitch: expected two tiers, got {tiers}")
    a, b = tiers
    found_bonds, inputs, outputs = {}, {}, {}
    for name in sorted(set(ports[a]) | set(ports[b])):
        pa, pb = ports[a].get(name), ports[b].get(name)
        if pa and pb:
            if (pa[1], pa[2]) != (pb[1], pb[2]):
                raise FlowError(f"stitch: port {name} is [{pa[1]}:{pa[2]}] in {a} but [{pb[1]}:{pb[2]}] in {b}")
            dirs = (pa[0], pb[0])
            if dirs == ("output", "input"):
                found_bonds[name] = (a, b, pa[1], pa[2])
            elif dirs == ("input", "output"):
                found_bonds[name] = (b, a, pa[1], pa[2])
            elif dirs == ("input", "input"):
                inputs[name] = (pa[1], pa[2])
            else:
                raise FlowError(f"stitch: port {name} is driven by both tiers")
        else:
            p = pa or pb
            (inputs if p[0] == "input" else outputs)[name] = (p[1], p[2])
    if bonds is not None and set(bonds) != set(found_bonds):
        missing, extra = set(bonds) - set(found_bonds), set(found_bonds) - set(bonds)
        raise FlowError(f"stitch: bond ports differ from the F2F map (missing {sorted(missing)[:5]}, "
                        f"unexpected {sorted(extra)[:5]})")

    def rng(msb, lsb):
        return f"[{msb}:{lsb}] " if msb >= 0 else ""
    lines = [f"// stitched two-tier 3D top: {a} and {b} joined by {len(found_bonds)} bond signals",
             f"module {top} ({', '.join(list(inputs) + list(outputs))});"]
    lines += [f"input {rng(*w)}{n};" for n, w in inputs.items()]
    lines += [f"output {rng(*w)}{n};" for n, w in outputs.items()]
    lines += [f"wire {rng(m, l)}{n};" for n, (_, _, m, l) in found_bonds.items()]
    for t in tiers:
        conns = ", ".join(f".{p}({p})" for p in ports[t])
        lines.append(f"{t} {t} ({conns});")
    lines.append("endmodule")
    return "\n".join(lines) + "\n", {"bonds": found_bonds, "inputs": inputs, "outputs": outputs}


def loads_3d_tcl(tier_rc: dict[str, str], info: dict, bond_c_pf: float) -> tuple[str, dict]:
    """``set_load`` per net of the stitched design (see module docstring); returns the Tcl and
    ``{bond bit: {"driver_c", "receiver_c", "bond_c", "sinks"}}`` (pF)."""
    bond_bits = {}
    for name, (frm, to, msb, lsb) in info["bonds"].items():
        for bit in bus_bits(name, msb, lsb):
            bond_bits[bit] = {"from": frm, "to": to, "driver": None, "driver_c": 0.0, "receiver_c": 0.0,
                              "bond_c": bond_c_pf, "sinks": []}
    input_c: dict[str, float] = {}
    lines = []
    for tier, rc in tier_rc.items():
        for net, drv, c, sinks in rc_entries(rc):
            if drv.startswith("PIN/"):
                port = drv[4:]
                if port in bond_bits and bond_bits[port]["to"] == tier:
                    bond_bits[port]["receiver_c"] += c
                    bond_bits[port]["sinks"] += [f"{tier}/{s}" for s in sinks if not s.startswith("PIN/")]
                else:
                    input_c[port] = input_c.get(port, 0.0) + c
                continue
            if drv == "ERROR" or "/" not in drv:
                continue
            if net in bond_bits and bond_bits[net]["from"] == tier:
                bond_bits[net]["driver"] = f"{tier}/{drv}"
                bond_bits[net]["driver_c"] += c
                continue
            lines.append(f"catch {{set_load {c:.6g} [get_nets -of_objects [get_pins {{{tier}/{drv}}}]]}}")
    for port, c in input_c.items():
        lines.append(f"catch {{set_load {c:.6g} [get_nets {{{port}}}]}}")
    for bit, e in bond_bits.items():
        total = e["driver_c"] + e["bond_c"] + e["receiver_c"]
        obj = (f"[get_nets -of_objects [get_pins {{{e['driver']}}}]]" if e["driver"] else f"[get_nets {{{bit}}}]")
        lines.append(f"catch {{set_load {total:.6g} {obj}}}")
    return "\n".join(lines) + "\n", bond_bits


def bond_rc_delays(bond_bits: dict, cells: dict[str, str], r_ohm: float) -> dict:
    """Elmore delay of each bond's resistance: R x (bond C + receiving wire C + sink pin C)."""
    caps = pin_caps()
    worst, worst_bit, total = 0.0, None, []
    for bit, e in bond_bits.items():
        c_pins = 0.0
        for s in e["sinks"]:
            tier, inst, pin = s.split("/", 2)
            c_pins += caps.get((cells.get(f"{tier}/{inst}", ""), pin), 0.0)
        c_down = e["bond_c"] + e["receiver_c"] + c_pins            # pF
        d_ps = r_ohm * c_down * 1e-12 * 1e12                        # ohm * pF = ps
        total.append(d_ps)
        if d_ps >= worst:
            worst, worst_bit = d_ps, bit
    return {"r_ohm": r_ohm, "worst_ps": worst, "worst_bond": worst_bit,
            "mean_ps": sum(total) / len(total) if total else 0.0, "annotated": False,
            "note": "R x downstream C (bond C + receiving wire C + sink pin C); the flow's wires are "
                    "lumped C without R, so this delay is not added to the paths: it is reported as "
                    "negligible next to a gate delay (~100 ps in osu018)"}


def block_prefixes(design) -> tuple[list[str], list[str]]:
    """(memory block names, PE core block names) of a layer's block graph: GLBs are the blocks of
    role ``memory``, PE cores those of role ``logic``."""
    mem = [b.name for b in design.blocks.values() if b.role == "memory"]
    pe = [b.name for b in design.blocks.values() if b.role == "logic"]
    return mem, pe


def select_instances(netlist: str, prefixes: list[str], path_prefix: str = "") -> list[str]:
    """Instances whose name or (flip-flops) ``Q`` net starts with one of the block names."""
    keys = [name_key(p) + "_" for p in prefixes]
    flops = flops_of(netlist)
    cells = cells_of(netlist)
    out = []
    for inst in cells:
        q = flops.get(inst)
        names = [inst] + ([q] if q else [])
        if any(name_key(n).startswith(k) or name_key(n) + "_" == k for n in names for k in keys):
            if q is not None or not re.match(r"^[A-Z0-9]+X\d+_\d+$", inst):   # a flop or a macro
                out.append(path_prefix + inst)
    return out


def sram_instances(netlist: str, path_prefix: str = "") -> list[str]:
    """The SRAM macro instances (``spikestack_sram_*`` cells of :mod:`spikestack.flows.builtin.sram`). Synthesis
    renames them after their cell, not their block; every one is a GLB (only the layer's GLBs,
    memory blocks of the top, become macros), so all of them are GLB storage."""
    return [path_prefix + inst for inst, cell in cells_of(netlist).items() if cell.startswith("spikestack_sram_")]


_OUT_PINS = ("Y", "Q", "YC", "YS")


_GATE = re.compile(r"^\s*([A-Za-z]\w*)\s+(\S+)\s*\((.*?)\);", re.M | re.S)
_CONN = re.compile(r"\.([\w\[\]]+)\(\s*([^)\s]*)\s*\)")     # .pin(net), bus pins of macros too: .w[0](..)


def _gate_instances(netlist: str):
    """``(cell, instance, [(pin, net)])`` of every instance of a flat gate netlist."""
    for m in _GATE.finditer(netlist):
        if m.group(1) not in ("module", "input", "output", "wire", "inout", "assign"):
            yield m.group(1), m.group(2), _CONN.findall(m.group(3))


def _graph(netlist: str):
    """(instance -> cell, instance -> {pin: net}) of a flat gate netlist."""
    cells, pins = {}, {}
    for cell, inst, conns in _gate_instances(netlist):
        cells[inst] = cell
        pins[inst] = dict(conns)
    return cells, pins


def flat_view(tier_nets: dict[str, str]) -> str:
    """The stitched design as one flat instance list (for graph walks, not for STA): instances
    and internal nets prefixed ``<tier>/``, port nets kept (a bond is one net of both tiers)."""
    out = []
    for tier, text in tier_nets.items():
        ports = set(module_ports(text))

        def net(n, tier=tier, ports=ports):
            return n if n.split("[")[0] in ports or not n else f"{tier}/{n}"
        for cell, inst, pins in _gate_instances(text):
            conns = ", ".join(f".{p}({net(n)})" for p, n in pins)
            out.append(f"{cell} {tier}/{inst} ( {conns} );")
    return "\n".join(out) + "\n"


def glb_read_registers(netlist: str, storage: list[str], pe: list[str], other_blocks: list[str]) -> list[str]:
    """The GLBs' read-port registers: flip-flops one combinational stage after the storage
    (their ``D`` cone holds a storage flop) and one before a PE register (their ``Q`` reaches a PE
    register's ``D`` through logic only), neither storage nor PE, and not named after another
    block (a sequencer or dispatcher register reading the GLB is not part of it). Synthesis
    places the read register of a synchronous read port where it can: merged into the reading
    register inside one netlist (2D), but in the memory tier when the reader is on the other tier."""
    cells, pins = _graph(netlist)
    flops = {i for i, c in cells.items() if "Q" in pins[i] and c.startswith(("DFF", "LATCH"))}
    drv, loads = {}, {}
    for i, ps in pins.items():
        for p, n in ps.items():
            if p in _OUT_PINS:
                drv[n] = i
            else:
                loads.setdefault(n, []).append(i)

    def forward(starts):
        seen, reached, todo = set(), set(), [pins[i]["Q"] for i in starts if "Q" in pins[i]]
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            for i in loads.get(n, []):
                if i in flops:
                    reached.add(i)
                else:
                    todo += [pins[i][p] for p in _OUT_PINS if p in pins[i]]
        return reached

    def backward(ends):
        # a flop's D, or every pin of a hardened block (its inputs are timing-check endpoints)
        seen, reached, todo = set(), set(), [n for i in ends for p, n in pins[i].items()
                                             if p == "D" or ("D" not in pins[i] and p not in ("clk", "CLK"))]
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            i = drv.get(n)
            if i is None:
                continue
            if i in flops:
                reached.add(i)
            else:
                todo += [v for p, v in pins[i].items() if p not in _OUT_PINS]
        return reached
    st, pe_set = set(storage), set(pe)
    cand = forward(st) & backward(pe_set)
    keys = [name_key(b) + "_" for b in other_blocks]
    return sorted(i for i in cand - st - pe_set if not any(name_key(pins[i]["Q"]).startswith(k) for k in keys))


_SECTION = re.compile(r"^@@ (\S+)\s*$", re.M)


def parse_paths(text: str) -> dict:
    """The first ``report_checks`` path of a log section: start/end points, arrival, slack, pins."""
    if "No paths found" in text or "slack" not in text:
        return {"found": False}
    sp = re.search(r"Startpoint: (\S+)", text)
    ep = re.search(r"Endpoint: (\S+)", text)
    arr = re.search(r"^\s*([-\d.]+)\s+data arrival time", text, re.M)
    slack = re.search(r"^\s*([-\d.]+)\s+slack \((MET|VIOLATED)\)", text, re.M)
    setup = re.search(r"^\s*([-\d.]+)\s+[-\d.]+\s+library setup time", text, re.M)
    body = text.split("data arrival time")[0]
    pins = re.findall(r"^\s*[-\d.]+\s+[-\d.]+\s+[\^v]\s+(\S+)\s+\(", body, re.M)
    tiers = []
    for p in pins:
        t = p.split("/")[0] if "/" in p and p.count("/") >= 2 else None
        if t and (not tiers or tiers[-1] != t):
            tiers.append(t)
    return {"found": True, "startpoint": sp.group(1) if sp else None, "endpoint": ep.group(1) if ep else None,
            "arrival_ns": float(arr.group(1)) if arr else None, "slack_ns": float(slack.group(1)) if slack else None,
            "setup_ns": -float(setup.group(1)) if setup else 0.0, "pins": len(pins), "tiers": tiers}


def _tcl_list(items: list[str]) -> str:
    return "{" + " ".join(items) + "}"


def analyse(out_dir: Path, top: str, netlists: dict[str, str], loads_tcl: str, clock_ns: float,
            mem_cells: list[str], pe_cells: list[str], tier_regs: dict[str, tuple[list[str], list[str]]] | None = None,
            activity: dict | None = None, reg_activity: dict[str, float] | None = None,
            input_activity: float | None = None, log_name: str = "sta", libs: list[str] = (),
            paths: dict[str, tuple[list[str], list[str]]] | None = None) -> dict:
    """One OpenSTA session on ``top`` (its module and all sub-modules in ``netlists``: file name
    -> text): worst path, memory-access path (``mem_cells`` -> ``pe_cells``), the worst path of each
    of ``paths`` (name -> (from cells, to cells): ``res["paths"][name]``), per-tier internal
    register-to-register paths (``tier_regs``: tier -> (its flop instances, same)) and power
    with the measured activity (``activity["mean_toggle_rate"]``, ``reg_activity``: flop instance
    -> rate); ``libs``: more liberty files (SRAM macros). Writes ``<log_name>.tcl`` and ``logs/<log_name>.log`` under ``out_dir``."""
    out_dir = Path(out_dir)
    (out_dir / "logs").mkdir(parents=True, exist_ok=True)
    for fname, text in netlists.items():
        (out_dir / fname).write_text(text)
    (out_dir / f"{log_name}_loads.tcl").write_text(loads_tcl)
    tcl = [f"read_liberty {lib}" for lib in (str(OSU018.liberty), *libs)] + [f"read_verilog {f}" for f in netlists] + [
        f"link_design {top}",
        f"create_clock -name clk -period {clock_ns} [get_ports clk]",
        "set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports clk]]",
        "set_output_delay 0 -clock clk [all_outputs]",
        f"source {log_name}_loads.tcl",
    ]
    head = list(tcl)
    tcl += ['puts "@@ worst"', "report_checks -path_delay max -digits 4"]
    if mem_cells and pe_cells:
        tcl += [f"set mem_cells [get_cells {_tcl_list(mem_cells)}]", f"set pe_cells [get_cells {_tcl_list(pe_cells)}]",
                'puts "@@ memory_access"', "report_checks -from $mem_cells -to $pe_cells -path_delay max -digits 4"]
    for name, (a, b) in (paths or {}).items():
        if a and b:
            tcl += [f'puts "@@ path_{name}"', f"report_checks -from [get_cells {_tcl_list(a)}] "
                                              f"-to [get_cells {_tcl_list(b)}] -path_delay max -digits 4"]
    for tier, (regs, _) in (tier_regs or {}).items():
        if regs:
            tcl += [f"set regs_{tier} [get_cells {_tcl_list(regs)}]", f'puts "@@ internal_{tier}"',
                    f"report_checks -from $regs_{tier} -to $regs_{tier} -path_delay max -digits 4"]
    if activity is not None:
        tcl += [activity_tcl(activity["mean_toggle_rate"], {}).strip(), 'puts "@@ power_global"', "report_power -digits 6"]
    (out_dir / f"{log_name}.tcl").write_text("\n".join(tcl) + "\n")
    log = out_dir / "logs" / f"{log_name}.log"
    with open(log, "w") as f:
        r = subprocess.run(["sta", "-exit", f"{log_name}.tcl"], cwd=out_dir, stdout=f, stderr=subprocess.STDOUT)
    text = log.read_text()
    if r.returncode or "@@ worst" not in text:
        raise FlowError(f"OpenSTA failed on {top}; see {log}")
    sections = dict(zip(_SECTION.findall(text), _SECTION.split(text)[2::2]))
    res = {"top": top, "clock_ns": clock_ns, "log": str(log)}
    w = parse_paths(sections.get("worst", ""))
    res["worst_path"] = w
    if w.get("slack_ns") is not None:
        res["critical_path_ns"] = clock_ns - w["slack_ns"]
        res["fmax_mhz"] = 1e3 / res["critical_path_ns"] if res["critical_path_ns"] > 0 else None
    if "memory_access" in sections:
        res["memory_access"] = _timed_path(sections["memory_access"], clock_ns)
    res["paths"] = {name: _timed_path(sections.get(f"path_{name}", ""), clock_ns) for name in (paths or {})}
    res["internal"] = {tier: _timed_path(sections.get(f"internal_{tier}", ""), clock_ns)
                       for tier in (tier_regs or {})}
    if activity is not None:
        res["power_w"] = parse_power(sections.get("power_global", ""))
    if activity is not None and reg_activity is not None:
        res.update(_register_power(out_dir, top, netlists, head, activity, reg_activity, input_activity, log_name))
    return res


def _register_power(out_dir: Path, top: str, netlists: dict[str, str], head: list[str], activity: dict,
                    reg_activity: dict[str, float], input_activity: float | None, log_name: str) -> dict:
    """Register-resolved power, in its own OpenSTA run: inputs at the mean toggle rate, each
    matched flip-flop's ``Q`` at its own rate, no ``-global`` (which would override them). Two
    workarounds for OpenSTA 2.0.17: ``set_power_activity -pins`` is broken (it calls a missing
    ``get_pins_error``), so ``sta::set_power_pin_activity`` is called per pin; its activity
    propagation crashes on some netlists with constant-tied inputs (``wire gnd = 1'b0``), so this
    run reads copies whose tie nets are left undriven (a handful of pins; timing is not taken from
    this run)."""
    names = {}
    for fname, text in netlists.items():
        untied = re.sub(r"^\s*wire\s+\w+\s*=\s*1'b[01]\s*;\s*$", "", text, flags=re.M)
        names[fname] = f"untied_{fname}"
        (out_dir / names[fname]).write_text(untied)
    tcl = [re.sub(r"^read_verilog (\S+)$", lambda m: f"read_verilog {names.get(m.group(1), m.group(1))}", line)
           for line in head]
    inp = activity["mean_toggle_rate"] if input_activity is None else input_activity
    tcl.append(f"set_power_activity -input -activity {inp:.6g}")
    groups: dict[float, list[str]] = {}
    for inst, a in reg_activity.items():
        groups.setdefault(round(min(max(a, 0.0), 1.0), 4), []).append(f"{inst}/Q")
    for a, ps in sorted(groups.items()):
        for k in range(0, len(ps), 200):
            tcl.append(f"foreach p [get_pins {_tcl_list(ps[k:k + 200])}] {{ sta::set_power_pin_activity $p {a:g} 0.5 }}")
    tcl += ['puts "@@ power_registers"', "report_power -digits 6"]
    name = f"{log_name}_registers"
    (out_dir / f"{name}.tcl").write_text("\n".join(tcl) + "\n")
    log = out_dir / "logs" / f"{name}.log"
    with open(log, "w") as f:
        r = subprocess.run(["sta", "-exit", f"{name}.tcl"], cwd=out_dir, stdout=f, stderr=subprocess.STDOUT)
    text = log.read_text()
    power = parse_power(text.split("@@ power_registers")[-1]) if "@@ power_registers" in text else {}
    if r.returncode or not power:
        return {"power_registers_w": None, "power_registers_error": f"OpenSTA exit {r.returncode}; see {log}"}
    return {"power_registers_w": power, "registers_log": str(log)}


def _timed_path(section: str, clock_ns: float) -> dict:
    """One reported path of OpenSTA (:func:`parse_paths`) with its delay: clock-to-Q + logic +
    wires + setup = the clock period minus the slack."""
    p = parse_paths(section)
    if p.get("found"):
        p["delay_ns"] = clock_ns - p["slack_ns"]
    return p

