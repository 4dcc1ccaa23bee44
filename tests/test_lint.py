"""Generated Verilog is Verilator -Wall clean except for the waivers listed (and justified) in tb/lint.vlt."""
import pytest

from spikestack.config import ConfigError, load_config
from spikestack.gen.generate import write_design
from spikestack.tb.lint import lint


@pytest.mark.parametrize("kind", ["linear", "moe", "mha"])
def test_lint_clean(tmp_path, root, kind):
    cfg = load_config(root / "configs" / f"{kind}_default.toml")
    cfg = cfg.replace(n=3, t=2)
    try:
        files = write_design(cfg, tmp_path)
    except ConfigError as e:
        pytest.skip(str(e))
    v = [f for f in files if f.suffix == ".v"][0]
    assert lint(v, v.stem) == []
