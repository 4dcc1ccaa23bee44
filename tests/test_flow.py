"""The built-in PPA flow (real Yosys, graywolf, qrouter, OpenSTA) end to end on small designs."""
import json

import pytest

from spikestack.flows.builtin import FlowError, ensure_tools, run_flow
from spikestack.flows.ppa import ppa_for_config
from spikestack.gen.config import HwConfig, LayerConfig, LifConfig

TINY = LayerConfig(kind="linear", t=1, n=2, d=3, d_out=2, lif={"out": LifConfig(8, 1, "hard", "out")},
                   hw=HwConfig(rows=1, cols=2, cores=1))


def test_missing_tool_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FlowError, match="Debian package 'graywolf'"):
        ensure_tools()


def test_flow_on_a_lif_pe(tmp_path):
    from amaranth.back import verilog
    from spikestack.hw.pe import LifPE
    v = verilog.convert(LifPE((LifConfig(64, 3, "hard", "out"),), w_bits=8, b_bits=16, acc_bits=18, v_bits=16),
                        name="lifpe")
    rep = run_flow(v, "lifpe", tmp_path, clock_ns=10.0, log=lambda *_: None)
    assert json.loads((tmp_path / "ppa.json").read_text())["cells"] == rep["cells"]
    assert 300 < rep["cells"] < 5000 and 30 < rep["flops"] < 200       # 8/16/18-bit PE: ~50 registers
    assert 0 < rep["cell_area_um2"] <= rep["die_area_um2"] and 0 < rep["utilisation"] <= 1
    assert rep["failed_routes"] == 0 and rep["wirelength_um"] > 0 and rep["wire_cap_pf"] > 0
    assert rep["worst_slack_ns"] is not None and rep["fmax_mhz"] > 10
    p = rep["power_w"]
    assert p["total"] > 0 and p["internal"] > 0 and p["switching"] > 0 and p["leakage"] >= 0
    assert set(rep["step_seconds"]) == {"synthesis", "placement", "routing", "parasitics", "sta"}
    for log in ("synth", "place", "route", "sta"):
        assert (tmp_path / "logs" / f"{log}.log").stat().st_size > 0


def test_ppa_2d_and_pseudo_3d(tmp_path):
    res = ppa_for_config(TINY, tmp_path, log=lambda *_: None)
    r2, r3 = res["2d"], res["3d"]
    assert r3["bonds"] > 0 and r3["footprint_um2"] > 0
    assert r3["footprint_um2"] < r2["die_area_um2"]          # each tier is a part of the 2D design
    for k in ("footprint", "fmax", "power", "wirelength"):
        assert res["ratios_3d_over_2d"][k] > 0
    assert "paper" in (tmp_path / "ppa.md").read_text()
    for tier in ("tier_top", "tier_bottom"):
        assert r3["tiers"][tier]["failed_routes"] == 0
