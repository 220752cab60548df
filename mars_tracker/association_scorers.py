"""Pluggable scoring of (track, detection) pairs: the hand-tuned motion + appearance cost, or a learned ONNX model."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional, Protocol, Union

import numpy as np

from mars_core.jit import kernel
from mars_core.package_files import share_file

from mars_tracker.association import (
    FORBIDDEN_COST, PAIR_FEATURE_NAMES, AssociationInputs, pair_features)
from mars_tracker.sparse_association import PairInputs, pair_appearance_gap, pair_features_of, pair_motion_cost

# The shipped learned model (trained by models/association/train_association_scorer.py).
def _default_model_path() -> Path:
    try:
        return share_file("models/association/association_scorer.onnx")
    except FileNotFoundError:
        return Path(__file__).resolve().parents[1] / "models" / "association" / "association_scorer.onnx"


# The shipped learned model, wherever the package is installed (source tree, ROS share, pip package data).
DEFAULT_MODEL_PATH = _default_model_path()


class AssociationScorer(Protocol):
    """Turns the candidate pairs of one association stage into costs in [0, 1] (FORBIDDEN_COST where not allowed).

    ``cost_threshold`` (None = use TrackerConfig.match_cost_threshold) is the largest cost that may be matched.
    ``pair_cost`` (optional) prices the gated pairs of a crowded frame (mars_tracker/sparse_association.py)
    with the same values ``cost`` gives them; a scorer without it handles frames of up to DENSE_PAIR_LIMIT pairs.
    """

    name: str
    cost_threshold: Optional[float]

    def cost(self, inputs: AssociationInputs) -> np.ndarray:
        """Cost matrix (T, D)."""
        ...


class HandTunedScorer:
    """Motion cost blended with cosine appearance distance, appearance down-weighted when it cannot discriminate.

    Appearance distances are first expressed in units of ``scale_factor`` times the camera's typical distance of
    a correct match (``AssociationInputs.appearance_scale``), so the same settings suit embeddings whose correct
    matches lie at 0.01 and ones at 0.2. For each pair the appearance weight is then
    ``appearance_weight * min(1, gap / gap_reference)``, where gap is the smaller of the row's and the column's
    distance between best and second-best appearance candidate: among look-alike flowers (all distances equal)
    the cost falls back to motion alone.
    """

    name = "hand_tuned"
    cost_threshold: Optional[float] = None

    def __init__(self, appearance_weight: float = 0.5, adaptive: bool = True, gap_reference: float = 0.15,
                 scale_factor: float = 4.0) -> None:
        self.appearance_weight = float(appearance_weight)
        self.scale_factor = float(scale_factor)
        self.adaptive = bool(adaptive)
        self.gap_reference = float(gap_reference)

    def cost(self, inputs: AssociationInputs) -> np.ndarray:
        """Cost matrix (T, D)."""
        app = inputs.appearance_distance
        if app is None or self.appearance_weight <= 0.0 or app.size == 0:
            app = np.empty((0, 0))     # motion only
        scale = self.scale_factor * inputs.appearance_scale if inputs.appearance_scale else 0.0
        out = np.empty(inputs.allowed.shape)
        _hand_tuned_cost(inputs.diou, app, inputs.allowed, self.appearance_weight, scale, self.adaptive,
                         self.gap_reference, out)
        return out

    def pair_cost(self, pairs: PairInputs) -> np.ndarray:
        """Cost (P,) of each gated pair: the value ``cost`` gives it."""
        motion = pair_motion_cost(pairs)
        cost = motion
        app = pairs.appearance_distance
        if app is not None and self.appearance_weight > 0.0 and app.size:
            if pairs.appearance_scale:
                app = app / (self.scale_factor * pairs.appearance_scale)
            has = np.isfinite(app)
            weight = np.full(app.shape, self.appearance_weight)
            if self.adaptive:
                weight *= np.minimum(1.0, pair_appearance_gap(app, pairs, has) / self.gap_reference)
            weight = np.where(has, weight, 0.0)
            cost = (1.0 - weight) * motion + weight * np.minimum(np.where(has, app, 0.0), 1.0)
        return cost


@kernel
def _hand_tuned_cost(diou: np.ndarray, app: np.ndarray, allowed: np.ndarray, weight: float, scale: float,
                     adaptive: bool, gap_reference: float, out: np.ndarray) -> None:
    """HandTunedScorer.cost into out (T, D): motion (1 - DIoU) / 2 blended with appearance (no columns: none).

    Appearance is divided by scale (0: not yet known); its weight shrinks with the pair's appearance gap, the
    smaller over its row and column of (second-best - best) distance among allowed pairs with appearance
    (a single candidate has nothing to be confused with: its gap stays inf, as np.partition gave).
    """
    n_t, n_d = allowed.shape
    with_app = app.shape[1] > 0
    # Per row (first n_t) and column (last n_d): the best and second-best allowed appearance distance.
    best = np.empty(n_t + n_d)
    second = np.empty(n_t + n_d)
    best[:] = math.inf
    second[:] = math.inf
    if with_app and adaptive:
        for i in range(n_t):
            for j in range(n_d):
                a = app[i, j] / scale if scale > 0.0 else app[i, j]
                if not (allowed[i, j] and math.isfinite(a)):
                    continue
                for line in range(2):
                    k = i if line == 0 else n_t + j
                    if a < best[k]:
                        best[k], second[k] = a, best[k]
                    elif a < second[k]:
                        second[k] = a
    for i in range(n_t):
        for j in range(n_d):
            if not allowed[i, j]:
                out[i, j] = FORBIDDEN_COST
                continue
            motion = (1.0 - diou[i, j]) * 0.5
            cost = motion
            if with_app:
                a = app[i, j] / scale if scale > 0.0 else app[i, j]
                w = 0.0
                if math.isfinite(a):
                    w = weight
                    if adaptive:
                        row_gap = math.inf if n_d < 2 else second[i] - (
                            best[i] if math.isfinite(second[i]) else 0.0)
                        col = n_t + j
                        col_gap = math.inf if n_t < 2 else second[col] - (
                            best[col] if math.isfinite(second[col]) else 0.0)
                        w = weight * min(1.0, min(row_gap, col_gap) / gap_reference)
                cost = (1.0 - w) * motion + w * min(a if math.isfinite(a) else 0.0, 1.0)
            out[i, j] = cost


class OnnxAssociationScorer:
    """A learned pair classifier (ONNX, run with onnxruntime): cost = 1 - P(same object).

    All allowed pairs of a stage are scored in ONE session.run. The model must declare the feature names it
    was trained on (metadata ``mars.pair_features``) and they must equal PAIR_FEATURE_NAMES.
    """

    name = "learned_onnx"

    def __init__(self, model_path: Union[str, Path] = DEFAULT_MODEL_PATH) -> None:
        import onnxruntime as ort  # lazy: only needed when the learned scorer is chosen

        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"association model not found: {path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1   # one core per camera; the pair batch is small
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        meta = self._session.get_modelmeta().custom_metadata_map
        names = tuple(json.loads(meta.get("mars.pair_features", "[]")))
        if names != PAIR_FEATURE_NAMES:
            raise ValueError(f"association model {path} was trained on pair features {list(names)}, this tracker "
                             f"computes {list(PAIR_FEATURE_NAMES)}: retrain it with "
                             f"models/association/train_association_scorer.py")
        self.cost_threshold: Optional[float] = float(meta["mars.cost_threshold"]) \
            if "mars.cost_threshold" in meta else None
        self._input_name = self._session.get_inputs()[0].name
        outputs = [o.name for o in self._session.get_outputs()]
        self._output_name = "probabilities" if "probabilities" in outputs else outputs[-1]
        self.model_path = path

    def cost(self, inputs: AssociationInputs) -> np.ndarray:
        """Cost matrix (T, D)."""
        out = np.full(inputs.shape, FORBIDDEN_COST)
        rows, cols = np.nonzero(inputs.allowed)
        if rows.size == 0:
            return out
        features = pair_features(inputs, rows, cols)
        probabilities = self._session.run([self._output_name], {self._input_name: features})[0]
        p_same = np.asarray(probabilities, dtype=np.float64).reshape(rows.size, -1)[:, -1]
        out[rows, cols] = 1.0 - p_same
        return out

    def pair_cost(self, pairs: PairInputs) -> np.ndarray:
        """Cost (P,) of each gated pair: 1 - P(same object), as ``cost`` gives it."""
        if pairs.rows.size == 0:
            return np.zeros(0)
        probabilities = self._session.run([self._output_name], {self._input_name: pair_features_of(pairs)})[0]
        return 1.0 - np.asarray(probabilities, dtype=np.float64).reshape(pairs.rows.size, -1)[:, -1]


def scorer_from_name(name: str, appearance_weight: float = 0.5, adaptive: bool = True,
                     gap_reference: float = 0.15, scale_factor: float = 4.0,
                     model_path: Union[str, Path, None] = None) -> AssociationScorer:
    """A scorer by name: 'hand_tuned', 'learned' (ONNX at model_path or the shipped model)."""
    if name == "hand_tuned":
        return HandTunedScorer(appearance_weight, adaptive, gap_reference, scale_factor)
    if name in ("learned", "learned_onnx"):
        return OnnxAssociationScorer(model_path if model_path is not None else DEFAULT_MODEL_PATH)
    raise ValueError(f"unknown association scorer '{name}' (choose 'hand_tuned' or 'learned')")
