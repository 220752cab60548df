"""Quantization drift: the same images through the ONNX (ONNX Runtime) and the HEF (HailoRT), compared.

Reported: box agreement (F1 of same-class matches at IoU >= 0.5 after NMS), mean absolute score error of the
matched boxes, mean IoU of the matches, and the mean cosine similarity of the feature vectors per location.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mars_hailo.hef_validation import HefExpectation, StreamInfo, assign_roles, description_from_hailort


@dataclass(frozen=True)
class FrameOutputs:
    """Detections (model-input pixels) and the feature map (H, W, C) of one image."""

    xyxy: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    features: np.ndarray | None


def match_detections(a: FrameOutputs, b: FrameOutputs, iou_threshold: float = 0.5) -> dict[str, float]:
    """Greedy same-class matching by IoU: matched count, F1 agreement, score MAE and mean IoU of matches."""
    from mars_camera.yolo.nms import box_iou

    na, nb = len(a.scores), len(b.scores)
    if na == 0 and nb == 0:
        return {"matched": 0.0, "box_agreement": 1.0, "score_error": 0.0, "mean_iou": 1.0}
    if na == 0 or nb == 0:
        return {"matched": 0.0, "box_agreement": 0.0, "score_error": float("nan"), "mean_iou": float("nan")}
    iou = box_iou(a.xyxy, b.xyxy)
    iou[a.class_ids[:, None] != b.class_ids[None, :]] = 0.0
    pairs = []
    used_a, used_b = set(), set()
    for flat in np.argsort(-iou, axis=None, kind="stable"):
        i, j = divmod(int(flat), nb)
        if iou[i, j] < iou_threshold:
            break
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        pairs.append((i, j))
    m = len(pairs)
    if m == 0:
        return {"matched": 0.0, "box_agreement": 0.0, "score_error": float("nan"), "mean_iou": float("nan")}
    ia, ib = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    return {"matched": float(m), "box_agreement": 2.0 * m / (na + nb),
            "score_error": float(np.abs(a.scores[ia] - b.scores[ib]).mean()),
            "mean_iou": float(iou[ia, ib].mean())}


def feature_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean cosine similarity of the per-location feature vectors of two (H, W, C) maps."""
    if a.shape != b.shape:
        raise ValueError(f"feature maps differ in shape: {a.shape} vs {b.shape}")
    x = a.reshape(-1, a.shape[-1]).astype(np.float64)
    y = b.reshape(-1, b.shape[-1]).astype(np.float64)
    nx, ny = np.linalg.norm(x, axis=1), np.linalg.norm(y, axis=1)
    ok = (nx > 1e-12) & (ny > 1e-12)
    if not ok.any():
        return 1.0 if np.allclose(x, y) else 0.0
    return float(((x[ok] * y[ok]).sum(axis=1) / (nx[ok] * ny[ok])).mean())


def summarize_drift(reference: Sequence[FrameOutputs], quantized: Sequence[FrameOutputs]) -> dict[str, float]:
    """Mean of the per-image metrics over all images."""
    rows = [match_detections(r, q) for r, q in zip(reference, quantized)]
    out = {"images": float(len(rows)),
           "box_agreement": float(np.mean([r["box_agreement"] for r in rows])) if rows else float("nan")}
    errs = [r["score_error"] for r in rows if np.isfinite(r["score_error"])]
    out["score_error"] = float(np.mean(errs)) if errs else float("nan")
    ious = [r["mean_iou"] for r in rows if np.isfinite(r["mean_iou"])]
    out["mean_iou"] = float(np.mean(ious)) if ious else float("nan")
    cos = [feature_cosine(r.features, q.features) for r, q in zip(reference, quantized)
           if r.features is not None and q.features is not None]
    if cos:
        out["feature_cosine"] = float(np.mean(cos))
    return out


def _postprocess(xyxy: np.ndarray, class_scores: np.ndarray, score_threshold: float, iou_threshold: float,
                 input_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Multi-label per-class NMS like Hailo's NMS-by-class, then boxes clipped to the model input."""
    from mars_camera.yolo.nms import class_aware_nms

    anchors, classes = np.nonzero(class_scores > score_threshold)
    if len(anchors) == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32)
    boxes = xyxy[anchors].astype(np.float32)
    sc = class_scores[anchors, classes].astype(np.float32)
    cls = classes.astype(np.int32)
    idx = class_aware_nms(boxes, sc, cls, iou_threshold)
    return _clip(boxes[idx], input_hw), sc[idx], cls[idx]


def _clip(xyxy: np.ndarray, input_hw: tuple[int, int]) -> np.ndarray:
    out = xyxy.copy()
    np.clip(out[:, 0::2], 0.0, float(input_hw[1]), out=out[:, 0::2])
    np.clip(out[:, 1::2], 0.0, float(input_hw[0]), out=out[:, 1::2])
    return out


