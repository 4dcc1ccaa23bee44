"""NIR (the Neuromorphic Intermediate Representation, PyPI ``nir``) to and from spikestack networks.

Import (:func:`from_nir`) reads a chain ``Input -> (Affine|Linear -> LIF|CubaLIF|IF)* -> Output`` and
spikestack's own MoE / MHA subgraphs (``docs/nir.md``). Time is discrete with ``dt`` (graph metadata
``spikestack_dt``, default 1): a neuron's update is forward Euler, ``v = beta v + g (W x + b)`` with
``beta = 1 - dt/tau``, ``g = dt r / tau`` (LIF; IF: ``beta = 1``, ``g = r``; CubaLIF only with
``tau_syn = dt``, where its synapse passes the input through: ``g = w_in dt r / tau_mem``); it spikes
when ``v > v_threshold`` and resets to ``v_reset`` (0: spikestack's hard reset; node metadata
``spikestack_reset = "soft"``: subtract). Per population: ``leak_shift = round(log2(tau / dt))``
(0 for IF), one for every neuron; each neuron's ``g / v_threshold`` folded into its weights and bias,
which are quantised with one scale ``s`` (1 when they are integers that fit ``w_bits``, else
``max|W| / (2**(w_bits-1) - 1)``); the threshold is ``floor(1 / s) + 1`` in those units (``v > theta``
for integer ``v``). Anything else is refused naming the node and the field, before anything is written.

Export (:func:`to_nir`) writes every population as IF (``leak_shift = 0``) or LIF (``tau = r = 2**k``,
``dt = 1``) with ``v_threshold = theta - 1/2`` and the integer weights, plus ``spikestack_*`` metadata
(widths, ``[hw]``, reset), so that importing an export gives the same network.
"""
from __future__ import annotations

import json
import math

import numpy as np

from ..config import LIF_POPULATIONS, ConfigError, HwConfig, LayerConfig, LifConfig
from ..netconfig import NetworkConfig

__all__ = ["to_nir", "from_nir", "nir_float_run", "require_nir"]

_P = "spikestack_"


def require_nir():
    try:
        import nir
    except ImportError:
        raise ConfigError("nir: the NIR package is not installed (pip install 'spikestack[nir]')") from None
    return nir


def _meta(node) -> dict:
    out = {}
    for k, v in (getattr(node, "metadata", None) or {}).items():
        v = v.decode() if isinstance(v, bytes) else v
        v = v.item() if isinstance(v, np.ndarray) and v.shape == () else v
        out[k] = v.decode() if isinstance(v, bytes) else v
    return out


# ---- export ------------------------------------------------------------------------------------

def _neuron(nir, lif: LifConfig, width: int):
    th = np.full(width, lif.threshold - 0.5)
    meta = {_P + "reset": lif.reset}
    if lif.leak_shift == 0:
        return nir.IF(r=np.ones(width), v_threshold=th, v_reset=np.zeros(width), metadata=meta)
    tau = np.full(width, float(2 ** lif.leak_shift))
    return nir.LIF(tau=tau, r=tau.copy(), v_leak=np.zeros(width), v_threshold=th, v_reset=np.zeros(width), metadata=meta)


def _layer_meta(cfg: LayerConfig) -> dict:
    hw = {k: getattr(cfg.hw, k) for k in HwConfig.__dataclass_fields__}
    return {_P + "kind": cfg.kind, _P + "w_bits": cfg.w_bits, _P + "b_bits": cfg.b_bits, _P + "v_bits": cfg.v_bits,
            _P + "hw": json.dumps(hw), _P + "top_k": cfg.top_k, _P + "heads": cfg.heads,
            _P + "attn_shift": cfg.attn_shift}


def _affine(nir, w, b, meta=None):
    return nir.Affine(weight=np.asarray(w, float).T.copy(), bias=np.asarray(b, float).copy(), metadata=meta or {})


