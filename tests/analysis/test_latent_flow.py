"""Root finding and ghost classification of latent flows on constructed examples."""

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from ghostsym.analysis.latent_flow import (
    RankOneFlow,
    RankTwoFlow,
    all_roots,
    analyze_rank_one,
    analyze_rank_two,
    passage_time,
    rank_two_latent,
    sign_flip_count,
)
from ghostsym.errors import InputError


def _tangent_network(u=1.0):
    """One neuron, m = 1, with a double root of f at κ0 (f(κ0) = f'(κ0) = 0)."""
    n = math.cosh(u) ** 2
    kappa0 = n * math.tanh(u)
    return np.array([1.0]), np.array([n]), np.array([u - kappa0]), kappa0


def test_all_roots_polynomial_with_close_pair_and_tangency():
    roots_true = [-3.0, 1.0, 1.0 + 1e-7]

    def g(x):
        # factored form: accurate near the close pair (expanded coefficients would not be)
        factors = [x - r for r in roots_true] + [x - 2.0, x - 2.0]
        value = np.prod(factors, axis=0)
        slope = sum(np.prod(factors[:i] + factors[i + 1 :], axis=0) for i in range(len(factors)))
        return value, slope

    # bounds of |g'|, |g''| on [-5, 5] by dense sampling times 2
    xs = np.linspace(-5, 5, 200001)
    p = np.poly1d(np.poly(roots_true)) * np.poly1d([1.0, -2.0]) ** 2
    L1 = 2 * np.max(np.abs(p.deriv()(xs)))
    L2 = 2 * np.max(np.abs(p.deriv(2)(xs)))
    roots = all_roots(g, -5.0, 5.0, L1, L2, noise=0.0)  # g is evaluated accurately
    found = [r.x for r in roots]
    assert len(found) == 4, found
    np.testing.assert_allclose(found[:3], roots_true, atol=1e-9)
    assert abs(found[3] - 2.0) < 1e-4
    assert roots[3].tangent and not any(r.tangent for r in roots[:3])


def test_exact_saddle_node_found_with_its_simple_partner():
    m, n, b, kappa0 = _tangent_network()
    res = analyze_rank_one(m, n, b)
    kinds = sorted(p.kind for p in res.fixed_points)
    assert "saddle-node" in kinds
    sn = [p for p in res.fixed_points if p.kind == "saddle-node"][0]
    assert abs(sn.kappa - kappa0) < 1e-4
    # the authors' sign-flip count misses the tangency (docs/experiments.md §13.18)
    assert res.n_fixed_points == sign_flip_count(m, n, b) + 1


@pytest.mark.parametrize("shift, expected", [(-1e-8, 3), (1e-8, 1)])
def test_near_double_root_resolved(shift, expected):
    m, n, b, kappa0 = _tangent_network()
    a = 0.5 * RankOneFlow(m, n, b).derivatives(np.array([kappa0]), 2)[2][0]
    db = shift * np.sign(a)  # f ≈ db + a(κ−κ0)²: a close pair when db·a < 0, else a ghost
    flow = RankOneFlow(m, n, b + db)
    res = analyze_rank_one(None, None, None, flow=flow)
    assert res.n_fixed_points == expected, res.fixed_points
    if expected == 1:
        assert len(res.ghosts) == 1 and abs(res.ghosts[0].kappa - kappa0) < 1e-3
    if expected == 3:
        gap = 2 * math.sqrt(-db / a)  # f ≈ db + a(κ−κ0)²
        pair = sorted(p.kappa for p in res.fixed_points if abs(p.kappa - kappa0) < 1e-2)
        assert len(pair) == 2
        assert pair[1] - pair[0] == pytest.approx(gap, rel=1e-2)
        assert {p.kind for p in res.fixed_points if p.kappa in pair} == {"stable", "unstable"}


