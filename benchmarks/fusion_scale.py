"""Scale of the flower map: cost of a map update per observation from 1 thousand to 1 million flowers.

    .venv/bin/python benchmarks/fusion_scale.py [--sizes 1000 10000 100000 1000000] [--tracks 2000]

For each size, a map of N flowers laid out in rows (0.97 m apart, ~3 flowers per metre) is bulk-loaded, then
``--tracks`` synthetic geolocated tracks (30 observations each) are associated one by one through
FlowerMap.add_track: half re-observe existing flowers from a later pass (multi-pass merges), half are new
flowers. Prints tracks/s, observations/s, the bulk-load time and memory: the process peak RSS and the map's
own arrays + grid (sys.getsizeof walk) at each size.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path
from typing import List

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mars_core.stamps import NS_PER_S  # noqa: E402
from mars_fusion import FusionConfig  # noqa: E402
from mars_fusion.flower_map import FlowerMap  # noqa: E402
from mars_fusion.geolocation import TrackEstimate  # noqa: E402

CAMS = ("cam_left", "cam_center", "cam_right")
OBS_PER_TRACK = 30


def field_flowers(n: int, rng: np.random.Generator) -> np.ndarray:
    """n flowers along 100 m rows 0.97 m apart (as many rows as needed)."""
    per_row = 330
    rows = int(np.ceil(n / per_row))
    row = np.repeat(np.arange(rows), per_row)[:n]
    x = rng.uniform(0.0, 100.0, n)
    y = row * 0.97 + rng.normal(0.0, 0.12, n)
    return np.column_stack([x, y, rng.uniform(0.4, 1.1, n)])


def make_track(point: np.ndarray, t0_s: float, cam: int, rng: np.random.Generator, track_id: int) -> TrackEstimate:
    """A track seeing point from a robot driving along +x over it."""
    stamps = (t0_s * NS_PER_S + np.arange(OBS_PER_TRACK) * (NS_PER_S // 15)).astype(np.int64)
    rx = point[0] - 1.0 + 0.5 * (stamps - stamps[0]) / NS_PER_S
    origins = np.column_stack([rx, np.full(OBS_PER_TRACK, point[1] + (1 - cam) * 0.35), np.full(OBS_PER_TRACK, 1.6)])
    dirs = point - origins + rng.normal(0.0, 0.002, origins.shape)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    return TrackEstimate(CAMS[cam], cam, track_id, 0, point + rng.normal(0, 0.005, 3), np.eye(2) * 4e-5, 3e-4,
                         stamps, origins, dirs, np.full(OBS_PER_TRACK, 0.005), 0.0, 1e-4,
                         score_sum=0.8 * OBS_PER_TRACK)


def deep_size(fmap: FlowerMap) -> int:
    """Bytes of the map's columns and grid (dict of lists of ints)."""
    total = sum(a.nbytes for a in fmap._cols.values())
    cells = fmap.grid._cells
    total += sys.getsizeof(cells)
    for key, lst in cells.items():
        total += sys.getsizeof(key) + sys.getsizeof(lst) + 28 * len(lst)
    return total


def run(n: int, n_tracks: int, seed: int = 0) -> List[float]:
    """Build a map of n flowers, then time n_tracks associations; returns figures."""
    rng = np.random.default_rng(seed)
    fmap = FlowerMap(FusionConfig(), CAMS)
    xyz = field_flowers(n, rng)
    t0 = time.perf_counter()
    cov = np.repeat(np.eye(2)[None] * 5e-4, n, axis=0)
    fmap.insert_many(xyz, cov, np.full(n, 30), np.zeros(n, np.int64), np.full(n, NS_PER_S, np.int64),
                     np.ones(n, np.int64),
                     gnss_var=np.full(n, 3e-4))
    load_s = time.perf_counter() - t0
    # Tracks of a later pass: half see existing flowers (multi-pass merge), half new flowers between them.
    tracks = []
    for k in range(n_tracks):
        if k % 2 == 0:
            p = xyz[rng.integers(n)] + np.array([0.01, -0.01, 0.0])
        else:
            p = np.array([rng.uniform(0, 100), rng.integers(0, max(1, n // 330)) * 0.97 + 0.45, 0.7])
        tracks.append(make_track(p, 1000.0 + 0.01 * k, k % 3, rng, k))
    t1 = time.perf_counter()
    for est in tracks:
        fmap.add_track(est)
    dt = time.perf_counter() - t1
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return [n, load_s, n_tracks / dt, n_tracks * OBS_PER_TRACK / dt, 1e6 * dt / n_tracks, deep_size(fmap) / 2 ** 20,
            rss_mb, fmap.count()]


def main(argv: List[str] = None) -> int:
    """Print one line per map size."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", type=int, default=[1000, 10000, 100000, 1000000])
    p.add_argument("--tracks", type=int, default=2000)
    args = p.parse_args(argv)
    print(f"{'flowers':>9} {'bulk_load_s':>11} {'tracks/s':>9} {'obs/s':>10} {'us/track':>9} {'map_MB':>8} "
          f"{'peak_rss_MB':>11} {'count_after':>11}")
    for n in args.sizes:
        r = run(n, args.tracks)
        print(f"{r[0]:9d} {r[1]:11.2f} {r[2]:9.0f} {r[3]:10.0f} {r[4]:9.0f} {r[5]:8.1f} {r[6]:11.0f} {r[7]:11d}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
