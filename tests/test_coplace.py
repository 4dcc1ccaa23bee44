"""Co-placed pseudo-3D (flows/coplace): the combined stack, the attractors, the routed bonds.

Fast tests on the pieces; the end-to-end run (one qrouter run over both tiers) is `slow`."""
import json
import math

import pytest

from spikestack.flows.coplace.attract import ATTRACT_PREFIX, add_attractors, row_positions, strip_attractors
from spikestack.flows.coplace.merge import combined_def, read_routes
from spikestack.flows.formats.def_ import def_stats
from spikestack.flows.coplace.run import min_distance, split_rc
from spikestack.flows.coplace.stack import BOND_LAYER, BOND_VIA, combined_lef, mirror_macro, routing_layers
from spikestack.flows.builtin.platform import OSU018


def test_combined_stack_is_twelve_layers_with_the_bond_cut_between_the_tops():
    std = OSU018.stdcell_lef.read_text()
    lef = combined_lef(std, [], {"NAND2X1"}, 1.0, 3.0)
    layers = routing_layers(lef)
    assert layers == [f"metal{i}" for i in range(1, 7)] + [f"metal{i}b" for i in range(6, 0, -1)]
    # the bond cut sits between metal6 and metal6b, with the bond's R and a spacing from its pitch
    i6, ib, i6b = lef.index("LAYER metal6\n"), lef.index(f"LAYER {BOND_LAYER}\n"), lef.index("LAYER metal6b\n")
    assert i6 < ib < i6b and "RESISTANCE 3 ;" in lef[ib:i6b]
    assert f"VIA {BOND_VIA} DEFAULT" in lef
    top = lef[lef.index("MACRO NAND2X1_T"):]
    top = top[:top.index("END NAND2X1_T")]
    assert "LAYER metal1b ;" in top and "LAYER metal1 ;" not in top
    assert "MACRO NAND2X1\n" in lef                       # the logic tier's own cell stays
    with pytest.raises(ValueError, match="top-tier cells"):
        combined_lef(std, [], {"NO_SUCH_CELL"}, 1.0, 3.0)


def test_routing_groups_keep_each_tier_net_to_its_own_metals():
    """The 3D nets (bonds, inputs of both tiers) first over all 12 layers; then the logic tier's nets
    with the six mirrored metals closed; then the memory tier's with metal1-6 closed; no net twice,
    none left out, an empty group dropped."""
    from spikestack.flows.coplace.route import layer_groups
    lef = combined_lef(OSU018.stdcell_lef.read_text(), [], {"NAND2X1"}, 1.0, 3.0)
    kinds = {"b0": "bond", "clk": "shared_input", "t1": "tier_top", "l1": "tier_bottom", "l2": "tier_bottom"}
    groups = layer_groups(kinds, lef)
    assert [(g, n) for g, n, _ in groups] == [("3d", {"b0", "clk"}), ("tier_bottom", {"l1", "l2"}), ("tier_top", {"t1"})]
    closed = {g: c for g, _, c in groups}
    assert closed["3d"] == []
    assert closed["tier_bottom"] == [f"metal{i}b" for i in range(6, 0, -1)]
    assert closed["tier_top"] == [f"metal{i}" for i in range(1, 7)]
    assert [g for g, *_ in layer_groups({"l1": "tier_bottom"}, lef)] == ["tier_bottom"]
    # a retry: the tier nets that failed behind the 3D nets go first, in their own tier's metals
    again = layer_groups(kinds, lef, first={"tier_bottom": {"l2"}})
    assert [(g, n) for g, n, _ in again] == [("tier_bottom_first", {"l2"}), ("3d", {"b0", "clk"}),
                                              ("tier_bottom", {"l1"}), ("tier_top", {"t1"})]
    assert again[0][2] == closed["tier_bottom"]


def test_a_group_counts_only_its_own_failed_nets():
    """qrouter's last list of failed nets is read from its log; a net of an earlier group that a
    later group's run lists (its pin under the metals closed to that group: "has no taps") is that
    group's route, kept, and not a failure of the later group (moe_ppa_small's co-placed memory tier
    listed the bond net expert_core_0__w_rd__addr[4] that the 3D group had routed)."""
    from spikestack.flows.builtin.routing import failed_net_list, failed_routes
    from spikestack.flows.coplace.route import group_failures
    log = ("Failed net routes: 3\nList of failed nets follows:\n a\n b\n c\n\n----\n"
           "Final: Failed net routes: 2\nList of failed nets follows:\n t1\n bus[4]\n\n"
           "----------------------------------------------\n*** Writing RC file x.rc\n")
    assert failed_routes(log) == 2 and failed_net_list(log) == ["t1", "bus[4]"]
    assert failed_net_list("Final: No failed routes!\n") == []
    assert group_failures(2, ["t1", "bus[4]"], {"t1", "t2"}) == (1, {"t1"}, {"bus[4]"})
    assert group_failures(1, ["bus[4]"], {"t1", "t2"}) == (0, set(), {"bus[4]"})
    assert group_failures(1, [], {"t1"}) == (1, set(), set())          # no list: the count stands
    assert group_failures(None, ["t1"], {"t1"}) == (None, set(), set())


