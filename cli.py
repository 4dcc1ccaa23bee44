"""The ``spikestack`` command line.

    spikestack run CONFIG.toml --weights W.npz --spikes S.npz --out OUT.npz [--backend rtl|golden]
                   [--simulator verilator|icarus] [--precision full|draft]
    spikestack run NET.toml --spikes S.npz --out OUT.npz [--weights W.npz] [--backend rtl|golden]
                                          a network of layers (docs/networks.md)
    spikestack import MODEL.nir -o DIR [--t T] [--n N] [--w-bits B] [--spikes S.npz]   NIR -> network (docs/nir.md)
    spikestack export NET.toml -o MODEL.nir [--weights W.npz]                          network -> NIR
    spikestack gen CONFIG.toml -o DIR [--tiers 2|3|4 [--partition P] [--assign BLOCK=TIER ...] [--bond-regs]] [--src-attrs]
    spikestack orfs CONFIG.toml --platform nangate45|sky130hd|asap7 -o DIR [--tiers 2 [--footprint-um UM] ...]
    spikestack ppa CONFIG.toml -o DIR [--partition P] [--clock-ns NS] [--2d-only] [--bond-r OHM] [--bond-c FF]
                   [--bond-pitch UM] [--no-bond-pins] [--seed S] [--rate R] [--reuse] [--sram-macros]
                   [--harden GRAIN] [--blocks B1,B2 [--block-grains G1,G2] [--flat-blocks B1]] [--jobs N] [--common-footprint]
                   [--precision full|draft]
    spikestack energy CONFIG.toml -o DIR [--wire-model none,fanout] [--calibrate-from RUN] [--clock-ns NS]
                   [--seed S] [--rate R]   pre-layout pJ/SOP of the workload (synthesis + OpenSTA, no P&R)
    spikestack census CONFIG.toml [--sram-macros] [-o DIR] [--jobs N]
                                          cells of every distinct block (plans hierarchical P&R)
    spikestack demo [--out DIR]           what `make run` does
    spikestack bench [--out DIR] [--table BENCHMARKS.md]
    spikestack --version

``spikestack COMMAND -h`` explains every option with its default.

Every invalid input exits with status 2 and one line ``spikestack: error: <field>: <what>``,
and nothing is written: outputs go to a temporary name and are renamed when complete.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np

from . import __version__
from .bench import ON_REQUEST, SECTIONS, bench
from .config import ConfigError, LayerConfig, load_config, run_precision
from .demo import demo
from .flows.builtin.blockmacros import check_blocks
from .flows.analysis.census import as_json, census, census_md
from .flows.builtin.harden import GRAINS
from .flows.orfs.export import PLATFORMS, write_orfs
from .flows.builtin.platform import OSU018, FlowError, ensure_tools
from .flows.ppa import Bond, PpaOptions, ppa_for_config
from .flows.ppa.prelayout import prelayout_energy
from .flows.ppa.wireload import WIRE_MODELS, calibrate
from .gen.atomic import write_atomic
from .gen.generate import generate_verilog, write_design
from .gen.partition import PARTITIONS, assignment_for, parse_assignments, parse_stack_assignments
from .gen.stack import MAX_TIERS, write_stack
from .gen.tiers import write_tiers
from .hw.layers.graph import TierError
from .hw.layers import design_for
from .netcli import export_cmd, import_cmd, is_network_file, run_network_cmd
from .sim.layers import run_golden
from .sim.tensors import check_spikes, check_tensors
from .tb.harness import SIMULATORS, build, simulate

__all__ = ["main"]


class CliError(Exception):
    """An error to print as one line (exit status 2)."""


CONFIG_HELP = "the layer's configuration, a TOML file (configs/*.toml; see README: Configuration)"


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line, like every other error (``spikestack: error: ...``)."""

    def error(self, message):
        self.exit(2, f"spikestack: error: {message} (see `{self.prog} -h`)\n")


def _load_npz(path: str, what: str) -> dict:
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise ConfigError(f"{what}: file not found: {path}") from None
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise ConfigError(f"{what}: cannot read {path} as .npz ({e})") from None


