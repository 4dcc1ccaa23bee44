"""The built-in PPA flow (real Yosys, graywolf, qrouter, OpenSTA) end to end on small designs."""
import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from spikestack.flows.builtin.flow import route_cleanup, route_progress, routing_line, run_flow, run_logged, standard_route
from spikestack.flows.builtin.platform import FlowError, ensure_tools
from spikestack.flows.ppa import ppa_for_config
from spikestack.config import HwConfig, LayerConfig, LifConfig

TINY = LayerConfig(kind="linear", t=1, n=2, d=3, d_out=2, lif={"out": LifConfig(8, 1, "hard", "out")},
                   hw=HwConfig(rows=1, cols=2, cores=1))
# the same with narrow words: a 300-cell PE (the default-width one routes slowly beside a second
# PE macro inside a parent of a few hundred cells), 1549 cells in all; the shared PPA run's design
TINY_NARROW = TINY.replace(w_bits=4, b_bits=6, v_bits=8)


def test_missing_tool_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FlowError, match="Debian package 'graywolf'"):
        ensure_tools()


def test_long_steps_report_progress(tmp_path):
    """A step's command runs with its output in the log and a progress call every period; qrouter's
    running log gives the nets left and the failures so far."""
    calls = []
    run_logged(["sh", "-c", "echo hi; sleep 0.35"], tmp_path, tmp_path / "x.log", "x", calls.append, every_s=0.1)
    assert (tmp_path / "x.log").read_text() == "hi\n" and len(calls) >= 2 and calls == sorted(calls)
    with pytest.raises(FlowError, match="x failed"):
        run_logged(["sh", "-c", "exit 3"], tmp_path, tmp_path / "y.log", "x")
    # a step's CPU seconds are its own: a busy step beside it (another thread) is not counted
    busy = ["sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"]
    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(run_logged, busy, tmp_path, tmp_path / "b.log", "busy")
        idle = run_logged(["sh", "-c", "sleep 0.5"], tmp_path, tmp_path / "s.log", "idle")
        assert other.result() > 0.1 and idle < 0.05
    log = ("Running qrouter\n*** Running stage1 routing with defaults\nFinished routing net a\nNets remaining: 19\n"
           "Failed to route net clk_bF$buf7\nNets remaining: 18\nFailed to route net b\nFinished routing net c\n"
           "Nets remaining: 17\n")
    assert route_progress(log) == {"stage": 1, "passes": 1, "left": 17, "failed": 2, "failed_before": None}
    log += ("Progress: Stage 1 total routes completed: 20\nFailed net routes: 2\n"
            "*** Running stage2 routing with options mask 10, effort 10\nNets remaining: 2\nFailed to route net b\n")
    assert route_progress(log) == {"stage": 2, "passes": 2, "left": 2, "failed": 1, "failed_before": 2}
    log += ("No failed routes!\n*** Running stage3 routing with defaults, 1st round\nNets remaining: 19\n"
            "Failed to route net a; restoring original\n")
    assert route_progress(log) == {"stage": 3, "passes": 3, "left": 19, "failed": 0, "failed_before": 0}
    assert route_progress("Running qrouter\n") is None
    assert routing_line("top", 20, log, 125.0) == "[ppa] top: routing: clean-up pass, 1 of 20 nets, 0 failed in this pass, 2 min"
    assert routing_line("top", 20, "Running qrouter\n", 60.0) is None
    # a rip-up run of a checkpoint starts at stage 2 with no pass before it in its log
    rip = "*** Running stage2 routing with options mask 10, effort 10\nNets remaining: 5\n"
    assert routing_line("top", 20, rip, 60.0) == "[ppa] top: routing: rip-up pass, 5 to go, 0 failed in this pass, 1 min"
    assert routing_line("top", 20, rip + "Failed net routes: 4\n" + rip, 60.0) == \
        "[ppa] top: routing: rip-up pass (the pass before left 4 failed), 5 to go, 0 failed in this pass, 1 min"


def test_flow_on_a_lif_pe(tmp_path):
    from amaranth.back import verilog
    from spikestack.hw.lib.pe import LifPE
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


