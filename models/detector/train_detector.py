"""Train, export and make golden reference outputs for the default flower detector (DEV-ONLY).

Runs in the dev-only environment (/work/devvenv: torch, ultralytics; see README.md), never at run time:

    /work/devvenv/bin/python models/detector/train_detector.py export-untrained --out /tmp/untrained.onnx
    /work/devvenv/bin/python models/detector/train_detector.py train --data DATASET/data.yaml --imgsz 320 \
        --epochs 8 --out models/detector/flower_yolov8n.onnx
    /work/devvenv/bin/python models/detector/train_detector.py golden --onnx models/detector/flower_yolov8n.onnx \
        --images IMG1 IMG2 --out test/camera/data/golden_ultralytics.npz

Every ONNX written here has two outputs: `output0` (ultralytics' stock (1, 4+nc, anchors) decoded output)
and `features` (the stride-8 neck map feeding the Detect head, (1, C, H/8, W/8)), the extra end node the
Hailo parser and our feature pooling use.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

HERE = Path(__file__).resolve().parent
FEATURE_OUTPUT = "features"
_DETECT_P3_CONV = re.compile(r"^/model\.(\d+)/cv2\.0/cv2\.0\.0/conv/Conv$")


def flower_model_yaml(workdir: Path) -> Path:
    """ultralytics' yolov8.yaml with nc=1 (class 0 = flower); the name keeps the 'n' scale."""
    from ultralytics.utils import ROOT
    text = (ROOT / "cfg" / "models" / "v8" / "yolov8.yaml").read_text()
    text = re.sub(r"^nc: \d+.*$", "nc: 1 # flower", text, flags=re.M)
    path = workdir / "yolov8n_flower.yaml"
    path.write_text(text)
    return path


