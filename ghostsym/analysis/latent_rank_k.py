"""Latent flows of rank-K networks (K ≥ 3): fixed points, slow points and ghosts (Eqs. 37, 49).

A rank-K network x ← (1 − α)x + αφ(Wx + b) with W = Σ_k m_k n_kᵀ evolves, inputs off, in
the K latent coordinates κ = Px of the SVD construction W = UΣVᵀ, M = U_KΣ_K, P = V_Kᵀ
(docs/experiments.md §4.3, :func:`ghostsym.analysis.latent_flow.rank_two_latent`, general in K):

    τ dκ/dt = F(κ) = −κ + Pφ(Mκ + b).

Every fixed point satisfies κ* = Pφ(·), so it lies in the ball ‖κ‖ ≤ ‖P‖₂√N sup|φ| and in
the box |κ_k| ≤ ‖P_k‖₁ sup|φ| (row k of P); :func:`fixed_point_box` returns the half-widths
h_k = min(‖P_k‖₁, ‖P‖₂√N)·sup|φ| of the box that holds every fixed point. Speed minima of
E = ½‖F‖² (docs/math.md §1, Eqs. 2–6) are found from three kinds of seeds:

* the latent projections Px of states the network visits (simulated on its task),
* a scrambled Sobol set in the box (space-filling, deterministic for a given seed),
* the minima of the previous checkpoint mapped into the current coordinates
  (κ_new = P_new φ(M_old κ_old + b_old), the state a latent point stands for) — continuation.

From every seed, in one batch over all seeds (NumPy, K × K systems):

1. damped Newton on ∇E = JᵀF = 0 with the exact Hessian
   ∇²E = JᵀJ + Σ_i (PᵀF)_i φ''(z_i) M_i M_iᵀ, shifted by μ ≥ max(0, −λ_min) so every step
   descends E (Levenberg–Marquardt acceptance) — it ends at minima of E: fixed points and
   slow points;
2. Newton on F = 0 (J step with backtracking on ‖F‖) — fixed points, including those whose
   basin under (1) no seed hits.

This is the rank-K strategy of :mod:`ghostsym.analysis.search`; end points are accepted
(critical points of E with ∇²E positive semidefinite, or fixed points), deduplicated and
classified by :func:`ghostsym.analysis.search.collect` with the one set of tolerances:
fixed point (with its stability), ghost (one Jacobian eigenvalue ≈ 0, the others Re λ < 0)
or slow point.

Unlike the certified rank-one search, this search is not a proof: a fixed point whose
basins no seed reaches can be missed (tests check constructed flows with known fixed points).
The ghost "r" reported per checkpoint is the canonical r = c0·c2 of the ghost's normal form
(docs/math.md §2, as for ranks one and two), next to its energy E = ½‖F‖².
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ghostsym.analysis import search
from ghostsym.analysis.bifurcations import BifurcationTrack, CheckpointFlow
from ghostsym.analysis.latent_flow import (
    RankTwoFlow,
    ghost_record,
    phi_derivatives,
    phi_sup_bounds,
    rank_two_latent_from_factors,
)
from ghostsym.analysis.points import (
    FIXED_POINT,
    GHOST,
    SLOW_POINT,
    TOLERANCES,
    Point,
    Tolerances,
    count_kinds,
)
from ghostsym.errors import InputError

#: Sobol seeds in the fixed-point box (a power of two keeps the Sobol set balanced).
SOBOL_STARTS = 512
#: Visited latent states used as seeds at most (evenly subsampled).
VISITED_STARTS = 128
#: One Newton iteration costs O(K²N) per seed, so above this rank both seed counts shrink
#: like (SEED_BUDGET_RANK/K)², down to MIN_STARTS each (a space-filling set cannot fill a
#: high-dimensional box anyway; visited states and continuation carry the search there).
SEED_BUDGET_RANK = 10
MIN_STARTS = 16
#: Iteration limits of the descent on E and of Newton on F.
DESCENT_MAX_ITER = 200
NEWTON_MAX_ITER = 60
#: Newton on F: a seed is done when ‖F‖ is below this; step halvings tried per iteration.
NEWTON_FIELD_TOL = 1e-14
NEWTON_BACKTRACKS = 8
#: The descent stops when ‖JᵀF‖ ≤ this (absolute; F is O(1) in the box): a solver target
#: below the acceptance test of :class:`~ghostsym.analysis.points.Tolerances`.
DESCENT_STOP_TOL = 1e-10
#: Levenberg–Marquardt damping: initial value, growth on rejection, shrink on acceptance.
DAMPING_INIT = 1e-3
DAMPING_UP = 8.0
DAMPING_DOWN = 0.25
DAMPING_MAX = 1e12
#: Seed of the Sobol scrambling (the search is deterministic).
SOBOL_SEED = 0
#: Safety factor on the fixed-point box.
BOX_SAFETY = 1.05


def fixed_point_box(flow: RankTwoFlow) -> np.ndarray:
    """Half-widths h (K,) with every fixed point in Π_k [−h_k, h_k] (× a safety factor).

    κ* = Pφ(Mκ* + b) gives |κ*_k| ≤ ‖P_k‖₁ sup|φ| and ‖κ*‖ ≤ ‖P‖₂ √N sup|φ|.
    """
    sup = phi_sup_bounds(flow.nonlinearity, 0)[0]
    ball = float(np.linalg.norm(flow.P, 2) * math.sqrt(flow.P.shape[1]))
    return np.minimum(np.abs(flow.P).sum(axis=1), ball) * sup * BOX_SAFETY + 1e-12


class _Batch:
    """F, J, ∇E and ∇²E of a latent flow at many points at once (arrays (S, K), (S, K, K))."""

    def __init__(self, flow: RankTwoFlow):
        self.M, self.P, self.b = flow.M, flow.P, flow.b
        self.K = flow.M.shape[1]
        self._phi = phi_derivatives(flow.nonlinearity, 2)

    def field(self, X):
        return -X + self._phi(X @ self.M.T + self.b)[0] @ self.P.T

    def all(self, X):
        p0, p1, p2 = self._phi(X @ self.M.T + self.b)
        F = -X + p0 @ self.P.T
        J = (self.P[None] * p1[:, None, :]) @ self.M - np.eye(self.K)
        Jt = np.swapaxes(J, 1, 2)
        g = (Jt @ F[..., None])[..., 0]
        w = (F @ self.P) * p2
        H = Jt @ J + (self.M.T[None] * w[:, None, :]) @ self.M
        return F, J, g, H


def _energy(F):
    return 0.5 * np.einsum("sk,sk->s", F, F)


def _descend(batch: _Batch, X, max_iter=DESCENT_MAX_ITER, tol=DESCENT_STOP_TOL):
    """Shifted-Newton (Levenberg–Marquardt) descent on E from every row of X."""
    X = X.copy()
    mu = np.full(len(X), DAMPING_INIT)
    active = np.ones(len(X), dtype=bool)
    eye = np.eye(batch.K)
    for _ in range(max_iter):
        idx = np.nonzero(active)[0]
        if idx.size == 0:
            break
        F, _, g, H = batch.all(X[idx])
        gnorm = np.linalg.norm(g, axis=1)
        done = (gnorm <= tol) | ~np.all(np.isfinite(X[idx]), axis=1)
        active[idx[done]] = False
        keep = ~done
        idx, F, g, H = idx[keep], F[keep], g[keep], H[keep]
        if idx.size == 0:
            break
        lam_min = np.linalg.eigvalsh(H)[:, 0]
        shift = np.maximum(0.0, -lam_min) + mu[idx]
        step = np.linalg.solve(H + shift[:, None, None] * eye, g[..., None])[..., 0]
        trial = X[idx] - step
        better = _energy(batch.field(trial)) < _energy(F)
        X[idx[better]] = trial[better]
        mu[idx] = np.where(better, mu[idx] * DAMPING_DOWN, mu[idx] * DAMPING_UP)
        mu[idx] = np.maximum(mu[idx], 1e-14)
        # stuck: no further decrease possible at machine precision
        active[idx[mu[idx] > DAMPING_MAX]] = False
    return X


def _newton_on_field(batch: _Batch, X, max_iter=NEWTON_MAX_ITER):
    """Newton on F = 0 with halving backtracking on ‖F‖ (fixed points only).

    A seed stops when ‖F‖ reaches rounding level or no step length lowers ‖F‖ (it has
    stalled at a speed minimum that is not a fixed point; descent on E handles those).
    """
    X = X.copy()
    active = np.ones(len(X), dtype=bool)
    for _ in range(max_iter):
        idx = np.nonzero(active)[0]
        if idx.size == 0:
            break
        F, J, _, _ = batch.all(X[idx])
        norm = np.linalg.norm(F, axis=1)
        ok = np.isfinite(norm) & (norm > NEWTON_FIELD_TOL)
        active[idx[~ok]] = False
        idx, F, J, norm = idx[ok], F[ok], J[ok], norm[ok]
        if idx.size == 0:
            break
        try:
            step = np.linalg.solve(J, F[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.stack(
                [np.linalg.lstsq(j, f, rcond=None)[0] for j, f in zip(J, F, strict=True)]
            )
        base = X[idx]
        best = base.copy()
        best_norm = norm.copy()
        t = 1.0
        pending = np.ones(idx.size, dtype=bool)
        for _ in range(NEWTON_BACKTRACKS):
            trial = base - t * step
            tn = np.linalg.norm(batch.field(trial), axis=1)
            accept = pending & np.isfinite(tn) & (tn < best_norm)
            best[accept] = trial[accept]
            best_norm = np.where(accept, tn, best_norm)
            pending &= ~accept
            if not np.any(pending):
                break
            t *= 0.5
        X[idx] = best
        active[idx[pending]] = False  # stalled
    return X


@dataclass
class RankKAnalysis:
    """Speed minima of one rank-K latent flow, with the search's bookkeeping."""

    points: list[Point]
    half_width: list[float]
    n_seeds: int
    extras: dict = field(default_factory=dict)

    @property
    def fixed_points(self) -> list[Point]:
        return [p for p in self.points if p.kind == FIXED_POINT]

    @property
    def ghosts(self) -> list[Point]:
        return [p for p in self.points if p.kind == GHOST]

    @property
    def slow_points(self) -> list[Point]:
        return [p for p in self.points if p.kind == SLOW_POINT]

    def counts(self) -> dict[str, int]:
        return count_kinds(self.points)

    def to_dict(self) -> dict:
        return {
            "points": [p.to_dict() for p in self.points],
            "counts": self.counts(),
            "half_width": self.half_width,
            "n_seeds": self.n_seeds,
            **self.extras,
        }


