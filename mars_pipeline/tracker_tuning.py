"""Labelled sequences for mars-tune: one per camera of a simulated run, or one per MOTChallenge sequence.

- A mars-sim output folder RUN: the detections (with appearance features) of every camera read from RUN/bag the
  way mars-count reads them, each detection labelled with its true flower from RUN/truth/mot/<camera>/
  det_truth.txt (written in the same order, frame by frame; -1 = false positive). A camera's true count: the
  flowers it detected at least twice (one detection cannot confirm a track).
- A MOTChallenge sequence SEQ (det/det.txt, gt/gt.txt, seqinfo.ini; no features): detections labelled with the
  ground-truth box they overlap at IoU >= 0.5 (one-to-one, Hungarian, per frame). True count: the ground-truth ids
  present in at least two frames.
- A folder of either (e.g. a MOTChallenge split such as MOT17/train): every run or sequence in it.
"""
from __future__ import annotations

import configparser
from pathlib import Path
from typing import Dict, List, Sequence, Union

import numpy as np
from scipy.optimize import linear_sum_assignment

from mars_core.detections import DetectionFrame, Detections
from mars_ros.bags.bag_files import BagError, open_recorded_bag
from mars_ros.messages.detection_messages import DETECTION_ARRAY_TYPE, detection_frame_from_msg
from mars_tracker.mot_format import read_mot_detections, read_mot_rows
from mars_tracker.tuning import LabelledSequence, TuningError, true_count_from_ids

MATCH_IOU = 0.5          # a MOTChallenge detection belongs to the ground-truth box it overlaps this much
BOX_TOLERANCE_PX = 0.02  # det_truth.txt writes boxes with 2 decimals


def is_sim_run(path: Path) -> bool:
    """A mars-sim output folder: bag/ and truth/mot/."""
    return (path / "bag").is_dir() and (path / "truth" / "mot").is_dir()


def is_mot_sequence(path: Path) -> bool:
    """A MOTChallenge sequence folder: det/det.txt and gt/gt.txt."""
    return (path / "det" / "det.txt").is_file() and (path / "gt" / "gt.txt").is_file()


def load_sequences(paths: Sequence[Union[str, Path]]) -> List[LabelledSequence]:
    """The labelled sequences of sim runs, MOTChallenge sequences, or folders of them (TuningError naming a path
    that is none of these)."""
    out: List[LabelledSequence] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise TuningError(f"{path} does not exist (give a mars-sim output folder or a MOTChallenge sequence)")
        if is_sim_run(path):
            out.extend(load_sim_run(path))
        elif is_mot_sequence(path):
            out.append(load_mot_sequence(path))
        elif path.is_dir() and any(is_sim_run(p) or is_mot_sequence(p) for p in path.iterdir() if p.is_dir()):
            for sub in sorted(p for p in path.iterdir() if p.is_dir()):
                if is_sim_run(sub):
                    out.extend(load_sim_run(sub))
                elif is_mot_sequence(sub):
                    out.append(load_mot_sequence(sub))
        else:
            raise TuningError(f"{path} is neither a mars-sim output folder (bag/ + truth/mot/) nor a MOTChallenge "
                              f"sequence (det/det.txt + gt/gt.txt), nor a folder of them")
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise TuningError(f"sequence names repeat: {sorted(n for n in set(names) if names.count(n) > 1)} "
                          f"(give each run or sequence once)")
    return out


def _bag_frames(bag: Path) -> Dict[str, List[DetectionFrame]]:
    """Every camera's detection frames in log-time order, as mars-count reads them."""
    reader = open_recorded_bag(bag)
    try:
        conns = [c for c in reader.connections if c.msgtype == DETECTION_ARRAY_TYPE]
        if not conns:
            raise TuningError(f"bag {bag} has no {DETECTION_ARRAY_TYPE} topics: nothing to track")
        frames: Dict[str, List[DetectionFrame]] = {}
        for conn, _, data in reader.messages(connections=conns):
            frame = detection_frame_from_msg(reader.deserialize(data, conn.msgtype))
            frames.setdefault(frame.camera_name, []).append(frame)
    except BagError as exc:
        raise TuningError(str(exc)) from None
    finally:
        reader.close()
    return frames


