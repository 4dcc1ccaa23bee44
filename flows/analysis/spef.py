"""Detailed parasitics of a routed DEF as a SPEF: every routed wire with its R and C, every via
with its R, in one RC tree per net, named after the gate netlist OpenSTA reads.

The extraction (:func:`extract`), per net of the routed DEF (qrouter's ``ROUTED``/``NEW``
statements; the combined 12-layer stack of :mod:`spikestack.flows.coplace.stack` or a plain
6-layer one):

* **wires** — each straight piece between two route points is a resistor ``RPERSQ x length /
  WIDTH`` of its LEF layer, with the layer's capacitance per µm (``CPERSQDIST x WIDTH + 2 x
  EDGECAPACITANCE``: the same per-µm C as :func:`spikestack.flows.coplace.extract.net_caps`, so the
  SPEF's total C of a net equals that lumped C) split half to each end (a pi section per piece).
  A piece is cut where another route point of the net lies on it (a T junction), so the pieces
  form the net's routed tree;
* **vias** — a resistor between the two metals at the via point: the LEF cut layer's
  ``RESISTANCE`` where the LEF gives one, else ``VIA_R_OHM`` (osu018's LEF gives none);
  the F2F bond via (``F2F_BOND``) is the bond model: ``bond_r_ohm`` with ``bond_c_pf`` (half at
  each end);
* **pins** — each terminal is joined by ``PIN_R_OHM`` to every route point on its pin's shapes
  or within ``PIN_REACH_UM`` of them (the router may land on one pin more than once, at grid
  points just off the shape), or, with none there, to the nearest route
  point on one of its layers (the pin's LEF rectangles placed with the instance's orientation; a
  chip pin at its DEF rectangle); its driver (the ``OUTPUT`` pin, or the chip input) is ``*O``/``*P .. I``;
* **gaps** — where the routed pieces of a net fall apart into several trees (an unrouted or
  partly routed net, a pin off its route), the parts are joined nearest point to nearest point by
  an estimated wire (Manhattan length on ``metal2``'s R and C); such nets are counted
  (``stats["joined"]``), not hidden.

Names: ``inst_name`` maps a DEF instance to its path in the netlist OpenSTA links (``B_U1`` ->
``tier_bottom/U1``), ``net_of`` a ``(path, pin)`` to the netlist's net (the DEF's own net names
differ: qflow writes ``$`` where the netlist has ``_``); a net none of whose terminals is found
is left out and counted (``stats["unmapped"]``)."""
from __future__ import annotations

import re
from collections.abc import Callable

from ..formats.def_ import components, def_pins, net_blocks, net_terminals, route_statements
from ..formats.spef import SpefNet, spef_name, write_spef
from ..builtin.platform import FlowError

__all__ = ["VIA_R_OHM", "PIN_R_OHM", "PIN_REACH_UM", "BOND_VIA_NAME", "layer_rc", "via_table", "pin_shapes", "netlist_pins",
           "extract", "extract_nets", "spef_for", "stitch_spef", "annotation", "MIN_ANNOTATED"]

VIA_R_OHM = 5.0           # per via, where the LEF gives no cut RESISTANCE (osu018's does not)
PIN_R_OHM = 0.01          # a terminal to the route point on its pin
PIN_REACH_UM = 0.5        # a route point this close to a pin's shape lands on it (qrouter's taps are on the grid)
BOND_VIA_NAME = "F2F_BOND"
_BLOCK = r"^{kind}\s+(\S+)(?:\s+\w+)?\s*$(.*?)^END\s+\1\s*$"