def sobol_starts(k: int, half_width, n: int = SOBOL_STARTS, seed: int = SOBOL_SEED):
    """``n`` scrambled Sobol points in Π_k [−h_k, h_k] (h scalar or (k,); deterministic)."""
    return search.sobol_seeds(k, half_width, n, seed)


def seed_counts(rank: int) -> tuple[int, int]:
    """(Sobol seeds, visited-state seeds at most) for a latent dimension (see SEED_BUDGET_RANK)."""
    scale = min(1.0, (SEED_BUDGET_RANK / max(rank, 1)) ** 2)
    return (
        max(MIN_STARTS, round(SOBOL_STARTS * scale)),
        max(MIN_STARTS, round(VISITED_STARTS * scale)),
    )


def analyze_rank_k(
    flow: RankTwoFlow,
    starts=None,
    *,
    n_sobol: int | None = None,
    half_width: float | None = None,
    seed: int = SOBOL_SEED,
    tol: Tolerances = TOLERANCES,
) -> RankKAnalysis:
    """Fixed points, ghosts and slow points of F(κ) = −κ + Pφ(Mκ + b) in any dimension K.

    ``starts``: extra seeds (S, K) in latent coordinates (visited states, continuation);
    ``n_sobol`` Sobol seeds (default :func:`seed_counts`) fill the box that holds every fixed
    point (:func:`fixed_point_box`, or ``half_width``: a scalar or K half-widths).
    Points are sorted by speed.
    """
    K = flow.M.shape[1]
    n_sobol = seed_counts(K)[0] if n_sobol is None else int(n_sobol)
    h = fixed_point_box(flow) if half_width is None else half_width
    h = np.broadcast_to(np.asarray(h, dtype=float), (K,)).copy()
    if not np.all(np.isfinite(h) & (h > 0)):
        raise InputError(f"half_width must be positive and finite, got {half_width!r}")
    seeds = [sobol_starts(K, h, n_sobol, seed)]
    if starts is not None:
        starts = np.asarray(starts, dtype=float).reshape(-1, K)
        seeds.append(starts[np.all(np.isfinite(starts), axis=1)])
    X0 = np.concatenate(seeds)
    if X0.size == 0:
        raise InputError("no seeds for the speed-minimum search")
    batch = _Batch(flow)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        ends = np.concatenate([_descend(batch, X0), _newton_on_field(batch, X0)])
        ends = ends[np.all(np.isfinite(ends), axis=1)]
        # one representative per point: the lowest speed first
        if ends.size:
            ends = ends[np.argsort(np.linalg.norm(batch.field(ends), axis=1), kind="stable")]

    def evaluate(x):
        F, J, _, H = batch.all(x[None])
        return F[0], J[0], H[0]

    points = search.collect(ends, evaluate, scale=float(h.max()), tol=tol)
    for p in points:
        p.extras["energy"] = 0.5 * p.speed**2
    points.sort(key=lambda p: p.speed)
    return RankKAnalysis(points, h.tolist(), int(X0.shape[0]))


