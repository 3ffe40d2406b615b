"""The CUDA engine on numba's CUDA simulator against the CPU engine (docs/gpu.md §2, §3).

numba decides between the real CUDA target and the simulator when ``numba.cuda`` is first
imported (``NUMBA_ENABLE_CUDASIM``), and the test process has long imported numba by then.
So the kernels run in one subprocess started with ``NUMBA_ENABLE_CUDASIM=1``: it trains
every case on the CPU engine (``train_many``) and on the CUDA kernels (the same batch, the
CUDA engine's ``train_chunk``), pickles both, and the tests here compare them — every
model × task × optimiser, readouts, noise and random initial states, interventions,
divergence, checkpoints, snapshots taken inside the kernel. Sizes are tiny: the simulator
runs every thread as Python. With ``GHOSTSYM_CUDA_REAL=1`` the subprocess uses the real
device instead (docs/gpu.md §3).

Tolerance (stated in docs/gpu.md §2 before measuring): |cuda − cpu| ≤ ATOL + RTOL·|cpu| for
every history value and parameter entry, identical divergence epochs and NaN patterns.
"""

from __future__ import annotations

import inspect
import os
import pickle
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
#: GHOSTSYM_CUDA_REAL=1 runs the same comparisons with the kernels on a real GPU
#: (benchmarks/bench_gpu.py does, before it measures).
REAL_DEVICE = os.environ.get("GHOSTSYM_CUDA_REAL") == "1"

TINY = {"neurons": 4, "epochs": 6, "checkpoints": (0, 3, 6)}
TASKS = {
    "da": {"task": "da", "delay": 3},
    "dcd": {"task": "dcd", "cue": 1, "delay": 2, "response": 2, "rate_sd": 0.5, "noise_sd": 0.05},
    "dmts": {"task": "dmts", "cue": 1, "delay": 1, "response": 2, "rate_sd": 0.5, "noise_sd": 0.05},
}
MODELS = {
    "rank1": {"model": "rank1"},
    "rank2": {"model": "lowrank", "rank": 2},
    "full": {"model": "full"},
}
OPTIMIZERS = {"sgd": {"optimizer": "sgd", "lr": 0.05}, "momentum": {"optimizer": "momentum",
              "lr": 0.02}, "adam": {"optimizer": "adam", "lr": 0.01}}  # fmt: skip

#: case name → list of build_config options (one network each, trained together).
CASES: dict[str, list[dict]] = {}
for _m, _mo in MODELS.items():
    for _t, _to in TASKS.items():
        for _o, _oo in OPTIMIZERS.items():
            CASES[f"{_m}-{_t}-{_o}"] = [{**TINY, **_mo, **_to, **_oo, "seed": s} for s in (0, 1)]
CASES["rank1-da-trained-constants-erf"] = [
    {**TINY, **TASKS["da"], "model": "rank1", "activation": "erf", "train_confidence": True,
     "train_threshold": True, "optimizer": "adam", "lr": 0.05, "seed": 3},
]  # fmt: skip
CASES["rank1-da-intervention"] = [
    {**TINY, **TASKS["da"], "model": "rank1", "lr": 0.2, "seed": 4,
     "interventions": ("2:c=3", "4:kappa_star=0.5:reset"), "optimizer": "adam"},
]  # fmt: skip
for _update in ("projected", "exact"):
    CASES[f"full-dmts-fixed-confidence-{_update}"] = [
        {**TINY, **TASKS["dmts"], "model": "full", "readout": "fixed_confidence",
         "confidence": 3.0, "fixed_confidence_update": _update, "optimizer": "adam",
         "lr": 0.02, "seed": s} for s in (5, 6)
    ]  # fmt: skip
CASES["rank1-da-sigmoid-diverges"] = [
    {**TINY, **TASKS["da"], "model": "rank1", "activation": "sigmoid", "optimizer": o,
     "lr": lr, "seed": 7} for o, lr in (("sgd", 1e12), ("momentum", 0.05), ("adam", 1e9))
]  # fmt: skip
#: in-kernel snapshots: case → epochs
SNAPSHOTS = {"rank2-dcd-adam": (2, 5, 6), "full-da-momentum": (1, 6)}


def _configs(name):
    from ghostsym.training import build_config

    return [build_config(**options) for options in CASES[name]]


