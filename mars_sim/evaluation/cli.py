"""``mars-eval``: score a counting run against simulator ground truth, or an external MOTChallenge pair.

    mars-eval --truth RUN/truth --result RESULT_DIR [--json scores.json] [--radius 0.15 | --radius auto]
    mars-eval --mot-gt gt.txt --mot-tracks tracker.txt [--json scores.json]
    mars-eval --result RESULT_DIR --hand-counts plots.csv [--plots plots.geojson] [--figures DIR] [--truth ...]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from mars_core.cli_help import HelpFormatter, plain_description
from mars_sim.evaluation.hand_counts import (hand_count_scores, predicted_plot_counts, read_hand_counts,
                                             render_hand_counts, write_hand_count_figures)
from mars_sim.evaluation.mot_files import MotFileError
from mars_sim.evaluation.run_evaluation import (AUTO_RADIUS_SIGMAS, DEFAULT_MATCH_RADIUS_M, EvaluationInputError,
                                                ForeignResultError, evaluate_mot_files, evaluate_run, json_ready,
                                                render_table)


def radius_argument(text: str) -> Union[float, str]:
    """--radius: a positive finite number of metres, or 'auto'."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number of metres or 'auto', got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of metres or 'auto', got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The mars-eval argument parser."""
    p = argparse.ArgumentParser(prog="mars-eval", description=plain_description(__doc__.split("\n\n")[0]),
                                formatter_class=HelpFormatter)
    p.add_argument("--truth", type=Path, help="ground-truth folder (DIR/truth of mars-sim)")
    p.add_argument("--result", type=Path, help="pipeline result folder (flowers.csv, tracks/<camera>.txt)")
    p.add_argument("--radius", type=radius_argument, default=DEFAULT_MATCH_RADIUS_M, metavar="METRES|auto",
                   help=f"map matching radius in metres (default {DEFAULT_MATCH_RADIUS_M}); 'auto': "
                        f"{AUTO_RADIUS_SIGMAS:g} x the median GNSS sd the result's fixes reported (summary.json), "
                        f"the 95 %% circle of a 2-D Gaussian error, at least {DEFAULT_MATCH_RADIUS_M}")
    p.add_argument("--mot-gt", type=Path, help="external MOTChallenge ground truth (gt.txt)")
    p.add_argument("--mot-tracks", type=Path, help="tracker output for --mot-gt (MOTChallenge format)")
    p.add_argument("--hand-counts", type=Path, metavar="CSV",
                   help="hand counts per plot (CSV with plot_id,count) to compare the --result with: per-plot "
                        "table, MAPE, RMSE, bias, R^2, a scatter and a Bland-Altman PNG; --truth is optional then")
    p.add_argument("--plots", type=Path, metavar="GEOJSON",
                   help="plot polygons (GeoJSON, 'plot_id' property) that put the result's flowers in the "
                        "hand-counted plots by their lat/lon (default: the plot_id column of flowers.csv)")
    p.add_argument("--figures", type=Path, metavar="DIR",
                   help="folder for the hand-count figures (default: the --json file's folder, else the "
                        "current folder)")
    p.add_argument("--json", type=Path, help="also write the scores as JSON to this file")
    return p


def hand_count_comparison(args: argparse.Namespace) -> Dict[str, Any]:
    """Scores of --result against --hand-counts; writes the two figures and prints the table."""
    hand = read_hand_counts(args.hand_counts)
    predicted, assignment = predicted_plot_counts(args.result, list(hand), args.plots)
    scores = hand_count_scores(predicted, hand)
    scores["assignment"] = assignment
    figures_dir = args.figures or (args.json.parent if args.json is not None else Path("."))
    try:
        scores["figures"] = [str(p) for p in write_hand_count_figures(scores, figures_dir)]
    except OSError as exc:
        raise EvaluationInputError(f"cannot write the hand-count figures into {figures_dir}: "
                                   f"{exc.strerror or exc}") from None
    print(render_hand_counts(scores))
    if assignment["outside_plots"]:
        print(f"mars-eval: {assignment['outside_plots']} of {assignment['flowers']} flowers of the result lie in "
              f"no hand-counted plot", file=sys.stderr)
    print(f"figures: {', '.join(scores['figures'])}")
    return scores


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of mars-eval; returns the process exit code."""
    args = build_parser().parse_args(argv)
    hand_mode = args.hand_counts is not None
    run_mode = args.truth is not None or (args.result is not None and not hand_mode)
    mot_mode = args.mot_gt is not None or args.mot_tracks is not None
    if (args.plots is not None or args.figures is not None) and not hand_mode:
        print("mars-eval: --plots and --figures go with --hand-counts", file=sys.stderr)
        return 2
    if hand_mode and args.result is None:
        print("mars-eval: --hand-counts needs the --result folder to compare", file=sys.stderr)
        return 2
    if (run_mode or hand_mode) == mot_mode:
        print("mars-eval: give --truth and --result, --result and --hand-counts, or --mot-gt and --mot-tracks",
              file=sys.stderr)
        return 2
    scores: Dict[str, Any] = {}
    try:
        if hand_mode:
            scores["hand_counts"] = hand_count_comparison(args)
        if run_mode:
            if args.truth is None or args.result is None:
                print("mars-eval: --truth and --result go together", file=sys.stderr)
                return 2
            scores.update(evaluate_run(args.truth, args.result, args.radius))
        elif mot_mode:
            if args.mot_gt is None or args.mot_tracks is None:
                print("mars-eval: --mot-gt and --mot-tracks go together", file=sys.stderr)
                return 2
            scores = {"tracking": {args.mot_gt.parent.name or "sequence": evaluate_mot_files(args.mot_gt,
                                                                                              args.mot_tracks)}}
    except ForeignResultError as exc:
        print(f"mars-eval: the result {args.result} does not belong to the truth {args.truth}: {exc}",
              file=sys.stderr)
        return 2
    except (EvaluationInputError, MotFileError) as exc:
        print(f"mars-eval: {exc}", file=sys.stderr)
        return 2
    if run_mode or mot_mode:
        print(render_table(scores))
    for warning in scores.get("checks") or []:
        print(f"mars-eval: warning: {warning}", file=sys.stderr)
    if args.json is not None:
        try:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(json_ready(scores), indent=2, allow_nan=False))
        except OSError as exc:
            print(f"mars-eval: cannot write --json {args.json}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
