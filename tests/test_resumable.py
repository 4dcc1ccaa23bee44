"""Checkpointed routing (flows/builtin/resumable.py): qrouter's first pass in chunks that a later run
continues, then the rip-up; real qrouter on a small placed design."""
import dataclasses
import json
import re
from collections import defaultdict

import pytest

from spikestack.config import LifConfig
from spikestack.flows.builtin import routing
from spikestack.flows.builtin.flow import run_flow, run_logged
from spikestack.flows.formats.def_ import net_terminals, route_statements
from spikestack.flows.builtin.platform import OSU018
from spikestack.flows.builtin.resumable import first_pass, net_blocks, qrouter_order, with_blocks

DEF = """VERSION 5.6 ;
NETS 4 ;
- a
  ( U1 Y ) ;
- b
  ( U1 A ) ( U2 Y ) ( U3 A )
- c
  ( U2 A ) ( U4 Y )

+ ROUTED metal1 ( 10 20 ) ( 30 * ) ;

- d
  ( U3 Y ) ( U4 A ) ( U5 A ) ;
END NETS
END DESIGN
"""


def test_blocks_are_split_at_each_net_even_without_its_semicolon():
    """qrouter's write_def leaves out the ';' of some ignored nets and puts blank lines in and between
    blocks; each net is still its own block,
    and qrouter's order is most terminals first, then DEF order, nets of one terminal left out."""
    blocks = net_blocks(DEF)
    assert list(blocks) == ["a", "b", "c", "d"] and all(b.endswith(";") for b in blocks.values())
    assert [len(net_terminals(b)) for b in blocks.values()] == [1, 3, 2, 3]
    assert qrouter_order(DEF) == ["b", "d", "c"]
    new = with_blocks(DEF, {"b": "- b\n  ( U1 A ) ( U2 Y ) ( U3 A )\n+ ROUTED metal2 ( 1 2 ) ( 3 * ) ;"})
    assert "+ ROUTED metal2" in net_blocks(new)["b"] and net_blocks(new)["c"] == blocks["c"]
    assert new.count("\n- ") == 4 and new.endswith("END NETS\nEND DESIGN\n")


def _grid_owners(def_text: str, step: int = 10) -> dict:
    """(layer, x, y) -> the nets whose routed segments pass there, sampled every ``step`` units."""
    owners = defaultdict(set)
    for net, block in net_blocks(def_text).items():
        for layer, pts, _via in route_statements(block):
            for (x0, y0), (x1, y1) in zip(pts, pts[1:] or pts):
                n = max(abs(x1 - x0), abs(y1 - y0)) // step + 1
                for k in range(int(n) + 1):
                    t = k / n
                    owners[(layer, round(x0 + (x1 - x0) * t), round(y0 + (y1 - y0) * t))].add(net)
    return owners


@pytest.fixture(scope="module")
def chunked_pe(tmp_path_factory):
    """A LIF PE through the whole flow, routed in checkpointed chunks of 150 nets (the knobs made
    small enough for it)."""
    from amaranth.back import verilog
    from spikestack.hw.lib.pe import LifPE
    out = tmp_path_factory.mktemp("chunked")
    v = verilog.convert(LifPE((LifConfig(64, 3, "hard", "out"),), w_bits=8, b_bits=16, acc_bits=18, v_bits=16), name="lifpe")
    knobs = dataclasses.replace(OSU018.knobs, cleanup_nets=100, chunk_nets=150)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(routing, "OSU018", dataclasses.replace(OSU018, knobs=knobs))
        rep = run_flow(v, "lifpe", out, clock_ns=10.0, log=lambda *_: None)
    return out, rep


def test_a_large_design_routes_in_chunks_then_rips_up(chunked_pe):
    """The first pass ran in several chunks, the last run routed what they left: 0 failed routes,
    every net of two terminals or more routed, no grid point on a layer shared by two nets."""
    out, rep = chunked_pe
    work = out / "work"
    state = json.loads((work / "lifpe_ckpt.json").read_text())
    assert state["finished"] and state["chunks"] >= 2 and state["done"] == len(state["order"]) > 300
    assert "stage1 route" in (work / "lifpe.cfg").read_text() or not state["failed"]
    assert rep["failed_routes"] == 0 and rep["wirelength_um"] > 0
    assert rep["route_cleanup"] is False and rep["route_checkpoints"] == state["chunks"]
    routed = (work / "lifpe.def").read_text()
    blocks = net_blocks(routed)
    assert all("+ ROUTED" in blocks[n] for n in state["order"])
    # a net the last chunk's qrouter failed is on the rip-up's list even with part of it routed
    last = set(re.findall(r"^Failed to route net (\S+)", (work / "lifpe_chunk.log").read_text(), re.M))
    assert last <= set(state["failed"])
    shared = [k for k, nets in _grid_owners(routed).items() if len(nets) > 1]
    assert shared == []
    # each net's route once (qrouter writes a net read from the DEF twice; the first pass's route is kept)
    assert not [n for n, b in blocks.items() if b.count("+ ROUTED") > 1]
    ckpt = net_blocks((work / "lifpe_ckpt.def").read_text())
    ripped = set(re.findall(r"^Ripping up blocking net (\S+)", (work / "log" / "route.log").read_text(), re.M))
    assert all(blocks[n] == b for n, b in ckpt.items() if "+ ROUTED" in b and n not in ripped)
    assert (work / "lifpe.rc").stat().st_mtime >= (work / "lifpe.def").stat().st_mtime
    assert rep["step_seconds"]["routing"] > 0 and set(rep["step_seconds"]) == {"synthesis", "placement", "routing",
                                                                               "parasitics", "sta"}


