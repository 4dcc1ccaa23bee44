"""Global (and local) buffers: a synchronous SRAM with named ports, host load and readout.

A ``GLB`` wraps one :class:`amaranth.lib.memory.Memory` (``depth`` words of ``width`` bits,
written in lanes of ``granularity`` bits) and exposes its ports as members, so that the
layer description can wire them to cores and the physical flows can map the memory to an SRAM
macro. Reads are synchronous: data is valid the cycle after the address (1-cycle latency).

Ports: ``host_w`` (host load; absent with ``host_write=False``), ``host_r`` (optional host readout), ``rd0..`` read ports for the
datapath, ``wr0..`` write ports for the datapath.

SRAM macro mode: ``GLB(p, macro=True)`` (or every GLB built inside ``with sram_macros():``)
elaborates to one :class:`~amaranth.hdl.Instance` of an SRAM macro cell instead of the
``Memory``; the component's ports and their timing (1-cycle synchronous reads, read data held
while ``en`` is low, per-lane write enables) are the same. The cell is named after its shape
(:class:`SramShape`, e.g. ``spikestack_sram_32x8_w1r2``), has scalar pins (``clk``,
``w<i>_addr<b>``, ``w<i>_din<b>``, ``w<i>_we<l>``, ``r<j>_en``, ``r<j>_addr<b>``,
``r<j>_dout<b>``) and is described (LEF, liberty, Verilog blackbox and behavioural model) by
:mod:`spikestack.flows.builtin.sram`. Write port ``w0`` is ``host_w`` (its one enable drives every lane),
the next ones are ``wr0..``; read ports ``r0..`` are ``rd0..``, then ``host_r``.
"""
from __future__ import annotations

import contextlib
import contextvars
import re
from dataclasses import dataclass

from amaranth import ClockSignal, Instance, Module
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import Out

__all__ = ["GlbParams", "GLB", "SramShape", "sram_macros"]

_MACROS = contextvars.ContextVar("spikestack_glb_macros", default=False)


@contextlib.contextmanager
def sram_macros(enabled: bool = True):
    """Every :class:`GLB` built inside this block is an SRAM macro instance (``enabled``)."""
    token = _MACROS.set(enabled)
    try:
        yield
    finally:
        _MACROS.reset(token)


def addr_width(depth: int) -> int:
    """Address bits of a ``depth``-word memory (at least 1)."""
    return max(1, (depth - 1).bit_length())


@dataclass(frozen=True)
class SramShape:
    """The interface of one SRAM macro: ``depth`` words of ``width`` bits, ``write_ports`` write
    ports with ``lanes`` write enables each (``width / granularity``), ``read_ports`` synchronous
    read ports. The cell name encodes all of it, so a netlist's cell names give back the shapes."""
    depth: int
    width: int
    write_ports: int
    read_ports: int
    lanes: int = 1

    PREFIX = "spikestack_sram_"

    def __post_init__(self):
        if min(self.depth, self.width, self.write_ports, self.read_ports, self.lanes) < 1:
            raise ValueError(f"SramShape: every field must be >= 1, got {self}")
        if self.width % self.lanes:
            raise ValueError(f"SramShape: lanes {self.lanes} do not divide width {self.width}")

    @property
    def addr_width(self) -> int:
        return addr_width(self.depth)

    @property
    def name(self) -> str:
        lanes = f"_l{self.lanes}" if self.lanes > 1 else ""
        return f"{self.PREFIX}{self.depth}x{self.width}_w{self.write_ports}r{self.read_ports}{lanes}"

    @classmethod
    def from_name(cls, name: str) -> "SramShape":
        m = re.fullmatch(re.escape(cls.PREFIX) + r"(\d+)x(\d+)_w(\d+)r(\d+)(?:_l(\d+))?", name)
        if not m:
            raise ValueError(f"not an SRAM macro name: {name!r}")
        d, w, nw, nr, lanes = m.groups()
        return cls(int(d), int(w), int(nw), int(nr), int(lanes or 1))

    def pins(self) -> list[tuple[str, str, str]]:
        """``(pin, direction, role)`` for every scalar pin, clock first; role is ``clk``, ``addr``,
        ``din``, ``we``, ``en`` or ``dout``."""
        out = [("clk", "input", "clk")]
        for i in range(self.write_ports):
            out += [(f"w{i}_addr{b}", "input", "addr") for b in range(self.addr_width)]
            out += [(f"w{i}_din{b}", "input", "din") for b in range(self.width)]
            out += [(f"w{i}_we{k}", "input", "we") for k in range(self.lanes)]
        for j in range(self.read_ports):
            out += [(f"r{j}_en", "input", "en")]
            out += [(f"r{j}_addr{b}", "input", "addr") for b in range(self.addr_width)]
            out += [(f"r{j}_dout{b}", "output", "dout") for b in range(self.width)]
        return out


