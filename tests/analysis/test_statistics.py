"""Population statistics (ghostsym.analysis.statistics) against independent computations."""

import math

import numpy as np
import pytest
from scipy import stats

from ghostsym.analysis.statistics import (
    bootstrap_interval,
    clopper_pearson,
    false_fail_at_least,
    false_fail_at_most,
    fisher_exact,
    fit_threshold,
)


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (10, 10), (17, 40)])
def test_clopper_pearson_matches_scipy_exact_interval(k, n):
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    lo, hi = clopper_pearson(k, n, 0.95)
    assert lo == pytest.approx(ci.low, abs=1e-12) and hi == pytest.approx(ci.high, abs=1e-12)
    # One-sided at 97.5 % is the same bound.
    assert clopper_pearson(k, n, 0.975, "lower")[0] == pytest.approx(ci.low, abs=1e-12)
    assert clopper_pearson(k, n, 0.975, "upper")[1] == pytest.approx(ci.high, abs=1e-12)


def test_clopper_pearson_rejects_impossible_counts():
    for k, n in [(-1, 3), (4, 3), (0, 0)]:
        with pytest.raises(ValueError):
            clopper_pearson(k, n)


def test_false_fail_probabilities_are_binomial_tails():
    # "at least 9 of 10" with p = 0.99: fails when 0..8 show it.
    direct = sum(math.comb(10, j) * 0.99**j * 0.01 ** (10 - j) for j in range(9))
    assert false_fail_at_least(9, 10, 0.99) == pytest.approx(direct, rel=1e-9)
    direct = sum(math.comb(10, j) * 0.05**j * 0.95 ** (10 - j) for j in range(2, 11))
    assert false_fail_at_most(1, 10, 0.05) == pytest.approx(direct, rel=1e-9)


def test_bootstrap_interval_covers_the_mean_and_narrows_with_n():
    rng = np.random.default_rng(7)
    small = bootstrap_interval(rng.normal(2.0, 1.0, 20), rng=np.random.default_rng(1))
    large = bootstrap_interval(rng.normal(2.0, 1.0, 2000), rng=np.random.default_rng(1))
    assert small[0] < 2.0 < small[1] and large[0] < 2.0 < large[1]
    assert (large[1] - large[0]) < (small[1] - small[0]) / 5
    with pytest.raises(ValueError):
        bootstrap_interval([1.0])


def test_fisher_exact_matches_scipy():
    odds, p = fisher_exact(7, 7, 4, 7)
    ref = stats.fisher_exact([[7, 0], [4, 3]])
    assert p == pytest.approx(ref.pvalue) and odds == ref.statistic


def test_separated_steps_give_the_gap():
    x = np.repeat(np.linspace(0.8, 1.2, 81), 10)
    fit = fit_threshold(x, x > 1.013)
    assert fit.method == "separated"
    assert fit.gap == pytest.approx((1.01, 1.015))
    assert fit.low <= 1.01 and fit.high >= 1.015  # the gap is always inside
    assert fit.high / fit.low < 1.01  # and little more, with 10 runs per rate
    assert fit.contains(1.0125) and not fit.contains(1.03)


def test_one_sided_data_bound_one_side():
    fit = fit_threshold(np.repeat([1.0, 2.0, 3.0], 20), np.zeros(60, bool))
    assert math.isnan(fit.threshold) and fit.method == "no events"
    assert fit.bounded == (True, False) and fit.low > 2.0


def test_logistic_interval_covers_the_truth_at_about_its_level():
    # Truth: P = logistic(4 (log10 x + 1.5)), threshold 10**-1.5; 99 % intervals.
    truth = 10**-1.5
    covered = 0
    for rep in range(30):
        rng = np.random.default_rng(100 + rep)
        lx = rng.uniform(-3, 0, 200)
        y = rng.random(200) < 1 / (1 + np.exp(-4 * (lx + 1.5)))
        fit = fit_threshold(10**lx, y, confidence=0.99, grid_points=201)
        assert fit.method == "logistic" and fit.bounded == (True, True)
        covered += fit.contains(truth)
        assert 2.0 < fit.slope < 8.0
    # P(at most 26 of 30 covered | coverage 0.99) < 1e-3.
    assert covered >= 27


def test_fit_rejects_bad_input():
    for x, y in [([], []), ([1.0, -1.0], [0, 1]), ([1.0, np.nan], [0, 1]), ([1.0], [0, 1])]:
        with pytest.raises(ValueError):
            fit_threshold(x, y)
