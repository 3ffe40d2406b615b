"""State-space NTK template: the exact Jacobian of an RNN's states and outputs w.r.t. θ.

Completed by :func:`ghostsym.codegen.sntk.module` with the generated functions ``act(h) ->
(φ, φ')``, ``out_sigmoid(z)`` and ``out_tanh(z) -> (g, g')`` (the RNN engine's kernel list,
:func:`ghostsym.codegen.rnn.kernels`); never imported on its own.

The forward pass is the engine's (:mod:`ghostsym.numerics.rnn_template`, Eq. 47), with the same
initial states and the same noise inside φ (:mod:`ghostsym.numerics.rng`, blocks numbered by
(epoch, trial, step)):

    h_t     = W x_t + b + W_in u_t + σ_noise ξ_t
    x_{t+1} = (1 − α) x_t + α φ(h_t)

Alongside it runs the **forward sensitivity** (tangent) recursion, one column per selected
parameter p (docs/sntk.md §2):

    ∂h_t/∂θ_p     = W ∂x_t/∂θ_p + (∂h_t/∂θ_p)|explicit
    ∂x_{t+1}/∂θ_p = (1 − α) ∂x_t/∂θ_p + α φ'(h_t) ⊙ ∂h_t/∂θ_p,        ∂x_0/∂θ = 0

with the explicit parts b_i → e_i, m_k[i] → e_i κ_k, n_k[j] → m_k x_t[j], W[i, j] → e_i x_t[j],
W_in[i, c] → e_i u_t[c] (W = Σ_k m_k n_kᵀ, κ_k = n_kᵀx_t). For low rank, W ∂x = Σ_k m_k (n_kᵀ ∂x)
costs O(K N P) per step; full rank uses one BLAS product W·(∂x) per step. Output t reads the
state s = t + post and its tangent: ∂ŷ_t/∂θ_p = g'(z)(∂z/∂x_s · ∂x_s/∂θ_p + ∂z/∂θ_p|explicit)
for the four readouts of :data:`ghostsym.numerics.rnn.READOUT_TABLE`.

The columns are described by three integer arrays: ``ckind`` (one of the ``COL_*`` codes
below), ``ck`` and ``ci`` (the indices of the entry within its parameter, see ``COL_*``).
"""

import math

import numba
import numpy as np

from ghostsym.numerics.rng import STREAM_NOISE, STREAM_X0, fill_normal, stream_key
from ghostsym.numerics.rnn_common import vexp  # noqa: F401  (called by the generated act)
from ghostsym.numerics.spec import (
    F_ALPHA,
    F_NOISE_SD,
    F_RATE_SD,
    F_X0,
    I_B,
    I_D,
    I_K,
    I_N,
    I_O_B,
    I_O_BOUT,
    I_O_C,
    I_O_KS,
    I_O_U,
    I_O_V,
    I_O_W,
    I_O_WIN,
    I_O_WOUT,
    I_OUTPUT,
    I_POST,
    I_RANDOM_X0,
    I_S,
    OUTPUT_SIGMOID,
    READOUT_FIXED_CONFIDENCE,
    READOUT_LATENT,
    READOUT_LATENT_LINEAR,
    READOUT_POPULATION,
)

_NJIT = {"cache": True, "error_model": "numpy"}

#: Column kinds (ck, ci): b[ci]; m_ck[ci]; n_ck[ci]; W[ck, ci]; W_in[ci, ck] (channel ck);
#: w_out[ci]; b_out; c; κ*.
COL_B = 0
COL_U = 1
COL_V = 2
COL_W = 3
COL_WIN = 4
COL_WOUT = 5
COL_BOUT = 6
COL_C = 7
COL_KS = 8


@numba.njit(**_NJIT)
def _output(kind, z):
    if kind == OUTPUT_SIGMOID:
        return out_sigmoid(z)  # noqa: F821  (generated)
    return out_tanh(z)  # noqa: F821  (generated)


