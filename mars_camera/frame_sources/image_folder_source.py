"""A folder of images (sorted by name) played as frames at a fixed rate."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import cv2

from mars_camera.frame_sources.base import Frame, FrameSource, FrameSourceError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class ImageFolderFrameSource(FrameSource):
    """Frame i is stamped start_ns + i / rate_hz (start_ns defaults to the open time)."""

    def __init__(self, folder: str, rate_hz: float = 10.0, start_ns: Optional[int] = None, name: str = "") -> None:
        if rate_hz <= 0:
            raise ValueError(f"rate_hz must be positive, got {rate_hz}")
        self.folder = Path(folder)
        self.rate_hz = float(rate_hz)
        self.name = name or f"folder:{self.folder}"
        self._start_ns = start_ns
        self._files: List[Path] = []
        self._index = 0

    def open(self) -> None:
        if not self.folder.is_dir():
            raise FrameSourceError(f"image folder '{self.folder}' does not exist")
        self._files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._files:
            raise FrameSourceError(f"image folder '{self.folder}' holds no images ({', '.join(IMAGE_SUFFIXES)})")
        self._index = 0
        if self._start_ns is None:
            self._start_ns = time.time_ns()

    def read(self) -> Optional[Frame]:
        if self._index >= len(self._files):
            return None
        path = self._files[self._index]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FrameSourceError(f"cannot decode image '{path}'")
        assert self._start_ns is not None
        stamp = self._start_ns + int(round(self._index * 1e9 / self.rate_hz))
        frame = Frame(image, stamp, self._index, source=str(path))
        self._index += 1
        return frame

    def close(self) -> None:
        self._files = []

    def describe(self) -> Dict[str, Any]:
        return {"source": self.name, "images": len(self._files), "rate_hz": self.rate_hz}
