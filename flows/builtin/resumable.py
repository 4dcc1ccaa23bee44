"""Checkpointed qrouter runs for large designs: qrouter's own stages, the first pass cut into
chunks whose routes are saved between runs, so that a routing of hours resumes where it stopped.

qrouter 1.4 does not resume from a half-routed DEF: given one, its first stage routes every net
again (measured on a 2535-net design: 996 of 1254 routed nets came out with other routes). Two
of its commands make chunks possible:

* ``ignore <net>``: the net is not routed, and its routes read from the DEF stay in the grid as
  obstructions (measured: no grid point shared by an ignored route and a new one);
* ``stage1 route <net>``: one net routed, the routes read from the DEF kept; a failure goes on
  qrouter's list of failed nets, which ``stage2`` (rip-up and re-route) then works through.

:func:`first_pass`: the nets in qrouter's order (most terminals first, then DEF order), ``chunk``
at a time: one qrouter run reads the checkpoint DEF, ignores every net but the chunk's, runs its
first stage and writes its DEF; the chunk's routes go into the checkpoint (``<name>_ckpt.def``,
written before ``<name>_ckpt.json`` records the chunk done, each by an atomic rename). A failed
net of a chunk is left unrouted there. :func:`ripup_script`: the last run reads the checkpoint,
routes the failed nets with ``stage1 route`` (their order), then qrouter's stage-2 schedule of
``qrouter::standard_route`` (no clean-up: designs this large have none, ``FlowKnobs.cleanup_nets``),
and writes the routed DEF, ``fail.out`` and the RC file as ``standard_route`` does. qrouter's
``write_def`` writes a net read from a DEF twice (the route read and its own copy of it: 533 of
831 nets of a LIF PE came out longer, +3.6 % wire in all) and its RC file of that run counts
them so (+6.7 % wire C); :func:`final_routes` therefore keeps the checkpoint's route of every net
the last run did not rip up, and :func:`delays_script` writes the RC file again from that DEF
(read and written back, a routed DEF's RC file differs by 0.3 % from the one of its routing).

The nets that reach an I/O pin of the die are routed first, in chunks of their own, with the
net's bounding box as qrouter's mask (``FlowKnobs.io_mask``, :func:`io_first`): with qrouter's
default mask (a trunk and branches, widened pass by pass) most of a large block's I/O nets failed
the first pass, on an empty die as well, while its other nets mostly routed.

What differs from one qrouter run: a net of a later chunk is not in the grid while an earlier
chunk routes, as in one run; the routes of earlier chunks are read back from DEF instead of kept
in memory, and a failed net's partial route is dropped instead of kept as an obstruction.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from ..formats.def_ import net_blocks, net_pieces, net_terminals

__all__ = ["net_blocks", "tcl_net", "qrouter_order", "io_first", "with_blocks", "first_pass", "ripup_script", "final_routes", "delays_script", "STATE"]

STATE = "{name}_ckpt.json"


def qrouter_order(def_text: str) -> list[str]:
    """The signal nets qrouter routes (two terminals or more) in its order: most terminals
    first, then the order of the DEF's ``NETS``."""
    nets = [(n, len(net_terminals(b))) for n, b in net_blocks(def_text).items()]
    return [n for _, (n, k) in sorted(enumerate(nets), key=lambda p: (-p[1][1], p[0])) if k >= 2]


def with_blocks(def_text: str, blocks: dict[str, str]) -> str:
    """``def_text`` with the ``NETS`` blocks of the nets in ``blocks`` replaced by theirs."""
    head, sep, rest = def_text.partition("\nNETS ")
    body, end, tail = rest.partition("\nEND NETS")
    first, *parts = net_pieces(body)
    out = [blocks.get(p.split()[1], p.rstrip()) + "\n" for p in parts]
    return head + sep + first + "".join(out).rstrip("\n") + end + tail


def _routed(block: str) -> bool:
    return "+ ROUTED" in block


def tcl_net(net: str) -> str:
    """A net name as one Tcl word for a qrouter script (braces: no substitution of the $ in qflow's buffer names)."""
    return "{" + net + "}"


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def io_first(def_text: str, order: list[str]) -> tuple[list[str], int]:
    """``order`` with the nets that reach an I/O pin of the die first (each group in its order), and
    how many those are. The default MoE's blocks showed why (BENCHMARKS.md, "I/O nets first"): in
    qrouter's first stage with its default mask, 59 % of the expert core's I/O nets failed and 6 %
    of its other nets; of 512 I/O nets routed alone in a chunk of 2,000, 267 failed with the default
    mask, 0 with the net's bounding box as the mask."""
    io = {n for n, b in net_blocks(def_text).items() if any(c == "PIN" for c, _ in net_terminals(b))}
    first = [n for n in order if n in io]
    return first + [n for n in order if n not in io], len(first)


