"""Whole-design analyses of the routed designs (OpenSTA on the 2D netlist and on the stitched 3D
netlist, :mod:`spikestack.flows.analysis.sta3d`) and the energy of the workload."""
from __future__ import annotations

import re
from pathlib import Path

from ...hw.layers import design_for
from ..analysis.activity import flops_of, name_key, register_activity
from ..coplace.extract import calibration
from ..formats.verilog import cells_of
from ..builtin.platform import OSU018
from ..analysis.spef import annotation, spef_for, stitch_spef
from ..analysis.sta3d import (analyse, block_prefixes, bond_rc_delays, flat_view, glb_read_registers, loads_3d_tcl,
                     select_instances, sram_instances, stitch_netlist)

__all__ = ["energy", "analyse_2d", "analyse_3d", "register_keys", "matched_instance", "block_cells", "pe_box_cells", "macro_libs", "spef_2d", "spef_independent", "PARASITICS"]

PARASITICS = {
    "lumped": "lumped wire C per net (qrouter's .rc via set_load), no wire R; bond R as a reported Elmore delay",
    "spef": "SPEF of the routed DEF (flows/analysis/spef.py): an RC tree per net, wire R and C per routed piece, "
            "via R, the F2F bond via's R and C"}


def spef_2d(work: Path, top: str, prefix: str = "", design: str | None = None) -> tuple:
    """The SPEF of a flow's routed DEF (``work/<top>.def``, the standard-cell LEF and the macros'
    LEFs under ``work/source/macros``), named after its ``sta_net.v`` (instances and internal nets
    under ``prefix``: a tier in the stitched design); wire C calibrated to qrouter's ``.rc`` as in
    the co-placed flow. ``design=None``: the nets (:func:`~spikestack.flows.analysis.spef.stitch_spef`)."""
    std = OSU018.stdcell_lef.read_text()
    lef = "\n".join([std] + [p.read_text() for p in sorted((work / "source" / "macros").glob("*/*.lef"))])
    routed = (work / f"{top}.def").read_text()
    rc = work / f"{top}.rc"
    cal = calibration(routed, std, rc.read_text()) if rc.exists() else {"ratio": None}
    return spef_for(routed, lef, {prefix: (work / "sta_net.v").read_text()}, {"": prefix},
                    design=top if design is None and not prefix else design,
                    c_scale=1.0 / cal["ratio"] if cal["ratio"] else 1.0)


def spef_independent(out_dir: Path, fmap: dict, bond: dict, design: str) -> tuple[str, dict]:
    """One SPEF of the independent 3D design: each tier's routed DEF extracted alone
    (:func:`spef_2d`), the bonds joined at their area pins by the bond's R and C
    (:func:`~spikestack.flows.analysis.spef.stitch_spef`)."""
    parts, stats = {}, {}
    for t in ("tier_top", "tier_bottom"):
        parts[t], stats[t] = spef_2d(Path(out_dir) / t / "work", t, f"{t}/", design=None)
    bits = {b for x in fmap["bonds"] for b in ([x["name"]] if x["width"] == 1 else
                                                [f"{x['name']}[{i}]" for i in range(x["width"])])}
    text, st = stitch_spef(parts, bits, bond["r_ohm"], bond["c_ff"] * 1e-3, design)
    return text, {"tiers": stats, **st}


def energy(power_w: dict, cycles: int, sops: int, clock_ns: float, fmax_mhz: float | None) -> dict:
    """Energy of one workload run at fmax: dynamic energy per cycle from the power at the STA clock
    (``(internal + switching) x clock_ns``: it does not depend on the clock), leakage over the
    run's time at fmax. pJ per synaptic operation and TSOPS/W (= 1 / (pJ/SOP))."""
    if not power_w or not fmax_mhz or not sops:
        return {}
    period_ns = 1e3 / fmax_mhz
    dyn_pj = (power_w["internal"] + power_w["switching"]) * clock_ns * 1e3      # W x ns = nJ -> pJ
    leak_pj = power_w["leakage"] * period_ns * 1e3
    e_pj = cycles * (dyn_pj + leak_pj)
    return {"cycles": cycles, "sops": sops, "period_ns": period_ns, "energy_pj": e_pj,
            "energy_per_cycle_pj": dyn_pj + leak_pj, "pj_per_sop": e_pj / sops, "tsops_per_w": sops / e_pj,
            "latency_us": cycles * period_ns * 1e-3, "gsops": sops / (cycles * period_ns),
            "power_at_fmax_w": (dyn_pj + leak_pj) / period_ns * 1e-3}


