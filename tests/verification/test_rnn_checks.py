"""Helpers of the rank-one RNN checks (verify/fig3a_ghost_forms, fig3b_saddle_node,
ghost_timing): population thresholds, the latent trajectory, ghost classes, the timing
prediction and the bisection. No network is trained here."""

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from ghostsym.analysis.points import Ghost

ROOT = Path(__file__).resolve().parents[2]


def _module(stem):
    name = f"ghostsym_verify_{stem}"  # the name verification.discover() uses
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "verify" / f"{stem}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_latent_trajectory_is_the_networks_own():
    """The exact latent map κ ← κ + α f(κ) from κ_0 = x_0 Σn against the engine's states."""
    from ghostsym.training import build_config, init_params, simulate

    f3a = _module("fig3a_ghost_forms")
    cfg = build_config(preset="fig3a", seed=3, epochs=1)
    params = init_params(cfg.model, 3)
    params["b"] = np.linspace(-0.5, 0.5, params["b"].size)
    params["m"] = 3 * params["m"]
    states = np.asarray(simulate(cfg.model, params, cfg.task)["states"])[:, 0, :]
    kappa = f3a.latent_trajectory(params, cfg)
    assert kappa.shape == (cfg.task.steps + 1,)
    np.testing.assert_allclose(kappa, states @ params["n"], rtol=1e-10, atol=1e-12)


def _ghost(kappa_g, r_g, a_g):
    r = r_g * a_g
    return Ghost(kappa_g, r, r_g, a_g, math.pi / math.sqrt(r))


def test_ghost_classes():
    f3a = _module("fig3a_ghost_forms")
    g = _ghost(0.0, 0.25, 1.0)  # bottleneck half-width sqrt(r_g/a_g) = 0.5
    assert f3a.classify_ghost(g, np.array([-2.0, -1.0, 0.1, 2.0])) == "crossed"
    assert f3a.classify_ghost(g, np.array([0.4, 0.8, 2.0])) == "starts-inside"
    assert f3a.classify_ghost(g, np.array([0.6, 0.9, 2.0])) == "off-path"
    assert f3a.classify_ghost(g, np.array([-3.0, -2.0, -0.6])) == "off-path"


@pytest.mark.parametrize(
    "r_g, a_g, w, start",
    [(0.3, 0.05, 2.0, None), (0.3, 0.05, 2.0, -0.5), (0.1, 0.2, 1.0, None), (0.02, 0.5, 0.8, 0.1)],
)
def test_timing_prediction_against_the_normal_forms_own_euler_map(r_g, a_g, w, start):
    """Iterating κ ← κ + α(r_g + a_g(κ − κ_g)²) itself: its step count lies within the stated
    precision of D_E (no normal-form error here), and D_E is no worse than D."""
    gt = _module("ghost_timing")
    alpha, g = 0.5, _ghost(0.0, r_g, a_g)
    k = -w if start is None else start
    pred = gt.predicted_steps(g, w, k, alpha)
    n = 0
    while abs(k) <= w:
        n += 1
        k += alpha * (r_g + a_g * k * k)
    assert abs(n - pred["D_E"]) <= 1 + alpha**2 * g.r * pred["D_E"]
    assert abs(n - pred["D_E"]) <= abs(n - pred["D"]) + 1e-12
    if start is None:
        assert pred["euler_term"] == 0.0  # symmetric window: the first-order term cancels
    else:
        assert pred["euler_term"] > 0
    assert pred["bound"] == pytest.approx(1 + (0.1 / 0.9 + alpha**2 * g.r) * pred["D_E"])


def test_window_follows_the_normal_forms_accuracy():
    gt = _module("ghost_timing")
    g = _ghost(0.5, 0.2, 0.4)
    assert gt.window(lambda k: 0.2 + 0.4 * (k - 0.5) ** 2, g) == pytest.approx(gt.W_MAX)

    def cubic(k):
        return 0.2 + 0.4 * (k - 0.5) ** 2 + 0.3 * (k - 0.5) ** 3

    w = gt.window(cubic, g)
    assert 0.02 <= w < gt.W_MAX

    def worst(width):
        k = np.linspace(0.5 - width, 0.5 + width, 2001)
        return np.max(np.abs(0.2 + 0.4 * (k - 0.5) ** 2 - cubic(k)) / np.abs(cubic(k)))

    assert worst(w) <= gt.MODEL_TOL + 1e-3
    assert worst(w + 0.05) > gt.MODEL_TOL


def test_bisection_finds_the_first_epoch_and_refuses_without_one():
    f3b = _module("fig3b_saddle_node")
    epochs = list(range(0, 1001, 25))
    calls = []

    def after(e0):
        def pred(e):
            calls.append(e)
            return e >= e0

        return pred

    assert f3b.first_with(epochs, after(500)) == 500
    assert len(calls) <= 8  # bisection, not a scan of 41 epochs
    assert f3b.first_with(epochs, after(0)) == 0
    assert f3b.first_with(epochs, after(2000)) is None
