"""mars_sim: a MARS field pass with exact ground truth, and the evaluation that scores a counting run.

ROS-free (numpy, scipy, pyproj, opencv); bags are written with rosbags. Sits on top of mars_camera
(camera model, rig, detection types, bag/typestore helpers).

Python API (for tests and benchmarks of other components, no CLI needed)::

    from mars_sim import simulate, write_run
    result = simulate("quick", seed=0)          # preset name, YAML path, dict or SimConfig
    for name, stream in result.cameras.items():  # rig order
        for frame, truth_ids in zip(stream.frames, stream.truth_ids):
            frame        # mars_core.detections.DetectionFrame (boxes, scores, 64-D features)
            truth_ids    # (N,) int64 true flower id per detection, -1 = false positive
        stream.true_boxes  # every visible flower per frame (the tracking ground truth)
        stream.poses       # true robot pose at each frame's capture stamp
    result.field           # FlowerField: ids, xyz (map), diameters, latent appearance, ...
    result.gnss            # GnssFixes: NavSatFix columns + true/measured antenna positions
    result.heading         # HeadingSamples (IMU yaw from true east, as a real IMU) or None
    result.robot_poses     # true base_link poses at 50 Hz; result.trajectory.poses(stamps) for any stamp
    result.datum           # MapDatum: map <-> lat/lon (UTM zone of the datum)
    write_run(result, "runs/quick0", images=False, storage="mcap")  # DIR/bag, DIR/truth, DIR/*.yaml

Image level: ``mars_sim.rendering.FrameRenderer(result).render(camera, frame_index)`` -> (BGR image,
YOLO boxes); ``mars_sim.yolo_dataset.export_yolo_dataset(result, out_dir)``.
Evaluation: ``mars_sim.evaluation.evaluate_run(truth_dir, result_dir)``.
CLIs: ``mars-sim`` (mars_sim.cli), ``mars-eval`` (mars_sim.evaluation.cli).
"""
from mars_sim.config import SimConfig, sim_config_from_dict
from mars_sim.presets import PRESETS, preset_config
from mars_sim.run_output import write_run
from mars_sim.simulation import SimulationResult, simulate

__all__ = ["SimConfig", "sim_config_from_dict", "PRESETS", "preset_config", "simulate", "SimulationResult",
           "write_run"]
