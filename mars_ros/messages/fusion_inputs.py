"""Messages -> the fusion's ROS-free inputs: FlowerTrackArray -> TrackFrame, NavSatFix -> GnssFix,
Imu -> HeadingSample. Duck-typed: works for rclpy messages (the node) and rosbags messages (offline)."""
from __future__ import annotations

import math
from typing import Any, Optional, Tuple

import numpy as np

from mars_core.feature_codec import EncodedFeatures, FeatureEncoding, decode_features
from mars_core.geometry.rotations import yaw_from_quaternion
from mars_core.observations import GnssFix, HeadingSample, TrackFrame
from mars_core.stamps import stamp_to_ns
from mars_core.tracks import STATUS_REMOVED


def track_frame_from_msg(msg: Any) -> Tuple[TrackFrame, np.ndarray]:
    """The TrackFrame of a FlowerTrackArray and the ids of the tracks it reports as ended (REMOVED)."""
    n = len(msg.tracks)
    ids = np.empty(n, np.uint64)
    boxes = np.empty((n, 4), np.float64)
    scores = np.empty(n, np.float32)
    confirmed = np.empty(n, bool)
    status = np.empty(n, np.uint8)
    for i, t in enumerate(msg.tracks):
        ids[i] = t.track_id
        boxes[i] = (t.box.center_x, t.box.center_y, t.box.width, t.box.height)
        scores[i] = t.score
        confirmed[i] = t.confirmed
        status[i] = t.status
    block = msg.features
    embeddings = decode_features(EncodedFeatures(block.model_id, int(block.dim), FeatureEncoding(int(block.encoding)),
                                                 float(block.scale), float(block.zero_point), block.data), n)
    frame = TrackFrame(msg.camera_name, stamp_to_ns(msg.header.stamp), ids, boxes, scores, confirmed, status,
                       embeddings, block.model_id if embeddings is not None else "")
    return frame, ids[status == STATUS_REMOVED]


def gnss_fix_from_msg(msg: Any) -> GnssFix:
    """A GnssFix of a sensor_msgs/NavSatFix (validation of status/NaN happens in the fusion, counted)."""
    return GnssFix(stamp_to_ns(msg.header.stamp), float(msg.latitude), float(msg.longitude), float(msg.altitude),
                   int(msg.status.status), tuple(float(v) for v in msg.position_covariance),
                   int(msg.position_covariance_type))


def heading_from_imu_msg(msg: Any) -> Optional[HeadingSample]:
    """REP-103 yaw of a sensor_msgs/Imu orientation (None when the IMU reports no orientation)."""
    q = msg.orientation
    if msg.orientation_covariance[0] == -1.0:  # REP-145: orientation not provided
        return None
    yaw = yaw_from_quaternion(q.x, q.y, q.z, q.w)
    variance = float(msg.orientation_covariance[8])
    return HeadingSample(stamp_to_ns(msg.header.stamp), yaw if math.isfinite(yaw) else float("nan"),
                         variance if variance > 0 else 0.0)


def track_frame_from_update(update: Any) -> Tuple[TrackFrame, np.ndarray]:
    """The TrackFrame and ended ids of a tracker TrackUpdate, exactly as track_frame_from_msg would give them
    for the FlowerTrackArray of that update (the offline path skips the message, not the content)."""
    from mars_ros.messages.track_messages import reported_tracks

    tracks = reported_tracks(update)
    embeddings = tracks.embeddings
    if embeddings is not None and embeddings.shape[1] == 0:
        embeddings = None
    frame = TrackFrame(update.camera_name, int(update.stamp_ns), tracks.track_ids.astype(np.uint64),
                       tracks.xywh.astype(np.float32).astype(np.float64), tracks.scores, tracks.confirmed,
                       tracks.status, embeddings, update.feature_model_id if embeddings is not None else "")
    return frame, frame.track_ids[frame.status == STATUS_REMOVED]
