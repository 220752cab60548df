"""Finding the rig of a recorded bag: a robot configuration file given by the user, the `rig.yaml` that
mars-sim (or a robot's recorder) writes next to the bag, or the bag's own CameraInfo and /tf_static."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from mars_core.geometry.camera_model import CameraExtrinsics, CameraIntrinsics, CameraModel
from mars_core.geometry.rotations import rotation_from_quaternion, rpy_from_rotation
from mars_ros.bags.bag_files import open_recorded_bag
from mars_core.rig import ConfigError, RigCamera, RigConfig, load_rig
from mars_core.stamps import NS_PER_S, stamp_to_ns

RIG_FILE_NAMES = ("rig.yaml", "robot.yaml")


def rig_file_near(bag: Path) -> Optional[Path]:
    """A rig file inside the bag folder or beside it (mars-sim writes DIR/rig.yaml next to DIR/bag)."""
    for folder in (bag, bag.parent):
        for name in RIG_FILE_NAMES:
            if (folder / name).is_file():
                return folder / name
    return None


def rig_from_bag_messages(bag: Union[str, Path]) -> Optional[RigConfig]:
    """A rig from the bag's /<camera>/camera_info (intrinsics, frame rate) and /tf_static (mounting), or None."""
    reader = open_recorded_bag(bag)  # a truncated or damaged mcap gives its readable chunks
    try:
        info_conns = [c for c in reader.connections if c.msgtype == "sensor_msgs/msg/CameraInfo"]
        tf_conns = [c for c in reader.connections if c.topic == "/tf_static"]
        if not info_conns or not tf_conns:
            return None
        infos: Dict[str, Any] = {}
        stamps: Dict[str, list] = {}
        for conn, _, data in reader.messages(connections=info_conns):
            msg: Any = reader.deserialize(data, conn.msgtype)  # a rosbags CameraInfo
            camera = conn.topic.strip("/").split("/")[0]
            infos.setdefault(camera, msg)
            stamps.setdefault(camera, []).append(float(stamp_to_ns(msg.header.stamp)))
            if all(len(v) >= 30 for v in stamps.values()) and len(infos) == len(info_conns):
                break
        transforms: Dict[Tuple[str, str], Any] = {}
        for conn, _, data in reader.messages(connections=tf_conns):
            tf_message: Any = reader.deserialize(data, conn.msgtype)
            for t in tf_message.transforms:
                transforms[(t.header.frame_id, t.child_frame_id)] = t.transform
    finally:
        reader.close()
    cameras = []
    for name, info in infos.items():
        mount = transforms.get(("base_link", f"{name}_link"))
        if mount is None:
            return None
        k = info.k
        intrinsics = CameraIntrinsics(int(info.width), int(info.height), float(k[0]), float(k[4]), float(k[2]),
                                      float(k[5]), tuple(float(v) for v in info.d) or (0.0,) * 5)
        q = mount.rotation
        rpy = rpy_from_rotation(rotation_from_quaternion(q.x, q.y, q.z, q.w))
        extrinsics = CameraExtrinsics((mount.translation.x, mount.translation.y, mount.translation.z), tuple(rpy))
        times = np.diff(np.asarray(stamps[name])) / NS_PER_S
        rate = float(1.0 / np.median(times)) if times.size and np.median(times) > 0 else 30.0
        cameras.append(RigCamera(CameraModel(name, intrinsics, extrinsics), rate))
    gnss = transforms.get(("base_link", "gnss_link"))
    antenna = (gnss.translation.x, gnss.translation.y, gnss.translation.z) if gnss is not None else (0.0, 0.0, 0.0)
    # The rig's order is the order its mounts were published in /tf_static (the robot's config order), not the
    # order of the camera_info topics in the bag (alphabetical in rosbag2's metadata).
    mount_order = [child for _, child in transforms]
    cameras.sort(key=lambda c: mount_order.index(f"{c.name}_link"))
    return RigConfig(tuple(cameras), antenna) if cameras else None


def discover_rig(bag: Union[str, Path], config_file: Optional[Union[str, Path]] = None) -> Tuple[RigConfig, str]:
    """The rig for a bag and where it came from (ConfigError when none can be found)."""
    bag = Path(bag)
    if config_file is not None:
        return load_rig(config_file), str(config_file)
    near = rig_file_near(bag)
    if near is not None:
        return load_rig(near), str(near)
    from_messages = rig_from_bag_messages(bag)
    if from_messages is not None:
        return from_messages, f"{bag} (camera_info + /tf_static)"
    raise ConfigError(f"no rig for {bag}: give --config ROBOT.yaml (see config/mars_rig.yaml), put a rig.yaml next "
                      f"to the bag, or record /<camera>/camera_info and /tf_static in it")
