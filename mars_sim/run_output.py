"""``write_run(result, out_dir)``: a simulated run on disk, as the robot would have recorded it, plus the truth.

Layout of ``out_dir``:
- ``bag/``: rosbag2 (mcap default, sqlite3 option; metadata version 8, readable by Humble) with
  ``/<cam>/detections`` (mars_counting/msg/FlowerDetectionArray), ``/<cam>/camera_info``,
  ``/<cam>/image/compressed`` (with images=True), ``/gnss/fix`` (NavSatFix, frame gnss_link),
  ``/imu/data`` (Imu in base_link, orientation = REP-103 yaw from true east as a real IMU's; absent when the heading source is
  'none') and ``/tf_static`` (base_link -> <cam>_link -> <cam>_optical_frame, base_link -> gnss_link).
  Every message is logged at its header stamp (the true capture/measurement time).
- ``truth/``: see mars_sim.truth_files.
- ``sim_config.yaml`` (the full SimConfig + seed) and ``rig.yaml`` (a robot configuration: the ``rig:``
  section in the format of config/mars_rig.yaml and a ``fusion:`` section with the field datum), so an
  offline counter finds the rig and the map frame without options.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, List, Tuple, Union

import numpy as np
import yaml

from mars_core.feature_codec import FeatureEncoding
from mars_core.geometry.rotations import quaternion_from_rotation, rotation_from_rpy
from mars_core.rig import rig_static_transforms
from mars_core.stamps import sec_nanosec
from mars_ros.bags.bag_files import BagWriter
from mars_sim.simulation import SimulationResult
from mars_sim.truth_files import write_truth

GNSS_FRAME = "gnss_link"
BASE_FRAME = "base_link"


def _stamp(types: Any, stamp_ns: int) -> Any:
    sec, nanosec = sec_nanosec(stamp_ns)
    return types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)


def _header(types: Any, stamp_ns: int, frame_id: str) -> Any:
    return types["std_msgs/msg/Header"](stamp=_stamp(types, stamp_ns), frame_id=frame_id)


def _transform(types: Any, stamp_ns: int, parent: str, child: str, xyz: Tuple[float, float, float],
               rotation: np.ndarray) -> Any:
    q = quaternion_from_rotation(rotation)
    t = types
    return t["geometry_msgs/msg/TransformStamped"](
        header=_header(t, stamp_ns, parent), child_frame_id=child,
        transform=t["geometry_msgs/msg/Transform"](
            translation=t["geometry_msgs/msg/Vector3"](x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2])),
            rotation=t["geometry_msgs/msg/Quaternion"](x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3]))))


def static_transforms(result: SimulationResult, types: Any) -> Any:
    """The rig's TFMessage: base_link -> <cam>_link -> <cam>_optical_frame, base_link -> gnss_link."""
    stamp = result.start_time_ns
    transforms: List[Any] = [_transform(types, stamp, t.parent, t.child, t.xyz, rotation_from_rpy(t.rpy))
                             for t in rig_static_transforms(result.rig)]   # the same tree robot.launch.py publishes
    return types["tf2_msgs/msg/TFMessage"](transforms=transforms)


def camera_info_msg(result: SimulationResult, camera: str, stamp_ns: int, types: Any) -> Any:
    """sensor_msgs/CameraInfo of a rig camera at a stamp."""
    intr = result.rig.camera(camera).model.intrinsics
    d = np.asarray(intr.distortion, dtype=np.float64)
    model = "plumb_bob" if d.size <= 5 else "rational_polynomial"
    k = intr.matrix.reshape(-1)
    p = np.array([intr.fx, 0.0, intr.cx, 0.0, 0.0, intr.fy, intr.cy, 0.0, 0.0, 0.0, 1.0, 0.0])
    return types["sensor_msgs/msg/CameraInfo"](
        header=_header(types, stamp_ns, f"{camera}_optical_frame"), height=intr.height, width=intr.width,
        distortion_model=model, d=d, k=k, r=np.eye(3).reshape(-1), p=p, binning_x=0, binning_y=0,
        roi=types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))


def gnss_messages(result: SimulationResult, types: Any) -> Iterator[Tuple[int, Any]]:
    """(stamp_ns, NavSatFix) of every simulated fix."""
    g = result.gnss
    status_cls, fix_cls = types["sensor_msgs/msg/NavSatStatus"], types["sensor_msgs/msg/NavSatFix"]
    for i in range(g.stamp_ns.size):
        yield int(g.stamp_ns[i]), fix_cls(
            header=_header(types, int(g.stamp_ns[i]), GNSS_FRAME),
            status=status_cls(status=int(g.status[i]), service=1 | 2 | 8),
            latitude=float(g.latitude[i]), longitude=float(g.longitude[i]), altitude=float(g.altitude[i]),
            position_covariance=g.covariance[i].astype(np.float64), position_covariance_type=int(g.covariance_type[i]))