def to_nir(net: NetworkConfig, per_layer: list[dict]):
    """The network as a ``nir.NIRGraph`` (integer weights as floats, see module docstring)."""
    nir = require_nir()
    nodes = {"input": nir.Input(input_type=np.array([net.d_in]))}
    edges, prev = [], "input"
    for (name, cfg), ts in zip(net.layers, per_layer):
        if cfg.kind == "linear":
            nodes[name] = _affine(nir, ts["w"], ts["b"], _layer_meta(cfg))
            nodes[name + "_out"] = _neuron(nir, cfg.lif["out"], cfg.d_out)
            edges += [(prev, name), (name, name + "_out")]
            prev = name + "_out"
            continue
        d = cfg.d
        sub = {"input": nir.Input(input_type=np.array([d])), "output": nir.Output(output_type=np.array([d]))}
        sedges = []
        if cfg.kind == "moe":
            sub["router"] = nir.Linear(weight=np.asarray(ts["wr"], float).T.copy())
            sedges.append(("input", "router"))
            for e in range(cfg.experts):
                sub[f"expert{e}_w1"] = _affine(nir, ts["w1"][e], ts["b1"][e])
                sub[f"expert{e}_hidden"] = _neuron(nir, cfg.lif["hidden"], cfg.dh)
                sub[f"expert{e}_w2"] = _affine(nir, ts["w2"][e], ts["b2"][e])
                sedges += [("input", f"expert{e}_w1"), (f"expert{e}_w1", f"expert{e}_hidden"),
                           (f"expert{e}_hidden", f"expert{e}_w2"), (f"expert{e}_w2", "out")]
            sub["out"] = _neuron(nir, cfg.lif["out"], d)
        else:
            for x in "qkv":
                sub[x] = _affine(nir, ts[f"w{x}"], ts[f"b{x}"])
                sub[f"{x}_lif"] = _neuron(nir, cfg.lif[x], d)
                sedges += [("input", x), (x, f"{x}_lif"), (f"{x}_lif", "attn")]
            sub["attn"] = _neuron(nir, cfg.lif["attn"], d)
            sub["o"] = _affine(nir, ts["wo"], ts["bo"])
            sub["out"] = _neuron(nir, cfg.lif["o"], d)
            sedges += [("attn", "o"), ("o", "out")]
        sedges.append(("out", "output"))
        nodes[name] = nir.NIRGraph(nodes=sub, edges=sedges, metadata=_layer_meta(cfg), type_check=False)
        edges.append((prev, name))
        prev = name
    nodes["output"] = nir.Output(output_type=np.array([net.d_out]))
    edges.append((prev, "output"))
    meta = {_P + "name": net.name, _P + "t": net.t, _P + "n": net.n, _P + "dt": 1.0}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=False)


# ---- import ------------------------------------------------------------------------------------

def _arr(node_name, field, value, shape=None):
    a = np.asarray(value, dtype=float)
    if a.shape == () and shape is not None:
        a = np.full(shape, float(a))
    if shape is not None and a.shape != tuple(shape):
        raise ConfigError(f"node {node_name!r}: {field}: shape {a.shape}, expected {tuple(shape)}")
    if not np.all(np.isfinite(a)):
        raise ConfigError(f"node {node_name!r}: {field}: not finite")
    return a


def _neuron_params(nir, name, node, width, dt, v_bits):
    """(beta per neuron, gain per neuron, threshold per neuron, leak_shift, reset, float params)."""
    kind = type(node).__name__
    shape = (width,)
    if kind not in ("IF", "LIF", "CubaLIF"):
        raise ConfigError(f"node {name!r}: type {kind}: expected a neuron (LIF, CubaLIF or IF) after the affine map")
    th = _arr(name, "v_threshold", node.v_threshold, shape)
    if np.any(th <= 0):
        raise ConfigError(f"node {name!r}: v_threshold: must be > 0 (min {th.min():g})")
    vr = _arr(name, "v_reset", node.v_reset if node.v_reset is not None else 0.0, shape)
    if np.any(vr != 0):
        raise ConfigError(f"node {name!r}: v_reset: {vr[vr != 0][0]:g}; spikestack resets to 0 (hard) or subtracts "
                          "the threshold (metadata spikestack_reset = 'soft')")
    reset = _meta(node).get(_P + "reset", "hard")
    if reset not in ("hard", "soft"):
        raise ConfigError(f"node {name!r}: metadata.{_P}reset: {reset!r} is not 'hard' or 'soft'")
    r = _arr(name, "r", node.r, shape)
    if kind == "IF":
        return np.ones(shape), r * dt, th, 0, reset
    if kind == "CubaLIF":
        ts = _arr(name, "tau_syn", node.tau_syn, shape)
        if not np.allclose(ts, dt):
            raise ConfigError(f"node {name!r}: tau_syn: {ts[0]:g} != dt={dt:g}; a synaptic filter has no spikestack "
                              "equivalent (tau_syn = dt passes the input through)")
        tau = _arr(name, "tau_mem", node.tau_mem, shape)
        r = r * _arr(name, "w_in", node.w_in, shape)
    else:
        tau = _arr(name, "tau", node.tau, shape)
    if np.any(_arr(name, "v_leak", node.v_leak, shape) != 0):
        raise ConfigError(f"node {name!r}: v_leak: must be 0 (spikestack leaks towards 0)")
    if np.any(tau < dt):
        raise ConfigError(f"node {name!r}: {'tau_mem' if kind == 'CubaLIF' else 'tau'}: {tau.min():g} < dt={dt:g}")
    ks = np.maximum(1, np.round(np.log2(tau / dt))).astype(int)
    if np.any(ks != ks[0]):
        raise ConfigError(f"node {name!r}: tau: maps to leak shifts {sorted(set(ks.tolist()))}; a population has one")
    if ks[0] >= v_bits:
        raise ConfigError(f"node {name!r}: tau: leak shift {ks[0]} does not fit v_bits={v_bits}")
    return 1 - dt / tau, dt * r / tau, th, int(ks[0]), reset


