"""Numerical slow points, ghosts and the reduction to dx/dt = x^2 + r (docs/math.md §1-2, Eqs.
1-11).

This is the numerical twin of :mod:`ghostsym.symbolic.reduction`, for fields whose slow points
have no closed form (and for numerical fields such as RNN latent flows). Three steps:

1. :func:`find_slow_points` minimises the kinetic energy q = 1/2 |F|^2 (Eq. 2) from each
   starting point (SciPy ``trust-exact`` with the exact gradient J^T F and Hessian
   J^T J + sum_i F_i H_i), polishes the end point with Newton's method on grad q = 0 (Eq. 5),
   and merges end points closer than the dedup radius (:mod:`ghostsym.analysis.search`).
2. :func:`classify_field_point` labels a critical point of q from F, the Hessian of q and
   the spectrum of J with the one classification of :mod:`ghostsym.analysis.points`
   (``"fixed-point"``, ``"ghost"``, ``"slow-point"``, ``"not-a-minimum"``; tolerances in
   :class:`Tolerances`).

3. :func:`reduce_to_canonical` computes p = u/(u^T v), c0 = p^T F(x_s), c2 = 1/2 p^T H[v, v] and
   r = c0 c2 (Eqs. 7-11), with v the right and u the left singular vector of J(x_s) for its
   smallest singular value (exactly the null vectors at an exact slow point), |v| = 1 and v
   oriented so that c0 >= 0 — the conventions of the symbolic path.

The search is the "any field" strategy of :mod:`ghostsym.analysis.search` (given starts,
trust-exact and Newton polish, then the shared :func:`ghostsym.analysis.search.collect`).
A field is given as :class:`FieldFunctions` — plain callables F(x), J(x) and optionally the
second-derivative tensor H(x) (central differences of J otherwise) — so numerical flows
(RNNs: F(x) = -x + W tanh(x) + b) use the same code. :func:`compile_field` builds them from
SymPy expressions through :func:`ghostsym.codegen.fields.compile_field` (generated numba
kernels for F, J, H, grad q and the Hessian of q; this module never sees SymPy itself)::

    compiled = compile_field(exprs, state, params)
    field = compiled.at({"mu": 1e-3, "b": 0.5})
    points = find_slow_points(field, x0s)
    ghost = next(p for p in points if p.kind == "ghost")
    red = reduce_to_canonical(field, ghost.x)      # red.c0, red.c2, red.r, red.passage_time
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from ghostsym.analysis import search
from ghostsym.analysis.points import (
    FIXED_POINT,
    GHOST,
    NOT_MINIMUM,
    SLOW_POINT,
    TOLERANCES,
    Point,
    Tolerances,
)
from ghostsym.analysis.points import classify as classify_point
from ghostsym.codegen import fields as field_kernels
from ghostsym.errors import InputError, NotDerivableError

__all__ = (
    "FIXED_POINT",
    "GHOST",
    "NOT_MINIMUM",
    "SLOW_POINT",
    "CanonicalReduction",
    "CompiledField",
    "FieldFunctions",
    "Tolerances",
    "bottleneck_passage_time",
    "classify_field_point",
    "compile_field",
    "find_slow_points",
    "reduce_symbolic_or_numeric",
    "reduce_to_canonical",
)

#: Relative step of the central differences of J used when H is not given.
FD_STEP = 1e-5
#: Newton polishing: iterations and the |grad q| accepted as converged (relative).
POLISH_ITERATIONS = 50
POLISH_TOL = 1e-13
#: The trust-exact minimiser's gradient target and iteration limit per start.
TRUST_EXACT_GTOL = 1e-14
MAX_ITERATIONS = 500


@dataclass(frozen=True)
class FieldFunctions:
    """Numerical callables of one vector field dx/dt = F(x) at fixed parameters.

    f : x (n,) -> F(x) (n,)
    jac : x -> J(x) (n, n), J_ij = dF_i/dx_j
    second : x -> H(x) (n, n, n), H_ijk = d^2 F_i / dx_j dx_k; central differences of
        ``jac`` when None.
    grad_q, hess_q : optional exact kernels of grad q and its Hessian; built from f, jac and
        second when None.
    """

    f: Callable[[np.ndarray], np.ndarray]
    jac: Callable[[np.ndarray], np.ndarray]
    second: Callable[[np.ndarray], np.ndarray] | None = None
    grad_q_fn: Callable[[np.ndarray], np.ndarray] | None = None
    hess_q_fn: Callable[[np.ndarray], np.ndarray] | None = None

    def F(self, x) -> np.ndarray:
        return np.asarray(self.f(np.asarray(x, dtype=float)), dtype=float)

    def J(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return np.asarray(self.jac(x), dtype=float).reshape(x.size, x.size)

    def H(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        n = x.size
        if self.second is not None:
            return np.asarray(self.second(x), dtype=float).reshape(n, n, n)
        H = np.empty((n, n, n))
        for k in range(n):
            h = FD_STEP * max(1.0, abs(x[k]))
            e = np.zeros(n)
            e[k] = h
            H[:, :, k] = (self.J(x + e) - self.J(x - e)) / (2 * h)
        return 0.5 * (H + H.transpose(0, 2, 1))

    def q(self, x) -> float:
        F = self.F(x)
        return 0.5 * float(F @ F)

    def grad_q(self, x) -> np.ndarray:
        if self.grad_q_fn is not None:
            return np.asarray(self.grad_q_fn(np.asarray(x, dtype=float)), dtype=float)
        return self.J(x).T @ self.F(x)

    def hess_q(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if self.hess_q_fn is not None:
            return np.asarray(self.hess_q_fn(x), dtype=float).reshape(x.size, x.size)
        J = self.J(x)
        return J.T @ J + np.einsum("i,ijk->jk", self.F(x), self.H(x))


class CompiledField:
    """A SymPy vector field compiled to numba kernels, at parameter values on demand.

    A wrapper of :class:`ghostsym.codegen.fields.CompiledField` (where the expressions become
    kernels); :meth:`at` binds parameter values (by name or in ``params`` order) and returns
    :class:`FieldFunctions`.
    """

    def __init__(self, compiled: field_kernels.CompiledField):
        self.compiled = compiled
        self.state = compiled.state
        self.params = compiled.params

    def at(self, values: Mapping[str, float] | Sequence[float] | None = None) -> FieldFunctions:
        """Numerical callables at the given parameter values (by name or in ``params`` order)."""
        k = self.compiled.bind(values)
        return FieldFunctions(k.f, k.jac, k.second, grad_q_fn=k.grad_q, hess_q_fn=k.hess_q)


def compile_field(exprs, state=None, params=(), **kwargs) -> CompiledField:
    """Compile field components (or a parsed field) with
    :func:`ghostsym.codegen.fields.compile_field`; see :class:`CompiledField`."""
    return CompiledField(field_kernels.compile_field(exprs, state, params, **kwargs))


def classify_field_point(field: FieldFunctions, x, tol: Tolerances = TOLERANCES) -> Point:
    """Classify a point where grad q = 0 (Eqs. 3, 5, 6) with
    :func:`ghostsym.analysis.points.classify`."""
    x = np.asarray(x, dtype=float)
    return classify_point(x, field.F(x), field.J(x), field.hess_q(x), tol)


def _polish(field: FieldFunctions, x: np.ndarray) -> np.ndarray:
    """Newton's method on grad q = 0 with the exact Hessian of q (quadratic convergence)."""
    best, best_norm = x, float(np.linalg.norm(field.grad_q(x)))
    for _ in range(POLISH_ITERATIONS):
        g = field.grad_q(x)
        if not np.all(np.isfinite(g)):
            break
        try:
            step = np.linalg.lstsq(field.hess_q(x), g, rcond=None)[0]
        except np.linalg.LinAlgError:
            break
        x = x - step
        norm = float(np.linalg.norm(field.grad_q(x)))
        if not math.isfinite(norm):
            break
        if norm < best_norm:
            best, best_norm = x, norm
        if np.linalg.norm(step) <= POLISH_TOL * (1 + np.linalg.norm(x)):
            break
    return best


