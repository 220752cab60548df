"""Fixtures of the Hailo toolchain tests: ONNX graphs, simulated camera bags, fake DFC on sys.path."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FAKES = ROOT / "test" / "fakes"
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

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


def camera_frame(cam: int, k: int, h: int = 48, w: int = 80) -> np.ndarray:
    """A BGR frame whose content and brightness change over time and differ per camera."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = 40 + 30 * cam + 4 * k
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = np.clip(base + (xx * (k % 7 + 1)) % 60, 0, 255)
    img[..., 1] = np.clip(base + (yy * (cam + 2)) % 50, 0, 255)
    img[..., 2] = np.clip(base + ((xx + yy + 9 * k) % 40), 0, 255)
    return img


def write_camera_bag(path: Path, cameras: int = 3, frames: int = 12, duplicates: int = 3,
                     storage: str = "mcap") -> Path:
    """A rosbag2 like mars_sim --images: `/<cam>/image/compressed` CompressedImage per camera at 10 Hz.

    Each camera's first frame is repeated `duplicates` extra times (a robot standing still).
    """
    import cv2
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_JAZZY)
    Compressed, Header, Time = (ts.types[n] for n in ("sensor_msgs/msg/CompressedImage", "std_msgs/msg/Header",
                                                       "builtin_interfaces/msg/Time"))
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        conns = [writer.add_connection(f"/cam{c}/image/compressed", Compressed.__msgtype__, typestore=ts)
                 for c in range(cameras)]
        for c, conn in enumerate(conns):
            seq = [0] * (duplicates + 1) + list(range(1, frames))
            for i, k in enumerate(seq):
                t = 1_000_000_000 + i * 100_000_000 + c * 1_000_000
                ok, jpg = cv2.imencode(".png", camera_frame(c, k))
                assert ok
                msg = Compressed(Header(Time(t // 10**9, t % 10**9), f"cam{c}_optical"), "png",
                                 np.frombuffer(jpg.tobytes(), np.uint8))
                writer.write(conn, t, ts.serialize_cdr(msg, Compressed.__msgtype__))
    return path


@pytest.fixture
def camera_bag(tmp_path: Path) -> Callable[..., Path]:
    def make(storage: str = "mcap", **kw: int) -> Path:
        return write_camera_bag(tmp_path / f"sim_{storage}", storage=storage, **kw)
    return make
