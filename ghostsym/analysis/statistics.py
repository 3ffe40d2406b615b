"""Population statistics for verdicts about seeds: binomial bounds, bootstrap intervals,
false-fail probabilities and fitted thresholds.

A claim about trained networks or random starts is a statement about a population of seeds.
The verification checks decide it with a rule fixed before they measure, built from the
pieces here:

* :func:`clopper_pearson` — exact binomial confidence bounds on a fraction of seeds;
* :func:`false_fail_at_least` — the probability that "at least ``k`` of ``n``" fails when each
  seed shows the effect with probability ``p`` (what a rule's false-fail rate is);
* :func:`bootstrap_interval` — a percentile bootstrap interval of any statistic of samples;
* :func:`fit_threshold` — a fitted transition P(event | x) = logistic(s · (log10 x − t)) over
  all (x, outcome) pairs, with a profile-likelihood interval for the threshold 10**t.
  Complete separation (every outcome a step in x) is the common case for trapping: the
  interval is then the gap between the largest x without the event and the smallest x with
  it, widened by the likelihood-ratio criterion; no slope is "estimated" as infinity.

Everything is NumPy/SciPy; nothing here knows about networks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize, stats


def clopper_pearson(k: int, n: int, confidence: float = 0.99, side: str = "two") -> tuple:
    """Exact (Clopper–Pearson) bounds on a binomial fraction from ``k`` events in ``n``.

    ``side="two"``: the central interval at ``confidence``; ``"lower"``: (lower bound, 1),
    one-sided at ``confidence``; ``"upper"``: (0, upper bound).
    """
    k, n = int(k), int(n)
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    alpha = 1.0 - confidence
    tail = alpha / 2 if side == "two" else alpha
    if side not in ("two", "lower", "upper"):
        raise ValueError(f"side must be 'two', 'lower' or 'upper', got {side!r}")
    lo = 0.0 if k == 0 else float(stats.beta.ppf(tail, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - tail, k + 1, n - k))
    if side == "lower":
        return lo, 1.0
    if side == "upper":
        return 0.0, hi
    return lo, hi


def false_fail_at_least(k: int, n: int, p: float) -> float:
    """P(fewer than ``k`` of ``n`` seeds show the effect) when each does with probability ``p``:
    the false-fail probability of the rule "at least ``k`` of ``n``"."""
    return float(stats.binom.cdf(int(k) - 1, int(n), float(p)))


def strictest_count(n: int, p: float, max_false_fail: float = 0.01) -> int:
    """The largest k with :func:`false_fail_at_least` (k, n, p) ≤ ``max_false_fail``: the
    strictest "at least k of n" rule whose false-fail probability at fraction ``p`` stays
    within the bound (0 when even k = 1 exceeds it, i.e. n is too small to decide)."""
    best = 0
    for k in range(int(n) + 1):
        if false_fail_at_least(k, n, p) <= max_false_fail:
            best = k
    return best


def fewest_decisive(p: float, max_false_fail: float = 0.01, limit: int = 10_000) -> int:
    """The smallest n for which "at least 1 of n" has a false-fail probability ≤
    ``max_false_fail`` at fraction ``p``: below it no count rule can decide."""
    n = 1
    while n < limit and false_fail_at_least(1, n, p) > max_false_fail:
        n += 1
    return n


def false_fail_at_most(k: int, n: int, p: float) -> float:
    """P(more than ``k`` of ``n`` seeds show an effect of probability ``p``): the false-fail
    probability of the rule "at most ``k`` of ``n``"."""
    return float(stats.binom.sf(int(k), int(n), float(p)))


def bootstrap_interval(
    samples: Sequence | np.ndarray,
    statistic: Callable[[np.ndarray], float] = np.mean,
    confidence: float = 0.99,
    rng: np.random.Generator | None = None,
    n_boot: int = 4000,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over resamples of ``samples`` (axis 0).

    ``samples`` may be 2-D (rows resampled together, e.g. paired measurements);
    ``statistic`` receives a resample and returns a number.
    """
    x = np.asarray(samples, dtype=float)
    if x.shape[0] < 2:
        raise ValueError("a bootstrap needs at least two samples")
    rng = np.random.default_rng(0) if rng is None else rng
    idx = rng.integers(0, x.shape[0], size=(int(n_boot), x.shape[0]))
    values = np.array([statistic(x[i]) for i in idx], dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    a = (1 - confidence) / 2
    return float(np.quantile(values, a)), float(np.quantile(values, 1 - a))


@dataclass(frozen=True)
class ThresholdFit:
    """A fitted transition P(event | x) = 1 / (1 + exp(−slope · (log10 x − log10 threshold))).

    ``low``/``high`` is the profile-likelihood interval of ``threshold`` at ``confidence``
    (NaN or the grid's edge where the data do not bound it: ``bounded`` says which);
    ``method`` is ``"logistic"``, ``"separated"`` (outcomes a perfect step in x: the slope
    is unbounded, ``threshold`` is the gap's geometric middle and the interval contains the
    gap), or ``"no events"`` / ``"all events"`` (``threshold`` NaN; the interval is one-sided);
    ``gap`` is (largest x without the event, smallest x with it) when both exist.
    """

    threshold: float
    low: float
    high: float
    slope: float
    confidence: float
    method: str
    n: int
    events: int
    bounded: tuple[bool, bool]
    gap: tuple[float, float]

    def contains(self, value: float) -> bool:
        return bool(self.low <= value <= self.high)

    def as_dict(self) -> dict:
        return asdict(self)


#: Largest slope (per decade of x) the fit considers: a transition sharper than 1/2000 of a
#: decade is a step for every grid a sweep can afford.
MAX_SLOPE = 2000.0


def _nll(t: float, s: float, lx: np.ndarray, y: np.ndarray) -> float:
    z = s * (lx - t)
    # -log sigmoid(z) for events, -log sigmoid(-z) otherwise, overflow-safe.
    return float(np.sum(np.logaddexp(0.0, np.where(y, -z, z))))


def _profile(t: float, lx: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """min over slope in [0, MAX_SLOPE] of the negative log-likelihood at threshold ``t``."""
    res = optimize.minimize_scalar(
        lambda ls: _nll(t, math.exp(ls), lx, y),
        bounds=(math.log(1e-3), math.log(MAX_SLOPE)),
        method="bounded",
        options={"xatol": 1e-6},
    )
    best = min((_nll(t, 0.0, lx, y), 0.0), (float(res.fun), math.exp(res.x)))
    return best


def fit_threshold(
    x: Sequence[float] | np.ndarray,
    event: Sequence[bool] | np.ndarray,
    confidence: float = 0.99,
    grid_points: int = 801,
) -> ThresholdFit:
    """Fit P(event | x), increasing in ``x``, over all (x, event) pairs (one per run: every
    seed at every rate, censored seeds included as what they are — runs without the event).

    The threshold is the x where P = 1/2; its interval is
    {t : 2 (NLL_profile(t) − NLL_min) ≤ χ²₁(confidence)}, evaluated on a grid of
    ``grid_points`` thresholds from half a decade below the smallest x to half a decade above
    the largest. An interval that reaches a grid edge is unbounded on that side
    (``bounded`` False, the edge returned).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(event, dtype=bool)
    if x.shape != y.shape or x.ndim != 1 or x.size == 0:
        raise ValueError("fit_threshold needs two 1-D sequences of the same non-zero length")
    if not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ValueError("fit_threshold needs finite positive x")
    lx = np.log10(x)
    none, some = x[~y], x[y]
    gap = (
        float(none.max()) if none.size else math.nan,
        float(some.min()) if some.size else math.nan,
    )
    separated = bool(none.size and some.size and none.max() < some.min())
    lo_edge, hi_edge = float(lx.min()) - 0.5, float(lx.max()) + 0.5
    # The grid, plus every distinct x and the midpoints between them (where a step fits).
    ux = np.unique(lx)
    grid = np.unique(
        np.concatenate(
            [np.linspace(lo_edge, hi_edge, int(grid_points)), ux, (ux[1:] + ux[:-1]) / 2]
        )
    )
    nll = np.array([_profile(t, lx, y)[0] for t in grid])
    i_best = int(np.argmin(nll))
    if separated:
        # The likelihood is flat (zero) over the whole gap: its geometric middle.
        t_best = 0.5 * (math.log10(gap[0]) + math.log10(gap[1]))
        nll_best = _profile(t_best, lx, y)[0]
    else:
        a, b = grid[max(i_best - 1, 0)], grid[min(i_best + 1, len(grid) - 1)]
        ref = optimize.minimize_scalar(
            lambda t: _profile(t, lx, y)[0], bounds=(a, b), method="bounded"
        )
        t_best, nll_best = float(grid[i_best]), float(nll[i_best])
        if ref.fun < nll_best:
            t_best, nll_best = float(ref.x), float(ref.fun)
    crit = float(stats.chi2.ppf(confidence, 1)) / 2.0

    def excess(t):
        return _profile(t, lx, y)[0] - nll_best - crit

    inside = np.flatnonzero(nll - nll_best <= crit)
    lo_i, hi_i = (int(inside[0]), int(inside[-1])) if inside.size else (i_best, i_best)
    low, high = float(grid[lo_i]), float(grid[hi_i])
    # Sharpen each finite edge by root-finding between the last point inside and the next.
    if 0 < lo_i and excess(grid[lo_i]) < 0 < excess(grid[lo_i - 1]):
        low = float(optimize.brentq(excess, grid[lo_i - 1], grid[lo_i], xtol=1e-9))
    if hi_i < len(grid) - 1 and excess(grid[hi_i]) < 0 < excess(grid[hi_i + 1]):
        high = float(optimize.brentq(excess, grid[hi_i], grid[hi_i + 1], xtol=1e-9))
    if separated:
        # A step anywhere in the open gap has likelihood one: the gap is always inside.
        low, high = min(low, math.log10(gap[0])), max(high, math.log10(gap[1]))
    slope = _profile(t_best, lx, y)[1]
    if not none.size or not some.size:
        # Only one outcome: the data bound the threshold on one side only.
        t_best, slope = math.nan, math.nan
        method = "no events" if not some.size else "all events"
    else:
        method = "separated" if separated else "logistic"
    return ThresholdFit(
        threshold=10**t_best,
        low=10**low,
        high=10**high,
        slope=float(slope),
        confidence=float(confidence),
        method=method,
        n=int(x.size),
        events=int(y.sum()),
        bounded=(lo_i > 0, hi_i < len(grid) - 1),
        gap=gap,
    )


def fisher_exact(a_events: int, a_n: int, b_events: int, b_n: int, alternative="two-sided"):
    """Fisher's exact test of two fractions (``a_events``/``a_n`` vs ``b_events``/``b_n``):
    returns (odds ratio, p-value)."""
    table = [[a_events, a_n - a_events], [b_events, b_n - b_events]]
    res = stats.fisher_exact(table, alternative=alternative)
    return float(res.statistic), float(res.pvalue)


def mann_whitney(a, b, alternative="two-sided") -> float:
    """Mann–Whitney U test of two samples; returns the p-value."""
    return float(stats.mannwhitneyu(a, b, alternative=alternative).pvalue)
