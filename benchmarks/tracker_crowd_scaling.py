"""Memory and time of mars-track-mot on crowded frames: 1k, 10k and 100k detections per frame.

Each size runs in its own process (so its peak resident set, ru_maxrss, is its own) on a crowd of constant
density (mars_sim.synthetic_stream.crowded_mot_detections): the tracker's cost should grow about linearly with
the detections. Stages above mars_tracker.sparse_association.DENSE_PAIR_LIMIT pairs use the gated sparse path;
``--dense`` forces the dense path (T x D matrices) to compare, at the sizes where it still fits.
Run: .venv/bin/python benchmarks/tracker_crowd_scaling.py [--sizes 1000 10000 100000] [--frames 2] [--seeds 1 2 3]
[--dense]
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one core: the figure is per core

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mars_sim.synthetic_stream import crowded_mot_detections  # noqa: E402
from mars_tracker.camera_tracker import CameraTracker  # noqa: E402
from mars_tracker.mot_cli import track_mot  # noqa: E402
from mars_tracker.mot_format import read_mot_detections  # noqa: E402


def run_one(n: int, frames: int, dense: bool, seed: int) -> dict:
    """Track one crowd in this process; seconds of tracking, peak RSS (MiB) and output size."""
    rows = crowded_mot_detections(n, frames, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "det.txt"
        np.savetxt(path, rows, delimiter=",", fmt="%.2f")
        detections = read_mot_detections(path)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    tracker = CameraTracker(dense_pair_limit=1 << 62) if dense else CameraTracker()
    start = time.perf_counter()
    result = track_mot(detections, tracker, 30.0)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"detections_per_frame": n, "frames": frames, "seconds": round(seconds, 3),
            "peak_rss_mib": round(peak, 1), "rss_before_tracking_mib": round(before, 1),
            "rows_out": int(result.shape[0]), "tracks_out": int(np.unique(result[:, 1]).size)}


def main() -> None:
    """Run each size in a child process and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000],
                        help="detections per frame")
    parser.add_argument("--frames", type=int, default=2, help="frames per crowd")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1], help="crowds to draw per size")
    parser.add_argument("--dense", action="store_true", help="force the dense T x D path (large sizes exhaust RAM)")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(run_one(args.one, args.frames, args.dense, args.seeds[0])))
        return
    print(f"{'dets/frame':>10} {'seed':>4} {'frames':>6} {'track s':>8} {'peak RSS MiB':>12} {'RSS before':>10} "
          f"{'tracks':>7}")
    for n in args.sizes:
        for seed in args.seeds:
            cmd = [sys.executable, __file__, "--one", str(n), "--frames", str(args.frames), "--seeds", str(seed)] \
                + (["--dense"] if args.dense else [])
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{n:>10} {seed:>4} failed (rc {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{n:>10} {seed:>4} {r['frames']:>6} {r['seconds']:>8.2f} {r['peak_rss_mib']:>12.0f} "
                  f"{r['rss_before_tracking_mib']:>10.0f} {r['tracks_out']:>7}")


if __name__ == "__main__":
    main()
