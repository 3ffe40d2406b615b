"""Training r on the DA task: numba trainers against plain-Python references."""

import math

import numpy as np
import pytest

from ghostsym.analysis.normal_form_numerics import canonical_simulator, parse_simulator
from ghostsym.errors import DivergenceError, InputError
from ghostsym.numerics import optim

T = 100.0
R_STAR = math.pi**2 / (4 * T**2)


@pytest.fixture(scope="module")
def sim():
    return canonical_simulator()


def analytic_grad(r):
    """Eq. 21 as coded in docs/experiments.md §2.3 (plain Python reference)."""
    if r < R_STAR / 4:
        return 0.0
    g = math.pi / (4 * r**1.5)
    return g if r > R_STAR else -g


def reference_train(grad, r0, lr, epochs, optimizer, beta1=0.9, beta2=0.999, eps=1e-8):
    r, m, v, rs = r0, 0.0, 0.0, [r0]
    for t in range(1, epochs + 1):
        g = grad(r)
        if optimizer == "sgd":
            r -= lr * g
        elif optimizer == "momentum":
            m = beta1 * m + g
            r -= lr * m
        else:
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            r -= lr * (m / (1 - beta1**t)) / (math.sqrt(v / (1 - beta2**t)) + eps)
        rs.append(r)
    return np.array(rs)


@pytest.mark.parametrize("optimizer, lr", [("sgd", 1e-10), ("momentum", 1e-11), ("adam", 2e-5)])
def test_trainers_match_reference_analytic(sim, optimizer, lr):
    run = sim.train_r(10 * R_STAR, lr, epochs=400, optimizer=optimizer, gradient="analytic")
    ref = reference_train(analytic_grad, 10 * R_STAR, lr, 400, optimizer)
    np.testing.assert_allclose(run.r[0], ref, rtol=1e-9)
    assert run.diverged[0] == -1


@pytest.mark.parametrize("optimizer, lr", [("sgd", 2e-10), ("momentum", 2e-11), ("adam", 1e-5)])
def test_trainers_match_reference_simulated(sim, optimizer, lr):
    kw = dict(c=0.5, x_star=10.0, T=T, dt=0.1)
    run = sim.train_r(3 * R_STAR, lr, epochs=30, optimizer=optimizer, **kw)
    ref = reference_train(
        lambda v: sim.da_loss_and_gradient(v, **kw).d_r, 3 * R_STAR, lr, 30, optimizer
    )
    np.testing.assert_allclose(run.r[0], ref, rtol=1e-12)
    losses = [sim.da_loss(v, **kw) for v in ref]
    np.testing.assert_allclose(run.loss[0], losses, rtol=1e-12)


@pytest.mark.parametrize("optimizer, lr", [("sgd", 1e-10), ("momentum", 1e-11), ("adam", 2e-5)])
def test_trainer_runs_the_shared_optimizer_update(sim, optimizer, lr):
    """Bit for bit the update of ghostsym.numerics.optim (the RNN engine's), r as a 1-vector."""
    run = sim.train_r(10 * R_STAR, lr, epochs=300, optimizer=optimizer, gradient="analytic")
    theta, grad, m1, m2 = np.array([10 * R_STAR]), np.zeros(1), np.zeros(1), np.zeros(1)
    beta1 = 0.9
    ref = [theta[0]]
    for step in range(1, 301):
        grad[0] = sim.analytic_loss_and_gradient(theta[0], T)[1]
        optim.optimizer_step(
            optim.optimizer_code(optimizer), theta, grad, lr, beta1, 0.999, 1e-8, m1, m2, step
        )
        ref.append(theta[0])
    np.testing.assert_array_equal(run.r[0], ref)


def test_fig2bc_reference_numbers(sim):
    """docs/experiments.md §2.4 re-run: α = 1e-10 first below L/T = 0.1 at epoch 1534; α = 1e-9
    falls below r*/4 at epoch 198 and stays there."""
    run = sim.train_r(10 * R_STAR, [1e-10, 1e-9], epochs=3000, gradient="analytic")
    assert int(np.argmax(run.loss[0] / T < 0.1)) == 1534
    assert int(np.argmax(run.r[1] < R_STAR / 4)) == 198
    assert np.all(run.loss[1, 199:] == T)


