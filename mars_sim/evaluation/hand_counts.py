"""Per-plot counts of a result against hand counts: MAPE, RMSE, bias, R^2, and the scatter / Bland-Altman figures.

Hand counts are a CSV with a header holding ``plot_id`` and ``count`` (other columns are ignored), one row per
plot, as field teams write them and as mars-sim writes ``truth/hand_counts.csv``. The result's flowers are put in
plots either by a plot GeoJSON (``--plots``, the same file the fusion takes) from their lat/lon, or by the
``plot_id`` column that mars-count wrote (row segments ``passKK_segSSS`` when it had no plot file).
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from mars_core.geometry.map_frame import MapFrame
from mars_core.rig import ConfigError
from mars_sim.evaluation.run_facts import EvaluationInputError

# Bland-Altman limits of agreement: bias +- 1.96 sd of the differences (95 % of plots for normal errors).
AGREEMENT_SDS = 1.96


def read_hand_counts(path: Path) -> Dict[str, float]:
    """Hand count per plot id from a CSV with 'plot_id' and 'count' columns."""
    if not path.is_file():
        raise EvaluationInputError(f"hand counts {path} does not exist")
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise EvaluationInputError(f"hand counts {path} is empty (header plot_id,count expected)") from None
        missing = [c for c in ("plot_id", "count") if c not in header]
        if missing:
            raise EvaluationInputError(f"hand counts {path}: header {header} lacks column(s) {missing} "
                                       f"(expected plot_id,count)")
        id_col, count_col = header.index("plot_id"), header.index("count")
        counts: Dict[str, float] = {}
        for lineno, row in enumerate(reader, 2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise EvaluationInputError(f"{path}:{lineno}: {len(row)} values but {len(header)} header columns")
            pid, text = row[id_col].strip(), row[count_col].strip()
            if not pid:
                raise EvaluationInputError(f"{path}:{lineno}: empty plot_id")
            if pid in counts:
                raise EvaluationInputError(f"{path}:{lineno}: plot {pid!r} is counted twice")
            try:
                value = float(text)
            except ValueError:
                raise EvaluationInputError(f"{path}:{lineno}: count of plot {pid!r} is not a number: {text!r}") \
                    from None
            if not math.isfinite(value) or value < 0:
                raise EvaluationInputError(f"{path}:{lineno}: count of plot {pid!r} must be a finite number >= 0, "
                                           f"got {text!r}")
            counts[pid] = value
    if not counts:
        raise EvaluationInputError(f"hand counts {path} has a header but no plots")
    return counts


def _result_flowers(result_dir: Path) -> Tuple[List[str], np.ndarray]:
    """plot_id and (lat, lon) of every flower of a result's flowers.csv."""
    path = result_dir / "flowers.csv"
    if not path.is_file():
        raise EvaluationInputError(f"{path} does not exist (a mars-count result folder is expected)")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    ids = [(r.get("plot_id") or "").strip() for r in rows]
    try:
        latlon = np.array([[float(r["lat"]), float(r["lon"])] for r in rows], dtype=float).reshape(-1, 2)
    except (KeyError, TypeError, ValueError):
        latlon = np.full((len(rows), 2), np.nan)  # only the plot_id route works then
    return ids, latlon


def predicted_plot_counts(result_dir: Path, hand_plots: List[str], plots_geojson: Optional[Path] = None
                          ) -> Tuple[Dict[str, int], Dict[str, Any]]:
    """Flowers of the result per hand-counted plot, and how they were assigned (source, flowers outside)."""
    ids, latlon = _result_flowers(result_dir)
    if plots_geojson is not None:
        if not len(ids):
            return {p: 0 for p in hand_plots}, {"source": str(plots_geojson), "flowers": 0, "outside_plots": 0}
        if not np.isfinite(latlon).all():
            raise EvaluationInputError(f"{result_dir / 'flowers.csv'} has no finite lat,lon for every flower: "
                                       f"flowers cannot be placed in the plots of {plots_geojson}")
        from mars_fusion.plots import PlotIndex   # shapely: only when a plot file is given
        # Any local frame serves: polygons and flowers are projected into the same one.
        frame = MapFrame(float(latlon[:, 0].mean()), float(latlon[:, 1].mean()))
        try:
            index = PlotIndex.from_geojson(plots_geojson, frame)
        except ConfigError as exc:
            raise EvaluationInputError(str(exc)) from None
        unknown = sorted(set(hand_plots) - set(index.plot_ids.tolist()))
        if unknown:
            raise EvaluationInputError(f"hand-counted plot(s) {unknown[:5]} are not in {plots_geojson}")
        x, y, _ = frame.map_from_geodetic(latlon[:, 0], latlon[:, 1], np.zeros(latlon.shape[0]))
        assigned = index.assign(np.column_stack([x, y])).tolist()
        source = str(plots_geojson)
    else:
        assigned = ids
        known = set(assigned) - {""}
        if known and not known & set(hand_plots):
            raise EvaluationInputError(
                f"none of the hand-counted plots ({sorted(hand_plots)[:3]} ...) is a plot of the result (its "
                f"flowers are in {sorted(known)[:3]} ...): give the plot file with --plots PLOTS.geojson")
        source = "plot_id column of flowers.csv"
    per_plot = {p: 0 for p in hand_plots}
    for pid in assigned:
        if pid in per_plot:
            per_plot[pid] += 1
    outside = sum(1 for pid in assigned if pid not in per_plot)
    return per_plot, {"source": source, "flowers": len(assigned), "outside_plots": outside}


