"""Slow points, ghosts and the reduction of an n-dimensional flow to dx/dt = x^2 + r (Eqs. 1-11).

For dx/dt = F(x) (Eq. 1) the kinetic energy is q = 1/2 |F|^2 (Eq. 2) and its gradient is
grad q = J^T F (Eq. 4), J the Jacobian of F. A **slow point** x_s is a minimum of q with
F(x_s) != 0 (Eq. 3); there J^T F = 0 (Eq. 5), so F(x_s) is a *left* null vector u of J. With
v the *right* null vector (the slow direction) and p = u / (u^T v), projecting the second-order
expansion F(x_s + s v + w) = F_s + J (s v + w) + 1/2 H[s v + w, s v + w] on p gives

    ds/dt = c0 + c2 s^2,   c0 = p^T F(x_s),   c2 = 1/2 p^T H[v, v]          (Eqs. 7-10)

and x = c2 s turns it into the canonical form dx/dt = x^2 + r, r = c0 c2 (Eq. 11). A slow point
is a **ghost** when every other eigenvalue of J(x_s) has a negative real part (Eq. 6); a
trajectory then needs about pi / sqrt(r) to cross the bottleneck.

Conventions (used identically by the numerical path :mod:`ghostsym.analysis.slow_points`):
v has unit Euclidean length; c0 and c2 individually depend on that choice and on the sign of
v (c0 -> c0/k, c2 -> c2 k under v -> k v), but r = c0 c2 does not. The numerical path orients
v so that c0 >= 0; the symbolic path does so whenever the sign of c0 is decidable.

This module is SymPy only. The public entry points:

* :func:`kinetic_energy`, :func:`jacobian`, :func:`slow_point_condition` — Eqs. 2, 4, 5;
* :func:`solve_slow_points` — closed-form solutions of J^T F = 0 with F != 0, when SymPy finds
  them;
* :func:`reduce_symbolic` — c0, c2, r (and u, v, p, the transverse spectrum) at a known slow
  point;
* :func:`reduction_document` — the LaTeX derivation ``derivations/reduction.tex``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sympy

from ghostsym.errors import InputError, NotDerivableError
from ghostsym.symbolic.derivation import Derivation, Nabla, latex


def _as_matrix(field) -> sympy.Matrix:
    if isinstance(field, sympy.MatrixBase):
        return sympy.Matrix(field).reshape(len(field), 1)
    return sympy.Matrix([sympy.sympify(f) for f in field])


def kinetic_energy(field) -> sympy.Expr:
    """q(x) = 1/2 |F(x)|^2 (Eq. 2)."""
    F = _as_matrix(field)
    return sympy.Rational(1, 2) * sum(f**2 for f in F)


def jacobian(field, state: Sequence[sympy.Symbol]) -> sympy.Matrix:
    """J_ij = dF_i/dx_j."""
    return _as_matrix(field).jacobian(list(state))


def second_derivatives(field, state: Sequence[sympy.Symbol]) -> list[sympy.Matrix]:
    """H_i = Hessian of F_i, so that H[a, b]_i = a^T H_i b."""
    return [sympy.hessian(f, list(state)) for f in _as_matrix(field)]


def slow_point_condition(field, state: Sequence[sympy.Symbol]) -> sympy.Matrix:
    """grad q = J^T F (Eq. 4); it vanishes at slow and fixed points (Eq. 5)."""
    F = _as_matrix(field)
    return jacobian(F, state).T * F


def _is_zero(expr) -> bool | None:
    expr = sympy.simplify(expr)
    if expr == 0:
        return True
    return False if expr.is_zero is False else (None if expr.is_zero is None else True)


def solve_slow_points(
    field, state: Sequence[sympy.Symbol], *, include_fixed_points: bool = False
) -> list[dict[sympy.Symbol, sympy.Expr]]:
    """Closed-form solutions of J^T F = 0 (Eq. 5) with F != 0 (Eq. 3).

    Candidates that are provably non-real, and those with F identically zero (fixed points,
    unless ``include_fixed_points``), are dropped. Whether a candidate is a *minimum* of q,
    and a ghost, depends on parameter values; check it with :func:`classify_symbolic` or
    numerically. Raises :class:`NotDerivableError` when SymPy finds no closed form.
    SymPy's ``solve`` can be slow for transcendental systems; pass the point to
    :func:`reduce_symbolic` directly when it is known.
    """
    F = _as_matrix(field)
    state = list(state)
    try:
        candidates = sympy.solve(list(slow_point_condition(F, state)), state, dict=True)
    except NotImplementedError as exc:
        raise NotDerivableError(f"SymPy cannot solve J^T F = 0 in closed form: {exc}") from None
    found = []
    for sol in candidates:
        if len(sol) != len(state) or any(sol[s].is_real is False for s in state):
            continue
        values = [sympy.simplify(f.subs(sol)) for f in F]
        if not include_fixed_points and all(_is_zero(v) for v in values):
            continue
        found.append({s: sympy.simplify(sol[s]) for s in state})
    if not found:
        raise NotDerivableError("J^T F = 0 has no closed-form solution with F != 0")
    return found


@dataclass(frozen=True)
class SymbolicReduction:
    """The reduction of Eqs. 7-11 at one slow point, as SymPy expressions."""

    point: dict
    F: sympy.Matrix  # F(x_s)
    J: sympy.Matrix  # J(x_s)
    u: sympy.Matrix  # left null vector, u^T J = 0
    v: sympy.Matrix  # right null vector (slow direction), J v = 0, |v| = 1
    p: sympy.Matrix  # u / (u^T v)
    c0: sympy.Expr
    c2: sympy.Expr
    r: sympy.Expr
    transverse_eigenvalues: dict  # eigenvalue -> multiplicity, the zero eigenvalue removed
    q_hessian: sympy.Matrix  # Hessian of q at x_s (Eq. 3: positive semidefinite at a slow point)

    @property
    def passage_time(self) -> sympy.Expr:
        """pi / sqrt(r): time to cross the bottleneck of dx/dt = x^2 + r (r > 0)."""
        return sympy.pi / sympy.sqrt(self.r)


def _simplify_matrix(M: sympy.Matrix) -> sympy.Matrix:
    return M.applyfunc(sympy.simplify)


def reduce_symbolic(
    field,
    state: Sequence[sympy.Symbol],
    point: Mapping[sympy.Symbol, sympy.Expr] | Sequence[sympy.Expr],
) -> SymbolicReduction:
    """c0, c2 and r = c0 c2 at a slow point known in closed form (Eqs. 7-11).

    ``point`` maps each state symbol to its value (or lists the values in state order).
    Raises :class:`InputError` if J^T F does not vanish there (not a slow point) and
    :class:`NotDerivableError` if the null space of J(x_s) is not one-dimensional or
    u^T v = 0 (the slow direction is degenerate; no saddle-node reduction).
    """
    F = _as_matrix(field)
    state = list(state)
    if len(F) != len(state):
        raise InputError(f"{len(F)} field components for {len(state)} state variables")
    if not isinstance(point, Mapping):
        point = dict(zip(state, point, strict=True))
    point = {s: sympy.sympify(point[s]) for s in state}
    Fs = _simplify_matrix(F.subs(point))
    J = jacobian(F, state)
    Js = _simplify_matrix(J.subs(point))
    condition = _simplify_matrix(Js.T * Fs)
    if any(_is_zero(c) is False for c in condition):
        raise InputError(
            f"the point {point} is not a slow point: J^T F = {list(condition)} is not zero"
        )
    right = Js.nullspace(simplify=True)
    left = Js.T.nullspace(simplify=True)
    if len(right) != 1 or len(left) != 1:
        raise NotDerivableError(
            f"J(x_s) has a {len(right)}-dimensional null space; the reduction to x^2 + r needs "
            "exactly one slow direction"
        )
    v = right[0]
    v = _simplify_matrix(v / sympy.sqrt(sum(c**2 for c in v)))
    u = left[0]
    uv = sympy.simplify((u.T * v)[0])
    if _is_zero(uv):
        raise NotDerivableError("u^T v = 0 at the slow point (nilpotent Jacobian); no reduction")
    p = _simplify_matrix(u / uv)
    c0 = sympy.simplify((p.T * Fs)[0])
    H = [Hi.subs(point) for Hi in second_derivatives(F, state)]
    c2 = sympy.simplify(sum(p[i] * (v.T * H[i] * v)[0] for i in range(len(state))) / 2)
    if c0.is_negative:
        v, p, c0, c2 = -v, -p, -c0, -c2
    r = sympy.factor(sympy.simplify(c0 * c2))
    eigen = Js.eigenvals()
    transverse = dict(eigen)
    for lam in list(transverse):
        if _is_zero(lam):
            transverse[lam] -= 1
            if transverse[lam] == 0:
                del transverse[lam]
            break
    q_hess = _simplify_matrix(sympy.hessian(kinetic_energy(F), state).subs(point))
    return SymbolicReduction(point, Fs, Js, u, v, p, c0, c2, r, transverse, q_hess)


def classify_symbolic(reduction: SymbolicReduction, values: Mapping[sympy.Symbol, float]) -> str:
    """Classify a reduced point at given parameter values (exact arithmetic where possible).

    Returns ``"fixed-point"``, ``"ghost"`` (minimum of q, F != 0, transverse eigenvalues with
    negative real parts: Eqs. 3, 6), ``"slow-point"`` (a minimum of q that is not transversely
    stable) or ``"not-a-minimum"`` (of q) — the labels of the numerical classification
    (``ghostsym.analysis.points.KINDS``).
    """
    by_name = {str(k): v for k, v in values.items()}
    free = set().union(reduction.F.free_symbols, reduction.J.free_symbols)
    subs = {sym: by_name[sym.name] for sym in free if sym.name in by_name}
    F = [sympy.N(f.subs(subs)) for f in reduction.F]
    if all(abs(f) == 0 for f in F):
        return "fixed-point"
    hess = reduction.q_hessian.subs(subs).evalf()
    if any(sympy.re(ev) < -1e-12 for ev in hess.eigenvals()):
        return "not-a-minimum"
    re_parts = [sympy.re(sympy.N(lam.subs(subs))) for lam in reduction.transverse_eigenvalues]
    return "ghost" if all(x < 0 for x in re_parts) else "slow-point"


# -- the derivation document ------------------------------------------------------------------


class SecondOrder(sympy.MatrixExpr):
    """:math:`H[u, v]`: the second-order term of the field at the slow point applied to the
    vectors ``u`` and ``v`` (a vector of the field's shape)."""

    def __new__(cls, u, v):
        return sympy.Basic.__new__(cls, u, v)

    @property
    def shape(self):
        return self.args[0].shape

    def _latex(self, printer):
        u, v = (printer._print(arg) for arg in self.args)
        return f"H[{u}, {v}]"


class spec(sympy.Function):  # noqa: N801 (printed name)
    """The spectrum of a matrix (printed :math:`\\operatorname{spec}`)."""

    nargs = 1


def _example_field():
    x, y = sympy.symbols("x y", real=True)
    mu, b = sympy.symbols("mu b", positive=True)
    return (mu + x**2 + y, -y + b * x**2), (x, y), (mu, b)


def theta_neuron_field():
    """The theta neuron d(theta)/dt = 1 - cos(theta) + (1 + cos(theta)) I (Ermentrout-Kopell)."""
    theta = sympy.Symbol("theta", real=True)
    current = sympy.Symbol("I", positive=True)
    return (1 - sympy.cos(theta) + (1 + sympy.cos(theta)) * current,), (theta,), (current,)


def example_field():
    """The worked example of the document: a non-normal 2-D system with a ghost.

    dx/dt = mu + x^2 + y,  dy/dt = -y + b x^2.  Returns (field, state, params).
    """
    return _example_field()


def reduction_document() -> Derivation:
    """Derivation ``reduction``: slow points, ghosts and the canonical form (Eqs. 1-11)."""
    d = Derivation(
        "reduction",
        "Slow points, ghosts and the reduction to the canonical form",
        "For an $n$-dimensional flow we define slow points through the kinetic energy, show "
        "that the flow's value there is a left null vector of the Jacobian, and project the "
        "second-order expansion on that null vector to obtain $\\dot x = x^2 + r$ "
        "(Eqs.~1--11 of Dinc et al.). The reduction is carried out symbolically on a "
        "non-normal two-dimensional system with a ghost and on the theta neuron.",
    )
    n = sympy.Symbol("n", integer=True, positive=True)
    X = sympy.MatrixSymbol("x", n, 1)
    Fm = sympy.MatrixSymbol("F", n, 1)
    Jm = sympy.MatrixSymbol("J", n, n)
    um = sympy.MatrixSymbol("u", n, 1)
    vm = sympy.MatrixSymbol("v", n, 1)
    pm = sympy.MatrixSymbol("p", n, 1)
    q, t, s = sympy.symbols("q t s")
    c0s, c2s, rs = sympy.symbols("c_0 c_2 r")
    lam = sympy.Symbol("lambda")

    d.section("Slow points and ghosts (Eqs. 1--6)")
    d.equation(sympy.Derivative(X, t), Fm, label="1", prose="The system is")
    d.equation(q, sympy.Rational(1, 2) * Fm.T * Fm, label="2", prose="with kinetic energy")
    d.equation(
        Nabla(q),
        Jm.T * Fm,
        label="4",
        prose="Its gradient is, with $J_{ij} = \\partial F_i / \\partial x_j$ the Jacobian,",
    )
    d.text(
        "A slow point $x_s$ is a local minimum of $q$ at which the flow does not vanish "
        "(Eq.~3); a fixed point has $F(x_s) = 0$ instead:"
    )
    x_s = sympy.Symbol("x_s")
    d.equation(Nabla(q, 1, x_s), 0, label="3")
    d.equation(Nabla(q, 2, x_s), 0, relation=">=")
    d.equation(sympy.Ne(sympy.Function("F")(x_s), 0))
    d.text("At a slow point Eq.~4 gives")
    d.equation(Jm.T * Fm, sympy.ZeroMatrix(n, 1), label="5")
    d.text(
        "so $u = F(x_s)/\\lVert F(x_s)\\rVert$ is a left null vector of $J(x_s)$, which "
        "therefore has a zero eigenvalue; $v$ denotes the matching right null vector, the "
        "slow direction. The slow point is a ghost when it is transversely stable (Eq.~6): "
        "every other eigenvalue $\\lambda$ of $J(x_s)$ satisfies"
    )
    d.equation(sympy.re(lam), 0, relation="<", label="6")

    d.section("Reduction to the canonical form (Eqs. 7--11)")
    d.text(
        "Write $x = x_s + s\\,v + w$ with $w$ in the transverse (stable) subspace and expand "
        "$F$ to second order, $F(x_s + \\delta) \\approx F(x_s) + J\\delta + \\tfrac12 "
        "H[\\delta, \\delta]$. With $p = u/(u^{\\top} v)$, so that $p^{\\top} v = 1$ and "
        "$p^{\\top} J = 0$, the projection on $p$ removes the linear term. The transverse part "
        "relaxes onto a slow curve $w = h(s) = O(s^2) + O(c_0)$ whose feedback is of order "
        "$s^3$ or $c_0 s$, and"
    )
    d.equation(pm, um / (um.T * vm), label="7")
    d.equation(sympy.Derivative(s, t), c0s + c2s * s**2, label="8")
    d.equation(c0s, pm.T * sympy.MatrixSymbol("F_s", n, 1), label="9")
    d.equation(
        c2s,
        sympy.Rational(1, 2) * pm.T * SecondOrder(vm, vm),
        label="10",
    )
    xx = sympy.Symbol("x")
    d.equation(
        sympy.Derivative(xx, t),
        xx**2 + rs,
        label="11",
        prose="Rescaling $x = c_2 s$ gives the canonical form",
    )
    d.equation(rs, c0s * c2s)
    d.text(
        "The coefficients $c_0$ and $c_2$ depend on the normalisation of $v$ (we take "
        "$\\lVert v\\rVert = 1$ and orient $v$ so that $c_0 \\ge 0$), but $r = c_0 c_2$ does "
        "not. For $r > 0$ a trajectory crosses the bottleneck, from far below to far above, in"
    )
    d.equation(sympy.Symbol("T_pass"), sympy.pi / sympy.sqrt(rs), relation="approx")

    # -- worked example 1 ----------------------------------------------------------------
    field, state, params = _example_field()
    x, y = state
    mu, b = params
    F = sympy.Matrix(field)
    d.section("Example: a non-normal two-dimensional ghost")
    d.equation(sympy.Derivative(x, t), F[0], prose="Take, with $\\mu > 0$ and $b > 0$,")
    d.equation(sympy.Derivative(y, t), F[1])
    d.equation(q, sympy.expand(kinetic_energy(F)), prose="Kinetic energy (Eq. 2):")
    J = jacobian(F, state)
    d.equation(sympy.Symbol("J"), J, prose="Jacobian:")
    grad = slow_point_condition(F, state).applyfunc(sympy.factor)
    d.equation(
        sympy.MatrixSymbol("J", 2, 2).T * sympy.MatrixSymbol("F", 2, 1),
        grad,
        prose="The slow-point condition (Eqs. 4, 5):",
    )
    points = solve_slow_points(F, state)
    point = points[0]
    d.text(
        "Its only real solution with $F \\ne 0$ (SymPy's \\texttt{solve}; the fixed points "
        "$x^2 = -\\mu/(1+b)$ are not real for $\\mu > 0$) is"
    )
    d.equation(sympy.Matrix(state), sympy.Matrix([point[s_] for s_ in state]))
    red = reduce_symbolic(F, state, point)
    x_s = sympy.Symbol("x_s")
    d.result("example_F_s", red.F, lhs=sympy.Function("F")(x_s))
    d.result("example_J_s", red.J, lhs=sympy.Function("J")(x_s))
    eig = red.J.eigenvals()
    d.equation(
        spec(sympy.Function("J")(x_s)),
        sympy.FiniteSet(*eig.keys()),
        prose="Its spectrum contains the zero eigenvalue of Eq.~5 and one transverse "
        "eigenvalue, which is negative: the slow point is a ghost (Eq.~6).",
    )
    d.equation(
        Nabla(sympy.Symbol("q"), 2, x_s),
        red.q_hessian,
        prose="The Hessian of $q$ there is positive semidefinite for $\\mu > 0$ small "
        "(Eq.~3; its determinant is "
        f"${latex(sympy.factor(red.q_hessian.det()))}$):",
    )
    d.text(
        "The left and right null vectors differ (the Jacobian is not normal), "
        "so the normalisation $p = u/(u^{\\top}v)$ matters:"
    )
    d.result("example_u", red.u, lhs=sympy.Symbol("u"))
    d.result("example_v", red.v, lhs=sympy.Symbol("v"))
    d.result("example_p", red.p, lhs=sympy.Symbol("p"))
    d.result("example_c0", red.c0, lhs=c0s, prose="The reduced coefficients (Eqs. 9, 10):")
    d.result("example_c2", red.c2, lhs=c2s)
    d.result("example_r", red.r, lhs=rs, prose="and the canonical parameter (Eq. 11)")
    d.result("example_passage_time", red.passage_time, lhs=sympy.Symbol("T_pass"))
    d.text(
        "This agrees with the slow-manifold picture: $y$ relaxes to $b x^2$, leaving "
        "$\\dot x \\approx \\mu + (1+b) x^2$. The numerical check \\texttt{reduction-bottleneck} "
        "confirms that simulated passage times approach $\\pi/\\sqrt{r}$ as $\\mu \\to 0$."
    )

    # -- worked example 2 ----------------------------------------------------------------
    (g,), (theta,), (current,) = theta_neuron_field()
    d.section("Example: the theta neuron")
    d.equation(
        sympy.Derivative(theta, t),
        g,
        prose="The theta neuron with input $0 < I < 1$ has exact period $\\pi/\\sqrt{I}$.",
    )
    tred = reduce_symbolic([g], [theta], {theta: 0})
    d.text(
        "At $\\theta = 0$ the derivative $J = (1-I)\\sin\\theta$ vanishes, so $\\theta = 0$ "
        "is a slow point (a ghost: in one dimension there is no transverse direction, and "
        "$q'' = 2I(1-I) > 0$). The reduction gives"
    )
    d.result("theta_c0", tred.c0, lhs=c0s)
    d.result("theta_c2", tred.c2, lhs=c2s)
    d.result("theta_r", tred.r, lhs=rs)
    exact_error = sympy.simplify(sympy.sqrt(current) / sympy.sqrt(tred.r) - 1)
    leading = sympy.series(exact_error, current, 0, 2).removeO()
    d.results["theta_relative_error"] = exact_error
    d.results["theta_relative_error_leading"] = leading
    d.equation(
        sympy.Mul(sympy.sqrt(current), 1 / sympy.sqrt(rs), evaluate=False) - 1,
        exact_error,
        prose="so $\\pi/\\sqrt{r}$ over-estimates the exact period by the relative amount",
    )
    d.equation(exact_error, leading + sympy.O(current**2))
    d.text("to leading order: the truncation of Eq.~8 at second order costs $O(I)$.")
    return d
