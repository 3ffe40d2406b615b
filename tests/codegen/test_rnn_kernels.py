"""The engine's generated functions; its random numbers are those of ghostsym.numerics.rng."""

import numpy as np
import pytest

from ghostsym.codegen.rnn import engine


@pytest.fixture(scope="module")
def eng():
    return engine("tanh")


def test_fast_tanh_and_outputs_match_numpy(eng):
    h = np.concatenate([np.linspace(-40, 40, 40001), [-800.0, 800.0, 0.0, 1e-300, -1e-12]])
    phi = np.array([eng.act(v)[0] for v in h])
    slope = np.array([eng.act(v)[1] for v in h])
    assert np.max(np.abs(phi - np.tanh(h))) <= 4e-16
    assert np.max(np.abs(slope - (1 - np.tanh(h) ** 2))) <= 8e-16
    sig = np.array([eng.out_sigmoid(v) for v in h])
    exact = 0.5 * (1 + np.tanh(h / 2))
    assert np.max(np.abs(sig[:, 0] - exact)) <= 4e-16
    assert np.max(np.abs(sig[:, 1] - exact * (1 - exact))) <= 4e-16
    assert np.all(np.isfinite(sig))


def test_engine_draws_from_the_one_rng_module(eng):
    # The engine has no random-number code of its own: its names are ghostsym.numerics.rng's
    # functions (tested there against SplitMix64 and AS241).
    from ghostsym.numerics import rng

    for name in ("stream_key", "fill_normal", "normal_quantile"):
        assert getattr(eng, name) is getattr(rng, name)
    assert eng.STREAM_NOISE == rng.STREAM_NOISE
