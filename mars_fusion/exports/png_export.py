"""A map picture (PNG, matplotlib Agg): the robot path(s) and the flowers coloured by plot, zoomed to the data.

Readable at a glance: the axes span the flowers (the path only where there are none), markers are large
enough to see, the path is labelled with its start, and the legend has at most a handful of entries (the
plots with the most flowers by name, the others together; one entry per run only for a few runs)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np

from mars_fusion.snapshot import MapSnapshot

NAMED_PLOTS = 4            # plots named in the legend (the ones with the most flowers); the others share one entry
NAMED_RUNS = 2             # a season of more runs has one legend entry for all its paths
MAX_EQUAL_ASPECT = 6.0     # beyond this length/width ratio the y axis is stretched (and the title says so)
MARGIN_FRACTION = 0.05     # of the data's extent, on each side
MIN_MARGIN_M = 0.25
PLOT_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")  # NAMED_PLOTS + 1
OTHER_PLOTS_COLOUR = "0.6"

RunPath = Tuple[str, np.ndarray]   # (label, (M, 2) map x, y)


def map_figure(snapshot: MapSnapshot, paths: Optional[Sequence[RunPath]] = None,
               title: Optional[str] = None) -> Any:
    """The map as a matplotlib Figure (not drawn on screen): paths default to the snapshot's own robot path."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    runs = [(label, np.asarray(xy, dtype=float).reshape(-1, 2)) for label, xy in
            (paths if paths is not None else [("robot path", snapshot.path_xy)])]
    runs = [(label, xy[np.isfinite(xy).all(axis=1)]) for label, xy in runs]
    flowers_xy = snapshot.flowers.xyz[:, :2] if len(snapshot) else np.zeros((0, 2))
    (x0, x1), (y0, y1) = _extent(flowers_xy, runs)
    ratio = (x1 - x0) / max(y1 - y0, 1e-9)
    stretched = not (1.0 / MAX_EQUAL_ASPECT <= ratio <= MAX_EQUAL_ASPECT)
    width = 10.0
    height = 6.0 if stretched else float(np.clip(width / ratio + 1.5, 3.5, 9.0))
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    _draw_paths(ax, runs)
    _draw_flowers(ax, snapshot)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    if not stretched:
        ax.set_aspect("equal", adjustable="box")  # the limits stay the data's; the axes box takes its shape
    ax.set_xlabel("map x / east (m)")
    ax.set_ylabel("map y / north (m)" + (" (not to scale)" if stretched else ""))
    ax.grid(alpha=0.25)
    ax.set_title(title or f"{len(snapshot)} flowers")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best", markerscale=1.5, framealpha=0.85)
    fig.tight_layout()
    return fig


def write_png(snapshot: MapSnapshot, path: Union[str, Path], dpi: int = 120,
              paths: Optional[Sequence[RunPath]] = None, title: Optional[str] = None) -> Path:
    """Draw the map (map_figure) and save it as PNG."""
    out = Path(path)
    map_figure(snapshot, paths, title).savefig(str(out), dpi=dpi)
    return out


def _extent(flowers_xy: np.ndarray, runs: Sequence[RunPath]) -> Tuple[Tuple[float, float], Tuple[float, float]]:
    """Axis limits: the flowers' extent (else the paths', else a metre around the origin) with a margin."""
    points = flowers_xy[np.isfinite(flowers_xy).all(axis=1)]
    if points.shape[0] == 0:
        points = np.concatenate([xy for _, xy in runs] + [np.zeros((0, 2))])
    if points.shape[0] == 0:
        points = np.array([[-0.5, -0.5], [0.5, 0.5]])
    low, high = points.min(axis=0), points.max(axis=0)
    margin = np.maximum(MARGIN_FRACTION * (high - low).max(), MIN_MARGIN_M)
    return (float(low[0] - margin), float(high[0] + margin)), (float(low[1] - margin), float(high[1] + margin))


def _draw_paths(ax: Any, runs: Sequence[RunPath]) -> None:
    """Each run's path as its own line with its start marked; named in the legend for a few runs only."""
    drawn = [(label, xy) for label, xy in runs if xy.shape[0] >= 2]
    named = len(drawn) <= NAMED_RUNS
    for k, (label, xy) in enumerate(drawn):
        colour = f"{0.15 + 0.5 * k / max(len(drawn) - 1, 1):.2f}" if named else "0.35"
        legend = label if named else (f"robot paths ({len(drawn)} runs)" if k == 0 else "_nolegend_")
        ax.plot(xy[:, 0], xy[:, 1], "-", color=colour, lw=1.2, label=legend, zorder=1)
        ax.plot(xy[0, 0], xy[0, 1], marker=">", color=colour, ms=7, ls="none", label="_nolegend_", zorder=1)
        if named:
            ax.annotate("start", (xy[0, 0], xy[0, 1]), xytext=(4, 4), textcoords="offset points", fontsize=7,
                        color=colour, annotation_clip=True)


def _draw_flowers(ax: Any, snapshot: MapSnapshot) -> None:
    """Flowers as visible dots: the plots with the most flowers each in a colour, the others together in grey."""
    if not len(snapshot):
        return
    xy = snapshot.flowers.xyz[:, :2]
    plots = snapshot.plot_ids.astype(str)
    names, counts = np.unique(plots, return_counts=True)
    order = [names[i] for i in np.lexsort((names, -counts))]  # most flowers first, ties by name
    top: List[str] = order if len(order) <= NAMED_PLOTS + 1 else order[:NAMED_PLOTS]
    size = 28 if len(snapshot) < 500 else 12
    for k, name in enumerate(top):
        mine = plots == name
        label = (name or "no plot") if len(order) > 1 else "flowers"
        ax.scatter(xy[mine, 0], xy[mine, 1], s=size, color=PLOT_COLOURS[k % len(PLOT_COLOURS)] if len(order) > 1
                   else "tab:green", edgecolors="black", linewidths=0.3, label=f"{label} ({int(mine.sum())})",
                   zorder=2)
    rest = ~np.isin(plots, top)
    if rest.any():
        ax.scatter(xy[rest, 0], xy[rest, 1], s=size, color=OTHER_PLOTS_COLOUR, edgecolors="black", linewidths=0.3,
                   label=f"{len(order) - len(top)} other plots ({int(rest.sum())})", zorder=2)
