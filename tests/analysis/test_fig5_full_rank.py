"""Fig. 5 instruments: the full-rank speed-minimum search on networks with known structure,
exact Hessian, the saddle-of-q filter, and the Fig. 5 check's bookkeeping."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from ghostsym.analysis.points import classify as classify_point
from ghostsym.analysis.speed_minima import SpeedEnergy, find_speed_minima

N = 12
U = 0.8  # the ghost neuron's tangency at pre-activation u: w = cosh²u, x₀ = tanh u
W_SLOW = math.cosh(U) ** 2
X0 = math.tanh(U)
A_SLOW = -math.tanh(U) / math.cosh(U) ** 2 * W_SLOW**2  # ½ f₁''(x₀) < 0
LEAK_OTHERS = 0.5


def _ghost_network(lift, coupling=0.4, seed=0):
    """Neuron 0: f₀(x) = −x + tanh(w x + b₀) is tangent to zero at x₀ = tanh u for lift = 0;
    lift > 0 moves it below zero (a ghost: f₀″ < 0, so r = ½f₀″·f₀ > 0), lift < 0 above
    (a saddle-node pair of fixed points). Neurons 1..N−1 are contracting (self-weight 0.5,
    random lower-triangular couplings) and driven by neuron 0, so J is lower triangular:
    its eigenvalues are −1 + w_ii φ′(z_i), known in closed form, and the slow direction is
    neuron 0's."""
    rng = np.random.default_rng(seed)
    W = np.tril(rng.normal(0, coupling / math.sqrt(N), (N, N)), -1)
    W[np.diag_indices(N)] = LEAK_OTHERS
    W[0, :] = 0.0
    W[0, 0] = W_SLOW
    b = rng.normal(0, 0.2, N)
    b[0] = U - W_SLOW * X0 - lift  # f₀(x) = −x + tanh(w x + u − w x₀ − lift)
    return W, b


def _ghost_location(W, b, lift):
    """The exact ghost: f₀′ = 0 where w x + u − w x₀ − lift = u, i.e. at x₀ + lift/w, with
    f₀ = −lift/w there; then neurons 1.. at their (unique) fixed point given x₀ (forward
    substitution through the triangular, contracting rest)."""
    x = np.zeros(N)
    x[0] = X0 + lift / W_SLOW
    for i in range(1, N):
        xi = 0.0
        for _ in range(200):  # |∂/∂x_i tanh(0.5 x_i + …)| ≤ 0.5: a contraction
            xi = math.tanh(W[i, :i] @ x[:i] + W[i, i] * xi + b[i])
        x[i] = xi
    return x


def _autonomous_states(W, b, starts, steps=15, alpha=0.5):
    X = [starts]
    for _ in range(steps):
        X.append((1 - alpha) * X[-1] + alpha * np.tanh(X[-1] @ W.T + b))
    return np.concatenate(X)


def test_hessian_and_batch_match_finite_differences():
    W, b = _ghost_network(1e-2)
    energy = SpeedEnergy(W, b)
    rng = np.random.default_rng(3)
    x = rng.normal(0, 0.5, N)
    h = 1e-6
    H_fd = np.column_stack(
        [(energy.gradient(x + h * e) - energy.gradient(x - h * e)) / (2 * h) for e in np.eye(N)]
    )
    np.testing.assert_allclose(energy.hessian(x), H_fd, atol=1e-7)
    np.testing.assert_allclose(energy.hessian(x), energy.hessian(x).T, atol=1e-13)
    ref = energy.reference  # the NumPy reference formulas
    np.testing.assert_allclose(ref.hessian(x), energy.hessian(x), atol=1e-12)
    X = rng.normal(0, 0.5, (5, N))
    for impl in (energy, ref):
        q, G = impl.batch(X)
        np.testing.assert_allclose(q, [energy.value(r) for r in X], rtol=1e-12)
        np.testing.assert_allclose(G, [energy.gradient(r) for r in X], atol=1e-12)


def test_known_ghost_found_from_visited_states():
    lift = 5e-3
    W, b = _ghost_network(lift)
    x_ghost = _ghost_location(W, b, lift)
    rng = np.random.default_rng(4)
    starts = _autonomous_states(W, b, x_ghost + rng.normal(0, 0.3, (3, N)))
    points = find_speed_minima(W, b, starts)
    ghosts = [p for p in points if p.kind == "ghost"]
    assert len(ghosts) == 1, [(p.kind, p.speed) for p in points]
    g = ghosts[0]
    np.testing.assert_allclose(g.x, x_ghost, atol=1e-7)
    assert g.speed == pytest.approx(lift / W_SLOW, rel=1e-8)  # only neuron 0 moves there
    z = W @ x_ghost + b
    expected_eigs = np.sort(-1 + np.diag(W) / np.cosh(z) ** 2)  # triangular J
    np.testing.assert_allclose(np.sort(np.real(g.eigenvalues)), expected_eigs, atol=1e-9)
    assert np.min(np.abs(g.eigenvalues)) < 1e-10
    assert g.extras["hessian_min_eigenvalue"] > 0
    assert g.extras["basin"] >= 1 and g.extras["distance"] >= 0


