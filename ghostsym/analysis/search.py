"""The one speed-minimum search: seeds → refinement → acceptance → classification (Eqs. 2–6).

Every search of ghostsym for the fixed points, slow points and ghosts of a field F finds
critical points of q = ½‖F‖² in the same three stages, and differs only in the first two,
which are *strategies* chosen for the dimension and structure of the field:

========================  ===================================  ================================
search                    seeds                                refinement
========================  ===================================  ================================
rank two (Fig. 4)         3×3 minima of ‖F‖ on a grid           Newton on ∇q = 0, exact Hessian
rank K ≥ 3                Sobol set in the fixed-point box,    batched shifted-Newton descent
                          visited states, continuation         on q and Newton on F = 0
full rank (Eq. 39)        visited states                       vectorised Adam, then damped
                                                               Newton (trust-exact fallback)
any SymPy field           given starts                         trust-exact, Newton polish
========================  ===================================  ================================

(:func:`grid_seeds`, :func:`sobol_seeds`; the refinements live with their flows in
:mod:`~ghostsym.analysis.latent_flow`, :mod:`~ghostsym.analysis.latent_rank_k`,
:mod:`~ghostsym.analysis.speed_minima` and :mod:`~ghostsym.analysis.slow_points`.) The third
stage is :func:`collect`, shared by all: an end point is kept when it is finite and a critical
point of q (``Tolerances.gradient``), end points within the dedup radius are one point (its
``hits`` count them), and each point is classified by :func:`ghostsym.analysis.points.classify`
with the one set of :class:`~ghostsym.analysis.points.Tolerances`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import lru_cache

import numpy as np

from ghostsym.analysis.points import (
    FIXED_POINT,
    NOT_MINIMUM,
    TOLERANCES,
    Point,
    Tolerances,
    classify,
    dedup_radius,
)

#: An evaluator: x -> (F(x), J(x), ∇²q(x)).
Evaluator = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


def collect(
    ends: Iterable[np.ndarray],
    evaluate: Evaluator,
    *,
    scale: float = 1.0,
    tol: Tolerances = TOLERANCES,
    best_representative: bool = False,
    include_non_minima: bool = False,
) -> list[Point]:
    """Accept, deduplicate and classify the end points of a search (in their order).

    ``scale``: half-width of the searched region (the dedup radius is
    :func:`~ghostsym.analysis.points.dedup_radius`). A point's representative is the first end
    point of its cluster, or with ``best_representative`` the one with the smallest ‖∇q‖.
    Points that are not minima of q (``"not-a-minimum"``) are dropped unless
    ``include_non_minima``; fixed points are always minima.
    """
    radius = dedup_radius(scale, tol)
    found: list[Point] = []
    for x in ends:
        x = np.asarray(x, dtype=float)
        if not np.all(np.isfinite(x)):
            continue
        F, J, H = evaluate(x)
        if not (np.all(np.isfinite(F)) and np.all(np.isfinite(J))):
            continue
        point = classify(x, F, J, H, tol)
        if not point.critical:
            continue
        for i, other in enumerate(found):
            if np.linalg.norm(other.x - x) <= radius:
                other.hits += 1
                if best_representative and point.gradient_norm < other.gradient_norm:
                    point.hits = other.hits
                    found[i] = point
                break
        else:
            found.append(point)
    if not include_non_minima:
        found = [p for p in found if p.kind != NOT_MINIMUM]
    return found


def split_minima(points: list[Point]) -> tuple[list[Point], list[Point]]:
    """(speed minima, critical points of q that are not minima)."""
    return (
        [p for p in points if p.kind != NOT_MINIMUM],
        [p for p in points if p.kind == NOT_MINIMUM],
    )


def fixed_points(points: list[Point]) -> list[Point]:
    return [p for p in points if p.kind == FIXED_POINT]


# ---------------------------------------------------------------------------------------------
# Seeding strategies
# ---------------------------------------------------------------------------------------------
def grid_local_minima(speed: np.ndarray) -> list[tuple[int, ...]]:
    """Grid indices equal to the minimum of their 3×3 neighbourhood."""
    from scipy.ndimage import minimum_filter

    mins = speed == minimum_filter(speed, size=3, mode="nearest")
    return [tuple(ij) for ij in np.argwhere(mins)]


def grid_seeds(field: Callable, half_width: float, grid: int):
    """Seeds of a 2-D search: (seeds (S, 2), axis, F on the grid, ‖F‖ on the grid).

    The seeds are the 3×3 local minima of ‖F‖ on the square grid over [−h, h]²."""
    axis = np.linspace(-half_width, half_width, grid)
    K1, K2 = np.meshgrid(axis, axis, indexing="ij")
    pts = np.stack([K1, K2], axis=-1)
    F = field(pts)
    speed = np.linalg.norm(F, axis=-1)
    seeds = np.array([pts[i, j] for i, j in grid_local_minima(speed)]).reshape(-1, 2)
    return seeds, axis, F, speed


@lru_cache(maxsize=32)
def _unit_sobol(k: int, n: int, seed: int) -> np.ndarray:
    from scipy.stats import qmc

    m = max(0, math.ceil(math.log2(n)))
    pts = qmc.Sobol(d=k, scramble=True, seed=seed).random_base2(m)[:n]
    pts.setflags(write=False)
    return pts


def sobol_seeds(k: int, half_width, n: int, seed: int = 0) -> np.ndarray:
    """``n`` scrambled Sobol points in Π_k [−h_k, h_k] (h scalar or (k,); deterministic)."""
    if n <= 0:
        return np.empty((0, k))
    return (2.0 * _unit_sobol(k, n, seed) - 1.0) * np.asarray(half_width, dtype=float)


def subsample(points: np.ndarray, k: int) -> np.ndarray:
    """At most ``k`` rows of ``points``, evenly spaced (first and last kept)."""
    if len(points) <= k:
        return points
    return points[np.unique(np.linspace(0, len(points) - 1, k).round().astype(int))]
