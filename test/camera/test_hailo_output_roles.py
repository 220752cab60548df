"""The one output-role assignment shared by the Hailo backend and the HEF validator."""
from __future__ import annotations

from mars_camera.detectors.hailo_output_roles import ExpectedOutputs, OutputStream, assign_output_roles

_BOX = "/model.22/cv2.0/cv2.0.2/Conv"
_CLS = "/model.22/cv3.0/cv3.0.2/Conv"


def _roles(outputs, expected):
    return {r.name: (r.role, r.stride) for r in assign_output_roles(outputs, expected)}


def test_backend_pairs_a_box_conv_with_its_class_conv_without_knowing_the_class_count() -> None:
    outs = [OutputStream("n/conv1", (8, 8, 64), "NHWC"), OutputStream("n/conv2", (8, 8, 3), "NHWC"),
            OutputStream("n/feat", (8, 8, 64), "NHWC", ("/model.15/cv2/act/Mul",)),
            OutputStream("n/nms", (), "HAILO_NMS_BY_CLASS")]
    roles = _roles(outs, ExpectedOutputs(64, feature_names=frozenset({"/model.15/cv2/act/Mul"})))
    assert roles == {"n/conv1": ("box", 8), "n/conv2": ("cls", 8), "n/feat": ("features", 8),
                     "n/nms": ("nms", None)}


def test_box_wide_class_conv_is_told_apart_by_the_cv2_branch_name() -> None:
    outs = [OutputStream("n/conv2", (8, 8, 64), "NHWC", (_CLS,)), OutputStream("n/conv1", (8, 8, 64), "NHWC", (_BOX,))]
    assert _roles(outs, ExpectedOutputs(64)) == {"n/conv2": ("cls", 8), "n/conv1": ("box", 8)}
    assert _roles(outs, ExpectedOutputs(64, num_classes=64)) == {"n/conv2": ("cls", 8), "n/conv1": ("box", 8)}


def test_validator_rules_class_count_nms_and_feature_stride() -> None:
    outs = [OutputStream("a", (8, 8, 64), "NHWC"), OutputStream("b", (8, 8, 2), "NHWC"),
            OutputStream("c", (8, 8, 16), "NHWC"), OutputStream("d", (7, 7, 5), "NHWC")]
    raw = ExpectedOutputs(64, feature_stride=8, num_classes=2, nms=False)
    assert _roles(outs, raw) == {"a": ("box", 8), "b": ("cls", 8), "c": ("features", 8), "d": (None, None)}
    with_nms = ExpectedOutputs(64, feature_stride=16, num_classes=2, nms=True)
    assert _roles(outs, with_nms) == {"a": (None, 8), "b": (None, 8), "c": (None, 8), "d": (None, None)}
    by_original = ExpectedOutputs(64, num_classes=2, nms=False, original_roles=(("x", "features"),))
    assert _roles([OutputStream("a", (8, 8, 64), "NHWC", ("x",))], by_original) == {"a": ("features", 8)}
