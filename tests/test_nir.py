"""NIR import and export (docs/nir.md) with graphs built here: import, run, export, import again gives
the same network; spikestack's MoE and MHA layers round-trip; bad graphs refused naming the node."""
import subprocess
import sys

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from spikestack.netconfig import NetworkConfig, dump_network, load_network  # noqa: E402
from spikestack.config import HwConfig, LayerConfig, LifConfig  # noqa: E402
from spikestack.sim.network import run_network_golden  # noqa: E402
from spikestack.sim.tensors import random_case  # noqa: E402


def cli(*args):
    return subprocess.run([sys.executable, "-m", "spikestack.cli", *map(str, args)], capture_output=True, text=True)


def foreign_graph(rng, bad=None):
    """A float model as a framework exports it: Affine 6->5, LIF (per-neuron thresholds), Affine 5->3, IF."""
    w1, b1 = rng.normal(0, 0.6, (5, 6)), rng.normal(0, 0.1, 5)
    w2, b2 = rng.normal(0, 0.8, (3, 5)), np.zeros(3)
    lif = dict(tau=np.full(5, 8.0), r=np.full(5, 8.0), v_leak=np.zeros(5), v_threshold=rng.uniform(0.8, 1.2, 5))
    nodes = {"input": nir.Input(input_type=np.array([6])), "fc1": nir.Affine(weight=w1, bias=b1),
             "lif1": nir.LIF(**lif), "fc2": nir.Affine(weight=w2, bias=b2),
             "if2": nir.IF(r=np.ones(3), v_threshold=np.full(3, 0.9)), "output": nir.Output(output_type=np.array([3]))}
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "if2"), ("if2", "output")]
    if bad == "conv":
        nodes["fc2"] = nir.Conv1d(input_shape=5, weight=np.ones((3, 5, 1)), stride=1, padding=0, dilation=1, groups=1,
                                  bias=np.zeros(3))
    if bad == "shape":
        nodes["fc2"] = nir.Affine(weight=np.ones((3, 4)), bias=np.zeros(3))
    if bad == "v_reset":
        nodes["if2"] = nir.IF(r=np.ones(3), v_threshold=np.full(3, 0.9), v_reset=np.full(3, 0.5))
    if bad == "tau_syn":
        nodes["lif1"] = nir.CubaLIF(tau_syn=np.full(5, 4.0), tau_mem=np.full(5, 8.0), r=np.full(5, 8.0),
                                    v_leak=np.zeros(5), v_threshold=np.ones(5))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def same_network(a_dir, a_name, b_dir, b_name):
    assert (a_dir / f"{a_name}.toml").read_text() == (b_dir / f"{b_name}.toml").read_text()
    a, b = np.load(a_dir / f"{a_name}.npz"), np.load(b_dir / f"{b_name}.npz")
    assert sorted(a.files) == sorted(b.files)
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_import_run_export_import(tmp_path):
    rng = np.random.default_rng(0)
    nir.write(str(tmp_path / "m.nir"), foreign_graph(rng))
    x = (rng.random((6, 20, 6)) < 0.4).astype(np.uint8)
    np.savez(tmp_path / "x.npz", spikes=x)
    r = cli("import", tmp_path / "m.nir", "-o", tmp_path / "a", "--t", 6, "--n", 20, "--spikes", tmp_path / "x.npz")
    assert r.returncode == 0, r.stderr
    agreements = [float(line.split("spike agreement ")[1].split(" %")[0]) for line in r.stdout.splitlines()
                  if "spike agreement" in line]
    assert len(agreements) == 2 and all(0 <= a <= 100 for a in agreements)
    assert agreements[0] > 80, r.stdout           # 8-bit weights of a 6-input layer keep most spikes
    net = load_network(tmp_path / "a" / "m.toml")
    assert [c.kind for _, c in net.layers] == ["linear", "linear"]
    assert net.layers[0][1].lif["out"].leak_shift == 3 and net.layers[1][1].lif["out"].leak_shift == 0
    r = cli("run", tmp_path / "a" / "m.toml", "--spikes", tmp_path / "x.npz", "--out", tmp_path / "o.npz")
    assert r.returncode == 0, r.stderr
    assert np.load(tmp_path / "o.npz")["spikes"].shape == (6, 20, 3)
    r = cli("export", tmp_path / "a" / "m.toml", "-o", tmp_path / "m2.nir")
    assert r.returncode == 0, r.stderr
    r = cli("import", tmp_path / "m2.nir", "-o", tmp_path / "b")
    assert r.returncode == 0, r.stderr
    # integer weights exported exactly; only the leak differs (NIR's Euler step vs the floor of V >> k)
    assert all(float(line.split("spike agreement ")[1].split(" %")[0]) > 95 for line in r.stdout.splitlines()
               if "spike agreement" in line), r.stdout
    same_network(tmp_path / "a", "m", tmp_path / "b", "m")