def hand_count_scores(predicted: Dict[str, int], hand: Dict[str, float]) -> Dict[str, Any]:
    """Agreement of predicted and hand counts over the plots of `hand`: MAPE, RMSE, bias, R^2, fit, limits."""
    plots = sorted(hand)
    h = np.array([hand[p] for p in plots], dtype=float)
    p = np.array([predicted.get(k, 0) for k in plots], dtype=float)
    diff = p - h
    counted = h > 0
    ss_tot = float(((h - h.mean()) ** 2).sum())
    slope = intercept = pearson_r2 = r2 = math.nan
    if len(plots) >= 2 and ss_tot > 0:
        r2 = 1.0 - float((diff ** 2).sum()) / ss_tot   # against the 1:1 line: a biased counter scores lower
        slope, intercept = (float(v) for v in np.polyfit(h, p, 1))
        if p.std() > 0:
            pearson_r2 = float(np.corrcoef(h, p)[0, 1] ** 2)
    sd = float(diff.std(ddof=1)) if len(plots) >= 2 else math.nan
    bias = float(diff.mean())
    return {
        "plots": len(plots), "plots_in_mape": int(counted.sum()),
        "hand_total": float(h.sum()), "predicted_total": float(p.sum()),
        "mape_pct": float(100.0 * np.mean(np.abs(diff[counted]) / h[counted])) if counted.any() else math.nan,
        "rmse": float(np.sqrt(np.mean(diff ** 2))), "bias": bias,
        "r2": r2, "pearson_r2": pearson_r2, "slope": slope, "intercept": intercept,
        "limits_of_agreement": [bias - AGREEMENT_SDS * sd, bias + AGREEMENT_SDS * sd],
        "per_plot": [{"plot_id": k, "hand": float(a), "predicted": int(b)} for k, a, b in zip(plots, h, p)],
    }


def render_hand_counts(scores: Dict[str, Any], max_rows: int = 40) -> str:
    """The per-plot table and the agreement figures as text."""
    lines = [f"{'plot':<20} {'hand':>8} {'predicted':>10} {'error':>8}"]
    rows = scores["per_plot"]
    for r in rows[:max_rows]:
        lines.append(f"{r['plot_id']:<20} {r['hand']:>8g} {r['predicted']:>10d} {r['predicted'] - r['hand']:>+8g}")
    if len(rows) > max_rows:
        lines.append(f"... {len(rows) - max_rows} more plots (all in --json)")
    lo, hi = scores["limits_of_agreement"]
    lines.append(f"{scores['plots']} plots: hand {scores['hand_total']:g}, predicted {scores['predicted_total']:g}; "
                 f"MAPE {scores['mape_pct']:.2f} % (over {scores['plots_in_mape']} plots with flowers), "
                 f"RMSE {scores['rmse']:.2f}, bias {scores['bias']:+.2f} per plot, R^2 {scores['r2']:.3f} "
                 f"(1:1 line; Pearson r^2 {scores['pearson_r2']:.3f}, fit predicted = {scores['slope']:.3f} x hand "
                 f"{scores['intercept']:+.2f}), limits of agreement {lo:+.2f} .. {hi:+.2f}")
    return "\n".join(lines)


def write_hand_count_figures(scores: Dict[str, Any], out_dir: Path, stem: str = "hand_counts") -> List[Path]:
    """A predicted-vs-hand scatter (with the 1:1 line) and a Bland-Altman plot, as PNG files in out_dir."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    h = np.array([r["hand"] for r in scores["per_plot"]], dtype=float)
    p = np.array([r["predicted"] for r in scores["per_plot"]], dtype=float)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []

    fig = Figure(figsize=(5.5, 5.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    top = max(1.0, float(max(h.max(initial=0), p.max(initial=0)))) * 1.08
    ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1, label="1:1")
    ax.scatter(h, p, s=22, color="tab:blue", label="plot")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("hand count per plot")
    ax.set_ylabel("mars-count per plot")
    ax.set_title(f"{scores['plots']} plots: MAPE {scores['mape_pct']:.1f} %, R$^2$ {scores['r2']:.3f}, "
                 f"bias {scores['bias']:+.2f}", fontsize=10)
    ax.legend(loc="upper left")
    fig.tight_layout()
    paths.append(out_dir / f"{stem}_scatter.png")
    fig.savefig(paths[-1], dpi=110)

    fig = Figure(figsize=(6.0, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    mean, diff = 0.5 * (h + p), p - h
    lo, hi = scores["limits_of_agreement"]
    ax.scatter(mean, diff, s=22, color="tab:blue")
    ax.axhline(scores["bias"], color="black", linewidth=1.2, label=f"bias {scores['bias']:+.2f}")
    if np.isfinite(lo) and np.isfinite(hi):
        ax.axhline(lo, color="tab:red", linestyle="--", linewidth=1, label=f"95 % limits {lo:+.2f} .. {hi:+.2f}")
        ax.axhline(hi, color="tab:red", linestyle="--", linewidth=1)
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set_xlabel("mean of hand and mars-count per plot")
    ax.set_ylabel("mars-count - hand count")
    ax.set_title("Bland-Altman: agreement with hand counts", fontsize=10)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    paths.append(out_dir / f"{stem}_bland_altman.png")
    fig.savefig(paths[-1], dpi=110)
    return paths
