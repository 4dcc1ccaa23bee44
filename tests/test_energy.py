"""Pre-layout energy: the 28 nm scaling, the wire-load calibration, the ``energy`` command's checks
(the end-to-end run on a tiny design is in test_flow.py, beside its routed run)."""
import subprocess
import sys

import pytest

from spikestack.flows.ppa.prelayout import REFERENCES, scale_energy
from spikestack.flows.ppa.wireload import CALIBRATION, calibrate, net_fanouts, output_pins, wire_loads_tcl


def test_scaling_is_c_v_squared():
    assert scale_energy(100.0) == pytest.approx(100.0 * (28 / 180) * (0.9 / 1.8) ** 2)     # 3.889 pJ
    assert scale_energy(100.0) == pytest.approx(3.8889, rel=1e-4)
    assert scale_energy(7.0, to_um=0.18, to_vdd=1.8) == pytest.approx(7.0)                # same node, same supply
    assert scale_energy(10.0, to_vdd=0.55) == pytest.approx(10.0 * 0.028 / 0.18 * (0.55 / 1.8) ** 2)
    assert scale_energy(10.0, to_um=0.09) == pytest.approx(2 * scale_energy(10.0, to_um=0.045))
    with pytest.raises(ValueError, match="positive"):
        scale_energy(-1.0)
    assert REFERENCES["ODIN"]["pj_per_sop"] == 12.7 and REFERENCES["ReckOn"]["pj_per_sop"] == 5.3


def test_calibration_fits_wire_c_per_fanout():
    # three nets: C = 1 fF + 2 fF x sinks exactly
    rc = ("a 1 X_1/Y 1 ( 1.0 0.003 Y_1/A )\n"
          "b 1 X_2/Y 2 ( 1.0 0.002 ( 1.0 0.003 Y_2/A , Y_3/B ) )\n"
          "c 1 PIN/c 3 ( 1.0 0.007 Y_4/A , Y_5/A , Y_6/C )\n")
    cal = calibrate(rc, "test")
    assert cal["c0_pf"] == pytest.approx(0.001) and cal["c_fo_pf"] == pytest.approx(0.002)
    assert cal["nets"] == 3 and cal["mean_c_by_fanout_pf"] == {1: 0.003, 2: 0.005, 3: 0.007}
    with pytest.raises(ValueError, match="at least 2"):
        calibrate("a 1 X_1/Y 1 ( 1.0 0.003 Y_1/A )\n")
    assert CALIBRATION["c0_pf"] is not None and CALIBRATION["c_fo_pf"] > 0 and "moe_ppa_small" in CALIBRATION["source"]


def test_wire_loads_by_driver_and_fanout():
    net = ("module t (clk, a, y);\ninput clk;\ninput [1:0] a;\noutput y;\n"
           "NAND2X1 NAND2X1_1 ( .A(a[0]), .B(a[1]), .Y(n1) );\n"
           "INVX1 INVX1_1 ( .A(n1), .Y(y) );\nDFFPOSX1 DFFPOSX1_1 ( .CLK(clk), .D(n1), .Q(q) );\nendmodule\n")
    fans = net_fanouts(net, output_pins([]) | {"NAND2X1": {"Y"}, "INVX1": {"Y"}, "DFFPOSX1": {"Q"}})
    assert fans["n1"] == ("[get_nets -of_objects [get_pins {NAND2X1_1/Y}]]", 2)
    assert fans["a[1]"] == ("[get_nets {a[1]}]", 1) and fans["clk"][1] == 1 and fans["q"][1] == 0
    assert fans["y"] == ("[get_nets -of_objects [get_pins {INVX1_1/Y}]]", 1)          # the output port
    tcl, s = wire_loads_tcl(net, "fanout", calibration={"c0_pf": 0.001, "c_fo_pf": 0.002})
    assert "catch {set_load 0.005 [get_nets -of_objects [get_pins {NAND2X1_1/Y}]]}" in tcl
    assert s["nets"] == 5 and s["total_c_pf"] == pytest.approx(0.005 + 4 * 0.003)    # n1, a[0], a[1], clk, y
    assert wire_loads_tcl(net, "none")[0] == ""
    with pytest.raises(ValueError, match="wire_model"):
        wire_loads_tcl(net, "spef")


def test_osu018_output_pins():
    from spikestack.flows.builtin.platform import OSU018
    outs = output_pins([OSU018.liberty])
    assert outs["NAND2X1"] == {"Y"} and outs["DFFPOSX1"] == {"Q"} and outs["HAX1"] == {"YC", "YS"}


@pytest.mark.parametrize("args, word", [
    (["configs/nope.toml"], "nope.toml"),
    (["configs/moe_ppa_small.toml", "--wire-model", "spef"], "wire-model"),
    (["configs/moe_ppa_small.toml", "--clock-ns", "0"], "clock-ns"),
    (["configs/moe_ppa_small.toml", "--rate", "2"], "rate"),
    (["configs/moe_ppa_small.toml", "--calibrate-from", "no_such_run"], "calibrate-from"),
])
def test_energy_command_refuses_bad_input(tmp_path, root, args, word):
    out = tmp_path / "e"
    r = subprocess.run([sys.executable, "-m", "spikestack.cli", "energy", *args, "-o", str(out)], cwd=root,
                       capture_output=True, text=True)
    assert r.returncode == 2 and word in r.stderr and r.stderr.startswith("spikestack: error:")
    assert not out.exists()


def test_a_synthesis_that_lost_sram_macros_is_refused(tmp_path):
    """The MHA default's synthesis lost 5 of the 6 SRAM macros Yosys mapped, after Yosys (qflow's
    blifFanout, blif2Verilog): a power without them is no number, so the (reused) synthesis is
    refused, naming the counts."""
    import json
    from spikestack.flows.builtin.platform import FlowError
    from spikestack.flows.ppa.prelayout import synthesize
    text = "module t (clk);\ninput clk;\n  spikestack_sram_4x8_w1r1 m0 (.clk(clk));\n  spikestack_sram_4x8_w1r1 m1 (.clk(clk));\nendmodule\n"
    (tmp_path / "work" / "source").mkdir(parents=True)
    (tmp_path / "work" / "source" / "t.v").write_text(text)
    (tmp_path / "work" / "sta_net.v").write_text("")
    rep = {"top": "t", "cells": 10, "macros": 1, "macros_in_source": 2, "flops": 0, "libs": [], "seconds": 1.0,
           "log": "synth.log", "macros_in_blif": {"tmp.blif": 2, "t.blif": 1}}
    (tmp_path / "synth.json").write_text(json.dumps(rep))
    with pytest.raises(FlowError, match=r"kept 1 of the 2 SRAM macro instances Yosys mapped \(2 in the source; "
                                        r"after blifFanout: 1\)"):
        synthesize(text, "t", tmp_path, log=lambda *_: None)
    (tmp_path / "synth.json").write_text(json.dumps(dict(rep, macros=2)))
    assert synthesize(text, "t", tmp_path, log=lambda *_: None)["macros"] == 2
    # a macro Yosys removed (its outputs unused) is no loss
    (tmp_path / "synth.json").write_text(json.dumps(dict(rep, macros_in_blif={"tmp.blif": 1, "t.blif": 1})))
    assert synthesize(text, "t", tmp_path, log=lambda *_: None)["macros"] == 1
