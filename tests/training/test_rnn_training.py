"""Training: histories, determinism, many networks, checkpoints, interventions, resume."""

import math

import numpy as np
import pytest

from ghostsym import training
from ghostsym.errors import DivergenceError, InputError
from ghostsym.training import (
    Intervention,
    build_config,
    init_params,
    load_run,
    loss_and_gradients,
    run_training,
    train,
    train_many,
)

SMALL_DA = {"model": "rank1", "task": "da", "neurons": 30, "lr": 0.05, "epochs": 400}
SMALL_WM = {
    "model": "full",
    "task": "dcd",
    "neurons": 12,
    "cue": 1,
    "delay": 3,
    "response": 2,
    "trials_per_condition": 2,
    "rate_sd": 0.1,
    "noise_sd": 0.01,
    "optimizer": "adam",
    "lr": 0.01,
    "epochs": 150,
}


def _same(a, b):
    return all(np.array_equal(a[k], b[k], equal_nan=True) for k in a) and a.keys() == b.keys()


def test_history_entry_zero_is_the_initial_network_and_sgd_steps_match():
    cfg = build_config(**SMALL_DA, checkpoints=[0, 1, 2])
    result = train(cfg)
    p0 = init_params(cfg.model, cfg.seed)
    loss0, g0 = loss_and_gradients(cfg.model, p0, cfg.task)
    assert result.history["loss"][0] == loss0
    assert result.history["grad_norm"][0] == pytest.approx(
        math.sqrt(sum(np.sum(v**2) for v in g0.values())), rel=1e-12
    )
    assert result.history["accuracy"][0] == 0.5
    for name in p0:  # checkpoint 1 = one SGD step from the initial parameters
        np.testing.assert_allclose(
            result.checkpoints[1][name], p0[name] - cfg.lr * g0[name], rtol=1e-13, atol=1e-16
        )
    assert _same(result.checkpoints[0], p0)
    assert len(result.history["loss"]) == cfg.epochs


def test_same_seed_bit_identical_and_batched_equals_alone():
    base = build_config(**SMALL_WM)
    configs = [base.replace(seed=s, lr=lr) for s, lr in ((0, 0.01), (1, 0.02), (2, 0.005))]
    configs.append(base.replace(optimizer="momentum", lr=0.01, seed=4))
    many = train_many(configs)
    for cfg, res in zip(configs, many, strict=True):
        alone = train(cfg)
        assert _same(alone.history, res.history)
        assert _same(alone.params_final, res.params_final)
    again = train(configs[0])
    assert _same(again.history, many[0].history)
    assert not np.array_equal(many[0].history["loss"], many[1].history["loss"])


def test_training_learns_the_delayed_activation_task():
    result = train(build_config(model="full", task="da", neurons=30, lr=0.1, epochs=1000, seed=1))
    assert result.history["loss"][-1] < 0.01 * result.history["loss"][0]
    assert result.history["accuracy"][-1] > 0.9


def test_interventions_change_constants_and_reset_state():
    cfg = build_config(**SMALL_DA, checkpoints=[100, 200])
    base = train(cfg)
    changed = train(cfg.replace(interventions=(Intervention(200, {"c": 0.5}),)))
    h0, h1 = base.history["loss"], changed.history["loss"]
    assert np.array_equal(h0[:200], h1[:200]) and not np.array_equal(h0[200:], h1[200:])
    assert _same(base.checkpoints[200], changed.checkpoints[200])
    # a c = 0.5 readout at the same parameters gives the post-intervention loss
    model = cfg.model.replace(confidence=0.5)
    assert h1[200] == loss_and_gradients(model, changed.checkpoints[200], cfg.task)[0]

    adam = build_config(**SMALL_WM, readout="fixed_confidence", confidence=math.inf)
    keep = train(adam.replace(interventions=("75:c=1",)))
    reset = train(adam.replace(interventions=("75:c=1:reset",)))
    assert np.array_equal(keep.history["loss"][:76], reset.history["loss"][:76])
    assert not np.array_equal(keep.history["loss"][76:], reset.history["loss"][76:])
    # the authors' projection: ‖w_out‖₁ = c after every step's projection
    final = keep.params_final
    assert np.sum(np.abs(final["w_out"])) != pytest.approx(1.0)  # stepped after projecting


