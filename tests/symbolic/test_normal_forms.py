"""The normal-form object: construction from SymPy and from text, validation."""

import pytest
import sympy

from ghostsym.errors import InputError
from ghostsym.symbolic.normal_forms import NormalForm, saddle_node


def test_parse_and_fields():
    nf = NormalForm.parse("x**4 + r")
    x, r = sympy.symbols("x r", real=True)
    assert nf.expr == x**4 + r
    assert nf.state == x and nf.param == r
    assert nf.x0 == 0 and nf.threshold is sympy.oo
    assert nf.describe()["expr"] == "r + x**4"


def test_custom_symbols_threshold_and_x0():
    nf = NormalForm.parse(
        "1 - cos(th) + (1 + cos(th))*I", state="th", param="I", threshold="pi", x0="0"
    )
    assert nf.threshold == sympy.pi
    assert nf.state.name == "th" and nf.param.name == "I"
    assert NormalForm.parse("x**2 + r", threshold="2.5").threshold == sympy.Rational(5, 2)


def test_sympy_constructor_normalises_assumptions():
    x, r = sympy.symbols("x r")  # no assumptions
    nf = NormalForm(x**2 + r, x, r)
    assert nf == saddle_node()


@pytest.mark.parametrize(
    "text, kwargs, message",
    [
        ("x**2", {}, "parameter"),
        ("r + 1", {}, "state"),
        ("x**2 + r + y", {}, "y"),
        ("x**2 + r", {"threshold": "-1"}, "threshold"),
        ("x**2 + r", {"x0": "r"}, "unknown symbol"),
        ("x**2 + r", {"state": "r"}, "differ"),
        ("x.__class__", {}, "attribute"),
    ],
)
def test_bad_normal_forms_are_refused(text, kwargs, message):
    with pytest.raises(InputError, match=message):
        NormalForm.parse(text, **kwargs)
