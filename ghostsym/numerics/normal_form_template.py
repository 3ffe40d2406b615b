"""Numba template: simulator, exact discrete adjoint and trainers for dx/dt = f(x; r).

Never imported on its own. :func:`ghostsym.codegen.build_module` appends this source to the
kernels of :func:`ghostsym.codegen.normal_form.kernels`, which it uses as free globals:

* ``nf_f(x, r)``, ``nf_dfdx(x, r)``, ``nf_dfdr(x, r)`` — the normal form and its partial
  derivatives (the only model-specific numerics);
* ``nf_analytic_loss(r, T)``, ``nf_analytic_grad(r, T)`` — the c → ∞ DA loss (Eqs. 16–20)
  and its derivative (Eq. 21), or NaN when the model has none.

When the c → ∞ loss has no closed form, training with the analytical gradient (mode
``GRAD_TABLE``) reads the escape time from a table instead: log t_esc on a uniform grid of
log ρ (ρ = σ(r − r_c), the distance past the fold) with the exact slopes d log t_esc / d log ρ,
interpolated by cubic Hermite polynomials; the loss and its gradient then follow from t_esc
as in Eqs. 16–21 (:func:`analytic_loss_gradient_table`).

Discretisation (docs/experiments.md §2.2, §13.5). ``n_steps`` steps of size ``dt`` from
``x_0``; scheme 0 = explicit Euler, 1 = Heun (RK2), 2 = classical RK4. After every step the
state is clipped to [−cap, cap] (the paper clips at +1e6); a non-finite step result is
clipped to the cap of its sign. A clipped step has zero derivative with respect to its
inputs, which the adjoint respects. Nothing here produces NaN from finite inputs.

Loss (exact, discrete): L = dt Σ_{k=1}^{n} (ŷ_k − y_k)², ŷ_k = σ(c (x_k − x*)) on the
post-update states, y_k = 1 iff k > n_target (= round(T/dt)), else 0.

Training: the update of r is the one SGD / momentum / Adam of ghostsym,
:func:`ghostsym.numerics.optim.optimizer_step` (codes ``SGD``, ``MOMENTUM``, ``ADAM``), on r
as a 1-vector.
"""

import math  # noqa: F401  (also imported by the generated header)

import numba
import numpy as np

from ghostsym.numerics.optim import ADAM, MOMENTUM, SGD, optimizer_step

SCHEME_EULER = 0
SCHEME_HEUN = 1
SCHEME_RK4 = 2

GRAD_SIMULATED = 0
GRAD_ANALYTIC = 1
GRAD_TABLE = 2


@numba.njit(cache=True, error_model="numpy")
def sigmoid_pair(z):
    """(σ(z), σ(−z)) without overflow: both tails are computed from exp(−|z|)."""
    e = math.exp(-abs(z))
    if z >= 0.0:
        return 1.0 / (1.0 + e), e / (1.0 + e)
    return e / (1.0 + e), 1.0 / (1.0 + e)


@numba.njit(cache=True, error_model="numpy")
def clip_state(x, cap):
    """Clip to [−cap, cap]; returns (value, clipped?). NaN goes to +cap (documented)."""
    if x > cap:
        return cap, True
    if x < -cap:
        return -cap, True
    if x != x:
        return cap, True
    return x, False


@numba.njit(cache=True, error_model="numpy")
def step(x, r, dt, scheme, cap):
    """One step of the chosen scheme followed by the clip."""
    if scheme == 0:
        y = x + dt * nf_f(x, r)
    elif scheme == 1:
        k1 = nf_f(x, r)
        k2 = nf_f(x + dt * k1, r)
        y = x + 0.5 * dt * (k1 + k2)
    else:
        k1 = nf_f(x, r)
        k2 = nf_f(x + 0.5 * dt * k1, r)
        k3 = nf_f(x + 0.5 * dt * k2, r)
        k4 = nf_f(x + dt * k3, r)
        y = x + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return clip_state(y, cap)[0]


