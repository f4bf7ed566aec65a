"""The one place for figure style and saving, shared by every experiment's plotting module."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are written to files; no screen is needed

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

RC = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 9.5,
    "axes.titlesize": 10.5,
    "axes.labelsize": 9.5,
    "legend.fontsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def new_figure(nrows: int, ncols: int, size: tuple[float, float]):
    """A figure and axes grid with the project's style applied."""
    plt.rcParams.update(RC)
    return plt.subplots(nrows, ncols, figsize=size, constrained_layout=True)


def series_colors(count: int):
    """Distinct, ordered colors for a family of curves (e.g. one per width)."""
    return [plt.cm.viridis(x) for x in np.linspace(0.0, 0.9, max(count, 1))]


def save_figure(fig, out_dir: str | Path, stem: str) -> list[Path]:
    """Save ``fig`` as ``stem.png`` and ``stem.pdf`` in ``out_dir``; returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.pdf"]
    fig.savefig(paths[0], bbox_inches="tight")
    fig.set_layout_engine("none")  # the PDF keeps the PNG's layout instead of solving it again (a second of CPU)
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths
