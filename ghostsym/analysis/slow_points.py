"""Numerical slow points, ghosts and the reduction to dx/dt = x^2 + r (MATH.md §1-2, Eqs. 1-11).

This is the numerical twin of :mod:`ghostsym.symbolic.reduction`, for fields whose slow points
have no closed form (and for numerical fields such as RNN latent flows). Three steps:

1. :func:`find_slow_points` minimises the kinetic energy q = 1/2 |F|^2 (Eq. 2) from each
   starting point (SciPy ``trust-exact`` with the exact gradient J^T F and Hessian
   J^T J + sum_i F_i H_i), polishes the end point with Newton's method on grad q = 0 (Eq. 5),
   and merges end points closer than ``dedup_tol``.
2. :func:`classify` labels a critical point of q from F, the Hessian of q and the spectrum of J
   (tolerances in :class:`Tolerances`):

   * ``"fixed point"`` — |F| <= ``speed``;
   * ``"ghost"`` — a minimum of q (Eq. 3) with F != 0 whose Jacobian has one eigenvalue
     near zero and every other eigenvalue with real part < -``transverse`` (Eq. 6);
   * ``"slow point"`` — any other minimum of q with F != 0 (mixed transverse stability);
   * ``"not a minimum of q"`` — a critical point of q with a negative Hessian eigenvalue
     below -``hessian`` x (largest |eigenvalue|), e.g. a local maximum of the speed.

3. :func:`reduce_to_canonical` computes p = u/(u^T v), c0 = p^T F(x_s), c2 = 1/2 p^T H[v, v] and
   r = c0 c2 (Eqs. 7-11), with v the right and u the left singular vector of J(x_s) for its
   smallest singular value (exactly the null vectors at an exact slow point), |v| = 1 and v
   oriented so that c0 >= 0 — the conventions of the symbolic path.

A field is given as :class:`FieldFunctions` — plain callables F(x), J(x) and optionally the
second-derivative tensor H(x) (central differences of J otherwise) — so numerical flows
(RNNs: F(x) = -x + W tanh(x) + b) use the same code. :func:`compile_field` builds them from
SymPy expressions through :mod:`ghostsym.codegen` (generated numba kernels for F, J, H,
grad q and the Hessian of q)::

    compiled = compile_field(exprs, state, params)
    field = compiled.at({"mu": 1e-3, "b": 0.5})
    points = find_slow_points(field, x0s)
    ghost = next(p for p in points if p.kind == "ghost")
    red = reduce_to_canonical(field, ghost.x)      # red.c0, red.c2, red.r, red.passage_time
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize

from ghostsym import codegen
from ghostsym.errors import InputError, NotDerivableError

#: Classification labels.
FIXED_POINT = "fixed point"
GHOST = "ghost"
SLOW_POINT = "slow point"
NOT_MINIMUM = "not a minimum of q"

#: Relative step of the central differences of J used when H is not given.
FD_STEP = 1e-5
#: Default merge distance of end points (Euclidean, relative to 1 + |x|).
DEDUP_TOL = 1e-6
#: Newton polishing: iterations and the |grad q| accepted as converged (relative).
POLISH_ITERATIONS = 50
POLISH_TOL = 1e-13


@dataclass(frozen=True)
class Tolerances:
    """Tolerances of :func:`classify` (each stated with its reason).

    speed : |F| at or below this is a fixed point. A converged slow point of a ghost with
        reduced speed c0 has |F| ~ c0 |u^T v|, so ghosts slower than this are reported as
        fixed points; 1e-9 is far below any c0 used in ghostsym and far above the 1e-14
        residual of a polished fixed point.
    zero : the eigenvalue of J nearest zero must satisfy |lambda| <= zero * max(1, |J|) at a
        slow point (Eq. 5 makes it exactly 0; the residual comes from the location error).
    transverse : transverse stability needs Re lambda < -transverse for every other
        eigenvalue (Eq. 6); a margin keeps round-off from deciding stability.
    hessian : a minimum of q needs every eigenvalue of the Hessian of q to be
        >= -hessian * max|eigenvalue| (positive semidefinite up to round-off, Eq. 3).
    gradient : a point is a critical point of q when |grad q| <= gradient * max(1, |J| |F|).
    """

    speed: float = 1e-9
    zero: float = 1e-6
    transverse: float = 1e-9
    hessian: float = 1e-8
    gradient: float = 1e-8


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
    """A SymPy vector field compiled to numba kernels (F, J, H, grad q, Hessian of q).

    ``exprs`` are the components dx_i/dt, ``state`` the state symbols (same order), ``params``
    the parameter symbols. :meth:`at` binds parameter values and returns
    :class:`FieldFunctions`. Kernels come from :func:`ghostsym.codegen.build_module`
    (cached on disk by a hash of the expressions).
    """

    def __init__(self, exprs, state, params=(), *, cache_dir=None):
        import sympy

        from ghostsym.symbolic import reduction

        self.exprs = tuple(sympy.sympify(e) for e in exprs)
        self.state = tuple(state)
        self.params = tuple(params)
        n = len(self.state)
        if len(self.exprs) != n:
            raise InputError(f"{len(self.exprs)} field components for {n} state variables")
        free = set().union(*(e.free_symbols for e in self.exprs))
        unknown = free - set(self.state) - set(self.params)
        if unknown:
            names = ", ".join(sorted(map(str, unknown)))
            raise InputError(f"field uses symbols that are neither state nor parameters: {names}")
        J = reduction.jacobian(self.exprs, self.state)
        H = reduction.second_derivatives(self.exprs, self.state)
        q = reduction.kinetic_energy(self.exprs)
        grad = [sympy.diff(q, s) for s in self.state]
        hess = sympy.hessian(q, self.state)
        args = self.state + self.params
        kernels = [
            codegen.Kernel("field", args, self.exprs),
            codegen.Kernel("jacobian", args, tuple(J)),
            codegen.Kernel("second", args, tuple(h for Hi in H for h in Hi)),
            codegen.Kernel("grad_q", args, tuple(grad)),
            codegen.Kernel("hess_q", args, tuple(hess)),
        ]
        self.module = codegen.build_module(kernels, label="slow_points", cache_dir=cache_dir)

    def _values(self, values) -> tuple[float, ...]:
        if values is None:
            values = {}
        if isinstance(values, Mapping):
            by_name = {str(k): v for k, v in values.items()}
            missing = [p.name for p in self.params if p.name not in by_name]
            if missing:
                raise InputError(f"missing parameter value(s): {', '.join(missing)}")
            extra = set(by_name) - {p.name for p in self.params}
            if extra:
                raise InputError(f"unknown parameter(s): {', '.join(sorted(extra))}")
            vals = [by_name[p.name] for p in self.params]
        else:
            vals = list(values)
            if len(vals) != len(self.params):
                raise InputError(f"expected {len(self.params)} parameter values, got {len(vals)}")
        vals = [float(v) for v in vals]
        if not all(math.isfinite(v) for v in vals):
            raise InputError("parameter values must be finite")
        return tuple(vals)

    def at(self, values: Mapping[str, float] | Sequence[float] | None = None) -> FieldFunctions:
        """Numerical callables at the given parameter values (by name or in ``params`` order)."""
        theta = self._values(values)
        m = self.module
        n = len(self.state)

        def call(kern):
            return lambda x: np.array(kern(*x, *theta), dtype=float)

        def call_matrix(kern, shape):
            return lambda x: np.array(kern(*x, *theta), dtype=float).reshape(shape)

        return FieldFunctions(
            f=call(m.field),
            jac=call_matrix(m.jacobian, (n, n)),
            second=call_matrix(m.second, (n, n, n)),
            grad_q_fn=call(m.grad_q),
            hess_q_fn=call_matrix(m.hess_q, (n, n)),
        )


def compile_field(exprs, state=None, params=(), **kwargs) -> CompiledField:
    """Compile SymPy field components (or a :class:`~ghostsym.symbolic.parsing.ParsedField`)."""
    if hasattr(exprs, "exprs") and hasattr(exprs, "state"):
        return CompiledField(exprs.exprs, exprs.state, exprs.params, **kwargs)
    if state is None:
        raise InputError("compile_field needs the state symbols")
    return CompiledField(exprs, state, params, **kwargs)


@dataclass
class SlowPoint:
    """A classified critical point of q (see :func:`classify`)."""

    x: np.ndarray
    kind: str
    speed: float  # |F(x)|
    grad_norm: float  # |grad q(x)| = |J^T F|
    eigenvalues: np.ndarray  # spectrum of J(x), sorted by |lambda|
    q_hessian_eigenvalues: np.ndarray
    zero_eigenvalue: complex | None  # the eigenvalue nearest 0 (slow points), else None
    transverse_eigenvalues: np.ndarray  # the others (slow points); all eigenvalues otherwise
    stable: bool  # every eigenvalue (fixed point) / transverse eigenvalue (slow point) Re < 0
    hits: int = 1  # how many starting points ended here
    details: dict[str, Any] = field(default_factory=dict)


def classify(field: FieldFunctions, x, tol: Tolerances = Tolerances()) -> SlowPoint:
    """Classify a point where grad q = 0 (Eqs. 3, 5, 6); see the module docstring."""
    x = np.asarray(x, dtype=float)
    F = field.F(x)
    J = field.J(x)
    speed = float(np.linalg.norm(F))
    grad = J.T @ F
    grad_norm = float(np.linalg.norm(grad))
    eig = np.linalg.eigvals(J)
    eig = eig[np.argsort(np.abs(eig))]
    hq = field.hess_q(x)
    hq_eig = np.linalg.eigvalsh(0.5 * (hq + hq.T))
    scale = max(1.0, float(np.max(np.abs(eig))))
    details = {"critical": grad_norm <= tol.gradient * max(1.0, np.linalg.norm(J) * speed)}
    if speed <= tol.speed:
        stable = bool(np.all(eig.real < 0))
        return SlowPoint(
            x, FIXED_POINT, speed, grad_norm, eig, hq_eig, None, eig, stable, details=details
        )
    zero, transverse = eig[0], eig[1:]
    details["zero_ok"] = bool(abs(zero) <= tol.zero * scale)
    stable = bool(np.all(transverse.real < -tol.transverse))
    hq_scale = max(float(np.max(np.abs(hq_eig))), np.finfo(float).tiny)
    if hq_eig[0] < -tol.hessian * hq_scale:
        kind = NOT_MINIMUM
    elif stable and details["zero_ok"]:
        kind = GHOST
    else:
        kind = SLOW_POINT
    return SlowPoint(
        x, kind, speed, grad_norm, eig, hq_eig, zero, transverse, stable, details=details
    )


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
    tol: Tolerances = Tolerances(),
    dedup_tol: float = DEDUP_TOL,
    max_iterations: int = 500,
    include_non_minima: bool = False,
) -> list[SlowPoint]:
    """Slow points, ghosts and fixed points reached by minimising q from each start (Eqs. 2-6).

    ``x0s`` is an array (m, n) of starting points. Returns the distinct classified points,
    minima of q first (ordered by q), each with ``hits`` = number of starts that reached it.
    Points that are not minima of q are dropped unless ``include_non_minima``; starts whose
    minimisation diverged or did not reach a critical point are dropped.
    """
    x0s = np.atleast_2d(np.asarray(x0s, dtype=float))
    if x0s.size == 0 or not np.all(np.isfinite(x0s)):
        raise InputError("starting points must be a non-empty finite array (m, n)")
    found: list[SlowPoint] = []
    for x0 in x0s:
        with np.errstate(all="ignore"):
            try:
                res = optimize.minimize(
                    field.q,
                    x0,
                    jac=field.grad_q,
                    hess=field.hess_q,
                    method="trust-exact",
                    options={"gtol": 1e-14, "maxiter": max_iterations},
                )
                x = _polish(field, np.asarray(res.x, dtype=float))
            except (np.linalg.LinAlgError, ValueError, FloatingPointError):
                continue
        if not np.all(np.isfinite(x)):
            continue
        point = classify(field, x, tol)
        if not point.details["critical"]:
            continue
        if point.kind == NOT_MINIMUM and not include_non_minima:
            continue
        for other in found:
            if np.linalg.norm(other.x - x) <= dedup_tol * (1 + np.linalg.norm(x)):
                other.hits += 1
                if point.grad_norm < other.grad_norm:
                    point.hits = other.hits
                    found[found.index(other)] = point
                break
        else:
            found.append(point)
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
    import sympy

    from ghostsym.symbolic import reduction

    if point is not None:
        red = reduction.reduce_symbolic(exprs, state, point)
        subs = {p_: values[p_.name] for p_ in params}
        return {
            "method": "symbolic",
            "c0": float(red.c0.subs(subs)),
            "c2": float(red.c2.subs(subs)),
            "r": float(red.r.subs(subs)),
            "x_s": np.array([float(sympy.sympify(point[s]).subs(subs)) for s in state]),
            "expressions": red,
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
    (MATH.md §2).
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
