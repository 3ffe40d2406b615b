"""Fig. 4 instruments on a constructed rank-two flow with a known answer.

F(κ) = −κ + Pφ(Mκ + b) with two decoupled neurons (M = I):

* κ₁: −κ₁ + 2 tanh κ₁ — bistable, stable fixed points ±κ* (κ* = 1.915…), unstable 0;
* κ₂: −κ₂ + n tanh(κ₂ + b) with n = cosh²(1), b just past the saddle-node of the tangent
  network (f = f' = 0 at κ₀ = n tanh 1): a ghost near κ₀ and one stable fixed point below.

So the plane has stable fixed points (±κ*, κ_s), a saddle (0, κ_s), ghosts (±κ*, κ_g) —
transversely stable, with the normal form of the 1-D κ₂ flow — and a slow point (0, κ_g)
that is transversely unstable.
"""

import math

import numpy as np
import pytest
from scipy import optimize

from ghostsym.analysis.latent_flow import (
    RankTwoFlow,
    analyze_rank_one,
    analyze_rank_two,
    attractor_index,
    ghost_passages,
    rank_two_latent,
    rank_two_latent_from_factors,
    speed_minima_along,
)
from ghostsym.analysis.phase_portrait import (
    Portrait,
    auto_half_width,
    plot_portraits,
    speed_map,
)
from ghostsym.errors import InputError

SHIFT = -0.01  # b past the tangency: f₂(κ₀) ≈ SHIFT < 0 and a_g < 0, so r = a_g r_g > 0


def _flow():
    n2 = math.cosh(1.0) ** 2
    kappa0 = n2 * math.tanh(1.0)
    b2 = 1.0 - kappa0 + SHIFT
    flow = RankTwoFlow(np.eye(2), np.diag([2.0, n2]), np.array([0.0, b2]))
    kstar = optimize.brentq(lambda k: -k + 2 * math.tanh(k), 1.0, 3.0)
    ks = optimize.brentq(lambda k: -k + n2 * math.tanh(k + b2), -4.0, 0.0)
    rank_one = analyze_rank_one(np.array([1.0]), np.array([n2]), np.array([b2]))
    return flow, kstar, ks, rank_one.ghosts[0], (np.array([1.0]), np.array([n2]), np.array([b2]))


@pytest.fixture(scope="module")
def constructed():
    flow, kstar, ks, ghost1d, net = _flow()
    return flow, kstar, ks, ghost1d, net, analyze_rank_two(flow, half_width=4.0, grid=161)


def _kinds(res):
    return sorted((p.stability if p.kind == "fixed-point" else p.kind) for p in res.points)


def test_fixed_points_ghosts_and_slow_point(constructed):
    flow, kstar, ks, ghost1d, _, res = constructed
    assert _kinds(res) == ["ghost", "ghost", "saddle", "slow-point", "stable", "stable"]
    stable = sorted((p.x for p in res.points if p.stability == "stable"), key=lambda x: float(x[0]))
    np.testing.assert_allclose(stable, [[-kstar, ks], [kstar, ks]], atol=1e-8)
    ghosts = sorted((p for p in res.points if p.kind == "ghost"), key=lambda p: p.x[0])
    for g, sign in zip(ghosts, (-1, 1), strict=True):
        np.testing.assert_allclose(g.x, [sign * kstar, ghost1d.kappa], atol=1e-7)
        # one zero eigenvalue, the other the (stable) κ₁ slope at ±κ*
        assert abs(np.real(g.eigenvalues[0])) < 1e-6
        assert np.real(g.eigenvalues[1]) == pytest.approx(-1 + 2 / math.cosh(kstar) ** 2)
        # normal form of the 2-D ghost = the 1-D ghost of the κ₂ flow (docs/math.md §2)
        assert g.extras["r"] == pytest.approx(ghost1d.r, rel=1e-6)
        assert g.extras["passage_time"] == pytest.approx(ghost1d.passage_time, rel=1e-6)
        assert g.extras["c0"] > 0 and g.extras["c2"] > 0
        assert abs(abs(g.extras["slow_direction"][1]) - 1) < 1e-8
    slow = [p for p in res.points if p.kind == "slow-point"][0]
    np.testing.assert_allclose(slow.x, [0.0, ghost1d.kappa], atol=1e-7)
    # every returned point is a minimum of q = ½‖F‖² (Eq. 3)
    for p in res.points:
        eig = np.asarray(p.extras["q_hessian_eigenvalues"])
        assert eig[0] >= -1e-8 * np.max(np.abs(eig))


