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
