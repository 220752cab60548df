"""The column base: select, concat and empty of Detections, TrackSnapshot, TrackFrame and FlowerTable."""
import numpy as np
import pytest

from mars_core.columns import ColumnTable
from mars_core.detections import Detections
from mars_core.observations import TrackFrame
from mars_core.tracks import TrackSnapshot
from mars_fusion.flower_map import FlowerTable


def _snapshot(n: int, dim: int) -> TrackSnapshot:
    rng = np.random.default_rng(n)
    return TrackSnapshot(np.arange(n, dtype=np.uint64), np.ones(n, np.uint8), np.ones(n, bool),
                         np.arange(n, dtype=np.uint32), np.ones(n, np.uint32), np.zeros(n, np.uint32),
                         rng.random((n, 4), dtype=np.float32), rng.random((n, 2), dtype=np.float32),
                         rng.random(n, dtype=np.float32), np.zeros(n, np.int32), np.arange(n, dtype=np.int32),
                         rng.random((n, dim), dtype=np.float32) if dim else None)


def test_empty_tables_keep_their_dtypes_and_widths():
    d = Detections.empty(8, "m")
    assert len(d) == 0 and d.xyxy.shape == (0, 4) and d.features.shape == (0, 8) and d.feature_model_id == "m"
    assert Detections.empty().features is None and Detections.empty().xyxy.dtype == np.float32
    t = TrackSnapshot.empty(3)
    assert t.embeddings.shape == (0, 3) and t.track_ids.dtype == np.uint64 and t.velocity.shape == (0, 2)
    assert TrackSnapshot.empty().embeddings is None
    f = TrackFrame.empty(camera_name="cam", stamp_ns=5)
    assert len(f) == 0 and f.boxes_xywh.dtype == np.float64 and f.embeddings is None and f.stamp_ns == 5
    flowers = FlowerTable.empty()
    assert len(flowers) == 0 and flowers.cov.shape == (0, 2, 2)
    with pytest.raises(TypeError):
        TrackFrame.empty()   # camera_name and stamp_ns have no default


def test_select_and_concat_are_row_operations():
    a, b = _snapshot(3, 4), _snapshot(2, 4)
    both = TrackSnapshot.concat([a, b])
    assert len(both) == 5
    for name, is_column in TrackSnapshot.layout().fields:
        assert is_column
        np.testing.assert_array_equal(getattr(both, name), np.concatenate([getattr(a, name), getattr(b, name)]))
        assert getattr(both, name).dtype == getattr(a, name).dtype
    back = both.select(np.arange(3))
    for name, _ in TrackSnapshot.layout().fields:
        np.testing.assert_array_equal(getattr(back, name), getattr(a, name))
    # An optional column survives only when every part has it with one width.
    assert TrackSnapshot.concat([a, _snapshot(2, 0)]).embeddings is None
    assert TrackSnapshot.concat([a, _snapshot(2, 5)]).embeddings is None
    d = Detections(np.zeros((3, 4)), np.array([0.1, 0.9, 0.5]), np.zeros(3), np.eye(3), "m")
    picked = d.select(d.scores > 0.3)
    assert len(picked) == 2 and picked.feature_model_id == "m" and picked.features.shape == (2, 3)
    frame = TrackFrame("cam", 7, np.arange(3), np.zeros((3, 4)), np.ones(3), np.ones(3), np.zeros(3))
    assert TrackFrame.concat([frame, frame.select([0])]).camera_name == "cam"


def test_a_table_needs_a_required_first_column():
    from dataclasses import dataclass

    from mars_core.columns import column

    @dataclass(frozen=True)
    class OnlyOptional(ColumnTable):
        values: object = column(np.float32, optional=True)

    with pytest.raises(TypeError):
        OnlyOptional.layout()
