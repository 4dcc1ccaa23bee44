"""The SPEF extraction of routed DEFs (flows/analysis/spef.py) and its writer/reader (flows/formats/spef.py):
on a hand-made routed two-tier DEF over the combined stack, and read by OpenSTA on the stitched
netlist. The same extraction on a real routed design is tested in test_flow.py (shared PPA run)."""
import subprocess

import pytest

from spikestack.flows.coplace.extract import net_caps
from spikestack.flows.coplace.stack import BOND_VIA, combined_lef
from spikestack.flows.formats.spef import SpefNet, read_spef, scale_spef, spef_name, write_spef
from spikestack.flows.builtin.platform import OSU018, FlowError
from spikestack.flows.analysis.spef import PIN_R_OHM, annotation, pin_shapes, spef_for
from spikestack.flows.analysis.sta3d import stitch_netlist

BOND_R, BOND_C = 3.0, 0.6e-3


def bond_paths(net: dict, driver: str, r_bond: float) -> tuple[set[str], set[str]]:
    """(nodes reached from ``driver`` without crossing a resistor of ``r_bond``, all nodes)."""
    adj = {}
    for a, b, r in net["res"]:
        adj.setdefault(a, set())
        adj.setdefault(b, set())
        if r != r_bond:
            adj[a].add(b)
            adj[b].add(a)
    seen, todo = set(), [driver]
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo += adj.get(n, ())
    return seen, set(adj)


def test_writer_and_reader_agree_and_escape_names():
    n = SpefNet("tier_bottom/a.b$1", [("*I", "tier_bottom/U1:Y", "O", None), ("*P", "out[3]", "O", None)],
                {"tier_bottom/U1:Y": 0.001, "n:1": 0.002}, [("tier_bottom/U1:Y", "n:1", 4.5), ("n:1", "out[3]", 1.0)])
    spef = write_spef("top", [n])
    r = read_spef(spef)
    assert r["header"]["*DIVIDER"] == "/" and r["header"]["*DELIMITER"] == ":" and r["header"]["*C_UNIT"] == "1 PF"
    assert spef_name("tier_bottom/a.b$1") == r"tier_bottom/a\.b\$1" and spef_name("\\x.y ") == r"x\.y"
    net = r["nets"][r"tier_bottom/a\.b\$1"]
    assert net["total"] == pytest.approx(0.003) == pytest.approx(sum(net["caps"].values()))
    assert net["conns"] == [("*I", "tier_bottom/U1:Y", "O"), ("*P", "out[3]", "O")] and len(net["res"]) == 2
    s = read_spef(scale_spef(spef, r=10.0, c=2.0))["nets"][r"tier_bottom/a\.b\$1"]
    assert [x[2] for x in s["res"]] == [45.0, 10.0] and s["total"] == pytest.approx(0.006)


