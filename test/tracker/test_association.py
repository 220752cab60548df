"""Assignment, box geometry and the hand-tuned scorer's adaptive appearance weight."""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from mars_tracker.association import FORBIDDEN_COST, AssociationInputs, assign, iou_and_diou
from mars_tracker.association_scorers import HandTunedScorer


def test_assign_equals_scipy_on_the_acceptable_pairs() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        t, d = rng.integers(1, 9, size=2)
        cost = rng.uniform(0, 1, (t, d))
        cost[rng.uniform(size=(t, d)) < 0.4] = FORBIDDEN_COST
        limit = 0.6
        rows, cols = assign(cost, limit)
        assert np.all(cost[rows, cols] <= limit)
        assert len(set(rows)) == rows.size and len(set(cols)) == cols.size
        # Reference: scipy where leaving a row or a column unmatched costs limit / 2 (lapjv's cost_limit rule:
        # a pair is matched only when it is cheaper than leaving both of its ends alone).
        padded = np.full((t + d, t + d), limit / 2)
        padded[:t, :d] = np.where(cost <= limit, cost, 1e3)
        padded[t:, d:] = 0.0
        r, c = linear_sum_assignment(padded)
        ref = padded[r, c].sum()
        ours = cost[rows, cols].sum() + limit / 2 * ((t - rows.size) + (d - cols.size))
        assert abs(ours - ref) < 1e-9


def test_iou_and_diou_of_known_boxes() -> None:
    a = np.array([[10.0, 10.0, 10.0, 10.0]])
    b = np.array([[10.0, 10.0, 10.0, 10.0], [15.0, 10.0, 10.0, 10.0], [110.0, 10.0, 10.0, 10.0]])
    iou, diou = iou_and_diou(a, b)
    np.testing.assert_allclose(iou[0], [1.0, 1.0 / 3.0, 0.0])
    assert diou[0, 0] == 1.0 and diou[0, 1] < iou[0, 1] and -1.0 <= diou[0, 2] < 0.0


def _inputs(app: np.ndarray) -> AssociationInputs:
    boxes = np.array([[100.0, 100, 40, 40], [110.0, 100, 40, 40]])
    iou, diou = iou_and_diou(boxes, boxes)
    return AssociationInputs(np.array([1, 2], np.uint64), boxes, np.array([5, 5]), np.zeros(2), boxes,
                             np.full(2, 0.9), iou, diou, np.zeros((2, 2)), app, np.ones((2, 2), bool))


def test_appearance_counts_when_it_discriminates_and_not_among_look_alikes() -> None:
    scorer = HandTunedScorer(appearance_weight=0.5, adaptive=True, gap_reference=0.15)
    distinct = scorer.cost(_inputs(np.array([[0.05, 0.6], [0.6, 0.05]])))
    look_alike = scorer.cost(_inputs(np.array([[0.05, 0.06], [0.06, 0.05]])))
    motion_only = HandTunedScorer(appearance_weight=0.0).cost(_inputs(np.array([[0.05, 0.06], [0.06, 0.05]])))
    assert distinct[0, 1] - distinct[0, 0] > motion_only[0, 1] - motion_only[0, 0] + 0.1
    np.testing.assert_allclose(look_alike, motion_only, atol=0.02)
    # The same discrimination at a 20x smaller distance scale counts fully once the scale is known.
    small = _inputs(np.array([[0.0025, 0.03], [0.03, 0.0025]]))
    scaled = AssociationInputs(**{**small.__dict__, "appearance_scale": 0.0025})
    motion_gap = motion_only[0, 1] - motion_only[0, 0]
    assert scorer.cost(scaled)[0, 1] - scorer.cost(scaled)[0, 0] > motion_gap + 0.1
    assert abs(scorer.cost(small)[0, 1] - scorer.cost(small)[0, 0] - motion_gap) < 0.03
