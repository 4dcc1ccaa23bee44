"""Jobs sent as beats: the part of a dispatcher that hands one job of T beats to a core.

Beat 0 goes to the core chosen in that cycle (``first``, one-hot over the cores, with the weight
set ``sel``); beats 1..T-1 follow to the same core on the next cycles it is ready, with the same
``sel``, each carrying the next row of the token register. While ``sending`` is high the
dispatcher chooses no new core. Latency: none (the ports are driven combinationally); one beat a
cycle.
"""
from __future__ import annotations

from amaranth import Cat, Mux, Signal

__all__ = ["BeatSender"]


class BeatSender:
    """Build with :meth:`drive` into the dispatcher's module. Attributes: ``sending`` (beats
    1..T-1 of a job are on their way), ``beat``, ``target`` (the one-hot core), ``sel``."""

    def __init__(self, t: int, cores: int, sel_shape):
        if t < 1 or cores < 1:
            raise ValueError("t, cores: at least 1")
        self.t = t
        self.sending = Signal()
        self.beat = Signal(range(max(2, t)))
        self.target = Signal(cores)
        self.sel = Signal(sel_shape)

    def drive(self, m, ports, first, sel, rows, fields):
        """Drive ``ports`` (the cores' job streams): ``valid``, ``payload.spikes`` (row ``beat`` of
        ``rows``, an array view of T rows) and the fields ``fields(payload, sel)`` returns
        (assignments), with ``sel`` this cycle's choice at beat 0 and the kept one after."""
        T = self.t
        row = Signal(len(rows[0].as_value()) if hasattr(rows[0], "as_value") else len(rows[0]))
        m.d.comb += row.eq(rows[self.beat] if T > 1 else rows[0])
        psel = Mux(self.sending, self.sel, sel)
        for i, port in enumerate(ports):
            m.d.comb += [port.valid.eq(first[i] | (self.sending & self.target[i])), port.payload.spikes.eq(row),
                         *fields(port.payload, psel)]
        if T > 1:
            with m.If(first.any()):
                m.d.sync += [self.sending.eq(1), self.beat.eq(1), self.target.eq(first), self.sel.eq(sel)]
        with m.If(self.sending & (self.target & Cat(*(p.ready for p in ports))).any()):
            m.d.sync += self.beat.eq(self.beat + 1)
            with m.If(self.beat == T - 1):
                m.d.sync += [self.sending.eq(0), self.beat.eq(0)]
