"""Rank-one latent flow, ghost gradient and reference BPTT: sums over neurons in numba.

Completed by :func:`ghostsym.codegen.latent.kernels` with functions generated from the derivations
in ``ghostsym.symbolic.latent`` and ``ghostsym.symbolic.bptt``; never imported on its own:

* ``flow_linear(kappa) -> (−κ, −1, 0, 0)`` and ``flow_neuron(m_i, n_i, b_i, kappa)`` — the
  linear part and the per-neuron terms of f, f′, f″, f‴ (Eq. 25);
* ``r_grad_neuron(m_i, n_i, b_i, kappa_g, r_g, a_g, f3_g)`` — explicit and implicit parts of
  ∂r/∂m_i, ∂r/∂n_i, ∂r/∂b_i (Eqs. 29–31);
* ``bptt_neuron(m_i, n_i, b_i, kappa, a)`` — per-neuron terms of G, ∂G/∂κ and ∂G/∂(m_i, n_i,
  b_i) of the leaky latent map G(κ) = (1 − a)κ + Σ_i term;
* ``da_loss_step(kappa, y_t, c, kappa_star, T)`` — ℓ_t, ∂ℓ_t/∂κ, ∂ℓ_t/∂c.
"""

import math

import numba
import numpy as np


@numba.njit(cache=True, error_model="numpy")
def flow_at(m, n, b, kappa):
    """(f, f′, f″, f‴) at one κ."""
    l0, l1, l2, l3 = flow_linear(kappa)
    s0 = s1 = s2 = s3 = 0.0
    for i in range(m.shape[0]):
        t0, t1, t2, t3 = flow_neuron(m[i], n[i], b[i], kappa)
        s0 += t0
        s1 += t1
        s2 += t2
        s3 += t3
    return l0 + s0, l1 + s1, l2 + s2, l3 + s3


@numba.njit(cache=True, error_model="numpy")
def flow_on_grid(m, n, b, kappas):
    """Array (4, len(kappas)): f, f′, f″, f‴ at every κ."""
    out = np.empty((4, kappas.shape[0]))
    for p in range(kappas.shape[0]):
        v0, v1, v2, v3 = flow_at(m, n, b, kappas[p])
        out[0, p] = v0
        out[1, p] = v1
        out[2, p] = v2
        out[3, p] = v3
    return out


@numba.njit(cache=True, error_model="numpy")
def newton_critical_point(m, n, b, kappa0, tol, max_iter):
    """Newton on f′(κ) = 0 (step −f′/f″) from κ0; returns (κ, |f′|, iterations)."""
    kappa = kappa0
    for it in range(max_iter):
        _, f1, f2, _ = flow_at(m, n, b, kappa)
        if abs(f1) <= tol:
            return kappa, abs(f1), it
        if f2 == 0.0 or not math.isfinite(f2):
            return kappa, abs(f1), it
        kappa -= f1 / f2
    _, f1, _, _ = flow_at(m, n, b, kappa)
    return kappa, abs(f1), max_iter


@numba.njit(cache=True, error_model="numpy")
def r_gradient_parts(m, n, b, kappa_g):
    """Array (6, N): explicit and implicit ∂r/∂m, ∂r/∂n, ∂r/∂b per neuron, and (r_g, a_g, f‴)."""
    f0, _, f2, f3 = flow_at(m, n, b, kappa_g)
    rg = f0
    ag = 0.5 * f2
    out = np.empty((6, m.shape[0]))
    for i in range(m.shape[0]):
        em, im, en, in_, eb, ib = r_grad_neuron(m[i], n[i], b[i], kappa_g, rg, ag, f3)
        out[0, i] = em
        out[1, i] = im
        out[2, i] = en
        out[3, i] = in_
        out[4, i] = eb
        out[5, i] = ib
    return out, rg, ag, f3


@numba.njit(cache=True, error_model="numpy")
def latent_step(m, n, b, kappa, a):
    """G(κ) and ∂G/∂κ of the leaky latent map."""
    g = (1.0 - a) * kappa
    dg = 1.0 - a
    for i in range(m.shape[0]):
        t0, t1, _, _, _ = bptt_neuron(m[i], n[i], b[i], kappa, a)
        g += t0
        dg += t1
    return g, dg


@numba.njit(cache=True, error_model="numpy")
def da_forward(m, n, b, x0, targets, c, kappa_star, a, T):
    """Latent trajectory κ_0..κ_S (S = len(targets)) and the loss (1/T) Σ_t (ŷ_t − y_t)²."""
    S = targets.shape[0]
    kappas = np.empty(S + 1)
    kappas[0] = np.dot(n, x0)
    loss = 0.0
    for t in range(S):
        kappas[t + 1], _ = latent_step(m, n, b, kappas[t], a)
        l_t, _, _ = da_loss_step(kappas[t + 1], targets[t], c, kappa_star, T)
        loss += l_t
    return loss, kappas


@numba.njit(cache=True, error_model="numpy")
def da_gradient(m, n, b, x0, targets, c, kappa_star, a, T):
    """Loss and ∂L/∂m, ∂L/∂n, ∂L/∂b, ∂L/∂c by the derived adjoint recursion."""
    loss, kappas = da_forward(m, n, b, x0, targets, c, kappa_star, a, T)
    S = targets.shape[0]
    N = m.shape[0]
    gm = np.zeros(N)
    gn = np.zeros(N)
    gb = np.zeros(N)
    gc = 0.0
    lam_next = 0.0  # λ_{t+1}; λ_{S+1} = 0 (no successor of the last state)
    dg_next = 0.0
    for s in range(S, -1, -1):
        # λ_s = ∂ℓ_s/∂κ + λ_{s+1} ∂G/∂κ(κ_s); κ_0 is not scored.
        lam = lam_next * dg_next
        if s >= 1:
            _, dl, dlc = da_loss_step(kappas[s], targets[s - 1], c, kappa_star, T)
            lam += dl
            gc += dlc
        if s < S:
            # parameters enter κ_{s+1} = G(κ_s): ∂L/∂θ += λ_{s+1} ∂G/∂θ(κ_s)
            for i in range(N):
                _, _, dm, dn, db = bptt_neuron(m[i], n[i], b[i], kappas[s], a)
                gm[i] += lam_next * dm
                gn[i] += lam_next * dn
                gb[i] += lam_next * db
        if s >= 1:
            _, dg_next = latent_step(m, n, b, kappas[s - 1], a)
        lam_next = lam
    # λ_0 ∂κ_0/∂n = λ_0 x_0
    for i in range(N):
        gn[i] += lam_next * x0[i]
    return loss, gm, gn, gb, gc