def run_onnx(onnx_path: str | Path, images_hwc: Sequence[np.ndarray], feature_output: str | None,
             score_threshold: float, iou_threshold: float) -> list[FrameOutputs]:
    """Letterboxed RGB uint8 images through the ONNX with ONNX Runtime, decoded and NMS'd like the camera."""
    import onnxruntime as ort

    from mars_camera.yolo.decoding import decode_decoded_output
    from mars_camera.yolo.letterbox import input_tensor_from_letterboxed

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    det_name = next(n for n in names if n != feature_output)
    in_name = sess.get_inputs()[0].name
    out = []
    for img in images_hwc:
        res = dict(zip(names, sess.run(None, {in_name: input_tensor_from_letterboxed(img)})))
        cand = decode_decoded_output(res[det_name], 0, score_threshold)
        hw = (int(img.shape[0]), int(img.shape[1]))
        xyxy, sc, cls = _postprocess(cand.xyxy, cand.class_scores, score_threshold, iou_threshold, hw)
        feats = res[feature_output][0].transpose(1, 2, 0) if feature_output and feature_output in res else None
        out.append(FrameOutputs(xyxy, sc, cls, feats))
    return out


def _nms_buffer(buf: Any, classes: int) -> list[np.ndarray]:
    if isinstance(buf, (list, tuple)):
        return [np.asarray(x, np.float32).reshape(-1, 5) for x in buf]
    flat = np.asarray(buf, np.float32).reshape(-1)
    out, off = [], 0
    for _ in range(classes):  # HailoRT raw NMS-by-class layout: per class a count then count*5 floats
        n = int(flat[off])
        off += 1
        out.append(flat[off:off + 5 * n].reshape(n, 5))
        off += 5 * n
    return out


def run_hailort(hef_path: str | Path, images_hwc: Sequence[np.ndarray], exp: HefExpectation,
                score_threshold: float, iou_threshold: float) -> list[FrameOutputs]:
    """The same images through HailoRT's InferModel API (FLOAT32 outputs), decoded like the camera node."""
    from hailo_platform import HEF, FormatType, HailoSchedulingAlgorithm, VDevice

    from mars_camera.yolo.decoding import decode_raw_heads
    from mars_camera.yolo.hailo_nms import parse_nms_by_class

    roles = {s.name: s for s in assign_roles(description_from_hailort(HEF(str(hef_path)), str(hef_path)).outputs,
                                             exp)}
    h, w = exp.input_hw
    params = VDevice.create_params()
    params.scheduling_algorithm = HailoSchedulingAlgorithm.ROUND_ROBIN
    out: list[FrameOutputs] = []
    with VDevice(params) as vdevice:
        model = vdevice.create_infer_model(str(hef_path))
        model.set_batch_size(1)
        model.input().set_format_type(FormatType.UINT8)
        for name in model.output_names:
            model.output(name).set_format_type(FormatType.FLOAT32)
        with model.configure() as configured:
            for img in images_hwc:
                bindings = configured.create_bindings(output_buffers={
                    n: np.empty(model.output(n).shape, np.float32) for n in model.output_names})
                bindings.input().set_buffer(np.ascontiguousarray(img))
                configured.run([bindings], 10000)
                res = {n: bindings.output(n).get_buffer() for n in model.output_names}
                out.append(_decode_hailo(res, roles, exp, score_threshold, iou_threshold, parse_nms_by_class,
                                         decode_raw_heads, h, w))
    return out


def _decode_hailo(res: dict[str, Any], roles: dict[str, StreamInfo], exp: HefExpectation, score_threshold: float,
                  iou_threshold: float, parse_nms: Any, decode_raw: Any, h: int, w: int) -> FrameOutputs:
    feats = next((np.asarray(res[n]) for n, s in roles.items() if s.role == "features"), None)
    nms = [n for n, s in roles.items() if s.role == "nms"]
    if nms:
        xyxy, sc, cls = parse_nms(_nms_buffer(res[nms[0]], exp.num_classes), w, h, score_threshold)
        xyxy = _clip(xyxy, (h, w))
    else:
        box = sorted((s.stride or 0, n) for n, s in roles.items() if s.role == "box")
        cl = sorted((s.stride or 0, n) for n, s in roles.items() if s.role == "cls")
        cand = decode_raw([res[n] for _, n in box], [res[n] for _, n in cl], [s for s, _ in box],
                          scores_are_logits=False, reg_max=exp.reg_max)
        xyxy, sc, cls = _postprocess(cand.xyxy, cand.class_scores, score_threshold, iou_threshold, (h, w))
    return FrameOutputs(xyxy, sc, cls, feats)


def measure_drift(onnx_path: str | Path, hef_path: str | Path, images_hwc: Sequence[np.ndarray],
                  exp: HefExpectation, feature_output: str | None, score_threshold: float = 0.25,
                  iou_threshold: float = 0.7) -> dict[str, float]:
    """Run both and summarise the drift."""
    ref = run_onnx(onnx_path, images_hwc, feature_output, score_threshold, iou_threshold)
    q = run_hailort(hef_path, images_hwc, exp, score_threshold, iou_threshold)
    return summarize_drift(ref, q)
