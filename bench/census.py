"""`make bench` section "Block census": the cells of every distinct block of the default tops.

Runs :func:`spikestack.flows.analysis.census.census` on ``configs/moe_default.toml`` and
``configs/mha_default.toml`` with GLBs (and the MoE merge buffer) as SRAM macros, and says which
block's own logic is the largest place-and-route job of a hierarchical flow — the number that
decides whether the default configuration can be implemented in minutes on this flow.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from ..config import load_config
from ..flows.analysis.census import as_json, census, census_md
from ..gen.generate import generate_verilog

__all__ = ["run", "CONFIGS"]

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ("moe_default", "mha_default")


def run(out_dir: Path, configs=CONFIGS) -> str:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    parts, record = [], {}
    for name in configs:
        cfg = load_config(ROOT / "configs" / f"{name}.toml")
        t0 = time.time()
        top, text = generate_verilog(cfg, "2d", macros=True)
        blocks = census(text, top, jobs=2)
        seconds = time.time() - t0
        record[name] = {"seconds": seconds, "blocks": as_json(blocks)}
        glue = max(blocks, key=lambda b: b.cells)
        # the layer graph's blocks (the macros of a hierarchical flow's top level), GLB wrappers aside
        blocks_of_top = [b for b in blocks[1:] if b.block.count(".") == 1 and not (b.macros and b.cells == 0)]
        wide = max(blocks_of_top, key=lambda b: b.pins)
        parts += [f"**{name}** (`spikestack census configs/{name}.toml --sram-macros`, {seconds:.0f} s):", "",
                  census_md(blocks), "",
                  f"Largest own logic of one block (one hierarchical P&R job with its sub-blocks as macros): "
                  f"`{glue.block}`, {glue.cells} cells. Most signal pins of a block of the layer graph (GLB "
                  f"wrappers of SRAM macros aside): `{wide.block}`, {wide.pins}.", ""]
    (out_dir / "census.json").write_text(json.dumps(record, indent=1))
    return "\n".join(parts).rstrip()