def _two_tier_design():
    """Two tiers in one footprint: a bond ``b0`` from the memory tier's inverter to the logic
    tier's, up the bottom stack, through the bond via and down the mirrored stack; a logic-tier
    net with a T junction to two sinks; a chip input used on the logic tier."""
    std = OSU018.stdcell_lef.read_text()
    lef = combined_lef(std, [], {"INVX1"}, 1.0, BOND_R)
    g = pin_shapes([std])["INVX1"]["pins"]
    (_, ax0, ay0, ax1, ay1), (_, yx0, _, yx1, _) = g["A"][0], g["Y"][0]
    ax, ay = int((ax0 + ax1) / 2 * 100), int((ay0 + ay1) / 2 * 100)          # A at (40, 230)
    yx = int((yx0 + yx1) / 2 * 100)                                         # Y at x = 120
    ups = " ".join(f"NEW metal{k} ( {ax} {ay} ) M{k + 1}_M{k}" for k in range(2, 6))
    downs = " ".join(f"NEW metal{k}b ( {yx} {ay} ) M{k}_M{k - 1}B" for k in range(6, 1, -1))
    routed = f"""VERSION 5.6 ;
DIVIDERCHAR "/" ;
BUSBITCHARS "[]" ;
DESIGN t_3d ;
UNITS DISTANCE MICRONS 100 ;
DIEAREA ( 0 0 ) ( 4000 2000 ) ;
COMPONENTS 5 ;
- T_U1 INVX1_T + PLACED ( 0 0 ) N ;
- B_U1 INVX1 + PLACED ( 0 0 ) N ;
- B_U2 INVX1 + PLACED ( 1000 0 ) N ;
- B_U3 INVX1 + PLACED ( 2000 0 ) N ;
- B_U4 INVX1 + PLACED ( 3000 0 ) N ;
END COMPONENTS
PINS 1 ;
- a + NET a + DIRECTION INPUT + USE SIGNAL
  + LAYER metal2 ( -15 -15 ) ( 15 15 )
  + PLACED ( 3000 2000 ) N ;
END PINS
NETS 3 ;
- b0
  ( T_U1 Y ) ( B_U1 A )
+ ROUTED metal1 ( {ax} {ay} ) M2_M1
  {ups}
  NEW metal6 ( {ax} {ay} ) ( {yx} * ) {BOND_VIA}
  {downs}
;
- B_n1
  ( B_U1 Y ) ( B_U2 A ) ( B_U3 A )
+ ROUTED metal1 ( {yx} 500 ) ( * 800 ) M2_M1
  NEW metal2 ( {yx} 800 ) ( {2000 + ax} * ) M2_M1
  NEW metal1 ( {2000 + ax} 800 ) ( * {ay} )
  NEW metal2 ( {1000 + ax} 800 ) M2_M1
  NEW metal1 ( {1000 + ax} 800 ) ( * {ay} )
;
- a
  ( PIN a ) ( B_U4 A )
+ ROUTED metal2 ( 3000 2000 ) ( * {ay} ) ( {3000 + ax} * ) M2_M1
;
END NETS
END DESIGN
"""
    top = "module tier_top (x, b0);\ninput x;\noutput b0;\nINVX1 U1 ( .A(x), .Y(b0) );\nendmodule\n"
    bottom = ("module tier_bottom (a, b0, y2, y3, y4);\ninput a;\ninput b0;\noutput y2;\noutput y3;\noutput y4;\n"
              "INVX1 U1 ( .A(b0), .Y(n_1) );\nINVX1 U2 ( .A(n_1), .Y(y2) );\nINVX1 U3 ( .A(n_1), .Y(y3) );\n"
              "INVX1 U4 ( .A(a), .Y(y4) );\nendmodule\n")
    return routed, lef, {"tier_top/": top, "tier_bottom/": bottom}


def test_bond_net_is_one_rc_tree_through_the_bond_via():
    routed, lef, nets = _two_tier_design()
    spef, stats = spef_for(routed, lef, nets, {"T_": "tier_top/", "B_": "tier_bottom/"}, BOND_R, BOND_C, "t_3d")
    assert stats["bond_vias"] == 1 and stats["joined"] == 0 and stats["unmapped"] == 0
    r = read_spef(spef)
    assert set(r["nets"]) == {"b0", "tier_bottom/n_1", "a"}        # named after the stitched netlist
    lumped = net_caps(routed, lef)
    for name, net in r["nets"].items():
        assert net["total"] == pytest.approx(sum(net["caps"].values()), rel=1e-5)
    # the SPEF's C is the lumped extraction's (+ the bond's C on the bond net)
    assert r["nets"]["b0"]["total"] == pytest.approx(lumped["b0"] + BOND_C, rel=1e-4)
    assert r["nets"]["tier_bottom/n_1"]["total"] == pytest.approx(lumped["B_n1"], rel=1e-4)
    b0 = r["nets"]["b0"]
    assert ("*I", "tier_top/U1:Y", "O") in b0["conns"] and ("*I", "tier_bottom/U1:A", "I") in b0["conns"]
    near, every = bond_paths(b0, "tier_top/U1:Y", BOND_R)
    assert "tier_bottom/U1:A" in every and "tier_bottom/U1:A" not in near     # only through the bond's R
    assert sum(1 for *_, x in b0["res"] if x == BOND_R) == 1
    # the driver -> sink resistance: the wires' RPERSQ x length / width, 10 vias, the bond
    wire_r = (0.03 / 0.5) * abs(120 - 40) / 100 * 1                          # metal6 piece
    assert sum(x for *_, x in b0["res"]) == pytest.approx(wire_r + 10 * 5.0 + BOND_R + 2 * PIN_R_OHM, rel=1e-3)
    # the T junction: the metal2 trunk is cut where the middle sink's via lands, one tree
    n1 = r["nets"]["tier_bottom/n_1"]
    near, every = bond_paths(n1, "tier_bottom/U1:Y", -1.0)
    assert {"tier_bottom/U2:A", "tier_bottom/U3:A"} <= near
    assert ("*P", "a", "I") in r["nets"]["a"]["conns"] and ("*I", "tier_bottom/U4:A", "I") in r["nets"]["a"]["conns"]


