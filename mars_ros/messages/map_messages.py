"""MapSnapshot -> GeoFlowerArray / FlowerCount / MarkerArray (rclpy messages of the fusion node)."""
from __future__ import annotations

from typing import Any, Dict

import numpy as np

from mars_core.camera_colours import camera_colour
from mars_core.stamps import sec_nanosec


def _time(ns: int) -> Any:
    from builtin_interfaces.msg import Time

    sec, nanosec = sec_nanosec(ns)
    return Time(sec=sec, nanosec=nanosec)


def flower_array_msg(snapshot: Any, stamp: Any) -> Any:
    """GeoFlowerArray (frame 'map') of every flower of the snapshot."""
    from geometry_msgs.msg import Point
    from mars_counting.msg import GeoFlower, GeoFlowerArray

    msg = GeoFlowerArray()
    msg.header.stamp = stamp
    msg.header.frame_id = "map"
    t = snapshot.flowers
    for i in range(len(snapshot)):
        cov = np.zeros(9)
        cov[[0, 1, 3, 4]] = np.asarray(t.cov[i], dtype=float).reshape(-1)[:4]
        msg.flowers.append(GeoFlower(
            id=int(t.ids[i]), position=Point(x=float(t.xyz[i, 0]), y=float(t.xyz[i, 1]), z=float(t.xyz[i, 2])),
            latitude=float(snapshot.latitude[i]), longitude=float(snapshot.longitude[i]),
            altitude=float(snapshot.altitude[i]), position_covariance=cov.tolist(), observations=int(t.n_obs[i]),
            cameras=snapshot.cameras(i), first_seen=_time(t.first_ns[i]), last_seen=_time(t.last_ns[i]),
            plot_id=str(snapshot.plot_ids[i])))
    return msg


def flower_count_msg(snapshot: Any, per_camera: Dict[str, int], stamp: Any) -> Any:
    """FlowerCount: map total, flowers per camera and per plot / row segment."""
    from mars_counting.msg import FlowerCount, NamedCount

    msg = FlowerCount(total=len(snapshot))
    msg.header.stamp = stamp
    msg.header.frame_id = "map"
    msg.per_camera = [NamedCount(name=k, count=int(v)) for k, v in per_camera.items()]
    msg.per_plot = [NamedCount(name=k, count=int(v)) for k, v in snapshot.counts_per_plot().items()]
    return msg


def flower_markers_msg(snapshot: Any, stamp: Any) -> Any:
    """MarkerArray in 'map': flowers as one SPHERE_LIST per first camera (stable ids) and the robot path."""
    from geometry_msgs.msg import Point
    from std_msgs.msg import ColorRGBA
    from visualization_msgs.msg import Marker, MarkerArray

    markers = MarkerArray()
    t = snapshot.flowers
    first_camera = snapshot.first_camera()
    for index, camera in enumerate(snapshot.camera_names):
        m = Marker(ns="flowers", id=index, type=Marker.SPHERE_LIST, action=Marker.ADD)
        m.header.stamp, m.header.frame_id = stamp, "map"
        m.pose.orientation.w = 1.0
        m.scale.x = m.scale.y = m.scale.z = 0.05
        r, g, b = camera_colour(index)
        m.color = ColorRGBA(r=r, g=g, b=b, a=0.95)
        m.points = [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in t.xyz[first_camera == index]]
        markers.markers.append(m)
    path = Marker(ns="robot_path", id=0, type=Marker.LINE_STRIP, action=Marker.ADD)
    path.header.stamp, path.header.frame_id = stamp, "map"
    path.pose.orientation.w = 1.0
    path.scale.x = 0.03
    path.color = ColorRGBA(r=0.2, g=0.2, b=0.2, a=0.8)
    path.points = [Point(x=float(x), y=float(y), z=0.0) for x, y in snapshot.path_xy]
    markers.markers.append(path)
    return markers
