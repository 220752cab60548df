"""Per-box appearance features pooled from a neck feature map of the detector (ROI-align, L2, fixed dimension)."""
from __future__ import annotations

from mars_camera.features.roi_pooling import roi_align
from mars_camera.features.box_features import BoxFeatureExtractor, expand_boxes, l2_normalize, projection_matrix

__all__ = ["roi_align", "BoxFeatureExtractor", "expand_boxes", "l2_normalize", "projection_matrix"]
