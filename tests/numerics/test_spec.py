"""The engine's slot table (ghostsym.numerics.spec) and tasks as data."""

import numpy as np
import pytest

from ghostsym.codegen.rnn import engine
from ghostsym.errors import InputError
from ghostsym.numerics import spec, tasks
from ghostsym.numerics.rnn import READOUTS, RNNModel, layout
from ghostsym.numerics.tasks import Task, TaskDefinition, task_preset
from ghostsym.training import init_params, loss_and_gradients


def test_slots_are_numbered_once_and_the_kernel_uses_them():
    for prefix, slots, size in (
        ("I_", spec.ISPEC_SLOTS, spec.ISPEC_SIZE),
        ("F_", spec.FSPEC_SLOTS, spec.FSPEC_SIZE),
        ("H_", spec.HYPER_SLOTS, spec.HYPER_SIZE),
    ):
        codes = [getattr(spec, prefix + name) for name, _ in slots]
        assert codes == list(range(size))
    assert [getattr(spec, "READOUT_" + r.upper()) for r in READOUTS] == [0, 1, 2, 3]
    eng = engine("tanh")
    # every slot constant the kernel uses comes from the spec, with the spec's value
    import importlib.util
    import re
    from pathlib import Path

    # the template is source text for codegen, never imported on its own
    source = Path(importlib.util.find_spec("ghostsym.numerics.rnn_template").origin).read_text()
    used = set(re.findall(r"\b(?:I|F|H|READOUT|OUTPUT|ACCURACY)_[A-Z0-9_]+\b", source))
    assert len(used) >= 20
    assert used <= set(spec.CONSTANTS), used - set(spec.CONSTANTS)
    for name in used:
        assert getattr(eng, name) == getattr(spec, name), name


def test_engine_spec_fills_every_slot_from_model_and_task():
    model = RNNModel(neurons=7, rank=2, readout="latent_linear", inputs=1, init="wm")
    task = task_preset("dmts", trials_per_condition=3, rate_sd=0.2, noise_sd=0.01)
    ispec, fspec = spec.engine_spec(model, task, projected=False)
    lay = layout(model)
    assert ispec.shape == (spec.ISPEC_SIZE,) and fspec.shape == (spec.FSPEC_SIZE,)
    assert ispec[spec.I_N] == 7 and ispec[spec.I_K] == 2 and ispec[spec.I_D] == 1
    assert ispec[spec.I_S] == 38 and ispec[spec.I_B] == 12
    assert ispec[spec.I_READOUT] == spec.READOUT_LATENT_LINEAR
    assert ispec[spec.I_ACCURACY] == spec.ACCURACY_GE_HALF
    assert ispec[spec.I_POST] == 0 and ispec[spec.I_RANDOM_X0] == 1
    assert ispec[spec.I_O_WOUT] == lay.offsets["w_out"] and ispec[spec.I_O_W] == -1
    assert ispec[spec.I_P] == lay.size
    assert fspec[spec.F_NOISE_SD] == 0.01 and fspec[spec.F_RATE_SD] == 0.2
    assert fspec[spec.F_LOSS_SCALE] == 1.0 / (12 * 38)
    with pytest.raises(InputError, match="input channels"):
        spec.engine_spec(RNNModel(neurons=7), task)


def test_task_periods_are_the_timing():
    task = task_preset("dmts")
    assert task.periods == (("sample", 6), ("delay", 16), ("test", 6), ("response", 10))
    assert task.steps == 38
    u, y = task.arrays()
    # condition 2: sample −1, test +1, no match
    assert np.all(u[2, :6, 0] == -1) and np.all(u[2, 6:22, 0] == 0) and np.all(u[2, 22:28, 0] == 1)
    assert np.all(y[2] == 0) and np.all(y[0, 28:] == 1) and np.all(y[0, :28] == 0)
    with pytest.raises(InputError, match="cue and response must be >= 1"):
        Task(name="dcd", delay=3)


def test_a_new_task_is_one_definition(monkeypatch):
    """A go/no-go task defined only by a TaskDefinition trains through the engine, with a
    BPTT gradient that matches finite differences."""
    go = TaskDefinition(
        "go",
        periods=(("cue", "cue"), ("delay", "delay"), ("response", "response")),
        conditions=({"cue": (1.0, None), "response": (None, 1.0)}, {"response": (None, 0.0)}),
        accuracy_rule="ge_half",
    )
    monkeypatch.setattr(tasks, "TASK_TABLE", (*tasks.TASK_TABLE, go))
    monkeypatch.setattr(tasks, "TASKS", (*tasks.TASKS, "go"))
    task = Task(name="go", cue=2, delay=3, response=2, trials_per_condition=2)
    assert task.inputs == 1 and task.conditions == 2 and task.steps == 7
    u, y = task.arrays()
    assert np.all(u[1] == 0) and np.all(u[0, :2, 0] == 1) and np.all(y[0, 5:] == 1)
    model = RNNModel(neurons=6, rank=None, readout="population", inputs=1, init="wm")
    params = init_params(model, 3)
    loss, grads = loss_and_gradients(model, params, task)
    h = 1e-6
    for name, index in (("W", (1, 2)), ("w_in", (4, 0)), ("b_out", ())):
        plus = {k: v.copy() for k, v in params.items()}
        minus = {k: v.copy() for k, v in params.items()}
        plus[name][index] += h
        minus[name][index] -= h
        fd = loss_and_gradients(model, plus, task)[0] - loss_and_gradients(model, minus, task)[0]
        assert grads[name][index] == pytest.approx(fd / (2 * h), rel=1e-6, abs=1e-10)
