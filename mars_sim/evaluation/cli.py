"""``mars-eval``: score a counting run against simulator ground truth, or an external MOTChallenge pair.

    mars-eval --truth RUN/truth --result RESULT_DIR [--json scores.json] [--radius 0.15 | --radius auto]
    mars-eval --mot-gt gt.txt --mot-tracks tracker.txt [--json scores.json]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import List, Optional, Union

from mars_core.cli_help import HelpFormatter, plain_description
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
    p.add_argument("--json", type=Path, help="also write the scores as JSON to this file")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of mars-eval; returns the process exit code."""
    args = build_parser().parse_args(argv)
    run_mode = args.truth is not None or args.result is not None
    mot_mode = args.mot_gt is not None or args.mot_tracks is not None
    if run_mode == mot_mode:
        print("mars-eval: give --truth and --result, or --mot-gt and --mot-tracks", file=sys.stderr)
        return 2
    try:
        if run_mode:
            if args.truth is None or args.result is None:
                print("mars-eval: --truth and --result go together", file=sys.stderr)
                return 2
            scores = evaluate_run(args.truth, args.result, args.radius)
        else:
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
