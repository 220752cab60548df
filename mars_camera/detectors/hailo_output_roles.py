"""Which output of a YOLO HEF is what: the on-chip NMS, a box conv, a class conv or the feature map.

One assignment for both users: the Hailo runtime backend (mars_camera/detectors/hailo_backend.py), which knows
the configured feature output but not the class count, and the HEF validator (mars_hailo/hef_validation.py),
which knows what the compiled ONNX had (class count, box width, ONNX end node -> role). Each keeps its own
error reporting; this module only says what each output is.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, List, Optional, Sequence, Tuple

from mars_camera.yolo.decoding import REG_MAX

# The ultralytics Detect head's box branch is cv2 (its class branch is cv3): tells a box conv from a class
# conv of the same width (num_classes == 4 * reg_max) through HailoRT's original layer names.
_HEAD_BOX = re.compile(r"/cv2\.\d+/cv2\.\d+\.\d+/")
ROLES = ("nms", "box", "cls", "features")


def hailort_enum_name(value: Any) -> str:
    """The member name of a HailoRT enum value (FormatOrder, FormatType), e.g. 'HAILO_NMS_BY_CLASS'."""
    name = getattr(value, "name", None)
    return str(name) if name else str(value).split(".")[-1]


@dataclass(frozen=True)
class OutputStream:
    """One output vstream as HailoRT reports it: name, shape (H, W, C without batch), order, ONNX end nodes."""

    name: str
    shape: Tuple[int, ...]
    format_order: str                      # FormatOrder member name, e.g. "NHWC", "HAILO_NMS_BY_CLASS"
    original_names: Tuple[str, ...] = ()


@dataclass(frozen=True)
class ExpectedOutputs:
    """What is known of the model's outputs; unknown items are None and the outputs themselves decide."""

    input_height: int
    feature_names: FrozenSet[str] = frozenset()   # vstream or original (ONNX) names of the feature output
    feature_stride: Optional[int] = None           # a stream at this stride that is no head is the feature map
    box_channels: int = 4 * REG_MAX                # width of a box conv (DFL: 4 * reg_max; YOLOv5: na * (5 + nc))
    num_classes: Optional[int] = None              # None: a head that is no box conv is its grid's class conv
    nms: Optional[bool] = None                     # True: raw heads are not expected (only NMS and features)
    original_roles: Tuple[Tuple[str, str], ...] = ()   # (ONNX end node, role): tells equal shapes apart


@dataclass(frozen=True)
class OutputRole:
    """The role of one output ('nms', 'box', 'cls', 'features' or None when unrecognised) and its stride."""

    name: str
    role: Optional[str]
    stride: Optional[int]


def _grid_stride(shape: Tuple[int, ...], input_height: int) -> Optional[int]:
    """The stride of an (H, W, C) map on an input of input_height rows, None for other shapes."""
    if len(shape) == 3 and shape[0] and input_height % shape[0] == 0:
        return input_height // shape[0]
    return None


def _role_by_name_or_order(s: OutputStream, roles: Dict[str, str], feature_names: FrozenSet[str]) -> Optional[str]:
    """Rules 1-3 of assign_output_roles: what the names or the format order say, None when they say nothing."""
    named = next((roles[n] for n in s.original_names if n in roles), None)
    if named is not None:
        return named
    if "NMS" in s.format_order.upper():
        return "nms"
    if s.name in feature_names or feature_names.intersection(s.original_names):
        return "features"
    return None


def assign_output_roles(outputs: Sequence[OutputStream], expected: ExpectedOutputs) -> List[OutputRole]:
    """The role and stride of every output, in order; first rule that applies wins.

    1. an original name listed in expected.original_roles; 2. an NMS format order; 3. the feature output's
    vstream or original name; then, for (H, W, C) maps whose grid divides the input (the stride): 4. a box conv
    (C == box_channels; when a class conv can be as wide, the ultralytics cv2 branch name decides); 5. a class
    conv (C == num_classes, or any other head when num_classes is unknown); 6. the map at feature_stride.
    Rules 4 and 5 are skipped when expected.nms is True. Anything else has role None.
    """
    roles = dict(expected.original_roles)
    strides = [_grid_stride(tuple(s.shape), expected.input_height) for s in outputs]
    first = [_role_by_name_or_order(s, roles, expected.feature_names) for s in outputs]
    # Without a class count, two box-wide heads on one grid mean the class conv is box-wide too.
    box_wide_per_grid: Dict[Tuple[int, int], int] = {}
    for s, named, stride in zip(outputs, first, strides):
        if named is None and stride is not None and s.shape[2] == expected.box_channels:
            key = (int(s.shape[0]), int(s.shape[1]))
            box_wide_per_grid[key] = box_wide_per_grid.get(key, 0) + 1
    out = []
    for s, named, stride in zip(outputs, first, strides):
        role = named
        if named == "nms":
            stride = None
        elif role is None and stride is not None:
            c = s.shape[2]
            heads = expected.nms is not True
            if heads and c == expected.box_channels:
                ambiguous = (expected.num_classes == c if expected.num_classes is not None
                             else box_wide_per_grid[(int(s.shape[0]), int(s.shape[1]))] > 1)
                role = "box" if not ambiguous or any(_HEAD_BOX.search(o) for o in s.original_names) else "cls"
            elif heads and (expected.num_classes is None or c == expected.num_classes):
                role = "cls"
            elif stride == expected.feature_stride:
                role = "features"
        out.append(OutputRole(s.name, role, stride))
    return out