def imu_messages(result: SimulationResult, types: Any) -> Iterator[Tuple[int, Any]]:
    """(stamp_ns, Imu) with the measured yaw from true east as orientation (flat field: roll = pitch = 0)."""
    h = result.heading
    if h is None:
        return
    imu_cls, quat, vec = (types["sensor_msgs/msg/Imu"], types["geometry_msgs/msg/Quaternion"],
                          types["geometry_msgs/msg/Vector3"])
    ocov = np.diag([1e-4, 1e-4, h.yaw_variance]).reshape(-1)
    wcov = np.diag([h.yaw_rate_variance] * 3).reshape(-1)
    acov = np.diag([0.01] * 3).reshape(-1)
    for i in range(h.stamp_ns.size):
        half = 0.5 * float(h.yaw[i])
        yield int(h.stamp_ns[i]), imu_cls(
            header=_header(types, int(h.stamp_ns[i]), BASE_FRAME),
            orientation=quat(x=0.0, y=0.0, z=np.sin(half), w=np.cos(half)), orientation_covariance=ocov,
            angular_velocity=vec(x=0.0, y=0.0, z=float(h.yaw_rate[i])), angular_velocity_covariance=wcov,
            linear_acceleration=vec(x=0.0, y=0.0, z=9.80665), linear_acceleration_covariance=acov)


def write_bag(result: SimulationResult, bag_dir: Union[str, Path], images: bool = False, storage: str = "mcap",
              feature_encoding: FeatureEncoding = FeatureEncoding.FLOAT32) -> Path:
    """Write the rosbag2 folder of a simulated run (messages in log-time order per topic)."""
    bag_dir = Path(bag_dir)
    renderer = None
    if images:
        from mars_sim.rendering import FrameRenderer   # opencv rendering only when asked for
        renderer = FrameRenderer(result)
    with BagWriter(bag_dir, storage=storage) as bag:
        types = bag.typestore.types
        bag.write("/tf_static", "tf2_msgs/msg/TFMessage", result.start_time_ns, static_transforms(result, types))
        events: List[Tuple[int, int, str, int]] = []   # (stamp, kind order, camera, frame index) merged in time
        for name, stream in result.cameras.items():
            events.extend((f.stamp_ns, 0, name, k) for k, f in enumerate(stream.frames))
        gnss = list(gnss_messages(result, types))
        imu = list(imu_messages(result, types))
        events.extend((s, 1, "", k) for k, (s, _) in enumerate(gnss))
        events.extend((s, 2, "", k) for k, (s, _) in enumerate(imu))
        events.sort()
        every = result.config.render.image_every_n_frames
        progress = None
        if renderer is not None:
            from tqdm import tqdm
            total = sum((len(s.frames) + every - 1) // every for s in result.cameras.values())
            progress = tqdm(total=total, desc="rendering images", unit="img", disable=total < 200)
        for stamp, kind, name, k in events:
            if kind == 0:
                frame = result.cameras[name].frames[k]
                bag.write_detection_frame(frame, feature_encoding)
                bag.write(f"/{name}/camera_info", "sensor_msgs/msg/CameraInfo", stamp,
                          camera_info_msg(result, name, stamp, types))
                if renderer is not None and k % every == 0:
                    jpeg = renderer.render_jpeg(name, k)
                    assert progress is not None  # made with the renderer
                    progress.update(1)
                    bag.write(f"/{name}/image/compressed", "sensor_msgs/msg/CompressedImage", stamp,
                              types["sensor_msgs/msg/CompressedImage"](
                                  header=_header(types, stamp, f"{name}_optical_frame"), format="jpeg",
                                  data=np.frombuffer(jpeg, dtype=np.uint8)))
            elif kind == 1:
                bag.write("/gnss/fix", "sensor_msgs/msg/NavSatFix", stamp, gnss[k][1])
            else:
                bag.write("/imu/data", "sensor_msgs/msg/Imu", stamp, imu[k][1])
        if progress is not None:
            progress.close()
    return bag_dir


def write_run(result: SimulationResult, out_dir: Union[str, Path], images: bool = False, storage: str = "mcap",
              feature_encoding: FeatureEncoding = FeatureEncoding.FLOAT32) -> Path:
    """Write DIR/bag, DIR/truth, DIR/sim_config.yaml and DIR/rig.yaml; returns DIR."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_bag(result, out_dir / "bag", images=images, storage=storage, feature_encoding=feature_encoding)
    write_truth(result, out_dir / "truth")
    config = result.config.to_dict()
    config["seed"] = result.seed
    (out_dir / "sim_config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    # rig.yaml is the run's robot configuration: the rig, and the field datum so that a counter's map frame is
    # the truth's (the UTM grid shifted to the datum), which makes map x,y directly comparable.
    robot = {"rig": result.rig.to_dict(),
             "fusion": {"datum_latitude": result.datum.latitude, "datum_longitude": result.datum.longitude,
                        "datum_altitude": result.datum.altitude, "map_projection": "utm"}}
    (out_dir / "rig.yaml").write_text(yaml.safe_dump(robot, sort_keys=False))
    return out_dir