def block_roles(cfg):
    d = design_for(cfg)
    mem, pe = block_prefixes(d)
    return mem, pe, [b for b in d.blocks if b not in mem and b not in pe]


def block_cells(reps: dict, names: list[str]) -> set[str]:
    """The hardened-block macro cells the flows ``names`` placed (kind ``block``)."""
    return {c for n in names for c, v in reps[n].get("macro_views", {}).items() if v.get("kind") == "block"}


def _block_instances(netlist: str, cells: set[str], prefix: str = "") -> list[str]:
    """Instances of hardened blocks: synthesis names them after their cell, not their block, so
    they are found by cell. Every grain hardened is inside the PE cores (logic blocks)."""
    return [prefix + i for i, c in cells_of(netlist).items() if c in cells]


def pe_box_cells(cfg, cells: dict[str, str]) -> set[str]:
    """The cells of the hardened design blocks (``blocks=``) that are PE cores (role ``logic``),
    named by block or by group: their instances end the memory-access path."""
    blocks = design_for(cfg).blocks.values()
    return {c for name, c in cells.items() if any(b.role == "logic" and name in (b.name, b.group) for b in blocks)}


def register_keys(netlist: str, prefix: str = "") -> dict[str, tuple[str, frozenset]]:
    """Instance -> what names it in the 2D netlist and in a tier's alike: every flip-flop and macro
    by its cell and the keys (``name_key``) of the nets on its pins but the clock. Instance names
    differ (qflow numbers them) and a net that is a block port has another name in 2D than at a
    tier's bond port, so an instance is matched by the most nets in common (:func:`matched_instance`):
    a flip-flop's ``D`` net inside its block, its ``Q`` net, a macro's address and data nets."""
    out = {}
    for m in re.finditer(r"^\s*([A-Za-z]\w*)\s+(\S+)\s*\((.*?)\);", netlist, re.M | re.S):
        cell, inst = m.group(1), m.group(2)
        if cell in ("module", "input", "output", "wire", "inout", "assign"):
            continue
        if not (cell.startswith(("DFF", "LATCH")) or not re.match(r"^[A-Z0-9]+X\d+$", cell)):
            continue                                           # a combinational standard cell
        nets = re.findall(r"\.([\w\[\]]+)\(\s*([^)\s]+)\s*\)", m.group(3))
        out[prefix + inst] = (cell, frozenset(name_key(n) for p, n in nets if p.upper() not in ("CLK", "CLOCK")))
    return out


def matched_instance(key, keys: dict) -> str | None:
    """The instance of ``keys`` (:func:`register_keys`) that is ``key``: of the same cell, with the
    most nets in common (None: none in common)."""
    if key is None:
        return None
    cell, nets = key
    best = max(((len(nets & v[1]), i) for i, v in keys.items() if v[0] == cell), default=(0, None))
    return best[1] if best[0] else None


def _matched(res: dict, name: str | None, keys: dict, match_key: tuple | None = None):
    """``res["memory_access_matched"]``: in 2D (``name`` None) the worst memory-access path with its
    ends' keys; in 3D the path ``name`` of :func:`~spikestack.flows.analysis.sta3d.analyse`, between the 2D
    path's own start and end registers (``{"found": False}`` when they were not found)."""
    p = dict(res.get("memory_access", {}) if name is None else res.get("paths", {}).get(name, {"found": False}))
    if p.get("found"):
        p["start_key"], p["end_key"] = (_jsonable(keys.get(p["startpoint"])), _jsonable(keys.get(p["endpoint"])))
    if match_key is not None:
        p["matched_to_2d"] = {"start_key": _jsonable(match_key[0]), "end_key": _jsonable(match_key[1])}
    res["memory_access_matched"] = p


