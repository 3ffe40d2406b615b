"""Speed energy of a full-rank RNN (Eq. 39) in numba: q, ∇q = JᵀF, Hessian, HVP, Jacobian.

Completed by :func:`ghostsym.codegen.latent.kernels` with ``speed_neuron(x_i, z_i) -> (F_i, φ′(z_i),
φ″(z_i))`` generated from ``ghostsym.symbolic.latent_speed``; never imported on its own.
F(x) = −x + φ(Wx + b), J = −I + diag(φ′(z))W, q = ½‖F‖², ∇q = JᵀF,
∇²q = JᵀJ + Wᵀ diag(F ⊙ φ″(z)) W.
"""

import numba
import numpy as np


@numba.njit(cache=True, error_model="numpy")
def speed_terms(W, b, x):
    """F, φ′(z), φ″(z) at one state."""
    z = W @ x + b
    N = x.shape[0]
    F = np.empty(N)
    d1 = np.empty(N)
    d2 = np.empty(N)
    for i in range(N):
        F[i], d1[i], d2[i] = speed_neuron(x[i], z[i])
    return F, d1, d2


@numba.njit(cache=True, error_model="numpy")
def speed_value_grad(W, b, x):
    """q and ∇q = JᵀF = −F + Wᵀ(φ′ ⊙ F)."""
    F, d1, _ = speed_terms(W, b, x)
    q = 0.5 * np.dot(F, F)
    grad = W.T @ (d1 * F) - F
    return q, grad


@numba.njit(cache=True, error_model="numpy")
def speed_hvp(W, b, x, v):
    """∇²q v = Jᵀ(Jv) + Wᵀ((F ⊙ φ″) ⊙ (Wv))."""
    F, d1, d2 = speed_terms(W, b, x)
    Wv = W @ v
    Jv = d1 * Wv - v
    return W.T @ (d1 * Jv) - Jv + W.T @ (F * d2 * Wv)


@numba.njit(cache=True, error_model="numpy")
def speed_jacobian(W, b, x):
    """J = −I + diag(φ′(z)) W."""
    _, d1, _ = speed_terms(W, b, x)
    J = d1.reshape((-1, 1)) * W
    for i in range(x.shape[0]):
        J[i, i] -= 1.0
    return J


@numba.njit(cache=True, error_model="numpy")
def speed_hessian(W, b, x):
    """∇²q = JᵀJ + Wᵀ diag(F ⊙ φ″) W."""
    F, d1, d2 = speed_terms(W, b, x)
    J = d1.reshape((-1, 1)) * W
    for i in range(x.shape[0]):
        J[i, i] -= 1.0
    return J.T @ J + W.T @ ((F * d2).reshape((-1, 1)) * W)


@numba.njit(cache=True, error_model="numpy")
def speed_value_grad_batch(W, b, X):
    """q and ∇q for every row of X (many starting points at once)."""
    B = X.shape[0]
    qs = np.empty(B)
    grads = np.empty_like(X)
    for p in range(B):
        qs[p], grads[p] = speed_value_grad(W, b, np.ascontiguousarray(X[p]))
    return qs, grads
