"""Liberty: the header of the libraries the flows write (SRAM macros, hardened blocks), the timing
model of a characterised block (:func:`write_liberty`, see :mod:`spikestack.flows.builtin.characterise`),
and the standard cells' pin capacitances read back."""
from __future__ import annotations

import functools
import re
from pathlib import Path

from ..builtin.platform import OSU018

__all__ = ["liberty_header", "pin_caps", "write_liberty"]


def liberty_header(library: str, vdd: float = 1.8) -> list[str]:
    """The opening lines of a liberty library written by the flows (SRAM macros, hardened blocks):
    units, thresholds and typical operating conditions at ``vdd``, up to the first template."""
    return [f"library({library}) {{",
            "  delay_model : table_lookup;", '  time_unit : "1ns";', '  voltage_unit : "1V";',
            '  current_unit : "1uA";', '  pulling_resistance_unit : "1kohm";', '  leakage_power_unit : "1nW";',
            "  capacitive_load_unit (1,pf);",
            "  slew_upper_threshold_pct_rise : 80;", "  slew_lower_threshold_pct_rise : 20;",
            "  slew_upper_threshold_pct_fall : 80;", "  slew_lower_threshold_pct_fall : 20;",
            "  input_threshold_pct_rise : 50;", "  input_threshold_pct_fall : 50;",
            "  output_threshold_pct_rise : 50;", "  output_threshold_pct_fall : 50;",
            "  nom_process : 1;", f"  nom_voltage : {vdd};", "  nom_temperature : 25;",
            f"  operating_conditions ( typical ) {{ process : 1; voltage : {vdd}; temperature : 25; }}",
            "  default_operating_conditions : typical;"]




@functools.cache
def pin_caps(liberty: Path = OSU018.liberty) -> dict[tuple[str, str], float]:
    """(cell, pin) -> input capacitance (pF) of the standard cells (read once per library)."""
    text = Path(liberty).read_text()
    caps = {}
    for cm in re.finditer(r"\bcell\s*\(\s*\"?(\w+)\"?\s*\)\s*\{", text):
        depth, i = 1, cm.end()
        start = i
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        body = text[start:i]
        for pm in re.finditer(r"\bpin\s*\(\s*\"?(\w+)\"?\s*\)\s*\{([^{}]*)", body):
            c = re.search(r"\bcapacitance\s*:\s*([\d.eE+-]+)", pm.group(2))
            if c:
                caps[(cm.group(1), pm.group(1))] = float(c.group(1))
    return caps


def _fmt(v: float) -> str:
    return f"{v:.5g}"


def _bus_groups(bits: list[str]) -> list[tuple[str, list[str]]]:
    """Group bit names ``a[3]``… into buses (in order of first appearance); scalars alone."""
    order, groups = [], {}
    for b in bits:
        m = re.fullmatch(r"(.+)\[(\d+)\]", b)
        base = m.group(1) if m else None
        key = base if base else ("", b)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(b)
    return [(k if isinstance(k, str) else None, groups[k]) for k in order]


