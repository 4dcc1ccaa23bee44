"""Network configurations: a chain of layers, each layer's output spikes the next one's input.

A network file (TOML, see ``docs/networks.md``) holds the timesteps ``t`` and tokens ``n`` shared by
every layer, an optional ``weights`` file (``.npz``, path relative to the TOML; tensors named
``<layer>.<tensor>``) and one ``[[layer]]`` table per layer: a ``name`` and the keys of a layer
configuration (``kind``, sizes, widths, ``[layer.lif.<population>]``, ``[layer.hw]``) without ``t``
and ``n``. The chain is checked once: each layer's input width ``d`` is the previous layer's output
width (``d_out`` of a linear layer, ``d`` of a MoE or MHA layer).

Every problem raises :class:`~spikestack.config.ConfigError` naming the field (``layer[1].d``, ...).
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .config import ConfigError, LayerConfig, dump_config, parse_config

__all__ = ["NetworkConfig", "parse_network", "load_network", "dump_network", "is_network", "out_width",
           "split_tensors", "join_tensors"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def out_width(cfg: LayerConfig) -> int:
    """Width of a layer's output spikes."""
    return cfg.d_out if cfg.kind == "linear" else cfg.d


@dataclass(frozen=True)
class NetworkConfig:
    """A validated chain: ``layers`` is a tuple of ``(name, LayerConfig)``; ``weights`` the path
    of the tensors file as written in the TOML (relative to ``base``), or ``""``."""
    name: str
    t: int
    n: int
    layers: tuple
    weights: str = ""
    base: str = "."

    def __post_init__(self):
        if not self.layers:
            raise ConfigError("layer: a network needs at least one [[layer]]")
        seen = set()
        for i, (name, cfg) in enumerate(self.layers):
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise ConfigError(f"layer[{i}].name: expected an identifier, got {name!r}")
            if name in seen:
                raise ConfigError(f"layer[{i}].name: {name!r} used twice")
            seen.add(name)
            if (cfg.t, cfg.n) != (self.t, self.n):
                raise ConfigError(f"layer[{i}].t: every layer runs the network's t={self.t}, n={self.n}")
            if i and cfg.d != out_width(self.layers[i - 1][1]):
                raise ConfigError(f"layer[{i}].d: {cfg.d} is not the output width "
                                  f"{out_width(self.layers[i - 1][1])} of layer[{i - 1}] ({self.layers[i - 1][0]!r})")

    @property
    def d_in(self) -> int:
        return self.layers[0][1].d

    @property
    def d_out(self) -> int:
        return out_width(self.layers[-1][1])

    def weights_path(self) -> Path | None:
        return Path(self.base) / self.weights if self.weights else None


def is_network(data: dict) -> bool:
    """A TOML document of a network (it has ``[[layer]]`` tables), not of a single layer."""
    return isinstance(data, dict) and "layer" in data


_NET_KEYS = {"name", "t", "n", "weights", "layer"}


def parse_network(data: dict, base: str | Path = ".") -> NetworkConfig:
    """Build a validated :class:`NetworkConfig` from the dictionary of a network TOML file."""
    if not isinstance(data, dict):
        raise ConfigError("network: expected a table")
    for key in data:
        if key not in _NET_KEYS:
            raise ConfigError(f"{key}: unknown key of a network (expected {', '.join(sorted(_NET_KEYS))})")
    for key in ("t", "n"):
        if key not in data:
            raise ConfigError(f"{key}: missing")
        if isinstance(data[key], bool) or not isinstance(data[key], int) or not 1 <= data[key] <= 4096:
            raise ConfigError(f"{key}: expected an integer 1..4096, got {data[key]!r}")
    name = data.get("name", "network")
    weights = data.get("weights", "")
    if not isinstance(name, str) or not isinstance(weights, str):
        raise ConfigError("name: expected a string" if not isinstance(name, str) else "weights: expected a path string")
    tables = data.get("layer")
    if not isinstance(tables, list) or not tables:
        raise ConfigError("layer: expected one or more [[layer]] tables")
    layers = []
    for i, table in enumerate(tables):
        if not isinstance(table, dict):
            raise ConfigError(f"layer[{i}]: expected a table")
        table = dict(table)
        lname = table.pop("name", f"layer{i}")
        for key in ("t", "n"):
            if key in table:
                raise ConfigError(f"layer[{i}].{key}: set once for the network, not per layer")
        try:
            cfg = parse_config({**table, "t": data["t"], "n": data["n"]})
        except ConfigError as e:
            raise ConfigError(f"layer[{i}].{e}") from None
        layers.append((lname, cfg))
    return NetworkConfig(name=name, t=data["t"], n=data["n"], layers=tuple(layers), weights=weights, base=str(base))


def load_network(path: str | Path) -> NetworkConfig:
    """Read and validate a network TOML file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"network: cannot read {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"network: malformed TOML in {path}: {e}") from None
    if not is_network(data):
        raise ConfigError(f"layer: {path} has no [[layer]] tables (a single-layer configuration?)")
    return parse_network(data, path.parent)


def dump_network(net: NetworkConfig, weights: str | None = None) -> str:
    """TOML text of a network (the inverse of :func:`parse_network`); ``weights``: the path to write."""
    w = net.weights if weights is None else weights
    lines = [f'name = "{net.name}"', f"t = {net.t}", f"n = {net.n}"] + ([f'weights = "{w}"'] if w else [])
    for name, cfg in net.layers:
        body = dump_config(cfg).splitlines()
        lines += ["", "[[layer]]", f'name = "{name}"']
        for line in body:
            if re.match(r"^(t|n) = ", line):
                continue
            m = re.match(r"^\[(.*)\]$", line.strip())
            lines.append(f"[layer.{m.group(1)}]" if m else line)
    return "\n".join(lines) + "\n"


def split_tensors(net: NetworkConfig, tensors: dict) -> list[dict]:
    """``{"<layer>.<tensor>": array}`` -> one dict of SPEC tensors per layer (names checked later)."""
    names = [name for name, _ in net.layers]
    out = [{} for _ in names]
    for key, value in tensors.items():
        layer, _, t = key.partition(".")
        if layer not in names or not t:
            raise ConfigError(f"weights.{key}: not '<layer>.<tensor>' with a layer of the network "
                              f"({', '.join(names)})")
        out[names.index(layer)][t] = value
    return out


def join_tensors(net: NetworkConfig, per_layer: list[dict]) -> dict:
    return {f"{name}.{k}": v for (name, _), ts in zip(net.layers, per_layer) for k, v in ts.items()}
