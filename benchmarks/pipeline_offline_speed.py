"""Offline counting speed: a simulated 3-camera 30 fps field bag counted from recorded detections on one core.

Prints frames/s, the real-time factor (bag seconds per second of this process's CPU time: one thread, so on a
quiet machine it equals the wall time, and other processes on a shared machine do not distort it; the wall
figure is printed too) and the share of each stage (bag read + decode, tracking, fusion). Target (issues 7,
19): >= 50x real time, and at least "read + ByteTrack alone".

For scale it then runs two plain-numpy reference trackers from Roboflow `trackers` (SORT, the simplest
Kalman + IoU tracker, and ByteTrack) on the same decoded frames and prints the ceiling that reading the bag plus
that tracker alone would allow, with no fusion at all (skipped when `trackers` from requirements-dev.txt is
not installed).

    .venv/bin/python benchmarks/pipeline_offline_speed.py [--seconds 60] [--preset field]
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")   # one core

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402


clock = time.process_time   # CPU seconds of this (single-threaded) process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="field")
    parser.add_argument("--seconds", type=float, default=60.0, help="simulated drive length")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()

    from mars_ros.bags.bag_files import open_bag_reader
    from mars_ros.messages.detection_messages import DETECTION_ARRAY_TYPE, detection_frame_from_msg
    from mars_ros.messages.fusion_inputs import gnss_fix_from_msg, heading_from_imu_msg, track_frame_from_update
    from mars_pipeline.bag_counting import pipeline_configs
    from mars_pipeline.counting_pipeline import CountingPipeline
    from mars_pipeline.rig_discovery import discover_rig
    from mars_sim import preset_config, simulate, write_run

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        write_run(simulate(preset_config(args.preset, {"duration_s": args.seconds}), args.seed), run)
        rig, _ = discover_rig(run / "bag")
        configs = pipeline_configs(run / "rig.yaml")
        pipeline = CountingPipeline(rig, configs["tracker"], configs["fusion"])
        try:
            from mars_core import jit
        except ImportError:   # a tree from before the numba kernels (a before/after comparison)
            jit = None
        if jit is not None:
            warm_cpu = clock()
            warm_wall = jit.warm_up()   # the numba kernels, loaded from the cache (or compiled): not per-frame work
            print(f"kernels ready in {clock() - warm_cpu:.2f} s CPU ({warm_wall:.2f} s wall; cache "
                  f"{jit.cache_dir()})")
        t = {"read+decode": 0.0, "tracking": 0.0, "fusion": 0.0}
        frames = 0
        decoded = []
        first = last = None
        reader = open_bag_reader(run / "bag")
        wanted = [c for c in reader.connections if c.msgtype in (DETECTION_ARRAY_TYPE, "sensor_msgs/msg/NavSatFix",
                                                                 "sensor_msgs/msg/Imu")]
        start_wall = time.perf_counter()
        start = clock()
        t0 = clock()
        for conn, stamp, data in reader.messages(connections=wanted):
            msg = reader.deserialize(data, conn.msgtype)
            first = stamp if first is None else first
            last = stamp
            if conn.msgtype == DETECTION_ARRAY_TYPE:
                frame = detection_frame_from_msg(msg)
                decoded.append(frame)
                t1 = clock()
                t["read+decode"] += t1 - t0
                update = pipeline.trackers[frame.camera_name].update(frame)
                t2 = clock()
                t["tracking"] += t2 - t1
                pipeline.mapper.add_tracks(*track_frame_from_update(update))
                t0 = clock()
                t["fusion"] += t0 - t2
                frames += 1
            else:
                t1 = clock()
                t["read+decode"] += t1 - t0
                if conn.msgtype == "sensor_msgs/msg/NavSatFix":
                    pipeline.mapper.add_fix(gnss_fix_from_msg(msg))
                else:
                    sample = heading_from_imu_msg(msg)
                    if sample is not None:
                        pipeline.mapper.add_heading(sample)
                t0 = clock()
                t["fusion"] += t0 - t1
        t1 = clock()
        count = pipeline.mapper.finalize()
        t["fusion"] += clock() - t1
        total = clock() - start
        wall = time.perf_counter() - start_wall
        reader.close()
    bag_s = (last - first) / 1e9
    print(f"preset {args.preset}, {bag_s:.1f} s of data, {len(rig.cameras)} cameras, {frames} camera frames, "
          f"{count} flowers")
    print(f"CPU {total:.2f} s on one core: {frames / total:.0f} frames/s, {bag_s / total:.1f}x real time "
          f"(target >= 50x); wall {wall:.2f} s ({bag_s / wall:.1f}x)")
    for name, seconds in t.items():
        print(f"  {name:12s} {seconds:7.2f} s  {100 * seconds / total:5.1f} %  {1e3 * seconds / max(frames, 1):.3f} "
              f"ms/frame")
    print(f"  mean detections per camera frame: {sum(len(f.detections) for f in decoded) / max(frames, 1):.1f}")
    reference_ceiling(decoded, t["read+decode"], bag_s)


def reference_ceiling(frames: list, read_s: float, bag_s: float) -> None:
    """Time reference numpy trackers on the same frames; print the real-time factor of read + tracker alone."""
    try:
        import numpy as np
        import supervision as sv
        from trackers import ByteTrackTracker, SORTTracker
    except ImportError:
        print("reference trackers skipped: pip install -r requirements-dev.txt for Roboflow trackers")
        return
    inputs = [(f.camera_name, f.stamp_ns * 1e-9,
               sv.Detections(xyxy=f.detections.xyxy.astype(np.float64),
                             confidence=f.detections.scores.astype(np.float64), class_id=f.detections.class_ids))
              for f in frames]
    print("reference trackers on the same frames (one tracker per camera; best of 3):")
    for name, make, timed in (("trackers SORT", SORTTracker, False), ("trackers ByteTrack", ByteTrackTracker, True)):
        best = float("inf")
        for _ in range(3):
            per_camera: dict = {}
            t0 = clock()
            for camera, stamp_s, detections in inputs:
                tracker = per_camera.get(camera)
                if tracker is None:
                    tracker = per_camera[camera] = make(frame_rate=30.0)
                if timed:
                    tracker.update(detections, timestamp=stamp_s)
                else:
                    tracker.update(detections)
            best = min(best, clock() - t0)
        print(f"  {name:20s} {1e3 * best / max(len(frames), 1):.3f} ms/frame; read+decode + this tracker alone "
              f"(no fusion): {bag_s / (read_s + best):.1f}x real time")


if __name__ == "__main__":
    main()
