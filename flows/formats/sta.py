"""OpenSTA's reports, read as text."""
from __future__ import annotations

import re

__all__ = ["parse_power"]


def parse_power(text: str) -> dict:
    """``{"internal", "switching", "leakage", "total"}`` (W) of the ``Total`` row of ``report_power``;
    ``{}`` when there is none."""
    m = re.search(r"^Total\s+([\d.eE+-]+)\s+([\d.eE+-]+)\s+([\d.eE+-]+)\s+([\d.eE+-]+)", text, re.M)
    if not m:
        return {}
    i, s, l, t = map(float, m.groups())
    return {"internal": i, "switching": s, "leakage": l, "total": t}
