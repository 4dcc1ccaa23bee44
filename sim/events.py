"""Golden model of the event encoder: the synaptic events of one spike row."""
from __future__ import annotations

import numpy as np

__all__ = ["row_events"]


def row_events(row: np.ndarray, event_driven: bool = True) -> list[tuple[int, int, int, int]]:
    """``[(j, add, first, last), ...]``: one event per set spike, lowest index first (one event
    with ``add = 0`` when the row is empty); dense: one event per input, ``add`` = the spike."""
    row = np.asarray(row).astype(bool)
    if event_driven:
        idx = np.flatnonzero(row).tolist()
        if not idx:
            return [(0, 0, 1, 1)]
        return [(j, 1, int(i == 0), int(i == len(idx) - 1)) for i, j in enumerate(idx)]
    return [(j, int(row[j]), int(j == 0), int(j == len(row) - 1)) for j in range(len(row))]