@dataclass(frozen=True)
class GlbParams:
    depth: int
    width: int
    granularity: int | None = None
    read_ports: int = 1
    write_ports: int = 0
    host_read: bool = False
    host_write: bool = True

    def __post_init__(self):
        if self.depth < 1 or self.width < 1:
            raise ValueError(f"depth, width: must be >= 1, got {self.depth}, {self.width}")
        if not self.host_write and self.write_ports < 1:
            raise ValueError("write_ports: a buffer without host_write needs a datapath write port")
        if self.granularity is not None and self.width % self.granularity:
            raise ValueError(f"granularity: {self.granularity} does not divide width {self.width}")

    @property
    def addr_width(self) -> int:
        return addr_width(self.depth)

    @property
    def bits(self) -> int:
        return self.depth * self.width

    @property
    def lanes(self) -> int:
        return self.width // self.granularity if self.granularity else 1

    @property
    def macro(self) -> SramShape:
        """The SRAM macro holding this buffer (write ports: host + datapath; reads: datapath + host)."""
        return SramShape(self.depth, self.width, int(self.host_write) + self.write_ports,
                         self.read_ports + int(self.host_read), self.lanes)

    def read_signature(self):
        return memory.ReadPort.Signature(addr_width=self.addr_width, shape=self.width)

    def write_signature(self, granular=True):
        g = self.granularity if granular else None
        return memory.WritePort.Signature(addr_width=self.addr_width, shape=self.width, granularity=g)


class GLB(wiring.Component):
    """A buffer (see module docstring). Parameters: :class:`GlbParams`; ``macro``: elaborate to
    an SRAM macro instance (default: whether built inside :func:`sram_macros`)."""

    def __init__(self, p: GlbParams, macro: bool | None = None):
        self.p = p
        self.macro = _MACROS.get() if macro is None else bool(macro)
        members = {"host_w": Out(p.write_signature(granular=False))} if p.host_write else {}
        if p.host_read:
            members["host_r"] = Out(p.read_signature())
        for i in range(p.read_ports):
            members[f"rd{i}"] = Out(p.read_signature())
        for i in range(p.write_ports):
            members[f"wr{i}"] = Out(p.write_signature())
        super().__init__(members)

    def _reads(self):
        reads = [getattr(self, f"rd{i}") for i in range(self.p.read_ports)]
        return reads + ([self.host_r] if self.p.host_read else [])

    def _elaborate_macro(self) -> Module:
        m = Module()
        shape = self.p.macro
        conn = {"i_clk": ClockSignal()}
        writes = [(self.host_w, True)] if self.p.host_write else []
        writes += [(getattr(self, f"wr{i}"), False) for i in range(self.p.write_ports)]
        for i, (port, whole) in enumerate(writes):
            conn.update({f"i_w{i}_addr{b}": port.addr[b] for b in range(shape.addr_width)})
            conn.update({f"i_w{i}_din{b}": port.data[b] for b in range(shape.width)})
            conn.update({f"i_w{i}_we{k}": port.en if whole else port.en[k] for k in range(shape.lanes)})
        for j, port in enumerate(self._reads()):
            conn[f"i_r{j}_en"] = port.en
            conn.update({f"i_r{j}_addr{b}": port.addr[b] for b in range(shape.addr_width)})
            conn.update({f"o_r{j}_dout{b}": port.data[b] for b in range(shape.width)})
        m.submodules.macro = Instance(shape.name, **conn)
        return m

    def elaborate(self, platform):
        if self.macro:
            return self._elaborate_macro()
        m = Module()
        p = self.p
        m.submodules.mem = mem = memory.Memory(shape=p.width, depth=p.depth, init=[])
        ports = [(self.host_w, mem.write_port())] if p.host_write else []
        ports += [(getattr(self, f"wr{i}"), mem.write_port(granularity=p.granularity))
                  for i in range(p.write_ports)]
        for ours, theirs in ports:
            m.d.comb += [theirs.addr.eq(ours.addr), theirs.data.eq(ours.data), theirs.en.eq(ours.en)]
        for ours in self._reads():
            theirs = mem.read_port()
            m.d.comb += [theirs.addr.eq(ours.addr), theirs.en.eq(ours.en), ours.data.eq(theirs.data)]
        return m
