"""Ground-truth files of a simulated run (the ``DIR/truth/`` folder), and their readers.

- ``flowers.csv``: id,x,y,z,lat,lon,alt,diameter_m,row,prototype,observed (observed = visible in at
  least one frame of any camera: the flowers a perfect counter can count).
- ``mot/<camera>/gt.txt`` (MOTChallenge): frame,id,left,top,width,height,1,1,visibility for every visible
  flower in every frame; frame = DetectionFrame.frame_number + 1 (MOT frames are 1-based).
- ``mot/<camera>/det_truth.txt``: every simulated detection, frame,true_id,left,top,width,height,score
  with true_id = -1 for false positives (the true flower behind each detection).
- ``mot/<camera>/seqinfo.ini``: MOTChallenge sequence info (frame rate, length, image size).
- ``plots.geojson`` and ``hand_counts.csv`` (plot_id,count,observed_count): the field's trial plots and the
  flowers in each, what a hand count reports (mars_sim.field_plots).
- ``robot_poses.csv`` (stamp_ns,x,y,yaw), ``gnss.csv`` (true and measured antenna), ``world.yaml`` (datum,
  UTM zone, preset, seed).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Union

import numpy as np
import yaml

from mars_sim.field_plots import write_plot_truth
from mars_sim.simulation import SimulationResult

FLOWERS_HEADER = "id,x,y,z,lat,lon,alt,diameter_m,row,prototype,observed"


def write_truth(result: SimulationResult, truth_dir: Union[str, Path]) -> Path:
    """Write the ground-truth folder; returns its path."""
    truth_dir = Path(truth_dir)
    truth_dir.mkdir(parents=True, exist_ok=True)
    f = result.field
    lat, lon, alt = result.datum.geodetic_from_map(f.xyz[:, 0], f.xyz[:, 1], f.xyz[:, 2])
    observed = np.isin(f.ids, result.observed_flower_ids()).astype(int)
    with open(truth_dir / "flowers.csv", "w") as fh:
        fh.write(FLOWERS_HEADER + "\n")
        for i in range(len(f)):
            fh.write(f"{f.ids[i]},{f.xyz[i, 0]:.4f},{f.xyz[i, 1]:.4f},{f.xyz[i, 2]:.4f},{lat[i]:.9f},{lon[i]:.9f},"
                     f"{alt[i]:.4f},{f.diameter_m[i]:.4f},{f.row[i]},{f.prototype[i]},{observed[i]}\n")
    write_plot_truth(result.config.field, result.datum, f.xyz[:, :2], observed.astype(bool), truth_dir)
    for name, stream in result.cameras.items():
        cam_dir = truth_dir / "mot" / name
        cam_dir.mkdir(parents=True, exist_ok=True)
        gt = stream.true_boxes
        gt_rows = np.column_stack([gt.frame_index + 1, gt.flower_id, gt.xyxy[:, 0], gt.xyxy[:, 1],
                                   gt.xyxy[:, 2] - gt.xyxy[:, 0], gt.xyxy[:, 3] - gt.xyxy[:, 1],
                                   np.ones(gt.frame_index.size), np.ones(gt.frame_index.size), gt.in_image_fraction])
        np.savetxt(cam_dir / "gt.txt", gt_rows, fmt=["%d", "%d", "%.2f", "%.2f", "%.2f", "%.2f", "%d", "%d", "%.3f"],
                   delimiter=",")
        det_rows = []
        for frame, ids in zip(stream.frames, stream.truth_ids):
            d = frame.detections
            if len(d) == 0:
                continue
            n = len(d)
            det_rows.append(np.column_stack([np.full(n, frame.frame_number + 1), ids, d.xyxy[:, 0], d.xyxy[:, 1],
                                             d.xyxy[:, 2] - d.xyxy[:, 0], d.xyxy[:, 3] - d.xyxy[:, 1], d.scores]))
        det = np.concatenate(det_rows) if det_rows else np.zeros((0, 7))
        np.savetxt(cam_dir / "det_truth.txt", det, fmt=["%d", "%d", "%.2f", "%.2f", "%.2f", "%.2f", "%.4f"],
                   delimiter=",")
        cam = result.rig.camera(name)
        (cam_dir / "seqinfo.ini").write_text(
            f"[Sequence]\nname={name}\nimDir=img1\nframeRate={cam.frame_rate_hz:g}\nseqLength={len(stream.frames)}\n"
            f"imWidth={cam.model.intrinsics.width}\nimHeight={cam.model.intrinsics.height}\nimExt=.jpg\n")
    p = result.robot_poses
    np.savetxt(truth_dir / "robot_poses.csv", np.column_stack([p.stamp_ns, p.x, p.y, p.yaw]),
               fmt=["%d", "%.4f", "%.4f", "%.6f"], delimiter=",", header="stamp_ns,x,y,yaw", comments="")
    g = result.gnss
    np.savetxt(truth_dir / "gnss.csv", np.column_stack([g.stamp_ns, g.true_xyz, g.measured_xyz, g.status]),
               fmt=["%d"] + ["%.4f"] * 6 + ["%d"], delimiter=",",
               header="stamp_ns,true_x,true_y,true_z,measured_x,measured_y,measured_z,status", comments="")
    world: Dict[str, object] = {
        "preset": result.config.name, "seed": result.seed,
        "datum": {"latitude": result.datum.latitude, "longitude": result.datum.longitude,
                  "altitude": result.datum.altitude, "utm_epsg": result.datum.utm_epsg},
        "map_frame": "UTM grid of the datum's zone shifted to the datum (x east, y north, z up), metres",
        "mot_frame_numbering": "MOT frame = DetectionFrame.frame_number + 1",
        "flowers_total": int(len(f)), "flowers_observed": int(observed.sum()),
        "start_time_ns": int(result.start_time_ns), "end_time_ns": int(result.end_time_ns),
        "cameras": list(result.cameras),
    }
    (truth_dir / "world.yaml").write_text(yaml.safe_dump(world, sort_keys=False))
    return truth_dir