def test_root_at_edge_of_bracket():
    # f = −κ + 5 tanh(10κ): roots 0 and ±5·tanh(50) = ±R up to rounding.
    res = analyze_rank_one([10.0], [5.0], [0.0])
    ks = [p.kappa for p in res.fixed_points]
    np.testing.assert_allclose(ks, [-5.0, 0.0, 5.0], atol=1e-9)
    assert [p.kind for p in res.fixed_points] == ["stable", "unstable", "stable"]


def test_random_networks_match_dense_sign_count():
    rng = np.random.default_rng(3)
    grid = np.linspace(-60, 60, 400_001)
    for _ in range(5):
        N = 50
        m = rng.normal(0, 2.0, N)
        n = rng.normal(0, 1.0, N)
        b = rng.normal(0, 2.0, N)
        res = analyze_rank_one(m, n, b)
        assert res.fixed_point_bound <= 60
        dense = sign_flip_count(m, n, b, grid=grid)
        assert res.n_fixed_points == dense
        f = RankOneFlow(m, n, b)
        assert np.all(np.abs(f(np.array([p.kappa for p in res.fixed_points]))) < 1e-9)
        # every critical point is a root of f'
        kc = np.array([c.kappa for c in res.critical_points])
        if kc.size:
            assert np.all(np.abs(f.derivatives(kc, 1)[1]) < 1e-9)


def test_ghost_coefficients_and_passage_time():
    m, n, b, kappa0 = _tangent_network()
    a = 0.5 * RankOneFlow(m, n, b).derivatives(np.array([kappa0]), 2)[2][0]
    db = 1e-3 * np.sign(a)  # f ≈ db + a(κ−κ0)², r = a·r_g > 0: a ghost
    res = analyze_rank_one(m, n, b + db)
    assert res.n_fixed_points == 1
    ghosts = res.ghosts
    assert len(ghosts) == 1
    g = ghosts[0]
    assert g.r_g == pytest.approx(db, rel=1e-2)
    assert g.a_g == pytest.approx(a, rel=1e-2)
    assert g.r == pytest.approx(g.a_g * g.r_g)
    assert g.passage_time == pytest.approx(math.pi / math.sqrt(g.r))
    # simulate τ dκ/dt = f through the bottleneck and compare with π/√r
    flow = RankOneFlow(m, n, b + db)
    width = 0.5  # |κ−κ0| window; outside it f is far from the quadratic bottleneck
    direction = np.sign(db)
    start = kappa0 - direction * width

    def rhs(t, y):
        return [flow(np.array([y[0]]))[0]]

    def leave(t, y):
        return y[0] - (kappa0 + direction * width)

    leave.terminal = True
    sol = solve_ivp(rhs, (0, 1e4), [start], events=leave, rtol=1e-10, atol=1e-12)
    t_window = sol.t_events[0][0]
    # the quadratic model's time over the window: (2/√r)·atan(w·√(a/r_g)) → π/√r as w√(a/r_g) → ∞
    model = 2 / math.sqrt(g.r) * math.atan(width * math.sqrt(g.a_g / g.r_g))
    assert t_window == pytest.approx(model, rel=0.05)
    assert t_window == pytest.approx(g.passage_time, rel=0.1)


def test_passage_time_rejects_non_ghost():
    with pytest.raises(InputError):
        passage_time(-1.0)


def test_bad_rank_one_input():
    with pytest.raises(InputError):
        RankOneFlow([1.0, 2.0], [1.0], [0.0])
    with pytest.raises(InputError):
        RankOneFlow([np.nan], [1.0], [0.0])


def _rank_two_flow_with(kind):
    """A 2-D latent flow F(κ) = −κ + Pφ(Mκ + b) built from decoupled neurons."""
    # Neuron 1 drives κ1 through a 1-D flow with a double-root-lifted ghost; neuron 2 relaxes κ2.
    m1, n1, b1, k0 = _tangent_network()
    a = 0.5 * RankOneFlow(m1, n1, b1).derivatives(np.array([k0]), 2)[2][0]
    db = {"ghost": 1e-2 * np.sign(a), "fixed": -1e-2 * np.sign(a)}[kind]
    M = np.array([[1.0, 0.0], [0.0, 0.5]])
    P = np.array([[n1[0], 0.0], [0.0, 0.5]])
    b = np.array([b1[0] + db, 0.0])
    return RankTwoFlow(M, P, b), k0


