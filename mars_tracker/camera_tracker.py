"""One camera's multi-object tracker: the per-frame lifecycle (predict, two-stage association, update, start and
end tracks, count); the pair matrices a stage scores are built in mars_tracker/association.py.

A ROS node calls ``CameraTracker.update(frame, motion_prior)`` once per detection message and publishes the
returned ``TrackUpdate``; offline tools do exactly the same, so live and bag counts agree.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import List, Optional, Tuple

import numpy as np

from mars_core.detections import DetectionFrame
from mars_core.feature_codec import FeatureMismatchError, check_compatible
from mars_core.geometry import CameraModel
from mars_core.jit import register_warm_up
from mars_tracker.association import (assign, association_inputs, clip_to_image, learned_appearance_scale,
                                      overlap_cost)
from mars_tracker.association_scorers import AssociationScorer, HandTunedScorer
from mars_tracker.box_kalman import BoxKalmanModel, box_sizes
from mars_tracker.config import TrackerConfig
from mars_tracker.counting_line import crossed, line_side
from mars_tracker.sparse_association import (DENSE_PAIR_LIMIT, assign_pairs, gated_pairs,
                                             learned_pair_appearance_scale, overlap_pairs)
from mars_tracker.ego_motion import MotionPrior, expected_image_velocity, robust_common_velocity
from mars_core.tracks import STATUS_NEW, STATUS_REMOVED, STATUS_TRACKED, TrackSnapshot, TrackUpdate
from mars_tracker.score_scale import SAMPLE_FROM_HIT, SAMPLES_PER_TRACK, ScoreScale
from mars_tracker.track_kernels import age_unmatched, complete_border_rows, record_matches, relax_lost_velocities
from mars_tracker.track_table import TrackTable

_NS = 1e-9
_MAX_VIRTUAL_STEPS = 3
_OC_MIN_MISSES = 4
_EGO_REFRESH_S = 0.1
_APPEARANCE_SCALE_EVERY = 5
# Below this ego image speed (px/s) the robot stands still and the ego direction is noise.
_STILL_EGO_SPEED = 1.0


def _normalise_rows(v: np.ndarray) -> np.ndarray:
    norm = np.sqrt((v * v).sum(axis=1, keepdims=True))
    return v / np.maximum(norm, 1e-12)


class CameraTracker:
    """Tracks the detections of ONE camera. Not thread-safe: call update() from one thread per camera."""

    def __init__(self, config: Optional[TrackerConfig] = None, feature_model_id: Optional[str] = None,
                 feature_dim: Optional[int] = None, scorer: Optional[AssociationScorer] = None,
                 camera_model: Optional[CameraModel] = None, dense_pair_limit: int = DENSE_PAIR_LIMIT) -> None:
        self.config = config if config is not None else TrackerConfig()
        if (feature_model_id is None) != (feature_dim is None):
            raise ValueError("give both feature_model_id and feature_dim, or neither (then the first frame with "
                             "features sets them)")
        if feature_dim is not None and feature_dim <= 0:
            raise ValueError(f"feature_dim must be positive, got {feature_dim}")
        self.feature_model_id = feature_model_id
        self.feature_dim = feature_dim
        self._empty: Tuple[int, TrackSnapshot] = (-1, TrackSnapshot.empty())
        self.scorer: AssociationScorer = scorer if scorer is not None else default_scorer(self.config)
        self._owns_scorer = scorer is None  # reconfigure() rebuilds only the default scorer
        self.camera_model = camera_model
        # Stages with more (track, detection) pairs than this associate on gated pairs only (no T x D arrays).
        self.dense_pair_limit = int(dense_pair_limit)
        c = self.config
        self._kalman = BoxKalmanModel(c.measurement_noise, c.size_measurement_noise, c.acceleration_noise,
                                      c.size_change_noise, c.initial_velocity_std)
        self._tracks = TrackTable(feature_dim or 0)
        self._next_id = 1
        self.camera_name: Optional[str] = None
        self.confirmed_count = 0
        self.line_count = 0
        self.reset_count = 0      # times the camera's state was dropped because time went backwards
        self.warning_count = 0
        self._last_stamp_ns: Optional[int] = None
        self._s_inv = np.zeros((0, 4, 4))     # inverse innovation covariances of this frame's predictions
        self._unit_features = np.zeros((0, 0))  # this frame's features, L2-normalised
        self._det_xywh = np.zeros((0, 4))       # this frame's boxes, centre/size, float64
        self._global_velocity: Optional[np.ndarray] = None
        self._global_velocity_ns = 0
        self._ego_attempt_ns = -(1 << 62)
        self._ego_mode = "none"
        self._appearance_scale: Optional[float] = None
        self._motion_only_said = False
        self.score_scale = ScoreScale(c.reference_flower_score, c.adapt_score_scale)
        self._raw_scores = np.zeros(0, np.float32)   # this frame's scores as the detector gave them

    # ------------------------------------------------------------------ public API
    def reset(self, clear_counts: bool = False) -> TrackSnapshot:
        """Drop every track (returned as REMOVED) and the time base; counts survive unless clear_counts.

        Track ids keep increasing so that an id is never reused by this tracker.
        """
        removed = self._snapshot(removed=True)
        self._tracks.clear()
        self._last_stamp_ns = None
        self._global_velocity = None
        self._ego_attempt_ns = -(1 << 62)
        self._ego_mode = "none"
        if clear_counts:
            self.confirmed_count = 0
            self.line_count = 0
        return removed

    def reconfigure(self, config: TrackerConfig) -> None:
        """Use config from the next update() on (a live parameter change, between frames); tracks and counts
        are kept. The box filter's noise model and the default scorer are rebuilt from it (a scorer given to
        the constructor is the caller's and stays)."""
        self.config = config
        self._kalman = BoxKalmanModel(config.measurement_noise, config.size_measurement_noise,
                                      config.acceleration_noise, config.size_change_noise,
                                      config.initial_velocity_std)
        if self._owns_scorer:
            self.scorer = default_scorer(config)
        self.score_scale.reconfigure(config.reference_flower_score, config.adapt_score_scale)

    @property
    def count(self) -> int:
        """The count to publish: line_count with a counting line, else confirmed_count."""
        return self.line_count if self.config.counting_line else self.confirmed_count

    @property
    def association(self) -> str:
        """What the association uses, for logs and diagnostics: appearance + motion, or motion only."""
        if self.feature_model_id is not None:
            return f"motion + appearance ({self.feature_dim}-d features of {self.feature_model_id})"
        return "motion only (the detections carry no appearance features)" if self._motion_only_said \
            else "not known yet (no detections seen)"

    @property
    def track_count(self) -> int:
        """Live tracks (any status but REMOVED)."""
        return len(self._tracks)

    def update(self, frame: DetectionFrame, motion_prior: Optional[MotionPrior] = None) -> TrackUpdate:
        """Process one frame: predict to its stamp, associate, update, start and end tracks, count."""
        self._check_frame(frame, motion_prior)
        warnings: List[str] = []
        removed_parts: List[TrackSnapshot] = []
        was_reset = False
        if self._last_stamp_ns is not None and frame.stamp_ns <= self._last_stamp_ns:
            self.warning_count += 1
            if frame.stamp_ns == self._last_stamp_ns:
                warnings.append(f"camera '{frame.camera_name}': frame {frame.frame_number} repeats stamp "
                                f"{frame.stamp_ns} ns; ignored")
                return self._make_update(frame, self._empty_snapshot(), warnings, False)
            warnings.append(f"camera '{frame.camera_name}': stamp went backwards ({frame.stamp_ns} ns < "
                            f"{self._last_stamp_ns} ns, frame {frame.frame_number}; bag loop or reordered "
                            f"messages): tracks reset, counts kept")
            removed_parts.append(self.reset())
            self.reset_count += 1
            was_reset = True
        dt = 0.0 if self._last_stamp_ns is None else (frame.stamp_ns - self._last_stamp_ns) * _NS
        self._last_stamp_ns = frame.stamp_ns
        self._lock_features(frame)
        self._raw_scores = frame.detections.scores
        if self.score_scale.shift_logit != 0.0:   # every threshold below then reads the reference scale
            frame = replace(frame, detections=replace(frame.detections,
                                                      scores=self.score_scale.calibrate(self._raw_scores)))
        det = frame.detections
        if det.features is None and len(det) and self.feature_model_id is None and not self._motion_only_said:
            # Said once: a plain export (no feature output) is a supported way to run, not a fault per frame.
            self._motion_only_said = True
            warnings.append(f"camera '{frame.camera_name}': the detections carry no appearance features "
                            f"(a model without a feature output): associating on motion only")
        self._det_xywh = det.xywh.astype(np.float64)
        self._unit_features = _normalise_rows(det.features.astype(np.float64)) if det.features is not None \
            else np.zeros((len(det), 0))

        self._apply_ego_motion(frame, motion_prior)
        t = self._tracks
        if dt != 0.0 and len(t):
            self._kalman.predict_into(t["x"], t["p"], dt, t["x"], t["p"])   # in place: no new arrays
        if dt > 0:
            t["age"] += np.uint32(1)
            self._relax_lost_motion(dt, frame.stamp_ns)
        t["detection_index"][:] = -1

        matched_rows, matched_cols = self._associate(frame)
        self._update_matched(frame, matched_rows, matched_cols)
        removed_parts.append(self._end_unmatched(frame, matched_rows))
        self._start_tracks(frame, matched_cols, motion_prior)
        if motion_prior is None and self.config.estimate_ego_motion \
                and (frame.stamp_ns - self._ego_attempt_ns) * _NS >= _EGO_REFRESH_S:
            self._estimate_ego_motion(frame)
        removed = removed_parts[0] if len(removed_parts) == 1 else TrackSnapshot.concat(removed_parts)
        return self._make_update(frame, removed, warnings, was_reset)

    # ------------------------------------------------------------------ checks
    def _check_frame(self, frame: DetectionFrame, motion_prior: Optional[MotionPrior]) -> None:
        if self.camera_name is None:
            self.camera_name = frame.camera_name
        elif frame.camera_name != self.camera_name:
            raise ValueError(f"CameraTracker of camera '{self.camera_name}' got a frame of camera "
                             f"'{frame.camera_name}' (frame {frame.frame_number}); use one tracker per camera")
        if motion_prior is not None and self.camera_model is None:
            raise ValueError(f"camera '{frame.camera_name}': a motion prior needs the camera model; pass "
                             f"camera_model= to CameraTracker")
        det = frame.detections
        if det.features is not None and self.feature_model_id is not None:
            try:
                check_compatible(self.feature_model_id, int(self.feature_dim or 0), det.feature_model_id,
                                 det.feature_dim)
            except FeatureMismatchError as err:
                raise FeatureMismatchError(f"camera '{frame.camera_name}' frame {frame.frame_number}: {err}") \
                    from None
        if det.features is not None and not np.isfinite(det.features).all():
            raise ValueError(f"camera '{frame.camera_name}' frame {frame.frame_number}: features contain NaN/inf")
        if len(det) and not np.isfinite(det.xyxy).all():
            raise ValueError(f"camera '{frame.camera_name}' frame {frame.frame_number}: boxes contain NaN/inf")

    def _lock_features(self, frame: DetectionFrame) -> None:
        det = frame.detections
        if det.features is not None and self.feature_model_id is None:
            self.feature_model_id = det.feature_model_id
            self.feature_dim = det.feature_dim
        if self.feature_dim and self._tracks.feature_dim != self.feature_dim:
            self._tracks.set_feature_dim(self.feature_dim)

    # ------------------------------------------------------------------ ego-motion
    def _global_velocity_now(self, stamp_ns: int) -> Optional[np.ndarray]:
        if self._global_velocity is None:
            return None
        if (stamp_ns - self._global_velocity_ns) * _NS > self.config.max_lost_seconds:
            return None
        return self._global_velocity

    def _apply_ego_motion(self, frame: DetectionFrame, prior: Optional[MotionPrior]) -> None:
        """Fold the change of the prior's ego image velocity since the last frame into the tracks' velocities.

        Only the odometry prior is folded into existing tracks: doing the same with the image-based estimate fed
        its frame-to-frame noise into lost tracks and cost ID switches on the simulated fields (see
        benchmarks/tracker_field_accuracy.py); the estimate seeds the velocity of new tracks instead.
        """
        t = self._tracks
        if prior is None:
            self._ego_mode = "none"
            return
        ego = expected_image_velocity(self.camera_model, prior, t["x"][:, 0:2])  # type: ignore[arg-type]
        ego = np.where(np.isfinite(ego).all(axis=1)[:, None], ego, t["ego_velocity"])
        if self._ego_mode == "prior":
            t["x"][:, 4:6] += ego - t["ego_velocity"]
        # On the first frame with a prior only the baseline is set: the velocities already hold the motion.
        t["ego_velocity"] = ego
        self._ego_mode = "prior"

    def _relax_lost_motion(self, dt: float, stamp_ns: int) -> None:
        """Let unmatched tracks' velocities relax towards the direction of the robot's image motion.

        A flower stands still, so its image motion is the ego-motion's, scaled by its depth (parallax: a low
        flower drifts slower than the canopy plane of the prior, and a track rightly learns that). What a track
        learnt ACROSS the ego direction (e.g. a drift over the rows from a few boxes cut by the image edge) is
        noise, and extrapolating it through seconds of occlusion carried predictions away from where the flower
        came back (a double count). So, while unmatched, the velocity component along the ego-motion is kept
        and the rest decays with lost_motion_relax_seconds; sizes are left alone (perspective really changes
        them). Only means relax; the covariances keep growing as before, so the gate does not shrink.
        """
        tau = self.config.lost_motion_relax_seconds
        if tau <= 0.0 or not len(self._tracks):
            return
        if self._ego_mode == "prior":
            ego = self._tracks["ego_velocity"]
        else:
            g = self._global_velocity_now(stamp_ns)
            if g is None:
                return  # no idea of the ego direction: extrapolate as the filter says
            ego = g[None, :]
        relax_lost_velocities(np.ascontiguousarray(ego, dtype=np.float64), math.exp(-dt / tau), _STILL_EGO_SPEED,
                              self._tracks["frames_since_update"], self._tracks["x"])

    def _estimate_ego_motion(self, frame: DetectionFrame) -> None:
        """Global image velocity from this frame's matched confirmed tracks (kept, with its stamp, if valid).

        The estimate seeds new tracks and nothing else, so it is refreshed every _EGO_REFRESH_S and whenever
        new tracks are started, not on every frame.
        """
        t = self._tracks
        self._ego_attempt_ns = frame.stamp_ns
        use = (t["frames_since_update"] == 0) & t["confirmed"]
        if use.sum() < self.config.ego_min_tracks:
            return
        c = self.config
        g = robust_common_velocity(t["x"][use, 4:6], box_sizes(t["x"][use, 0:4]), c.ego_min_tracks,
                                   c.ego_inlier_fraction, c.ego_inlier_tolerance)
        if g is not None:
            self._global_velocity = g
            self._global_velocity_ns = frame.stamp_ns

    def _ego_guess(self, frame: DetectionFrame, prior: Optional[MotionPrior], centres: np.ndarray) -> np.ndarray:
        if prior is not None:
            v = expected_image_velocity(self.camera_model, prior, centres)  # type: ignore[arg-type]
            return np.where(np.isfinite(v), v, 0.0)
        g = None
        if self.config.estimate_ego_motion:
            self._estimate_ego_motion(frame)
            g = self._global_velocity_now(frame.stamp_ns)
        return np.broadcast_to(g if g is not None else np.zeros(2), (centres.shape[0], 2)).copy()

    # ------------------------------------------------------------------ association
    def _associate(self, frame: DetectionFrame) -> Tuple[np.ndarray, np.ndarray]:
        """ByteTrack's two stages; returns matched track rows and detection indices."""
        c = self.config
        t = self._tracks
        det = frame.detections
        scores = det.scores
        det_xywh = self._det_xywh
        high = np.nonzero(scores >= c.high_score_threshold)[0]
        low = np.nonzero((scores >= c.low_score_threshold) & (scores < c.high_score_threshold))[0]
        n = len(t)
        if n == 0 or (high.size == 0 and low.size == 0):
            return np.zeros(0, np.intp), np.zeros(0, np.intp)
        innovation_cov, s_inv = self._kalman.innovation_inverse(t["x"], t["p"])
        self._s_inv = s_inv
        all_rows = np.arange(n)
        # Stage 1: every track against the high-score detections, motion + appearance (pluggable scorer).
        rows1 = np.zeros(0, np.intp)
        cols1 = np.zeros(0, np.intp)
        clipped: Optional[np.ndarray] = None   # every track's clipped prediction, reused by stage 2
        if high.size and n * high.size > self.dense_pair_limit:
            pairs = gated_pairs(t, high, det_xywh, frame, innovation_cov, s_inv, self._unit_features, c,
                                self._appearance_scale)
            clipped = pairs.track_xywh
            pair_cost = getattr(self.scorer, "pair_cost", None)
            if pair_cost is None:
                raise ValueError(f"camera '{frame.camera_name}' frame {frame.frame_number}: {n} tracks x "
                                 f"{high.size} detections exceed the dense limit of {self.dense_pair_limit} "
                                 f"pairs, and scorer '{self.scorer.name}' has no pair_cost for gated pairs")
            limit = self.scorer.cost_threshold if self.scorer.cost_threshold is not None \
                else c.match_cost_threshold
            matched = assign_pairs(pairs.rows, pairs.cols, pair_cost(pairs), limit)
            rows1, cols1 = pairs.rows[matched], high[pairs.cols[matched]]
            if pairs.appearance_distance is not None and (self._appearance_scale is None
                                                          or frame.frame_number % _APPEARANCE_SCALE_EVERY == 0):
                self._appearance_scale = learned_pair_appearance_scale(self._appearance_scale, pairs, matched,
                                                                       c.min_hits)
        elif high.size:
            inputs = association_inputs(t, high, det_xywh, frame, s_inv, self._unit_features, c,
                                        self._appearance_scale)
            clipped = inputs.track_xywh
            cost = self.scorer.cost(inputs)
            limit = self.scorer.cost_threshold if self.scorer.cost_threshold is not None \
                else c.match_cost_threshold
            r, k = assign(cost, limit)
            rows1, cols1 = all_rows[r], high[k]
            # The scale drifts slowly: sampling every few frames is plenty.
            if inputs.appearance_distance is not None and (self._appearance_scale is None
                                                           or frame.frame_number % _APPEARANCE_SCALE_EVERY == 0):
                self._appearance_scale = learned_appearance_scale(self._appearance_scale, inputs, r, k,
                                                                  c.min_hits)
        # Stage 2: tracks left over against low-score detections, on box overlap only. Unconfirmed ones too
        # (tentative_low_score_matches): their confirmation mean score must see the low scores of look-alikes.
        left = np.ones(n, bool)
        left[rows1] = False
        rows_left = np.nonzero(left & (t["confirmed"] | c.tentative_low_score_matches))[0]
        rows2 = np.zeros(0, np.intp)
        cols2 = np.zeros(0, np.intp)
        if low.size and rows_left.size and rows_left.size * low.size > self.dense_pair_limit:
            predicted = clipped[rows_left] if clipped is not None \
                else clip_to_image(t["x"][rows_left, 0:4], frame.image_width, frame.image_height)
            r, k, cost = overlap_pairs(predicted, det_xywh[low], t["class_id"][rows_left], det.class_ids[low],
                                       c.match_across_classes, c.low_match_cost_threshold)
            matched = assign_pairs(r, k, cost, c.low_match_cost_threshold)
            rows2, cols2 = rows_left[r[matched]], low[k[matched]]
        elif low.size and rows_left.size:
            # ByteTrack's second stage: overlap alone (IoU >= 0.5 by default is a tighter gate than Mahalanobis).
            predicted = clipped[rows_left] if clipped is not None \
                else clip_to_image(t["x"][rows_left, 0:4], frame.image_width, frame.image_height)
            cost = overlap_cost(predicted, det_xywh[low], t["class_id"][rows_left], det.class_ids[low],
                                c.match_across_classes)
            r, k = assign(cost, c.low_match_cost_threshold)
            rows2, cols2 = rows_left[r], low[k]
        return np.concatenate([rows1, rows2]), np.concatenate([cols1, cols2])

    # ------------------------------------------------------------------ lifecycle
    def _update_matched(self, frame: DetectionFrame, rows: np.ndarray, cols: np.ndarray) -> None:
        if rows.size == 0:
            return
        t = self._tracks
        c = self.config
        det = frame.detections
        z = complete_border_boxes(det.xyxy[cols], t["x"][rows, 0:4], frame.image_width, frame.image_height)
        # A miss or two leave little drift to re-estimate; after longer gaps OC-SORT's re-update pays off.
        recovered = (t["frames_since_update"][rows] >= _OC_MIN_MISSES) & c.oc_reupdate
        if recovered.any():
            self._observation_centric_reupdate(rows[recovered], z[recovered], frame.stamp_ns)
        features = self._unit_features if det.features is not None and t.feature_dim else np.zeros((len(det), 0))
        self.confirmed_count += record_matches(
            rows, cols, z, recovered, self._s_inv, det.scores, det.class_ids, features, frame.stamp_ns,
            c.embedding_momentum, c.min_hits, c.confirm_min_mean_score, c.confirm_prior_hits, t["x"], t["p"],
            t["hits"], t["frames_since_update"], t["last_update_ns"], t["score"], t["score_sum"], t["class_id"],
            t["detection_index"], t["last_obs"], t["obs_x"], t["obs_p"], t["embedding"], t["has_embedding"],
            t["confirmed"], t["status"])
        hits = t["hits"][rows]
        sampled = (hits >= SAMPLE_FROM_HIT) & (hits < SAMPLE_FROM_HIT + SAMPLES_PER_TRACK)
        if sampled.any():
            self.score_scale.observe(self._raw_scores[cols[sampled]])
        if c.counting_line:
            self._count_line_crossings(rows)

    def _score_confirms(self, score_sum: np.ndarray, hits: np.ndarray) -> np.ndarray:
        """True where the shrunk mean detection score of a track reaches confirm_min_mean_score."""
        c = self.config
        if c.confirm_min_mean_score <= 0.0:
            return np.ones(score_sum.shape, bool)
        mean = (score_sum + 0.5 * c.confirm_prior_hits) / (hits + c.confirm_prior_hits)
        return mean >= c.confirm_min_mean_score

    def _observation_centric_reupdate(self, rows: np.ndarray, z: np.ndarray, stamp_ns: int) -> None:
        """OC-SORT: re-run the filter from the last observation along a straight virtual track to z.

        One virtual observation per frame the track missed plus the real one, equally spaced in time, at most
        _MAX_VIRTUAL_STEPS (a long gap is walked in fewer, longer steps: the filter has converged by then); all
        recovered tracks step together (rows that have finished their steps are left alone).
        """
        t = self._tracks
        steps = np.minimum(t["frames_since_update"][rows].astype(np.int64) + 1, _MAX_VIRTUAL_STEPS)
        step_dt = (stamp_ns - t["last_update_ns"][rows]) * _NS / steps
        x = t["obs_x"][rows].copy()
        p = t["obs_p"][rows].copy()
        start = t["last_obs"][rows]
        for i in range(1, int(steps.max()) + 1):
            live = steps >= i
            xs, ps = self._kalman.predict(x[live], p[live], step_dt[live])
            virtual = start[live] + (z[live] - start[live]) * (i / steps[live])[:, None]
            x[live], p[live] = self._kalman.update(xs, ps, virtual)
        t["x"][rows] = x
        t["p"][rows] = p

    def _count_line_crossings(self, rows: np.ndarray) -> None:
        t = self._tracks
        side = line_side(self.config.counting_line, t["x"][rows, 0:2])
        start = t["line_side"][rows]
        start = np.where(start == 0, side, start)
        t["line_side"][rows] = start
        hit = t["confirmed"][rows] & ~t["line_counted"][rows] & crossed(start, side)
        t["line_counted"][rows[hit]] = True
        self.line_count += int(hit.sum())

    def _end_unmatched(self, frame: DetectionFrame, matched_rows: np.ndarray) -> TrackSnapshot:
        t = self._tracks
        c = self.config
        matched = np.zeros(len(t), bool)
        matched[matched_rows] = True
        gone = np.empty(len(t), bool)
        n_gone = age_unmatched(matched, frame.stamp_ns, c.max_lost_seconds, c.max_tentative_lost_seconds,
                               float(frame.image_width), float(frame.image_height), t["x"], t["confirmed"],
                               t["frames_since_update"], t["last_update_ns"], t["status"], gone)
        if n_gone == 0:
            return self._empty_snapshot()
        removed = self._snapshot(gone, removed=True)
        t.keep(~gone)
        return removed

    def _start_tracks(self, frame: DetectionFrame, matched_cols: np.ndarray,
                      prior: Optional[MotionPrior]) -> None:
        c = self.config
        det = frame.detections
        free = np.ones(len(det), bool)
        free[matched_cols] = False
        new = np.nonzero(free & (det.scores >= c.high_score_threshold) & (det.scores >= c.new_track_score_threshold))[0]
        if new.size == 0:
            return
        xywh = self._det_xywh[new]
        velocity = self._ego_guess(frame, prior, xywh[:, 0:2])
        x, p = self._kalman.initiate(xywh, velocity)
        confirmed = (c.min_hits <= 1) & self._score_confirms(det.scores[new].astype(np.float64), np.ones(new.size))
        rows = {
            "track_id": np.arange(self._next_id, self._next_id + new.size, dtype=np.uint64),
            "x": x, "p": p, "obs_x": x, "obs_p": p, "last_obs": xywh,
            "status": np.where(confirmed, STATUS_TRACKED, STATUS_NEW).astype(np.uint8),
            "confirmed": confirmed, "hits": np.ones(new.size), "last_update_ns": np.full(new.size, frame.stamp_ns),
            "score": det.scores[new], "score_sum": det.scores[new], "class_id": det.class_ids[new], "detection_index": new,
            "ego_velocity": velocity,
        }
        if c.counting_line:
            rows["line_side"] = line_side(c.counting_line, xywh[:, 0:2])
        if det.features is not None and self._tracks.feature_dim:
            rows["embedding"] = self._unit_features[new]
            rows["has_embedding"] = np.ones(new.size, bool)
        self._next_id += new.size
        self.confirmed_count += int(confirmed.sum())
        self._tracks.append(rows, new.size)

    # ------------------------------------------------------------------ output
    def _snapshot(self, mask: Optional[np.ndarray] = None, removed: bool = False) -> TrackSnapshot:
        """The rows of `mask` (None = every live track) as an independent snapshot."""
        t = self._tracks
        if removed and mask is not None and not mask.any():
            return self._empty_snapshot()

        def column(name: str) -> np.ndarray:
            # A slice copy of every row is cheaper than a boolean gather of all-True.
            return t[name].copy() if mask is None else t[name][mask]

        x = t["x"] if mask is None else t["x"][mask]
        status = np.full(x.shape[0], STATUS_REMOVED, np.uint8) if removed else column("status")
        return TrackSnapshot(column("track_id"), status, column("confirmed"), column("age"),
                             column("hits"), column("frames_since_update"), x[:, 0:4].astype(np.float32),
                             x[:, 4:6].astype(np.float32), column("score"), column("class_id"),
                             np.full(x.shape[0], -1, np.int32) if removed else column("detection_index"),
                             t.embeddings_or_none(mask))

    def _empty_snapshot(self) -> TrackSnapshot:
        """A shared empty snapshot (most frames remove nothing; zero-length arrays cannot be written to)."""
        dim = self._tracks.feature_dim
        if self._empty[0] != dim:
            self._empty = (dim, TrackSnapshot.empty(dim))
        return self._empty[1]

    def _make_update(self, frame: DetectionFrame, removed: TrackSnapshot, warnings: List[str],
                     was_reset: bool) -> TrackUpdate:
        tracks = self._snapshot()
        return TrackUpdate(frame.camera_name, frame.stamp_ns, frame.frame_number, frame.image_width,
                           frame.image_height, tracks, removed, self.confirmed_count, self.line_count, self.count,
                           self.feature_model_id or "", tuple(warnings), was_reset)


