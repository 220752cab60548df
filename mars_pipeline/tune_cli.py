"""mars-tune: tune the tracker's count-relevant settings on labelled sequences and write them as a tracker YAML.

    mars-tune RUN [RUN ...] --out tuned.yaml [--budget-s 180] [--seed 0] [--start ROBOT.yaml]

RUN: a mars-sim output folder (one sequence per camera, detections with features from RUN/bag, truth from
RUN/truth/mot/<camera>/det_truth.txt), a MOTChallenge sequence (det/det.txt + gt/gt.txt + seqinfo.ini), or a
folder of either. The objective is the mean per-sequence |count error| in percent plus 0.25 x ID switches per
100 true objects (mars_tracker.tuning). The search is random search, then local refinement around the best point;
with two or more runs (or cameras) it is first cross-validated, leaving one run out at a time, and the held-out
objective of the settings chosen without that run is printed. The settings found on all sequences are written as
a `tracker:` section (with the runs' rig, so that `mars-count BAG --config tuned.yaml` takes it as it is), and
each sequence's count and ID switches are printed before (start settings) and after. Exit codes: 0 done, 2 bad
input.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml

from mars_core.cli_help import HelpFormatter, plain_description
from mars_core.config_schema import ConfigError
from mars_core.rig import load_robot_config
from mars_tracker.config import TrackerConfig
from mars_tracker.mot_cli import load_tracker_config
from mars_tracker.tuning import (ID_SWITCH_WEIGHT, SearchResult, SequenceScore, Trial, TuningError,
                                 cross_validate, cv_groups, search_settings, search_space,
                                 tuned_yaml_section)
from mars_pipeline.tracker_tuning import is_sim_run, load_sequences

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def _row(before: SequenceScore, after: SequenceScore) -> str:
    return (f"  {before.name:<36} {before.true_count:>5} {before.count:>6} {before.count_error_pct:>+7.1f} % "
            f"{before.id_switches:>5} {after.count:>6} {after.count_error_pct:>+7.1f} % {after.id_switches:>5}")


def before_after_table(before: Sequence[SequenceScore], after: Sequence[SequenceScore]) -> str:
    """Each sequence's true count, count, count error and ID switches with the start and the tuned settings."""
    lines = [f"  {'sequence':<36} {'true':>5} {'before':>6} {'error':>9} {'IDSW':>5} {'after':>6} {'error':>9} "
             f"{'IDSW':>5}"]
    for b, a in zip(before, after):
        lines.append(_row(b, a))
    return "\n".join(lines)


def _rig_sections(paths: Sequence[Path]) -> Dict[str, Any]:
    """The sections of the runs' rig.yaml other than tracker (rig, fusion, camera), when all runs share them."""
    found: List[Dict[str, Any]] = []
    for path in paths:
        runs = [path] if is_sim_run(path) else [p for p in sorted(path.iterdir()) if p.is_dir() and is_sim_run(p)] \
            if path.is_dir() else []
        for run in runs:
            if (run / "rig.yaml").is_file():
                found.append({k: v for k, v in load_robot_config(run / "rig.yaml").items() if k != "tracker"})
    if found and all(f == found[0] for f in found):
        return found[0]
    return {}