# ---------------------------------------------------------------------------------------------
# Over the checkpoints of a training run
# ---------------------------------------------------------------------------------------------


def latent_flow_of(params: Mapping[str, np.ndarray], nonlinearity: str = "tanh") -> RankTwoFlow:
    """The SVD latent flow of a low-rank parameter dict (m, n of shape (N, K), b).

    The same construction as :func:`~ghostsym.analysis.latent_flow.rank_two_latent`
    (W = UΣVᵀ, M = U_KΣ_K, P = V_Kᵀ), computed from the factors W = m nᵀ: with thin QR
    m = Q_m R_m, n = Q_n R_n and the K × K SVD R_m R_nᵀ = u s vᵀ, U_K = Q_m u and V_K = Q_n v
    (O(NK²) instead of a full N × N SVD).
    """
    missing = {"m", "n", "b"} - set(params)
    if missing:
        raise InputError(f"checkpoint lacks low-rank parameters {sorted(missing)}")
    m, n = np.asarray(params["m"], dtype=float), np.asarray(params["n"], dtype=float)
    b = np.asarray(params["b"], dtype=float)
    if not all(np.all(np.isfinite(v)) for v in (m, n, b)):
        raise InputError("checkpoint has non-finite low-rank parameters (a diverged run?)")
    return rank_two_latent_from_factors(m, n, b, nonlinearity)