def layer_rc(lef: str) -> dict[str, dict]:
    """Routing layer -> ``{"r_per_um": ohm/µm, "c_per_um": pF/µm, "width_um": µm, "order": k}``; cut layer ->
    ``{"r_via": ohm or None, "order": k}``."""
    out = {}
    for k, m in enumerate(re.finditer(_BLOCK.format(kind="LAYER"), lef, re.S | re.M)):
        name, t = m.group(1), m.group(2)
        if re.search(r"TYPE\s+ROUTING", t):
            w = float(re.search(r"WIDTH\s+([\d.]+)", t).group(1))
            r = re.search(r"RESISTANCE\s+RPERSQ\s+([\d.eE+-]+)", t)
            a = re.search(r"CPERSQDIST\s+([\d.eE+-]+)", t)
            e = re.search(r"EDGECAPACITANCE\s+([\d.eE+-]+)", t)
            out[name] = {"r_per_um": (float(r.group(1)) / w) if r else 0.0,
                         "c_per_um": (float(a.group(1)) * w if a else 0.0) + (2 * float(e.group(1)) if e else 0.0),
                         "width_um": w, "order": k}
        elif re.search(r"TYPE\s+CUT", t):
            r = re.search(r"RESISTANCE\s+([\d.eE+-]+)", t)
            out[name] = {"r_via": float(r.group(1)) if r else None, "order": k}
    return out


def via_table(lef: str, layers: dict) -> dict[str, tuple[list[str], float]]:
    """Via -> (its routing layers, R in ohm: the cut layer's RESISTANCE or ``VIA_R_OHM``)."""
    out = {}
    for m in re.finditer(_BLOCK.format(kind="VIA"), lef, re.S | re.M):
        lays = re.findall(r"LAYER\s+(\S+)\s*;", m.group(2))
        metals = [x for x in lays if "r_per_um" in layers.get(x, {})]
        cuts = [layers[x]["r_via"] for x in lays if "r_via" in layers.get(x, {}) and layers[x]["r_via"] is not None]
        out[m.group(1)] = (metals, cuts[0] if cuts else VIA_R_OHM)
    return out


def pin_shapes(lef_texts: list[str]) -> dict[str, dict]:
    """Macro -> ``{"size": (w, h), "pins": {pin: [(layer, x0, y0, x1, y1)]}, "dirs": {pin: dir}}`` (µm)."""
    out = {}
    for text in lef_texts:
        for m in re.finditer(r"^MACRO\s+(\S+)(.*?)^END\s+\1\b", text, re.S | re.M):
            size = re.search(r"SIZE\s+([\d.]+)\s+BY\s+([\d.]+)", m.group(2))
            pins, dirs = {}, {}
            for p in re.finditer(r"^\s*PIN\s+(\S+)(.*?)^\s*END\s+\1\b", m.group(2), re.S | re.M):
                d = re.search(r"DIRECTION\s+(\w+)", p.group(2))
                dirs[p.group(1)] = d.group(1) if d else "INPUT"
                rects, lay = [], None
                for tok in re.finditer(r"LAYER\s+(\S+)\s*;|RECT\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)", p.group(2)):
                    if tok.group(1):
                        lay = tok.group(1)
                    elif lay:
                        rects.append((lay, *map(float, tok.groups()[1:])))
                pins[p.group(1)] = rects
            out.setdefault(m.group(1), {"size": (float(size.group(1)), float(size.group(2))) if size else (0.0, 0.0),
                                        "pins": pins, "dirs": dirs})
    return out


def _place(rect, x, y, w, h, orient):
    lay, a, b, c, d = rect
    if orient == "S":
        a, b, c, d = w - c, h - d, w - a, h - b
    elif orient == "FN":
        a, c = w - c, w - a
    elif orient == "FS":
        b, d = h - d, h - b
    return lay, x + a, y + b, x + c, y + d


_GATE = re.compile(r"^\s*([A-Za-z]\w*)\s+(\S+)\s*\((.*?)\);", re.M | re.S)
_CONN = re.compile(r"\.([\w\[\]]+)\(\s*([^)\s]*)\s*\)")
_PORT = re.compile(r"^\s*(input|output|inout)\s+(?:\[\d+:\d+\]\s+)?([^\s;]+)\s*;", re.M)