def tuned_document(start: TrackerConfig, values: Dict[str, Any], extra: Dict[str, Any]) -> Dict[str, Any]:
    """The YAML document mars-tune writes: the tracker section (the start config's own settings, then the tuned
    values) and the runs' other sections (rig, fusion, ...)."""
    default = TrackerConfig()
    kept = {f.name: getattr(start, f.name) for f in fields(TrackerConfig)
            if f.name not in values and getattr(start, f.name) != getattr(default, f.name)}
    section = {k: list(v) if isinstance(v, tuple) else v for k, v in kept.items()}
    section.update(tuned_yaml_section(values)["tracker"])
    return {"tracker": section, **extra}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of mars-tune."""
    parser = argparse.ArgumentParser(prog="mars-tune", description=plain_description(__doc__),
                                     formatter_class=HelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+",
                        help="mars-sim output folders, MOTChallenge sequences, or folders of them")
    parser.add_argument("--out", type=Path, required=True, help="the tracker YAML to write")
    parser.add_argument("--budget-s", type=float, default=180.0,
                        help="time for the whole search, cross-validation included (seconds)")
    parser.add_argument("--trials", type=int, default=60,
                        help="most settings tried per search (the budget may stop it earlier)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed + same trials = same result)")
    parser.add_argument("--start", type=Path, default=None,
                        help="YAML with tracker settings (or a 'tracker:' section) to start from (default: the "
                             "tracker's defaults)")
    parser.add_argument("--settings", default=None,
                        help="comma-separated settings to tune (default: all of " +
                             ", ".join(d.name for d in search_space()) + ")")
    parser.add_argument("--no-cv", action="store_true", help="skip the cross-validation")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        if args.budget_s <= 0:
            raise TuningError(f"--budget-s must be positive, got {args.budget_s}")
        if args.trials < 1:
            raise TuningError(f"--trials must be at least 1, got {args.trials}")
        if args.out.exists() and args.out.is_dir():
            raise TuningError(f"--out {args.out} is a folder; give the YAML file to write")
        space = search_space([s.strip() for s in args.settings.split(",") if s.strip()]) if args.settings else None
        start = load_tracker_config(args.start, {})
        sequences = load_sequences(args.runs)
        if not sequences:
            raise TuningError(f"no sequences in {[str(p) for p in args.runs]}")
        extra = _rig_sections(args.runs)
    except (TuningError, ConfigError, ValueError, OSError) as exc:
        print(f"mars-tune: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    groups = cv_groups(sequences)
    do_cv = not args.no_cv and len(groups) >= 2
    searches = (len(groups) + 1) if do_cv else 1
    print(f"mars-tune: {len(sequences)} sequence(s) ({', '.join(s.name for s in sequences)}); objective: mean "
          f"|count error| % + {ID_SWITCH_WEIGHT:g} x ID switches per 100 true objects; {searches} search(es) of at "
          f"most {args.trials} trials in {args.budget_s:g} s, seed {args.seed}")
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        # The budget bounds the search, not the trial count: the bar counts its seconds.
        bar = tqdm(total=round(args.budget_s), desc="mars-tune", unit="s", dynamic_ncols=True,
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total} s {postfix}")
    clock = {"last": time.monotonic(), "trials": 0, "best": math.inf}

    def progress(trial: Trial) -> None:
        now = time.monotonic()
        clock["trials"] += 1
        clock["best"] = min(clock["best"], trial.cost)
        if bar is not None:
            bar.update(min(now - clock["last"], bar.total - bar.n))
            bar.set_postfix_str(f"trial {clock['trials']}, cost {trial.cost:.2f} (best {clock['best']:.2f})")
        clock["last"] = now

    # Half the budget for the cross-validation folds, half for the final search on all sequences.
    final_budget = args.budget_s / 2 if do_cv else args.budget_s
    folds = cross_validate(sequences, start, space, args.trials, args.budget_s - final_budget, args.seed,
                           progress) if do_cv else []
    found: SearchResult = search_settings(sequences, start, space, args.trials, final_budget, args.seed, progress)
    if bar is not None:
        bar.close()
    if folds:
        print("cross-validation (leave one out; held-out objective of the settings chosen without it):")
        for fold in folds:
            errors = ", ".join(f"{b.name} {b.count_error_pct:+.1f} -> {a.count_error_pct:+.1f} %"
                               for b, a in zip(fold.start_scores, fold.tuned_scores))
            print(f"  held out {fold.group}: objective {fold.start_cost:.2f} -> {fold.tuned_cost:.2f} ({errors})")
        mean_start = sum(f.start_cost for f in folds) / len(folds)
        mean_tuned = sum(f.tuned_cost for f in folds) / len(folds)
        print(f"  mean held-out objective: {mean_start:.2f} (start) -> {mean_tuned:.2f} (tuned)")
    print(f"search on all sequences: {len(found.trials)} trials (stopped by {found.stopped_by}), objective "
          f"{found.start_cost:.2f} -> {found.best_cost:.2f}")
    print(before_after_table(found.start_scores, found.best_scores))
    changed = {k: v for k, v in found.best_values.items() if getattr(start, k) != v}
    print("tuned settings: " + (", ".join(f"{k} {getattr(start, k)} -> {v}" for k, v in changed.items())
                                or "none changed (the start settings were the best found)"))
    document = tuned_document(start, found.best_values, extra)
    header = (f"# written by mars-tune (seed {args.seed}, {len(found.trials)} trials, objective "
              f"{found.start_cost:.2f} -> {found.best_cost:.2f}) from {', '.join(str(p) for p in args.runs)}\n")
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(header + yaml.safe_dump(document, sort_keys=False))
    except OSError as exc:
        print(f"mars-tune: error: cannot write {args.out}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    usable = "use it with mars-count --config" if "rig" in extra else \
        "merge its tracker section into the robot configuration"
    print(f"wrote {args.out} ({usable})")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
