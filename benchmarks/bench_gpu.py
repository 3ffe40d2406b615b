"""Network-epochs per second of the CUDA engine against JAX ``vmap`` and PyTorch batched, on
the same GPU in the same process (docs/gpu.md §3).

Workloads (the settings of benchmarks/bench_rnn.py, docs/experiments.md §3.2, §8.4):

* ``rank1-da``: rank-one DA (Fig. 3A), N = 100, 40 steps, one trial, SGD, latent readout;
* ``full-da``: full-rank DA, N = 100, 40 steps, one trial, SGD, population readout;
* ``full-dcd``: full-rank DCD (Fig. 8C), N = 100, batch 20, 22 steps, Adam, noise 1e-3,
  random r₀.

Every implementation trains C independent networks for E epochs, in float64, starting from
the same parameters (ghostsym's initialisation, packed θ); each is measured at several C and
reported at its best. JAX: one ``jit`` of ``lax.fori_loop`` over epochs of a ``vmap``-ped
``value_and_grad`` (the whole loop on the device); PyTorch: networks as a batch dimension,
autograd, one Python iteration per epoch. Before timing, the DA workloads check that JAX's
and PyTorch's first-epoch losses equal the CUDA engine's (same θ, no randomness).

By default the run first executes ``tests/training/test_cuda_sim.py`` on the real device
(``GHOSTSYM_CUDA_REAL=1``: the CPU-agreement tests, kernels on the GPU), then benchmarks,
then writes ``bench_gpu.json`` and ``bench_gpu.png`` into ``--out``.

Run on a GPU machine:   ``python benchmarks/bench_gpu.py --out results/gpu``
CPU smoke test:         ``python benchmarks/bench_gpu.py --sim --out /tmp/gpu-smoke``
(``--sim``: numba's CUDA simulator and tiny sizes; checks that the script works, measures
nothing about GPUs.)
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _arguments(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="directory for bench_gpu.json and bench_gpu.png")
    p.add_argument("--sim", action="store_true", help="CUDA simulator, tiny sizes (smoke test)")
    p.add_argument("--no-tests", action="store_true", help="skip the device agreement tests")
    p.add_argument("--only", nargs="*", help="workloads to run (default: all)")
    p.add_argument("--skip", nargs="*", default=[], help="implementations to skip (jax, torch)")
    p.add_argument("--seconds", type=float, default=1.5, help="target seconds per measurement")
    p.add_argument(
        "--budget", type=float, default=420.0, help="stop starting measurements after this"
    )
    return p.parse_args(argv)


ARGS = _arguments() if __name__ == "__main__" else None
if ARGS is not None and ARGS.sim:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"  # before numba is imported
    import warnings

    # the simulator runs SplitMix64 on NumPy uint64 scalars, which wrap around on purpose
    warnings.filterwarnings("ignore", "overflow encountered in scalar", RuntimeWarning)

import numpy as np  # noqa: E402

from ghostsym import training  # noqa: E402
from ghostsym.io import write_json  # noqa: E402
from ghostsym.numerics import spec  # noqa: E402
from ghostsym.training import cuda_engine  # noqa: E402
from ghostsym.training import engine as cpu_engine  # noqa: E402

#: Targets of docs/gpu.md §3 on one H200 (network-epochs/s), drawn as reference lines.
TARGETS = {"rank1-da": 10e6, "full-da": 1e6, "full-dcd": 1e6}


def workloads(sim: bool) -> dict[str, training.TrainingConfig]:
    if sim:
        small = {"neurons": 6, "epochs": 4}
        return {
            "rank1-da": training.build_config(model="rank1", task="da", delay=3, **small),
            "full-da": training.build_config(model="full", task="da", delay=3, **small),
            "full-dcd": training.build_config(
                preset="fig8c",
                cue=1,
                delay=2,
                response=2,
                trials_per_condition=2,
                interventions=[],
                **small,
            ),  # fmt: skip
        }
    return {
        "rank1-da": training.build_config(preset="fig3a", epochs=1000),
        "full-da": training.build_config(model="full", task="da", epochs=1000),
        "full-dcd": training.build_config(preset="fig8c", epochs=1000, interventions=[]),
    }


def batch_sizes(name: str, impl: str, sim: bool) -> list[int]:
    if sim:
        return [2, 4]
    if name == "rank1-da":
        return [2048, 8192, 32768, 131072] if impl == "ghostsym" else [2048, 8192, 32768]
    return [512, 2048, 8192] if impl == "ghostsym" else [256, 1024, 4096]


# ---- packed start: the same θ for every implementation ---------------------------------
class Start:
    """ghostsym's batch arrays for ``count`` networks (16 distinct initialisations, tiled)."""

    def __init__(self, config, count: int):
        distinct = min(count, 16)
        batch = cpu_engine._Batch([config.replace(seed=s) for s in range(distinct)], None)
        reps = -(-count // distinct)
        self.config = config
        self.count = count
        self.theta = np.ascontiguousarray(np.tile(batch.theta, (reps, 1))[:count])
        self.ispec, self.fspec, self.u, self.y = batch.ispec, batch.fspec, batch.u, batch.y
        self.train_mask = batch.train_mask
        self.norm_mask = batch.norm_mask
        self.opt = config.optimizer
        self.opt_kind = int(batch.opt_kind[0])
        self.lr = float(config.lr)
        self.hyper = batch.hyper[0]

    def arrays(self, epochs: int) -> dict[str, np.ndarray]:
        c = self.count
        nan = np.full((c, epochs), np.nan)
        return {
            "theta": self.theta.copy(),
            "m1": np.zeros_like(self.theta),
            "m2": np.zeros_like(self.theta),
            "steps_done": np.zeros(c, dtype=np.int64),
            "ispec": self.ispec,
            "fspec": self.fspec,
            "u": self.u,
            "y": self.y,
            "seeds": np.arange(c, dtype=np.int64),
            "opt_kind": np.full(c, self.opt_kind, dtype=np.int64),
            "lr": np.full(c, self.lr),
            "hyper": np.tile(self.hyper, (c, 1)),
            "train_mask": self.train_mask,
            "norm_mask": self.norm_mask,
            "loss_hist": nan,
            "norm_hist": nan.copy(),
            "acc_hist": nan.copy(),
            "status": np.full(c, -1, dtype=np.int64),
        }

    def get(self, slot: str) -> int:
        return int(self.ispec[getattr(spec, f"I_{slot}")])

    def getf(self, slot: str) -> float:
        return float(self.fspec[getattr(spec, f"F_{slot}")])


# ---- ghostsym CUDA ---------------------------------------------------------------------
def ghostsym_run(start: Start, epochs: int) -> tuple[float, np.ndarray]:
    arrays = start.arrays(epochs)
    t0 = time.perf_counter()
    cuda_engine.train_arrays(start.config.model.activation, arrays, 0, epochs)
    return time.perf_counter() - t0, arrays["loss_hist"][:, 0]


# ---- JAX vmap ----------------------------------------------------------------------------
def jax_runner(start: Start):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    n, k, d, steps, trials = (start.get(s) for s in ("N", "K", "D", "S", "B"))
    readout, out_kind, post = start.get("READOUT"), start.get("OUTPUT"), start.get("POST")
    alpha = start.getf("ALPHA")
    scale, x0c, rate_sd, noise_sd = (start.getf(s) for s in ("LOSS_SCALE", "X0", "RATE_SD",
                                                             "NOISE_SD"))  # fmt: skip
    o = {s: start.get(f"O_{s}") for s in ("U", "V", "W", "B", "WIN", "WOUT", "BOUT", "C", "KS")}
    u = jnp.asarray(start.u.transpose(1, 0, 2))  # (S, B, D)
    y = jnp.asarray(start.y.T)  # (S, B)
    mask = jnp.asarray(start.train_mask)
    random_x0 = start.get("RANDOM_X0") == 1
    lr, (b1, b2, eps) = start.lr, (float(v) for v in start.hyper)

    def loss_fn(theta, key):
        b = theta[o["B"] : o["B"] + n]
        if k:
            um = theta[o["U"] : o["U"] + k * n].reshape(k, n)
            vm = theta[o["V"] : o["V"] + k * n].reshape(k, n)
        else:
            w = theta[o["W"] : o["W"] + n * n].reshape(n, n)
        k0, k1 = jax.random.split(key)
        if random_x0:
            x0 = jnp.tanh(rate_sd * jax.random.normal(k0, (trials, n)))
        else:
            x0 = jnp.full((trials, n), x0c)
        noise = noise_sd * jax.random.normal(k1, (steps, trials, n))

        def step(x, inputs):
            ut, zt = inputs
            h = (x @ vm.T) @ um + b if k else x @ w.T + b
            if d:
                h = h + ut @ theta[o["WIN"] : o["WIN"] + d * n].reshape(d, n)
            if noise_sd:
                h = h + zt
            xn = (1 - alpha) * x + alpha * jnp.tanh(h)
            return xn, (xn if post else x)

        _, read = jax.lax.scan(step, x0, (u, noise))
        if readout == spec.READOUT_LATENT:
            z = theta[o["C"]] * (read @ vm[0] - theta[o["KS"]])
        elif readout == spec.READOUT_LATENT_LINEAR:
            z = (read @ vm.T) @ theta[o["WOUT"] : o["WOUT"] + k] + theta[o["BOUT"]]
        else:
            z = read @ theta[o["WOUT"] : o["WOUT"] + n] + theta[o["BOUT"]]
        g = jax.nn.sigmoid(z) if out_kind == spec.OUTPUT_SIGMOID else jnp.tanh(z)
        return scale * jnp.sum((g - y) ** 2)

    grad_fn = jax.vmap(jax.value_and_grad(loss_fn))

    @jax.jit
    def first_loss(theta):
        keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(theta.shape[0]))
        return grad_fn(theta, keys)[0]

    def train(theta, epochs):
        keys0 = jax.vmap(jax.random.PRNGKey)(jnp.arange(theta.shape[0]))

        def body(e, carry):
            th, m1, m2 = carry
            keys = jax.vmap(lambda key: jax.random.fold_in(key, e))(keys0)
            _, g = grad_fn(th, keys)
            g = g * mask
            if start.opt == "adam":
                t = e + 1
                m1 = m1 + (g - m1) * (1 - b1)
                m2 = b2 * m2 + (1 - b2) * g * g
                th = th - (lr / (1 - b1**t)) * m1 / (jnp.sqrt(m2) / jnp.sqrt(1 - b2**t) + eps)
            elif start.opt == "momentum":
                m1 = b1 * m1 + g
                th = th - lr * m1
            else:
                th = th - lr * g
            return th, m1, m2

        zeros = jnp.zeros_like(theta)
        return jax.lax.fori_loop(0, epochs, body, (theta, zeros, zeros))[0]

    train_jit = jax.jit(train, static_argnums=1)

    def run(epochs: int) -> float:
        theta = jnp.asarray(start.theta)
        train_jit(theta, epochs).block_until_ready()  # compile for this size
        t0 = time.perf_counter()
        train_jit(theta, epochs).block_until_ready()
        return time.perf_counter() - t0

    return run, lambda: np.asarray(first_loss(jnp.asarray(start.theta))), jax.devices()[0]