def first_pass(rdir: Path, name: str, head: list[str], placed_def: str, chunk: int, runner: Callable,
               log: Callable = print, label: str | None = None, max_chunks: int | None = None,
               nets: set[str] | None = None, io_mask: str | None = None) -> dict:
    """The first stage of qrouter over ``placed_def`` in chunks of ``chunk`` nets, checkpointed in
    ``rdir`` (module docstring); ``head``: the routing script's lines before its ``read_def``
    (LEF, layers, obstructions); ``runner(cmd, cwd, log_path, step)`` runs qrouter and returns its
    CPU seconds. A checkpoint of the same placement, script and chunk size is continued.
    ``max_chunks``: stop after that many chunks (a test of the resumption). ``nets``: only these
    nets are routed (the others stay as the DEF has them: routed ones are obstructions). ``runner`` is also given a
progress function of the seconds elapsed (a line in ``log`` each time). Returns the state:
    ``done`` (nets attempted), ``failed`` (those left unrouted), ``order``, ``cpu_s``, ``wall_s``,
    ``chunks``, ``finished``, ``io_nets``.
    ``io_mask`` (qrouter's ``mask`` option, e.g. ``bbox``): the nets that reach an I/O pin are routed
    first (:func:`io_first`), in chunks of their own, with that mask; ``None``: qrouter's order and
    mask for every net."""
    rdir = Path(rdir)
    ck_def, ck_json = rdir / f"{name}_ckpt.def", rdir / STATE.format(name=name)
    key = hashlib.sha256("\0".join([placed_def, *head, str(chunk), *sorted(nets or ()),
                                    *([f"io_mask={io_mask}"] if io_mask else [])]).encode()).hexdigest()[:16]
    state = json.loads(ck_json.read_text()) if ck_json.exists() else None
    if not state or state.get("key") != key or not ck_def.exists():
        order, io_nets = [n for n in qrouter_order(placed_def) if nets is None or n in nets], 0
        if io_mask:
            order, io_nets = io_first(placed_def, order)
        state = {"key": key, "order": order, "io_nets": io_nets, "done": 0, "failed": [], "cpu_s": 0.0, "wall_s": 0.0,
                 "chunks": 0, "finished": False}
        _atomic(ck_def, placed_def)
        _atomic(ck_json, json.dumps(state))
    elif state["done"]:
        log(f"[ppa] {label or name}: routing: resuming the first pass at {state['done']} of {len(state['order'])} nets "
            f"({len(state['failed'])} failed so far)")
    order, all_nets = state["order"], list(net_blocks(placed_def))
    ran = 0
    while state["done"] < len(order) and (max_chunks is None or ran < max_chunks):
        t0 = time.time()
        io_left = state.get("io_nets", 0) - state["done"]        # a chunk holds I/O nets or others, not both
        part = order[state["done"]:state["done"] + (min(chunk, io_left) if io_left > 0 else chunk)]
        mine = set(part)
        script = [*head, f"read_def {ck_def.name}", *(f"ignore {tcl_net(n)}" for n in all_nets if n not in mine),
                  f"stage1 mask {io_mask}" if io_left > 0 else "stage1", f"write_def {name}_chunk.def", "quit"]
        (rdir / f"{name}_chunk.cfg").write_text("\n".join(script) + "\n")
        (rdir / f"{name}_chunk.def").unlink(missing_ok=True)
        chunk_log = rdir / f"{name}_chunk.log"

        def progress(elapsed_s: float, base=dict(state)):
            text = chunk_log.read_text(errors="replace") if chunk_log.exists() else ""
            fails = len(re.findall(r"^Failed to route net ", text, re.M))
            routed = len(re.findall(r"^Finished routing net ", text, re.M)) + fails
            log(f"[ppa] {label or name}: routing: first pass (checkpointed), {base['done'] + routed} of {len(order)} "
                f"nets, {len(base['failed']) + fails} failed, {(base['wall_s'] + elapsed_s) / 60:.0f} min")
        cpu = runner(["qrouter", "-nog", "-s", f"{name}_chunk.cfg"], rdir, chunk_log, "routing (first pass, a chunk)",
                     progress)
        out = net_blocks((rdir / f"{name}_chunk.def").read_text())
        # a net qrouter failed keeps what it did route in its DEF: left out, routed again by the rip-up
        bad = set(re.findall(r"^Failed to route net (\S+)", chunk_log.read_text(errors="replace"), re.M))
        new = {n: out[n] for n in part if n in out and _routed(out[n]) and n not in bad}
        _atomic(ck_def, with_blocks(ck_def.read_text(), new))
        state["failed"] += [n for n in part if n not in new]
        state["done"] += len(part)
        state["chunks"] += 1
        state["cpu_s"] = round(state["cpu_s"] + cpu, 1)
        state["wall_s"] = round(state["wall_s"] + time.time() - t0, 1)
        state["finished"] = state["done"] >= len(order)
        _atomic(ck_json, json.dumps(state))
        ran += 1
        log(f"[ppa] {label or name}: routing: first pass (checkpointed), {state['done']} of {len(order)} nets, "
            f"{len(state['failed'])} failed, {state['cpu_s'] / 60:.0f} CPU-min")
    state["finished"] = state["done"] >= len(order)
    return state


