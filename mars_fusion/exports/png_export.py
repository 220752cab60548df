"""A map picture (PNG, matplotlib Agg): robot path and flowers coloured by plot."""
from __future__ import annotations

from pathlib import Path
from typing import Union

import numpy as np

from mars_fusion.snapshot import MapSnapshot


def write_png(snapshot: MapSnapshot, path: Union[str, Path], dpi: int = 120) -> Path:
    """Draw the path and the flowers in map metres (equal axes) and save as PNG."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(10, 7))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if snapshot.path_xy.shape[0] >= 2:
        ax.plot(snapshot.path_xy[:, 0], snapshot.path_xy[:, 1], "-", color="0.5", lw=0.8, label="robot path")
    f = snapshot.flowers
    plots = snapshot.plot_ids.astype(str)
    names, codes = np.unique(plots, return_inverse=True)
    if len(f):
        sc = ax.scatter(f.xyz[:, 0], f.xyz[:, 1], c=codes, cmap="tab20", s=4, lw=0)
        if 1 < len(names) <= 20:
            # matplotlib's stubs type Normalize.__call__ for arrays; it takes a scalar too.
            handles = [ax.scatter([], [], color=sc.cmap(sc.norm(k)),  # type: ignore[arg-type]
                                  s=10, label=n or "no plot") for k, n in enumerate(names)]
            ax.legend(handles=handles, fontsize=6, loc="best", markerscale=1.5)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("map x / east (m)")
    ax.set_ylabel("map y / north (m)")
    ax.set_title(f"{len(f)} flowers")
    out = Path(path)
    fig.savefig(str(out), dpi=dpi)
    return out
