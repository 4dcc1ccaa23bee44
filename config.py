"""Layer configurations: one frozen dataclass per block, validated once, built from TOML here only.

A configuration file (see ``configs/*.toml``) holds the layer ``kind`` (``linear``, ``moe`` or
``mha``), the sizes, the number widths, one ``[lif.<population>]`` table per LIF population and a
``[hw]`` table of hardware parameters that change only the cycles, never the result.

Every problem is raised as :class:`ConfigError` whose message names the offending field, before
anything is written.
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ConfigError", "LifConfig", "HwConfig", "LayerConfig", "load_config", "parse_config",
    "AttentionConfig", "ATTENTION_MODES", "LFSR_TAPS", "lfsr_mask", "lfsr_period",
    "signed_bits", "LIF_POPULATIONS", "dump_config", "ElasticConfig", "PRECISIONS", "ROUNDINGS",
    "parse_elastic", "check_elastic", "run_precision",
]


class ConfigError(ValueError):
    """An impossible configuration or tensor; the message names the field."""


#: The LIF populations each layer kind needs (SPEC.md).
LIF_POPULATIONS = {
    "linear": ("out",),
    "moe": ("hidden", "out"),
    "mha": ("q", "k", "v", "attn", "o"),
}

_MAX_WIDTH = 32  # widths above this would overflow the 64-bit golden model and make no sense in hardware


def signed_bits(lo: int, hi: int) -> int:
    """Smallest two's-complement width holding every integer in ``[lo, hi]``."""
    n = 1
    while not (-(1 << (n - 1)) <= lo and hi <= (1 << (n - 1)) - 1):
        n += 1
    return n


