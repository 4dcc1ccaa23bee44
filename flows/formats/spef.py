"""SPEF (IEEE 1481 Standard Parasitic Exchange Format): a writer of detailed nets (``*D_NET`` with
``*CONN``, ``*CAP``, ``*RES``) and a reader of what it writes (for checks and tests).

Units written: ``*C_UNIT 1 PF``, ``*R_UNIT 1 OHM``, ``*T_UNIT 1 NS``; hierarchy divider ``/``,
pin delimiter ``:``, bus delimiter ``[]``. No name map: names are written as they are, every
character other than letters, digits, ``_``, ``/``, ``[``, ``]`` escaped with ``\\``."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["SpefNet", "spef_name", "write_spef", "read_spef", "scale_spef"]

_PLAIN = re.compile(r"[A-Za-z0-9_/\[\]]")


def spef_name(name: str) -> str:
    """``name`` with SPEF's escapes (a Verilog escaped identifier's ``\\`` and trailing blank dropped)."""
    if name.startswith("\\"):
        name = name[1:].rstrip()
    return "".join(c if _PLAIN.fullmatch(c) else "\\" + c for c in name)


@dataclass
class SpefNet:
    """One ``*D_NET``: ``conns`` as ``(kind, name, direction, cell)`` (kind ``*I`` for an instance
    pin ``inst:pin``, ``*P`` for a port; direction ``I``/``O``/``B``; cell or None); ``caps``:
    node -> C to ground (pF); ``res``: ``(node, node, ohm)``. Node names are pins or ``net:k``."""
    name: str
    conns: list[tuple[str, str, str, str | None]] = field(default_factory=list)
    caps: dict[str, float] = field(default_factory=dict)
    res: list[tuple[str, str, float]] = field(default_factory=list)

    def total_cap(self) -> float:
        return sum(self.caps.values())


def write_spef(design: str, nets: list[SpefNet], program: str = "spikestack") -> str:
    """The SPEF text of ``nets``."""
    out = ['*SPEF "IEEE 1481-1998"', f'*DESIGN "{design}"', '*DATE "0"', '*VENDOR "spikestack"',
           f'*PROGRAM "{program}"', '*VERSION "1"', '*DESIGN_FLOW "NAME_SCOPE LOCAL" "PIN_CAP NONE"',
           "*DIVIDER /", "*DELIMITER :", "*BUS_DELIMITER [ ]", "*T_UNIT 1 NS", "*C_UNIT 1 PF",
           "*R_UNIT 1 OHM", "*L_UNIT 1 HENRY", ""]
    for n in nets:
        out.append(f"*D_NET {spef_name(n.name)} {n.total_cap():.6g}")
        out.append("*CONN")
        for kind, name, d, cell in n.conns:
            out.append(f"{kind} {name} {d}")
        out.append("*CAP")
        out += [f"{k} {node} {c:.6g}" for k, (node, c) in enumerate(n.caps.items(), 1)]
        out.append("*RES")
        out += [f"{k} {a} {b} {r:.6g}" for k, (a, b, r) in enumerate(n.res, 1)]
        out += ["*END", ""]
    return "\n".join(out) + "\n"


def read_spef(text: str) -> dict:
    """``{"header": {keyword: value}, "nets": {net: {"total", "conns", "caps", "res"}}}`` of a SPEF
    as :func:`write_spef` writes it (names as written, escapes kept); ``caps``: node -> pF,
    ``res``: ``[(a, b, ohm)]``, ``conns``: ``[(kind, name, direction)]``."""
    header, nets = {}, {}
    net, section = None, None
    for line in text.splitlines():
        w = line.split()
        if not w:
            continue
        if w[0] == "*D_NET":
            net = nets[w[1]] = {"total": float(w[2]), "conns": [], "caps": {}, "res": []}
            section = None
        elif w[0] in ("*CONN", "*CAP", "*RES"):
            section = w[0]
        elif w[0] == "*END":
            net, section = None, None
        elif net is None and w[0].startswith("*"):
            header[w[0]] = " ".join(w[1:])
        elif section == "*CONN":
            net["conns"].append((w[0], w[1], w[2]))
        elif section == "*CAP":
            net["caps"][w[1]] = net["caps"].get(w[1], 0.0) + float(w[2])
        elif section == "*RES":
            net["res"].append((w[1], w[2], float(w[3])))
    return {"header": header, "nets": nets}


def scale_spef(text: str, r: float = 1.0, c: float = 1.0) -> str:
    """``text`` with every ``*RES`` value times ``r`` and every ``*CAP`` value (and ``*D_NET``
    total) times ``c`` (a check that an analysis really reads the SPEF)."""
    out, section = [], None
    for line in text.splitlines():
        w = line.split()
        if w and w[0] in ("*CONN", "*CAP", "*RES", "*END"):
            section = w[0]
        elif w and w[0] == "*D_NET":
            line, section = f"*D_NET {w[1]} {float(w[2]) * c:.6g}", None
        elif section == "*RES" and len(w) == 4:
            line = f"{w[0]} {w[1]} {w[2]} {float(w[3]) * r:.6g}"
        elif section == "*CAP" and len(w) == 3:
            line = f"{w[0]} {w[1]} {float(w[2]) * c:.6g}"
        out.append(line)
    return "\n".join(out) + "\n"
