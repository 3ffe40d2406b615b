"""Time budgets of the DA pipeline, tested with artificially small budgets (never by racing
the clock on a loaded machine)."""

import time

import pytest

from ghostsym.symbolic import da
from ghostsym.symbolic.normal_forms import NormalForm


def test_exceeded_derivation_budget_is_a_one_line_refusal_naming_the_limit():
    nf = NormalForm.parse("x**4 - x**2 + r")
    with pytest.raises(da.BudgetError) as info:
        da.analyze(nf, time_budget=1e-3)
    message = str(info.value)
    assert "time budget of 0.001 s" in message and "TIME_BUDGET" in message
    assert "\n" not in message


def test_an_attempt_that_runs_out_falls_back():
    start = time.monotonic()
    assert da._attempt(lambda: time.sleep(30), 0.05) is None
    assert time.monotonic() - start < 20


def test_an_exhausted_outer_budget_is_not_swallowed_by_an_attempt():
    with pytest.raises(da._Timeout):
        with da._time_limit(0.05):
            da._attempt(lambda: time.sleep(30), 25)


def test_limits_nest_and_are_released():
    with da._time_limit(30):
        assert da._attempt(lambda: 7, 0.5) == 7
        assert da._DEADLINES and len(da._DEADLINES) == 1
    assert not da._DEADLINES
