"""ORFS design directories: checked as text against ORFS's facts (variable names, fakeram names and
pins, layout), the GLB wrappers proven against the RTL GLB, Yosys synthesis under ORFS's memory limit."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spikestack.flows.builtin import fakeram as fr
from spikestack.flows.orfs.export import PLATFORMS, glb_plan, nickname, orfs_designs, synth_check, write_orfs
from spikestack.flows.orfs.facts import (FAKERAMS, PLATFORM_FACTS, SYNTH_MEMORY_MAX_BITS, VARIABLES, Fakeram,
                                         fakerams)
from spikestack.config import ConfigError, load_config
from spikestack.hw.lib.glb import GlbParams, SramShape

AREA = {"spikestack_moe": 2.0e5, "tier_top": 1.2e5, "tier_bottom": 0.8e5}   # osu018 µm², skips the census


def _mk(text):
    """config.mk -> {key: value}, continuation lines joined."""
    text = text.replace("\\\n", " ")
    return {k: " ".join(v.split()) for k, v in re.findall(r"^export (\w+)\s*\??=\s*(.*)$", text, re.M)}


@pytest.fixture(scope="module")
def small(root):
    # a small MoE whose weight GLBs (1860 x 16, two reads: 1800 weight words, 60 of biases) are above
    # ORFS's 4096-bit limit
    return load_config(root / "configs" / "moe_ppa_small.toml").replace(d=30, dh=30, w_bits=8)


@pytest.fixture(scope="module", params=sorted(PLATFORMS))
def written(request, small, tmp_path_factory):
    platform = request.param
    out = tmp_path_factory.mktemp(f"orfs_{platform}")
    write_orfs(small, platform, out, "memory-on-logic", name="moe_small", std_area_osu018=AREA)
    return platform, out


def test_config_keys_files_and_readme(written):
    platform, out = written
    home = out / "designs"
    nicks = sorted(p.name for p in (home / platform).iterdir())
    assert len(nicks) == 3 and nicks[0].startswith("moe_small_") and nicks[1:] == [nicks[0] + "_tier_bottom",
                                                                                    nicks[0] + "_tier_top"]
    # the README's commands, run against a mock ORFS tree: every referenced file resolves
    readme = (out / "README.md").read_text()
    orfs = out.parent / f"ORFS_{platform}"
    for src, dst in re.findall(r"^    cp -r (\S+)/\* \"\$ORFS/(\S+)/\"$", readme, re.M):
        shutil.copytree(out / src, orfs / dst, dirs_exist_ok=True)
    assert "cd \"$ORFS/flow\"" in readme
    flow = orfs / "flow"
    for nick in nicks:
        text = (home / platform / nick / "config.mk").read_text()
        mk = _mk(text)
        assert set(mk) <= VARIABLES, set(mk) - VARIABLES                       # ORFS variable names only
        assert mk["PLATFORM"] == platform and mk["DESIGN_NICKNAME"] == nick
        assert f"make DESIGN_CONFIG=./designs/{platform}/{nick}/config.mk" in readme
        assert (flow / "designs" / platform / nick / "config.mk").exists()
        for key in ("VERILOG_FILES", "SDC_FILE", "IO_CONSTRAINTS"):
            for path in mk.get(key, "").split():
                p = (path.replace("$(DESIGN_HOME)", str(flow / "designs")).replace("$(PLATFORM)", platform)
                     .replace("$(DESIGN_NICKNAME)", nick))
                assert Path(p).exists(), (key, p)
        names = {f.name for f in fakerams(platform)}
        for key in ("ADDITIONAL_LEFS", "ADDITIONAL_LIBS"):                   # the platform's own files
            for path in mk.get(key, "").split():
                assert path.startswith("$(PLATFORM_DIR)/") and Path(path).stem in names
                assert path in [f.lef for f in fakerams(platform)] + [f.lib for f in fakerams(platform)]
        if "ADDITIONAL_LEFS" in mk:
            assert mk["MACRO_PLACE_HALO"] == " ".join(f"{h:g}" for h in PLATFORM_FACTS[platform].halo_um)
        verilog = (home / "src" / nick / f"{mk['DESIGN_NAME']}.v").read_text()
        assert re.search(rf"^module {mk['DESIGN_NAME']}\(", verilog, re.M)
        sdc = (home / platform / nick / "constraint.sdc").read_text()
        assert "set clk_port_name clk" in sdc and f"current_design {mk['DESIGN_NAME']}" in sdc


def test_fakeram_names_and_pins_are_the_platforms(written):
    platform, out = written
    home = out / "designs"
    rams = {f.name: f for f in fakerams(platform)}
    seen = 0
    for glb in home.glob("src/*/glb_macros.v"):
        text = glb.read_text()
        for cell, conns in re.findall(r"^\s*(fakeram\w+) m_\w+ \((.*)\);$", text, re.M):
            assert cell in rams, cell
            pins = set(re.findall(r"\.(\w+)\(", conns))
            assert pins == set(rams[cell].pins()), (cell, pins)
            seen += 1
        for cell in set(re.findall(r"^module (spikestack_sram_\w+)\(", text, re.M)):
            assert text.count(f"module {cell}(") == 1
    if platform == "sky130hd":
        assert seen == 0                                      # no fake SRAM in ORFS: flip-flops
    else:
        assert seen > 0


def test_die_pins_and_bonds(written):
    platform, out = written
    home = out / "designs" / platform
    nicks = sorted(p.name for p in home.iterdir())
    pf = PLATFORM_FACTS[platform]
    dies = {}
    for nick in nicks:
        mk = _mk((home / nick / "config.mk").read_text())
        x0, y0, x1, y1 = map(float, mk["DIE_AREA"].split())
        c0, _, c1, _ = map(float, mk["CORE_AREA"].split())
        assert x0 == y0 == 0 and x1 == y1 > 0 and 0 < c0 < c1 < x1
        dies[nick] = x1
        meta = json.loads((home / nick / "macros.json").read_text())
        src = (out / "designs" / "src" / nick / f"{mk['DESIGN_NAME']}.v").read_text()
        from spikestack.flows.orfs.export import top_ports
        pins = sum(w for _, w in top_ports(src, mk["DESIGN_NAME"]).values())
        area_pins = []
        if "IO_CONSTRAINTS" in mk:
            io = (home / nick / "io.tcl").read_text()
            area_pins = re.findall(r"^place_pin -pin_name \{(\S+)\} -layer (\w+) -location \{(\S+) (\S+)\}", io, re.M)
            assert {layer for _, layer, _, _ in area_pins} == {pf.top_layer}
            for _, _, x, y in area_pins:                   # inside the core
                assert c0 <= float(x) <= c1 and c0 <= float(y) <= c1
        edge = pins - len(area_pins)
        capacity = 4 * x1 * 0.8 / (2 * max(pf.io_pitch_um))  # one pin every second track on 80 % of the edge
        assert edge <= capacity and meta["die"]["edge_pins"] == edge
    tiers = [n for n in nicks if "_tier_" in n]
    assert dies[tiers[0]] == dies[tiers[1]]                  # one 3D footprint
    spots = []
    for nick in tiers:
        io = (home / nick / "io.tcl").read_text()
        pts = {n: (float(x), float(y)) for n, x, y in re.findall(r"-pin_name \{(\S+)\} -layer \w+ -location \{(\S+) (\S+)\}", io)}
        spots.append((nick, pts))
    (_, bot), (_, top) = sorted(spots, key=lambda s: "tier_top" in s[0])
    assert set(bot) == set(top) and len(bot) > 100
    die = dies[tiers[0]]
    assert all(abs(top[n][0] - (die - bot[n][0])) < 1e-6 and top[n][1] == bot[n][1] for n in bot)  # mirrored


def test_nicknames_differ_per_configuration(root, small):
    other = small.replace(n=4)
    assert nickname(small, "x") != nickname(other, "x") and nickname(small, "x") == nickname(small, "x")
    a = load_config(root / "configs" / "moe_default.toml")
    b = load_config(root / "configs" / "moe_ppa_small.toml")
    assert nickname(a) != nickname(b)


def test_tiling_is_least_area_and_uses_every_port():
    s = SramShape.from_name("spikestack_sram_512x512_w1r2")          # the default MoE weight GLB
    t = fr.tiling(s, "nangate45")
    assert (t.macro.name, t.count, t.groups, t.copies) == ("fakeram45_512x64", 32, 2, 2)
    for m in fakerams("nangate45"):                                  # brute force: nothing smaller
        n = -(-512 // m.depth) * -(-512 // m.width) * 4
        assert n * m.area_um2 >= t.area_um2 - 1e-6
    halo = PLATFORM_FACTS["nangate45"].halo_um                      # with MACRO_PLACE_HALO around each macro
    th = fr.tiling(s, "nangate45", halo_um=halo)
    for m in fakerams("nangate45"):
        n = -(-512 // m.depth) * -(-512 // m.width) * 4
        assert n * (m.w_um + 2 * halo[0]) * (m.h_um + 2 * halo[1]) >= th.area_with_halo_um2 - 1e-6
    assert fr.tiling(s, "nangate45", "shared").count == 16
    assert fr.tiling(s, "sky130hd") is None
    assert glb_plan(s, "sky130hd").kind == "flops"
    assert glb_plan(SramShape(64, 64, 1, 1), "nangate45").kind == "flops"          # 4096 bits: within the limit
    assert {f.platform for f in FAKERAMS} == {"nangate45", "asap7"}
    assert all(f.mask for f in fakerams("nangate45")) and not any(f.mask for f in fakerams("asap7"))


PROOF = [Fakeram("proof", "fakeram45_4x2", 4, 2, 1.0, 1.0, True), Fakeram("proof", "fakeram7_4x2", 4, 2, 1.0, 1.0, False)]
GLBS = [GlbParams(depth=8, width=4, read_ports=2),                                        # weight GLB: host + 2 reads
        GlbParams(depth=8, width=4, read_ports=2, write_ports=1, host_write=False),       # merge buffer (RMW)
        GlbParams(depth=6, width=4, granularity=2, read_ports=1, write_ports=1, host_read=True)]  # lanes, 2W 2R


@pytest.mark.parametrize("p", GLBS, ids=lambda p: p.macro.name)
def test_wrapper_equals_glb(p):
    """Bounded proof (Yosys sat, 4 cycles from the zero state, every input sequence): 2 banks x
    2 slices (or lanes) x (W+1) copies per read port of 4x2 macros read what the RTL GLB reads."""
    for m in PROOF:
        t = fr.tiling(p.macro, [m])
        assert t.banks == 2 and t.slices * t.lanes == 2 and t.copies == p.macro.write_ports + 1
        ok, log = fr.prove(p, fr.wrapper_verilog(t) + fr.fakeram_model(m), steps=4)
        assert ok, log


@pytest.mark.slow
@pytest.mark.parametrize("p", GLBS, ids=lambda p: p.macro.name)
def test_wrapper_equals_glb_deeper(p):
    """The same proofs, 7 cycles deep."""
    for m in PROOF:
        ok, log = fr.prove(p, fr.wrapper_verilog(fr.tiling(p.macro, [m])) + fr.fakeram_model(m), steps=7)
        assert ok, log


def test_miter_catches_mutants_and_the_shared_mapping():
    p, m = GLBS[1], PROOF[0]
    good = fr.wrapper_verilog(fr.tiling(p.macro, [m])) + fr.fakeram_model(m)
    for bad in (good.replace("'d0 >= sel_", "'d0 > sel_"),             # a write onto the copy being read
                good.replace("r0_hold <= r0_data", "r0_hold <= r0_fresh")):   # no hold while en is low
        assert bad != good
        assert not fr.prove(p, bad, steps=4)[0]
    shared = fr.wrapper_verilog(fr.tiling(p.macro, [m], "shared")) + fr.fakeram_model(m)
    assert not fr.prove(p, shared, steps=4)[0]                           # a read and a write in one cycle
    assert fr.prove(p, shared, steps=4, no_read_while_write=True)[0]


def test_flop_split_equals_glb():
    p = GLBS[2]
    text = fr.flop_wrapper_verilog(p.macro, max_bits=4)
    assert text.count("_piece p_") == 6 and "reg [3:0] mem [0:0]" in text
    assert fr.prove(p, text, steps=4)[0]


def test_synthesis_leaves_no_memory_above_the_limit(written):
    """Yosys as ORFS reads the design (fakerams as blackboxes): no $mem above 4096 bits (the
    default suite checks tier_top, where the GLBs are; the slow suite every default design)."""
    platform, out = written
    nick = next(p.name for p in (out / "designs" / platform).iterdir() if p.name.endswith("_tier_top"))
    r = synth_check(out, platform, nick)
    assert r["mems"] and r["max_bits"] <= SYNTH_MEMORY_MAX_BITS, r["max_bits"]
    assert bool(r["fakerams"]) == (platform != "sky130hd")


def _cli(root, tmp_path, *extra):
    out = tmp_path / "o"
    r = subprocess.run([sys.executable, "-m", "spikestack.cli", "orfs", str(root / "configs" / "moe_default.toml"),
                        "-o", str(out), *extra], capture_output=True, text=True)
    return r, out


@pytest.mark.parametrize("extra,option", [
    (["--platform", "tsmc3"], "platform"),
    (["--platform", "nangate45", "--tiers", "3"], "tiers"),
    (["--platform", "nangate45", "--tiers", "2", "--footprint-um", "0"], "footprint-um"),
    (["--platform", "nangate45", "--tiers", "2", "--footprint-um", "-5"], "footprint-um"),
    (["--platform", "nangate45", "--footprint-um", "600"], "footprint-um"),
    (["--platform", "nangate45", "--tiers", "2", "--bond-pitch-um", "0.1"], "bond-pitch-um"),
    (["--platform", "nangate45", "--glb-map", "dual"], "glb-map"),
])
def test_bad_options_refused(root, tmp_path, extra, option):
    r, out = _cli(root, tmp_path, *extra)
    assert r.returncode == 2 and f"error: {option}:" in r.stderr, r.stderr
    assert not out.exists()


def test_too_small_footprint_refused(small, tmp_path):
    with pytest.raises(ConfigError, match=r"footprint-um: 3 µm is too small: tier_\w+ needs at least"):
        write_orfs(small, "nangate45", tmp_path / "p", "memory-on-logic", 3.0, std_area_osu018=AREA)
    assert not (tmp_path / "p").exists()
    files = orfs_designs(small, "nangate45", "memory-on-logic", 5000.0, std_area_osu018=AREA)
    assert all("DIE_AREA    = 0 0 5000.0 5000.0" in t for n, t in files.items() if n.endswith("_tier_top/config.mk"))


@pytest.mark.slow
@pytest.mark.parametrize("platform", ["nangate45", "asap7"])
@pytest.mark.parametrize("config", ["moe_default", "mha_default"])
def test_default_designs_synthesise_within_the_limit(root, tmp_path, config, platform):
    """The issue's check: the default MoE/MHA, 2D and both tiers, synthesised (census) for the die
    and read by Yosys as ORFS does: no $mem above the limit, pins on the edge fit."""
    write_orfs(load_config(root / "configs" / f"{config}.toml"), platform, tmp_path, "memory-on-logic", name=config)
    for d in (tmp_path / "designs" / platform).iterdir():
        meta = json.loads((d / "macros.json").read_text())
        assert meta["die"]["edge_pins"] <= meta["die"]["edge_pin_capacity"]
        r = synth_check(tmp_path, platform, d.name)
        assert r["max_bits"] <= SYNTH_MEMORY_MAX_BITS, (d.name, r["max_bits"])
