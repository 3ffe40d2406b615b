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


def test_numeric_fallback_when_no_closed_form():
    nf = NormalForm(x**2 + r + x**3 / 10, x, r)
    d = da.analyze(nf)
    assert da.results_method(d, "escape_time") == "quadrature"
    assert d.results["r_star"] is None and "numerically" in d.notes["r_star"]
    num = NormalFormNumerics(nf, d)
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
    from ghostsym.symbolic.canonical import derive

    nf = NormalForm(x**2 + r, x, r)
    num = NormalFormNumerics(nf, derive())
    T = 100.0
    rs = math.pi**2 / (4 * T**2)
    alpha = 1e-10
    r_final, trapped, rec = num.descend(np.array([10 * rs]), np.array([alpha]), T, 500, 1)
    # Slow, obviously-correct reference (Eq. 21).
    rv = 10 * rs
    for _ in range(500):
        if rv <= rs / 4:
            break
        g = math.pi / (4 * rv**1.5)
        rv -= alpha * (g if rv >= rs else -g)
    assert math.isclose(r_final[0], rv, rel_tol=1e-12)
    assert trapped[0] == -1
    te = math.pi / (2 * math.sqrt(10 * rs))
    assert math.isclose(rec[0, 0], (T - te) / T, rel_tol=1e-12)


def test_table_gradient_descent_matches_closed_form_descent():
    from ghostsym.symbolic.canonical import derive

    closed = NormalFormNumerics(NormalForm(x**2 + r, x, r), derive())
    table = NormalFormNumerics(NormalForm(x**2 + r, x, r), derive())
    table.closed = False  # force the quadrature table path
    T = 100.0
    rs = math.pi**2 / (4 * T**2)
    r0 = np.array([10 * rs, 5 * rs])
    alphas = np.array([2e-10, 5e-10])
    a = closed.descend(r0, alphas, T, 300, 10)
    b = table.descend(r0, alphas, T, 300, 10)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-7)
    np.testing.assert_allclose(a[2], b[2], rtol=1e-6, atol=1e-9)