@numba.njit(**_NJIT)
def jacobians(theta, ispec, fspec, readout, u, seed, epoch, ckind, ck, ci, xs, yhat, jx, jy):
    """States, outputs and their exact Jacobians for the first ``jx.shape[0]`` trials.

    Writes ``xs`` (S+1, B', N), ``yhat`` (B', S), ``jx`` (B', S+1, N, P') = ∂x_s/∂θ_p and
    ``jy`` (B', S, P') = ∂ŷ_t/∂θ_p for the P' columns (``ckind``, ``ck``, ``ci``).
    """
    n = ispec[I_N]
    rank = ispec[I_K]
    d_in = ispec[I_D]
    steps = ispec[I_S]
    trials = ispec[I_B]
    out_kind = ispec[I_OUTPUT]
    post = ispec[I_POST]
    alpha = fspec[F_ALPHA]
    leak = 1.0 - alpha
    noise_sd = fspec[F_NOISE_SD]
    o_u, o_v, o_w = ispec[I_O_U], ispec[I_O_V], ispec[I_O_W]
    o_b, o_win = ispec[I_O_B], ispec[I_O_WIN]
    o_wout, o_bout, o_c, o_ks = ispec[I_O_WOUT], ispec[I_O_BOUT], ispec[I_O_C], ispec[I_O_KS]
    pc = ckind.size
    bias = theta[o_b : o_b + n]
    if rank > 0:
        um = theta[o_u : o_u + rank * n].reshape((rank, n))
        vm = theta[o_v : o_v + rank * n].reshape((rank, n))
        wm = np.zeros((0, 0))
    else:
        wm = np.ascontiguousarray(theta[o_w : o_w + n * n].reshape((n, n)))
        um = np.zeros((0, n))
        vm = um
    win = theta[o_win : o_win + max(d_in, 0) * n].reshape((max(d_in, 0), n))
    key_x0 = stream_key(seed, STREAM_X0)
    key_noise = stream_key(seed, STREAM_NOISE)
    noise = np.empty(n)
    h = np.empty(n)
    dp = np.empty(n)
    kap = np.zeros(max(rank, 1))
    dh = np.empty((n, pc))
    q = np.empty(pc)
    dz = np.empty(pc)
    c_value = theta[o_c] if o_c >= 0 else 1.0
    if readout == READOUT_FIXED_CONFIDENCE and not math.isfinite(c_value):
        readout = READOUT_POPULATION
    l1 = 0.0
    if readout == READOUT_FIXED_CONFIDENCE:
        for i in range(n):
            l1 += abs(theta[o_wout + i])
    for tr in range(jx.shape[0]):
        x0 = xs[0, tr]
        if ispec[I_RANDOM_X0] == 1:
            fill_normal(key_x0, epoch * trials + tr, noise)
            for i in range(n):
                x0[i] = math.tanh(fspec[F_RATE_SD] * noise[i])
        else:
            x0[:] = fspec[F_X0]
        jx[tr, 0] = 0.0
        for t in range(steps):
            x = xs[t, tr]
            if rank > 0:
                for k in range(rank):
                    s = 0.0
                    for j in range(n):
                        s += vm[k, j] * x[j]
                    kap[k] = s
                h[:] = bias
                for k in range(rank):
                    for i in range(n):
                        h[i] += kap[k] * um[k, i]
            else:
                for i in range(n):
                    s = bias[i]
                    for j in range(n):
                        s += wm[i, j] * x[j]
                    h[i] = s
            for c in range(d_in):
                uc = u[tr, t, c]
                if uc != 0.0:
                    for i in range(n):
                        h[i] += uc * win[c, i]
            if noise_sd != 0.0:
                fill_normal(key_noise, (epoch * trials + tr) * steps + t, noise)
                for i in range(n):
                    h[i] += noise_sd * noise[i]
            xn = xs[t + 1, tr]
            for i in range(n):
                phi, slope = act(h[i])  # noqa: F821  (generated)
                xn[i] = leak * x[i] + alpha * phi
                dp[i] = alpha * slope
            # ---- tangents: dh = W ∂x + explicit part ----------------------------------
            tx = jx[tr, t]
            if rank > 0:
                dh[:, :] = 0.0
                for k in range(rank):
                    q[:] = 0.0
                    for j in range(n):
                        vj = vm[k, j]
                        if vj != 0.0:
                            for p in range(pc):
                                q[p] += vj * tx[j, p]
                    for i in range(n):
                        ui = um[k, i]
                        for p in range(pc):
                            dh[i, p] += ui * q[p]
            else:
                dh[:, :] = np.dot(wm, tx)
            for p in range(pc):
                kind = ckind[p]
                a = ck[p]
                b = ci[p]
                if kind == COL_B:
                    dh[b, p] += 1.0
                elif kind == COL_U:
                    dh[b, p] += kap[a]
                elif kind == COL_V:
                    xb = x[b]
                    for i in range(n):
                        dh[i, p] += um[a, i] * xb
                elif kind == COL_W:
                    dh[a, p] += x[b]
                elif kind == COL_WIN:
                    dh[b, p] += u[tr, t, a]
            txn = jx[tr, t + 1]
            for i in range(n):
                di = dp[i]
                for p in range(pc):
                    txn[i, p] = leak * tx[i, p] + di * dh[i, p]
        # ---- readout and its tangent --------------------------------------------------
        for t in range(steps):
            s = t + post
            x = xs[s, tr]
            tx = jx[tr, s]
            dz[:] = 0.0
            if readout == READOUT_LATENT:
                k1 = 0.0
                for j in range(n):
                    k1 += vm[0, j] * x[j]
                z = c_value * (k1 - theta[o_ks])
                for j in range(n):
                    w = c_value * vm[0, j]
                    for p in range(pc):
                        dz[p] += w * tx[j, p]
                for p in range(pc):
                    if ckind[p] == COL_V and ck[p] == 0:
                        dz[p] += c_value * x[ci[p]]
                    elif ckind[p] == COL_C:
                        dz[p] += k1 - theta[o_ks]
                    elif ckind[p] == COL_KS:
                        dz[p] -= c_value
            elif readout == READOUT_LATENT_LINEAR:
                z = theta[o_bout]
                for k in range(rank):
                    kk = 0.0
                    for j in range(n):
                        kk += vm[k, j] * x[j]
                    kap[k] = kk
                    wk = theta[o_wout + k]
                    z += wk * kk
                    for j in range(n):
                        w = wk * vm[k, j]
                        for p in range(pc):
                            dz[p] += w * tx[j, p]
                for p in range(pc):
                    if ckind[p] == COL_V:
                        dz[p] += theta[o_wout + ck[p]] * x[ci[p]]
                    elif ckind[p] == COL_WOUT:
                        dz[p] += kap[ci[p]]
                    elif ckind[p] == COL_BOUT:
                        dz[p] += 1.0
            else:
                a_val = theta[o_bout]
                for j in range(n):
                    a_val += theta[o_wout + j] * x[j]
                f = 1.0
                if readout == READOUT_FIXED_CONFIDENCE:
                    f = c_value / l1
                z = f * a_val
                for j in range(n):
                    w = f * theta[o_wout + j]
                    for p in range(pc):
                        dz[p] += w * tx[j, p]
                for p in range(pc):
                    if ckind[p] == COL_WOUT:
                        j = ci[p]
                        dz[p] += f * x[j]
                        if readout == READOUT_FIXED_CONFIDENCE:
                            wj = theta[o_wout + j]
                            sgn = 1.0 if wj > 0.0 else (-1.0 if wj < 0.0 else 0.0)
                            dz[p] -= f * a_val * sgn / l1
                    elif ckind[p] == COL_BOUT:
                        dz[p] += f
                    elif ckind[p] == COL_C and readout == READOUT_FIXED_CONFIDENCE:
                        dz[p] += a_val / l1
            g, gslope = _output(out_kind, z)
            yhat[tr, t] = g
            for p in range(pc):
                jy[tr, t, p] = gslope * dz[p]