def test_moe_and_mha_round_trip(tmp_path):
    """spikestack's own layers through NIR's subgraph convention: the same network and tensors."""
    lif = lambda th, k, reset="hard", name="out": LifConfig(th, k, reset, name)  # noqa: E731
    hw = HwConfig(rows=2, cols=3, cores=2)
    layers = (("inp", LayerConfig(kind="linear", t=4, n=3, d=5, d_out=6, lif={"out": lif(20, 2, "soft")}, hw=hw)),
              ("mix", LayerConfig(kind="moe", t=4, n=3, d=6, dh=7, experts=3, top_k=2, w_bits=6, b_bits=8,
                                  lif={"hidden": lif(9, 1, name="hidden"), "out": lif(11, 0)}, hw=hw)),
              ("att", LayerConfig(kind="mha", t=4, n=3, d=6, heads=2, attn_shift=1,
                                  lif={p: lif(7 + i, i % 3, name=p) for i, p in enumerate(("q", "k", "v", "attn", "o"))})))
    net = NetworkConfig(name="mixed", t=4, n=3, layers=layers, weights="mixed.npz")
    per_layer = [random_case(cfg, seed=i)[1] for i, (_, cfg) in enumerate(layers)]
    (tmp_path / "mixed.toml").write_text(dump_network(net))
    np.savez(tmp_path / "mixed.npz", **{f"{n}.{k}": v for (n, _), ts in zip(layers, per_layer) for k, v in ts.items()})
    assert cli("export", tmp_path / "mixed.toml", "-o", tmp_path / "mixed.nir").returncode == 0
    r = cli("import", tmp_path / "mixed.nir", "-o", tmp_path / "back")
    assert r.returncode == 0, r.stderr
    assert "att (mha)" in r.stdout and "mix (moe)" in r.stdout
    same_network(tmp_path, "mixed", tmp_path / "back", "mixed")
    back = load_network(tmp_path / "back" / "mixed.toml")
    x = (np.random.default_rng(3).random((4, 3, 5)) < 0.5).astype(np.uint8)
    w = np.load(tmp_path / "back" / "mixed.npz")
    back_layers = [{k.split(".", 1)[1]: w[k] for k in w.files if k.startswith(n + ".")} for n, _ in back.layers]
    for a, b in zip(run_network_golden(net, x, per_layer), run_network_golden(back, x, back_layers)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad, node, field", [
    ("conv", "fc2", "type Conv1d"), ("shape", "fc2", "weight"), ("v_reset", "if2", "v_reset"),
    ("tau_syn", "lif1", "tau_syn")])
def test_bad_graph_refused_naming_the_node(tmp_path, bad, node, field):
    nir.write(str(tmp_path / "bad.nir"), foreign_graph(np.random.default_rng(1), bad))
    r = cli("import", tmp_path / "bad.nir", "-o", tmp_path / "out")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"node {node!r}: {field}" in lines[0], r.stderr
    assert not (tmp_path / "out").exists()