def find_slow_points(
    field: FieldFunctions,
    x0s,
    *,
    tol: Tolerances = TOLERANCES,
    max_iterations: int = MAX_ITERATIONS,
    include_non_minima: bool = False,
) -> list[Point]:
    """Slow points, ghosts and fixed points reached by minimising q from each start (Eqs. 2-6).

    ``x0s`` is an array (m, n) of starting points. Returns the distinct classified points,
    minima of q first (ordered by q), each with ``hits`` = number of starts that reached it
    (represented by the end point with the smallest |grad q|). Points that are not minima of
    q are dropped unless ``include_non_minima``; starts whose minimisation diverged or did not
    reach a critical point are dropped.
    """
    x0s = np.atleast_2d(np.asarray(x0s, dtype=float))
    if x0s.size == 0 or not np.all(np.isfinite(x0s)):
        raise InputError("starting points must be a non-empty finite array (m, n)")
    ends = []
    for x0 in x0s:
        with np.errstate(all="ignore"):
            try:
                res = optimize.minimize(
                    field.q,
                    x0,
                    jac=field.grad_q,
                    hess=field.hess_q,
                    method="trust-exact",
                    options={"gtol": TRUST_EXACT_GTOL, "maxiter": max_iterations},
                )
                ends.append(_polish(field, np.asarray(res.x, dtype=float)))
            except (np.linalg.LinAlgError, ValueError, FloatingPointError):
                continue

    def evaluate(x):
        return field.F(x), field.J(x), field.hess_q(x)

    scale = max((float(np.linalg.norm(x)) for x in ends), default=1.0)
    found = search.collect(
        ends,
        evaluate,
        scale=scale,
        tol=tol,
        best_representative=True,
        include_non_minima=include_non_minima,
    )
    found.sort(key=lambda p: (p.kind == NOT_MINIMUM, 0.5 * p.speed**2))
    return found


