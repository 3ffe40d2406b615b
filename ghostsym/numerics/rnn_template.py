"""RNN engine template: forward pass, hand-written BPTT and whole training loops in numba.

Completed by :func:`ghostsym.codegen.rnn.engine` with the generated functions ``act(h) ->
(φ, φ')``, ``out_sigmoid(z)`` and ``out_tanh(z) -> (g, g')``; never imported on its own.

Network (column-vector convention, docs/experiments.md §0; Eq. 47):

    h_t     = W x_t + b + W_in u_t + σ_noise ξ_t   (noise inside φ, docs/experiments.md §13.3)
    x_{t+1} = (1 − α) x_t + α φ(h_t),                      t = 0 … S−1

with W = U Vᵀ of rank K (computed as U(Vᵀx), Eq. 49) or a full matrix. Output t (t = 0 … S−1)
reads the state s = t + 1 (post-update, DA) or s = t (pre-update, working-memory tasks):

    latent            ŷ = g(c (κ₁ − κ*)),            κ = Vᵀ x_s   (Eq. 36)
    latent_linear     ŷ = g(w_outᵀ κ + b_out)                    (Fig. 4)
    population        ŷ = g(w_outᵀ x_s + b_out)                  (Eqs. 38, 48)
    fixed_confidence  ŷ = g(c (w_outᵀ x_s + b_out) / ‖w_out‖₁)   (Eq. 40, code's L1 form;
                                                                  c = ∞ ≡ population)

Loss L = scale · Σ_{trials, t} (ŷ − y)² (scale = 1/T for DA, 1/(B·S) for the MSE of the
working-memory tasks). Gradients: adjoint λ_s = ∂L/∂x_s, δ_t = λ_{t+1} ⊙ α φ'(h_t),
λ_t = (1 − α) λ_{t+1} + Wᵀ δ_t + (readout term at s = t); ∂L/∂b = Σ δ_t,
∂L/∂W = Σ δ_t x_tᵀ, ∂L/∂U = Σ δ_t κ_tᵀ, ∂L/∂V = Σ x_t (Uᵀ δ_t)ᵀ, ∂L/∂W_in = Σ δ_t u_tᵀ.

The network's structure arrives as ``ispec``/``fspec``, whose slots (``I_*``, ``F_*``) and
codes (``READOUT_*``, ``OUTPUT_*``, ``ACCURACY_*``) are defined once in
:mod:`ghostsym.numerics.spec` (with the checklist for adding a task or a readout).
All parameters live in one flat vector θ (float64, or float32 for a float32 run: θ, the
optimiser moments, states and gradients are then float32, docs/performance.md §6) (layout
from ``ispec`` offsets, internal shapes: U, V as K×N (rows = the m_k, n_k vectors), W as N×N,
W_in as D×N). Random initial
states and noise come from the counter-based generator of :mod:`ghostsym.numerics.rng`: the
draws of epoch e depend only on (seed, e), so chunked, resumed and parallel runs are
bit-identical to a single uninterrupted run. Parameter updates are those of
:mod:`ghostsym.numerics.optim`.

The operation order is fixed (no fastmath, no BLAS; reductions through
:func:`ghostsym.numerics.rnn_common.dot8`): the batched engine
(``rnn_batched_template.py``) does the same arithmetic per lane and is bit-identical to this
one (docs/performance.md §6). A sum over j of W x is accumulated in index order j.
"""

import math

import numba
import numpy as np