def complete_border_boxes(det_xyxy: np.ndarray, predicted_xywh: np.ndarray, width: int, height: int) -> np.ndarray:
    """Measured boxes (N, 4 xywh) with each side cut by the image border replaced by the predicted side.

    A flower half out of the image yields a half box; feeding that to the filter as the flower's size and
    centre would drag the track off and spawn a duplicate when it re-grows.
    """
    out = np.empty((det_xyxy.shape[0], 4))
    complete_border_rows(det_xyxy, predicted_xywh, float(width), float(height), out)
    return out


def default_scorer(config: TrackerConfig) -> AssociationScorer:
    """The association scorer used when none is given (the one that won on held-out simulated fields)."""
    return HandTunedScorer(config.appearance_weight, config.adaptive_appearance, config.appearance_gap_reference,
                           config.appearance_scale_factor)


@register_warm_up
def compile_tracker_kernels() -> None:
    """Run a tracker over a tiny synthetic scene that takes every per-frame path (matches, misses, OC-SORT
    recovery, lost-track relaxation, tracks leaving the image), so each kernel is compiled or loaded once."""
    from mars_core.detections import Detections

    rng = np.random.default_rng(0)
    features = rng.normal(size=(6, 8)).astype(np.float32)
    dense, sparse = CameraTracker(), CameraTracker(dense_pair_limit=1)   # the crowded-frame path too
    for i in range(24):
        centres = np.stack([40.0 + 60.0 * np.arange(6) + 4.0 * i, np.full(6, 100.0)], axis=1)
        shown = np.ones(6, bool)
        shown[0] = not 8 <= i < 14            # one flower hidden long enough for the OC-SORT re-update
        xyxy = np.concatenate([centres - 10.0, centres + 10.0], axis=1)[shown]
        scores = np.where(np.arange(6) == 5, 0.3, 0.9)[shown]  # one low-score box for the second stage
        detections = Detections(xyxy, scores, np.zeros(int(shown.sum()), np.int32), features[shown], "warm-up")
        for tracker in (dense, sparse):
            tracker.update(DetectionFrame("warm_up", (i + 1) * 33_000_000, i, 400, 200, detections))