@dataclass(frozen=True)
class CanonicalReduction:
    """ds/dt = c0 + c2 s^2 at a slow point and its canonical form dx/dt = x^2 + r (Eqs. 7-11)."""

    x_s: np.ndarray
    u: np.ndarray  # left null vector, |u| = 1
    v: np.ndarray  # right null vector, |v| = 1, oriented so that c0 >= 0
    p: np.ndarray  # u / (u^T v)
    c0: float
    c2: float
    r: float
    singular_values: np.ndarray  # of J(x_s), descending; the last is ~0

    @property
    def passage_time(self) -> float:
        """pi / sqrt(r), the bottleneck passage time of x^2 + r (inf if r <= 0)."""
        return math.pi / math.sqrt(self.r) if self.r > 0 else math.inf


def reduce_to_canonical(
    field: FieldFunctions, x_s, *, min_gap: float = 1e-3, min_alignment: float = 1e-8
) -> CanonicalReduction:
    """c0, c2 and r = c0 c2 at the slow point ``x_s`` (Eqs. 7-11), numerically.

    Raises :class:`NotDerivableError` when J(x_s) has no isolated smallest singular value
    (second-smallest below ``min_gap`` x largest: more than one slow direction) or when
    |u^T v| < ``min_alignment`` (nilpotent Jacobian: no saddle-node reduction).
    """
    x_s = np.asarray(x_s, dtype=float)
    n = x_s.size
    J = field.J(x_s)
    U, sv, Vt = np.linalg.svd(J)
    if n > 1 and sv[-2] < min_gap * max(sv[0], np.finfo(float).tiny):
        raise NotDerivableError(
            f"J(x_s) has more than one small singular value ({sv[-2]:.3g}, {sv[-1]:.3g}); the "
            "reduction to x^2 + r needs a single slow direction"
        )
    u, v = U[:, -1], Vt[-1]
    uv = float(u @ v)
    if abs(uv) < min_alignment:
        raise NotDerivableError("u^T v = 0 at the slow point (nilpotent Jacobian); no reduction")
    p = u / uv
    F = field.F(x_s)
    H = field.H(x_s)
    c0 = float(p @ F)
    c2 = 0.5 * float(p @ np.einsum("ijk,j,k->i", H, v, v))
    if c0 < 0:
        v, p, c0, c2 = -v, -p, -c0, -c2
    return CanonicalReduction(x_s, u if u @ p > 0 else -u, v, p, c0, c2, c0 * c2, sv)


