"""Shapes of counters and indices."""
from __future__ import annotations

__all__ = ["index_range"]


def index_range(n: int) -> range:
    """The shape of an index into ``n`` things: ``range(n)``, but at least one bit wide (an index
    into one thing is a 1-bit signal that stays 0, so every port and field has a width)."""
    return range(max(2, n))
