"""`spikestack run` against SPEC's command-line contract: results, and bad input refused cleanly."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spikestack.config import dump_config, load_config
from spikestack.sim.layers import run_golden
from spikestack.sim.tensors import random_case


def spikestack(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "spikestack.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


def write_case(tmp: Path, cfg_text: str, spikes, tensors):
    (tmp / "c.toml").write_text(cfg_text)
    np.savez(tmp / "w.npz", **tensors)
    np.savez(tmp / "s.npz", spikes=spikes)
    return tmp / "c.toml", tmp / "w.npz", tmp / "s.npz"


def run(tmp, backend="golden"):
    return spikestack("run", tmp / "c.toml", "--weights", tmp / "w.npz", "--spikes", tmp / "s.npz",
                      "--out", tmp / "o.npz", "--backend", backend)


@pytest.mark.parametrize("kind", ["moe", "mha", "linear"])
def test_golden_backend_writes_spikes(tmp_path, root, kind):
    cfg = load_config(root / "configs" / f"{kind}_default.toml")
    s, w = random_case(cfg, seed=5)
    write_case(tmp_path, dump_config(cfg), s, w)
    r = run(tmp_path)
    assert r.returncode == 0, r.stderr
    out = np.load(tmp_path / "o.npz")
    np.testing.assert_array_equal(out["spikes"], run_golden(cfg, s, w))
    assert out["spikes"].dtype == np.uint8


def test_rtl_backend_linear_has_cycles(tmp_path):
    text = ('kind = "linear"\nt = 3\nn = 5\nd = 9\nd_out = 10\n[lif.out]\nthreshold = 30\nleak_shift = 2\n'
            'reset = "soft"\n[hw]\nrows = 2\ncols = 3\ncores = 1\n')
    from spikestack.config import parse_config
    import tomllib
    cfg = parse_config(tomllib.loads(text))
    s, w = random_case(cfg, seed=11, rate=0.3)
    write_case(tmp_path, text, s, w)
    r = run(tmp_path, "rtl")
    assert r.returncode == 0, r.stderr
    out = np.load(tmp_path / "o.npz")
    np.testing.assert_array_equal(out["spikes"], run_golden(cfg, s, w))
    assert int(out["cycles"]) > 0


MOE = load_config(Path(__file__).resolve().parents[1] / "configs" / "moe_default.toml")
MOE_TEXT = dump_config(MOE)
MHA_TEXT = dump_config(load_config(Path(__file__).resolve().parents[1] / "configs" / "mha_default.toml"))


def _bad_weight(w):
    w = dict(w)
    w["w1"] = w["w1"].copy()
    w["w1"][0, 0, 0] = 300
    return w


def _drop(w, key):
    w = dict(w)
    del w[key]
    return w


def _reshape(w):
    w = dict(w)
    w["wr"] = w["wr"][:, :3]
    return w


BAD = {
    # name: (config text, spikes transform, tensors transform, field named in the message)
    "top_k_gt_experts": (MOE_TEXT.replace("top_k = 2", "top_k = 5"), None, None, "top_k"),
    "threshold_zero": (MOE_TEXT.replace("threshold = 64", "threshold = 0", 1), None, None, "threshold"),
    "threshold_too_wide": (MOE_TEXT.replace("threshold = 64", "threshold = 40000", 1), None, None, "threshold"),
    "weight_out_of_range": (MOE_TEXT, None, _bad_weight, "w1"),
    "spike_value_2": (MOE_TEXT, lambda s: np.where(np.arange(s.size).reshape(s.shape) == 7, 2, s), None, "spikes"),
    "missing_tensor": (MOE_TEXT, None, lambda w: _drop(w, "b2"), "b2"),
    "wrong_shape": (MOE_TEXT, None, _reshape, "wr"),
    "spikes_wrong_shape": (MOE_TEXT, lambda s: s[:, :3], None, "spikes"),
    "unknown_reset": (MOE_TEXT.replace('reset = "hard"', 'reset = "sometimes"', 1), None, None, "reset"),
    "unknown_kind": (MOE_TEXT.replace('kind = "moe"', 'kind = "rnn"'), None, None, "kind"),
    "heads_not_dividing": (MHA_TEXT.replace("heads = 4", "heads = 5"), None, None, "heads"),
    "malformed_toml": (MOE_TEXT + "\n[[[oops\n", None, None, "TOML"),
    "unknown_key": (MOE_TEXT.replace("experts = 4", "experts = 4\nexpertz = 4"), None, None, "expertz"),
    "missing_lif_table": (MOE_TEXT.split("[lif.out]")[0] + "[hw]\nrows = 8\n", None, None, "lif.out"),
    "result_lanes_zero": (MOE_TEXT.split("[hw]")[0] + "[hw]\nresult_lanes = 0\n", None, None, "hw.result_lanes"),
    "fire_nowhere": (MOE_TEXT.split("[hw]")[0] + "[hw]\nfire = \"soma\"\n", None, None, "hw.fire"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_is_refused(tmp_path, root, name):
    text, fs, fw, field = BAD[name]
    base = load_config(root / "configs" / ("mha_default.toml" if name == "heads_not_dividing" else "moe_default.toml"))
    s, w = random_case(base, seed=1)
    if fs:
        s = fs(s)
    if fw:
        w = fw(w)
    write_case(tmp_path, text, s, w)
    r = run(tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert field in lines[0], lines[0]
    assert not (tmp_path / "o.npz").exists()
    assert not list(tmp_path.glob(".o.npz*"))


def test_missing_file_is_refused(tmp_path, root):
    r = spikestack("run", root / "configs" / "moe_default.toml", "--weights", tmp_path / "nope.npz",
                   "--spikes", tmp_path / "nope2.npz", "--out", tmp_path / "o.npz")
    assert r.returncode == 2 and "weights" in r.stderr and not (tmp_path / "o.npz").exists()


def test_gen_writes_verilog_and_manifest(tmp_path, root):
    r = spikestack("gen", root / "configs" / "linear_default.toml", "-o", tmp_path / "g")
    assert r.returncode == 0, r.stderr
    import json
    man = json.loads((tmp_path / "g" / "manifest.json").read_text())
    v = (tmp_path / "g" / man["files"][0]).read_text()
    assert f"module {man['top']}" in v
    for p in man["ports"]:
        assert p["name"] in v
    assert {m["block"] for m in man["memories"]} >= {"activation_glb", "weight_buffer"}


@pytest.mark.parametrize("opt,word", [(["--jobs", "0"], "jobs"), (["--blocks", "nope"], "blocks"),
                                      (["--harden", "atoms"], "harden"),
                                      (["--blocks", "expert_core", "--block-grains", "pe,atoms"], "block-grains"),
                                      (["--block-grains", "pe"], "block-grains"),
                                      (["--blocks", "expert_core", "--flat-blocks", "merge"], "flat-blocks"),
                                      (["--method", "coplaced", "--harden", "pe", "--common-footprint"], "method"),
                                      (["--method", "coplaced", "--2d-only"], "method")])
def test_demo_refuses_a_bad_ppa_option_before_it_starts(tmp_path, root, opt, word):
    """`make run`'s job takes the ppa options; a bad one stops it at once, nothing written."""
    out = tmp_path / "run"
    r = spikestack("demo", "--out", out, "--ppa", root / "configs" / "moe_ppa_small.toml", *opt)
    assert r.returncode == 2 and r.stderr.startswith(f"spikestack: error: {word}"), r.stderr
    assert not out.exists()