def test_an_interrupted_first_pass_resumes_to_the_same_routes(chunked_pe, tmp_path):
    """Stopped after one chunk and run again, the first pass ends with the same checkpoint DEF, byte
    for byte, as one run without a stop (the chunks are deterministic and start from the saved one)."""
    out, _ = chunked_pe
    work = out / "work"
    placed = (work / "lifpe_unroute.def").read_text()
    lines = (work / "lifpe.cfg").read_text().splitlines()
    head = lines[:next(i for i, line in enumerate(lines) if line.startswith("read_def"))]
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    whole = first_pass(one, "lifpe", head, placed, 150, run_logged, log=lambda *_: None)
    said = []
    part = first_pass(two, "lifpe", head, placed, 150, run_logged, log=said.append, max_chunks=1)
    assert not part["finished"] and part["chunks"] == 1
    rest = first_pass(two, "lifpe", head, placed, 150, run_logged, log=said.append)
    assert any("resuming the first pass at 150" in s for s in said)
    assert rest["finished"] and rest["chunks"] == whole["chunks"] and rest["failed"] == whole["failed"]
    assert (two / "lifpe_ckpt.def").read_text() == (one / "lifpe_ckpt.def").read_text()
    # a checkpoint of another script (or placement) is not continued: it starts again
    again = first_pass(two, "lifpe", head + ["# another script"], placed, 150, run_logged, log=lambda *_: None,
                       max_chunks=0)
    assert again["done"] == 0 and again["chunks"] == 0


def test_the_flow_run_again_resumes_the_routing(chunked_pe, monkeypatch):
    """run_flow of the same design in the same directory, with a checkpointed routing there, keeps
    the synthesis and placement (not run again) and continues the routing from the checkpoint."""
    from amaranth.back import verilog
    from spikestack.hw.lib.pe import LifPE
    out, rep = chunked_pe
    v = verilog.convert(LifPE((LifConfig(64, 3, "hard", "out"),), w_bits=8, b_bits=16, acc_bits=18, v_bits=16), name="lifpe")
    synth = (out / "logs" / "synth.log").stat().st_mtime_ns
    monkeypatch.setattr(routing, "OSU018", dataclasses.replace(OSU018, knobs=dataclasses.replace(
        OSU018.knobs, cleanup_nets=100, chunk_nets=150)))
    said = []
    again = run_flow(v, "lifpe", out, clock_ns=10.0, log=said.append)
    assert any("resuming the routing" in s for s in said) and (out / "logs" / "synth.log").stat().st_mtime_ns == synth
    assert again["failed_routes"] == 0 and again["cells"] == rep["cells"]
    assert again["step_seconds"]["placement"] == rep["step_seconds"]["placement"]


@pytest.mark.parametrize("outcomes,ripup", [((1, 1, 0), True), ((0, 1, 0), True), ((1, 0, 1), True),
                                            ((0, 0, 0), False)])
def test_the_last_run_rips_up_whenever_a_failed_net_is_left(tmp_path, outcomes, ripup):
    """The last run's script routes the first pass's failed nets one by one (qrouter's ``stage1 route``
    returns 0 or 1 for its one net) and then rips up if any of them still fails, not only when the
    last one does. The default MoE's expert core (2,413 failed in the first pass, 2,044 after the
    one-by-one routes, the last one routed) skipped its rip-up so. Run by Tcl itself: the script's
    qrouter commands as procedures that log what they are given."""
    import shutil
    import subprocess
    from spikestack.flows.builtin.resumable import ripup_script
    tclsh = shutil.which("tclsh")
    if tclsh is None:
        pytest.skip("tclsh (Debian's tcl, a dependency of qflow: make pd-tools) not installed")
    failed = ["n$1", "n2", "n[3]"]
    stubs = ["set ::log {}", "array set ::fails {" + " ".join(f"{{{n}}} {o}" for n, o in zip(failed, outcomes)) + "}",
             "proc stage1 {route net} {lappend ::log [list stage1 $net]; return $::fails($net)}",
             "proc stage2 {args} {lappend ::log stage2; return 0}",
             *(f"proc {c} {{args}} {{lappend ::log {c}}}" for c in
               ("read_def", "ignore", "cleanup", "antenna", "write_def", "write_failed", "write_delays"))]
    script = ripup_script([], "x_ckpt.def", failed, "x_route.def", ignore=["q"])
    body = [l for l in script if l != "quit"]
    (tmp_path / "run.tcl").write_text("\n".join(stubs + body + ["puts $::log"]) + "\n")
    out = subprocess.run([tclsh, str(tmp_path / "run.tcl")], capture_output=True, text=True, check=True).stdout
    assert out.count("stage1") == len(failed)
    assert ("stage2" in out) == ripup, out


