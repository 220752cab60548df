"""Accuracy of the fusion on simulated fields: count error, cross-camera and multi-pass duplicates,
localisation error vs the simulated GNSS error.

    .venv/bin/python benchmarks/fusion_accuracy.py [--presets field field-gnss] [--seeds 0 1 2]
                                                    [--source tracker|truth|both]

Pipeline: mars_sim.simulate -> (mars_tracker CameraTracker per camera | truth-id tracks) -> FlowerMapper.
Scoring uses the simulator truth: every map flower is labelled with the majority true flower of its tracks;
a true flower with k > 1 map flowers has k - 1 duplicates, "cross-camera/same pass" when the extra flower's
time span lies within same_pass_gap_s of the first one, "multi-pass" otherwise. Localisation error = distance
from each labelled flower to its true flower (lat/lon converted with the simulator's datum). The GNSS
reference is the median horizontal error of the simulated fixes. mars-eval's Hungarian map score at 0.15 m is
printed too.

Fusion settings: the defaults, plus the simulator's datum with map_projection 'utm' (its truth frame is the UTM
grid; its IMU yaw is from true east, which the default heading_reference 'true_north' turns into grid yaw). For field-gnss (plain GNSS, no IMU) also swath_half_width_m = row spacing / 2 (see
fusion_config_for); the longer pose windows of plain GNSS follow from the fixes' reported covariance
(FusionConfig.coarse_fix_sd_m, coarse_smoothing_window_s).
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusion_sim_feed import run_mapper  # noqa: E402
from mars_fusion import FusionConfig  # noqa: E402


def fusion_config_for(sim: Any, preset: str) -> FusionConfig:
    """The fusion configuration used for a simulated run (datum and projection of the simulator's map)."""
    d = sim.datum
    extra: Dict[str, Any] = {}
    if preset == "field-gnss":
        # Plain GNSS wanders by metres between passes over neighbouring rows: map each flower from the pass over
        # its own row only (half the row spacing), which the breeder knows.
        extra["swath_half_width_m"] = 0.5 * sim.config.field.row_spacing_m
    return FusionConfig(datum_latitude=d.latitude, datum_longitude=d.longitude, datum_altitude=d.altitude,
                        map_projection="utm", **extra)


def score(sim: Any, mapper: Any, truth_of_track: Dict, gap_s: float) -> Dict[str, float]:
    """Count, duplicate and localisation figures of one run."""
    from mars_sim.evaluation import map_scores
    snap = mapper.snapshot()
    fm = mapper.flower_map
    observed = sim.observed_flower_ids()
    n_true = int(observed.shape[0])
    votes: Dict[int, Counter] = defaultdict(Counter)
    for cam, tid, _, fid in mapper.associations:
        votes[fm.current_id(fid)][truth_of_track.get((cam, tid), -1)] += 1
    table = snap.flowers
    row_of = {int(i): k for k, i in enumerate(table.ids)}
    x, y, _ = sim.datum.map_from_geodetic(snap.latitude, snap.longitude, snap.altitude)
    owner = {}
    for fid, c in votes.items():
        if fid in row_of:
            owner[fid] = c.most_common(1)[0][0]
    by_truth: Dict[int, List[int]] = defaultdict(list)
    for fid, t in owner.items():
        if t >= 0:
            by_truth[t].append(fid)
    cross = multi = 0
    for t, fids in by_truth.items():
        fids.sort(key=lambda f: table.first_ns[row_of[f]])
        first = fids[0]
        for f in fids[1:]:
            a, b = row_of[first], row_of[f]
            gap = max(table.first_ns[b] - table.last_ns[a], table.first_ns[a] - table.last_ns[b]) * 1e-9
            if gap < gap_s:
                cross += 1
            else:
                multi += 1
    false_pos = sum(1 for t in owner.values() if t < 0)
    idx = sim.field.index_of(np.array([t for t in owner.values() if t >= 0], dtype=np.int64))
    labelled = np.array([row_of[f] for f, t in owner.items() if t >= 0])
    err = np.hypot(x[labelled] - sim.field.xyz[idx, 0], y[labelled] - sim.field.xyz[idx, 1])
    g = sim.gnss
    ok = np.all(np.isfinite(g.measured_xyz), axis=1)
    gnss_err = np.hypot(*(g.measured_xyz[ok, :2] - g.true_xyz[ok, :2]).T)
    truth_xy = sim.field.xyz[sim.field.index_of(observed), :2]
    ms = map_scores(truth_xy, np.column_stack([x, y]), 0.15)
    return {"true": n_true, "mapped": len(snap), "count_err_pct": 100.0 * (len(snap) - n_true) / n_true,
            "cross_dup_pct": 100.0 * cross / n_true, "multi_dup_pct": 100.0 * multi / n_true,
            "false_pos": false_pos, "missed": n_true - len(by_truth),
            "loc_med_m": float(np.median(err)), "loc_p90_m": float(np.percentile(err, 90)),
            "gnss_med_m": float(np.median(gnss_err)), "loc_over_gnss": float(np.median(err) / np.median(gnss_err)),
            "eval_f1_15cm": ms["f1"], "eval_dup_15cm": ms["duplicates"]}


def main(argv: List[str] = None) -> int:
    """Run the presets and seeds; print one line per run and a mean per preset and source."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", nargs="+", default=["field", "field-gnss"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--source", choices=["tracker", "truth", "both"], default="both")
    args = p.parse_args(argv)
    from mars_sim.simulation import simulate
    sources = ["truth", "tracker"] if args.source == "both" else [args.source]
    cols = ["true", "mapped", "count_err_pct", "cross_dup_pct", "multi_dup_pct", "false_pos", "missed", "loc_med_m",
            "loc_p90_m", "gnss_med_m", "loc_over_gnss", "eval_f1_15cm", "fusion_s", "obs_per_s"]
    print("preset      source  seed " + " ".join(f"{c:>13}" for c in cols))
    for preset in args.presets:
        for source in sources:
            rows = []
            for seed in args.seeds:
                sim = simulate(preset, seed)
                cfg = fusion_config_for(sim, preset)
                mapper, truth, wall = run_mapper(sim, cfg, source)
                r = score(sim, mapper, truth, cfg.same_pass_gap_s)
                r["fusion_s"] = wall
                r["obs_per_s"] = mapper.counters["observations_mapped"] / wall
                rows.append(r)
                print(f"{preset:11s} {source:7s} {seed:4d} " + " ".join(f"{r[c]:13.4g}" for c in cols), flush=True)
            mean = {c: float(np.mean([r[c] for r in rows])) for c in cols}
            print(f"{preset:11s} {source:7s} mean " + " ".join(f"{mean[c]:13.4g}" for c in cols), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