@pytest.fixture(scope="module")
def tiny_ppa(tmp_path_factory):
    """One PPA run of TINY_NARROW (2D, both tiers, simulations, whole-design analyses), shared: the
    narrow words make 1549 cells instead of TINY's 2466 and halve the run (placement and routing).
    The independent method only (the co-placed one has its own tests, tests/test_coplace.py)."""
    out = tmp_path_factory.mktemp("tiny_ppa")
    return out, ppa_for_config(TINY_NARROW, out, method="independent", log=lambda *_: None)


def test_2d_and_tiers_have_the_same_cells(tiny_ppa):
    """The tiers are the 2D design's gate netlist partitioned by block (flows/builtin/samecells.py): the
    cells synthesis gave the 2D run and the two tiers' runs (before fanout buffering) are the same
    multiset, but for the buffers qflow puts on output ports (a tier's bond outputs are ports);
    and the memory-access path is timed in 3D between the 2D path's own start and end registers."""
    from collections import Counter
    from spikestack.flows.builtin.samecells import IO_BUFFERS, gate_counts
    tmp_path, res = tiny_ppa
    counts = {t: gate_counts((tmp_path / t / "work" / f"{top}_bak.blif").read_text())
              for t, top in (("2d", res["2d"]["top"]), ("tier_top", "tier_top"), ("tier_bottom", "tier_bottom"))}
    two, three = counts["2d"], counts["tier_top"] + counts["tier_bottom"]
    strip = lambda c: Counter({k: v for k, v in c.items() if k not in IO_BUFFERS})
    assert sum(two.values()) > 500 and strip(two) == strip(three)
    fmap = json.loads((tmp_path / "f2f_map.json").read_text())
    extra = sum(three[b] for b in IO_BUFFERS) - sum(two[b] for b in IO_BUFFERS)
    assert 0 <= extra <= fmap["bond_count"]                 # at most one buffer per bond output
    assert res["same_cells"]["same"] is True
    m2 = res["whole_design"]["2d"]["memory_access_matched"]
    m3 = res["whole_design"]["3d"]["memory_access_matched"]
    assert m2["found"] and m3["found"] and m3["same_ends_as_2d"]
    assert m2["startpoint"] == res["whole_design"]["2d"]["memory_access"]["startpoint"]
    assert res["ratios_3d_over_2d"]["memory_latency"] == m3["delay_ns"] / m2["delay_ns"]


def test_ppa_2d_and_pseudo_3d(tiny_ppa):
    tmp_path, res = tiny_ppa
    r2, r3 = res["2d"], res["3d"]
    assert r3["bonds"] > 0 and r3["footprint_um2"] > 0
    assert r3["footprint_um2"] < r2["die_area_um2"]          # each tier is a part of the 2D design
    for k in ("footprint", "fmax", "power", "wirelength", "memory_latency", "pj_per_sop"):
        assert res["ratios_3d_over_2d"][k] > 0
    assert "paper" in (tmp_path / "ppa.md").read_text()
    for tier in ("tier_top", "tier_bottom"):
        assert r3["tiers"][tier]["failed_routes"] == 0
    assert json.loads((tmp_path / "ppa.json").read_text())["3d"]["fmax_mhz"] == r3["fmax_mhz"]


def test_bonds_are_area_pins_at_one_location_on_both_tiers(tiny_ppa):
    """Every bond bit is one metal6 pin, at the same point of both tiers' dies, inside the die,
    on its own bond site; the tiers were routed to them (the pin's net has a route)."""
    from spikestack.flows.formats.def_ import die_um, port_terminals
    tmp_path, res = tiny_ppa
    bp = res["3d"]["bond_pins"]
    fmap = json.loads((tmp_path / "f2f_map.json").read_text())
    assert bp["bonds"] == fmap["bond_count"] and bp["without_cells"] == []
    pins = {}
    for tier in ("tier_top", "tier_bottom"):
        d = (tmp_path / tier / "work" / f"{tier}.def").read_text()           # the routed DEF
        got = dict((n, (int(x), int(y))) for n, x, y in re.findall(
            r"^- (\S+) \+ NET \S+ \+ DIRECTION \w+\s+\+ LAYER metal6 \([^)]*\) \([^)]*\)\s+\+ PLACED \( (-?\d+) (-?\d+) \)",
            d, re.M))
        assert 0 < len(got) <= fmap["bond_count"]          # a bond bit unused on a tier has no pin there
        x0, y0, x1, y1 = die_um(d)
        assert all(x0 * 100 < x < x1 * 100 and y0 * 100 < y < y1 * 100 for x, y in got.values())
        routed = re.search(r"^NETS.*?^END NETS", d, re.S | re.M).group(0)
        for name in got:
            net = port_terminals(d)[name][0]
            body = re.search(rf"^- {re.escape(net)}\s*\n(.*?);\s*$", routed, re.S | re.M).group(1)
            assert "ROUTED" in body, f"{tier}: bond {name} not routed"
        pins[tier] = got
    both = set(pins["tier_top"]) & set(pins["tier_bottom"])
    assert len(both) > 0 and all(pins["tier_top"][n] == pins["tier_bottom"][n] for n in both)
    sites = {**pins["tier_top"], **pins["tier_bottom"]}
    assert len(sites) == fmap["bond_count"] == len(set(sites.values()))     # every bond once, one site each
    assert all(v >= 0 for v in bp["mean_offset_um"].values())
    assert "area pins" in (tmp_path / "ppa.md").read_text()