def ripup_script(head: list[str], ckpt_def: str, failed: list[str], routed_def: str,
                 ignore: list[str] = ()) -> list[str]:
    """The last run's script: the checkpoint read, the failed nets routed one by one (``stage1 route``
    returns 0 or 1 for its one net: the failures are counted over all of them, so the rip-up runs
    whenever one is left, not only when the last one failed), then the
    rip-up-and-reroute schedule of ``qrouter::standard_route`` without its clean-up stage, and the
    DEF, ``fail.out`` and RC file written as it writes them; the nets of ``ignore`` are neither
    routed nor ripped up."""
    root = re.sub(r"\.def$", "", routed_def)
    return [*head, f"read_def {ckpt_def}", *(f"ignore {tcl_net(n)}" for n in ignore), "set result 0",
            *(f"incr result [stage1 route {tcl_net(n)}]" for n in failed),     # 0 or 1 a net: the sum
            "if {$result > 0} {",
            "  set msize 10",
            "  while {$msize <= 100} {",
            "    set last $result",
            "    puts stdout \"*** Running stage2 routing with options mask $msize, effort 10\"",
            "    set result [stage2 mask $msize effort 10]",
            "    if {!$result} {break}",
            "    if {$result > $last} {",
            "      set wide [expr $msize + 80]",
            "      puts stdout \"*** Running stage2 routing with options mask $wide, effort 20\"",
            "      set result [stage2 mask $wide effort 20]",
            "      if {!$result} {break}",
            "      if {$result < 5} {",
            "        puts stdout \"*** Running stage2 routing with options mask none, effort 50\"",
            "        set result [stage2 mask none effort 50]",
            "      }",
            "      if {!$result} {break}",
            "    }",
            "    incr msize 10",
            "  }",
            "}",
            "if {$result > 0} {",
            "  foreach e {20 40 60 80 100} {",
            "    puts stdout \"*** Running stage2 routing with options mask none, effort $e\"",
            "    set result [stage2 mask none effort $e]",
            "    if {!$result} {break}",
            "  }",
            "}",
            "puts stdout \"*** Cleanup stage (stage3) bypassed\"",
            "cleanup all",
            "if {$result == 0} {if {![catch {antenna init}]} {antenna fix}}",
            f"write_def {root}.def",
            "if {$result > 0} {write_failed fail.out}",
            f"write_delays {root}.rc",
            "quit"]


def final_routes(routed_def: str, ckpt_def: str, route_log: str) -> str:
    """The routed DEF of the last run with the checkpoint's route of each net it did not rip up
    (its log's ``Ripping up blocking net``): the nets the last run routed or re-routed keep its
    routes, the others their first-pass route, once."""
    ripped = set(re.findall(r"^Ripping up blocking net (\S+)", route_log, re.M))
    first = {n: b for n, b in net_blocks(ckpt_def).items() if _routed(b) and n not in ripped}
    return with_blocks(routed_def, first)


def delays_script(head: list[str], routed_def: str, rc_file: str) -> list[str]:
    """A qrouter script that reads a routed DEF and writes its RC file (``write_delays``)."""
    return [*head, f"read_def {routed_def}", f"write_delays {rc_file}", "quit"]