@numba.njit(cache=True, error_model="numpy")
def step_jacobian(x, r, dt, scheme, cap):
    """(x_next, ∂x_next/∂x, ∂x_next/∂r) of one clipped step (forward mode inside the step)."""
    if scheme == 0:
        y = x + dt * nf_f(x, r)
        jx = 1.0 + dt * nf_dfdx(x, r)
        jr = dt * nf_dfdr(x, r)
    elif scheme == 1:
        k1 = nf_f(x, r)
        k1x = nf_dfdx(x, r)
        k1r = nf_dfdr(x, r)
        u = x + dt * k1
        k2 = nf_f(u, r)
        fx = nf_dfdx(u, r)
        k2x = fx * (1.0 + dt * k1x)
        k2r = fx * dt * k1r + nf_dfdr(u, r)
        y = x + 0.5 * dt * (k1 + k2)
        jx = 1.0 + 0.5 * dt * (k1x + k2x)
        jr = 0.5 * dt * (k1r + k2r)
    else:
        k1 = nf_f(x, r)
        k1x = nf_dfdx(x, r)
        k1r = nf_dfdr(x, r)
        u = x + 0.5 * dt * k1
        k2 = nf_f(u, r)
        fx = nf_dfdx(u, r)
        k2x = fx * (1.0 + 0.5 * dt * k1x)
        k2r = fx * 0.5 * dt * k1r + nf_dfdr(u, r)
        u = x + 0.5 * dt * k2
        k3 = nf_f(u, r)
        fx = nf_dfdx(u, r)
        k3x = fx * (1.0 + 0.5 * dt * k2x)
        k3r = fx * 0.5 * dt * k2r + nf_dfdr(u, r)
        u = x + dt * k3
        k4 = nf_f(u, r)
        fx = nf_dfdx(u, r)
        k4x = fx * (1.0 + dt * k3x)
        k4r = fx * dt * k3r + nf_dfdr(u, r)
        y = x + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        jx = 1.0 + dt / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
        jr = dt / 6.0 * (k1r + 2.0 * k2r + 2.0 * k3r + k4r)
    y, clipped = clip_state(y, cap)
    if clipped or not (math.isfinite(jx) and math.isfinite(jr)):
        # The clip is flat: no derivative flows through a capped step.
        return y, 0.0, 0.0
    return y, jx, jr


@numba.njit(cache=True, error_model="numpy")
def trajectory(r, x0, dt, n_steps, scheme, cap, out):
    """Fill ``out[0..n_steps]`` with the clipped trajectory from ``x0``."""
    x = x0
    out[0] = x
    for k in range(n_steps):
        x = step(x, r, dt, scheme, cap)
        out[k + 1] = x


@numba.njit(cache=True, error_model="numpy")
def residual_and_slope(x, c, x_star, target_on):
    """(ŷ − y, dŷ/dz) with z = c (x − x*); the residual is formed from the accurate tail."""
    s, s_minus = sigmoid_pair(c * (x - x_star))
    if target_on:
        return -s_minus, s * s_minus
    return s, s * s_minus


@numba.njit(cache=True, error_model="numpy")
def da_loss(r, c, x_star, x0, dt, n_steps, n_target, scheme, cap):
    """The discrete DA loss only (no storage)."""
    x = x0
    total = 0.0
    for k in range(1, n_steps + 1):
        x = step(x, r, dt, scheme, cap)
        res, _ = residual_and_slope(x, c, x_star, k > n_target)
        total += res * res
    return dt * total


