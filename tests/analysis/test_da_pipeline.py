"""The general DA pipeline: closed forms, exponents, numeric fallback, honest refusals."""

import math

import numpy as np
import pytest
import sympy

from ghostsym.analysis.normal_form_numerics import NormalFormNumerics
from ghostsym.errors import NotDerivableError
from ghostsym.symbolic import da
from ghostsym.symbolic.normal_forms import NormalForm

x, r = sympy.symbols("x r", real=True)


@pytest.mark.parametrize("p", [2, 3, 4])
def test_power_normal_forms_match_math_md_section_8(p):
    d = da.analyze(NormalForm(x**p + r, x, r))
    T = d.symbols["T"]
    res = d.results
    Cp = (sympy.pi / p) / sympy.sin(sympy.pi / p)
    r_star = (Cp / T) ** sympy.Rational(p, p - 1)
    alpha = p * r_star**2 * (1 - 2 ** sympy.Rational(-p, p - 1)) / ((p - 1) * T)
    for key, want in (("r_star", r_star), ("alpha_star", alpha)):
        ratio = (res[key] / want).subs(T, 37)
        assert math.isclose(float(ratio), 1.0, rel_tol=1e-12), key
    assert res["alpha_star_exponent"] == sympy.Rational(-(3 * p - 1), p - 1)
    assert res["alpha_star_mse_exponent"] == res["alpha_star_exponent"] + 1
    assert da.results_method(d, "alpha_star") == "closed form"


def test_mirrored_field_has_ghost_on_the_negative_side():
    d = da.analyze(NormalForm(x**2 - r, x, r))
    T = d.symbols["T"]
    assert sympy.simplify(d.results["r_star"] + sympy.pi**2 / (4 * T**2)) == 0
    assert d.results["alpha_star_exponent"] == -5


@pytest.mark.parametrize(
    "field, phrase",
    [(x + r, "no ghost"), (r - x, "no ghost"), (x**2 + r - x**4, "no escape")],
)
def test_fields_without_a_ghost_are_explained(field, phrase):
    d = da.analyze(NormalForm(field, x, r))
    for key in ("r_star", "alpha_star", "alpha_star_exponent", "escape_time"):
        assert d.results[key] is None
        assert phrase in d.notes[key]
    with pytest.raises(NotDerivableError):
        NormalFormNumerics(NormalForm(field, x, r), d)


@pytest.fixture(scope="module")
def cubic():
    """x² + r + x³/10: a ghost, but no closed form (the symbolic pipeline takes ~10 s)."""
    return NormalFormNumerics(NormalForm(x**2 + r + x**3 / 10, x, r))


def test_numeric_fallback_when_no_closed_form(cubic):
    d, num = cubic.derivation, cubic
    assert da.results_method(d, "escape_time") == "quadrature"
    assert d.results["r_star"] is None and "numerically" in d.notes["r_star"]
    assert not num.closed
    T = 100.0
    vals = num.da_values(T)
    assert vals["alpha_star"].method == "numeric"
    # Self-consistency of the numbers: t_esc(r*) = T, t_esc(r_n) = 2T, alpha* formula.
    rs, rn = vals["r_star"].value, vals["point_of_no_return"].value
    assert math.isclose(num.escape_time(rs), T, rel_tol=1e-9)
    assert math.isclose(num.escape_time(rn), 2 * T, rel_tol=1e-9)
    assert math.isclose(
        vals["alpha_star"].value, (rs - rn) / vals["grad_at_r_star"].value, rel_tol=1e-12
    )
    # Small cubic term: close to the saddle-node's exponent -5, but not equal.
    assert -5.2 < vals["alpha_star_exponent"].value < -4.8


def test_quadrature_and_its_derivative_match_closed_form():
    nf = NormalForm(x**4 + r, x, r)
    num = NormalFormNumerics(nf)
    for rho in (1e-6, 1e-2, 3.0):
        assert math.isclose(num.escape_time_quad(rho), num.escape_time(rho), rel_tol=1e-9)
        h = rho * 1e-5
        fd = (num._quad(rho + h, False) - num._quad(rho - h, False)) / (2 * h)
        assert math.isclose(num._quad(rho, True), fd, rel_tol=1e-6)
        assert math.isclose(num.escape_time_drho(rho), fd, rel_tol=1e-6)


def test_generated_gradient_descent_matches_python_reference():
    """The numerics' simulator runs the closed-form gradient: a plain loop with Eq. 21."""
    from ghostsym.symbolic.canonical import derive

    nf = NormalForm(x**2 + r, x, r)
    num = NormalFormNumerics(nf, derive())
    assert num.closed_loss is not None
    T = 100.0
    rs = math.pi**2 / (4 * T**2)
    alpha = 1e-10
    run = num.simulator.train_r(10 * rs, alpha, epochs=500, gradient="analytic", T=T)
    # Slow, obviously-correct reference (Eq. 21).
    rv, ref = 10 * rs, [10 * rs]
    for _ in range(500):
        g = math.pi / (4 * rv**1.5) if rv >= rs / 4 else 0.0
        rv -= alpha * (g if rv >= rs else -g)
        ref.append(rv)
    np.testing.assert_allclose(run.r[0], ref, rtol=1e-12)
    te = math.pi / (2 * math.sqrt(10 * rs))
    assert math.isclose(run.loss[0, 0], T - te, rel_tol=1e-12)
    assert not num.at(T).trapped(run)[0]
    # The sweeps' canonical simulator (symbolic.curvature's loss) runs the very same descent.
    from ghostsym.analysis.normal_form_numerics import canonical_simulator

    same = canonical_simulator().train_r(10 * rs, alpha, epochs=500, gradient="analytic", T=T)
    np.testing.assert_array_equal(run.r, same.r)


