"""The attention variant of the digits classifier: linear 16->16, MHA (d 16, 2 heads), linear 16->10.

Each image is 8 tokens, its rows: 8 pixels rate coded over ``T`` steps (:func:`.digits_train.encode`)
and 8 one-hot position inputs (spiking every step). The class is the output neuron with the most
spikes over all tokens and steps. Same training as :mod:`.digits_train` (split, seeds, Adam,
quantisation-aware from ``QAT_FROM``); writes ``configs/digits_attn/digits_attn.toml`` and ``.npz``.
``python -m spikestack.bench.digits_attn`` trains it; ``python -m spikestack.bench.digits --net
configs/digits_attn/digits_attn.toml`` runs it (one image per RTL run).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ..gen.atomic import write_atomic
from ..netconfig import dump_network
from ..sim.snn_train import Adam, backward, forward, init_params, to_network
from .digits_train import BATCH, LR, QAT_FROM, T, TRAIN_SEED, encode, load_split

__all__ = ["SPEC", "tokens", "predict", "train", "main", "CONFIG_DIR"]

EPOCHS = 40
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs" / "digits_attn"
SPEC = [{"name": "fc1", "kind": "linear", "d": 16, "d_out": 16},
        {"name": "att", "kind": "mha", "d": 16, "heads": 2, "attn_shift": 2, "attn_threshold": 2},
        {"name": "fc2", "kind": "linear", "d": 16, "d_out": 10}]
HW = {"fc1": {"rows": 2, "cols": 8, "cores": 1}, "att": {"rows": 2, "cols": 8, "cores": 2},
      "fc2": {"rows": 2, "cols": 5, "cores": 1}}


def tokens(x: np.ndarray, t: int = T) -> np.ndarray:
    """Images ``(S, 64)`` -> spikes ``(t, S, 8, 16)``: per row token, 8 pixels and 8 position bits."""
    s = encode(x, t)
    S = s.shape[0]
    pos = np.broadcast_to(np.eye(8, dtype=np.uint8)[None, None], (S, t, 8, 8))
    return np.concatenate([s.reshape(S, t, 8, 8), pos], axis=3).transpose(1, 0, 2, 3).copy()


def predict(out: np.ndarray) -> np.ndarray:
    """Output spikes ``(T, S, 8, 10)`` -> class per image."""
    return np.argmax(out.sum(axis=(0, 2)), axis=1)


def accuracy(p, X, y, quant):
    return float((predict(forward(SPEC, p, X, quant)[0]) == y).mean())


def train(epochs: int = EPOCHS, log=print):
    xtr, ytr, xte, yte = load_split()
    Xtr, Xte = tokens(xtr), tokens(xte)
    rng = np.random.default_rng(TRAIN_SEED)
    p = init_params(SPEC, rng)
    opt, best, t0 = Adam(p, lr=LR), (-1.0, None), time.time()
    for ep in range(epochs):
        quant = ep >= QAT_FROM
        order = rng.permutation(len(ytr))
        for i in range(0, len(order), BATCH):
            idx = order[i:i + BATCH]
            out, cache = forward(SPEC, p, Xtr[:, idx], quant)
            counts = out.sum(axis=(0, 2)).astype(float) / 4
            z = np.exp(counts - counts.max(axis=1, keepdims=True))
            prob = z / z.sum(axis=1, keepdims=True)
            prob[np.arange(len(idx)), ytr[idx]] -= 1
            g = np.broadcast_to((prob / len(idx) / 4)[None, :, None, :], out.shape).copy()
            opt.step(p, backward(SPEC, cache, g))
        if quant:
            acc = accuracy(p, Xtr, ytr, True)
            if acc >= best[0]:
                best = (acc, {k: v.copy() for k, v in p.items()})
        log(f"epoch {ep:2d} train int {accuracy(p, Xtr, ytr, True):.3f} test int {accuracy(p, Xte, yte, True):.3f} "
            f"{time.time() - t0:.0f} s")
    return best[1], time.time() - t0


def save(params, out_dir: Path = CONFIG_DIR):
    net, q = to_network(SPEC, params, "digits_attn", T, 8, HW, weights="digits_attn.npz")

    def npz(tmp):
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **q, **{f"float.{k}": v.astype(np.float32) for k, v in params.items()})
    write_atomic(out_dir / "digits_attn.npz", npz)
    write_atomic(out_dir / "digits_attn.toml", "# The attention digits classifier: written by "
                 "`python -m spikestack.bench.digits_attn`.\n" + dump_network(net))
    return net


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m spikestack.bench.digits_attn", description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--out", default=str(CONFIG_DIR))
    a = ap.parse_args(argv)
    params, secs = train(a.epochs)
    _, _, xte, yte = load_split()
    print(f"trained in {secs:.0f} s: test float {accuracy(params, tokens(xte), yte, False):.4f}, "
          f"integer {accuracy(params, tokens(xte), yte, True):.4f}")
    save(params, Path(a.out))
    print(f"wrote {a.out}/digits_attn.toml and digits_attn.npz")


if __name__ == "__main__":
    main()
