"""Hand-written BPTT against central finite differences, for every model/readout/task."""

import itertools
import zlib

import numpy as np
import pytest

from ghostsym.errors import InputError
from ghostsym.training import RNNModel, Task, init_params, loss_and_gradients

#: float64 central differences; the brief asks for relative error <= 1e-6 per parameter.
STEP = 1e-6
TOLERANCE = 1e-6

TASKS = {
    "da": Task("da", delay=4),
    "dcd": Task(
        "dcd", cue=1, delay=2, response=3, trials_per_condition=2, rate_sd=0.3, noise_sd=0.05
    ),
    "dmts": Task("dmts", cue=1, delay=2, response=2, rate_sd=0.2, noise_sd=0.1),
    "dcd-const-x0": Task("dcd", cue=2, delay=1, response=2, initial_state=0.1),
    "da-pre": Task("da", delay=3, readout_timing="pre"),
}
ARCHITECTURES = {"rank1": 1, "rank3": 3, "full": None}
READOUTS = ("latent", "latent_linear", "population", "fixed_confidence")
OUTPUTS = ("sigmoid", "tanh")


def _cases():
    for arch, task, readout, output in itertools.product(ARCHITECTURES, TASKS, READOUTS, OUTPUTS):
        if ARCHITECTURES[arch] is None and readout.startswith("latent"):
            continue
        yield arch, task, readout, output


def _random_params(model, rng):
    params = {}
    for name in model.parameter_names():
        value = rng.normal(0.0, 0.6, size=model.shape(name))
        if name == "c":
            value = np.asarray(1.5 + rng.uniform())
        params[name] = np.asarray(value)
    return params


def _check(model, task, params, seed=3, epoch=5):
    loss, grads = loss_and_gradients(model, params, task, seed=seed, epoch=epoch)
    assert np.isfinite(loss)
    assert set(grads) == set(params)
    for name, value in params.items():
        fd = np.zeros(value.shape)
        for index in np.ndindex(value.shape):
            plus = {k: np.array(v, dtype=float) for k, v in params.items()}
            minus = {k: np.array(v, dtype=float) for k, v in params.items()}
            plus[name][index] += STEP
            minus[name][index] -= STEP
            lp, _ = loss_and_gradients(model, plus, task, seed=seed, epoch=epoch)
            lm, _ = loss_and_gradients(model, minus, task, seed=seed, epoch=epoch)
            fd[index] = (lp - lm) / (2 * STEP)
        assert grads[name].shape == value.shape
        scale = max(np.linalg.norm(fd), 1e-12)
        error = np.linalg.norm(grads[name] - fd) / scale
        assert error <= TOLERANCE, f"{name}: relative error {error:.2e}"


@pytest.mark.parametrize("arch, task, readout, output", list(_cases()))
def test_bptt_matches_finite_differences(arch, task, readout, output):
    t = TASKS[task]
    model = RNNModel(
        neurons=6,
        rank=ARCHITECTURES[arch],
        readout=readout,
        output=output,
        confidence=2.0,
        threshold=0.2,
        train_confidence=readout == "latent",
        train_threshold=readout == "latent",
        inputs=t.inputs,
        init="wm" if t.inputs else "da",
    )
    rng = np.random.default_rng(zlib.crc32(f"{arch}/{task}/{readout}/{output}".encode()))
    _check(model, t, _random_params(model, rng))


@pytest.mark.parametrize("activation", ["erf"])
def test_other_nonlinearity_gradients(activation):
    model = RNNModel(neurons=5, rank=2, readout="population", activation=activation)
    _check(model, TASKS["da"], _random_params(model, np.random.default_rng(1)))


def test_fixed_constants_are_not_parameters():
    model = RNNModel(neurons=5)
    params = init_params(model, 0)
    assert sorted(params) == ["b", "m", "n"]
    loss, grads = loss_and_gradients(model, params)
    assert sorted(grads) == ["b", "m", "n"]
    # the paper's initial loss: output ≈ σ(−10) on every step, sum/T ≈ 1
    assert loss == pytest.approx(1.0, abs=2e-3)


def test_noise_is_reproducible_and_changes_with_epoch():
    task = TASKS["dmts"]
    model = RNNModel(neurons=6, rank=None, readout="population", inputs=1, init="wm")
    params = init_params(model, 2)
    a = loss_and_gradients(model, params, task, seed=1, epoch=7)
    b = loss_and_gradients(model, params, task, seed=1, epoch=7)
    c = loss_and_gradients(model, params, task, seed=1, epoch=8)
    d = loss_and_gradients(model, params, task, seed=2, epoch=7)
    assert a[0] == b[0]
    assert all(np.array_equal(a[1][k], b[1][k]) for k in params)
    assert a[0] != c[0] and a[0] != d[0]


def test_bad_parameters_are_rejected():
    model = RNNModel(neurons=5)
    params = init_params(model, 0)
    with pytest.raises(InputError, match="shape"):
        loss_and_gradients(model, {**params, "m": np.zeros(4)})
    with pytest.raises(InputError, match="missing"):
        loss_and_gradients(model, {"m": params["m"], "n": params["n"]})
    with pytest.raises(InputError, match="non-finite"):
        loss_and_gradients(model, {**params, "b": np.full(5, np.nan)})
    with pytest.raises(InputError, match="exceeds"):
        RNNModel(neurons=5, rank=6)
