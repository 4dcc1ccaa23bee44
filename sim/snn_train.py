"""Surrogate-gradient, quantisation-aware training of a chain of spiking linear and MoE layers (numpy only).

The forward pass of the quantised model *is* the integer golden model (SPEC.md): every population's
weights and bias are ``round(w / s)`` with one scale ``s = max|w| / (2**(w_bits-1) - 1)`` per LIF
population, its threshold ``round(theta / s)``, and the LIF step, saturation, router and top-k run in
int64 exactly as in :mod:`spikestack.sim.layers`. The backward pass works in float units (currents
times ``s``): spikes get the arctan surrogate derivative, the hard reset is detached, weights pass
straight through the rounding, and the router learns through ``mask + p - stop_grad(p)`` with
``p = softmax(scores)`` (the forward stays the hard top-k sum of SPEC's merge).

A layer spec is a dict: ``{"name", "kind": "linear"|"moe"|"mha", "d", "d_out" (linear) | "dh", "experts",
"top_k" (moe) | "heads", "attn_shift", "attn_threshold" (mha: LIF_attn's fixed integer threshold)}``; an MHA
layer's tokens attend to each other along the axis before the features (spikes ``(T, ..., N, D)``); parameters are named ``<layer>.<tensor>`` with SPEC's tensor names. Theta (float)
is 1 for every population; ``leak_shift`` is shared (0: integrate-and-fire, exact in float too).
"""
from __future__ import annotations

import numpy as np

from ..config import HwConfig, LayerConfig, LifConfig
from ..netconfig import NetworkConfig
from .layers import top_k_mask

__all__ = ["init_params", "forward", "backward", "quantise", "to_network", "Adam", "POPS"]

#: population -> (weight, bias) tensors whose scale sets its integer threshold
POPS = {"linear": {"out": ("w", "b")}, "moe": {"hidden": ("w1", "b1"), "out": ("w2", "b2"), "router": ("wr", None)},
        "mha": {"q": ("wq", "bq"), "k": ("wk", "bk"), "v": ("wv", "bv"), "o": ("wo", "bo")}}


def init_params(spec: list[dict], rng: np.random.Generator, rate: float = 0.25) -> dict:
    p = {}
    for L in spec:
        n, d = L["name"], L["d"]
        g = 1.5 / np.sqrt(d * rate)
        if L["kind"] == "linear":
            p[f"{n}.w"] = rng.normal(0, g, (d, L["d_out"]))
            p[f"{n}.b"] = np.zeros(L["d_out"])
        elif L["kind"] == "mha":
            for x in "qkvo":
                p[f"{n}.w{x}"] = rng.normal(0, g, (d, d))
                p[f"{n}.b{x}"] = np.zeros(d)
        else:
            E, dh = L["experts"], L["dh"]
            p[f"{n}.wr"] = rng.normal(0, 1 / np.sqrt(d), (d, E))
            p[f"{n}.w1"] = rng.normal(0, g, (E, d, dh))
            p[f"{n}.b1"] = np.zeros((E, dh))
            p[f"{n}.w2"] = rng.normal(0, 1.5 / np.sqrt(dh * rate), (E, dh, d))
            p[f"{n}.b2"] = np.zeros((E, d))
    return p


def quantise(spec: list[dict], p: dict, w_bits: int = 8, b_bits: int = 16) -> tuple[dict, dict]:
    """``(integer tensors, {"<layer>.<pop>": scale})``: one scale per population."""
    wmax, bmax = (1 << (w_bits - 1)) - 1, (1 << (b_bits - 1)) - 1
    q, scales = {}, {}
    for L in spec:
        n = L["name"]
        for pop, (w, b) in POPS[L["kind"]].items():
            s = max(float(np.abs(p[f"{n}.{w}"]).max()), 1e-9) / wmax
            scales[f"{n}.{pop}"] = s
            q[f"{n}.{w}"] = np.clip(np.round(p[f"{n}.{w}"] / s), -wmax, wmax).astype(np.int64)
            if b:
                q[f"{n}.{b}"] = np.clip(np.round(p[f"{n}.{b}"] / s), -bmax - 1, bmax).astype(np.int64)
    return q, scales


def _lif(current, theta, leak_shift, v_bits):
    """Forward LIF over ``current (T, ...)``; int64 when theta is an int (SPEC), else float.
    Returns spikes (float 0/1) and H (membrane before the spike test) per step."""
    integer = isinstance(theta, (int, np.integer))
    v = np.zeros(current.shape[1:], dtype=np.int64 if integer else float)
    S, H = np.empty(current.shape), np.empty(current.shape)
    lo, hi = -(1 << (v_bits - 1)), (1 << (v_bits - 1)) - 1
    for t in range(current.shape[0]):
        if integer:
            h = np.clip((v - (v >> leak_shift) if leak_shift else v) + current[t], lo, hi)
        else:
            h = v * (1 - 2.0 ** -leak_shift if leak_shift else 1.0) + current[t]
        s = h >= theta
        v = np.where(s, 0, h)
        S[t], H[t] = s, h
    return S, H


