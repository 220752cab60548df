"""ROS-free YOLO pre/post-processing: letterbox, YOLOv8 decoding (stock and raw heads), class-aware NMS."""
from __future__ import annotations

from mars_camera.yolo.letterbox import LetterboxTransform, letterbox, input_tensor_from_letterboxed
from mars_camera.yolo.decoding import (
    BoxCandidates,
    decode_decoded_output,
    decode_raw_heads,
    dfl_distances,
    make_anchor_grid,
)
from mars_camera.yolo.nms import class_aware_nms, filter_candidates, box_iou
from mars_camera.yolo.hailo_nms import parse_nms_by_class

__all__ = [
    "LetterboxTransform", "letterbox", "input_tensor_from_letterboxed",
    "BoxCandidates", "decode_decoded_output", "decode_raw_heads", "dfl_distances", "make_anchor_grid",
    "class_aware_nms", "filter_candidates", "box_iou", "parse_nms_by_class",
]
