"""Helpers of the audited checks: fig8a's descent bounds against gradient descent itself."""

import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _module(stem):
    name = f"ghostsym_verify_{stem}"  # the name verification.discover() uses
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "verify" / f"{stem}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _descent_epochs(dldr, r0, r_n, lr, limit=10**6):
    r, e = r0, 0
    while r <= r_n and e < limit:
        r -= lr * dldr(r)
        e += 1
    return e


def test_descent_bounds_bracket_gradient_descent():
    f8a = _module("fig8a_confidence_gradient")
    grid = np.linspace(0.0, 1.0, 400)
    for dldr, lr in ((lambda r: -(0.01 + r**3), 2.0), (lambda r: -np.exp(8 * r) * 1e-3, 0.5)):
        for r0 in (0.2, 0.5):
            lo, hi = f8a.descent_bounds(grid, dldr(grid), r0, 0.9, lr)
            n = _descent_epochs(dldr, r0, 0.9, lr)
            assert lo <= n <= hi and np.isfinite(hi)


def test_descent_bounds_block_where_the_gradient_turns_back():
    f8a = _module("fig8a_confidence_gradient")
    grid = np.linspace(0.0, 1.0, 400)
    lo, hi = f8a.descent_bounds(grid, -(0.5 - grid) * 1e-2, 0.2, 0.9, 1.0)  # zero at r = 0.5
    assert lo == np.inf and hi == np.inf


def test_inversion_null_is_the_exact_mann_whitney_null():
    from scipy import stats

    f6b = _module("fig6b_rank_learning")
    for m, n in ((5, 5), (3, 4), (6, 2)):
        null = f6b.inversion_null(m, n)
        assert null.size == m * n + 1 and abs(null.sum() - 1) < 1e-12
        a, b = np.arange(m) + 100.0, np.arange(n, dtype=float)  # U = 0: all of a above b
        p = stats.mannwhitneyu(a, b, alternative="greater", method="exact").pvalue
        assert abs(null[0] - p) < 1e-12
        assert np.allclose(null, null[::-1])  # symmetric about m n / 2


def test_speed_false_fail_falls_with_seeds_and_effect():
    f6b = _module("fig6b_rank_learning")
    rng = np.random.default_rng(5)
    five, six = f6b.speed_false_fail(5, 5, rng), f6b.speed_false_fail(6, 6, rng)
    assert 0.003 < five < 0.03 and six < five  # 5 per rank: ~1 %; 6: ~0.2 %
    assert f6b.speed_false_fail(3, 3, rng) == 1.0  # no p < 0.01 attainable
    assert f6b.speed_false_fail(6, 6, rng, delta=0.0) > 0.9
