"""qrouter in the built-in flow: its routing script line, its running log read (progress, failed
routes), and the checkpointed routing of large designs around a qflow routing step
(:mod:`spikestack.flows.builtin.resumable`)."""
from __future__ import annotations

import re
import time

from ..formats.def_ import net_count
from .platform import OSU018, run_logged
from .resumable import delays_script, final_routes, first_pass, ripup_script

__all__ = ["route_progress", "route_cleanup", "standard_route", "routing_line", "failed_routes", "failed_net_list",
           "checkpointed_first_pass", "checkpointed_routes"]


def route_progress(route_log: str) -> dict | None:
    """How far qrouter is, from its running log (``None`` before its first routed net): ``stage``
    (1: the first routing of every net; 2: a rip-up-and-reroute pass over the failed ones; 3: a
    clean-up pass that routes every net again and keeps the old route where it finds no better),
    ``passes`` (qrouter passes begun), ``left`` (its last ``Nets remaining``), ``failed`` (nets
    this pass could not route; not the clean-up's kept routes) and ``failed_before`` (the
    ``Failed net routes`` of the last finished pass, ``None`` before one)."""
    marks = re.findall(r"^\*\*\* Running stage(\d)", route_log, re.M)
    cur = re.split(r"^\*\*\* Running stage.*$", route_log, flags=re.M)[-1]
    left = re.findall(r"^Nets remaining: (\d+)", cur, re.M)
    if not left:
        return None
    before = re.findall(r"^Failed net routes: (\d+)|^(No failed routes)", route_log[:len(route_log) - len(cur)], re.M)
    return {"stage": int(marks[-1]) if marks else 1, "passes": len(marks), "left": int(left[-1]),
            "failed": len(re.findall(r"^Failed to route net (?!.*restoring original)", cur, re.M)),
            "failed_before": (int(before[-1][0]) if before[-1][0] else 0) if before else None}


def checkpointed_first_pass(run) -> dict:
    """Before the routing step of a design above ``knobs.cleanup_nets`` nets: qrouter's first pass
    in checkpointed chunks (:mod:`spikestack.flows.builtin.resumable`; a checkpoint of the same placement
    is continued), and the routing script made the last run, the rip-up of the checkpoint's failed
    nets. Returns the chunks' ``cpu_s`` and ``wall_s`` (over every run of them) and ``now_s`` (this
    call's seconds); zeros for a smaller design."""
    work, top = run.work, run.top
    placed = (work / f"{top}_unroute.def").read_text()
    if route_cleanup(placed):
        return {"cpu_s": 0.0, "wall_s": 0.0, "now_s": 0.0}
    t0 = time.time()
    cfg = work / f"{top}.cfg"
    lines = cfg.read_text().splitlines()
    head = lines[:next(k for k, line in enumerate(lines) if line.startswith("read_def"))]
    state = first_pass(work, top, head, placed, OSU018.knobs.chunk_nets, run_logged, run.log, label=top,
                       io_mask=OSU018.knobs.io_mask)
    cfg.write_text("\n".join(ripup_script(head, f"{top}_ckpt.def", state["failed"], f"{top}_route.def")) + "\n")
    return {"cpu_s": state["cpu_s"], "wall_s": state["wall_s"], "now_s": time.time() - t0, "head": head}


def checkpointed_routes(run, head: list[str]) -> float:
    """After the last run of a checkpointed routing: the routed DEF with each net's route once
    (:func:`~spikestack.flows.builtin.resumable.final_routes`) and its RC file written again from it.
    Returns qrouter's CPU seconds."""
    work, top = run.work, run.top
    routed = work / f"{top}.def"
    routed.write_text(final_routes(routed.read_text(), (work / f"{top}_ckpt.def").read_text(),
                                   (work / "log" / "route.log").read_text(errors="replace")))   # qrouter's whole log
    (work / f"{top}_rc.cfg").write_text("\n".join(delays_script(head, routed.name, f"{top}.rc")) + "\n")
    return run_logged(["qrouter", "-nog", "-s", f"{top}_rc.cfg"], work, run.logs / "route_rc.log", "RC of the routed DEF")


def route_cleanup(placed_def: str) -> bool:
    """Whether qrouter runs its clean-up stage (stage 3) on this placed design: not above
    ``knobs.cleanup_nets`` nets. The same rule for every implementation of a comparison."""
    return net_count(placed_def) <= OSU018.knobs.cleanup_nets


def standard_route(routed_def: str, cleanup: bool) -> str:
    """qrouter's routing script line: stages 1 and 2, then stage 3 unless ``cleanup`` is false."""
    return f"qrouter::standard_route {routed_def} false" + ("" if cleanup else " true")


def routing_line(top: str, total: int, route_log: str, elapsed_s: float) -> str | None:
    """One progress line of a qrouter run of ``top`` (``total`` nets; its running log so far):
    nets routed of all, failed in this pass, minutes; ``None`` before its first routed net."""
    got = route_progress(route_log)
    if not (got and total):
        return None
    done = total - got["left"]
    where = {1: f"first pass, {done} of {total} nets ({100 * done / total:.0f} %)",
             2: "rip-up pass" + ("" if got["failed_before"] is None else
                                 f" (the pass before left {got['failed_before']} failed)") + f", {got['left']} to go",
             3: f"clean-up pass, {done} of {total} nets"}[got["stage"]]
    return f"[ppa] {top}: routing: {where}, {got['failed']} failed in this pass, {elapsed_s / 60:.0f} min"


def failed_routes(route_log: str) -> int | None:
    """qrouter's count of failed routes (``None``: no result in the log)."""
    m = re.search(r"Final: (?:Failed net routes: )?(\d+)(?: failed routes)?|Final: No failed routes", route_log)
    return int(m.group(1)) if m and m.group(1) else (0 if m else None)


def failed_net_list(route_log: str) -> list[str]:
    """The nets of qrouter's last ``Final: Failed net routes`` report (its ``List of failed nets
    follows:`` lines, one net a line up to a blank line); empty when the log has no such list."""
    at = route_log.rfind("List of failed nets follows:")
    if at < 0:
        return []
    out = []
    for line in route_log[at:].splitlines()[1:]:
        if not line.strip() or line.startswith("---"):
            break
        out.append(line.strip())
    return out

