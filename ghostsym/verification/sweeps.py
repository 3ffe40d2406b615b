"""Sweeps inside verification checks (``verify/fig6*.py``, ``fig7``, ``fig8b``, ``fig8c``).

A check describes its grid as a spec dict per profile and calls :func:`check_sweep`, which
runs it through the same engine as ``ghostsym sweep`` into
``<verify out>/sweeps/<check id>-<profile>/`` — so an interrupted ``paper`` profile resumes
where it stopped — and returns the classified results. If that directory holds a different
grid of the same check (another version or option), it is left as it is and the grid runs in
``<check id>-<profile>-<hash of its run ids>/`` beside it. The paper profile is meant for a
cluster: set ``GHOSTSYM_SCHEDULER=tcp://host:8786`` to send its runs to Dask.
"""

from __future__ import annotations

import hashlib
import math
import os

import numpy as np

from ghostsym.sweeps.report import (  # noqa: F401 (on_plateau, trapping_fit: re-exported)
    Criteria,
    SweepResults,
    load_results,
    on_plateau,
    trapping_fit,
)
from ghostsym.sweeps.run import SpecMismatchError, load_sweep_run, parse_spec, run_sweep

#: Environment variable naming a Dask scheduler for the sweeps of verification checks.
SCHEDULER_ENV = "GHOSTSYM_SCHEDULER"


def check_sweep(ctx, data: dict, criteria: Criteria | None = None) -> SweepResults:
    """Run (or resume) the sweep ``data`` for check ``ctx`` and load its classified results."""
    spec = parse_spec(data, default_name=f"{ctx.check_id}-{ctx.profile}")
    out = ctx.out_dir / "sweeps" / f"{ctx.check_id}-{ctx.profile}"
    scheduler = ctx.options.get("scheduler") or os.environ.get(SCHEDULER_ENV) or None
    try:
        summary = run_sweep(spec, out, scheduler=scheduler, progress=ctx.progress)
    except SpecMismatchError:
        # The directory holds this check's grid of another version or option: keep it, and
        # run this grid beside it, in a directory named by the grid's content.
        digest = hashlib.sha256("".join(p.run_id for p in spec.points).encode()).hexdigest()
        out = out.with_name(f"{out.name}-{digest[:8]}")
        summary = run_sweep(spec, out, scheduler=scheduler, progress=ctx.progress)
    if summary.lost:
        raise RuntimeError(f"{summary.lost} runs of the sweep could not be executed ({out})")
    return load_results(out, criteria or Criteria())


def history(results: SweepResults, run_id: str) -> dict:
    return load_sweep_run(results.results_dir, run_id).history


def first_epoch_below(loss: np.ndarray, epochs: np.ndarray, level: float) -> float:
    """First stored epoch with ``loss < level`` (inf if never)."""
    hits = np.flatnonzero(np.asarray(loss) < level)
    return float(epochs[hits[0]]) if len(hits) else float("inf")


# -- population statistics of sweep checks ----------------------------------------------------
#: lr × (epoch at which a rank-one DA network leaves its plateau) ≈ 100 (docs/experiments.md
#: §11: 101 at lr 0.003 and 0.02 for one seed, 62–100 over seeds at lr 0.02).
PLATEAU_CONSTANT = 100.0


def plateau_epochs(lr: float, factor: float, constant: float = PLATEAU_CONSTANT) -> int:
    """Epochs that give a run at ``lr`` ``factor`` times the plateau length ``constant / lr``."""
    if lr <= 0 or factor <= 0:
        raise ValueError("plateau_epochs needs lr > 0 and factor > 0")
    return int(math.ceil(factor * constant / lr))


def affordable_rates(rates, factor: float, max_epochs: int, constant: float = PLATEAU_CONSTANT):
    """Split ``rates`` into (kept, dropped): a rate is kept when ``plateau_epochs`` fits in
    ``max_epochs`` — slower rates cannot leave the plateau within the budget, so running them
    would only produce censored runs."""
    kept = [float(r) for r in rates if plateau_epochs(r, factor, constant) <= max_epochs]
    dropped = [float(r) for r in rates if plateau_epochs(r, factor, constant) > max_epochs]
    return kept, dropped


def non_monotone_seeds(runs, rate: str = "lr", seed: str = "seed") -> list:
    """Seeds trapped at some rate but not trapped (and off the plateau) at a higher one."""
    by_seed: dict = {}
    for r in runs:
        if r.status in ("done", "failed") and not on_plateau(r):
            by_seed.setdefault(r.axes[seed], []).append((float(r.axes[rate]), bool(r.trapped)))
    out = []
    for s, pairs in sorted(by_seed.items()):
        pairs.sort()
        trapped_at = [x for x, t in pairs if t]
        if trapped_at and any(not t and x > trapped_at[0] for x, t in pairs):
            out.append(s)
    return out


def ratio_interval(numerator, denominator) -> tuple[float, float]:
    """The interval of ``numerator.threshold / denominator.threshold`` from two independent
    :class:`~ghostsym.analysis.statistics.ThresholdFit` intervals: (num.low / den.high,
    num.high / den.low). If each covers its threshold with probability γ, the ratio interval
    covers the ratio with probability ≥ γ² (independent populations)."""
    return float(numerator.low / denominator.high), float(numerator.high / denominator.low)


def sign_test_min(n: int, alpha: float) -> int:
    """The smallest k such that P(at least k of n | p = 1/2) ≤ ``alpha`` (n + 1 if none)."""
    from scipy import stats

    for k in range(n + 1):
        if stats.binom.sf(k - 1, n, 0.5) <= alpha:
            return k
    return n + 1
