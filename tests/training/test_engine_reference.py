"""The numba RNN engine against the plain-NumPy reference of ``tests/reference.py``.

Every model (rank one, rank K, full rank) × task (DA, DCD, DMTS, with both readout timings,
constant and random initial states, with and without noise) × readout (the four of
:data:`ghostsym.numerics.rnn.READOUTS`, the latent one with fixed and with trained c, κ*,
the fixed-confidence one with finite and infinite c) × output function, on random
parameters from several seeds:

* states and outputs of :func:`ghostsym.training.simulate` equal the reference's to 1e-12
  absolute; the loss (of ``simulate`` and of ``loss_and_gradients``) to 1e-12 relative;
  targets, inputs and accuracy exactly;
* every gradient of :func:`ghostsym.training.loss_and_gradients` equals the derivative of
  the *reference* loss to 1e-9 relative — relative to the largest entry of that parameter's
  reference gradient — both by complex step and by Richardson-extrapolated central
  differences (these two also agree with each other to 1e-9);
* combinations the engine refuses raise :class:`~ghostsym.errors.InputError`;
* the SymPy-derived rank-one BPTT (``ghostsym.codegen.latent.rank_one_da_gradient``)
  equals the engine's gradient;
* one SGD step of both fixed-confidence training modes equals the reference step.
"""

from __future__ import annotations

import itertools
import math
import zlib

import numpy as np
import pytest
import reference as ref

from ghostsym.codegen import latent
from ghostsym.errors import InputError
from ghostsym.numerics import rnn, tasks
from ghostsym.symbolic import nonlinearities
from ghostsym.training import (
    RNNModel,
    Task,
    TrainingConfig,
    init_params,
    loss_and_gradients,
    simulate,
    train,
)

#: simulate: states and outputs (absolute); loss (relative).
FORWARD_TOL = 1e-12
#: gradients, relative to the largest entry of the parameter's reference gradient.
GRADIENT_TOL = 1e-9

NEURONS = 7
MODELS = {"rank1": 1, "rank3": 3, "full": None}
READOUT_VARIANTS = {
    "latent": {"readout": "latent"},
    "latent-trained": {"readout": "latent", "train_confidence": True, "train_threshold": True},
    "latent_linear": {"readout": "latent_linear"},
    "population": {"readout": "population"},
    "fixed_confidence": {"readout": "fixed_confidence"},
    "fixed_confidence-inf": {"readout": "fixed_confidence", "confidence": math.inf},
}
TASKS = {
    # post-update readout, x₀ = −0.3·1, no noise: the rank-one engine's fast path
    "da": Task("da", delay=3),
    "da-pre-random": Task(
        "da",
        delay=3,
        trials_per_condition=2,
        readout_timing="pre",
        initial_state=None,
        rate_sd=0.5,
        noise_sd=0.05,
    ),
    "dcd": Task(
        "dcd", cue=1, delay=2, response=2, trials_per_condition=2, rate_sd=0.3, noise_sd=0.05
    ),
    "dcd-post-const": Task(
        "dcd", cue=2, delay=1, response=2, readout_timing="post", initial_state=0.1
    ),
    "dmts": Task("dmts", cue=1, delay=1, response=2, rate_sd=0.2, noise_sd=0.1),
}
OUTPUTS = rnn.OUTPUTS
#: (engine seed, epoch) per parameter seed; the last seed exercises 64-bit wrap-around.
DRAWS = {0: (0, 0), 1: (7, 3), 2: (2**62 + 12345, 11)}
SEEDS = tuple(DRAWS)


def _supported(arch: str, variant: str) -> bool:
    return MODELS[arch] is not None or not variant.startswith("latent")


COMBOS = [
    c for c in itertools.product(MODELS, TASKS, READOUT_VARIANTS, OUTPUTS) if _supported(*c[::2])
]
REFUSED = [(a, v) for a, v in itertools.product(MODELS, READOUT_VARIANTS) if not _supported(a, v)]


