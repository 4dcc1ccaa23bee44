"""Facts about OpenROAD-flow-scripts (ORFS) that the generated design directories depend on.

Read from ORFS's repository at commit ``8c009b0b`` (2026-08-22) — names, sizes and pins are
facts, kept here as data so that the tests can check the generated ``config.mk`` files without ORFS:

* ``VARIABLES``: every top-level key of ``flow/scripts/variables.yaml`` (the documented flow
  variables; a ``config.mk`` key outside this set is a typo ORFS would silently ignore).
* ``FAKERAMS``: the fake SRAM macros of ``flow/platforms/nangate45/lef/fakeram45_*.lef`` and
  ``flow/platforms/asap7/lef/fakeram7_*.lef`` (liberty: ``lib/fakeram45_*.lib`` and
  ``lib/NLDM/fakeram7_*.lib``): depth, width, the LEF ``SIZE`` (µm) and whether it has the
  per-bit write mask ``w_mask_in`` (nangate45: yes; asap7: no). Every one is 1RW with pins
  ``clk, ce_in, we_in, addr_in[A-1:0], wd_in[W-1:0], rd_out[W-1:0]`` (+ ``w_mask_in[W-1:0]``);
  ``rd_out`` is registered (liberty: ``timing_type : rising_edge`` from ``clk``), i.e. one cycle of
  read latency; ORFS's behavioural models (``flow/platforms/asap7/verilog/fakeram7_*.v``; the
  nangate45 ones come from bsg_fakeram with the same body plus the mask) read the old word when
  the same cycle writes it, and make ``rd_out`` unknown in a cycle with ``ce_in`` low. asap7's
  ``fakeram_*`` (no ``7``) are left out: their models OR the written data into the word.
* Synthesis: ``flow/scripts/synth.tcl`` runs ``mem_dump.py --max-bits $SYNTH_MEMORY_MAX_BITS`` on
  every ``$mem`` left after coarse synthesis and stops if one has more bits (default 4096,
  ``variables.yaml``).
* Platform defaults (``flow/platforms/<p>/config.mk``): ``MACRO_PLACE_HALO`` (nangate45 22.4 15.12,
  asap7 10 10, sky130hd 40 40), pin layers ``IO_PLACER_H/V`` and their pitches from the tech LEFs
  (nangate45 metal5/metal6 0.28 µm; asap7 M4/M5 0.048 µm; sky130hd met3 0.68 / met2 0.46 µm), the top
  routing layer (nangate45 metal10 pitch 1.6; asap7 M9 0.08; sky130hd met5 3.4).
* Standard-cell sizes used to scale areas (LEF ``SIZE``): nangate45 ``NAND2_X1`` 0.57x1.4,
  ``DFF_X1`` 3.23x1.4 (``lef/NangateOpenCellLibrary.macro.mod.lef``); asap7
  ``NAND2xp33_ASAP7_75t_R`` 0.216x0.27, ``DFFHQNx1_ASAP7_75t_R`` 1.08x0.27
  (``lef/asap7sc7p5t_28_R_1x_220121a.lef``); sky130hd ``nand2_1`` 1.38x2.72, ``dfxtp_1`` 7.36x2.72
  (``lef/sky130_fd_sc_hd_merged.lef``).
* sky130hd: ORFS ships no fake SRAM for it; ``flow/platforms/sky130ram`` holds OpenRAM
  ``sky130_sram_1rw1r_*`` macros (1RW+1R, byte mask), not used here (see :mod:`spikestack.flows.builtin.fakeram`).

Designs live in ``flow/designs/<platform>/<nick>/config.mk`` with sources in
``flow/designs/src/<nick>/``; ORFS's Makefile sets ``DESIGN_HOME = flow/designs`` and
``PLATFORM_DIR = flow/platforms/<platform>``.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ORFS_COMMIT", "VARIABLES", "FAKERAMS", "Fakeram", "PLATFORM_FACTS", "PlatformFacts",
           "SYNTH_MEMORY_MAX_BITS", "fakerams"]

ORFS_COMMIT = "8c009b0b663703fc3fe2f474eab918b12fffbaf6"
SYNTH_MEMORY_MAX_BITS = 4096

VARIABLES = frozenset((
    "ABC_AREA", "ABC_CLOCK_PERIOD_IN_PS", "ABC_DRIVER_CELL", "ABC_LOAD_IN_FF", "ABSTRACT_SOURCE",
    "ADDER_MAP_FILE", "ADDITIONAL_FILES", "ADDITIONAL_GDS", "ADDITIONAL_LEFS", "ADDITIONAL_LIBS",
    "ADDITIONAL_MEMORIES", "ADDITIONAL_SITES", "ASAP7_USE_VT", "AUTO_MEMORIES", "BALANCE_ROWS", "BLOCKS",
    "BUFFER_PORTS_ARGS", "CACHED_REPORTS", "CAP_MARGIN", "CDL_FILE", "CDL_FILES",
    "CELL_PAD_IN_SITES_DETAIL_PLACEMENT", "CELL_PAD_IN_SITES_GLOBAL_PLACEMENT", "CLKGATE_MAP_FILE",
    "CLUSTER_FLOPS", "CLUSTER_FLOPS_ARGS", "CORE_AREA", "CORE_ASPECT_RATIO", "CORE_MARGIN", "CORE_UTILIZATION",
    "CORNER", "CORNERS", "CTS_ARGS", "CTS_BUF_DISTANCE", "CTS_BUF_LIST", "CTS_CLUSTER_DIAMETER",
    "CTS_CLUSTER_SIZE", "CTS_LIB_NAME", "CTS_SNAPSHOT", "CTS_SNAPSHOTS", "DESIGN_NAME", "DESIGN_NICKNAME",
    "DETAILED_METRICS", "DETAILED_ROUTE_ARGS", "DETAILED_ROUTE_END_ITERATION", "DETAIL_PLACEMENT_ARGS",
    "DFF_LIB_FILE", "DFF_MAP_FILE", "DIE_AREA", "DISABLE_VIA_GEN", "DONT_BUFFER_PORTS", "DONT_USE_CELLS",
    "DPO_MAX_DISPLACEMENT", "EARLY_SIZING_CAP_RATIO", "ENABLE_DPO", "ENABLE_PLACE_REPAIR_TIMING",
    "ENABLE_RESISTANCE_AWARE", "FASTROUTE_TCL", "FILL_CELLS", "FILL_CONFIG", "FLOORPLAN_DEF", "FLOW_VARIANT",
    "FOOTPRINT", "FOOTPRINT_TCL", "GDS_ALLOW_EMPTY", "GDS_FILES", "GENERATE_ARTIFACTS_ON_FAILURE",
    "GLOBAL_PLACEMENT_ARGS", "GLOBAL_ROUTE_ARGS", "GLOBAL_ROUTE_USE_CUGR", "GND_NETS_VOLTAGES",
    "GPL_KEEP_OVERFLOW", "GPL_RANDOM_SEED", "GPL_ROUTABILITY_DRIVEN", "GPL_TIMING_DRIVEN", "GRT_SEED",
    "GUI_TIMING", "HOLD_SLACK_MARGIN", "INFER_CLKGATES", "IO_CONSTRAINTS", "IO_PLACER_H", "IO_PLACER_V",
    "IR_DROP_LAYER", "KEEP_VARS", "KLAYOUT_TECH_FILE", "LATCH_MAP_FILE", "LAYER_PARASITICS_FILE",
    "LEC_AUX_VERILOG_FILES", "LEC_CHECK", "LIB_FILES", "LIB_MODEL", "MACRO_BLOCKAGE_HALO", "MACRO_EXTENSION",
    "MACRO_PLACEMENT_TCL", "MACRO_PLACE_HALO", "MACRO_ROWS_HALO_X", "MACRO_ROWS_HALO_Y", "MACRO_WRAPPERS",
    "MAKE_TRACKS", "MATCH_CELL_FOOTPRINT", "MAX_PLACE_STEP_COEF", "MAX_REPAIR_ANTENNAS_ITER_DRT",
    "MAX_REPAIR_ANTENNAS_ITER_GRT", "MAX_ROUTING_LAYER", "MIN_BUF_CELL_AND_PORTS", "MIN_CLK_ROUTING_LAYER",
    "MIN_PLACE_STEP_COEF", "MIN_ROUTING_LAYER", "NEG_CLKGATE_AND_PORTS", "NUM_CORES", "OPENROAD_HIERARCHICAL",
    "OPT_POST_GRT_WNS", "OR_K", "OR_SEED", "PDN_TCL", "PLACE_DENSITY", "PLACE_DENSITY_LB_ADDON",
    "PLACE_PINS_ARGS", "PLACE_SITE", "PLATFORM", "PLATFORM_TCL", "POST_CTS_TCL", "POST_DENSITY_FILL_TCL",
    "POST_DETAIL_PLACE_TCL", "POST_DETAIL_ROUTE_TCL", "POST_FILLCELL_TCL", "POST_FINAL_REPORT_TCL",
    "POST_FLOORPLAN_TCL", "POST_GLOBAL_PLACE_SKIP_IO_TCL", "POST_GLOBAL_PLACE_TCL", "POST_GLOBAL_ROUTE_TCL",
    "POST_IO_PLACEMENT_TCL", "POST_MACRO_PLACE_TCL", "POST_PDN_TCL", "POST_RESIZE_TCL", "POST_SYNTH_TCL",
    "POST_TAPCELL_TCL", "POS_CLKGATE_AND_PORTS", "PRE_CTS_TCL", "PRE_DENSITY_FILL_TCL", "PRE_DETAIL_PLACE_TCL",
    "PRE_DETAIL_ROUTE_TCL", "PRE_FILLCELL_TCL", "PRE_FINAL_REPORT_TCL", "PRE_FLOORPLAN_TCL",
    "PRE_GLOBAL_PLACE_SKIP_IO_TCL", "PRE_GLOBAL_PLACE_TCL", "PRE_GLOBAL_ROUTE_TCL", "PRE_IO_PLACEMENT_TCL",
    "PRE_MACRO_PLACE_TCL", "PRE_PDN_TCL", "PRE_RESIZE_TCL", "PRE_SYNTH_TCL", "PRE_TAPCELL_TCL", "PROCESS",
    "PWR_NETS_VOLTAGES", "RCX_RULES", "RECOVER_POWER", "REMOVE_ABC_BUFFERS", "REMOVE_CELLS_FOR_LEC",
    "REMOVE_LIBS_FOR_LEC", "REPAIR_PDN_VIA_LAYER", "REPORT_CLOCK_SKEW", "ROUTING_LAYER_ADJUSTMENT",
    "RTLMP_AREA_WT", "RTLMP_ARGS", "RTLMP_BOUNDARY_WT", "RTLMP_FENCE_LX", "RTLMP_FENCE_LY", "RTLMP_FENCE_UX",
    "RTLMP_FENCE_UY", "RTLMP_MAX_INST", "RTLMP_MAX_LEVEL", "RTLMP_MAX_MACRO", "RTLMP_MIN_AR", "RTLMP_MIN_INST",
    "RTLMP_MIN_MACRO", "RTLMP_NOTCH_WT", "RTLMP_OUTLINE_WT", "RTLMP_RPT_DIR", "RTLMP_WIRELENGTH_WT",
    "RULES_JSON", "RUN_LOG_NAME_STEM", "RUN_SCRIPT", "SC_LEF", "SDC_FILE", "SDC_GUT", "SEAL_GDS",
    "SETUP_MOVE_SEQUENCE", "SETUP_SLACK_MARGIN", "SET_RC_TCL", "SKIP_ANTENNA_REPAIR",
    "SKIP_ANTENNA_REPAIR_POST_DRT", "SKIP_ANTENNA_REPAIR_PRE_GRT", "SKIP_BUFFER_REMOVAL", "SKIP_CRIT_VT_SWAP",
    "SKIP_CTS_REPAIR_TIMING", "SKIP_DETAILED_ROUTE", "SKIP_GATE_CLONING", "SKIP_INCREMENTAL_REPAIR",
    "SKIP_LAST_GASP", "SKIP_PIN_SWAP", "SKIP_REPAIR_TIE_FANOUT", "SKIP_REPORT_METRICS", "SKIP_VT_SWAP",
    "SLEW_MARGIN", "SWAP_ARITH_OPERATORS", "SYNTH_ARGS", "SYNTH_BLACKBOXES", "SYNTH_CANONICALIZE_TCL",
    "SYNTH_CHECKPOINT", "SYNTH_GUT", "SYNTH_HDL_FRONTEND", "SYNTH_HIERARCHICAL", "SYNTH_HIER_SEPARATOR",
    "SYNTH_INSBUF", "SYNTH_KEEP_MOCKED_MEMORIES", "SYNTH_KEEP_MODULES", "SYNTH_MEMORY_MAX_BITS",
    "SYNTH_MINIMUM_KEEP_SIZE", "SYNTH_MOCK_LARGE_MEMORIES", "SYNTH_NETLIST_FILES", "SYNTH_OPERATIONS_ARGS",
    "SYNTH_OPT_HIER", "SYNTH_REPEATABLE_BUILD", "SYNTH_RETIME_MODULES", "SYNTH_SKIP_KEEP", "SYNTH_SLANG_ARGS",
    "SYNTH_USE_SYN", "SYNTH_WRAPPED_ADDERS", "SYNTH_WRAPPED_MULTIPLIERS", "SYNTH_WRAPPED_OPERATORS",
    "TAPCELL_TCL", "TAP_CELL_NAME", "TECH_LEF", "TIEHI_CELL_AND_PORT", "TIELO_CELL_AND_PORT", "TIE_SEPARATION",
    "TNS_END_PERCENT", "UNSET_ABC9_BOX_CELLS", "USE_FILL", "VERILOG_DEFINES", "VERILOG_FILES",
    "VERILOG_INCLUDE_DIRS", "VERILOG_TOP_PARAMS", "VIA_IN_PIN_MAX_LAYER", "VIA_IN_PIN_MIN_LAYER",
    "WRITE_ODB_AND_SDC_EACH_STAGE", "YOSYS_FLAGS",
))


@dataclass(frozen=True)
class Fakeram:
    platform: str
    name: str
    depth: int
    width: int
    w_um: float
    h_um: float
    mask: bool

    @property
    def area_um2(self) -> float:
        return self.w_um * self.h_um

    @property
    def addr_width(self) -> int:
        return max(1, (self.depth - 1).bit_length())

    @property
    def lef(self) -> str:
        return f"$(PLATFORM_DIR)/lef/{self.name}.lef"

    @property
    def lib(self) -> str:
        return f"$(PLATFORM_DIR)/lib/{'NLDM/' if self.platform == 'asap7' else ''}{self.name}.lib"

    @property
    def orfs_paths(self) -> tuple[str, str]:
        """LEF and liberty paths inside ORFS's ``flow/`` folder."""
        return (self.lef.replace("$(PLATFORM_DIR)", f"platforms/{self.platform}"),
                self.lib.replace("$(PLATFORM_DIR)", f"platforms/{self.platform}"))

    def pins(self) -> dict[str, tuple[str, int]]:
        """pin -> (direction, width)."""
        p = {"clk": ("input", 1), "ce_in": ("input", 1), "we_in": ("input", 1),
             "addr_in": ("input", self.addr_width), "wd_in": ("input", self.width),
             "rd_out": ("output", self.width)}
        if self.mask:
            p["w_mask_in"] = ("input", self.width)
        return p


