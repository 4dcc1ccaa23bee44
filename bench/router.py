"""`make bench-router`: qrouter's cost per net against the die it routes in.

Why the large designs take hours in the built-in flow: qrouter 1.4.71 (Debian) prepares every net
by copying the whole routing grid (``route_setup`` in ``qrouter.c``: every layer x every grid
point), so the time of a net grows with the die area, not with the net. This bench measures it on
one real placed design: the logic tier of ``configs/moe_ppa_small.toml`` (memory-on-logic, GLBs as
SRAM macros on the other tier) through the built-in flow, then qrouter's first stage on the same
placement in dies enlarged by ``SCALES`` in x and y (the cells stay where they are; only the grid
grows). Table: die, grid points, nets routed, CPU seconds, ms per net, and the ms per net that each
mm² of die adds (against the smallest die).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from ..config import load_config
from ..flows.builtin.flow import run_flow, run_logged
from ..flows.formats.def_ import def_units_die, net_count
from ..flows.builtin.platform import ensure_tools
from ..gen.tiers import tier_sources
from . import markdown_table

__all__ = ["run", "SCALES", "enlarge_die", "route_alone"]

ROOT = Path(__file__).resolve().parents[1]
SCALES = (1, 6, 12)


def enlarge_die(def_text: str, scale: int) -> str:
    """The placed DEF in a die ``scale`` times as wide and as high (lower-left corner kept), with its
    ``TRACKS`` extended to cover it."""
    if scale == 1:
        return def_text
    x0, y0, x1, y1 = map(round, def_units_die(def_text)[1])
    nx1, ny1 = x0 + (x1 - x0) * scale, y0 + (y1 - y0) * scale
    text = re.sub(r"DIEAREA[^;]*;", f"DIEAREA ( {x0} {y0} ) ( {nx1} {ny1} ) ;", def_text, count=1)

    def tracks(t):
        axis, start, step = t.group(1), float(t.group(2)), int(t.group(4))
        span = (nx1 if axis == "X" else ny1) - start
        return f"TRACKS {axis} {t.group(2)} DO {int(span // step) + 1} STEP {step}"
    return re.sub(r"TRACKS ([XY]) (-?[\d.]+) DO (\d+) STEP (\d+)", tracks, text)


def _grid_points(def_text: str) -> int:
    """qrouter's grid: the most tracks across x times the most along y, times the layers."""
    tracks = re.findall(r"TRACKS ([XY]) \S+ DO (\d+) STEP \d+ LAYER (\S+)", def_text)
    nx = max(int(n) for a, n, _ in tracks if a == "X")
    ny = max(int(n) for a, n, _ in tracks if a == "Y")
    return nx * ny * len({layer for *_, layer in tracks})


def _stage1(work: Path, name: str, def_text: str, lefs: list[str]) -> dict:
    """qrouter's first stage on ``def_text``: CPU seconds and nets routed."""
    exe = ensure_tools()["qrouter"]
    (work / f"{name}.def").write_text(def_text)
    (work / f"{name}.cfg").write_text("".join(f"read_lef {lef}\n" for lef in lefs)
                                      + f"catch {{layers 6}}\nvia stack 1\nvdd vdd\ngnd gnd\n"
                                        f"read_def {name}.def\nstage1\nquit\n")
    log = work / f"{name}.log"
    cpu_s = run_logged([exe, "-nog", "-s", f"{name}.cfg"], work, log, f"qrouter stage 1 on {name}.def")
    out = log.read_text()
    routed = len(re.findall(r"^Finished routing net", out, re.M))
    failed = re.findall(r"^Failed net routes: (\d+)", out, re.M)
    routes = re.findall(r"Stage 1 total routes completed: (\d+)", out)
    return {"cpu_s": cpu_s, "nets_routed": routed,
            "routes": int(routes[-1]) if routes else None, "failed": int(failed[-1]) if failed else None}


def run(out_dir: Path, scales=SCALES) -> str:
    out_dir = Path(out_dir) / "router"
    cfg = load_config(ROOT / "configs" / "moe_ppa_small.toml")
    src = tier_sources(cfg, "memory-on-logic", macros=True, tiers_only=True)
    rep = run_flow(src["texts"]["tier_bottom.v"], "tier_bottom", out_dir / "flow", log=lambda *_: None)
    work = out_dir / "flow" / "work"
    placed = (work / "tier_bottom_unroute.def").read_text()
    lefs = re.findall(r"^read_lef\s+(\S+)", (work / "tier_bottom.cfg").read_text(), re.M)
    rows, raw, base = [], {}, None
    for s in scales:
        text = enlarge_die(placed, s)
        u, (x0, y0, x1, y1) = def_units_die(text)
        mm2 = (x1 - x0) * (y1 - y0) / u / u / 1e6
        grid = _grid_points(text)
        r = _stage1(out_dir, f"die_x{s}", text, lefs)
        ms = 1e3 * r["cpu_s"] / max(1, r["nets_routed"])
        base = base or (mm2, ms)
        per_mm2 = (ms - base[1]) / (mm2 - base[0]) if mm2 > base[0] else None
        raw[s] = dict(r, die_mm2=mm2, grid_points=grid, ms_per_net=ms, ms_per_net_per_mm2=per_mm2)
        rows.append([f"x{s}", f"{mm2:.3f}", f"{grid / 1e6:.1f} M", r["nets_routed"], r["routes"], r["failed"],
                     f"{r['cpu_s']:.1f}", f"{ms:.1f}", f"{per_mm2:.1f}" if per_mm2 is not None else "-"])
    (out_dir / "router.json").write_text(json.dumps({"design": "moe_ppa_small tier_bottom (memory-on-logic)",
                                                     "nets": net_count(placed), "flow": rep["step_seconds"],
                                                     "scales": raw}, indent=1) + "\n")
    head = ["die", "die (mm²)", "grid points (6 layers)", "nets routed", "routes (pin to pin)", "failed (stage 1)", "CPU s",
            "ms per net", "ms per net per added mm²"]
    return ("qrouter's first stage on one placement (moe_ppa_small's logic tier, memory-on-logic, "
            f"{net_count(placed)} nets) in dies enlarged in x and y; the cells stay in place. "
            "`make bench-router`.\n\n" + markdown_table(head, rows))


