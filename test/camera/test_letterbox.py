"""Letterbox geometry (ultralytics' rules) and the mapping of boxes back to original-image pixels."""
from __future__ import annotations

import numpy as np
import pytest

from mars_camera.yolo.letterbox import LetterboxTransform, input_tensor_from_letterboxed, letterbox


@pytest.mark.parametrize("size, expected", [
    ((640, 480), (320, 240, 0, 40)),
    ((480, 640), (240, 320, 40, 0)),
    ((1536, 864), (320, 180, 0, 70)),
    ((333, 101), (320, 97, 0, 111)),   # odd padding: ultralytics puts round(dh - 0.1) on top
    ((320, 320), (320, 320, 0, 0)),
])
def test_geometry_matches_ultralytics_rounding(size, expected):
    t = LetterboxTransform.compute(size[0], size[1], 320, 320)
    assert (t.resized_width, t.resized_height, t.pad_left, t.pad_top) == expected


def test_letterboxed_image_places_content_and_swaps_channels():
    img = np.zeros((480, 640, 3), np.uint8)
    img[:, :, 0] = 200  # blue in BGR
    out, t = letterbox(img, (320, 320))
    assert out.shape == (320, 320, 3)
    assert np.all(out[:40] == 114) and np.all(out[280:] == 114)
    assert np.all(out[40:280, :, 2] == 200) and np.all(out[40:280, :, 0] == 0)  # now RGB: blue last
    tensor = input_tensor_from_letterboxed(out)
    assert tensor.shape == (1, 3, 320, 320) and tensor.dtype == np.float32
    assert tensor[0, 2, 100, 100] == pytest.approx(200 / 255)


@pytest.mark.parametrize("size", [(640, 480), (1536, 864), (500, 700), (333, 101)])
def test_box_drawn_in_image_maps_back_to_itself(size):
    w, h = size
    rng = np.random.default_rng(w)
    x0, y0 = int(w * 0.3), int(h * 0.4)
    x1, y1 = int(w * 0.55), int(h * 0.8)
    img = np.zeros((h, w, 3), np.uint8)
    img[y0:y1, x0:x1] = 255
    out, t = letterbox(img, (320, 320), pad_value=0)
    ys, xs = np.nonzero(out[:, :, 0] > 127)
    found_input = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
    back = t.boxes_to_image(found_input)[0]
    tolerance = 1.0 / min(t.gain_x, t.gain_y) + 0.5  # one input pixel in image pixels
    np.testing.assert_allclose(back, [x0, y0, x1, y1], atol=tolerance)
    roundtrip = t.boxes_to_image(t.boxes_to_input(np.array([[x0, y0, x1, y1]], np.float32)))
    np.testing.assert_allclose(roundtrip[0], [x0, y0, x1, y1], atol=1e-3)
    del rng


def test_boxes_are_clipped_to_the_image():
    t = LetterboxTransform.compute(640, 480, 320, 320)
    back = t.boxes_to_image(np.array([[-10, 0, 330, 330]], np.float32))[0]
    assert back[0] == 0 and back[1] == 0 and back[2] == 640 and back[3] == 480


def test_bad_images_are_rejected_with_the_reason():
    with pytest.raises(ValueError, match="HxWx3"):
        letterbox(np.zeros((10, 10), np.uint8), (320, 320))
    with pytest.raises(ValueError, match="uint8"):
        letterbox(np.zeros((10, 10, 3), np.float32), (320, 320))