def netlist_pins(netlist: str, prefix: str = "") -> dict[tuple[str, str], str]:
    """``(prefix + instance, pin) -> net`` of a flat gate netlist; a net that is a port keeps its
    name, any other gets ``prefix`` (the stitched design's names: ``tier_bottom/n1``, bond ``b[3]``)."""
    ports = {n for _, n in _PORT.findall(netlist)}
    out = {}
    for m in _GATE.finditer(netlist):
        if m.group(1) in ("module", "input", "output", "wire", "inout", "assign"):
            continue
        for pin, net in _CONN.findall(m.group(3)):
            if net:
                out[(prefix + m.group(2), pin)] = net if net.split("[")[0] in ports else prefix + net
    return out


class _Net:
    def __init__(self, name):
        self.name, self.n, self.ids, self.caps, self.res, self.pos = name, 0, {}, {}, [], {}

    def node(self, key):
        if key not in self.ids:
            self.n += 1
            self.ids[key] = f"{self.name}:{self.n}"
            self.pos[self.ids[key]] = key
        return self.ids[key]

    def add_c(self, node, c):
        self.caps[node] = self.caps.get(node, 0.0) + c


def _components(nodes, res):
    parent = {n: n for n in nodes}

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a
    for a, b, _ in res:
        parent[find(a)] = find(b)
    groups = {}
    for n in nodes:
        groups.setdefault(find(n), []).append(n)
    return list(groups.values())


def extract(routed_def: str, lef: str, inst_name: Callable[[str], str | None],
            net_of: Callable[[str, str], str | None], bond_r_ohm: float = 0.0, bond_c_pf: float = 0.0,
            design: str = "top", c_scale: float = 1.0) -> tuple[str, dict]:
    """:func:`extract_nets` written as a SPEF: ``(text, stats)``."""
    nets, stats = extract_nets(routed_def, lef, inst_name, net_of, bond_r_ohm, bond_c_pf, c_scale)
    return write_spef(design, nets), stats


def extract_nets(routed_def: str, lef: str, inst_name: Callable[[str], str | None],
                 net_of: Callable[[str, str], str | None], bond_r_ohm: float = 0.0, bond_c_pf: float = 0.0,
                 c_scale: float = 1.0) -> tuple[list[SpefNet], dict]:
    """The RC trees of ``routed_def`` over the technology ``lef`` (see the module docstring), every
    wire's C times ``c_scale`` (the calibration to qrouter's own extraction the lumped flow uses,
    :func:`~spikestack.flows.coplace.extract.calibration`; not the bond's C): the nets
    (:class:`~spikestack.flows.formats.spef.SpefNet`) and the counts."""
    layers = layer_rc(lef)
    for v in layers.values():
        if "c_per_um" in v:
            v["c_per_um"] *= c_scale
    vias = via_table(lef, layers)
    shapes = pin_shapes([lef])
    u, _, chip_pins = def_pins(routed_def)
    comps = components(routed_def)
    m2 = layers.get("metal2") or next(v for v in layers.values() if "r_per_um" in v)
    nets, stats = [], {"nets": 0, "unmapped": 0, "joined": 0, "bond_vias": 0, "vias": 0, "duplicate": 0}
    seen = set()
    for net_name, body in net_blocks(routed_def).items():
        terms = net_terminals(body)
        if net_name in ("vdd", "gnd") or not terms:
            continue
        name = None
        for inst, pin in terms:
            if inst != "PIN":
                path = inst_name(inst)
                name = name or (net_of(path, pin) if path else None)
        if name is None:
            stats["unmapped"] += 1
            continue
        if name in seen:
            stats["duplicate"] += 1
            continue
        seen.add(name)
        net = _Net(spef_name(name))
        for layer, pts, via in route_statements(body):
            for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
                net.node((layer, x0, y0)), net.node((layer, x1, y1))
            if len(pts) == 1:
                net.node((layer, *pts[0]))
            if via and pts and via in vias:
                ms, r = vias[via]
                other = next((x for x in ms if x != layer), None)
                if other:
                    a, b = net.node((layer, *pts[-1])), net.node((other, *pts[-1]))
                    if via == BOND_VIA_NAME:
                        r = bond_r_ohm
                        net.add_c(a, bond_c_pf / 2)
                        net.add_c(b, bond_c_pf / 2)
                        stats["bond_vias"] += 1
                    else:
                        stats["vias"] += 1
                    net.res.append((a, b, r))
            net.res += [("wire", layer, p, q) for p, q in zip(pts, pts[1:]) if p != q]
        _cut_at_junctions(net, layers, u)
        conns = _terminals(net, terms, comps, shapes, chip_pins, inst_name, u)
        _join(net, conns, m2, u, stats)
        nets.append(SpefNet(net.name, [c[:4] for c in conns], net.caps, net.res))
        stats["nets"] += 1
    return nets, stats