def test_mirrored_macro_keeps_its_geometry():
    m = "MACRO X\n  SIZE 1 BY 2 ;\n  PIN A\n    PORT\n      LAYER metal2 ;\n        RECT 0 0 1 1 ;\n    END\n  END A\nEND X\n"
    t = mirror_macro(m)
    assert t.startswith("MACRO X_T") and t.rstrip().endswith("END X_T") and "LAYER metal2b ;" in t
    assert "RECT 0 0 1 1" in t and "SIZE 1 BY 2" in t


CEL = """cell 0 A_1
left -40 right 40 bottom -500 top 500
pin name Y signal n1 layer 1 0 0
cell 1 B_1
left -40 right 40 bottom -500 top 500
pin name A signal bond0 layer 1 0 0
pad 1 name twpin_bond0
corners 4 -40 -50 -40 50 40 50 40 -50
pin name bond0 signal bond0 layer 1 0 0

pad 2 name twpin_clk
corners 4 -40 -50 -40 50 40 50 40 -50
pin name clk signal clk layer 1 0 0
"""


def test_attractor_replaces_the_bond_pad_and_is_taken_out_again():
    new, n = add_attractors(CEL, {"bond0": (3, 1200)})
    assert n == 1
    assert "twpin_bond0" not in new and "pad 1 name twpin_clk" in new        # pads renumbered
    assert f"cell 2 {ATTRACT_PREFIX}1\ninitially fixed 1200 from left of block 3\nleft 0 right 0" in new
    assert "pin name A signal bond0 layer 1 0 0" in new
    assert strip_attractors(f"{ATTRACT_PREFIX}1 0 0 0 0 0 3\nA_1 1 2 3 4 0 1\n") == "A_1 1 2 3 4 0 1\n"


def test_attractor_rows():
    pl2 = "1 0 0 1000 1000 0 0\n2 0 1000 1100 2000 0 0\n"
    assert row_positions(pl2, {"p": (300, 1600), "q": (5000, -50)}) == {"p": (2, 300), "q": (1, 970)}


def _def(die, comps, nets, pins=""):
    c = "\n".join(f"- {i} {cell} + PLACED ( {x} {y} ) N ;" for i, cell, x, y in comps)
    n = "\n".join(f"- {k}\n  " + " ".join(f"( {a} {b} )" for a, b in t) + "\n;" for k, t in nets.items())
    return (f"VERSION 5.6 ;\nBUSBITCHARS \"[]\" ;\nDESIGN t ;\nUNITS DISTANCE MICRONS 100 ;\n"
            f"DIEAREA ( 0 0 ) ( {die} {die} ) ;\nTRACKS Y 50 DO 10 STEP 100 LAYER metal1 ;\n"
            f"COMPONENTS {len(comps)} ;\n{c}\nEND COMPONENTS\nPINS 1 ;\n{pins}END PINS\nNETS {len(nets)} ;\n{n}\nEND NETS\n")


def test_combined_def_joins_bonds_and_keeps_tier_nets_apart():
    """A bond is one net across the tiers, with or without a pin on either tier (the logic tier
    placed with attractors has none: its net is named after the port)."""
    pin = "- clk + NET clk\n  + LAYER metal2 ( -15 -15 ) ( 15 15 )\n  + PLACED ( 100 0 ) N ;\n"
    top = _def(2000, [("U1", "INVX1", 100, 100), ("FILL_1", "FILL", 0, 0)],
               {"b0": [("PIN", "b0"), ("U1", "Y")], "n1": [("U1", "A"), ("U1", "Y")], "clk": [("PIN", "clk"), ("U1", "A")]},
               pin)
    bot = _def(4000, [("U1", "INVX1", 300, 300), ("U2", "INVX1", 500, 300)],
               {"b0": [("U1", "A")], "n1": [("U1", "Y"), ("U2", "A")], "clk": [("PIN", "clk"), ("U2", "A")]},
               pin)
    text, info = combined_def({"tier_top": top, "tier_bottom": bot}, {"b0"}, "t3d")
    assert info["kinds"] == {"b0": "bond", "T_n1": "tier_top", "clk": "shared_input", "B_n1": "tier_bottom"}
    assert info["terms"]["b0"] == [("T_U1", "Y"), ("B_U1", "A")]            # no pin: the router picks the bond
    assert ("PIN", "clk") in info["terms"]["clk"] and "- T_U1 INVX1_T" in text and "FILL" not in text
    assert info["offsets"]["tier_top"] == (800, 800)          # centres aligned on the 8 um grid
    assert "TRACKS Y 50 DO 40 STEP 100 LAYER metal1b ;" in text


