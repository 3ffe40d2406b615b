"""Batched RNN engine template: networks side by side in SIMD lanes, bit-identical to one.

Completed by :func:`ghostsym.codegen.rnn.batched_engine` with the same generated functions
as the one-network engine (``act``, ``out_sigmoid``, ``out_tanh``); never imported on its own.

Networks that share structure (model, task, epochs: ``ghostsym.training.engine._structure``)
advance in lockstep in blocks of ``lanes`` networks, with the network index innermost
(structure of arrays: θ of a block is [P, lanes], states [S+1, B, N, lanes], …). Every
per-network dot product becomes lane-wise multiply-adds (:func:`dot8_lanes`, eight partial
sums per lane), φ = ``act`` runs across lanes (its ``exp`` is the vectorisable ``vexp``), and
W x of a full-rank network is a lane-wise multiply-add per (i, j). The model, loss,
gradients, optimiser and divergence rules are those of ``rnn_template.py``; each lane does
exactly the operations that engine does for that network, in the same order
(docs/performance.md §6), so the results are bit-identical to training each network alone.
The same holds for float32 (θ, moments, states, gradients in float32).

Lanes of networks that diverged (or padding lanes of a short last block) drop out: their
state is written back at once, they get zero parameters (harmless arithmetic) and are never
updated or recorded again. :func:`train_chunk` splits the networks into blocks and runs the
blocks in parallel (prange).
"""

import math

import numba
import numpy as np

from ghostsym.numerics.optim import (
    NATGRAD,
    SGD,
    natgrad_precondition_lanes,
    optimizer_step_lanes,
)
from ghostsym.numerics.rng import STREAM_NOISE, STREAM_X0, fill_normal, stream_key
from ghostsym.numerics.rnn_common import (  # noqa: F401  (vexp: called by act, out_*)
    beyond,
    dot8_lanes,
    is_correct,
    l1_norm,
    matvec_seq_lanes,
    matvec_seq_lanes_t,
    project_readout,
    readout_z,
    sumsq8_lanes,
    vexp,
)
from ghostsym.numerics.spec import (
    DIVERGENCE_BOUND,
    F_ALPHA,
    F_LOSS_SCALE,
    F_NOISE_SD,
    F_RATE_SD,
    F_X0,
    I_ACCURACY,
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
    I_PROJECT,
    I_RANDOM_X0,
    I_READOUT,
    I_S,
    OUTPUT_SIGMOID,
    READOUT_FIXED_CONFIDENCE,
    READOUT_LATENT,
    READOUT_LATENT_LINEAR,
    READOUT_POPULATION,
)

_NJIT = {"cache": True, "error_model": "numpy"}

#: Networks per block (two AVX2 registers of float64).
LANES = 8


@numba.njit(**_NJIT)
def _output(kind, z):
    if kind == OUTPUT_SIGMOID:
        return out_sigmoid(z)
    return out_tanh(z)


@numba.njit(**_NJIT)
def make_workspace(ispec, lanes, dtype):
    """Buffers of one block (the one-network workspace with a lane axis last)."""
    n = ispec[I_N]
    k = max(ispec[I_K], 1)
    s = ispec[I_S]
    b = ispec[I_B]
    xs = np.empty((s + 1, b, n, lanes), dtype)
    dphi = np.empty((s, b, n, lanes), dtype)
    kappa = np.zeros((s + 1, b, k, lanes), dtype)
    lam = np.empty((b, n, lanes), dtype)
    deltas = np.empty((s, b, n, lanes), dtype)
    dz = np.zeros((b, s, lanes))
    yhat = np.zeros((b, s, lanes))
    scratch = np.empty((b, n, lanes), dtype)
    noise = np.empty(n)
    acc = np.zeros((8, lanes))
    vec = np.zeros((6, lanes))
    return xs, dphi, kappa, lam, deltas, dz, yhat, scratch, noise, acc, vec


