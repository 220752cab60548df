"""Per-camera multi-object tracking of flower detections (ROS-free core): one flower, one track, one count."""
from __future__ import annotations

from mars_tracker.association_scorers import AssociationScorer, HandTunedScorer, OnnxAssociationScorer
from mars_tracker.camera_tracker import CameraTracker, default_scorer
from mars_tracker.config import TrackerConfig
from mars_tracker.ego_motion import MotionPrior, expected_image_velocity
from mars_core.tracks import TrackSnapshot, TrackStatus, TrackUpdate

__all__ = ["AssociationScorer", "HandTunedScorer", "OnnxAssociationScorer", "CameraTracker", "TrackUpdate",
           "default_scorer", "TrackerConfig", "MotionPrior", "expected_image_velocity", "TrackSnapshot",
           "TrackStatus"]
