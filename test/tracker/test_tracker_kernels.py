"""The tracker's compiled kernels (mars_core.jit) against plain references and known values, and the jit module's
cache folder and warm-up."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mars_core import jit
from mars_tracker.association import FORBIDDEN_COST, AssociationInputs, clip_to_image, iou_and_diou
from mars_tracker.association_scorers import HandTunedScorer
from mars_tracker.box_kalman import BoxKalmanModel, _invert_4x4
from mars_tracker.camera_tracker import complete_border_boxes
from mars_tracker import association, association_scorers, box_kalman, track_kernels
from mars_tracker.sparse_association import PairInputs


def _spd(rng: np.random.Generator, n: int) -> np.ndarray:
    a = rng.normal(size=(n, 4, 4))
    return a @ np.swapaxes(a, 1, 2) + np.eye(4)


def test_invert_4x4_is_the_inverse() -> None:
    rng = np.random.default_rng(0)
    for m in _spd(rng, 20):
        out = np.empty((4, 4))
        _invert_4x4(m, out)
        np.testing.assert_allclose(out, np.linalg.inv(m), rtol=1e-10, atol=1e-12)
    permuted = np.eye(4)[[2, 0, 3, 1]] * 3.0     # zero leading pivot: needs the row exchange
    out = np.empty((4, 4))
    _invert_4x4(permuted, out)
    np.testing.assert_allclose(out @ permuted, np.eye(4), atol=1e-15)


def test_innovation_inverse_is_the_innovation_covariance_and_its_inverse() -> None:
    model = BoxKalmanModel()
    x, p = model.initiate(np.array([[100.0, 50.0, 20.0, 30.0], [5.0, 6.0, 0.5, 0.5]]), np.array([[3.0, -1.0]] * 2))
    x, p = model.predict(x, p, 0.1)
    s, s_inv = model.innovation_inverse(x, p)
    np.testing.assert_allclose(s, model.innovation_covariance(x, p), rtol=1e-15)
    np.testing.assert_allclose(s_inv, np.linalg.inv(s), rtol=1e-10)


def test_predict_in_place_equals_predict_for_scalar_and_per_row_steps() -> None:
    model = BoxKalmanModel()
    x, p = model.initiate(np.array([[100.0, 50.0, 20.0, 30.0], [5.0, 6.0, 2.0, 1.5]]), np.array([[3.0, -1.0]] * 2))
    for dt in (0.033, np.array([0.02, 0.5])):
        x_new, p_new = model.predict(x, p, dt)
        x_in, p_in = x.copy(), p.copy()
        model.predict_into(x_in, p_in, dt, x_in, p_in)
        assert np.array_equal(x_in, x_new) and np.array_equal(p_in, p_new)


def _pair_inputs(rng: np.random.Generator, n_t: int, n_d: int, dim: int):
    tracks = np.column_stack([rng.uniform(0, 200, (n_t, 2)), rng.uniform(5, 30, (n_t, 2))])
    dets = np.column_stack([rng.uniform(0, 200, (n_d, 2)), rng.uniform(5, 30, (n_d, 2))])
    s_inv = np.linalg.inv(_spd(rng, n_t) * 50.0)
    emb = rng.normal(size=(n_t, dim)).astype(np.float32)
    feats = rng.normal(size=(n_d, dim))
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    return tracks, dets, s_inv, emb, feats


def test_gated_pair_matrices_against_plain_formulas() -> None:
    rng = np.random.default_rng(1)
    n_t, n_d = 6, 7
    tracks, dets, s_inv, emb, feats = _pair_inputs(rng, n_t, n_d, 5)
    has = np.array([True, True, False, True, True, True])
    t_cls = np.array([0, 0, 0, 1, 0, 0], np.int32)
    d_cls = np.array([0, 0, 0, 0, 1, 0, 0], np.int32)
    gate, app_gate = 40.0, 1.2
    maha, app = np.empty((n_t, n_d)), np.empty((n_t, n_d))
    allowed = np.empty((n_t, n_d), bool)
    iou, diou = np.empty((n_t, n_d)), np.empty((n_t, n_d))
    association._gated_pair_matrices(tracks, s_inv, t_cls, dets, d_cls, gate, False, emb, has, feats, app_gate,
                                     maha, app, allowed, iou, diou)
    ref_iou, ref_diou = iou_and_diou(tracks, dets)
    for i in range(n_t):
        for j in range(n_d):
            y = dets[j] - tracks[i]
            assert maha[i, j] == pytest.approx(y @ s_inv[i] @ y, rel=1e-12, abs=1e-12)
            a = 1.0 - emb[i].astype(np.float64) @ feats[j] if has[i] else np.nan
            np.testing.assert_allclose(app[i, j], a, rtol=1e-12)
            ok = maha[i, j] <= gate and t_cls[i] == d_cls[j] and not a > app_gate
            assert allowed[i, j] == ok
            assert (iou[i, j], diou[i, j]) == ((ref_iou[i, j], ref_diou[i, j]) if ok else (0.0, -1.0))
    assert allowed.any() and not allowed.all()


def _old_hand_tuned_cost(scorer: HandTunedScorer, inputs: AssociationInputs) -> np.ndarray:
    """The numpy formulation the kernel replaced (reference)."""
    motion = (1.0 - inputs.diou) * 0.5
    cost = motion
    app = inputs.appearance_distance
    if app is not None and scorer.appearance_weight > 0.0 and app.size:
        if inputs.appearance_scale:
            app = app / (scorer.scale_factor * inputs.appearance_scale)
        has = np.isfinite(app)
        masked = np.where(inputs.allowed & has, app, np.inf)

        def gap_along(axis: int) -> np.ndarray:
            if masked.shape[axis] < 2:
                return np.full(masked.shape[1 - axis], np.inf)
            two = np.sort(masked, axis=axis)
            best, second = np.take(two, 0, axis=axis), np.take(two, 1, axis=axis)
            return second - np.where(np.isfinite(second), best, 0.0)

        weight = np.full(app.shape, scorer.appearance_weight)
        if scorer.adaptive:
            gap = np.minimum(gap_along(1)[:, None], gap_along(0)[None, :])
            weight *= np.minimum(1.0, gap / scorer.gap_reference)
        weight = np.where(has, weight, 0.0)
        cost = (1.0 - weight) * motion + weight * np.minimum(np.where(has, app, 0.0), 1.0)
    return np.where(inputs.allowed, cost, FORBIDDEN_COST)


@pytest.mark.parametrize("shape", [(5, 6), (1, 4), (4, 1), (1, 1)])
def test_hand_tuned_cost_equals_the_numpy_formulation(shape) -> None:
    rng = np.random.default_rng(shape[0] * 10 + shape[1])
    n_t, n_d = shape
    for scale in (None, 0.05):
        for adaptive in (True, False):
            app = rng.uniform(0, 0.8, shape)
            app[rng.uniform(size=shape) < 0.2] = np.nan
            allowed = rng.uniform(size=shape) < 0.7
            diou = rng.uniform(-1, 1, shape)
            boxes_t, boxes_d = np.ones((n_t, 4)), np.ones((n_d, 4))
            inputs = AssociationInputs(np.arange(n_t, dtype=np.uint64), boxes_t, np.ones(n_t), np.zeros(n_t),
                                       boxes_d, np.ones(n_d), diou, diou, np.zeros(shape), app, allowed, scale)
            scorer = HandTunedScorer(0.5, adaptive, 0.15, 4.0)
            assert np.array_equal(scorer.cost(inputs), _old_hand_tuned_cost(scorer, inputs))
            rows, cols = np.nonzero(allowed)
            pairs = PairInputs(inputs.track_ids, boxes_t, np.ones(n_t), np.zeros(n_t), boxes_d, np.ones(n_d), rows,
                               cols, diou[rows, cols], diou[rows, cols], np.zeros(rows.size), app[rows, cols], scale)
            np.testing.assert_allclose(scorer.cost(inputs)[rows, cols], scorer.pair_cost(pairs), rtol=1e-12)
            no_app = AssociationInputs(*[getattr(inputs, f) for f in ("track_ids", "track_xywh", "track_hits",
                                         "track_seconds_since_update", "det_xywh", "det_scores", "iou", "diou",
                                         "mahalanobis")], None, allowed, scale)
            assert np.array_equal(scorer.cost(no_app), np.where(allowed, (1.0 - diou) * 0.5, FORBIDDEN_COST))


def test_clip_and_border_completion_of_known_boxes() -> None:
    boxes = np.array([[5.0, 50.0, 20.0, 10.0], [95.0, 95.0, 20.0, 20.0], [50.0, 50.0, 10.0, 10.0]])
    np.testing.assert_array_equal(clip_to_image(boxes, 100, 100),
                                  [[7.5, 50.0, 15.0, 10.0], [92.5, 92.5, 15.0, 15.0], [50.0, 50.0, 10.0, 10.0]])
    assert clip_to_image(boxes, 0, 100) is boxes
    # A box cut at the left border (x1 = 0) takes the predicted left side; one inside the image is kept.
    measured = np.array([[0.0, 40.0, 12.0, 60.0], [30.0, 40.0, 50.0, 60.0]], np.float32)
    predicted = np.array([[5.0, 50.0, 20.0, 20.0], [40.0, 50.0, 30.0, 30.0]])
    z = complete_border_boxes(measured, predicted, 100, 100)
    np.testing.assert_array_equal(z, [[3.5, 50.0, 17.0, 20.0], [40.0, 50.0, 20.0, 20.0]])
    np.testing.assert_array_equal(complete_border_boxes(measured, predicted, 0, 0)[0], [6.0, 50.0, 12.0, 20.0])


def test_age_unmatched_counts_misses_and_ends_lost_or_outside_tracks() -> None:
    x = np.zeros((4, 8))
    x[:, 0:4] = [[50, 50, 10, 10], [50, 50, 10, 10], [-20, 50, 10, 10], [50, 50, 10, 10]]
    confirmed = np.array([True, True, True, False])
    fsu = np.array([0, 3, 1, 0], np.uint32)
    last = np.array([0, 0, 900_000_000, 0], np.int64)
    status = np.zeros(4, np.uint8)
    gone = np.empty(4, bool)
    matched = np.array([True, False, False, False])
    n = track_kernels.age_unmatched(matched, 1_000_000_000, 0.5, 0.2, 100.0, 100.0, x, confirmed, fsu, last,
                                    status, gone)
    assert n == 3 and gone.tolist() == [False, True, True, True]   # too long lost, outside, tentative too long
    assert fsu.tolist() == [0, 4, 2, 1]
    assert status.tolist()[1:] == [track_kernels.STATUS_LOST, track_kernels.STATUS_LOST, track_kernels.STATUS_NEW]


def test_relax_keeps_the_velocity_along_the_ego_direction() -> None:
    x = np.zeros((3, 8))
    x[:, 4:6] = [[10.0, 4.0], [10.0, 4.0], [10.0, 4.0]]
    fsu = np.array([1, 0, 1], np.uint32)
    ego = np.array([[20.0, 0.0], [20.0, 0.0], [0.5, 0.0]])   # the third stands still: left alone
    track_kernels.relax_lost_velocities(ego, 0.25, 1.0, fsu, x)
    np.testing.assert_allclose(x[:, 4:6], [[10.0, 1.0], [10.0, 4.0], [10.0, 4.0]])


def test_record_matches_updates_the_columns_like_the_kalman_model() -> None:
    model = BoxKalmanModel()
    x, p = model.initiate(np.array([[100.0, 50.0, 20.0, 30.0], [10.0, 20.0, 8.0, 8.0]]), np.zeros((2, 2)))
    _, s_inv = model.innovation_inverse(x, p)
    z = np.array([[103.0, 49.0, 21.0, 29.0], [0.0, 0.0, 0.0, 0.0]])
    x_ref, p_ref = model.update(x[:1], p[:1], z[:1], s_inv[:1])
    hits = np.array([1, 1], np.uint32)
    fsu = np.array([2, 2], np.uint32)
    last, score, score_sum = np.zeros(2, np.int64), np.zeros(2, np.float32), np.array([0.8, 0.8])
    class_id, det_index = np.zeros(2, np.int32), np.full(2, -1, np.int32)
    last_obs, obs_x, obs_p = np.zeros((2, 4)), np.zeros((2, 8)), np.zeros((2, 8, 8))
    emb = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    has, confirmed, status = np.array([True, False]), np.zeros(2, bool), np.zeros(2, np.uint8)
    features = np.array([[0.0, 0.0], [0.0, 1.0]])
    newly = track_kernels.record_matches(
        np.array([0]), np.array([1]), z[:1], np.array([False]), s_inv, np.array([0.7, 0.9], np.float32),
        np.array([3, 4], np.int32), features, 7, 0.5, 2, 0.5, 1.0, x, p, hits, fsu, last, score, score_sum,
        class_id, det_index, last_obs, obs_x, obs_p, emb, has, confirmed, status)
    np.testing.assert_allclose(x[0], x_ref[0], rtol=1e-12)
    np.testing.assert_allclose(p[0], p_ref[0], rtol=1e-12, atol=1e-12)
    assert newly == 1 and confirmed.tolist() == [True, False] and status[0] == track_kernels.STATUS_TRACKED
    assert (hits[0], fsu[0], last[0], class_id[0], det_index[0]) == (2, 0, 7, 4, 1)
    assert score[0] == np.float32(0.9) and score_sum[0] == pytest.approx(0.8 + 0.9)
    np.testing.assert_allclose(emb[0], np.array([1.0, 1.0]) / np.sqrt(2.0), rtol=1e-6)   # halfway, normalised
    np.testing.assert_array_equal(obs_x[0], x[0])
    assert hits[1] == 1 and not has[1]   # untouched row


def test_warm_up_compiles_every_kernel() -> None:
    if jit.jit_disabled():
        pytest.skip("NUMBA_DISABLE_JIT: the kernels run as Python")
    jit.warm_up()
    # The kernels called from Python (helpers called only by kernels are compiled into them: loaded from the
    # cache, they have no signature of their own).
    helpers = {"_box_overlap", "_invert_4x4", "update_row", "_smallest_two"}
    for module in (box_kalman, association, association_scorers, track_kernels):
        for name, value in vars(module).items():
            if hasattr(value, "signatures") and value.__module__ == module.__name__ and name not in helpers:
                assert value.signatures, f"{module.__name__}.{name} was not compiled by warm_up"


def test_cache_folder_falls_back_when_the_package_is_read_only(tmp_path: Path, monkeypatch) -> None:
    package = tmp_path / "install"
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert jit.choose_cache_dir(package) is None        # writable: numba's __pycache__ next to the sources
    writable = jit._is_writable_folder
    # A read-only install (root writes anywhere, so the check itself is replaced for the package folder).
    monkeypatch.setattr(jit, "_is_writable_folder", lambda path: package not in path.parents and writable(path))
    assert jit.choose_cache_dir(package) == str(tmp_path / "xdg" / "mars_counting" / "numba")
    assert (tmp_path / "xdg" / "mars_counting" / "numba").is_dir()
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert jit.choose_cache_dir(package) is None        # the user's choice: numba reads it itself
