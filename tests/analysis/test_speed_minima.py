"""Full-rank speed minima (Eq. 39): exact derivatives, search, classification (docs/math.md §1)."""

import math

import numpy as np
import pytest

from ghostsym.analysis.points import classify as classify_point
from ghostsym.analysis.speed_minima import (
    SpeedEnergy,
    deduplicate,
    find_speed_minima,
)


def _network_with_fixed_point(N=12, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.normal(0, 0.8 / math.sqrt(N), (N, N))
    x_star = rng.uniform(-0.6, 0.6, N)
    b = np.arctanh(x_star) - W @ x_star  # so that x* = tanh(W x* + b)
    return W, b, x_star


def _diagonal_ghost_network(lift):
    """Two decoupled neurons: neuron 1 has a tangency of −x + tanh(wx + b) lifted by ``lift``."""
    u = 0.8
    w = math.cosh(u) ** 2
    x0 = math.tanh(u)
    b1 = u - w * x0
    a = 0.5 * (-2 * math.tanh(u) / math.cosh(u) ** 2) * w**2  # ½ f''(x0)
    W = np.diag([w, 0.5])
    b = np.array([b1 + lift * np.sign(a), 0.0])  # f ≈ lift·sign(a) + a(x − x0)²: ghost if > 0
    return W, b, x0


def test_gradient_and_hvp_match_finite_differences():
    W, b, _ = _network_with_fixed_point()
    energy = SpeedEnergy(W, b)
    rng = np.random.default_rng(1)
    x = rng.normal(0, 0.5, len(b))
    v = rng.normal(size=len(b))
    h = 1e-6
    e = np.eye(len(b))
    g_fd = np.array([(energy.value(x + h * ei) - energy.value(x - h * ei)) / (2 * h) for ei in e])
    np.testing.assert_allclose(energy.gradient(x), g_fd, rtol=1e-6, atol=1e-9)
    hv_fd = (energy.gradient(x + h * v) - energy.gradient(x - h * v)) / (2 * h)
    np.testing.assert_allclose(energy.hessp(x, v), hv_fd, rtol=1e-5, atol=1e-8)
    J_fd = np.column_stack(
        [(energy.field(x + h * ei) - energy.field(x - h * ei)) / (2 * h) for ei in e]
    )
    np.testing.assert_allclose(energy.jacobian(x), J_fd, atol=1e-8)
    # the NumPy reference formulas agree with whatever evaluator is active
    ref = energy.reference
    np.testing.assert_allclose(ref.gradient(x), energy.gradient(x), atol=1e-12)
    np.testing.assert_allclose(ref.hessp(x, v), energy.hessp(x, v), atol=1e-12)
    np.testing.assert_allclose(ref.jacobian(x), energy.jacobian(x), atol=1e-12)


def test_known_fixed_point_is_found_and_classified():
    W, b, x_star = _network_with_fixed_point()
    rng = np.random.default_rng(2)
    starts = x_star + rng.normal(0, 0.05, (6, len(b)))
    points = find_speed_minima(W, b, starts)
    fps = [p for p in points if p.kind == "fixed-point"]
    assert len(fps) >= 1
    best = min(fps, key=lambda p: np.linalg.norm(p.x - x_star))
    np.testing.assert_allclose(best.x, x_star, atol=1e-7)
    J = -np.eye(len(b)) + (1 - x_star**2)[:, None] * W
    expected = "stable" if np.all(np.linalg.eigvals(J).real < 0) else "saddle"
    assert best.stability == expected
    assert best.extras["distance"] == pytest.approx(np.min(np.linalg.norm(starts - x_star, axis=1)))


def test_ghost_in_full_rank_network():
    W, b, x0 = _diagonal_ghost_network(1e-3)
    starts = np.array([[x0 - 0.3, 0.2], [x0 + 0.2, -0.1], [x0, 0.0]])
    points = find_speed_minima(W, b, starts)
    ghosts = [p for p in points if p.kind == "ghost"]
    assert len(ghosts) == 1, [(p.kind, p.x, p.speed) for p in points]
    g = ghosts[0]
    assert abs(g.x[0] - x0) < 0.05 and abs(g.x[1]) < 1e-8
    assert g.speed == pytest.approx(1e-3 / W[0, 0], rel=0.05)  # f(x0) ≈ sech²(u)·lift
    assert np.sort(np.real(g.eigenvalues))[0] == pytest.approx(-1.0 + 0.5, abs=1e-6)  # −1 + w2
    # with the opposite lift the ghost becomes a saddle-node pair: two fixed points, no ghost
    W, b, x0 = _diagonal_ghost_network(-1e-3)
    starts = np.array([[x0 - 0.06, 0.2], [x0 + 0.06, -0.1]])  # one start on each side of the pair
    points = find_speed_minima(W, b, starts)
    assert not [p for p in points if p.kind == "ghost"]
    near = [p for p in points if p.kind == "fixed-point" and abs(p.x[0] - x0) < 0.2]
    assert sorted(p.stability for p in near) == ["saddle", "stable"], [
        (p.kind, p.stability, p.x - [x0, 0], p.gradient_norm) for p in points
    ]


@pytest.mark.parametrize(
    "F, J, kind, stability",
    [
        ([0.0, 0.0, 0.0], np.diag([-1.0, -0.5, -2.0]), "fixed-point", "stable"),
        ([0.0, 0.0, 0.0], np.diag([1.0, -0.5, -2.0]), "fixed-point", "saddle"),
        ([0.0, 0.0, 0.0], np.diag([1.0, 0.5, 2.0]), "fixed-point", "unstable"),
        ([0.1, 0.0, 0.0], np.diag([1e-5, -0.5, -2.0]), "ghost", None),
        ([0.1, 0.0, 0.0], np.diag([1e-5, 0.5, -2.0]), "slow-point", None),
        ([0.1, 0.0, 0.0], np.diag([1e-5, 2e-5, -2.0]), "slow-point", None),
        ([0.1, 0.0, 0.0], np.diag([0.3, -0.5, -2.0]), "slow-point", None),
    ],
)
def test_classification_rules(F, J, kind, stability):
    p = classify_point(np.zeros(3), F, J)
    assert p.kind == kind and p.stability == stability


def test_deduplicate():
    pts = np.array([[0.0, 0.0], [1e-6, 0.0], [1.0, 0.0], [1.0, 1e-7]])
    assert deduplicate(pts, 1e-4).shape == (2, 2)
