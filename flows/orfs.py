"""OpenROAD-flow-scripts design directories for a configuration (2D top, and each tier of a split).

``write_orfs(cfg, platform, out_dir, partition=None)`` writes, mirroring ORFS's own layout so that
the two folders can be copied into ``OpenROAD-flow-scripts/flow/designs``::

    out_dir/designs/src/<nick>/<top>.v                 the Verilog
    out_dir/designs/<platform>/<nick>/config.mk        DESIGN_NAME, PLATFORM, VERILOG_FILES, SDC_FILE, ...
    out_dir/designs/<platform>/<nick>/constraint.sdc   clock ``clk`` (ORFS template style)
    out_dir/designs/<platform>/<nick>/macros.json      GLB -> fake-SRAM macro tiling (see below)
    out_dir/README.md                                  the ``make DESIGN_CONFIG=...`` commands

Variable names and file layout follow ORFS's ``flow/designs/{nangate45,asap7,sky130hd}/gcd`` and
``nangate45/bp_fe_top`` (``$(DESIGN_HOME)/src/$(DESIGN_NICKNAME)/...``,
``$(DESIGN_HOME)/$(PLATFORM)/$(DESIGN_NICKNAME)/constraint.sdc``). With a ``partition`` there is
one design per tier (``<nick>_tier_top`` / ``_tier_bottom``) besides the 2D one; the tiers' F2F
bond ports are ordinary I/O pins there (placed by ``place_pins``), the pseudo-3D part being that
both tiers get the same ``DIE_AREA`` (the 3D footprint, ``footprint_um`` square).

Memories: the GLBs stay RTL memories (``amaranth.lib.memory``) that ORFS's Yosys maps to flip-flops.
``macros.json`` lists, for each GLB, the platform's fake SRAM (``fakeram45_*`` on nangate45,
``fakeram7_*`` on asap7) that would hold it and how many (width x depth tiling) — the data to swap
them in; the swap itself (a wrapper instantiating the macros) is not generated yet. sky130hd ships
no fakeram in ORFS, so GLBs stay flip-flops there.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from ..config import ConfigError, LayerConfig
from ..gen.atomic import write_atomic
from ..gen.generate import generate_verilog
from ..gen.tiers import tier_sources
from ..hw.glb import GLB
from ..hw.graph import flat_top
from ..hw.layers import TOP_NAMES, design_for

__all__ = ["PLATFORMS", "write_orfs", "macro_for"]

PLATFORMS = {
    # platform: (clock period in the platform's time unit, unit, fake SRAM macros (depth, width))
    "nangate45": (5.0, "ns", "fakeram45", [(32, 32), (32, 64), (64, 7), (64, 15), (64, 21), (64, 32), (64, 64),
                                            (64, 96), (64, 124), (64, 256), (128, 32), (128, 64), (128, 116),
                                            (128, 256), (256, 16), (256, 32), (256, 34), (256, 48), (256, 95),
                                            (256, 96), (512, 64), (1024, 32), (2048, 39)]),
    "asap7": (2000.0, "ps", "fakeram7", [(64, 21), (256, 32), (256, 34), (2048, 39)]),
    "sky130hd": (10.0, "ns", None, []),
}


def macro_for(platform: str, depth: int, width: int) -> dict | None:
    """The fake SRAM tiling with the fewest bits for a ``depth x width`` memory (None: no macros)."""
    _, _, prefix, sizes = PLATFORMS[platform]
    best = None
    for d, w in sizes:
        n = math.ceil(depth / d) * math.ceil(width / w)
        cost = n * d * w
        if best is None or cost < best[0]:
            best = (cost, d, w, n)
    if best is None:
        return None
    _, d, w, n = best
    return {"macro": f"{prefix}_{d}x{w}", "count": n, "banks": math.ceil(depth / d), "slices": math.ceil(width / w),
            "utilisation": depth * width / (n * d * w)}


def _sdc(top: str, period: float) -> str:
    return (f"current_design {top}\n\nset clk_name core_clock\nset clk_port_name clk\nset clk_period {period}\n"
            "set clk_io_pct 0.2\n\nset clk_port [get_ports $clk_port_name]\n\n"
            "create_clock -name $clk_name -period $clk_period $clk_port\n\n"
            "set non_clock_inputs [all_inputs -no_clocks]\n\n"
            "set_input_delay [expr $clk_period * $clk_io_pct] -clock $clk_name $non_clock_inputs\n"
            "set_output_delay [expr $clk_period * $clk_io_pct] -clock $clk_name [all_outputs]\n")


def _config_mk(nick: str, top: str, platform: str, vfile: str, die_um: float | None) -> str:
    lines = [f"export DESIGN_NICKNAME = {nick}", f"export DESIGN_NAME = {top}", f"export PLATFORM    = {platform}", "",
             f"export VERILOG_FILES = $(DESIGN_HOME)/src/$(DESIGN_NICKNAME)/{vfile}",
             "export SDC_FILE      = $(DESIGN_HOME)/$(PLATFORM)/$(DESIGN_NICKNAME)/constraint.sdc", ""]
    if die_um:
        lines += ["# pseudo-3D: both tiers get the same footprint (spikestack orfs --footprint-um)",
                  f"export DIE_AREA    = 0 0 {die_um:.1f} {die_um:.1f}",
                  f"export CORE_AREA   = 5 5 {die_um - 5:.1f} {die_um - 5:.1f}"]
    else:
        lines += ["export CORE_UTILIZATION = 40"]
    lines += ["export PLACE_DENSITY = 0.60", "export SYNTH_HIERARCHICAL = 1", ""]
    return "\n".join(lines)


def write_orfs(cfg: LayerConfig, platform: str, out_dir: Path, partition: str | None = None,
               footprint_um: float = 600.0) -> list[Path]:
    """Write the ORFS design directories (see module docstring); refuses bad input before writing."""
    if platform not in PLATFORMS:
        raise ConfigError(f"platform: unknown {platform!r} (expected one of {', '.join(PLATFORMS)})")
    period, unit, prefix, _ = PLATFORMS[platform]
    design = design_for(cfg)
    top = TOP_NAMES[cfg.kind]
    designs = [(top, top, generate_verilog(cfg, "2d")[1], None, list(design.blocks))]
    files: dict[str, str] = {}
    if partition:
        src = tier_sources(cfg, partition)
        for tier in ("tier_top", "tier_bottom"):
            blocks = [b for b, t in src["assignment"].items() if t == tier]
            designs.append((f"{top}_{tier}", tier, src["texts"][f"{tier}.v"], footprint_um, blocks))
    comps = flat_top(design).blocks
    readme = [f"# OpenROAD-flow-scripts designs for {top} on {platform}", "",
              "Copy `designs/src/*` and `designs/" + platform + "/*` into `OpenROAD-flow-scripts/flow/designs/`, then "
              "from `flow/`:", ""]
    for nick, name, text, die, blocks in designs:
        vfile = f"{name}.v"
        files[f"designs/src/{nick}/{vfile}"] = text
        base = f"designs/{platform}/{nick}"
        files[f"{base}/config.mk"] = _config_mk(nick, name, platform, vfile, die)
        files[f"{base}/constraint.sdc"] = _sdc(name, period)
        macros = {}
        for blk in blocks:
            comp = comps.get(blk)
            if isinstance(comp, GLB):
                macros[blk] = {"depth": comp.p.depth, "width": comp.p.width,
                               "ports": comp.p.macro.read_ports + comp.p.macro.write_ports,
                               "fakeram": macro_for(platform, comp.p.depth, comp.p.width)}
        files[f"{base}/macros.json"] = json.dumps(
            {"platform": platform, "clock_period": period, "time_unit": unit, "macro_family": prefix,
             "instantiated": False, "glbs": macros}, indent=1) + "\n"
        readme.append(f"    make DESIGN_CONFIG=./designs/{platform}/{nick}/config.mk")
    readme += ["", f"Clock `clk`, period {period} {unit} (`constraint.sdc`). GLBs are synthesised as flip-flops; "
               "`macros.json` gives the fake-SRAM tiling for each (not instantiated yet)."]
    if partition:
        readme += ["", f"Tiers ({partition}): each tier is its own design with the same DIE_AREA "
                   "(`FOOTPRINT_UM`); F2F bonds are its I/O pins (see the F2F map of `spikestack gen --tiers 2`)."]
    files["README.md"] = "\n".join(readme) + "\n"
    # everything was generated above: now write
    return [write_atomic(Path(out_dir) / name, text) for name, text in files.items()]