def _cut_at_junctions(net, layers, u):
    """Wire pieces (kept as ``("wire", layer, p, q)`` until now) cut at the net's other points on
    their layer, then written as resistors and pi caps."""
    pts_by_layer = {}
    for (lay, x, y) in net.ids:
        pts_by_layer.setdefault(lay, set()).add((x, y))
    res = []
    for item in net.res:
        if item[0] != "wire":
            res.append(item)
            continue
        _, lay, (x0, y0), (x1, y1) = item
        lr = layers.get(lay, {})
        if x0 == x1:
            inner = sorted({y for x, y in pts_by_layer[lay] if x == x0 and min(y0, y1) < y < max(y0, y1)})
            chain = [(x0, y) for y in ([min(y0, y1)] + inner + [max(y0, y1)])]
        else:
            inner = sorted({x for x, y in pts_by_layer[lay] if y == y0 and min(x0, x1) < x < max(x0, x1)})
            chain = [(x, y0) for x in ([min(x0, x1)] + inner + [max(x0, x1)])]
        for (a, b), (c, d) in zip(chain, chain[1:]):
            length = (abs(c - a) + abs(d - b)) / u
            na, nb = net.node((lay, a, b)), net.node((lay, c, d))
            res.append((na, nb, lr.get("r_per_um", 0.0) * length))
            cw = lr.get("c_per_um", 0.0) * length
            net.add_c(na, cw / 2)
            net.add_c(nb, cw / 2)
    net.res = res


def _terminals(net, terms, comps, shapes, chip_pins, inst_name, u):
    """``(kind, name, dir, cell, node)`` per terminal, each joined to its nearest route point."""
    conns = []
    by_layer = {}
    for (lay, x, y), nid in net.ids.items():
        by_layer.setdefault(lay, []).append((x, y, nid))
    for inst, pin in terms:
        if inst == "PIN":
            p = chip_pins.get(pin)
            if p is None:
                continue
            rects = [(p["layer"], *p["rect"])]
            kind, name, d, cell = "*P", spef_name(pin), "O" if (p.get("direction") or "").startswith("OUT") else "I", None
        else:
            path = inst_name(inst)
            cell, x, y, orient = comps.get(inst, (None, 0.0, 0.0, "N"))
            g = shapes.get(cell) if cell else None
            if path is None or g is None:
                continue
            w, h = g["size"]
            rects = [_place(r, x, y, w, h, orient) for r in g["pins"].get(pin, [])]
            rects = [(lay, a * u, b * u, c * u, e * u) for lay, a, b, c, e in rects]
            dr = g["dirs"].get(pin, "INPUT")
            kind, name, d = "*I", f"{spef_name(path)}:{spef_name(pin)}", "O" if dr == "OUTPUT" else "B" if dr == "INOUT" else "I"
        best, inside = None, set()
        for lay, a, b, c, e in rects:
            for x, y, nid in by_layer.get(lay, []):
                dist = max(a - x, 0, x - c) + max(b - y, 0, y - e)
                if dist <= PIN_REACH_UM * u:
                    inside.add(nid)
                if best is None or dist < best[0]:
                    best = (dist, nid)
        if best is None:                  # no route point on the pin's layers: its own point
            lay, a, b, c, e = rects[0] if rects else ("metal1", 0, 0, 0, 0)
            inside = {net.node((lay, (a + c) / 2, (b + e) / 2))}
        elif not inside:
            inside = {best[1]}
        # every route point on the pin's shapes (the router may land on a pin more than once)
        conns.append((kind, name, d, cell, sorted(inside)[0]))
        net.res += [(name, nid, PIN_R_OHM) for nid in sorted(inside)]
    return conns


