"""rviz markers of live tracks: one SPHERE_LIST per camera, drawn where the track's pixel ray meets a plane.

The generated messages are imported where a marker is built (as in map_messages), so that mars_ros.messages
imports without a ROS install."""
from __future__ import annotations

from typing import Any

import numpy as np

from mars_core.camera_colours import camera_colour
from mars_core.geometry import CameraModel
from mars_core.tracks import TrackSnapshot, TrackStatus


def track_marker_points(tracks: TrackSnapshot, camera: CameraModel, index: int, stamp: Any,
                        plane_height: float) -> Any:
    """A SPHERE_LIST (ns 'tracks', id = camera index: stable) of the camera's confirmed live tracks."""
    from geometry_msgs.msg import Point
    from std_msgs.msg import ColorRGBA
    from visualization_msgs.msg import Marker

    marker = Marker()
    marker.header.frame_id = "base_link"
    marker.header.stamp = stamp
    marker.ns = f"tracks/{camera.name}"
    marker.id = index
    marker.type = Marker.SPHERE_LIST
    marker.action = Marker.ADD
    marker.pose.orientation.w = 1.0
    marker.scale.x = marker.scale.y = marker.scale.z = 0.04
    r, g, b = camera_colour(index)
    marker.color = ColorRGBA(r=r, g=g, b=b, a=0.9)
    live = tracks.confirmed & (tracks.status != TrackStatus.REMOVED)
    if np.any(live):
        points = camera.ground_point_from_pixel(tracks.xywh[live, 0:2], plane_height)
        marker.points = [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in points if np.isfinite(p).all()]
    return marker


def camera_frustum_marker(camera: CameraModel, index: int, stamp: Any, plane_height: float) -> Any:
    """A LINE_LIST (ns 'frusta', id = camera index) from the camera to its image corners on a plane."""
    from geometry_msgs.msg import Point
    from std_msgs.msg import ColorRGBA
    from visualization_msgs.msg import Marker

    marker = Marker()
    marker.header.frame_id = "base_link"
    marker.header.stamp = stamp
    marker.ns = "frusta"
    marker.id = index
    marker.type = Marker.LINE_LIST
    marker.action = Marker.ADD
    marker.pose.orientation.w = 1.0
    marker.scale.x = 0.01
    r, g, b = camera_colour(index)
    marker.color = ColorRGBA(r=r, g=g, b=b, a=0.6)
    i = camera.intrinsics
    corners = camera.ground_point_from_pixel(
        np.array([[0.0, 0.0], [i.width, 0.0], [i.width, i.height], [0.0, i.height]]), plane_height)
    origin = Point(x=float(camera.extrinsics.xyz[0]), y=float(camera.extrinsics.xyz[1]),
                   z=float(camera.extrinsics.xyz[2]))
    pts = [Point(x=float(c[0]), y=float(c[1]), z=float(c[2])) for c in corners if np.isfinite(c).all()]
    for k, p in enumerate(pts):
        marker.points.extend([origin, p, p, pts[(k + 1) % len(pts)]])
    return marker