def _setup(arch, task_name, variant, output, seed, activation="tanh"):
    """(model, params, task, engine seed, epoch) with random parameters and constants."""
    task = TASKS[task_name]
    rng = np.random.default_rng(zlib.crc32(f"{arch}/{task_name}/{variant}/{output}".encode()))
    rng = np.random.default_rng([seed, int(rng.integers(2**32))])
    options = dict(READOUT_VARIANTS[variant])
    options.setdefault("confidence", float(rng.uniform(1.0, 3.0)))
    model = RNNModel(
        neurons=NEURONS,
        rank=MODELS[arch],
        output=output,
        activation=activation,
        alpha=(0.5, 1.0, float(rng.uniform(0.1, 0.9)))[seed % 3],
        threshold=float(rng.normal(0.0, 0.5)),
        inputs=task.inputs,
        **options,
    )
    params = {}
    for name in model.parameter_names():
        value = rng.normal(0.0, 0.6, size=model.shape(name))
        if name == "c":
            value = rng.uniform(1.0, 3.0)
        params[name] = np.asarray(value)
    engine_seed, epoch = DRAWS[seed]
    return model, params, task, engine_seed, epoch


def _assert_gradients_close(got: dict, want: dict, tol: float = GRADIENT_TOL, what: str = ""):
    assert set(got) == set(want)
    assert max(np.max(np.abs(w)) for w in want.values()) > 1e-6, "trivial gradient"
    for name in want:
        assert got[name].shape == want[name].shape, name
        scale = np.max(np.abs(want[name]))
        error = np.max(np.abs(got[name] - want[name])) / max(scale, 1e-300)
        assert error <= tol, f"{what}{name}: relative error {error:.2e} (scale {scale:.2e})"


# ---- the enumeration covers the engine -------------------------------------------------
def test_combinations_cover_every_readout_output_task_and_model():
    assert set(ref.READOUTS) == set(rnn.READOUTS)
    assert {v["readout"] for v in READOUT_VARIANTS.values()} == set(rnn.READOUTS)
    assert set(OUTPUTS) == set(ref.OUTPUTS)
    assert set(nonlinearities.NONLINEARITIES) == set(ref.ACTIVATIONS)
    assert {t.name for t in TASKS.values()} == set(tasks.TASKS)
    assert {t.readout_timing for t in TASKS.values()} == {"pre", "post"}
    assert {t.initial_state is None for t in TASKS.values()} == {True, False}
    ranks = set(MODELS.values())
    assert None in ranks and 1 in ranks and any(k is not None and k > 1 for k in ranks)
    assert len(COMBOS) == len(OUTPUTS) * len(TASKS) * (2 * 6 + 3)


@pytest.mark.parametrize("name", sorted(tasks.TASK_PRESETS))
def test_trial_structure_matches_the_task(name):
    task = tasks.task_preset(name, trials_per_condition=2)
    u, y = task.arrays()
    ru, ry = ref.trial_arrays(task)
    np.testing.assert_array_equal(u, ru)
    np.testing.assert_array_equal(y, ry)
    assert (task.steps, task.trials, task.loss_scale) == (
        ref.steps(task),
        ref.trials(task),
        ref.loss_scale(task),
    )


# ---- forward pass ------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("arch, task_name, variant, output", COMBOS)
def test_forward_matches_reference(arch, task_name, variant, output, seed):
    model, params, task, engine_seed, epoch = _setup(arch, task_name, variant, output, seed)
    got = simulate(model, params, task, seed=engine_seed, epoch=epoch)
    want = ref.forward(model, params, task, seed=engine_seed, epoch=epoch)
    np.testing.assert_array_equal(got["targets"], want["targets"])
    np.testing.assert_array_equal(got["inputs"], want["inputs"])
    np.testing.assert_allclose(got["states"], want["states"], rtol=0, atol=FORWARD_TOL)
    np.testing.assert_allclose(got["outputs"], want["outputs"], rtol=0, atol=FORWARD_TOL)
    assert got["loss"] == pytest.approx(want["loss"], rel=FORWARD_TOL, abs=0)
    assert got["accuracy"] == want["accuracy"]