# ---- PyTorch batched ------------------------------------------------------------------------
def torch_runner(start: Start):
    import torch

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    f64 = torch.float64
    n, k, d, steps, trials = (start.get(s) for s in ("N", "K", "D", "S", "B"))
    readout, out_kind, post = start.get("READOUT"), start.get("OUTPUT"), start.get("POST")
    alpha = start.getf("ALPHA")
    scale, x0c, rate_sd, noise_sd = (start.getf(s) for s in ("LOSS_SCALE", "X0", "RATE_SD",
                                                             "NOISE_SD"))  # fmt: skip
    o = {s: start.get(f"O_{s}") for s in ("U", "V", "W", "B", "WIN", "WOUT", "BOUT", "C", "KS")}
    u = torch.as_tensor(start.u, dtype=f64, device=dev)  # (B, S, D)
    y = torch.as_tensor(start.y, dtype=f64, device=dev)  # (B, S)
    mask = torch.as_tensor(start.train_mask, dtype=f64, device=dev)
    random_x0 = start.get("RANDOM_X0") == 1
    lr, (b1, b2, eps) = start.lr, (float(v) for v in start.hyper)

    def loss(theta):
        c = theta.shape[0]
        b = theta[:, o["B"] : o["B"] + n].unsqueeze(1)
        if k:
            um = theta[:, o["U"] : o["U"] + k * n].view(c, k, n)
            vm = theta[:, o["V"] : o["V"] + k * n].view(c, k, n)
        else:
            w = theta[:, o["W"] : o["W"] + n * n].view(c, n, n)
        if random_x0:
            x = torch.tanh(rate_sd * torch.randn(c, trials, n, dtype=f64, device=dev))
        else:
            x = torch.full((c, trials, n), x0c, dtype=f64, device=dev)
        win = theta[:, o["WIN"] : o["WIN"] + d * n].view(c, d, n) if d else None
        reads = []
        for t in range(steps):
            h = (
                torch.bmm(torch.bmm(x, vm.transpose(1, 2)), um)
                if k
                else torch.bmm(x, w.transpose(1, 2))
            )
            h = h + b
            if d:
                h = h + torch.matmul(u[:, t], win)
            if noise_sd:
                h = h + noise_sd * torch.randn(c, trials, n, dtype=f64, device=dev)
            xn = (1 - alpha) * x + alpha * torch.tanh(h)
            reads.append(xn if post else x)
            x = xn
        read = torch.stack(reads, 2)  # (C, B, S, N)
        if readout == spec.READOUT_LATENT:
            kap = torch.einsum("cbsn,cn->cbs", read, vm[:, 0])
            z = theta[:, o["C"], None, None] * (kap - theta[:, o["KS"], None, None])
        elif readout == spec.READOUT_LATENT_LINEAR:
            kap = torch.einsum("cbsn,ckn->cbsk", read, vm)
            z = torch.einsum("cbsk,ck->cbs", kap, theta[:, o["WOUT"] : o["WOUT"] + k])
            z = z + theta[:, o["BOUT"], None, None]
        else:
            z = torch.einsum("cbsn,cn->cbs", read, theta[:, o["WOUT"] : o["WOUT"] + n])
            z = z + theta[:, o["BOUT"], None, None]
        g = torch.sigmoid(z) if out_kind == spec.OUTPUT_SIGMOID else torch.tanh(z)
        return scale * ((g - y) ** 2).sum(dim=(1, 2))  # (C,)

    def run(epochs: int) -> float:
        theta = torch.as_tensor(start.theta, dtype=f64, device=dev).clone().requires_grad_(True)
        m1, m2 = torch.zeros_like(theta), torch.zeros_like(theta)

        def epoch(e):
            theta.grad = None
            loss(theta).sum().backward()
            with torch.no_grad():
                g = theta.grad * mask
                if start.opt == "adam":
                    t = e + 1
                    m1.add_((g - m1) * (1 - b1))
                    m2.mul_(b2).add_((1 - b2) * g * g)
                    theta.sub_((lr / (1 - b1**t)) * m1 / (m2.sqrt() / math.sqrt(1 - b2**t) + eps))
                elif start.opt == "momentum":
                    m1.mul_(b1).add_(g)
                    theta.sub_(lr * m1)
                else:
                    theta.sub_(lr * g)

        epoch(0)  # warm-up (cuBLAS handles, allocator)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for e in range(epochs):
            epoch(e)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    def first():
        theta = torch.as_tensor(start.theta, dtype=f64, device=dev)
        with torch.no_grad():
            return loss(theta).cpu().numpy()

    return run, first, dev