def test_demo_finds_the_default_configurations():
    """make run's demo reads configs/*_default.toml beside the package's modules."""
    from spikestack.demo import CONFIG_DIR
    assert {f"{k}_default.toml" for k in ("linear", "moe", "mha")} <= {p.name for p in CONFIG_DIR.iterdir()}


def _subparsers(parser):
    import argparse
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sp in a.choices.items():
                yield name, sp
                yield from ((f"{name} {n}", s) for n, s in _subparsers(sp))


def test_every_option_has_help_and_a_stated_default():
    """`COMMAND -h` explains every option: non-empty help; an optional one also states its default."""
    import argparse
    from spikestack.cli import build_parser
    subs = list(_subparsers(build_parser()))
    assert {"run", "gen", "ppa", "energy", "census", "orfs", "demo", "bench"} <= {n for n, _ in subs}
    missing, no_default = [], []
    for name, sp in subs:
        for a in sp._actions:
            if isinstance(a, argparse._HelpAction):
                continue
            what = f"{name} {'/'.join(a.option_strings) or a.dest}"
            if not (a.help or "").strip():
                missing.append(what)
            elif a.option_strings and not a.required and "default" not in a.help:
                no_default.append(what)
    assert not missing, f"options without help: {missing}"
    assert not no_default, f"optional options whose help states no default: {no_default}"


def test_version_prints_the_package_version():
    from spikestack import __version__
    r = spikestack_cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"spikestack {__version__}", (r.stdout, r.stderr)


@pytest.mark.parametrize("argv", [[], ["nope"], ["ppa"], ["run", "c.toml"], ["gen", "c.toml", "-o", "d", "--tiers", "x"]])
def test_usage_errors_are_one_line(argv):
    r = spikestack_cli(*argv)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("spikestack: error: "), r.stderr


spikestack_cli = spikestack


@pytest.mark.parametrize("opt,method", [([], "coplaced"), (["--2d-only"], "coplaced"),
                                        (["--blocks", "expert_core"], "independent"),
                                        (["--harden", "pe"], "independent"),
                                        (["--blocks", "expert_core", "--2d-only"], "independent"),
                                        (["--common-footprint"], "independent")])
def test_ppa_method_defaults_to_what_the_flow_implements(root, opt, method):
    """Without --method, the flat flow takes the co-placed 3D method and the hierarchical one
    (--harden, --blocks) the independent one, as `ppa -h` says: no option is needed to run either."""
    from spikestack.cli import build_parser, _ppa_checked, ppa_options
    args = build_parser().parse_args(["ppa", str(root / "configs" / "moe_ppa_small.toml"), "-o", "x", *opt])
    _, blocks = _ppa_checked(args)
    assert ppa_options(args, blocks).method == method
