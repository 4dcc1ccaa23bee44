"""SSA mode (issue 23): the golden model against an independent scalar model, its statistics, the
configuration's validation (every bad SSA parameter refused naming its field) and round trip."""
import subprocess
import sys
import tomllib

import numpy as np
import pytest

from spikestack.config import (LFSR_TAPS, AttentionConfig, ConfigError, HwConfig, LayerConfig, LifConfig,
                               dump_config, lfsr_period, load_config, parse_config)
from spikestack.sim.layers import mha_intermediates, run_golden
from spikestack.sim.ssa import lfsr_seeds, ssa_attention
from spikestack.sim.tensors import random_case

POPS = ("q", "k", "v", "attn", "o")
NAMES = ("wq", "wk", "wv", "wo", "bq", "bk", "bv", "bo")


def ssa(t, n, d, heads, bits=8, taps=(), seed=1, cores=2):
    return LayerConfig(kind="mha", t=t, n=n, d=d, heads=heads, attn_shift=1,
                       lif={p: LifConfig(6, 1, "hard", p) for p in POPS}, hw=HwConfig(rows=2, cols=2, cores=cores),
                       attention=AttentionConfig(mode="ssa", lfsr_bits=bits, taps=taps, seed=seed))


def scalar_ssa(cfg, q, k, v):
    """Loops over heads, query rows and lanes, one Python-int LFSR per (head, bank, lane) stepped
    in the row order n*T + t; the comparison written as r * D < c * 2**w (not a table)."""
    att, (T, N, D), H, dh, w = cfg.attention, q.shape, cfg.heads, cfg.head_dim, cfg.attention.lfsr_bits
    mask = sum(1 << (tap - 1) for tap in att.taps)
    sa, so = lfsr_seeds(att, H, N, dh)
    out = np.zeros((T, N, D), dtype=np.uint8)
    for h in range(H):
        ra = [int(x) for x in sa[h]]
        ro = [int(x) for x in so[h]]
        for n in range(N):
            for t in range(T):
                sl = slice(h * dh, (h + 1) * dh)
                score = [int(ra[m] * dh < int(np.sum(q[t, n, sl] & k[t, m, sl])) << w) for m in range(N)]
                for i in range(dh):
                    c = sum(score[m] & int(v[t, m, h * dh + i]) for m in range(N))
                    out[t, n, h * dh + i] = int(ro[i] * N < c << w)
                ra = [(r >> 1) ^ (mask if r & 1 else 0) for r in ra]
                ro = [(r >> 1) ^ (mask if r & 1 else 0) for r in ro]
    return out


@pytest.mark.parametrize("cfg", [ssa(3, 5, 9, 3, bits=5), ssa(4, 7, 10, 2, bits=8, seed=99),
                                 ssa(2, 4, 15, 5, bits=7, taps=(7, 1), seed=3), ssa(1, 2, 4, 2, bits=3)])
def test_golden_equals_scalar_model(cfg):
    rng = np.random.default_rng(cfg.d)
    for rate in (0.2, 0.5, 0.9):
        q, k, v = ((rng.random((cfg.t, cfg.n, cfg.d)) < rate).astype(np.uint8) for _ in range(3))
        np.testing.assert_array_equal(ssa_attention(cfg, q, k, v)["attn_spikes"], scalar_ssa(cfg, q, k, v))


def test_bernoulli_rates():
    """Score spikes fire with probability c/d and output spikes with o/N (to 1/2**w), over seeds."""
    rng = np.random.default_rng(0)
    T, N, D, H = 8, 6, 12, 2
    q, k, v = ((rng.random((T, N, D)) < 0.5).astype(np.uint8) for _ in range(3))
    err_s, err_o = [], []
    for seed in range(40):
        cfg = ssa(T, N, D, H, bits=10, seed=seed)
        r = ssa_attention(cfg, q, k, v)
        err_s.append(r["attn_scores"] - r["attn_map"] / cfg.head_dim)
        err_o.append(r["attn_spikes"] - r["attn_current"] / N)
    for e in (np.mean(err_s, axis=0), np.mean(err_o, axis=0)):
        assert abs(e.mean()) < 0.01 and np.abs(e).max() < 0.35