# ---- measuring -----------------------------------------------------------------------------
def _epochs_for(rate_probe: float, count: int, seconds: float, lo: int, hi: int) -> int:
    return int(min(max(lo, seconds * rate_probe / count), hi))


def measure(name, config, impl, sim, seconds, deadline, log):
    rows = []
    best_rate = 0.0
    for count in batch_sizes(name, impl, sim):
        if time.perf_counter() > deadline:
            rows.append({"batch": count, "status": "skipped (time budget)"})
            continue
        try:
            start = Start(config, count)
            probe = 2 if sim else 4
            if impl == "ghostsym":
                ghostsym_run(start, 1)  # compile (first size) and warm up
                t, _ = ghostsym_run(start, probe)
                epochs = _epochs_for(count * probe / t, count, seconds, probe, 20000)
                t, _ = ghostsym_run(start, epochs) if not sim else (t, None)
                epochs = epochs if not sim else probe
            else:
                runner = jax_runner if impl == "jax" else torch_runner
                run, _, _ = runner(start)
                t = run(probe)
                epochs = _epochs_for(count * probe / t, count, seconds, probe, 20000)
                t = run(epochs) if not sim else t
                epochs = epochs if not sim else probe
            rate = count * epochs / t
            rows.append({"batch": count, "epochs": epochs, "seconds": t, "rate": rate,
                         "status": "ok"})  # fmt: skip
            log(f"  {impl:8s} {name:9s} C={count:7d} E={epochs:6d} {rate:12.4g} net-epochs/s")
            if rate < 0.8 * best_rate:
                break  # past the best batch size
            best_rate = max(best_rate, rate)
        except Exception as exc:  # out of memory, a missing library: recorded, not fatal
            rows.append({"batch": count, "status": f"error: {type(exc).__name__}: {exc}"[:300]})
            log(f"  {impl:8s} {name:9s} C={count:7d} error: {type(exc).__name__}: {exc}"[:200])
            break
    return rows