@numba.njit(**_NJIT)
def _axpy_lanes(alpha, x, y):
    """y[i, l] += alpha[l] · x[i, l]."""
    for i in range(x.shape[0]):
        for lane in range(alpha.size):
            y[i, lane] += alpha[lane] * x[i, lane]


@numba.njit(**_NJIT)
def loss_grad(theta, grad, ispec, fspec, readout, u, y, keys_x0, keys_noise, epoch, ws, out):
    """``rnn_template.loss_grad`` for every lane of a block: θ and ∂L/∂θ are [P, lanes];
    ``out[0, l]``, ``out[1, l]`` receive lane l's loss and accuracy."""
    xs, dphi, kappa, lam, deltas, dz, yhat, scratch, noise, acc, vec = ws
    lanes = theta.shape[1]
    n = ispec[I_N]
    rank = ispec[I_K]
    d_in = ispec[I_D]
    steps = ispec[I_S]
    trials = ispec[I_B]
    out_kind = ispec[I_OUTPUT]
    post = ispec[I_POST]
    alpha = fspec[F_ALPHA]
    leak = 1.0 - alpha
    scale = fspec[F_LOSS_SCALE]
    noise_sd = fspec[F_NOISE_SD]
    o_u, o_v, o_w = ispec[I_O_U], ispec[I_O_V], ispec[I_O_W]
    o_b, o_win = ispec[I_O_B], ispec[I_O_WIN]
    o_wout, o_bout, o_c, o_ks = ispec[I_O_WOUT], ispec[I_O_BOUT], ispec[I_O_C], ispec[I_O_KS]

    bias = theta[o_b : o_b + n]
    if rank > 0:
        um = theta[o_u : o_u + rank * n].reshape((rank, n, lanes))
        vm = theta[o_v : o_v + rank * n].reshape((rank, n, lanes))
        wm = theta[0:0].reshape((0, 0, lanes))
    else:
        wm = theta[o_w : o_w + n * n].reshape((n, n, lanes))
        um = theta[0:0].reshape((0, 0, lanes))
        vm = um
    win = theta[o_win : o_win + max(d_in, 0) * n].reshape((max(d_in, 0), n, lanes))
    kcol = vec[0]

    # ---- forward ----------------------------------------------------------------------
    for tr in range(trials):
        if ispec[I_RANDOM_X0] == 1:
            rate_sd = fspec[F_RATE_SD]
            for lane in range(lanes):
                fill_normal(keys_x0[lane], epoch * trials + tr, noise)
                for i in range(n):
                    xs[0, tr, i, lane] = math.tanh(rate_sd * noise[i])
        else:
            xs[0, tr] = fspec[F_X0]
    for t in range(steps):
        for tr in range(trials):
            x = xs[t, tr]
            h = scratch[tr]
            if rank > 0:
                for k in range(rank):
                    dot8_lanes(vm[k], x, acc, kcol)
                    for lane in range(lanes):
                        kappa[t, tr, k, lane] = kcol[lane]
                h[:, :] = bias
                for k in range(rank):
                    _axpy_lanes(kappa[t, tr, k], um[k], h)
            else:  # h = W x, summed in index order j
                matvec_seq_lanes_t(wm, x, h)
                for i in range(n):
                    for lane in range(lanes):
                        h[i, lane] += bias[i, lane]
            for c in range(d_in):
                uc = u[tr, t, c]
                if uc != 0.0:
                    for i in range(n):
                        for lane in range(lanes):
                            h[i, lane] += uc * win[c, i, lane]
            if noise_sd != 0.0:
                for lane in range(lanes):
                    fill_normal(keys_noise[lane], (epoch * trials + tr) * steps + t, noise)
                    for i in range(n):
                        h[i, lane] += noise_sd * noise[i]
            xn = xs[t + 1, tr]
            dp = dphi[t, tr]
            for i in range(n):
                for lane in range(lanes):
                    phi, slope = act(h[i, lane])
                    xn[i, lane] = leak * x[i, lane] + alpha * phi
                    dp[i, lane] = alpha * slope
    if rank > 0:
        for tr in range(trials):
            for k in range(rank):
                dot8_lanes(vm[k], xs[steps, tr], acc, kcol)
                for lane in range(lanes):
                    kappa[steps, tr, k, lane] = kcol[lane]

    # ---- readout and loss -------------------------------------------------------------
    cvals = vec[1]
    l1s = vec[2]
    pdots = vec[3]
    modes = np.empty(lanes, np.int64)
    population = readout == READOUT_POPULATION or readout == READOUT_FIXED_CONFIDENCE
    for lane in range(lanes):
        c_value = theta[o_c, lane] if o_c >= 0 else 1.0
        cvals[lane] = c_value
        mode = readout
        if mode == READOUT_FIXED_CONFIDENCE and not math.isfinite(c_value):
            mode = READOUT_POPULATION
        modes[lane] = mode
        th = theta[:, lane]
        l1s[lane] = l1_norm(th, o_wout, n) if mode == READOUT_FIXED_CONFIDENCE else 0.0
        out[0, lane] = 0.0
        out[1, lane] = 0.0
    wout = theta[o_wout : o_wout + n] if population else theta[0:0]
    pdots[:] = 0.0
    for tr in range(trials):
        for t in range(steps):
            s = t + post
            if population:
                dot8_lanes(wout, xs[s, tr], acc, pdots)
            for lane in range(lanes):
                z = readout_z(
                    modes[lane],
                    theta[:, lane],
                    o_bout,
                    o_wout,
                    o_ks,
                    cvals[lane],
                    rank,
                    kappa[s, tr, :, lane],
                    pdots[lane],
                    l1s[lane],
                )
                g, gslope = _output(out_kind, z)
                err = g - y[tr, t]
                out[0, lane] += err * err
                dz[tr, t, lane] = 2.0 * scale * err * gslope
                yhat[tr, t, lane] = g
                out[1, lane] += is_correct(ispec[I_ACCURACY], g, y[tr, t])
    for lane in range(lanes):
        out[0, lane] *= scale
        out[1, lane] = int(out[1, lane]) / (trials * steps)

    # ---- backward (BPTT) --------------------------------------------------------------
    grad[:, :] = 0.0
    g_b = grad[o_b : o_b + n]
    if rank > 0:
        g_u = grad[o_u : o_u + rank * n].reshape((rank, n, lanes))
        g_v = grad[o_v : o_v + rank * n].reshape((rank, n, lanes))
    else:
        g_u = grad[0:0].reshape((0, 0, lanes))
        g_v = g_u
    g_win = grad[o_win : o_win + max(d_in, 0) * n].reshape((max(d_in, 0), n, lanes))
    lam[:, :, :] = 0.0
    coef = vec[5]
    for s in range(steps, -1, -1):
        t_out = s - post
        if 0 <= t_out < steps:
            for tr in range(trials):
                la = lam[tr]
                x = xs[s, tr]
                if readout == READOUT_LATENT:
                    for lane in range(lanes):
                        dzv = dz[tr, t_out, lane]
                        coef[lane] = 0.0
                        if dzv == 0.0:
                            continue
                        c_value = cvals[lane]
                        if o_c >= 0:
                            grad[o_c, lane] += dzv * (kappa[s, tr, 0, lane] - theta[o_ks, lane])
                        grad[o_ks, lane] -= dzv * c_value
                        coef[lane] = dzv * c_value
                    _axpy_lanes(coef, vm[0], la)
                    _axpy_lanes(coef, x, g_v[0])
                elif readout == READOUT_LATENT_LINEAR:
                    for lane in range(lanes):
                        dzv = dz[tr, t_out, lane]
                        if dzv != 0.0:
                            grad[o_bout, lane] += dzv
                    for k in range(rank):
                        for lane in range(lanes):
                            dzv = dz[tr, t_out, lane]
                            coef[lane] = 0.0
                            if dzv != 0.0:
                                grad[o_wout + k, lane] += dzv * kappa[s, tr, k, lane]
                                coef[lane] = dzv * theta[o_wout + k, lane]
                        _axpy_lanes(coef, vm[k], la)
                        _axpy_lanes(coef, x, g_v[k])
                else:
                    for lane in range(lanes):
                        dzv = dz[tr, t_out, lane]
                        if dzv == 0.0:
                            continue
                        if modes[lane] == READOUT_POPULATION:
                            grad[o_bout, lane] += dzv
                            for i in range(n):
                                grad[o_wout + i, lane] += dzv * x[i, lane]
                                la[i, lane] += dzv * wout[i, lane]
                        else:
                            _fc_back(theta, grad, la, x, dzv, cvals[lane], l1s[lane], lane, ispec)
        if s == 0:
            break
        t = s - 1
        for tr in range(trials):
            la = lam[tr]
            dl = deltas[t, tr]
            dp = dphi[t, tr]
            for i in range(n):
                for lane in range(lanes):
                    dl[i, lane] = la[i, lane] * dp[i, lane]
                    la[i, lane] *= leak
                    g_b[i, lane] += dl[i, lane]
            for c in range(d_in):
                uc = u[tr, t, c]
                if uc != 0.0:
                    for i in range(n):
                        for lane in range(lanes):
                            g_win[c, i, lane] += uc * dl[i, lane]
            if rank > 0:
                x = xs[t, tr]
                mu = vec[4]
                for k in range(rank):
                    dot8_lanes(um[k], dl, acc, mu)
                    _axpy_lanes(kappa[t, tr, k], dl, g_u[k])
                    _axpy_lanes(mu, x, g_v[k])
                    _axpy_lanes(mu, vm[k], la)
        if rank == 0:  # λ += Wᵀδ, summed in index order i
            for tr in range(trials):
                h = scratch[tr]
                matvec_seq_lanes(wm, deltas[t, tr], h)
                la = lam[tr]
                for i in range(n):
                    for lane in range(lanes):
                        la[i, lane] += 1.0 * h[i, lane]
    if rank == 0:  # ∂W = Σ_{t, trial} δ xᵀ in order (t, trial)
        g_w = grad[o_w : o_w + n * n].reshape((n, n, lanes))
        xflat = xs[:steps].reshape((steps * trials, n, lanes))
        dflat = deltas.reshape((steps * trials, n, lanes))
        for i in range(n):
            matvec_seq_lanes(xflat, dflat[:, i], g_w[i])