def _join(net, conns, m2, u, stats):
    """Join the net's separate trees nearest point to nearest point (an estimated metal2 wire)."""
    nodes = list(net.pos) + [c[1] for c in conns]
    groups = _components(nodes, net.res)
    if len(groups) <= 1:
        return
    stats["joined"] += 1
    pos = dict(net.pos)
    for c in conns:
        pos[c[1]] = net.pos[c[4]]
    done, rest = list(groups[0]), groups[1:]
    while rest:
        best = None
        for gi, g in enumerate(rest):
            for a in g:
                if a not in net.pos:
                    continue
                _, xa, ya = pos[a]
                for b in done:
                    if b not in net.pos:
                        continue
                    _, xb, yb = pos[b]
                    dist = abs(xa - xb) + abs(ya - yb)
                    if best is None or dist < best[0]:
                        best = (dist, gi, a, b)
        if best is None:
            break
        dist, gi, a, b = best
        length = dist / u
        net.res.append((b, a, m2["r_per_um"] * length))
        net.add_c(a, m2["c_per_um"] * length / 2)
        net.add_c(b, m2["c_per_um"] * length / 2)
        done += rest.pop(gi)


def spef_for(routed_def: str, lef: str, netlists: dict[str, str], prefixes: dict[str, str],
             bond_r_ohm: float = 0.0, bond_c_pf: float = 0.0, design: str | None = "top",
             c_scale: float = 1.0) -> tuple[str | list[SpefNet], dict]:
    """The SPEF of a routed DEF for a (stitched) netlist: ``netlists``: path prefix (``""`` for a
    flat design, ``"tier_bottom/"``) -> gate netlist; ``prefixes``: DEF instance prefix (``B_``,
    ``""``) -> that path prefix."""
    pins = {}
    for p, text in netlists.items():
        pins.update(netlist_pins(text, p))
    order = sorted(prefixes, key=len, reverse=True)

    def inst_name(inst):
        for dp in order:
            if inst.startswith(dp):
                return prefixes[dp] + inst[len(dp):]
        return None
    nets, stats = extract_nets(routed_def, lef, inst_name, lambda path, pin: pins.get((path, pin)), bond_r_ohm,
                               bond_c_pf, c_scale)
    return (nets if design is None else write_spef(design, nets)), stats


def _renumber(net: SpefNet, start: int, port: str | None) -> tuple[dict[str, str], int]:
    """Node -> new name (``<net>:<k>`` from ``start``) of a part of a net; its port node too."""
    names, k = {}, start
    nodes = list(net.caps) + [x for a, b, _ in net.res for x in (a, b)]
    for n in nodes:
        if n not in names and (n.startswith(net.name + ":") or n == port):
            names[n] = f"{net.name}:{k}"
            k += 1
    return names, k