@numba.njit(cache=True, error_model="numpy")
def da_loss_gradient(r, c, x_star, x0, dt, n_steps, n_target, scheme, cap, xs, jxs, jrs):
    """Loss and its exact gradient (∂L/∂r, ∂L/∂c, ∂L/∂x*) by the discrete adjoint.

    Forward: store x_k and the step Jacobians. Backward (BPTT):
    λ_n = ∂ℓ_n/∂x_n, λ_k = ∂ℓ_k/∂x_k + λ_{k+1} ∂x_{k+1}/∂x_k, ∂L/∂r = Σ_k λ_{k+1} ∂x_{k+1}/∂r.
    ``xs``, ``jxs``, ``jrs`` are work arrays of length ≥ n_steps + 1.
    """
    x = x0
    xs[0] = x
    total = 0.0
    g_c = 0.0
    g_xs = 0.0
    for k in range(n_steps):
        x, jx, jr = step_jacobian(x, r, dt, scheme, cap)
        xs[k + 1] = x
        jxs[k] = jx
        jrs[k] = jr
    lam = 0.0
    g_r = 0.0
    for k in range(n_steps, 0, -1):
        res, slope = residual_and_slope(xs[k], c, x_star, k > n_target)
        total += res * res
        w = 2.0 * dt * res * slope  # ∂ℓ_k/∂z_k
        g_c += w * (xs[k] - x_star)
        g_xs -= w * c
        lam += w * c  # ∂ℓ_k/∂x_k, plus the propagated adjoint
        g_r += lam * jrs[k - 1]
        lam *= jxs[k - 1]
    return dt * total, g_r, g_c, g_xs


@numba.njit(cache=True, error_model="numpy")
def hermite(u, grid, values, slopes):
    """Cubic Hermite interpolation on a uniform grid: (y(u), y'(u)); linear outside it."""
    n = grid.shape[0]
    if u >= grid[n - 1]:
        return values[n - 1] + slopes[n - 1] * (u - grid[n - 1]), slopes[n - 1]
    if u <= grid[0]:
        return values[0] + slopes[0] * (u - grid[0]), slopes[0]
    h = grid[1] - grid[0]
    k = min(int((u - grid[0]) / h), n - 2)
    s = (u - grid[k]) / h
    y0, y1 = values[k], values[k + 1]
    m0, m1 = slopes[k] * h, slopes[k + 1] * h
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
def analytic_loss_gradient_table(r, T, table, geometry):
    """The c → ∞ (L, ∂L/∂r) of Eqs. 16–21 from the escape-time table (mode ``GRAD_TABLE``).

    ``table`` rows: log ρ, log t_esc, d log t_esc / d log ρ; ``geometry`` = (r_c, σ, ρ_min),
    ρ = σ(r − r_c). L = T − t_esc (early), t_esc − T (late) or T (never: t_esc ≥ 2T, or
    ρ ≤ ρ_min below the table), with ∂L/∂r = ∓σ dt_esc/dρ and exactly 0 in the no-learning zone.
    """
    sigma = geometry[1]
    rho = sigma * (r - geometry[0])
    if rho <= geometry[2]:
        return T, 0.0
    lt, dlt = hermite(math.log(rho), table[0], table[1], table[2])
    te = math.exp(lt)
    dte = te * dlt / rho
    if te < T:
        return T - te, -dte * sigma
    if te < 2.0 * T:
        return te - T, dte * sigma
    return T, 0.0


@numba.njit(cache=True, error_model="numpy")
def loss_and_gradient_r(
    r, c, x_star, x0, dt, n_steps, n_target, scheme, cap, T, mode, work, table, geometry
):
    """(L, ∂L/∂r) for training: simulated (mode 0), analytical c → ∞ from the closed-form
    kernels (mode 1) or from the escape-time table (mode 2)."""
    if mode == 1:
        return nf_analytic_loss(r, T), nf_analytic_grad(r, T)
    if mode == 2:
        return analytic_loss_gradient_table(r, T, table, geometry)
    loss, g_r, _, _ = da_loss_gradient(
        r, c, x_star, x0, dt, n_steps, n_target, scheme, cap, work[0], work[1], work[2]
    )
    return loss, g_r


@numba.njit(parallel=True, cache=True, error_model="numpy")
def loss_gradient_grid(rs, cs, x_star, x0, dt, n_steps, n_target, scheme, cap):
    """Loss and gradients for every (c, r) pair: arrays of shape (len(cs), len(rs), 4)."""
    n_c = cs.shape[0]
    n_r = rs.shape[0]
    out = np.empty((n_c, n_r, 4))
    for idx in numba.prange(n_c * n_r):
        i = idx // n_r
        j = idx % n_r
        xs = np.empty(n_steps + 1)
        jxs = np.empty(n_steps)
        jrs = np.empty(n_steps)
        loss, g_r, g_c, g_xs = da_loss_gradient(
            rs[j], cs[i], x_star, x0, dt, n_steps, n_target, scheme, cap, xs, jxs, jrs
        )
        out[i, j, 0] = loss
        out[i, j, 1] = g_r
        out[i, j, 2] = g_c
        out[i, j, 3] = g_xs
    return out


