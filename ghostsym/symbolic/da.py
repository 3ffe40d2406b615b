"""The general delayed-activation (DA) pipeline for a 1-D normal form (docs/math.md §3–4, §8).

:func:`analyze` takes a :class:`~ghostsym.symbolic.normal_forms.NormalForm` f(x; r) and
derives, step by step into a :class:`~ghostsym.symbolic.derivation.Derivation`:

1. the fixed points f = 0 and the fold (saddle-node) f = ∂f/∂x = 0 on the path from x0 to
   the threshold: the bifurcation value r_c, the order of the tangency and the side
   ρ = σ(r − r_c) > 0 on which the path is free of fixed points (the fold point is a ghost);
2. the trajectory t(x) = ∫ dx/f and, where it can be inverted, x(t); the escape time
   t_esc(r) = ∫_{x0}^{x*} dx/f (and its limit for a large threshold); when f is
   quasi-homogeneous, f(x_c + ρ^β u; r_c + σρ) = ρ^γ g(u), the substitution gives
   t_esc = C ρ^{β−γ} with C = ∫ du/g(u) (kept as an integral when it has no closed form);
3. the three regimes of the DA loss in the analytical limit c → ∞ (early / late / never),
   the piecewise L(r) and ∂L/∂r;
4. the optimum r* (t_esc = T), the point of no return (t_esc = 2T), |∂L/∂r| at r*, the
   critical learning rate α* = |r* − r_n| / |∂L/∂r|_{r*} and its exponent in T, and the
   same for the loss rescaled to a mean squared error (α*_MSE = 2T α*).

``Derivation.results`` always holds the keys of :data:`RESULT_KEYS` (``escape_time,
r_star, point_of_no_return, grad_at_r_star, alpha_star, alpha_star_exponent,
alpha_star_mse, alpha_star_mse_exponent, loss, dloss_dr, fixed_points,
bifurcation_value``); a key whose quantity does not exist or has no closed form holds
``None`` and ``Derivation.notes[key]`` says why. :func:`results_method` tells how a result
was obtained: "closed form", "quadrature" (kept as an integral) or "none". Extra keys
used by the numerical layer:
``escape_time_rho`` (t_esc as a function of ``symbols["rho"]``), ``escape_direction`` (σ),
``fold_state`` (x_c), ``trajectory`` (x(t) when invertible), ``escape_time_exponent``.
``symbols`` has ``x, r, t, T, c, x_star, rho``.

SymPy only (no numerical libraries). Every SymPy call that could run away on an arbitrary
user field runs under a time limit (:data:`SYMPY_TIME_LIMIT`); when it fails the pipeline
keeps the unevaluated integral and leaves the numbers to
:mod:`ghostsym.analysis.normal_form_numerics`.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager

import sympy

from ghostsym.errors import InputError
from ghostsym.symbolic.derivation import Derivation, LogDerivative, Partial, latex
from ghostsym.symbolic.normal_forms import NormalForm

#: Seconds one symbolic attempt (solve, integrate, limit) may take before the pipeline
#: falls back to keeping the expression unevaluated.
SYMPY_TIME_LIMIT = 5.0
#: Sample values of ρ > 0 at which the path from x0 to the threshold is checked for
#: fixed points (exact root counting for polynomial fields, sign sampling otherwise).
PATH_CHECK_RHO = (sympy.Rational(1, 1000), sympy.Integer(1), sympy.Integer(1000))
#: Highest derivative order examined for the order of the fold tangency.
MAX_FOLD_ORDER = 8
#: Seconds the whole derivation of one normal form may take, every symbolic and numeric
#: step together; past it :func:`analyze` refuses the field (:class:`BudgetError`).
TIME_BUDGET = 120.0
#: Seconds one numerical evaluation (a quadrature or a value) may take.
NUMERIC_TIME_LIMIT = 10.0
#: Largest closed form (``sympy.count_ops``) the pipeline reports; a larger one is replaced
#: by its numerical value (it would be unreadable and slow to print or compile).
MAX_RESULT_OPS = 600
#: Relative agreement asked of a closed form and its independent numerical value.
CHECK_RTOL = 1e-7
#: Distances past the fold at which a closed-form escape time is checked by quadrature.
CHECK_RHO = (sympy.Rational(1, 10), sympy.Integer(1))
#: Delays at which closed forms of r*, r_n, |dL/dr| and alpha* are checked numerically.
CHECK_T = (sympy.Integer(10), sympy.Integer(1000))

RESULT_KEYS = (
    "escape_time",
    "r_star",
    "point_of_no_return",
    "grad_at_r_star",
    "alpha_star",
    "alpha_star_exponent",
    "alpha_star_mse",
    "alpha_star_mse_exponent",
    "loss",
    "dloss_dr",
    "fixed_points",
    "bifurcation_value",
)

#: Results that follow from a closed-form r*(T); they share its note when it is missing.
_DA_KEYS = (
    "r_star",
    "point_of_no_return",
    "grad_at_r_star",
    "alpha_star",
    "alpha_star_exponent",
    "alpha_star_mse",
    "alpha_star_mse_exponent",
)


class _Timeout(BaseException):
    """Raised by the alarm; a BaseException so SymPy's own ``except Exception`` ignores it."""


class BudgetError(InputError):
    """A normal form whose derivation would exceed a time or size budget (one-line refusal)."""


#: Deadlines (``time.monotonic()``) of the time limits now open, outermost first.
_DEADLINES: list[float] = []


def _alarm(signum, frame):
    # A late signal (the limit that armed it has already closed) re-arms and is ignored.
    if _DEADLINES and min(_DEADLINES) <= time.monotonic() + 1e-3:
        raise _Timeout()
    _arm()


def _arm():
    if _DEADLINES:
        signal.setitimer(signal.ITIMER_REAL, max(min(_DEADLINES) - time.monotonic(), 1e-3))
    else:
        signal.setitimer(signal.ITIMER_REAL, 0)


@contextmanager
def _time_limit(seconds: float | None):
    """Nestable time limit: ``_Timeout`` once the earliest open deadline has passed.

    Only the main thread can be interrupted (SIGALRM); elsewhere the limit is not enforced.
    """
    if threading.current_thread() is not threading.main_thread() or seconds is None:
        yield
        return
    outermost = not _DEADLINES
    previous = signal.signal(signal.SIGALRM, _alarm) if outermost else None
    _DEADLINES.append(time.monotonic() + max(seconds, 0.0))
    _arm()
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        try:
            _DEADLINES.pop()
            _arm()
            if outermost:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})