def test_stitched_3d_sta_covers_each_tier(tiny_ppa):
    """The stitched run finds a path, no shorter than the worst register-to-register path of either
    tier timed alone (the same registers and wires are in the 3D design)."""
    from spikestack.flows.analysis.activity import flops_of
    from spikestack.flows.analysis.sta3d import analyse
    tmp_path, res = tiny_ppa
    w3 = res["whole_design"]["3d"]
    assert w3["worst_path"]["found"] and w3["critical_path_ns"] > 0
    assert res["3d"]["fmax_mhz"] == pytest.approx(1e3 / w3["critical_path_ns"])
    assert set(w3["worst_path"]["tiers"]) <= {"tier_top", "tier_bottom"} and w3["worst_path"]["tiers"]
    assert (tmp_path / "3d" / "spikestack_linear_3d.v").exists() and (tmp_path / "3d" / "logs" / "sta.log").exists()
    assert w3["bond_nets"] == res["3d"]["bonds"] and 0 < w3["bond_rc"]["worst_ps"] < 1.0
    # every routed wire of both tiers is loaded once, plus one bond C per bond
    import re
    loads = sum(float(x) for x in re.findall(r"set_load ([\d.eE+-]+)", (tmp_path / "3d" / "sta_loads.tcl").read_text()))
    tiers_c = sum(res["3d"]["tiers"][t]["wire_cap_pf"] for t in ("tier_top", "tier_bottom"))
    assert loads == pytest.approx(tiers_c + res["3d"]["bonds"] * res["3d"]["bond"]["c_ff"] * 1e-3, rel=1e-4)
    for tier in ("tier_top", "tier_bottom"):
        work = tmp_path / tier / "work"
        net = (work / "sta_net.v").read_text()
        regs = list(flops_of(net))
        alone = analyse(tmp_path / f"{tier}_alone", tier, {f"{tier}.v": net}, (work / "loads.tcl").read_text(),
                        res["clock_ns"], [], [], tier_regs={tier: (regs, regs)})
        own = alone["internal"][tier]
        assert own["found"]
        assert w3["critical_path_ns"] >= own["delay_ns"] - 1e-3


