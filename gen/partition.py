"""Tier assignment of a layer's blocks: which blocks go on ``tier_top`` and which on
``tier_bottom`` for a named partition, with per-block overrides (see :mod:`spikestack.gen.tiers`).
"""
from __future__ import annotations

from ..hw.layers.graph import Design, TierError

__all__ = ["PARTITIONS", "TIERS", "assignment_for", "parse_assignments"]

PARTITIONS = ("memory-on-logic", "logic-on-logic")
TIERS = ("tier_top", "tier_bottom")
_ALIASES = {"top": "tier_top", "bottom": "tier_bottom", "tier_top": "tier_top", "tier_bottom": "tier_bottom"}


def parse_assignments(items: list[str] | None) -> dict[str, str]:
    """``["block=top", ...]`` -> ``{block: tier}``; a block named twice with different tiers is refused."""
    out: dict[str, str] = {}
    for item in items or []:
        if "=" not in item:
            raise TierError(f"assign: expected BLOCK=top|bottom, got {item!r}")
        blk, tier = (x.strip() for x in item.split("=", 1))
        if tier not in _ALIASES:
            raise TierError(f"assign: tier of {blk!r} must be top or bottom, got {tier!r}")
        tier = _ALIASES[tier]
        if blk in out and out[blk] != tier:
            raise TierError(f"assign: block {blk!r} assigned to two tiers ({out[blk]} and {tier})")
        out[blk] = tier
    return out


def assignment_for(design: Design, partition: str = "memory-on-logic",
                   overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The tier of every block (see module docstring), checked."""
    if partition not in PARTITIONS:
        raise TierError(f"partition: unknown {partition!r} (expected one of {', '.join(PARTITIONS)})")
    blocks = design.blocks
    if partition == "memory-on-logic":
        assign = {b.name: ("tier_top" if b.role in ("memory", "control") else "tier_bottom") for b in blocks.values()}
    else:
        assign = {}
        groups: dict[str, list[str]] = {}
        for b in blocks.values():
            if b.group:
                groups.setdefault(b.group, []).append(b.name)
        for members in groups.values():
            half = (len(members) + 1) // 2
            for i, name in enumerate(members):
                assign[name] = "tier_bottom" if i < half else "tier_top"
        neighbours: dict[str, set[str]] = {n: set() for n in blocks}
        for a, b in design.wires:
            ba, bb = a.split(".")[0], b.split(".")[0]
            neighbours[ba].add(bb)
            neighbours[bb].add(ba)
        for b in blocks.values():
            if b.name in assign:
                continue
            near = neighbours[b.name]
            if b.role == "memory" and near and all(blocks[x].group for x in near):
                tiers = {assign[x] for x in near}
                if len(tiers) == 1:
                    assign[b.name] = tiers.pop()
                    continue
            assign[b.name] = "tier_top"
    for blk, tier in (overrides or {}).items():
        if blk not in blocks:
            raise TierError(f"assign: block {blk!r} does not exist (blocks: {', '.join(blocks)})")
        assign[blk] = _ALIASES.get(tier, tier)
    for tier in TIERS:
        if tier not in assign.values():
            raise TierError(f"tiers: {tier} is empty (partition {partition!r} with the given assignments)")
    return assign
