"""Networks of layers: the file format, the golden chain, and the RTL chain bit-exact (one top per layer,
weights loaded once, several runs per simulation), through `spikestack run NET.toml`."""
import re
import subprocess
import sys
import tomllib

import numpy as np
import pytest

from spikestack.config import ConfigError
from spikestack.netconfig import dump_network, load_network, parse_network, split_tensors
from spikestack.sim.layers import run_golden
from spikestack.sim.network import batch_tokens, check_network_tensors, run_network_golden, unbatch_tokens
from spikestack.sim.tensors import random_case
from spikestack.tb.network import run_network_rtl

NET = """
name = "tiny"
t = 3
n = 4
weights = "tiny.npz"

[[layer]]
name = "a"
kind = "linear"
d = 7
d_out = 6
[layer.lif.out]
threshold = 40
leak_shift = 2
reset = "soft"
[layer.hw]
rows = 2
cols = 3
cores = 1

[[layer]]
name = "b"
kind = "moe"
d = 6
dh = 5
experts = 3
top_k = 2
[layer.lif.hidden]
threshold = 30
leak_shift = 1
reset = "hard"
[layer.lif.out]
threshold = 35
leak_shift = 0
reset = "hard"
[layer.hw]
rows = 2
cols = 3
cores = 2
glb_share = 2
"""


def tiny(tmp_path, seed=3):
    (tmp_path / "tiny.toml").write_text(NET)
    net = load_network(tmp_path / "tiny.toml")
    per_layer = [random_case(cfg, seed=seed + i, w_scale=0.6)[1] for i, (_, cfg) in enumerate(net.layers)]
    np.savez(tmp_path / "tiny.npz", **{f"{name}.{k}": v for (name, _), ts in zip(net.layers, per_layer)
                                      for k, v in ts.items()})
    return net, per_layer


def test_format_round_trips_and_chains(tmp_path):
    net, per_layer = tiny(tmp_path)
    again = parse_network(tomllib.loads(dump_network(net)), tmp_path)
    assert again == net
    x = (np.random.default_rng(1).random((3, 4, 7)) < 0.4).astype(np.uint8)
    outs = run_network_golden(net, x, per_layer)
    assert outs[0].shape == (3, 4, 6) and outs[1].shape == (3, 4, 6)
    np.testing.assert_array_equal(outs[1], run_golden(net.layers[1][1], run_golden(net.layers[0][1], x, per_layer[0]),
                                                      per_layer[1]))


@pytest.mark.parametrize("edit, field", [
    (("d = 6\ndh", "d = 5\ndh"), "layer[1].d"),
    (('name = "b"', 'name = "a"'), "layer[1].name"),
    (("top_k = 2", "top_k = 4"), "layer[1].top_k"),
    (("d_out = 6\n", "d_out = 6\nt = 2\n"), "layer[0].t"),
])
def test_bad_network_names_the_field(tmp_path, edit, field):
    with pytest.raises(ConfigError, match="^" + re.escape(field)):
        parse_network(tomllib.loads(NET.replace(*edit)))


def test_bad_tensor_names_the_layer(tmp_path):
    net, per_layer = tiny(tmp_path)
    tensors = {f"{n}.{k}": v for (n, _), ts in zip(net.layers, per_layer) for k, v in ts.items()}
    tensors["b.w1"] = tensors["b.w1"][:, :-1]
    with pytest.raises(ConfigError, match=r"^weights\.b\.w1: shape"):
        check_network_tensors(net, tensors)
    with pytest.raises(ConfigError, match=r"^weights\.c\.w"):
        split_tensors(net, {"c.w": 1})


def test_token_batching_is_lossless():
    x = np.random.default_rng(0).integers(0, 2, (11, 3, 5)).astype(np.uint8)
    runs = batch_tokens(x, 4)
    assert len(runs) == 3 and runs[0].shape == (3, 4, 5)
    np.testing.assert_array_equal(unbatch_tokens(runs, 11), x)


def test_rtl_chain_bit_exact(tmp_path):
    """Each layer's top fed the previous top's spikes; 3 runs per simulation, weights loaded once."""
    net, per_layer = tiny(tmp_path)
    rng = np.random.default_rng(7)
    runs = [(rng.random((3, 4, 7)) < r).astype(np.uint8) for r in (0.1, 0.4, 0.8)]
    res = run_network_rtl(net, per_layer, runs)
    for i, x in enumerate(runs):
        gold = run_network_golden(net, x, per_layer)
        for li in range(2):
            np.testing.assert_array_equal(res["layers"][li][i], gold[li], err_msg=f"layer {li} run {i}")
    assert (res["cycles"] > 0).all()
    # the command line: golden and rtl backends write the same spikes
    np.savez(tmp_path / "s.npz", spikes=runs[1])
    outs = {}
    for backend in ("golden", "rtl"):
        r = subprocess.run([sys.executable, "-m", "spikestack.cli", "run", tmp_path / "tiny.toml", "--spikes",
                            tmp_path / "s.npz", "--out", tmp_path / f"{backend}.npz", "--backend", backend],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        outs[backend] = np.load(tmp_path / f"{backend}.npz")
    np.testing.assert_array_equal(outs["rtl"]["spikes"], outs["golden"]["spikes"])
    np.testing.assert_array_equal(outs["rtl"]["spikes_a"], run_network_golden(net, runs[1], per_layer)[0])
    assert int(outs["rtl"]["cycles"]) == int(outs["rtl"]["cycles_a"]) + int(outs["rtl"]["cycles_b"])
