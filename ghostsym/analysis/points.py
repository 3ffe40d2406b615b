"""The one classification of fixed points, slow points and ghosts (Eqs. 2–6), and the one ghost.

A *speed minimum* is a critical point of the kinetic energy q = ½‖F‖² (Eq. 2), ∇q = JᵀF = 0
(Eq. 4). :func:`classify` labels one from F, the Jacobian J and (optionally) the Hessian of q,
with the tolerances of :class:`Tolerances` (one set, each value stated once with its reason):

* ``"fixed-point"`` — ‖F‖ ≤ ``speed``; ``stability`` is ``"stable"`` (every Re λ < 0),
  ``"unstable"`` (every Re λ > 0) or ``"saddle"``;
* ``"not-a-minimum"`` — F ≠ 0 and the Hessian of q has an eigenvalue below −``hessian`` ×
  its largest |eigenvalue| (a saddle or maximum of the speed, not a slow point: Eq. 3);
* ``"ghost"`` — F ≠ 0, exactly one eigenvalue of J with |λ| ≤ ``zero`` (Eq. 5) and every
  other eigenvalue with Re λ < −``transverse`` (transverse stability, Eq. 6);
* ``"slow-point"`` — any other minimum of q with F ≠ 0 (mixed transverse stability).

The rank-one latent flow (:mod:`ghostsym.analysis.latent_flow`) is classified exactly on the
line with the same words: fixed points ``"stable"`` / ``"unstable"`` / ``"saddle-node"`` and
critical points ``"ghost"`` / ``"saddle-node"`` / ``"speed-maximum"`` / ``"degenerate"``.

:class:`Ghost` is the one record of a ghost, at every rank: its position, the canonical
r = c0·c2 of its normal form ds/dt = c0 + c2 s² (Eqs. 7–11; r = a_g·r_g in rank one, Eqs.
26–29) and what is known about it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import numpy as np

#: The vocabulary of :func:`classify` (``Point.kind``).
FIXED_POINT = "fixed-point"
GHOST = "ghost"
SLOW_POINT = "slow-point"
NOT_MINIMUM = "not-a-minimum"
KINDS = (FIXED_POINT, GHOST, SLOW_POINT, NOT_MINIMUM)
#: Stability of a fixed point (``Point.stability``) and the rank-one double root.
STABLE = "stable"
UNSTABLE = "unstable"
SADDLE = "saddle"
SADDLE_NODE = "saddle-node"
#: Rank-one critical points of f that are not ghosts.
SPEED_MAXIMUM = "speed-maximum"
DEGENERATE = "degenerate"


@dataclass(frozen=True)
class Tolerances:
    """The tolerances of :func:`classify` and of every speed-minimum search.

    speed : ‖F‖ at or below this is a fixed point (1e-9). A polished fixed point has ‖F‖ at
        rounding level (~1e-15); the slowest ghost ghostsym studies has c0 ≈ 1e-6 (the
        reduction-bottleneck check), so 1e-9 lies orders of magnitude from both.
    zero : |λ| at or below this is the zero eigenvalue of a slow point (1e-3, in units of the
        field's rates: 1/τ for RNNs, whose J = −I + … is centred at the leak −1). At a
        critical point of q with F ≠ 0, σ_min(J) ≤ ‖JᵀF‖/‖F‖ ≈ 1e-15, while transverse
        eigenvalues are O(0.1–1): 1e-3 separates the two by orders of magnitude.
    transverse : every other eigenvalue needs Re λ < −this (1e-3): an eigenvalue is either
        the zero one or decidedly transverse, never decided by round-off.
    hessian : a minimum of q needs every eigenvalue of ∇²q to be ≥ −this × max|eigenvalue|
        (1e-8; round-off in ∇²q is ~1e-16 relative, a saddle of q has an O(curvature)
        negative eigenvalue).
    gradient : an end point of a search is a critical point of q when
        ‖∇q‖ ≤ this × max(1, ‖J‖‖F‖) (1e-8; Newton converges quadratically to ~1e-15, a seed
        that wandered off stays far above).
    dedup : two end points are one point when closer than this × max(1, scale), scale being
        the half-width of the searched region (1e-4): far above the location error of an
        accepted end point (≲ ‖∇q‖/λ_min(∇²q)) and far below the ≥ 0.1 spacing of distinct
        fixed points and ghosts of trained networks.
    """

    speed: float = 1e-9
    zero: float = 1e-3
    transverse: float = 1e-3
    hessian: float = 1e-8
    gradient: float = 1e-8
    dedup: float = 1e-4


#: The defaults, used by every search unless a caller passes its own.
TOLERANCES = Tolerances()
#: Module-level names of the defaults (one value each, from :class:`Tolerances`).
FIXED_POINT_SPEED_TOL = TOLERANCES.speed
ZERO_EIGENVALUE_TOL = TOLERANCES.zero
HESSIAN_PSD_TOL = TOLERANCES.hessian
GRADIENT_TOL = TOLERANCES.gradient
DEDUP_TOL = TOLERANCES.dedup


@dataclass
class Point:
    """A classified speed minimum (critical point of q = ½‖F‖²), see :func:`classify`.

    ``eigenvalues``: the spectrum of J(x), by decreasing real part; ``stability``: for fixed
    points; ``q_hessian_eigenvalues``: ascending (None when the Hessian of q was not given);
    ``stable``: every eigenvalue (fixed point) or every transverse eigenvalue (other points)
    has negative real part; ``hits``: how many seeds of the search ended here; ``extras``:
    what a search adds (distance to the seeds, normal-form coefficients of a ghost, …).
    """

    x: np.ndarray
    speed: float
    kind: str
    stability: str | None
    eigenvalues: np.ndarray
    gradient_norm: float
    extras: dict = field(default_factory=dict)
    q_hessian_eigenvalues: np.ndarray | None = None
    stable: bool = False
    critical: bool = True
    hits: int = 1

    @property
    def zero_eigenvalue(self) -> complex | None:
        """The eigenvalue nearest zero (points with F ≠ 0), else None."""
        if self.kind == FIXED_POINT or self.eigenvalues.size == 0:
            return None
        return self.eigenvalues[int(np.argmin(np.abs(self.eigenvalues)))]

    @property
    def transverse_eigenvalues(self) -> np.ndarray:
        """All eigenvalues but the one nearest zero (points with F ≠ 0), else all."""
        if self.kind == FIXED_POINT or self.eigenvalues.size == 0:
            return self.eigenvalues
        return np.delete(self.eigenvalues, int(np.argmin(np.abs(self.eigenvalues))))

    @property
    def label(self) -> str:
        """The stability of a fixed point, else the kind (the key of plot styles)."""
        return self.stability if self.kind == FIXED_POINT else self.kind

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


def _stability(re: np.ndarray) -> str:
    if np.all(re < 0):
        return STABLE
    if np.all(re > 0):
        return UNSTABLE
    return SADDLE


def is_critical(gradient_norm: float, J, speed: float, tol: Tolerances = TOLERANCES) -> bool:
    """‖∇q‖ = ‖JᵀF‖ ≤ tol.gradient × max(1, ‖J‖‖F‖): the acceptance test of every search
    (``speed`` = ‖F‖)."""
    return bool(gradient_norm <= tol.gradient * max(1.0, float(np.linalg.norm(J)) * speed))


def classify(x, F, J, hess_q=None, tol: Tolerances = TOLERANCES) -> Point:
    """Classify a critical point of q = ½‖F‖² from F(x), J(x) and optionally ∇²q(x)."""
    x = np.asarray(x, dtype=float)
    F = np.asarray(F, dtype=float)
    J = np.asarray(J, dtype=float)
    eig = np.linalg.eigvals(J)
    eig = eig[np.argsort(-np.real(eig))]
    speed = float(np.linalg.norm(F))
    grad = float(np.linalg.norm(J.T @ F))
    critical = is_critical(grad, J, speed, tol)
    hq_eig = None
    if hess_q is not None:
        hq = np.asarray(hess_q, dtype=float)
        hq_eig = np.linalg.eigvalsh(0.5 * (hq + hq.T))
    re = np.real(eig)
    if speed <= tol.speed:
        stability = _stability(re)
        return Point(
            x, speed, FIXED_POINT, stability, eig, grad, {}, hq_eig, stability == STABLE, critical
        )
    near_zero = np.abs(eig) <= tol.zero
    zero = int(np.argmin(np.abs(eig))) if eig.size else 0
    stable = bool(np.all(np.delete(re, zero) < -tol.transverse))
    if hq_eig is not None and not is_speed_minimum(hq_eig, tol):
        kind = NOT_MINIMUM
    elif np.count_nonzero(near_zero) == 1 and np.all(re[~near_zero] < -tol.transverse):
        kind = GHOST
    else:
        kind = SLOW_POINT
    return Point(x, speed, kind, None, eig, grad, {}, hq_eig, stable, critical)


def is_speed_minimum(hessian_eigenvalues, tol: Tolerances = TOLERANCES) -> bool:
    """∇²q positive semidefinite up to round-off (Eq. 3): min eig ≥ −tol.hessian·max|eig|."""
    eig = np.asarray(hessian_eigenvalues, dtype=float)
    scale = max(float(np.max(np.abs(eig))), np.finfo(float).tiny)
    return bool(eig[0] >= -tol.hessian * scale)


def dedup_radius(scale: float = 1.0, tol: Tolerances = TOLERANCES) -> float:
    """Distance below which two end points of a search over a region of half-width ``scale``
    are one point."""
    return tol.dedup * max(1.0, float(scale))


def deduplicate(points, tol: float = DEDUP_TOL) -> np.ndarray:
    """Greedy deduplication: keep a point unless it lies within ``tol`` of a kept one."""
    points = np.asarray(points, dtype=float)
    kept: list[np.ndarray] = []
    for p in points:
        if all(np.linalg.norm(p - k) > tol for k in kept):
            kept.append(p)
    return np.array(kept).reshape(-1, points.shape[-1] if points.ndim == 2 else 0)


def count_kinds(points: Sequence[Point]) -> dict[str, int]:
    """Number of fixed points, ghosts and slow points."""
    return {k: sum(p.kind == k for p in points) for k in (FIXED_POINT, GHOST, SLOW_POINT)}


@dataclass(frozen=True)
class Ghost:
    """A ghost: a speed minimum with F ≠ 0 and its normal form ds/dt = c0 + c2 s².

    kappa : position (a float for rank one, a list of latent coordinates otherwise).
    r : canonical r = c0·c2 (Eqs. 7–11; = a_g·r_g in rank one, Eqs. 26–29); NaN where the
        reduction does not exist.
    r_g, a_g : the normal form's coefficients (rank one: r_g = f(κ_g), a_g = ½f''(κ_g);
        other ranks: c0 and c2 of the reduction along the slow direction).
    passage_time : π/√r in units of τ (None unless r > 0).
    speed, energy : ‖F‖ and ½‖F‖² at the ghost (None for rank one, where |r_g| is the speed).

    :meth:`to_dict` gives the known (non-None) fields.
    """

    kappa: float | list[float]
    r: float
    r_g: float | None = None
    a_g: float | None = None
    passage_time: float | None = None
    speed: float | None = None
    energy: float | None = None

    def to_dict(self) -> dict:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: v for k, v in values.items() if v is not None}


def passage_time(r: float) -> float | None:
    """π/√r (τ units) for r > 0, else None."""
    return math.pi / math.sqrt(r) if r > 0 else None
