"""The round-robin arbiter of the result streams (the merge of the MoE, the collector of the MHA)."""
from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, Value

from .shapes import index_range

__all__ = ["round_robin"]


def round_robin(m: Module, valid: list[Value]) -> tuple[Signal, Signal]:
    """Grant one of ``valid`` per cycle, round-robin: ``(grant, any_valid)``, combinational.

    The requester granted is the first valid one from the priority pointer on (lowest offset
    wins); after a grant the pointer moves to the one after it, so every requester that stays
    valid is granted within ``len(valid)`` cycles. Latency 0: the grant is in the same cycle as
    the valid; the caller raises the granted source's ``ready``.
    """
    C = len(valid)
    prio = Signal(index_range(C))
    grant = Signal(index_range(C))
    any_valid = Signal()
    for off in reversed(range(C)):          # lowest offset from prio wins
        for c in range(C):
            with m.If(((prio + off) % C == c) if C > 1 else 1):
                with m.If(valid[c]):
                    m.d.comb += [grant.eq(c), any_valid.eq(1)]
    with m.If(any_valid):
        m.d.sync += prio.eq(Mux(grant == C - 1, 0, grant + 1))
    return grant, any_valid