def _jsonable(key):
    return None if key is None else [key[0], sorted(key[1])]


def memory_key(res2d: dict) -> tuple | None:
    """(start key, end key) of the 2D analysis' memory-access path, for :func:`analyse_3d`'s ``match``."""
    p = res2d.get("memory_access_matched", {})
    if not p.get("found") or not p.get("start_key") or not p.get("end_key"):
        return None
    return tuple((k[0], frozenset(k[1])) for k in (p["start_key"], p["end_key"]))


def macro_libs(reps: dict, names: list[str]) -> list[str]:
    """The liberty files of the SRAM macros the flows ``names`` implemented (none without macros)."""
    return sorted({v["liberty"] for n in names for v in reps[n].get("macro_views", {}).values()})


def analyse_2d(cfg, out_dir: Path, top: str, clock_ns: float, act: dict | None, log=print,
               libs: list[str] = (), blocks: set[str] = frozenset(), spef: bool = False,
               loads: tuple[str, str] | None = None) -> dict:
    """Whole-design analysis of the routed 2D design (``out_dir/2d``): with each net's lumped
    wire C from qrouter's ``.rc`` (``set_load``), or, with ``spef``, from a SPEF of the routed DEF
    (:func:`spef_2d`, the extraction of the co-placed 3D design) in ``out_dir/2d/analysis_spef``;
    or ``loads``: (the Tcl of the wire loads, the analysis' sub-directory of ``out_dir/2d``), e.g.
    a wire model of a netlist before layout (:mod:`spikestack.flows.ppa.prelayout`)."""
    mem, pe, others = block_roles(cfg)
    work = Path(out_dir) / "2d" / "work"
    net = (work / "sta_net.v").read_text()
    storage = select_instances(net, mem) + sram_instances(net)
    pes = select_instances(net, pe) + _block_instances(net, blocks)
    rd = glb_read_registers(net, storage, pes, others)
    regs = register_activity(flops_of(net), act["toggles"]) if act else None
    log(f"[ppa] 2d: whole-design STA ({len(storage)} GLB storage + {len(rd)} read-port registers -> "
        f"{len(pes)} PE registers; {len(regs or {})} registers with measured activity) ...")
    if spef:
        adir = Path(out_dir) / "2d" / "analysis_spef"
        text, stats = spef_2d(work, top)
        adir.mkdir(parents=True, exist_ok=True)
        (adir / f"{top}.spef").write_text(text)
        loads = f"read_spef {top}.spef\n"
    elif loads is not None:
        loads, adir = loads[0], Path(out_dir) / "2d" / loads[1]
    else:
        adir, loads = Path(out_dir) / "2d" / "analysis", (work / "loads.tcl").read_text()
    res = analyse(adir, top, {f"{top}.v": net}, loads, clock_ns, storage + rd, pes, activity=act, reg_activity=regs,
                  libs=libs)
    _matched(res, None, register_keys(net))
    res["parasitics"] = PARASITICS["spef" if spef else "lumped"]
    if spef:
        res["spef"] = {"stats": stats, "annotation": annotation(text, Path(res["log"]).read_text(), {"": net})}
    res["selection"] = {"memory_blocks": mem, "pe_blocks": pe, "glb_storage": len(storage),
                        "glb_read_registers": len(rd), "pe_registers": len(pes),
                        "registers_with_activity": len(regs or {}), "flops": len(flops_of(net))}
    _start_kind(res, storage, rd)
    return res


def _start_kind(res: dict, storage: list[str], rd: list[str]):
    m = res.get("memory_access", {})
    if m.get("found"):
        sp = m["startpoint"]
        m["start_kind"] = "GLB storage" if sp in storage else "GLB read-port register" if sp in rd else "other"


