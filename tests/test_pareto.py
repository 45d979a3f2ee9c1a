"""Pareto utilities: fronts, crowding, exact hypervolume (hand-computed cases), selection."""

import itertools

import numpy as np
import pytest

from keras_nas import pareto

MAX_MIN = ["max", "min"]


def test_non_dominated_sort_fronts():
    points = [
        [0.90, 5.0],  # 0: front 0 (most accurate)
        [0.80, 2.0],  # 1: front 0 (fastest)
        [0.85, 4.0],  # 2: front 0
        [0.80, 4.0],  # 3: dominated by 2 (and by 1) -> front 1
        [0.70, 6.0],  # 4: dominated by everything above -> front 2
        [0.85, 4.0],  # 5: equal to 2: neither dominates -> front 0
    ]
    assert pareto.non_dominated_sort(points, MAX_MIN) == [[0, 1, 2, 5], [3], [4]]
    # Flipping a direction changes the fronts.
    assert pareto.non_dominated_sort(points, ["min", "min"])[0] == [1, 4]
    assert pareto.non_dominated_sort([], MAX_MIN) == []


def test_non_dominated_sort_matches_brute_force():
    rng = np.random.default_rng(0)
    points = rng.integers(0, 5, size=(40, 3)).astype(float)
    directions = ["max", "min", "min"]
    fronts = pareto.non_dominated_sort(points, directions)
    assert sorted(itertools.chain(*fronts)) == list(range(40))
    costs = points * np.array([-1, 1, 1])
    rank = {i: r for r, front in enumerate(fronts) for i in front}
    for i, j in itertools.permutations(range(40), 2):
        if np.all(costs[i] <= costs[j]) and np.any(costs[i] < costs[j]):
            assert rank[i] < rank[j]


def test_crowding_distance():
    points = [[1.0, 4.0], [2.0, 3.0], [3.0, 1.0], [5.0, 0.0]]
    distance = pareto.crowding_distance(points)
    assert np.isinf(distance[0]) and np.isinf(distance[3])
    # Point 1: (3 - 1) / 4 in x, (4 - 1) / 4 in y. Point 2: (5 - 2) / 4 + (3 - 0) / 4.
    assert distance[1] == pytest.approx(2 / 4 + 3 / 4)
    assert distance[2] == pytest.approx(3 / 4 + 3 / 4)
    assert np.all(np.isinf(pareto.crowding_distance([[1.0, 2.0], [2.0, 1.0]])))


def test_hypervolume_2d_by_hand():
    # Minimize both, reference (4, 4): staircase of (1, 3), (2, 2), (3, 1).
    points = [[1, 3], [2, 2], [3, 1]]
    # Columns x in [1,2): height 1; [2,3): 2; [3,4): 3 -> 1 + 2 + 3 = 6.
    assert pareto.hypervolume(points, ["min", "min"], [4, 4]) == pytest.approx(6.0)
    # A dominated point and a point outside the reference change nothing.
    more = points + [[3, 3], [5, 0.5]]
    assert pareto.hypervolume(more, ["min", "min"], [4, 4]) == pytest.approx(6.0)
    # Accuracy (max) vs latency (min): (0.9, 10 ms), (0.8, 4 ms), reference (0.5, 20 ms).
    volume = pareto.hypervolume([[0.9, 10.0], [0.8, 4.0]], MAX_MIN, [0.5, 20.0])
    assert volume == pytest.approx(0.3 * 16 + 0.1 * 10)
    assert pareto.hypervolume([], MAX_MIN, [0.5, 20.0]) == 0.0


def test_hypervolume_3d_and_4d_by_hand():
    # Two boxes from the origin to (2,1,1) and (1,2,1), reference (3,3,3) minimizing:
    # volumes (3-a)(3-b)(3-c): 1*2*2 = 4 and 2*1*2 = 4, overlap (from (2,2,1)) 1*1*2 = 2.
    assert pareto.hypervolume([[2, 1, 1], [1, 2, 1]], ["min"] * 3, [3, 3, 3]) == pytest.approx(6.0)
    # Three 3D points: inclusion-exclusion by hand.
    points = [[1, 2, 3], [2, 1, 2], [3, 3, 1]]
    ref = np.array([4, 4, 4])

    def box(p):
        return float(np.prod(ref - np.asarray(p)))

    union = (
        box([1, 2, 3]) + box([2, 1, 2]) + box([3, 3, 1])
        - box([2, 2, 3]) - box([3, 3, 3]) - box([3, 3, 2])
        + box([3, 3, 3])
    )
    assert pareto.hypervolume(points, ["min"] * 3, ref) == pytest.approx(union)
    # 4D: one point is a box; maximizing a column mirrors it.
    assert pareto.hypervolume([[1, 1, 1, 1]], ["min"] * 4, [2, 3, 4, 5]) == pytest.approx(1 * 2 * 3 * 4)
    assert pareto.hypervolume([[0.9, 1, 1, 1]], ["max", "min", "min", "min"], [0.4, 2, 2, 2]) == pytest.approx(0.5)