@numba.njit(**_NJIT)
def _fc_back(theta, grad, la, x, dzv, c_value, l1, lane, ispec):
    """``rnn_template._fc_back`` for one lane."""
    n = ispec[I_N]
    o_bout, o_wout, o_c = ispec[I_O_BOUT], ispec[I_O_WOUT], ispec[I_O_C]
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    for i in range(n):
        p = theta[o_wout + i, lane] * x[i, lane]
        r = i % 8
        if r == 0:
            s0 += p
        elif r == 1:
            s1 += p
        elif r == 2:
            s2 += p
        elif r == 3:
            s3 += p
        elif r == 4:
            s4 += p
        elif r == 5:
            s5 += p
        elif r == 6:
            s6 += p
        else:
            s7 += p
    a = theta[o_bout, lane] + (((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)))
    f = c_value / l1
    grad[o_bout, lane] += dzv * f
    if o_c >= 0:
        grad[o_c, lane] += dzv * a / l1
    corr = dzv * f * a / l1
    for i in range(n):
        wi = theta[o_wout + i, lane]
        sgn = 1.0 if wi > 0.0 else (-1.0 if wi < 0.0 else 0.0)
        grad[o_wout + i, lane] += dzv * f * x[i, lane] - corr * sgn
        la[i, lane] += dzv * f * wi


