"""Simulator and exact discrete adjoint of 1-D normal forms (ghostsym.numerics.normal_form)."""

import math

import numpy as np
import pytest
import sympy as sp

from ghostsym.analysis.normal_form_numerics import (
    canonical_simulator,
    normal_form_simulator,
    parse_simulator,
)
from ghostsym.errors import InputError

T = 100.0
R_STAR = math.pi**2 / (4 * T**2)


@pytest.fixture(scope="module")
def sim():
    return canonical_simulator()


@pytest.fixture(scope="module")
def quartic():
    return parse_simulator("x**4 + r")


def five_point(f, r, h):
    """Fourth-order central difference, with the step chosen among h·10^-k (k = 0..4).

    Truncation error falls and rounding error grows as the step shrinks; the estimate that
    changes least when the step is divided by 10 sits at the balance point.
    """

    def fd(step):
        return (-f(r + 2 * step) + 8 * f(r + step) - 8 * f(r - step) + f(r - 2 * step)) / (
            12 * step
        )

    estimates = [fd(h * 10.0**-k) for k in range(5)]
    changes = [abs(a - b) for a, b in zip(estimates, estimates[1:], strict=False)]
    return estimates[int(np.argmin(changes)) + 1]


def test_euler_matches_reference_recipe(sim):
    """The trajectory is exactly the paper's Euler recursion (docs/experiments.md §2.2)."""
    r = 2 * R_STAR
    xs = sim.simulate(r, T=T, dt=0.1)
    x, ref = 0.0, [0.0]
    for _ in range(2000):
        x = min(x + 0.1 * x * x + 0.1 * r, 1e6)
        ref.append(x)
    # same recursion up to the rounding order of x + dt (x² + r) vs x + dt x² + dt r
    np.testing.assert_allclose(xs, np.array(ref), rtol=1e-10, atol=0)
    assert xs.max() == 1e6  # blew up and was capped


@pytest.mark.parametrize("scheme, order", [("euler", 1), ("heun", 2), ("rk4", 4)])
def test_scheme_convergence_order(sim, scheme, order):
    """Fitted slope of log error vs log dt matches the scheme's order (x(t) = √r tan √r t)."""
    r = 0.04
    Tshort = 2.5  # x(2T = 5) = 0.2 tan(1) stays far from blow-up
    exact = math.sqrt(r) * math.tan(math.sqrt(r) * 2 * Tshort)
    dts = np.array([0.05, 0.025, 0.0125])
    errs = [abs(sim.simulate(r, T=Tshort, dt=d, scheme=scheme)[-1] - exact) for d in dts]
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert slope == pytest.approx(order, abs=0.15)


