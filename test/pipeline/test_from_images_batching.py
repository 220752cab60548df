"""mars-count --from-images batches frames per inference call and reads ahead in a thread: the same detections
per frame, tracks and map as one frame at a time."""
from __future__ import annotations

import numpy as np
import pytest

from mars_pipeline import bag_counting

pytestmark = pytest.mark.slow
DETECT = bag_counting.ImageDetection.detect


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    from mars_sim import preset_config, simulate, write_run

    run = tmp_path_factory.mktemp("images") / "run"
    config = preset_config("field", {"duration_s": 2.0, "render": {"scale": 0.5}})
    write_run(simulate(config, 4), run, images=True)
    return run


def _count(run, monkeypatch, batch: int):
    detected = []

    def recording(self, frames, cameras):
        out = DETECT(self, frames, cameras)
        detected.extend(out)
        return out

    monkeypatch.setattr(bag_counting, "IMAGE_BATCH_FRAMES", batch)
    monkeypatch.setattr(bag_counting.ImageDetection, "detect", recording)
    report = bag_counting.count_bag(run / "bag", from_images=True)
    return report, detected


def test_batched_counting_equals_frame_by_frame(image_run, monkeypatch):
    one, frames_one = _count(image_run, monkeypatch, 1)
    four, frames_four = _count(image_run, monkeypatch, 4)
    assert len(frames_one) == len(frames_four) > 10
    for a, b in zip(frames_one, frames_four):
        assert (a.camera_name, a.stamp_ns, a.frame_number) == (b.camera_name, b.stamp_ns, b.frame_number)
        for x, y in ((a.detections.xyxy, b.detections.xyxy), (a.detections.scores, b.detections.scores),
                     (a.detections.features, b.detections.features)):
            np.testing.assert_array_equal(x, y)
    assert sum(len(f.detections) for f in frames_four) > 0
    assert four.flowers == one.flowers and four.messages_read == one.messages_read
    t1, t4 = one.pipeline.mapper.flowers(), four.pipeline.mapper.flowers()
    np.testing.assert_array_equal(t1.xyz, t4.xyz)
    np.testing.assert_array_equal(t1.ids, t4.ids)
