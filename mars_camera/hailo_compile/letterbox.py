"""Runtime preprocessing for calibration: the ultralytics letterbox (aspect kept, centred, 114-gray pad).

TODO(lead): unify with mars_camera/yolo's letterbox once it exists; calibration must match the runtime
bit for bit, so both must keep this exact rounding (ultralytics LetterBox with auto=False, scaleup=True).
"""
from __future__ import annotations

import numpy as np

PAD_VALUE = 114


def letterbox(image: np.ndarray, size_hw: tuple[int, int], pad_value: int = PAD_VALUE) -> np.ndarray:
    """Resize keeping aspect ratio and pad to size_hw, centred; uint8 HxWx3 in, uint8 HxWx3 out."""
    import cv2

    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"letterbox expects an HxWx3 image, got shape {image.shape}")
    h, w = image.shape[:2]
    th, tw = size_hw
    r = min(th / h, tw / w)
    new_w, new_h = int(round(w * r)), int(round(h * r))
    dw, dh = (tw - new_w) / 2, (th - new_h) / 2
    if (new_w, new_h) != (w, h):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    return cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT,
                              value=(pad_value, pad_value, pad_value))
