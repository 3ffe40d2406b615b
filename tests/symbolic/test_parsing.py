"""The safe expression parser: valid formulas give the intended SymPy expression; hostile and
malformed text is refused with a clear InputError, quickly, and nothing is ever executed."""

import time

import pytest
import sympy as sp

from ghostsym.errors import InputError
from ghostsym.symbolic.parsing import (
    FUNCTIONS,
    MAX_DEPTH,
    ParsedField,
    parse_expression,
    parse_vector_field,
)

x, y, r, z, a = sp.symbols("x y r z a")
theta = sp.Symbol("θ")

VALID = [
    ("x**4 + r", x**4 + r),
    ("x^2 + r", x**2 + r),  # ^ means ** with the power's precedence
    ("x ^ 2 * 3", 3 * x**2),
    ("-x**2", -(x**2)),
    ("(-x)**2", x**2),
    ("+x - -r", x + r),
    ("2*x/3", sp.Rational(2, 3) * x),
    ("0.1*x - 1e-3", x / 10 - sp.Rational(1, 1000)),
    ("0.5", sp.Rational(1, 2)),
    ("1_000 * x", 1000 * x),
    ("2.5e2", sp.Integer(250)),
    ("x**-1", 1 / x),
    ("x**0.5", sp.sqrt(x)),
    ("sqrt(x)", sp.sqrt(x)),
    ("exp(-x) + log(x) + ln(r)", sp.exp(-x) + sp.log(x) + sp.log(r)),
    ("sin(x) + cos(x) + tan(x)", sp.sin(x) + sp.cos(x) + sp.tan(x)),
    ("tanh(x) + sinh(x) + cosh(x)", sp.tanh(x) + sp.sinh(x) + sp.cosh(x)),
    ("atan(x) + asin(x) + acos(x)", sp.atan(x) + sp.asin(x) + sp.acos(x)),
    ("atan2(y, x)", sp.atan2(y, x)),
    ("abs(x) * sign(x)", sp.Abs(x) * sp.sign(x)),
    ("sigmoid(z)", 1 / (1 + sp.exp(-z))),
    ("pi * E", sp.pi * sp.E),
    ("oo", sp.oo),
    ("-inf", -sp.oo),
    ("1 - cos(θ) + (1 + cos(θ))*r", 1 - sp.cos(theta) + (1 + sp.cos(theta)) * r),
    ("  x +\tr  ", x + r),
    (" + ".join(["x"] * 120), 120 * x),  # a long sum is not deep nesting
    ("*".join(["x"] * 60), x**60),
    ("((((x))))", x),
    ("2**pi", 2**sp.pi),
    ("exp(exp(5))", sp.exp(sp.exp(5))),
    ("sqrt(2)**100", sp.Integer(2) ** 50),
    ("x**100", x**100),
    ("r*x*(1 - x) - a*x**2/(1 + x**2)", r * x * (1 - x) - a * x**2 / (1 + x**2)),
]


@pytest.mark.parametrize("text, expected", VALID, ids=[t for t, _ in VALID])
def test_valid_expressions_give_the_intended_sympy_expression(text, expected):
    # Structural equality, not just mathematical: the exact expression is what derivations use.
    got = parse_expression(text)
    assert got == expected, (got, expected)