# ---- gradients ---------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("arch, task_name, variant, output", COMBOS)
def test_gradients_match_reference(arch, task_name, variant, output, seed):
    model, params, task, engine_seed, epoch = _setup(arch, task_name, variant, output, seed)
    draws = {"seed": engine_seed, "epoch": epoch}
    loss, grads = loss_and_gradients(model, params, task, **draws)
    assert loss == pytest.approx(ref.loss(model, params, task, **draws), rel=FORWARD_TOL, abs=0)
    exact = ref.complex_step_gradient(model, params, task, **draws)
    _assert_gradients_close(grads, exact, what="engine vs complex step: ")
    fd = ref.richardson_gradient(model, params, task, **draws)
    _assert_gradients_close(grads, fd, what="engine vs finite differences: ")
    _assert_gradients_close(fd, exact, what="finite differences vs complex step: ")


#: Every nonlinearity the engine can be built with, besides the paper's tanh.
OTHER_ACTIVATIONS = [
    (activation, *combo)
    for activation in sorted(set(nonlinearities.NONLINEARITIES) - {"tanh"})
    for combo in (
        ("rank1", "da", "latent", "sigmoid"),
        ("rank3", "dcd", "latent_linear", "tanh"),
        ("full", "dmts", "fixed_confidence", "sigmoid"),
    )
]


@pytest.mark.parametrize("activation, arch, task_name, variant, output", OTHER_ACTIVATIONS)
def test_other_activations_match_reference(activation, arch, task_name, variant, output):
    model, params, task, engine_seed, epoch = _setup(
        arch, task_name, variant, output, 2, activation
    )
    draws = {"seed": engine_seed, "epoch": epoch}
    got = simulate(model, params, task, **draws)
    want = ref.forward(model, params, task, **draws)
    np.testing.assert_allclose(got["states"], want["states"], rtol=0, atol=FORWARD_TOL)
    np.testing.assert_allclose(got["outputs"], want["outputs"], rtol=0, atol=FORWARD_TOL)
    loss, grads = loss_and_gradients(model, params, task, **draws)
    assert loss == pytest.approx(want["loss"], rel=FORWARD_TOL, abs=0)
    _assert_gradients_close(grads, ref.complex_step_gradient(model, params, task, **draws))


# ---- what the engine refuses -----------------------------------------------------------
@pytest.mark.parametrize("arch, variant", REFUSED)
def test_refused_model_readout_combinations(arch, variant):
    with pytest.raises(InputError):
        RNNModel(neurons=NEURONS, rank=MODELS[arch], **READOUT_VARIANTS[variant])


@pytest.mark.parametrize(
    "options",
    [
        {"readout": "population", "train_confidence": True},
        {"readout": "latent_linear", "train_threshold": True},
        {"readout": "fixed_confidence", "train_confidence": True},
        {"readout": "population", "confidence": math.inf},
        {"readout": "latent", "confidence": math.inf},
        {"readout": "latent", "confidence": 0.0},
        {"readout": "softmax"},
        {"output": "relu"},
        {"alpha": 0.0},
        {"alpha": 1.5},
    ],
)
def test_refused_model_options(options):
    with pytest.raises(InputError):
        RNNModel(neurons=NEURONS, rank=2, **options)


@pytest.mark.parametrize("entry", [loss_and_gradients, simulate])
def test_inputs_must_match_the_task(entry):
    with_input = RNNModel(neurons=NEURONS, rank=2, readout="population", inputs=1)
    without = RNNModel(neurons=NEURONS, rank=2, readout="population")
    with pytest.raises(InputError, match="input"):
        entry(with_input, init_params(with_input), TASKS["da"])
    with pytest.raises(InputError, match="input"):
        entry(without, init_params(without), TASKS["dcd"])
    unknown = RNNModel(neurons=NEURONS, rank=2, readout="population", activation="relu6")
    with pytest.raises(InputError, match="relu6"):
        entry(unknown, init_params(unknown), TASKS["da"])


