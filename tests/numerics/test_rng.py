"""The counter-based random numbers (ghostsym.numerics.rng)."""

import statistics

import numpy as np
import pytest

from ghostsym.numerics import rng


def test_mix64_is_splitmix64():
    # SplitMix64 (Steele, Lea & Flood 2014) seeded with 0: its first outputs are the
    # finaliser of 1·γ and 2·γ.
    golden = 0x9E3779B97F4A7C15
    assert int(rng.mix64(np.uint64(golden))) == 0xE220A8397B1DCDAF
    assert int(rng.mix64(np.uint64(2 * golden % 2**64))) == 0x6E789E6AA1B965F4


def test_normal_quantile_matches_the_standard_library():
    ref = statistics.NormalDist()
    for p in [1e-300, 1e-20, 1e-8, 0.001, 0.07, 0.075, 0.3, 0.5, 0.61, 0.925, 0.98, 1 - 1e-12]:
        assert rng.normal_quantile(p) == pytest.approx(ref.inv_cdf(p), rel=1e-14, abs=1e-15)


def test_counter_based_normals_are_standard_and_independent():
    key = rng.stream_key(7, rng.STREAM_NOISE)
    x = np.empty(400_000)
    rng.fill_normal(key, 0, x)
    assert abs(x.mean()) < 0.01 and abs(x.std() - 1) < 0.01
    assert abs(np.mean(x**4) - 3) < 0.05
    assert abs(np.corrcoef(x[:-1], x[1:])[0, 1]) < 0.01
    # blocks are disjoint slices of one stream; another seed or stream gives other numbers
    y = np.empty(1000)
    rng.fill_normal(key, 3, y)
    assert np.array_equal(y, x[3000:4000])
    for other in (rng.stream_key(8, rng.STREAM_NOISE), rng.stream_key(7, rng.STREAM_X0)):
        z = np.empty(1000)
        rng.fill_normal(other, 3, z)
        assert abs(np.corrcoef(y, z)[0, 1]) < 0.1
    # the two-pass fill equals the quantile of each uniform, tails included
    direct = [rng.normal_quantile(rng.uniform(key, c)) for c in range(3000, 4000)]
    assert np.array_equal(np.array(direct), y)
    assert np.sum(np.abs(y) > 1.44) > 100  # tails present (|q| > 0.425)


def test_draws_are_pinned():
    """The numbers every saved run depends on (a change here changes every noisy run)."""
    x = np.empty(4)
    rng.fill_normal(rng.stream_key(40, rng.STREAM_X0), 2, x)
    assert [v.hex() for v in x] == [
        "-0x1.7883a68d48c07p-2",
        "0x1.3ddbe1bc94d39p-2",
        "0x1.0cf0f2056c47ap-1",
        "0x1.9bb8adc605c17p-2",
    ]
    assert rng.uniform(rng.stream_key(40, rng.STREAM_NOISE), 5).hex() == "0x1.3f494f5de9c5ap-3"


def test_keys_of_any_size_are_accepted_from_python():
    """numba hands uint64 keys to Python as ints; a small one must not pin the signature."""
    small, big = 12345, 2**64 - 3
    out = np.empty(5)
    rng.fill_normal(small, 0, out)
    rng.fill_normal(big, 0, out)
    assert np.all(np.isfinite(out))
    assert 0.0 < rng.uniform(small, 1) < 1.0 and 0.0 < rng.uniform(big, 2**63 + 5) < 1.0
