"""Robot pose from GNSS and heading: fix validation, heading sources, smoothed PoseTrack (the map frame is
mars_core.geometry.map_frame)."""
from mars_fusion.pose.fix_validation import FixValidator
from mars_fusion.pose.heading import HeadingTrack, wrap_angle, yaw_from_compass
from mars_fusion.pose.pose_track import PoseSamples, PoseTrack

__all__ = ["FixValidator", "HeadingTrack", "PoseSamples", "PoseTrack", "wrap_angle", "yaw_from_compass"]