def test_rank_two_ghost_classified():
    flow, k0 = _rank_two_flow_with("ghost")
    res = analyze_rank_two(flow, half_width=8.0)
    kinds = [p.kind for p in res.points]
    assert kinds.count("ghost") == 1
    ghost = [p for p in res.points if p.kind == "ghost"][0]
    assert abs(ghost.x[0] - k0) < 0.05 and abs(ghost.x[1]) < 1e-8
    assert ghost.speed > 1e-4
    fps = [p for p in res.points if p.kind == "fixed-point"]
    assert len(fps) == 1 and fps[0].stability == "stable"


def test_rank_two_after_bifurcation_has_three_fixed_points():
    flow, _ = _rank_two_flow_with("fixed")
    res = analyze_rank_two(flow, half_width=8.0)
    fps = [p for p in res.points if p.kind == "fixed-point"]
    assert sorted(p.stability for p in fps) == ["saddle", "stable", "stable"]
    assert not [p for p in res.points if p.kind == "ghost"]


def test_rank_two_svd_construction_is_exact():
    rng = np.random.default_rng(0)
    N = 30
    U = rng.normal(size=(N, 2))
    V = rng.normal(size=(N, 2)) / N
    W = U @ V.T
    b = rng.normal(0, 0.1, N)
    flow = rank_two_latent(W, b)
    np.testing.assert_allclose(flow.M @ flow.P, W, atol=1e-12)
    # latent dynamics is exact: P x evolves by F(P x) when x lies in the column space of M
    kappa = np.array([0.3, -0.7])
    x = flow.M @ np.linalg.pinv(flow.P @ flow.M) @ kappa
    np.testing.assert_allclose(flow.P @ x, kappa, atol=1e-10)
    full = -x + np.tanh(W @ x + b)
    np.testing.assert_allclose(flow.P @ full, flow.field(kappa), atol=1e-10)
    # Jacobian against central differences
    h = 1e-6
    J_fd = np.column_stack(
        [(flow.field(kappa + h * e) - flow.field(kappa - h * e)) / (2 * h) for e in np.eye(2)]
    )
    np.testing.assert_allclose(flow.jacobian(kappa), J_fd, atol=1e-7)


def test_projected_delta_r_matches_small_steps():
    """Eq. 35: Δr ≈ (∇_θ r)ᵀΔθ, error O(|Δθ|²) (checked by halving the step)."""
    from ghostsym.analysis.projection import measure_step

    m1, n1, b1, k0 = _tangent_network()
    a = 0.5 * RankOneFlow(m1, n1, b1).derivatives(np.array([k0]), 2)[2][0]
    rng = np.random.default_rng(5)
    N = 8  # the tangent neuron plus weak random neurons
    m = np.concatenate([m1, rng.normal(0, 0.3, N - 1)])
    n = np.concatenate([n1, rng.normal(0, 0.1, N - 1)])
    b = np.concatenate([b1 + 0.05 * np.sign(a), rng.normal(0, 0.3, N - 1)])
    params = {"m": m, "n": n, "b": b}
    direction = {k: rng.normal(size=N) for k in params}
    errors = []
    for eps in (1e-4, 5e-5):
        new = {k: params[k] + eps * direction[k] for k in params}
        step = measure_step(params, new)
        assert step.r_before > 0
        assert step.predicted == pytest.approx(step.measured, rel=1e-2)
        errors.append(abs(step.predicted - step.measured))
    assert errors[1] < 0.4 * errors[0]  # second-order remainder: ≈ ¼ when ε halves
