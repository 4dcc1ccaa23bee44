"""Tier assignment of a layer's blocks: which blocks go on ``tier_top`` and which on
``tier_bottom`` for a named partition, with per-block overrides (see :mod:`spikestack.gen.tiers`).
"""
from __future__ import annotations

from ..hw.layers.graph import Design, TierError

__all__ = ["PARTITIONS", "TIERS", "STACK_PARTITIONS", "assignment_for", "parse_assignments", "stack_assignment",
           "parse_stack_assignments"]

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


# N-tier stacks (N >= 3; tier N-1 the top, the memory tier): docs/ntier.md
STACK_PARTITIONS = ("memory-on-logic", "memory-control-logic", "pipeline", "logic-on-logic")


def parse_stack_assignments(items: list[str] | None, n: int) -> dict[str, int]:
    """``["block=1", "block=tier_2", "block=top", ...]`` -> ``{block: tier index}`` for ``n`` tiers
    (``top`` is tier ``n-1``, ``bottom`` tier 0); a block named twice with different tiers is refused."""
    out: dict[str, int] = {}
    for item in items or []:
        if "=" not in item:
            raise TierError(f"assign: expected BLOCK=TIER, got {item!r}")
        blk, tier = (x.strip() for x in item.split("=", 1))
        names = {"top": n - 1, "bottom": 0, **{f"tier_{i}": i for i in range(n)}, **{str(i): i for i in range(n)}}
        if tier not in names:
            raise TierError(f"assign: tier of {blk!r} must be 0..{n - 1}, tier_0..tier_{n - 1}, top or bottom, "
                            f"got {tier!r}")
        if blk in out and out[blk] != names[tier]:
            raise TierError(f"assign: block {blk!r} assigned to two tiers (tier_{out[blk]} and tier_{names[tier]})")
        out[blk] = names[tier]
    return out


def _spread(members: list[str], tiers: list[int]) -> dict[str, int]:
    """Members of a group in contiguous runs over ``tiers`` (the first runs one longer)."""
    q, r = divmod(len(members), len(tiers))
    out, i = {}, 0
    for j, t in enumerate(tiers):
        for _ in range(q + (j < r)):
            out[members[i]] = t
            i += 1
    return out


def stack_assignment(design: Design, n: int, partition: str = "memory-on-logic",
                     overrides: dict[str, int] | None = None) -> dict[str, int]:
    """The tier (0 = bottom .. n-1 = top) of every block of an ``n``-tier stack, checked:

    * ``memory-on-logic``: memory and control on the top tier; each repeated group (the cores)
      in contiguous runs over tiers ``0..n-2``.
    * ``memory-control-logic``: memory on the top tier, control on the one below, the groups over
      the rest.
    * ``pipeline``: one tier per group in the design's order (MHA: projection cores on tier 0,
      attention cores on tier 1), then control and memory (one tier, or control below memory);
      needs ``n`` = groups + 1 or groups + 2.
    * ``logic-on-logic``: each group over all ``n`` tiers; a memory wired only to cores of one tier
      goes with them; everything else on the top tier.
    """
    if partition not in STACK_PARTITIONS:
        raise TierError(f"partition: unknown {partition!r} for {n} tiers (expected one of {', '.join(STACK_PARTITIONS)})")
    blocks = design.blocks
    groups: dict[str, list[str]] = {}
    for b in blocks.values():
        if b.group:
            groups.setdefault(b.group, []).append(b.name)
    top = n - 1
    assign: dict[str, int] = {}
    if partition == "memory-on-logic":
        assign = {b.name: top for b in blocks.values() if not b.group}
        for members in groups.values():
            assign.update(_spread(members, list(range(top))))
    elif partition == "memory-control-logic":
        assign = {b.name: top if b.role == "memory" else top - 1 for b in blocks.values() if not b.group}
        for members in groups.values():
            assign.update(_spread(members, list(range(max(top - 1, 1)))))
    elif partition == "pipeline":
        if n - len(groups) not in (1, 2):
            raise TierError(f"partition: pipeline puts each of the {len(groups)} core groups ({', '.join(groups)}) "
                            f"on its own tier: needs {len(groups) + 1} or {len(groups) + 2} tiers, not {n}")
        for i, members in enumerate(groups.values()):
            assign.update({m: i for m in members})
        ctrl = top if n - len(groups) == 1 else top - 1
        assign.update({b.name: top if b.role == "memory" else ctrl for b in blocks.values() if not b.group})
    else:
        for members in groups.values():
            assign.update(_spread(members, list(range(n))))
        near: dict[str, set[str]] = {b: set() for b in blocks}
        for a, b in design.wires:
            ba, bb = a.split(".")[0], b.split(".")[0]
            near[ba].add(bb)
            near[bb].add(ba)
        for b in blocks.values():
            if b.name in assign:
                continue
            tiers = {assign[x] for x in near[b.name] if blocks[x].group}
            alone = b.role == "memory" and near[b.name] and all(blocks[x].group for x in near[b.name])
            assign[b.name] = tiers.pop() if alone and len(tiers) == 1 else top
    for blk, tier in (overrides or {}).items():
        if blk not in blocks:
            raise TierError(f"assign: block {blk!r} does not exist (blocks: {', '.join(blocks)})")
        if not 0 <= tier < n:
            raise TierError(f"assign: block {blk!r} on tier {tier}, outside 0..{n - 1}")
        assign[blk] = tier
    for t in range(n):
        if t not in assign.values():
            raise TierError(f"tiers: tier_{t} is empty (partition {partition!r} with {n} tiers and the given "
                            f"assignments)")
    return assign