@numba.njit(**_NJIT)
def _states_beyond(states, lane, bound):
    """``beyond`` of the final states [B, N] of one lane (no mask)."""
    for tr in range(states.shape[0]):
        for i in range(states.shape[1]):
            if not abs(states[tr, i, lane]) <= bound:
                return True
    return False


@numba.njit(**_NJIT)
def _retire(lane, j, theta_b, m1_b, m2_b, steps_b, theta, m1, m2, steps_done):
    """Write lane ``lane`` (network j) back and give the lane zero parameters."""
    for p in range(theta_b.shape[0]):
        theta[j, p] = theta_b[p, lane]
        m1[j, p] = m1_b[p, lane]
        m2[j, p] = m2_b[p, lane]
        theta_b[p, lane] = 0.0
        m1_b[p, lane] = 0.0
        m2_b[p, lane] = 0.0
    steps_done[j] = steps_b[lane]


@numba.njit(**_NJIT)
def train_block(
    first,
    theta,
    m1,
    m2,
    steps_done,
    ispec,
    fspec,
    u,
    y,
    seeds,
    opt_kind,
    lr,
    hyper,
    train_mask,
    norm_mask,
    first_epoch,
    n_epochs,
    loss_hist,
    norm_hist,
    acc_hist,
    status,
    ng_basis,
    ng_coef,
    ng_rank,
    lanes,
):
    """Networks ``first`` … ``first + lanes − 1`` (those that exist) for ``n_epochs`` epochs:
    ``rnn_template.train_one`` for each, in lockstep (arguments as ``train_chunk``)."""
    count, size = theta.shape
    dtype = theta.dtype
    theta_b = np.zeros((size, lanes), dtype)
    m1_b = np.zeros((size, lanes), dtype)
    m2_b = np.zeros((size, lanes), dtype)
    grad = np.zeros((size, lanes), dtype)
    steps_b = np.zeros(lanes, np.int64)
    active = np.zeros(lanes, np.int64)
    keys_x0 = np.zeros(lanes, np.uint64)
    keys_noise = np.zeros(lanes, np.uint64)
    codes = np.zeros(lanes, np.int64)
    lr_b = np.ones(lanes)
    hyper_b = np.zeros((lanes, hyper.shape[1]))
    checks = np.zeros(lanes)
    gnorm = np.zeros(lanes)
    out = np.zeros((2, lanes))
    kmax = ng_basis.shape[2]
    basis_b = np.zeros((size, kmax, lanes))
    coef_b = np.zeros((lanes, kmax + 1))
    ranks_b = np.full(lanes, -1, np.int64)
    natgrad = False
    for lane in range(lanes):
        j = first + lane
        if j >= count or status[j] >= 0:
            continue
        if opt_kind[j] == NATGRAD:
            natgrad = True
            ranks_b[lane] = ng_rank[j]
            for p in range(size):
                for i in range(kmax):
                    basis_b[p, i, lane] = ng_basis[j, p, i]
            for i in range(kmax + 1):
                coef_b[lane, i] = ng_coef[j, i]
        active[lane] = 1
        for p in range(size):
            theta_b[p, lane] = theta[j, p]
            m1_b[p, lane] = m1[j, p]
            m2_b[p, lane] = m2[j, p]
        steps_b[lane] = steps_done[j]
        keys_x0[lane] = stream_key(seeds[j], STREAM_X0)
        keys_noise[lane] = stream_key(seeds[j], STREAM_NOISE)
        codes[lane] = SGD if opt_kind[j] == NATGRAD else opt_kind[j]
        lr_b[lane] = lr[j]
        hyper_b[lane] = hyper[j]
    ws = make_workspace(ispec, lanes, dtype)
    final_states = ws[0][ispec[I_S]]
    acc = ws[9]
    readout = ispec[I_READOUT]
    project = readout == READOUT_FIXED_CONFIDENCE and ispec[I_PROJECT] == 1
    for e in range(first_epoch, first_epoch + n_epochs):
        if active.sum() == 0:
            break
        readout_now = readout
        if project:
            for lane in range(lanes):
                if active[lane] == 1:
                    project_readout(theta_b[:, lane], ispec)
            readout_now = READOUT_POPULATION
        loss_grad(theta_b, grad, ispec, fspec, readout_now, u, y, keys_x0, keys_noise, e, ws, out)
        sumsq8_lanes(grad, norm_mask, acc, gnorm)
        for lane in range(lanes):
            if active[lane] == 0:
                continue
            j = first + lane
            loss = out[0, lane]
            g = math.sqrt(gnorm[lane])
            loss_hist[j, e] = loss
            norm_hist[j, e] = g
            acc_hist[j, e] = out[1, lane]
            bad = not (math.isfinite(loss) and math.isfinite(g))
            if not bad:
                bad = _states_beyond(final_states, lane, DIVERGENCE_BOUND)
            if bad:
                status[j] = e
                active[lane] = 0
                _retire(lane, j, theta_b, m1_b, m2_b, steps_b, theta, m1, m2, steps_done)
            else:
                steps_b[lane] += 1
        if natgrad:
            natgrad_precondition_lanes(grad, train_mask, active, basis_b, coef_b, ranks_b)
        optimizer_step_lanes(
            codes, theta_b, grad, train_mask, active, lr_b, hyper_b, m1_b, m2_b, steps_b, checks
        )
        for lane in range(lanes):
            if active[lane] == 0:
                continue
            if not math.isfinite(checks[lane]) or beyond(
                theta_b[:, lane], train_mask, DIVERGENCE_BOUND
            ):
                j = first + lane
                status[j] = e + 1
                active[lane] = 0
                _retire(lane, j, theta_b, m1_b, m2_b, steps_b, theta, m1, m2, steps_done)
    for lane in range(lanes):
        if active[lane] == 1:
            _retire(lane, first + lane, theta_b, m1_b, m2_b, steps_b, theta, m1, m2, steps_done)


