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
import os

import numpy as np

from ghostsym.sweeps.report import Criteria, SweepResults, load_results
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