def load_inputs(config: str, weights: str, spikes: str):
    """Config, validated spikes and tensors (raises ConfigError naming the field)."""
    cfg = load_config(config)
    w = _load_npz(weights, "weights")
    s = _load_npz(spikes, "spikes")
    if "spikes" not in s:
        raise ConfigError(f"spikes: {spikes} has no array named 'spikes'")
    return cfg, check_spikes(cfg, s["spikes"]), check_tensors(cfg, w)


def run_layer(cfg: LayerConfig, spikes, tensors, backend: str, simulator: str = "verilator",
              precision: str | None = None) -> dict:
    """Output spikes (and cycles for rtl, on ``simulator``) of one layer run; ``precision``:
    ``full`` or ``draft`` (a MoE with ``[elastic]``; default the configuration's)."""
    if backend == "golden":
        return {"spikes": run_golden(cfg, spikes, tensors, precision)}
    b = build(cfg, simulator=simulator)
    (out, cycles), = simulate(b, [(spikes, tensors)], precisions=[precision] if cfg.elastic is not None else None)
    return {"spikes": out.astype(np.uint8), "cycles": np.int64(cycles)}


def cmd_run(args) -> int:
    if is_network_file(args.config):
        if args.precision is not None:
            raise CliError("precision: not for a network file")
        if args.simulator is not None and args.backend != "rtl":
            raise CliError("simulator: only with --backend rtl (the golden backend simulates no Verilog)")
        print(run_network_cmd(args.config, args.weights, args.spikes, args.out, args.backend,
                              args.simulator or "verilator"))
        return 0
    if args.weights is None:
        raise CliError("weights: required for a layer configuration (--weights W.npz)")
    if args.simulator is not None and args.simulator not in SIMULATORS:
        raise CliError(f"simulator: unknown {args.simulator!r}; choose one of {', '.join(SIMULATORS)}")
    if args.simulator is not None and args.backend != "rtl":
        raise CliError("simulator: only with --backend rtl (the golden backend simulates no Verilog)")
    cfg, spikes, tensors = load_inputs(args.config, args.weights, args.spikes)
    run_precision(cfg, args.precision)       # refuses draft without [elastic] before anything runs
    if args.backend == "rtl":
        design_for(cfg)          # refuses a kind without hardware before anything runs
        if args.simulator == "icarus" and not shutil.which("iverilog"):
            raise CliError("simulator: icarus needs iverilog (Debian package 'iverilog'; `make pd-tools` installs it)")
    result = run_layer(cfg, spikes, tensors, args.backend, args.simulator or "verilator", args.precision)
    def save(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **result)
    write_atomic(Path(args.out), save)
    msg = f"wrote {args.out}: spikes {result['spikes'].shape}"
    if "cycles" in result:
        msg += f", {int(result['cycles'])} cycles"
    print(msg)
    return 0


def cmd_gen(args) -> int:
    cfg = load_config(args.config)
    if not 1 <= args.tiers <= MAX_TIERS:
        raise CliError(f"tiers: must be 1 (2D), 2 (face-to-face 3D) or up to {MAX_TIERS} (a stack), got {args.tiers}")
    if args.tiers == 2 and not args.bond_regs:
        files = write_tiers(cfg, Path(args.o), args.partition, parse_assignments(args.assign),
                            report=not args.no_report, src=args.src_attrs, liberty=OSU018.liberty)
    elif args.tiers >= 2:
        if args.src_attrs:
            raise CliError("src-attrs: only for --tiers 1 or 2 without --bond-regs")
        files = write_stack(cfg, Path(args.o), args.tiers, args.partition,
                            parse_stack_assignments(args.assign, args.tiers), regs=args.bond_regs,
                            report=not args.no_report, liberty=OSU018.liberty)
    elif args.assign or args.partition != "memory-on-logic" or args.bond_regs:
        raise CliError("tiers: --partition, --assign and --bond-regs need --tiers 2 or more")
    else:
        files = write_design(cfg, Path(args.o), src=args.src_attrs)
    for f in files:
        print(f"wrote {f}")
    return 0