def _train_cuda(configs):
    """The CPU engine's batch, each chunk run by the CUDA engine."""
    from ghostsym.training import cuda_engine, engine

    if "backend" in inspect.signature(engine.train_many).parameters:  # wired (WIRING.patch)
        return engine.train_many(configs, backend="cuda")
    batch_train = engine._Batch

    class CudaBatch(batch_train):
        def __init__(self, configs, params):
            super().__init__(configs, params)
            self.eng = cuda_engine.engine(self.model.activation)

    engine._Batch = CudaBatch
    try:
        return engine.train_many(configs)
    finally:
        engine._Batch = batch_train


def _snapshots(configs, epochs):
    """θ at ``epochs``, taken inside one kernel launch of all epochs."""
    from ghostsym.training import cuda_engine, engine

    batch = engine._Batch(configs, None)
    arrays = {
        "theta": batch.theta,
        "m1": batch.m1,
        "m2": batch.m2,
        "steps_done": batch.steps,
        "ispec": batch.ispec,
        "fspec": batch.fspec,
        "u": batch.u,
        "y": batch.y,
        "seeds": batch.seeds,
        "opt_kind": batch.opt_kind,
        "lr": batch.lr,
        "hyper": batch.hyper,
        "train_mask": batch.train_mask,
        "norm_mask": batch.norm_mask,
        "loss_hist": batch.history["loss"],
        "norm_hist": batch.history["grad_norm"],
        "acc_hist": batch.history["accuracy"],
        "status": batch.status,
    }
    snaps = cuda_engine.train_arrays(batch.model.activation, arrays, 0, batch.epochs, epochs)
    return snaps, {k: v.copy() for k, v in batch.history.items()}


def _worker(out: str) -> None:
    # SplitMix64 wraps around on purpose; the simulator runs it on NumPy uint64 scalars, in
    # threads of its own (NumPy's error state is per thread, warning filters are not).
    warnings.filterwarnings("ignore", "overflow encountered in scalar", RuntimeWarning)
    from ghostsym.training import cuda_engine, engine

    results = {"device": cuda_engine.device_name(), "cases": {}, "snapshots": {}}
    for name in CASES:
        configs = _configs(name)
        t0 = time.perf_counter()
        cpu = engine.train_many(configs)
        t1 = time.perf_counter()
        results["cases"][name] = (cpu, _train_cuda(configs))
        print(name, f"{t1 - t0:.2f} {time.perf_counter() - t1:.2f}", file=sys.stderr)
    for name, epochs in SNAPSHOTS.items():
        configs = [c.replace(checkpoints=epochs) for c in _configs(name)]
        results["snapshots"][name] = (engine.train_many(configs), _snapshots(configs, epochs))
    with open(out, "wb") as f:
        pickle.dump(results, f)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("cudasim") / "results.pkl"
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONPATH=path)
    if REAL_DEVICE:
        del env["NUMBA_ENABLE_CUDASIM"]
    proc = subprocess.run(
        [sys.executable, __file__, str(out)], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out, "rb") as f:
        return pickle.load(f)


def _assert_close(a, b, what):
    from ghostsym.training.cuda_engine import ATOL, RTOL

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape, what
    assert np.array_equal(np.isnan(a), np.isnan(b)), f"{what}: NaN patterns differ"
    ok = ~np.isnan(b)
    excess = np.abs(a[ok] - b[ok]) - (ATOL + RTOL * np.abs(b[ok]))
    assert not np.any(excess > 0), f"{what}: beyond tolerance by {excess.max():.3g}"


def _compare(cpu, gpu, name):
    assert len(cpu) == len(gpu)
    for j, (c, g) in enumerate(zip(cpu, gpu, strict=True)):
        assert g.diverged_epoch == c.diverged_epoch, f"{name}[{j}]: divergence epoch"
        for key in c.history:
            _assert_close(g.history[key], c.history[key], f"{name}[{j}] history {key}")
        assert set(g.params_final) == set(c.params_final)
        for key in c.params_final:
            _assert_close(g.params_final[key], c.params_final[key], f"{name}[{j}] {key}")
        assert set(g.checkpoints) == set(c.checkpoints), f"{name}[{j}]: checkpoint epochs"
        for epoch, params in c.checkpoints.items():
            for key in params:
                _assert_close(g.checkpoints[epoch][key], params[key], f"{name}[{j}] @{epoch}")


def test_runs_on_the_simulator(sim):
    if REAL_DEVICE:
        assert sim["device"] not in ("CUDA simulator", "none")
    else:
        assert sim["device"] == "CUDA simulator"


