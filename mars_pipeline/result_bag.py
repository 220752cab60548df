"""The counted map as an mcap file that Foxglove (and rviz via `ros2 bag play`) open directly: standard
visualization_msgs/MarkerArray in `map`, one sensor_msgs/NavSatFix per flower for map panels, plus our
GeoFlowerArray (its definition is embedded in the mcap)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, List, Union

import numpy as np

from mars_core.camera_colours import camera_colour
from mars_core.stamps import sec_nanosec
from mars_ros.bags.bag_files import BagWriter
from mars_fusion.snapshot import MapSnapshot



class _Builder:
    """rosbags message constructors with the defaults rosbags dataclasses do not have."""

    def __init__(self, typestore: Any) -> None:
        self.t = typestore.types

    def time(self, ns: int) -> Any:
        sec, nanosec = sec_nanosec(ns)
        return self.t["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)

    def header(self, ns: int, frame: str = "map") -> Any:
        return self.t["std_msgs/msg/Header"](stamp=self.time(ns), frame_id=frame)

    def point(self, x: float, y: float, z: float) -> Any:
        return self.t["geometry_msgs/msg/Point"](x=float(x), y=float(y), z=float(z))

    def marker(self, ns_stamp: int, ns: str, marker_id: int, kind: int, points: List[Any], scale: float,
               rgb: tuple) -> Any:
        t = self.t
        pose = t["geometry_msgs/msg/Pose"](position=self.point(0, 0, 0),
                                           orientation=t["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0))
        return t["visualization_msgs/msg/Marker"](
            header=self.header(ns_stamp), ns=ns, id=marker_id, type=kind, action=0, pose=pose,
            scale=t["geometry_msgs/msg/Vector3"](x=scale, y=scale, z=scale),
            color=t["std_msgs/msg/ColorRGBA"](r=rgb[0], g=rgb[1], b=rgb[2], a=0.95),
            lifetime=t["builtin_interfaces/msg/Duration"](sec=0, nanosec=0), frame_locked=False, points=points,
            colors=[], texture_resource="",
            texture=t["sensor_msgs/msg/CompressedImage"](header=self.header(0, ""), format="",
                                                          data=np.zeros(0, np.uint8)),
            uv_coordinates=[], text="", mesh_resource="",
            mesh_file=t["visualization_msgs/msg/MeshFile"](filename="", data=np.zeros(0, np.uint8)),
            mesh_use_embedded_materials=False)


def write_result_bag(snapshot: MapSnapshot, path: Union[str, Path], storage: str = "mcap") -> Path:
    """Write the map (markers, per-flower NavSatFix, GeoFlowerArray) into a new bag folder at path."""
    path = Path(path)
    flowers = snapshot.flowers
    stamp = int(flowers.last_ns.max()) if len(flowers) else 0
    with BagWriter(path, storage) as writer:
        b = _Builder(writer.typestore)
        t = b.t
        first_camera = snapshot.first_camera()
        markers = []
        for index, camera in enumerate(snapshot.camera_names):
            pts = [b.point(*p) for p in flowers.xyz[first_camera == index]]
            markers.append(b.marker(stamp, "flowers", index, 7, pts, 0.05, camera_colour(index)))
        markers.append(b.marker(stamp, "robot_path", 0, 4, [b.point(x, y, 0.0) for x, y in snapshot.path_xy], 0.03,
                                (0.2, 0.2, 0.2)))
        writer.write("/mars/flower_markers", "visualization_msgs/msg/MarkerArray", stamp,
                     t["visualization_msgs/msg/MarkerArray"](markers=markers))
        status = t["sensor_msgs/msg/NavSatStatus"](status=0, service=1)
        geo = []
        for i in range(len(flowers)):
            cov9 = np.zeros(9)
            cov9[[0, 1, 3, 4]] = np.asarray(flowers.cov[i], dtype=float).reshape(-1)[:4]
            writer.write("/mars/flower_fixes", "sensor_msgs/msg/NavSatFix", int(flowers.first_ns[i]),
                         t["sensor_msgs/msg/NavSatFix"](
                             header=b.header(int(flowers.first_ns[i]), f"flower_{int(flowers.ids[i])}"),
                             status=status, latitude=float(snapshot.latitude[i]),
                             longitude=float(snapshot.longitude[i]), altitude=float(snapshot.altitude[i]),
                             position_covariance=cov9, position_covariance_type=2))
            geo.append(t["mars_counting/msg/GeoFlower"](
                id=int(flowers.ids[i]), position=b.point(*flowers.xyz[i]), latitude=float(snapshot.latitude[i]),
                longitude=float(snapshot.longitude[i]), altitude=float(snapshot.altitude[i]),
                position_covariance=cov9, observations=int(flowers.n_obs[i]), cameras=snapshot.cameras(i),
                first_seen=b.time(flowers.first_ns[i]), last_seen=b.time(flowers.last_ns[i]),
                plot_id=str(snapshot.plot_ids[i])))
        writer.write("/mars/flowers", "mars_counting/msg/GeoFlowerArray", stamp,
                     t["mars_counting/msg/GeoFlowerArray"](header=b.header(stamp), flowers=geo))
    return path