def _ppa_checked(args):
    """The configuration and block list of a PPA run, every option checked (``CliError`` naming
    the option) before any tool runs."""
    cfg = load_config(args.config)
    if args.clock_ns <= 0:
        raise CliError(f"clock-ns: must be > 0, got {args.clock_ns}")
    for opt in ("bond_r", "bond_c"):
        if getattr(args, opt, 0.0) < 0:
            raise CliError(f"{opt.replace('_', '-')}: must be >= 0, got {getattr(args, opt)}")
    if getattr(args, "bond_pitch", 1.0) <= 0:
        raise CliError(f"bond-pitch: must be > 0, got {args.bond_pitch}")
    if not 0 <= getattr(args, "rate", 0.2) <= 1:
        raise CliError(f"rate: must be in [0, 1], got {args.rate}")
    assignment_for(design_for(cfg), args.partition)      # refuse a bad partition before any tool runs
    if getattr(args, "harden", None) and args.harden not in GRAINS:
        raise CliError(f"harden: unknown grain {args.harden!r}; choose one of {', '.join(sorted(GRAINS))}")
    for g in (getattr(args, "block_grains", None) or "").split(","):
        if g.strip() and g.strip() not in GRAINS:
            raise CliError(f"block-grains: unknown grain {g.strip()!r}; choose from {', '.join(sorted(GRAINS))}")
    blocks = [b.strip() for b in (getattr(args, "blocks", None) or "").split(",") if b.strip()]
    if getattr(args, "block_grains", None) and not blocks:
        raise CliError("block-grains: the inner grains of --blocks; give --blocks too")
    if blocks:
        try:
            check_blocks(cfg, blocks)
        except ValueError as e:
            raise CliError(str(e)) from None
    if getattr(args, "jobs", 2) < 1:
        raise CliError(f"jobs: must be >= 1, got {args.jobs}")
    run_precision(cfg, getattr(args, "precision", None))   # draft needs [elastic]
    if getattr(args, "method", None) == "coplaced" and args.two_d_only:
        raise CliError("method: coplaced is a 3D method; --2d-only runs no 3D")
    try:
        ppa_options(args, blocks)          # the options' own checks (e.g. coplaced with --common-footprint)
    except ValueError as e:
        raise CliError(str(e)) from None
    return cfg, blocks


def ppa_options(args, blocks: list[str]) -> PpaOptions:
    """The :class:`~spikestack.flows.ppa.PpaOptions` of the ``ppa`` (and ``demo --ppa``) options."""
    return PpaOptions(partition=args.partition, clock_ns=args.clock_ns, three_d=not args.two_d_only,
                      bond=Bond(r_ohm=args.bond_r, c_ff=args.bond_c, pitch_um=args.bond_pitch),
                      seed=args.seed, rate=args.rate, reuse=args.reuse, sram_macros=args.sram_macros,
                      harden=args.harden, common_footprint=args.common_footprint, bond_pins=not args.no_bond_pins,
                      blocks=tuple(blocks) or None, jobs=args.jobs,
                      block_grains=tuple(g.strip() for g in (getattr(args, "block_grains", None) or "").split(",")
                                         if g.strip()) or None, precision=getattr(args, "precision", None),
                      flat_blocks=tuple(b.strip() for b in (getattr(args, "flat_blocks", None) or "").split(",")
                                        if b.strip()),
                      method=getattr(args, "method", None))


def cmd_ppa(args) -> int:
    cfg, blocks = _ppa_checked(args)
    try:
        ensure_tools()
        ppa_for_config(cfg, Path(args.o), ppa_options(args, blocks))
    except FlowError as e:
        raise CliError(f"ppa: {e}") from None
    print((Path(args.o) / "ppa.md").read_text())
    print(f"wrote {Path(args.o) / 'ppa.json'} and {Path(args.o) / 'ppa.md'} (tool logs in {args.o}/*/logs)")
    return 0


def _energy_checked(args):
    """Configuration, wire models and calibration of an ``energy`` run, checked before any tool runs."""
    cfg = load_config(args.config)
    design_for(cfg)                          # refuses a kind without hardware
    if args.clock_ns <= 0:
        raise CliError(f"clock-ns: must be > 0, got {args.clock_ns}")
    if not 0 <= args.rate <= 1:
        raise CliError(f"rate: must be in [0, 1], got {args.rate}")
    models = [m.strip() for m in args.wire_model.split(",") if m.strip()]
    bad = [m for m in models if m not in WIRE_MODELS]
    if not models or bad:
        raise CliError(f"wire-model: {', '.join(bad) or 'none given'}: choose from {', '.join(WIRE_MODELS)}")
    cal = None
    if args.calibrate_from:
        src = Path(args.calibrate_from)
        rcs = [src] if src.is_file() else sorted(src.glob("work/*.rc")) + sorted(src.glob("*.rc"))
        if not rcs:
            raise CliError(f"calibrate-from: no qrouter .rc in {src} (a routed flow directory, or its .rc)")
        try:
            cal = calibrate(rcs[0].read_text(), source=f"qrouter's {rcs[0]}")
        except ValueError as e:
            raise CliError(str(e)) from None
    return cfg, models, cal