def _outer_expired() -> bool:
    return bool(_DEADLINES) and min(_DEADLINES) <= time.monotonic() + 1e-3


def _attempt(func, seconds: float | None = None):
    """Run a SymPy computation; return None if it fails, is not implemented or times out.

    When the derivation's own budget (an enclosing limit) has run out, the timeout is
    passed on instead, so that :func:`analyze` refuses the field.
    """
    try:
        with _time_limit(SYMPY_TIME_LIMIT if seconds is None else seconds):
            return func()
    except _Timeout:
        if _outer_expired():
            raise
        return None
    except (
        NotImplementedError,
        ValueError,
        TypeError,
        AttributeError,
        ZeroDivisionError,
        RecursionError,
        OverflowError,
        ArithmeticError,
        sympy.PolynomialError,
        sympy.SympifyError,
    ):
        return None


def _simplify(expr):
    """``sympy.simplify`` within the attempt's time limit (the expression itself if not)."""
    out = _attempt(lambda: sympy.simplify(expr))
    return expr if out is None else out


def _numeric(expr, digits: int = 15, subs=None):
    """``expr`` evaluated to a real Float without exact arithmetic, or None (complex, not a
    number, over/underflow beyond mpmath's reach, or out of time)."""

    def ev():
        v = sympy.sympify(expr).evalf(digits, subs=subs)
        if not v.is_number or v.has(sympy.I, sympy.oo, -sympy.oo, sympy.zoo, sympy.nan):
            return None
        re_, im_ = v.as_real_imag()
        if abs(im_) > 1e-12 * (1 + abs(re_)):
            return None
        return sympy.Float(re_, digits)

    return _attempt(ev, NUMERIC_TIME_LIMIT)


def _has_integral(expr) -> bool:
    return expr is not None and bool(sympy.sympify(expr).atoms(sympy.Integral))


def _finite_number(expr) -> bool:
    return (
        expr is not None
        and expr.is_finite is not False
        and not expr.has(sympy.oo, -sympy.oo, sympy.zoo, sympy.nan)
    )


def _show(v) -> str:
    return "none" if v is None else sympy.sstr(sympy.Float(v, 6))


def _rational_bracket(v, up: bool):
    """A rational at or beyond ``v`` (below it for ``up=False``), within 1e-20."""
    if v.is_Rational:
        return v
    scaled = v * 10**20
    n = sympy.ceiling(scaled) if up else sympy.floor(scaled)
    return sympy.Rational(int(n), 10**20)


def _first_root(p, lo, hi):
    """The first real root of the polynomial ``p`` in [lo, hi] (a Float), or False."""
    a = _rational_bracket(lo, up=False)
    b = None if hi is sympy.oo else _rational_bracket(hi, up=True)
    if p.count_roots(a, b) == 0:
        return False
    for (u, v), _ in p.intervals(eps=sympy.Rational(1, 10**6)):
        if v >= a and (b is None or u <= b):
            return sympy.Float((u + v) / 2, 6)
    return sympy.Float(a, 6)


def _first_nonpositive(g, x, lo, hi):
    """Sign sampling of a non-polynomial field along the path (floating point, never exact
    arithmetic): the first sample where g <= 0 (or is not a real number), else False."""
    top = hi if hi is not sympy.oo else lo + 10**6
    lo_f, top_f = sympy.Float(lo, 30), sympy.Float(top, 30)
    fn = sympy.lambdify(x, g, modules="mpmath")
    for k in range(401):
        p = lo_f + (top_f - lo_f) * sympy.Float(k / 400, 30) ** 3
        try:
            v = sympy.sympify(fn(p))
        except (ValueError, TypeError, ZeroDivisionError, OverflowError):
            return sympy.Float(p, 6)
        if not v.is_number or v.is_real is False or not v > 0:
            return sympy.Float(p, 6)
    return False


def results_method(derivation: Derivation, key: str) -> str:
    """How a result was obtained: "closed form", "quadrature" or "none"."""
    value = derivation.results.get(key)
    if value is None:
        return "none"
    return "quadrature" if _has_integral(value) else "closed form"


def _symbols(nf: NormalForm) -> dict[str, sympy.Symbol]:
    return {
        "x": nf.state,
        "r": nf.param,
        "t": sympy.Symbol("t", nonnegative=True),
        "T": sympy.Symbol("T", positive=True),
        "c": sympy.Symbol("c", positive=True),
        "x_star": sympy.Symbol("x^*", positive=True),
        "rho": sympy.Symbol("rho", positive=True),
    }


def analyze(
    nf: NormalForm,
    *,
    key: str | None = None,
    title: str | None = None,
    abstract: str | None = None,
    derivation: Derivation | None = None,
    labels: dict[str, str] | None = None,
    time_budget: float | None = None,
) -> Derivation:
    """Derive the DA analysis of ``nf`` (see the module docstring for the result keys).

    The whole derivation runs within ``time_budget`` seconds (default :data:`TIME_BUDGET`);
    past it the field is refused with :class:`BudgetError`, one line naming the limit.

    ``derivation`` lets a caller put its own preface first (the canonical document does);
    ``labels`` maps result names to equation tags (e.g. ``{"alpha_star": "Eq. 23"}``).
    """
    if derivation is None:
        derivation = Derivation(
            key or f"normal_form_{nf.label()}",
            title or f"Delayed activation through the normal form ${latex(nf.expr)}$",
            abstract
            or (
                "Every quantity below is derived by ghostsym's general DA pipeline from the "
                "field alone: fixed points and fold, escape time, the loss in the analytical "
                "limit of infinite confidence, the optimum, the point of no return and the "
                "critical learning rate of gradient descent."
            ),
        )
    budget = TIME_BUDGET if time_budget is None else time_budget
    try:
        with _time_limit(budget):
            _Pipeline(nf, derivation, labels or {}).run()
    except _Timeout:
        raise BudgetError(
            f"normal form {nf}: the derivation exceeded its time budget of {budget:g} s "
            "(ghostsym.symbolic.da.TIME_BUDGET); simplify the field or give a finite threshold"
        ) from None
    except RecursionError:
        raise BudgetError(
            f"normal form {nf}: the derivation exceeded Python's recursion limit "
            "(the expression is too deeply nested)"
        ) from None
    return derivation


class _Stop(Exception):
    """Internal: the DA analysis cannot go further (reasons are already recorded)."""


