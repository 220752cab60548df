"""MapSnapshot / MapChanges -> GeoFlowerArray / GeoFlowerMapUpdate / FlowerCount / MarkerArray (rclpy messages of
the fusion node)."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Set, Tuple

import numpy as np

from mars_core.camera_colours import camera_colour
from mars_core.stamps import sec_nanosec


def _time(ns: int) -> Any:
    from builtin_interfaces.msg import Time

    sec, nanosec = sec_nanosec(ns)
    return Time(sec=sec, nanosec=nanosec)


def geo_flowers(snapshot: Any) -> List[Any]:
    """GeoFlower messages of every flower of the snapshot (shared by the full map and an update)."""
    from geometry_msgs.msg import Point
    from mars_counting.msg import GeoFlower

    t = snapshot.flowers
    n = len(snapshot)
    cov = np.zeros((n, 9))
    cov[:, [0, 1, 3, 4]] = np.asarray(t.cov, dtype=float).reshape(n, 4)
    xyz = np.asarray(t.xyz, dtype=float).tolist()
    columns = zip(t.ids.tolist(), xyz, snapshot.latitude.tolist(), snapshot.longitude.tolist(),
                  snapshot.altitude.tolist(), cov.tolist(), t.n_obs.tolist(), t.first_ns.tolist(), t.last_ns.tolist(),
                  snapshot.plot_ids.tolist())
    return [GeoFlower(id=int(fid), position=Point(x=p[0], y=p[1], z=p[2]), latitude=lat, longitude=lon, altitude=alt,
                      position_covariance=c, observations=int(n_obs), cameras=snapshot.cameras(i),
                      first_seen=_time(first), last_seen=_time(last), plot_id=str(plot))
            for i, (fid, p, lat, lon, alt, c, n_obs, first, last, plot) in enumerate(columns)]


def flower_array_msg(snapshot: Any, stamp: Any, flowers: Optional[List[Any]] = None) -> Any:
    """GeoFlowerArray (frame 'map') of every flower of the snapshot (flowers: its geo_flowers, when built)."""
    from mars_counting.msg import GeoFlowerArray

    msg = GeoFlowerArray()
    msg.header.stamp = stamp
    msg.header.frame_id = "map"
    msg.flowers = geo_flowers(snapshot) if flowers is None else flowers
    return msg


def flower_update_msg(changes: Any, stamp: Any, flowers: Optional[List[Any]] = None) -> Any:
    """GeoFlowerMapUpdate of one publication of the map's changes (flowers: geo_flowers(changes.changed))."""
    from mars_counting.msg import GeoFlowerMapUpdate, RemovedFlower

    msg = GeoFlowerMapUpdate(sequence=changes.sequence, full=changes.full, total=changes.total)
    msg.header.stamp = stamp
    msg.header.frame_id = "map"
    msg.changed = geo_flowers(changes.changed) if flowers is None else flowers
    msg.removed = [RemovedFlower(id=int(i), merged_into=int(m))
                   for i, m in zip(changes.removed_ids.tolist(), changes.merged_into.tolist())]
    return msg


def flower_count_msg(snapshot: Any, per_camera: Dict[str, int], stamp: Any) -> Any:
    """FlowerCount: map total, flowers per camera and per plot / row segment."""
    return count_msg(len(snapshot), per_camera, snapshot.counts_per_plot(), stamp)


def count_msg(total: int, per_camera: Dict[str, int], per_plot: Dict[str, int], stamp: Any) -> Any:
    """FlowerCount from the counts themselves (a publication of the map's changes keeps them up to date)."""
    from mars_counting.msg import FlowerCount, NamedCount

    msg = FlowerCount(total=int(total))
    msg.header.stamp = stamp
    msg.header.frame_id = "map"
    msg.per_camera = [NamedCount(name=k, count=int(v)) for k, v in per_camera.items()]
    msg.per_plot = [NamedCount(name=k, count=int(v)) for k, v in per_plot.items()]
    return msg


FLOWER_SCALE_M = 0.05


class FlowerMarkerTiles:
    """The map as markers with stable ids: one SPHERE_LIST per (tile, first camera), so that a publication
    replaces (ADD) only the tiles that changed and deletes (DELETE) the ones left empty; rviz and Foxglove keep
    every other marker. A full publication starts with DELETEALL and lists every tile."""

    def __init__(self) -> None:
        self._ids: Dict[Tuple[int, int], int] = {}     # (tile key, camera index) -> marker id, for the run
        self._shown: Dict[int, Set[int]] = {}          # tile key -> cameras with a marker shown now

    def _marker_id(self, key: int, camera: int) -> int:
        return self._ids.setdefault((key, camera), len(self._ids))

    def markers_msg(self, changes: Any, stamp: Any) -> Any:
        """MarkerArray in 'map' of one publication: the changed tiles and the robot path."""
        from geometry_msgs.msg import Point
        from std_msgs.msg import ColorRGBA
        from visualization_msgs.msg import Marker, MarkerArray

        markers = MarkerArray()
        if changes.full:
            clear = Marker(ns="flowers", id=0, action=Marker.DELETEALL)
            clear.header.stamp, clear.header.frame_id = stamp, "map"
            markers.markers.append(clear)
            self._shown.clear()
        for key in sorted(changes.tiles):
            xyz, cams = changes.tiles[key]
            now = set(np.unique(cams).tolist())
            for camera in sorted(self._shown.get(key, set()) - now):
                gone = Marker(ns="flowers", id=self._marker_id(key, camera), action=Marker.DELETE)
                gone.header.stamp, gone.header.frame_id = stamp, "map"
                markers.markers.append(gone)
            for camera in sorted(now):
                m = Marker(ns="flowers", id=self._marker_id(key, camera), type=Marker.SPHERE_LIST, action=Marker.ADD)
                m.header.stamp, m.header.frame_id = stamp, "map"
                m.pose.orientation.w = 1.0
                m.scale.x = m.scale.y = m.scale.z = FLOWER_SCALE_M
                r, g, b = camera_colour(camera)
                m.color = ColorRGBA(r=r, g=g, b=b, a=0.95)
                m.points = [Point(x=x, y=y, z=z) for x, y, z in xyz[cams == camera].tolist()]
                markers.markers.append(m)
            if now:
                self._shown[key] = now
            else:
                self._shown.pop(key, None)
        markers.markers.append(_path_marker(changes.changed.path_xy, stamp))
        return markers


def _path_marker(path_xy: np.ndarray, stamp: Any) -> Any:
    """The robot path as one LINE_STRIP (ns robot_path, id 0)."""
    from geometry_msgs.msg import Point
    from std_msgs.msg import ColorRGBA
    from visualization_msgs.msg import Marker

    path = Marker(ns="robot_path", id=0, type=Marker.LINE_STRIP, action=Marker.ADD)
    path.header.stamp, path.header.frame_id = stamp, "map"
    path.pose.orientation.w = 1.0
    path.scale.x = 0.03
    path.color = ColorRGBA(r=0.2, g=0.2, b=0.2, a=0.8)
    path.points = [Point(x=x, y=y, z=0.0) for x, y in np.asarray(path_xy, dtype=float).tolist()]
    return path