def cmd_energy(args) -> int:
    cfg, models, cal = _energy_checked(args)
    try:
        ensure_tools()
        prelayout_energy(cfg, Path(args.o), models, cal, args.clock_ns, args.seed, args.rate)
    except FlowError as e:
        raise CliError(f"energy: {e}") from None
    print((Path(args.o) / "energy.md").read_text())
    print(f"wrote {Path(args.o) / 'energy.json'} and {Path(args.o) / 'energy.md'}")
    return 0


def cmd_census(args) -> int:
    cfg = load_config(args.config)
    if args.jobs < 1:
        raise CliError(f"jobs: must be >= 1, got {args.jobs}")
    top, text = generate_verilog(cfg, "2d", macros=args.sram_macros)
    try:
        blocks = census(text, top, jobs=args.jobs)
    except FlowError as e:
        raise CliError(f"census: {e}") from None
    md = census_md(blocks)
    print(md)
    if args.o:
        out = Path(args.o)
        write_atomic(out / "census.md", lambda tmp: Path(tmp).write_text(md + "\n"))
        write_atomic(out / "census.json", lambda tmp: Path(tmp).write_text(json.dumps(
            {"config": args.config, "sram_macros": args.sram_macros, "blocks": as_json(blocks)}, indent=1)))
        print(f"wrote {out / 'census.md'} and {out / 'census.json'}")
    return 0


def cmd_orfs(args) -> int:
    if args.tiers not in (1, 2):
        raise CliError(f"tiers: must be 1 (2D) or 2 (face-to-face 3D), got {args.tiers}")
    if args.tiers == 1 and (args.footprint_um is not None or args.bond_pitch_um is not None):
        raise CliError(f"{'footprint-um' if args.footprint_um is not None else 'bond-pitch-um'}: needs --tiers 2")
    cfg = load_config(args.config)
    for f in write_orfs(cfg, args.platform, Path(args.o), args.partition if args.tiers == 2 else None,
                        args.footprint_um, name=Path(args.config).stem, mapping=args.glb_map,
                        bond_pitch_um=args.bond_pitch_um):
        print(f"wrote {f}")
    return 0


def cmd_demo(args) -> int:
    ns = argparse.Namespace(**vars(args))
    ns.config, ns.o = args.ppa, str(Path(args.out) / "ppa")
    if args.ppa:
        _ppa_checked(ns)                     # a bad PPA option stops the job before it starts
    rc = demo(Path(args.out))
    if rc == 0 and args.ppa:
        rc = cmd_ppa(ns)
    return rc


def cmd_bench(args) -> int:
    return bench(Path(args.out), Path(args.table) if args.table else None, getattr(args, "only", None))