def test_spef_of_the_routed_design_is_what_opensta_times(tiny_ppa):
    """The SPEF extraction (flows/analysis/spef.py) of the routed 2D design: named after the netlist OpenSTA
    reads (it annotates nearly every net, none not found), each net's total C the sum of its caps
    and all of them near qrouter's own total; the timing follows the SPEF's R (scaled up, the
    critical path grows)."""
    import re as re_
    from spikestack.flows.formats.spef import read_spef, scale_spef
    from spikestack.flows.ppa.analysis import spef_2d
    from spikestack.flows.analysis.spef import annotation
    from spikestack.flows.analysis.sta3d import analyse
    tmp_path, res = tiny_ppa
    work = tmp_path / "2d" / "work"
    net = (work / "sta_net.v").read_text()
    top = re_.search(r"^module\s+(\w+)", net, re_.M).group(1)
    text, stats = spef_2d(work, top)
    r = read_spef(text)
    assert r["header"]["*C_UNIT"] == "1 PF" and r["header"]["*R_UNIT"] == "1 OHM"
    assert len(r["nets"]) == stats["nets"] > 100 and stats["bond_vias"] == 0
    assert stats["unmapped"] <= 0.01 * stats["nets"]             # DEF nets with no cell pin (an unused input port)
    assert stats["joined"] <= 0.02 * stats["nets"]               # routed pieces that do not meet: a few
    for n in r["nets"].values():
        assert n["total"] == pytest.approx(sum(n["caps"].values()), rel=1e-4, abs=1e-9)
        assert sum(1 for c in n["conns"] if c[2] == "O") <= 1
    assert sum(n["total"] for n in r["nets"].values()) == pytest.approx(res["2d"]["wire_cap_pf"], rel=0.1)
    crit = {}
    for k in (1.0, 1000.0):
        f = tmp_path / f"spef_r{k:g}.spef"
        f.write_text(scale_spef(text, r=k))
        a = analyse(tmp_path / f"spef_r{k:g}", top, {f"{top}.v": net}, f"read_spef {f}\n", res["clock_ns"], [], [])
        log = (tmp_path / f"spef_r{k:g}" / "logs" / "sta.log").read_text()
        ann = annotation(text, log, {"": net})
        assert ann["not_found"] == 0 and ann["coverage"] >= 0.95 and ann["annotated"] > 100
        crit[k] = a["critical_path_ns"]
    assert crit[1000.0] > crit[1.0] + 0.1


def test_memory_access_path_2d_and_3d(tiny_ppa):
    _, res = tiny_ppa
    w = res["whole_design"]
    for k in ("2d", "3d"):
        m = w[k]["memory_access"]
        assert m["found"] and m["delay_ns"] > 0
        assert w[k]["selection"]["glb_storage"] > 0 and w[k]["selection"]["pe_registers"] > 0
        assert m["delay_ns"] <= w[k]["critical_path_ns"] + 1e-9       # one of the design's paths
    assert w["3d"]["memory_access"]["tiers"] == ["tier_top", "tier_bottom"]   # memory tier -> logic tier
    assert res["ratios_3d_over_2d"]["memory_latency_worst_each"] == pytest.approx(
        w["3d"]["memory_access"]["delay_ns"] / w["2d"]["memory_access"]["delay_ns"])
    # the ratio: the 2D worst path against the path between the same two registers in 3D
    assert w["3d"]["memory_access_matched"]["same_ends_as_2d"]
    assert w["3d"]["memory_access_matched"]["tiers"] == ["tier_top", "tier_bottom"]
    assert res["ratios_3d_over_2d"]["memory_latency"] == pytest.approx(
        w["3d"]["memory_access_matched"]["delay_ns"] / w["2d"]["memory_access"]["delay_ns"])


def test_energy_per_sop_and_plot(tiny_ppa):
    tmp_path, res = tiny_ppa
    assert res["workload"]["sops"] > 0 and res["workload"]["cycles"] > 0
    for k in ("2d", "3d"):
        e = res["whole_design"][k]["energy"]
        assert e["pj_per_sop"] > 0 and e["tsops_per_w"] > 0
        assert e["tsops_per_w"] * e["pj_per_sop"] == pytest.approx(1.0)
        assert 0 < res["workload"]["activity"][k]["mean_toggle_rate"] < 1
        assert res["whole_design"][k]["power_w"]["total"] > 0
    png = tmp_path / "ppa_ratios.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    assert "ppa_ratios.png" in (tmp_path / "ppa.md").read_text()


def test_energy_formula():
    from spikestack.flows.ppa import energy
    p = {"internal": 2e-3, "switching": 1e-3, "leakage": 1e-6, "total": 3.001e-3}
    e = energy(p, cycles=100, sops=400, clock_ns=10.0, fmax_mhz=200.0)
    dyn = 3e-3 * 10.0 * 1e3                                   # pJ per cycle, independent of the clock
    assert e["energy_pj"] == pytest.approx(100 * (dyn + 1e-6 * 5.0 * 1e3))
    assert e["pj_per_sop"] == pytest.approx(e["energy_pj"] / 400) and e["tsops_per_w"] == pytest.approx(1 / e["pj_per_sop"])
    assert energy(p, cycles=100, sops=800, clock_ns=10.0, fmax_mhz=200.0)["pj_per_sop"] < e["pj_per_sop"]


