"""The batched engine (networks in SIMD lanes) is bit-identical to the one-network engine.

Every case trains the same networks twice — each network alone in the one-network engine
(``_Batch(..., batched=False)``: one per thread) and all of them in the batched engine
(blocks of ``BATCH_LANES`` lanes) — and requires identical histories, parameters, optimiser
moments, step counts and divergence epochs (NaN equal to NaN). The cases span rank one,
rank K and full rank; DA, DCD and DMTS (random initial states, noise); every readout; SGD,
momentum and Adam mixed within one block; a network that diverges in one lane; an
intervention; chunk boundaries; float32; and more networks than one block holds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ghostsym.errors import InputError
from ghostsym.training import build_config, train, train_many
from ghostsym.training import engine as engine_module
from ghostsym.training.engine import BATCH_LANES, _Batch

OPTIMIZERS = ("sgd", "momentum", "adam")


def _configs(count, lr=0.01, diverge=None, **options):
    """``count`` networks of one structure: seeds 0…, optimisers cycling, lr spread; network
    ``diverge`` gets a learning rate that makes it diverge."""
    out = []
    for s in range(count):
        rate = lr * (1 + s / 10)
        if s == diverge:
            rate = 1e15
        out.append(build_config(seed=s, optimizer=OPTIMIZERS[s % 3], lr=rate, **options))
    return out


def _run(configs, batched):
    batch = _Batch(configs, None, batched=batched)
    assert batch.batched is batched
    batch.run()
    return batch


def _assert_identical(a, b):
    for key in a.history:
        np.testing.assert_array_equal(a.history[key], b.history[key], err_msg=key)
    for key in ("theta", "m1", "m2", "steps", "status"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key), err_msg=key)


CASES = {
    "rank1-da-latent": dict(model="rank1", neurons=13, epochs=25),
    "rank1-da-trained-c": dict(
        model="rank1", neurons=9, epochs=20, train_confidence=True, train_threshold=True
    ),
    "rank3-dcd-latent_linear-noise": dict(
        model="lowrank",
        rank=3,
        neurons=11,
        epochs=15,
        task="dcd",
        trials_per_condition=2,
        rate_sd=0.3,
        noise_sd=0.05,
    ),
    "rank2-da-population": dict(model="lowrank", rank=2, neurons=8, epochs=15),
    "full-dmts-noise": dict(
        model="full",
        neurons=9,
        epochs=12,
        task="dmts",
        trials_per_condition=2,
        rate_sd=0.2,
        noise_sd=0.1,
    ),
    "full-dcd-fixed_confidence-projected": dict(
        model="full",
        neurons=9,
        epochs=12,
        task="dcd",
        readout="fixed_confidence",
        confidence=2.0,
        interventions=["5:c=inf"],
    ),
    "full-dcd-fixed_confidence-exact": dict(
        model="full",
        neurons=7,
        epochs=10,
        task="dcd",
        readout="fixed_confidence",
        confidence=math.inf,
        fixed_confidence_update="exact",
        interventions=["4:c=1.5"],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_batched_equals_one_network(name):
    configs = _configs(BATCH_LANES + 3, diverge=3, **CASES[name])  # two blocks, one short
    alone = _run(configs, batched=False)
    together = _run(configs, batched=True)
    _assert_identical(alone, together)
    assert alone.status[3] >= 0, "the SGD network with lr 1e15 should have diverged"
    assert np.count_nonzero(alone.status >= 0) < len(configs), "the others keep training"


def test_float32_batched_equals_one_network_and_differs_from_float64():
    options = dict(model="rank1", neurons=13, epochs=30, lr=0.05)
    configs = _configs(5, dtype="float32", **options)
    alone = _run(configs, batched=False)
    together = _run(configs, batched=True)
    _assert_identical(alone, together)
    assert alone.theta.dtype == np.float32
    f64 = _run(_configs(5, **options), batched=True)
    gap = np.max(np.abs(f64.history["loss"] - alone.history["loss"]))
    # float32 rounding (2^-24 relative) moves the loss, but only slightly over 30 epochs
    assert 0 < gap < 1e-4


def test_train_many_uses_the_batched_engine_and_matches_train(monkeypatch):
    configs = _configs(3, model="rank1", neurons=9, epochs=40, checkpoints=(0, 17, 40))
    used = []
    real = _Batch.run

    def spy(self, *args, **kwargs):
        used.append(self.batched)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(_Batch, "run", spy)
    many = train_many(configs)
    ones = [train(c) for c in configs]
    assert used == [True, False, False, False]
    for a, b in zip(many, ones, strict=True):
        for key in a.history:
            np.testing.assert_array_equal(a.history[key], b.history[key])
        assert sorted(a.checkpoints) == [0, 17, 40]
        for epoch in a.checkpoints:
            for p in a.checkpoints[epoch]:
                np.testing.assert_array_equal(a.checkpoints[epoch][p], b.checkpoints[epoch][p])


def test_chunking_does_not_change_batched_results(monkeypatch):
    configs = _configs(4, model="lowrank", rank=2, neurons=8, epochs=30, interventions=[])
    whole = _run(configs, batched=True)
    monkeypatch.setattr(engine_module, "FIRST_CHUNK_EPOCHS", 1)
    monkeypatch.setattr(engine_module, "PROGRESS_INTERVAL", 1e-9)  # chunks of 1-5 epochs
    chunks = []
    batch = _Batch(configs, None, batched=True)
    batch.run(on_chunk=lambda b, at: chunks.append(b.epoch))
    assert len(chunks) > 5
    _assert_identical(whole, batch)


def test_networks_of_different_dtype_do_not_train_together():
    configs = [
        build_config(neurons=5, epochs=2),
        build_config(neurons=5, epochs=2, dtype="float32"),
    ]
    with pytest.raises(InputError, match="dtype"):
        train_many(configs)


def test_bad_dtype_is_refused():
    with pytest.raises(InputError, match="unknown dtype 'float16'; known: float64, float32"):
        build_config(dtype="float16")


def test_batched_resume_from_a_saved_state_equals_one_run():
    configs = _configs(3, model="rank1", neurons=9, epochs=30, checkpoints=(13,))
    whole = _run(configs, batched=True)
    saved = {}

    def keep(b, at_boundary):
        if b.epoch == 13:
            saved["state"] = {k: np.array(v) for k, v in b.state().items()}
            saved["history"] = {k: v.copy() for k, v in b.history.items()}

    _Batch(configs, None, batched=True).run(on_chunk=keep)
    resumed = _Batch(configs, None, batched=True)
    resumed.load_state(saved["state"], saved["history"])
    assert resumed.epoch == 13
    resumed.run()
    _assert_identical(whole, resumed)
