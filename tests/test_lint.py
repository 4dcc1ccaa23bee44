"""Generated Verilog is Verilator -Wall clean except for the waivers listed (and justified) in
tb/lint.vlt, and every waiver is needed."""
import re

import pytest

from spikestack.config import load_config
from spikestack.gen.generate import write_design
from spikestack.tb.lint import WAIVERS, lint

SMALL = {"linear": ("linear_default", dict(n=3, t=2, d=9, d_out=7)), "moe": ("moe_ppa_small", {}),
         "mha": ("mha_ppa_small", {})}


def _written(root, tmp_path, config, changes):
    cfg = load_config(root / "configs" / f"{config}.toml").replace(**changes)
    return [f for f in write_design(cfg, tmp_path) if f.suffix == ".v"][0]


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_lint_clean(tmp_path, root, kind):
    v = _written(root, tmp_path, *SMALL[kind])
    assert lint(v, v.stem) == []


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["linear", "moe", "mha"])
def test_lint_clean_default(tmp_path, root, kind):
    v = _written(root, tmp_path, f"{kind}_default", dict(n=3, t=2))
    assert lint(v, v.stem) == []


def test_every_waiver_is_needed(tmp_path, root):
    """Without any one waiver, the reduced MoE top warns under that rule."""
    v = _written(root, tmp_path, "moe_ppa_small", {})
    text = WAIVERS.read_text()
    rules = re.findall(r"^lint_off -rule (\w+)$", text, re.M)
    assert rules
    for rule in rules:
        less = tmp_path / f"without_{rule}.vlt"
        less.write_text(text.replace(f"lint_off -rule {rule}\n", ""))
        warnings = [w for w in lint(v, v.stem, less) if w.startswith("%Warning")]
        assert warnings and all(w.startswith(f"%Warning-{rule}:") for w in warnings), (rule, warnings[:3])
