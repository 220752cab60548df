"""Tuning the tracker's count-relevant settings on labelled sequences (ROS-free core of mars-tune).

A labelled sequence is one camera's detection frames plus, for every detection, the true object behind it (-1 for
a false positive) and the camera's true count. The objective of a TrackerConfig on a set of sequences is the mean,
over sequences, of |count error| in percent plus ID_SWITCH_WEIGHT x ID switches per 100 true objects; ID switches
are counted on the detections the tracker was given (CLEAR MOT's definition: a true object whose detection is
output by a confirmed track other than the one that last output it).

The search (search_settings) is random search followed by local refinement: the start point (the defaults or
a given config), then RANDOM_SHARE of the trials drawn uniformly over the search space, then Gaussian steps
around the best point so far in the space scaled to [0, 1], the step shrinking when a round of steps does not
improve. The random phase is RANDOM_SHARE of the trials that will run: `trials`, or fewer when the time budget
allows fewer at the pace of the start point's evaluation. Proposals depend only on the seed, that number and the
results so far, so the same seed gives the same settings whenever the budget does not bind (then the number of
trials, which the result records, depends on the machine's speed). cross_validate leaves one group of
sequences out at a time (a run, or a camera when there is only one run), searches on the rest and reports the
held-out objective of the settings chosen without it.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from mars_core.detections import DetectionFrame
from mars_tracker.camera_tracker import CameraTracker
from mars_tracker.config import TrackerConfig

ID_SWITCH_WEIGHT = 0.25   # 4 ID switches per 100 true objects cost as much as 1 point of count error
RANDOM_SHARE = 0.4        # share of the trials drawn at random before the local refinement
INITIAL_STEP = 0.15       # local refinement: first step size, in units of each dimension's range
MIN_STEP = 0.02           # ... and the smallest before it restarts at INITIAL_STEP
STEPS_PER_ROUND = 6       # local steps without improvement before the step shrinks


class TuningError(ValueError):
    """Bad tuning input (a sequence, a search space, a budget); the message says which and why."""


@dataclass(frozen=True)
class SearchDimension:
    """One tuned TrackerConfig setting: its range (inclusive), integer or not, searched on a log scale or not."""

    name: str
    low: float
    high: float
    integer: bool = False
    log: bool = False

    def value(self, unit: float) -> Any:
        """The setting's value at position unit in [0, 1] of the range."""
        unit = min(max(unit, 0.0), 1.0)
        if self.log:
            v = math.exp(math.log(self.low) + unit * (math.log(self.high) - math.log(self.low)))
        else:
            v = self.low + unit * (self.high - self.low)
        return int(round(v)) if self.integer else round(v, 4)

    def unit(self, value: float) -> float:
        """The position of a value in [0, 1] of the range (clipped)."""
        if self.log:
            u = (math.log(max(value, self.low)) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        else:
            u = (value - self.low) / (self.high - self.low)
        return min(max(u, 0.0), 1.0)


# The count-relevant settings and the part of their range worth searching. A bound given as None is the
# config_field's own (TrackerConfig's metadata, the one source of truth); a given bound must lie inside it
# (checked by search_space), it only narrows an open-ended or very wide range to where counts change.
SEARCHED_SETTINGS: Tuple[Tuple[str, Optional[float], Optional[float], bool], ...] = (
    # name, low, high, log scale
    ("min_hits", None, 6, False),
    ("confirm_min_mean_score", None, 0.8, False),
    ("confirm_prior_hits", None, 4.0, False),
    ("max_lost_seconds", 0.5, 6.0, False),
    ("high_score_threshold", 0.2, 0.8, False),
    ("new_track_score_threshold", 0.2, 0.85, False),
    ("match_cost_threshold", 0.4, 0.95, False),
    ("gate_mahalanobis", 9.0, 60.0, True),
)


def search_space(names: Optional[Sequence[str]] = None) -> List[SearchDimension]:
    """The search dimensions of SEARCHED_SETTINGS (or of the named subset), bounds from TrackerConfig's metadata."""
    by_name = {f.name: f for f in fields(TrackerConfig)}
    known = [row[0] for row in SEARCHED_SETTINGS]
    wanted = list(names) if names is not None else known
    unknown = [n for n in wanted if n not in known]
    if unknown or not wanted:
        raise TuningError(f"cannot tune setting(s) {unknown or wanted}: the tunable settings are {known}")
    out = []
    for name, low, high, log in SEARCHED_SETTINGS:
        if name not in wanted:
            continue
        meta = by_name[name].metadata
        lo_meta = meta.get("minimum") if meta.get("minimum") is not None else meta.get("greater_than")
        hi_meta = meta.get("maximum") if meta.get("maximum") is not None else meta.get("less_than")
        lo = lo_meta if low is None else low
        hi = hi_meta if high is None else high
        if lo is None or hi is None:
            raise TuningError(f"{name}: its config_field has no bound and SEARCHED_SETTINGS gives none")
        if (lo_meta is not None and lo < lo_meta) or (hi_meta is not None and hi > hi_meta) or lo >= hi:
            raise TuningError(f"{name}: search range [{lo}, {hi}] is not inside the setting's range "
                              f"[{lo_meta}, {hi_meta}]")
        integer = isinstance(by_name[name].default, int) and not isinstance(by_name[name].default, bool)
        out.append(SearchDimension(name, float(lo), float(hi), integer, log))
    return out


@dataclass
class LabelledSequence:
    """One camera's detection frames in stamp order, the true object id of every detection (-1 = false
    positive), and the camera's true count. group: what cross-validation leaves out together (e.g. the run)."""

    name: str
    frames: List[DetectionFrame]
    truth_ids: List[np.ndarray]
    true_count: int
    group: str = ""

    def __post_init__(self) -> None:
        if len(self.frames) != len(self.truth_ids):
            raise TuningError(f"sequence {self.name}: {len(self.frames)} frames but {len(self.truth_ids)} truth "
                              f"id arrays")
        for frame, ids in zip(self.frames, self.truth_ids):
            if len(ids) != len(frame.detections):
                raise TuningError(f"sequence {self.name} frame {frame.frame_number}: {len(frame.detections)} "
                                  f"detections but {len(ids)} truth ids")
        if self.true_count <= 0:
            raise TuningError(f"sequence {self.name}: no true objects (true count {self.true_count}): the count "
                              f"error is not defined")
        self.group = self.group or self.name


@dataclass(frozen=True)
class SequenceScore:
    """What a TrackerConfig gave on one sequence."""

    name: str
    count: int
    true_count: int
    id_switches: int

    @property
    def count_error_pct(self) -> float:
        """Signed count error in percent of the true count."""
        return 100.0 * (self.count - self.true_count) / self.true_count

    @property
    def cost(self) -> float:
        """|count error| in percent plus ID_SWITCH_WEIGHT x ID switches per 100 true objects."""
        return abs(self.count_error_pct) + ID_SWITCH_WEIGHT * 100.0 * self.id_switches / self.true_count


def true_count_from_ids(truth_ids: Sequence[np.ndarray], min_detections: int = 2) -> int:
    """True objects detected at least min_detections times (what a camera can count: one detection cannot
    confirm a track)."""
    ids = np.concatenate([np.asarray(a, np.int64) for a in truth_ids]) if truth_ids else np.zeros(0, np.int64)
    ids = ids[ids >= 0]
    if ids.size == 0:
        return 0
    return int(np.sum(np.unique(ids, return_counts=True)[1] >= min_detections))


def id_switches(truth_ids: Sequence[np.ndarray], track_ids: Sequence[np.ndarray]) -> int:
    """ID switches: times a true object (id >= 0) is output by a track (id > 0) other than the one that last
    output it; truth_ids and track_ids are per frame, per detection (track id 0 = not output)."""
    last: Dict[int, int] = {}
    switches = 0
    for truth, tracks in zip(truth_ids, track_ids):
        for t, k in zip(np.asarray(truth).tolist(), np.asarray(tracks).tolist()):
            if t < 0 or k <= 0:
                continue
            previous = last.get(t)
            if previous is not None and previous != k:
                switches += 1
            last[t] = k
    return switches


def score_sequence(config: TrackerConfig, sequence: LabelledSequence) -> SequenceScore:
    """Track one sequence with a fresh CameraTracker and score its count and ID switches."""
    tracker = CameraTracker(config)
    output: List[np.ndarray] = []
    for frame in sequence.frames:
        tracks = tracker.update(frame).tracks
        out = np.zeros(len(frame.detections), np.int64)
        shown = tracks.confirmed & (tracks.detection_index >= 0)
        out[tracks.detection_index[shown]] = tracks.track_ids[shown]
        output.append(out)
    return SequenceScore(sequence.name, int(tracker.count), sequence.true_count,
                         id_switches(sequence.truth_ids, output))


def mean_cost(scores: Sequence[SequenceScore]) -> float:
    """The objective: the mean cost over sequences."""
    return float(np.mean([s.cost for s in scores])) if scores else float("nan")


@dataclass
class Trial:
    """One evaluated point of the search."""

    values: Dict[str, Any]
    cost: float
    scores: List[SequenceScore]


@dataclass
class SearchResult:
    """The best settings found, the start point's figures, and every trial in order."""

    best: TrackerConfig
    best_values: Dict[str, Any]
    best_cost: float
    start_cost: float
    start_scores: List[SequenceScore] = field(default_factory=list)
    best_scores: List[SequenceScore] = field(default_factory=list)
    trials: List[Trial] = field(default_factory=list)
    stopped_by: str = "trials"   # "trials" or "budget"
    planned_trials: int = 0      # trials the budget allowed at the start point's pace (at most `trials`)


def _config_with(base: TrackerConfig, values: Dict[str, Any]) -> Optional[TrackerConfig]:
    """base with values; None when the combination is invalid (e.g. low_score_threshold above the high one)."""
    try:
        return replace(base, **values)
    except ValueError:
        return None


class _Proposer:
    """Random search, then local refinement around the best point; deterministic given the seed and results."""

    def __init__(self, space: List[SearchDimension], start: Dict[str, Any], trials: int, seed: int) -> None:
        self.space = space
        self.rng = np.random.default_rng(seed)
        self.plan(trials)
        self.best_unit = np.array([d.unit(float(start[d.name])) for d in space])
        self.best_cost = math.inf
        self.step = INITIAL_STEP
        self.failures = 0
        self.proposed = 0

    def plan(self, trials: int) -> None:
        """Split the trials that will run into the random and the local phase."""
        self.random_trials = max(1, int(round(RANDOM_SHARE * (trials - 1))))

    def tell(self, unit: np.ndarray, cost: float) -> None:
        if cost < self.best_cost:
            self.best_cost, self.best_unit = cost, unit
            self.failures = 0
        elif self.proposed > self.random_trials:
            self.failures += 1
            if self.failures >= STEPS_PER_ROUND:
                self.step, self.failures = self.step / 2, 0
                if self.step < MIN_STEP:
                    self.step = INITIAL_STEP

    def ask(self) -> np.ndarray:
        self.proposed += 1
        if self.proposed <= self.random_trials:
            return self.rng.uniform(0.0, 1.0, len(self.space))
        # Move a random subset of the dimensions (about half): a full Gaussian step in 8 dimensions mostly
        # changes something that matters for the worse.
        move = self.rng.uniform(size=len(self.space)) < 0.5
        move[self.rng.integers(len(self.space))] = True
        step = np.where(move, self.rng.normal(0.0, self.step, len(self.space)), 0.0)
        return np.clip(self.best_unit + step, 0.0, 1.0)


def search_settings(sequences: Sequence[LabelledSequence], start: Optional[TrackerConfig] = None,
                    space: Optional[List[SearchDimension]] = None, trials: int = 60, budget_s: float = 180.0,
                    seed: int = 0, progress: Optional[Callable[[Trial], None]] = None) -> SearchResult:
    """Minimise mean_cost over the sequences: the start config, then random search and local refinement, up to
    `trials` evaluations or `budget_s` seconds (whichever comes first; at least the start is evaluated)."""
    if not sequences:
        raise TuningError("no sequences to tune on")
    if trials < 1:
        raise TuningError(f"trials must be at least 1, got {trials}")
    if not budget_s > 0:
        raise TuningError(f"the time budget must be positive, got {budget_s} s")
    base = start or TrackerConfig()
    space = space if space is not None else search_space()
    start_values = {d.name: getattr(base, d.name) for d in space}
    proposer = _Proposer(space, start_values, trials, seed)
    result = SearchResult(base, dict(start_values), math.inf, math.inf)
    deadline = time.monotonic() + budget_s
    seen: Dict[Tuple[Any, ...], float] = {}
    for k in range(trials):
        if k > 0 and time.monotonic() >= deadline:
            result.stopped_by = "budget"
            break
        if k == 0:
            unit, values = proposer.best_unit, dict(start_values)
        else:
            unit = proposer.ask()
            values = {d.name: d.value(u) for d, u in zip(space, unit)}
        key = tuple(values[d.name] for d in space)
        config = _config_with(base, values)
        if config is None:
            proposer.tell(unit, math.inf)
            continue
        if key in seen:  # rounding (integers) can propose a point twice: no need to track it again
            proposer.tell(unit, seen[key])
            continue
        scores = [score_sequence(config, s) for s in sequences]
        cost = mean_cost(scores)
        seen[key] = cost
        trial = Trial(values, cost, scores)
        result.trials.append(trial)
        proposer.tell(unit, cost)
        if k == 0:
            result.start_cost, result.start_scores = cost, scores
            # The trials the budget allows at the start point's pace: the random phase is its share of these,
            # so that a binding budget still leaves time for the local refinement.
            elapsed = budget_s - (deadline - time.monotonic())
            result.planned_trials = min(trials, max(2, int(budget_s / max(elapsed, 1e-6))))
            proposer.plan(result.planned_trials)
        if cost < result.best_cost:
            result.best, result.best_values, result.best_cost, result.best_scores = config, values, cost, scores
        if progress is not None:
            progress(trial)
    return result


@dataclass(frozen=True)
class HeldOutFold:
    """One cross-validation fold: the held-out group, the start config's and the tuned config's scores on it."""

    group: str
    start_scores: List[SequenceScore]
    tuned_scores: List[SequenceScore]
    tuned_values: Dict[str, Any]

    @property
    def start_cost(self) -> float:
        """The start config's objective on the held-out group."""
        return mean_cost(self.start_scores)

    @property
    def tuned_cost(self) -> float:
        """The objective, on the held-out group, of the settings chosen without it."""
        return mean_cost(self.tuned_scores)


def cv_groups(sequences: Sequence[LabelledSequence]) -> List[str]:
    """The groups cross-validation leaves out: the sequences' groups, or each sequence when there is one group."""
    groups = list(dict.fromkeys(s.group for s in sequences))
    return groups if len(groups) > 1 else [s.name for s in sequences]


def cross_validate(sequences: Sequence[LabelledSequence], start: Optional[TrackerConfig] = None,
                   space: Optional[List[SearchDimension]] = None, trials: int = 60, budget_s: float = 180.0,
                   seed: int = 0, progress: Optional[Callable[[Trial], None]] = None) -> List[HeldOutFold]:
    """Leave one group out: search on the others (budget_s split evenly over the folds), score the held-out one."""
    groups = cv_groups(sequences)
    if len(groups) < 2:
        raise TuningError("cross-validation needs at least two sequences")
    by_run = len(set(s.group for s in sequences)) > 1
    base = start or TrackerConfig()
    folds = []
    for group in groups:
        held = [s for s in sequences if (s.group if by_run else s.name) == group]
        rest = [s for s in sequences if (s.group if by_run else s.name) != group]
        found = search_settings(rest, base, space, trials, budget_s / len(groups), seed, progress)
        folds.append(HeldOutFold(group, [score_sequence(base, s) for s in held],
                                 [score_sequence(found.best, s) for s in held], found.best_values))
    return folds


def tuned_yaml_section(values: Dict[str, Any]) -> Dict[str, Any]:
    """The `tracker:` section of a robot configuration with the tuned values (plain Python types)."""
    out: Dict[str, Any] = {}
    for name, value in values.items():
        out[name] = int(value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) \
            else float(value)
    return {"tracker": out}