def reduce_symbolic_or_numeric(
    exprs, state, params, values: Mapping[str, float], *, point=None, x0s=None
) -> dict:
    """The reduction at one slow point, symbolically when the point is known in closed form.

    ``point`` (a mapping state symbol -> SymPy expression in the parameters) selects the
    symbolic path (:func:`ghostsym.symbolic.reduction.reduce_symbolic`); otherwise the ghost
    found from ``x0s`` is reduced numerically. Returns a dict with ``method``
    ("symbolic"/"numeric"), ``c0``, ``c2``, ``r`` (floats at ``values``) and, for the
    symbolic path, the SymPy expressions under ``expressions``.
    """
    if point is not None:
        return {
            "method": "symbolic",
            **field_kernels.symbolic_reduction(exprs, state, params, point, values),
        }
    if x0s is None:
        raise InputError("give either a closed-form point or starting points x0s")
    field_fns = compile_field(exprs, state, params).at(values)
    ghosts = [p_ for p_ in find_slow_points(field_fns, x0s) if p_.kind == GHOST]
    if not ghosts:
        raise NotDerivableError("no ghost found from the given starting points")
    red = reduce_to_canonical(field_fns, ghosts[0].x)
    return {
        "method": "numeric",
        "c0": red.c0,
        "c2": red.c2,
        "r": red.r,
        "x_s": red.x_s,
        "reduction": red,
    }


def bottleneck_passage_time(
    field: FieldFunctions,
    x_s,
    v,
    half_width: float,
    *,
    start: float | None = None,
    t_max: float = 1e7,
    rtol: float = 1e-11,
    atol: float = 1e-12,
) -> float:
    """Simulated time between crossing the sections v^T(x - x_s) = -half_width and +half_width.

    The trajectory starts on the slow curve at v^T(x - x_s) = -``start`` (default 2 x
    ``half_width``): the point of that hyperplane where F is parallel to v, found by root
    finding from x_s - start v (a start off the slow curve can carry a transverse excess
    that pushes the trajectory through the bottleneck far faster than the slow flow).
    Choose ``start`` and ``half_width`` inside the region where the slow flow is slow
    compared with the transverse relaxation (roughly c2 |s| well below the smallest
    transverse |Re lambda|): a trajectory that reaches the ghost with a transverse excess
    is kicked across the bottleneck, whose width sqrt(c0/c2) vanishes, and never slows down.
    Integration: SciPy DOP853 at the given tolerances, section crossings located by event root
    finding. For a ghost with r = c0 c2 this tends to pi/sqrt(r) - O(1) as c0 -> 0
    (docs/math.md §2).
    """
    from scipy.integrate import solve_ivp

    x_s = np.asarray(x_s, dtype=float)
    v = np.asarray(v, dtype=float)
    start = 2 * half_width if start is None else start

    x_start = x_s - start * v
    if x_s.size > 1:
        # Orthonormal basis of the complement of v: F parallel to v <=> Q^T F = 0.
        Q = np.linalg.svd(v[:, None])[0][:, 1:]

        def on_slow_curve(x):
            return np.concatenate([Q.T @ field.F(x), [v @ (x - x_s) + start]])

        sol = optimize.root(on_slow_curve, x_start, method="hybr")
        if sol.success and np.all(np.isfinite(sol.x)):
            x_start = sol.x

    def rhs(_t, x):
        return field.F(x)

    def below(_t, x):
        return float(v @ (x - x_s)) + half_width

    def above(_t, x):
        return float(v @ (x - x_s)) - half_width

    below.direction = 1.0
    above.direction = 1.0
    above.terminal = True
    sol = solve_ivp(
        rhs,
        (0.0, t_max),
        x_start,
        method="DOP853",
        rtol=rtol,
        atol=atol,
        events=(below, above),
    )
    if sol.status != 1 or len(sol.t_events[0]) == 0 or len(sol.t_events[1]) == 0:
        raise NotDerivableError(
            f"the trajectory did not cross the bottleneck (solver status {sol.status}: "
            f"{sol.message})"
        )
    return float(sol.t_events[1][0] - sol.t_events[0][0])
