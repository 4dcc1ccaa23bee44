"""The block cache (flows/builtin/blockcache.py): a block is hardened once, reused by a second run, and a
half-written entry is never reused. Tiny blocks, a private cache per test."""
import json
from pathlib import Path

import pytest

from spikestack.flows.builtin import blockcache as C
from spikestack.flows.builtin import harden as H
from spikestack.flows.builtin.platform import FlowError, ensure_tools

TINY = """module tiny(clk, rst, a, b, q);
  input clk; input rst; input [2:0] a; input [2:0] b;
  output [2:0] q;
  reg [2:0] q;
  always @(posedge clk) if (rst) q <= 3'h0; else q <= (a ^ b) + q;
endmodule
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    try:
        ensure_tools()
    except FlowError as e:
        pytest.skip(str(e))
    monkeypatch.setenv("SPIKESTACK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SPIKESTACK_BLOCK_CACHE", raising=False)
    monkeypatch.delenv("SPIKESTACK_BLOCK_CACHE_DIR", raising=False)
    return tmp_path / "cache" / "blocks"


def _run(out: Path, **kw):
    lines = []
    ab = H.harden(TINY, "tiny", out, clock_ns=10.0, log=lambda *a: lines.append(" ".join(map(str, a))), **kw)
    return ab, "\n".join(lines)


def _entries(cache: Path) -> list[Path]:
    return sorted(p for p in cache.iterdir() if not p.name.startswith("."))


def test_second_run_hardens_nothing(cache, tmp_path):
    first, log1 = _run(tmp_path / "run1")
    assert "hardening into" in log1 and "stored in the block cache" in log1
    assert first.cache["hit"] is False and first.flow["failed_routes"] == 0
    [entry] = _entries(cache)
    assert entry.name == first.cache["key"] and (entry / C.MARKER).exists()
    rec = json.loads((entry / "record.json").read_text())
    assert rec["cells"] == first.flow["cells"] and rec["pins"] == len(first.pins) and rec["failed_routes"] == 0
    assert rec["die_um"] == [first.width_um, first.height_um]

    second, log2 = _run(tmp_path / "run2")
    assert second.cache == {"key": first.cache["key"], "hit": True}
    assert "hardening into" not in log2 and "taken from the block cache" in log2
    assert "synthesis" not in log2.lower() and "qrouter" not in log2.lower()
    # the second run's directory holds the same abstract, its paths its own
    assert second.lef.parent == (tmp_path / "run2").resolve()
    assert second.lef.read_text() == first.lef.read_text() and second.lib.read_text() == first.lib.read_text()
    assert (tmp_path / "run2" / "flow" / "work" / "tiny.def").exists()
    assert second.pins == first.pins and second.timing["setup_ns"] == first.timing["setup_ns"]
    assert second.timing["outputs_ns"] == first.timing["outputs_ns"]
    assert all(isinstance(load, float) for kinds in second.timing["outputs_ns"].values()
               for arcs in kinds.values() for load in arcs)
    assert _entries(cache) == [entry]


def test_a_half_written_entry_is_ignored_and_rebuilt(cache, tmp_path):
    first, _ = _run(tmp_path / "run1")
    entry = cache / first.cache["key"]
    (entry / C.MARKER).unlink()                      # as if the writer had been killed before its marker
    (entry / "tiny.lib").write_text("garbage\n")
    assert C.entry(first.cache["key"]) is None
    again, log = _run(tmp_path / "run2")
    assert again.cache["hit"] is False and "hardening into" in log
    assert (entry / C.MARKER).exists() and "garbage" not in (entry / "tiny.lib").read_text()
    assert again.lib.read_text() == first.lib.read_text()
    assert not [p for p in cache.iterdir() if p.name.startswith(".stale")]
    # a build directory left by a killed run is not an entry
    (cache / f".build-{'0' * 64}").mkdir()
    assert C.entry("0" * 64) is None


def test_the_key_covers_text_knobs_inner_blocks_and_tools(monkeypatch):
    k = C.block_key(TINY, "tiny", {"clock_ns": 10.0})
    assert k == C.block_key(TINY, "tiny", {"clock_ns": 10.0})
    assert k != C.block_key(TINY.replace("a ^ b", "a & b"), "tiny", {"clock_ns": 10.0})
    assert k != C.block_key(TINY, "tiny2", {"clock_ns": 10.0})
    assert k != C.block_key(TINY, "tiny", {"clock_ns": 11.0})

    class Inner:
        name, timing = "pe_macro", {"cache_key": "abc"}
    assert k != C.block_key(TINY, "tiny", {"clock_ns": 10.0}, [Inner()])
    C.tool_versions.cache_clear()
    monkeypatch.setattr(C, "_APT", ("qrouter",))
    try:
        assert k != C.block_key(TINY, "tiny", {"clock_ns": 10.0})
    finally:
        C.tool_versions.cache_clear()


def test_a_killed_run_started_again_continues_from_the_cache(cache, tmp_path, monkeypatch):
    """A run hardening two blocks is killed in the second: started again, it takes the first from the
    cache and hardens only the second; the killed build is listed as such, never as an entry."""
    other = TINY.replace("module tiny", "module tiny2").replace("a ^ b", "a & b")
    real = H._harden_into

    def killed(text, name, out_dir, **kw):
        if name == "tiny2":
            (Path(out_dir) / "flow").mkdir(parents=True, exist_ok=True)
            raise KeyboardInterrupt
        return real(text, name, out_dir, **kw)
    monkeypatch.setattr(H, "_harden_into", killed)
    first, _ = _run(tmp_path / "run1" / "tiny")
    with pytest.raises(KeyboardInterrupt):
        H.harden(other, "tiny2", tmp_path / "run1" / "tiny2", clock_ns=10.0, log=lambda *_: None)
    states = sorted(r["state"].split(":")[0] for r in C.records())
    assert states == ["complete", "left by a killed run"]
    monkeypatch.setattr(H, "_harden_into", real)
    again, log = _run(tmp_path / "run2" / "tiny")
    lines = []
    second = H.harden(other, "tiny2", tmp_path / "run2" / "tiny2", clock_ns=10.0, log=lines.append)
    assert again.cache["hit"] and "taken from the block cache" in log
    assert not second.cache["hit"] and second.flow["failed_routes"] == 0
    assert [r["state"] for r in C.records()] == ["complete", "complete"]


def test_design_blocks_from_their_lane_macros_are_hardened_once(cache, tmp_path):
    """flows/builtin/blockmacros.py on the reduced MoE's spike generator (its LIF lanes as macros inside):
    the second run — another output directory, as the 3D run after the 2D or a new run — takes the
    lane macro and the block from the cache and hardens nothing."""
    from spikestack.config import load_config
    from spikestack.flows.builtin.blockmacros import harden_blocks
    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "moe_ppa_small.toml")
    logs = []
    for run in ("a", "b"):
        lines = []
        _, abs_, summary = harden_blocks(cfg, ["spike_generator"], tmp_path / run, grains=["repeated"], jobs=1,
                                         log=lambda *a: lines.append(" ".join(map(str, a))))
        logs.append("\n".join(lines))
        blk = summary["blocks"]["spike_generator"]
        assert blk["failed_routes"] == 0 and blk["macros"] >= 1
        inner = blk["inner"]["repeated"]["macros"]
        assert blk["cache"]["hit"] is (run == "b")
        assert all(m["cache"]["hit"] is (run == "b") for m in inner.values())
    assert logs[0].count("hardening into") == 1 + len(inner) and "hardening into" not in logs[1]
    assert "step 1/5" not in logs[1]                  # no flow step ran in the second run
    assert (tmp_path / "b" / "spike_generator" / "spike_generator_block.lef").read_text() == \
        (tmp_path / "a" / "spike_generator" / "spike_generator_block.lef").read_text()
