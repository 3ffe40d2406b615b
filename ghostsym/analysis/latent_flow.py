"""Latent flows of low-rank RNNs: every fixed point, every speed minimum, ghosts (Eqs. 25–29, 37).

Rank one (Eq. 25): τ dκ/dt = f(κ) = −κ + nᵀφ(mκ + b). :func:`analyze_rank_one` returns

* **all** fixed points f(κ*) = 0, each classified stable (f' < 0), unstable (f' > 0) or
  saddle-node (f' ≈ 0, a double root);
* all critical points of f (f'(κ_g) = 0) with their ghost coefficients r_g = f(κ_g),
  a_g = ½f''(κ_g) (Eqs. 26–29), the canonical scale r = a_g·r_g and the predicted
  bottleneck passage time π/√r (τ units; the full passage −∞ → +∞ of dx/dt = x² + r).
  A critical point with r > 0 is a speed minimum with f ≠ 0: a **ghost**.

Root finding is *certified* rather than sampled (the authors count sign flips on a 0.03 grid,
which misses tangencies and close pairs; docs/experiments.md §13.18). Every root of f lies in
[−R, R] with R = Σ|n_i|·sup|φ| because |f(κ) + κ| ≤ R. The interval is cut into cells; a cell
without a sign change is discarded only when it provably holds no root — either
|g(a)| + |g(b)| > L·(b − a) with L ≥ sup|g'| (Lipschitz exclusion), or g' keeps one sign on the
cell (certified the same way with a bound on |g''|), so g is monotone there. A cell with a sign
change is accepted as holding exactly one root when g is certified monotone on it, and the
root is polished with ``scipy.optimize.brentq``. Undecided cells are halved until they are
narrower than ``min_width``; what is left are near-tangencies, reported as double roots where
|g| is at the level of the floating-point/bisection resolution. The same routine finds the
roots of f' (speed extrema) with bounds on f'' and f'''.

Rank two (Eq. 37, docs/experiments.md §4.3): :func:`rank_two_latent` builds M, P from the SVD of
W, and :func:`analyze_rank_two` finds the fixed points, slow points and ghosts of
F(κ) = −κ + Pφ(Mκ + b) (docs/math.md §1) by grid minima of ‖F‖ refined with Newton on ½‖F‖².

φ and its derivatives are generated kernels (:mod:`ghostsym.codegen.fields` for φ^{(k)} on
arrays, :mod:`ghostsym.codegen.latent` for the rank-one flow and its derivatives); any named
nonlinearity of the symbolic layer works. The root finding only sees the callable interface
:meth:`RankOneFlow.derivatives`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import numpy as np
from scipy import optimize

from ghostsym.analysis import search
from ghostsym.analysis.points import (
    DEGENERATE,
    FIXED_POINT,
    GHOST,
    SADDLE_NODE,
    SPEED_MAXIMUM,
    STABLE,
    TOLERANCES,
    UNSTABLE,
    Ghost,
    Tolerances,
)
from ghostsym.analysis.slow_points import FieldFunctions, reduce_to_canonical
from ghostsym.codegen import latent
from ghostsym.codegen.fields import phi_functions
from ghostsym.errors import InputError, NotDerivableError

#: Number of initial cells of the certified root search.
ROOT_GRID_CELLS = 4096
#: Cells narrower than this (relative to the search half-width, at least absolute 1e-12) are
#: not split further; a remaining undecided cell is a near-tangency.
ROOT_MIN_WIDTH_REL = 1e-11
#: Safety factor on derivative bounds (covers rounding in the bound itself).
BOUND_SAFETY = 1.0 + 1e-6
#: |f'| below this (relative to 1, the leak) at a root: saddle-node (double) fixed point.
SADDLE_NODE_SLOPE_TOL = 1e-6
#: |f(κ_g)| below this at a critical point: the critical point is itself a fixed point.
CRITICAL_FIXED_POINT_TOL = 1e-9
#: |a_g| below this: degenerate critical point (no quadratic normal form).
DEGENERATE_CURVATURE_TOL = 1e-12
#: Where φ^{(k)} is sampled to bound sup|φ^{(k)}| (it decays or saturates beyond).
PHI_SAMPLE_HALF_WIDTH = 60.0
PHI_SAMPLE_POINTS = 240_001
#: Largest half-width searched for critical points of f (f' → −1 far away).
MAX_CRITICAL_HALF_WIDTH = 1e6


# ---------------------------------------------------------------------------------------------
# φ and its derivatives on arrays, from the symbolic layer
# ---------------------------------------------------------------------------------------------


#: ``phi_derivatives(name, order)(z)`` -> [φ(z), …, φ^{(order)}(z)] on arrays: the generated
#: kernels of :func:`ghostsym.codegen.fields.phi_functions`.
phi_derivatives = phi_functions


@lru_cache(maxsize=16)
def phi_sup_bounds(name: str = "tanh", order: int = 4) -> tuple[float, ...]:
    """Upper bounds of sup_z |φ^{(k)}(z)|, k = 0..order (dense sampling, safety factor).

    Raises :class:`NotDerivableError` for an unbounded φ (the root bracket needs sup|φ| < ∞).
    """
    zs = np.linspace(-PHI_SAMPLE_HALF_WIDTH, PHI_SAMPLE_HALF_WIDTH, PHI_SAMPLE_POINTS)
    values = phi_derivatives(name, order)(zs)
    sups = []
    for k, v in enumerate(values):
        if not np.all(np.isfinite(v)):
            raise NotDerivableError(f"φ = {name}: φ^({k}) is not finite on the sample grid")
        edge = max(abs(v[0]), abs(v[-1]))
        sup = float(np.max(np.abs(v)))
        # A bounded, saturating φ^{(k)} is flat at the sample edges; growth there means unbounded.
        if k == 0 and edge > 0 and abs(edge - sup) < 1e-12 * max(1.0, sup):
            slope = abs(v[-1] - v[-2]) + abs(v[1] - v[0])
            if slope > 1e-9:
                raise NotDerivableError(
                    f"φ = {name} is unbounded; fixed points cannot be bracketed"
                )
        sups.append(sup * BOUND_SAFETY + 1e-300)
    return tuple(sups)


@lru_cache(maxsize=16)
def _slope_envelope(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(s, env(s)) with env(s) ≥ sup_{|z| ≥ s} |φ'(z)| on a sampled grid of s ≥ 0."""
    zs = np.linspace(0.0, PHI_SAMPLE_HALF_WIDTH, PHI_SAMPLE_POINTS // 2)
    d1 = phi_derivatives(name, 1)(np.concatenate([-zs, zs]))[1]
    absd = np.maximum(np.abs(d1[: zs.size]), np.abs(d1[zs.size :]))
    return zs, np.maximum.accumulate(absd[::-1])[::-1] * BOUND_SAFETY


# ---------------------------------------------------------------------------------------------
# Certified search for all roots of a smooth scalar function on an interval
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Root:
    """A root of g; ``tangent`` marks a near-tangency found without a sign change."""

    x: float
    tangent: bool = False


def all_roots(
    g: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    lo: float,
    hi: float,
    slope_bound: float,
    curvature_bound: float,
    *,
    cells: int = ROOT_GRID_CELLS,
    min_width: float | None = None,
    noise: float | None = None,
) -> list[Root]:
    """Every root of g in [lo, hi], certified by derivative bounds.

    ``g(x)`` returns (g(x), g'(x)) on arrays; ``slope_bound`` ≥ sup|g'| and
    ``curvature_bound`` ≥ sup|g''| on [lo, hi]. Returns sorted :class:`Root` objects. A root
    of even multiplicity (tangency) is reported once, with ``tangent=True``. ``noise`` is
    the rounding level of g (default 64·eps·max|g| on the initial grid): roots whose
    separating hump of |g| stays below it are one cluster (see the end of the function).
    """
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise InputError(f"root search interval must be finite with hi > lo, got [{lo}, {hi}]")
    if min_width is None:
        min_width = max(ROOT_MIN_WIDTH_REL * (hi - lo), 1e-12)
    L1 = float(slope_bound) * BOUND_SAFETY
    L2 = float(curvature_bound) * BOUND_SAFETY
    a = np.linspace(lo, hi, cells + 1)
    left, right = a[:-1], a[1:]
    ga, dga = g(left)
    gb, dgb = g(right)
    if noise is None:
        noise = 64 * np.finfo(float).eps * float(np.max(np.abs(np.concatenate([ga, gb[-1:]]))))
    roots: list[Root] = []
    exact = [float(x) for x in a[g(a)[0] == 0.0]]  # grid points that are roots exactly
    brackets: list[tuple[float, float]] = []
    tangency_cells: list[tuple[float, float]] = []
    while left.size:
        width = right - left
        monotone = (np.sign(dga) == np.sign(dgb)) & (np.abs(dga) + np.abs(dgb) > L2 * width)
        sign_change = ga * gb < 0
        excluded = ~sign_change & (monotone | (np.abs(ga) + np.abs(gb) > L1 * width))
        single = sign_change & monotone
        for lft, rgt in zip(left[single], right[single], strict=True):
            brackets.append((float(lft), float(rgt)))
        undecided = ~(excluded | single)
        tiny = undecided & (width <= min_width)
        for lft, rgt in zip(left[tiny], right[tiny], strict=True):
            tangency_cells.append((float(lft), float(rgt)))
        split = undecided & ~tiny
        if not np.any(split):
            break
        l0, r0 = left[split], right[split]
        mid = 0.5 * (l0 + r0)
        gm, dgm = g(mid)
        ga0, dga0, gb0, dgb0 = ga[split], dga[split], gb[split], dgb[split]
        exact += [float(x) for x in mid[gm == 0.0]]
        left = np.concatenate([l0, mid])
        right = np.concatenate([mid, r0])
        ga = np.concatenate([ga0, gm])
        dga = np.concatenate([dga0, dgm])
        gb = np.concatenate([gm, gb0])
        dgb = np.concatenate([dgm, dgb0])

    def value(x):
        return float(g(np.array([x]))[0][0])

    for lft, rgt in brackets:
        roots.append(
            Root(optimize.brentq(value, lft, rgt, xtol=1e-15, rtol=4 * np.finfo(float).eps))
        )
    # Undecided tiny cells (|g| ≲ L1·min_width, g' not of one sign): group neighbours.
    tangency_cells.sort()
    groups: list[list[tuple[float, float]]] = []
    candidates: list[tuple[float, float, float, float]] = []
    for cell in tangency_cells:
        if groups and cell[0] <= groups[-1][-1][1] + 2 * min_width:
            groups[-1].append(cell)
        else:
            groups.append([cell])
    for group in groups:
        xs = np.unique(np.array([c for cell in group for c in cell]))
        vals = g(xs)[0]
        if np.any(vals == 0.0):
            exact.append(float(xs[np.argmin(np.abs(vals))]))
            continue
        # Inside a group g is numerically zero (|g| < L1·min_width), so sign flips there are
        # indistinguishable from rounding: the parity of the flips decides between one root of
        # odd multiplicity and a tangency (two roots closer than the resolution count as one).
        flips = np.nonzero(vals[:-1] * vals[1:] < 0)[0]
        if flips.size % 2:
            i = flips[flips.size // 2]
            roots.append(Root(optimize.brentq(value, xs[i], xs[i + 1], xtol=1e-15)))
        else:
            i = int(np.argmin(np.abs(vals)))
            slopes = g(xs[[0, -1]])[1]
            span = float(xs[-1] - xs[0])
            curvature = abs(slopes[1] - slopes[0]) / span if span > 0 else 0.0
            candidates.append((float(xs[i]), abs(float(vals[i])), curvature, span))
    # A dip of |g| between two simple roots that lie closer than the certificate resolves is
    # not a tangency: keep a candidate only if no simple root lies within the distance at which
    # the local parabola g(x*) + ½g''(x*)(x − x*)² would cross zero (plus the group's span).
    simple = np.array([r.x for r in roots] + exact)
    for x, gmin, curvature, span in candidates:
        reach = 4 * math.sqrt(2 * gmin / curvature) if curvature > 0 else math.inf
        reach = max(reach, span + 2 * min_width)
        if simple.size and np.min(np.abs(simple - x)) <= reach:
            continue
        roots.append(Root(x, tangent=True))
    for x in exact:
        roots.append(Root(x, tangent=False))
    roots.sort(key=lambda r: r.x)
    # Cluster roots that rounding cannot tell apart: consecutive roots join one cluster when
    # |g| at their midpoint is within the noise level (or they are closer than min_width).
    # Near a double root, rounding scatters sign flips over a ~√eps neighbourhood. A cluster's
    # multiplicity parity decides: odd → one simple root, even → one tangency.
    clusters: list[list[Root]] = []
    for r in roots:
        if clusters:
            prev = clusters[-1][-1]
            close = r.x - prev.x <= 2 * min_width
            if not close:
                mid = 0.5 * (r.x + prev.x)
                close = abs(float(g(np.array([mid]))[0][0])) <= noise
            if close:
                clusters[-1].append(r)
                continue
        clusters.append([r])
    merged: list[Root] = []
    for cluster in clusters:
        multiplicity = sum(2 if r.tangent else 1 for r in cluster)
        xs = np.array([r.x for r in cluster])
        x = float(xs[np.argmin(np.abs(g(xs)[0]))]) if len(cluster) > 1 else float(xs[0])
        merged.append(Root(x, tangent=multiplicity % 2 == 0))
    return merged


# ---------------------------------------------------------------------------------------------
# Rank one
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FixedPoint1D:
    """A root κ* of f with slope f'(κ*); kind: stable, unstable or saddle-node."""

    kappa: float
    slope: float
    kind: str


@dataclass(frozen=True)
class CriticalPoint1D:
    """A root κ_g of f' with its ghost coefficients (Eqs. 26–29).

    kind: ``ghost`` (r > 0: speed minimum with f ≠ 0), ``saddle-node`` (f(κ_g) ≈ 0: the
    critical point is a double fixed point), ``speed-maximum`` (r < 0) or ``degenerate``
    (a_g ≈ 0). ``passage_time`` = π/√r in units of τ (None unless r > 0).
    """

    kappa: float
    r_g: float
    a_g: float
    r: float
    kind: str
    passage_time: float | None

    def ghost(self) -> Ghost:
        """The critical point as a :class:`~ghostsym.analysis.points.Ghost`."""
        return Ghost(self.kappa, self.r, self.r_g, self.a_g, self.passage_time)


@dataclass
class RankOneAnalysis:
    """Everything :func:`analyze_rank_one` finds about one rank-one latent flow."""

    fixed_points: list[FixedPoint1D]
    critical_points: list[CriticalPoint1D]
    fixed_point_bound: float
    critical_point_bound: float
    extras: dict = field(default_factory=dict)

    @property
    def ghosts(self) -> list[Ghost]:
        return [c.ghost() for c in self.critical_points if c.kind == GHOST]

    @property
    def speed_minima(self) -> list[CriticalPoint1D]:
        """Critical points that are minima of |f|: ghosts and saddle-node fixed points."""
        return [c for c in self.critical_points if c.kind in (GHOST, SADDLE_NODE)]

    @property
    def n_fixed_points(self) -> int:
        return len(self.fixed_points)

    def to_dict(self) -> dict:
        return {
            "fixed_points": [asdict(p) for p in self.fixed_points],
            "critical_points": [asdict(c) for c in self.critical_points],
            "n_fixed_points": self.n_fixed_points,
            "ghosts": [g.to_dict() for g in self.ghosts],
            "fixed_point_bound": self.fixed_point_bound,
            "critical_point_bound": self.critical_point_bound,
            **self.extras,
        }


def passage_time(r: float, tau: float = 1.0) -> float:
    """Predicted time through a ghost bottleneck, π τ/√r (full passage of dx/dt = x² + r).

    For the Euler map κ ← κ + α f(κ) divide by α to get the number of steps.
    """
    if not r > 0:
        raise InputError(f"passage time needs r > 0 (a ghost), got r = {r}")
    return math.pi * tau / math.sqrt(r)


class RankOneFlow:
    """f(κ) = −κ + nᵀφ(mκ + b) and its derivatives on arrays (Eq. 25).

    ``derivatives(kappa, order)`` returns [f, f', …, f^{(order)}] (order ≤ 3); the root
    finding only uses this method and :meth:`derivative_bounds`.
    """

    def __init__(self, m, n, b, nonlinearity: str = "tanh"):
        m, n, b = (np.asarray(v, dtype=float).ravel() for v in (m, n, b))
        if not (m.size == n.size == b.size) or m.size == 0:
            raise InputError(
                f"m, n, b must have one common length, got {m.size}, {n.size}, {b.size}"
            )
        if not all(np.all(np.isfinite(v)) for v in (m, n, b)):
            raise InputError("m, n, b must be finite")
        self.m, self.n, self.b = m, n, b
        self.nonlinearity = nonlinearity
        self._phi = phi_derivatives(nonlinearity, 3)

    def derivatives(self, kappa, order: int = 2) -> list[np.ndarray]:
        kappa = np.asarray(kappa, dtype=float)
        if order <= 3:
            values = latent.latent_flow_derivatives(
                self.m, self.n, self.b, kappa, self.nonlinearity
            )
            return list(values[: order + 1])
        z = kappa[..., None] * self.m + self.b
        phis = self._phi(z)
        out = [-kappa + phis[0] @ self.n]
        weights = self.n.copy()
        for k in range(1, order + 1):
            weights = weights * self.m
            term = phis[k] @ weights
            out.append(term - 1.0 if k == 1 else term)
        return out

    def __call__(self, kappa):
        return self.derivatives(kappa, 0)[0]

    def derivative_bounds(self) -> list[float]:
        """Bounds B_k on the derivatives of f, k = 0..3.

        B_0 = Σ|n_i| sup|φ| bounds |f + κ|; for k ≥ 1,
        |f^{(k)}| ≤ δ_{k1} + Σ|n_i m_i^k| sup|φ^{(k)}|.
        """
        sups = phi_sup_bounds(self.nonlinearity, 4)
        bounds = [float(np.sum(np.abs(self.n)) * sups[0])]
        for k in range(1, 4):
            bounds.append(float(np.sum(np.abs(self.n * self.m**k)) * sups[k]) + (k == 1))
        return bounds

    def fixed_point_bound(self) -> float:
        """R with every fixed point in [−R, R]: R = Σ|n_i| sup|φ| (plus a margin)."""
        return self.derivative_bounds()[0] * BOUND_SAFETY + 1e-9

    def critical_point_bound(self) -> float:
        """R_c with f' < 0 for |κ| > R_c, so every root of f' lies in [−R_c, R_c].

        f' + 1 = Σ n_i m_i φ'(m_i κ + b_i); with env(s) = sup_{|z| ≥ s} |φ'(z)| (sampled),
        |f' + 1| ≤ Σ|n_i m_i| env(|m_i||κ| − |b_i|) < 1 certifies f' < 0. R_c is doubled until
        this holds.
        """
        zs, env = _slope_envelope(self.nonlinearity)

        def envelope(s):
            s = np.maximum(s, 0.0)
            idx = np.searchsorted(zs, s, side="right") - 1
            return np.where(s >= zs[-1], env[-1], env[np.clip(idx, 0, zs.size - 1)])

        weights = np.abs(self.n * self.m)
        radius = max(self.fixed_point_bound(), 1.0)
        while radius <= MAX_CRITICAL_HALF_WIDTH:
            if np.sum(weights * envelope(np.abs(self.m) * radius - np.abs(self.b))) < 1.0:
                return radius
            radius *= 2.0
        raise NotDerivableError(
            f"could not bracket the critical points of f within |κ| ≤ {MAX_CRITICAL_HALF_WIDTH:g}"
        )


def analyze_rank_one(m, n, b, nonlinearity: str = "tanh", flow: RankOneFlow | None = None):
    """All fixed points and critical points (ghosts) of the rank-one latent flow (Eqs. 25–29)."""
    flow = flow if flow is not None else RankOneFlow(m, n, b, nonlinearity)
    bounds = flow.derivative_bounds()
    radius = flow.fixed_point_bound()

    def f_and_slope(x):
        d = flow.derivatives(x, 1)
        return d[0], d[1]

    roots = all_roots(f_and_slope, -radius, radius, bounds[1], bounds[2])
    fixed_points = []
    xs = np.array([r.x for r in roots])
    slopes = flow.derivatives(xs, 1)[1] if xs.size else np.array([])
    for root, slope in zip(roots, slopes, strict=True):
        if root.tangent or abs(slope) <= SADDLE_NODE_SLOPE_TOL:
            kind = SADDLE_NODE
        else:
            kind = STABLE if slope < 0 else UNSTABLE
        fixed_points.append(FixedPoint1D(root.x, float(slope), kind))

    crit_radius = flow.critical_point_bound()

    def slope_and_curvature(x):
        d = flow.derivatives(x, 2)
        return d[1], d[2]

    crit_roots = all_roots(slope_and_curvature, -crit_radius, crit_radius, bounds[2], bounds[3])
    critical_points = []
    if crit_roots:
        kc = np.array([c.x for c in crit_roots])
        d = flow.derivatives(kc, 2)
        for k, r_g, f2 in zip(kc, d[0], d[2], strict=True):
            a_g = 0.5 * float(f2)
            r = a_g * float(r_g)
            if abs(r_g) <= CRITICAL_FIXED_POINT_TOL:
                kind = SADDLE_NODE
            elif abs(a_g) <= DEGENERATE_CURVATURE_TOL:
                kind = DEGENERATE
            elif r > 0:
                kind = GHOST
            else:
                kind = SPEED_MAXIMUM
            tpass = passage_time(r) if kind == GHOST else None
            critical_points.append(CriticalPoint1D(float(k), float(r_g), a_g, r, kind, tpass))
    return RankOneAnalysis(fixed_points, critical_points, radius, crit_radius)


def sign_flip_count(m, n, b, grid=None, nonlinearity: str = "tanh") -> int:
    """The authors' fixed-point count (docs/experiments.md §3.4).

    Sign flips of f between consecutive points of linspace(−15, 15, 1000).
    """
    grid = np.linspace(-15.0, 15.0, 1000) if grid is None else np.asarray(grid, dtype=float)
    values = RankOneFlow(m, n, b, nonlinearity)(grid)
    return int(np.count_nonzero((values[:-1] > 0) != (values[1:] > 0)))


# ---------------------------------------------------------------------------------------------
# Rank two
# ---------------------------------------------------------------------------------------------

#: Grid points per axis of the speed map used to seed the 2-D search.
RANK_TWO_GRID = 201
#: Newton refinement on ½‖F‖² (docs/experiments.md §4.5): Tikhonov term and iteration limit.
NEWTON_TIKHONOV = 1e-12
NEWTON_MAX_ITER = 100
NEWTON_GRAD_TOL = 1e-14


@dataclass
class RankTwoFlow:
    """F(κ) = −κ + Pφ(Mκ + b) with M (N×K), P (K×N) (docs/experiments.md §4.3).

    With W = MP the network's latent state κ_t = P x_t obeys κ_{t+1} = κ_t + αF(κ_t) exactly
    when the input is off (W x = M κ), for any x_t — :meth:`latent_map` iterates that map.
    The methods work for any K; :func:`analyze_rank_two` needs K = 2.
    """

    M: np.ndarray
    P: np.ndarray
    b: np.ndarray
    nonlinearity: str = "tanh"

    def __post_init__(self):
        self.M = np.atleast_2d(np.asarray(self.M, dtype=float))
        self.P = np.atleast_2d(np.asarray(self.P, dtype=float))
        self.b = np.asarray(self.b, dtype=float).ravel()
        n, k = self.M.shape
        if self.P.shape != (k, n) or self.b.size != n:
            raise InputError(
                f"shapes M {self.M.shape}, P {self.P.shape}, b {self.b.shape} mismatch"
            )
        self._phi = phi_derivatives(self.nonlinearity, 2)
        # φ alone and (φ, φ') for the hot paths (the order-2 evaluator computes all three)
        self._phi0 = phi_derivatives(self.nonlinearity, 0)
        self._phi1 = phi_derivatives(self.nonlinearity, 1)

    @property
    def rank(self) -> int:
        return self.M.shape[1]

    def field(self, kappa: np.ndarray) -> np.ndarray:
        """F on an array of points (..., K)."""
        kappa = np.asarray(kappa, dtype=float)
        z = kappa @ self.M.T + self.b
        return -kappa + self._phi0(z)[0] @ self.P.T

    def jacobian(self, kappa: np.ndarray) -> np.ndarray:
        """J = −I + P diag(φ'(Mκ + b)) M at one point."""
        z = self.M @ np.asarray(kappa, dtype=float) + self.b
        d1 = self._phi1(z)[1]
        return -np.eye(self.M.shape[1]) + (self.P * d1) @ self.M

    def second(self, kappa: np.ndarray) -> np.ndarray:
        """Second-derivative tensor H_ijk = ∂²F_i/∂κ_j∂κ_k = Σ_n P_in φ''(z_n) M_nj M_nk."""
        z = self.M @ np.asarray(kappa, dtype=float) + self.b
        d2 = self._phi(z)[2]
        return np.einsum("in,n,nj,nk->ijk", self.P, d2, self.M, self.M)

    def energy_hessian(self, kappa: np.ndarray) -> np.ndarray:
        """Hessian of E = ½‖F‖²: JᵀJ + Σ_i F_i Σ_k P_ik φ''(z_k) M_k M_kᵀ."""
        kappa = np.asarray(kappa, dtype=float)
        z = self.M @ kappa + self.b
        _, d1, d2 = self._phi(z)
        F = -kappa + self.P @ self._phi(z)[0]
        J = -np.eye(self.M.shape[1]) + (self.P * d1) @ self.M
        weights = (F @ self.P) * d2  # Σ_i F_i P_ik φ''(z_k)
        return J.T @ J + (self.M.T * weights) @ self.M

    def field_functions(self) -> FieldFunctions:
        """The flow as :class:`ghostsym.analysis.slow_points.FieldFunctions` (exact F, J, H)."""
        return FieldFunctions(self.field, self.jacobian, self.second, hess_q_fn=self.energy_hessian)

    def latent_map(self, kappa0, steps: int, alpha: float = 0.5) -> np.ndarray:
        """Iterates of κ ← κ + αF(κ) from ``kappa0`` (..., K): array (steps + 1, ..., K).

        This is the network's own input-free latent dynamics (Euler leak α, Eq. 47).
        """
        kappa = np.asarray(kappa0, dtype=float)
        out = np.empty((int(steps) + 1, *kappa.shape))
        out[0] = kappa
        for t in range(int(steps)):
            kappa = kappa + alpha * self.field(kappa)
            out[t + 1] = kappa
        return out

    def readout_direction(self, n) -> np.ndarray:
        """Latent form of nᵀx: columns (K × K') with nᵀx = (P n)ᵀ κ for x's row-space part.

        For W = m nᵀ the columns of n span the row space of W, which the rows of P span, so
        nᵀx = nᵀPᵀPx = (P n)ᵀκ exactly (docs/experiments.md §4.3, decision regions).
        """
        n = np.asarray(n, dtype=float)
        return self.P @ (n[:, None] if n.ndim == 1 else n)


def rank_two_latent(W, b, rank: int = 2, nonlinearity: str = "tanh") -> RankTwoFlow:
    """SVD construction (docs/experiments.md §4.3): W = UΣVᵀ, M = U_KΣ_K, P = V_Kᵀ (exact for rank
    K)."""
    W = np.asarray(W, dtype=float)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise InputError(f"W must be square, got shape {W.shape}")
    U, S, Vt = np.linalg.svd(W)
    return RankTwoFlow(U[:, :rank] * S[:rank], Vt[:rank], b, nonlinearity)


def rank_two_latent_from_factors(m, n, b, nonlinearity: str = "tanh") -> RankTwoFlow:
    """:func:`rank_two_latent` for W = m nᵀ (m, n of shape (N, K)) without the N×N SVD.

    With m = Q_m R_m, n = Q_n R_n (thin QR), W = Q_m (R_m R_nᵀ) Q_nᵀ; the SVD of the K×K
    core C = U_c Σ V_cᵀ gives W's leading singular vectors U = Q_m U_c, V = Q_n V_c exactly.
    Singular vectors are unique up to sign, so M, P may differ from the dense SVD's by the
    sign of each latent axis.
    """
    m = np.asarray(m, dtype=float)
    n = np.asarray(n, dtype=float)
    m = m[:, None] if m.ndim == 1 else m
    n = n[:, None] if n.ndim == 1 else n
    if m.shape != n.shape or m.ndim != 2:
        raise InputError(f"m and n must both be (N, K), got {m.shape} and {n.shape}")
    Qm, Rm = np.linalg.qr(m)
    Qn, Rn = np.linalg.qr(n)
    Uc, S, Vct = np.linalg.svd(Rm @ Rn.T)
    return RankTwoFlow((Qm @ Uc) * S, (Qn @ Vct.T).T, b, nonlinearity)


def _newton_on_energy(flow: RankTwoFlow, x: np.ndarray) -> np.ndarray:
    """Newton's method on ∇q = JᵀF = 0 with the exact Hessian (docs/experiments.md §4.5)."""
    eye = np.eye(flow.rank)
    for _ in range(NEWTON_MAX_ITER):
        grad = flow.jacobian(x).T @ flow.field(x)
        if np.linalg.norm(grad) < NEWTON_GRAD_TOL:
            break
        H = flow.energy_hessian(x) + NEWTON_TIKHONOV * eye
        try:
            step = np.linalg.solve(H, grad)
        except np.linalg.LinAlgError:
            step = np.linalg.pinv(H) @ grad
        x = x - step
        if not np.all(np.isfinite(x)):
            break
    return x


def ghost_reduction(flow: RankTwoFlow, x) -> dict:
    """Normal-form coefficients of the slow point ``x`` (docs/math.md §2, Eqs. 7–11).

    ds/dt = c0 + c2 s² along the slow direction v, r = c0·c2, predicted passage time
    π/√r (τ units) and the bottleneck half-width √(c0/c2) (where the speed has doubled).
    Empty dict when the reduction does not exist (NotDerivableError).
    """
    try:
        red = reduce_to_canonical(flow.field_functions(), np.asarray(x, dtype=float))
    except NotDerivableError:
        return {}
    width = math.sqrt(red.c0 / red.c2) if red.c0 > 0 and red.c2 > 0 else math.inf
    return {
        "c0": red.c0,
        "c2": red.c2,
        "r": red.r,
        "passage_time": red.passage_time,
        "bottleneck_half_width": width,
        "slow_direction": red.v.tolist(),
    }


def ghost_record(flow: RankTwoFlow, point) -> Ghost:
    """A classified ghost of a K-dimensional latent flow as a
    :class:`~ghostsym.analysis.points.Ghost`: position, speed, energy ½‖F‖² and its normal
    form (r = c0·c2, NaN where the reduction does not exist)."""
    red = point.extras if "r" in point.extras else ghost_reduction(flow, point.x)
    r = float(red.get("r", np.nan))
    return Ghost(
        kappa=point.x.tolist(),
        r=r,
        r_g=red.get("c0"),
        a_g=red.get("c2"),
        passage_time=passage_time(r) if r > 0 else None,
        speed=point.speed,
        energy=0.5 * point.speed**2,
    )


@dataclass
class RankTwoAnalysis:
    """What :func:`analyze_rank_two` finds: ``points`` (fixed points, ghosts, slow points),
    ``speed_saddles`` (critical points of q that are not minima), the grid maps ``grid_axis``,
    ``speed`` = ‖F‖ and ``field`` = F, and the searched ``half_width``."""

    points: list
    speed_saddles: list
    grid_axis: np.ndarray
    speed: np.ndarray
    field: np.ndarray
    half_width: float

    @property
    def fixed_points(self) -> list:
        return [p for p in self.points if p.kind == FIXED_POINT]

    @property
    def ghosts(self) -> list:
        return [p for p in self.points if p.kind == GHOST]


def analyze_rank_two(
    flow: RankTwoFlow,
    half_width: float | None = None,
    grid: int = RANK_TWO_GRID,
    tol: Tolerances = TOLERANCES,
) -> RankTwoAnalysis:
    """Fixed points, slow points and ghosts of a 2-D latent flow (docs/math.md §1,
    docs/experiments.md §4.5).

    The rank-two strategy of :mod:`ghostsym.analysis.search`. Seeds: 3×3 local minima of ‖F‖
    on a square grid over [−h, h]² (default h bounds every fixed point:
    ‖Pφ‖ ≤ ‖P‖₂ √N sup|φ|). Each seed is refined by Newton on q = ½‖F‖² with the exact
    Hessian; :func:`ghostsym.analysis.search.collect` keeps the critical points of q,
    deduplicates them and classifies them. A critical point of q with F ≠ 0 whose Hessian ∇²q
    is not positive semidefinite is not a slow point (Eq. 3): it goes to ``speed_saddles``,
    not ``points``. Each point carries ``extras["q_hessian_eigenvalues"]``; each ghost also
    its normal-form coefficients (:func:`ghost_reduction`: c0, c2, r, passage_time,
    bottleneck_half_width, slow_direction).
    """
    if flow.rank != 2:
        raise InputError(f"analyze_rank_two needs a rank-two flow, got rank {flow.rank}")
    if half_width is None:
        sup = phi_sup_bounds(flow.nonlinearity, 0)[0]
        half_width = float(np.linalg.norm(flow.P, 2) * math.sqrt(flow.P.shape[1]) * sup) * 1.05
    seeds, axis, F, speed = search.grid_seeds(flow.field, half_width, grid)
    ends = [_newton_on_energy(flow, x.copy()) for x in seeds]

    def evaluate(x):
        return flow.field(x), flow.jacobian(x), flow.energy_hessian(x)

    found = search.collect(ends, evaluate, scale=half_width, tol=tol, include_non_minima=True)
    points, saddles = search.split_minima(found)
    for point in found:
        point.extras["q_hessian_eigenvalues"] = point.q_hessian_eigenvalues.tolist()
    for point in points:
        if point.kind == GHOST:
            point.extras.update(ghost_reduction(flow, point.x))
    return RankTwoAnalysis(points, saddles, axis, speed, F, half_width)


# ---------------------------------------------------------------------------------------------
# Rank two: trajectories against attractors and ghosts (Fig. 4)
# ---------------------------------------------------------------------------------------------

#: Iterations of the latent map (α = 0.5: 300 τ) used to decide which attractor a state
#: reaches; a ghost slower than this would hold the state and give "no attractor".
ATTRACTOR_STEPS = 600
#: A state has reached an attractor when it ends within this distance of the fixed point.
ATTRACTOR_TOL = 1e-2
#: A trajectory passes a ghost when one of its speed minima lies within this multiple of the
#: ghost's bottleneck half-width √(c0/c2) (normal-form speed there: (1 + reach²)·c0).
BOTTLENECK_REACH = 2.0


def attractor_index(
    flow: RankTwoFlow,
    kappa0,
    attractors,
    *,
    alpha: float = 0.5,
    steps: int = ATTRACTOR_STEPS,
    tol: float = ATTRACTOR_TOL,
) -> np.ndarray:
    """Index of the attractor each state in ``kappa0`` (..., K) flows to, −1 if none.

    The input-free latent map κ ← κ + αF(κ) is iterated ``steps`` times; the state is
    assigned to the nearest of ``attractors`` (array (A, K)) if it lies within ``tol``.
    """
    kappa0 = np.asarray(kappa0, dtype=float)
    attractors = np.asarray(attractors, dtype=float).reshape(-1, flow.rank)
    if attractors.size == 0:
        return np.full(kappa0.shape[:-1], -1, dtype=int)
    end = flow.latent_map(kappa0, steps, alpha)[-1]
    dist = np.linalg.norm(end[..., None, :] - attractors, axis=-1)
    nearest = np.argmin(dist, axis=-1)
    return np.where(np.min(dist, axis=-1) <= tol, nearest, -1)


def speed_minima_along(flow: RankTwoFlow, trajectory) -> np.ndarray:
    """Indices t where the latent speed ‖F(κ_t)‖ of a trajectory (T, K) is locally minimal.

    Interior minima (slower than both neighbours) and the last point when the speed is
    still falling there (the trajectory is slowing down when the trial ends).
    """
    speed = np.linalg.norm(flow.field(np.asarray(trajectory, dtype=float)), axis=-1)
    if speed.size < 2:
        return np.arange(speed.size)
    interior = np.nonzero((speed[1:-1] < speed[:-2]) & (speed[1:-1] <= speed[2:]))[0] + 1
    tail = [speed.size - 1] if speed[-1] < speed[-2] else []
    return np.concatenate([interior, np.array(tail, dtype=int)]).astype(int)


def ghost_passages(
    flow: RankTwoFlow,
    trajectory,
    ghosts,
    *,
    reach: float = BOTTLENECK_REACH,
    alpha: float = 0.5,
) -> list[dict]:
    """The ghosts a trajectory (T, K) slows down at (docs/math.md §1–2).

    A trajectory *passes* ghost g when one of its speed minima (:func:`speed_minima_along`)
    lies within ``reach`` × the bottleneck half-width w = √(c0/c2) of κ_g. For each passage:
    the ghost's index, the time t of that speed minimum, its distance, the trajectory's speed
    and the ghost's, the steps of the visit of the disk |κ − κ_g| ≤ w that contains t
    (``complete_visit``: it starts and ends inside the trajectory), the normal-form
    prediction for crossing |s| ≤ w, (2/√r)·atan(1)/α = π/(2α√r) steps (Euler leak α), and
    for the visit itself: ``visit_steps`` between its first and last samples against
    ``normal_form_visit_steps`` = [atan(s_out/w) − atan(s_in/w)]/(α√r) from the slow
    coordinates s = vᵀ(κ − κ_g) of those samples (trials kicked into the middle of the
    bottleneck by the cue, or ending inside it, are predicted for what they traverse).
    ``ghosts`` are classified points carrying :func:`ghost_reduction` extras.
    """
    trajectory = np.asarray(trajectory, dtype=float)
    minima = speed_minima_along(flow, trajectory)
    speed = np.linalg.norm(flow.field(trajectory), axis=-1)
    out = []
    for index, g in enumerate(ghosts):
        width = g.extras.get("bottleneck_half_width", math.inf) if hasattr(g, "extras") else None
        if width is None or not math.isfinite(width) or minima.size == 0:
            continue
        dist_all = np.linalg.norm(trajectory - np.asarray(g.x), axis=-1)
        dist = dist_all[minima]
        k = int(np.argmin(dist))
        if dist[k] > reach * width:
            continue
        r = g.extras.get("r", math.nan)
        t = int(minima[k])
        inside = dist_all <= width
        start, stop = t, t  # the contiguous visit of the disk |κ − κ_g| ≤ w around t
        if inside[t]:
            while start > 0 and inside[start - 1]:
                start -= 1
            while stop < inside.size - 1 and inside[stop + 1]:
                stop += 1
        visit = stop - start + 1 if inside[t] else 0
        # normal-form time between the visit's first and last samples: with u = s/w,
        # du/dt = √r(1 + u²), so t = [atan u_out − atan u_in]/√r (τ units; /α for steps)
        direction = g.extras.get("slow_direction")
        predicted_visit = math.nan
        if visit >= 2 and direction is not None and r > 0:
            s_coord = (trajectory - np.asarray(g.x)) @ np.asarray(direction, dtype=float)
            u_in = float(np.clip(s_coord[start] / width, -1.0, 1.0))
            u_out = float(np.clip(s_coord[stop] / width, -1.0, 1.0))
            predicted_visit = (math.atan(u_out) - math.atan(u_in)) / (math.sqrt(r) * alpha)
        out.append(
            {
                "ghost": index,
                "t": t,
                "distance": float(dist[k]),
                "half_width": float(width),
                "speed": float(speed[minima[k]]),
                "ghost_speed": float(g.speed),
                "steps_within_half_width": int(visit),
                "complete_visit": bool(inside[t] and start > 0 and stop < inside.size - 1),
                "visit_steps": int(stop - start) if inside[t] else 0,
                "normal_form_visit_steps": predicted_visit,
                "normal_form_steps": (math.pi / (2 * alpha * math.sqrt(r)) if r > 0 else math.inf),
            }
        )
    return out