def test_bonds_read_from_the_routed_def():
    routed = ("UNITS DISTANCE MICRONS 100 ;\nNETS 2 ;\n- b0\n  ( T_U1 Y ) ( B_U1 A )\n"
              f"+ ROUTED metal6 ( 1000 2000 ) ( * 2500 ) {BOND_VIA}\n  NEW metal6b ( 1000 2500 ) ( 1600 * )\n;\n"
              "- B_n1\n  ( B_U1 Y ) ( B_U2 A )\n+ ROUTED metal1 ( 0 0 ) ( 300 * ) M2_M1\n;\nEND NETS\n")
    r = read_routes(routed)
    assert r["b0"]["bonds"] == [(1000.0, 2500.0)] and r["B_n1"]["bonds"] == []
    assert r["b0"]["length"] == {"metal6": 500.0, "metal6b": 600.0} and r["B_n1"]["length"] == {"metal1": 300.0}
    # a statement without a via, then more: none is lost (an earlier reader took the next "NEW" for a via)
    chain = ("UNITS DISTANCE MICRONS 100 ;\nNETS 1 ;\n- b1\n  ( T_U1 Y ) ( B_U1 A )\n"
             "+ ROUTED metal2 ( 0 0 ) ( 0 400 )\n  NEW metal3 ( 0 400 ) ( 700 * )\n"
             f"  NEW metal6 ( 700 400 ) {BOND_VIA}\n  NEW metal6b ( 700 400 ) ( * 100 )\n;\nEND NETS\n")
    r = read_routes(chain)["b1"]
    assert r["length"] == {"metal2": 400.0, "metal3": 700.0, "metal6b": 300.0} and r["bonds"] == [(700.0, 400.0)]


def test_wirelength_counts_the_signal_nets_only():
    """The 2D and tier reports' wirelength and the co-placed one count the same thing: the routed
    signal nets, not the power routes of SPECIALNETS."""
    text = ("UNITS DISTANCE MICRONS 100 ;\nDIEAREA ( 0 0 ) ( 10000 5000 ) ;\nNETS 1 ;\n- n1\n  ( U1 Y ) ( U2 A )\n"
            "+ ROUTED metal1 ( 0 0 ) ( 300 * ) M2_M1\n  NEW metal2 ( 300 0 ) ( * 200 )\n;\nEND NETS\n"
            "SPECIALNETS 1 ;\n- vdd\n+ ROUTED metal1 240 ( 0 0 ) ( 10000 * )\n;\nEND SPECIALNETS\n")
    st = def_stats(text)
    assert st["wirelength_um"] == pytest.approx(5.0) and st["die_area_um2"] == pytest.approx(5000.0)


def test_min_distance():
    pts = [(0.0, 0.0), (5.0, 0.0), (5.0, 1.6), (20.0, 20.0)]
    assert min_distance(pts, 1.0) == pytest.approx(1.6)
    assert min_distance(pts[:1], 1.0) == math.inf


def test_split_rc_puts_a_bond_net_on_its_driving_tier():
    info = {"kinds": {"b0": "bond", "T_n": "tier_top", "clk": "shared_input"}}
    rc = ("b0 1 T_U1/Y ( 0 0.02 B_U1/A, T_U2/A )\nT_n 1 T_U2/Y ( 0 0.01 T_U3/A )\n"
          "clk 1 PIN/clk ( 0 0.03 B_U9/CLK, T_U9/CLK )\n")
    out = split_rc(rc, info)
    assert "b0 1 U1/Y ( 0 0.02 U2/A )" in out["tier_top"] and "b0 1 PIN/b0 ( 0 0 U1/A )" in out["tier_bottom"]
    assert "n 1 U2/Y ( 0 0.01 U3/A )" in out["tier_top"]
    assert "clk 1 PIN/clk ( 0 0.03 U9/CLK )" in out["tier_bottom"] and "clk 1 PIN/clk ( 0 0 U9/CLK )" in out["tier_top"]
    from spikestack.flows.formats.rc import rc_entries
    assert [(n, d, c) for n, d, c, _ in rc_entries(out["tier_top"])] == [("b0", "U1/Y", 0.02), ("n", "U2/Y", 0.01),
                                                                        ("clk", "PIN/clk", 0.0)]


def test_split_def_gives_each_tier_its_cells_and_layers():
    from spikestack.flows.coplace.merge import split_def
    routed = ("UNITS DISTANCE MICRONS 100 ;\nCOMPONENTS 2 ;\n- T_U1 INVX1_T + PLACED ( 0 0 ) N ;\n"
              "- B_U1 INVX1 + PLACED ( 0 0 ) N ;\nEND COMPONENTS\nNETS 2 ;\n- b0\n  ( T_U1 Y ) ( B_U1 A )\n"
              f"+ ROUTED metal1 ( 0 0 ) ( 100 * ) M2_M1\n  NEW metal6 ( 1000 2000 ) ( * 2500 ) {BOND_VIA}\n"
              "  NEW metal6b ( 1000 2500 ) ( 1600 * )\n  NEW metal1b ( 5 5 ) ( 9 * )\n;\n"
              "- B_n1\n  ( B_U1 Y ) ( B_U1 A )\n+ ROUTED metal1 ( 0 0 ) ( 300 * )\n;\nEND NETS\n")
    top, bot = split_def(routed, "tier_top"), split_def(routed, "tier_bottom")
    assert "COMPONENTS 1 ;\n- U1 INVX1 + PLACED" in top and "COMPONENTS 1 ;\n- U1 INVX1 + PLACED" in bot
    assert "NETS 1 ;" in top and "NETS 2 ;" in bot
    assert "+ ROUTED metal6 ( 1000 2500 ) ( 1600 * )" in top and "NEW metal1 ( 5 5 )" in top and "metal1b" not in top
    assert "+ ROUTED metal1 ( 0 0 ) ( 100 * ) M2_M1" in bot and f"NEW metal6 ( 1000 2000 ) ( * 2500 ) {BOND_VIA}" in bot
    assert "metal6b" not in bot and "- n1" in bot


