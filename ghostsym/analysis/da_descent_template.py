# ruff: noqa: F821
"""Kernel template: gradient descent on r with the DA loss in the analytical limit (Eqs. 16–21).

Completed by :func:`ghostsym.codegen.build_module`, never imported alone. With a closed-form
escape time the generated module defines ``escape_time_rho(rho)`` and
``escape_time_drho(rho)`` (t_esc and dt_esc/dρ as functions of the distance ρ = σ(r − r_c)
past the fold); :func:`descend_closed` uses them. :func:`descend_table` needs no generated
function: it interpolates log t_esc over log ρ with cubic Hermite polynomials whose slopes are
the exact derivatives computed by quadrature (used when t_esc has no closed form).

Both run many (r0, α) pairs, each for ``epochs`` plain gradient-descent steps
r ← r − α ∂L/∂r, and return the final r, the first epoch at which the run sits in the
no-learning zone (t_esc ≥ 2T or past the fold: zero gradient forever; −1 if never) and the
normalised loss L/T every ``record_every`` epochs.
"""

import math

import numba
import numpy as np


@numba.njit(cache=True, error_model="numpy")
def _da_loss(te, T):
    if te < T:
        return T - te
    if te < 2.0 * T:
        return te - T
    return T


@numba.njit(cache=True, error_model="numpy")
def _da_gradient(te, dte_drho, T, sigma):
    """dL/dr: L = T − t_esc (early), t_esc − T (late), T (never); dρ/dr = σ."""
    if te >= 2.0 * T:
        return 0.0
    if te < T:
        return -dte_drho * sigma
    return dte_drho * sigma


@numba.njit(cache=True, error_model="numpy")
def _hermite(logrho, grid, logte, slope):
    """log t_esc and d log t_esc / d log ρ by cubic Hermite interpolation (linear outside)."""
    n = grid.shape[0]
    if logrho >= grid[n - 1]:
        return logte[n - 1] + slope[n - 1] * (logrho - grid[n - 1]), slope[n - 1]
    if logrho <= grid[0]:
        return logte[0] + slope[0] * (logrho - grid[0]), slope[0]
    h = grid[1] - grid[0]
    k = min(int((logrho - grid[0]) / h), n - 2)
    s = (logrho - grid[k]) / h
    y0, y1 = logte[k], logte[k + 1]
    m0, m1 = slope[k] * h, slope[k + 1] * h
    s2, s3 = s * s, s * s * s
    y = (
        (2 * s3 - 3 * s2 + 1) * y0
        + (s3 - 2 * s2 + s) * m0
        + (-2 * s3 + 3 * s2) * y1
        + (s3 - s2) * m1
    )
    dy = (
        (6 * s2 - 6 * s) * y0
        + (3 * s2 - 4 * s + 1) * m0
        + (-6 * s2 + 6 * s) * y1
        + (3 * s2 - 2 * s) * m1
    ) / h
    return y, dy


@numba.njit(cache=True, error_model="numpy")
def _run(r0, alpha, T, r_c, sigma, epochs, record_every, use_table, grid, logte, slope, rho_min):
    n = r0.shape[0]
    n_rec = epochs // record_every + 1
    record = np.empty((n, n_rec))
    r_final = np.empty(n)
    trapped = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        r = r0[i]
        for e in range(epochs + 1):
            rho = sigma * (r - r_c)
            if rho <= rho_min:
                te = math.inf
                dte = 0.0
            elif use_table:
                lt, dlt = _hermite(math.log(rho), grid, logte, slope)
                te = math.exp(lt)
                dte = te * dlt / rho
            else:
                te = _closed_te(rho)
                dte = _closed_dte(rho)
            if te >= 2.0 * T:
                # No-learning zone: the gradient is exactly zero, r never moves again.
                trapped[i] = e
                for k in range((e + record_every - 1) // record_every, n_rec):
                    record[i, k] = 1.0
                break
            if e % record_every == 0:
                record[i, e // record_every] = _da_loss(te, T) / T
            if e == epochs:
                break
            r -= alpha[i] * _da_gradient(te, dte, T, sigma)
        r_final[i] = r
    return r_final, trapped, record


@numba.njit(cache=True, error_model="numpy")
def _closed_te(rho):
    return escape_time_rho(rho)


@numba.njit(cache=True, error_model="numpy")
def _closed_dte(rho):
    return escape_time_drho(rho)
