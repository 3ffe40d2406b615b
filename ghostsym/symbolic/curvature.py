"""The critical learning rate is not a curvature bound: λ₋ = ∂²L/∂r² just below r*.

Classical GD stability on a quadratic valley of curvature λ says α < 2/λ. Just below the
optimum the c → ∞ DA loss is L(r) = t_esc(r) − T (output turns on late, Eqs. 17–18), with
curvature λ₋ = t_esc''(r*). Trapping, however, is decided by one step from just above r*
jumping past the point of no return r_n: α* = (r* − r_n)/|L'(r*⁺)| (Eq. 23). For
dx/dt = x² + r, λ₋ = 12T⁵/π⁴ and α* = (9/16)·(2/λ₋); for t_esc = C r^{−(p−1)/p} the ratio
is (1 − 2^{−p/(p−1)})(2p − 1)/(2p), independent of T.

The quantities r*, r_n and α* come from the DA pipeline (:mod:`ghostsym.symbolic.da`) when
available; :func:`da_quantities` re-derives them from an escape-time expression otherwise.

SymPy only.
"""

from __future__ import annotations

import sympy

from ghostsym.errors import NotDerivableError
from ghostsym.symbolic.derivation import Derivation, latex


def _positive_root(eq, r):
    roots = [s for s in sympy.solve(eq, r) if s.is_positive is not False]
    if len(roots) != 1:
        raise NotDerivableError(f"cannot solve {eq} = 0 uniquely for {r} > 0 (roots {roots})")
    return sympy.simplify(roots[0])


def escape_time_of(expr, state, param, x0=0, threshold=sympy.oo):
    """t_esc(r) = ∫_{x0}^{x*} dx / f(x; r) for r > 0 (SymPy), with positive r symbol."""
    r = sympy.Symbol(param.name, positive=True)
    x = sympy.Symbol(state.name, real=True)
    f = sympy.sympify(expr).xreplace({state: x, param: r})
    t = sympy.integrate(1 / f, (x, x0, threshold), conds="none")
    if t.has(sympy.Integral) or not t.free_symbols <= {r}:
        raise NotDerivableError(f"no closed-form escape time for dx/dt = {expr}")
    return sympy.simplify(t), r


def da_quantities(t_esc, r, T) -> dict:
    """r*, r_n, |L'(r*⁺)|, α*, the loss (Eqs. 16–20), λ₋ and the bound ratio, from t_esc(r).

    Assumes t_esc decreases in r (a ghost that speeds up with r), as for every r + x^p.
    """
    r_star = _positive_root(t_esc - T, r)
    r_n = _positive_root(t_esc - 2 * T, r)
    late = t_esc - T  # r_n <= r < r*: output turns on late
    early = T - t_esc  # r >= r*: output turns on early
    grad_at_r_star = sympy.simplify(sympy.diff(early, r).subs(r, r_star))
    alpha_star = sympy.simplify((r_star - r_n) / grad_at_r_star)
    lambda_minus = sympy.simplify(sympy.diff(late, r, 2).subs(r, r_star))
    classical = sympy.simplify(2 / lambda_minus)
    loss = sympy.Piecewise((T, r < r_n), (late, r < r_star), (early, True))
    return {
        "escape_time": t_esc,
        "r_star": r_star,
        "point_of_no_return": r_n,
        "grad_at_r_star": grad_at_r_star,
        "alpha_star": alpha_star,
        "loss": loss,
        "dloss_dr": sympy.diff(loss, r),
        "lambda_minus": lambda_minus,
        "classical_bound": classical,
        "bound_ratio": sympy.simplify(alpha_star / classical),
    }


def canonical_analytic_loss():
    """(L(r; T), r, T, x, x² + r): the c → ∞ DA loss of the canonical model (Eqs. 16–20)."""
    x = sympy.Symbol("x", real=True)
    r, T = sympy.symbols("r T", positive=True)
    q = da_quantities(sympy.pi / (2 * sympy.sqrt(r)), r, T)
    return q["loss"], r, T, x, x**2 + r


def curvature_bound(expr=None, state=None, param=None, x0=0) -> Derivation:
    """Derivation of λ₋ and of α*/(2/λ₋) for a normal form (default x² + r)."""
    if expr is None:
        state, param = sympy.symbols("x r", real=True)
        expr = state**2 + param
    T = sympy.Symbol("T", positive=True)
    t_esc, r = escape_time_of(expr, state, param, x0)
    q = da_quantities(t_esc, r, T)
    d = Derivation(
        "curvature_bound",
        "The critical learning rate is not a curvature bound",
        "Classical gradient-descent stability ($\\alpha < 2/\\lambda$) versus the ghost's "
        "point-of-no-return criterion (Eq.~23).",
    )
    d.symbols.update({"r": r, "T": T})
    d.section(f"Normal form $\\dot {latex(state)} = {latex(expr)}$")
    d.result("escape_time", t_esc, lhs=sympy.Symbol("t_esc"))
    d.result("r_star", q["r_star"], lhs=sympy.Symbol("r^*"))
    d.result("point_of_no_return", q["point_of_no_return"], lhs=sympy.Symbol("r_n"))
    d.text(
        r"Just below $r^*$ the output turns on late and $L(r) = t_\mathrm{esc}(r) - T$; "
        r"its curvature is"
    )
    d.result("lambda_minus", q["lambda_minus"], lhs=sympy.Symbol("lambda_-"))
    d.result("classical_bound", q["classical_bound"], lhs=2 / sympy.Symbol("lambda_-"))
    d.text(r"One step from just above $r^*$ crosses $r_n$ when $\alpha$ exceeds (Eq. 23)")
    d.result("alpha_star", q["alpha_star"], lhs=sympy.Symbol("alpha^*"))
    d.text(r"and its ratio to the classical bound $2/\lambda_-$ is")
    ratio = q["bound_ratio"]
    d.result("bound_ratio", ratio, lhs=sympy.Symbol("alpha^*") * sympy.Symbol("lambda_-") / 2)
    if not ratio.free_symbols and ratio < 1:
        d.text(
            r"a fixed fraction below one, whatever the delay $T$: a learning rate that the "
            r"curvature criterion calls stable ($\alpha^* \le \alpha < 2/\lambda_-$) still "
            r"throws $r$ past the point of no return, where learning stops."
        )
    return d


def curvature_from_results(results: dict, symbols: dict) -> dict:
    """λ₋, 2/λ₋ and α*·λ₋/2 from the DA pipeline's results (:func:`ghostsym.symbolic.da.analyze`).

    On the late side of r* the loss is t_esc(r) − T whichever way r escapes, so
    λ₋ = t_esc''(r*).
    """
    r = symbols["r"]
    t_esc, r_star, alpha = results["escape_time"], results["r_star"], results["alpha_star"]
    if any(v is None for v in (t_esc, r_star, alpha)):
        raise NotDerivableError("the DA pipeline has no closed-form t_esc, r* or alpha*")
    lam = sympy.simplify(sympy.diff(t_esc, r, 2).subs(r, r_star))
    classical = sympy.simplify(2 / lam)
    return {
        "lambda_minus": lam,
        "classical_bound": classical,
        "bound_ratio": sympy.simplify(alpha / classical),
    }