def test_saddle_node_pair_and_saddles_of_q():
    """With the opposite lift, f₀ crosses zero twice: a stable fixed point and a saddle,
    and between them |f₀| has a maximum — a critical point of q with F ≠ 0 that is not a
    speed minimum and must not be reported."""
    W, b = _ghost_network(-5e-3)
    top = _ghost_location(W, b, -5e-3)  # f₀′ = 0: the maximum of |f₀| between the two roots
    assert np.linalg.norm(SpeedEnergy(W, b).gradient(top)) < 1e-12
    # without the Adam stage, Newton from there stays there: only the ∇²q ⪰ 0 test drops it
    assert find_speed_minima(W, b, top[None, :], adam_steps=0) == []
    points = find_speed_minima(W, b, top[None, :])
    assert not any(np.linalg.norm(p.x - top) < 1e-6 for p in points)
    rng = np.random.default_rng(5)
    starts = top + np.outer([-0.1, 0.1], np.eye(N)[0])  # the roots are at top ± 0.05
    starts[:, 1:] += rng.normal(0, 0.2, (2, N - 1))
    points = find_speed_minima(W, b, starts)
    assert sorted(p.stability for p in points) == ["saddle", "stable"]
    assert all(p.kind == "fixed-point" and p.speed < 1e-12 for p in points)


def test_bistable_network_two_attractors_and_a_saddle():
    """A decoupled neuron with self-weight 2 (tanh(2x) = x has roots 0, ±0.9575) makes the
    network bistable; all three fixed points are found from trajectories on both sides."""
    W = np.diag([2.0] + [0.5] * (N - 1))
    b = np.zeros(N)
    starts = _autonomous_states(W, b, np.array([[0.3] + [0.1] * (N - 1), [-0.3] + [0.0] * (N - 1)]))
    starts = np.concatenate([starts, np.zeros((1, N))])
    points = find_speed_minima(W, b, starts)
    kinds = sorted((p.kind, p.stability) for p in points)
    assert kinds == [
        ("fixed-point", "saddle"),
        ("fixed-point", "stable"),
        ("fixed-point", "stable"),
    ]
    root = 0.9575040240772687  # tanh(2r) = r
    xs = sorted(p.x[0] for p in points)
    np.testing.assert_allclose(xs, [-root, 0.0, root], atol=1e-9)


@pytest.mark.parametrize(
    "block, kind",
    [
        (np.array([[-0.3, 0.8], [-0.8, -0.3]]), "ghost"),  # complex pair, Re < 0
        (np.array([[0.2, 0.8], [-0.8, 0.2]]), "slow-point"),  # complex pair, Re > 0
    ],
)
def test_classification_with_complex_transverse_pairs(block, kind):
    J = np.zeros((3, 3))
    J[0, 0] = 1e-12
    J[1:, 1:] = block
    assert classify_point(np.zeros(3), [0.2, 0.0, 0.0], J).kind == kind


# -- the Fig. 5 check's bookkeeping -----------------------------------------------------------
def _fig5_module():
    path = Path(__file__).resolve().parents[2] / "verify" / "fig5_full_rank_speed_minima.py"
    spec = importlib.util.spec_from_file_location("fig5_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _epoch(epoch, stable, ghost_slows=()):
    return {
        "epoch": epoch,
        "counts": {"stable": stable},
        "ghosts": [{"trials_slowed": list(ghost_slows)}] if ghost_slows is not None else [],
    }


def test_bistability_then_ghost_sequence():
    f5 = _fig5_module()
    seq = f5.bistability_then_ghost
    run = {"epochs": [_epoch(10, 1, None), _epoch(200, 2, None), _epoch(1000, 1, [1])]}
    assert seq(run) == {"stable_counts": [1, 2, 1], "bistable_epoch": 200, "ghost_epoch": 1000}
    # a ghost that slows no trial does not count; nor does one before the bistable epoch
    run = {"epochs": [_epoch(10, 1, [0]), _epoch(200, 2, None), _epoch(1000, 1, [])]}
    assert seq(run)["ghost_epoch"] is None
    # already bistable at the first saved epoch: no emergence
    run = {"epochs": [_epoch(10, 2, None), _epoch(200, 2, None), _epoch(1000, 1, [1])]}
    assert seq(run)["bistable_epoch"] is None and seq(run)["ghost_epoch"] is None


def test_input_off_mask():
    f5 = _fig5_module()
    u = np.zeros((2, 5, 1))
    u[:, :2, 0] = [[1.0], [-1.0]]
    u[1, 3, 0] = 1.0
    mask = f5._input_off_mask(u)
    assert mask.shape == (2, 6)
    assert mask[0].tolist() == [False, False, True, True, True, True]
    assert mask[1].tolist() == [False, False, True, False, True, True]
