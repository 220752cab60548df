"""TrackUpdate -> mars_counting/msg/FlowerTrackArray, for rclpy messages (live) and rosbags messages (files).

Each message carries the camera's live tracks (NEW, TRACKED, LOST) and, once, the tracks that ended with this
frame (REMOVED), row-aligned with the smoothed appearance embeddings.
"""
from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

from mars_core.detections import optical_frame_id
from mars_core.feature_codec import FeatureEncoding, encode_features
from mars_core.stamps import sec_nanosec
from mars_core.tracks import TrackSnapshot, TrackUpdate

TRACK_ARRAY_TYPE = "mars_counting/msg/FlowerTrackArray"


def reported_tracks(update: TrackUpdate) -> TrackSnapshot:
    """Live tracks followed by the tracks removed in this frame (the rows of the message)."""
    if len(update.removed) == 0:
        return update.tracks
    if len(update.tracks) == 0:
        return update.removed
    return TrackSnapshot.concat((update.tracks, update.removed))


def _track_rows(tracks: TrackSnapshot) -> List[Dict[str, Any]]:
    return [dict(track_id=int(tracks.track_ids[i]), status=int(tracks.status[i]), confirmed=bool(tracks.confirmed[i]),
                 age=int(tracks.age[i]), hits=int(tracks.hits[i]),
                 frames_since_update=int(tracks.frames_since_update[i]),
                 box=tuple(float(v) for v in tracks.xywh[i]), velocity_x=float(tracks.velocity[i, 0]),
                 velocity_y=float(tracks.velocity[i, 1]), score=float(tracks.scores[i]),
                 class_id=int(tracks.class_ids[i])) for i in range(len(tracks))]


def track_msg_rclpy(update: TrackUpdate, encoding: FeatureEncoding = FeatureEncoding.FLOAT32) -> Any:
    """A generated (rclpy) FlowerTrackArray for a TrackUpdate."""
    from builtin_interfaces.msg import Time
    from mars_counting.msg import BoundingBox, FeatureBlock, FlowerTrack, FlowerTrackArray
    from std_msgs.msg import Header

    tracks = reported_tracks(update)
    rows = []
    for r in _track_rows(tracks):
        x, y, w, h = r.pop("box")
        rows.append(FlowerTrack(box=BoundingBox(center_x=x, center_y=y, width=w, height=h), **r))
    enc = encode_features(tracks.embeddings, update.feature_model_id, encoding)
    block = FeatureBlock(model_id=enc.model_id, dim=enc.dim, encoding=int(enc.encoding), scale=enc.scale,
                         zero_point=enc.zero_point)
    block.data = enc.data
    sec, nanosec = sec_nanosec(update.stamp_ns)
    return FlowerTrackArray(
        header=Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=optical_frame_id(update.camera_name)),
        camera_name=update.camera_name, frame_number=int(update.frame_number),
        image_width=int(update.image_width), image_height=int(update.image_height), tracks=rows, features=block,
        confirmed_count=int(update.count))


def track_msg_rosbags(update: TrackUpdate, typestore: Any,
                      encoding: FeatureEncoding = FeatureEncoding.FLOAT32) -> Any:
    """A rosbags FlowerTrackArray (typestore with our types registered) for a TrackUpdate."""
    types = typestore.types
    tracks = reported_tracks(update)
    rows = []
    for r in _track_rows(tracks):
        x, y, w, h = r.pop("box")
        rows.append(types["mars_counting/msg/FlowerTrack"](
            box=types["mars_counting/msg/BoundingBox"](center_x=x, center_y=y, width=w, height=h), **r))
    enc = encode_features(tracks.embeddings, update.feature_model_id, encoding)
    block = types["mars_counting/msg/FeatureBlock"](
        model_id=enc.model_id, dim=enc.dim, encoding=int(enc.encoding), scale=enc.scale, zero_point=enc.zero_point,
        data=np.frombuffer(enc.data, dtype=np.uint8))
    sec, nanosec = sec_nanosec(update.stamp_ns)
    header = types["std_msgs/msg/Header"](stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec),
                                          frame_id=optical_frame_id(update.camera_name))
    return types[TRACK_ARRAY_TYPE](header=header, camera_name=update.camera_name,
                                   frame_number=int(update.frame_number), image_width=int(update.image_width),
                                   image_height=int(update.image_height), tracks=rows, features=block,
                                   confirmed_count=int(update.count))
