"""Offline counting from recorded images (`mars-count --from-images`): frames/s with the detector on CPU.

    .venv/bin/python benchmarks/count_from_images_speed.py [--seconds 4] [--repeat 2] [--batches 1 4 8]

Simulates a `field` drive with rendered images (3 cameras; images every third camera frame, half scale),
then counts its bag from the images with each IMAGE_BATCH_FRAMES (1 = one frame per inference call, as
before batching; the read-ahead thread that decodes images while the detector runs is on in every row).
Prints image frames per second of wall time and of process CPU time (all threads), and checks that every
batch size gives the same count and the same map.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mars_pipeline import bag_counting  # noqa: E402


def count(bag: Path, batch: int) -> tuple:
    """(image frames, wall s, CPU s, flower count, flower positions) of one count of the bag."""
    bag_counting.IMAGE_BATCH_FRAMES = batch
    wall, cpu = time.perf_counter(), time.process_time()
    report = bag_counting.count_bag(bag, from_images=True)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    frames = sum(c.msgcount for c in report_image_connections(bag))
    return frames, wall, cpu, report.flowers, report.pipeline.mapper.flowers().xyz


def report_image_connections(bag: Path) -> List:
    """The image connections of the bag (to count image frames)."""
    from mars_ros.bags.bag_files import open_recorded_bag

    reader = open_recorded_bag(bag)
    try:
        return [c for c in reader.connections if c.msgtype in bag_counting.IMAGE_TYPES]
    finally:
        reader.close()


def main(argv: Optional[List[str]] = None) -> int:
    """Benchmark entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds of drive to simulate")
    parser.add_argument("--repeat", type=int, default=2, help="counts per batch size (rows alternate)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4], help="IMAGE_BATCH_FRAMES values")
    args = parser.parse_args(argv)
    from mars_sim import preset_config, simulate, write_run

    with tempfile.TemporaryDirectory(prefix="mars_images_speed_") as tmp:
        run = Path(tmp) / "run"
        config = preset_config("field", {"duration_s": args.seconds, "render": {"scale": 0.5}})
        write_run(simulate(config, 1), run, images=True)
        count(run / "bag", 1)   # warm-up: model load, compiled kernels
        reference = None
        print(f"counting {run / 'bag'} from its images ({args.seconds:g} s drive), CPU only")
        for r in range(args.repeat):
            for batch in args.batches:
                frames, wall, cpu, flowers, xyz = count(run / "bag", batch)
                same = "" if reference is None else (
                    "same map" if flowers == reference[0] and np.array_equal(xyz, reference[1]) else "MAP DIFFERS")
                reference = reference or (flowers, xyz)
                print(f"  run {r + 1} batch {batch}: {frames} image frames, {frames / wall:5.1f} frames/s wall, "
                      f"{frames / cpu:5.1f} frames per CPU s, {flowers} flowers {same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