def add_feature_output(onnx_in: Path, onnx_out: Path, name: str = FEATURE_OUTPUT) -> dict:
    """Promote the neck map feeding the Detect head's stride-8 branch to an extra graph output `name`."""
    import onnx
    from onnx import helper, shape_inference
    model = onnx.load(str(onnx_in))
    graph = model.graph
    p3 = [n for n in graph.node if _DETECT_P3_CONV.match(n.name)]
    if len(p3) != 1:
        raise SystemExit(f"{onnx_in}: cannot find the Detect head's stride-8 box conv (/model.N/cv2.0/cv2.0.0)")
    tensor = p3[0].input[0]
    producer = next(n.name for n in graph.node if tensor in n.output)
    inferred = shape_inference.infer_shapes(model)
    shape = None
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
        if vi.name == tensor:
            shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    if not shape:
        raise SystemExit(f"{onnx_in}: no shape for {tensor}")
    graph.node.append(helper.make_node("Identity", [tensor], [name], name=f"/{name}/Identity"))
    graph.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape))
    in_h = graph.input[0].type.tensor_type.shape.dim[2].dim_value
    info = {"feature_output": name, "feature_node": producer, "feature_tensor": tensor,
            "feature_shape": shape, "feature_stride": in_h // shape[2]}
    meta = {p.key: p.value for p in model.metadata_props}
    meta["mars_feature"] = json.dumps(info)
    del model.metadata_props[:]
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(model)
    onnx.save(model, str(onnx_out))
    return info


def check_same_detections(stock: Path, with_features: Path, imgsz: int) -> None:
    """The extra output must not change output0 (same weights, same graph)."""
    import onnxruntime as ort
    x = np.random.default_rng(0).random((1, 3, imgsz, imgsz), dtype=np.float32)
    a = ort.InferenceSession(str(stock), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
    outs = ort.InferenceSession(str(with_features), providers=["CPUExecutionProvider"]).run(None, {"images": x})
    if not np.array_equal(a, outs[0]):
        raise SystemExit("adding the feature output changed output0")
    print(f"output0 unchanged; features shape {outs[1].shape}")


def export_model(yolo, out: Path, imgsz: int, keep_stock: Optional[Path] = None) -> dict:
    """ultralytics ONNX export (opset 17, static) + the feature output, written to out."""
    stock = Path(yolo.export(format="onnx", imgsz=imgsz, opset=17, simplify=False, dynamic=False))
    out.parent.mkdir(parents=True, exist_ok=True)
    info = add_feature_output(stock, out)
    check_same_detections(stock, out, imgsz)
    if keep_stock is not None:
        shutil.copyfile(stock, keep_stock)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB): {info}")
    return info


def cmd_export_untrained(args: argparse.Namespace) -> None:
    import torch
    from ultralytics import YOLO
    torch.manual_seed(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        yolo = YOLO(str(flower_model_yaml(Path(tmp))))
        yolo.model.names = {0: "flower"}
        export_model(yolo, Path(args.out), args.imgsz, Path(args.keep_stock) if args.keep_stock else None)


def cmd_train(args: argparse.Namespace) -> None:
    from ultralytics import YOLO
    with tempfile.TemporaryDirectory() as tmp:
        yolo = YOLO(str(flower_model_yaml(Path(tmp))))
        # pretrained=False: no weight download; amp=False: the AMP check downloads weights; plots=False: fonts.
        yolo.train(data=args.data, imgsz=args.imgsz, epochs=args.epochs, batch=args.batch, device="cpu",
                   workers=args.workers, pretrained=False, amp=False, plots=False, project=args.project,
                   name="flower_yolov8n", exist_ok=True, seed=args.seed, deterministic=True, verbose=True)
        best = Path(args.project) / "flower_yolov8n" / "weights" / "best.pt"
        trained = YOLO(str(best))
        metrics = trained.val(data=args.data, imgsz=args.imgsz, split="test" if args.test_split else "val",
                              device="cpu", plots=False, batch=args.batch)
        summary = {"mAP50": float(metrics.box.map50), "mAP50-95": float(metrics.box.map),
                   "precision": float(metrics.box.mp), "recall": float(metrics.box.mr),
                   "split": "test" if args.test_split else "val", "imgsz": args.imgsz, "epochs": args.epochs}
        print("held-out metrics:", json.dumps(summary))
        info = export_model(trained, Path(args.out), args.imgsz,
                            Path(args.keep_stock) if args.keep_stock else None)
        summary.update(info)
        Path(args.out).with_suffix(".metrics.json").write_text(json.dumps(summary, indent=2) + "\n")


def cmd_export(args: argparse.Namespace) -> None:
    """Export trained weights (.pt) at a given input size, with the feature output."""
    from ultralytics import YOLO
    export_model(YOLO(args.weights), Path(args.out), args.imgsz, Path(args.keep_stock) if args.keep_stock else None)


def cmd_evaluate(args: argparse.Namespace) -> None:
    """mAP of trained weights on a dataset split (held-out rendered images)."""
    from ultralytics import YOLO
    metrics = YOLO(args.weights).val(data=args.data, imgsz=args.imgsz, split=args.split, device="cpu",
                                      plots=False, batch=16)
    summary = {"mAP50": float(metrics.box.map50), "mAP50-95": float(metrics.box.map),
               "precision": float(metrics.box.mp), "recall": float(metrics.box.mr), "split": args.split,
               "imgsz": args.imgsz}
    print("metrics:", json.dumps(summary))
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")


def cmd_golden(args: argparse.Namespace) -> None:
    """Reference detections by ultralytics' own pipeline (letterbox, ONNX Runtime, NMS, scale_boxes).

    Runs ultralytics on the STOCK export (same weights; check_same_detections proved output0 identical) and
    records the sha256 of the shipped model the runtime test uses. Images are stored as PNG bytes (exact).
    """
    import hashlib
    import cv2
    from ultralytics import YOLO
    model = YOLO(args.onnx, task="detect")
    arrays = {}
    for i, path in enumerate(args.images):
        img = cv2.imread(path)
        if img is None:
            raise SystemExit(f"cannot read image {path}")
        if args.crop:
            x, y, w, h = (int(v) for v in args.crop[i].split(","))
            img = np.ascontiguousarray(img[y:y + h, x:x + w])
        ok, png = cv2.imencode(".png", img)
        img = cv2.imdecode(png, cv2.IMREAD_COLOR)
        res = model.predict(img, imgsz=args.imgsz, conf=args.conf, iou=args.iou, max_det=args.max_det,
                            device="cpu", verbose=False)[0]
        arrays[f"png_{i}"] = png.reshape(-1)
        arrays[f"xyxy_{i}"] = res.boxes.xyxy.numpy().astype(np.float32)
        arrays[f"scores_{i}"] = res.boxes.conf.numpy().astype(np.float32)
        arrays[f"class_ids_{i}"] = res.boxes.cls.numpy().astype(np.int32)
        print(f"{path} {img.shape[1]}x{img.shape[0]}: {len(res.boxes)} boxes")
    arrays["conf"] = np.float32(args.conf)
    arrays["iou"] = np.float32(args.iou)
    arrays["imgsz"] = np.int32(args.imgsz)
    arrays["count"] = np.int32(len(args.images))
    arrays["model_sha"] = np.array(hashlib.sha256(Path(args.shipped).read_bytes()).hexdigest()[:12])
    import ultralytics
    arrays["ultralytics_version"] = np.array(ultralytics.__version__)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1e3:.0f} kB)")


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Command-line entry point (dev environment only)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("export-untrained", help="random-weight YOLOv8n (nc=1) with the feature output")
    p.add_argument("--out", required=True)
    p.add_argument("--imgsz", type=int, default=320)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep-stock", default="", help="also keep ultralytics' stock export (no feature output)")
    p.set_defaults(func=cmd_export_untrained)
    p = sub.add_parser("train", help="train on a YOLO dataset, evaluate on held-out images, export")
    p.add_argument("--data", required=True, help="ultralytics dataset yaml (train/val[/test], nc=1)")
    p.add_argument("--imgsz", type=int, default=320)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--project", default="/tmp/mars_detector_runs")
    p.add_argument("--test-split", action="store_true", help="report metrics on the dataset's test split")
    p.add_argument("--out", default=str(HERE / "flower_yolov8n.onnx"))
    p.add_argument("--keep-stock", default="")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("export", help="export trained weights (.pt) with the feature output")
    p.add_argument("--weights", required=True)
    p.add_argument("--imgsz", type=int, default=320)
    p.add_argument("--out", required=True)
    p.add_argument("--keep-stock", default="")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("evaluate", help="mAP of trained weights on a dataset split")
    p.add_argument("--weights", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--imgsz", type=int, default=320)
    p.add_argument("--split", default="test")
    p.add_argument("--out", default="")
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("golden", help="ultralytics reference detections for the golden-file test")
    p.add_argument("--onnx", required=True)
    p.add_argument("--images", nargs="+", required=True)
    p.add_argument("--crop", nargs="*", default=[], help="per image x,y,w,h crop (non-square test inputs)")
    p.add_argument("--shipped", required=True, help="the shipped model (with features) the test will run")
    p.add_argument("--imgsz", type=int, default=320)
    p.add_argument("--conf", type=float, default=0.25)
    p.add_argument("--iou", type=float, default=0.5)
    p.add_argument("--max-det", type=int, default=300)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_golden)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main(sys.argv[1:])
