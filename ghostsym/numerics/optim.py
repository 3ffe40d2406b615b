"""The one SGD / heavy-ball momentum / Adam update of ghostsym, shared by every trainer.

PyTorch's formulas (``torch.optim.SGD`` without and with momentum, ``torch.optim.Adam``),
on flat float64 vectors, in place; ``step`` is the 1-based count of this update:

    sgd        θ ← θ − lr·g
    momentum   m ← μ·m + g,  θ ← θ − lr·m                       (μ = ``beta1``)
    adam       m ← m + (g − m)(1 − β₁),  v ← β₂v + (1 − β₂)g²,
               θ ← θ − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)

The floating-point operation order above is part of the contract: training runs are chaotic,
so every trainer that uses these functions gets bit-identical results for the same inputs.
Pass ``step`` as an integer (β^step is then a float-to-integer power, as the engine takes it).

:func:`optimizer_step` updates every entry; :func:`optimizer_step_masked` only the entries
whose mask is non-zero (frozen parameters stay as they are; a frozen entry may hold ±∞).
Both return 0.0 if the updated entries are finite afterwards and NaN otherwise.
:func:`optimizer_step_lanes` is the masked update of many networks stored side by side in
the lanes of [P, lanes] arrays (the batched RNN engine), with the same operations per entry.

numba and NumPy only. Numba templates import these by absolute import
(``from ghostsym.numerics.optim import optimizer_step``) and call them from their own
``njit`` functions.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ghostsym.errors import InputError

#: The one optimiser vocabulary of ghostsym (every trainer: canonical model and RNN engine).
OPTIMIZERS = ("sgd", "momentum", "adam")
#: The RNN engine's vocabulary: :data:`OPTIMIZERS` plus the low-rank natural gradient
#: (docs/sntk.md §6; its preconditioner needs the network's output Jacobian).
RNN_OPTIMIZERS = (*OPTIMIZERS, "natgrad")
#: Integer codes of :data:`RNN_OPTIMIZERS`, as the numba kernels take them.
SGD, MOMENTUM, ADAM, NATGRAD = 0, 1, 2, 3

_NJIT = {"cache": True, "error_model": "numpy"}


def optimizer_code(name: str, known: tuple[str, ...] = OPTIMIZERS) -> int:
    """The integer code (SGD, MOMENTUM, ADAM, NATGRAD) of an optimiser name of ``known``
    (default :data:`OPTIMIZERS`; the RNN engine passes :data:`RNN_OPTIMIZERS`)."""
    if name not in known:
        raise InputError(f"unknown optimizer {name!r}; known: {', '.join(known)}")
    return RNN_OPTIMIZERS.index(name)


@numba.njit(**_NJIT)
def natgrad_precondition(grad, mask, basis, coef, rank):
    """The low-rank natural-gradient direction, in place (docs/sntk.md §6):

        g ← c·g + V (w ⊙ (Vᵀ g)),   c = coef[0] = 1/(s_k² + λ),  w_i = coef[1 + i]
                                     = 1/(s_i² + λ) − c,

    i.e. V diag(1/(s² + λ)) Vᵀ g + c (g − V Vᵀ g), on the entries with ``mask[p] != 0``
    (``basis`` V is [P, ≥ rank], float64, zero on the others). The sums run over p in
    index order, then over i in index order, in float64; the result is stored in
    ``grad``'s dtype. :func:`natgrad_precondition_lanes` does the same per lane."""
    q = np.zeros(max(rank, 1))
    for i in range(rank):
        acc = 0.0
        for p in range(grad.size):
            if mask[p] != 0.0:
                acc += basis[p, i] * grad[p]
        q[i] = acc * coef[1 + i]
    c = coef[0]
    for p in range(grad.size):
        if mask[p] != 0.0:
            acc = c * grad[p]
            for i in range(rank):
                acc += basis[p, i] * q[i]
            grad[p] = acc


@numba.njit(**_NJIT)
def natgrad_precondition_lanes(grad, mask, active, basis, coef, ranks):
    """:func:`natgrad_precondition` for the lanes of ``grad`` [P, lanes], bit for bit: lane l
    with ``active[l] != 0`` and ``ranks[l] >= 0`` uses ``basis[:, :, l]`` ([P, kmax, lanes]),
    ``coef[l]`` and rank ``ranks[l]``; lanes with ``ranks[l] < 0`` (other optimisers) and
    inactive lanes are left as they are."""
    size, lanes = grad.shape
    kmax = basis.shape[1]
    q = np.zeros((max(kmax, 1), lanes))
    for p in range(size):
        if mask[p] == 0.0:
            continue
        for i in range(kmax):
            for lane in range(lanes):
                if active[lane] != 0 and i < ranks[lane]:
                    q[i, lane] += basis[p, i, lane] * grad[p, lane]
    for lane in range(lanes):
        for i in range(kmax):
            if i < ranks[lane]:
                q[i, lane] = q[i, lane] * coef[lane, 1 + i]
    for p in range(size):
        if mask[p] == 0.0:
            continue
        for lane in range(lanes):
            if active[lane] == 0 or ranks[lane] < 0:
                continue
            acc = coef[lane, 0] * grad[p, lane]
            for i in range(ranks[lane]):
                acc += basis[p, i, lane] * q[i, lane]
            grad[p, lane] = acc


