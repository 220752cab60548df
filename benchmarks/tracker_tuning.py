"""Does mars-tune recover, on a simulated run it was not tuned on, a count error near a grid search's best?

Simulates short training runs of one preset and a target run of another preset (other seed, other layout), all
with a detector whose true-flower scores follow --train-tp-beta / --target-tp-beta (default beta(5, 4), mean
0.56: the low-score detector of issue 18, which the default confirmation misses). Then:

1. `mars-tune` on the training runs (the CLI, as a user runs it), writing a tracker YAML;
2. the target's per-camera count error with the default settings and with the tuned YAML;
3. a coarse grid search directly on the target (confirm_min_mean_score x min_hits x high_score_threshold),
   the best a grid can do when it sees the answers.

Prints the figures per camera and the mean |count error| of each; --out writes them as JSON.

    PYTHONPATH=. python benchmarks/tracker_tuning.py --work /tmp/tuning_bench [--budget-s 240]
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np
import yaml

from mars_core.config_schema import config_from_dict
from mars_pipeline.tracker_tuning import load_sequences
from mars_pipeline.tune_cli import main as mars_tune
from mars_sim import preset_config, simulate, write_run
from mars_tracker.config import TrackerConfig
from mars_tracker.tuning import LabelledSequence, SequenceScore, score_sequence

GRID = {"confirm_min_mean_score": (0.0, 0.4, 0.5, 0.62),
        "min_hits": (1, 2, 4),
        "high_score_threshold": (0.3, 0.4, 0.5)}


def simulate_run(out: Path, preset: str, seed: int, duration_s: float, tp_beta: Sequence[float]) -> Path:
    """A mars-sim run of a preset with the given true-positive score distribution (reused when present)."""
    if (out / "truth" / "mot").is_dir():
        return out
    config = preset_config(preset, {"duration_s": duration_s, "detection": {"score_tp_beta": list(tp_beta)}})
    write_run(simulate(config, seed=seed), out)
    return out


def mean_abs_error(scores: Sequence[SequenceScore]) -> float:
    """Mean over cameras of |count error| in percent."""
    return float(np.mean([abs(s.count_error_pct) for s in scores]))


def grid_search(sequences: List[LabelledSequence]) -> Dict[str, Any]:
    """Every GRID point on the sequences; the point with the lowest mean |count error|."""
    best: Dict[str, Any] = {"error": float("inf")}
    points = list(itertools.product(*GRID.values()))
    for k, values in enumerate(points):
        setting = dict(zip(GRID, values))
        try:
            config = TrackerConfig(**setting)
        except ValueError:
            continue
        scores = [score_sequence(config, s) for s in sequences]
        error = mean_abs_error(scores)
        print(f"  grid {k + 1}/{len(points)} {setting}: {error:.2f} %", file=sys.stderr)
        if error < best["error"]:
            best = {"error": error, "setting": setting, "per_camera": {s.name: s.count_error_pct for s in scores}}
    best["points"] = len(points)
    return best


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="folder for the simulated runs and the YAML")
    parser.add_argument("--train-preset", default="quick")
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--train-duration-s", type=float, default=20.0)
    parser.add_argument("--train-tp-beta", type=float, nargs=2, default=[5.0, 4.0])
    parser.add_argument("--target-preset", default="rtk-float")
    parser.add_argument("--target-seeds", type=int, nargs="+", default=[3])
    parser.add_argument("--target-duration-s", type=float, default=20.0)
    parser.add_argument("--target-tp-beta", type=float, nargs=2, default=[5.0, 4.0])
    parser.add_argument("--budget-s", type=float, default=240.0, help="mars-tune's --budget-s")
    parser.add_argument("--trials", type=int, default=40, help="mars-tune's --trials")
    parser.add_argument("--seed", type=int, default=0, help="mars-tune's --seed")
    parser.add_argument("--reuse-tuned", action="store_true",
                        help="evaluate the tuned YAML of an earlier run of the same training set (no new tuning)")
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the figures")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    beta = "-".join(f"{v:g}" for v in args.train_tp_beta)
    train = [simulate_run(args.work / f"train_{args.train_preset}_s{s}_b{beta}", args.train_preset, s,
                          args.train_duration_s, args.train_tp_beta) for s in args.train_seeds]
    tbeta = "-".join(f"{v:g}" for v in args.target_tp_beta)
    targets = [simulate_run(args.work / f"target_{args.target_preset}_s{s}_b{tbeta}", args.target_preset, s,
                            args.target_duration_s, args.target_tp_beta) for s in args.target_seeds]
    tuned_yaml = args.work / f"tuned_{args.train_preset}_b{beta}_seed{args.seed}.yaml"
    started = time.perf_counter()
    code = 0 if args.reuse_tuned and tuned_yaml.is_file() else mars_tune([str(p) for p in train] + ["--out", str(tuned_yaml), "--budget-s", str(args.budget_s),
                                                 "--trials", str(args.trials), "--seed", str(args.seed)])
    if code != 0:
        return code
    tune_s = time.perf_counter() - started
    tuned = config_from_dict(TrackerConfig, yaml.safe_load(tuned_yaml.read_text())["tracker"], str(tuned_yaml))
    report: Dict[str, Any] = {"train": [str(p) for p in train], "tuned_yaml": str(tuned_yaml), "tune_s": tune_s,
                              "tuned": yaml.safe_load(tuned_yaml.read_text())["tracker"], "targets": {}}
    for target in targets:
        sequences = load_sequences([target])
        default = [score_sequence(TrackerConfig(), s) for s in sequences]
        after = [score_sequence(tuned, s) for s in sequences]
        grid = grid_search(sequences)
        report["targets"][target.name] = {
            "default": {s.name: s.count_error_pct for s in default}, "default_error": mean_abs_error(default),
            "tuned": {s.name: s.count_error_pct for s in after}, "tuned_error": mean_abs_error(after),
            "tuned_idsw": sum(s.id_switches for s in after), "default_idsw": sum(s.id_switches for s in default),
            "grid": grid}
        print(f"\ntarget {target.name} (mean |per-camera count error|):")
        for d, a in zip(default, after):
            print(f"  {d.name:<36} true {d.true_count:>4}  default {d.count_error_pct:+7.1f} %  "
                  f"tuned {a.count_error_pct:+7.1f} %  grid best {grid['per_camera'][d.name]:+7.1f} %")
        print(f"  mean |error|: default {mean_abs_error(default):.2f} %, tuned {mean_abs_error(after):.2f} %, "
              f"grid best {grid['error']:.2f} % ({grid['setting']}, {grid['points']} points); tuned - grid best = "
              f"{mean_abs_error(after) - grid['error']:+.2f} points")
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
