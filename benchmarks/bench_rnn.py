"""Per-epoch cost of the RNN engine against NumPy BPTT and PyTorch eager, same process.

Settings (docs/experiments.md §3.2 and §8.4):

* rank-one DA (Fig. 3A): N = 100, 40 steps, one trial, SGD, latent readout σ(10(κ − 1));
* full-rank DCD (Fig. 8C): N = 100, batch 20, 22 steps, Adam, noise 1e-3, random r₀.

Prints µs/epoch of each implementation and the ratios; the fraction of this machine's
single-core NumPy matmul FLOP rate reached by the full-rank engine; and network-epochs/s
when many networks train at once on all cores (prange over networks).

PyTorch is optional (``pip install torch==2.13.0``); it runs float32 and one thread, written
the way the authors' scripts are (an eager loop over time steps, autograd, torch.optim).

Run: ``python benchmarks/bench_rnn.py [--quick]``.
"""

from __future__ import annotations

import argparse
import math
import os
import time

# single-core BLAS for the NumPy yardsticks and the engine's matmuls (set before NumPy loads)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from ghostsym import training  # noqa: E402

N = 100
ALPHA = 0.5


def _best(fn, repeats: int) -> float:
    """Best of ``repeats`` calls, seconds (timing noise here is ±10–30%)."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


# ---- the engine ------------------------------------------------------------------------
def engine_seconds_per_epoch(config, epochs: int, repeats: int) -> float:
    training.train(config.replace(epochs=min(epochs, 50)))  # load / compile
    cfg = config.replace(epochs=epochs)
    return _best(lambda: training.train(cfg), repeats) / epochs


# ---- NumPy, the same BPTT ------------------------------------------------------------------
def numpy_rank1_da(epochs: int, lr: float = 0.003, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    m, n, b = rng.normal(0, 0.1, N), rng.normal(0, 0.1, N), np.zeros(N)
    steps, delay, c, kstar = 40, 20, 10.0, 1.0
    y = np.r_[np.zeros(delay), np.ones(delay)]
    xs = np.empty((steps + 1, N))
    dphi = np.empty((steps, N))
    for _ in range(epochs):
        xs[0] = -0.3
        for t in range(steps):
            phi = np.tanh(m * (n @ xs[t]) + b)
            xs[t + 1] = (1 - ALPHA) * xs[t] + ALPHA * phi
            dphi[t] = ALPHA * (1 - phi * phi)
        kappa = xs[1:] @ n
        yhat = 1 / (1 + np.exp(-c * (kappa - kstar)))
        dz = 2 / delay * (yhat - y) * yhat * (1 - yhat) * c
        gm, gn, gb = np.zeros(N), np.zeros(N), np.zeros(N)
        lam = np.zeros(N)
        for s in range(steps, 0, -1):
            lam += dz[s - 1] * n
            gn += dz[s - 1] * xs[s]
            delta = lam * dphi[s - 1]
            k = n @ xs[s - 1]
            mu = m @ delta
            gb += delta
            gm += delta * k
            gn += mu * xs[s - 1]
            lam = (1 - ALPHA) * lam + mu * n
        _norm = math.sqrt(gm @ gm + gn @ gn + gb @ gb)
        m -= lr * gm
        n -= lr * gn
        b -= lr * gb


def numpy_full_dcd(epochs: int, lr: float = 0.1, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    task = training.task_preset("dcd", trials_per_condition=10)
    u, y = task.arrays()
    trials, steps = y.shape
    w = rng.uniform(-0.17, 0.17, (N, N))
    w_in = rng.uniform(-0.24, 0.24, (N, 1))
    b = rng.uniform(-1, 1, N)
    w_out = rng.uniform(-0.24, 0.24, N)
    b_out = np.zeros(())
    params = [w, w_in, b, w_out, b_out]
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    xs = np.empty((steps + 1, trials, N))
    dphi = np.empty((steps, trials, N))
    scale = 1.0 / (trials * steps)
    for epoch in range(epochs):
        xs[0] = np.tanh(0.1 * rng.standard_normal((trials, N)))
        for t in range(steps):
            h = xs[t] @ w.T + u[:, t] @ w_in.T + b + 1e-3 * rng.standard_normal((trials, N))
            phi = np.tanh(h)
            xs[t + 1] = (1 - ALPHA) * xs[t] + ALPHA * phi
            dphi[t] = ALPHA * (1 - phi * phi)
        yhat = np.tanh(xs[:steps] @ w_out + b_out)  # (steps, trials), pre-update readout
        dz = 2 * scale * (yhat - y.T) * (1 - yhat * yhat)
        grads = [np.zeros_like(p) for p in params]
        grads[3] = np.einsum("st,stn->n", dz, xs[:steps])
        grads[4] = np.asarray(dz.sum())
        lam = np.zeros((trials, N))
        deltas = np.empty((steps, trials, N))
        for s in range(steps, -1, -1):
            if s < steps:
                lam += dz[s][:, None] * w_out
            if s == 0:
                break
            delta = lam * dphi[s - 1]
            deltas[s - 1] = delta
            grads[1] += delta.T @ u[:, s - 1]
            grads[2] += delta.sum(0)
            lam = (1 - ALPHA) * lam + delta @ w
        grads[0] = deltas.reshape(-1, N).T @ xs[:steps].reshape(-1, N)
        _norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
        bc1, bc2 = 1 - 0.9 ** (epoch + 1), 1 - 0.999 ** (epoch + 1)
        for p, g, a, v in zip(params, grads, m1, m2, strict=True):
            a += (g - a) * 0.1
            v *= 0.999
            v += 0.001 * g * g
            p -= lr / bc1 * a / (np.sqrt(v) / math.sqrt(bc2) + 1e-8)


# ---- PyTorch eager, like the paper's scripts ---------------------------------------------
def torch_rank1_da(torch, epochs: int, lr: float = 0.003):
    torch.manual_seed(40)
    m = torch.nn.Parameter(torch.randn(N, 1) / math.sqrt(N))
    n = torch.nn.Parameter(torch.randn(N, 1) / math.sqrt(N))
    b = torch.nn.Parameter(torch.zeros(1, N))
    opt = torch.optim.SGD([m, n, b], lr=lr)
    target = torch.cat([torch.zeros(20), torch.ones(20)])
    for _ in range(epochs):
        opt.zero_grad()
        x = torch.zeros(1, N) - 0.3
        outs = []
        for _t in range(40):
            kappa = x @ n
            x = (1 - ALPHA) * x + ALPHA * torch.tanh(kappa @ m.T + b)
            outs.append(torch.sigmoid(10.0 * (x @ n - 1.0)))
        out = torch.cat(outs).squeeze()
        loss = torch.sum((out - target) ** 2) / 20
        loss.backward()
        _g = torch.sqrt(sum(torch.sum(p.grad**2) for p in (m, n, b))).item()
        opt.step()


def torch_full_dcd(torch, epochs: int, lr: float = 0.1):
    torch.manual_seed(0)
    task = training.task_preset("dcd", trials_per_condition=10)
    u_np, y_np = task.arrays()
    u = torch.tensor(u_np, dtype=torch.float32)
    y = torch.tensor(y_np, dtype=torch.float32)
    trials, steps = y_np.shape
    rec = torch.nn.Linear(N, N, bias=False)
    inp = torch.nn.Linear(1, N)
    out = torch.nn.Linear(N, 1)
    params = [*rec.parameters(), *inp.parameters(), *out.parameters()]
    opt = torch.optim.Adam(params, lr=lr)
    loss_fn = torch.nn.MSELoss()
    for _ in range(epochs):
        opt.zero_grad()
        r = torch.tanh(0.1 * torch.randn(trials, N))
        outs = []
        for t in range(steps):
            outs.append(torch.tanh(out(r)))
            noise = 1e-3 * torch.randn(trials, N)
            r = (1 - ALPHA) * r + ALPHA * torch.tanh(inp(u[:, t]) + rec(r) + noise)
        loss = loss_fn(torch.cat(outs, dim=1), y)
        loss.backward()
        _g = torch.linalg.norm(rec.weight.grad).item()
        opt.step()


def matmul_flops_per_second(size: int = 512, repeats: int = 20) -> float:
    a = np.random.default_rng(0).standard_normal((size, size))
    b = np.random.default_rng(1).standard_normal((size, size))
    seconds = _best(lambda: a @ b, repeats)
    return 2 * size**3 / seconds


def full_rank_flops_per_epoch(trials: int = 20, steps: int = 22) -> float:
    """Matrix work of one full-rank epoch: forward W x, backward Wᵀδ and Σδxᵀ (3 × 2N²BS)."""
    return 3 * 2 * N * N * trials * steps


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs (noisier)")
    args = parser.parse_args(argv)
    scale = 0.2 if args.quick else 1.0
    repeats = 3

    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        torch = None

    rank1 = training.build_config(preset="fig3a", epochs=100)
    full = training.build_config(preset="fig8c", epochs=100, interventions=[])

    print("== rank-one DA (Fig. 3A: N = 100, 40 steps, 1 trial, SGD) ==")
    e_r1 = engine_seconds_per_epoch(rank1, int(20000 * scale), repeats)
    n_r1 = _best(lambda: numpy_rank1_da(int(300 * scale)), repeats) / int(300 * scale)
    print(f"  ghostsym engine : {e_r1 * 1e6:9.1f} µs/epoch (500,000 epochs: {e_r1 * 5e5:.1f} s)")
    print(f"  NumPy BPTT      : {n_r1 * 1e6:9.1f} µs/epoch   ratio {n_r1 / e_r1:7.1f}×")
    if torch is not None:
        t_r1 = _best(lambda: torch_rank1_da(torch, int(100 * scale)), repeats) / int(100 * scale)
        print(f"  PyTorch eager   : {t_r1 * 1e6:9.1f} µs/epoch   ratio {t_r1 / e_r1:7.1f}×")
    else:
        print("  PyTorch eager   : not installed (pip install torch==2.13.0)")

    print("== full-rank DCD (Fig. 8C: N = 100, batch 20, 22 steps, Adam, noise) ==")
    e_f = engine_seconds_per_epoch(full, int(2000 * scale), repeats)
    n_f = _best(lambda: numpy_full_dcd(int(100 * scale)), repeats) / int(100 * scale)
    print(f"  ghostsym engine : {e_f * 1e6:9.1f} µs/epoch")
    print(f"  NumPy BPTT      : {n_f * 1e6:9.1f} µs/epoch   ratio {n_f / e_f:7.1f}×")
    if torch is not None:
        t_f = _best(lambda: torch_full_dcd(torch, int(50 * scale)), repeats) / int(50 * scale)
        print(f"  PyTorch eager   : {t_f * 1e6:9.1f} µs/epoch   ratio {t_f / e_f:7.1f}×")
    peak = matmul_flops_per_second()
    rate = full_rank_flops_per_epoch() / e_f
    print(
        f"  matrix FLOP rate: {rate / 1e9:.2f} GFLOP/s = {rate / peak:.0%} of NumPy's "
        f"single-core matmul ({peak / 1e9:.1f} GFLOP/s)"
    )

    print("== many networks at once (prange over networks, all cores) ==")
    for name, cfg, epochs in (
        ("rank-one DA", rank1, int(4000 * scale)),
        ("full-rank DCD", full, int(200 * scale)),
    ):
        count = 16
        configs = [cfg.replace(seed=s, epochs=epochs) for s in range(count)]
        training.train_many([c.replace(epochs=10) for c in configs])
        seconds = _best(lambda configs=configs: training.train_many(configs), 2)
        single = engine_seconds_per_epoch(cfg, epochs, 2)
        rate = count * epochs / seconds
        print(
            f"  {name:14s}: {count} networks, {rate:10.0f} network-epochs/s "
            f"({rate * single:.2f}× one network's rate)"
        )


if __name__ == "__main__":
    main()