HOSTILE = [
    # (text, a fragment the message must contain)
    ("x.real", "attribute access"),
    ("x.__class__.__bases__", "attribute access"),
    ("().__class__", "attribute access"),
    ("__import__('os').system('ls')", "attribute access"),
    ("__import__('os')", "unknown function '__import__'"),
    ("eval('1')", "unknown function 'eval'"),
    ("exec('x=1')", "unknown function 'exec'"),
    ("open('/etc/passwd')", "unknown function 'open'"),
    ("getattr(x, 'real')", "unknown function 'getattr'"),
    ("foo(x)", "unknown function 'foo'"),
    ("Symbol('x')", "unknown function 'Symbol'"),
    ("sympify('x')", "unknown function 'sympify'"),
    ("sin(x)(y)", "only named functions"),
    ("(lambda: 1)()", "only named functions"),
    ("x[0]", "subscripts"),
    ("x[1:2]", "subscripts"),
    ("lambda: 1", "lambda"),
    ("lambda x: x", "lambda"),
    ("[i for i in x]", "comprehensions"),
    ("{i for i in x}", "comprehensions"),
    ("{i: i for i in x}", "comprehensions"),
    ("(i for i in x)", "generator"),
    ("sin(x=1)", "keyword arguments"),
    ("sin(*x)", "starred"),
    ("sin(x, y)", "takes 1 argument"),
    ("atan2(x)", "takes 2 arguments"),
    ("sin()", "takes 1 argument"),
    ("'abc'", "strings"),
    ("b'abc'", "strings"),
    ("f'{x}'", "f-strings"),
    ("1j", "complex"),
    ("x + 2j", "complex"),
    ("True", "not a number"),
    ("None", "not a number"),
    ("...", "not a number"),
    ("x < 1", "comparisons"),
    ("x == r", "comparisons"),
    ("x and y", "boolean operators"),
    ("not x", "'not'"),
    ("~x", "'~'"),
    ("x if y else z", "conditional"),
    ("x % 2", "'%'"),
    ("x // 2", "'//'"),
    ("x @ y", "'@'"),
    ("x << 2", "'<<'"),
    ("x | y", "'|'"),
    ("x & y", "'&'"),
    ("(x, y)", "tuples"),
    ("x, y", "tuples"),
    ("[x]", "lists"),
    ("{x}", "sets"),
    ("{x: y}", "dictionaries"),
    ("(x := 1)", "assignment"),
    ("x = 1", "invalid syntax"),
    ("import os", "invalid syntax"),
    ("x; y", "invalid syntax"),
    ("x +", "invalid syntax"),
    ("x ** ** 2", "invalid syntax"),
    ("2 x", "invalid syntax"),
    ("x\x00", "null bytes"),
    ("", "empty"),
    ("   \n ", "empty"),
    ("sin", "is a function"),
    ("sin + x", "is a function"),
    ("_x", "'_'"),
    ("__builtins__", "'_'"),
    ("1/0", "undefined"),
    ("x/0", "undefined"),
    ("oo - oo", "undefined"),
    ("0**-1", "undefined"),
    ("1e999", "overflows"),
    ("1e-300", "out of range"),
    ("1e30", "out of range"),
    ("123456789012345678901234567890", "more than 18 digits"),
    ("10**10**10", "exponent larger than"),
    ("9**9**9**9", "exponent larger than"),
    ("x**1000", "exponent larger than"),
    ("x**(10**15*pi)", "exponent larger than"),
    ("2**oo", "exponent larger than"),
    ("(10**15)**100", "digits"),
    ("((2**100)**10)**2", "digits"),
    ("(sqrt(10**15))**100", "digits"),
    ("(10**15)**40 * (10**15)**40 * 10**15", "digits"),
    ("(x**100)**100", "after folding powers"),
    ("((x**10)**10)**10 + r", "after folding powers"),
    ("x**2 + r + exp(exp(exp(100)))", "exp of a constant larger than 700"),
    ("cosh(-1000) + x", "cosh of a constant larger than 700"),
    ("x" * 501, "too long"),
    ("(" * 60 + "x" + ")" * 60, "nested"),
    ("-" * 60 + "x", "nested"),
    ("sin(" * 45 + "x" + ")" * 45, "nested"),
    ("x" + "**x" * 45, "nested"),
    ("(" * 300 + ")" * 300, "too long"),
]