@pytest.mark.parametrize("scheme", ["euler", "heun", "rk4"])
@pytest.mark.parametrize(
    "r_over, c",
    [
        (-1.0, 0.1),  # never turns on (fixed points)
        (0.1, 1.0),  # never (no-learning zone)
        (0.5, 0.3),  # late
        (1.0, 0.1),
        (2.0, 1.0),  # early
        (10.0, 0.5),
    ],
)
def test_adjoint_matches_finite_differences(sim, scheme, r_over, c):
    r = r_over * R_STAR
    kw = dict(c=c, x_star=10.0, T=T, dt=0.1, scheme=scheme)
    g = sim.da_loss_and_gradient(r, **kw)
    assert g.loss == pytest.approx(sim.da_loss(r, **kw), rel=1e-13)
    fd_r = five_point(lambda v: sim.da_loss(v, **kw), r, 1e-3 * abs(r))
    assert g.d_r == pytest.approx(fd_r, rel=1e-6, abs=1e-9 * abs(g.loss / r))
    kw_c = {k: v for k, v in kw.items() if k != "c"}
    fd_c = five_point(lambda v: sim.da_loss(r, c=v, **kw_c), c, 1e-3 * c)
    assert g.d_c == pytest.approx(fd_c, rel=1e-6, abs=1e-9)
    kw_x = {k: v for k, v in kw.items() if k != "x_star"}
    fd_x = five_point(lambda v: sim.da_loss(r, x_star=v, **kw_x), 10.0, 1e-3)
    assert g.d_x_star == pytest.approx(fd_x, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("r_over", [0.4, 0.7, 1.5, 4.0])
def test_large_c_gradient_matches_analytic(sim, r_over):
    """Fine dt, ŷ's transition short on the scale of T: ∂L/∂r → ±π/(4 r^{3/2}) (Eq. 21)."""
    r = r_over * R_STAR
    g = sim.da_loss_and_gradient(r, c=1.0, x_star=10.0, T=T, dt=1e-3)
    loss, grad = sim.analytic_loss_and_gradient(r, T)
    assert g.d_r == pytest.approx(grad, rel=0.03)
    assert g.loss == pytest.approx(loss, abs=0.02 * T)


def test_blowup_is_capped_never_nan(sim, quartic):
    for s in (sim, quartic):
        for scheme in ("euler", "heun", "rk4"):
            xs = s.simulate(10.0, dt=0.5, scheme=scheme, cap=1e6)
            assert np.all(np.isfinite(xs)) and xs.max() == 1e6
            g = s.da_loss_and_gradient(10.0, c=1e3, dt=0.5, scheme=scheme)
            assert all(np.isfinite([g.loss, g.d_r, g.d_c, g.d_x_star]))
    # the clipped steps pass no gradient: r deep in the blow-up regime, only the
    # pre-blow-up steps contribute, which are few
    g = sim.da_loss_and_gradient(1e4, c=1.0, dt=0.1)
    assert np.isfinite(g.d_r)


def test_new_normal_form_runs_without_handwritten_numerics(quartic):
    """x⁴ + r: adjoint agrees with finite differences, Euler matches its own recursion."""
    r = 1e-7
    xs = quartic.simulate(r, dt=0.1)
    x = 0.0
    for _ in range(5):
        x = x + 0.1 * (x**4 + r)
    assert xs[5] == pytest.approx(x, rel=1e-14)
    g = quartic.da_loss_and_gradient(r, c=0.5, x_star=2.0)
    fd = five_point(lambda v: quartic.da_loss(v, c=0.5, x_star=2.0), r, 1e-3 * r)
    assert g.d_r == pytest.approx(fd, rel=1e-6)


def test_other_symbol_names():
    y, mu = sp.symbols("y mu")
    s = normal_form_simulator(y**2 + mu, y, mu)
    ref = canonical_simulator()
    assert s.da_loss(2 * R_STAR) == ref.da_loss(2 * R_STAR)


def test_bad_input():
    x, r, q = sp.symbols("x r q")
    with pytest.raises(InputError):
        normal_form_simulator(x**2 + r + q, x, r)
    with pytest.raises(InputError):
        canonical_simulator().simulate(1.0, dt=0.0)
    with pytest.raises(InputError):
        canonical_simulator().simulate(1.0, scheme="rk45")
    with pytest.raises(InputError):
        parse_simulator("x**2 + __import__('os')")


def test_deterministic(sim):
    a = sim.loss_landscape(np.linspace(-R_STAR, 2 * R_STAR, 11), [0.1, 1.0])
    b = sim.loss_landscape(np.linspace(-R_STAR, 2 * R_STAR, 11), [0.1, 1.0])
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    g = sim.da_loss_and_gradient(-R_STAR + 0.3 * R_STAR * 10 / 10, c=1.0)
    assert a["loss"].shape == (2, 11) and np.isfinite(g.loss)


def test_landscape_matches_reference_rerun(sim):
    """L/T at r/r* = 0.5, 1, 2 for c = 0.1 and 1 (docs/experiments.md §2.2 re-run values)."""
    rs = np.array([0.5, 1.0, 2.0]) * R_STAR
    loss = sim.loss_landscape(rs, [0.1, 1.0])["loss"] / T
    np.testing.assert_allclose(loss[0], [0.295, 0.0749, 0.340], atol=6e-4)
    np.testing.assert_allclose(loss[1], [0.419, 0.0044, 0.288], atol=6e-4)
