"""The shared population rule of the checks: "at least a fraction of the networks show it"."""

import pytest

from ghostsym.analysis.statistics import (
    clopper_pearson,
    false_fail_at_least,
    fewest_decisive,
    strictest_count,
)
from ghostsym.verification import population_outcome, status_of


def test_strictest_count_is_the_largest_count_within_the_false_fail_bound():
    assert strictest_count(8, 0.5) == 1 and strictest_count(20, 0.5) == 5
    assert strictest_count(32, 0.5) == 9 and strictest_count(40, 0.5) == 13
    for n in (8, 20, 32):
        k = strictest_count(n, 0.5)
        assert false_fail_at_least(k, n, 0.5) <= 0.01 < false_fail_at_least(k + 1, n, 0.5)
    assert strictest_count(6, 0.5) == 0 and fewest_decisive(0.5) == 7  # 0.5**7 = 0.78 %
    assert strictest_count(8, 0.9) == 5  # the Fig. 3A rows' rule


@pytest.mark.parametrize("n", [8, 20])
def test_pass_and_finding_are_complements_at_one_half(n):
    """For n >= 7 a count either passes or has a 99 % upper bound below 1/2."""
    k_min = strictest_count(n, 0.5)
    assert clopper_pearson(k_min - 1, n, 0.99, "upper")[1] < 0.5
    assert clopper_pearson(k_min, n, 0.99, "upper")[1] >= 0.5


def test_outcomes_pass_disagree_fail_and_skip():
    flags = [None] + [False] * 8
    out = population_outcome("t", flags, list(range(9)), "claim", "why")
    assert out.measured["of"] == 8 and out.disagrees and "0 of 8" in out.disagrees
    assert status_of(out) == "disagrees" and out.false_fail == pytest.approx(0.5**8)
    # A shortfall that cannot be a finding (a budget shorter than the paper's): a fail.
    out = population_outcome("t", flags, list(range(9)), "claim", "why", findings=False)
    assert status_of(out) == "fail"
    out = population_outcome("t", [True] + [False] * 7, list(range(8)), "claim", "why")
    assert status_of(out) == "pass" and out.details["networks"]["shows"][0] == 1
    # Too few networks counted for any 1 % rule: skipped, with the counts.
    few = population_outcome("t", [True, False, True], [1, 2, 3], "c", "w")
    assert status_of(few) == "skipped" and few.measured["networks"] == 2
    assert "below 7" in few.skipped
    assert status_of(population_outcome("t", [None] * 3, [1, 2, 3], "c", "w")) == "skipped"
