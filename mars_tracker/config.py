"""The tracker's settings: one frozen, validated dataclass; the defaults live only here."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Dict, Mapping, Tuple

from mars_core.config_schema import ConfigError, check_config, config_field


@dataclass(frozen=True)
class TrackerConfig:
    """Settings of one camera's tracker. Times are seconds of stamp time, sizes are relative to the box size."""

    high_score_threshold: float = config_field(
        0.5, "detections scoring at least this are matched first (motion + appearance) and may start tracks",
        minimum=0.0, maximum=1.0)
    low_score_threshold: float = config_field(
        0.1, "detections below this are ignored; between low and high they only extend existing tracks",
        minimum=0.0, maximum=1.0)
    new_track_score_threshold: float = config_field(
        0.6, "an unmatched high-score detection starts a new track only from this score up", minimum=0.0, maximum=1.0)
    min_hits: int = config_field(2, "matched frames before a track is confirmed (and counted)", minimum=1)
    adapt_score_scale: bool = config_field(
        True, "learn each camera's detector score scale while tracking (the typical score of established tracks) "
              "and map scores onto the reference scale the score thresholds are set for, so that a detector with "
              "another calibration counts alike (mars_tracker/score_scale.py)")
    reference_flower_score: float = config_field(
        0.8, "typical score of a flower detection on the scale the score thresholds are set for (the simulator's "
             "default detector)", greater_than=0.0, less_than=1.0)
    confirm_min_mean_score: float = config_field(
        0.62, "a track is confirmed only once the mean score of its detections, counted together with "
              "confirm_prior_hits pseudo-detections at score 0.5, reaches this: persistent look-alike objects are "
              "detected with middling scores, flowers with high ones (0 = off)", minimum=0.0, maximum=1.0)
    confirm_prior_hits: float = config_field(
        2.0, "pseudo-detections at score 0.5 in the confirmation mean, so a short lucky run cannot confirm (3 "
             "kept look-alikes out equally but confirmed flowers a frame or two later: lower HOTA)", minimum=0.0)
    tentative_low_score_matches: bool = config_field(
        True, "unconfirmed tracks also take low-score detections (second stage), so that the confirmation mean "
              "sees all of an object's detections, not only those above high_score_threshold (which make a "
              "look-alike's mean look as high as a flower's)")
    max_lost_seconds: float = config_field(
        3.5, "a confirmed track not matched for longer than this is removed (flowers hidden by leaves for "
             "2-3 s while the robot drives on are found again instead of being counted twice)", minimum=0.0)
    lost_motion_relax_seconds: float = config_field(
        1.0, "while a track is unmatched, the part of its velocity across the direction of the ego-motion decays "
             "with this time constant (flowers stand still; 0 = keep extrapolating the last velocity)", minimum=0.0)
    max_tentative_lost_seconds: float = config_field(
        0.2, "an unconfirmed track not matched for longer than this is removed (0 = at its first miss)", minimum=0.0)
    match_cost_threshold: float = config_field(
        0.75, "largest association cost (0..1) accepted in the first, high-score stage", minimum=0.0, maximum=1.0)
    low_match_cost_threshold: float = config_field(
        0.5, "largest 1 - IoU accepted in the second, low-score stage (ByteTrack: 0.5)", minimum=0.0, maximum=1.0)
    gate_mahalanobis: float = config_field(
        25.0, "squared Mahalanobis distance gate of box innovations (chi-square, 4 dof; 13.28 = 99 %)",
        greater_than=0.0)
    appearance_weight: float = config_field(
        0.5, "weight of the appearance cost against the motion cost when appearance is informative",
        minimum=0.0, maximum=1.0)
    adaptive_appearance: bool = config_field(
        True, "lower the appearance weight for pairs whose embeddings do not tell candidates apart")
    appearance_gap_reference: float = config_field(
        0.15, "cosine-distance gap between best and second-best candidate that gives appearance full weight",
        greater_than=0.0)
    appearance_scale_factor: float = config_field(
        4.0, "appearance distances count in units of this many times the typical distance of a correct match "
             "(estimated online per camera)", greater_than=0.0)
    appearance_gate: float = config_field(
        0.6, "pairs whose cosine distance exceeds this are never matched in the high-score stage",
        greater_than=0.0, maximum=2.0)
    embedding_momentum: float = config_field(
        0.9, "exponential smoothing of a track's embedding: new = m * old + (1 - m) * detection",
        minimum=0.0, less_than=1.0)
    measurement_noise: float = config_field(
        0.05, "standard deviation of a detected box centre, as a fraction of the box size", greater_than=0.0)
    size_measurement_noise: float = config_field(
        0.08, "standard deviation of a detected box width/height, as a fraction of the box size", greater_than=0.0)
    acceleration_noise: float = config_field(
        4.0, "standard deviation of a track's centre acceleration, box sizes per second squared", greater_than=0.0)
    size_change_noise: float = config_field(
        1.0, "standard deviation of a track's size acceleration, box sizes per second squared", greater_than=0.0)
    initial_velocity_std: float = config_field(
        8.0, "standard deviation of a new track's velocity around the ego-motion guess, box sizes per second",
        greater_than=0.0)
    estimate_ego_motion: bool = config_field(
        True, "without a motion prior, estimate the global image motion from matched tracks")
    ego_min_tracks: int = config_field(3, "matched confirmed tracks needed to estimate the global image motion",
                                       minimum=1)
    ego_inlier_fraction: float = config_field(
        0.6, "fraction of tracks that must agree with the median motion for the estimate to be used",
        minimum=0.0, maximum=1.0)
    ego_inlier_tolerance: float = config_field(
        1.5, "velocity difference (box sizes per second) within which a track agrees with the median", greater_than=0.0)
    oc_reupdate: bool = config_field(
        True, "re-run the Kalman filter along a virtual trajectory when a lost track is recovered (OC-SORT)")
    match_across_classes: bool = config_field(
        False, "allow a track to match a detection of another class")
    counting_line: Tuple[float, ...] = config_field(
        (), "optional counting line x1, y1, x2, y2 in image pixels; empty = count every confirmed track")

    def __post_init__(self) -> None:
        def fail(name: str, rule: str) -> None:
            text = f"{rule}, got {getattr(self, name)!r}"
            raise ConfigError(f"TrackerConfig.{name} {text}", key=name, rule=text)

        check_config(self, "TrackerConfig")  # types, finiteness and each field's range (its config_field)
        if self.low_score_threshold > self.high_score_threshold:
            fail("low_score_threshold", f"must not exceed high_score_threshold ({self.high_score_threshold})")
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
            raise ConfigError(f"{source}: unknown tracker setting(s) {unknown}; known: {sorted(known)}")
        return cls(**dict(values))

    @staticmethod
    def descriptions() -> Dict[str, str]:
        """Each setting's description, by name."""
        return {f.name: str(f.metadata.get("description", "")) for f in fields(TrackerConfig)}