def analyse_3d(cfg, out_dir: Path, name: str, fmap: dict, clock_ns: float, bond: dict, act: dict | None,
               log=print, libs: list[str] = (), blocks: set[str] = frozenset(), spef: Path | None = None,
               subdir: str = "3d", match: tuple | None = None) -> dict:
    """Stitched 3D STA of the routed tiers (``out_dir/tier_top``, ``out_dir/tier_bottom``): wire
    loads from their ``.rc`` as lumped C per net, or, with ``spef``, that SPEF of both tiers and the
    bonds (read by OpenSTA; every annotated net checked, :func:`~spikestack.flows.analysis.spef.annotation`);
    the analysis in ``out_dir/subdir``. ``match``: the 2D memory-access path's (start, end) keys
    (:func:`memory_key`): the path between the same two registers is timed here too
    (``memory_access_matched``; ``found`` false when they were not found)."""
    mem, pe, others = block_roles(cfg)
    tiers = ("tier_top", "tier_bottom")
    nets = {t: (Path(out_dir) / t / "work" / "sta_net.v").read_text() for t in tiers}
    rcs = {t: (Path(out_dir) / t / "work" / f"{t}.rc").read_text() for t in tiers}
    top3d = f"{name}_3d"
    verilog, info = stitch_netlist(nets, top3d, [b["name"] for b in fmap["bonds"]])
    loads, bond_bits = loads_3d_tcl(rcs, info, bond["c_ff"] * 1e-3)
    cells = {f"{t}/{i}": c for t in tiers for i, c in cells_of(nets[t]).items()}
    rc = bond_rc_delays(bond_bits, cells, bond["r_ohm"])
    if spef is not None:
        loads = f"read_spef {Path(spef).resolve()}\n"
        rc = {"r_ohm": bond["r_ohm"], "annotated": True,
              "note": "each bond via's R and C is a resistor and caps of its net's RC tree in the SPEF"}
    storage = [x for t in tiers for x in select_instances(nets[t], mem, f"{t}/") + sram_instances(nets[t], f"{t}/")]
    pes = [x for t in tiers for x in select_instances(nets[t], pe, f"{t}/") + _block_instances(nets[t], blocks, f"{t}/")]
    rd = glb_read_registers(flat_view(nets), storage, pes, others)
    flops = {t: flops_of(nets[t]) for t in tiers}
    regs = None
    if act:
        regs = register_activity({f"{t}/{i}": f"{t}.{q}" for t in tiers for i, q in flops[t].items()}, act["toggles"])
    log(f"[ppa] 3d: stitched STA of both tiers ({len(bond_bits)} bond nets; {len(storage)} GLB storage + "
        f"{len(rd)} read-port registers -> {len(pes)} PE registers) ...")
    tier_regs = {t: ([f"{t}/{i}" for i in flops[t]],) * 2 for t in tiers}
    keys = {k: v for t in tiers for k, v in register_keys(nets[t], f"{t}/").items()}
    ends = (matched_instance(match[0], keys), matched_instance(match[1], keys)) if match else (None, None)
    paths = {"matched": ([ends[0]], [ends[1]])} if all(ends) else {}
    res = analyse(Path(out_dir) / subdir, top3d, {"tier_top.v": nets["tier_top"], "tier_bottom.v": nets["tier_bottom"],
                                                f"{top3d}.v": verilog}, loads, clock_ns, storage + rd, pes,
                  tier_regs=tier_regs, activity=act, reg_activity=regs, libs=libs, paths=paths)
    _matched(res, "matched", keys, match)
    res["memory_access_matched"]["same_ends_as_2d"] = bool(all(ends))
    res["bond_rc"] = rc
    res["bond_nets"] = len(bond_bits)
    res["parasitics"] = PARASITICS["spef" if spef is not None else "lumped"]
    if spef is not None:
        res["spef"] = {"file": str(spef), "annotation": annotation(
            Path(spef).read_text(), Path(res["log"]).read_text(), {f"{t}/": nets[t] for t in tiers})}
    res["selection"] = {"memory_blocks": mem, "pe_blocks": pe, "glb_storage": len(storage),
                        "glb_read_registers": len(rd), "pe_registers": len(pes),
                        "registers_with_activity": len(regs or {}), "flops": sum(len(f) for f in flops.values())}
    res["netlist"] = str(Path(out_dir) / subdir / f"{top3d}.v")
    _start_kind(res, storage, rd)
    return res
