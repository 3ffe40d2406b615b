"""One-dimensional normal forms f(x; r): the objects the general DA pipeline analyses.

A normal form is one small declaration::

    from ghostsym.symbolic.normal_forms import NormalForm
    nf = NormalForm.parse("x**4 + r")                    # from text (safe parser)
    nf = NormalForm(x**4 + r, x, r)                      # from SymPy (x, r Symbols)
    nf = NormalForm.parse("1 - cos(x) + (1 + cos(x))*r", threshold="pi")

Fields
------
expr : sympy.Expr
    The field f(x; r) of dx/dt = f(x; r).
state : sympy.Symbol
    The state variable x (real).
param : sympy.Symbol
    The learnable parameter r (real).
x0 : sympy.Expr
    The initial state x(0) (a real constant; default 0).
threshold : sympy.Expr
    The output threshold x*: the output turns on when x crosses it (``oo`` for the paper's
    analytical limit x* -> infinity, a number, or a constant such as ``pi``).

Everything else — fixed points, the fold, escape time, loss regimes, r*, the point of no
return, α* and its exponent in T — is derived by :func:`ghostsym.symbolic.da.analyze`.

Contract for a new normal form (checked here or explained by the pipeline):

1. ``expr`` depends on the state and on the parameter, and on no other symbol;
2. ``x0`` and ``threshold`` are real constants with ``threshold > x0`` (the output turns on
   when x increases past the threshold; mirror x -> -x otherwise);
3. for a ghost there must be a fold f = ∂f/∂x = 0 on the path [x0, threshold]; when there is
   none the pipeline says so instead of producing numbers.

SymPy only: this module must not import numerical libraries.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from ghostsym.errors import InputError

#: Built-in normal forms by name: field as a function of the (state, parameter) symbols.
BUILTIN = {
    "saddle-node": lambda x, r: x**2 + r,
    "quartic": lambda x, r: x**4 + r,
}


def _parse(text: str, symbols) -> sympy.Expr:
    from ghostsym.symbolic.parsing import parse_expression

    return parse_expression(text, symbols)


def _constant(value, what: str) -> sympy.Expr:
    """A real constant (number, ``oo`` or a constant like ``pi``) from text or SymPy."""
    if isinstance(value, str):
        text = value.strip()
        if text in ("oo", "inf", "+oo", "infinity"):
            return sympy.oo
        expr = _parse(text, [])
    else:
        expr = sympy.sympify(value)
    if expr.free_symbols:
        names = ", ".join(sorted(map(str, expr.free_symbols)))
        raise InputError(f"{what} must be a constant, got an expression in {names}")
    if expr is sympy.oo:
        return expr
    if expr.is_real is False or expr.is_finite is False or not expr.is_number:
        raise InputError(f"{what} must be a real number, got {expr}")
    return expr


@dataclass(frozen=True)
class NormalForm:
    """A 1-D normal form dx/dt = f(x; r), x(0) = x0, output threshold x* (see module doc)."""

    expr: sympy.Expr
    state: sympy.Symbol
    param: sympy.Symbol
    x0: sympy.Expr = sympy.Integer(0)
    threshold: sympy.Expr = sympy.oo

    def __post_init__(self):
        state = sympy.Symbol(self.state.name, real=True)
        param = sympy.Symbol(self.param.name, real=True)
        if state.name == param.name:
            raise InputError(f"state and parameter must differ (both are {state.name!r})")
        # Normalise assumptions: the pipeline works with real state and parameter.
        expr = sympy.sympify(self.expr).xreplace({self.state: state, self.param: param})
        expr = expr.xreplace(
            {s: state for s in expr.free_symbols if s.name == state.name}
        ).xreplace({s: param for s in expr.free_symbols if s.name == param.name})
        if expr.has(sympy.oo, -sympy.oo, sympy.zoo, sympy.nan):
            raise InputError(
                f"normal form {expr} contains infinity or an undefined value; a field must be "
                "finite (oo is allowed only as the threshold)"
            )
        names = {s.name for s in expr.free_symbols}
        if state.name not in names:
            raise InputError(f"normal form {expr} does not depend on the state {state.name!r}")
        if param.name not in names:
            raise InputError(f"normal form {expr} does not depend on the parameter {param.name!r}")
        extra = names - {state.name, param.name}
        if extra:
            raise InputError(
                f"normal form {expr} uses unknown symbol(s) {', '.join(sorted(extra))}; "
                f"only the state {state.name!r} and the parameter {param.name!r} are allowed"
            )
        x0 = _constant(self.x0, "x0")
        if x0 is sympy.oo:
            raise InputError("x0 must be finite")
        threshold = _constant(self.threshold, "threshold")
        if threshold is not sympy.oo and not bool(threshold > x0):
            raise InputError(
                f"threshold ({threshold}) must lie above x0 ({x0}); mirror x -> -x for a "
                "field that escapes downwards"
            )
        object.__setattr__(self, "expr", expr)
        object.__setattr__(self, "state", state)
        object.__setattr__(self, "param", param)
        object.__setattr__(self, "x0", x0)
        object.__setattr__(self, "threshold", threshold)

    @classmethod
    def parse(
        cls,
        text: str,
        state: str = "x",
        param: str = "r",
        x0: str = "0",
        threshold: str = "oo",
    ) -> NormalForm:
        """Build a normal form from user text with the safe parser (never ``eval``)."""
        for what, name in (("state", state), ("param", param)):
            if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
                raise InputError(f"{what} name must be a plain identifier, got {name!r}")
        if state == param:
            raise InputError(f"state and parameter must differ (both are {state!r})")
        expr = _parse(text, [state, param])
        return cls(
            expr,
            sympy.Symbol(state, real=True),
            sympy.Symbol(param, real=True),
            _constant(x0, "x0"),
            _constant(threshold, "threshold"),
        )

    @classmethod
    def builtin(cls, name: str) -> NormalForm:
        """A built-in normal form by name (see :data:`BUILTIN`)."""
        try:
            field = BUILTIN[name]
        except KeyError:
            raise InputError(f"unknown normal form {name!r}; known: {', '.join(BUILTIN)}") from None
        x, r = sympy.symbols("x r", real=True)
        return cls(field(x, r), x, r)

    # -- presentation ---------------------------------------------------------------------
    def _where(self) -> str:
        parts = []
        if self.x0 != 0:
            parts.append(f"x0 = {sympy.sstr(self.x0)}")
        if self.threshold is not sympy.oo:
            parts.append(f"x* = {sympy.sstr(self.threshold)}")
        return f" ({', '.join(parts)})" if parts else ""

    def __str__(self) -> str:
        """The field, with x0 and the threshold when they are not the defaults 0 and oo."""
        return sympy.sstr(self.expr) + self._where()

    def label(self) -> str:
        """A short file-safe label, e.g. ``x4_r`` for ``x**4 + r``."""
        text = (sympy.sstr(self.expr) + self._where()).replace("**", "").replace(" ", "")
        safe = "".join(c if c.isalnum() else "_" for c in text).strip("_")
        while "__" in safe:
            safe = safe.replace("__", "_")
        return safe[:40] or "normal_form"

    def describe(self) -> dict:
        """JSON-ready description (strings)."""
        return {
            "expr": sympy.sstr(self.expr),
            "latex": sympy.latex(self.expr),
            "state": self.state.name,
            "param": self.param.name,
            "x0": sympy.sstr(self.x0),
            "threshold": sympy.sstr(self.threshold),
        }


def saddle_node() -> NormalForm:
    """The paper's canonical normal form dx/dt = x**2 + r, x(0) = 0, x* -> oo (Eq. 12)."""
    return NormalForm.builtin("saddle-node")
