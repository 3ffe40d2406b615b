"""Gradient projection onto the canonical parameter (Eqs. 30-35): predicted vs measured Δr.

For a rank-one network with a ghost at κ_g, r = a_g·r_g depends on θ = (m, n, b) explicitly
and through κ_g (implicit-function theorem). ∇_θ r comes from the generated kernels of
:mod:`ghostsym.codegen.latent` (``canonical_r_gradient``); a parameter update Δθ moves r by
Δr ≈ (∇_θ r)ᵀΔθ (Eq. 35), and under gradient descent Δθ = −α∇_θL.

:func:`measure_step` compares that prediction with the Δr measured after the step by
following the same critical point (Newton on f' = 0 from the old κ_g).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ghostsym.analysis.latent_flow import analyze_rank_one
from ghostsym.errors import InputError


@dataclass(frozen=True)
class ProjectedStep:
    """One parameter update: r before/after, the measured and the predicted Δr."""

    kappa_g: float
    r_before: float
    r_after: float
    measured: float
    predicted: float


def slowest_ghost(m, n, b) -> float:
    """κ_g of the ghost with the smallest r (InputError if the flow has no ghost)."""
    ghosts = analyze_rank_one(m, n, b).ghosts
    if not ghosts:
        raise InputError("the latent flow has no ghost (no critical point with r > 0)")
    return min(ghosts, key=lambda g: g.r).kappa


def canonical_r(m, n, b, kappa_g: float, nonlinearity: str = "tanh") -> tuple[float, float]:
    """(κ_g refined by Newton on f' = 0, r = a_g r_g there)."""
    from ghostsym.codegen import latent

    k = latent.refine_critical_point(m, n, b, kappa_g, nonlinearity)
    return k, latent.ghost_coefficients(m, n, b, k, nonlinearity=nonlinearity).r


def predicted_delta_r(params: Mapping, delta: Mapping, kappa_g: float, nonlinearity="tanh"):
    """(∇_θ r)ᵀΔθ at the critical point κ_g (Eq. 35)."""
    from ghostsym.codegen import latent

    grad = latent.canonical_r_gradient(params["m"], params["n"], params["b"], kappa_g, nonlinearity)
    return float(latent.projected_delta_r(grad, delta["m"], delta["n"], delta["b"]))


def measure_step(
    params: Mapping, new_params: Mapping, kappa_g: float | None = None, nonlinearity: str = "tanh"
) -> ProjectedStep:
    """Predicted (Eq. 35) and measured Δr for the update params → new_params."""
    m, n, b = (np.asarray(params[k], dtype=float) for k in ("m", "n", "b"))
    if kappa_g is None:
        kappa_g = slowest_ghost(m, n, b)
    k0, r0 = canonical_r(m, n, b, kappa_g, nonlinearity)
    new = {k: np.asarray(new_params[k], dtype=float) for k in ("m", "n", "b")}
    k1, r1 = canonical_r(new["m"], new["n"], new["b"], k0, nonlinearity)
    delta = {k: new[k] - np.asarray(params[k], dtype=float) for k in ("m", "n", "b")}
    predicted = predicted_delta_r({"m": m, "n": n, "b": b}, delta, k0, nonlinearity)
    return ProjectedStep(k0, r0, r1, r1 - r0, predicted)