@numba.njit(**_NJIT)
def _update(code, theta, grad, mask, masked, lr, beta1, beta2, eps, m1, m2, step):
    """The update of the module docstring on the entries i with ``not masked or mask[i]``."""
    check = 0.0
    if code == SGD:
        for i in range(theta.size):
            if not masked or mask[i] != 0.0:
                theta[i] -= lr * grad[i]
                check += theta[i] * 0.0
    elif code == MOMENTUM:
        for i in range(theta.size):
            if not masked or mask[i] != 0.0:
                m1[i] = beta1 * m1[i] + grad[i]
                theta[i] -= lr * m1[i]
                check += theta[i] * 0.0
    else:
        bc1 = 1.0 - beta1**step
        bc2_sqrt = math.sqrt(1.0 - beta2**step)
        step_size = lr / bc1
        for i in range(theta.size):
            if not masked or mask[i] != 0.0:
                gi = grad[i]
                m1[i] += (gi - m1[i]) * (1.0 - beta1)
                m2[i] = beta2 * m2[i] + (1.0 - beta2) * gi * gi
                theta[i] -= step_size * m1[i] / (math.sqrt(m2[i]) / bc2_sqrt + eps)
                check += theta[i] * 0.0
    return check


@numba.njit(**_NJIT)
def optimizer_step(code, theta, grad, lr, beta1, beta2, eps, m1, m2, step):
    """One update of every entry of ``theta`` (and of the moments ``m1``, ``m2``) in place.

    ``code``: SGD, MOMENTUM or ADAM; ``beta1`` is μ for momentum; ``beta2``, ``eps`` are
    used by Adam only; ``step`` (int) is the 1-based number of this update. Returns 0.0 if
    θ stays finite, NaN otherwise."""
    return _update(code, theta, grad, theta, False, lr, beta1, beta2, eps, m1, m2, step)


@numba.njit(**_NJIT)
def optimizer_step_masked(code, theta, grad, mask, lr, beta1, beta2, eps, m1, m2, step):
    """:func:`optimizer_step` on the entries with ``mask[i] != 0`` only (the others, and
    their moments, are left untouched). Returns 0.0 if the updated entries stay finite,
    NaN otherwise."""
    return _update(code, theta, grad, mask, True, lr, beta1, beta2, eps, m1, m2, step)


@numba.njit(**_NJIT)
def optimizer_step_lanes(codes, theta, grad, mask, active, lr, hyper, m1, m2, steps, checks):
    """:func:`optimizer_step_masked` for the networks side by side in the lanes of [P, lanes]
    arrays (``theta``, ``grad``, ``m1``, ``m2``), bit for bit: lane l uses ``codes[l]``,
    ``lr[l]``, ``hyper[l]`` = (β₁ or μ, β₂, ε) and the 1-based update count ``steps[l]``;
    lanes with ``active[l] == 0`` are left untouched. ``checks[l]`` receives lane l's
    return value (0.0 if its updated entries stay finite, NaN otherwise)."""
    lanes = theta.shape[1]
    step_size = np.zeros(lanes)
    bc2_sqrt = np.ones(lanes)
    for lane in range(lanes):
        checks[lane] = 0.0
        if codes[lane] == ADAM:
            beta1, beta2 = hyper[lane, 0], hyper[lane, 1]
            bc1 = 1.0 - beta1 ** steps[lane]
            bc2_sqrt[lane] = math.sqrt(1.0 - beta2 ** steps[lane])
            step_size[lane] = lr[lane] / bc1
    for i in range(theta.shape[0]):
        if mask[i] == 0.0:
            continue
        for lane in range(lanes):
            if active[lane] == 0:
                continue
            code = codes[lane]
            if code == SGD:
                theta[i, lane] -= lr[lane] * grad[i, lane]
            elif code == MOMENTUM:
                m1[i, lane] = hyper[lane, 0] * m1[i, lane] + grad[i, lane]
                theta[i, lane] -= lr[lane] * m1[i, lane]
            else:
                beta1, beta2, eps = hyper[lane, 0], hyper[lane, 1], hyper[lane, 2]
                gi = grad[i, lane]
                m1[i, lane] += (gi - m1[i, lane]) * (1.0 - beta1)
                m2[i, lane] = beta2 * m2[i, lane] + (1.0 - beta2) * gi * gi
                theta[i, lane] -= (
                    step_size[lane] * m1[i, lane] / (math.sqrt(m2[i, lane]) / bc2_sqrt[lane] + eps)
                )
            checks[lane] += theta[i, lane] * 0.0
