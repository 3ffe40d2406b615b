"""Gauss–Newton-preconditioned gradient descent on the canonical parameter r, in the simulator.

The update of docs/sntk.md §4 (derived in :mod:`ghostsym.symbolic.preconditioned`):

    r ← r − α g / (F + λ),   g = ∂L/∂r,   F = (∂t_esc/∂r)²,

with the c → ∞ loss and gradient of the normal form's simulator
(:meth:`~ghostsym.numerics.normal_form.NormalFormSimulator.analytic_loss_and_gradient`, the
kernels that ``train_r(gradient="analytic")`` uses). Short of the point of no return
|∂L/∂r| = |∂t_esc/∂r| (Eqs. 16–21: L = |t_esc − T|), so the metric is F = g² there; past it
the gradient is exactly zero and r never moves again (the no-learning zone), which is where a
run counts as trapped. Nothing here uses the symbolic result it is compared with.

NumPy over compiled kernels; no SymPy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ghostsym.errors import InputError

#: Epochs of a preconditioned run: the binding step is the first (docs/sntk.md §4); the
#: descent from ρ₀ = 10ρ* to the optimum takes ≈ 10 steps at the critical rate; the other
#: 50 are the oscillation about the optimum, where a later trap would show.
DEFAULT_EPOCHS = 60


@dataclass(frozen=True)
class PreconditionedRun:
    """Final r, loss and whether each run ended in the no-learning zone (loss == T)."""

    r: np.ndarray
    loss: np.ndarray
    trapped: np.ndarray
    trapped_epoch: np.ndarray  # first epoch with loss == T, −1 if never


def train_r_preconditioned(
    sim, r0, lr, *, T: float, damping: float = 0.0, epochs: int = DEFAULT_EPOCHS
) -> PreconditionedRun:
    """Run the preconditioned update for every (r0, lr) pair (broadcast), ``epochs`` steps."""
    if not (math.isfinite(T) and T > 0):
        raise InputError(f"T must be positive and finite, got {T!r}")
    if not (math.isfinite(damping) and damping >= 0):
        raise InputError(f"damping must be >= 0 and finite, got {damping!r}")
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise InputError(f"epochs must be a positive integer, got {epochs!r}")
    if not sim.has_analytic:
        raise InputError("the preconditioned update needs the normal form's c -> inf loss")
    r, lr = np.broadcast_arrays(np.asarray(r0, float), np.asarray(lr, float))
    r = np.array(r, dtype=float).ravel()
    lr = np.array(lr, dtype=float).ravel()
    if np.any(~np.isfinite(lr)) or np.any(lr <= 0):
        raise InputError("learning rates must be positive and finite")
    loss = np.empty(r.size)
    first = np.full(r.size, -1, dtype=np.int64)
    for e in range(int(epochs) + 1):
        for j in range(r.size):
            L, g = sim.analytic_loss_and_gradient(r[j], T)
            loss[j] = L
            if L == T and first[j] < 0:
                first[j] = e
            if e < epochs and g != 0.0:
                r[j] -= lr[j] * g / (g * g + damping)
    return PreconditionedRun(r, loss.copy(), loss == T, first)


@dataclass(frozen=True)
class ThresholdAgreement:
    """How a set of runs compares with per-run predicted thresholds ``trapped ⇔ lr > thr``.

    ``decided``: runs whose rate lies outside the margin, |lr/thr − 1| > margin;
    ``mismatches``: decided runs whose outcome differs from the prediction (indices);
    ``closest``: the smallest |lr/thr − 1| over all runs (how finely the rule was probed).
    """

    runs: int
    decided: int
    mismatches: np.ndarray
    margin: float
    closest: float

    @property
    def agrees(self) -> bool:
        return self.decided > 0 and self.mismatches.size == 0


def threshold_agreement(lr, thresholds, trapped, *, margin: float) -> ThresholdAgreement:
    """Compare each run's outcome with its own predicted threshold (broadcast arrays).

    A run with lr > thr·(1 + margin) must be trapped, one with lr < thr·(1 − margin) must not;
    runs inside the margin are not judged."""
    lr, thr, trapped = np.broadcast_arrays(
        np.asarray(lr, float), np.asarray(thresholds, float), np.asarray(trapped, bool)
    )
    lr, thr, trapped = lr.ravel(), thr.ravel(), trapped.ravel()
    if lr.size == 0:
        raise InputError("threshold_agreement needs at least one run")
    if not (math.isfinite(margin) and 0 <= margin < 1):
        raise InputError(f"margin must lie in [0, 1), got {margin!r}")
    if np.any(~np.isfinite(thr)) or np.any(thr <= 0) or np.any(~np.isfinite(lr)):
        raise InputError("thresholds must be positive and finite, rates finite")
    rel = lr / thr - 1.0
    decided = np.abs(rel) > margin
    predicted = rel > 0
    bad = np.flatnonzero(decided & (predicted != trapped))
    return ThresholdAgreement(
        runs=int(lr.size),
        decided=int(decided.sum()),
        mismatches=bad,
        margin=float(margin),
        closest=float(np.min(np.abs(rel))),
    )
