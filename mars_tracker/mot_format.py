"""MOTChallenge text files: reading detections (frame,id,x,y,w,h,score,...) and writing tracks."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, TextIO, Tuple, Type, Union

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


def read_mot_rows(path: Union[str, Path], error: Type[Exception] = ValueError
                  ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The numeric rows (N, 7) of a MOTChallenge file (frame, id, x, y, w, h, score), each row's 1-based line,
    and whether the row had a score column. Comma or whitespace separated, CRLF and a BOM tolerated; `error`
    names file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise error(f"cannot read MOTChallenge file {path}: {err}") from None
    rows: List[List[float]] = []
    lines: List[int] = []
    has_score: List[bool] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.replace(",", " ").split()
        if len(parts) < 6:
            raise error(f"{path}:{number}: expected at least 6 columns frame,id,x,y,w,h[,score,...], "
                        f"got {len(parts)}: {raw!r}")
        try:
            values = [float(p) for p in parts[:7]]
        except ValueError:
            raise error(f"{path}:{number}: non-numeric value in {raw!r}") from None
        has_score.append(len(values) > 6)
        rows.append(values + [0.0] * (7 - len(values)))
        lines.append(number)
    return (np.asarray(rows, dtype=np.float64).reshape(-1, 7), np.asarray(lines, dtype=np.int64),
            np.asarray(has_score, dtype=bool))


def read_mot_detections(path: Union[str, Path]) -> MotDetections:
    """Parse a MOTChallenge file (comma or whitespace separated, CRLF tolerated; the id column is ignored)."""
    path = Path(path)
    rows, lines, has_score = read_mot_rows(path)
    for values, number in zip(rows, lines):
        if not all(np.isfinite(values)):
            raise ValueError(f"{path}:{number}: non-finite value in {values.tolist()}")
        if values[0] != int(values[0]) or values[0] < 0:
            raise ValueError(f"{path}:{number}: frame must be a non-negative integer, got {values[0]!r}")
        if values[4] <= 0 or values[5] <= 0:
            raise ValueError(f"{path}:{number}: box width and height must be positive, got {values[4]}, "
                             f"{values[5]}")
    frames = rows[:, 0].astype(np.int64)
    # MOT ground truth/tracker files carry -1 or a flag where detections have a score.
    scores = np.where(~has_score | (rows[:, 6] < 0), 1.0, rows[:, 6])
    order = np.argsort(frames, kind="stable")
    return MotDetections(frames[order], rows[:, 2:6][order], scores[order], lines[order], order.astype(np.int64))


def write_mot_tracks(out: TextIO, frames: np.ndarray, track_ids: np.ndarray, tlwh: np.ndarray) -> None:
    """Write rows frame,id,x,y,w,h,1,-1,-1,-1 (MOTChallenge tracker output)."""
    for f, i, (x, y, w, h) in zip(frames.tolist(), track_ids.tolist(), tlwh.tolist()):
        out.write(f"{int(f)},{int(i)},{x:.2f},{y:.2f},{w:.2f},{h:.2f},1,-1,-1,-1\n")