def _population(name_w, ws, bs, gains, ths, w_bits, b_bits, v_bits, where):
    """Quantise weight matrices ``ws`` (each (in, out)) and biases sharing one LIF population."""
    wmax, bmax = (1 << (w_bits - 1)) - 1, (1 << (b_bits - 1)) - 1
    g0, t0 = gains[0], ths[0]
    same = all(np.all(g == g0[0]) for g in gains) and all(np.all(t == t0[0]) for t in ths)
    sw = [w * g0[0] for w in ws] if same else [w * (g / t)[None, :] for w, g, t in zip(ws, gains, ths)]
    sb = [b * g0[0] for b in bs] if same else [b * g / t for b, g, t in zip(bs, gains, ths)]
    theta = float(t0[0]) if same else 1.0
    exact = all(np.all(w == np.round(w)) and np.abs(w).max(initial=0) <= wmax for w in sw) and \
        all(np.all(b == np.round(b)) for b in sb)
    s = 1.0 if exact else max(max(float(np.abs(w).max(initial=0)) for w in sw), 1e-12) / wmax
    qw = [np.clip(np.round(w / s), -wmax, wmax).astype(np.int64) for w in sw]
    qb = [np.round(b / s) for b in sb]
    for b in qb:
        if np.abs(b).max(initial=0) > bmax:
            raise ConfigError(f"node {where!r}: bias: {np.abs(b).max():g} / scale does not fit b_bits={b_bits}")
    th_int = int(math.floor(theta / s)) + 1
    if th_int > (1 << (v_bits - 1)) - 1:
        raise ConfigError(f"node {where!r}: v_threshold: integer threshold {th_int} does not fit v_bits={v_bits}")
    return qw, [b.astype(np.int64) for b in qb], th_int, s


def _lif_cfg(pop, params, th_int):
    return LifConfig(threshold=th_int, leak_shift=params[3], reset=params[4], name=pop)


def _weights(name, node, d_in, nir):
    kind = type(node).__name__
    if kind not in ("Affine", "Linear"):
        raise ConfigError(f"node {name!r}: type {kind}: unsupported (spikestack imports Affine/Linear followed by "
                          "LIF/CubaLIF/IF, and its own MoE/MHA subgraphs, docs/nir.md)")
    w = _arr(name, "weight", node.weight)
    if w.ndim != 2 or w.shape[1] != d_in:
        raise ConfigError(f"node {name!r}: weight: shape {w.shape}, expected (d_out, {d_in}) for its input width {d_in}")
    b = _arr(name, "bias", node.bias, (w.shape[0],)) if kind == "Affine" else np.zeros(w.shape[0])
    return w.T, b


def _successors(edges, name):
    return [b for a, b in edges if a == name]


