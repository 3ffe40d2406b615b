"""Many networks at once: the batched engine against the one-network engine, JAX and PyTorch.

Network-epochs per second, all in one process on the same cores:

* ``main engine``: ``train_many`` as it was before the batched engine — the one-network
  template of commit :data:`MAIN_REF` (the last ``main`` before the batched engine:
  fastmath reductions, BLAS, libm exp), built from ``git show MAIN_REF:…`` into a
  temporary module (skipped outside a git checkout; ``--main-ref`` picks another commit);
* ``one-network``: today's one-network engine (fixed operation order, vectorisable exp), one
  network per thread (prange over networks), forced with ``_Batch(..., batched=False)``;
* ``batched``: the batched engine (blocks of networks in SIMD lanes, prange over blocks);
* ``jax vmap``: the same model, loss by hand, gradient by ``jax.grad``, ``vmap`` over
  networks, epochs in ``lax.fori_loop``, ``jit``, float64 (optional: skipped if JAX is not
  importable);
* ``torch``: PyTorch, float64, every network's parameters stacked on a leading axis,
  autograd, plain SGD (optional).

Workloads: rank-one DA (Fig. 3A: N = 100, 40 steps, one trial, SGD, latent readout
σ(10(κ − 1))); full-rank DA (N = 100, 40 steps, population readout); full-rank DCD (N = 100,
cue 5, delay 10, response 5, 2 trials, tanh readout, constant x₀). For full rank it also
prints the fraction of this machine's FLOP rate (a NumPy float64 matmul on all cores, same
process) the implementation reaches, counting 6·S·B·N² flops per network-epoch (forward
W x, backward Wᵀδ and δxᵀ). First-call times (numba: loading or compiling the cached
kernels; JAX: tracing and XLA compilation) are printed separately.

Run: ``python benchmarks/bench_batched.py [--quick] [--networks M] [--json FILE]``;
``--json`` also writes the table (workloads × engines network-epochs/s, % of peak, first-call
times, the peak, the machine and its load average) as strict JSON.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from pathlib import Path

import numpy as np

from ghostsym.numerics.blas import single_threaded_blas
from ghostsym.training import build_config
from ghostsym.training.engine import _Batch

N = 100

#: The last commit of ``main`` before the batched engine (the "main engine" baseline).
MAIN_REF = "924edb5"


def _best(fn, repeats):
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


WORKLOADS = {
    "rank-one DA": dict(model="rank1", task="da", lr=0.003),
    "full-rank DA": dict(model="full", task="da", lr=0.01),
    "full-rank DCD": dict(
        model="full", task="dcd", cue=5, delay=10, response=5, initial_state=0.0, lr=0.01
    ),
}


def _configs(options, networks, epochs):
    return [build_config(seed=s, epochs=epochs, **options) for s in range(networks)]


# ---- ghostsym ---------------------------------------------------------------------------
def ghostsym_rate(options, networks, epochs, batched, repeats):
    first = time.perf_counter()
    with single_threaded_blas():
        _Batch(_configs(options, networks, 2), None, batched=batched).run()
    first = time.perf_counter() - first
    configs = _configs(options, networks, epochs)

    def go():
        with single_threaded_blas():
            _Batch(configs, None, batched=batched).run()

    return networks * epochs / _best(go, repeats), first


# ---- the engine of the main branch ---------------------------------------------------------
def main_engine(ref=MAIN_REF):
    """The one-network engine of git ``ref`` (template from ``git show``), or None."""
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    import sympy

    from ghostsym import codegen
    from ghostsym.codegen.rnn import OUTPUT_FUNCTIONS, value_and_slope

    root = Path(__file__).resolve().parents[1]
    try:
        source = subprocess.run(
            ["git", "show", f"{ref}:ghostsym/numerics/rnn_template.py"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    folder = Path(tempfile.mkdtemp(prefix="ghostsym-bench-"))
    (folder / "ghostsym_bench_main_template.py").write_text(source)
    sys.path.insert(0, str(folder))
    h, z = sympy.Symbol("h", real=True), sympy.Symbol("z", real=True)
    kernels = [codegen.Kernel("act", (h,), value_and_slope("tanh", h))]
    kernels += [codegen.Kernel(f"out_{g}", (z,), value_and_slope(g, z)) for g in OUTPUT_FUNCTIONS]
    return codegen.build_module(
        kernels, label="bench_main", template="ghostsym_bench_main_template", cache_dir=folder
    )


def main_engine_rate(eng, options, networks, epochs, repeats):
    def go(count_epochs):
        batch = _Batch(_configs(options, networks, count_epochs), None, batched=False)
        batch.eng = eng
        with single_threaded_blas():
            batch.run()

    first = time.perf_counter()
    go(2)
    first = time.perf_counter() - first
    return networks * epochs / _best(lambda: go(epochs), repeats), first


# ---- JAX ----------------------------------------------------------------------------------
def _arrays(options):
    cfg = build_config(**options)
    u, y = cfg.task.arrays()
    return cfg, np.asarray(u), np.asarray(y)


def jax_rate(options, networks, epochs, repeats):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    cfg, u, y = _arrays(options)
    model, task = cfg.model, cfg.task
    rank1 = model.rank == 1
    alpha, lr, scale = model.alpha, cfg.lr, task.loss_scale
    post = task.readout_timing == "post"
    x0 = float(task.initial_state)
    sigmoid_out = model.output == "sigmoid"
    u_t = jnp.asarray(u.transpose(1, 0, 2))  # (S, B, D)
    y_j = jnp.asarray(y)
    trials = y.shape[0]

    def loss(p):
        x = jnp.full((trials, N), x0)

        def step(x, ut):
            if rank1:
                h = (x @ p["n"])[:, None] * p["m"] + p["b"]
            else:
                h = x @ p["W"].T + p["b"]
            if "w_in" in p:
                h = h + ut @ p["w_in"].T
            xn = (1 - alpha) * x + alpha * jnp.tanh(h)
            return xn, (x, xn)

        _, (pre, after) = jax.lax.scan(step, x, u_t)
        xs = after if post else pre  # (S, B, N)
        if rank1:
            z = 10.0 * (xs @ p["n"] - 1.0)
        else:
            z = xs @ p["w_out"] + p["b_out"]
        g = jax.nn.sigmoid(z) if sigmoid_out else jnp.tanh(z)
        return scale * jnp.sum((g - y_j.T) ** 2)

    grad = jax.grad(loss)

    def train(p):
        def body(_, p):
            g = grad(p)
            return jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g)

        return jax.lax.fori_loop(0, epochs, body, p)

    run = jax.jit(jax.vmap(train))
    rng = np.random.default_rng(0)
    shapes = {"m": (N,), "n": (N,), "b": (N,)} if rank1 else {"W": (N, N), "b": (N,)}
    if not rank1:
        shapes.update({"w_out": (N,), "b_out": ()})
    if model.inputs:
        shapes["w_in"] = (N, model.inputs)
    params = {
        k: jnp.asarray(rng.normal(0, 0.1, (networks, *s)) if s else rng.normal(0, 0.1, networks))
        for k, s in shapes.items()
    }
    first = time.perf_counter()
    jax.block_until_ready(run(params))
    first = time.perf_counter() - first
    seconds = _best(lambda: jax.block_until_ready(run(params)), repeats)
    return networks * epochs / seconds, first


# ---- PyTorch --------------------------------------------------------------------------------
def torch_rate(options, networks, epochs):
    import torch

    torch.set_num_threads(2)
    cfg, u, y = _arrays(options)
    model, task = cfg.model, cfg.task
    rank1 = model.rank == 1
    alpha, lr, scale = model.alpha, cfg.lr, task.loss_scale
    post = task.readout_timing == "post"
    dt = torch.float64
    gen = torch.Generator().manual_seed(0)
    shapes = {"m": (N,), "n": (N,), "b": (N,)} if rank1 else {"W": (N, N), "b": (N,)}
    if not rank1:
        shapes.update({"w_out": (N,), "b_out": ()})
    if model.inputs:
        shapes["w_in"] = (model.inputs, N)
    p = {
        k: (0.1 * torch.randn((networks, *s), generator=gen, dtype=dt)).requires_grad_()
        for k, s in shapes.items()
    }
    ut = torch.tensor(u, dtype=dt)  # (B, S, D)
    yt = torch.tensor(y, dtype=dt)
    trials, steps = y.shape

    def epoch():
        x = torch.full((networks, trials, N), float(task.initial_state), dtype=dt)
        total = 0.0
        for t in range(steps):
            if rank1:
                h = (x @ p["n"][:, :, None]) * p["m"][:, None, :] + p["b"][:, None, :]
            else:
                h = torch.bmm(x, p["W"].transpose(1, 2)) + p["b"][:, None, :]
            if "w_in" in p:
                h = h + torch.einsum("bd,mdn->mbn", ut[:, t, :], p["w_in"])
            xn = (1 - alpha) * x + alpha * torch.tanh(h)
            xr = xn if post else x
            if rank1:
                z = 10.0 * ((xr @ p["n"][:, :, None])[..., 0] - 1.0)
            else:
                z = (xr @ p["w_out"][:, :, None])[..., 0] + p["b_out"][:, None]
            g = torch.sigmoid(z) if model.output == "sigmoid" else torch.tanh(z)
            total = total + ((g - yt[None, :, t]) ** 2).sum()
            x = xn
        (scale * total).backward()
        with torch.no_grad():
            for v in p.values():
                v -= lr * v.grad
                v.grad = None

    epoch()
    start = time.perf_counter()
    for _ in range(epochs):
        epoch()
    return networks * epochs / (time.perf_counter() - start)


def flops_per_network_epoch(options):
    cfg = build_config(**options)
    return 6.0 * cfg.task.steps * cfg.task.trials * N * N


def machine_flops(size=1024, repeats=5):
    a = np.random.default_rng(0).normal(size=(size, size))
    a @ a
    return 2.0 * size**3 / _best(lambda: a @ a, repeats)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke test: few epochs")
    parser.add_argument("--networks", type=int, default=64, help="networks trained at once")
    parser.add_argument("--json", type=Path, help="also write the table to this JSON file")
    parser.add_argument("--main-ref", default=MAIN_REF, help="git commit of the baseline engine")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    quick = args.quick
    networks = 16 if quick else args.networks
    repeats = 1 if quick else 3
    peak = machine_flops(256 if quick else 1024)
    print(f"NumPy float64 matmul (all cores): {peak / 1e9:.1f} GFLOP/s")
    old = main_engine(args.main_ref)
    if old is None:
        print("main engine skipped: not a git checkout with a main branch")
    rows = []
    for name, options in WORKLOADS.items():
        full = options["model"] == "full"
        epochs = (20 if quick else 300) if full else (50 if quick else 3000)
        row = {"workload": name}
        if old is not None:
            row["main engine"], row["first main engine"] = main_engine_rate(
                old, options, networks, epochs, repeats
            )
        row["one-network"], row["first one-network"] = ghostsym_rate(
            options, networks, epochs, False, repeats
        )
        row["batched"], row["first batched"] = ghostsym_rate(
            options, networks, epochs, True, repeats
        )
        try:
            row["jax vmap"], row["first jax"] = jax_rate(options, networks, epochs, repeats)
        except ImportError as exc:
            print(f"JAX skipped: {exc}")
        try:
            row["torch"] = torch_rate(options, networks, max(2, epochs // 20))
        except ImportError as exc:
            print(f"PyTorch skipped: {exc}")
        if full:
            f = flops_per_network_epoch(options)
            for key in ("main engine", "one-network", "batched", "jax vmap", "torch"):
                if key in row:
                    row[f"{key} % peak"] = 100 * row[key] * f / peak
        rows.append(row)
        print(_row_text(row, networks))
    print()
    print(f"network-epochs/s, {networks} networks:")
    header = ("workload", "main engine", "one-network", "batched", "jax vmap", "torch")
    print("  ".join(f"{h:>15}" for h in header) + "  batched/main  batched/jax")
    for row in rows:
        cells = [f"{row['workload']:>15}"] + [
            f"{row[k]:>15,.0f}" if k in row else f"{'-':>15}" for k in header[1:]
        ]
        ratio_main = f"{row['batched'] / row['main engine']:12.1f}" if "main engine" in row else "-"
        ratio_jax = f"{row['batched'] / row['jax vmap']:11.1f}" if "jax vmap" in row else "-"
        print("  ".join(cells) + f"  {ratio_main}  {ratio_jax}")
    load_after = os.getloadavg()
    print(f"load average (1, 5, 15 min): before {load_before}, after {load_after}")
    if args.json is not None:
        from ghostsym.io import write_json

        write_json(args.json, _json_table(rows, args, networks, peak, load_before, load_after))
        print(f"wrote {args.json}")


ENGINES = ("main engine", "one-network", "batched", "jax vmap", "torch")


def _json_table(rows, args, networks, peak, load_before, load_after):
    """The measured table as plain data (strict JSON through ghostsym.io)."""
    import numba

    versions = {"numpy": np.__version__, "numba": numba.__version__}
    for name in ("jax", "torch"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            pass
    first_key = {"main engine": "first main engine", "one-network": "first one-network"}
    first_key.update({"batched": "first batched", "jax vmap": "first jax"})
    workloads = {}
    for row in rows:
        entry = {"network_epochs_per_s": {}, "percent_of_peak": {}, "first_call_s": {}}
        for engine in ENGINES:
            if engine in row:
                entry["network_epochs_per_s"][engine] = row[engine]
            if f"{engine} % peak" in row:
                entry["percent_of_peak"][engine] = row[f"{engine} % peak"]
            if first_key.get(engine) in row:
                entry["first_call_s"][engine] = row[first_key[engine]]
        workloads[row["workload"]] = entry
    return {
        "networks": networks,
        "quick": bool(args.quick),
        "main_ref": args.main_ref,
        "peak_flops": peak,
        "flops_per_network_epoch": {
            name: flops_per_network_epoch(options)
            for name, options in WORKLOADS.items()
            if options["model"] == "full"
        },
        "workloads": workloads,
        "machine": {
            "processor": _cpu_name(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_before": list(load_before),
            "load_average_after": list(load_after),
            "versions": versions,
        },
    }


def _cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _row_text(row, networks):
    parts = [f"{row['workload']}:"]
    for key, value in row.items():
        if key == "workload":
            continue
        if key.startswith("first"):
            parts.append(f"{key} call {value:.2f} s")
        elif key.endswith("% peak"):
            parts.append(f"{key} {value:.1f}%")
        else:
            parts.append(f"{key} {value:,.0f}/s")
    return "  ".join(parts)


if __name__ == "__main__":
    main()