def test_table_gradient_descent_matches_closed_form_descent():
    """The escape-time table (quadrature forced) drives the same descent as the closed form."""
    from ghostsym.analysis.normal_form_numerics import simulator_from_normal_form
    from ghostsym.symbolic.canonical import derive

    nf = NormalForm(x**2 + r, x, r)
    closed = NormalFormNumerics(nf, derive())
    quad = NormalFormNumerics(nf, derive())
    quad.closed = False  # t_esc and its derivative by quadrature
    table_sim = simulator_from_normal_form(nf, escape_time_table=quad.escape_time_table)
    T = 100.0
    rs = math.pi**2 / (4 * T**2)
    r0 = np.array([10 * rs, 5 * rs])
    alphas = np.array([2e-10, 5e-10])
    kw = dict(epochs=300, gradient="analytic", T=T, record_every=10)
    a = closed.simulator.train_r(r0, alphas, **kw)
    b = table_sim.train_r(r0, alphas, **kw)
    np.testing.assert_allclose(a.r, b.r, rtol=1e-7)
    np.testing.assert_allclose(a.loss / T, b.loss / T, rtol=1e-6, atol=1e-9)
    for rv in (0.2 * rs, 0.5 * rs, 2 * rs, 30 * rs):  # both sides of r_n and r*
        la, ga = closed.simulator.analytic_loss_and_gradient(rv, T)
        lb, gb = table_sim.analytic_loss_and_gradient(rv, T)
        assert math.isclose(la, lb, rel_tol=1e-8, abs_tol=1e-9 * T)
        assert math.isclose(ga, gb, rel_tol=1e-6, abs_tol=0.0)


def test_quadrature_descent_without_closed_form_matches_reference(cubic):
    """x² + r + x³/10 has no closed-form loss: the trainer reads the quadrature table. A plain
    loop whose gradient is a fresh quadrature of ∂t_esc/∂r at every step (Eq. 21) must follow
    the same trajectory, and the fast and slow runs must be trapped at the same epoch."""
    from scipy import integrate

    num = cubic
    assert num.closed_loss is None and not num.closed
    T = 100.0
    a = num.at(T)
    rs, rn, alpha = (a.values[k] for k in ("r_star", "point_of_no_return", "alpha_star"))

    def te_and_slope(rv):  # t_esc = ∫_0^∞ dx / f and ∂t_esc/∂r = −∫ 1/f² dx (f_r = 1)
        f = lambda s: s**2 + rv + s**3 / 10  # noqa: E731
        parts = [(0.0, 1.0), (1.0, np.inf)]
        te = sum(integrate.quad(lambda s: 1 / f(s), p, q, epsrel=1e-12)[0] for p, q in parts)
        d = sum(integrate.quad(lambda s: -1 / f(s) ** 2, p, q, epsrel=1e-12)[0] for p, q in parts)
        return te, d

    def reference(r0, lr, epochs):
        rv, out = r0, [r0]
        for _ in range(epochs):
            if rv > rn:
                te, d = te_and_slope(rv)
                rv -= lr * (-d if te < T else d)  # L = T − t_esc early, t_esc − T late
            out.append(rv)
        return np.array(out)

    # 0.5 α*: reaches r* and oscillates around it; 1.5 α*: falls into the zone (epoch 10).
    lrs = np.array([0.5, 1.5]) * alpha
    r0 = 1.5 * rs
    run = a.sim.train_r(r0, lrs, epochs=60, gradient="analytic", T=T)
    for k, lr in enumerate(lrs):
        ref = reference(r0, lr, 60)
        np.testing.assert_allclose(run.r[k], ref, rtol=1e-7)  # measured: 6e-9 at most
        assert np.array_equal(run.r[k] < rn, ref < rn)
    assert not a.trapped(run)[0] and a.trapped(run)[1]
    assert np.all(run.grad[1][run.r[1] < rn] == 0.0)


def test_checked_normal_forms_defaults_dedupe_and_refusal():
    from ghostsym.analysis.normal_form_numerics import CANONICAL_ONLY, checked_normal_forms

    forms = checked_normal_forms({"normal_forms": ["r + x**2", "x**2+r"]}, CANONICAL_ONLY)
    assert [text for text, _ in forms] == ["x**2 + r"]  # one normal form, the first text
    assert forms[0][1] is checked_normal_forms(None, CANONICAL_ONLY)[0][1]  # cached numerics
    with pytest.raises(NotDerivableError, match="no ghost"):
        checked_normal_forms({"normal_forms": ["x + r"]}, CANONICAL_ONLY)