def test_activity_from_simulation(tmp_path):
    """Toggle rates come from the Verilator run: in (0, 1), different for a sparse and a dense
    workload, and matched to the gate netlist's registers by name (TINY_NARROW: the traced build of
    the shared PPA run)."""
    from spikestack.flows.analysis.activity import flops_of, register_activity, simulate_activity
    sparse = simulate_activity(TINY_NARROW, "2d", seed=1, rate=0.05, workdir=tmp_path / "sparse", log=lambda *_: None)
    dense = simulate_activity(TINY_NARROW, "2d", seed=1, rate=0.9, workdir=tmp_path / "dense", log=lambda *_: None)
    for a in (sparse, dense):
        assert 0 < a["mean_toggle_rate"] < 1 and a["sim_cycles_window"] > 0 and a["cycles"] > 0
        assert all(0 <= v <= 1 for v in a["toggles"].values())
    assert sparse["mean_toggle_rate"] != dense["mean_toggle_rate"]
    assert dense["sops"] > sparse["sops"]
    net = "DFFPOSX1 DFFPOSX1_1 ( .CLK(clk), .D(n1), .Q(core_pe_array_pe_0_1_w_3_) );\n"
    key = "core.pe_array.pe_0_1.w[3]"
    assert key in dense["toggles"]
    assert register_activity(flops_of(net), dense["toggles"]) == {"DFFPOSX1_1": dense["toggles"][key]}


def test_stitch_joins_tiers_by_bond_ports():
    from spikestack.flows.analysis.sta3d import loads_3d_tcl, stitch_netlist
    a = ("module ta (clk, x, y);\ninput clk;\ninput [1:0] x;\noutput [1:0] y;\n"
         "BUFX2 BUFX2_1 ( .A(x[0]), .Y(y[0]) );\nBUFX2 BUFX2_2 ( .A(x[1]), .Y(y[1]) );\nendmodule\n")
    b = ("module tb (clk, y, z);\ninput clk;\ninput [1:0] y;\noutput z;\n"
         "AND2X2 AND2X2_1 ( .A(y[0]), .B(y[1]), .Y(z) );\nendmodule\n")
    v, info = stitch_netlist({"ta": a, "tb": b}, "top3d", ["y"])
    assert info["bonds"] == {"y": ("ta", "tb", 1, 0)} and set(info["inputs"]) == {"clk", "x"}
    assert "ta ta (.clk(clk), .x(x), .y(y));" in v and "wire [1:0] y;" in v
    with pytest.raises(FlowError, match="F2F map"):
        stitch_netlist({"ta": a, "tb": b}, "top3d", ["y", "w"])
    rc = {"ta": "y[0] 1 BUFX2_1/Y 1 ( 1.0 0.002 PIN/y[0] )\nclk 1 PIN/clk 1 ( 1.0 0.004 BUFX2_1/A )\n",
          "tb": "y[0] 1 PIN/y[0] 1 ( 1.0 0.003 AND2X2_1/A )\nclk 1 PIN/clk 1 ( 1.0 0.001 AND2X2_1/B )\n"}
    tcl, bits = loads_3d_tcl(rc, info, 0.0006)
    assert bits["y[0]"]["driver"] == "ta/BUFX2_1/Y"
    assert "set_load 0.0056 [get_nets -of_objects [get_pins {ta/BUFX2_1/Y}]]" in tcl   # 2 + 0.6 + 3 fF
    assert "set_load 0.005 [get_nets {clk}]" in tcl                                    # both tiers' clk wire


def test_sram_macros_are_glb_storage():
    """SRAM macro instances, renamed after their cell by synthesis, count as GLB storage."""
    from spikestack.flows.analysis.sta3d import select_instances, sram_instances
    net = ("spikestack_sram_2x3_w1r1 spikestack_sram_2x3_w1r1_1 ( .clk(clk), .r0_dout0(_1) );\n"
           "DFFPOSX1 DFFPOSX1_1 ( .CLK(clk), .D(n1), .Q(core_pe_array_pe_0_1_w_6_) );\n"
           "NAND2X1 NAND2X1_1 ( .A(_1), .B(n1), .Y(n2) );\n")
    assert sram_instances(net) == ["spikestack_sram_2x3_w1r1_1"]
    assert sram_instances(net, "tier_top/") == ["tier_top/spikestack_sram_2x3_w1r1_1"]
    assert select_instances(net, ["activation_glb"]) == []


