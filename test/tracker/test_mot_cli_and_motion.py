"""MOTChallenge CLI (CRLF, bad input, ids), ego-motion prior geometry, and the ONNX scorer contract."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mars_core.geometry import CameraExtrinsics, CameraIntrinsics, CameraModel
from mars_tracker.association_scorers import DEFAULT_MODEL_PATH, OnnxAssociationScorer
from mars_tracker.camera_tracker import CameraTracker
from mars_tracker.ego_motion import MotionPrior, expected_image_velocity, robust_common_velocity
from mars_tracker.mot_cli import main
from mars_tracker.mot_format import read_mot_detections


def _write_dets(path: Path, crlf: bool) -> None:
    rows = []
    for f in range(1, 21):
        rows.append(f"{f},7,{100 + 5 * f},50,40,80,0.9,-1,-1,-1")
        rows.append(f"{f},7,{400 - 5 * f},60,40,80,0.9,-1,-1,-1")
    path.write_bytes(("\r\n" if crlf else "\n").join(rows).encode())


def test_cli_tracks_crlf_file_and_writes_mot_rows(tmp_path: Path) -> None:
    det = tmp_path / "det.txt"
    out = tmp_path / "out" / "tracks.txt"
    _write_dets(det, crlf=True)
    assert main([str(det), "--out", str(out), "--fps", "25"]) == 0
    rows = np.loadtxt(out, delimiter=",")
    assert rows.shape == (40, 10)
    assert set(np.unique(rows[:, 1])) == {1, 2}            # input ids ignored, two tracks found
    first = rows[rows[:, 1] == rows[0, 1]]
    assert np.all(np.diff(first[:, 2]) > 0) or np.all(np.diff(first[:, 2]) < 0)  # no swap at the crossing


def test_cli_reports_bad_line_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    det = tmp_path / "det.txt"
    det.write_text("1,-1,10,10,20,20,0.9\n2,-1,10,abc,20,20,0.9\n")
    assert main([str(det)]) == 2
    err = capsys.readouterr().err
    assert f"{det}:2" in err and "non-numeric" in err
    det.write_text("1,-1,10,10,0,20,0.9\n")
    with pytest.raises(ValueError, match="width and height"):
        read_mot_detections(det)


def test_expected_image_velocity_of_a_downward_camera() -> None:
    # Camera 1.6 m up looking straight down (optical z = -z base), image x right = -y base, image y down = -x base.
    cam = CameraModel("down", CameraIntrinsics(1280, 960, 900.0, 900.0, 640.0, 480.0),
                      CameraExtrinsics((0.0, 0.0, 1.6), (0.0, np.pi / 2, 0.0)))
    v = expected_image_velocity(cam, MotionPrior(vx=0.5, plane_height=0.6), np.array([[640.0, 480.0]]))
    # Static ground points at depth 1.0 m move backwards (-x base) at 0.5 m/s: 450 px/s along image y.
    assert abs(abs(v[0, 1]) - 450.0) < 2.0 and abs(v[0, 0]) < 1.0
    w = expected_image_velocity(cam, MotionPrior(vx=0.0, yaw_rate=0.2, plane_height=0.6),
                                np.array([[640.0, 480.0], [640.0, 200.0]]))
    assert abs(w[0]).max() < 1e-6 and abs(w[1, 0]) > 10.0     # rotation about the centre moves off-centre points
    with pytest.raises(ValueError, match="vx"):
        MotionPrior(vx=float("nan"))


def test_motion_prior_needs_a_camera_model() -> None:
    from mars_core.detections import DetectionFrame, Detections
    with pytest.raises(ValueError, match="camera model"):
        CameraTracker().update(DetectionFrame("c", 1, 0, 10, 10, Detections.empty()), MotionPrior(vx=1.0))


def test_robust_common_velocity_refuses_disagreeing_tracks() -> None:
    sizes = np.full(6, 40.0)
    same = np.array([[-300.0, 5.0]] * 5 + [[100.0, 0.0]])
    np.testing.assert_allclose(robust_common_velocity(same, sizes, 3, 0.6, 1.5), [-300.0, 5.0])
    walkers = np.array([[100.0, 0], [-100, 0], [0, 100], [0, -100], [70, 70], [-70, -70]])
    assert robust_common_velocity(walkers, sizes, 3, 0.6, 1.5) is None


@pytest.mark.skipif(not DEFAULT_MODEL_PATH.is_file(), reason="learned model not trained yet")
def test_shipped_onnx_scorer_scores_all_pairs_in_one_batch() -> None:
    from mars_tracker.association import AssociationInputs
    scorer = OnnxAssociationScorer()
    t = np.array([[100.0, 100, 40, 40], [300, 100, 40, 40]])
    d = np.array([[102.0, 101, 40, 40], [298, 99, 40, 40], [600, 600, 40, 40]])
    from mars_tracker.association import iou_and_diou
    iou, diou = iou_and_diou(t, d)
    allowed = np.array([[True, True, False], [True, True, False]])
    maha = np.where(allowed, 1.0, 100.0)
    app = np.array([[0.05, 0.6, 0.9], [0.6, 0.05, 0.9]])
    inputs = AssociationInputs(np.array([1, 2], np.uint64), t, np.array([10, 10]), np.zeros(2), d,
                               np.full(3, 0.9), iou, diou, maha, app, allowed)
    cost = scorer.cost(inputs)
    assert cost[0, 0] < 0.5 and cost[1, 1] < 0.5 and cost[0, 1] > cost[0, 0] and cost[:, 2].min() >= 1e5


def test_onnx_scorer_rejects_a_model_with_other_features(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["probabilities"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    prop = model.metadata_props.add()
    prop.key, prop.value = "mars.pair_features", '["iou", "score", "x"]'
    path = tmp_path / "other.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ValueError, match="retrain"):
        OnnxAssociationScorer(path)
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        OnnxAssociationScorer(tmp_path / "missing.onnx")


def test_cli_takes_row_aligned_features_and_rejects_misaligned_ones(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    det = tmp_path / "det.txt"
    _write_dets(det, crlf=False)
    feats = np.tile(np.eye(8, dtype=np.float32)[:2], (20, 1))      # rows alternate between the two objects
    np.save(tmp_path / "f.npy", feats)
    out = tmp_path / "t.txt"
    assert main([str(det), "--features", str(tmp_path / "f.npy"), "--out", str(out)]) == 0
    assert np.loadtxt(out, delimiter=",").shape == (40, 10)
    np.save(tmp_path / "bad.npy", feats[:5])
    assert main([str(det), "--features", str(tmp_path / "bad.npy")]) == 2
    assert "(40, D)" in capsys.readouterr().err