def test_divergence_is_reported_with_its_epoch(tmp_path):
    # tanh networks saturate rather than overflow; opposite infinite latents give NaN
    cfg = build_config(model="lowrank", rank=2, task="da", neurons=10, lr=0.01, epochs=50)
    params = init_params(cfg.model, 0)
    params["n"][:, 0], params["n"][:, 1] = 1e308, -1e308
    params["m"][:] = 1.0
    with pytest.raises(DivergenceError, match="epoch 0") as info:
        train(cfg, params=params)
    assert info.value.epoch == 0
    result = train(cfg, params=params, throw=False)
    assert result.diverged_epoch == 0 and np.all(np.isnan(result.history["loss"]))
    with pytest.raises(DivergenceError, match="epoch 0"):
        run_training(cfg, tmp_path / "run", params=params)
    record = load_run(tmp_path / "run")
    assert record.status == {"state": "diverged", "epoch": 0, "diverged_epoch": 0}


def test_bad_configurations_are_rejected():
    with pytest.raises(InputError, match="rank"):
        build_config(model="lowrank", rank=101)
    with pytest.raises(InputError, match="epochs"):
        build_config(epochs=-3)
    with pytest.raises(InputError, match="unknown task"):
        build_config(task="xor")
    with pytest.raises(InputError, match="learning rate"):
        build_config(lr=math.inf)
    with pytest.raises(InputError, match="intervention"):
        build_config(epochs=10, interventions=["20:c=1"])
    with pytest.raises(InputError, match="preset"):
        build_config(preset="fig99")


def test_presets_build():
    for name in training.PRESETS:
        cfg = build_config(preset=name)
        assert cfg.epochs >= 1
    fig8c = build_config(preset="fig8c")
    assert fig8c.task.trials == 20 and fig8c.task.steps == 22 and fig8c.optimizer == "adam"
    assert build_config(preset="fig4-dcd").model.readout == "latent_linear"


def test_run_directory_resume_is_bit_identical(tmp_path):
    cfg = build_config(**SMALL_WM, checkpoint_every=50)
    full = run_training(cfg, tmp_path / "full")
    record = load_run(tmp_path / "full")
    assert record.status["state"] == "finished"
    assert record.checkpoint_epochs == [0, 50, 100, 150]
    assert _same(record.history, full.history)
    assert (tmp_path / "full" / "training.png").stat().st_size > 1000

    class Kill(Exception):
        pass

    class KillAfter:
        """A progress meter that 'kills' the run once 100 epochs are done."""

        done = 0

        def start(self, total, description=""):
            pass

        def update(self, n=1, **postfix):
            self.done += n
            if self.done > 100:
                raise Kill

        def set_description(self, description):
            pass

        def close(self):
            pass

    with pytest.raises(Kill):
        run_training(cfg, tmp_path / "killed", progress=KillAfter())
    assert load_run(tmp_path / "killed").status["state"] == "running"
    with pytest.raises(InputError, match="already holds"):
        run_training(cfg, tmp_path / "killed")
    resumed = run_training(None, tmp_path / "killed", resume=True)
    assert _same(resumed.history, full.history)
    assert _same(resumed.params_final, full.params_final)
    again = load_run(tmp_path / "killed")
    for e in again.checkpoint_epochs:
        assert _same(again.checkpoint(e), record.checkpoint(e))


def test_simulate_returns_the_epoch_it_scores():
    cfg = build_config(**SMALL_WM)
    params = init_params(cfg.model, 1)
    sim = training.simulate(cfg.model, params, cfg.task, seed=2, epoch=3)
    trials, steps = cfg.task.trials, cfg.task.steps
    assert sim["states"].shape == (steps + 1, trials, cfg.model.neurons)
    assert sim["outputs"].shape == sim["targets"].shape == (trials, steps)
    assert sim["loss"] == loss_and_gradients(cfg.model, params, cfg.task, seed=2, epoch=3)[0]
    # pre-update readout: output t = tanh(w_outᵀ x_t + b_out)
    z = sim["states"][:steps] @ params["w_out"] + params["b_out"]
    np.testing.assert_allclose(sim["outputs"], np.tanh(z).T, rtol=1e-12, atol=1e-15)
    assert np.all(np.abs(sim["states"][0]) < 1)  # random r₀ = tanh(0.1 ζ)