def test_opensta_annotates_every_net_of_the_stitched_netlist(tmp_path):
    routed, lef, nets = _two_tier_design()
    spef, _ = spef_for(routed, lef, nets, {"T_": "tier_top/", "B_": "tier_bottom/"}, BOND_R, BOND_C, "t_3d")
    top, _ = stitch_netlist({"tier_top": nets["tier_top/"], "tier_bottom": nets["tier_bottom/"]}, "t_3d", ["b0"])
    for name, text in (("tier_top.v", nets["tier_top/"]), ("tier_bottom.v", nets["tier_bottom/"]), ("t_3d.v", top)):
        (tmp_path / name).write_text(text)
    (tmp_path / "t.spef").write_text(spef)
    bad = spef.replace("*D_NET tier_bottom/n_1", "*D_NET tier_bottom/no_such_net")
    (tmp_path / "bad.spef").write_text(bad)
    for f in ("t", "bad"):
        (tmp_path / f"{f}.tcl").write_text(f"read_liberty {OSU018.liberty}\nread_verilog tier_top.v\n"
                                           f"read_verilog tier_bottom.v\nread_verilog t_3d.v\nlink_design t_3d\n"
                                           f"read_spef {f}.spef\n")
    logs = {f: subprocess.run(["sta", "-exit", f"{f}.tcl"], cwd=tmp_path, capture_output=True, text=True).stdout
            for f in ("t", "bad")}
    a = annotation(spef, logs["t"], nets)
    assert "not found" not in logs["t"] and a["annotated"] == a["netlist_nets"] == 2 and a["coverage"] == 1.0
    with pytest.raises(FlowError, match="annotated 1 of 2 nets"):
        annotation(bad, logs["bad"], nets)


def test_tiers_extracted_alone_are_joined_at_their_bond_pins():
    """The independent method: each tier's SPEF nets (a bond port and a chip input on both tiers)
    stitched into one net each: a bond through the bond's R and C between the two area pins, no
    port left; a shared input one net from its port; nodes renumbered per net."""
    from spikestack.flows.analysis.spef import stitch_spef
    top = [SpefNet("b0", [("*I", "tier_top/U1:Y", "O", None), ("*P", "b0", "O", None)],
                   {"b0:1": 0.002, "b0:2": 0.001}, [("tier_top/U1:Y", "b0:1", 0.01), ("b0:1", "b0:2", 7.0),
                                                    ("b0:2", "b0", 0.01)]),
           SpefNet("clk", [("*P", "clk", "I", None), ("*I", "tier_top/U5:CLK", "I", None)],
                   {"clk:1": 0.003}, [("clk", "clk:1", 0.01), ("clk:1", "tier_top/U5:CLK", 0.01)]),
           SpefNet("tier_top/n1", [("*I", "tier_top/U2:Y", "O", None)], {"tier_top/n1:1": 0.001}, [])]
    bottom = [SpefNet("b0", [("*P", "b0", "I", None), ("*I", "tier_bottom/U1:A", "I", None)],
                      {"b0:1": 0.004}, [("b0", "b0:1", 0.01), ("b0:1", "tier_bottom/U1:A", 0.01)]),
              SpefNet("clk", [("*P", "clk", "I", None), ("*I", "tier_bottom/U7:CLK", "I", None)],
                      {"clk:1": 0.005}, [("clk", "clk:1", 0.01), ("clk:1", "tier_bottom/U7:CLK", 0.01)])]
    text, st = stitch_spef({"tier_top": top, "tier_bottom": bottom}, {"b0"}, BOND_R, BOND_C, "t_3d")
    assert st == {"nets": 3, "bonds_joined": 1, "inputs_joined": 1, "bonds_one_tier": 0}
    r = read_spef(text)["nets"]
    b0 = r["b0"]
    assert [c[0] for c in b0["conns"]] == ["*I", "*I"]                       # the bond is a wire of the top
    assert b0["total"] == pytest.approx(0.007 + BOND_C)
    nodes = {x for a, b, _ in b0["res"] for x in (a, b)} | set(b0["caps"])
    assert all(n.startswith("tier_") or n.split(":")[1].isdigit() for n in nodes)
    near, every = bond_paths(b0, "tier_top/U1:Y", BOND_R)
    assert "tier_bottom/U1:A" in every and "tier_bottom/U1:A" not in near
    clk = r["clk"]
    assert ("*P", "clk", "I") in clk["conns"] and len(clk["conns"]) == 3
    near, _ = bond_paths(clk, "clk", BOND_R)
    assert {"tier_top/U5:CLK", "tier_bottom/U7:CLK"} <= near
    assert r["tier_top/n1"]["total"] == pytest.approx(0.001)
