"""Golden-model properties and an independent loop-by-loop model of SPEC.md."""
import numpy as np

from hypothesis import given, settings, strategies as st

from spikestack.config import LayerConfig, LifConfig
from spikestack.sim.layers import mha_layer, moe_layer, router_scores, top_k_mask
from spikestack.sim.lif import lif_population, lif_step
from spikestack.sim.tensors import random_case


# ---- an independent scalar model, written straight from SPEC.md with Python ints -------------
def ref_lif(currents, th, k, reset, v_bits):
    """currents: list over t of lists over neurons."""
    lo, hi = -(1 << (v_bits - 1)), (1 << (v_bits - 1)) - 1
    n = len(currents[0])
    V = [0] * n
    out = []
    for It in currents:
        row = []
        for i in range(n):
            L = V[i] - (V[i] >> k) if k else V[i]
            H = min(hi, max(lo, L + int(It[i])))
            s = 1 if H >= th else 0
            V[i] = (0 if reset == "hard" else H - th) if s else H
            row.append(s)
        out.append(row)
    return np.array(out, dtype=np.uint8)


def ref_pop(cur, lif, v_bits):
    """cur: (T, ...) -> spikes (T, ...), via the scalar model."""
    T = cur.shape[0]
    flat = cur.reshape(T, -1).tolist()
    return ref_lif(flat, lif.threshold, lif.leak_shift, lif.reset, v_bits).reshape(cur.shape)


def ref_matvec(s, w):
    """Sum of the weights where the spike is 1, with Python loops."""
    out = [0] * w.shape[1]
    for j, sj in enumerate(s):
        if sj:
            for o in range(w.shape[1]):
                out[o] += int(w[j, o])
    return out


def ref_moe(cfg, S, wr, w1, b1, w2, b2):
    T, N, D = S.shape
    E, k = cfg.experts, cfg.top_k
    cur = np.zeros((T, N, D), dtype=np.int64)
    for n in range(N):
        r = [sum(int(S[t, n, j]) * int(wr[j, e]) for t in range(T) for j in range(D)) for e in range(E)]
        chosen = sorted(range(E), key=lambda e: (-r[e], e))[:k]
        for e in chosen:
            hc = np.array([[a + int(b) for a, b in zip(ref_matvec(S[t, n], w1[e]), b1[e])] for t in range(T)])
            h = ref_pop(hc, cfg.lif["hidden"], cfg.v_bits)
            for t in range(T):
                cur[t, n] += np.array(ref_matvec(h[t], w2[e])) + b2[e]
    return ref_pop(cur, cfg.lif["out"], cfg.v_bits)


def ref_mha(cfg, S, wq, wk, wv, wo, bq, bk, bv, bo):
    T, N, D = S.shape
    H, d = cfg.heads, cfg.d // cfg.heads

    def proj(w, b, lif):
        c = np.array([[np.array(ref_matvec(S[t, n], w)) + b for n in range(N)] for t in range(T)])
        return ref_pop(c, cfg.lif[lif], cfg.v_bits)
    Q, K, V = proj(wq, bq, "q"), proj(wk, bk, "k"), proj(wv, bv, "v")
    ia = np.zeros((T, N, D), dtype=np.int64)
    for t in range(T):
        for h in range(H):
            sl = slice(h * d, (h + 1) * d)
            for n in range(N):
                A = [sum(int(Q[t, n, sl][x]) & int(K[t, m, sl][x]) for x in range(d)) for m in range(N)]
                for x in range(d):
                    ia[t, n, h * d + x] = sum(A[m] for m in range(N) if V[t, m, h * d + x]) >> cfg.attn_shift
    sa = ref_pop(ia, cfg.lif["attn"], cfg.v_bits)
    c = np.array([[np.array(ref_matvec(sa[t, n], wo)) + bo for n in range(N)] for t in range(T)])
    return ref_pop(c, cfg.lif["o"], cfg.v_bits)


lifs = st.builds(lambda th, k, r: (th, k, r), st.integers(1, 200), st.integers(0, 4), st.sampled_from(["hard", "soft"]))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), t=st.integers(1, 3), n=st.integers(1, 4), d=st.integers(1, 6),
       e=st.integers(1, 5), data=st.data(), h=lifs, o=lifs, v_bits=st.integers(8, 16))
