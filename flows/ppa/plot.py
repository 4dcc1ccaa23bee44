"""The 3D/2D ratio plot of a PPA run (matplotlib, no display needed)."""
from __future__ import annotations

from pathlib import Path

from .report import PAPER_RATIOS

__all__ = ["ratio_plot", "METRICS"]

METRICS = [("footprint", "footprint"), ("fmax", "fmax"), ("memory_latency", "memory-access\nlatency"),
           ("power", "power"), ("wirelength", "wirelength")]


def ratio_plot(ratios: dict, path: Path, paper: dict | None = None, title: str = "3D / 2D") -> Path:
    """Bars of our 3D/2D ratios with the paper's ranges (:data:`spikestack.flows.ppa.PAPER_RATIOS`)
    drawn beside them as shaded intervals; 1.0 (no change) as a line. Writes a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    paper = PAPER_RATIOS if paper is None else paper
    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=120)
    xs = range(len(METRICS))
    for x, (key, _) in zip(xs, METRICS):
        v = ratios.get(key)
        if v is not None:
            ax.bar(x - 0.18, v, width=0.34, color="#3b6ea8", label="this run" if x == 0 else None)
            ax.annotate(f"{v:.2f}", (x - 0.18, v), ha="center", va="bottom", fontsize=8)
        else:
            ax.annotate("n/a", (x - 0.18, 1.0), ha="center", va="bottom", fontsize=8)
        if key in paper:
            lo, hi = paper[key]
            ax.bar(x + 0.18, hi - lo, bottom=lo, width=0.34, color="#e0893a", alpha=0.75,
                   label="paper (28 nm)" if key == "footprint" else None)
            ax.plot([x + 0.01, x + 0.35], [lo, lo], color="#b35f14", lw=1)
            ax.plot([x + 0.01, x + 0.35], [hi, hi], color="#b35f14", lw=1)
    ax.axhline(1.0, color="black", lw=0.8, ls="--")
    ax.set_xticks(list(xs), [label for _, label in METRICS])
    ax.set_ylabel("3D / 2D")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
