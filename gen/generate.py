"""Configuration -> Verilog of the 2D top (and, with tiers, of the tiers and the stitched 3D top)."""
from __future__ import annotations

from amaranth.back import verilog

from ..hw.graph import flat_top
from ..hw.layers import TOP_NAMES, design_for
from .config import LayerConfig

__all__ = ["generate_verilog"]


def generate_verilog(cfg: LayerConfig, variant: str = "2d") -> tuple[str, str]:
    """``(top module name, Verilog text)`` of a configuration's top."""
    design = design_for(cfg)
    if variant == "2d":
        name = TOP_NAMES[cfg.kind]
        return name, verilog.convert(flat_top(design), name=name)
    raise ValueError(f"variant: unknown {variant!r}")
