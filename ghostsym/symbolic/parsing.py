"""Safe parsing of user-typed formulas into SymPy expressions.

User text (``--normal-form "x**4 + r"``, vector fields for the slow-mode reduction) is parsed
with Python's :mod:`ast` module in ``"eval"`` mode and the SymPy expression is built by walking
the syntax tree against an explicit whitelist. Nothing is ever evaluated by Python: no
``eval``, and no ``sympify``/``parse_expr`` on the text.

The grammar accepted
--------------------
* **symbols** — identifiers; when ``symbols`` is given, only those names. Names starting with
  ``_`` are refused (no dunder tricks).
* **constants** — ``pi``, ``E`` (Euler's number), ``oo`` and ``inf`` (infinity). These, and
  the function names below, are reserved and cannot be declared as symbols.
* **numbers** — integer and decimal literals (``3``, ``0.25``, ``1e-3``, ``1_000``). Decimal
  literals become *exact* rationals (``0.1`` → 1/10), as a derivation needs. Literals are
  capped in size (:data:`MAX_LITERAL_DIGITS`, :data:`MIN_LITERAL_MAGNITUDE`).
* **operators** — unary ``+ -``, binary ``+ - * / **`` and parentheses. ``^`` is accepted as a
  synonym of ``**`` (the text is rewritten before parsing, so ``x^2 + r`` means
  ``x**2 + r`` with the usual precedence — Python would otherwise read ``^`` as XOR with a
  *lower* precedence than ``+``).
* **functions** — calls, with positional arguments only, of :data:`FUNCTIONS`: ``sin cos tan
  exp log ln sqrt tanh sinh cosh atan asin acos atan2 abs sign sigmoid`` (``sigmoid(z)`` is
  ``1/(1 + exp(-z))``).

Everything else — attribute access, subscripts, unknown functions, keyword arguments,
lambdas, comprehensions, strings, bytes, complex or boolean literals, comparisons, ``%``,
``//``, bit operators, … — is refused with an :class:`~ghostsym.errors.InputError` that says
what is wrong. Guards against resource exhaustion: the text length (``max_length``), the
nesting depth (``max_depth``; chains such as ``a + b + c + …`` do not count as nesting), the
size of literals, the magnitude of numeric exponents (:data:`MAX_EXPONENT`) and the number of
digits any exact number may reach (:data:`MAX_NUMBER_DIGITS`), so ``10**10**10`` or
``(10**15)**100`` are refused before SymPy computes them.

SymPy only: this module must not import numerical libraries.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import sympy

from ghostsym.errors import InputError

#: Default cap on the length of an expression (characters).
MAX_LENGTH = 500
#: Default cap on the nesting depth (parentheses, calls, powers, unary signs).
MAX_DEPTH = 40
#: Integer literals may have at most this many digits.
MAX_LITERAL_DIGITS = 18
#: Non-zero decimal literals smaller than this in magnitude are refused (exact rationals with
#: huge denominators make SymPy slow and are never meant).
MIN_LITERAL_MAGNITUDE = 1e-15
#: A numeric exponent must satisfy ``|exponent| <= MAX_EXPONENT``.
MAX_EXPONENT = 100
#: No exact number built while parsing may have more digits than this (numerator plus
#: denominator). SymPy factors integers under fractional powers, so this also bounds time.
MAX_NUMBER_DIGITS = 300
#: exp, sinh and cosh of a constant above this overflow floating point: refused.
MAX_GROWTH_ARGUMENT = 700
_GROWING = frozenset({"exp", "sinh", "cosh"})


def _sigmoid(z: sympy.Expr) -> sympy.Expr:
    return 1 / (1 + sympy.exp(-z))


#: Whitelisted functions: name -> (number of arguments, builder).
FUNCTIONS: dict[str, tuple[int, Callable[..., sympy.Expr]]] = {
    "sin": (1, sympy.sin),
    "cos": (1, sympy.cos),
    "tan": (1, sympy.tan),
    "exp": (1, sympy.exp),
    "log": (1, sympy.log),
    "ln": (1, sympy.log),
    "sqrt": (1, sympy.sqrt),
    "tanh": (1, sympy.tanh),
    "sinh": (1, sympy.sinh),
    "cosh": (1, sympy.cosh),
    "atan": (1, sympy.atan),
    "asin": (1, sympy.asin),
    "acos": (1, sympy.acos),
    "atan2": (2, sympy.atan2),
    "abs": (1, sympy.Abs),
    "sign": (1, sympy.sign),
    "sigmoid": (1, _sigmoid),
}

#: Named constants.
CONSTANTS: dict[str, sympy.Expr] = {
    "pi": sympy.pi,
    "E": sympy.E,
    "oo": sympy.oo,
    "inf": sympy.oo,
}

#: Names that can never be symbols.
RESERVED = frozenset(FUNCTIONS) | frozenset(CONSTANTS)

_BINARY = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
}
_FORBIDDEN_BINARY = {
    ast.Mod: "'%'",
    ast.FloorDiv: "'//'",
    ast.MatMult: "'@'",
    ast.LShift: "'<<'",
    ast.RShift: "'>>'",
    ast.BitOr: "'|'",
    ast.BitAnd: "'&'",
    ast.BitXor: "'^' (XOR)",
}
#: What a forbidden node is, for error messages.
_NODE_NAMES = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscripts (indexing)",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "generator expressions",
    ast.Compare: "comparisons",
    ast.BoolOp: "boolean operators (and/or)",
    ast.IfExp: "conditional expressions (if/else)",
    ast.Tuple: "tuples (commas)",
    ast.List: "lists",
    ast.Set: "sets",
    ast.Dict: "dictionaries",
    ast.JoinedStr: "f-strings",
    ast.FormattedValue: "f-strings",
    ast.NamedExpr: "assignment expressions (:=)",
    ast.Starred: "starred arguments",
    ast.Slice: "slices",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


def _allowed_summary() -> str:
    return (
        "allowed: symbols, numbers, + - * / ** (or ^), parentheses, the constants "
        + ", ".join(CONSTANTS)
        + " and the functions "
        + ", ".join(FUNCTIONS)
    )


def _clip(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


class _Builder:
    """Walks a Python expression tree and builds the SymPy expression, refusing anything else."""

    def __init__(
        self, source: str, names: dict[str, sympy.Symbol] | None, real: bool, max_depth: int
    ):
        self.source = source
        self.names = names
        self.real = real
        self.max_depth = max_depth

    # -- errors ------------------------------------------------------------------------
    def fail(self, node: ast.AST | None, reason: str, hint: str = "") -> InputError:
        where = ""
        if node is not None and hasattr(node, "col_offset"):
            segment = ast.get_source_segment(self.source, node)
            if segment and segment != self.source:
                where = f" (in {_clip(segment, 40)!r})"
        hint = f"; {hint}" if hint else ""
        return InputError(f"invalid expression {_clip(self.source)!r}: {reason}{where}{hint}")

    # -- walking -----------------------------------------------------------------------
    def build(self, node: ast.AST, depth: int) -> sympy.Expr:
        if depth > self.max_depth:
            raise self.fail(None, f"nested more than {self.max_depth} levels deep")
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return self.checked(node, -self.build(node.operand, depth + 1))
            if isinstance(node.op, ast.UAdd):
                return self.build(node.operand, depth + 1)
            op = "'not'" if isinstance(node.op, ast.Not) else "'~'"
            raise self.fail(node, f"operator {op} is not allowed")
        if isinstance(node, ast.BinOp):
            return self.binop(node, depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        what = _NODE_NAMES.get(type(node), f"{type(node).__name__} syntax")
        raise self.fail(node, f"{what} not allowed", _allowed_summary())

    def constant(self, node: ast.Constant) -> sympy.Expr:
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            raise self.fail(node, f"the literal {value!r} is not a number")
        if isinstance(value, (str, bytes)):
            raise self.fail(node, "strings are not allowed")
        if isinstance(value, complex):
            raise self.fail(node, "complex numbers are not allowed")
        if isinstance(value, int):
            if len(str(abs(value))) > MAX_LITERAL_DIGITS:
                raise self.fail(node, f"integer literal has more than {MAX_LITERAL_DIGITS} digits")
            return sympy.Integer(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise self.fail(node, "number literal overflows; write oo for infinity")
            if value != 0 and not (MIN_LITERAL_MAGNITUDE <= abs(value) < 10**MAX_LITERAL_DIGITS):
                raise self.fail(
                    node,
                    f"number literal out of range (allowed magnitudes {MIN_LITERAL_MAGNITUDE:g}"
                    f" to 1e{MAX_LITERAL_DIGITS})",
                )
            # repr() is the shortest decimal that round-trips, i.e. what the user typed.
            frac = Fraction(repr(value))
            return sympy.Rational(frac.numerator, frac.denominator)
        raise self.fail(node, f"literal of type {type(value).__name__} not allowed")

    def name(self, node: ast.Name) -> sympy.Expr:
        ident = node.id
        if ident in CONSTANTS:
            return CONSTANTS[ident]
        if ident in FUNCTIONS:
            raise self.fail(node, f"{ident} is a function; call it as {ident}(...)")
        if ident.startswith("_"):
            raise self.fail(node, f"names starting with '_' are not allowed ({ident!r})")
        if self.names is None:
            return sympy.Symbol(ident, real=True) if self.real else sympy.Symbol(ident)
        if ident not in self.names:
            allowed = ", ".join(self.names) or "(none)"
            raise self.fail(node, f"unknown symbol {ident!r}; declared symbols: {allowed}")
        return self.names[ident]

    def binop(self, node: ast.BinOp, depth: int) -> sympy.Expr:
        op = type(node.op)
        if op in _FORBIDDEN_BINARY:
            raise self.fail(node, f"operator {_FORBIDDEN_BINARY[op]} is not allowed")
        if op is ast.Pow:
            base = self.build(node.left, depth + 1)
            exponent = self.build(node.right, depth + 1)
            return self.power(node, base, exponent)
        if op not in _BINARY:
            raise self.fail(node, f"operator {type(node.op).__name__} is not allowed")
        # Flatten left-associated chains (a + b - c + …, a * b / c …): a long sum is not deep.
        group = (ast.Add, ast.Sub) if op in (ast.Add, ast.Sub) else (ast.Mult, ast.Div)
        chain = []
        cur: ast.AST = node
        while isinstance(cur, ast.BinOp) and isinstance(cur.op, group):
            chain.append((type(cur.op), cur.right))
            cur = cur.left
        result = self.build(cur, depth + 1)
        for kind, right_node in reversed(chain):
            right = self.build(right_node, depth + 1)
            if kind is ast.Add:
                result = result + right
            elif kind is ast.Sub:
                result = result - right
            elif kind is ast.Mult:
                result = result * right
            else:
                result = result / right
            result = self.checked(node, result)
        return result

    def power(self, node: ast.AST, base: sympy.Expr, exponent: sympy.Expr) -> sympy.Expr:
        if exponent.is_Number:
            if exponent.is_finite is False or abs(exponent) > MAX_EXPONENT:
                raise self.fail(node, f"exponent larger than {MAX_EXPONENT} in magnitude")
            if not base.free_symbols:
                # Estimate the size of the exact number SymPy would compute.
                size = sum(_digits(a) for a in base.atoms(sympy.Rational))
                if size * abs(float(exponent)) > MAX_NUMBER_DIGITS:
                    raise self.fail(
                        node,
                        f"power would produce a number with more than {MAX_NUMBER_DIGITS} digits",
                    )
        elif exponent.is_number and not exponent.free_symbols:
            # A constant but non-rational exponent (e.g. pi, 2**(1/2)): bound its size.
            try:
                magnitude = abs(complex(sympy.N(exponent, 15)))
            except (TypeError, ValueError):
                magnitude = math.inf
            if not magnitude <= MAX_EXPONENT:
                raise self.fail(node, f"exponent larger than {MAX_EXPONENT} in magnitude")
        return self.checked(node, sympy.Pow(base, exponent))

    def call(self, node: ast.Call, depth: int) -> sympy.Expr:
        if not isinstance(node.func, ast.Name):
            what = _NODE_NAMES.get(type(node.func), "calling an expression")
            raise self.fail(node, f"{what} not allowed; only named functions can be called")
        fname = node.func.id
        if fname not in FUNCTIONS:
            raise self.fail(
                node,
                f"unknown function {fname!r}; allowed functions: {', '.join(FUNCTIONS)}",
            )
        if node.keywords:
            raise self.fail(node, f"keyword arguments are not allowed in {fname}(...)")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self.fail(node, f"starred arguments are not allowed in {fname}(...)")
        arity, builder = FUNCTIONS[fname]
        if len(node.args) != arity:
            plural = "s" if arity != 1 else ""
            raise self.fail(node, f"{fname} takes {arity} argument{plural}, got {len(node.args)}")
        args = [self.build(a, depth + 1) for a in node.args]
        self.growth_checked(node, fname, args)
        return self.checked(node, builder(*args))

    def checked(self, node: ast.AST, expr: sympy.Expr) -> sympy.Expr:
        for atom in expr.atoms(sympy.Rational):
            if _digits(atom) > MAX_NUMBER_DIGITS:
                raise self.fail(node, f"a number with more than {MAX_NUMBER_DIGITS} digits")
        # Folded powers count after SymPy's automatic simplification: (x**100)**100 is
        # x**10000, although each literal exponent is small.
        for p in expr.atoms(sympy.Pow):
            e = p.exp
            if e.is_Number and e.is_finite is not False and abs(e) > MAX_EXPONENT:
                raise self.fail(
                    node,
                    f"exponent {sympy.sstr(e)} (after folding powers) larger than "
                    f"{MAX_EXPONENT} in magnitude",
                )
        return expr

    def growth_checked(self, node: ast.AST, fname: str, args) -> None:
        """Refuse exp/sinh/cosh of a constant that overflows floating point (its exact value
        would take unbounded time to evaluate or print)."""
        if fname not in _GROWING or args[0].free_symbols or not args[0].is_number:
            return
        try:
            value = complex(sympy.N(args[0], 15))
        except (TypeError, ValueError, OverflowError):
            value = complex(math.inf)
        size = abs(value.real) if fname != "exp" else value.real
        if not size <= MAX_GROWTH_ARGUMENT:
            raise self.fail(
                node,
                f"{fname} of a constant larger than {MAX_GROWTH_ARGUMENT} overflows floating point",
            )


def _digits(q: sympy.Rational) -> int:
    p, d = abs(int(q.p)), int(q.q)
    return max(1, p.bit_length() * 30103 // 100000 + 1) + (
        0 if d == 1 else d.bit_length() * 30103 // 100000 + 1
    )


def _symbol_table(
    symbols: Iterable[str | sympy.Symbol] | None, real: bool
) -> dict[str, sympy.Symbol] | None:
    if symbols is None:
        return None
    if isinstance(symbols, (str, sympy.Symbol)):
        symbols = [symbols]
    table: dict[str, sympy.Symbol] = {}
    for s in symbols:
        if isinstance(s, sympy.Symbol):
            name, sym = s.name, s
        elif isinstance(s, str):
            name = s
            sym = sympy.Symbol(s, real=True) if real else sympy.Symbol(s)
        else:
            raise InputError(f"symbol names must be strings, got {type(s).__name__}")
        if not name.isidentifier() or name.startswith("_"):
            raise InputError(f"invalid symbol name {name!r} (use letters, digits and '_')")
        if name in RESERVED:
            raise InputError(f"{name!r} is a reserved name (a constant or function)")
        if name in table and table[name] != sym:
            raise InputError(f"symbol {name!r} declared twice")
        table[name] = sym
    return table


def parse_expression(
    text: str,
    symbols: Iterable[str | sympy.Symbol] | None = None,
    *,
    max_length: int = MAX_LENGTH,
    max_depth: int = MAX_DEPTH,
    real: bool = False,
) -> sympy.Expr:
    """Parse user text into a SymPy expression, safely (see the module docstring).

    Parameters
    ----------
    text : the formula, e.g. ``"x**4 + r"``.
    symbols : the only names allowed as symbols (strings, or SymPy symbols whose exact
        objects — with their assumptions — are then used). ``None`` allows any identifier.
    max_length : longest accepted text, in characters.
    max_depth : deepest accepted nesting.
    real : create symbols from names with ``real=True`` (default: plain ``Symbol(name)``,
        so ``parse_expression("x**2 + r") == Symbol("x")**2 + Symbol("r")``).

    Raises
    ------
    InputError
        with a one-line message saying what is wrong.
    """
    if not isinstance(text, str):
        raise InputError(f"expression must be a string, got {type(text).__name__}")
    if len(text) > max_length:
        raise InputError(
            f"expression too long ({len(text)} characters; at most {max_length} allowed)"
        )
    if not text.strip():
        raise InputError("empty expression")
    names = _symbol_table(symbols, real)
    source = text.strip().replace("^", "**")
    # Redundant parentheses vanish from the syntax tree, so bound them on the text (this also
    # keeps Python's own parser far from its nesting limits).
    level = deepest = 0
    for ch in source:
        level += ch in "([{"
        level -= ch in ")]}"
        deepest = max(deepest, level)
    if deepest > max_depth:
        raise InputError(
            f"invalid expression {_clip(text)!r}: parentheses nested more than {max_depth} deep"
        )
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        msg = exc.msg or "syntax error"
        col = f" at column {exc.offset}" if exc.offset else ""
        raise InputError(f"invalid expression {_clip(text)!r}: {msg}{col}") from None
    except (ValueError, MemoryError, RecursionError) as exc:
        # e.g. null bytes, or input nested beyond what Python's parser can hold.
        raise InputError(f"invalid expression {_clip(text)!r}: {exc or 'too complex'}") from None
    builder = _Builder(source, names, real, max_depth)
    try:
        expr = builder.build(tree.body, 1)
    except RecursionError:
        raise InputError(f"invalid expression {_clip(text)!r}: nested too deeply") from None
    if not isinstance(expr, sympy.Expr):
        raise InputError(f"invalid expression {_clip(text)!r}: not a numeric expression")
    if expr.has(sympy.zoo, sympy.nan):
        raise InputError(
            f"invalid expression {_clip(text)!r}: undefined value (division by zero or oo - oo)"
        )
    return expr


@dataclass(frozen=True)
class ParsedField:
    """A vector field dx/dt = F(x; params) parsed from text."""

    exprs: tuple[sympy.Expr, ...]
    state: tuple[sympy.Symbol, ...]
    params: tuple[sympy.Symbol, ...]

    def matrix(self) -> sympy.Matrix:
        return sympy.Matrix(self.exprs)


def parse_vector_field(
    texts: Sequence[str],
    state: Sequence[str],
    params: Sequence[str] = (),
    *,
    max_length: int = MAX_LENGTH,
    max_depth: int = MAX_DEPTH,
) -> ParsedField:
    """Parse the components of a vector field dx_i/dt = texts[i].

    Symbols are created real (``Symbol(name, real=True)``); each component may use only the
    declared state and parameter names. The field must depend on the state, and every
    declared parameter must appear somewhere (a declared but unused name is almost always a
    typo).
    """
    if isinstance(texts, str) or isinstance(state, str) or isinstance(params, str):
        raise InputError("texts, state and params must be sequences of strings, not a string")
    texts, state, params = list(texts), list(state), list(params)
    if not state:
        raise InputError("a vector field needs at least one state variable")
    if len(texts) != len(state):
        raise InputError(
            f"{len(texts)} component(s) given for {len(state)} state variable(s); "
            "give one expression per state variable"
        )
    overlap = set(state) & set(params)
    if overlap:
        raise InputError(f"names declared both as state and parameter: {sorted(overlap)}")
    for group, label in ((state, "state"), (params, "parameter")):
        if len(set(group)) != len(group):
            raise InputError(f"duplicate {label} names: {group}")
    table = _symbol_table([*state, *params], real=True)
    assert table is not None
    state_syms = tuple(table[n] for n in state)
    param_syms = tuple(table[n] for n in params)
    exprs = []
    for name, text in zip(state, texts, strict=True):
        try:
            exprs.append(
                parse_expression(text, table.values(), max_length=max_length, max_depth=max_depth)
            )
        except InputError as exc:
            raise InputError(f"d{name}/dt: {exc}") from None
    for e in exprs:
        if e.has(sympy.oo, -sympy.oo):
            raise InputError("a vector field component may not contain infinity")
    used = set().union(*(e.free_symbols for e in exprs))
    if not used & set(state_syms):
        raise InputError(f"the field does not depend on the state variables {', '.join(state)}")
    unused = [p.name for p in param_syms if p not in used]
    if unused:
        raise InputError(f"declared parameter(s) not used in the field: {', '.join(unused)}")
    return ParsedField(tuple(exprs), state_syms, param_syms)
