"""Pre-printing rewrites (ghostsym.codegen.rewriting) keep the function, change the kernel."""

import math

import numpy as np
import pytest
import sympy as sp

from ghostsym import codegen
from ghostsym.codegen import rewriting as rw
from ghostsym.codegen.rnn import fast_form

z = sp.Symbol("z", real=True)
r, T = sp.symbols("r T", positive=True)


def test_tanh_as_exp(tmp_path):
    expr = rw.optimize(sp.tanh(2 * z) + 1, [rw.TANH_AS_EXP])
    assert not expr.has(sp.tanh) and expr.has(sp.exp)
    assert sp.simplify((expr - sp.tanh(2 * z) - 1).rewrite(sp.exp)) == 0
    assert fast_form(sp.tanh(z)) == 1 - 2 / (sp.exp(2 * z) + 1)
    fn = codegen.kernel("t", (z,), fast_form(sp.tanh(z)), cache_dir=tmp_path)
    for v in (-800.0, -3.0, 0.0, 1e-9, 0.7, 800.0):  # overflow-safe in both directions
        assert fn(v) == pytest.approx(np.tanh(v), abs=3e-16)


def test_half_integer_powers(tmp_path):
    g = sp.pi / (4 * r ** sp.Rational(3, 2)) + r ** sp.Rational(5, 2) + r ** sp.Rational(1, 2)
    out = rw.optimize(g, rw.NORMAL_FORM_LOSS_REWRITES)
    src = codegen.function_source(codegen.Kernel("g", (r,), out))
    assert "**(3/2)" not in src and "**(5/2)" not in src and "math.sqrt" in src
    fn = codegen.kernel("g", (r,), out, cache_dir=tmp_path)
    for v in (1e-6, 0.3, 7.0):
        assert fn(v) == pytest.approx(math.pi / (4 * v**1.5) + v**2.5 + v**0.5, rel=1e-14)
    # a negative power inverts the root first: r = 0 gives ∞, not a ZeroDivisionError
    inv_expr = rw.optimize(r ** sp.Rational(-3, 2), [rw.HALF_INTEGER_POWERS])
    inv = codegen.kernel("inv", (r,), inv_expr, cache_dir=tmp_path)
    assert inv(0.0) == math.inf and inv(4.0) == 0.125


def test_non_expressions_pass_through():
    assert rw.optimize(1.5, [rw.TANH_AS_EXP]) == 1.5
    assert rw.optimize(sp.nan, rw.NORMAL_FORM_LOSS_REWRITES) is sp.nan