CHUNKS = (1000, 500)


def _one_run(work: Path, head: list[str], placed: str, name: str) -> dict:
    """One qrouter run: stages 1 and 2 of ``standard_route``, no clean-up (as for a large design)."""
    from ..flows.builtin.flow import failed_routes, standard_route
    work.mkdir(parents=True, exist_ok=True)
    (work / f"{name}.def").write_text(placed)
    (work / f"{name}.cfg").write_text("\n".join([*head, f"read_def {name}.def", standard_route(f"{name}_route.def", False),
                                                 "quit"]) + "\n")
    cpu = run_logged(["qrouter", "-nog", "-s", f"{name}.cfg"], work, work / "route.log", "one qrouter run")
    log = (work / "route.log").read_text()
    first = re.search(r"^Failed net routes: (\d+)|^No failed routes", log, re.M)
    return {"runs": 1, "first_failed": int(first.group(1) or 0) if first else None, "failed": failed_routes(log),
            "cpu_s": cpu, "def": (work / f"{name}_route.def").read_text(), "rc": (work / f"{name}_route.rc").read_text()}


def _chunked(work: Path, head: list[str], placed: str, name: str, chunk: int) -> dict:
    """The checkpointed routing of :mod:`spikestack.flows.builtin.resumable` in chunks of ``chunk`` nets."""
    from ..flows.builtin.flow import failed_routes
    from ..flows.builtin.resumable import delays_script, final_routes, first_pass, ripup_script
    work.mkdir(parents=True, exist_ok=True)
    for f in work.glob(f"{name}_ckpt*"):
        f.unlink()                                  # measured from nothing
    state = first_pass(work, name, head, placed, chunk, run_logged, log=lambda *_: None)
    (work / f"{name}.cfg").write_text("\n".join(ripup_script(head, f"{name}_ckpt.def", state["failed"],
                                                             f"{name}_route.def")) + "\n")
    cpu = state["cpu_s"] + run_logged(["qrouter", "-nog", "-s", f"{name}.cfg"], work, work / "route.log", "rip-up run")
    log = (work / "route.log").read_text()
    routed = final_routes((work / f"{name}_route.def").read_text(), (work / f"{name}_ckpt.def").read_text(), log)
    (work / f"{name}_final.def").write_text(routed)
    (work / "rc.cfg").write_text("\n".join(delays_script(head, f"{name}_final.def", f"{name}_final.rc")) + "\n")
    cpu += run_logged(["qrouter", "-nog", "-s", "rc.cfg"], work, work / "rc.log", "RC file")
    return {"runs": state["chunks"] + 2, "first_failed": len(state["failed"]), "failed": failed_routes(log), "cpu_s": cpu,
            "def": routed, "rc": (work / f"{name}_final.rc").read_text()}


