"""The detector's score scale, learned per camera while tracking, so that the tracker's score thresholds hold
for any detector.

The thresholds (high/low stage, new track, confirmation) are set on a reference scale on which a flower
detection typically scores ``reference_flower_score``. Another detector (another training set, architecture,
or the same model quantized on the Hailo) ranks objects alike but reports other numbers. The typical flower
score of this camera's detector is the median score of detections that belong to established tracks, taken
from each track's detections ``SAMPLE_FROM_HIT`` .. ``SAMPLE_FROM_HIT + SAMPLES_PER_TRACK - 1`` (each track
contributes equally, so one object in view for minutes, a wheel hub, cannot set the scale; established tracks
are mostly flowers, since clutter rarely lasts that long). Scores are then shifted in logit space by
``logit(reference) - logit(typical)``: monotone, so the ranking is kept, and the identity while the estimate
is within ``DEAD_BAND_LOGIT`` of the reference, so that the reference detector's results stay bit for bit. The
shift starts only once the estimate is outside the dead band by two standard errors of the median (the first
few tracks alone do not move it), and stays while it is outside the dead band.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

SAMPLE_FROM_HIT = 4         # a track's 4th detection on: past the lucky one-off matches of clutter
SAMPLES_PER_TRACK = 4
MIN_SAMPLES = 40            # at least 10 tracks before the scale moves
WINDOW = 400                # the last 100 tracks or so: follows slow changes (light over a day)
DEAD_BAND_LOGIT = 0.35      # about +-0.05 in score at 0.8: no change within the spread of a field's estimate
_EPS = 1e-4


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, _EPS, 1.0 - _EPS)
    return np.log(q / (1.0 - q))


class ScoreScale:
    """Running estimate of one camera's typical flower score and the logit shift onto the reference scale."""

    def __init__(self, reference_flower_score: float, enabled: bool = True) -> None:
        self.reference = float(reference_flower_score)
        self.enabled = bool(enabled)
        self._samples = np.zeros(WINDOW, np.float64)
        self._count = 0          # samples seen in all (the window holds the last WINDOW)
        self.shift_logit = 0.0
        self.typical_score = float("nan")

    def observe(self, scores: np.ndarray) -> None:
        """Raw scores of established tracks' detections (see the module docstring for which)."""
        scores = np.asarray(scores, dtype=np.float64).ravel()
        if not self.enabled or scores.size == 0:
            return
        idx = (self._count + np.arange(scores.size)) % WINDOW
        self._samples[idx] = scores
        self._count += scores.size
        self._update()

    def reconfigure(self, reference_flower_score: float, enabled: bool) -> None:
        """A new reference or on/off (a live parameter change); the samples seen so far are kept."""
        self.reference = float(reference_flower_score)
        self.enabled = bool(enabled)
        self.shift_logit = 0.0
        if self.enabled:
            self._update()

    def _update(self) -> None:
        n = min(self._count, WINDOW)
        if n < MIN_SAMPLES:
            return
        window = _logit(self._samples[:n])
        centre = float(np.median(window))
        self.typical_score = float(1.0 / (1.0 + np.exp(-centre)))
        shift = float(_logit(np.array(self.reference))) - centre
        # Standard error of a median: 1.253 sd / sqrt(n), the sd from the MAD (robust to the clutter in the window).
        se = 1.253 * 1.4826 * float(np.median(np.abs(window - centre))) / np.sqrt(n)
        needed = DEAD_BAND_LOGIT if self.shift_logit != 0.0 else DEAD_BAND_LOGIT + 2.0 * se
        self.shift_logit = shift if abs(shift) > needed else 0.0

    def calibrate(self, scores: np.ndarray) -> np.ndarray:
        """Scores on the reference scale (the input itself while the shift is 0)."""
        if self.shift_logit == 0.0 or scores.size == 0:
            return scores
        shifted = 1.0 / (1.0 + np.exp(-(_logit(scores.astype(np.float64)) + self.shift_logit)))
        return shifted.astype(scores.dtype)

    def as_dict(self) -> Dict[str, Optional[float]]:
        """Figures for diagnostics and summaries."""
        return {"typical_flower_score": round(self.typical_score, 4) if self._count >= MIN_SAMPLES else None,
                "reference_flower_score": self.reference, "score_shift_logit": round(self.shift_logit, 4),
                "score_samples": int(self._count)}