def _two_tiers(top_pin: bool = True):
    pin = "- clk + NET clk\n  + LAYER metal2 ( -15 -15 ) ( 15 15 )\n  + PLACED ( 100 0 ) N ;\n"
    b0 = [("PIN", "b0"), ("U1", "Y")] if top_pin else [("U1", "Y")]
    top = _def(2000, [("U1", "INVX1", 100, 100)],
               {"b0": b0, "n1": [("U1", "A"), ("U1", "Y")], "clk": [("PIN", "clk"), ("U1", "A")]}, pin)
    bot = _def(4000, [("U1", "INVX1", 300, 300), ("U2", "INVX1", 500, 300)],
               {"b0": [("U1", "A")], "n1": [("U1", "Y"), ("U2", "A")], "clk": [("PIN", "clk"), ("U2", "A")]}, pin)
    return {"tier_top": top, "tier_bottom": bot}


def test_3d_wirelength_spans_bond_nets_over_both_tiers():
    """The Pin-3D passes' measure: a bond net's half perimeter over its pins on both tiers, the
    top tier moved by the frame's shift; tier nets within their tier; a shared input over both."""
    from spikestack.flows.coplace.pins import hpwl
    from spikestack.flows.formats.lef import lef_geometry
    geo = lef_geometry([OSU018.stdcell_lef.read_text()])
    for top_pin in (True, False):            # a top tier placed with attractors has no pin on b0
        wl = hpwl(_two_tiers(top_pin), geo, {"b0"}, (8.0, 8.0))
        # b0: top U1 at (1 + 8, 1 + 8), bottom U1 at (3, 3): 6 + 6; B_n1: 2; clk: top U1 (9, 9), bottom U2 (5, 3)
        assert wl == {"total": 12 + 2 + 10, "bond": 12}
    assert hpwl(_two_tiers(), geo, {"b0"}, (0.0, 0.0)) == {"total": 4 + 2 + 6, "bond": 4}


