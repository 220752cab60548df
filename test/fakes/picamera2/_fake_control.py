"""Fake-only state of the fake picamera2 (NOT part of the real package): cameras, faults, the rendered scene."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

import cv2
import numpy as np


def _default_cameras() -> List[Dict[str, Any]]:
    return [{"Model": "imx708", "Id": "/base/axi/pcie@120000/rp1/i2c@88000/imx708@1a",
             "PixelArraySize": (1536, 864)}]


@dataclass
class FakeCameraState:
    cameras: List[Dict[str, Any]] = field(default_factory=_default_cameras)
    in_use: Set[int] = field(default_factory=set)
    unplug_after: Optional[int] = None   # capture_request raises after this many frames in total
    drop_every: int = 0                  # every Nth frame index is skipped (dropped by the pipeline)
    frames_served: int = 0

    def unplugged(self) -> bool:
        """The camera has been pulled (after unplug_after frames)."""
        return self.unplug_after is not None and self.frames_served >= self.unplug_after

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


STATE = FakeCameraState()
# Node tests run the fake in a subprocess: faults can be set through the environment too.
if os.environ.get("FAKE_PICAMERA2_UNPLUG_AFTER"):
    STATE.unplug_after = int(os.environ["FAKE_PICAMERA2_UNPLUG_AFTER"])
if os.environ.get("FAKE_PICAMERA2_DROP_EVERY"):
    STATE.drop_every = int(os.environ["FAKE_PICAMERA2_DROP_EVERY"])

FLOWERS: List[Tuple[float, float, float]] = [(0.2, 0.3, 0.05), (0.5, 0.6, 0.04), (0.75, 0.35, 0.06),
                                              (0.35, 0.75, 0.045)]


def flower_boxes(size: Tuple[int, int], frame_index: int) -> np.ndarray:
    """Ground-truth xyxy boxes (pixels of an image of `size`) of the flowers in frame frame_index."""
    w, h = size
    boxes = []
    for fx, fy, fr in FLOWERS:
        cx = ((fx - 0.01 * frame_index) % 1.0) * w
        cy = fy * h
        r = fr * h
        boxes.append([cx - r, cy - r, cx + r, cy + r])
    return np.asarray(boxes, np.float32)


def render_scene(size: Tuple[int, int], frame_index: int) -> np.ndarray:
    """BGR image: green field, yellow flowers with orange centres drifting left by 1% per frame."""
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (40, 120, 50)
    for x0, y0, x1, y1 in flower_boxes(size, frame_index):
        c = (int((x0 + x1) / 2), int((y0 + y1) / 2))
        r = int((x1 - x0) / 2)
        cv2.circle(img, c, r, (40, 220, 250), -1)
        cv2.circle(img, c, max(1, r // 3), (20, 120, 230), -1)
    return img
