"""Letterbox resize exactly as ultralytics' LetterBox (auto=False, center=True) and its inverse for boxes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import cv2
import numpy as np


@dataclass(frozen=True)
class LetterboxTransform:
    """How an image of (image_width, image_height) was placed in the (input_width, input_height) model input."""

    image_width: int
    image_height: int
    input_width: int
    input_height: int
    resized_width: int
    resized_height: int
    pad_left: int
    pad_top: int

    @classmethod
    def compute(cls, image_width: int, image_height: int, input_width: int, input_height: int) -> "LetterboxTransform":
        """The letterbox geometry ultralytics uses (uniform scale, centred, rounding as in LetterBox.get_params)."""
        if image_width <= 0 or image_height <= 0:
            raise ValueError(f"image size must be positive, got {image_width}x{image_height}")
        if input_width <= 0 or input_height <= 0:
            raise ValueError(f"model input size must be positive, got {input_width}x{input_height}")
        r = min(input_height / image_height, input_width / image_width)
        new_w = max(int(round(image_width * r)), 1)
        new_h = max(int(round(image_height * r)), 1)
        dw = (input_width - new_w) / 2.0
        dh = (input_height - new_h) / 2.0
        # round(d - 0.1) is ultralytics' rule for the top/left pad (the odd pixel goes bottom/right).
        return cls(image_width, image_height, input_width, input_height, new_w, new_h,
                   int(round(dw - 0.1)), int(round(dh - 0.1)))

    @property
    def gain_x(self) -> float:
        """Input pixels per image pixel along x."""
        return self.resized_width / self.image_width

    @property
    def gain_y(self) -> float:
        """Input pixels per image pixel along y."""
        return self.resized_height / self.image_height

    def boxes_to_image(self, xyxy_input: np.ndarray) -> np.ndarray:
        """Map (N, 4) xyxy boxes from model-input pixels to original-image pixels, clipped to the image."""
        boxes = np.asarray(xyxy_input, dtype=np.float32).reshape(-1, 4).copy()
        boxes[:, 0::2] = (boxes[:, 0::2] - self.pad_left) / self.gain_x
        boxes[:, 1::2] = (boxes[:, 1::2] - self.pad_top) / self.gain_y
        np.clip(boxes[:, 0::2], 0.0, float(self.image_width), out=boxes[:, 0::2])
        np.clip(boxes[:, 1::2], 0.0, float(self.image_height), out=boxes[:, 1::2])
        return boxes

    def boxes_to_input(self, xyxy_image: np.ndarray) -> np.ndarray:
        """Map (N, 4) xyxy boxes from original-image pixels to model-input pixels (inverse of boxes_to_image)."""
        boxes = np.asarray(xyxy_image, dtype=np.float32).reshape(-1, 4).copy()
        boxes[:, 0::2] = boxes[:, 0::2] * self.gain_x + self.pad_left
        boxes[:, 1::2] = boxes[:, 1::2] * self.gain_y + self.pad_top
        return boxes


def letterbox(image: np.ndarray, input_size: Tuple[int, int], pad_value: int = 114,
              bgr_to_rgb: bool = True) -> Tuple[np.ndarray, LetterboxTransform]:
    """Resize (bilinear) and pad an HxWx3 uint8 image to input_size=(width, height); returns HWC uint8 + transform.

    With bgr_to_rgb the channels are swapped on the small letterboxed image (cheaper than on the full frame):
    ultralytics models are trained on RGB while OpenCV and picamera2 'RGB888' deliver BGR byte order.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 image, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    height, width = image.shape[:2]
    transform = LetterboxTransform.compute(width, height, int(input_size[0]), int(input_size[1]))
    resized = image
    if (transform.resized_width, transform.resized_height) != (width, height):
        resized = cv2.resize(image, (transform.resized_width, transform.resized_height),
                             interpolation=cv2.INTER_LINEAR)
    top, left = transform.pad_top, transform.pad_left
    bottom = transform.input_height - transform.resized_height - top
    right = transform.input_width - transform.resized_width - left
    out = cv2.copyMakeBorder(resized, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(pad_value,) * 3)
    if bgr_to_rgb:
        cv2.cvtColor(out, cv2.COLOR_BGR2RGB, dst=out)
    return out, transform


def input_tensor_from_letterboxed(letterboxed_hwc: np.ndarray) -> np.ndarray:
    """HWC uint8 -> (1, 3, H, W) float32 in 0..1 (the ONNX input of an ultralytics export)."""
    chw = np.stack(cv2.split(letterboxed_hwc))  # planar copy in C++: faster than a strided numpy transpose
    tensor = chw.astype(np.float32)
    tensor /= np.float32(255.0)  # division, not *1/255, to match ultralytics bit for bit
    return tensor[None]