def test_attractors_of_either_tier_sit_under_the_other_tiers_pins():
    """Each tier's attractor for a bond is the other tier's pin centroid, moved into its frame (the
    shift one way for the logic tier, back for the top tier) and into graywolf's units and rows."""
    from spikestack.flows.coplace.pins import attract_points, tier_shift
    from spikestack.flows.formats.lef import lef_geometry
    geo = lef_geometry([OSU018.stdcell_lef.read_text()])
    w, h = geo["INVX1"]["size"]
    defs = _two_tiers(top_pin=False)
    pl2 = "1 0 0 5000 1000 0 0\n2 0 1000 5000 2000 0 0\n3 0 2000 5000 3000 0 0\n"
    # the logic tier: its U1 at DEF (3, 3) um is at graywolf (250, 250) cu: graywolf = DEF - 50 cu
    got = attract_points(defs["tier_top"], defs["tier_bottom"], "U1 250 250 0 0\n", pl2, geo, {"b0"},
                         tier_shift("tier_bottom", (8.0, 8.0)))
    x, y = (1 + w / 2 + 8) * 100 - 50, (1 + h / 2 + 8) * 100 - 50
    assert got == {"b0": (int(y // 1000) + 1, int(x))}
    # the top tier: the logic tier's U1 pin moved back by the shift
    got = attract_points(defs["tier_bottom"], defs["tier_top"], "U1 100 100 0 0\n", pl2, geo, {"b0"},
                         tier_shift("tier_top", (1.0, 1.0)))
    x, y = (3 + w / 2 - 1) * 100, (3 + h / 2 - 1) * 100
    assert got == {"b0": (int(y // 1000) + 1, int(x))}


def test_attractors_of_a_spread_tier_find_its_cells_padded_with_fill():
    """A large tier is spread (macro_place.spread): graywolf's files name each cell padded with fill
    ``FILL.<w>X<n>.<instance>`` and place2def writes ``FILL_0_<instance>`` at its left edge; the
    graywolf-to-DEF translation is read from that piece, as from an unpadded cell."""
    from spikestack.flows.coplace.pins import attract_points, tier_shift
    from spikestack.flows.formats.lef import lef_geometry
    geo = lef_geometry([OSU018.stdcell_lef.read_text()])
    defs = _two_tiers(top_pin=False)
    pl2 = "1 0 0 5000 1000 0 0\n2 0 1000 5000 2000 0 0\n3 0 2000 5000 3000 0 0\n"
    plain = attract_points(defs["tier_top"], defs["tier_bottom"], "U1 250 250 0 0\n", pl2, geo, {"b0"},
                           tier_shift("tier_bottom", (8.0, 8.0)))
    # the same cell padded with two fills of 0.8 um: the pieces start 1.6 um left of the cell
    spread = defs["tier_bottom"].replace("- U1 INVX1 + PLACED ( 300 300 ) N ;",
                                         "- FILL_0_U1 FILL + PLACED ( 140 300 ) N ;\n- FILL_1_U1 FILL + PLACED ( 220 300 ) N ;\n"
                                         "- U1 INVX1 + PLACED ( 300 300 ) N ;")
    assert "FILL_0_U1" in spread
    got = attract_points(defs["tier_top"], spread, "FILL.80X2.U1 90 250 0 0\n", pl2, geo, {"b0"},
                         tier_shift("tier_bottom", (8.0, 8.0)))
    assert got == plain
    with pytest.raises(ValueError, match="no cell of the .pl1"):
        attract_points(defs["tier_top"], defs["tier_bottom"], "FILL.80X2.U9 90 250 0 0\n", pl2, geo, {"b0"},
                       tier_shift("tier_bottom", (8.0, 8.0)))


def test_attractors_follow_the_stripe_steps_of_graywolf_to_def():
    """qflow's addspacers widens the rows at each power stripe, so DEF x = graywolf x + an offset
    that steps along x: an attractor takes the offset of the tier's cell nearest to it in DEF x
    (here 0.5 um left of a stripe, 2.5 um right of it), and y the offset all cells share."""
    from spikestack.flows.coplace.pins import _gw_translation, attract_points, tier_shift
    from spikestack.flows.formats.lef import lef_geometry
    geo = lef_geometry([OSU018.stdcell_lef.read_text()])
    w, h = geo["INVX1"]["size"]
    defs = _two_tiers(top_pin=False)
    # the logic tier's U1 at DEF x 3 um is at graywolf 2.5 um, U2 at DEF 5 um at graywolf 2.5 um:
    # a stripe of 2 um between them
    pl1 = "U1 250 250 0 0\nU2 250 250 0 0\n"
    move = _gw_translation(defs["tier_bottom"], pl1)
    assert move(300, 400) == (250, 350) and move(390, 400) == (340, 350)
    assert move(410, 400) == (160, 350) and move(900, 0) == (650, -50) and move(0, 0) == (-50, -50)
    pl2 = "1 0 0 5000 1000 0 0\n2 0 1000 5000 2000 0 0\n3 0 2000 5000 3000 0 0\n"
    got = attract_points(defs["tier_top"], defs["tier_bottom"], pl1, pl2, geo, {"b0"},
                         tier_shift("tier_bottom", (8.0, 8.0)))
    x, y = (1 + w / 2 + 8) * 100 - 250, (1 + h / 2 + 8) * 100 - 50    # right of U2: U2's offset
    assert got == {"b0": (int(y // 1000) + 1, int(x))}


@pytest.fixture(scope="module")
def coplaced_tiny(tmp_path_factory):
    """One PPA run of the tiny linear layer with SRAM GLBs, both 3D methods."""
    from test_flow import TINY
    from spikestack.flows.ppa import ppa_for_config
    out = tmp_path_factory.mktemp("coplaced")
    return out, ppa_for_config(TINY, out, sram_macros=True, method="coplaced", log=lambda *_: None)


@pytest.mark.slow
def test_coplaced_routes_both_tiers_in_one_run_with_bonds_where_the_f2f_map_says(coplaced_tiny):
    """0 failed routes; no two bonds closer than the bond pitch; every F2F-map net with cells on both
    tiers crosses the bond layer, and no other net does (chip inputs used on both tiers enter on the
    logic tier and cross too); the per-tier DEFs hold each tier's cells."""
    from spikestack.flows.formats.def_ import components
    out, res = coplaced_tiny
    co = res["coplaced"]
    assert co["failed_routes"] == 0
    b = co["bonds"]
    assert b["bonds"] >= b["nets_crossing"] > 0
    assert b["missing_crossing"] == [] and b["unexpected_crossing"] == [] and b["tier_nets_spanning_both"] == []
    # routed by groups (flows/coplace/route.py): every tier net's wires on its own tier's metals
    from spikestack.flows.coplace.stack import tier_of_layer
    assert [g["group"] for g in co["routing"]["groups"]] == ["3d", "tier_bottom", "tier_top"]
    assert all(g["failed"] == 0 for g in co["routing"]["groups"]) and co["stray_tier_nets"]["found"] == 0
    kinds = json.loads((out / "coplaced" / "net_kinds.json").read_text())
    top = json.loads((out / "f2f_map.json").read_text())["top"]
    routes = read_routes((out / "coplaced" / "route" / f"{top}_route.def").read_text())
    layers = {n: {tier_of_layer(l) for l in r["length"]} for n, r in routes.items()}
    assert all(layers[n] <= {k} for n, k in kinds.items() if k in ("tier_top", "tier_bottom") and n in layers)
    assert sum(1 for n, k in kinds.items() if k in ("tier_top", "tier_bottom") and layers.get(n)) > 100
    fmap = json.loads((out / "f2f_map.json").read_text())
    assert 0 < b["bond_nets"] <= fmap["bond_count"]        # a bit with cells on one tier only (or none) needs no bond
    locs = [(x, y) for _, x, y in json.loads((out / "coplaced" / "bonds.json").read_text())]
    pitch = res["3d"]["bond"]["pitch_um"]
    assert len(locs) == b["bonds"] and min_distance(locs, pitch) >= pitch
    for t in ("tier_top", "tier_bottom"):
        split = (out / "coplaced" / t / "work" / f"{t}_split.def").read_text()
        placed = components((out / t / "work" / f"{t}_unroute.def").read_text())
        assert {c for c, *_ in components(split).values()} <= {c for c, *_ in placed.values()}
        assert abs(len(components(split)) - sum(1 for c, *_ in placed.values() if not c.startswith("FILL"))) == 0 \
            or t in co["replaced_tiers"]              # a tier placed again has its own fill cells
    m = res["methods"]
    assert m["coplaced"]["ratios"]["wirelength_um"] > 0 and m["independent"]["ratios"]["wirelength_um"] > 0
    assert "Two 3D methods against the same 2D" in (out / "ppa.md").read_text()


# the held-out tiny MoE of issue 39: d = 3, two cores of 1 x 3 PEs, GLBs as flip-flops
TINY_MOE = dict(kind="moe", t=1, n=2, d=3, dh=4, experts=2, top_k=2, w_bits=4, b_bits=6, v_bits=8)


@pytest.mark.slow
def test_coplaced_tiny_moe_routes_to_zero_failed_with_the_same_cells(tmp_path):
    """The co-placed flow on the tiny MoE with flip-flop GLBs: 0 failed routes in every routing
    group, the 2D design and the tiers of the same cells (flows/builtin/samecells.py), and the memory-access
    path timed between the same two registers in 2D and in the co-placed 3D design."""
    from spikestack.config import HwConfig, LayerConfig, LifConfig
    from spikestack.flows.ppa import ppa_for_config
    lif = {p: LifConfig(8, 3, "hard", p) for p in ("hidden", "out")}
    cfg = LayerConfig(**TINY_MOE, lif=lif, hw=HwConfig(rows=1, cols=3, cores=2, glb_share=2, event_driven=True))
    res = ppa_for_config(cfg, tmp_path, method="coplaced", log=lambda *_: None)
    co = res["coplaced"]
    assert co["failed_routes"] == 0 and all(g["failed"] == 0 for g in co["routing"]["groups"])
    assert res["2d"]["failed_routes"] == 0
    assert all(t["failed_routes"] == 0 for t in res["3d"]["tiers"].values())
    assert res["same_cells"]["same"] is True
    m2 = res["whole_design"]["2d_spef"]["memory_access_matched"]
    m3 = res["whole_design"]["3d_coplaced"]["memory_access_matched"]
    assert m2["found"] and m3["found"] and m3["same_ends_as_2d"]


def test_memory_tier_goes_over_the_logic_tier_inside_one_footprint():
    from spikestack.flows.coplace.merge import top_offset
    top, bot = (0.0, 0.0, 400.0, 300.0), (0.0, 0.0, 100.0, 100.0)
    assert top_offset(top, bot) == (-152.0, -96.0)                     # centres (8 um grid)
    assert top_offset(top, bot, (380.0, 20.0)) == (-296.0, 0.0)        # target over the centre, clamped        # target over the centre, clamped
    sx, sy = top_offset(top, bot, (380.0, 20.0))
    assert top[0] + sx <= bot[0] and top[2] + sx >= bot[2] and top[1] + sy <= bot[1] and top[3] + sy >= bot[3]


@pytest.mark.slow
def test_coplaced_design_is_timed_from_one_spef(coplaced_tiny):
    """One SPEF of both tiers and the bonds: OpenSTA annotates nearly every net of the stitched
    netlist; every bond net's path from its driver to its sinks on the other tier crosses the bond
    via's R; the 2D design and the independent 3D design are beside it from SPEFs by the same
    extractor, and the report says so."""
    from spikestack.flows.formats.spef import read_spef
    from test_spef import bond_paths
    out, res = coplaced_tiny
    wc = res["whole_design"]["3d_coplaced"]
    a = wc["spef"]["annotation"]
    assert a["not_found"] == 0 and a["coverage"] >= 0.95 and a["annotated"] > 500
    assert wc["parasitics"].startswith("SPEF") and res["whole_design"]["2d_spef"]["parasitics"].startswith("SPEF")
    assert res["whole_design"]["2d"]["parasitics"].startswith("lumped") and wc["fmax_mhz"] > 10
    r = read_spef((out / "coplaced" / "coplaced.spef").read_text())
    bond = res["3d"]["bond"]
    kinds = json.loads((out / "coplaced" / "net_kinds.json").read_text())
    crossing = [n for n, k in kinds.items() if k == "bond" and n in r["nets"]
                and {c[1].split("/")[0] for c in r["nets"][n]["conns"]} == {"tier_top", "tier_bottom"}]
    assert len(crossing) == res["coplaced"]["bonds"]["bond_nets"] > 0
    for n in crossing:
        net = r["nets"][n]
        drv = next(c[1] for c in net["conns"] if c[2] == "O")
        near, _ = bond_paths(net, drv, bond["r_ohm"])
        other = [c[1] for c in net["conns"] if c[1].split("/")[0] != drv.split("/")[0]]
        assert other and not any(s in near for s in other), n
    # the independent method's tiers extracted alone and joined at their bond pins, annotated too
    wi = res["whole_design"]["3d_spef"]
    assert wi["spef"]["annotation"]["coverage"] >= 0.95 and wi["spef"]["stats"]["bonds_joined"] > 0
    md = (out / "ppa.md").read_text()
    assert "all three columns: SPEF" in md and md.count("OpenSTA annotated") == 3
    m = res["methods"]
    assert {m[k]["parasitics"][:4] for k in ("2d", "independent", "coplaced")} == {"SPEF"}
    assert m["2d"]["fmax_mhz"] == res["whole_design"]["2d_spef"]["fmax_mhz"]


@pytest.mark.slow
def test_coplaced_logic_on_logic_places_both_tiers_in_turn(tmp_path):
    """Logic on both tiers (two cores, one per tier): the tiers are placed in turn (Pin-3D), the
    first placement (the logic tier) always kept, every later one only if it shortened the 3D
    wirelength, a lost one tried again from the next graywolf seeds; one routing with 0 failures,
    every F2F-map net crossing and no other."""
    from test_flow import TINY
    from spikestack.config import HwConfig
    from spikestack.flows.ppa import ppa_for_config
    res = ppa_for_config(TINY.replace(hw=HwConfig(rows=1, cols=2, cores=2)), tmp_path, sram_macros=True,
                         method="coplaced", partition="logic-on-logic", log=lambda *_: None)
    co = res["coplaced"]
    passes = co["placements"]
    assert passes[0]["tier"] == "tier_bottom" and passes[0]["kept"] and passes[0]["attractors"] > 0
    # the tiers in turn; a pass that lost was annealed again from the next seeds before it was undone
    from itertools import groupby
    from spikestack.flows.coplace.pin3d import SEED
    runs = [(t, list(g)) for t, g in groupby(passes, key=lambda p: p["tier"])]
    assert [t for t, _ in runs] == ["tier_bottom", "tier_top", "tier_bottom", "tier_top"][:len(runs)]
    for t, tries in runs:
        assert [p["seed"] for p in tries] == [SEED + i for i in range(len(tries))]
        assert len(tries) <= 1 + OSU018.knobs.pin3d_retries and not any(p["kept"] for p in tries[:-1])
    best = passes[0]["hpwl_um"]["total"]
    for p in passes[1:]:
        assert p["kept"] == (p["hpwl_um"]["total"] < best)
        best = min(best, p["hpwl_um"]["total"]) if p["kept"] else best
    assert co["hpwl_um"]["final"]["total"] <= passes[0]["hpwl_um"]["total"] + 1e-6
    assert co["failed_routes"] == 0
    b = co["bonds"]
    assert b["missing_crossing"] == [] and b["unexpected_crossing"] == [] and b["nets_crossing"] > 0



def test_stray_tier_net_obstructions_and_splice():
    """The repair of a tier net routed through the other tier: every other net's wires and vias
    become obstructions of their layer's width (the stray's own do not), and the new route
    replaces the old one in the routed DEF."""
    from spikestack.flows.coplace.repair import route_obstructions, splice_routes
    from spikestack.flows.formats.def_ import net_blocks
    lef = combined_lef(OSU018.stdcell_lef.read_text(), [], {"INVX1"}, 1.0, 3.0)
    routed = ("UNITS DISTANCE MICRONS 100 ;\nNETS 2 ;\n- T_a\n  ( T_U1 Y ) ( T_U2 A )\n"
              f"+ ROUTED metal2b ( 1000 2000 ) ( * 2500 ) M3_M2B\n  NEW metal6b ( 1000 2500 ) {BOND_VIA}\n;\n"
              "- B_n1\n  ( B_U1 Y ) ( B_U2 A )\n+ ROUTED metal1 ( 0 0 ) ( 300 * ) M2_M1\n;\nEND NETS\n")
    obs = route_obstructions(routed, lef, {"T_a"}, 100.0)
    assert obs == ["obstruction -0.150 -0.150 3.150 0.150 metal1", "obstruction 2.850 -0.150 3.150 0.150 metal1",
                   "obstruction 2.850 -0.150 3.150 0.150 metal2"]
    assert any(o.endswith(" metal6b") for o in route_obstructions(routed, lef, set(), 100.0))
    new = "NETS 1 ;\n- T_a\n  ( T_U1 Y ) ( T_U2 A )\n+ ROUTED metal2b ( 1000 2000 ) ( 1500 * ) ;\nEND NETS\n"
    text, done = splice_routes(routed, new, ["T_a", "B_n1"])
    assert done == ["T_a"] and BOND_VIA not in net_blocks(text)["T_a"] and "( 1500 * )" in text
    assert net_blocks(text)["B_n1"] == net_blocks(routed)["B_n1"]
    bus = "NETS 1 ;\n- d[1]\n  ( T_U1 Y ) ( PIN d[1] )\n+ ROUTED metal2b ( 0 0 ) ( 10 * ) ;\nEND NETS\n"
    assert list(net_blocks(bus)) == ["d[1]"]                  # a bus bit's name ends in "]"


def test_pin3d_keeps_a_placement_by_total_then_bond_wirelength():
    from spikestack.flows.coplace.pin3d import _kept, _same_decisions
    best = {"total": 1000.0, "bond": 100.0}
    for ties in (False, True):
        assert _kept(0, {"total": 2000.0, "bond": 500.0}, best, 0.01, ties)   # the logic tier's first pass stands
        assert _kept(1, {"total": 999.0, "bond": 300.0}, best, 0.01, ties)    # shorter in all
        assert not _kept(1, {"total": 1005.0, "bond": 120.0}, best, 0.01, ties)
        assert not _kept(1, {"total": 1020.0, "bond": 10.0}, best, 0.01, ties)  # longer by more than the tolerance
    assert not _kept(1, {"total": 1005.0, "bond": 40.0}, best, 0.01, False)   # the same within 1 %, bond nets shorter:
    assert _kept(1, {"total": 1005.0, "bond": 40.0}, best, 0.01, True)        # kept only with pin3d_bond_ties
    rec = {"hpwl_um": {"independent": {"total": 1100.0, "bond": 200.0}},
           "passes": [{"hpwl_um": best, "kept": True}, {"hpwl_um": {"total": 1002.0, "bond": 30.0}, "kept": True}]}
    assert _same_decisions(rec, 0.01, True) and not _same_decisions(rec, 0.01, False)   # placed again, not reused


def test_pin3d_sets_graywolfs_seed_in_qflows_parameter_file(tmp_path):
    """A lost pass is annealed again from another seed: qflow's osu018.par has one `*random.seed`
    line (12345, the first try's), which set_seed rewrites; a file without one is an error."""
    import shutil
    from spikestack.flows.builtin.flow import FlowError
    from spikestack.flows.coplace.pin3d import SEED, set_seed
    par = tmp_path / "t.par"
    shutil.copy(OSU018.tech_dir / f"{OSU018.name}.par", par)
    before = par.read_text()
    assert f"*random.seed\t      : {SEED}" in before or f": {SEED}" in before
    set_seed(par, SEED + 2)
    after = par.read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert len(changed) == 1 and changed[0][1].startswith("*random.seed") and changed[0][1].endswith(str(SEED + 2))
    (tmp_path / "bad.par").write_text("RULES\nENDRULES\n")
    with pytest.raises(FlowError, match="random.seed"):
        set_seed(tmp_path / "bad.par", 1)


def test_ppa3d_table_names_each_co_placed_routing_and_its_crossing_tier_nets():
    """`make bench-ppa3d`'s rows: the independent method, then the co-placed one with how it was
    routed (by tier, or one run with its crossing tier nets repaired) and those nets' count."""
    from spikestack.bench.ppa3d import table
    nums = {"ratios": {k: 0.9 for k in ("wirelength_um", "memory_access_ns", "power_w", "footprint_um2", "fmax_mhz")},
            "bonds": 10, "mean_pin_to_bond_um": 20.0, "failed_routes": 0}
    bonds = {"unexpected_crossing": []}
    by_tier = {"methods": {"independent": nums, "coplaced": nums},
               "coplaced": {"placements": [1, 2], "bonds": bonds, "stray_tier_nets": {"found": 0},
                            "routing": {"groups": [{"group": "3d"}]}}}
    one_run = {"methods": {"coplaced": nums},
               "coplaced": {"placements": [1], "bonds": {"unexpected_crossing": ["n"]},
                            "stray_tier_nets": {"found": 3}, "routing": {"groups": []}}}
    rows = [l.split(" | ") for l in table({("a", "p"): by_tier, ("b", "p"): one_run}).splitlines()[2:5]]
    assert [r[2:5] for r in rows] == [["independent", "-", "-"], ["coplaced", "2", "by tier"],
                                      ["coplaced", "1", "one run + repair"]]
    assert [r[-1].strip(" |") for r in rows] == ["-", "0", "3 (1 still crossing)"]


@pytest.mark.slow
def test_coplaced_layout_picture_shows_both_tiers_and_the_bonds(coplaced_tiny):
    """ppa.md shows the co-placed design routed over the combined stack: both tiers' metals in their
    colours and the bonds marked."""
    from test_flow import _has_colour, _picture_checked
    from spikestack.flows.ppa.layout import _METALS
    out, res = coplaced_tiny
    name = res["layouts"]["3d_coplaced"]
    assert f"]({name})" in (out / "ppa.md").read_text()
    img = _picture_checked(out / name)
    bottom, top = _METALS["metal2"]
    assert _has_colour(img, bottom) and _has_colour(img, top) and _has_colour(img, "#ffd700", 20)


@pytest.mark.slow
def test_coplaced_with_pe_macros_routes_to_zero_failed(tmp_path):
    """The co-placed flow with hardened blocks (``--harden pe``, GLBs as SRAM macros) on
    ``moe_ppa_small``: the PE macros keep their places while each tier's cells are placed again
    under the other tier's pins, and the routing over both tiers leaves 0 failed routes in every
    group (about 20 minutes); refused beside ``common_footprint`` (the attractors' rows must be the
    rows the tier is placed in again)."""
    from pathlib import Path
    from spikestack.config import load_config
    from spikestack.flows.ppa import ppa_for_config
    from spikestack.flows.ppa.options import PpaOptions
    with pytest.raises(ValueError, match="common-footprint"):
        PpaOptions(harden="pe", method="coplaced", common_footprint=True)
    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "moe_ppa_small.toml")
    res = ppa_for_config(cfg, tmp_path, sram_macros=True, harden="pe", method="coplaced", log=lambda *_: None)
    co = res["coplaced"]
    assert co["failed_routes"] == 0 and all(g["failed"] == 0 for g in co["routing"]["groups"])
    assert res["2d"]["failed_routes"] == 0
    assert all(t["failed_routes"] == 0 for t in res["3d"]["tiers"].values())
    assert res["hierarchy"]["macros"], res.get("hierarchy")
    split = (tmp_path / "coplaced" / "tier_bottom" / "work" / "tier_bottom_split.def").read_text()
    assert "pe_macro" in split                          # the logic tier's PEs, as macros, in its routed DEF
    assert res["methods"]["coplaced"]["ratios"]["wirelength_um"] > 0