def test_batch_equals_single_runs_and_is_deterministic(sim):
    lrs = np.logspace(-11, -9, 6)
    batch = sim.train_r(10 * R_STAR, lrs, epochs=500, gradient="analytic")
    again = sim.train_r(10 * R_STAR, lrs, epochs=500, gradient="analytic")
    np.testing.assert_array_equal(batch.r, again.r)
    for i, lr in enumerate(lrs):
        single = sim.train_r(10 * R_STAR, lr, epochs=500, gradient="analytic")
        np.testing.assert_array_equal(batch.r[i], single.r[0])


def test_record_every(sim):
    full = sim.train_r(10 * R_STAR, 1e-10, epochs=100, gradient="analytic")
    sparse = sim.train_r(10 * R_STAR, 1e-10, epochs=100, gradient="analytic", record_every=10)
    np.testing.assert_array_equal(sparse.r[0], full.r[0, ::10])
    np.testing.assert_array_equal(sparse.epochs, np.arange(0, 101, 10))


def test_divergence_is_reported_not_nan_silently(sim):
    run = sim.train_r(10 * R_STAR, [1e-10, 1e305], epochs=50, c=0.5)
    assert run.diverged[0] == -1
    assert run.diverged[1] >= 1
    e = run.diverged[1]
    assert not np.isfinite(run.r[1, e]) or not np.isfinite(run.grad[1, e])
    assert np.all(np.isnan(run.r[1, e + 1 :]))
    with pytest.raises(DivergenceError, match="1 of 2 runs diverged"):
        sim.train_r(10 * R_STAR, [1e-10, 1e305], epochs=50, c=0.5, throw=True)


def test_bad_training_input(sim):
    for name in ("lbfgs", "gd"):  # one vocabulary: "sgd", "momentum", "adam"
        with pytest.raises(InputError, match="unknown optimizer"):
            sim.train_r(1.0, 1e-3, epochs=10, optimizer=name)
    with pytest.raises(InputError):
        sim.train_r(1.0, 1e-3, epochs=10, record_every=3)
    with pytest.raises(InputError, match="analytic"):
        parse_simulator("x**4 + r").train_r(1.0, 1e-3, epochs=2, gradient="analytic")


def test_curvature_bound_symbolic():
    """λ₋ = 12T⁵/π⁴ and α* = (9/16)(2/λ₋) for x² + r; the general ratio for x⁴ + r."""
    import sympy as sp

    from ghostsym.analysis.normal_form_numerics import analyse_normal_form
    from ghostsym.symbolic.curvature import curvature_bound, curvature_from_results

    Ts = sp.Symbol("T", positive=True)
    d = curvature_bound()
    assert sp.simplify(d.results["lambda_minus"] - 12 * Ts**5 / sp.pi**4) == 0
    assert d.results["bound_ratio"] == sp.Rational(9, 16)
    a = analyse_normal_form("x**4 + r")
    cur = curvature_from_results(a.results, a.symbols)
    p = 4
    expected = (1 - sp.Integer(2) ** sp.Rational(-p, p - 1)) * sp.Rational(2 * p - 1, 2 * p)
    assert sp.simplify(cur["bound_ratio"] - expected) == 0
    # λ₋ is the second derivative of the analytic loss just below r* (numerically)
    r_star = a.values["r_star"]
    h = 1e-4 * r_star
    loss = [a.sim.analytic_loss_and_gradient(r_star * 0.99 + k * h, T)[0] for k in (-1, 0, 1)]
    lam_num = (loss[0] - 2 * loss[1] + loss[2]) / h**2
    lam_at = float(
        sp.diff(a.results["escape_time"], a.symbols["r"], 2).subs({a.symbols["r"]: 0.99 * r_star})
    )
    assert lam_num == pytest.approx(lam_at, rel=1e-3)


def test_verify_checks_run_for_a_user_normal_form(run_cli, tmp_path):
    """The curvature check runs from the CLI for a normal form given on the command line."""
    proc = run_cli(
        "verify",
        "curvature-bound",
        "--normal-form",
        "x**4 + r",
        "--out",
        tmp_path,
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "curvature-bound[r + x**4:ratio]" in proc.stdout
    assert (tmp_path / "figures" / "curvature-bound.png").exists()


@pytest.mark.parametrize("r", [0.0, -R_STAR, 1e-300, R_STAR / 8])
def test_analytic_kernels_in_the_no_learning_zone(sim, r):
    """L = T and ∂L/∂r = 0 for r <= r*/4, including r = 0 exactly (no error, no NaN)."""
    assert sim.analytic_loss_and_gradient(r, T) == (T, 0.0)
