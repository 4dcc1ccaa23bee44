"""Shapes of counters and indices, and how many tiles cover a width."""
from __future__ import annotations

__all__ = ["index_range", "ceil_div"]


def index_range(n: int) -> range:
    """The shape of an index into ``n`` things: ``range(n)``, but at least one bit wide (an index
    into one thing is a 1-bit signal that stays 0, so every port and field has a width)."""
    return range(max(2, n))


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` in integers: the tiles (rounds, groups) of ``b`` that cover ``a``."""
    return -(-a // b)
