"""mars-count: count and map the flowers of recorded bags (no ROS needed).

    mars-count BAG --out DIR [--config ROBOT.yaml]        one bag (mcap or sqlite3, Humble or Jazzy)
    mars-count FOLDER --out DIR [--workers N]             every bag in FOLDER, in parallel, maps merged
"""
from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from mars_core.config_schema import ConfigError
from mars_ros.bags.bag_files import BagError
from mars_pipeline.bag_counting import count_bag
from mars_pipeline.count_outputs import write_outputs

EXIT_OK = 0
EXIT_BAD_INPUT = 2   # nothing counted (also argparse's code for a bad command line)
EXIT_PARTIAL = 3     # counted, but part of the input could not be read: the problems say what


def is_bag(path: Path) -> bool:
    """A rosbag2 folder (has metadata.yaml) or a single .mcap/.db3 file."""
    return (path.is_dir() and (path / "metadata.yaml").is_file()) or path.suffix in (".mcap", ".db3")


def find_bags(folder: Path) -> List[Path]:
    """Every bag under folder (a bag's own files are not searched further)."""
    found: List[Path] = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        if "metadata.yaml" in files:
            found.append(here)
            dirs[:] = []
    return sorted(found)


def _count_one(args: Tuple[str, str, Optional[str], bool, bool]) -> Dict[str, Any]:
    bag, out, config, progress, from_images = args
    report = count_bag(bag, config, progress=progress, from_images=from_images)
    return write_outputs(report, out)


def _print_summary(s: Dict[str, Any], out: Path) -> None:
    print(f"\n{s['bag']}: {s['flowers']} flowers in the map")
    print("  per camera (confirmed tracks): " + ", ".join(f"{k} {v}" for k, v in s["per_camera"].items()))
    if s["per_plot"]:
        plots = sorted(s["per_plot"].items())
        shown = ", ".join(f"{k or '(none)'} {v}" for k, v in plots[:8]) + (" ..." if len(plots) > 8 else "")
        print(f"  per plot/row segment: {shown}")
    gnss = s["gnss"]
    print(f"  frames {s['frames_total']}, GNSS fixes {gnss['fixes']} (status counts {gnss['fix_status']}), "
          f"{s['seconds']} s = {s['realtime_factor']}x real time")
    shares = ", ".join(f"{k} {100 * v:.0f} %" for k, v in gnss["fix_shares"].items() if v)
    print(f"  GNSS: {gnss['quality_name']} ({shares}); median reported sd {100 * gnss['median_reported_sd_m']:.1f} cm; "
          f"{gnss['dropouts_bridged']} dropouts bridged")
    for r in gnss["revisits"]:
        print(f"  revisit {r['from_s']:.0f}-{r['to_s']:.0f} s of flowers mapped at {r['earlier_pass_s']:.0f} s: GNSS offset "
              f"({r['offset_x_m']:+.2f}, {r['offset_y_m']:+.2f}) m, registration residual {100 * r['residual_m']:.1f} cm")
    for warning in gnss["warnings"]:
        print(f"  ! {warning}")
    for problem in s["problems"]:
        print(f"  ! {problem}")
    print(f"  results in {out}/ (flowers.csv, flowers.geojson, flowers.kml, map.png, map_bag/ for Foxglove, "
          f"tracks/, summary.json)")


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of mars-count."""
    parser = argparse.ArgumentParser(prog="mars-count", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bag", type=Path, help="a rosbag2 folder, or a folder of bags")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--config", type=Path, help="robot configuration (rig, tracker, fusion sections); "
                                                    "default: rig.yaml next to the bag, else the bag's camera_info")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 1)),
                        help="parallel bags when BAG is a folder of bags")
    parser.add_argument("--from-images", action="store_true",
                        help="run the detector on the recorded camera images even where detections were recorded "
                             "(cameras without recorded detections always use their images)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if not args.bag.exists():
        print(f"mars-count: {args.bag} does not exist", file=sys.stderr)
        return 2
    try:
        if is_bag(args.bag):
            report = count_bag(args.bag, args.config, progress=not args.no_progress, from_images=args.from_images)
            s = write_outputs(report, args.out)
            _print_summary(s, args.out)
            return EXIT_PARTIAL if s["partly_unreadable"] else EXIT_OK
        bags = find_bags(args.bag)
        if not bags:
            print(f"mars-count: no rosbag2 folder (with metadata.yaml) under {args.bag}", file=sys.stderr)
            return 2
        from mars_pipeline.season_merge import merge_runs

        jobs = [(str(b), str(args.out / b.relative_to(args.bag)), str(args.config) if args.config else None, False,
                 args.from_images) for b in bags]
        print(f"mars-count: {len(bags)} bags, {args.workers} worker processes")
        with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
            summaries = list(pool.map(_count_one, jobs))
        for s, job in zip(summaries, jobs):
            _print_summary(s, Path(job[1]))
        merged = merge_runs([Path(j[1]) for j in jobs], args.out)
        print(f"\nmerged map of {len(bags)} bags: {merged['flowers']} flowers -> {args.out}/flowers.csv")
        return 0
    except (ConfigError, BagError) as exc:
        print(f"mars-count: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