# ---- the SymPy-derived rank-one BPTT ---------------------------------------------------
@pytest.mark.parametrize("activation", ["tanh", "erf"])
@pytest.mark.parametrize("seed", SEEDS)
def test_derived_rank_one_bptt_matches_engine(seed, activation):
    task = Task("da", delay=4, initial_state=None if seed else -0.3, rate_sd=0.5)
    rng = np.random.default_rng(seed)
    model = RNNModel(
        neurons=NEURONS,
        rank=1,
        activation=activation,
        alpha=(0.5, 1.0, 0.3)[seed],
        confidence=float(rng.uniform(1.0, 3.0)),
        threshold=float(rng.normal(0.0, 0.5)),
        train_confidence=True,
    )
    params = {k: np.asarray(rng.normal(0.0, 0.6, size=model.shape(k))) for k in ("m", "n", "b")}
    params["c"] = np.asarray(model.confidence)
    engine_seed, epoch = DRAWS[seed]
    draws = {"seed": engine_seed, "epoch": epoch}
    x0 = ref.initial_states(task, NEURONS, **draws)[0]
    targets = latent.da_targets(task.delay)
    np.testing.assert_array_equal(targets, ref.trial_arrays(task)[1][0])
    args = (params["m"], params["n"], params["b"], x0, targets)
    consts = {
        "c": model.confidence,
        "kappa_star": model.threshold,
        "leak": model.alpha,
        "nonlinearity": activation,
    }
    d_loss, kappas = latent.rank_one_da_loss(*args, **consts)
    d_loss2, gm, gn, gb, gc = latent.rank_one_da_gradient(*args, **consts)
    derived = {"m": gm, "n": gn, "b": gb, "c": np.asarray(gc)}

    states = simulate(model, params, task, **draws)["states"][:, 0]
    np.testing.assert_allclose(kappas, states @ params["n"], rtol=0, atol=FORWARD_TOL)
    loss, grads = loss_and_gradients(model, params, task, **draws)
    assert d_loss == pytest.approx(loss, rel=FORWARD_TOL, abs=0)
    assert d_loss2 == pytest.approx(loss, rel=FORWARD_TOL, abs=0)
    _assert_gradients_close(grads, derived, what="engine vs derived BPTT: ")
    exact = ref.complex_step_gradient(model, params, task, **draws)
    _assert_gradients_close(derived, exact, what="derived BPTT vs reference: ")


# ---- one training step of the fixed-confidence readout -------------------------------------
@pytest.mark.parametrize("mode", ["exact", "projected"])
@pytest.mark.parametrize("arch, task_name", [("full", "dcd"), ("rank3", "da-pre-random")])
def test_fixed_confidence_training_step_matches_reference(arch, task_name, mode):
    model, params, task, engine_seed, _ = _setup(arch, task_name, "fixed_confidence", "tanh", 1)
    lr = 0.05
    config = TrainingConfig(
        model=model,
        task=task,
        optimizer="sgd",
        lr=lr,
        epochs=1,
        seed=engine_seed,
        checkpoints=(0, 1),
        fixed_confidence_update=mode,
    )
    result = train(config, params=params)
    draws = {"seed": engine_seed, "epoch": 0}
    if mode == "exact":
        at, stepped_model = params, model
    else:  # project, then step with the population readout's gradient at the projection
        at, stepped_model = ref.project_readout(model, params), model.replace(readout="population")
        assert ref.loss(stepped_model, at, task, **draws) == pytest.approx(
            ref.loss(model, params, task, **draws), rel=1e-13
        )
    grads = ref.complex_step_gradient(stepped_model, at, task, **draws)
    assert result.history["loss"][0] == pytest.approx(
        ref.loss(stepped_model, at, task, **draws), rel=FORWARD_TOL, abs=0
    )
    norm = math.sqrt(sum(float(np.sum(g**2)) for g in grads.values()))
    assert result.history["grad_norm"][0] == pytest.approx(norm, rel=GRADIENT_TOL)
    want = {k: np.asarray(at[k]) - lr * grads[k] for k in params}
    for name in params:
        np.testing.assert_allclose(
            result.params_final[name], want[name], rtol=0, atol=lr * GRADIENT_TOL
        )
