"""The co-placed design's routing over the combined 12-layer stack, each net kept to its metals.

qrouter has no per-net layer range. Given all nets at once over the combined stack it takes a tier
net through the other tier's metals (over two bonds) wherever its own tier is congested: 0 or 1
nets on the small designs, but 1871 of moe_ppa_mid's 31,189 (6 %), which a repair run per tier
(:mod:`spikestack.flows.coplace.repair`) then had to route again inside their tier: about an hour
for the logic tier's 1186, one of which it could not route back. So the nets are routed in groups, in one grid that the groups fill in
turn (:func:`route_by_tier`):

1. the **3D nets** (bonds of the F2F map; chip inputs used on both tiers) over all 12 layers;
2. the **logic tier's nets**, the memory tier's six metals closed to them;
3. the **memory tier's nets**, the logic tier's six metals closed to them.

Each group is one qrouter run (stages 1-3; above ``FlowKnobs.cleanup_nets`` nets the checkpointed
first pass and rip-up of :mod:`spikestack.flows.builtin.resumable`) on the DEF the groups before it routed:
their routes stay as obstructions (``ignore``), the later groups' nets are not routed yet, and the
closed metals are ``obstruction`` s over the whole die. A tier net therefore cannot cross the bond
layer: no repair is needed. What a group cannot do is rip up a net of an earlier group; the 3D nets,
routed first, take their tracks before any tier net (in one run they would also mostly go first:
qrouter routes the nets of most terminals first). ``FlowKnobs.coplace_tier_layers = False`` gives
the one run over all nets with the repair afterwards (the first form of this flow), for comparison.

A group's failed routes are the nets of its own that qrouter's last list names
(:func:`group_failures`): with the other tier's metals closed, qrouter also lists a net of an earlier
group whose pin lies under them ("has no taps"), although that net is only ``ignore`` d and keeps
the earlier group's route.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from ..builtin.flow import FlowError, failed_routes, routing_line, run_logged, standard_route
from ..builtin.routing import failed_net_list
from ..formats.def_ import net_blocks, net_count
from ..builtin.platform import OSU018
from ..builtin.resumable import final_routes, first_pass, ripup_script, tcl_net, with_blocks
from .pins import TIERS
from .stack import routing_layers, tier_of_layer

__all__ = ["base_cfg", "qrouter_run", "other_tier_layers", "closed_layers", "layer_groups", "route_by_tier",
           "group_failures"]


def base_cfg(obstructions: list[str]) -> list[str]:
    """The routing script's lines before ``read_def``: the combined LEF, 12 layers, ``obstructions``."""
    return ["verbose 1", "read_lef combined.lef", "catch {layers 12}", "via stack 1", "vdd vdd", "gnd gnd",
            *obstructions]


