"""The preconditioned canonical model: the SymPy derivation against independent numerics
(escape time by quadrature of ∫dx/(x² + r), the Gauss–Newton map iterated, bisection on α),
and the simulator-side trainer against the derived threshold."""

import math

import numpy as np
import pytest
import sympy
from scipy import integrate, optimize

from ghostsym.symbolic.preconditioned import KEY, preconditioned, quantities


@pytest.fixture(scope="module")
def q():
    return quantities()


def _t_esc(rho):
    return integrate.quad(lambda x: 1.0 / (x * x + rho), 0.0, np.inf, epsabs=0, epsrel=1e-12)[0]


def _numeric_threshold(T, v0, steps=60):
    """Bisection on α for trapping of r ← r − α g/g² from ρ0 = v0 ρ*, with t_esc by
    quadrature and g by a central difference (no closed form used)."""
    rho_star = optimize.brentq(lambda p: _t_esc(p) - T, 1e-9, 10.0, xtol=1e-15, rtol=1e-14)
    rho_n = optimize.brentq(lambda p: _t_esc(p) - 2 * T, 1e-9, 10.0, xtol=1e-15, rtol=1e-14)

    def grad(p):
        h = 1e-5 * p
        return (_t_esc(p + h) - _t_esc(p - h)) / (2 * h)  # dt/dρ < 0

    def trapped(alpha):
        p = v0 * rho_star
        for _ in range(steps):
            if p <= rho_n:
                return True
            g = grad(p)
            early = p > rho_star  # L = T − t: dL/dρ = −g; late: L = t − T, dL/dρ = g
            dL = -g if early else g
            p = p - alpha * dL / (g * g)
        return p <= rho_n

    lo, hi = 0.05 * T, 0.5 * T
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if trapped(mid) else (mid, hi)
    return 0.5 * (lo + hi)


def test_closed_forms_of_the_canonical_model(q):
    T = q["symbols"]["T"]
    v = q["symbols"]["v"]
    assert sympy.simplify(q["alpha_gn_start"] - 39 * sympy.sqrt(10) * T / 800) == 0
    assert sympy.simplify(q["alpha_gn_optimum"] - 3 * T / 8) == 0
    assert q["alpha_gn_exponent"] == 1 and q["alpha_star_exponent"] == -5
    assert (
        sympy.simplify(q["trap_rate_scaled"] - (4 * v - 1) / (8 * v ** sympy.Rational(3, 2))) == 0
    )
    assert q["v_turn"] == sympy.Rational(3, 4)
    assert sympy.simplify(q["gain_over_gd"] - 4 * T**6 / sympy.pi**4) == 0
    # Strong damping is gradient descent with rate α/λ: Eq. 23 again.
    assert sympy.simplify(q["damped_limit"] - q["alpha_star"]) == 0


@pytest.mark.parametrize("T, v0", [(30.0, 10.0), (80.0, 10.0), (30.0, 3.0)])
def test_derived_threshold_matches_iterated_map(q, T, v0):
    sym = q["symbols"]
    derived = float((sym["T"] * q["trap_rate_scaled"]).subs({sym["T"]: T, sym["v"]: v0}))
    assert _numeric_threshold(T, v0) == pytest.approx(derived, rel=1e-5)


def test_simulator_trainer_traps_exactly_above_the_derived_rate(q):
    from ghostsym.analysis.normal_form_numerics import analyse_normal_form
    from ghostsym.analysis.preconditioned import train_r_preconditioned
    from ghostsym.errors import InputError

    T = 40.0
    a = analyse_normal_form("x**2 + r", T)
    derived = float(q["alpha_gn_start"].subs(q["symbols"]["T"], T))
    r0 = a.numerics.r_of_rho(10 * a.numerics.rho(a.values["r_star"]))
    run = train_r_preconditioned(a.sim, r0, derived * np.array([0.99, 1.01]), T=T)
    assert list(run.trapped) == [False, True]
    assert run.trapped_epoch[1] == 1  # the first step decides
    assert math.isclose(run.loss[1], T)
    with pytest.raises(InputError, match="damping"):
        train_r_preconditioned(a.sim, r0, 1.0, T=T, damping=-1.0)


def test_document_is_registered_and_renders():
    from ghostsym.symbolic.documents import build

    d = build(KEY)
    tex = d.to_latex()
    assert "Gauss--Newton" in tex and "alpha_gn_start" in d.results
    assert preconditioned().key == KEY


def test_threshold_agreement_judges_each_run_against_its_own_threshold():
    from ghostsym.analysis.preconditioned import threshold_agreement
    from ghostsym.errors import InputError

    thr = np.array([1.0, 2.0, 2.0, 4.0])
    lr = np.array([1.1, 1.9, 2.0 + 1e-9, 3.0])
    ok = threshold_agreement(lr, thr, [True, False, False, False], margin=1e-6)
    assert ok.agrees and ok.runs == 4 and ok.decided == 3  # the third lies inside the margin
    assert ok.closest == pytest.approx(5e-10, rel=1e-3)
    bad = threshold_agreement(lr, thr, [True, True, True, False], margin=1e-6)
    assert not bad.agrees and list(bad.mismatches) == [1]
    assert not threshold_agreement([2.0], [2.0], [True], margin=0.1).agrees  # nothing judged
    with pytest.raises(InputError, match="margin"):
        threshold_agreement(lr, thr, [True] * 4, margin=1.5)
    with pytest.raises(InputError, match="positive"):
        threshold_agreement(lr, -thr, [True] * 4, margin=0.0)


def test_spread_starts_trap_at_their_own_derived_thresholds(q):
    """Starts around v0 = 10 each trap exactly above T h(v0), not above T h(10)."""
    from ghostsym.analysis.normal_form_numerics import analyse_normal_form
    from ghostsym.analysis.preconditioned import threshold_agreement, train_r_preconditioned

    T = 40.0
    a = analyse_normal_form("x**2 + r", T)
    num = a.numerics
    rho_star = num.rho(a.values["r_star"])
    v0 = np.array([9.7, 10.0, 10.3])
    h = sympy.lambdify(q["symbols"]["v"], q["trap_rate_scaled"], "numpy")
    own = T * h(v0)
    ratios = np.array([0.998, 1.002])
    lr = (own[:, None] * ratios[None, :]).ravel()
    r0 = np.repeat(num.r_of_rho(v0 * rho_star), ratios.size)
    run = train_r_preconditioned(a.sim, r0, lr, T=T)
    assert list(run.trapped) == [False, True] * 3
    assert threshold_agreement(lr, np.repeat(own, 2), run.trapped, margin=1e-6).agrees
    # The nominal threshold would misjudge the start at 9.7 (its threshold lies 1.5 % higher).
    nominal = float(q["alpha_gn_start"].subs(q["symbols"]["T"], T))
    assert not threshold_agreement(lr, nominal, run.trapped, margin=1e-6).agrees
