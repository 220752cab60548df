"""Robot pose from GNSS and heading: map frame, fix validation, heading sources, smoothed PoseTrack."""
from mars_fusion.pose.fix_validation import FixValidator
from mars_fusion.pose.heading import HeadingTrack, wrap_angle, yaw_from_compass
from mars_fusion.pose.map_frame import MapFrame
from mars_fusion.pose.pose_track import PoseSamples, PoseTrack

__all__ = ["FixValidator", "HeadingTrack", "MapFrame", "PoseSamples", "PoseTrack", "wrap_angle", "yaw_from_compass"]
