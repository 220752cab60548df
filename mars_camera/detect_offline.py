"""``mars-detect``: run the camera detector over recorded images (folder, video, image bag) without ROS and
write the detections to a bag, exactly as the camera node would publish them.

    mars-detect --source bag --uri run1/bag --topic /cam_left/image/compressed --camera cam_left --out dets
    mars-detect --source folder --uri images/ --rate 10 --camera cam_left --out dets --set score_threshold=0.3
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml

from mars_core.cli_help import HelpFormatter, plain_description
from mars_core.config_schema import ConfigError, config_from_dict
from mars_camera.detector_config import CameraDetectorConfig
from mars_camera.detectors.base import DetectorError
from mars_core.feature_codec import FeatureEncoding
from mars_camera.frame_detector import FrameDetector
from mars_camera.frame_sources.base import FrameSourceError
from mars_camera.frame_sources.source_config import FrameSourceConfig, create_frame_source


def _parse_value(text: str) -> Any:
    return yaml.safe_load(text)


def detector_config_from_args(config_file: Optional[str], overrides: Sequence[str],
                              section: str = "detector") -> CameraDetectorConfig:
    """CameraDetectorConfig from an optional YAML file (its `detector` section, or the whole file) + key=value."""
    data: Dict[str, Any] = {}
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping")
        data = dict(loaded.get(section, loaded))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got '{item}'")
        key, value = item.split("=", 1)
        data[key.strip()] = _parse_value(value)
    return config_from_dict(CameraDetectorConfig, data, where=section if config_file else "")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="mars-detect", description=plain_description(__doc__),
                                     formatter_class=HelpFormatter)
    parser.add_argument("--source", required=True, choices=("folder", "opencv", "bag"),
                        help="where the images come from: an image folder, a video (OpenCV) or an image bag")
    parser.add_argument("--uri", required=True, help="image folder, video file/device, or bag path")
    parser.add_argument("--topic", default="", help="bag: the Image/CompressedImage topic")
    parser.add_argument("--rate", type=float, default=10.0, help="folder: frames per second for the stamps")
    parser.add_argument("--camera", default="camera", help="camera name (topic /<camera>/detections)")
    parser.add_argument("--out", required=True, help="output bag folder (must not exist)")
    parser.add_argument("--storage", default="mcap", choices=("mcap", "sqlite3"), help="rosbag2 storage of --out")
    parser.add_argument("--config", default="", help="YAML with a 'detector' section (CameraDetectorConfig keys; default: the built-in "
                        "settings)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one CameraDetectorConfig field (repeatable)")
    parser.add_argument("--max-frames", type=int, default=0, help="stop after this many frames (0 = all)")
    args = parser.parse_args(argv)
    from mars_ros.bags.bag_files import BagError, BagWriter
    try:
        det_cfg = detector_config_from_args(args.config, args.set)
        src_cfg = config_from_dict(FrameSourceConfig, {"kind": args.source, "uri": args.uri, "topic": args.topic,
                                                       "frame_rate_hz": args.rate})
        source = create_frame_source(src_cfg, det_cfg.input_size, name=args.camera)
        assert source is not None
        detector = FrameDetector(det_cfg, camera_name=args.camera)
    except (ConfigError, DetectorError, FrameSourceError) as exc:
        print(f"mars-detect: {exc}", file=sys.stderr)
        return 2
    encoding = {"none": FeatureEncoding.NONE, "float32": FeatureEncoding.FLOAT32,
                "uint8": FeatureEncoding.UINT8}[det_cfg.feature_encoding]
    print(f"mars-detect: {detector.backend_reason}; model {detector.model_id}", file=sys.stderr)
    frames = detections = 0
    stages: Dict[str, List[float]] = {}
    t0 = time.perf_counter()
    try:
        with source, detector, BagWriter(args.out, args.storage) as bag:
            for result in detector.run(source, depth=2):
                bag.write_detection_frame(result.frame, encoding)
                frames += 1
                detections += len(result.frame.detections)
                for k, v in result.timings.as_ms().items():
                    stages.setdefault(k, []).append(v)
                if args.max_frames and frames >= args.max_frames:
                    break
    except (FrameSourceError, DetectorError, BagError) as exc:
        # Frames already written stay in the bag (closed by the context managers).
        print(f"mars-detect: stopped after {frames} frames: {exc}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - t0
    summary = ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in stages.items())
    print(f"mars-detect: {frames} frames, {detections} detections -> {args.out} "
          f"({frames / max(elapsed, 1e-9):.1f} fps; median {summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