def test_speed_saddles_are_not_slow_points(constructed, monkeypatch):
    """(κ₁ at a speed maximum of the κ₁ flow, κ_g) is a critical point of q, not a minimum:
    seeded there, Newton converges to it and the analysis files it under speed_saddles."""
    import ghostsym.analysis.search as search

    flow, kstar, ks, ghost1d, _, res = constructed
    kmax = math.acosh(math.sqrt(2.0))  # f₁' = −1 + 2 sech² κ = 0: |f₁| maximal
    axis = np.linspace(-4.0, 4.0, 161)
    seed = (int(np.argmin(np.abs(axis - kmax))), int(np.argmin(np.abs(axis - ghost1d.kappa))))
    original = search.grid_local_minima
    monkeypatch.setattr(search, "grid_local_minima", lambda speed: [*original(speed), seed])
    seeded = analyze_rank_two(flow, half_width=4.0, grid=161)
    assert _kinds(seeded) == _kinds(res)
    assert len(seeded.speed_saddles) == 1
    saddle = seeded.speed_saddles[0]
    np.testing.assert_allclose(saddle.x, [kmax, ghost1d.kappa], atol=1e-7)
    assert np.asarray(saddle.extras["q_hessian_eigenvalues"])[0] < 0


def test_second_derivatives_match_finite_differences(constructed):
    flow = constructed[0]
    rng = np.random.default_rng(1)
    M = rng.normal(size=(6, 2))
    P = rng.normal(size=(2, 6)) / 3
    flow = RankTwoFlow(M, P, rng.normal(0, 0.3, 6))
    kappa = np.array([0.2, -0.4])
    h = 1e-5
    H_fd = np.stack(
        [
            (flow.jacobian(kappa + h * e) - flow.jacobian(kappa - h * e)) / (2 * h)
            for e in np.eye(2)
        ],
        axis=-1,
    )
    np.testing.assert_allclose(flow.second(kappa), H_fd, atol=1e-8)
    q = lambda k: 0.5 * float(flow.field(k) @ flow.field(k))  # noqa: E731
    Hq_fd = np.array(
        [
            [
                (
                    q(kappa + h * (ei + ej))
                    - q(kappa + h * (ei - ej))
                    - q(kappa - h * (ei - ej))
                    + q(kappa - h * (ei + ej))
                )
                / (4 * h * h)
                for ej in np.eye(2)
            ]
            for ei in np.eye(2)
        ]
    )
    np.testing.assert_allclose(flow.energy_hessian(kappa), Hq_fd, atol=1e-5)


def test_attractors_separate_the_cues(constructed):
    flow, kstar, ks, *_ = constructed
    attractors = np.array([[kstar, ks], [-kstar, ks]])
    starts = np.array([[0.3, 0.5], [-0.3, 0.5], [2.5, -3.0], [-0.1, 3.0]])
    idx = attractor_index(flow, starts, attractors)
    assert idx.tolist() == [0, 1, 0, 1]
    # the unstable point stays put within the iterations: no attractor
    assert attractor_index(flow, np.array([[0.0, ks]]), attractors).tolist() == [-1]
    # the map is the network's Euler step
    traj = flow.latent_map(starts[0], 3, alpha=0.5)
    np.testing.assert_allclose(traj[1], starts[0] + 0.5 * flow.field(starts[0]))


def test_trajectory_slows_at_its_own_ghost_for_the_normal_form_time(constructed):
    flow, kstar, ks, ghost1d, _, res = constructed
    ghosts = [p for p in res.points if p.kind == "ghost"]
    # start right of the bistable split and above the ghost: κ₁ → +κ*, κ₂ crosses the ghost
    traj = flow.latent_map(np.array([1.0, ghost1d.kappa + 1.5]), 160, alpha=0.5)
    passes = ghost_passages(flow, traj, ghosts, alpha=0.5)
    assert len(passes) == 1
    p = passes[0]
    assert ghosts[p["ghost"]].x[0] > 0  # the ghost on the cue's side, not the mirror one
    assert p["distance"] < 0.05 * p["half_width"]
    assert p["complete_visit"]
    # normal form: π/(2α√r) steps for |s| ≤ √(c0/c2); one step of sampling slack
    assert abs(p["steps_within_half_width"] - p["normal_form_steps"]) <= 1.5
    assert p["normal_form_steps"] == pytest.approx(
        math.pi / (2 * 0.5 * math.sqrt(ghost1d.r)), rel=1e-6
    )
    # the visit's own prediction from its entry/exit slow coordinates agrees as well
    assert abs(p["visit_steps"] - p["normal_form_visit_steps"]) <= 1.5
    # a trial that ends inside the bottleneck is predicted for the part it traversed
    cut = traj[: p["t"] + 1]
    q = ghost_passages(flow, cut, ghosts, alpha=0.5)[0]
    assert not q["complete_visit"] and q["visit_steps"] < p["visit_steps"]
    assert abs(q["visit_steps"] - q["normal_form_visit_steps"]) <= 1.5
    # a trajectory that stays away from the ghosts passes none
    far = flow.latent_map(np.array([1.0, ks - 1.0]), 40, alpha=0.5)
    assert ghost_passages(flow, far, ghosts) == []


