"""CUDA engine template: the whole training loop of :mod:`ghostsym.numerics.rnn_template` as
one ``numba.cuda`` kernel, one network per GPU thread (docs/gpu.md §1).

Completed by :func:`ghostsym.codegen.cuda.engine` with the generated functions ``act(h) ->
(φ, φ')``, ``out_sigmoid(z)`` and ``out_tanh(z) -> (g, g')`` (the same SymPy-derived
functions as the CPU engine, printed as ``numba.njit`` functions); this template re-targets
their Python source to the device (:func:`_device`), and does the same with the
counter-based generator of :mod:`ghostsym.numerics.rng` and the optimiser update of
:mod:`ghostsym.numerics.optim`, so the device runs the arithmetic of the CPU engine written
once. Never imported on its own.

Semantics are those of ``rnn_template.train_one`` (network, loss, BPTT, update, history,
divergence status), statement for statement; the only differences are the order of the
additions inside reductions (the CPU dot products are vectorised with re-association, and
∂L/∂W is a BLAS product there but accumulated step by step here) and, on a real device,
libdevice's ``exp``/``log``/``tanh`` (≤ 2 ulp). Results therefore agree to float64
rounding, not bit for bit: the tolerance and its test are in docs/gpu.md §2.

Memory: every per-network array lives in device global memory with the network index last
(θ is P × C for C networks, states are (S+1) × B × N × C, …), so the threads of a warp —
consecutive networks — read and write consecutive addresses. Nothing returns to the host
inside a launch; :func:`train_chunk` (same arguments as the CPU engine's ``train_chunk``)
copies the batch's arrays in, runs ``n_epochs`` epochs and copies them back, and can also
keep snapshots of θ at requested epochs taken inside the kernel.
"""

import math
import types

import numba
import numpy as np
from numba import cuda

