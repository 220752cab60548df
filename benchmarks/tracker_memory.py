"""Peak memory of one CameraTracker on an endless synthetic stream (default 1 million frames).

Prints the resident set size at checkpoints and the peak (ru_maxrss) at the end; a flat curve means removed
tracks are really dropped. Frames are generated on the fly (the generator itself keeps flat memory).
Run: .venv/bin/python benchmarks/tracker_memory.py [--frames 1000000] [--dets 10]
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mars_tracker.camera_tracker import CameraTracker  # noqa: E402
from mars_sim.synthetic_stream import FieldStreamSpec, field_stream  # noqa: E402


def rss_mib() -> float:
    """Current resident set size in MiB (Linux)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def main() -> None:
    """Run and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--dets", type=float, default=10.0, help="mean detections per frame")
    args = parser.parse_args()
    spec = FieldStreamSpec(density=args.dets / (1280 * 0.92), feature_dim=64)
    tracker = CameraTracker()
    t0 = time.time()
    checkpoints = {10 ** k for k in range(3, 8)} | {args.frames}
    update = None
    for i, (frame, _) in enumerate(field_stream(spec, seed=7, n_frames=args.frames), start=1):
        update = tracker.update(frame)
        if i in checkpoints or i % 100_000 == 0:
            print(f"frame {i:>9d}: rss {rss_mib():7.1f} MiB, live tracks {tracker.track_count:4d}, "
                  f"count {update.confirmed_count:7d}, {time.time() - t0:7.1f} s", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"peak rss {peak:.1f} MiB after {args.frames} frames (frames generated, not all delivered: drops)")


if __name__ == "__main__":
    main()