def from_nir(graph, t: int | None = None, n: int | None = None, w_bits: int = 8, b_bits: int = 16, v_bits: int = 16,
             name: str | None = None, default_name: str = "imported"):
    """``(NetworkConfig, per-layer integer tensors, report rows, float model)`` of a NIR graph."""
    nir = require_nir()
    gm = _meta(graph)
    dt = float(gm.get(_P + "dt", 1.0))
    t = int(t or gm.get(_P + "t", 8))
    n = int(n or gm.get(_P + "n", 1))
    inputs = [k for k, v in graph.nodes.items() if type(v).__name__ == "Input"]
    if len(inputs) != 1:
        raise ConfigError(f"graph: {len(inputs)} Input nodes, expected 1")
    cur = inputs[0]
    it = np.asarray(graph.nodes[cur].input_type["input"]).ravel()
    if it.size != 1:
        raise ConfigError(f"node {cur!r}: input_type: shape {tuple(it)}, spikestack takes a vector of features")
    width = int(it[0])
    layers, tensors, rows, floats = [], [], [], []
    while True:
        nxt = _successors(graph.edges, cur)
        if len(nxt) != 1:
            raise ConfigError(f"node {cur!r}: edges: {len(nxt)} successors, spikestack imports a chain of layers")
        cur = nxt[0]
        node = graph.nodes[cur]
        if type(node).__name__ == "Output":
            break
        lname = cur if cur.isidentifier() else f"layer{len(layers)}"
        meta = _meta(node)
        wb = (int(meta.get(_P + "w_bits", w_bits)), int(meta.get(_P + "b_bits", b_bits)), int(meta.get(_P + "v_bits", v_bits)))
        hw = HwConfig(**json.loads(meta[_P + "hw"])) if _P + "hw" in meta else HwConfig()
        if type(node).__name__ == "NIRGraph":
            cfg, ts, fl, row = _subgraph(nir, cur, node, meta, width, dt, t, n, wb, hw)
        else:
            w, b = _weights(cur, node, width, nir)
            nname = _successors(graph.edges, cur)
            if len(nname) != 1:
                raise ConfigError(f"node {cur!r}: edges: expected one neuron node after it")
            p = _neuron_params(nir, nname[0], graph.nodes[nname[0]], w.shape[1], dt, wb[2])
            (qw,), (qb,), th, s = _population(cur, [w], [b], [p[1]], [p[2]], *wb, where=nname[0])
            cfg = LayerConfig(kind="linear", t=t, n=n, d=width, d_out=w.shape[1], w_bits=wb[0], b_bits=wb[1],
                              v_bits=wb[2], lif={"out": _lif_cfg("out", p, th)}, hw=hw)
            ts, fl = {"w": qw, "b": qb}, {"kind": "linear", "w": w, "b": b, "out": p}
            row = {"layer": lname, "kind": "linear", "scale": s, "threshold": th, "leak_shift": p[3]}
            cur = nname[0]
        layers.append((lname, cfg))
        tensors.append(ts)
        floats.append(fl)
        rows.append(row)
        width = cfg.d_out if cfg.kind == "linear" else cfg.d
    net = NetworkConfig(name=name or str(gm.get(_P + "name", default_name)), t=t, n=n, layers=tuple(layers))
    return net, tensors, rows, floats


