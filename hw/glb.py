"""Global (and local) buffers: a synchronous SRAM with named ports, host load and readout.

A ``GLB`` wraps one :class:`amaranth.lib.memory.Memory` (``depth`` words of ``width`` bits,
written in lanes of ``granularity`` bits) and exposes its ports as members, so that the
layer description can wire them to cores and the physical flows can map the memory to an SRAM
macro. Reads are synchronous: data is valid the cycle after the address (1-cycle latency).

Ports: ``host_w`` (host load), ``host_r`` (optional host readout), ``rd0..`` read ports for the
datapath, ``wr0..`` write ports for the datapath.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth import Module
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import Out

__all__ = ["GlbParams", "GLB"]


@dataclass(frozen=True)
class GlbParams:
    depth: int
    width: int
    granularity: int | None = None
    read_ports: int = 1
    write_ports: int = 0
    host_read: bool = False

    def __post_init__(self):
        if self.depth < 1 or self.width < 1:
            raise ValueError(f"depth, width: must be >= 1, got {self.depth}, {self.width}")
        if self.granularity is not None and self.width % self.granularity:
            raise ValueError(f"granularity: {self.granularity} does not divide width {self.width}")

    @property
    def addr_width(self) -> int:
        return max(1, (self.depth - 1).bit_length())

    @property
    def bits(self) -> int:
        return self.depth * self.width

    def read_signature(self):
        return memory.ReadPort.Signature(addr_width=self.addr_width, shape=self.width)

    def write_signature(self, granular=True):
        g = self.granularity if granular else None
        return memory.WritePort.Signature(addr_width=self.addr_width, shape=self.width, granularity=g)


class GLB(wiring.Component):
    """A buffer (see module docstring). Parameters: :class:`GlbParams`."""

    def __init__(self, p: GlbParams):
        self.p = p
        members = {"host_w": Out(p.write_signature(granular=False))}
        if p.host_read:
            members["host_r"] = Out(p.read_signature())
        for i in range(p.read_ports):
            members[f"rd{i}"] = Out(p.read_signature())
        for i in range(p.write_ports):
            members[f"wr{i}"] = Out(p.write_signature())
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        p = self.p
        m.submodules.mem = mem = memory.Memory(shape=p.width, depth=p.depth, init=[])
        ports = [(self.host_w, mem.write_port())]
        ports += [(getattr(self, f"wr{i}"), mem.write_port(granularity=p.granularity))
                  for i in range(p.write_ports)]
        for ours, theirs in ports:
            m.d.comb += [theirs.addr.eq(ours.addr), theirs.data.eq(ours.data), theirs.en.eq(ours.en)]
        reads = [getattr(self, f"rd{i}") for i in range(p.read_ports)]
        if p.host_read:
            reads.append(self.host_r)
        for ours in reads:
            theirs = mem.read_port()
            m.d.comb += [theirs.addr.eq(ours.addr), theirs.en.eq(ours.en), ours.data.eq(theirs.data)]
        return m