class _Pipeline:
    def __init__(self, nf: NormalForm, d: Derivation, labels: dict[str, str]):
        self.nf, self.d, self.labels = nf, d, labels
        d.symbols.update(_symbols(nf))
        self.s = d.symbols
        for k in RESULT_KEYS:
            d.results.setdefault(k, None)

    # -- helpers ------------------------------------------------------------------------
    def result(self, name, expr, lhs=None, prose=None):
        return self.d.result(name, expr, lhs=lhs, label=self.labels.get(name), prose=prose)

    def missing(self, keys, reason):
        for k in keys:
            if self.d.results.get(k) is None and k not in self.d.notes:
                self.d.note(k, reason)

    def run(self):
        try:
            self.model()
            self.fixed_points()
            self.fold()
            self.escape_side()
            self.trajectory()
            self.escape_time()
            self.loss_regimes()
            self.optimum()
            self.critical_learning_rate()
        except _Stop:
            pass
        self.missing(RESULT_KEYS, "not derived: an earlier step of the pipeline stopped")

    # -- 1. model -------------------------------------------------------------------------
    def model(self):
        nf, d, s = self.nf, self.d, self.s
        x, t = s["x"], s["t"]
        xf = sympy.Function(x.name)
        d.section("Model")
        d.equation(
            sympy.Derivative(xf(t), t),
            nf.expr.subs(x, xf(t)),
            prose=f"The state ${latex(x)}$ follows the normal form, with "
            f"${latex(nf.param)}$ the only learnable parameter:",
        )
        d.equation(xf(0), nf.x0, prose="It starts from")
        thr = r"\infty" if nf.threshold is sympy.oo else latex(nf.threshold)
        c, xs, T = s["c"], s["x_star"], s["T"]
        yhat = sympy.Symbol("yhat")
        d.text(
            "The output is read through a sigmoid of confidence $c$ around the threshold "
            f"$x^*$ (here $x^* = {thr}$), and the delayed-activation (DA) target switches on "
            "at $t = T$; the loss is the squared error over $[0, 2T]$:"
        )
        sigma = sympy.Function("sigma")
        d.equation(yhat, sigma(c * (xf(t) - xs)))
        d.equation(sympy.Symbol("y"), sympy.Heaviside(t - T))
        d.equation(
            sympy.Symbol("L"),
            sympy.Integral((yhat - sympy.Heaviside(t - T)) ** 2, (t, 0, 2 * T)),
        )
        z = sympy.Symbol("z", positive=True)
        logistic = 1 / (1 + sympy.exp(-c * z))
        up = sympy.limit(logistic, c, sympy.oo)
        down = sympy.limit(logistic.subs(z, -z), c, sympy.oo)
        d.text(
            "In the analytical limit of infinite confidence the sigmoid becomes a step: "
            "for $z > 0$,"
        )
        d.equation(sympy.Limit(logistic, c, sympy.oo), up)
        d.equation(sympy.Limit(logistic.subs(z, -z), c, sympy.oo), down)
        d.text(
            "so $\\hat y(t)$ is $1$ from the moment the trajectory crosses the threshold, "
            "the escape time $t_\\mathrm{esc}$, and $0$ before: "
            "$\\hat y(t) = H(t - t_\\mathrm{esc})$."
        )

    # -- 2. fixed points ------------------------------------------------------------------
    def fixed_points(self):
        nf, d = self.nf, self.d
        x, r = nf.state, nf.param
        d.section("Fixed points")
        sols = _attempt(lambda: sympy.solve(nf.expr, x))
        if sols is None:
            self.missing(["fixed_points"], "f(x; r) = 0 has no closed-form solution")
            d.text("The fixed points $f = 0$ have no closed form; they are found numerically.")
            return
        sols = [s for s in sols if not s.has(sympy.I)]  # complex for every real r
        # SymPy's principal odd roots, (-r)**(1/3), are complex for r > 0: use the real root.
        sols = [
            s.replace(
                lambda p: (
                    p.is_Pow
                    and p.exp.is_Rational
                    and p.exp.q % 2 == 1
                    and p.exp.q > 1
                    and not p.base.is_nonnegative
                ),
                lambda p: sympy.real_root(p.base, p.exp.q) ** p.exp.p,
            )
            for s in sols
        ]
        if not sols:
            self.result(
                "fixed_points",
                sympy.FiniteSet(),
                lhs=sympy.Symbol("x_fp"),
                prose="$f(x; r) = 0$ has no solution: the field has no fixed point.",
            )
            return
        self.result(
            "fixed_points",
            sympy.FiniteSet(*sols),
            lhs=sympy.Symbol("x_fp"),
            prose=f"Fixed points solve $f({latex(x)}; {latex(r)}) = 0$; "
            "each exists where it is real:",
        )

    # -- 3. fold --------------------------------------------------------------------------
    def fold(self):
        nf, d = self.nf, self.d
        x, r, f = nf.state, nf.param, nf.expr
        fx = sympy.diff(f, x)
        d.section("Saddle-node (fold) bifurcation")
        cands = _attempt(lambda: sympy.solve([f, fx], [x, r], dict=True))
        if cands is None:
            reason = (
                "the fold conditions f = df/dx = 0 could not be solved in closed form; "
                "the DA analysis needs the fold point"
            )
            d.text("The fold conditions have no closed-form solution.")
            self.missing(RESULT_KEYS, reason)
            raise _Stop
        real = []
        for c in cands:
            xc, rc = c.get(x, x), c.get(r, r)
            if xc.free_symbols or rc.free_symbols:
                continue  # a whole family (degenerate field); not a fold point
            if xc.is_real is False or rc.is_real is False or _numeric(xc) is None:
                continue
            if _numeric(rc) is None:
                continue
            real.append((sympy.nsimplify(xc) if xc.is_Float else xc, rc))
        if not real:
            reason = (
                "no ghost: f and df/dx never vanish together for real x and r, so the field "
                "has no saddle-node (fold) bifurcation; its fixed points (if any) never merge "
                "and there is no slow bottleneck that could delay the output"
            )
            d.text("There is no real solution: " + reason.split(": ", 1)[1] + ".")
            self.missing(RESULT_KEYS, reason)
            raise _Stop
        thr = nf.threshold
        on_path = sorted(
            (
                (xc, rc)
                for xc, rc in real
                if bool(xc >= nf.x0) and (thr is sympy.oo or bool(xc <= thr))
            ),
            key=lambda p: (float(_numeric(p[0])), float(_numeric(p[1]))),
        )
        if not on_path:
            d.text(
                "A ghost is born where two fixed points merge and disappear: "
                "$f = \\partial f/\\partial x = 0$."
            )
            d.equation(Partial(sympy.Symbol("f"), x), fx)
            where = ", ".join(f"x = {sympy.sstr(xc)} (r = {sympy.sstr(rc)})" for xc, rc in real)
            reason = (
                f"no ghost on the path: the fold point(s) {where} lie outside the path from "
                f"x0 = {sympy.sstr(nf.x0)} to the threshold {sympy.sstr(thr)}, so the "
                "trajectory never passes a bottleneck"
            )
            d.text("The fold lies off the path: " + reason + ".")
            self.missing(RESULT_KEYS, reason)
            raise _Stop
        # Every fold on the path: its order, its unfolding speed, and whether the path is
        # clear of fixed points just past it.
        folds, degenerate = [], []
        for xc, rc in on_path:
            at = {x: xc, r: rc}
            order, val = None, None
            for k in range(2, MAX_FOLD_ORDER + 1):
                v = _simplify(sympy.diff(f, x, k).subs(at))
                if v != 0:
                    order, val = k, v
                    break
            fr = _simplify(sympy.diff(f, r).subs(at))
            if fr == 0 or fr.is_real is False or not fr.is_number:
                degenerate.append((xc, rc))
                continue
            sigma = sympy.Integer(1 if fr > 0 else -1)
            blocked = self._blocked_at(rc, sigma)
            folds.append(
                {
                    "xc": xc,
                    "rc": rc,
                    "order": order,
                    "val": val,
                    "fr": fr,
                    "sigma": sigma,
                    "blocked": blocked,
                }
            )
        clear = [p for p in folds if p["blocked"] is None]
        if clear:
            # The fold that clears last in the direction of escape sets the delay; folds at
            # the same r_c are bottlenecks passed one after the other.
            key = max(clear, key=lambda p: float(_numeric(p["sigma"] * p["rc"])))
            chosen = [p for p in clear if p["rc"] == key["rc"] and p["sigma"] == key["sigma"]]
        else:
            chosen = []
        self._fold_prose(on_path, folds, chosen)
        if not chosen:
            if degenerate and not folds:
                reason = (
                    "degenerate fold: df/dr vanishes at the fold point, so r does not unfold "
                    "the bottleneck at first order; the pipeline needs df/dr != 0 there"
                )
            else:
                parts = []
                for p in folds:
                    rho_b, xb = p["blocked"]
                    rb = p["rc"] + p["sigma"] * rho_b
                    at_x = f" at x ~ {sympy.sstr(xb)}" if xb is not None else ""
                    parts.append(
                        f"past the fold at x = {sympy.sstr(p['xc'])} (r_c = "
                        f"{sympy.sstr(p['rc'])}), at r = {sympy.sstr(rb)}, a fixed point{at_x}"
                    )
                reason = (
                    f"no escape: the path from x0 = {sympy.sstr(nf.x0)} to the threshold "
                    f"{sympy.sstr(nf.threshold)} is blocked by a fixed point on every side of "
                    "every fold (" + "; ".join(parts) + "), so the trajectory stops there "
                    "and the output never turns on: no ghost-induced delay"
                )
            d.text("The path is blocked: " + reason + ".")
            self.missing(RESULT_KEYS, reason)
            raise _Stop
        main = chosen[0]
        xc, rc, order, val, fr = main["xc"], main["rc"], main["order"], main["val"], main["fr"]
        self.xc, self.rc, self.order = xc, rc, order
        self.path_xs = [p[0] for p in on_path]
        self.fold_states = tuple(p["xc"] for p in chosen)
        xc_s, rc_s = sympy.Symbol("x_c"), sympy.Symbol("r_c")
        if len(chosen) == 1:
            d.equation(xc_s, xc, prose="On the path from $x_0$ to the threshold the fold is at")
        else:
            d.equation(
                xc_s,
                sympy.FiniteSet(*self.fold_states),
                prose="On the path from $x_0$ to the threshold there are "
                f"{len(chosen)} bottlenecks at the same bifurcation value; the trajectory "
                "passes them one after the other, so their passage times add:",
            )
        self.result("bifurcation_value", rc, lhs=rc_s)
        if order is not None:
            d.equation(
                sympy.Subs(Partial(sympy.Symbol("f"), (x, order)), (x, r), (xc, rc)),
                val,
                prose="The first non-vanishing derivative in the state sets the "
                "order of the tangency:",
            )
        if order == 2:
            d.text("The tangency is quadratic: a saddle-node bifurcation.")
        elif order is not None and order % 2 == 0:
            d.text(f"The tangency is of order {order}: a degenerate fold.")
        elif order is not None:
            d.text(
                f"The tangency is of odd order {order}: an inflection point, not a fold "
                "proper. No two fixed points merge here (a single fixed point passes "
                "through $x_c$ as $r$ crosses $r_c$); past it the speed at $x_c$ is small "
                "but non-zero, so $x_c$ is a bottleneck without fixed points."
            )
        d.equation(
            sympy.Subs(Partial(sympy.Symbol("f"), r), (x, r), (xc, rc)),
            fr,
            prose="The parameter unfolds it with speed",
        )
        self.sigma = main["sigma"]
        self.d.results["escape_direction"] = self.sigma
        self.d.results["fold_state"] = xc
        self.d.results["fold_states"] = self.fold_states
        if len(on_path) > 1:
            others = [p for p in on_path if p[0] not in self.fold_states]
            used = ", ".join(f"x = {sympy.sstr(p)}" for p in self.fold_states)
            why = (
                f"the path crosses {len(on_path)} points with f = df/dx = 0; the delay is set "
                f"by the bottleneck(s) at {used} (r_c = {sympy.sstr(rc)}), the last to clear: "
                "just past it the whole path is free of fixed points"
            )
            if others:
                why += (
                    "; the others ("
                    + ", ".join(f"x = {sympy.sstr(p[0])}, r = {sympy.sstr(p[1])}" for p in others)
                    + ") are still blocked there or are passed at finite speed"
                )
            if len(self.fold_states) > 1:
                why += "; the passage times of the bottlenecks add"
            self.d.note("bottleneck", why)
            d.text("Several folds lie on the path: " + why.replace("_", "\\_") + ".")

    def _fold_prose(self, on_path, folds, chosen):
        d, x = self.d, self.nf.state
        fx = sympy.diff(self.nf.expr, x)
        orders = {p["order"] for p in (chosen or folds)}
        if len(on_path) > 1:
            d.text(
                "A ghost forms where $f$ and $\\partial f/\\partial x$ vanish together on "
                "the path; this field has several such points, and each is examined below."
            )
        elif orders and all(o is not None and o % 2 == 1 for o in orders):
            d.text(
                "A bottleneck forms where $f$ and $\\partial f/\\partial x$ vanish together "
                "on the path: $f = \\partial f/\\partial x = 0$."
            )
        else:
            d.text(
                "A ghost is born where two fixed points merge and disappear: "
                "$f = \\partial f/\\partial x = 0$."
            )
        d.equation(Partial(sympy.Symbol("f"), x), fx)

    # -- 4. which side has the ghost --------------------------------------------------------
    def escape_side(self):
        nf, d, s = self.nf, self.d, self.s
        x, r, rho = nf.state, nf.param, s["rho"]
        self.f_rho = sympy.expand(nf.expr.subs(r, self.rc + self.sigma * rho))
        d.section("Ghost and escape")
        rel = ">" if self.sigma > 0 else "<"
        d.equation(
            rho,
            self.sigma * (r - self.rc),
            prose=(
                "Measure the distance past the fold on the side where $f > 0$ at the fold point "
                f"(${latex(r)} {rel} {latex(self.rc)}$):"
            ),
        )
        speed = _simplify(self.f_rho.subs(x, self.xc))
        d.equation(
            sympy.Subs(sympy.Symbol("f"), x, self.xc),
            speed,
            prose=(
                "For every $\\rho > 0$ the field is positive on the whole path, so the trajectory "
                "reaches the threshold. At the former fold point the speed is smallest near the "
                "bifurcation and vanishes with $\\rho$: this slow point is the ghost."
            ),
        )

    def _blocked_at(self, rc, sigma):
        """(ρ, x) for a sample ρ at which f(·; r_c + σρ) has a zero on the path (x: where,
        approximately, or None); None when the path is clear at every sample."""
        nf, x, rho = self.nf, self.nf.state, self.s["rho"]
        f_rho = sympy.expand(nf.expr.subs(nf.param, rc + sigma * rho))
        lo, hi = nf.x0, nf.threshold
        poly = _attempt(lambda: sympy.Poly(f_rho, x), 5)
        for val in PATH_CHECK_RHO:
            g = f_rho.subs(rho, val)
            if poly is not None and all(cf.is_number for cf in sympy.Poly(g, x).all_coeffs()):
                p = sympy.Poly(g, x)
                found = _attempt(lambda p=p: _first_root(p, lo, hi), NUMERIC_TIME_LIMIT)
                if found is None:
                    return val, None  # could not be decided in time: treat as blocked
                if found is not False:
                    return val, found
                continue
            found = _attempt(lambda g=g: _first_nonpositive(g, x, lo, hi), NUMERIC_TIME_LIMIT)
            if found is None:
                return val, None
            if found is not False:
                return val, found
        return None

    # -- 5. trajectory ----------------------------------------------------------------------
    def trajectory(self):
        nf, d, s = self.nf, self.d, self.s
        x, t = nf.state, s["t"]
        xi = sympy.Symbol("xi", real=True)
        self.t_of_x = None
        d.section("Trajectory")
        t_of_x = _attempt(lambda: sympy.integrate(1 / self.f_rho.subs(x, xi), (xi, nf.x0, x)))
        if t_of_x is None or _has_integral(t_of_x):
            d.text(
                "The time to reach $x$, $t(x) = \\int_{x_0}^{x} d\\xi / f(\\xi)$, has no "
                "closed form here; the escape time is kept as an integral below."
            )
            return
        t_of_x = _simplify(t_of_x)
        self.t_of_x = t_of_x
        d.equation(t, t_of_x, prose="Separating variables, the time to reach $x$ is")
        sols = _attempt(lambda: sympy.solve(sympy.Eq(t_of_x, t), x), 2.0)
        if sols and len(sols) == 1:
            traj = self._in_r(sols[0])
            self.d.results["trajectory"] = traj
            self.d.equation(
                sympy.Function(x.name)(t),
                traj,
                label=self.labels.get("trajectory"),
                prose="and inverting it gives the trajectory",
            )

    def _in_r(self, expr):
        """Rewrite an expression of ρ in the parameter r."""
        return expr.subs(self.s["rho"], self.sigma * (self.nf.param - self.rc))

    # -- 6. escape time ---------------------------------------------------------------------
    def escape_time(self):
        nf, d, s = self.nf, self.d, self.s
        x, rho = nf.state, s["rho"]
        d.section("Escape time")
        self.rejected = []  # why closed forms were rejected by the numerical check
        self.C = None  # (symbol, value) of the scaling constant, if any
        self.power = None  # (C, kappa) when t_esc = C rho**kappa
        te = None
        qh = self._quasi_homogeneous()
        if qh is not None:
            beta, gamma, g, u = qh
            d.text(
                "The field is quasi-homogeneous: with $x = x_c + \\rho^{\\beta} u$ it becomes "
                "$f = \\rho^{\\gamma} g(u)$, so the escape time scales as a power of $\\rho$:"
            )
            d.equation(
                sympy.Tuple(sympy.Symbol("beta"), sympy.Symbol("gamma")), sympy.Tuple(beta, gamma)
            )
            d.equation(sympy.Function("g")(u), g)
            kappa = beta - gamma
            Cint = sympy.Integral(1 / g, (u, 0, sympy.oo))
            Cval = _attempt(lambda: sympy.integrate(1 / g, (u, 0, sympy.oo)))
            if Cval is None or _has_integral(Cval) or not _finite_number(Cval):
                if Cval is not None and not _finite_number(Cval):
                    self._no_escape(
                        "the integral of du/g(u) diverges: the trajectory never "
                        "reaches the threshold in finite time"
                    )
                Cval = Cint
            else:
                Cval = _simplify(Cval)
                bad = self._check_value(Cval, Cint, "the scaling constant C_f")
                if bad:
                    self.rejected.append(bad)
                    Cval = Cint
            Csym = sympy.Symbol("C_f", positive=True)
            self.C = (Csym, Cval)
            d.equation(Csym, Cint if Cval == Cint else sympy.Eq(Cint, Cval, evaluate=False))
            te_sym = Csym * rho**kappa
            self.d.results["escape_time_exponent"] = kappa
            d.equation(sympy.Symbol("t_esc"), te_sym, prose="Hence")
            if te is None:
                te = te_sym.subs(Csym, Cval)
            self.te_algebra = te_sym if Cval == Cint else te_sym.subs(Csym, Cval)
            self.power = (Csym if Cval == Cint else Cval, kappa)
        if te is None:
            direct = _attempt(lambda: sympy.integrate(1 / self.f_rho, (x, nf.x0, nf.threshold)))
            if direct is not None and not _has_integral(direct):
                if not _finite_number(direct):
                    self._no_escape(
                        "the integral of dx/f diverges: the trajectory never "
                        "reaches the threshold in finite time"
                    )
                te = _simplify(direct)
                bad = self._check_escape_time(te)
                if bad:
                    self.rejected.append(bad)
                    te = None
        if te is not None and self.t_of_x is not None and nf.threshold is sympy.oo:
            self._large_threshold_limit(te)
        if te is None:
            te = sympy.Integral(1 / self.f_rho, (x, nf.x0, nf.threshold))
            if nf.threshold is sympy.oo:
                growth = _attempt(lambda: sympy.limit(x / self.f_rho.subs(rho, 1), x, sympy.oo))
                if growth is not None and growth != 0:
                    self._no_escape(
                        "f grows at most linearly, so x reaches infinity only "
                        "as t -> infinity; give a finite threshold"
                    )
            if self.rejected:
                d.text(
                    "SymPy's closed form for the escape time disagrees with numerical "
                    "quadrature (" + "; ".join(self.rejected) + "), so it is rejected; the "
                    "escape time is kept as an integral and evaluated by quadrature:"
                )
            else:
                d.text(
                    "The escape time has no closed form; it is kept as an integral and "
                    "evaluated by quadrature:"
                )
        if qh is None:
            self.te_algebra = te
        self.te_rho = te
        self.d.results["escape_time_rho"] = te
        if self.rejected:
            self.d.note("escape_time", "closed form rejected: " + "; ".join(self.rejected))
        elif not _has_integral(te):
            self.d.checks["escape_time"] = (
                "agrees with quadrature of the integral of dx/f at rho = "
                + ", ".join(map(sympy.sstr, CHECK_RHO))
                + f" to a relative {CHECK_RTOL:g}"
            )
        self.result(
            "escape_time",
            self._in_r(te),
            lhs=sympy.Symbol("t_esc"),
            prose="In terms of the parameter, the escape time is",
        )

    def _large_threshold_limit(self, te):
        """Show t(x*) -> t_esc as x* -> oo when SymPy's limit agrees with the definite integral."""
        x, rho, xs = self.nf.state, self.s["rho"], self.s["x_star"]
        finite = self.t_of_x.subs(x, xs)
        lim = _attempt(lambda: sympy.limit(finite, xs, sympy.oo))
        if lim is None or not _finite_number(lim):
            return
        a = sympy.N(lim.subs(rho, sympy.Rational(7, 10)), 20)
        b = sympy.N(te.subs(rho, sympy.Rational(7, 10)), 20)
        if not (a.is_number and b.is_number) or abs(a - b) > 1e-12 * abs(b):
            return  # an indefinite antiderivative with the wrong branch: do not show it
        self.d.text(
            "The output turns on when $x$ crosses $x^*$; for a large threshold the "
            "escape time is the limit of the time $t(x^*)$ to reach it (above, with $x = x^*$)"
        )
        self.d.equation(sympy.Limit(sympy.Function("t")(xs), xs, sympy.oo), lim)

    def _no_escape(self, why):
        reason = f"no finite escape time: {why}"
        self.d.text(reason + ".")
        self.missing(RESULT_KEYS, reason)
        raise _Stop

    def _quasi_homogeneous(self):
        """(β, γ, g, u) with f(x_c + ρ^β u; r_c + σρ) = ρ^γ g(u), or None."""
        nf, x, rho = self.nf, self.nf.state, self.s["rho"]
        if nf.threshold is not sympy.oo or _simplify(nf.x0 - self.xc) != 0:
            return None
        u = sympy.Symbol("u", nonnegative=True)
        shifted = sympy.expand(self.f_rho.subs(x, self.xc + u))
        poly = _attempt(lambda: sympy.Poly(shifted, u, rho), 5)
        if poly is None or not all(cf.is_number for cf in poly.coeffs()):
            return None
        beta, gamma = sympy.symbols("beta gamma")
        eqs = [i * beta + j - gamma for (i, j) in poly.monoms()]
        sol = sympy.linsolve(eqs, [beta, gamma])
        if not sol:
            return None
        b, g_ = next(iter(sol))
        if b.free_symbols or g_.free_symbols or not b > 0:
            return None
        g = sympy.expand(_simplify(shifted.subs(rho, 1)))
        return b, g_, g, u

    # -- 7. loss regimes --------------------------------------------------------------------
    def loss_regimes(self):
        d, s = self.d, self.s
        t, T = s["t"], s["T"]
        te = sympy.Symbol("t_esc", positive=True)
        L = sympy.Symbol("L")
        d.section("Loss in the analytical limit")
        d.text(
            "With $\\hat y = H(t - t_\\mathrm{esc})$ the integrand is $1$ exactly where output and "
            "target differ, which gives three regimes."
        )
        early = sympy.integrate(1, (t, te, T))
        d.equation(
            L,
            sympy.Eq(sympy.Integral(1, (t, te, T)), early, evaluate=False),
            prose="Early (the output turns on before $T$, $t_\\mathrm{esc} < T$):",
        )
        late = sympy.integrate(1, (t, T, te))
        d.equation(
            L,
            sympy.Eq(sympy.Integral(1, (t, T, te)), late, evaluate=False),
            prose="Late ($T \\le t_\\mathrm{esc} \\le 2T$):",
        )
        never = sympy.integrate(1, (t, T, 2 * T))
        d.equation(
            L,
            sympy.Eq(sympy.Integral(1, (t, T, 2 * T)), never, evaluate=False),
            prose="Never (the output stays off for the whole trial, $t_\\mathrm{esc} > 2T$, "
            "and also on the far side of the fold, where a fixed point blocks the "
            "path):",
        )
        self.regimes = (early, late, never, te)

    # -- 8. optimum, point of no return, L(r), dL/dr ----------------------------------------
    def optimum(self):
        d, s = self.d, self.s
        T, rho = s["T"], s["rho"]
        d.section("Optimum and point of no return")
        rs, rn = sympy.Symbol("r^*"), sympy.Symbol("r_n")
        closed = not _has_integral(self.te_algebra)
        rho_star = rho_n = None
        if closed and self.power is not None:
            # t_esc = C rho^kappa: invert the power law.
            C, kappa = self.power
            rho_star = _simplify((T / C) ** (1 / kappa))
            rho_n = _simplify((2 * T / C) ** (1 / kappa))
        elif closed:
            rho_star = self._solve_positive(sympy.Eq(self.te_algebra, T), rho)
            rho_n = self._solve_positive(sympy.Eq(self.te_algebra, 2 * T), rho)
        bad = None
        if rho_star is not None and rho_n is not None:
            bad = self._check_optimum(rho_star, rho_n)
        if rho_star is None or rho_n is None or bad:
            if bad:
                why = f"the closed forms of r*, r_n, |dL/dr| or alpha* were rejected ({bad})"
            elif closed:
                why = "t_esc(r) = T has no closed-form solution"
            elif self.rejected:
                why = "the escape time's closed form was rejected by the numerical check"
            else:
                why = "the escape time has no closed form"
            reason = (
                f"{why}; r*, the point of no return and alpha* are computed numerically "
                "(quadrature + root finding) when a value of T is given"
            )
            d.text(
                "The optimum solves $t_\\mathrm{esc}(r^*) = T$ and the point of no return "
                "$t_\\mathrm{esc}(r_n) = 2T$; " + why + ", so both are found numerically."
            )
            self.missing(_DA_KEYS, reason)
            self._loss_piecewise(rs, rn)
            raise _Stop
        self.rho_star, self.rho_n = rho_star, rho_n
        d.equation(
            sympy.Eq(sympy.Symbol("t_esc"), T),
            sympy.Eq(rho, rho_star, evaluate=False),
            relation="implies",
            prose="The loss vanishes when the output turns on exactly at $T$:",
        )
        r_star = self._value(self.rc + self.sigma * rho_star)
        self.result("r_star", r_star, lhs=rs)
        d.equation(
            sympy.Eq(sympy.Symbol("t_esc"), 2 * T),
            sympy.Eq(rho, rho_n, evaluate=False),
            relation="implies",
            prose="When the output turns on at $2T$ or later the loss no longer depends "
            "on $r$. This happens beyond the point of no return,",
        )
        r_n = self._value(self.rc + self.sigma * rho_n)
        self.result("point_of_no_return", r_n, lhs=rn)
        ratio = _simplify(rho_n / rho_star)
        d.equation(
            (rn - self.rc) / (rs - self.rc) if self.rc != 0 else rn / rs,
            ratio,
            prose="measured from the fold, a fixed fraction of the optimum:",
        )
        self._loss_piecewise(r_star, r_n)

    # -- numerical checks of closed forms (docs/math.md §8) ---------------------------------
    def _path_points(self):
        nf = self.nf
        inner = sorted(
            {
                p
                for p in self.path_xs
                if bool(p > nf.x0) and (nf.threshold is sympy.oo or bool(p < nf.threshold))
            },
            key=lambda p: float(_numeric(p)),
        )
        return [nf.x0, *inner, nf.threshold]

    def _te_quad(self, rho_val, derivative: bool = False):
        """t_esc (or dt_esc/dρ = −∫ ∂_ρ f / f² dx) at ρ by numerical quadrature, split at
        the folds on the path; None when the quadrature fails or runs out of time."""
        x, rho = self.nf.state, self.s["rho"]
        g = self.f_rho.subs(rho, rho_val)
        if derivative:
            integrand = -sympy.diff(self.f_rho, rho).subs(rho, rho_val) / g**2
        else:
            integrand = 1 / g
        pts = self._path_points()
        total = sympy.Float(0)
        for a, b in zip(pts[:-1], pts[1:], strict=True):
            v = _numeric(sympy.Integral(integrand, (x, a, b)))
            if v is None:
                return None
            total += v
        return total

    @staticmethod
    def _disagree(closed, numeric) -> bool:
        return (
            closed is None or numeric is None or abs(closed - numeric) > CHECK_RTOL * abs(numeric)
        )

    def _check_value(self, closed, integral, what):
        """None when a closed-form constant matches the quadrature of its integral."""
        c, q = _numeric(closed), _numeric(integral)
        if q is None:
            return None  # nothing independent to compare with: keep SymPy's answer
        if self._disagree(c, q):
            return f"{what}: closed form {sympy.sstr(closed)} = {_show(c)}, quadrature {_show(q)}"
        return None

    def _check_escape_time(self, te):
        """None when t_esc(ρ) matches quadrature at :data:`CHECK_RHO`, else why not."""
        if sympy.count_ops(te) > MAX_RESULT_OPS:
            return f"closed form longer than {MAX_RESULT_OPS} operations (MAX_RESULT_OPS)"
        for val in CHECK_RHO:
            c = _numeric(te.subs(self.s["rho"], val))
            q = self._te_quad(val)
            if q is None:
                continue
            if self._disagree(c, q):
                return (
                    f"at rho = {sympy.sstr(val)} the closed form {sympy.sstr(te)} gives "
                    f"{_show(c)}, quadrature {_show(q)}"
                )
        return None

    def _check_optimum(self, rho_star, rho_n):
        """None when r*, r_n, |dL/dr|_{r*} and alpha* match numerics at :data:`CHECK_T`."""
        T, rho = self.s["T"], self.s["rho"]
        te = self.te_algebra if self.C is None else self.te_algebra.subs(*self.C)
        G = -sympy.diff(te, rho).subs(rho, rho_star)
        a = (rho_star - rho_n) / G
        if self.C is not None:
            rho_star, rho_n, G, a = (e.subs(*self.C) for e in (rho_star, rho_n, G, a))
        for e in (rho_star, rho_n, a):
            if sympy.count_ops(e) > MAX_RESULT_OPS:
                return f"closed form longer than {MAX_RESULT_OPS} operations (MAX_RESULT_OPS)"
        for Tv in CHECK_T:
            rs, rn = _numeric(rho_star.subs(T, Tv)), _numeric(rho_n.subs(T, Tv))
            if rs is None or rn is None or not (rs > 0 and rn > 0):
                return f"at T = {Tv} the closed form of r* or r_n is not a positive number"
            for what, rv, target in (("r*", rs, Tv), ("r_n", rn, 2 * Tv)):
                q = self._te_quad(rv)
                if self._disagree(q, sympy.Float(target)):
                    return (
                        f"at T = {Tv} the escape time at the closed-form {what} is "
                        f"{_show(q)}, not {target}"
                    )
            Gq = self._te_quad(rs, derivative=True)
            Gq = None if Gq is None else -Gq
            Gc = _numeric(G.subs(T, Tv))
            if self._disagree(Gc, Gq):
                return f"at T = {Tv} |dL/dr| at r* is {_show(Gc)}, quadrature {_show(Gq)}"
            ac = _numeric(a.subs(T, Tv))
            if self._disagree(ac, (rs - rn) / Gq):
                return f"at T = {Tv} alpha* is {_show(ac)}, numerically {_show((rs - rn) / Gq)}"
        for k in _DA_KEYS:
            self.d.checks[k] = (
                "agrees with quadrature and root finding at T = "
                + ", ".join(map(sympy.sstr, CHECK_T))
                + f" to a relative {CHECK_RTOL:g}"
            )
        return None

    def _value(self, expr):
        expr = _simplify(expr)
        if self.C is not None:
            expr = expr.subs(*self.C)
        return expr

    def _solve_positive(self, eq, rho):
        sols = _attempt(lambda: sympy.solve(eq, rho))
        if not sols:
            return None
        pos = [_simplify(s) for s in sols if s.is_positive is not False]
        return pos[0] if len(pos) == 1 else None

    def _loss_piecewise(self, r_star, r_n):
        d, nf = self.d, self.nf
        r = nf.param
        early, late, never, te_sym = self.regimes
        te_r = self._in_r(self.te_rho)
        # Past r* the escape is early; between r_n and r* late; beyond r_n never.
        if self.sigma > 0:
            c_early, c_late = r >= r_star, r >= r_n
        else:
            c_early, c_late = r <= r_star, r <= r_n
        loss = sympy.Piecewise(
            (early.subs(te_sym, te_r), c_early),
            (late.subs(te_sym, te_r), c_late),
            (never, True),
        )
        d.text("Putting the regimes together (Eqs. 16--20 for the canonical model):")
        self.result("loss", loss, lhs=sympy.Function("L")(r))
        dte = _simplify(sympy.diff(te_r, r)) if not _has_integral(te_r) else sympy.diff(te_r, r)
        dloss = sympy.Piecewise((-dte, c_early), (dte, c_late), (0, True))
        d.text(
            "Its derivative jumps at the optimum "
            "(from $-|t_\\mathrm{esc}'|$ to $+|t_\\mathrm{esc}'|$), so "
            "gradient descent oscillates around $r^*$; beyond the point of no return it is "
            "exactly zero: the no-learning zone."
        )
        self.result("dloss_dr", dloss, lhs=sympy.Derivative(sympy.Function("L")(r), r))

    # -- 9. critical learning rate ----------------------------------------------------------
    def critical_learning_rate(self):
        d, s = self.d, self.s
        T, rho = s["T"], s["rho"]
        d.section("Critical learning rate")
        dte = sympy.diff(self.te_algebra, rho)
        G = self._value(-dte.subs(rho, self.rho_star))
        rs, rn = sympy.Symbol("r^*"), sympy.Symbol("r_n")
        self.result(
            "grad_at_r_star",
            G,
            lhs=sympy.Abs(sympy.Subs(sympy.Derivative(sympy.Symbol("L"), s["r"]), s["r"], rs)),
            prose="At the optimum the gradient has magnitude",
        )
        alpha = sympy.Symbol("alpha")
        d.text(
            "Gradient descent $r \\leftarrow r - \\alpha\\, \\partial L/\\partial r$ started "
            "on the early side approaches $r^*$ with steps that grow toward the optimum; the "
            "last step from just past $r^*$ has length $\\alpha |\\partial L/\\partial r|_{r^*}$. "
            "It lands beyond the point of no return, where the gradient is zero forever, "
            "when, with $G^* = |\\partial L/\\partial r|_{r^*}$,"
        )
        d.equation(alpha * sympy.Symbol("G^*"), sympy.Abs(rs - rn), relation=">")
        a_star = self._value((self.rho_star - self.rho_n) / -dte.subs(rho, self.rho_star))
        a_star = _simplify(a_star)
        self.result(
            "alpha_star",
            a_star,
            lhs=sympy.Symbol("alpha^*"),
            prose="so the critical learning rate is",
        )
        k = _simplify(T * sympy.diff(sympy.log(a_star), T))
        if k.free_symbols:
            reason = (
                "alpha*(T) is not a power law in T (d log alpha*/d log T = "
                f"{sympy.sstr(k)}); the local exponent is computed numerically"
            )
            self.missing(["alpha_star_exponent", "alpha_star_mse_exponent"], reason)
            d.text("$\\alpha^*(T)$ is not a power law in $T$.")
        else:
            d.equation(
                sympy.Symbol("alpha^*"),
                T**k,
                relation="propto",
                prose="It is a power law in the delay $T$,",
            )
            self.result(
                "alpha_star_exponent",
                k,
                lhs=LogDerivative(sympy.Symbol("alpha^*"), T),
            )
        d.text(
            "Rescaling the loss to a mean squared error, $L/(2T)$, divides the gradient by "
            "$2T$, so the critical learning rate is $2T$ times larger:"
        )
        a_mse = _simplify(2 * T * a_star)
        self.result("alpha_star_mse", a_mse, lhs=sympy.Symbol("alpha^*_MSE"))
        if not k.free_symbols:
            k_mse = _simplify(k + 1)
            d.equation(sympy.Symbol("alpha^*_MSE"), T**k_mse, relation="propto")
            self.result(
                "alpha_star_mse_exponent",
                k_mse,
                lhs=LogDerivative(sympy.Symbol("alpha^*_MSE"), T),
            )


def quartic_document() -> Derivation:
    """The worked example beyond the paper: dx/dt = x**4 + r (docs/math.md §8, exponent −11/3)."""
    return analyze(
        NormalForm.builtin("quartic"),
        key="normal_form_quartic",
        title="Beyond the paper: delayed activation through $\\dot x = x^4 + r$",
        abstract=(
            "The same pipeline that derives the canonical model, applied to a degenerate fold "
            "of order four. Nothing here is specific to this field: the fold, the scaling "
            "$t_\\mathrm{esc} \\propto r^{-3/4}$, the optimum, the point of no return and the "
            "critical "
            "learning rate $\\alpha^* \\propto T^{-11/3}$ all follow from $f$ alone."
        ),
    )
