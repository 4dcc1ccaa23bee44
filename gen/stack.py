"""N-tier stacks (N = 3, 4; N = 2 is :mod:`spikestack.gen.tiers`): tier netlists, the stacked top,
one bond map per interface, and the report (docs/ntier.md).

Tiers are ``tier_0`` (bottom) .. ``tier_<N-1>`` (top, the memory tier of the memory partitions).
Bonds join adjacent tiers only (:mod:`spikestack.hw.layers.stack`): a net from tier 0 to tier 2
crosses tier 1 as a feed-through. The interface nearest the top tier (``tier_<N-2>`` /
``tier_<N-1>``) is face-to-face (hybrid bond, the two-tier design's); every other interface is
face-to-back through a TSV of the upper tier. Everything is computed before the first file is
written; a bad partition (unknown block, tier out of range, empty tier) raises
:class:`~spikestack.hw.layers.graph.TierError` naming it.
"""
from __future__ import annotations

import json
import re

from ..config import LayerConfig
from ..hw.layers import TOP_NAMES, design_for
from ..hw.layers.graph import TierError, flat_top
from ..hw.layers.stack import nets, registered_streams, stack_tier, stacked_top, tier_name
from . import emit
from .generate import manifest, write_files
from .partition import stack_assignment

__all__ = ["BOND_KINDS", "MAX_TIERS", "interface_kind", "stack_sources", "stack_maps", "write_stack", "stack_top_name"]

MAX_TIERS = 4
# Electrical models recorded in the maps. f2f: the two-tier design's hybrid bond (flows.bondpins.Bond);
# f2b: a via-middle TSV of about 5 um x 50 um through the upper tier plus its bond, an assumed
# order of magnitude from published TSV characterisations (tens of fF, well under an ohm).
BOND_KINDS = {
    "f2f": {"kind": "f2f", "via": "hybrid Cu-Cu bond", "r_ohm": 3.0, "c_ff": 0.6, "pitch_um": 1.0},
    "f2b": {"kind": "f2b", "via": "TSV (5 um x 50 um, via-middle) + back-side bond", "r_ohm": 0.1,
            "c_ff": 40.0, "pitch_um": 10.0, "note": "assumed order of magnitude, not characterised"},
}


def interface_kind(i: int, n: int) -> str:
    """Bond kind of interface ``i`` (``tier_i`` / ``tier_<i+1>``) of an ``n``-tier stack."""
    return "f2f" if i == n - 2 else "f2b"


def stack_top_name(cfg: LayerConfig, n: int) -> str:
    return f"{TOP_NAMES[cfg.kind]}_3d{n}"


def stack_sources(cfg: LayerConfig, n: int, partition: str = "memory-on-logic",
                  overrides: dict[str, int] | None = None, regs: bool = False, tiers_only: bool = False) -> dict:
    """Everything of an ``n``-tier split in memory: Verilog texts (2D, each tier, the stacked top),
    the assignment and the nets."""
    if not 2 <= n <= MAX_TIERS:
        raise TierError(f"tiers: must be 2..{MAX_TIERS}, got {n}")
    design = design_for(cfg)
    assign = stack_assignment(design, n, partition, overrides)
    all_nets = nets(design, assign, n)
    name = TOP_NAMES[cfg.kind]
    texts = {f"{tier_name(k)}.v": emit.convert(stack_tier(design, assign, n, k, regs, all_nets), name=tier_name(k))
             for k in range(n)}
    if not tiers_only:
        top = stack_top_name(cfg, n)
        texts = {f"{name}.v": emit.convert(flat_top(design), name=name), **texts,
                 f"{top}.v": emit.convert(stacked_top(design, assign, n, regs), name=top)}
    return {"name": name, "n": n, "design": design, "assignment": assign, "nets": all_nets, "texts": texts,
            "partition": partition, "regs": regs}