def qrouter_run(rdir: Path, tag: str, lef: str, def_text: str, head: list[str], cleanup: bool, log,
                label: str, reuse: bool = False, nets: set[str] | None = None) -> tuple[str, float, str]:
    """One routing of ``def_text`` in ``rdir`` (files ``<tag>.*``): qrouter's stages 1, 2 and (with
    ``cleanup``) 3, or without it the checkpointed first pass and rip-up; ``nets``: only those are
    routed, every other net ``ignore`` d (its routes in the DEF are obstructions). ``reuse``: a finished
    run of the same inputs in ``rdir`` is kept. Returns the routed DEF ("" if qrouter wrote none),
    the seconds and the log."""
    rdir.mkdir(parents=True, exist_ok=True)
    ignore = [] if nets is None else [n for n in net_blocks(def_text) if n not in nets]
    routed, logf, done = rdir / f"{tag}_route.def", rdir / f"{tag}.log", rdir / f"{tag}_route.json"
    cfg = [*head, f"read_def {tag}.def", *(f"ignore {tcl_net(n)}" for n in ignore),
           standard_route(f"{tag}_route.def", cleanup), "quit"]
    chunks = {"wall_s": 0.0}
    if not cleanup:
        # a large design: the first pass in checkpointed chunks, then the rip-up (flows/builtin/resumable.py)
        (rdir / "combined.lef").write_text(lef)
        chunks = first_pass(rdir, tag, head, def_text, OSU018.knobs.chunk_nets, run_logged, log, label=label, nets=nets,
                            io_mask=OSU018.knobs.io_mask)
        cfg = ripup_script(head, f"{tag}_ckpt.def", chunks["failed"], f"{tag}_route.def", ignore)
    inputs = {"combined.lef": lef, f"{tag}.def": def_text, f"{tag}.cfg": "\n".join(cfg) + "\n"}
    if reuse and routed.exists() and logf.exists() and done.exists() and all(
            (rdir / f).exists() and (rdir / f).read_text() == t for f, t in inputs.items()):
        log(f"[ppa] {label}: reusing the routing of the same DEF")
        return routed.read_text(), json.loads(done.read_text())["seconds"], logf.read_text(errors="replace")
    routed.unlink(missing_ok=True)
    done.unlink(missing_ok=True)
    for f, t in inputs.items():
        (rdir / f).write_text(t)
    t0 = time.time()
    total = len(nets) if nets is not None else net_count(def_text)

    def progress(elapsed_s: float):
        line = routing_line(label, total, logf.read_text(errors="replace"), elapsed_s)
        if line:
            log(line)
    try:
        run_logged(["qrouter", "-nog", "-s", f"{tag}.cfg"], rdir, logf, f"{label} routing", progress)
    except FlowError as e:                  # no routed DEF: reported by the caller as a failed routing
        log(f"[ppa] {label}: {e}")
    log_text = logf.read_text(errors="replace")
    if not cleanup and routed.exists():
        routed.write_text(final_routes(routed.read_text(), (rdir / f"{tag}_ckpt.def").read_text(), log_text))
    secs = time.time() - t0 + chunks["wall_s"]
    if routed.exists():
        done.write_text(json.dumps({"seconds": round(secs, 1)}) + "\n")
    return (routed.read_text() if routed.exists() else ""), secs, log_text


def other_tier_layers(lef: str, tier: str) -> list[str]:
    """The routing layers of the combined stack that are not ``tier``'s own."""
    return [l for l in routing_layers(lef) if tier_of_layer(l) not in (tier, "bond")]


def closed_layers(layers: list[str], die_um: tuple[float, float, float, float]) -> list[str]:
    """qrouter ``obstruction`` lines closing each of ``layers`` over the whole die (µm)."""
    x0, y0, x1, y1 = die_um
    return [f"obstruction {x0:.3f} {y0:.3f} {x1:.3f} {y1:.3f} {l}" for l in layers]


def layer_groups(kinds: dict[str, str], lef: str, first: dict[str, set[str]] | None = None
                 ) -> list[tuple[str, set[str], list[str]]]:
    """The routing groups in order: (label, nets, routing layers closed to them); ``kinds``: net ->
    ``tier_top`` / ``tier_bottom`` / another kind (a net that may cross: a bond, a shared input).
    ``first``: tier -> tier nets routed before the 3D nets (each in its own tier's metals), the nets
    a routing in the usual order could not route (:func:`route_by_tier`)."""
    first = {t: set(n) for t, n in (first or {}).items() if n}
    cross = {n for n, k in kinds.items() if k not in TIERS}
    out = [(f"{t}_first", first[t], other_tier_layers(lef, t)) for t in ("tier_bottom", "tier_top") if t in first]
    out.append(("3d", cross, []))
    for t in ("tier_bottom", "tier_top"):
        out.append((t, {n for n, k in kinds.items() if k == t} - first.get(t, set()), other_tier_layers(lef, t)))
    return [g for g in out if g[1]]


