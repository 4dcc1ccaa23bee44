"""Verilator lint of generated Verilog with the justified waivers of ``lint.vlt``."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .harness import verilator_path
__all__ = ["WAIVERS", "lint"]

WAIVERS = Path(__file__).with_name("lint.vlt")


def lint(verilog: Path, top: str, waivers: Path = WAIVERS) -> list[str]:
    """Warnings left after the waivers (an empty list is clean)."""
    exe = verilator_path()
    r = subprocess.run([exe, "--lint-only", "-Wall", "--top-module", top, str(waivers), str(verilog)],
                       capture_output=True, text=True)
    return [l for l in r.stderr.splitlines() if re.match(r"%(Warning|Error)", l)]
