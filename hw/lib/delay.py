"""Fixed-latency delay lines."""
from __future__ import annotations

from amaranth import Module, Signal

__all__ = ["delayed"]


def delayed(m: Module, value, cycles: int, name: str):
    """``value`` ``cycles`` clock cycles later: a chain of registers ``<name>_d<i>`` (reset to 0)
    in ``m``'s sync domain; ``value`` itself when ``cycles`` is 0."""
    for i in range(cycles):
        reg = Signal(len(value), name=f"{name}_d{i}")
        m.d.sync += reg.eq(value)
        value = reg
    return value
