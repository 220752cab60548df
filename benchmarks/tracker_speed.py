"""Tracker speed: frames per second on one core at 3, 30 and 100 detections per frame with 64-D features.

Our CameraTracker (appearance on, hand-tuned and learned scorers) against the Roboflow `trackers` ByteTrack
on the same synthetic detections, in the same process; inputs are built before timing for both. First it
reports the compile time of the tracker's numba kernels (mars_core.jit.warm_up in a fresh interpreter): cold
(an empty cache folder) and from the cache, as CPU seconds (robust to other processes) and wall seconds.
Run: .venv/bin/python benchmarks/tracker_speed.py [--frames 600]
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one core: the figure is per core

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Dict, List  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mars_core.detections import DetectionFrame  # noqa: E402
from mars_tracker.association_scorers import DEFAULT_MODEL_PATH, OnnxAssociationScorer  # noqa: E402
from mars_tracker.camera_tracker import CameraTracker  # noqa: E402
from mars_sim.synthetic_stream import FieldStreamSpec, field_stream  # noqa: E402


def frames_with(n_dets: int, n_frames: int, seed: int) -> List[DetectionFrame]:
    """A field stream whose frames carry about n_dets detections each (64-D features)."""
    spec = FieldStreamSpec(density=n_dets / (1280 * 0.92), feature_dim=64, frame_drop_probability=0.0)
    return [f for f, _ in field_stream(spec, seed, n_frames)]


def best_fps(runs: Dict[str, Callable[[], None]], n_frames: int, repeats: int) -> Dict[str, float]:
    """Frames per CPU-second of each runner (process CPU time on one thread = per core, and robust to other
    processes on a shared machine): best of `repeats` runs, the runners interleaved."""
    best = {name: np.inf for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            t0 = time.process_time()
            run()
            best[name] = min(best[name], time.process_time() - t0)
    return {name: n_frames / t for name, t in best.items()}


_WARM_UP = ("import time; t0 = time.perf_counter(); c0 = time.process_time(); "
            "import mars_tracker.camera_tracker; from mars_core import jit; "
            "t1 = time.perf_counter(); c1 = time.process_time(); jit.warm_up(); "
            "print(time.process_time() - c1, time.perf_counter() - t1, c1 - c0)")


def report_compile_times() -> None:
    """Print the kernels' first-call compile time, cold and from the cache (fresh interpreters)."""
    import subprocess
    import tempfile

    root = os.environ.get("PYTHONPATH") or str(Path(__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=root)
        for label in ("cold (empty cache)", "from the cache"):
            done = subprocess.run([sys.executable, "-c", _WARM_UP], env=env, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"kernel compile: not measured ({done.stderr.strip().splitlines()[-1]})")
                return
            out = done.stdout.split()
            print(f"kernel compile {label:18s}: {float(out[0]):5.2f} s CPU, {float(out[1]):5.2f} s wall "
                  f"(import {float(out[2]):.2f} s CPU)")


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import supervision as sv
    from trackers import ByteTrackTracker

    report_compile_times()
    print(f"{'dets/frame':>10s} {'tracker':34s} {'fps':>8s} {'ms/frame':>9s} {'vs trackers':>11s}")
    for n in (3, 30, 100):
        frames = frames_with(n, args.frames, seed=n)
        mean_dets = np.mean([len(f.detections) for f in frames])
        sv_dets = [sv.Detections(xyxy=f.detections.xyxy.astype(np.float64),
                                 confidence=f.detections.scores.astype(np.float64),
                                 class_id=f.detections.class_ids) for f in frames]

        def ours(scorer_factory: Callable[[], object]) -> Callable[[], None]:
            def run() -> None:
                tracker = CameraTracker(scorer=scorer_factory())  # type: ignore[arg-type]
                for f in frames:
                    tracker.update(f)
            return run

        def theirs() -> None:
            tracker = ByteTrackTracker(frame_rate=30.0)
            for d, f in zip(sv_dets, frames):
                tracker.update(d, timestamp=f.stamp_ns * 1e-9)

        runs: Dict[str, Callable[[], None]] = {"trackers ByteTrack (no appearance)": theirs,
                                               "mars CameraTracker hand-tuned+app": ours(lambda: None)}
        if DEFAULT_MODEL_PATH.is_file():
            runs["mars CameraTracker learned ONNX"] = ours(OnnxAssociationScorer)
        fps = best_fps(runs, len(frames), args.repeats)
        ref = fps["trackers ByteTrack (no appearance)"]
        for name, value in fps.items():
            print(f"{mean_dets:10.1f} {name:34s} {value:8.1f} {1000.0 / value:9.2f} {value / ref:10.2f}x", flush=True)


if __name__ == "__main__":
    main()
