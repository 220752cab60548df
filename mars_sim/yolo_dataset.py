"""Export rendered frames of a simulated run as a YOLO detection dataset (Ultralytics layout).

    OUT/images/{train,val}/<camera>_<frame>.jpg
    OUT/labels/{train,val}/<camera>_<frame>.txt   # "0 cx cy w h" per flower, normalised to the image
    OUT/data.yaml                                 # path, train, val, nc: 1, names: {0: flower}

Frames are drawn evenly over all cameras and the whole drive (deterministic by seed). Validation frames
are the last ``val_fraction`` of the drive in time, so no near-identical neighbour frame of a training
image lands in validation. CLI: ``mars-sim-dataset --preset field --seed 0 --out DIR`` (or
``mars-sim --yolo-dataset DIR``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import cv2
import numpy as np
import yaml

from mars_core.rig import ConfigError
from mars_sim.rendering import FrameRenderer
from mars_sim.simulation import SimulationResult

CLASS_NAMES = {0: "flower"}


def yolo_label_lines(boxes_xyxy: np.ndarray, width: int, height: int) -> List[str]:
    """YOLO txt lines (class 0, normalised centre/size) of full-resolution pixel boxes."""
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    cx = (b[:, 0] + b[:, 2]) / 2 / width
    cy = (b[:, 1] + b[:, 3]) / 2 / height
    w = (b[:, 2] - b[:, 0]) / width
    h = (b[:, 3] - b[:, 1]) / height
    return [f"0 {x:.6f} {y:.6f} {bw:.6f} {bh:.6f}" for x, y, bw, bh in zip(cx, cy, w, h) if bw > 0 and bh > 0]


def choose_frames(result: SimulationResult, frames: int, seed: int) -> List[Tuple[str, int]]:
    """(camera, frame index) pairs spread evenly over cameras and time, with a seeded random phase."""
    pairs = [(name, k) for name, s in result.cameras.items() for k in range(len(s.frames))]
    if frames <= 0 or not pairs:
        return []
    if frames >= len(pairs):
        return pairs
    rng = np.random.default_rng([seed, 0x594F4C4F])
    step = len(pairs) / frames
    picks = (np.arange(frames) * step + rng.uniform(0, step, frames)).astype(int)
    return [pairs[i] for i in np.clip(picks, 0, len(pairs) - 1)]


def export_yolo_dataset(result: SimulationResult, out_dir: Union[str, Path], frames: int = 300,
                        val_fraction: float = 0.2, seed: int = 0, scale: Optional[float] = 0.5,
                        jpeg_quality: int = 92) -> Dict[str, int]:
    """Render frames and write the dataset; returns counts (train_images, val_images, labels)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in [0, 1), got {val_fraction}")
    out_dir = Path(out_dir)
    chosen = choose_frames(result, frames, seed)
    stamps = np.array([result.cameras[c].frames[k].stamp_ns for c, k in chosen], dtype=np.int64)
    cut = np.quantile(stamps, 1.0 - val_fraction) if chosen and val_fraction > 0 else np.inf
    renderer = FrameRenderer(result, scale=scale)
    counts = {"train_images": 0, "val_images": 0, "labels": 0}
    for split in ("train", "val"):
        (out_dir / "images" / split).mkdir(parents=True, exist_ok=True)
        (out_dir / "labels" / split).mkdir(parents=True, exist_ok=True)
    for (camera, k), stamp in zip(chosen, stamps):
        split = "val" if stamp > cut else "train"
        frame = renderer.render(camera, k)
        intr = result.rig.camera(camera).model.intrinsics
        stem = f"{camera}_{k:06d}"
        ok = cv2.imwrite(str(out_dir / "images" / split / f"{stem}.jpg"), frame.image,
                         [int(cv2.IMWRITE_JPEG_QUALITY), jpeg_quality])
        if not ok:
            raise OSError(f"cannot write {out_dir / 'images' / split / (stem + '.jpg')}")
        lines = yolo_label_lines(frame.boxes_xyxy, intr.width, intr.height)
        (out_dir / "labels" / split / f"{stem}.txt").write_text("".join(line + "\n" for line in lines))
        counts[f"{split}_images"] += 1
        counts["labels"] += len(lines)
    data = {"path": str(out_dir.resolve()), "train": "images/train", "val": "images/val", "nc": 1,
            "names": dict(CLASS_NAMES),
            "source": {"simulator": "mars_sim", "preset": result.config.name, "seed": result.seed,
                       "render_scale": renderer.scale}}
    (out_dir / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return counts


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of mars-sim-dataset: simulate a preset and export a YOLO dataset."""
    p = argparse.ArgumentParser(prog="mars-sim-dataset", description="Export rendered simulated frames as a "
                                "YOLO dataset (images/, labels/, data.yaml)")
    p.add_argument("--preset", default="field", help="simulation preset (default field)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, help="dataset folder (must not exist or be empty)")
    p.add_argument("--frames", type=int, default=1000, help="images to render (default 1000)")
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--scale", type=float, default=0.5, help="render scale of the camera resolution (default 0.5)")
    args = p.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        print(f"mars-sim-dataset: {args.out} already exists and is not empty; refusing to overwrite it",
              file=sys.stderr)
        return 2
    from mars_sim.simulation import simulate
    try:
        result = simulate(args.preset, args.seed)
    except ConfigError as exc:
        print(f"mars-sim-dataset: {exc}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        counts = export_yolo_dataset(result, args.out, args.frames, args.val_fraction, args.seed, args.scale)
    except ValueError as exc:
        print(f"mars-sim-dataset: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {counts['train_images']} train / {counts['val_images']} val images, "
          f"{counts['labels']} flower boxes in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
