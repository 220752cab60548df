"""Camera tests: the fake hailo_platform / picamera2 are importable, and a small YOLOv8n ONNX is at hand."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

FAKES = Path(__file__).resolve().parents[1] / "fakes"
if str(FAKES) not in sys.path:
    sys.path.insert(0, str(FAKES))

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = REPO / "models" / "detector" / "flower_yolov8n.onnx"


@pytest.fixture(scope="session")
def model_path() -> str:
    """The shipped default model (trained or, before training, the random-weight development export)."""
    if not DEFAULT_MODEL.is_file():
        pytest.fail(f"default model {DEFAULT_MODEL} is missing: see models/detector/README.md")
    return str(DEFAULT_MODEL)


@pytest.fixture
def fake_hailo():
    """The fake device state, reset before and after each test."""
    from hailo_platform import _fake_control
    _fake_control.STATE.reset()
    yield _fake_control
    _fake_control.STATE.reset()


GOLDEN = Path(__file__).resolve().parent / "data" / "golden_ultralytics.npz"


@pytest.fixture(scope="session")
def rendered_images():
    """BGR images rendered by the simulator (stored in the golden file): real flowers for the detector."""
    import cv2
    import numpy as np
    if not GOLDEN.is_file():
        pytest.fail(f"{GOLDEN} is missing: see models/detector/README.md")
    data = np.load(GOLDEN)
    return [cv2.imdecode(data[f"png_{i}"], cv2.IMREAD_COLOR) for i in range(int(data["count"]))]