from ghostsym.numerics.optim import NATGRAD, SGD, natgrad_precondition, optimizer_step_masked
from ghostsym.numerics.rng import (  # noqa: F401  (uniform, normal_quantile: engine API)
    STREAM_NOISE,
    STREAM_X0,
    fill_normal,
    normal_quantile,
    stream_key,
)
from ghostsym.numerics.rng import uniform as _unit  # noqa: F401
from ghostsym.numerics.rnn_common import (  # noqa: F401  (vexp: called by act, out_*)
    beyond,
    dot8,
    is_correct,
    l1_norm,
    matmat_seq,
    project_readout,
    readout_z,
    sumsq8,
    vexp,
)
from ghostsym.numerics.spec import (
    DIVERGENCE_BOUND,
    F_ALPHA,
    F_LOSS_SCALE,
    F_NOISE_SD,
    F_RATE_SD,
    F_X0,
    H_BETA1,
    H_BETA2,
    H_EPS,
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


@numba.njit(**_NJIT)
def _axpy(alpha, x, y):
    for i in range(x.size):
        y[i] += alpha * x[i]


@numba.njit(**_NJIT)
def _axpy2(alpha, x, y, x2, y2):
    """y += alpha·x and y2 += alpha·x2 in one pass (each element as :func:`_axpy`)."""
    for i in range(x.size):
        y[i] += alpha * x[i]
        y2[i] += alpha * x2[i]


@numba.njit(**_NJIT)
def _output(kind, z):
    if kind == OUTPUT_SIGMOID:
        return out_sigmoid(z)
    return out_tanh(z)


@numba.njit(**_NJIT)
def make_workspace(ispec, dtype):
    """Buffers for one network: states, α·φ'(h), latents, adjoints, δ's, outputs (``dtype``
    that of θ; ∂L/∂z and ŷ float64; the noise block float64, as rng fills it)."""
    n = ispec[I_N]
    k = max(ispec[I_K], 1)
    s = ispec[I_S]
    b = ispec[I_B]
    xs = np.empty((s + 1, b, n), dtype)
    dphi = np.empty((s, b, n), dtype)
    kappa = np.zeros((s + 1, b, k), dtype)
    lam = np.empty((b, n), dtype)
    deltas = np.empty((s, b, n), dtype)
    dz = np.zeros((b, s))
    yhat = np.zeros((b, s))
    scratch = np.empty((b, n), dtype)
    noise = np.empty(n)
    wt = np.empty((n, n) if ispec[I_K] == 0 else (0, 0), dtype)
    macc = np.empty((2, n))  # float64 sums of matmat_seq
    return xs, dphi, kappa, lam, deltas, dz, yhat, scratch, noise, wt, macc


@numba.njit(**_NJIT)
def loss_grad(theta, grad, ispec, fspec, readout, u, y, key_x0, key_noise, epoch, ws):
    """Loss and accuracy of one epoch at θ; writes ∂L/∂θ into ``grad`` (every entry).

    ``readout`` overrides ``ispec[I_READOUT]`` (the projected fixed-confidence training
    uses the population gradient at the projected point). Returns (loss, accuracy).
    """
    xs, dphi, kappa, lam, deltas, dz, yhat, scratch, noise, wt, macc = ws
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
        um = theta[o_u : o_u + rank * n].reshape((rank, n))
        vm = theta[o_v : o_v + rank * n].reshape((rank, n))
        wm = theta[0:0].reshape((0, 0))
    else:
        wm = theta[o_w : o_w + n * n].reshape((n, n))
        um = theta[0:0].reshape((0, 0))
        vm = um
        for i in range(n):
            for j in range(n):
                wt[j, i] = wm[i, j]
    win = theta[o_win : o_win + max(d_in, 0) * n].reshape((max(d_in, 0), n))

    # ---- forward ----------------------------------------------------------------------
    for tr in range(trials):
        x0 = xs[0, tr]
        if ispec[I_RANDOM_X0] == 1:
            rate_sd = fspec[F_RATE_SD]
            fill_normal(key_x0, epoch * trials + tr, noise)
            for i in range(n):
                x0[i] = math.tanh(rate_sd * noise[i])
        else:
            x0[:] = fspec[F_X0]
    for t in range(steps):
        if rank == 0:  # h = W x for every trial, summed in index order j
            matmat_seq(wt, xs[t], scratch, macc)
        for tr in range(trials):
            x = xs[t, tr]
            h = scratch[tr]
            if rank > 0:
                for k in range(rank):
                    kappa[t, tr, k] = dot8(vm[k], x)
                k0 = kappa[t, tr, 0]
                u0 = um[0]
                for i in range(n):  # h = b, then h += κ_k u_k in order k (fused for k = 0)
                    h[i] = bias[i] + k0 * u0[i]
                for k in range(1, rank):
                    _axpy(kappa[t, tr, k], um[k], h)
            else:
                for i in range(n):
                    h[i] += bias[i]
            for c in range(d_in):
                uc = u[tr, t, c]
                if uc != 0.0:
                    _axpy(uc, win[c], h)
            if noise_sd != 0.0:
                fill_normal(key_noise, (epoch * trials + tr) * steps + t, noise)
                for i in range(n):
                    h[i] += noise_sd * noise[i]
            xn = xs[t + 1, tr]
            dp = dphi[t, tr]
            for i in range(n):
                phi, slope = act(h[i])
                xn[i] = leak * x[i] + alpha * phi
                dp[i] = alpha * slope
    if rank > 0:
        for tr in range(trials):
            for k in range(rank):
                kappa[steps, tr, k] = dot8(vm[k], xs[steps, tr])

    # ---- readout and loss -------------------------------------------------------------
    loss = 0.0
    correct = 0
    c_value = theta[o_c] if o_c >= 0 else 1.0
    if readout == READOUT_FIXED_CONFIDENCE and not math.isfinite(c_value):
        readout = READOUT_POPULATION
    population = readout == READOUT_POPULATION or readout == READOUT_FIXED_CONFIDENCE
    l1 = l1_norm(theta, o_wout, n) if readout == READOUT_FIXED_CONFIDENCE else 0.0
    wout = theta[o_wout : o_wout + n] if population else theta[0:0]
    for tr in range(trials):
        for t in range(steps):
            s = t + post
            pdot = dot8(wout, xs[s, tr]) if population else 0.0
            z = readout_z(
                readout, theta, o_bout, o_wout, o_ks, c_value, rank, kappa[s, tr], pdot, l1
            )
            g, gslope = _output(out_kind, z)
            err = g - y[tr, t]
            loss += err * err
            dz[tr, t] = 2.0 * scale * err * gslope
            yhat[tr, t] = g
            correct += is_correct(ispec[I_ACCURACY], g, y[tr, t])
    loss *= scale
    accuracy = correct / (trials * steps)

    # ---- backward (BPTT) --------------------------------------------------------------
    grad[:] = 0.0
    g_b = grad[o_b : o_b + n]
    if rank > 0:
        g_u = grad[o_u : o_u + rank * n].reshape((rank, n))
        g_v = grad[o_v : o_v + rank * n].reshape((rank, n))
    else:
        g_u = grad[0:0].reshape((0, 0))
        g_v = g_u
    g_win = grad[o_win : o_win + max(d_in, 0) * n].reshape((max(d_in, 0), n))
    lam[:, :] = 0.0
    for s in range(steps, -1, -1):
        t_out = s - post
        if 0 <= t_out < steps:
            for tr in range(trials):
                dzv = dz[tr, t_out]
                if dzv == 0.0:
                    continue
                la = lam[tr]
                x = xs[s, tr]
                if readout == READOUT_LATENT:
                    kap = kappa[s, tr, 0]
                    if o_c >= 0:
                        grad[o_c] += dzv * (kap - theta[o_ks])
                    grad[o_ks] -= dzv * c_value
                    dk = dzv * c_value
                    _axpy2(dk, vm[0], la, x, g_v[0])
                elif readout == READOUT_LATENT_LINEAR:
                    grad[o_bout] += dzv
                    for k in range(rank):
                        grad[o_wout + k] += dzv * kappa[s, tr, k]
                        dk = dzv * theta[o_wout + k]
                        _axpy2(dk, vm[k], la, x, g_v[k])
                elif readout == READOUT_POPULATION:
                    grad[o_bout] += dzv
                    _axpy(dzv, x, grad[o_wout : o_wout + n])
                    _axpy(dzv, wout, la)
                else:
                    _fc_back(theta, grad, la, x, dzv, c_value, l1, o_bout, o_wout, o_c, n)
        if s == 0:
            break
        t = s - 1
        for tr in range(trials):
            la = lam[tr]
            dl = deltas[t, tr]
            dp = dphi[t, tr]
            for i in range(n):
                dl[i] = la[i] * dp[i]
                la[i] *= leak
                g_b[i] += dl[i]
            for c in range(d_in):
                uc = u[tr, t, c]
                if uc != 0.0:
                    _axpy(uc, dl, g_win[c])
            if rank > 0:
                x = xs[t, tr]
                for k in range(rank):
                    muk = dot8(um[k], dl)
                    _axpy(kappa[t, tr, k], dl, g_u[k])
                    _axpy2(muk, x, g_v[k], vm[k], la)
        if rank == 0:  # λ += Wᵀδ, summed in index order i
            matmat_seq(wm, deltas[t], scratch, macc)
            for tr in range(trials):
                _axpy(1.0, scratch[tr], lam[tr])
    if rank == 0:  # ∂W = Σ_{t, trial} δ xᵀ in order (t, trial)
        g_w = grad[o_w : o_w + n * n].reshape((n, n))
        xflat = xs[:steps].reshape((steps * trials, n))
        dflat = deltas.reshape((steps * trials, n))
        matmat_seq(xflat, dflat.T, g_w, macc)  # row i: Σ_r dflat[r, i] xflat[r]
    return loss, accuracy


@numba.njit(**_NJIT)
def _fc_back(theta, grad, la, x, dzv, c_value, l1, o_bout, o_wout, o_c, n):
    """The fixed-confidence readout's term of the adjoint and of ∂L/∂θ at one output."""
    a = theta[o_bout] + dot8(theta[o_wout : o_wout + n], x)
    f = c_value / l1
    grad[o_bout] += dzv * f
    if o_c >= 0:
        grad[o_c] += dzv * a / l1
    corr = dzv * f * a / l1
    for i in range(n):
        wi = theta[o_wout + i]
        sgn = 1.0 if wi > 0.0 else (-1.0 if wi < 0.0 else 0.0)
        grad[o_wout + i] += dzv * f * x[i] - corr * sgn
        la[i] += dzv * f * wi


@numba.njit(**_NJIT)
def train_one(
    theta,
    m1,
    m2,
    steps_done,
    ispec,
    fspec,
    u,
    y,
    seed,
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
    ng_basis,
    ng_coef,
    ng_rank,
):
    """Train one network for ``n_epochs`` epochs starting at absolute epoch ``first_epoch``.

    ``opt_kind`` NATGRAD: the gradient is preconditioned by
    :func:`ghostsym.numerics.optim.natgrad_precondition` with the basis ``ng_basis`` [P, kmax],
    coefficients ``ng_coef`` and rank ``ng_rank`` (fixed within the call: the engine refreshes
    them between chunks, docs/sntk.md §6), then applied as an SGD step.

    History entry e (absolute) is evaluated at the parameters after e updates. Returns
    (updates done so far in total for Adam's bias correction, diverged epoch or −1). Epoch e
    diverges when its loss or gradient norm is not finite or a final state x_S has
    |x| > DIVERGENCE_BOUND; the update of epoch e diverges (reported as epoch e + 1, whose
    evaluation would be the first bad one) when a trainable parameter leaves that bound.
    """
    ws = make_workspace(ispec, theta.dtype)
    final_states = ws[0][ispec[I_S]].reshape(-1)
    no_mask = np.empty(0)
    grad = np.zeros_like(theta)
    key_x0 = stream_key(seed, STREAM_X0)
    key_noise = stream_key(seed, STREAM_NOISE)
    readout = ispec[I_READOUT]
    project = readout == READOUT_FIXED_CONFIDENCE and ispec[I_PROJECT] == 1
    for e in range(first_epoch, first_epoch + n_epochs):
        readout_now = readout
        if project:
            project_readout(theta, ispec)
            readout_now = READOUT_POPULATION
        loss, acc = loss_grad(
            theta, grad, ispec, fspec, readout_now, u, y, key_x0, key_noise, e, ws
        )
        gnorm = math.sqrt(sumsq8(grad, norm_mask))
        loss_hist[e] = loss
        norm_hist[e] = gnorm
        acc_hist[e] = acc
        if not (math.isfinite(loss) and math.isfinite(gnorm)):
            return steps_done, e
        if beyond(final_states, no_mask, DIVERGENCE_BOUND):
            return steps_done, e
        steps_done += 1
        code = opt_kind
        if opt_kind == NATGRAD:
            natgrad_precondition(grad, train_mask, ng_basis, ng_coef, ng_rank)
            code = SGD
        check = optimizer_step_masked(
            code,
            theta,
            grad,
            train_mask,
            lr,
            hyper[H_BETA1],
            hyper[H_BETA2],
            hyper[H_EPS],
            m1,
            m2,
            steps_done,
        )
        if not math.isfinite(check) or beyond(theta, train_mask, DIVERGENCE_BOUND):
            return steps_done, e + 1  # the next epoch's evaluation would be the first bad one
    return steps_done, -1


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
):
    """``train_one`` for many networks at once, one network per thread (prange).

    ``ng_basis`` [count, P, kmax], ``ng_coef`` [count, kmax + 1], ``ng_rank`` [count]: the
    natural-gradient preconditioners of the networks with ``opt_kind`` NATGRAD.

    Rows j of θ, the optimiser moments, the histories etc. belong to network j. Networks
    with ``status[j] >= 0`` (diverged at that epoch) are skipped; the others get
    ``status[j]`` set on divergence. Every network's arithmetic is independent of how many
    networks run and on how many threads: results are bit-identical to training alone.
    """
    for j in numba.prange(theta.shape[0]):
        if status[j] >= 0:
            continue
        done, bad = train_one(
            theta[j],
            m1[j],
            m2[j],
            steps_done[j],
            ispec,
            fspec,
            u,
            y,
            seeds[j],
            opt_kind[j],
            lr[j],
            hyper[j],
            train_mask,
            norm_mask,
            first_epoch,
            n_epochs,
            loss_hist[j],
            norm_hist[j],
            acc_hist[j],
            ng_basis[j],
            ng_coef[j],
            ng_rank[j],
        )
        steps_done[j] = done
        status[j] = bad


@numba.njit(**_NJIT)
def evaluate(theta, ispec, fspec, readout, u, y, seed, epoch):
    """(loss, accuracy, ∂L/∂θ, outputs ŷ (B×S), states x (S+1×B×N)) of one epoch at θ."""
    ws = make_workspace(ispec, theta.dtype)
    grad = np.zeros_like(theta)
    loss, acc = loss_grad(
        theta,
        grad,
        ispec,
        fspec,
        readout,
        u,
        y,
        stream_key(seed, STREAM_X0),
        stream_key(seed, STREAM_NOISE),
        epoch,
        ws,
    )
    return loss, acc, grad, ws[6].copy(), ws[0].copy()
