"""Image level: rendered frames show the flowers where the labels say, hide occluded ones, export to YOLO."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import yaml
from rosbags.highlevel import AnyReader

from mars_ros.bags.typestore import mars_typestore
from mars_sim import simulate, write_run
from mars_sim.detection_sim import _from_base, _to_base
from mars_sim.presets import preset_config
from mars_sim.rendering import FrameRenderer
from mars_sim.world import occlusion_value
from mars_sim.yolo_dataset import export_yolo_dataset, yolo_label_lines


def _plain_render_config():
    # No blur or noise: colours at flower centres are then exact enough to check.
    return preset_config("quick", {"render": {"blur_sigma_max_px": 0.0, "motion_blur_max_px": 0.0,
                                              "brightness_range": [1.0, 1.0]},
                                   "detection": {"occlusion_base": 0.3}})


def _flower_fraction(img: np.ndarray, cx: float, cy: float, half: float) -> float:
    """Share of petal-coloured pixels (bright, bluish-red like cream/white/pink petals; not soil, not leaf)."""
    x0, x1 = int(max(cx - half, 0)), int(min(cx + half + 1, img.shape[1]))
    y0, y1 = int(max(cy - half, 0)), int(min(cy + half + 1, img.shape[0]))
    patch = img[y0:y1, x0:x1].reshape(-1, 3)
    b, g, r = patch[:, 0], patch[:, 1], patch[:, 2]
    petal = (r > 150) & (b > 0.6 * r) & (g < r + 10)
    return float(petal.mean()) if patch.size else 0.0


def test_labels_sit_on_rendered_flowers_and_occluded_flowers_are_hidden():
    result = simulate(_plain_render_config(), seed=5)
    renderer = FrameRenderer(result, scale=0.5)
    shown, hidden = [], []
    for cam, stream in result.cameras.items():
        model = result.rig.camera(cam).model
        for k in range(0, len(stream.frames), 60):
            frame = renderer.render(cam, k)
            img = frame.image.astype(np.float32)
            for box in frame.boxes_xyxy * frame.scale:
                if box[2] - box[0] < 8 or box[0] <= 0 or box[1] <= 0 or box[2] >= img.shape[1] - 1 or \
                        box[3] >= img.shape[0] - 1:
                    continue
                shown.append(_flower_fraction(img, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2,
                                              0.35 * (box[2] - box[0])))
            # Flowers the truth calls occluded in this view: in the picture, but covered by a leaf.
            p = stream.poses
            xyz = result.field.xyz
            n = xyz.shape[0]
            base = _to_base(xyz, np.full(n, p.x[k]), np.full(n, p.y[k]), np.full(n, p.yaw[k]))
            uv, depth = model.project_base(base)
            cam_map = _from_base(np.broadcast_to(np.asarray(model.extrinsics.xyz), (n, 3)), np.full(n, p.x[k]),
                                 np.full(n, p.y[k]), np.full(n, p.yaw[k]))
            view = (cam_map - xyz) / np.linalg.norm(cam_map - xyz, axis=1, keepdims=True)
            occ = occlusion_value(result.field.occlusion_dirs, result.field.occlusion_phase, view,
                                  result.config.detection.occlusion_smoothness) > result.field.occlusion_threshold
            radius = 0.5 * result.field.diameter_m * model.intrinsics.fx / depth * frame.scale
            uv_s = uv * frame.scale
            inside = (depth > 0) & np.all(np.isfinite(uv), axis=1) & (radius > 4)
            inside &= (uv_s[:, 0] > radius) & (uv_s[:, 1] > radius) & (uv_s[:, 0] < img.shape[1] - radius) & \
                (uv_s[:, 1] < img.shape[0] - radius)
            visible_ids = set(frame.flower_ids.tolist())
            for j in np.flatnonzero(occ & inside):
                if result.field.ids[j] not in visible_ids:
                    hidden.append(_flower_fraction(img, uv_s[j, 0], uv_s[j, 1], 0.3 * radius[j]))
    shown, hidden = np.array(shown), np.array(hidden)
    assert shown.size > 20 and hidden.size > 5
    # Labelled flowers show their petals; occluded ones are (mostly) hidden behind their leaf.
    assert np.median(shown) > 0.3 and np.mean(shown > 0.1) > 0.95
    assert np.median(hidden) < 0.05 and np.median(hidden) < np.median(shown) / 5


def test_rendering_is_deterministic_and_sized():
    result = simulate(preset_config("quick", {"duration_s": 2.0}), seed=1)
    a = FrameRenderer(result, scale=0.25).render("cam_center", 10)
    b = FrameRenderer(result, scale=0.25).render("cam_center", 10)
    np.testing.assert_array_equal(a.image, b.image)
    intr = result.rig.camera("cam_center").model.intrinsics
    assert a.image.shape == (intr.height // 4, intr.width // 4, 3) and a.image.dtype == np.uint8
    with pytest.raises(IndexError, match="cam_center has"):
        FrameRenderer(result).render("cam_center", 10**6)


def test_yolo_label_format():
    lines = yolo_label_lines(np.array([[100, 200, 140, 260]]), 1000, 500)
    assert lines == ["0 0.120000 0.460000 0.040000 0.120000"]


def test_yolo_dataset_export(tmp_path):
    result = simulate(preset_config("quick"), seed=2)
    counts = export_yolo_dataset(result, tmp_path / "ds", frames=12, val_fraction=0.25, seed=0, scale=0.25)
    assert counts["train_images"] == 9 and counts["val_images"] == 3 and counts["labels"] > 0
    data = yaml.safe_load((tmp_path / "ds" / "data.yaml").read_text())
    assert data["nc"] == 1 and data["names"] == {0: "flower"} and data["train"] == "images/train"
    train_imgs = sorted((tmp_path / "ds" / "images" / "train").glob("*.jpg"))
    val_imgs = sorted((tmp_path / "ds" / "images" / "val").glob("*.jpg"))
    assert len(train_imgs) == 9 and len(val_imgs) == 3
    for img_path in train_imgs + val_imgs:
        split = img_path.parent.name
        label = tmp_path / "ds" / "labels" / split / (img_path.stem + ".txt")
        assert label.is_file()
        for line in label.read_text().splitlines():
            cls, *vals = line.split()
            assert cls == "0" and len(vals) == 4 and all(0.0 <= float(v) <= 1.0 for v in vals)
        assert cv2.imread(str(img_path)) is not None
    # Validation frames come after the training frames in time (no near-duplicate leakage).
    def stamp(p):
        cam, k = p.stem.rsplit("_", 1)
        return result.cameras[cam].frames[int(k)].stamp_ns
    assert max(stamp(p) for p in train_imgs) <= min(stamp(p) for p in val_imgs)


def test_bag_with_images(tmp_path):
    cfg = preset_config("quick", {"duration_s": 0.5, "render": {"scale": 0.25}})
    result = simulate(cfg, seed=0)
    out = write_run(result, tmp_path / "run", images=True)
    n = 0
    with AnyReader([out / "bag"], default_typestore=mars_typestore()) as reader:
        conns = [c for c in reader.connections if c.topic.endswith("/image/compressed")]
        assert {c.topic for c in conns} == {f"/{c}/image/compressed" for c in result.rig.camera_names}
        for conn, log_ns, raw in reader.messages(connections=conns):
            msg = reader.deserialize(raw, conn.msgtype)
            img = cv2.imdecode(np.asarray(msg.data, dtype=np.uint8), cv2.IMREAD_COLOR)
            cam = conn.topic.split("/")[1]
            intr = result.rig.camera(cam).model.intrinsics
            assert img.shape == (intr.height, intr.width, 3) and msg.format == "jpeg"
            assert msg.header.frame_id == f"{cam}_optical_frame"
            n += 1
    every = result.config.render.image_every_n_frames
    assert n == sum((len(s.frames) + every - 1) // every for s in result.cameras.values())