@pytest.mark.parametrize("name", list(CASES))
def test_cuda_matches_cpu(sim, name):
    cpu, gpu = sim["cases"][name]
    _compare(cpu, gpu, name)
    assert all(np.isfinite(r.history["loss"][0]) for r in cpu)  # a case that trained at all


def test_cases_exercise_divergence_and_training(sim):
    cpu, _ = sim["cases"]["rank1-da-sigmoid-diverges"]
    assert [r.diverged_epoch is not None for r in cpu] == [True, False, True]
    for name in CASES:
        if "diverges" in name:
            continue
        cpu, _ = sim["cases"][name]
        for r in cpu:  # every case changes its parameters and its loss
            assert r.diverged_epoch is None
            assert r.history["loss"][-1] != r.history["loss"][0], name


def test_tolerance_can_fail(sim):
    """The comparison rejects a different network (seed 1's CPU run for seed 0's GPU run)
    and a relative perturbation of 1e-7 (a hundred times RTOL) of the loss history."""
    cpu, gpu = sim["cases"]["rank2-dmts-adam"]
    with pytest.raises(AssertionError):
        _compare(cpu[1:], gpu[:1], "swapped")
    perturbed = gpu[0].history["loss"] * (1 + 1e-7)
    with pytest.raises(AssertionError):
        _assert_close(perturbed, cpu[0].history["loss"], "perturbed")


@pytest.mark.parametrize("name", list(SNAPSHOTS))
def test_snapshots_inside_the_kernel(sim, name):
    from ghostsym.numerics.rnn import pack

    cpu, (snaps, history) = sim["snapshots"][name]
    assert sorted(snaps) == list(SNAPSHOTS[name])
    for j, result in enumerate(cpu):
        for key in result.history:
            _assert_close(history[key][j], result.history[key], f"{name}[{j}] {key}")
        for epoch in SNAPSHOTS[name]:
            theta = pack(result.config.model, result.checkpoints[epoch])
            _assert_close(snaps[epoch][j], theta, f"{name}[{j}] snapshot {epoch}")


def test_resolve_backend():
    from ghostsym.errors import InputError
    from ghostsym.training import cuda_engine

    assert cuda_engine.resolve_backend("cpu") == "cpu"
    assert cuda_engine.resolve_backend(None) == "cpu"
    with pytest.raises(InputError, match="unknown backend 'gpu'"):
        cuda_engine.resolve_backend("gpu")
    if cuda_engine.cuda_available():  # a machine with a GPU (or a simulator process)
        assert cuda_engine.resolve_backend("cuda") == "cuda"
        assert cuda_engine.resolve_backend("auto") == "cuda"
    else:
        assert cuda_engine.resolve_backend("auto") == "cpu"
        with pytest.raises(InputError) as err:
            cuda_engine.resolve_backend("cuda")
        message = str(err.value)
        assert message.startswith("no CUDA device: ") and "\n" not in message
        with pytest.raises(InputError, match="^no CUDA device: "):
            cuda_engine.engine("tanh")


if __name__ == "__main__":
    _worker(sys.argv[1])


@pytest.mark.parametrize("command", [["verify", "escape-time"], ["sweep", "SPEC"]])
def test_backend_cuda_without_a_device_is_one_line(run_cli, tmp_path, command):
    """verify and sweep take --backend too; cuda without a device: one line, nothing run."""
    if command[0] == "sweep":
        spec = tmp_path / "s.toml"
        spec.write_text('[sweep]\nkind = "toy"\n[grid]\nseed = [0]\n')
        command = ["sweep", str(spec), "--out", str(tmp_path / "o")]
    else:
        command = [*command, "--out", str(tmp_path / "v")]
    proc = run_cli(*command, "--backend", "cuda", "--no-progress")
    assert proc.returncode in (1, 2)
    assert proc.stderr.strip().count("\n") == 0 and "no CUDA device" in proc.stderr
    assert not (tmp_path / "o").exists() and not (tmp_path / "v" / "results.json").exists()


def test_backend_environment_default(monkeypatch):
    from ghostsym.errors import InputError
    from ghostsym.training.cuda_engine import BACKEND_ENV, resolve_backend

    monkeypatch.setenv(BACKEND_ENV, "cpu")
    assert resolve_backend(None) == "cpu"
    monkeypatch.setenv(BACKEND_ENV, "tpu")
    with pytest.raises(InputError, match="unknown backend 'tpu'"):
        resolve_backend(None)