@pytest.mark.slow
def test_hierarchical_ppa_assembles_from_hardened_pes(tiny_ppa, tmp_path):
    """``harden="pe"``: the PE is hardened once (LEF + liberty), the 2D top and the logic tier are
    placed and routed with its macros, and the whole-design STA times paths into them."""
    _, flat = tiny_ppa
    res = ppa_for_config(TINY, tmp_path, harden="pe", common_footprint=True, log=lambda *_: None)
    h = res["hierarchy"]
    assert h["grain"] == "pe" and list(h["macros"]) == ["pe_macro"]
    pe = h["macros"]["pe_macro"]
    assert pe["instances_2d"] == 2 and pe["cells"] > 100
    r2 = res["2d"]
    assert r2["macros"] == 2 and r2["failed_routes"] == 0
    assert r2["macro_cells"]["pe_macro"]["kind"] == "block"
    # the PEs' cells left the top: the flat top's cells = the glue + 2 hardened PEs (synthesis
    # of a block alone and inside the top differ by a few buffers)
    assert r2["cells"] + 2 * pe["cells"] == pytest.approx(flat["2d"]["cells"], rel=0.1)
    assert r2["macro_area_um2"] == pytest.approx(2 * pe["size_um"][0] * pe["size_um"][1])
    assert r2["macro_power_w"] > 0
    # the logic tier has the PEs (hardened for its bus-port interface), the memory tier none
    tiers = res["3d"]["tiers"]
    assert tiers["tier_bottom"]["macros"] == 2 and tiers["tier_top"]["macros"] == 0
    assert h["instances"]["tier_bottom"] == {"pe_macro": 0} and "tier_bottom" in h.get("tier_macros", {})
    for k in ("2d", "3d"):
        w = res["whole_design"][k]
        assert w["worst_path"]["found"] and w["fmax_mhz"] > 10
        assert w["memory_access"]["found"]
    assert res["ratios_3d_over_2d"]["footprint"] > 0
    # one 3D footprint: the smaller tier was spread towards the larger one's die
    cf = res["3d"]["common_footprint"]
    dies = {t: tiers[t]["die_area_um2"] for t in tiers}
    assert dies[cf["tier"]] == cf["die_um2"] and dies[cf["target_tier"]] == cf["target_um2"]
    if cf["density"] is not None:
        assert cf["first_die_um2"] < 0.95 * cf["target_um2"] and cf["die_um2"] > cf["first_die_um2"]
        assert 0.8 < cf["die_um2"] / cf["target_um2"] < 1.3
        assert tiers[cf["tier"]]["failed_routes"] == 0
    assert res["3d"]["footprint_um2"] == max(dies.values())
    assert "Common footprint" in (tmp_path / "ppa.md").read_text()