def states_of(flow: RankTwoFlow, kappa) -> np.ndarray:
    """The network state a latent point stands for: x = φ(Mκ + b) (exact at fixed points)."""
    kappa = np.asarray(kappa, dtype=float).reshape(-1, flow.M.shape[1])
    return phi_derivatives(flow.nonlinearity, 0)(kappa @ flow.M.T + flow.b)[0]


def track_rank_k(
    checkpoints: Mapping[int, Mapping[str, np.ndarray]],
    nonlinearity: str = "tanh",
    visited: Mapping[int, np.ndarray] | None = None,
    *,
    n_sobol: int | None = None,
    rank: int | None = None,
    progress=None,
):
    """Analyse every checkpoint; returns (:class:`BifurcationTrack`, {epoch: RankKAnalysis}).

    ``progress``: a meter (``update(1)`` per checkpoint) or None.

    ``rank``: the rank every checkpoint must have (default: that of the first one).

    ``visited[epoch]``: network states (any leading shape, last axis N) used as seeds after
    projection κ = Px. The minima of each checkpoint seed the next one (continuation).
    """
    if not checkpoints:
        raise InputError("no checkpoints to analyse")
    flows: list[CheckpointFlow] = []
    analyses: dict[int, RankKAnalysis] = {}
    previous_states = None
    for epoch in sorted(checkpoints):
        try:
            flow = latent_flow_of(checkpoints[epoch], nonlinearity)
        except InputError as exc:
            raise InputError(f"checkpoint at epoch {epoch}: {exc}") from None
        K = flow.M.shape[1]
        rank = K if rank is None else rank
        if K != rank:
            raise InputError(f"checkpoint at epoch {epoch} has rank {K}, expected rank {rank}")
        extra = []
        if visited is not None and epoch in visited:
            states = np.asarray(visited[epoch], dtype=float)
            states = states.reshape(-1, states.shape[-1])
            finite = states[np.all(np.isfinite(states), axis=1)]
            extra.append(search.subsample(finite, seed_counts(K)[1]))
        if previous_states is not None:
            extra.append(previous_states)
        starts = np.concatenate(extra) @ flow.P.T if extra else None
        res = analyze_rank_k(flow, starts, n_sobol=n_sobol)
        states = states_of(flow, [p.x for p in res.points]) if res.points else None
        for p, x in zip(res.points, [] if states is None else states, strict=False):
            p.extras["state_norm"] = float(np.linalg.norm(x))
        previous_states = states
        analyses[epoch] = res
        fps = res.fixed_points
        flows.append(
            CheckpointFlow(
                int(epoch),
                len(fps),
                [p.stability for p in fps],
                [p.x.tolist() for p in fps],
                [ghost_record(flow, p) for p in res.ghosts],
            )
        )
        if progress is not None:
            progress.update(1)
    track = BifurcationTrack(rank, flows)
    track.extras["search"] = {
        "method": "shifted-Newton descent on E = ½‖F‖² and Newton on F from Sobol, visited "
        "and continuation seeds (not certified)",
        "sobol_starts": seed_counts(rank)[0] if n_sobol is None else n_sobol,
        "visited_starts_max": seed_counts(rank)[1],
        "fixed_point_box": {e: a.half_width for e, a in analyses.items()},
        "slow_point_counts": [len(analyses[e].slow_points) for e in sorted(analyses)],
    }
    return track, analyses


def minima_summary(analyses: Mapping[int, RankKAnalysis]) -> list[dict]:
    """Per checkpoint: counts of fixed points, ghosts and slow points, and the slowest ghost."""
    out = []
    for epoch in sorted(analyses):
        a = analyses[epoch]
        ghosts = a.ghosts
        slowest = min(ghosts, key=lambda p: p.speed) if ghosts else None
        out.append(
            {
                "epoch": int(epoch),
                **a.counts(),
                "slowest_ghost_speed": None if slowest is None else slowest.speed,
            }
        )
    return out


__all__: Sequence[str] = (
    "analyze_rank_k",
    "fixed_point_box",
    "latent_flow_of",
    "minima_summary",
    "seed_counts",
    "sobol_starts",
    "states_of",
    "track_rank_k",
    "RankKAnalysis",
)