FAKERAMS = tuple(Fakeram(*row) for row in (
    ("nangate45", "fakeram45_1024x32", 1024, 32, 152.19, 107.8, True),
    ("nangate45", "fakeram45_128x116", 128, 116, 74.48, 124.6, True),
    ("nangate45", "fakeram45_128x256", 128, 256, 151.81, 223.9, True),
    ("nangate45", "fakeram45_128x32", 128, 32, 78.47, 42.0, True),
    ("nangate45", "fakeram45_128x64", 128, 64, 78.28, 70.0, True),
    ("nangate45", "fakeram45_2048x39", 2048, 39, 206.91, 219.8, True),
    ("nangate45", "fakeram45_256x16", 256, 16, 77.71, 40.6, True),
    ("nangate45", "fakeram45_256x32", 256, 32, 78.66, 64.4, True),
    ("nangate45", "fakeram45_256x34", 256, 34, 98.42, 65.8, True),
    ("nangate45", "fakeram45_256x48", 256, 48, 115.71, 67.2, True),
    ("nangate45", "fakeram45_256x95", 256, 95, 115.14, 119.0, True),
    ("nangate45", "fakeram45_256x96", 256, 96, 115.14, 119.0, True),
    ("nangate45", "fakeram45_32x32", 32, 32, 19.57, 40.6, True),
    ("nangate45", "fakeram45_32x64", 32, 64, 36.86, 62.0, True),
    ("nangate45", "fakeram45_512x64", 512, 64, 152.57, 113.4, True),
    ("nangate45", "fakeram45_64x124", 64, 124, 78.09, 112.6, True),
    ("nangate45", "fakeram45_64x15", 64, 15, 11.21, 58.8, True),
    ("nangate45", "fakeram45_64x21", 64, 21, 15.77, 60.2, True),
    ("nangate45", "fakeram45_64x25", 64, 25, 20.14, 61.6, True),
    ("nangate45", "fakeram45_64x256", 64, 256, 151.81, 223.9, True),
    ("nangate45", "fakeram45_64x28", 64, 28, 20.14, 61.6, True),
    ("nangate45", "fakeram45_64x32", 64, 32, 20.14, 61.6, True),
    ("nangate45", "fakeram45_64x62", 64, 62, 77.9, 60.5, True),
    ("nangate45", "fakeram45_64x64", 64, 64, 77.9, 62.2, True),
    ("nangate45", "fakeram45_64x7", 64, 7, 10.64, 36.4, True),
    ("nangate45", "fakeram45_64x96", 64, 96, 54.53, 89.4, True),
    ("asap7", "fakeram7_128x64", 128, 64, 16.72, 21.6, False),
    ("asap7", "fakeram7_2048x39", 2048, 39, 20.33, 166.6, False),
    ("asap7", "fakeram7_256x256", 256, 256, 33.25, 84.0, False),
    ("asap7", "fakeram7_256x32", 256, 32, 8.36, 42.0, False),
    ("asap7", "fakeram7_256x34", 256, 34, 8.93, 42.0, False),
    ("asap7", "fakeram7_64x21", 64, 21, 5.51, 11.2, False),
    ("asap7", "fakeram7_64x25", 64, 25, 13.11, 6.0, False),
    ("asap7", "fakeram7_64x256", 64, 256, 33.25, 46.8, False),
    ("asap7", "fakeram7_64x28", 64, 28, 14.63, 6.0, False),
))