def stitch_spef(parts: dict[str, list[SpefNet]], bonds: set[str], bond_r_ohm: float, bond_c_pf: float,
                design: str) -> tuple[str, dict]:
    """One SPEF of the stitched design from each tier's own (``parts``: tier -> its nets, named
    after the stitched netlist, as :func:`spef_for` gives them with ``design=None``): a net of one
    tier as it is; a bond (``bonds``: bit names) present on both tiers as one net, its two trees
    joined at their bond pins (the independent method's area pins, one location on both tiers) by
    the bond's R, with the bond's C half on each side, and no port; a chip input used by both
    tiers as one net from its port, the other tier's pin joined to it by ``PIN_R_OHM`` (both
    trees hang from the one input, as the lumped analysis sums them)."""
    by_name: dict[str, list[SpefNet]] = {}
    for nets in parts.values():
        for n in nets:
            by_name.setdefault(n.name, []).append(n)
    out, stats = [], {"nets": 0, "bonds_joined": 0, "inputs_joined": 0, "bonds_one_tier": 0}
    bond_names = {spef_name(x) for x in bonds}
    for name, group in by_name.items():
        bond = name in bond_names
        if len(group) == 1 and not bond:
            out.append(group[0])
            continue
        merged, start, ports = SpefNet(name), 1, []
        for part in group:
            port = next((c[1] for c in part.conns if c[0] == "*P"), None)
            names, start = _renumber(part, start, port)
            ports.append(names.get(port) if port else None)
            merged.conns += [c for c in part.conns if c[0] == "*I"]
            for node, c in part.caps.items():
                merged.caps[names.get(node, node)] = merged.caps.get(names.get(node, node), 0.0) + c
            merged.res += [(names.get(a, a), names.get(b, b), r) for a, b, r in part.res]
        a, b = ports[0], ports[1] if len(ports) > 1 else None
        if bond and not (a and b):
            stats["bonds_one_tier"] += 1          # a bond bit with cells on one tier only
        elif a and b and bond:
            merged.res.append((a, b, bond_r_ohm))
            merged.caps[a] = merged.caps.get(a, 0.0) + bond_c_pf / 2
            merged.caps[b] = merged.caps.get(b, 0.0) + bond_c_pf / 2
            stats["bonds_joined"] += 1
        elif a and b:
            merged.conns.insert(0, ("*P", name, "I", None))
            merged.res += [(name, a, PIN_R_OHM), (name, b, PIN_R_OHM)]
            stats["inputs_joined"] += 1
        out.append(merged)
    stats["nets"] = len(out)
    return write_spef(design, out), stats


MIN_ANNOTATED = 0.95


def annotation(spef_text: str, sta_log: str, netlists: dict[str, str]) -> dict:
    """How much of the netlist OpenSTA annotated from the SPEF: its ``*D_NET`` names less those
    OpenSTA reported as not found (``Warning: <file>, line N net X not found``), against the
    netlist's nets (``netlists``: path prefix -> gate netlist) with two or more instance pins;
    raises :class:`~spikestack.flows.builtin.platform.FlowError` when less than ``MIN_ANNOTATED`` of them
    are annotated (the SPEF's names do not match the netlist)."""
    spef_nets = set(re.findall(r"^\*D_NET\s+(\S+)", spef_text, re.M))
    missing = set(re.findall(r"^Warning: .*? net (\S+) not found", sta_log, re.M))
    bad_pins = len(re.findall(r"^Warning: .*? (?:instance|pin) \S+ not found", sta_log, re.M))
    count: dict[str, int] = {}
    for p, text in netlists.items():
        for net in netlist_pins(text, p).values():
            count[net] = count.get(net, 0) + 1
    want = {spef_name(n) for n, k in count.items() if k >= 2 and n.split("/")[-1] not in ("vdd", "gnd")}
    annotated = (spef_nets - missing) & want
    res = {"spef_nets": len(spef_nets), "not_found": len(missing), "pins_not_found": bad_pins,
           "netlist_nets": len(want), "annotated": len(annotated),
           "coverage": len(annotated) / len(want) if want else 0.0,
           "not_annotated_examples": sorted(want - annotated)[:10]}
    if res["coverage"] < MIN_ANNOTATED:
        raise FlowError(f"SPEF: OpenSTA annotated {res['annotated']} of {res['netlist_nets']} nets "
                        f"({res['not_found']} SPEF nets not found; e.g. {res['not_annotated_examples'][:3]})")
    return res
