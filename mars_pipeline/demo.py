"""The main job on an embedded default, from nothing: simulate a 3-camera MARS pass over a cotton row with
rendered camera images, run the whole pipeline (default ONNX detector -> per-camera tracking -> GPS fusion)
on the bag exactly as `mars-count --from-images` does, and score the count and the map against the truth.

    mars-demo [--out demo_out] [--seconds 20] [--seed 7]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of mars-demo (`make demo`)."""
    parser = argparse.ArgumentParser(prog="mars-demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (replaced)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the simulated drive")
    parser.add_argument("--seed", type=int, default=7, help="simulation seed")
    args = parser.parse_args(argv)

    from mars_pipeline.bag_counting import count_bag
    from mars_pipeline.count_outputs import write_outputs
    from mars_sim import preset_config, simulate, write_run
    from mars_sim.evaluation.run_evaluation import evaluate_run, render_table

    if args.out.exists():
        shutil.rmtree(args.out)
    run, result_dir = args.out / "run", args.out / "result"
    started = time.perf_counter()
    print(f"[1/3] simulating {args.seconds:g} s of the 'field' preset (3 cameras, RTK GNSS, IMU) with rendered "
          f"images, seed {args.seed} ...", flush=True)
    config = preset_config("field", {"duration_s": args.seconds, "render": {"scale": 0.5}})
    sim = simulate(config, args.seed)
    write_run(sim, run, images=True)
    print(f"      {len(sim.observed_flower_ids())} flowers in view; bag {run / 'bag'} "
          f"({time.perf_counter() - started:.0f} s)", flush=True)
    t1 = time.perf_counter()
    print("[2/3] counting from the images: default ONNX detector -> tracker per camera -> fusion with GNSS ...",
          flush=True)
    report = count_bag(run / "bag", from_images=True, progress=sys.stderr.isatty())
    s = write_outputs(report, result_dir)
    print(f"      {s['flowers']} flowers mapped ({report.detector}); {time.perf_counter() - t1:.0f} s", flush=True)
    print("[3/3] scoring against the truth ...", flush=True)
    # The detector sees only the frames that have an image (one in image_every_n_frames): tracking is scored on
    # those frames, not on the frames between them that no camera image shows.
    imaged = {name: log.frame_numbers for name, log in report.pipeline.logs.items() if name in report.image_cameras}
    scores = evaluate_run(run / "truth", result_dir, tracked_frames=imaged)
    print()
    print(render_table(scores))
    every = config.render.image_every_n_frames
    frames = sum(len(numbers) for numbers in imaged.values())
    print(f"(tracking scored on the {frames} camera frames that had an image: images were rendered every "
          f"{every} frame{'s' if every > 1 else ''}, and the frames between them were not tracked)")
    c = scores["count"]
    print(f"\nFlowers counted: {c['predicted']} (true {c['true']}, error {c['error_pct']:+.1f} %); "
          "per camera " + ", ".join(f"{name} {n}" for name, n in s["per_camera"].items()))
    print(f"Map and plots: {result_dir}/flowers.csv, flowers.geojson (QGIS), flowers.kml (Google Earth), map.png, "
          f"count_over_time.png; tracks in {result_dir}/tracks/; summary {result_dir}/summary.json")
    print(f"Done in {time.perf_counter() - started:.0f} s. Count your own bags with: "
          f"mars-count BAG --out DIR [--from-images]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