@numba.njit(cache=True, error_model="numpy")
def train_one(
    r0,
    lr,
    n_epochs,
    optimizer,
    beta1,
    beta2,
    eps,
    mode,
    c,
    x_star,
    x0,
    dt,
    n_steps,
    n_target,
    scheme,
    cap,
    T,
    record_every,
    table,
    geometry,
    loss_hist,
    r_hist,
    grad_hist,
):
    """Train r for ``n_epochs`` updates; histories hold the values *before* each recorded update.

    Row e // record_every of the histories is epoch e (e = 0 .. n_epochs, the last row being
    the final r and its loss). Returns the first epoch whose loss, gradient or r was
    non-finite (divergence), or −1.
    """
    work = np.empty((3, n_steps + 1 if mode == 0 else 1))
    # r, its gradient and the optimiser's moments as the 1-vectors optimizer_step updates
    theta = np.empty(1)
    grad = np.empty(1)
    m1 = np.zeros(1)
    m2 = np.zeros(1)
    r = r0
    for e in range(n_epochs + 1):
        record = e % record_every == 0
        if mode == 1 and not record:
            # the c → ∞ loss is not needed between recorded epochs (half the cost)
            loss = 0.0
            g = nf_analytic_grad(r, T)
        else:
            loss, g = loss_and_gradient_r(
                r, c, x_star, x0, dt, n_steps, n_target, scheme, cap, T, mode, work, table, geometry
            )
        if record:
            row = e // record_every
            loss_hist[row] = loss
            r_hist[row] = r
            grad_hist[row] = g
        if not (math.isfinite(loss) and math.isfinite(g) and math.isfinite(r)):
            return e
        if e == n_epochs:
            break
        theta[0] = r
        grad[0] = g
        # The code as a compile-time constant at each call: LLVM then keeps only that
        # optimiser's update (a run-time code costs ~0.2 µs per SGD step, 8x the step itself).
        if optimizer == SGD:
            optimizer_step(SGD, theta, grad, lr, beta1, beta2, eps, m1, m2, e + 1)
        elif optimizer == MOMENTUM:
            optimizer_step(MOMENTUM, theta, grad, lr, beta1, beta2, eps, m1, m2, e + 1)
        else:
            optimizer_step(ADAM, theta, grad, lr, beta1, beta2, eps, m1, m2, e + 1)
        r = theta[0]
    return -1


@numba.njit(parallel=True, cache=True, error_model="numpy")
def train_batch(
    r0s,
    lrs,
    n_epochs,
    optimizer,
    beta1,
    beta2,
    eps,
    mode,
    c,
    x_star,
    x0,
    dt,
    n_steps,
    n_target,
    scheme,
    cap,
    T,
    record_every,
    table,
    geometry,
):
    """Independent runs (r0s[i], lrs[i]) in parallel; histories of shape (runs, rows)."""
    n_runs = r0s.shape[0]
    rows = n_epochs // record_every + 1
    loss_hist = np.full((n_runs, rows), np.nan)
    r_hist = np.full((n_runs, rows), np.nan)
    grad_hist = np.full((n_runs, rows), np.nan)
    diverged = np.empty(n_runs, dtype=np.int64)
    for i in numba.prange(n_runs):
        diverged[i] = train_one(
            r0s[i],
            lrs[i],
            n_epochs,
            optimizer,
            beta1,
            beta2,
            eps,
            mode,
            c,
            x_star,
            x0,
            dt,
            n_steps,
            n_target,
            scheme,
            cap,
            T,
            record_every,
            table,
            geometry,
            loss_hist[i],
            r_hist[i],
            grad_hist[i],
        )
    return loss_hist, r_hist, grad_hist, diverged