def route_by_tier(rdir: Path, name: str, lef: str, def_text: str, obstructions: list[str], kinds: dict[str, str],
                  die_um: tuple[float, float, float, float], cleanup: bool, log, reuse: bool = False,
                  retries: int = 1) -> dict:
    """The groups of :func:`layer_groups` routed in turn (module docstring). A group cannot rip up
    the routes of an earlier one, so a tier net whose pins the 3D nets (routed first) have walled in
    fails; then, up to ``retries`` times, the whole routing is done again with the tier nets that
    failed routed first (before the 3D nets, in their own tier's metals), the 3D nets finding their
    way around them. Returns ``routed_def`` (all groups' routes), ``seconds``, ``failed`` (the groups'
    failed routes; ``None`` if a group's qrouter gave no result), ``groups`` (per group: nets,
    failed, seconds) and ``retries`` (per retry: the nets routed first)."""
    first: dict[str, set[str]] = {}
    tried, secs = [], 0.0
    for attempt in range(retries + 1):
        res = _route_groups(rdir, name, lef, def_text, obstructions, kinds, die_um, cleanup, log, reuse, first)
        secs += res["seconds"]
        tier_failed = {k: v for k, v in res["failed_nets"].items() if k in TIERS}
        if not res["failed"] or not tier_failed or attempt == retries:
            break
        first = {t: first.get(t, set()) | tier_failed.get(t, set()) for t in TIERS}
        tried.append({t: sorted(n) for t, n in first.items() if n})
        log(f"[ppa] coplaced: {sum(len(v) for v in tier_failed.values())} tier net(s) failed behind the 3D nets: "
            "routing again with them first")
    return {"routed_def": res["routed_def"], "seconds": secs, "failed": res["failed"], "groups": res["groups"],
            "retries": tried}


def _route_groups(rdir: Path, name: str, lef: str, def_text: str, obstructions: list[str], kinds: dict[str, str],
                  die_um: tuple[float, float, float, float], cleanup: bool, log, reuse: bool,
                  first: dict[str, set[str]]) -> dict:
    """One routing of the groups in turn; ``failed_nets``: group's tier (or ``3d``) -> its nets left
    failed (only groups with some)."""
    cur, secs, failed, groups, failed_nets = def_text, 0.0, 0, [], {}
    tag_suffix = "_retry" if first else ""
    for label, nets, closed in layer_groups(kinds, lef, first):
        head = base_cfg([*obstructions, *closed_layers(closed, die_um)])
        what = f"{name} (co-placed, {label} nets" + (", the other tier's metals closed)" if closed else ", 12 layers)")
        routed, s, log_text = qrouter_run(rdir, f"{name}_{label}{tag_suffix}", lef, cur, head, cleanup, log, what,
                                          reuse, nets)
        got = net_blocks(routed) if routed else {}
        cur = with_blocks(cur, {n: got[n] for n in nets if n in got})
        f, own, foreign = group_failures(failed_routes(log_text) if routed else None, failed_net_list(log_text), nets)
        failed = None if f is None or failed is None else failed + f
        if own:
            failed_nets.setdefault(label.replace("_first", ""), set()).update(own)
        secs += s
        groups.append({"group": label, "nets": len(nets), "closed_layers": closed, "failed": f,
                       "failed_nets": sorted(own), "listed_outside": sorted(foreign), "seconds": round(s, 1)})
        log(f"[ppa] coplaced: {label} nets routed ({len(nets)}, {f} failed, {s:.0f} s)"
            + (f"; qrouter also listed {len(foreign)} net(s) of an earlier group, routed there: "
               + ", ".join(sorted(foreign)) if foreign else ""))
    return {"routed_def": cur, "seconds": secs, "failed": failed, "groups": groups, "failed_nets": failed_nets}


def group_failures(count: int | None, listed: list[str], nets: set[str]) -> tuple[int | None, set[str], set[str]]:
    """One group's failed routes from qrouter's ``count`` (``None``: no result) and its list of
    failed nets: (the group's count, its failed nets, listed nets outside the group). qrouter lists
    an ``ignore`` d net of an earlier group when the metals closed to this group cover one of its
    pins ("has no taps"): that net keeps the earlier group's route (only this group's nets are taken
    from this run), so it is not this group's failure. Without a list the count stands."""
    if count is None or not listed:
        return count, set(), set()
    own = set(listed) & nets
    return len(own), own, set(listed) - nets
