"""Markdown tables."""
from __future__ import annotations

__all__ = ["markdown_table"]


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A Markdown table: one header row, then one row per list (cells formatted with ``str``)."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    return "\n".join(out)