def test_speed_minima_along_a_trajectory():
    flow = RankTwoFlow(np.eye(2), np.diag([0.5, 0.5]), np.zeros(2))
    line = np.array([[-1.0, 0.0], [-0.5, 0.0], [0.0, 0.0], [0.5, 0.0], [0.2, 0.0]])
    assert speed_minima_along(flow, line).tolist() == [2, 4]


def test_rank_two_analysis_rejects_other_ranks():
    flow = RankTwoFlow(np.ones((4, 3)), np.ones((3, 4)) / 4, np.zeros(4))
    with pytest.raises(InputError):
        analyze_rank_two(flow)


def test_rank_two_latent_readout_direction():
    rng = np.random.default_rng(3)
    m, n = rng.normal(size=(20, 2)), rng.normal(size=(20, 2)) / 20
    flow = rank_two_latent(m @ n.T, rng.normal(0, 0.1, 20))
    x = rng.normal(size=20)
    np.testing.assert_allclose(flow.readout_direction(n).T @ (flow.P @ x), n.T @ x, atol=1e-12)


def test_latent_from_factors_matches_the_dense_svd():
    rng = np.random.default_rng(4)
    m, n = rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) / 30
    b = rng.normal(0, 0.1, 30)
    fast, dense = rank_two_latent_from_factors(m, n, b), rank_two_latent(m @ n.T, b)
    np.testing.assert_allclose(fast.M @ fast.P, m @ n.T, atol=1e-12)
    np.testing.assert_allclose(fast.P @ fast.P.T, np.eye(2), atol=1e-12)
    signs = np.sign(np.sum(fast.P * dense.P, axis=1))  # singular vectors up to sign
    np.testing.assert_allclose(fast.P * signs[:, None], dense.P, atol=1e-10)
    kappa = np.array([0.4, -0.2])
    np.testing.assert_allclose(fast.field(kappa * signs) * signs, dense.field(kappa), atol=1e-12)


def test_phase_portrait_figure(constructed, tmp_path):
    flow, kstar, ks, ghost1d, _, res = constructed
    axis, F, speed = speed_map(flow, 2.0, 21)
    assert speed.shape == (21, 21)
    np.testing.assert_allclose(speed[3, 7], np.linalg.norm(flow.field([axis[3], axis[7]])))
    traj = flow.latent_map(np.array([1.0, 3.0]), 40)
    h = auto_half_width(res.points, [("cue", traj)])
    assert h >= 1.25 * max(np.max(np.abs(traj)), kstar) - 1e-12
    history = {"loss": np.linspace(1, 0.1, 300), "grad_norm": np.abs(np.sin(np.arange(300)))}
    fig = plot_portraits(
        [
            Portrait(
                flow,
                res.points,
                [("cue +1", traj)],
                "constructed",
                h,
                outputs={"cue +1": (np.tanh(traj[:, 1]), 0.1 * np.ones(41), np.ones(41))},
            )
        ]
        * 2,
        history=history,
        marker_epochs=[0, 150],
        grid=61,
    )
    path = tmp_path / "portraits.png"
    fig.savefig(path, dpi=110)
    assert path.exists() and path.stat().st_size > 10_000


def _verify_module():
    import importlib.util
    import sys
    from pathlib import Path

    name = "ghostsym_verify_fig4_rank_two_dcd"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).resolve().parents[2] / "verify" / "fig4_rank_two_dcd.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_loss_drops_ignore_spikes_and_the_initial_transient():
    """Two plateaus with sharp drops at 1000 and 2500, noise, a spike with recovery, and a
    fast initial decay onto the always-0 plateau (not a learning drop)."""
    mod = _verify_module()
    rng = np.random.default_rng(0)
    e = np.arange(6000)
    level = 0.45 - 0.2 / (1 + np.exp(-(e - 1000) / 15)) - 0.2 / (1 + np.exp(-(e - 2500) / 15))
    level = level + 0.6 * np.exp(-e / 40)  # initial transient 1.05 -> 0.45
    loss = level * np.exp(rng.normal(0, 0.1, e.size))
    loss[4500:4520] = 0.4  # a spike; its recovery is not a drop
    drops, _ = mod._loss_drops(loss, 61, plateau=10 / 22)
    assert len(drops) == 2
    assert abs(drops[0] - 1000) < 60 and abs(drops[1] - 2500) < 60
    # without the plateau rule the transient is the sharpest "drop"
    assert mod._loss_drops(loss, 61)[0][0] < 200