def same_losses(config, impls, log) -> dict:
    """First-epoch losses of JAX and PyTorch against the CUDA engine's (DA: no randomness)."""
    if config.task.name != "da":
        return {}
    start = Start(config, 4)
    _, gpu = ghostsym_run(start, 1)
    out = {}
    for impl in impls:
        try:
            runner = jax_runner if impl == "jax" else torch_runner
            _, first, _ = runner(start)
            other = first()
            rel = float(np.max(np.abs(other - gpu) / np.abs(gpu)))
            out[impl] = {"max_relative_difference": rel, "same": rel < 1e-9}
            log(f"  first-epoch loss, {impl} vs ghostsym: max relative difference {rel:.2e}")
        except Exception as exc:
            out[impl] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    return out


def device_tests(sim: bool, log) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))  # fmt: skip
    if not sim:
        env["GHOSTSYM_CUDA_REAL"] = "1"
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/training/test_cuda_sim.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    tail = proc.stdout.strip().splitlines()[-1:] or [proc.stderr[-300:]]
    log(f"device tests: {tail[0]} (exit {proc.returncode}, {time.perf_counter() - t0:.0f} s)")
    return {"returncode": proc.returncode, "summary": tail[0], "output": proc.stdout[-4000:]}


def figure(report: dict, path: Path) -> None:
    from ghostsym.analysis.phase_portrait import use_style

    use_style()
    import matplotlib.pyplot as plt

    names = list(report["workloads"])
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.6), squeeze=False)
    labels = {"ghostsym": "ghostsym CUDA kernel", "jax": "JAX vmap", "torch": "PyTorch batched"}
    for ax, name in zip(axes[0], names, strict=True):
        for impl, rows in report["workloads"][name]["results"].items():
            ok = [r for r in rows if r.get("status") == "ok"]
            if ok:
                ax.plot([r["batch"] for r in ok], [r["rate"] for r in ok], "o-",
                        label=labels[impl])  # fmt: skip
        if not report["simulator"]:
            ax.axhline(TARGETS[name], ls="--", color="0.4", lw=1,
                       label=f"target {TARGETS[name]:.0e}/s")  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("networks trained together $C$")
        ax.set_ylabel("network-epochs / s")
        ax.set_title(report["workloads"][name]["title"])
        ax.legend(fontsize=7)
    device = report["device"] + (" — smoke run at tiny sizes, not a GPU measurement"
                                 if report["simulator"] else "")  # fmt: skip
    fig.suptitle(device, fontsize=9)
    fig.tight_layout()
    from io import BytesIO

    from ghostsym.io import write_atomic

    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=130)
    plt.close(fig)
    write_atomic(path, buffer.getvalue(), skip_unchanged=False)