def load_sim_run(run: Path) -> List[LabelledSequence]:
    """One labelled sequence per camera of a mars-sim output folder."""
    try:
        frames_by_camera = _bag_frames(run / "bag")
    except BagError as exc:
        raise TuningError(str(exc)) from None
    out = []
    for camera, frames in sorted(frames_by_camera.items()):
        truth_file = run / "truth" / "mot" / camera / "det_truth.txt"
        if not truth_file.is_file():
            raise TuningError(f"{truth_file} is missing: the run's detections of {camera} cannot be labelled")
        rows, _, _ = read_mot_rows(truth_file, TuningError)
        by_frame: Dict[int, np.ndarray] = {}
        if rows.shape[0]:
            starts = np.flatnonzero(np.r_[True, rows[1:, 0] != rows[:-1, 0]])
            for s, e in zip(starts, np.r_[starts[1:], rows.shape[0]]):
                by_frame[int(rows[s, 0]) - 1] = rows[s:e]   # MOT frame = frame_number + 1
        truth_ids = []
        for frame in frames:
            labelled = by_frame.get(frame.frame_number, np.zeros((0, 7)))
            d = frame.detections
            tlwh = np.column_stack([d.xyxy[:, 0:2], d.xyxy[:, 2:4] - d.xyxy[:, 0:2]]) if len(d) else np.zeros((0, 4))
            if labelled.shape[0] != len(d) or not np.allclose(labelled[:, 2:6], tlwh, atol=BOX_TOLERANCE_PX + 1e-3):
                raise TuningError(f"{truth_file}: frame {frame.frame_number + 1} lists {labelled.shape[0]} "
                                  f"detections, the bag has {len(d)} (or other boxes): truth and bag are not of "
                                  f"the same run")
            truth_ids.append(labelled[:, 1].astype(np.int64))
        out.append(LabelledSequence(f"{run.name}/{camera}", frames, truth_ids, true_count_from_ids(truth_ids),
                                    group=run.name))
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of (N, 4) and (M, 4) tlwh boxes."""
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    w = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    h = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = w * h
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def load_mot_sequence(seq: Path) -> LabelledSequence:
    """A MOTChallenge sequence as one labelled sequence (motion only: no features)."""
    info = configparser.ConfigParser()
    try:
        info.read(seq / "seqinfo.ini")
        section = info["Sequence"]
        fps = float(section.get("frameRate", "30"))
        width, height = int(section.get("imWidth", "0")), int(section.get("imHeight", "0"))
    except (KeyError, ValueError, configparser.Error) as exc:
        raise TuningError(f"{seq / 'seqinfo.ini'}: no readable [Sequence] frameRate/imWidth/imHeight ({exc})") from None
    if fps <= 0:
        raise TuningError(f"{seq / 'seqinfo.ini'}: frameRate must be positive, got {fps}")
    try:
        dets = read_mot_detections(seq / "det" / "det.txt")
    except ValueError as exc:
        raise TuningError(str(exc)) from None
    gt_rows, _, has_score = read_mot_rows(seq / "gt" / "gt.txt", TuningError)
    gt_rows = gt_rows[~has_score | (gt_rows[:, 6] != 0)]   # MOTChallenge conf 0 = ignore
    gt_by_frame: Dict[int, np.ndarray] = {}
    for f in np.unique(gt_rows[:, 0]).astype(np.int64).tolist():
        gt_by_frame[f] = gt_rows[gt_rows[:, 0] == f]
    frames, truth_ids = [], []
    slices = dets.frame_slices()
    first = min(min(slices, default=1), min(gt_by_frame, default=1))
    last = max(max(slices, default=0), max(gt_by_frame, default=0))
    for number in range(first, last + 1):
        sl = slices.get(number, slice(0, 0))
        tlwh = dets.tlwh[sl]
        ids = np.full(tlwh.shape[0], -1, np.int64)
        gt = gt_by_frame.get(number)
        if gt is not None and tlwh.shape[0]:
            iou = _iou(tlwh, gt[:, 2:6])
            rows, cols = linear_sum_assignment(-iou)
            ok = iou[rows, cols] >= MATCH_IOU
            ids[rows[ok]] = gt[cols[ok], 1].astype(np.int64)
        xyxy = np.column_stack([tlwh[:, 0:2], tlwh[:, 0:2] + tlwh[:, 2:4]]).astype(np.float32)
        d = Detections(xyxy, dets.scores[sl].astype(np.float32), np.zeros(tlwh.shape[0], np.int32), None, "")
        frames.append(DetectionFrame(seq.name, int(round(number * 1e9 / fps)), number, width, height, d))
        truth_ids.append(ids)
    gt_ids, gt_frames = np.unique(gt_rows[:, 1].astype(np.int64), return_counts=True)
    true_count = int(np.sum(gt_frames >= 2))
    if not frames:
        raise TuningError(f"{seq}: no detections and no ground truth")
    return LabelledSequence(seq.name, frames, truth_ids, true_count, group=seq.name)