def _int(where: str, value, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if lo is not None and value < lo:
        raise ConfigError(f"{where}: must be >= {lo}, got {value}")
    if hi is not None and value > hi:
        raise ConfigError(f"{where}: must be <= {hi}, got {value}")
    return value


@dataclass(frozen=True)
class LifConfig:
    """One LIF population: threshold θ > 0, leak shift k (0 = no leak), reset mode."""
    threshold: int = 64
    leak_shift: int = 3
    reset: str = "hard"
    name: str = "lif"

    def __post_init__(self):
        _int(f"lif.{self.name}.threshold", self.threshold, lo=1)
        _int(f"lif.{self.name}.leak_shift", self.leak_shift, lo=0, hi=_MAX_WIDTH - 1)
        if self.reset not in ("hard", "soft"):
            raise ConfigError(f"lif.{self.name}.reset: must be 'hard' or 'soft', got {self.reset!r}")

    def check_width(self, v_bits: int):
        vmax = (1 << (v_bits - 1)) - 1
        if self.threshold > vmax:
            raise ConfigError(f"lif.{self.name}.threshold: {self.threshold} does not fit v_bits={v_bits} "
                              f"(max {vmax})")
        if self.leak_shift >= v_bits:
            raise ConfigError(f"lif.{self.name}.leak_shift: must be < v_bits={v_bits}")


FIRE_PLACES = ("drain", "pe")
ATTN_SPLITS = ("off", "wire", "registered")


@dataclass(frozen=True)
class HwConfig:
    """Hardware parameters: they change the cycles, never the result.

    rows, cols     PE array of each core (rows*cols output lanes, one LIF PE each)
    cores          physical expert / attention cores (experts or heads are time-multiplexed on them)
    glb_share      expert cores sharing one expert-weight GLB (the paper's pairs: 2)
    event_driven   skip zero spikes: integration costs one cycle per spike, not per input
    result_lanes   output currents drained from a core per cycle (see :attr:`drain_lanes`)
    fire           where a job core runs the LIF step: ``"drain"`` (default, ``drain_lanes`` shared neurons
                   fire each row as it leaves the PEs) or ``"pe"`` (every PE fuses its own LIF). Same bits.
    weight_slices  (MoE) each expert weight stored as this many bit slices, one GLB bank each
                   (1 = one word per weight); see :class:`ElasticConfig`
    dispatch_window (MoE) tokens the dispatcher holds (1: in order; more: a later token may pass a waiting one)
    router_events  (MoE) spike events the router takes a cycle (a router-weight read port each)
    attn_pipeline  (MHA) Q -> attention -> output projection as streams, no Q/attention GLB (docs/ntier.md)
    attn_split     (MHA) ``"wire"``, ``"registered"``: each attention core as two blocks, Q·Kᵀ and A·V (for two
                   tiers), the score row registered again on arrival or not (docs/ntier.md); ``"off"``
    """
    rows: int = 8
    cols: int = 8
    cores: int = 4
    glb_share: int = 2
    event_driven: bool = True
    result_lanes: int = 8
    weight_slices: int = 1
    fire: str = "drain"
    dispatch_window: int = 1
    router_events: int = 2
    attn_pipeline: bool = False
    attn_split: str = "off"

    def __post_init__(self):
        _int("hw.rows", self.rows, lo=1, hi=64)
        _int("hw.cols", self.cols, lo=1, hi=64)
        _int("hw.cores", self.cores, lo=1, hi=64)
        _int("hw.glb_share", self.glb_share, lo=1, hi=64)
        for k in ("event_driven", "attn_pipeline"):
            if not isinstance(getattr(self, k), bool):
                raise ConfigError(f"hw.{k}: expected true or false, got {getattr(self, k)!r}")
        _int("hw.result_lanes", self.result_lanes, lo=1, hi=4096)
        _int("hw.weight_slices", self.weight_slices, lo=1, hi=16)
        _int("hw.dispatch_window", self.dispatch_window, lo=1, hi=16)
        _int("hw.router_events", self.router_events, lo=1, hi=8)
        for k, allowed in (("fire", FIRE_PLACES), ("attn_split", ATTN_SPLITS)):
            if getattr(self, k) not in allowed:
                raise ConfigError(f"hw.{k}: expected one of {', '.join(allowed)}, got {getattr(self, k)!r}")

    @property
    def lanes(self) -> int:
        return self.rows * self.cols

    @property
    def drain_lanes(self) -> int:
        """Lanes per drained result word: the largest divisor of ``rows * cols`` not above
        ``result_lanes`` (so every output tile is a whole number of words)."""
        return max(r for r in range(1, min(self.result_lanes, self.lanes) + 1) if self.lanes % r == 0)

    @property
    def drain_groups(self) -> int:
        """Drained words per output tile: ``rows * cols / drain_lanes``."""
        return self.lanes // self.drain_lanes


# ---- [attention]: the attention-core mode (issue 23: Xpikeformer's stochastic spiking attention) ----
# Kept in one block; LayerConfig holds an ``attention`` field and calls ``AttentionConfig.check_layer``.

ATTENTION_MODES = ("deterministic", "ssa")

#: Maximal-length LFSR polynomials x^w + ... + 1 by width, as tap positions (Xilinx XAPP052's
#: table); the LFSRs are Galois, shifting right, XOR mask = sum(1 << (tap - 1)).
LFSR_TAPS = {
    3: (3, 2), 4: (4, 3), 5: (5, 3), 6: (6, 5), 7: (7, 6), 8: (8, 6, 5, 4), 9: (9, 5), 10: (10, 7),
    11: (11, 9), 12: (12, 6, 4, 1), 13: (13, 4, 3, 1), 14: (14, 5, 3, 1), 15: (15, 14), 16: (16, 15, 13, 4),
}


def lfsr_mask(taps) -> int:
    """Galois XOR mask of a polynomial given as tap positions (``(8, 6, 5, 4)`` -> ``0xB8``)."""
    return sum(1 << (t - 1) for t in taps)


def lfsr_period(bits: int, taps) -> int:
    """Period of the Galois LFSR from state 1 (``2**bits - 1`` when the polynomial is maximal)."""
    mask, s, n = lfsr_mask(taps), 1, 0
    while True:
        s = (s >> 1) ^ (mask if s & 1 else 0)
        n += 1
        if s == 1 or n > (1 << bits):
            return n


@dataclass(frozen=True)
class AttentionConfig:
    """The attention core: ``deterministic`` (AND + popcount, ``>> attn_shift``, LIF_attn; the
    default) or ``ssa`` (Xpikeformer's stochastic spiking attention: Bernoulli spikes from
    counters compared with LFSR numbers; docs/ssa.md).

    lfsr_bits  width w of every LFSR (3..16); the random numbers are 1 .. 2**w - 1
    taps       the feedback polynomial as tap positions, must be maximal-length (default: LFSR_TAPS[w])
    seed       base seed (0 .. 2**32 - 1); each LFSR's own nonzero seed is derived from it, per
               head, bank and lane (``spikestack.sim.ssa.lfsr_seeds``), so a run is reproducible
    """
    mode: str = "deterministic"
    lfsr_bits: int = 8
    taps: tuple = ()
    seed: int = 1

    def __post_init__(self):
        if self.mode not in ATTENTION_MODES:
            raise ConfigError(f"attention.mode: must be one of {', '.join(ATTENTION_MODES)}, got {self.mode!r}")
        _int("attention.lfsr_bits", self.lfsr_bits, lo=3, hi=16)
        _int("attention.seed", self.seed, lo=0, hi=(1 << 32) - 1)
        taps = self.taps if self.taps not in ((), []) else LFSR_TAPS[self.lfsr_bits]
        if not isinstance(taps, (list, tuple)) or not taps:
            raise ConfigError(f"attention.taps: expected a list of tap positions, got {taps!r}")
        for t in taps:
            _int("attention.taps", t, lo=1, hi=self.lfsr_bits)
        taps = tuple(sorted(set(taps), reverse=True))
        if len(taps) != len(self.taps if self.taps not in ((), []) else taps):
            raise ConfigError(f"attention.taps: repeated tap in {list(self.taps)}")
        if taps[0] != self.lfsr_bits:
            raise ConfigError(f"attention.taps: must include {self.lfsr_bits} (= lfsr_bits, the x^w term), "
                              f"got {list(taps)}")
        period = lfsr_period(self.lfsr_bits, taps)
        if period != (1 << self.lfsr_bits) - 1:
            raise ConfigError(f"attention.taps: {list(taps)} is not a maximal-length polynomial for "
                              f"lfsr_bits={self.lfsr_bits} (period {period}, need {(1 << self.lfsr_bits) - 1})")
        object.__setattr__(self, "taps", taps)

    @property
    def mask(self) -> int:
        return lfsr_mask(self.taps)

    def check_layer(self, kind: str, head_dim: int, n: int):
        """Checks that need the layer: SSA is an MHA mode; 2**w levels must resolve the counts."""
        if self.mode == "deterministic":
            return
        if kind != "mha":
            raise ConfigError(f"attention.mode: {self.mode!r} needs kind 'mha', got {kind!r}")
        need = max(head_dim, n)
        if (1 << self.lfsr_bits) <= need:
            raise ConfigError(f"attention.lfsr_bits: 2**{self.lfsr_bits} random levels cannot resolve counts up to "
                              f"{need} (head width d/heads={head_dim}, tokens n={n}); need lfsr_bits >= "
                              f"{need.bit_length()}")


_ATTENTION_KEYS = {f.name for f in dataclasses.fields(AttentionConfig)}


def _parse_attention(table) -> AttentionConfig:
    if not isinstance(table, dict):
        raise ConfigError("attention: expected a table [attention]")
    for key in table:
        if key not in _ATTENTION_KEYS:
            raise ConfigError(f"attention.{key}: unknown key (expected {', '.join(sorted(_ATTENTION_KEYS))})")
    table = dict(table)
    if "taps" in table:
        if not isinstance(table["taps"], list):
            raise ConfigError(f"attention.taps: expected a list of tap positions, got {table['taps']!r}")
        table["taps"] = tuple(table["taps"])
    return AttentionConfig(**table)


def _dump_attention(att: AttentionConfig) -> list[str]:
    if att == AttentionConfig():
        return []
    return ["\n[attention]", f'mode = "{att.mode}"', f"lfsr_bits = {att.lfsr_bits}",
            f"taps = {list(att.taps)}", f"seed = {att.seed}"]

# ---- end of [attention] ----

@dataclass(frozen=True)
class LayerConfig:
    """A whole layer: kind, sizes, widths, LIF populations and hardware parameters (SPEC.md)."""
    kind: str
    t: int
    n: int
    d: int
    d_out: int = 0          # linear only (0 = same as d)
    dh: int = 0             # moe only
    experts: int = 0        # moe only
    top_k: int = 0          # moe only
    heads: int = 0          # mha only
    attn_shift: int = 0     # mha only
    w_bits: int = 8
    b_bits: int = 16
    v_bits: int = 16
    lif: dict = field(default_factory=dict)
    hw: HwConfig = field(default_factory=HwConfig)
    attention: AttentionConfig = field(default_factory=AttentionConfig)
    elastic: "ElasticConfig | None" = None    # moe only: the draft mode (issue 24)

    def __post_init__(self):
        if self.kind not in LIF_POPULATIONS:
            raise ConfigError(f"kind: must be one of {', '.join(LIF_POPULATIONS)}, got {self.kind!r}")
        for name in ("t", "n", "d"):
            _int(name, getattr(self, name), lo=1, hi=4096)
        _int("w_bits", self.w_bits, lo=2, hi=16)
        _int("b_bits", self.b_bits, lo=2, hi=_MAX_WIDTH)
        _int("v_bits", self.v_bits, lo=2, hi=_MAX_WIDTH)
        if self.kind == "linear":
            _int("d_out", self.d_out, lo=1, hi=4096)
        if self.kind == "moe":
            _int("experts", self.experts, lo=1, hi=64)
            _int("dh", self.dh, lo=1, hi=4096)
            _int("top_k", self.top_k, lo=1)
            if self.top_k > self.experts:
                raise ConfigError(f"top_k: {self.top_k} > experts={self.experts}")
        if self.kind == "mha":
            _int("heads", self.heads, lo=1, hi=64)
            if self.d % self.heads:
                raise ConfigError(f"heads: {self.heads} does not divide d={self.d}")
            _int("attn_shift", self.attn_shift, lo=0, hi=_MAX_WIDTH - 1)
            if self.hw.attn_pipeline and self.hw.cores < self.heads:
                raise ConfigError(f"hw.attn_pipeline: needs hw.cores >= heads, got {self.hw.cores} < {self.heads}")
        else:
            for k, off in (("attn_pipeline", False), ("attn_split", "off")):
                if getattr(self.hw, k) != off:
                    raise ConfigError(f"hw.{k}: only for kind 'mha', not {self.kind!r}")
        need = LIF_POPULATIONS[self.kind]
        for name in need:
            if name not in self.lif:
                raise ConfigError(f"lif.{name}: missing table [lif.{name}] for kind {self.kind!r}")
            self.lif[name].check_width(self.v_bits)
        for name in self.lif:
            if name not in need:
                raise ConfigError(f"lif.{name}: not a population of kind {self.kind!r} "
                                  f"(expected {', '.join(need)})")
        if not isinstance(self.attention, AttentionConfig):
            raise ConfigError("attention: expected a table [attention]")
        self.attention.check_layer(self.kind, self.d // self.heads if self.kind == "mha" else 0, self.n)
        check_elastic(self)

    # -- derived sizes -------------------------------------------------------------------------
    @property
    def d_in_out(self) -> tuple[int, int]:
        return (self.d, self.d_out)

    @property
    def head_dim(self) -> int:
        return self.d // self.heads

    def synaptic_bits(self, fan_in: int, bias: bool = True) -> int:
        """Width of an exact synaptic sum over ``fan_in`` binary inputs (plus the bias)."""
        w_lo, w_hi = -(1 << (self.w_bits - 1)), (1 << (self.w_bits - 1)) - 1
        b_lo, b_hi = (-(1 << (self.b_bits - 1)), (1 << (self.b_bits - 1)) - 1) if bias else (0, 0)
        return signed_bits(fan_in * w_lo + b_lo, fan_in * w_hi + b_hi)

    def replace(self, **changes) -> "LayerConfig":
        return dataclasses.replace(self, **changes)


_TOP_KEYS = {f.name for f in dataclasses.fields(LayerConfig)}
_HW_KEYS = {f.name for f in dataclasses.fields(HwConfig)}
_LIF_KEYS = {"threshold", "leak_shift", "reset"}


def parse_config(data: dict) -> LayerConfig:
    """Build a validated :class:`LayerConfig` from the dictionary of a TOML file."""
    if not isinstance(data, dict):
        raise ConfigError("config: expected a table")
    data = dict(data)
    for key in data:
        if key not in _TOP_KEYS:
            raise ConfigError(f"{key}: unknown key")
    if "kind" not in data:
        raise ConfigError("kind: missing (linear, moe or mha)")
    for key in ("t", "n", "d"):
        if key not in data:
            raise ConfigError(f"{key}: missing")
    kind = data["kind"]
    if kind == "linear":
        data.setdefault("d_out", data["d"])
    required = {"moe": ("dh", "experts", "top_k"), "mha": ("heads",)}.get(kind, ())
    for key in required:
        if key not in data:
            raise ConfigError(f"{key}: missing for kind {kind!r}")
    lif_tables = data.pop("lif", {})
    if not isinstance(lif_tables, dict):
        raise ConfigError("lif: expected tables [lif.<population>]")
    lifs = {}
    for name, table in lif_tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f"lif.{name}: expected a table")
        for key in table:
            if key not in _LIF_KEYS:
                raise ConfigError(f"lif.{name}.{key}: unknown key")
        lifs[name] = LifConfig(name=name, **table)
    hw_table = data.pop("hw", {})
    if not isinstance(hw_table, dict):
        raise ConfigError("hw: expected a table")
    for key in hw_table:
        if key not in _HW_KEYS:
            raise ConfigError(f"hw.{key}: unknown key")
    attention = _parse_attention(data.pop("attention", {}))
    elastic = parse_elastic(data.pop("elastic", None))
    return LayerConfig(lif=lifs, hw=HwConfig(**hw_table), attention=attention, elastic=elastic, **data)


def load_config(path: str | Path) -> LayerConfig:
    """Read and validate a configuration TOML file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"config: cannot read {path}: {e.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config: malformed TOML in {path}: {e}") from None
    return parse_config(data)


def dump_config(cfg: LayerConfig) -> str:
    """TOML text of a configuration (the inverse of :func:`parse_config`)."""
    lines = []
    d = dataclasses.asdict(cfg)
    lif = d.pop("lif")
    hw = d.pop("hw")
    d.pop("attention")
    elastic = d.pop("elastic")
    for k, default in (("weight_slices", 1), ("fire", "drain"), ("dispatch_window", 1), ("router_events", 2),
                       ("attn_pipeline", False), ("attn_split", "off")):
        if hw[k] == default:
            del hw[k]                     # the default: the text of every earlier configuration
    only = {"d_out": "linear", "dh": "moe", "experts": "moe", "top_k": "moe", "heads": "mha", "attn_shift": "mha"}
    for k, v in d.items():
        if only.get(k, cfg.kind) != cfg.kind:
            continue
        lines.append(f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"')
    for name, t in lif.items():
        lines.append(f"\n[lif.{name}]")
        lines.append(f"threshold = {t['threshold']}\nleak_shift = {t['leak_shift']}\nreset = \"{t['reset']}\"")
    lines.append("\n[hw]")
    for k, v in hw.items():
        lines.append(f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v) if isinstance(v, str) else v}")
    lines += _dump_attention(cfg.attention)
    if elastic is not None:
        lines.append("\n[elastic]")
        lines += [f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"' for k, v in elastic.items()]
    return "\n".join(lines) + "\n"


# --- elastic experts (issue 24, after ELMoE-3D): bit-sliced expert weights and the draft mode ---------

PRECISIONS = ("full", "draft")
ROUNDINGS = ("truncate", "midpoint")


@dataclass(frozen=True)
class ElasticConfig:
    """The draft mode of a MoE layer (``[elastic]`` table; the hardware then has a ``draft`` input).

    k_draft        experts per token in a draft run (1..top_k): the expert axis
    draft_slices   top (most significant) weight slices a draft run reads (1..hw.weight_slices): the bit axis
    rounding       the value of the bits a draft run does not read: ``truncate`` (zeros: the kept
                   slices' floor) or ``midpoint`` (1 then zeros: the middle of the dropped interval)
    precision      the mode of a run when none is asked for (``full`` or ``draft``)
    """
    k_draft: int = 1
    draft_slices: int = 1
    rounding: str = "truncate"
    precision: str = "full"

    def __post_init__(self):
        _int("elastic.k_draft", self.k_draft, lo=1)
        _int("elastic.draft_slices", self.draft_slices, lo=1)
        for k, allowed in (("rounding", ROUNDINGS), ("precision", PRECISIONS)):
            if getattr(self, k) not in allowed:
                raise ConfigError(f"elastic.{k}: must be one of {', '.join(allowed)}, got {getattr(self, k)!r}")


def parse_elastic(table) -> ElasticConfig | None:
    """The ``[elastic]`` table (``None``: absent)."""
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError("elastic: expected a table [elastic]")
    keys = {f.name for f in dataclasses.fields(ElasticConfig)}
    for key in table:
        if key not in keys:
            raise ConfigError(f"elastic.{key}: unknown key")
    return ElasticConfig(**table)


def check_elastic(cfg: LayerConfig) -> None:
    """The bit slices and the draft mode against the rest of the layer (every field named)."""
    S = cfg.hw.weight_slices
    if S > 1 and cfg.kind != "moe":
        raise ConfigError(f"hw.weight_slices: bit-sliced weights are for kind 'moe' only, got {cfg.kind!r}")
    if cfg.w_bits % S:
        raise ConfigError(f"hw.weight_slices: {S} does not divide w_bits={cfg.w_bits}")
    e = cfg.elastic
    if e is None:
        return
    if not isinstance(e, ElasticConfig):
        raise ConfigError(f"elastic: expected an ElasticConfig, got {e!r}")
    if cfg.kind != "moe":
        raise ConfigError(f"elastic: the draft mode is for kind 'moe' only, got {cfg.kind!r}")
    if e.k_draft > cfg.top_k:
        raise ConfigError(f"elastic.k_draft: {e.k_draft} > top_k={cfg.top_k}")
    if e.draft_slices > S:
        raise ConfigError(f"elastic.draft_slices: {e.draft_slices} > hw.weight_slices={S}")


def run_precision(cfg: LayerConfig, precision: str | None = None) -> str:
    """The mode of one run: ``precision`` if given, else the configuration's; ``draft`` needs ``[elastic]``."""
    if precision is None:
        return cfg.elastic.precision if cfg.elastic is not None else "full"
    if precision not in PRECISIONS:
        raise ConfigError(f"precision: must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "draft" and cfg.elastic is None:
        raise ConfigError(f"precision: draft needs an [elastic] table (kind {cfg.kind!r} has none)")
    return precision
