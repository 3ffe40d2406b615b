"""The canonical model is derived (not typed): its results match the paper's formulas."""

import math

import sympy

from ghostsym.symbolic.canonical import derive
from ghostsym.symbolic.da import RESULT_KEYS


def test_canonical_results_and_symbols():
    d = derive()
    s = d.symbols
    assert {"x", "r", "t", "T", "c", "x_star"} <= set(s)
    r, T, t = s["r"], s["T"], s["t"]
    res = d.results
    assert set(RESULT_KEYS) <= set(res)
    pi = sympy.pi
    expected = {
        "escape_time": pi / (2 * sympy.sqrt(r)),
        "r_star": pi**2 / (4 * T**2),
        "point_of_no_return": pi**2 / (16 * T**2),
        "grad_at_r_star": 2 * T**3 / pi**2,
        "alpha_star": 3 * pi**4 / (32 * T**5),
        "alpha_star_mse": 3 * pi**4 / (16 * T**4),
        "alpha_star_exponent": -5,
        "alpha_star_mse_exponent": -4,
        "bifurcation_value": 0,
    }
    for key, value in expected.items():
        assert sympy.simplify(res[key] - value) == 0, key
    assert sympy.simplify(res["trajectory"] - sympy.sqrt(r) * sympy.tan(sympy.sqrt(r) * t)) == 0
    assert sympy.simplify(res["point_of_no_return"] / res["r_star"]) == sympy.Rational(1, 4)
    assert not d.notes
    # T = 100: the paper's alpha* ~ 9.13e-10.
    assert math.isclose(float(res["alpha_star"].subs(T, 100)), 9.1321e-10, rel_tol=1e-4)


def test_trajectory_solves_the_ode_and_escapes_at_t_esc():
    d = derive()
    r, t = d.symbols["r"], d.symbols["t"]
    x = d.results["trajectory"]
    assert sympy.simplify(sympy.diff(x, t) - (x**2 + r)) == 0
    assert x.subs(t, 0) == 0
    # The tangent diverges exactly at the derived escape time.
    te = d.results["escape_time"]
    assert sympy.limit(x.subs(r, 4), t, te.subs(r, 4), dir="-") is sympy.oo


def test_loss_regimes_and_gradient():
    d = derive()
    r, T = d.symbols["r"], d.symbols["T"]
    L, dL = d.results["loss"], d.results["dloss_dr"]
    Tv = 100
    rs = math.pi**2 / (4 * Tv**2)
    f = sympy.lambdify(r, L.subs(T, Tv))
    g = sympy.lambdify(r, dL.subs(T, Tv))
    assert abs(f(rs)) < 1e-9  # optimum
    assert math.isclose(f(rs / 4 * 0.99), Tv)  # no-learning zone: L = T
    assert g(rs / 4 * 0.99) == 0
    assert math.isclose(f(-1.0), Tv)
    # Gradient vs central finite differences in each active regime.
    for rv in (0.5 * rs, 3 * rs):
        h = rv * 1e-6
        fd = (f(rv + h) - f(rv - h)) / (2 * h)
        assert math.isclose(g(rv), fd, rel_tol=1e-6)
    # The jump at r*: |dL/dr| = 2T^3/pi^2 on both sides.
    assert math.isclose(g(rs * (1 + 1e-12)), 2 * Tv**3 / math.pi**2, rel_tol=1e-9)
    assert math.isclose(g(rs * (1 - 1e-12)), -2 * Tv**3 / math.pi**2, rel_tol=1e-9)


def test_document_shows_the_derivation():
    tex = derive().to_latex()
    for piece in (
        r"\tan",
        r"\frac{\pi}{2 \sqrt{r}}",
        r"\frac{3 \pi^{4}}{32 T^{5}}",
        r"\tag{Eq. 23}",
        r"\tag{Eq. 21}",
        "saddle-node",
        "point of no return",
    ):
        assert piece in tex, piece