def run_chunks(out_dir: Path, chunks=CHUNKS) -> str:
    """`make bench-chunks`: the checkpointed routing of large designs (flows/builtin/resumable.py) against
    one qrouter run, on the placement of :func:`run` (moe_ppa_small's logic tier): failures of the
    first pass and after the rip-up, routed wirelength, qrouter's wire C and CPU seconds."""
    from ..flows.formats.def_ import def_stats
    from ..flows.formats.rc import loads_tcl
    out_dir = Path(out_dir) / "router"
    cfg = load_config(ROOT / "configs" / "moe_ppa_small.toml")
    src = tier_sources(cfg, "memory-on-logic", macros=True, tiers_only=True)
    run_flow(src["texts"]["tier_bottom.v"], "tier_bottom", out_dir / "flow", log=lambda *_: None)
    work = out_dir / "flow" / "work"
    placed = (work / "tier_bottom_unroute.def").read_text()
    lines = (work / "tier_bottom.cfg").read_text().splitlines()
    head = lines[:next(i for i, line in enumerate(lines) if line.startswith("read_def"))]
    res = {"one run": _one_run(out_dir / "one_run", head, placed, "tier_bottom")}
    for c in chunks:
        res[f"chunks of {c}"] = _chunked(out_dir / f"chunks_{c}", head, placed, "tier_bottom", c)
    rows, raw = [], {}
    base = res["one run"]
    for k, r in res.items():
        wl, cap = def_stats(r["def"])["wirelength_um"], loads_tcl(r["rc"])[1]
        raw[k] = {x: r[x] for x in ("runs", "first_failed", "failed", "cpu_s")} | {"wirelength_um": wl, "wire_c_pf": cap}
        bwl, bcap = def_stats(base["def"])["wirelength_um"], loads_tcl(base["rc"])[1]
        rows.append([k, r["runs"], r["first_failed"], r["failed"], f"{wl:,.0f}", f"{wl / bwl:.3f}", f"{cap:.3f}",
                     f"{cap / bcap:.3f}", f"{r['cpu_s']:.1f}"])
    (out_dir / "chunks.json").write_text(json.dumps({"design": "moe_ppa_small tier_bottom (memory-on-logic)",
                                                     "nets": net_count(placed), "results": raw}, indent=1) + "\n")
    head_row = ["routing", "qrouter runs", "failed (first pass)", "failed (after rip-up)", "wirelength (µm)",
                "wirelength / one run", "wire C (pF, qrouter RC)", "wire C / one run", "CPU s"]
    return (f"Checkpointed routing (flows/builtin/resumable.py: the first pass in chunks saved between qrouter runs, then one "
            f"rip-up run) against one qrouter run (stages 1 and 2, no clean-up, as every design above "
            f"`FlowKnobs.cleanup_nets` nets), on one placement: moe_ppa_small's logic tier, memory-on-logic, "
            f"{net_count(placed)} nets. `make bench-chunks`.\n\n" + markdown_table(head_row, rows))


def route_alone(work: Path, top: str, lo: int, hi: int, mask: str | None, out: Path) -> dict:
    """qrouter's first stage on nets ``lo:hi`` of qrouter's order of a placed flow run (``work``: its
    work directory, ``<top>_unroute.def`` and ``<top>.cfg``), every other net ``ignore`` d, with
    ``stage1 mask <mask>`` (``None``: qrouter's default mask). Returns the nets, the I/O nets (a
    terminal on a die pin) and the failures of each, and qrouter's CPU seconds."""
    from ..flows.builtin.resumable import io_first, net_blocks, qrouter_order, tcl_net
    placed = (work / f"{top}_unroute.def").read_text()
    lines = (work / f"{top}.cfg").read_text().splitlines()
    head = lines[:next(i for i, line in enumerate(lines) if line.startswith("read_def"))]
    blocks = net_blocks(placed)
    part = qrouter_order(placed)[lo:hi]
    mine = set(part)
    first, n_io = io_first(placed, part)
    io = set(first[:n_io])
    out.mkdir(parents=True, exist_ok=True)
    (out / "alone.cfg").write_text("\n".join([*head, f"read_def {work / (top + '_unroute.def')}",
                                              *(f"ignore {tcl_net(n)}" for n in blocks if n not in mine),
                                              f"stage1 mask {mask}" if mask else "stage1", "quit"]) + "\n")
    cpu = run_logged(["qrouter", "-nog", "-s", "alone.cfg"], out, out / "alone.log", "first stage, nets alone")
    failed = set(re.findall(r"^Failed to route net (\S+)", (out / "alone.log").read_text(errors="replace"), re.M))
    return {"nets": len(part), "io_nets": len(io), "io_failed": len(failed & io), "other_failed": len(failed - io),
            "cpu_s": round(cpu, 1)}


def main(argv=None) -> int:
    """``python -m spikestack.bench.router WORK TOP --nets 6000:8000 --masks default,20,bbox -o DIR``:
    nets of a placed design routed alone with each qrouter mask (:func:`route_alone`), as a table.
    ``WORK``: a flow run's work directory (for a hardened block: ``<cache>/blocks/<key>/flow/work``)."""
    import argparse
    ap = argparse.ArgumentParser(prog="python -m spikestack.bench.router", description=main.__doc__)
    ap.add_argument("work", type=Path)
    ap.add_argument("top")
    ap.add_argument("--nets", default="0:2000", help="a slice of qrouter's order, LO:HI")
    ap.add_argument("--masks", default="default,bbox", help="qrouter masks, comma-separated (default: its own)")
    ap.add_argument("-o", type=Path, required=True)
    args = ap.parse_args(argv)
    lo, hi = (int(x) for x in args.nets.split(":"))
    rows = []
    for m in args.masks.split(","):
        r = route_alone(args.work.resolve(), args.top, lo, hi, None if m == "default" else m, args.o / m)
        rows.append([m, r["nets"], f"{r['io_failed']} of {r['io_nets']}", f"{r['other_failed']} of {r['nets'] - r['io_nets']}",
                     f"{r['cpu_s']:.0f}"])
    print(markdown_table(["stage-1 mask", "nets", "I/O nets failed", "other nets failed", "CPU s"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
