"""The NumPy 2 shims give the metric libraries the names they call, with the old behaviour."""
from __future__ import annotations

import numpy as np

from mars_sim.evaluation.numpy_compat import _asfarray, import_motmetrics, install_numpy2_shims


def test_asfarray_behaves_like_the_removed_function():
    assert _asfarray([1, 2]).dtype == np.float64
    assert _asfarray(np.array([1, 2], np.int32), dtype=np.int32).dtype == np.float64   # ints become float64
    assert _asfarray([1.5], dtype=np.float32).dtype == np.float32


def test_shims_let_motmetrics_compute_iou_distances():
    install_numpy2_shims()
    mm = import_motmetrics()
    d = mm.distances.iou_matrix([[0, 0, 10, 10]], [[5, 0, 10, 10]], max_iou=0.9)
    assert abs(d[0, 0] - (1 - 1 / 3)) < 1e-12
