"""Image-level rendering speed: rendered camera frames per second at full and half resolution.

    .venv/bin/python benchmarks/sim_render_speed.py [--frames 20]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mars_sim import simulate  # noqa: E402
from mars_sim.rendering import FrameRenderer  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=20, help="frames per camera and scale")
    args = p.parse_args()
    result = simulate("field", seed=0)
    print(f"{'scale':>6s}{'size':>12s}{'first s':>9s}{'ms/frame':>10s}{'frames/s':>10s}{'jpeg ms':>9s}")
    for scale in (1.0, 0.5):
        renderer = FrameRenderer(result, scale=scale)
        first = total = 0.0
        n = 0
        shape = None
        for cam, stream in result.cameras.items():
            start = len(stream.frames) // 3
            t0 = time.perf_counter()
            frame = renderer.render(cam, start)
            first += time.perf_counter() - t0
            shape = frame.image.shape
            t0 = time.perf_counter()
            for k in range(1, args.frames + 1):
                renderer.render(cam, start + k)
            total += time.perf_counter() - t0
            n += args.frames
        t0 = time.perf_counter()
        for k in range(5):
            renderer.render_jpeg("cam_center", k)
        jpeg_ms = (time.perf_counter() - t0) / 5 * 1000
        print(f"{scale:6.2f}{f'{shape[1]}x{shape[0]}':>12s}{first / len(result.cameras):9.2f}"
              f"{total / n * 1000:10.1f}{n / total:10.1f}{jpeg_ms:9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