def _lif_back(gS, H, S, theta, leak_shift, alpha=2.0):
    """Surrogate gradient of the currents from the gradient of the spikes (hard reset detached)."""
    beta = 1 - 2.0 ** -leak_shift if leak_shift else 1.0
    gI = np.empty_like(gS)
    gv = np.zeros(gS.shape[1:])
    for t in range(gS.shape[0] - 1, -1, -1):
        x = (H[t] - theta) / theta
        sg = alpha / 2 / (1 + (np.pi / 2 * alpha * x) ** 2) / theta
        gh = gS[t] * sg + gv * (1 - S[t])
        gI[t] = gh
        gv = gh * beta
    return gI


def forward(spec, p, x, quant: bool, leak_shift: int = 0, v_bits: int = 16, w_bits: int = 8):
    """Run the chain on spikes ``x (T, N, D)``; returns (output spikes, cache for :func:`backward`).
    ``quant``: the integer model (exact SPEC arithmetic), else the float model (theta = 1)."""
    if quant:
        qi, scales = quantise(spec, p, w_bits)
    cache = []
    for L in spec:
        n, c = L["name"], {"x": x}
        if quant:
            ts = {k.split(".", 1)[1]: v for k, v in qi.items() if k.startswith(n + ".")}
            sc = {pop: scales[f"{n}.{pop}"] for pop in POPS[L["kind"]]}
            th = {pop: max(1, int(round(1.0 / s))) for pop, s in sc.items()}
            xi = x.astype(np.int64)
        else:
            ts = {k.split(".", 1)[1]: v for k, v in p.items() if k.startswith(n + ".")}
            sc = {pop: 1.0 for pop in POPS[L["kind"]]}
            th = {pop: 1.0 for pop in POPS[L["kind"]]}
            xi = x
        c["wf"] = {k: v * sc[pop] for pop, (w, b) in POPS[L["kind"]].items() for k, v in ts.items() if k in (w, b)}
        c["theta"] = {pop: th[pop] * sc[pop] for pop in th}
        if L["kind"] == "linear":
            S, H = _lif(xi @ ts["w"] + ts["b"], th["out"], leak_shift, v_bits)
            c["out"] = (S, H * sc["out"])
        elif L["kind"] == "mha":
            T, heads, sh = x.shape[0], L["heads"], L["attn_shift"]
            for p_ in "qkv":
                Sp, Hp = _lif(xi @ ts[f"w{p_}"] + ts[f"b{p_}"], th[p_], leak_shift, v_bits)
                c[p_] = (Sp, Hp * sc[p_])
            q, k, v = (c[p_][0].reshape(*c[p_][0].shape[:-1], heads, -1) for p_ in "qkv")
            if quant:
                q, k, v = (a.astype(np.int64) for a in (q, k, v))
            a = np.einsum("...nhd,...mhd->...hnm", q, k)
            o = np.einsum("...hnm,...mhd->...nhd", a, v)
            ia = (o >> sh) if quant else np.floor(o / 2 ** sh)
            ia = ia.reshape(*ia.shape[:-2], -1)
            tha = L["attn_threshold"]
            Sa, Ha = _lif(ia, tha, leak_shift, v_bits)
            Sai = Sa.astype(np.int64) if quant else Sa
            S, H = _lif(Sai @ ts["wo"] + ts["bo"], th["o"], leak_shift, v_bits)
            c.update(qkv=(q, k, v), amap=a, attn=(Sa, Ha), out=(S, H * sc["o"]))
            c["theta"]["attn"] = float(tha)
        else:
            scores = xi.sum(axis=0) @ ts["wr"]                                    # (N, E)
            mask = top_k_mask(scores, L["top_k"])
            ih = np.einsum("tnd,edh->tneh", xi, ts["w1"]) + ts["b1"]
            Sh, Hh = _lif(ih, th["hidden"], leak_shift, v_bits)
            Shi = Sh.astype(np.int64) if quant else Sh
            io = np.einsum("tneh,ehd->tned", Shi, ts["w2"]) + ts["b2"]          # (T, N, E, D)
            merged = np.einsum("tned,ne->tnd", io, mask.astype(io.dtype))
            S, H = _lif(merged, th["out"], leak_shift, v_bits)
            z = scores * sc["router"]
            z = z - z.max(axis=1, keepdims=True)
            prob = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
            c.update(mask=mask, prob=prob, hidden=(Sh, Hh * sc["hidden"]), io=io * sc["out"], out=(S, H * sc["out"]))
        cache.append(c)
        x = S.astype(np.uint8) if quant else S
    return x, cache


