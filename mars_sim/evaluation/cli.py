"""``mars-eval``: score a counting run against simulator ground truth, or an external MOTChallenge pair.

    mars-eval --truth RUN/truth --result RESULT_DIR [--json scores.json] [--radius 0.15]
    mars-eval --mot-gt gt.txt --mot-tracks tracker.txt [--json scores.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional

from mars_sim.evaluation.mot_files import MotFileError
from mars_sim.evaluation.run_evaluation import (DEFAULT_MATCH_RADIUS_M, EvaluationInputError, evaluate_mot_files,
                                                evaluate_run, json_ready, render_table)


def build_parser() -> argparse.ArgumentParser:
    """The mars-eval argument parser."""
    p = argparse.ArgumentParser(prog="mars-eval", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--truth", type=Path, help="ground-truth folder (DIR/truth of mars-sim)")
    p.add_argument("--result", type=Path, help="pipeline result folder (flowers.csv, tracks/<camera>.txt)")
    p.add_argument("--radius", type=float, default=DEFAULT_MATCH_RADIUS_M,
                   help=f"map matching radius in metres (default {DEFAULT_MATCH_RADIUS_M})")
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
    if not args.radius > 0:
        print(f"mars-eval: --radius must be positive, got {args.radius}", file=sys.stderr)
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
    except (EvaluationInputError, MotFileError) as exc:
        print(f"mars-eval: {exc}", file=sys.stderr)
        return 2
    print(render_table(scores))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(json_ready(scores), indent=2, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
