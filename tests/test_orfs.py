"""ORFS design directories, checked as text against ORFS's variable names and layout."""
import json
import re
import subprocess
import sys

import pytest

from spikestack.flows.orfs import PLATFORMS, macro_for, write_orfs
from spikestack.config import ConfigError, load_config

KEYS = ("DESIGN_NICKNAME", "DESIGN_NAME", "PLATFORM", "VERILOG_FILES", "SDC_FILE")


def _mk(path):
    return dict(re.findall(r"^export (\w+)\s*\??=\s*(.*)$", path.read_text(), re.M))


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_orfs_designs(tmp_path, root, platform):
    cfg = load_config(root / "configs" / "moe_default.toml").replace(t=2, n=3)
    write_orfs(cfg, platform, tmp_path, partition="memory-on-logic")
    home = tmp_path / "designs"
    nicks = sorted(p.name for p in (home / platform).iterdir())
    assert nicks == ["spikestack_moe", "spikestack_moe_tier_bottom", "spikestack_moe_tier_top"]
    readme = (tmp_path / "README.md").read_text()
    for nick in nicks:
        mk = _mk(home / platform / nick / "config.mk")
        assert all(k in mk for k in KEYS) and mk["PLATFORM"] == platform and mk["DESIGN_NICKNAME"] == nick
        assert ("CORE_UTILIZATION" in mk) != ("DIE_AREA" in mk)
        for key in ("VERILOG_FILES", "SDC_FILE"):
            path = (mk[key].replace("$(DESIGN_HOME)", str(home)).replace("$(PLATFORM)", platform)
                    .replace("$(DESIGN_NICKNAME)", nick))
            assert (tmp_path / path).exists() if not path.startswith("/") else __import__("pathlib").Path(path).exists()
        verilog = (home / "src" / nick / f"{mk['DESIGN_NAME']}.v").read_text()
        assert re.search(rf"^module {mk['DESIGN_NAME']}\(", verilog, re.M)
        assert re.search(r"^\s*input clk;", verilog, re.M)
        sdc = (home / platform / nick / "constraint.sdc").read_text()
        assert "set clk_port_name clk" in sdc and f"current_design {mk['DESIGN_NAME']}" in sdc
        macros = json.loads((home / platform / nick / "macros.json").read_text())
        assert macros["platform"] == platform
        assert f"make DESIGN_CONFIG=./designs/{platform}/{nick}/config.mk" in readme
    top_tiers = [_mk(home / platform / n / "config.mk")["DIE_AREA"] for n in nicks if "tier" in n]
    assert top_tiers[0] == top_tiers[1]                                     # same 3D footprint
    man = json.loads((home / platform / "spikestack_moe" / "macros.json").read_text())["glbs"]
    assert set(man) == {"activation_glb", "router_weights", "weight_glb_0", "bias_glb_0", "weight_glb_1", "bias_glb_1"}
    if platform != "sky130hd":
        for g in man.values():
            f = g["fakeram"]
            d, w = map(int, f["macro"].split("_")[1].split("x"))
            assert f["banks"] * d >= g["depth"] and f["slices"] * w >= g["width"]


def test_macro_for_picks_a_covering_tiling():
    m = macro_for("nangate45", 128, 512)
    assert m["banks"] * int(m["macro"].split("_")[1].split("x")[0]) >= 128
    assert macro_for("sky130hd", 16, 16) is None


def test_bad_platform_refused(tmp_path, root):
    r = subprocess.run([sys.executable, "-m", "spikestack.cli", "orfs", str(root / "configs" / "moe_default.toml"),
                        "--platform", "tsmc3", "-o", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 2 and "platform" in r.stderr and not (tmp_path / "o").exists()
    with pytest.raises(ConfigError):
        write_orfs(load_config(root / "configs" / "moe_default.toml"), "gf180", tmp_path / "p")
    assert not (tmp_path / "p").exists()
