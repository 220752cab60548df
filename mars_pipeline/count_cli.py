"""mars-count: count and map the flowers of recorded bags (no ROS needed).

    mars-count BAG --out DIR [--config ROBOT.yaml]        one bag (mcap or sqlite3, Humble or Jazzy)
    mars-count FOLDER --out DIR [--workers N]             every bag in FOLDER, in parallel, maps merged
    mars-count FOLDER --out DIR --dask local:N | tcp://HOST:8786 | slurm [--slurm-config W.yaml]
                                                          the same on a Dask cluster (paths on shared storage)

DIR is replaced as a whole, in one step, when the results are complete (a killed run leaves the earlier
result). Exit codes: 0 counted; 2 bad input (nothing counted: a bag or configuration that cannot be read, a
bad --out); 3 counted, but part of the input could not be read (summary.json `problems` say what).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from mars_core.cli_help import HelpFormatter, plain_description
from mars_core.config_schema import ConfigError
from mars_fusion.map_store import MapStoreError
from mars_ros.bags.bag_files import BagError
from mars_pipeline.bag_counting import count_bag
from mars_pipeline.cluster_counting import (DaskSetupError, DaskTarget, SlurmWorkers, check_dask_installed,
                                            check_shared_storage, dask_client, merge_on_dask, parse_dask_target,
                                            run_bags_on_dask, slurm_workers_from)
from mars_pipeline.count_outputs import write_outputs
from mars_pipeline.result_folders import (ResultLocationError, check_result_location, discard_new_folder,
                                          is_leftover, new_folder_next_to, real_place, remove_all_leftovers,
                                          remove_leftovers, replace_folder)

EXIT_OK = 0
EXIT_BAD_INPUT = 2   # nothing counted (also argparse's code for a bad command line)
EXIT_PARTIAL = 3     # counted, but part of the input could not be read: the problems say what

# How the console names the result files (summary.json `files` lists what a run wrote).
_FILE_NOTES = {"map_bag/": "map_bag/ for Foxglove", "map_state.npz": "map_state.npz to merge or resume the map"}
# How the console names the GNSS fix classes of summary.json `gnss.fix_shares` and the NavSatStatus codes of
# `gnss.fix_status` (sensor_msgs/NavSatStatus constants).
FIX_CLASS_NAMES = {"rtk_fixed": "RTK fixed", "rtk_float": "RTK float", "gnss": "plain GNSS", "no_fix": "no fix"}
NAVSAT_STATUS_NAMES = {"-1": "NO_FIX", "0": "FIX", "1": "SBAS_FIX", "2": "GBAS_FIX"}


def is_bag(path: Path) -> bool:
    """A rosbag2 folder (has metadata.yaml) or a single .mcap/.db3 file."""
    return (path.is_dir() and (path / "metadata.yaml").is_file()) or path.suffix in (".mcap", ".db3")


def find_bags(folder: Path, exclude: Optional[Path] = None) -> List[Path]:
    """Every bag under folder (a bag's own files are not searched further; nor the folder exclude, e.g. the
    results when they lie inside the input, nor a killed run's leftovers)."""
    skipped = exclude.resolve() if exclude is not None else None
    found: List[Path] = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        if "metadata.yaml" in files:
            found.append(here)
            dirs[:] = []
            continue
        dirs[:] = [d for d in dirs if not is_leftover(here / d) and (here / d).resolve() != skipped]
    return sorted(found)


@dataclass(frozen=True)
class BagJob:
    """One bag of a folder to count: read at `path` (absolute, so that a worker on another machine finds it on
    shared storage), named `name` as the user gave it, its result written into `out`."""

    path: str
    name: str
    out: str
    config: Optional[str]
    from_images: bool


def _count_one(job: BagJob) -> Dict[str, Any]:
    """One bag of a folder, counted and written: {"summary": ...}, or {"error": why} when it cannot be read."""
    try:
        report = count_bag(job.path, job.config, progress=False, from_images=job.from_images)
        report.bag = Path(job.name)  # summary.json names the bag as the user gave it, wherever it was counted
        return {"summary": write_outputs(report, job.out)}
    except (ConfigError, BagError, MapStoreError, OSError) as exc:
        return {"error": str(exc)}
    except Exception as exc:  # one bag that breaks the reader in an unforeseen way must not lose the season
        return {"error": f"{type(exc).__name__}: {exc}"}


def _print_summary(s: Dict[str, Any], out: Path) -> None:
    print(f"{s['bag']}: {s['flowers']} flowers in the map")
    print("  per camera (confirmed tracks): " + ", ".join(f"{k} {v}" for k, v in s["per_camera"].items()))
    if s["per_plot"]:
        plots = sorted(s["per_plot"].items())
        shown = ", ".join(f"{k or '(none)'} {v}" for k, v in plots[:8]) + (" ..." if len(plots) > 8 else "")
        print(f"  per plot/row segment: {shown}")
    gnss = s["gnss"]
    statuses = ", ".join(f"{NAVSAT_STATUS_NAMES.get(code, f'status {code}')} {n}"
                         for code, n in gnss["fix_status"].items())
    print(f"  frames {s['frames_total']}, GNSS fixes {gnss['fixes']}" + (f" (NavSatStatus {statuses})" if statuses else "")
          + f", {s['seconds']} s = {s['realtime_factor']}x real time")
    shares = ", ".join(f"{FIX_CLASS_NAMES.get(k, k)} {100 * v:.0f} %" for k, v in gnss["fix_shares"].items() if v)
    print(f"  GNSS: {gnss['quality_name']} ({shares}); median reported sd {100 * gnss['median_reported_sd_m']:.1f} cm; "
          f"{gnss['dropouts_bridged']} dropouts bridged ({gnss['dropouts_dead_reckoned']} dead-reckoned), longest gap "
          f"{gnss['longest_gap_s']:.1f} s, {gnss['gaps_not_bridged']} gaps not bridged")
    for r in gnss["revisits"]:
        print(f"  revisit {r['from_s']:.0f}-{r['to_s']:.0f} s of flowers mapped at {r['earlier_pass_s']:.0f} s: GNSS offset "
              f"({r['offset_x_m']:+.2f}, {r['offset_y_m']:+.2f}) m, registration residual {100 * r['residual_m']:.1f} cm")
    for warning in gnss["warnings"]:
        print(f"  ! {warning}")
    for problem in s["problems"]:
        print(f"  ! {problem}")
    print(f"  results in {out}/: " + ", ".join(_FILE_NOTES.get(name, name) for name in s["files"]))


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of mars-count."""
    parser = argparse.ArgumentParser(prog="mars-count", description=plain_description(__doc__),
                                     formatter_class=HelpFormatter)
    parser.add_argument("bag", type=Path, help="a rosbag2 folder, or a folder of bags")
    parser.add_argument("--out", type=Path, required=True, help="output folder (replaced as a whole when the new results are complete)")
    parser.add_argument("--config", type=Path, help="robot configuration (rig, tracker, fusion sections); "
                                                    "default: rig.yaml next to the bag, else the bag's camera_info")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 1)),
                        help="parallel bags when BAG is a folder of bags (default: one per CPU, %(default)s here)")
    parser.add_argument("--from-images", action="store_true",
                        help="run the detector on the recorded camera images even where detections were recorded "
                             "(cameras without recorded detections always use their images)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    cluster = parser.add_argument_group(
        "a folder of bags on a Dask cluster", "Bags and results are read and written as paths: on a cluster,\n"
        "FOLDER and --out must be on storage that every worker sees at the same place.")
    cluster.add_argument("--dask", metavar="TARGET", help="local (one worker process per CPU), local:N, "
                         "tcp://HOST:PORT (a running dask scheduler) or slurm (worker jobs via sbatch); default: "
                         "the local process pool of --workers")
    cluster.add_argument("--dask-wait", type=float, default=600.0, metavar="S",
                         help="seconds to wait for the first Dask worker before giving up")
    cluster.add_argument("--slurm-config", type=Path, metavar="YAML",
                         help="the worker jobs of --dask slurm: keys " + ", ".join(f.name for f in fields(SlurmWorkers))
                         + " (the options below override it)")
    cluster.add_argument("--slurm-cores", type=int, metavar="N",
                         help="cores per worker job, one counting process each (default 1)")
    cluster.add_argument("--slurm-memory", metavar="M", help="memory per worker job, e.g. 8GB (default 4GB)")
    cluster.add_argument("--slurm-walltime", metavar="H:MM:SS", help="time limit per worker job (default 01:00:00)")
    cluster.add_argument("--slurm-partition", metavar="P", help="partition of the worker jobs (default: the "
                         "cluster's)")
    cluster.add_argument("--slurm-jobs", type=int, metavar="N", help="worker jobs submitted (default 1)")
    args = parser.parse_args(argv)
    if not args.bag.exists():
        print(f"mars-count: {args.bag} does not exist", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:  # before reading anything: a bad --out or cluster setting must not cost a whole count
        check_result_location(args.out, [args.bag] + ([args.config] if args.config else []))
        args.cluster = _cluster_settings(args)
    except (ResultLocationError, ConfigError, ValueError) as exc:
        print(f"mars-count: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    out = real_place(args.out)
    remove_leftovers(out)   # a run killed mid-swap: its half-written folder goes, an earlier result comes back
    try:
        if is_bag(args.bag):
            if args.cluster is not None:
                print("mars-count: --dask counts a folder of bags; one bag is counted here", file=sys.stderr)
            report = count_bag(args.bag, args.config, progress=not args.no_progress, from_images=args.from_images)
            s = write_outputs(report, out)
            _print_summary(s, args.out)
            return EXIT_PARTIAL if s["partly_unreadable"] else EXIT_OK
        return _count_folder(args.bag, out, args)
    except (ConfigError, BagError, MapStoreError, DaskSetupError) as exc:
        print(f"mars-count: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:  # e.g. the disk filled up while writing: the earlier result is still in place
        print(f"mars-count: {exc.strerror or exc} ({exc.filename or out}); {out} is left as it was",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # input that breaks a reader in an unforeseen way: a message, not a traceback
        print(f"mars-count: {args.bag} could not be counted ({type(exc).__name__}: {exc}); {out} is left as it "
              f"was", file=sys.stderr)
        return EXIT_BAD_INPUT


def _run_jobs(jobs: List[BagJob], workers: int, progress: bool) -> List[Dict[str, Any]]:
    """Each bag's _count_one result, in the jobs' order; with progress, a bar of bags done / total with the
    frames per second of all workers together and the time left (the workers' own bars are off: they would
    overwrite each other)."""
    results: List[Optional[Dict[str, Any]]] = [None] * len(jobs)
    bar = _folder_progress(len(jobs)) if progress else None
    started = time.perf_counter()
    frames = 0
    try:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_count_one, job): i for i, job in enumerate(jobs)}
            for future in as_completed(futures):
                result = results[futures[future]] = future.result()
                frames += int(result.get("summary", {}).get("frames_total", 0))
                if bar is not None:
                    bar.set_postfix_str(f"{frames / max(time.perf_counter() - started, 1e-9):.0f} frames/s",
                                        refresh=False)
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return [r for r in results if r is not None]


def _folder_progress(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="bags", unit="bag", file=sys.stderr, dynamic_ncols=True, smoothing=0.3,
                postfix="frames/s once a bag is done",
                bar_format="{desc}: {n_fmt}/{total_fmt} done |{bar}| {elapsed}<{remaining} left{postfix}")


def _cluster_settings(args: argparse.Namespace) -> Optional[Tuple[DaskTarget, SlurmWorkers]]:
    """The --dask target and Slurm worker settings, checked before anything is read; None: the local pool."""
    slurm_options = {"cores": args.slurm_cores, "memory": args.slurm_memory, "walltime": args.slurm_walltime,
                     "partition": args.slurm_partition, "jobs": args.slurm_jobs}
    if args.dask is None:
        if args.slurm_config or any(v is not None for v in slurm_options.values()):
            raise DaskSetupError("--slurm-* options set the worker jobs of --dask slurm; add --dask slurm")
        return None
    target = parse_dask_target(args.dask)
    check_dask_installed(target)
    if target.kind != "slurm" and (args.slurm_config or any(v is not None for v in slurm_options.values())):
        raise DaskSetupError(f"--slurm-* options apply to --dask slurm, not --dask {args.dask}")
    if args.dask_wait <= 0:
        raise DaskSetupError(f"--dask-wait must be positive, got {args.dask_wait}")
    return target, slurm_workers_from(args.slurm_config, slurm_options)


def _count_folder(folder: Path, out: Path, args: argparse.Namespace) -> int:
    """Every bag below folder counted in parallel, the maps merged; out is replaced when all is written."""
    bags = find_bags(folder, exclude=out)
    if not bags:
        print(f"mars-count: no rosbag2 folder (with metadata.yaml) under {folder}", file=sys.stderr)
        return EXIT_BAD_INPUT
    places = [b.relative_to(folder) for b in bags]
    # The whole season result is swapped in at the end (merge and bags agree). Absolute paths: a worker on
    # another machine finds them on the shared storage.
    season = new_folder_next_to(out).resolve()
    try:
        jobs = [BagJob(str(b.resolve()), str(b), str(season / place),
                       str(args.config.resolve()) if args.config else None, args.from_images)
                for b, place in zip(bags, places)]
        if args.cluster is None:
            print(f"mars-count: {len(bags)} bags, {args.workers} worker processes")
            outcome = _count_season(bags, places, jobs, season, out, args, None)
        else:
            target, slurm = args.cluster
            print(f"mars-count: {len(bags)} bags on {target.describe()}")
            with dask_client(target, slurm, season / "dask-worker-logs", args.dask_wait) as client:
                outcome = _count_season(bags, places, jobs, season, out, args, client)
        if outcome is None:
            discard_new_folder(season)
            return EXIT_BAD_INPUT
        counted, problems, merged = outcome
    except BaseException:
        discard_new_folder(season)
        raise
    replace_folder(season, out)
    for place, s in counted:
        print()
        _print_summary(s, args.out / place)
    for problem in problems:
        print(f"\n! {problem}")
    if merged.get("flowers_before_merge") is None:
        print(f"\nno merged map: none of the {len(counted)} counted bags had a usable GNSS fix "
              f"({args.out}/merge_summary.json)")
    else:
        print(f"\nmerged map of {len(counted)} of {len(bags)} bags: {merged['flowers']} flowers -> "
              f"{args.out}/flowers.csv")
    return EXIT_PARTIAL if problems else EXIT_OK


def _count_season(bags: List[Path], places: List[Path], jobs: List[BagJob], season: Path, out: Path,
                  args: argparse.Namespace, client: Any
                  ) -> Optional[Tuple[List[Tuple[Path, Dict[str, Any]]], List[str], Dict[str, Any]]]:
    """Count the jobs (local pool, or on the Dask client) and merge their maps into season: the counted
    bags, the problems and the merge summary; None (having said why) when no bag could be counted."""
    progress = not args.no_progress
    if client is None:
        results = _run_jobs(jobs, max(1, args.workers), progress=progress)
    else:
        check_shared_storage(client, [Path(jobs[0].path).parent, season])
        results = run_bags_on_dask(client, _count_one, jobs, progress=progress)
    remove_all_leftovers(season)  # half-written results of workers that died mid-bag (their bag was rerun)
    counted = [(place, r["summary"]) for place, r in zip(places, results) if "summary" in r]
    problems = [f"{bag}: not counted: {r['error']}" for bag, r in zip(bags, results) if "error" in r]
    problems += [f"{s['bag']}: part of the bag could not be read (its summary.json says what)"
                 for _, s in counted if s["partly_unreadable"]]
    if not counted:
        for problem in problems:
            print(f"mars-count: {problem}", file=sys.stderr)
        print(f"mars-count: none of the {len(bags)} bags could be counted; {out} is left as it was",
              file=sys.stderr)
        return None
    run_dirs = [season / place for place, _ in counted]
    names = [str(out / place) for place, _ in counted]
    if client is None:
        from mars_pipeline.season_merge import merge_runs

        merged = merge_runs(run_dirs, season, names=names, problems=problems)
    else:
        merged = merge_on_dask(client, run_dirs, season, names, problems)
    return counted, problems, merged


if __name__ == "__main__":
    raise SystemExit(main())