def stack_maps(src: dict) -> dict[str, dict]:
    """``stack_map.json`` (tiers, interfaces, feed-throughs) and one bond map per interface
    (``bonds_tier_<i>_tier_<i+1>.json``: every bond crossing it, with direction, width, driver,
    sinks and whether the interface is the net's first crossing; ``registered``: a stream bond of
    ``--bond-regs``, or the score row of ``[hw] attn_split = "registered"``, registered on arrival
    by the A·V block)."""
    n, all_nets = src["n"], src["nets"]
    regd = {x.name for g in registered_streams(all_nets).values() for x in g.values()} if src["regs"] else set()
    if src["design"].plan.cfg.hw.attn_split == "registered":     # the A·V blocks register the score row
        regd |= {x.name for x in all_nets if re.fullmatch(r"attention_score_\d+\.out\..*", x.source)}
    per: dict[int, list] = {i: [] for i in range(n - 1)}
    through = {tier_name(k): 0 for k in range(n)}
    for net in all_nets:
        for i, way in net.crossings():
            a, b = (i, i + 1) if way == "up" else (i + 1, i)
            per[i].append({"name": net.name, "width": net.width, "direction": f"{tier_name(a)}->{tier_name(b)}",
                           "source": net.source, "source_tier": tier_name(net.tier),
                           "source_block": net.source.split(".")[0],
                           "sinks": [s for s, _ in net.sinks], "sink_tiers": sorted({tier_name(t) for _, t in net.sinks}),
                           "feed_through": a != net.tier, "protocol": net.kind, "registered": net.name in regd})
        for k in range(net.bottom + 1, net.top):
            if k != net.tier:
                through[tier_name(k)] += net.width
    top = f"{src['name']}_3d{n}"
    maps = {}
    interfaces = []
    for i, bl in per.items():
        kind = interface_kind(i, n)
        fname = f"bonds_{tier_name(i)}_{tier_name(i + 1)}.json"
        up = sum(b["width"] for b in bl if b["direction"].endswith(tier_name(i + 1)))
        maps[fname] = {"top": top, "partition": src["partition"], "interface": [tier_name(i), tier_name(i + 1)],
                       "bond_kind": kind, "bond_model": BOND_KINDS[kind],
                       "registered_bits": sum(b["width"] for b in bl if b["registered"]),
                       "bond_count": sum(b["width"] for b in bl), "bond_signals": len(bl),
                       "bonds_up": up, "bonds_down": sum(b["width"] for b in bl) - up, "bonds": bl}
        interfaces.append({"interface": [tier_name(i), tier_name(i + 1)], "bond_kind": kind, "file": fname,
                           "bond_count": maps[fname]["bond_count"],
                           "feed_through_bits": sum(b["width"] for b in bl if b["feed_through"])})
    maps["stack_map.json"] = {
        "top": top, "partition": src["partition"], "tiers_count": n, "registered_bonds": src["regs"],
        "tiers": {tier_name(k): sorted(b for b, t in src["assignment"].items() if t == k) for k in range(n)},
        "interfaces": interfaces, "feed_through_bits": through,
        "bond_count": sum(x["bond_count"] for x in interfaces)}
    return maps


def write_stack(cfg: LayerConfig, out_dir, n: int, partition: str = "memory-on-logic",
                overrides: dict[str, int] | None = None, regs: bool = False, report: bool = True, log=print,
                liberty=None) -> list:
    """Write the 2D top, every tier, the stacked top, ``stack_map.json``, one bond map per interface
    and (with ``report``) ``tiers_report.json`` (each tier synthesised: :func:`spikestack.gen.tiers.tier_report`)."""
    from .tiers import tier_report
    src = stack_sources(cfg, n, partition, overrides, regs)
    files = dict(src["texts"])
    maps = stack_maps(src)
    files.update({k: json.dumps(v, indent=1) + "\n" for k, v in maps.items()})
    if report:
        rep = tier_report({"bonds": [], "texts": src["texts"]}, log, liberty, tiers=[tier_name(k) for k in range(n)])
        per = [x["bond_count"] for x in maps["stack_map.json"]["interfaces"]]
        rep["bonds"] = sum(per)
        rep.pop("max_bond_pitch_um", None)
        for k, st in rep.get("tiers", {}).items():      # bonds on a tier's two faces; the pitch they allow
            i = int(k.split("_")[1])
            st["face_bonds"] = {"down": per[i - 1] if i else 0, "up": per[i] if i < n - 1 else 0}
            worst = max(st["face_bonds"].values())
            if st.get("area_um2") and worst:
                st["max_bond_pitch_um"] = (st["area_um2"] / worst) ** 0.5
        files["tiers_report.json"] = json.dumps(rep, indent=1) + "\n"
    man = manifest(cfg, src["design"], flat_top(src["design"], inspect_only=True), src["name"], list(files))
    man["tiers"] = {tier_name(k): sorted(b for b, t in src["assignment"].items() if t == k) for k in range(n)}
    man["partition"] = partition
    man["registered_bonds"] = regs
    files["manifest.json"] = json.dumps(man, indent=1) + "\n"
    return write_files(out_dir, files)