def write_liberty(name: str, timing: dict, area_um2: float, path: Path, corner: str = "max") -> None:
    """The liberty model of a characterised block (see the module docstring). ``corner="min"``
    writes the same model with the shortest clk -> output and input -> output delays instead of the
    longest, for OpenSTA's ``read_liberty -min`` (hold checks in the parent)."""
    if corner not in ("max", "min"):
        raise ValueError(f"corner: 'max' or 'min', got {corner!r}")
    T = timing["clock_ns"]
    clock = timing["clock"]
    step = OSU018.knobs.load_step_pf
    power = timing["power_w"]
    # the block's internal + switching energy per clock cycle (W * ns -> pJ); OpenSTA 2.0.17 charges
    # rise_power and fall_power of an input pin each at the pin's transition density (2 / period
    # for a clock), so a quarter of it goes on each edge
    energy_pj = (power.get("internal", 0.0) + power.get("switching", 0.0)) * T * 1e3
    leak_nw = power.get("leakage", 0.0) * 1e9
    comb_to: dict[str, list[tuple[str, float]]] = {}
    for k, v in timing["comb_ns"].items():
        a, b = k.split("->")
        if v.get(corner) is not None:
            comb_to.setdefault(b, []).append((a, v[corner]))
    L = [f"/* Timing model of the hardened block {name}: clock {clock} {T} ns, written by spikestack.flows.builtin.harden.",
         f"   Activity {timing['activity']}; clock {'propagated' if timing['propagated_clock'] else 'ideal'}"
         f" inside the block; {corner} delays, rise = fall = the {'worse' if corner == 'max' else 'better'}"
         " of the two. */",
         *liberty_header(f"{name}_{'lib' if corner == 'max' else 'min_lib'}"),
         "  lu_table_template(harden_load) {", "    variable_1 : total_output_net_capacitance;",
         f'    index_1 ("0, {step}");', "  }"]
    ports = [(clock, "input")] + [(b, "input") for b in timing["inputs"]] + [(b, "output") for b in timing["outputs"]]
    direction = dict(ports)
    buses = _bus_groups([p for p, _ in ports])
    for base, members in buses:
        if base is not None:
            idx = [int(re.fullmatch(r".+\[(\d+)\]", m).group(1)) for m in members]
            L += [f"  type(bus_{base}_{len(members)}) {{", "    base_type : array;", "    data_type : bit;",
                  f"    bit_width : {len(members)};", f"    bit_from : {idx[0]};", f"    bit_to : {idx[-1]};",
                  f"    downto : {'true' if idx[0] >= idx[-1] else 'false'};", "  }"]
    L += [f"  cell({name}) {{", f"    area : {_fmt(area_um2)};", "    is_macro_cell : true;", "    dont_touch : true;", "    dont_use : true;",
          "    interface_timing : true;", f"    cell_leakage_power : {_fmt(leak_nw)};"]

    def table(kind: str, d0: float, d1: float) -> list[str]:
        return [f"        {kind}(harden_load) {{ values(\"{_fmt(d0)}, {_fmt(d1)}\"); }}"]

    def pin_body(p: str, ind: str) -> list[str]:
        out = [f"{ind}direction : {direction[p]};"]
        if direction[p] == "input":
            out.append(f"{ind}capacitance : {_fmt(timing['input_cap_pf'].get(p, 0.0))};")
        if p == clock:
            out += [f"{ind}clock : true;",
                    f"{ind}internal_power() {{ rise_power(scalar) {{ values(\"{_fmt(energy_pj / 4)}\"); }}"
                    f" fall_power(scalar) {{ values(\"{_fmt(energy_pj / 4)}\"); }} }}"]
        elif direction[p] == "input":
            for kind, table_ in (("setup_rising", timing["setup_ns"]), ("hold_rising", timing["hold_ns"])):
                if p in table_:
                    v = _fmt(table_[p])
                    out += [f"{ind}timing() {{", f"{ind}  related_pin : \"{clock}\";", f"{ind}  timing_type : {kind};",
                            f"{ind}  rise_constraint(scalar) {{ values(\"{v}\"); }}",
                            f"{ind}  fall_constraint(scalar) {{ values(\"{v}\"); }}", f"{ind}}}"]
        else:
            arcs = timing["outputs_ns"].get(p, {})
            slope = 0.0
            allp = arcs.get("OUT") or arcs.get("CLK") or {}
            if 0.0 in allp and step in allp:
                slope = max(0.0, (allp[step]["delay"] - allp[0.0]["delay"]) / step)
            slews = (allp.get(0.0, {}).get("slew", 0.0), allp.get(step, {}).get("slew", 0.0))
            clk_arc = arcs.get("CLK" if corner == "max" else "CLKMIN", {})
            if 0.0 in clk_arc:
                d0 = clk_arc[0.0]["delay"]
                d1 = clk_arc.get(step, {}).get("delay", d0 + slope * step)
                out += [f"{ind}timing() {{", f"{ind}  related_pin : \"{clock}\";", f"{ind}  timing_type : rising_edge;"]
                for k in ("cell_rise", "cell_fall"):
                    out += [l.replace("        ", ind + "  ", 1) for l in table(k, d0, d1)]
                for k in ("rise_transition", "fall_transition"):
                    out += [l.replace("        ", ind + "  ", 1) for l in table(k, *slews)]
                out.append(f"{ind}}}")
            for src, d in comb_to.get(p, []):
                out += [f"{ind}timing() {{", f"{ind}  related_pin : \"{src}\";", f"{ind}  timing_type : combinational;",
                        f"{ind}  timing_sense : non_unate;"]
                for k in ("cell_rise", "cell_fall"):
                    out += [l.replace("        ", ind + "  ", 1) for l in table(k, d, d + slope * step)]
                for k in ("rise_transition", "fall_transition"):
                    out += [l.replace("        ", ind + "  ", 1) for l in table(k, *slews)]
                out.append(f"{ind}}}")
        return out

    for base, members in buses:
        if base is None:
            p = members[0]
            L += [f"    pin({p}) {{"] + pin_body(p, "      ") + ["    }"]
        else:
            L += [f"    bus({base}) {{", f"      bus_type : bus_{base}_{len(members)};",
                  f"      direction : {direction[members[0]]};"]
            for p in members:
                L += [f"      pin({p}) {{"] + pin_body(p, "        ") + ["      }"]
            L += ["    }"]
    L += ["  }", "}", ""]
    Path(path).write_text("\n".join(L))