@pytest.mark.slow                                   # a full hierarchical flow: 2-3 min
def test_two_level_hierarchy_block_built_from_pe_macros(tmp_path):
    """``blocks=["core"], harden="pe"``: the PE is hardened inside the core's own netlist, the core
    is hardened from those PE macros (placed, routed and characterised through the PE model), and
    the 2D top and the logic tier place the same core macro; every top-level port has a location
    in dies that hold macros, and the whole-design STA times GLB -> core macro."""
    res = ppa_for_config(TINY_NARROW, tmp_path, harden="pe", blocks=["core"], log=lambda *_: None)
    h = res["hierarchy"]
    core = h["blocks"]["core"]
    assert core["cell"] == "core_block" and core["macros"] == 2          # the two PEs, as macros
    assert list(core["inner"]["pe"]["macros"]) == ["core_pe_macro"]
    assert core["inner"]["pe"]["macros"]["core_pe_macro"]["instances"] == 2
    lef = (tmp_path / "blocks" / "core" / "core_block.lef").read_text()
    assert "LAYER metal4 ;" in lef.split("  OBS", 1)[1]
    lib = (tmp_path / "blocks" / "core" / "core_block.lib").read_text()
    assert "setup_rising" in lib and "rising_edge" in lib
    r2, tiers = res["2d"], res["3d"]["tiers"]
    assert r2["macro_cells"]["core_block"]["count"] == 1 and r2["failed_routes"] == 0
    assert tiers["tier_bottom"]["macro_cells"]["core_block"]["count"] == 1
    assert "core_block" not in tiers["tier_top"].get("macro_cells", {})
    assert h["instances"]["2d"]["core_block"] == 1 and h["instances"]["tier_bottom"]["core_block"] == 1
    for name in ("2d", "tier_top", "tier_bottom"):
        d = (tmp_path / name / "work" / f"{name if name != '2d' else r2['top']}.def").read_text()
        pins = re.search(r"^PINS (\d+) ;(.*?)^END PINS", d, re.S | re.M)
        assert pins and int(pins.group(1)) > 0
        assert len(re.findall(r"\+ PLACED", pins.group(2))) >= int(pins.group(1)) - 2    # vdd/gnd may be unplaced
    for k in ("2d", "3d"):
        w = res["whole_design"][k]
        assert w["worst_path"]["found"] and w["memory_access"]["found"]
        assert w["selection"]["pe_registers"] >= 1                      # the core macro ends the path
    md = (tmp_path / "ppa.md").read_text()
    assert "Design blocks hardened alone" in md and "| core | core_block | core_pe_macro (" in md


def test_prelayout_energy_below_the_routed_run(tiny_ppa, tmp_path):
    """Pre-layout energy of TINY_NARROW end to end (the flow's synthesis, the Verilator activity, OpenSTA):
    without wire C its dynamic power is below the routed 2D design's (same netlist flow, same
    workload, qrouter's wire C); the fanout wire model adds switching power; the energy is the
    routed flow's formula on the same cycles and SOPs."""
    from spikestack.flows.ppa import energy
    from spikestack.flows.ppa.prelayout import prelayout_energy
    _, ppa = tiny_ppa
    res = prelayout_energy(TINY_NARROW, tmp_path, sram_macros=False, log=lambda *_: None)
    routed = ppa["whole_design"]["2d"]
    none, fan = res["models"]["none"], res["models"]["fanout"]
    assert res["synthesis"]["cells"] > 0 and res["synthesis"]["macros"] == 0
    assert res["workload"]["cycles"] == ppa["workload"]["cycles"] and res["workload"]["sops"] == ppa["workload"]["sops"]
    dyn = {k: r["power_w"]["internal"] + r["power_w"]["switching"] for k, r in
           (("none", none), ("fanout", fan), ("routed", routed))}
    assert 0 < dyn["none"] < dyn["routed"]
    assert none["wire"]["total_c_pf"] == 0 < fan["wire"]["total_c_pf"]
    assert none["power_w"]["switching"] < fan["power_w"]["switching"]
    assert none["fmax_mhz"] >= fan["fmax_mhz"] > 0                      # wire C only slows the paths
    e = energy(fan["power_w"], res["workload"]["cycles"], res["workload"]["sops"], 10.0, fan["fmax_mhz"])
    assert fan["energy"]["pj_per_sop"] == pytest.approx(e["pj_per_sop"])
    s = fan["per_sop"]
    assert s["dynamic_pj_per_sop"] + s["leakage_pj_per_sop"] == pytest.approx(e["pj_per_sop"])
    assert json.loads((tmp_path / "energy.json").read_text())["models"]["none"]["energy"] == none["energy"]
    assert "ODIN" in (tmp_path / "energy.md").read_text()
    again = prelayout_energy(TINY_NARROW, tmp_path, models=("none",), sram_macros=False, log=lambda *_: None)
    assert again["synthesis"] == res["synthesis"]                       # kept, not synthesised again
    assert again["models"]["none"]["power_w"] == none["power_w"]


def test_large_designs_route_without_the_clean_up_stage():
    """qrouter's stage 3 re-routes every net searching the whole die: left out above
    ``knobs.cleanup_nets`` nets (the cfg line qflow writes, with its nocleanup argument)."""
    from spikestack.flows.builtin.platform import OSU018
    n = OSU018.knobs.cleanup_nets
    assert route_cleanup(f"DESIGN x ;\nNETS {n} ;\n") and not route_cleanup(f"DESIGN x ;\nNETS {n + 1} ;\n")
    assert standard_route("t_route.def", True) == "qrouter::standard_route t_route.def false"
    assert standard_route("t_route.def", False) == "qrouter::standard_route t_route.def false true"


