"""``mars-sim``: simulate a MARS field pass and write the bag and the ground truth.

    mars-sim --list
    mars-sim --preset field --seed 1 --out runs/field1 [--images] [--storage sqlite3]
    mars-sim --config my_sim.yaml --seed 3 --out runs/custom
    mars-sim --preset quick --seed 0 --yolo-dataset datasets/flowers --yolo-frames 400
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from mars_core.cli_help import HelpFormatter, plain_description
from mars_core.feature_codec import FeatureEncoding
from mars_core.rig import ConfigError
from mars_sim.config import merge_dicts, sim_config_from_dict
from mars_sim.presets import PRESETS, load_sim_config, preset_config

if TYPE_CHECKING:  # annotations only: the simulator is imported when a run starts
    from mars_sim.simulation import SimulationResult


def build_parser() -> argparse.ArgumentParser:
    """The mars-sim argument parser."""
    p = argparse.ArgumentParser(prog="mars-sim", description=plain_description(__doc__),
                                formatter_class=HelpFormatter)
    p.add_argument("--list", action="store_true", help="describe the presets and exit")
    p.add_argument("--preset", default=None, help=f"preset name ({', '.join(PRESETS)}; default: quick)")
    p.add_argument("--config", type=Path, default=None,
                   help="simulation YAML (may start from a preset with a top-level 'preset: NAME')")
    p.add_argument("--seed", type=int, default=0, help="random seed (same config + seed = same output)")
    p.add_argument("--out", type=Path, default=None, help="output folder: writes OUT/bag, OUT/truth, "
                                                          "OUT/sim_config.yaml, OUT/rig.yaml")
    p.add_argument("--images", action="store_true",
                   help="render camera images into the bag (about 0.1 s per full-resolution image)")
    p.add_argument("--image-every", type=int, default=None,
                   help="an image for every n-th camera frame (default: the config's "
                        "render.image_every_n_frames, 3 unless set: 10 Hz at 30 fps)")
    p.add_argument("--render-scale", type=float, default=None,
                   help="render at this fraction of the camera resolution, stored upscaled (default: the "
                        "config's render.scale, 1.0 unless set)")
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="rosbag2 storage")
    p.add_argument("--feature-encoding", choices=("float32", "uint8"), default="float32",
                   help="feature block encoding in the detection messages")
    p.add_argument("--duration", type=float, default=None, help="stop the drive after this many seconds (default: the config's duration_s, "
                   "else the whole drive)")
    p.add_argument("--yolo-dataset", type=Path, default=None,
                   help="also (or only, without --out) export a YOLO dataset of rendered frames to this folder")
    p.add_argument("--yolo-frames", type=int, default=300, help="frames in the YOLO dataset")
    p.add_argument("--yolo-val-fraction", type=float, default=0.2, help="validation share")
    return p


def _simulated_text(result: "SimulationResult") -> str:
    """The time simulated, and the whole drive's length when --duration cut it short."""
    whole = result.trajectory.duration_s
    if result.simulated_s < whole - 0.5:
        return f"{result.simulated_s:.0f} s simulated (of a {whole:.0f} s drive)"
    return f"{result.simulated_s:.0f} s drive"


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of mars-sim; returns the process exit code."""
    args = build_parser().parse_args(argv)
    if args.list:
        for name, data in PRESETS.items():
            print(f"{name:12s} {data['description']}")
        return 0
    if args.out is None and args.yolo_dataset is None:
        print("mars-sim: nothing to do: give --out DIR and/or --yolo-dataset DIR (or --list)", file=sys.stderr)
        return 2
    if args.preset is not None and args.config is not None:
        print("mars-sim: give either --preset or --config, not both", file=sys.stderr)
        return 2
    try:
        overrides: Dict[str, Any] = {} if args.duration is None else {"duration_s": args.duration}
        render: Dict[str, Any] = {}
        if args.image_every is not None:
            render["image_every_n_frames"] = args.image_every
        if args.render_scale is not None:
            render["scale"] = args.render_scale
        if render:
            overrides["render"] = render
        if args.config is not None:
            config = load_sim_config(args.config)
            if overrides:
                config = sim_config_from_dict(merge_dicts(config.to_dict(), overrides), where=str(args.config))
        else:
            config = preset_config(args.preset or "quick", overrides)
    except ConfigError as exc:
        print(f"mars-sim: {exc}", file=sys.stderr)
        return 2
    if args.seed < 0:
        print(f"mars-sim: --seed must be >= 0, got {args.seed}", file=sys.stderr)
        return 2
    for target in (args.out / "bag" if args.out else None, args.yolo_dataset):
        if target is not None and target.exists() and any(target.iterdir() if target.is_dir() else [target]):
            print(f"mars-sim: {target} already exists and is not empty; refusing to overwrite it", file=sys.stderr)
            return 2
    from mars_sim.simulation import simulate
    t0 = time.perf_counter()
    result = simulate(config, args.seed)
    t_sim = time.perf_counter() - t0
    n_det = sum(len(f.detections) for s in result.cameras.values() for f in s.frames)
    print(f"simulated '{config.name}' seed {args.seed}: {len(result.field)} flowers "
          f"({len(result.observed_flower_ids())} seen), {_simulated_text(result)}, "
          f"{result.frame_count} camera frames, {n_det} detections in {t_sim:.2f} s")
    if args.out is not None:
        from mars_sim.run_output import write_run
        encoding = FeatureEncoding.FLOAT32 if args.feature_encoding == "float32" else FeatureEncoding.UINT8
        t0 = time.perf_counter()
        write_run(result, args.out, images=args.images, storage=args.storage, feature_encoding=encoding)
        print(f"wrote {args.out}/bag ({args.storage}) and {args.out}/truth in {time.perf_counter() - t0:.1f} s")
    if args.yolo_dataset is not None:
        from mars_sim.yolo_dataset import export_yolo_dataset
        t0 = time.perf_counter()
        summary = export_yolo_dataset(result, args.yolo_dataset, frames=args.yolo_frames,
                                      val_fraction=args.yolo_val_fraction, seed=args.seed)
        print(f"wrote YOLO dataset {args.yolo_dataset}: {summary['train_images']} train / {summary['val_images']} val "
              f"images, {summary['labels']} boxes in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
