"""Small helpers shared by the cocotb benches."""
from __future__ import annotations

from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

__all__ = ["uint", "start_clock_and_reset"]


def uint(sig) -> int:
    """A port's value as an unsigned int (1-bit ports are ``Logic``, wider ones ``LogicArray``)."""
    v = sig.value
    return v.to_unsigned() if hasattr(v, "to_unsigned") else int(v)


async def start_clock_and_reset(dut, cycles: int = 2):
    """Start a 100 MHz clock on ``clk``, hold ``rst`` for ``cycles`` and return on a falling edge."""
    import cocotb
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await FallingEdge(dut.clk)