def backward(spec, cache, g_out, leak_shift: int = 0) -> dict:
    """Gradients of every parameter from the gradient of the last layer's spikes."""
    grads, g = {}, g_out
    for L, c in zip(reversed(spec), reversed(cache)):
        n, wf, th, x = L["name"], c["wf"], c["theta"], c["x"].astype(float)
        S, H = c["out"]
        gI = _lif_back(g, H, S, th["o" if L["kind"] == "mha" else "out"], leak_shift)
        flat = lambda a: a.reshape(-1, a.shape[-1])  # noqa: E731
        if L["kind"] == "linear":
            grads[f"{n}.w"] = flat(x).T @ flat(gI)
            grads[f"{n}.b"] = flat(gI).sum(axis=0)
            g = gI @ wf["w"].T
            continue
        if L["kind"] == "mha":
            Sa, Ha = c["attn"]
            grads[f"{n}.wo"], grads[f"{n}.bo"] = flat(Sa).T @ flat(gI), flat(gI).sum(axis=0)
            gia = _lif_back(gI @ wf["wo"].T, Ha, Sa, th["attn"], leak_shift)
            q, k, v = (a.astype(float) for a in c["qkv"])
            go = gia.reshape(q.shape) / 2 ** L["attn_shift"]
            a = c["amap"].astype(float)
            ga = np.einsum("...nhd,...mhd->...hnm", go, v)
            gqkv = {"v": np.einsum("...hnm,...nhd->...mhd", a, go), "q": np.einsum("...hnm,...mhd->...nhd", ga, k),
                    "k": np.einsum("...hnm,...nhd->...mhd", ga, q)}
            g = 0.0
            for p_ in "qkv":
                Sp, Hp = c[p_]
                gp = _lif_back(gqkv[p_].reshape(Sp.shape), Hp, Sp, th[p_], leak_shift)
                grads[f"{n}.w{p_}"], grads[f"{n}.b{p_}"] = flat(x).T @ flat(gp), flat(gp).sum(axis=0)
                g = g + gp @ wf[f"w{p_}"].T
            continue
        mask = c["mask"].astype(float)
        gio = gI[:, :, None, :] * mask[None, :, :, None]                             # (T, N, E, D)
        Sh, Hh = c["hidden"]
        grads[f"{n}.w2"] = np.einsum("tneh,tned->ehd", Sh, gio)
        grads[f"{n}.b2"] = gio.sum(axis=(0, 1))
        gSh = np.einsum("tned,ehd->tneh", gio, wf["w2"])
        gih = _lif_back(gSh, Hh, Sh, th["hidden"], leak_shift)
        grads[f"{n}.w1"] = np.einsum("tnd,tneh->edh", x, gih)
        grads[f"{n}.b1"] = gih.sum(axis=(0, 1))
        gx = np.einsum("tneh,edh->tnd", gih, wf["w1"])
        # router: d loss / d p_e = sum_{t,d} gI * I_e; softmax backward; scores = sum_t x @ wr
        gp = np.einsum("tnd,tned->ne", gI, c["io"])
        prob = c["prob"]
        gz = prob * (gp - (gp * prob).sum(axis=1, keepdims=True))
        grads[f"{n}.wr"] = x.sum(axis=0).T @ gz
        g = gx + (gz @ wf["wr"].T)[None]
    return grads


class Adam:
    def __init__(self, params: dict, lr: float = 2e-3, b1: float = 0.9, b2: float = 0.999):
        self.lr, self.b1, self.b2, self.t = lr, b1, b2, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params: dict, grads: dict):
        self.t += 1
        for k, g in grads.items():
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * g
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * g * g
            mh, vh = self.m[k] / (1 - self.b1 ** self.t), self.v[k] / (1 - self.b2 ** self.t)
            params[k] -= self.lr * mh / (np.sqrt(vh) + 1e-8)


def to_network(spec, p, name: str, t: int, n: int, hw: dict, leak_shift: int = 0, w_bits: int = 8,
               b_bits: int = 16, v_bits: int = 16, weights: str = "") -> tuple[NetworkConfig, dict]:
    """The trained chain as a :class:`NetworkConfig` and its integer tensors ``<layer>.<tensor>``."""
    q, scales = quantise(spec, p, w_bits, b_bits)
    layers = []
    for L in spec:
        nm = L["name"]
        lif = {pop: LifConfig(threshold=max(1, int(round(1.0 / scales[f"{nm}.{pop}"]))), leak_shift=leak_shift,
                              reset="hard", name=pop) for pop in POPS[L["kind"]] if pop != "router"}
        if L["kind"] == "mha":
            lif["attn"] = LifConfig(threshold=L["attn_threshold"], leak_shift=leak_shift, reset="hard", name="attn")
            lif = {p_: lif[p_] for p_ in ("q", "k", "v", "attn", "o")}
        extra = ({"d_out": L["d_out"]} if L["kind"] == "linear" else
                 {"heads": L["heads"], "attn_shift": L["attn_shift"]} if L["kind"] == "mha"
                 else {"dh": L["dh"], "experts": L["experts"], "top_k": L["top_k"]})
        layers.append((nm, LayerConfig(kind=L["kind"], t=t, n=n, d=L["d"], w_bits=w_bits, b_bits=b_bits,
                                       v_bits=v_bits, lif=lif, hw=HwConfig(**hw.get(nm, {})), **extra)))
    return NetworkConfig(name=name, t=t, n=n, layers=tuple(layers), weights=weights), q
