"""The numpy training: its quantised forward pass is the integer golden model, bit for bit; gradients
have the parameters' shapes and lower the loss; the committed digits model keeps >= 90 %."""
import numpy as np
import pytest

from spikestack.sim.network import run_network_golden
from spikestack.sim.snn_train import Adam, backward, forward, init_params, to_network

SPEC = [{"name": "a", "kind": "linear", "d": 9, "d_out": 7},
        {"name": "m", "kind": "moe", "d": 7, "dh": 5, "experts": 3, "top_k": 2},
        {"name": "c", "kind": "linear", "d": 7, "d_out": 4}]


MHA_SPEC = [{"name": "a", "kind": "linear", "d": 9, "d_out": 6},
            {"name": "m", "kind": "mha", "d": 6, "heads": 2, "attn_shift": 1, "attn_threshold": 3},
            {"name": "c", "kind": "linear", "d": 6, "d_out": 4}]


@pytest.mark.parametrize("spec", [SPEC, MHA_SPEC], ids=["moe", "mha"])
def test_quantised_forward_is_the_golden_model(spec):
    rng = np.random.default_rng(0)
    p = init_params(spec, rng)
    x = (rng.random((5, 13, 9)) < 0.4).astype(np.uint8)
    out, cache = forward(spec, p, x, quant=True)
    net, q = to_network(spec, p, "t", 5, 13, {})
    per_layer = [{k.split(".", 1)[1]: v for k, v in q.items() if k.startswith(n + ".")} for n, _ in net.layers]
    gold = run_network_golden(net, x, per_layer)
    for c, g in zip(cache, gold):
        np.testing.assert_array_equal(c["out"][0].astype(np.uint8), g)
    np.testing.assert_array_equal(out, gold[-1])


@pytest.mark.parametrize("SPEC", [SPEC, MHA_SPEC], ids=["moe", "mha"])
def test_gradients_lower_the_loss(SPEC):
    rng = np.random.default_rng(1)
    p = init_params(SPEC, rng)
    x = (rng.random((6, 32, 9)) < 0.4).astype(np.uint8)
    y = rng.integers(0, 4, 32)

    def loss_and_grad(quant):
        out, cache = forward(SPEC, p, x, quant)
        counts = out.sum(axis=0).astype(float)
        z = np.exp(counts - counts.max(axis=1, keepdims=True))
        prob = z / z.sum(axis=1, keepdims=True)
        loss = -np.log(prob[np.arange(32), y]).mean()
        prob[np.arange(32), y] -= 1
        return loss, backward(SPEC, cache, np.broadcast_to(prob / 32, out.shape).copy())
    first, g = loss_and_grad(False)
    assert set(g) == set(p) and all(g[k].shape == p[k].shape and np.isfinite(g[k]).all() for k in p)
    opt = Adam(p, lr=5e-3)
    for _ in range(60):
        opt.step(p, loss_and_grad(False)[1])
    assert loss_and_grad(False)[0] < first


@pytest.mark.parametrize("net", ["digits/digits.toml", "digits_attn/digits_attn.toml"])
def test_committed_digits_model_accuracy(tmp_path, root, net):
    pytest.importorskip("sklearn")
    from spikestack.bench.digits import run
    res = run(root / "configs" / net, rtl=False, out_dir=tmp_path)
    assert res["samples"] == 360
    assert res["golden_accuracy"] >= 0.90          # the integer model (the hardware's) keeps >= 90 %
    assert res["float_accuracy"] >= 0.85           # its float twin (no rounding): 93.6 % and 89.7 %


@pytest.mark.slow
def test_digits_rtl_equals_golden(tmp_path):
    """`make digits` on the first 80 test images: every layer's RTL spikes equal the golden model's."""
    pytest.importorskip("sklearn")
    from spikestack.bench.digits import run
    res = run(out_dir=tmp_path, limit=80)
    assert res["rtl_equal_golden"], res["mismatches"]
    assert res["rtl_accuracy"] == res["golden_accuracy"] and res["cycles_per_inference"] > 0
