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