def _picture_checked(path):
    """A layout picture that is not blank: varied pixels in many colours."""
    import matplotlib.image as mpimg
    import numpy as np
    img = mpimg.imread(str(path))[..., :3]
    assert img.shape[0] > 200 and img.shape[1] > 300, img.shape
    assert img.std() > 0.05, f"{path.name}: nearly uniform"
    colours = np.unique((img * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50, f"{path.name}: {len(colours)} colours"
    return (img * 255).astype(int)


def _has_colour(img, hex_colour, at_least=50):
    rgb = [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]
    return int((abs(img - rgb).sum(axis=2) < 40).sum()) >= at_least


def test_layout_pictures_of_each_design_are_drawn(tiny_ppa):
    """ppa.md shows the routed 2D design, each tier and both tiers overlaid with the bond pins, each
    drawn from its DEF and LEFs with the tiers' metals in their colours."""
    from spikestack.flows.ppa.layout import _METALS
    out, res = tiny_ppa
    pics = res["layouts"]
    assert set(pics) == {"2d", "tier_bottom", "tier_top", "3d"}, pics
    md = (out / "ppa.md").read_text()
    imgs = {}
    for key, name in pics.items():
        assert f"]({name})" in md
        imgs[key] = _picture_checked(out / name)
    bottom, top = _METALS["metal2"]
    assert _has_colour(imgs["2d"], bottom) and _has_colour(imgs["tier_bottom"], bottom)
    assert _has_colour(imgs["tier_top"], top) and not _has_colour(imgs["tier_top"], bottom, 1)
    assert _has_colour(imgs["3d"], bottom) and _has_colour(imgs["3d"], top)
    assert _has_colour(imgs["3d"], "#ffd700", 20), "no bond markers"


def test_a_flat_design_that_leaves_failed_routes_is_placed_again_sparser(tmp_path, monkeypatch):
    """flows/ppa/steps.run_job: a first placement with failed routes is placed again at each of the
    knob's densities in turn until one routes; the report keeps every attempt and counts its time.
    (The flow itself is the real one in the slow co-placed tiny-MoE test; here its outcomes.)"""
    from spikestack.flows.ppa import steps
    from spikestack.flows.ppa.options import FlowJob
    from spikestack.flows.ppa.report import _steps_md
    outcomes = iter([(56, 0.90, 1000.0), (3, 0.71, 1300.0), (0, 0.58, 1600.0)])
    calls = []

    def flow(text, top, out_dir, *args, project_vars=None, **kw):
        failed, util, die = next(outcomes)
        calls.append(project_vars)
        out_dir.mkdir(parents=True, exist_ok=True)
        return {"top": top, "cells": 8856, "failed_routes": failed, "utilisation": util, "die_area_um2": die,
                "total_seconds": 100.0, "step_seconds": {}, "cells_per_second": None}
    monkeypatch.setattr(steps, "run_flow", flow)
    rep = steps.run_job(FlowJob("2d", "module m; endmodule", "m"), tmp_path, 10.0, 0.1, lambda *_: None)
    assert calls == [None] + [{"initial_density": f"{d:.3f}"} for d in steps.OSU018.knobs.decongest_densities]
    assert rep["failed_routes"] == 0 and rep["total_seconds"] == 300.0
    assert [a["failed_routes"] for a in rep["decongest"]] == [56, 3, 0]
    assert [a["density"] for a in rep["decongest"]] == [None, *steps.OSU018.knobs.decongest_densities]
    assert json.loads((tmp_path / "2d" / "ppa.json").read_text())["decongest"] == rep["decongest"]
    assert "placed again to route" in "\n".join(_steps_md([rep]))
    # a routed first placement, or a placement the caller chose, is not placed again
    outcomes = iter([(4, 0.9, 1000.0)])
    calls.clear()
    assert steps.run_job(FlowJob("2d", "", "m"), tmp_path, 10.0, 0.1, print, project_vars={"x": "1"})["failed_routes"] == 4
    assert calls == [{"x": "1"}]
