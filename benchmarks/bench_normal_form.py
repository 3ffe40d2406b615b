"""Speed of the normal-form trainer: numba against a straightforward NumPy loop, same process.

Run: ``python benchmarks/bench_normal_form.py`` (prints timings and ratios; not a test).

1. Fig. 2D sweep with the analytical gradient: 100 learning rates × 10 starts × 10,000
   epochs of GD on dx/dt = x² + r (numba ``prange`` over runs) vs NumPy vectorised over the
   1000 runs with a Python loop over epochs.
2. Simulated gradient (Euler, dt = 0.1, 2000 steps, exact adjoint) vs NumPy vectorised over
   runs with Python loops over epochs and time steps; the cost of the full simulated Fig. 2D
   sweep is extrapolated from the measured per-run-epoch time.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ghostsym.analysis.normal_form_numerics import analyse_normal_form

T, DT, C, X_STAR = 100.0, 0.1, 1.0, 10.0
R_STAR = math.pi**2 / (4 * T**2)


def best_of(fn, repeat=3):
    """Best wall time of ``repeat`` calls (and the CPU time of that call, all threads)."""
    best = (math.inf, math.inf)
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        best = min(best, (time.perf_counter() - t, time.process_time() - c))
    return best, out


def show(name, times):
    print(f"   {name:<36s} wall {times[0]:8.4f} s   cpu {times[1]:8.4f} s")


def numpy_analytic_sweep(r0, lr, epochs):
    """Plain GD with Eq. 21, vectorised over runs (docs/experiments.md §2.3)."""
    r = r0.copy()
    loss = np.empty((epochs + 1, r.size))
    for e in range(epochs + 1):
        with np.errstate(invalid="ignore", divide="ignore"):
            t_esc = math.pi / (2 * np.sqrt(np.maximum(r, 1e-300)))
            g = math.pi / (4 * np.maximum(r, 1e-300) ** 1.5)
        early, late = r >= R_STAR, r >= R_STAR / 4
        loss[e] = np.where(early, T - t_esc, np.where(late, t_esc - T, T))
        grad = np.where(early, g, np.where(late, -g, 0.0))
        if e < epochs:
            r -= lr * grad
    return r, loss


def numpy_simulated_training(r0, lr, epochs):
    """GD with the exact discrete adjoint gradient, vectorised over runs."""
    n, n_t = int(round(2 * T / DT)), int(round(T / DT))
    r = r0.copy()
    xs = np.empty((n + 1, r.size))
    for _ in range(epochs):
        x = np.zeros_like(r)
        xs[0] = x
        for k in range(n):
            x = np.minimum(x + DT * (x * x + r), 1e6)
            xs[k + 1] = x
        lam = np.zeros_like(r)
        g = np.zeros_like(r)
        for k in range(n, 0, -1):
            z = C * (xs[k] - X_STAR)
            s = 0.5 * (1 + np.tanh(0.5 * z))
            res = s - (1.0 if k > n_t else 0.0)
            lam += 2 * DT * res * s * (1 - s) * C
            clipped = xs[k] >= 1e6
            g += np.where(clipped, 0.0, lam * DT)
            lam *= np.where(clipped, 0.0, 1 + 2 * DT * xs[k - 1])
        r -= lr * g
    return r


def main() -> None:
    a = analyse_normal_form("x**2 + r", T)
    sim, alpha = a.sim, a.values["alpha_star"]
    rng = np.random.default_rng(0)
    lrs = np.repeat(np.geomspace(1e-11, 1e-8, 100), 10)
    r0 = 10 * R_STAR + R_STAR / 10 * rng.standard_normal(lrs.size)

    # warm-up (compilation or cache load)
    sim.train_r(r0[:4], lrs[:4], epochs=10, gradient="analytic")
    sim.train_r(r0[:2], lrs[:2], epochs=2, c=C)

    print("1) Fig. 2D sweep, analytical gradient: 1000 runs x 10,000 epochs")
    for every in (1000, 1):
        t_nb, run = best_of(
            lambda every=every: sim.train_r(
                r0, lrs, epochs=10_000, gradient="analytic", record_every=every
            )
        )
        show(f"numba, record every {every} epochs", t_nb)
    t_np, (r_np, _) = best_of(lambda: numpy_analytic_sweep(r0, lrs, 10_000), repeat=1)
    show("NumPy loop over epochs", t_np)
    print(f"   ratio NumPy / numba: wall {t_np[0] / t_nb[0]:.1f}x, cpu {t_np[1] / t_nb[1]:.1f}x")
    # oscillation around r* amplifies last-bit differences (sqrt vs pow), so compare outcomes
    differ = int(np.sum((run.r[:, -1] < R_STAR / 4) != (r_np < R_STAR / 4)))
    print(f"   runs trapped in one implementation only: {differ} of {lrs.size} (at lr ≈ α*)")

    print("2) simulated gradient (Euler dt = 0.1, 2000 steps, exact adjoint)")
    n_runs, epochs = 16, 20
    rr0 = np.full(n_runs, 3 * R_STAR)
    rlr = np.full(n_runs, 0.5 * alpha)
    t_nb, run = best_of(lambda: sim.train_r(rr0, rlr, epochs=epochs, c=C, x_star=X_STAR))
    t_np, r_np = best_of(lambda: numpy_simulated_training(rr0, rlr, epochs), repeat=1)
    show(f"numba {n_runs} runs x {epochs} epochs", t_nb)
    show("NumPy (vectorised over runs)", t_np)
    print(f"   ratio NumPy / numba: wall {t_np[0] / t_nb[0]:.1f}x, cpu {t_np[1] / t_nb[1]:.1f}x")
    # the c = 1, dt = 0.1 landscape is rippled (lr·L'' > 1): compare before chaos sets in
    check = sim.train_r(rr0, rlr, epochs=3, c=C, x_star=X_STAR).r[:, -1]
    diff = np.max(np.abs(check / numpy_simulated_training(rr0, rlr, 3) - 1))
    print(f"   max relative difference of r after 3 epochs: {diff:.2g}")
    t_big, _ = best_of(lambda: sim.train_r(r0[:64], lrs[:64], epochs=200, c=C), repeat=1)
    per = t_big[0] / (64 * 200)
    print(
        f"   full simulated Fig. 2D sweep (1000 runs x 10,000 epochs) extrapolated: "
        f"{per * 1e7:.0f} s ({per * 1e6:.1f} µs/run-epoch over 64 runs in parallel)"
    )


if __name__ == "__main__":
    main()
