"""Command-line handlers for networks and NIR (``spikestack run NET.toml``, ``import``, ``export``).

    spikestack run NET.toml --spikes S.npz --out OUT.npz [--weights W.npz] [--backend rtl|golden]
    spikestack import MODEL.nir -o DIR [--t T] [--n N] [--w-bits 8] [--b-bits 16] [--v-bits 16] [--spikes S.npz]
    spikestack export NET.toml -o MODEL.nir [--weights W.npz]

Errors are :class:`~spikestack.config.ConfigError` (one line naming the field or the NIR node), raised
before anything is written; files are written atomically.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np

from .config import ConfigError
from .gen.atomic import write_atomic
from .netconfig import NetworkConfig, dump_network, is_network, join_tensors, load_network
from .sim.network import check_network_tensors, run_network_golden, with_tokens
from .sim.nirio import from_nir, nir_float_run, require_nir, to_nir
from .sim.tensors import check_spikes

__all__ = ["is_network_file", "run_network_cmd", "import_cmd", "export_cmd", "read_network"]


def is_network_file(path: str) -> bool:
    try:
        return is_network(tomllib.loads(Path(path).read_text()))
    except (OSError, tomllib.TOMLDecodeError):
        return False


def _npz(path, what) -> dict:
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:
        raise ConfigError(f"{what}: cannot read {path} as .npz ({e})") from None


def read_network(path: str, weights: str | None = None) -> tuple[NetworkConfig, list[dict]]:
    """A network file and its validated per-layer tensors (``weights`` overrides the file's)."""
    net = load_network(path)
    wpath = weights or (str(net.weights_path()) if net.weights else None)
    if not wpath:
        raise ConfigError("weights: the network names no weights file; give --weights W.npz")
    tensors = {k: v for k, v in _npz(wpath, "weights").items() if not k.startswith("float.")}
    return net, check_network_tensors(net, tensors)


def run_network_cmd(config: str, weights: str | None, spikes: str, out: str, backend: str,
                    simulator: str = "verilator") -> str:
    net, per_layer = read_network(config, weights)
    s = _npz(spikes, "spikes")
    if "spikes" not in s:
        raise ConfigError(f"spikes: {spikes} has no array named 'spikes'")
    x = check_spikes(net.layers[0][1], s["spikes"])
    result = {}
    if backend == "golden":
        outs = run_network_golden(net, x, per_layer)
    else:
        from .tb.network import run_network_rtl
        r = run_network_rtl(net, per_layer, [x], simulator=simulator)
        outs = [layer[0] for layer in r["layers"]]
        for (name, _), c in zip(net.layers, r["cycles"]):
            result[f"cycles_{name}"] = np.int64(c[0])
        result["cycles"] = np.int64(r["cycles"][:, 0].sum())
    result["spikes"] = outs[-1].astype(np.uint8)
    for (name, _), o in zip(net.layers, outs):
        result[f"spikes_{name}"] = o.astype(np.uint8)

    def save(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **result)
    write_atomic(Path(out), save)
    msg = f"wrote {out}: spikes {result['spikes'].shape} after {len(net.layers)} layers"
    return msg + (f", {int(result['cycles'])} cycles (sum over the layers' tops)" if "cycles" in result else "")


def import_cmd(model: str, out_dir: str, t=None, n=None, w_bits=8, b_bits=16, v_bits=16, spikes=None,
               name=None, seed: int = 0) -> str:
    nir = require_nir()
    try:
        graph = nir.read(model, type_check=False)      # shapes are checked here, node by node
    except Exception as e:        # h5py / nir raise many kinds; one line naming the file
        raise ConfigError(f"model: cannot read {model} as NIR ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    net, per_layer, rows, floats = from_nir(graph, t, n, w_bits, b_bits, v_bits, name, Path(model).stem)
    if spikes:
        s = _npz(spikes, "spikes")
        if "spikes" not in s:
            raise ConfigError(f"spikes: {spikes} has no array named 'spikes'")
        x, src = s["spikes"], spikes
        if x.ndim != 3 or x.shape[0] != net.t or x.shape[2] != net.d_in:
            raise ConfigError(f"spikes: shape {x.shape}, expected (t, tokens, d) = ({net.t}, *, {net.d_in})")
    else:
        x = (np.random.default_rng(seed).random((net.t, 64, net.d_in)) < 0.2).astype(np.uint8)
        src = f"64 seeded random inputs (seed {seed}, rate 0.2; give --spikes for your own)"
    check_network_tensors(net, join_tensors(net, per_layer))
    ref = nir_float_run(floats, x)
    got = run_network_golden(with_tokens(net, x.shape[1]), x, per_layer)
    lines = [f"quantisation report ({src}): integer model vs NIR float semantics (dt = 1, forward Euler)"]
    for row, r, g in zip(rows, ref, got):
        agree = "n/a (no NIR float semantics for attention)" if r is None else \
            f"spike agreement {100.0 * float((r == g).mean()):.2f} %"
        lines.append(f"  {row['layer']} ({row['kind']}): scale {row['scale']:.4g}, threshold {row['threshold']}, "
                     f"leak_shift {row['leak_shift']}, {agree}")
    out = Path(out_dir)
    stem = net.name if net.name.isidentifier() else "network"
    text = dump_network(net, weights=f"{stem}.npz")

    def save(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **join_tensors(net, per_layer))
    write_atomic(out / f"{stem}.npz", save)
    write_atomic(out / f"{stem}.toml", text)
    lines.append(f"wrote {out / (stem + '.toml')} and {stem}.npz: {len(net.layers)} layers")
    return "\n".join(lines)


def export_cmd(config: str, out: str, weights: str | None = None) -> str:
    nir = require_nir()
    net, per_layer = read_network(config, weights)
    graph = to_nir(net, per_layer)
    write_atomic(Path(out), lambda tmp: nir.write(str(tmp), graph))
    return f"wrote {out}: NIR graph of {len(net.layers)} layers ({', '.join(c.kind for _, c in net.layers)})"
