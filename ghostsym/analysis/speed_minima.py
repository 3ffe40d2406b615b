"""Speed minima of full-rank RNNs (Eq. 39): the full-rank strategy of the one search.

q(x) = ½‖F(x)‖², F(x) = −x + φ(Wx + b) (input off, τ = 1; docs/experiments.md §5.2 uses the
sum of squares without ½ — the minima are the same). Exact derivatives:

* ∇q = Jᵀ F with J = −I + diag(φ'(z)) W, z = Wx + b (Eq. 4);
* Hessian-vector product ∇²q·v = Jᵀ(J v) + Wᵀ(F ⊙ φ''(z) ⊙ (W v));
* Hessian ∇²q = JᵀJ + Wᵀ diag(F ⊙ φ''(z)) W.

:func:`find_speed_minima` is the full-rank strategy of :mod:`ghostsym.analysis.search`:
seeds are the states the network visited (docs/experiments.md §5.2); refinement is (1) Adam on all
starts at once, vectorised (the authors' optimiser and learning rate, fewer iterations),
which carries every start into the basin of a minimum, then (2) from each distinct Adam end
point damped Newton with the exact Hessian (the authors take one such step), falling back to
SciPy's globally convergent ``trust-exact`` (exact gradient and Hessian) when Newton stalls.
End points are accepted, deduplicated and classified by
:func:`ghostsym.analysis.search.collect` with the one set of tolerances
(:class:`ghostsym.analysis.points.Tolerances`): fixed point (with its stability), ghost
(one Jacobian eigenvalue ≈ 0, the others Re λ < 0, Eq. 6) or slow point; critical points of
q that are not minima (saddles of the speed) are dropped.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from ghostsym.analysis.points import (
    FIXED_POINT_SPEED_TOL,
    TOLERANCES,
    ZERO_EIGENVALUE_TOL,
    Point,
    Tolerances,
    deduplicate,
    is_critical,
)
from ghostsym.analysis.search import collect
from ghostsym.codegen import latent
from ghostsym.codegen.fields import phi_functions
from ghostsym.errors import InputError
from ghostsym.numerics.blas import single_threaded_blas
from ghostsym.numerics.optim import ADAM, optimizer_step

#: Iteration limit of the SciPy minimiser per start, and its gradient target (far below the
#: acceptance test, so that an accepted end point is not decided by where SciPy stopped).
MAX_ITER = 500
TRUST_EXACT_GTOL = 1e-11
#: Stage 1 (vectorised Adam over all starts, docs/experiments.md §5.2 uses lr 1e-2, 5000 steps):
#: steps, learning rate, and the distance below which two Adam end points are refined only once.
ADAM_STEPS = 1500
ADAM_LR = 1e-2
ADAM_BETA1, ADAM_BETA2, ADAM_EPS = 0.9, 0.999, 1e-8
ADAM_MERGE_TOL = 1e-3
#: Newton polishing of each end point: at most this many steps, Tikhonov damping.
POLISH_STEPS = 20
POLISH_DAMPING = 1e-14

__all__ = (
    "ADAM_LR",
    "ADAM_STEPS",
    "FIXED_POINT_SPEED_TOL",
    "ZERO_EIGENVALUE_TOL",
    "SpeedEnergy",
    "adam_descent",
    "deduplicate",
    "find_speed_minima",
    "pca_basis",
)


class SpeedEnergy:
    """q(x) = ½‖−x + φ(Wx + b)‖² with exact gradient and Hessian-vector products (Eq. 39)."""

    def __init__(self, W, b, nonlinearity: str = "tanh"):
        self.W = np.asarray(W, dtype=float)
        self.b = np.asarray(b, dtype=float).ravel()
        if self.W.ndim != 2 or self.W.shape[0] != self.W.shape[1] or self.b.size != len(self.W):
            raise InputError(f"W must be N×N and b length N, got {self.W.shape}, {self.b.shape}")
        self._phi = phi_functions(nonlinearity, 2)
        self.reference = _NumpySpeedEnergy(self)
        # generated kernels of ghostsym.codegen.latent (Eq. 39); the NumPy formulas of
        # ``reference`` are the cross-check the tests compare against
        # (the optimiser may probe non-finite points; those get NaN, not an InputError)
        act, W, b = nonlinearity, self.W, self.b

        def guarded(fn, *arrays):
            if all(np.all(np.isfinite(a)) for a in arrays):
                return fn(W, b, *arrays, act)
            return np.nan if fn is latent.speed_energy else np.full(len(b), np.nan)

        self.value = lambda x: guarded(latent.speed_energy, x)
        self.gradient = lambda x: guarded(latent.speed_energy_gradient, x)[1]
        self.hessp = lambda x, v: guarded(latent.speed_energy_hvp, x, v)
        self.jacobian = lambda x: latent.speed_jacobian(W, b, x, act)
        self.hessian = lambda x: latent.speed_energy_hessian(W, b, x, act)
        speed = latent.kernels(act).speed
        self.batch = lambda X: speed.speed_value_grad_batch(W, b, np.ascontiguousarray(X))

    def field(self, x):
        x = np.asarray(x, dtype=float)
        return -x + self._phi(x @ self.W.T + self.b)[0]


class _NumpySpeedEnergy:
    """The NumPy formulas of q, ∇q, ∇²q·v and ∇²q (a cross-check of the generated kernels)."""

    def __init__(self, energy: SpeedEnergy):
        self.W, self.b, self._phi = energy.W, energy.b, energy._phi
        self.field = energy.field

    def jacobian(self, x):
        d1 = self._phi(self.W @ x + self.b)[1]
        return -np.eye(len(x)) + d1[:, None] * self.W

    def value(self, x):
        F = self.field(x)
        return 0.5 * float(F @ F)

    def gradient(self, x):
        p0, p1, _ = self._phi(self.W @ x + self.b)
        F = -x + p0
        return -F + self.W.T @ (p1 * F)

    def hessp(self, x, v):
        p0, p1, p2 = self._phi(self.W @ x + self.b)
        F = -x + p0
        Wv = self.W @ v
        Jv = -v + p1 * Wv
        return -Jv + self.W.T @ (p1 * Jv) + self.W.T @ (F * p2 * Wv)

    def hessian(self, x):
        p0, p1, p2 = self._phi(self.W @ x + self.b)
        F = -x + p0
        J = -np.eye(len(x)) + p1[:, None] * self.W
        return J.T @ J + self.W.T @ ((F * p2)[:, None] * self.W)

    def batch(self, X):
        """q and ∇q for every row of X (B × N)."""
        p0, p1, _ = self._phi(X @ self.W.T + self.b)
        F = -X + p0
        return 0.5 * np.sum(F * F, axis=1), -F + (p1 * F) @ self.W


def _newton_polish(energy: SpeedEnergy, x: np.ndarray) -> np.ndarray:
    """Damped Newton steps on ∇q = 0 with the exact Hessian (docs/experiments.md §5.2 does one).

    The minimiser may stop early where q is very flat (near a saddle-node, J is nearly
    singular); a step is kept only if it lowers ‖∇q‖.
    """
    if not np.all(np.isfinite(x)):
        return x
    eye = np.eye(x.size)
    grad = energy.gradient(x)
    for _ in range(POLISH_STEPS):
        gnorm = np.linalg.norm(grad)
        if gnorm == 0:
            break
        H = energy.hessian(x) + POLISH_DAMPING * eye
        try:
            step = np.linalg.solve(H, grad)
        except np.linalg.LinAlgError:
            break
        trial = x - step
        if not np.all(np.isfinite(trial)):
            break
        trial_grad = energy.gradient(trial)
        if not np.linalg.norm(trial_grad) < gnorm:
            break
        x, grad = trial, trial_grad
    return x


def adam_descent(
    energy: SpeedEnergy, starts, steps: int = ADAM_STEPS, lr: float = ADAM_LR
) -> np.ndarray:
    """Adam on q from every row of ``starts`` at once (PyTorch's defaults β = (0.9, 0.999),
    ε = 1e-8; docs/experiments.md §5.2 minimises the mean of q over the starts with lr 1e-2 —
    Adam is invariant to that 1/B scale up to ε, so each start moves as if alone).

    The update is ghostsym's one Adam, :func:`ghostsym.numerics.optim.optimizer_step`, on the
    flattened starts (every entry is updated independently, so this is Adam per start)."""
    X = np.array(starts, dtype=float)
    starts = X.copy()
    theta = X.reshape(-1)  # a view: the update writes into X
    m1 = np.zeros_like(theta)
    m2 = np.zeros_like(theta)
    for k in range(1, steps + 1):
        _, G = energy.batch(X)
        grad = np.ascontiguousarray(G, dtype=float).reshape(-1)
        check = optimizer_step(ADAM, theta, grad, lr, ADAM_BETA1, ADAM_BETA2, ADAM_EPS, m1, m2, k)
        if check != 0.0:  # cannot happen for bounded φ; keep the last finite
            X[...] = np.where(np.isfinite(X), X, starts)
    return X


def _refine(energy: SpeedEnergy, x0: np.ndarray, max_iter: int):
    """A critical point of q from ``x0``: damped Newton first (quadratic convergence from a
    converged Adam end point), SciPy ``trust-exact`` (globally convergent) if that stalls."""
    x = _newton_polish(energy, x0)
    if _critical(energy, x):
        return x
    with np.errstate(invalid="ignore", over="ignore"):
        try:
            res = optimize.minimize(
                energy.value,
                x0,
                jac=energy.gradient,
                hess=energy.hessian,
                method="trust-exact",
                options={"gtol": TRUST_EXACT_GTOL, "maxiter": max_iter},
            )
            x = res.x
        except (np.linalg.LinAlgError, ValueError):
            x = x0
    return _newton_polish(energy, x)


def _critical(energy: SpeedEnergy, x: np.ndarray, tol: Tolerances = TOLERANCES) -> bool:
    """The acceptance test of :func:`ghostsym.analysis.points.is_critical` at x."""
    if not np.all(np.isfinite(x)):
        return False
    gnorm = float(np.linalg.norm(energy.gradient(x)))
    return is_critical(gnorm, energy.jacobian(x), float(np.linalg.norm(energy.field(x))), tol)


def find_speed_minima(
    W,
    b,
    starts,
    nonlinearity: str = "tanh",
    *,
    tol: Tolerances = TOLERANCES,
    max_iter: int = MAX_ITER,
    adam_steps: int = ADAM_STEPS,
) -> list[Point]:
    """Minimise q = ½‖−x + φ(Wx + b)‖² (Eq. 39) from each start; dedupe; classify.

    Stages: vectorised Adam (:func:`adam_descent`, ``adam_steps`` steps; 0 skips it), then
    from each distinct Adam end point (ends within ``ADAM_MERGE_TOL`` are refined once)
    damped Newton with the exact Hessian (:func:`_newton_polish`), falling back to SciPy
    ``trust-exact`` (exact gradient and Hessian) when Newton stalls; then
    :func:`ghostsym.analysis.search.collect` (critical points of q only, minima of q only,
    deduplicated with scale sup|φ| = 1, the half-width of the box [−1, 1]ᴺ that holds every
    fixed point of a tanh network). Each kept point records ``distance`` = min distance to
    any start (docs/experiments.md §5.2), ``basin`` = how many starts ended there and
    ``hessian_min_eigenvalue``. Points are sorted by speed.
    """
    with single_threaded_blas():
        return _find_speed_minima(W, b, starts, nonlinearity, tol, max_iter, adam_steps)


def _find_speed_minima(W, b, starts, nonlinearity, tol, max_iter, adam_steps):
    energy = SpeedEnergy(W, b, nonlinearity)
    starts = np.atleast_2d(np.asarray(starts, dtype=float))
    if starts.shape[1] != energy.W.shape[0]:
        raise InputError(f"starts must have {energy.W.shape[0]} columns, got {starts.shape[1]}")
    if not np.all(np.isfinite(starts)):
        raise InputError("starts contain non-finite values")
    adam_ends = adam_descent(energy, starts, adam_steps) if adam_steps > 0 else starts
    ends = []
    refined: list[tuple[np.ndarray, np.ndarray | None]] = []  # (adam end, refined end)
    for x0 in adam_ends:
        done = next((r for a, r in refined if np.linalg.norm(a - x0) <= ADAM_MERGE_TOL), False)
        if done is False:
            x = _refine(energy, x0, max_iter)
            done = x if _critical(energy, x, tol) else None
            refined.append((x0, done))
        if done is not None:
            ends.append(done)

    def evaluate(x):
        return energy.field(x), energy.jacobian(x), energy.hessian(x)

    points = collect(ends, evaluate, scale=1.0, tol=tol)
    for point in points:
        point.extras["hessian_min_eigenvalue"] = float(point.q_hessian_eigenvalues[0])
        point.extras["distance"] = float(np.min(np.linalg.norm(starts - point.x, axis=1)))
        point.extras["basin"] = point.hits
    points.sort(key=lambda p: p.speed)
    return points


def pca_basis(states, n_components: int = 3):
    """Mean and the leading principal axes (rows) of a set of states."""
    states = np.asarray(states, dtype=float).reshape(-1, np.shape(states)[-1])
    mean = states.mean(axis=0)
    _, _, Vt = np.linalg.svd(states - mean, full_matrices=False)
    return mean, Vt[:n_components]
