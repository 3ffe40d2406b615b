"""Speed minima of full-rank RNNs (Eq. 39) and the slow-point / ghost classification (MATH.md §1).

q(x) = ½‖F(x)‖², F(x) = −x + φ(Wx + b) (input off, τ = 1; REFERENCE.md §5.2 uses the
sum of squares without ½ — the minima are the same). Exact derivatives:

* ∇q = Jᵀ F with J = −I + diag(φ'(z)) W, z = Wx + b (Eq. 4);
* Hessian-vector product ∇²q·v = Jᵀ(J v) + Wᵀ(F ⊙ φ''(z) ⊙ (W v));
* Hessian ∇²q = JᵀJ + Wᵀ diag(F ⊙ φ''(z)) W.

:func:`find_speed_minima` works in stages from the states the network visited
(REFERENCE.md §5.2): (1) Adam on all starts at once, vectorised (the authors' optimiser and
learning rate, fewer iterations), which carries every start into the basin of a minimum;
(2) from each distinct Adam end point, damped Newton with the exact Hessian (the authors take
one such step), falling back to SciPy's globally convergent ``trust-exact`` (exact gradient
and Hessian) when Newton stalls, to ‖∇q‖ ≤ ``GRADIENT_TOL``; (3) critical points with F ≠ 0
whose Hessian is not positive semidefinite are saddles of q, not speed minima, and are
dropped. The rest are deduplicated and classified with :func:`classify_point`:

* **fixed point**: ‖F‖ ≤ ``FIXED_POINT_SPEED_TOL``; subtype from the Jacobian spectrum
  (stable: all Re λ < 0, unstable: all > 0, saddle otherwise);
* **ghost**: ‖F‖ > tol, exactly one eigenvalue with |λ| ≤ ``ZERO_EIGENVALUE_TOL`` and every
  other Re λ < −``ZERO_EIGENVALUE_TOL`` (transverse stability, Eq. 6);
* **slow point**: any other speed minimum (mixed transverse stability).

Tolerances: at an exact slow point JᵀF = 0, so σ_min(J) ≤ ‖JᵀF‖/‖F‖; the zero-eigenvalue
tolerance must be large compared with that residual (we require ‖∇q‖ ≤ ``GRADIENT_TOL``) yet
small compared with the O(1) leak that sets the other eigenvalues. 1e-3 separates the two
by orders of magnitude for the networks of the paper.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from ghostsym.errors import InputError
from ghostsym.numerics.blas import single_threaded_blas

#: ‖F‖ at or below this: a fixed point.
FIXED_POINT_SPEED_TOL = 1e-6
#: |λ| at or below this: the zero eigenvalue of a slow point (see module docstring).
ZERO_EIGENVALUE_TOL = 1e-3
#: A minimiser end point is accepted as a critical point of q when ‖∇q‖ is below this.
GRADIENT_TOL = 1e-9
#: A critical point of q with F ≠ 0 is a speed minimum (a slow point, Eq. 3) only if ∇²q is
#: positive semidefinite: its smallest eigenvalue must be ≥ −this × its largest (round-off
#: in ∇²q is ~1e-16 relative; a saddle of q has an O(curvature) negative eigenvalue).
HESSIAN_PSD_TOL = 1e-8
#: End points closer than this (Euclidean) are one point.
DEDUP_TOL = 1e-4
#: Iteration limit of the SciPy minimiser per start.
MAX_ITER = 500
#: Stage 1 (vectorised Adam over all starts, REFERENCE.md §5.2 uses lr 1e-2, 5000 steps): steps,
#: learning rate, and the distance below which two Adam end points are refined only once.
ADAM_STEPS = 1500
ADAM_LR = 1e-2
ADAM_MERGE_TOL = 1e-3
#: Newton polishing of each end point: at most this many steps, Tikhonov damping.
POLISH_STEPS = 20
POLISH_DAMPING = 1e-14


@dataclass
class ClassifiedPoint:
    """A speed minimum with its speed, Jacobian spectrum and kind."""

    x: np.ndarray
    speed: float
    kind: str  # "fixed-point", "ghost", "slow-point"
    stability: str | None  # for fixed points: "stable", "unstable", "saddle"
    eigenvalues: np.ndarray
    gradient_norm: float
    extras: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "x": self.x.tolist(),
            "speed": self.speed,
            "kind": self.kind,
            "stability": self.stability,
            "eigenvalues_real": np.real(self.eigenvalues).tolist(),
            "eigenvalues_imag": np.imag(self.eigenvalues).tolist(),
            "gradient_norm": self.gradient_norm,
            **self.extras,
        }


def classify_point(
    x,
    F,
    J,
    *,
    speed_tol: float = FIXED_POINT_SPEED_TOL,
    zero_tol: float = ZERO_EIGENVALUE_TOL,
) -> ClassifiedPoint:
    """Classify a critical point of q = ½‖F‖² from F(x) and J(x) (MATH.md §1, Eqs. 3–6)."""
    x = np.asarray(x, dtype=float)
    F = np.asarray(F, dtype=float)
    J = np.asarray(J, dtype=float)
    eig = np.linalg.eigvals(J)
    eig = eig[np.argsort(-np.real(eig))]
    speed = float(np.linalg.norm(F))
    grad = float(np.linalg.norm(J.T @ F))
    re = np.real(eig)
    if speed <= speed_tol:
        if np.all(re < 0):
            stability = "stable"
        elif np.all(re > 0):
            stability = "unstable"
        else:
            stability = "saddle"
        return ClassifiedPoint(x, speed, "fixed-point", stability, eig, grad)
    near_zero = np.abs(eig) <= zero_tol
    others = re[~near_zero]
    if np.count_nonzero(near_zero) == 1 and np.all(others < -zero_tol):
        kind = "ghost"
    else:
        kind = "slow-point"
    return ClassifiedPoint(x, speed, kind, None, eig, grad)


class SpeedEnergy:
    """q(x) = ½‖−x + φ(Wx + b)‖² with exact gradient and Hessian-vector products (Eq. 39)."""

    def __init__(self, W, b, nonlinearity: str = "tanh"):
        from ghostsym.analysis.latent_flow import _latent_kernels, phi_derivatives

        self.W = np.asarray(W, dtype=float)
        self.b = np.asarray(b, dtype=float).ravel()
        if self.W.ndim != 2 or self.W.shape[0] != self.W.shape[1] or self.b.size != len(self.W):
            raise InputError(f"W must be N×N and b length N, got {self.W.shape}, {self.b.shape}")
        self._phi = phi_derivatives(nonlinearity, 2)

        latent = _latent_kernels()
        if latent is not None:
            # generated kernels of ghostsym.codegen.latent (Eq. 39); the NumPy formulas below are
            # the fallback and the reference the tests compare against
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


def deduplicate(points, tol: float = DEDUP_TOL) -> np.ndarray:
    """Greedy deduplication: keep a point unless it lies within ``tol`` of a kept one."""
    points = np.asarray(points, dtype=float)
    kept: list[np.ndarray] = []
    for p in points:
        if all(np.linalg.norm(p - k) > tol for k in kept):
            kept.append(p)
    return np.array(kept).reshape(-1, points.shape[-1] if points.ndim == 2 else 0)


def _newton_polish(energy: SpeedEnergy, x: np.ndarray) -> np.ndarray:
    """Damped Newton steps on ∇q = 0 with the exact Hessian (REFERENCE.md §5.2 does one).

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
    ε = 1e-8; REFERENCE.md §5.2 minimises the mean of q over the starts with lr 1e-2 —
    Adam is invariant to that 1/B scale up to ε, so each start moves as if alone)."""
    X = np.array(starts, dtype=float)
    m1 = np.zeros_like(X)
    m2 = np.zeros_like(X)
    b1, b2, eps = 0.9, 0.999, 1e-8
    for k in range(1, steps + 1):
        _, G = energy.batch(X)
        m1 = b1 * m1 + (1 - b1) * G
        m2 = b2 * m2 + (1 - b2) * G * G
        X = X - lr * (m1 / (1 - b1**k)) / (np.sqrt(m2 / (1 - b2**k)) + eps)
        if not np.all(np.isfinite(X)):  # cannot happen for bounded φ; keep the last finite
            X = np.where(np.isfinite(X), X, starts)
    return X


def _refine(energy: SpeedEnergy, x0: np.ndarray, gradient_tol: float, max_iter: int):
    """A critical point of q from ``x0``: damped Newton first (quadratic convergence from a
    converged Adam end point), SciPy ``trust-exact`` (globally convergent) if that stalls."""
    x = _newton_polish(energy, x0)
    if np.linalg.norm(energy.gradient(x)) <= gradient_tol:
        return x
    with np.errstate(invalid="ignore", over="ignore"):
        try:
            res = optimize.minimize(
                energy.value,
                x0,
                jac=energy.gradient,
                hess=energy.hessian,
                method="trust-exact",
                options={"gtol": gradient_tol * 1e-2, "maxiter": max_iter},
            )
            x = res.x
        except (np.linalg.LinAlgError, ValueError):
            x = x0
    return _newton_polish(energy, x)


def find_speed_minima(
    W,
    b,
    starts,
    nonlinearity: str = "tanh",
    *,
    dedup_tol: float = DEDUP_TOL,
    gradient_tol: float = GRADIENT_TOL,
    max_iter: int = MAX_ITER,
    adam_steps: int = ADAM_STEPS,
) -> list[ClassifiedPoint]:
    """Minimise q = ½‖−x + φ(Wx + b)‖² (Eq. 39) from each start; dedupe; classify.

    Stages: vectorised Adam (:func:`adam_descent`, ``adam_steps`` steps; 0 skips it), then
    from each distinct Adam end point (ends within ``ADAM_MERGE_TOL`` are refined once)
    damped Newton with the exact Hessian (:func:`_newton_polish`), falling back to SciPy
    ``trust-exact`` (exact gradient and Hessian) when Newton stalls. End points whose ‖∇q‖
    stays above ``gradient_tol`` are dropped (not critical points), and so are critical
    points with F ≠ 0 where ∇²q is not positive semidefinite (saddles of q, not slow points;
    ``HESSIAN_PSD_TOL``; fixed points are global minima of q and always kept). Each kept
    point records ``distance`` = min distance to any start (REFERENCE.md §5.2) and
    ``basin`` = how many starts ended there.
    """
    with single_threaded_blas():
        return _find_speed_minima(
            W, b, starts, nonlinearity, dedup_tol, gradient_tol, max_iter, adam_steps
        )


def _find_speed_minima(W, b, starts, nonlinearity, dedup_tol, gradient_tol, max_iter, adam_steps):
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
            x = _refine(energy, x0, gradient_tol, max_iter)
            ok = bool(np.all(np.isfinite(x))) and np.linalg.norm(energy.gradient(x)) <= gradient_tol
            done = x if ok else None
            refined.append((x0, done))
        if done is not None:
            ends.append(done)
    ends = np.array(ends).reshape(-1, starts.shape[1])
    points = []
    for x in deduplicate(ends, dedup_tol):
        point = classify_point(x, energy.field(x), energy.jacobian(x))
        h_eig = np.linalg.eigvalsh(energy.hessian(x))
        point.extras["hessian_min_eigenvalue"] = float(h_eig[0])
        if point.kind != "fixed-point" and h_eig[0] < -HESSIAN_PSD_TOL * max(h_eig[-1], 1e-300):
            continue  # a saddle of q, not a speed minimum
        point.extras["distance"] = float(np.min(np.linalg.norm(starts - x, axis=1)))
        point.extras["basin"] = int(np.sum(np.linalg.norm(ends - x, axis=1) <= dedup_tol))
        points.append(point)
    points.sort(key=lambda p: p.speed)
    return points


def pca_basis(states, n_components: int = 3):
    """Mean and the leading principal axes (rows) of a set of states."""
    states = np.asarray(states, dtype=float).reshape(-1, np.shape(states)[-1])
    mean = states.mean(axis=0)
    _, _, Vt = np.linalg.svd(states - mean, full_matrices=False)
    return mean, Vt[:n_components]