def fakerams(platform: str) -> tuple[Fakeram, ...]:
    return tuple(f for f in FAKERAMS if f.platform == platform)


@dataclass(frozen=True)
class PlatformFacts:
    halo_um: tuple[float, float]        # MACRO_PLACE_HALO default of the platform's config.mk
    io_layers: tuple[str, str]          # IO_PLACER_H, IO_PLACER_V
    io_pitch_um: tuple[float, float]    # their track pitches
    top_layer: str                      # the top routing layer (F2F bond pins, area pins)
    top_pitch_um: float
    nand2_um2: float                    # NAND2 x1 and the plain D flip-flop, from the cell LEFs
    dff_um2: float


PLATFORM_FACTS = {
    "nangate45": PlatformFacts((22.4, 15.12), ("metal5", "metal6"), (0.28, 0.28), "metal10", 1.6,
                               0.57 * 1.4, 3.23 * 1.4),
    "asap7": PlatformFacts((10.0, 10.0), ("M4", "M5"), (0.048, 0.048), "M9", 0.08, 0.216 * 0.27, 1.08 * 0.27),
    "sky130hd": PlatformFacts((40.0, 40.0), ("met3", "met2"), (0.68, 0.46), "met5", 3.4, 1.38 * 2.72, 7.36 * 2.72),
}