from ghostsym.numerics import optim as _optim
from ghostsym.numerics import rng as _rng
from ghostsym.numerics import rnn_common as _common
from ghostsym.numerics.spec import (
    ACCURACY_GE_HALF,
    ACCURACY_GT_HALF,
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

#: True under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1`` when numba was imported).
SIMULATOR = bool(numba.config.ENABLE_CUDASIM)
#: Networks (threads) per block.
THREADS_PER_BLOCK = 64
TERNARY_THRESHOLD = 0.33


def _device(fn, **rebind):
    """The numba CPU function ``fn`` re-targeted to the device: its Python source compiled
    by ``cuda.jit(device=True)``, with the global names in ``rebind`` (functions it calls)
    replaced by their device versions. One source, two targets: same operations, same
    order."""
    py = getattr(fn, "py_func", fn)
    scope = dict(py.__globals__)
    scope.update(rebind)
    clone = types.FunctionType(py.__code__, scope, py.__name__, py.__defaults__, py.__closure__)
    return cuda.jit(device=True)(clone)


# ---- the shared arithmetic, on the device --------------------------------------------
_mix64 = _device(_rng.mix64)
_central = _device(_rng._central)
_uniform = _device(_rng.uniform, mix64=_mix64)
_normal_quantile = _device(_rng.normal_quantile, _central=_central)
_update = _device(_optim._update)


@cuda.jit(device=True)
def _pow2(k):
    """2^k, exact (the CPU builds it from its bit pattern; ldexp is exact too)."""
    return math.ldexp(1.0, k)


# The generated φ and readouts print exp as the CPU engine's branch-free ``vexp``
# (docs/performance.md §2.1); the device runs the same polynomial, with 2^k from ldexp.
_vexp = _device(_common.vexp, _pow2=_pow2)
_act = _device(act, vexp=_vexp)
_out_sigmoid = _device(out_sigmoid, vexp=_vexp)
_out_tanh = _device(out_tanh, vexp=_vexp)


@cuda.jit(device=True)
def _normal(key, block, n, i):
    """Entry i of ``rng.fill_normal(key, block, out)`` with ``out.size == n`` (the same
    number: Φ⁻¹ of the uniform of counter n·block + i)."""
    counter = np.uint64(block) * np.uint64(n) + np.uint64(i)
    return _normal_quantile(_uniform(key, counter))


@cuda.jit(device=True)
def _output(kind, z):
    if kind == OUTPUT_SIGMOID:
        return _out_sigmoid(z)
    return _out_tanh(z)


@cuda.jit(device=True)
def _is_correct(kind, yhat, target):
    if kind == ACCURACY_GT_HALF:
        pred = 1.0 if yhat > 0.5 else 0.0
    elif kind == ACCURACY_GE_HALF:
        pred = 1.0 if yhat >= 0.5 else 0.0
    else:
        if yhat <= -TERNARY_THRESHOLD:
            pred = -1.0
        elif yhat >= TERNARY_THRESHOLD:
            pred = 1.0
        else:
            pred = 0.0
    return 1 if pred == target else 0


@cuda.jit(device=True)
def _beyond(values, mask, j, bound):
    """True if an entry of column j with ``mask != 0`` is NaN or beyond ``bound``."""
    for p in range(values.shape[0]):
        if mask[p] != 0.0 and not abs(values[p, j]) <= bound:
            return True
    return False


@cuda.jit(device=True)
def _project_readout(theta, j, n, o_wout, o_bout, o_c):
    """``rnn_template.project_readout`` on network j."""
    c_value = theta[o_c, j]
    if not math.isfinite(c_value):
        return
    l1 = 0.0
    for i in range(n):
        l1 += abs(theta[o_wout + i, j])
    f = c_value / l1
    for i in range(n):
        theta[o_wout + i, j] *= f
    theta[o_bout, j] *= f


@cuda.jit(device=True)
def _loss_grad(
    theta, grad, ispec, fspec, readout, u, y, key_x0, key_noise, epoch, j, xs, dphi, kappa, lam,
    dl, dz,
):  # fmt: skip
    """``rnn_template.loss_grad`` for network j (column j of every array): the epoch's
    loss and accuracy; writes ∂L/∂θ into ``grad[:, j]``."""
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

    # ---- forward ----------------------------------------------------------------------
    for tr in range(trials):
        if ispec[I_RANDOM_X0] == 1:
            rate_sd = fspec[F_RATE_SD]
            for i in range(n):
                xs[0, tr, i, j] = math.tanh(rate_sd * _normal(key_x0, epoch * trials + tr, n, i))
        else:
            for i in range(n):
                xs[0, tr, i, j] = fspec[F_X0]
    for t in range(steps):
        for tr in range(trials):
            for k in range(rank):
                kap = 0.0
                for i in range(n):
                    kap += theta[o_v + k * n + i, j] * xs[t, tr, i, j]
                kappa[t, tr, k, j] = kap
            block = (epoch * trials + tr) * steps + t
            for i in range(n):
                if rank > 0:
                    h = theta[o_b + i, j]
                    for k in range(rank):
                        h += kappa[t, tr, k, j] * theta[o_u + k * n + i, j]
                else:
                    h = 0.0
                    for m in range(n):
                        h += xs[t, tr, m, j] * theta[o_w + i * n + m, j]
                    h += theta[o_b + i, j]
                for c in range(d_in):
                    uc = u[tr, t, c]
                    if uc != 0.0:
                        h += uc * theta[o_win + c * n + i, j]
                if noise_sd != 0.0:
                    h += noise_sd * _normal(key_noise, block, n, i)
                phi, slope = _act(h)
                xs[t + 1, tr, i, j] = leak * xs[t, tr, i, j] + alpha * phi
                dphi[t, tr, i, j] = alpha * slope
    for tr in range(trials):
        for k in range(rank):
            kap = 0.0
            for i in range(n):
                kap += theta[o_v + k * n + i, j] * xs[steps, tr, i, j]
            kappa[steps, tr, k, j] = kap

    # ---- readout and loss -------------------------------------------------------------
    loss = 0.0
    correct = 0
    c_value = theta[o_c, j] if o_c >= 0 else 1.0
    if readout == READOUT_FIXED_CONFIDENCE and not math.isfinite(c_value):
        readout = READOUT_POPULATION
    l1 = 0.0
    if readout == READOUT_FIXED_CONFIDENCE:
        for i in range(n):
            l1 += abs(theta[o_wout + i, j])
    for tr in range(trials):
        for t in range(steps):
            s = t + post
            if readout == READOUT_LATENT:
                z = c_value * (kappa[s, tr, 0, j] - theta[o_ks, j])
            elif readout == READOUT_LATENT_LINEAR:
                z = theta[o_bout, j]
                for k in range(rank):
                    z += theta[o_wout + k, j] * kappa[s, tr, k, j]
            else:
                a = 0.0
                for i in range(n):
                    a += theta[o_wout + i, j] * xs[s, tr, i, j]
                z = theta[o_bout, j] + a
                if readout == READOUT_FIXED_CONFIDENCE:
                    z = c_value * z / l1
            g, gslope = _output(out_kind, z)
            err = g - y[tr, t]
            loss += err * err
            dz[tr, t, j] = 2.0 * scale * err * gslope
            correct += _is_correct(ispec[I_ACCURACY], g, y[tr, t])
    loss *= scale
    accuracy = correct / (trials * steps)

    # ---- backward (BPTT) --------------------------------------------------------------
    for p in range(grad.shape[0]):
        grad[p, j] = 0.0
    for tr in range(trials):
        for i in range(n):
            lam[tr, i, j] = 0.0
    for s in range(steps, -1, -1):
        t_out = s - post
        if 0 <= t_out < steps:
            for tr in range(trials):
                dzv = dz[tr, t_out, j]
                if dzv == 0.0:
                    continue
                if readout == READOUT_LATENT:
                    kap = kappa[s, tr, 0, j]
                    if o_c >= 0:
                        grad[o_c, j] += dzv * (kap - theta[o_ks, j])
                    grad[o_ks, j] -= dzv * c_value
                    dk = dzv * c_value
                    for i in range(n):
                        lam[tr, i, j] += dk * theta[o_v + i, j]
                    for i in range(n):
                        grad[o_v + i, j] += dk * xs[s, tr, i, j]
                elif readout == READOUT_LATENT_LINEAR:
                    grad[o_bout, j] += dzv
                    for k in range(rank):
                        grad[o_wout + k, j] += dzv * kappa[s, tr, k, j]
                        dk = dzv * theta[o_wout + k, j]
                        for i in range(n):
                            lam[tr, i, j] += dk * theta[o_v + k * n + i, j]
                        for i in range(n):
                            grad[o_v + k * n + i, j] += dk * xs[s, tr, i, j]
                elif readout == READOUT_POPULATION:
                    grad[o_bout, j] += dzv
                    for i in range(n):
                        grad[o_wout + i, j] += dzv * xs[s, tr, i, j]
                    for i in range(n):
                        lam[tr, i, j] += dzv * theta[o_wout + i, j]
                else:
                    a = 0.0
                    for i in range(n):
                        a += theta[o_wout + i, j] * xs[s, tr, i, j]
                    a = theta[o_bout, j] + a
                    f = c_value / l1
                    grad[o_bout, j] += dzv * f
                    if o_c >= 0:
                        grad[o_c, j] += dzv * a / l1
                    corr = dzv * f * a / l1
                    for i in range(n):
                        wi = theta[o_wout + i, j]
                        sgn = 1.0 if wi > 0.0 else (-1.0 if wi < 0.0 else 0.0)
                        grad[o_wout + i, j] += dzv * f * xs[s, tr, i, j] - corr * sgn
                        lam[tr, i, j] += dzv * f * wi
        if s == 0:
            break
        t = s - 1
        for tr in range(trials):
            for i in range(n):
                d = lam[tr, i, j] * dphi[t, tr, i, j]
                dl[t, tr, i, j] = d
                lam[tr, i, j] *= leak
                grad[o_b + i, j] += d
            for c in range(d_in):
                uc = u[tr, t, c]
                if uc != 0.0:
                    for i in range(n):
                        grad[o_win + c * n + i, j] += uc * dl[t, tr, i, j]
            for k in range(rank):
                mu = 0.0
                kap = kappa[t, tr, k, j]
                for i in range(n):
                    mu += theta[o_u + k * n + i, j] * dl[t, tr, i, j]
                    grad[o_u + k * n + i, j] += kap * dl[t, tr, i, j]
                for i in range(n):
                    grad[o_v + k * n + i, j] += mu * xs[t, tr, i, j]
                    lam[tr, i, j] += mu * theta[o_v + k * n + i, j]
        if rank == 0:
            for tr in range(trials):
                for m in range(n):
                    back = 0.0
                    for i in range(n):
                        back += dl[t, tr, i, j] * theta[o_w + i * n + m, j]
                    lam[tr, m, j] += back
    if rank == 0:  # ∂L/∂W = Σ_t δ_t x_tᵀ, written once (the CPU engine's one matrix product)
        for i in range(n):
            for m in range(n):
                acc = 0.0
                for t in range(steps):
                    for tr in range(trials):
                        acc += dl[t, tr, i, j] * xs[t, tr, m, j]
                grad[o_w + i * n + m, j] = acc
    return loss, accuracy


@cuda.jit
def train_kernel(
    theta, m1, m2, steps_done, ispec, fspec, u, y, keys, opt_kind, lr, hyper, train_mask,
    norm_mask, first_epoch, n_epochs, loss_hist, norm_hist, acc_hist, status, snap_epochs,
    snaps, grad, xs, dphi, kappa, lam, dl, dz,
):  # fmt: skip
    """``rnn_template.train_one`` for network j = the thread's index, for ``n_epochs``
    epochs from absolute epoch ``first_epoch``; histories are indexed (e − first_epoch, j).
    After the update of epoch e, θ is copied to ``snaps[q, :, j]`` if e + 1 ==
    ``snap_epochs[q]`` (the CPU engine's checkpoint at epoch e + 1)."""
    j = cuda.grid(1)
    if j >= theta.shape[1] or status[j] >= 0:
        return
    n = ispec[I_N]
    steps = ispec[I_S]
    trials = ispec[I_B]
    readout = ispec[I_READOUT]
    project = readout == READOUT_FIXED_CONFIDENCE and ispec[I_PROJECT] == 1
    key_x0 = keys[j, 0]
    key_noise = keys[j, 1]
    done = steps_done[j]
    code = opt_kind[j]
    rate = lr[j]
    beta1, beta2, eps = hyper[j, H_BETA1], hyper[j, H_BETA2], hyper[j, H_EPS]
    th, g1, g2, gr = theta[:, j], m1[:, j], m2[:, j], grad[:, j]
    bad = -1
    q = 0
    for e in range(first_epoch, first_epoch + n_epochs):
        readout_now = readout
        if project:
            _project_readout(theta, j, n, ispec[I_O_WOUT], ispec[I_O_BOUT], ispec[I_O_C])
            readout_now = READOUT_POPULATION
        loss, acc = _loss_grad(
            theta, grad, ispec, fspec, readout_now, u, y, key_x0, key_noise, e, j, xs, dphi,
            kappa, lam, dl, dz,
        )  # fmt: skip
        sq = 0.0
        for p in range(grad.shape[0]):
            sq += grad[p, j] * grad[p, j] * norm_mask[p]
        gnorm = math.sqrt(sq)
        row = e - first_epoch
        loss_hist[row, j] = loss
        norm_hist[row, j] = gnorm
        acc_hist[row, j] = acc
        if not (math.isfinite(loss) and math.isfinite(gnorm)):
            bad = e
            break
        states_bad = False
        for tr in range(trials):
            for i in range(n):
                if not abs(xs[steps, tr, i, j]) <= DIVERGENCE_BOUND:
                    states_bad = True
        if states_bad:
            bad = e
            break
        done += 1
        check = _update(code, th, gr, train_mask, True, rate, beta1, beta2, eps, g1, g2, done)
        if not math.isfinite(check) or _beyond(theta, train_mask, j, DIVERGENCE_BOUND):
            bad = e + 1  # the next epoch's evaluation would be the first bad one
            break
        while q < snap_epochs.shape[0] and snap_epochs[q] < e + 1:
            q += 1
        if q < snap_epochs.shape[0] and snap_epochs[q] == e + 1:
            for p in range(theta.shape[0]):
                snaps[q, p, j] = theta[p, j]
    steps_done[j] = done
    status[j] = bad


# ---- host side ---------------------------------------------------------------------------
def device_available() -> bool:
    """True when numba finds a CUDA device (always under ``NUMBA_ENABLE_CUDASIM=1``)."""
    return bool(cuda.is_available())


def device_name() -> str:
    """The device's name ("simulator" under the CUDA simulator)."""
    if not device_available():
        return "none"
    if SIMULATOR:
        return "CUDA simulator"
    name = cuda.get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


def workspace_shapes(ispec, count):
    """Shapes of the device buffers of ``count`` networks: (xs, dphi, kappa, lam, deltas, dz)."""
    n, k, s, b = int(ispec[I_N]), max(int(ispec[I_K]), 1), int(ispec[I_S]), int(ispec[I_B])
    return (
        (s + 1, b, n, count),
        (s, b, n, count),
        (s + 1, b, k, count),
        (b, n, count),
        (s, b, n, count),
        (b, s, count),
    )


_WORKSPACE = {}


def _workspace(ispec, count, size):
    """Device buffers for ``count`` networks, kept between launches of the same shapes."""
    key = (tuple(int(v) for v in ispec), int(count), int(size))
    if key not in _WORKSPACE:
        _WORKSPACE.clear()  # one shape at a time: free the previous batch's buffers
        grad = cuda.device_array((size, count))
        _WORKSPACE[key] = (grad, *(cuda.device_array(sh) for sh in workspace_shapes(ispec, count)))
    return _WORKSPACE[key]


def stream_keys(seeds):
    """(C, 2) uint64: each network's x0 and noise stream keys (``rng.stream_key``)."""
    keys = np.empty((len(seeds), 2), dtype=np.uint64)
    for j, seed in enumerate(seeds):
        keys[j, 0] = _rng.stream_key(int(seed), _rng.STREAM_X0)
        keys[j, 1] = _rng.stream_key(int(seed), _rng.STREAM_NOISE)
    return keys


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
    snap_epochs=None,
    snaps=None,
    threads_per_block=THREADS_PER_BLOCK,
):
    """The CPU engine's ``train_chunk`` (same arguments, same in-place results) on the
    device: copy in, one launch of ``n_epochs`` epochs, copy back.

    ``snap_epochs`` (sorted epochs in (first_epoch, first_epoch + n_epochs]) and ``snaps``
    (len(snap_epochs) × C × P, host): θ of every network still training after the update
    that reaches each of those epochs is written into ``snaps`` (other rows untouched)."""
    count, size = theta.shape
    if count == 0 or n_epochs <= 0:
        return
    lo, hi = int(first_epoch), int(first_epoch) + int(n_epochs)
    to = cuda.to_device
    d_theta = to(np.ascontiguousarray(theta.T))
    d_m1 = to(np.ascontiguousarray(m1.T))
    d_m2 = to(np.ascontiguousarray(m2.T))
    d_steps = to(np.ascontiguousarray(steps_done))
    d_status = to(np.ascontiguousarray(status))
    hists = [to(np.ascontiguousarray(h[:, lo:hi].T)) for h in (loss_hist, norm_hist, acc_hist)]
    if snap_epochs is None or len(snap_epochs) == 0:
        snap_epochs = np.zeros(0, dtype=np.int64)
        d_snaps = to(np.zeros((0, size, count)))
    else:
        snap_epochs = np.ascontiguousarray(snap_epochs, dtype=np.int64)
        d_snaps = to(np.ascontiguousarray(np.transpose(snaps, (0, 2, 1))))
    grad, *ws = _workspace(ispec, count, size)
    blocks = (count + threads_per_block - 1) // threads_per_block
    train_kernel[blocks, threads_per_block](
        d_theta,
        d_m1,
        d_m2,
        d_steps,
        to(np.ascontiguousarray(ispec, dtype=np.int64)),
        to(np.ascontiguousarray(fspec, dtype=np.float64)),
        to(np.ascontiguousarray(u, dtype=np.float64)),
        to(np.ascontiguousarray(y, dtype=np.float64)),
        to(stream_keys(seeds)),
        to(np.ascontiguousarray(opt_kind, dtype=np.int64)),
        to(np.ascontiguousarray(lr, dtype=np.float64)),
        to(np.ascontiguousarray(hyper, dtype=np.float64)),
        to(np.ascontiguousarray(train_mask, dtype=np.float64)),
        to(np.ascontiguousarray(norm_mask, dtype=np.float64)),
        lo,
        hi - lo,
        *hists,
        d_status,
        to(snap_epochs),
        d_snaps,
        grad,
        *ws,
    )
    cuda.synchronize()
    theta[...] = d_theta.copy_to_host().T
    m1[...] = d_m1.copy_to_host().T
    m2[...] = d_m2.copy_to_host().T
    steps_done[...] = d_steps.copy_to_host()
    status[...] = d_status.copy_to_host()
    for host, dev in zip((loss_hist, norm_hist, acc_hist), hists, strict=True):
        host[:, lo:hi] = dev.copy_to_host().T
    if len(snap_epochs):
        snaps[...] = np.transpose(d_snaps.copy_to_host(), (0, 2, 1))