def _subgraph(nir, name, g, meta, d, dt, t, n, wb, hw):
    kind = meta.get(_P + "kind")
    nodes = g.nodes
    if kind not in ("moe", "mha"):
        raise ConfigError(f"node {name!r}: metadata.{_P}kind: {kind!r}; a subgraph must be a spikestack 'moe' or 'mha' "
                          "layer (docs/nir.md)")

    def need(x):
        if x not in nodes:
            raise ConfigError(f"node {name!r}: nodes: missing {x!r} of the spikestack {kind} convention")
        return nodes[x]
    if kind == "moe":
        E = len([k for k in nodes if k.startswith("expert") and k.endswith("_w1")])
        if E < 1:
            raise ConfigError(f"node {name!r}: nodes: no expert<e>_w1")
        wr, _ = _weights(f"{name}.router", need("router"), d, nir)
        w1, b1 = zip(*[_weights(f"{name}.expert{e}_w1", need(f"expert{e}_w1"), d, nir) for e in range(E)])
        dh = w1[0].shape[1]
        w2, b2 = zip(*[_weights(f"{name}.expert{e}_w2", need(f"expert{e}_w2"), dh, nir) for e in range(E)])
        ph = [_neuron_params(nir, f"{name}.expert{e}_hidden", need(f"expert{e}_hidden"), dh, dt, wb[2]) for e in range(E)]
        po = _neuron_params(nir, f"{name}.out", need("out"), d, dt, wb[2])
        if len({p[3:] for p in ph}) != 1:
            raise ConfigError(f"node {name!r}: expert hidden neurons: their leak and reset differ (one population)")
        qw1, qb1, th_h, s_h = _population(name, list(w1), list(b1), [p[1] for p in ph], [p[2] for p in ph], *wb,
                                          where=f"{name}.expert0_hidden")
        qw2, qb2, th_o, s_o = _population(name, list(w2), list(b2), [po[1]] * E, [po[2]] * E, *wb, where=f"{name}.out")
        wmax = (1 << (wb[0] - 1)) - 1
        sr = 1.0 if np.all(wr == np.round(wr)) and np.abs(wr).max() <= wmax else max(np.abs(wr).max(), 1e-12) / wmax
        top_k = int(meta.get(_P + "top_k", 1))
        cfg = LayerConfig(kind="moe", t=t, n=n, d=d, dh=dh, experts=E, top_k=top_k, w_bits=wb[0], b_bits=wb[1],
                          v_bits=wb[2], lif={"hidden": _lif_cfg("hidden", ph[0], th_h), "out": _lif_cfg("out", po, th_o)},
                          hw=hw)
        ts = {"wr": np.clip(np.round(wr / sr), -wmax, wmax).astype(np.int64), "w1": np.stack(qw1), "b1": np.stack(qb1),
              "w2": np.stack(qw2), "b2": np.stack(qb2)}
        fl = {"kind": "moe", "wr": wr, "w1": w1, "b1": b1, "w2": w2, "b2": b2, "hidden": ph, "out": po, "top_k": top_k}
        return cfg, ts, fl, {"layer": name, "kind": "moe", "scale": s_o, "threshold": th_o, "leak_shift": po[3]}
    ws, lifs, ts = {}, {}, {}
    for x in "qkvo":
        w, b = _weights(f"{name}.{x}", need(x), d, nir)
        pn = f"{x}_lif" if x != "o" else "out"
        p = _neuron_params(nir, f"{name}.{pn}", need(pn), d, dt, wb[2])
        (qw,), (qb,), th, s = _population(name, [w], [b], [p[1]], [p[2]], *wb, where=f"{name}.{pn}")
        ts[f"w{x}"], ts[f"b{x}"], lifs[x] = qw, qb, _lif_cfg(x, p, th)
    pa = _neuron_params(nir, f"{name}.attn", need("attn"), d, dt, wb[2])
    if not np.all(pa[1] == pa[1][0]) or not np.all(pa[2] == pa[2][0]):
        raise ConfigError(f"node {name}.attn: v_threshold: one value for the population")
    lifs["attn"] = _lif_cfg("attn", pa, int(math.floor(pa[2][0] / pa[1][0])) + 1)
    lifs = {p: lifs[p] for p in LIF_POPULATIONS["mha"]}
    cfg = LayerConfig(kind="mha", t=t, n=n, d=d, heads=int(meta.get(_P + "heads", 1)),
                      attn_shift=int(meta.get(_P + "attn_shift", 0)), w_bits=wb[0], b_bits=wb[1], v_bits=wb[2],
                      lif=lifs, hw=hw)
    return cfg, ts, {"kind": "mha"}, {"layer": name, "kind": "mha", "scale": 1.0, "threshold": lifs["o"].threshold,
                                      "leak_shift": lifs["o"].leak_shift}


# ---- NIR's float semantics (for the quantisation report) -----------------------------------------

def _float_lif(current, p):
    beta, gain, th, _, reset = p
    v = np.zeros(current.shape[1:])
    out = np.zeros(current.shape, dtype=np.uint8)
    for t in range(current.shape[0]):
        v = beta * v + gain * current[t]
        s = v > th
        out[t] = s
        v = np.where(s, 0.0 if reset == "hard" else v - th, v)
    return out


def nir_float_run(floats: list[dict], spikes: np.ndarray) -> list[np.ndarray | None]:
    """Each layer's output spikes under NIR's float semantics (module docstring); ``None`` from an
    MHA layer on (its attention has no NIR float semantics)."""
    x, outs = spikes.astype(float), []
    for fl in floats:
        if fl["kind"] == "linear":
            y = _float_lif(x @ fl["w"] + fl["b"], fl["out"])
        elif fl["kind"] == "moe":
            scores = x.sum(axis=0) @ fl["wr"]
            order = np.argsort(-scores, axis=1, kind="stable")[:, :fl["top_k"]]
            mask = np.zeros(scores.shape, bool)
            np.put_along_axis(mask, order, True, axis=1)
            cur = 0.0
            for e in range(len(fl["w1"])):
                h = _float_lif(x @ fl["w1"][e] + fl["b1"][e], fl["hidden"][e]).astype(float)
                cur = cur + (h @ fl["w2"][e] + fl["b2"][e]) * mask[None, :, e, None]
            y = _float_lif(cur, fl["out"])
        else:
            return outs + [None] * (len(floats) - len(outs))
        outs.append(y)
        x = y.astype(float)
    return outs
