"""Detection-level simulator speed: camera frames simulated per second, and bag writing speed.

    .venv/bin/python benchmarks/sim_detection_speed.py [--presets quick,hard,field] [--no-bag]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mars_sim import simulate, write_run  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", default="quick,hard,field")
    p.add_argument("--no-bag", action="store_true", help="skip the bag-writing measurement")
    args = p.parse_args()
    print(f"{'preset':12s}{'flowers':>9s}{'frames':>9s}{'dets':>9s}{'sim s':>8s}{'frames/s':>10s}"
          f"{'bag s':>8s}{'msgs/s':>9s}")
    for name in args.presets.split(","):
        simulate(name, seed=0) if name == "quick" else None   # warm imports/caches once
        t0 = time.perf_counter()
        result = simulate(name, seed=0)
        t_sim = time.perf_counter() - t0
        dets = sum(len(f.detections) for s in result.cameras.values() for f in s.frames)
        bag_s = msgs_s = float("nan")
        if not args.no_bag:
            tmp = Path(tempfile.mkdtemp(prefix="sim_bench_"))
            try:
                t0 = time.perf_counter()
                write_run(result, tmp / "run")
                bag_s = time.perf_counter() - t0
                import yaml
                meta = yaml.safe_load((tmp / "run" / "bag" / "metadata.yaml").read_text())
                msgs_s = meta["rosbag2_bagfile_information"]["message_count"] / bag_s
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        print(f"{name:12s}{len(result.field):9d}{result.frame_count:9d}{dets:9d}{t_sim:8.2f}"
              f"{result.frame_count / t_sim:10.0f}{bag_s:8.1f}{msgs_s:9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