def _ppa_options(pp: argparse.ArgumentParser):
    """The options of the PPA flow, shared by ``ppa`` and ``demo``."""
    d, b = PpaOptions(), Bond()
    pp.add_argument("--partition", default=d.partition, metavar="P",
                    help=f"the 3D tier split: {' or '.join(PARTITIONS)} (default {d.partition})")
    pp.add_argument("--clock-ns", type=float, default=d.clock_ns, metavar="NS",
                    help=f"clock period of the flows' timing analysis, ns (default {d.clock_ns:g})")
    pp.add_argument("--2d-only", dest="two_d_only", action="store_true",
                    help="the 2D design only, no tiers (default: 2D and the two 3D tiers)")
    pp.add_argument("--bond-r", type=float, default=b.r_ohm, metavar="OHM",
                    help=f"F2F bond resistance, ohm (default {b.r_ohm:g})")
    pp.add_argument("--bond-c", type=float, default=b.c_ff, metavar="FF", help=f"F2F bond capacitance, fF (default {b.c_ff:g})")
    pp.add_argument("--bond-pitch", type=float, default=b.pitch_um, metavar="UM",
                    help=f"F2F bond pitch, µm (default {b.pitch_um:g}; the bond grid is at least the metal6 pitch)")
    pp.add_argument("--no-bond-pins", action="store_true",
                    help="leave the tiers' bond ports without location (no area pins, no re-route; default: area pins)")
    pp.add_argument("--seed", type=int, default=d.seed, help=f"workload seed for the simulated activity (default {d.seed})")
    pp.add_argument("--rate", type=float, default=d.rate, help=f"workload input spike rate (default {d.rate})")
    pp.add_argument("--reuse", action="store_true", help="keep finished flow runs of the same Verilog in -o DIR (default: run every flow again)")
    pp.add_argument("--sram-macros", action="store_true",
                    help="GLBs as SRAM macros (LEF/liberty of flows/builtin/sram.py; default: flip-flops)")
    pp.add_argument("--harden", metavar="GRAIN", default=None,
                    help="hierarchical flow: harden each repeated block of GRAIN (pe, pe_array, expert_core, "
                         "attention_core, proj_core) once and assemble the 2D top and the tiers from the macros "
                         "(default: flat, no macros)")
    pp.add_argument("--blocks", metavar="B1,B2", default=None,
                    help="hierarchical flow, upper level: these design blocks or groups (expert_core, merge, "
                         "spike_generator, ...) hardened alone, each from its --harden macros, and placed as "
                         "macros in the 2D top and the tiers (default: none)")
    pp.add_argument("--block-grains", metavar="G1,G2", default=None,
                    help="the --blocks' inner macros, nested, innermost first (e.g. pe,pe_array,repeated: PE macros "
                         "in a PE-array macro, the block's repeated sub-blocks as macros; default: the --harden grain)")
    pp.add_argument("--flat-blocks", metavar="B1,B2", default=None,
                    help="of the --blocks, those hardened without inner macros (--block-grains apply to the others; "
                         "default: none)")
    pp.add_argument("--jobs", type=int, default=d.jobs, help=f"flows run at once (default {d.jobs})")
    pp.add_argument("--precision", default=None, metavar="full|draft",
                    help="the simulated workload's mode, for a MoE with an [elastic] table (default: elastic.precision)")
    pp.add_argument("--method", choices=("independent", "coplaced"), default=None,
                    help="3D method: coplaced (default for the flat flow: Macro-3D + Pin-3D, the tiers placed in turn "
                         "under each other's bond pins, one routing over a combined 12-layer stack, with independent "
                         "reported beside it as the baseline) or independent (each tier alone, bonds as area pins "
                         "afterwards; the default with --harden, --blocks or --common-footprint)")
    pp.add_argument("--common-footprint", action="store_true",
                    help="place the smaller tier again, spread over the larger tier's die (one 3D footprint; "
                         "default: each tier on its own die)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="spikestack", description=__doc__.split("\n\n")[0])
    p.add_argument("--version", action="version", version=f"spikestack {__version__}",
                   help="print the version and exit")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND",
                           help="run, import, export, gen, ppa, energy, census, orfs, demo or bench (COMMAND -h for its options)")
    r = sub.add_parser("run", help="run one layer or a network on the golden model or the generated RTL")
    r.add_argument("config", help=CONFIG_HELP + " (or a network file: docs/networks.md)")
    r.add_argument("--weights", default=None, metavar="W.npz",
                   help="the layer's weight tensors, one array per name (w1, b1, ...; see README: Configuration); "
                        "for a network, default: the weights file its TOML names")
    r.add_argument("--spikes", required=True, metavar="S.npz", help="input spikes: an array named 'spikes' (0/1)")
    r.add_argument("--out", required=True, metavar="OUT.npz",
                   help="write the output spikes here (and 'cycles' with --backend rtl)")
    r.add_argument("--backend", choices=("rtl", "golden"), default="golden",
                   help="golden: the numpy model; rtl: the generated Verilog in a cocotb bench (default golden)")
    r.add_argument("--simulator", default=None, metavar="verilator|icarus",
                   help="simulator of the rtl backend: verilator (default) or icarus (iverilog -g2012, 4-state)")
    r.add_argument("--precision", default=None, metavar="full|draft",
                   help="MoE with an [elastic] table: full precision or the draft (top k_draft experts, top "
                        "draft_slices weight slices); default: elastic.precision")
    r.set_defaults(fn=cmd_run)
    im = sub.add_parser("import", help="a NIR graph -> a network file and its integer weights (docs/nir.md)")
    im.add_argument("model", metavar="MODEL.nir", help="the NIR graph (nir.write of a Sequence of Affine/Linear and IF/LIF/CubaLIF nodes)")
    im.add_argument("-o", "--out", required=True, metavar="DIR", help="output directory (network TOML, weights .npz, report)")
    im.add_argument("--t", type=int, default=None, help="timesteps (default: the graph's spikestack_t, else 8)")
    im.add_argument("--n", type=int, default=None, help="tokens per run (default: the graph's spikestack_n, else 1)")
    im.add_argument("--w-bits", type=int, default=8, help="weight bits of the quantised network (default 8)")
    im.add_argument("--b-bits", type=int, default=16, help="bias bits (default 16)")
    im.add_argument("--v-bits", type=int, default=16, help="membrane bits (default 16)")
    im.add_argument("--spikes", default=None, metavar="S.npz", help="inputs (T, tokens, d) for the quantisation report (default: none)")
    im.set_defaults(fn=lambda a: print(import_cmd(a.model, a.out, a.t, a.n, a.w_bits, a.b_bits, a.v_bits,
                                                  a.spikes)) or 0)
    ex = sub.add_parser("export", help="a network file -> a NIR graph (docs/nir.md)")
    ex.add_argument("config", metavar="NET.toml", help="a network file (docs/networks.md)")
    ex.add_argument("-o", "--out", required=True, metavar="MODEL.nir", help="the NIR file to write")
    ex.add_argument("--weights", default=None, metavar="W.npz", help="the integer weights (default: the file the network names)")
    ex.set_defaults(fn=lambda a: print(export_cmd(a.config, a.out, a.weights)) or 0)
    g = sub.add_parser("gen", help="write the Verilog of a configuration and its manifest")
    g.add_argument("config", help=CONFIG_HELP)
    g.add_argument("-o", required=True, metavar="DIR", help="output directory (Verilog and manifest.json)")
    g.add_argument("--tiers", type=int, default=1,
                   help="1: the 2D design (default); 2: also the two tiers, the stitched 3D top and the F2F map; "
                        f"3..{MAX_TIERS}: a stack (tier_0..tier_N-1, one bond map per interface; docs/ntier.md)")
    g.add_argument("--partition", default="memory-on-logic", metavar="P",
                   help=f"with --tiers 2: the tier split, {' or '.join(PARTITIONS)}; 3-4 tiers also "
                        "memory-control-logic, pipeline (default memory-on-logic)")
    g.add_argument("--assign", action="append", metavar="BLOCK=TIER",
                   help="put a named block on a tier (top|bottom; 3-4 tiers also 0..N-1 or tier_K); repeatable "
                        "(default: the partition's)")
    g.add_argument("--bond-regs", action="store_true",
                   help="a register on every bond (with --tiers 2..4; the tiers are then tier_0..tier_N-1; default: none)")
    g.add_argument("--no-report", action="store_true",
                   help="skip the per-tier Yosys synthesis report (default: write it)")
    g.add_argument("--src-attrs", action="store_true",
                   help="keep (* src *) attributes naming the Amaranth source lines (paths relative to the package; "
                        "default: none)")
    g.set_defaults(fn=cmd_gen)
    pp = sub.add_parser("ppa", help="PPA through the built-in flow: 2D and pseudo-3D")
    pp.add_argument("config", help=CONFIG_HELP)
    pp.add_argument("-o", required=True, metavar="DIR", help="output directory (ppa.md, ppa.json, one folder per flow)")
    _ppa_options(pp)
    pp.set_defaults(fn=cmd_ppa)
    e = sub.add_parser("energy", help="pre-layout energy per SOP of the workload (synthesis, simulation, OpenSTA)")
    e.add_argument("config", help=CONFIG_HELP)
    e.add_argument("-o", required=True, metavar="DIR", help="output directory (energy.md, energy.json)")
    e.add_argument("--wire-model", default=",".join(WIRE_MODELS), metavar="M1,M2",
                   help=f"wire models ({', '.join(WIRE_MODELS)}; default all): none = pin C only, "
                        "fanout = C per fanout fitted to a routed run")
    e.add_argument("--calibrate-from", default=None, metavar="RUN",
                   help="fit the fanout model to this routed flow (a flow directory with work/<top>.rc, or the "
                        ".rc); default: the fit stored in flows/ppa/wireload.py")
    e.add_argument("--clock-ns", type=float, default=10.0, help="STA clock (default 10)")
    e.add_argument("--seed", type=int, default=0, help="workload seed (default 0)")
    e.add_argument("--rate", type=float, default=0.2, help="workload input spike rate (default 0.2)")
    e.set_defaults(fn=cmd_energy)
    c = sub.add_parser("census", help="standard cells of every distinct block (plans hierarchical P&R)")
    c.add_argument("config", help=CONFIG_HELP)
    c.add_argument("--sram-macros", action="store_true",
                   help="GLBs (and the merge buffer) as SRAM macros (default: flip-flops)")
    c.add_argument("-o", default=None, metavar="DIR", help="also write census.md and census.json here (default: print only)")
    c.add_argument("--jobs", type=int, default=2, help="parallel Yosys runs (default 2)")
    c.set_defaults(fn=cmd_census)
    o = sub.add_parser("orfs", help="OpenROAD-flow-scripts design directories (2D, and tiers with --tiers 2)")
    o.add_argument("config", help=CONFIG_HELP)
    o.add_argument("--platform", required=True, metavar="|".join(PLATFORMS),
                   help=f"ORFS platform: {', '.join(PLATFORMS)}")
    o.add_argument("-o", required=True, metavar="DIR", help="output directory (one ORFS design directory per design)")
    o.add_argument("--tiers", type=int, default=1, help="1: the 2D design; 2: also the two tiers (default 1)")
    o.add_argument("--partition", default="memory-on-logic", metavar="P",
                   help=f"with --tiers 2: the tier split, {' or '.join(PARTITIONS)} (default memory-on-logic)")
    o.add_argument("--footprint-um", type=float, default=None,
                   help="3D footprint (die side, µm) of both tiers; default: the larger tier's die")
    o.add_argument("--bond-pitch-um", type=float, default=None, help="with --tiers 2: F2F bond pitch of the tiers' area pins, µm (default: the platform's)")
    o.add_argument("--glb-map", default="lvt", choices=None,
                   help="GLBs on 1RW fakerams: lvt (exact, default) or shared (one copy per read port; "
                        "exact only if no read meets a write)")
    o.set_defaults(fn=cmd_orfs)
    d = sub.add_parser("demo", help="the main job on the default configurations (make run)")
    d.add_argument("--out", default="out/run", metavar="DIR", help="output directory (default out/run)")
    d.add_argument("--ppa", default=None, metavar="CONFIG",
                   help="then the PPA of this configuration, 2D and 3D, with the ppa options below (into OUT/ppa; "
                        "default: no PPA)")
    _ppa_options(d)
    d.set_defaults(fn=cmd_demo)
    b = sub.add_parser("bench", help="benchmarks: cycles vs ideal, simulation speed (make bench)")
    b.add_argument("--out", default="out/bench", metavar="DIR", help="output directory (default out/bench)")
    b.add_argument("--table", default=None, metavar="FILE",
                   help="write the Markdown tables into this file (default: print only)")
    b.add_argument("--only", action="append", metavar="SECTION",
                   help=f"run only this section, repeatable: {', '.join(SECTIONS)}; flow (PPA flow run time), census "
                        "(cells per block), ssa (SSA vs deterministic attention), defaults (the default MoE and MHA "
                        "alone), ppa3d (the 3D methods), energy (pre-layout pJ/SOP), router and chunks (routing "
                        "time), scaling (the MoE over experts, cores, top-k and skew), stack (N-tier stacks) run only when asked (default: "
                        f"{', '.join(s for s in SECTIONS if s not in ON_REQUEST)})")
    b.set_defaults(fn=cmd_bench)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except (ConfigError, CliError, TierError) as e:
        print(f"spikestack: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spikestack: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
