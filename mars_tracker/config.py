"""The tracker's settings: one frozen, validated dataclass; the defaults live only here."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Dict, Mapping, Tuple

from mars_core.config_schema import config_field


@dataclass(frozen=True)
class TrackerConfig:
    """Settings of one camera's tracker. Times are seconds of stamp time, sizes are relative to the box size."""

    high_score_threshold: float = config_field(
        0.5, "detections scoring at least this are matched first (motion + appearance) and may start tracks")
    low_score_threshold: float = config_field(
        0.1, "detections below this are ignored; between low and high they only extend existing tracks")
    new_track_score_threshold: float = config_field(
        0.6, "an unmatched high-score detection starts a new track only from this score up")
    min_hits: int = config_field(2, "matched frames before a track is confirmed (and counted)")
    confirm_min_mean_score: float = config_field(
        0.62, "a track is confirmed only once the mean score of its detections, counted together with "
              "confirm_prior_hits pseudo-detections at score 0.5, reaches this: persistent look-alike objects are "
              "detected with middling scores, flowers with high ones (0 = off)")
    confirm_prior_hits: float = config_field(
        2.0, "pseudo-detections at score 0.5 in the confirmation mean, so a short lucky run cannot confirm (3 "
             "kept look-alikes out equally but confirmed flowers a frame or two later: lower HOTA)")
    tentative_low_score_matches: bool = config_field(
        True, "unconfirmed tracks also take low-score detections (second stage), so that the confirmation mean "
              "sees all of an object's detections, not only those above high_score_threshold (which make a "
              "look-alike's mean look as high as a flower's)")
    max_lost_seconds: float = config_field(
        3.5, "a confirmed track not matched for longer than this is removed (flowers hidden by leaves for "
             "2-3 s while the robot drives on are found again instead of being counted twice)")
    lost_motion_relax_seconds: float = config_field(
        1.0, "while a track is unmatched, the part of its velocity across the direction of the ego-motion decays "
             "with this time constant (flowers stand still; 0 = keep extrapolating the last velocity)")
    max_tentative_lost_seconds: float = config_field(
        0.2, "an unconfirmed track not matched for longer than this is removed (0 = at its first miss)")
    match_cost_threshold: float = config_field(
        0.75, "largest association cost (0..1) accepted in the first, high-score stage")
    low_match_cost_threshold: float = config_field(
        0.5, "largest 1 - IoU accepted in the second, low-score stage (ByteTrack: 0.5)")
    gate_mahalanobis: float = config_field(
        25.0, "squared Mahalanobis distance gate of box innovations (chi-square, 4 dof; 13.28 = 99 %)")
    appearance_weight: float = config_field(
        0.5, "weight of the appearance cost against the motion cost when appearance is informative")
    adaptive_appearance: bool = config_field(
        True, "lower the appearance weight for pairs whose embeddings do not tell candidates apart")
    appearance_gap_reference: float = config_field(
        0.15, "cosine-distance gap between best and second-best candidate that gives appearance full weight")
    appearance_scale_factor: float = config_field(
        4.0, "appearance distances count in units of this many times the typical distance of a correct match "
             "(estimated online per camera)")
    appearance_gate: float = config_field(
        0.6, "pairs whose cosine distance exceeds this are never matched in the high-score stage")
    embedding_momentum: float = config_field(
        0.9, "exponential smoothing of a track's embedding: new = m * old + (1 - m) * detection")
    measurement_noise: float = config_field(
        0.05, "standard deviation of a detected box centre, as a fraction of the box size")
    size_measurement_noise: float = config_field(
        0.08, "standard deviation of a detected box width/height, as a fraction of the box size")
    acceleration_noise: float = config_field(
        4.0, "standard deviation of a track's centre acceleration, box sizes per second squared")
    size_change_noise: float = config_field(
        1.0, "standard deviation of a track's size acceleration, box sizes per second squared")
    initial_velocity_std: float = config_field(
        8.0, "standard deviation of a new track's velocity around the ego-motion guess, box sizes per second")
    estimate_ego_motion: bool = config_field(
        True, "without a motion prior, estimate the global image motion from matched tracks")
    ego_min_tracks: int = config_field(3, "matched confirmed tracks needed to estimate the global image motion")
    ego_inlier_fraction: float = config_field(
        0.6, "fraction of tracks that must agree with the median motion for the estimate to be used")
    ego_inlier_tolerance: float = config_field(
        1.5, "velocity difference (box sizes per second) within which a track agrees with the median")
    oc_reupdate: bool = config_field(
        True, "re-run the Kalman filter along a virtual trajectory when a lost track is recovered (OC-SORT)")
    match_across_classes: bool = config_field(
        False, "allow a track to match a detection of another class")
    counting_line: Tuple[float, ...] = config_field(
        (), "optional counting line x1, y1, x2, y2 in image pixels; empty = count every confirmed track")

    def __post_init__(self) -> None:
        def fail(name: str, rule: str) -> None:
            raise ValueError(f"TrackerConfig.{name} {rule}, got {getattr(self, name)!r}")

        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(f.default, bool):
                if not isinstance(value, bool):
                    fail(f.name, "must be true or false")
            elif isinstance(f.default, int):
                if isinstance(value, bool) or not isinstance(value, int):
                    fail(f.name, "must be an integer")
            elif isinstance(f.default, float):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    fail(f.name, "must be a finite number")
                object.__setattr__(self, f.name, float(value))
        for name in ("high_score_threshold", "low_score_threshold", "new_track_score_threshold", "confirm_min_mean_score",
                     "ego_inlier_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                fail(name, "must lie in [0, 1]")
        if self.low_score_threshold > self.high_score_threshold:
            fail("low_score_threshold", f"must not exceed high_score_threshold ({self.high_score_threshold})")
        for name in ("match_cost_threshold", "low_match_cost_threshold", "appearance_weight"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                fail(name, "must lie in [0, 1]")
        if not 0.0 <= self.embedding_momentum < 1.0:
            fail("embedding_momentum", "must lie in [0, 1)")
        if not 0.0 < self.appearance_gate <= 2.0:
            fail("appearance_gate", "must lie in (0, 2] (cosine distance)")
        if self.min_hits < 1:
            fail("min_hits", "must be at least 1")
        if self.ego_min_tracks < 1:
            fail("ego_min_tracks", "must be at least 1")
        for name in ("max_lost_seconds", "max_tentative_lost_seconds", "confirm_prior_hits",
                     "lost_motion_relax_seconds"):
            if getattr(self, name) < 0.0:
                fail(name, "must not be negative")
        for name in ("gate_mahalanobis", "appearance_gap_reference", "appearance_scale_factor", "measurement_noise", "size_measurement_noise",
                     "acceleration_noise", "size_change_noise", "initial_velocity_std", "ego_inlier_tolerance"):
            if getattr(self, name) <= 0.0:
                fail(name, "must be positive")
        line = self.counting_line
        try:
            line = tuple(float(v) for v in line)
        except (TypeError, ValueError):
            fail("counting_line", "must be a list of numbers")
        if len(line) not in (0, 4) or not all(math.isfinite(v) for v in line):
            fail("counting_line", "must be empty or four finite numbers x1, y1, x2, y2")
        if len(line) == 4 and line[0:2] == line[2:4]:
            fail("counting_line", "must join two different points")
        object.__setattr__(self, "counting_line", line)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "tracker config") -> "TrackerConfig":
        """Build from a mapping (e.g. a YAML section), naming unknown keys and the source on error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{source}: unknown tracker setting(s) {unknown}; known: {sorted(known)}")
        return cls(**dict(values))

    @staticmethod
    def descriptions() -> Dict[str, str]:
        """Each setting's description, by name."""
        return {f.name: str(f.metadata.get("description", "")) for f in fields(TrackerConfig)}
