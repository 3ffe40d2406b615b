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

#: The one optimiser vocabulary of ghostsym.
OPTIMIZERS = ("sgd", "momentum", "adam")
#: Integer codes of :data:`OPTIMIZERS`, as the numba kernels take them.
SGD, MOMENTUM, ADAM = 0, 1, 2

_NJIT = {"cache": True, "error_model": "numpy"}


def optimizer_code(name: str) -> int:
    """The integer code (SGD, MOMENTUM, ADAM) of an optimiser name of :data:`OPTIMIZERS`."""
    if name not in OPTIMIZERS:
        raise InputError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS.index(name)


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