def test_seeds_and_extremes():
    cfg = ssa(3, 5, 9, 3, bits=4)
    sa, so = lfsr_seeds(cfg.attention, 3, 5, 3)
    assert sa.shape == (3, 5) and so.shape == (3, 3) and sa.min() >= 1 and sa.max() <= 15
    ones = np.ones((3, 5, 9), dtype=np.uint8)
    zeros = np.zeros_like(ones)
    assert ssa_attention(cfg, ones, ones, ones)["attn_spikes"].all()      # c = d, o = N: always
    assert not ssa_attention(cfg, ones, zeros, ones)["attn_spikes"].any()  # c = 0: never
    other = cfg.replace(attention=AttentionConfig(mode="ssa", lfsr_bits=4, seed=2))
    q, k, v = ((np.random.default_rng(i).random((3, 5, 9)) < 0.6).astype(np.uint8) for i in range(3))
    assert not np.array_equal(ssa_attention(cfg, q, k, v)["attn_spikes"], ssa_attention(other, q, k, v)["attn_spikes"])


def test_mode_changes_only_the_attention():
    det = ssa(3, 5, 9, 3).replace(attention=AttentionConfig())
    s, w = random_case(det, seed=4, rate=0.4)
    a = mha_intermediates(det, s, *(w[x] for x in NAMES))
    b = mha_intermediates(ssa(3, 5, 9, 3), s, *(w[x] for x in NAMES))
    for x in ("q", "k", "v"):
        np.testing.assert_array_equal(a[x], b[x])
    np.testing.assert_array_equal(a["attn_map"], b["attn_map"])


def test_default_taps_are_maximal():
    for w, taps in LFSR_TAPS.items():
        assert lfsr_period(w, taps) == (1 << w) - 1


BASE = ('kind = "mha"\nt = 2\nn = 3\nd = 4\nheads = 2\n' + "".join(
    f"[lif.{p}]\nthreshold = 4\nleak_shift = 1\nreset = \"hard\"\n" for p in POPS))


@pytest.mark.parametrize("table,field", [
    ('mode = "softmax"', "attention.mode"),
    ('mode = "ssa"\nlfsr_bits = 2', "attention.lfsr_bits"),
    ('mode = "ssa"\nlfsr_bits = 17', "attention.lfsr_bits"),
    ('mode = "ssa"\nlfsr_bits = "8"', "attention.lfsr_bits"),
    ('mode = "ssa"\nlfsr_bits = 8\ntaps = [8, 7]', "attention.taps"),        # not maximal
    ('mode = "ssa"\nlfsr_bits = 8\ntaps = [7, 6]', "attention.taps"),        # no x^8 term
    ('mode = "ssa"\nlfsr_bits = 8\ntaps = [9, 8]', "attention.taps"),        # tap past the width
    ('mode = "ssa"\nlfsr_bits = 8\ntaps = [8, 6, 6, 5, 4]', "attention.taps"),
    ('mode = "ssa"\ntaps = 184', "attention.taps"),
    ('mode = "ssa"\nseed = -1', "attention.seed"),
    ('mode = "ssa"\nseed = 4294967296', "attention.seed"),
    ('mode = "ssa"\nwidth = 8', "attention.width"),
])
def test_bad_ssa_parameters(table, field):
    with pytest.raises(ConfigError) as e:
        parse_config(tomllib.loads(BASE + "[attention]\n" + table + "\n"))
    assert str(e.value).startswith(field + ":"), str(e.value)


def test_ssa_needs_mha_and_enough_levels():
    with pytest.raises(ConfigError, match=r"^attention\.lfsr_bits: .*n=9"):
        ssa(2, 9, 4, 2, bits=3)
    with pytest.raises(ConfigError, match=r"^attention\.mode: 'ssa' needs kind 'mha'"):
        LayerConfig(kind="linear", t=1, n=1, d=2, d_out=2, lif={"out": LifConfig(name="out")},
                    attention=AttentionConfig(mode="ssa"))


def test_cli_refuses_bad_ssa_parameter(tmp_path):
    (tmp_path / "c.toml").write_text(BASE + '[attention]\nmode = "ssa"\nlfsr_bits = 8\ntaps = [8, 7]\n')
    r = subprocess.run([sys.executable, "-m", "spikestack.cli", "gen", tmp_path / "c.toml", "-o", tmp_path / "out"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "attention.taps:" in r.stderr and not (tmp_path / "out").exists()


def test_round_trip_and_deterministic_dump_unchanged(root):
    cfg = load_config(root / "configs" / "mha_ssa_small.toml")
    assert cfg.attention.mode == "ssa" and parse_config(tomllib.loads(dump_config(cfg))) == cfg
    det = load_config(root / "configs" / "mha_default.toml")
    assert "[attention]" not in dump_config(det) and det.attention == AttentionConfig()
    s, w = random_case(cfg, seed=1, rate=0.4)
    assert run_golden(cfg, s, w).shape == (cfg.t, cfg.n, cfg.d)
