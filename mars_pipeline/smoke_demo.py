"""A smoke demo of the ROS side: recorded detections replayed by one node and recorded by another over DDS.

Runs real nodes (Fast DDS on localhost, a private domain), then reads the recorded bag back with rosbags
and prints what crossed the network. Replaced by the full counting demo once the pipeline is assembled.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

import numpy as np

from mars_camera.detections import DetectionFrame, Detections
from mars_camera.feature_codec import FeatureEncoding
from mars_camera.interfaces.bag_files import BagWriter, detections_topic, read_detection_frames

CAMERAS = ("cam_left", "cam_center", "cam_right")


def write_synthetic_bag(path: Path, frames_per_camera: int = 60) -> int:
    """A bag of plausible detections (moving boxes with 64-D features); returns the message count."""
    rng = np.random.default_rng(0)
    count = 0
    with BagWriter(path, "mcap") as writer:
        for i in range(frames_per_camera):
            for k, cam in enumerate(CAMERAS):
                n = int(rng.integers(5, 25))
                xy = rng.uniform(0, 1200, (n, 2)).astype(np.float32)
                feats = rng.normal(size=(n, 64)).astype(np.float32)
                feats /= np.linalg.norm(feats, axis=1, keepdims=True)
                frame = DetectionFrame(cam, time.time_ns() + i * 33_333_333 + k * 100_000, i, 1280, 960,
                                       Detections(np.concatenate([xy, xy + 40], 1), rng.uniform(0.3, 1, n),
                                                  np.zeros(n, np.int32), feats, "demo-features-v1"))
                writer.write_detection_frame(frame, FeatureEncoding.UINT8)
                count += 1
    return count


def _start(module: str, params: List[str], env: dict) -> subprocess.Popen:
    args = [sys.executable, "-m", module, "--ros-args"]
    for p in params:
        args += ["-p", p]
    return subprocess.Popen(args, env=env)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the smoke demo; exit code 0 when every message made it through."""
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               ROS_DOMAIN_ID=os.environ.get("ROS_DOMAIN_ID", str(random.randint(1, 100))))
    with tempfile.TemporaryDirectory(prefix="mars-demo-") as tmp:
        source, copy = Path(tmp) / "detections", Path(tmp) / "recorded"
        sent = write_synthetic_bag(source)
        topics = "[" + ",".join(f"'{detections_topic(c)}'" for c in CAMERAS) + "]"
        recorder = _start("mars_pipeline.nodes.detection_recorder",
                          [f"output_path:={copy}", f"topics:={topics}"], env)
        replay = _start("mars_pipeline.nodes.bag_replay",
                        [f"bag_path:={source}", "rate:=2.0", "wait_for_subscribers:=1"], env)
        replay_code = replay.wait(timeout=120)
        time.sleep(0.5)
        recorder.send_signal(signal.SIGINT)
        recorder_code = recorder.wait(timeout=30)
        received = list(read_detection_frames(copy)) if copy.exists() else []
        detections = sum(len(f.detections) for _, f in received)
        print(f"\nsmoke demo: {sent} detection messages replayed over DDS, {len(received)} recorded "
              f"({detections} detections with uint8 features), exit codes replay={replay_code} "
              f"recorder={recorder_code}")
        return 0 if (replay_code == 0 and recorder_code == 0 and len(received) == sent) else 1


if __name__ == "__main__":
    raise SystemExit(main())