def test_normal_form_map_steps_matches_the_passage_time():
    """u ← u + ε(1 + u²) from −1 to 1 takes ≈ π/(2ε) steps (the continuous passage: the
    Euler errors of the two halves cancel); from 0 to 1 the map lags the flow (its slope
    grows along the step) by O(1) steps."""
    mod = _verify_module()
    for eps in (0.02, 0.05, 0.1):
        full = mod.normal_form_map_steps(-1.0, 1.0, eps)
        assert abs(full - math.pi / (2 * eps)) <= 1
        half = mod.normal_form_map_steps(0.0, 1.0, eps)
        assert math.pi / (4 * eps) <= half <= math.pi / (4 * eps) + 1.5
    assert mod.normal_form_map_steps(0.5, 0.2, 0.1) == 0
    with pytest.raises(ValueError):
        mod.normal_form_map_steps(-1.0, 1.0, 0.0)


def test_visit_timing_of_a_trajectory_through_its_ghost(constructed):
    """On the network's own latent map a complete bottleneck visit takes the normal-form
    map's steps to within the one-step precision; a visit cut by the trial's end is not
    timed."""
    mod = _verify_module()
    flow, kstar, ks, ghost1d, _, res = constructed
    ghosts = [p for p in res.points if p.kind == "ghost"]
    traj = flow.latent_map(np.array([1.0, ghost1d.kappa + 1.5]), 160, alpha=0.5)
    p = ghost_passages(flow, traj, ghosts, alpha=0.5)[0]
    n, n_nf = mod.visit_timing(traj, ghosts[p["ghost"]], p["t"], 0.5)
    assert n_nf >= mod.RESOLVABLE_STEPS and abs(n - n_nf) <= mod.TIMING_PRECISION_STEPS
    assert mod.visit_timing(traj[: p["t"] + 1], ghosts[p["ghost"]], p["t"], 0.5) is None


def _dmts_module():
    import importlib.util
    import sys
    from pathlib import Path

    name = "ghostsym_verify_fig4_rank_two_dmts"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).resolve().parents[2] / "verify" / "fig4_rank_two_dmts.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_persistent_orbit_finds_a_limit_cycle_not_a_fixed_point():
    """κ' = −κ + tanh(Wκ), W = 2·[[1, −1], [1, 1]]: the origin is an unstable focus (λ = 1 ± 2i)
    and tanh bounds the flow, so orbits end on a limit cycle; with W = 0.5·I they converge."""
    mod = _dmts_module()
    cycle = RankTwoFlow(2.0 * np.array([[1.0, -1.0], [1.0, 1.0]]), np.eye(2), np.zeros(2))
    orbit = mod.persistent_orbit(cycle, np.array([[0.1, 0.0], [0.5, 0.5]]), [])
    assert orbit is not None and orbit.shape == (mod.CYCLE_TAIL, 2)
    radius = np.linalg.norm(orbit, axis=1)
    assert radius.min() > 0.2  # away from the unstable focus
    settle = RankTwoFlow(0.5 * np.eye(2), np.eye(2), np.zeros(2))
    assert mod.persistent_orbit(settle, np.array([[0.8, -0.3]]), [np.zeros(2)]) is None
    # a stable fixed point the orbit reaches is not a cycle even when not listed: it stops
    assert mod.persistent_orbit(settle, np.array([[0.8, -0.3]]), []) is None


def test_cue_blind_phase_and_learned():
    mod = _dmts_module()
    base = {"accuracy": 0.87, "rise": 0.4, "blindness": 0.02, "ghost_fraction": 0.9}
    assert mod.cue_blind(base)
    assert not mod.cue_blind({**base, "blindness": 0.3})  # the output tells the cues apart
    assert not mod.cue_blind({**base, "rise": 0.1})  # no delayed activation
    assert not mod.cue_blind({**base, "ghost_fraction": 0.5})  # no common ghost
    assert not mod.cue_blind({**base, "accuracy": 0.99})  # already learned
    hist = {"loss": np.full(200, 0.01), "accuracy": np.full(200, 0.99)}
    assert mod.learned(hist, 20 / 152) == (True, pytest.approx(0.99))
    hist = {"loss": np.full(200, 20 / 152), "accuracy": np.full(200, 0.868)}
    assert not mod.learned(hist, 20 / 152)[0]