def test_a_block_taken_from_the_cache_keeps_the_placement_resumable(tmp_path):
    """The placement's key (``placed.json``, which decides whether a run resumes its routing) depends on
    the hardened blocks' views, not on their run records: the default MoE's expert core, stopped
    after its first pass with its inner macros hardened in that run, placed again on the next run,
    which took the same macros from the block cache (another ``seconds`` and ``cache``)."""
    from spikestack.flows.builtin.flow import blocks_identity
    from spikestack.flows.builtin.harden import MacroAbstract
    views = {}
    for ext in ("lef", "lib", "v"):
        views[ext] = tmp_path / f"lane.{ext}"
        views[ext].write_text(f"the {ext} view\n")
    fresh = MacroAbstract("lane", views["lef"], views["lib"], views["v"], 10.0, 20.0, 10.0, 4,
                          seconds={"flow": 25.0}, cache={"key": "ab", "hit": False})
    cached = dataclasses.replace(fresh, seconds={}, cache={"key": "ab", "hit": True})
    assert blocks_identity([fresh]) == blocks_identity([cached]) and blocks_identity(None) == []
    before = blocks_identity([fresh])
    views["lef"].write_text("the lef view, a pin moved\n")      # another block: placed again
    assert blocks_identity([cached]) != before


IO_DEF = DEF.replace("( U2 A ) ( U4 Y )", "( U2 A ) ( U4 Y ) ( PIN c )").replace("- a\n  ( U1 Y ) ;",
                                                                               "- a\n  ( U1 Y ) ( PIN a ) ;")


def test_the_io_nets_go_first_in_chunks_of_their_own_with_their_mask(tmp_path):
    """With ``io_mask`` the nets that reach an I/O pin are routed first, each group in qrouter's
    order, in chunks that hold no other net, with ``stage1 mask <io_mask>``; the others after
    them with qrouter's own ``stage1``. Without it the order and the script are qrouter's."""
    from spikestack.flows.builtin.resumable import io_first
    assert io_first(IO_DEF, qrouter_order(IO_DEF)) == (["c", "a", "b", "d"], 2)
    scripts = []

    def runner(cmd, cwd, log_path, step, progress=None):
        """qrouter stand-in: records the chunk's script, routes nothing (its DEF written back as read)."""
        scripts.append((cwd / cmd[-1]).read_text())
        (cwd / "t_chunk.def").write_text((cwd / "t_ckpt.def").read_text())
        log_path.write_text("")
        return 0.0

    state = first_pass(tmp_path, "t", ["# head"], IO_DEF, 3, runner, log=lambda *_: None, io_mask="bbox")
    assert state["order"] == ["c", "a", "b", "d"] and state["io_nets"] == 2 and state["chunks"] == 2
    chunks = [(s.splitlines()[-3], {l.split()[1].strip("{}") for l in s.splitlines() if l.startswith("ignore")}) for s in scripts]
    assert chunks == [("stage1 mask bbox", {"b", "d"}), ("stage1", {"a", "c"})]
    assert state["failed"] == ["a", "b", "d"]      # the stand-in routes nothing; c keeps the route the DEF has
    scripts.clear()
    (tmp_path / "plain").mkdir()
    plain = first_pass(tmp_path / "plain", "t", ["# head"], IO_DEF, 3, runner, log=lambda *_: None)
    assert plain["order"] == qrouter_order(IO_DEF) and [s.splitlines()[-3] for s in scripts] == ["stage1", "stage1"]


def test_nets_routed_alone_with_each_mask(chunked_pe, tmp_path):
    """``python -m spikestack.bench.router`` (the measurement behind ``FlowKnobs.io_mask``): a slice of a
    placed design's nets routed alone with qrouter's default mask and with ``bbox``; each run counts
    the I/O nets (a die pin among the terminals) and the others of the slice, and their failures."""
    from spikestack.bench.router import route_alone
    from spikestack.flows.builtin.resumable import io_first
    out, _ = chunked_pe
    placed = (out / "work" / "lifpe_unroute.def").read_text()
    order = qrouter_order(placed)
    _, io = io_first(placed, order[:200])
    for mask in (None, "bbox"):
        r = route_alone(out / "work", "lifpe", 0, 200, mask, tmp_path / str(mask))
        assert r["nets"] == 200 and r["io_nets"] == io > 0 and r["cpu_s"] > 0
        assert 0 <= r["io_failed"] <= io and 0 <= r["other_failed"] <= 200 - io
        assert ("stage1 mask bbox" in (tmp_path / str(mask) / "alone.cfg").read_text()) == (mask == "bbox")
