"""MOTChallenge text files (gt.txt, tracker output): frame,id,left,top,width,height,conf[,class,vis,...].

Comma- or whitespace-separated, CRLF tolerated, 1-based frames, boxes in pixels. No coordinate shift is
applied (motmetrics' loadtxt subtracts 1 from x,y; IoU is unaffected as long as both sides are read the
same way, which this reader guarantees).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from mars_tracker.mot_format import read_mot_rows


class MotFileError(ValueError):
    """A MOTChallenge file is missing or malformed; the message names the file and the line."""


@dataclass(frozen=True)
class MotTable:
    """Rows of a MOTChallenge file as columns."""

    frame: np.ndarray      # (N,) int64, 1-based
    track_id: np.ndarray   # (N,) int64
    xywh: np.ndarray       # (N, 4) float64 left, top, width, height
    conf: np.ndarray       # (N,) float64

    def __len__(self) -> int:
        return int(self.frame.size)

    def select(self, mask: np.ndarray) -> "MotTable":
        """The rows picked by a boolean mask."""
        return MotTable(self.frame[mask], self.track_id[mask], self.xywh[mask], self.conf[mask])

    @staticmethod
    def from_rows(rows: np.ndarray) -> "MotTable":
        """A table from an (N, >=6) array: frame, id, left, top, width, height[, conf]."""
        rows = np.asarray(rows, dtype=np.float64)
        if rows.size == 0:
            rows = np.zeros((0, 7))
        if rows.ndim != 2 or rows.shape[1] < 6:
            raise MotFileError(f"MOT rows must be (N, >=6), got shape {rows.shape}")
        conf = rows[:, 6] if rows.shape[1] > 6 else np.ones(rows.shape[0])
        return MotTable(rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64), rows[:, 2:6].copy(), conf.copy())


def read_mot(path: Union[str, Path], is_ground_truth: bool = False) -> MotTable:
    """Read a MOTChallenge file; for ground truth, rows with conf == 0 (MOTChallenge 'ignore') are dropped."""
    path = Path(path)
    if not path.is_file():
        raise MotFileError(f"MOTChallenge file {path} does not exist")
    rows, lines, has_score = read_mot_rows(path, MotFileError)
    rows[~has_score, 6] = 1.0
    for values, lineno in zip(rows, lines):
        if values[0] < 1 or values[0] != int(values[0]):
            raise MotFileError(f"{path}:{lineno}: frame must be a positive integer (1-based), got {values[0]:g}")
        if values[4] < 0 or values[5] < 0:
            raise MotFileError(f"{path}:{lineno}: negative box size in {values.tolist()}")
    table = MotTable.from_rows(rows)
    if is_ground_truth:
        table = table.select(table.conf != 0)
    return table


def write_mot(path: Union[str, Path], table: MotTable) -> None:
    """Write a table as a MOTChallenge file (conf column, then -1,-1,-1)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = np.column_stack([table.frame, table.track_id, table.xywh, table.conf,
                            -np.ones((len(table), 3))])
    np.savetxt(path, rows, fmt=["%d", "%d", "%.2f", "%.2f", "%.2f", "%.2f", "%.4g", "%d", "%d", "%d"], delimiter=",")
