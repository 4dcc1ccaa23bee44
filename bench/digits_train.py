"""`make train-digits`: train the digits classifier (linear 64->32, MoE 4 experts top-2, linear 32->10).

scikit-learn's ``load_digits`` (1797 8x8 images, pixels 0..16; the ``digits`` extra installs it), one
fixed seeded split (``SPLIT_SEED``, 20 % test = 360 images), each image one token of 64 inputs rate
coded over ``T`` timesteps: pixel p spikes ``floor(T * p / 16)`` times, evenly spread. The class is
the output neuron with the most spikes (the lower index on ties). Training: numpy, surrogate
gradients, quantisation-aware from ``QAT_FROM`` on (:mod:`spikestack.sim.snn_train`), Adam, seed
``TRAIN_SEED``; the epoch kept is the one with the best integer accuracy on the training split.
Writes ``configs/digits/digits.toml`` and ``digits.npz`` (integer tensors) atomically.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ..gen.atomic import write_atomic
from ..netconfig import dump_network
from ..sim.snn_train import Adam, backward, forward, init_params, to_network

__all__ = ["load_split", "encode", "SPEC", "T", "train", "main", "CONFIG_DIR"]

T = 8
SPLIT_SEED = 0
TRAIN_SEED = 1
EPOCHS = 40
QAT_FROM = 10
BATCH = 32
LR = 3e-3
N_TOKENS = 40            # images per RTL run (tokens of one run are independent in linear and MoE layers)
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs" / "digits"
SPEC = [
    {"name": "fc1", "kind": "linear", "d": 64, "d_out": 32},
    {"name": "moe", "kind": "moe", "d": 32, "dh": 32, "experts": 4, "top_k": 2},
    {"name": "fc2", "kind": "linear", "d": 32, "d_out": 10},
]
HW = {"fc1": {"rows": 4, "cols": 8, "cores": 1}, "moe": {"rows": 4, "cols": 8, "cores": 4, "glb_share": 2},
      "fc2": {"rows": 2, "cols": 5, "cores": 1}}


def load_split():
    """``(x_train, y_train, x_test, y_test)``: pixels 0..16 (uint8) and labels, the fixed split."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise SystemExit("digits: needs scikit-learn (pip install 'spikestack[digits]')") from None
    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x.astype(np.uint8), y, test_size=0.2, random_state=SPLIT_SEED, stratify=y)
    return xtr, ytr, xte, yte


def encode(x: np.ndarray, t: int = T) -> np.ndarray:
    """Images ``(S, 64)`` of 0..16 -> spikes ``(S, t, 64)``: ``floor((i+1) p / 16) - floor(i p / 16)``."""
    k = (np.arange(t + 1)[:, None, None] * x[None].astype(np.int64)) // 16
    return (k[1:] - k[:-1]).transpose(1, 0, 2).astype(np.uint8)


def predict(out_spikes: np.ndarray) -> np.ndarray:
    """Output spikes ``(T, N, 10)`` -> class per token: most spikes, the lower index on ties."""
    return np.argmax(out_spikes.sum(axis=0), axis=1)


def accuracy(params, xs, ys, quant: bool) -> float:
    out, _ = forward(SPEC, params, xs.transpose(1, 0, 2), quant)
    return float((predict(out) == ys).mean())


def train(epochs: int = EPOCHS, log=print):
    xtr, ytr, xte, yte = load_split()
    str_, ste = encode(xtr), encode(xte)
    rng = np.random.default_rng(TRAIN_SEED)
    p = init_params(SPEC, rng)
    opt = Adam(p, lr=LR)
    best = (-1.0, None)
    t0 = time.time()
    for ep in range(epochs):
        quant = ep >= QAT_FROM
        order = rng.permutation(len(ytr))
        for i in range(0, len(order), BATCH):
            idx = order[i:i + BATCH]
            x = str_[idx].transpose(1, 0, 2)
            out, cache = forward(SPEC, p, x, quant)
            counts = out.sum(axis=0).astype(float)                           # (N, 10)
            z = counts - counts.max(axis=1, keepdims=True)
            prob = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
            prob[np.arange(len(idx)), ytr[idx]] -= 1
            g = np.broadcast_to(prob / len(idx), out.shape).copy()
            opt.step(p, backward(SPEC, cache, g))
        if quant:
            acc = accuracy(p, str_, ytr, True)
            if acc >= best[0]:
                best = (acc, {k: v.copy() for k, v in p.items()})
        log(f"epoch {ep:2d} {'int ' if quant else 'float'} train float {accuracy(p, str_, ytr, False):.3f} "
            f"int {accuracy(p, str_, ytr, True):.3f}  test int {accuracy(p, ste, yte, True):.3f}  "
            f"{time.time() - t0:.0f} s")
    return best[1], time.time() - t0


def save(params, out_dir: Path = CONFIG_DIR):
    net, q = to_network(SPEC, params, "digits", T, N_TOKENS, HW, weights="digits.npz")
    out_dir.mkdir(parents=True, exist_ok=True)

    def npz(tmp):
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **q, **{f"float.{k}": v.astype(np.float32) for k, v in params.items()})
    write_atomic(out_dir / "digits.npz", npz)
    write_atomic(out_dir / "digits.toml", lambda tmp: Path(tmp).write_text(
        "# The digits classifier: written by `make train-digits` (spikestack.bench.digits_train).\n"
        + dump_network(net)))
    return net


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m spikestack.bench.digits_train", description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--out", default=str(CONFIG_DIR))
    a = ap.parse_args(argv)
    params, secs = train(a.epochs)
    xtr, ytr, xte, yte = load_split()
    print(f"trained in {secs:.0f} s: test float {accuracy(params, encode(xte), yte, False):.4f}, "
          f"integer {accuracy(params, encode(xte), yte, True):.4f}")
    save(params, Path(a.out))
    print(f"wrote {a.out}/digits.toml and digits.npz")


if __name__ == "__main__":
    main()
