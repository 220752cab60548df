"""MOTChallenge text files: reading detections (frame,id,x,y,w,h,score,...) and writing tracks."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, TextIO, Union

import numpy as np


@dataclass(frozen=True)
class MotDetections:
    """All rows of a MOTChallenge detection file, sorted by frame; boxes are top-left x, y, width, height."""

    frames: np.ndarray      # (N,) int64
    tlwh: np.ndarray        # (N, 4) float64
    scores: np.ndarray      # (N,) float64 (1.0 where the file says -1 or gives no score)
    line_numbers: np.ndarray  # (N,) int64, 1-based line of each row in the file
    source_rows: np.ndarray   # (N,) int64, position of each row among the file's data rows (file order)

    def frame_slices(self) -> Dict[int, slice]:
        """Row slice of each frame number."""
        out: Dict[int, slice] = {}
        if self.frames.size == 0:
            return out
        starts = np.flatnonzero(np.r_[True, self.frames[1:] != self.frames[:-1]])
        ends = np.r_[starts[1:], self.frames.size]
        for s, e in zip(starts, ends):
            out[int(self.frames[s])] = slice(int(s), int(e))
        return out


def read_mot_detections(path: Union[str, Path]) -> MotDetections:
    """Parse a MOTChallenge file (comma or whitespace separated, CRLF tolerated; the id column is ignored)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise OSError(f"cannot read MOTChallenge detections {path}: {err}") from err
    frames: List[int] = []
    boxes: List[List[float]] = []
    scores: List[float] = []
    lines: List[int] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p for p in line.replace(",", " ").split()]
        if len(parts) < 6:
            raise ValueError(f"{path}:{number}: expected at least 6 columns frame,id,x,y,w,h[,score,...], "
                             f"got {len(parts)}: {raw!r}")
        try:
            values = [float(p) for p in parts[:7]]
        except ValueError:
            raise ValueError(f"{path}:{number}: non-numeric value in {raw!r}") from None
        if not all(np.isfinite(values)):
            raise ValueError(f"{path}:{number}: non-finite value in {raw!r}")
        frame = values[0]
        if frame != int(frame) or frame < 0:
            raise ValueError(f"{path}:{number}: frame must be a non-negative integer, got {parts[0]!r}")
        if values[4] <= 0 or values[5] <= 0:
            raise ValueError(f"{path}:{number}: box width and height must be positive, got {parts[4]}, {parts[5]}")
        score = values[6] if len(values) > 6 else -1.0
        frames.append(int(frame))
        boxes.append(values[2:6])
        scores.append(1.0 if score < 0 else score)   # MOT ground truth/tracker files carry -1 or a flag
        lines.append(number)
    order = np.argsort(np.asarray(frames, dtype=np.int64), kind="stable")
    return MotDetections(np.asarray(frames, dtype=np.int64)[order],
                         np.asarray(boxes, dtype=np.float64).reshape(-1, 4)[order],
                         np.asarray(scores, dtype=np.float64)[order], np.asarray(lines, dtype=np.int64)[order],
                         order.astype(np.int64))


def write_mot_tracks(out: TextIO, frames: np.ndarray, track_ids: np.ndarray, tlwh: np.ndarray) -> None:
    """Write rows frame,id,x,y,w,h,1,-1,-1,-1 (MOTChallenge tracker output)."""
    for f, i, (x, y, w, h) in zip(frames.tolist(), track_ids.tolist(), tlwh.tolist()):
        out.write(f"{int(f)},{int(i)},{x:.2f},{y:.2f},{w:.2f},{h:.2f},1,-1,-1,-1\n")
