"""The engine's generated functions and its counter-based random numbers."""

import statistics

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


def test_normal_quantile_matches_as241_reference(eng):
    ref = statistics.NormalDist()
    for p in [1e-300, 1e-20, 1e-8, 0.001, 0.07, 0.075, 0.3, 0.5, 0.61, 0.925, 0.98, 1 - 1e-12]:
        assert eng.normal_quantile(p) == pytest.approx(ref.inv_cdf(p), rel=1e-14, abs=1e-15)


def test_counter_based_normals_are_standard_and_independent(eng):
    key = eng.stream_key(7, eng.STREAM_NOISE)
    x = np.empty(400_000)
    eng.fill_normal(key, 0, x)
    assert abs(x.mean()) < 0.01 and abs(x.std() - 1) < 0.01
    assert abs(np.mean(x**4) - 3) < 0.05
    assert abs(np.corrcoef(x[:-1], x[1:])[0, 1]) < 0.01
    # blocks are disjoint slices of one stream; another key gives other numbers
    y = np.empty(1000)
    eng.fill_normal(key, 3, y)
    assert np.array_equal(y, x[3000:4000])
    z = np.empty(1000)
    eng.fill_normal(eng.stream_key(8, eng.STREAM_NOISE), 3, z)
    assert abs(np.corrcoef(y, z)[0, 1]) < 0.1
    # the two-pass fill equals the quantile of each uniform, tails included
    direct = [eng.normal_quantile(eng._unit(key, c)) for c in range(3000, 4000)]
    assert np.array_equal(np.array(direct), y)
    assert np.sum(np.abs(y) > 1.44) > 100  # tails present (|q| > 0.425)
