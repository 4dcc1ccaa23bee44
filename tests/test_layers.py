"""The package is layered one way: each module imports only its own layer and those below it,
and no module imports another's ``_private`` name.

    config, netconfig  <-  sim  <-  hw  <-  gen  <-  tb  <-  flows  <-  cli, demo, bench, netcli

Read from the source (``ast``), so function-local imports count the same as top-level ones.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = [("config", "netconfig"), "sim", "hw", "gen", "tb", "flows", ("cli", "demo", "bench", "netcli")]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in ((layer,) if isinstance(layer, str) else layer)}


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in ("tests", ".venv", "out", "build") or rel.parts[0].startswith("."):
            continue
        if rel.parts == ("__init__.py",):
            continue
        mod = list(rel.with_suffix("").parts)
        is_pkg = mod[-1] == "__init__"
        if is_pkg:
            mod = mod[:-1]
        yield path, mod, is_pkg


def _imports(path: Path, mod: list[str], is_pkg: bool):
    """``(line, target module path, imported names)`` of every import of the package."""
    tree = ast.parse(path.read_text(), str(path))
    package = mod if is_pkg else mod[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "spikestack":
                    yield node.lineno, parts[1:], []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
                target = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "spikestack":
                target = node.module.split(".")[1:]
            else:
                continue
            yield node.lineno, target, [a.name for a in node.names]


def _layer(mod: list[str]) -> int:
    return RANK[mod[0]]


def test_every_module_has_a_layer():
    missing = [".".join(m) for _, m, _ in _modules() if m[0] not in RANK]
    assert not missing, f"modules outside the layers {LAYERS}: {missing}"


def test_imports_go_down():
    bad = []
    for path, mod, is_pkg in _modules():
        for line, target, names in _imports(path, mod, is_pkg):
            if not target:
                continue
            if target[0] in RANK and _layer(target) > _layer(mod):
                bad.append(f"{path.relative_to(ROOT)}:{line}: {'.'.join(mod)} (layer {_layer(mod)}) "
                           f"imports {'.'.join(target)} (layer {_layer(target)})")
    assert not bad, "imports going up the layers:\n" + "\n".join(bad)


def test_no_private_names_across_modules():
    bad = []
    for path, mod, is_pkg in _modules():
        for line, target, names in _imports(path, mod, is_pkg):
            if target == mod:
                continue
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            private += [p for p in target if p.startswith("_") and not p.startswith("__")]
            if private:
                bad.append(f"{path.relative_to(ROOT)}:{line}: imports {', '.join(private)} from {'.'.join(target)}")
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)


SUBLAYERS = {"hw": ["lib", "blocks", "layers"]}
"""Layers inside a layer: ``hw.lib`` (LIF, PE, array, encoder, GLB, FIFO, arbiter) <- ``hw.blocks``
(core, job core, router, dispatcher, merge, attention) <- ``hw.layers`` (graphs and plans)."""


def _sublayer(mod: list[str]) -> int | None:
    order = SUBLAYERS.get(mod[0])
    return order.index(mod[1]) if order and len(mod) > 1 and mod[1] in order else None


def test_sublayers_go_down():
    bad = []
    for path, mod, is_pkg in _modules():
        for line, target, names in _imports(path, mod, is_pkg):
            if target and target[0] == mod[0] and None not in (_sublayer(mod), _sublayer(target)) \
                    and _sublayer(target) > _sublayer(mod):
                bad.append(f"{path.relative_to(ROOT)}:{line}: {'.'.join(mod)} imports {'.'.join(target)}")
    assert not bad, f"imports going up the layers of {SUBLAYERS}:\n" + "\n".join(bad)


def test_every_package_is_installed():
    """A non-editable install (``pip install .``) gets every sub-package: pyproject lists them all."""
    import tomllib
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(["spikestack", *m]) for _, m, is_pkg in _modules() if is_pkg} | {"spikestack"}
    # data folders (the configurations) are listed too, so that setuptools ships their files: no code in them
    data = {p for p in listed - found if not list(ROOT.joinpath(*p.split(".")[1:]).glob("*.py"))}
    assert listed - data == found, f"pyproject's packages differ from the folders: missing {sorted(found - listed)}, extra {sorted(listed - found - data)}"
    assert all(ROOT.joinpath(*p.split(".")[1:]).is_dir() for p in data), sorted(data)


def test_the_rule_sees_a_violation(tmp_path):
    """The checker itself: an upward import and a private import are both found."""
    src = tmp_path / "x.py"
    src.write_text("from ..flows.builtin import _yowasp\nfrom spikestack.cli import main\n")
    found = list(_imports(src, ["hw", "x"], False))
    assert [(t, n) for _, t, n in found] == [(["flows", "builtin"], ["_yowasp"]), (["cli"], ["main"])]
    assert all(_layer(t) > _layer(["hw"]) for _, t, _ in found)


def test_no_circles():
    """No module imports, directly or through others, a module that imports it (function-local
    imports included): each layer is a one-way graph too."""
    mods = {".".join(m): is_pkg for _, m, is_pkg in _modules()}
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for path, mod, is_pkg in _modules():
        name = ".".join(mod)
        for _, target, names in _imports(path, mod, is_pkg):
            t = ".".join(target)
            found = {f"{t}.{n}" for n in names if f"{t}.{n}" in mods}     # `from pkg import module`
            if t in mods and (not found or not mods[t]):
                found.add(t)
            graph[name] |= found - {name}
    state: dict[str, int] = {}           # 1: on the current path, 2: done

    def visit(m: str, path: list[str]):
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                raise AssertionError("import circle: " + " -> ".join(path[path.index(n):] + [m, n]))
            if n not in state:
                visit(n, path + [m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


def test_no_module_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for p, _, _ in _modules() if (n := len(p.read_text().splitlines())) > 500}
    assert not long, f"modules over 500 lines (split them by what they do): {long}"