@numba.njit(parallel=True, **_NJIT)
def train_chunk(
    theta,
    m1,
    m2,
    steps_done,
    ispec,
    fspec,
    u,
    y,
    seeds,
    opt_kind,
    lr,
    hyper,
    train_mask,
    norm_mask,
    first_epoch,
    n_epochs,
    loss_hist,
    norm_hist,
    acc_hist,
    status,
    ng_basis,
    ng_coef,
    ng_rank,
    lanes,
):
    """``rnn_template.train_chunk`` with the networks in blocks of ``lanes`` (prange over
    blocks): the same arguments and results, bit for bit, plus the block width."""
    count = theta.shape[0]
    blocks = (count + lanes - 1) // lanes
    for blk in numba.prange(blocks):
        train_block(
            blk * lanes,
            theta,
            m1,
            m2,
            steps_done,
            ispec,
            fspec,
            u,
            y,
            seeds,
            opt_kind,
            lr,
            hyper,
            train_mask,
            norm_mask,
            first_epoch,
            n_epochs,
            loss_hist,
            norm_hist,
            acc_hist,
            status,
            ng_basis,
            ng_coef,
            ng_rank,
            lanes,
        )


@numba.njit(**_NJIT)
def evaluate(theta, ispec, fspec, readout, u, y, seeds, epoch):
    """(loss [lanes], accuracy [lanes], ∂L/∂θ [P, lanes], ŷ [B, S, lanes], x [S+1, B, N,
    lanes]) of one epoch for the networks in the columns of θ ([P, lanes])."""
    lanes = theta.shape[1]
    ws = make_workspace(ispec, lanes, theta.dtype)
    grad = np.zeros_like(theta)
    keys_x0 = np.zeros(lanes, np.uint64)
    keys_noise = np.zeros(lanes, np.uint64)
    for lane in range(lanes):
        keys_x0[lane] = stream_key(seeds[lane], STREAM_X0)
        keys_noise[lane] = stream_key(seeds[lane], STREAM_NOISE)
    out = np.zeros((2, lanes))
    loss_grad(theta, grad, ispec, fspec, readout, u, y, keys_x0, keys_noise, epoch, ws, out)
    return out[0].copy(), out[1].copy(), grad, ws[6].copy(), ws[0].copy()
