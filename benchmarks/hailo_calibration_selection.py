"""Benchmark of `mars-hailo calib`: the selection step at the DFC's full size, and a small bag end to end.

Run: .venv/bin/python benchmarks/hailo_calibration_selection.py [--pool 4096] [--count 1024]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "test" / "hailo")]

from mars_hailo.calibration import build_calibration_set, select_diverse  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pool", type=int, default=4096)
    ap.add_argument("--count", type=int, default=1024)
    ap.add_argument("--bag-frames", type=int, default=100, help="frames per camera in the synthetic bag")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    desc = rng.random((a.pool, 259)).astype(np.float32)
    cams = [f"cam{i % 3}" for i in range(a.pool)]
    t0 = time.perf_counter()
    order, _ = select_diverse(desc, cams, np.arange(a.pool, dtype=float), a.count, 0.01)
    dt = time.perf_counter() - t0
    print(f"select_diverse: {len(order)} of {a.pool} candidates in {dt:.2f} s")

    from conftest import write_camera_bag

    with tempfile.TemporaryDirectory() as tmp:
        bag = write_camera_bag(Path(tmp) / "bag", cameras=3, frames=a.bag_frames, duplicates=5)
        t0 = time.perf_counter()
        res = build_calibration_set([bag], Path(tmp) / "out", (640, 640), count=min(a.count, 3 * a.bag_frames // 2))
        dt = time.perf_counter() - t0
        n_msgs = 3 * (a.bag_frames + 5)
        print(f"calib end to end: {n_msgs} messages -> {res.count} images at 640x640 in {dt:.2f} s "
              f"({1000 * dt / max(res.count, 1):.1f} ms per selected image)")


if __name__ == "__main__":
    main()