def test_moe_matches_independent_model(seed, t, n, d, e, data, h, o, v_bits):
    k = data.draw(st.integers(1, e))
    dh = data.draw(st.integers(1, 7))
    cfg = LayerConfig(kind="moe", t=t, n=n, d=d, dh=dh, experts=e, top_k=k, v_bits=v_bits,
                      lif={"hidden": LifConfig(min(h[0], 127), h[1], h[2], "hidden"),
                           "out": LifConfig(min(o[0], 127), o[1], o[2], "out")})
    S, W = random_case(cfg, seed=seed, rate=0.4)
    if seed % 3 == 0:        # force router ties
        W["wr"][:] = W["wr"][:, :1]
    got = moe_layer(cfg, S, W["wr"], W["w1"], W["b1"], W["w2"], W["b2"])
    np.testing.assert_array_equal(got, ref_moe(cfg, S, W["wr"], W["w1"], W["b1"], W["w2"], W["b2"]))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), t=st.integers(1, 3), n=st.integers(1, 5), data=st.data(),
       pops=st.lists(lifs, min_size=5, max_size=5), shift=st.integers(0, 3))
def test_mha_matches_independent_model(seed, t, n, data, pops, shift):
    heads = data.draw(st.integers(1, 3))
    d = heads * data.draw(st.integers(1, 3))
    names = ["q", "k", "v", "attn", "o"]
    cfg = LayerConfig(kind="mha", t=t, n=n, d=d, heads=heads, attn_shift=shift,
                      lif={nm: LifConfig(p[0], p[1], p[2], nm) for nm, p in zip(names, pops)})
    S, W = random_case(cfg, seed=seed, rate=0.5)
    args = [W[x] for x in ("wq", "wk", "wv", "wo", "bq", "bk", "bv", "bo")]
    np.testing.assert_array_equal(mha_layer(cfg, S, *args), ref_mha(cfg, S, *args))


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10**6), lif=lifs, v_bits=st.integers(4, 16))
def test_lif_matches_scalar_model(seed, lif, v_bits):
    rng = np.random.default_rng(seed)
    th = min(lif[0], (1 << (v_bits - 1)) - 1)
    cfg = LifConfig(th, min(lif[1], v_bits - 1), lif[2])
    cur = rng.integers(-(1 << v_bits), 1 << v_bits, size=(6, 9))
    np.testing.assert_array_equal(lif_population(cur, cfg, v_bits), ref_pop(cur, cfg, v_bits))


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_no_leak_hard_reset_huge_threshold_is_running_sum(seed):
    rng = np.random.default_rng(seed)
    cur = rng.integers(-50, 50, size=(10, 7))
    cfg = LifConfig(threshold=(1 << 15) - 1, leak_shift=0, reset="hard")
    v = np.zeros(7, dtype=np.int64)
    for t in range(10):
        s, v = lif_step(v, cur[t], cfg, 16)
        assert not s.any()
        np.testing.assert_array_equal(v, cur[: t + 1].sum(axis=0))


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10**6), th=st.integers(1, 100))
def test_soft_reset_conserves_charge(seed, th):
    rng = np.random.default_rng(seed)
    cur = rng.integers(-30, 80, size=(12, 5))
    cfg = LifConfig(threshold=th, leak_shift=0, reset="soft")
    v = np.zeros(5, dtype=np.int64)
    fired = np.zeros(5, dtype=np.int64)
    for t in range(12):
        s, v = lif_step(v, cur[t], cfg, 24)     # wide membrane: no saturation
        fired += s
    np.testing.assert_array_equal(cur.sum(axis=0), v + th * fired)


def test_saturation_clips_both_ways():
    cfg = LifConfig(threshold=100, leak_shift=0, reset="hard")
    s, v = lif_step(np.array([0, 0]), np.array([10**6, -10**6]), cfg, 8)
    assert s.tolist() == [1, 0] and v.tolist() == [0, -128]          # H = 127, -128; hard reset
    s, v = lif_step(np.array([0, 0]), np.array([10**6, -10**6]), LifConfig(100, 0, "soft"), 8)
    assert s.tolist() == [1, 0] and v.tolist() == [27, -128]         # soft: 127 - 100


def test_top_k_lower_index_wins_ties():
    scores = np.array([[5, 7, 7, 1], [3, 3, 3, 3], [0, 9, 0, 9]])
    assert top_k_mask(scores, 2).tolist() == [[0, 1, 1, 0], [1, 1, 0, 0], [0, 1, 0, 1]]
    assert top_k_mask(scores, 1).tolist() == [[0, 1, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0]]


def test_router_scores_sum_over_time():
    S = np.zeros((2, 1, 3), dtype=np.uint8)
    S[0, 0, 1] = S[1, 0, 1] = S[1, 0, 2] = 1
    wr = np.array([[1, 2], [3, 4], [5, 6]])
    assert router_scores(S, wr).tolist() == [[3 + 3 + 5, 4 + 4 + 6]]
