"""Shapes of counters and indices, and how many tiles cover a width."""
from __future__ import annotations

__all__ = ["index_range", "ceil_div", "bias_packing"]


def index_range(n: int) -> range:
    """The shape of an index into ``n`` things: ``range(n)``, but at least one bit wide (an index
    into one thing is a 1-bit signal that stays 0, so every port and field has a width)."""
    return range(max(2, n))


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` in integers: the tiles (rounds, groups) of ``b`` that cover ``a``."""
    return -(-a // b)


def bias_packing(cfg) -> tuple[int, int, int]:
    """How a job-core layer's biases travel through the weight port: ``(room, lanes, parts)`` —
    ``room`` bits of a weight word's top slice (``lanes * w_bits / weight_slices``), ``lanes``
    biases a bias word (the largest divisor of the array's lanes that fits, else 1) and ``parts``
    words a bias word (``ceil(b_bits / room)`` when one bias is wider than the slice, else 1:
    loaded low part first, issue 42)."""
    lanes = cfg.hw.lanes
    room = lanes * cfg.w_bits // (cfg.hw.weight_slices if cfg.kind == "moe" else 1)
    fits = [r for r in range(1, lanes + 1) if lanes % r == 0 and r * cfg.b_bits <= room]
    return room, max(fits, default=1), 1 if cfg.b_bits <= room else ceil_div(cfg.b_bits, room)
