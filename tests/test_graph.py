"""The layer graph's wires of bit ranges (``"block.member.leaf[lo:hi]"``): on the flat top, on the
stitched two-tier top (bonds named after the range), and the errors for a bad range."""
import gc

import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from spikestack.hw.layers.graph import Design, bonds, flat_top, stitched_top


class Source(wiring.Component):
    """``x`` (8 bits) and ``y`` (2 bits) driven from the exported ``xi`` / ``yi``."""

    def __init__(self):
        super().__init__({"xi": In(8), "yi": In(2), "x": Out(8), "y": Out(2)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.x.eq(self.xi), self.y.eq(self.yi)]
        return m


class Sink(wiring.Component):
    """``a``, ``b`` (4 bits each) and ``z`` (4 bits) seen on the exported outputs."""

    def __init__(self):
        super().__init__({"a": In(4), "b": In(4), "z": In(4), "ao": Out(4), "bo": Out(4), "zo": Out(4)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.ao.eq(self.a), self.bo.eq(self.b), self.zo.eq(self.z)]
        return m


def design(*extra_wires):
    d = Design("ranges")
    d.add("src", Source, role="memory")
    d.add("snk", Sink)
    # the two halves of x crossed over; y into the top bits of z (z's low bits undriven: 0)
    d.wire_all([("src.x[0:4]", "snk.b"), ("snk.a", "src.x[4:8]"), ("src.y", "snk.z[2:4]"), *extra_wires])
    d.export_ports("src", ("xi", "yi"))
    d.export_ports("snk", ("ao", "bo", "zo"))
    return d


def outputs(top, values):
    got = []

    async def bench(ctx):
        for xi, yi in values:
            ctx.set(top.xi, xi)
            ctx.set(top.yi, yi)
            got.append((ctx.get(top.ao), ctx.get(top.bo), ctx.get(top.zo)))

    sim = Simulator(top)
    sim.add_testbench(bench)
    sim.run()
    return got


VALUES = [(0x00, 0), (0xA5, 3), (0x3C, 1), (0xFF, 2), (0x81, 3)]
EXPECTED = [(x >> 4, x & 15, y << 2) for x, y in VALUES]


def test_ranges_on_the_flat_top():
    assert outputs(flat_top(design()), VALUES) == EXPECTED


def test_ranges_across_tiers():
    d = design()
    tiers = {"src": "tier_top", "snk": "tier_bottom"}
    got = {b.name: (b.width, b.source, b.sinks) for b in bonds(d, tiers)}
    assert got == {"src__x__0_4": (4, "src.x[0:4]", ("snk.b",)),
                   "src__x__4_8": (4, "src.x[4:8]", ("snk.a",)),
                   "src__y": (2, "src.y", ("snk.z[2:4]",))}
    assert outputs(stitched_top(d, tiers), VALUES) == EXPECTED


@pytest.mark.parametrize("wire,needle", [
    (("src.x[4:9]", "snk.z[0:5]"), "bits 4:9 are not within the port's 8 bits"),
    (("src.x[3:3]", "snk.z[0:0]"), "bits 3:3 are not within"),
    (("src.x[0:2]", "snk.z"), "port is 2 vs 4 bits"),
])
@pytest.mark.filterwarnings("ignore:.*created but never used")       # the half-built top of the error
def test_bad_ranges(wire, needle):
    with pytest.raises(ValueError, match=needle):
        flat_top(design(wire), inspect_only=True).elaborate(None)
    gc.collect()                    # its warning now, under this test's filter, not in a later test