@pytest.mark.parametrize("text, fragment", HOSTILE, ids=[repr(t[:30]) for t, _ in HOSTILE])
def test_hostile_and_malformed_input_is_refused_clearly(text, fragment):
    start = time.perf_counter()
    with pytest.raises(InputError) as info:
        parse_expression(text)
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert fragment.lower() in message.lower(), message
    assert "\n" not in message  # one line, for the CLI


def test_nothing_is_executed(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.chdir(tmp_path)
    for text in [
        f"__import__('pathlib').Path('{marker}').touch()",
        f"open('{marker}', 'w')",
        "[c for c in ().__class__.__base__.__subclasses__()]",
    ]:
        with pytest.raises(InputError):
            parse_expression(text)
    assert not marker.exists()


def test_declared_symbols_restrict_names():
    assert parse_expression("x**2 + r", ["x", "r"]) == x**2 + r
    with pytest.raises(InputError, match="unknown symbol 'y'; declared symbols: x, r"):
        parse_expression("x + y", ["x", "r"])
    # constants stay available with a declared list
    assert parse_expression("x + pi", ["x"]) == x + sp.pi


def test_declared_symbol_objects_are_used_as_given():
    xr = sp.Symbol("x", positive=True)
    got = parse_expression("sqrt(x**2)", [xr])
    assert got == xr  # only true because the positive symbol itself was used


def test_real_option_creates_real_symbols():
    got = parse_expression("x + r", real=True)
    assert all(s.is_real for s in got.free_symbols)
    assert parse_expression("x").is_real is None


@pytest.mark.parametrize("bad", [["pi"], ["sin"], ["x y"], ["_x"], ["1x"], [3]])
def test_bad_declared_symbols_are_refused(bad):
    with pytest.raises(InputError):
        parse_expression("x", bad)


def test_non_string_input_is_refused():
    with pytest.raises(InputError, match="must be a string"):
        parse_expression(42)


def test_limits_are_configurable():
    deep = "(" * 10 + "x" + ")" * 10
    assert parse_expression(deep) == x
    with pytest.raises(InputError, match="nested"):
        parse_expression(deep, max_depth=5)
    with pytest.raises(InputError, match="too long"):
        parse_expression("x + r", max_length=3)
    assert MAX_DEPTH >= 20


def test_every_whitelisted_function_parses():
    for name, (arity, _) in FUNCTIONS.items():
        args = ", ".join(["x", "y"][:arity])
        expr = parse_expression(f"{name}({args})")
        assert expr.free_symbols <= {x, y}


def test_parse_vector_field():
    field = parse_vector_field(["y", "x**2 + a - y"], ["x", "y"], ["a"])
    assert isinstance(field, ParsedField)
    xs, ys, as_ = (sp.Symbol(n, real=True) for n in "xya")
    assert field.state == (xs, ys) and field.params == (as_,)
    assert field.exprs == (ys, xs**2 + as_ - ys)
    assert field.matrix().shape == (2, 1)


@pytest.mark.parametrize(
    "texts, state, params, fragment",
    [
        (["y"], ["x", "y"], [], "1 component(s) given for 2"),
        (["1", "2"], ["x", "y"], [], "does not depend on the state"),
        (["y", "x"], ["x", "y"], ["a"], "not used in the field: a"),
        (["y", "x + b"], ["x", "y"], ["a"], "dy/dt"),
        (["y", "x.imag"], ["x", "y"], [], "attribute access"),
        (["y", "x"], ["x", "x"], [], "duplicate state"),
        (["y", "x + a"], ["x", "a"], ["a"], "both as state and parameter"),
        (["x + oo"], ["x"], [], "infinity"),
        ([], [], [], "at least one state"),
        ("x", "x", [], "not a string"),
        (["x"], ["pi"], [], "reserved"),
    ],
)
def test_parse_vector_field_refuses_bad_fields(texts, state, params, fragment):
    with pytest.raises(InputError) as info:
        parse_vector_field(texts, state, params)
    assert fragment in str(info.value)