def test_hypervolume_matches_monte_carlo():
    rng = np.random.default_rng(3)
    points = rng.uniform(0, 1, size=(8, 3))
    exact = pareto.hypervolume(points, ["min"] * 3, [1, 1, 1])
    samples = rng.uniform(0, 1, size=(200_000, 3))
    covered = np.zeros(len(samples), bool)
    for p in points:
        covered |= np.all(samples >= p, axis=1)
    assert exact == pytest.approx(covered.mean(), abs=0.01)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="reference.*2.*got 3"):
        pareto.hypervolume([[1, 2]], MAX_MIN, [0, 1, 2])
    with pytest.raises(ValueError, match="shape"):
        pareto.non_dominated_sort([[1, 2, 3]], MAX_MIN)
    with pytest.raises(ValueError, match="direction 'up'"):
        pareto.non_dominated_sort([[1, 2]], ["max", "up"])
    with pytest.raises(ValueError, match="NaN"):
        pareto.non_dominated_sort([[1, float("nan")]], MAX_MIN)


ROWS = [
    {"trial_id": "0", "status": "COMPLETED", "metrics": {"val_accuracy": 0.91}, "cost": {"latency_ms": 30.0, "flash_kb": 90}},
    {"trial_id": "1", "status": "COMPLETED", "metrics": {"val_accuracy": 0.88}, "cost": {"latency_ms": 12.0, "flash_kb": 40}},
    {"trial_id": "2", "status": "COMPLETED", "metrics": {"val_accuracy": 0.85}, "cost": {"latency_ms": 18.0, "flash_kb": 50}},
    {"trial_id": "3", "status": "COMPLETED", "metrics": {"val_accuracy": 0.80}, "cost": {"latency_ms": 5.0, "flash_kb": 20}},
    # Rejected for its cost: it would dominate everything, but constraints are hard.
    {"trial_id": "4", "status": "REJECTED", "metrics": {}, "cost": {"latency_ms": 1.0, "flash_kb": 300}},
    {"trial_id": "5", "status": "REJECTED", "metrics": {"val_accuracy": 0.99}, "cost": {"latency_ms": 1.0, "flash_kb": 1}},
]


def test_pareto_front_of_trial_rows():
    objectives = [("val_accuracy", "max"), ("latency_ms", "min")]
    front = pareto.pareto_front(ROWS, objectives)
    assert [row["trial_id"] for row in front] == ["0", "1", "3"]  # 2 is dominated by 1
    flat = [{"val_accuracy": 0.9, "latency_ms": 3.0}, {"val_accuracy": 0.8, "latency_ms": 4.0}]
    assert pareto.pareto_front(flat, objectives) == flat[:1]
    with pytest.raises(ValueError, match="Unknown metric 'latency'.*latency_ms"):
        pareto.pareto_front(ROWS, [("val_accuracy", "max"), ("latency", "min")])


def test_select_rules():
    front = pareto.pareto_front(ROWS, [("val_accuracy", "max"), ("latency_ms", "min")])
    assert pareto.select(front, {"maximize": "val_accuracy", "latency_ms": ("<=", 20)})["trial_id"] == "1"
    assert pareto.select(ROWS, {"maximize": "val_accuracy"})["trial_id"] == "0"  # rejected rows never win
    assert pareto.select(ROWS, {"minimize": "flash_kb", "val_accuracy": (">", 0.84)})["trial_id"] == "1"
    chosen = pareto.select(ROWS, lambda row: row["metrics"]["val_accuracy"] - 0.01 * row["cost"]["latency_ms"])
    assert chosen["trial_id"] == "1"  # 0.88 - 0.12 beats 0.91 - 0.30 and 0.80 - 0.05


def test_select_errors_are_clear():
    with pytest.raises(ValueError, match="No row meets the rule: latency_ms <= 2 \\(best available 5\\)"):
        pareto.select(ROWS, {"maximize": "val_accuracy", "latency_ms": ("<=", 2)})
    with pytest.raises(ValueError, match="Unknown metric 'latency'.*latency_ms"):
        pareto.select(ROWS, {"maximize": "val_accuracy", "latency": ("<=", 2)})
    with pytest.raises(ValueError, match="exactly one of 'maximize' or 'minimize'"):
        pareto.select(ROWS, {"latency_ms": ("<=", 20)})
    with pytest.raises(ValueError, match="must be \\(op, number\\)"):
        pareto.select(ROWS, {"maximize": "val_accuracy", "latency_ms": 20})
    with pytest.raises(ValueError, match="no trained row"):
        pareto.select(ROWS[4:], {"maximize": "val_accuracy"})
