"""Fixtures of the Hailo toolchain tests: ONNX graphs, simulated camera bags, fake DFC on sys.path."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FAKES = ROOT / "test" / "fakes"
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

from camera_bags import write_camera_bag  # noqa: E402
from yolo_onnx_graphs import build_yolov5_like, build_yolov8_like  # noqa: E402


@pytest.fixture
def fake_dfc(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put test/fakes first on sys.path (the stage subprocesses inherit it) and clear failure knobs."""
    monkeypatch.syspath_prepend(str(FAKES))
    monkeypatch.delenv("HAILO_FAKE_FAIL", raising=False)
    for name in [m for m in sys.modules if m.startswith("hailo_sdk_client")]:
        monkeypatch.delitem(sys.modules, name)
    return FAKES


@pytest.fixture(scope="session")
def v8_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A YOLOv8-style export with the `features` output, 64x64 input, 2 classes."""
    return build_yolov8_like(tmp_path_factory.mktemp("onnx") / "yolov8_like.onnx")


@pytest.fixture(scope="session")
def v11_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_yolov8_like(tmp_path_factory.mktemp("onnx") / "yolo11_like.onnx", family="yolo11", num_classes=3)


@pytest.fixture(scope="session")
def v5_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_yolov5_like(tmp_path_factory.mktemp("onnx") / "yolov5_like.onnx", num_classes=4)


@pytest.fixture
def camera_bag(tmp_path: Path) -> Callable[..., Path]:
    def make(storage: str = "mcap", **kw: int) -> Path:
        return write_camera_bag(tmp_path / f"sim_{storage}", storage=storage, **kw)
    return make