def title(name: str, config) -> str:
    kind = "rank one" if config.model.rank == 1 else "full rank"
    task = config.task
    trials = f", $B = {task.trials}$" if task.trials > 1 else ""
    return f"{kind}, {task.name.upper()} ($N = {config.model.neurons}${trials}, {task.steps} steps)"


def main(args) -> int:
    out = Path(args.out)
    t_start = time.perf_counter()
    deadline = t_start + args.budget

    def log(text):
        print(text, flush=True)

    if not cuda_engine.cuda_available():
        print("bench_gpu: error: " + cuda_engine.NO_DEVICE, file=sys.stderr)
        return 1
    report = {
        "simulator": bool(args.sim),
        "device": cuda_engine.device_name(),
        "python": platform.python_version(),
        "host": platform.node(),
        "workloads": {},
    }
    log(f"device: {report['device']}")
    if not args.no_tests:
        report["device_tests"] = device_tests(args.sim, log)
    impls = ["ghostsym"] + [i for i in ("jax", "torch") if i not in args.skip]
    for name, config in workloads(args.sim).items():
        if args.only and name not in args.only:
            continue
        log(f"== {name} ==")
        entry = {"title": title(name, config), "config": config.to_dict(), "results": {}}
        entry["loss_check"] = same_losses(config, impls[1:], log)
        for impl in impls:
            entry["results"][impl] = measure(name, config, impl, args.sim, args.seconds,
                                             deadline, log)  # fmt: skip
        best = {i: max((r["rate"] for r in rows if r.get("status") == "ok"), default=None)
                for i, rows in entry["results"].items()}  # fmt: skip
        entry["best"] = best
        report["workloads"][name] = entry
    log("")
    log(f"{'workload':10s} " + " ".join(f"{i:>14s}" for i in impls) + "   ghostsym/jax")
    for name, entry in report["workloads"].items():
        best = entry["best"]
        cells = " ".join(f"{best[i]:14.4g}" if best[i] else f"{'-':>14s}" for i in impls)
        ratio = best["ghostsym"] / best["jax"] if best.get("jax") and best["ghostsym"] else None
        log(f"{name:10s} {cells}   {ratio:.2f}" if ratio else f"{name:10s} {cells}")
    if args.sim:
        log("(simulator smoke run: these rates say nothing about a GPU)")
    report["seconds"] = time.perf_counter() - t_start
    write_json(out / "bench_gpu.json", report)
    figure(report, out / "bench_gpu.png")
    log(f"wrote {out / 'bench_gpu.json'} and {out / 'bench_gpu.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
