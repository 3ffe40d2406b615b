"""A derivation kept step by step, printable as text and as a self-contained LaTeX document.

A :class:`Derivation` records prose and displayed equations in order. Every displayed
equation is a SymPy object (an expression, a relation, or a pair ``lhs, rhs``) rendered by
``sympy.latex`` — nothing is typed in LaTeX by hand except prose. Named results are kept
in :attr:`Derivation.results` so that code (the JSON output, verification checks, kernel
generation) uses exactly the expressions the document shows.

SymPy only: this module must not import numerical libraries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import sympy
from sympy.core.function import AppliedUndef
from sympy.printing.latex import LatexPrinter, greek_letters_set
from sympy.printing.precedence import PRECEDENCE

#: Relation names accepted by :meth:`Derivation.equation`, with their LaTeX.
RELATIONS = {
    "=": "=",
    "approx": r"\approx",
    "propto": r"\propto",
    "<": "<",
    ">": ">",
    "<=": r"\le",
    ">=": r"\ge",
    "equiv": r"\equiv",
    "implies": r"\;\Longrightarrow\;",
    "to": r"\to",
}


#: Characters of LaTeX beyond which a left-hand side is set on a line of its own.
LONG_SIDE = 200


@dataclass
class Step:
    """One element of a derivation: a paragraph of prose or a displayed equation."""

    kind: str  # "text", "equation" or "section"
    text: str = ""
    lhs: Any = None
    rhs: Any = None
    relation: str = "="
    label: str | None = None

    def latex(self) -> str:
        if self.kind == "section":
            return f"\\section*{{{self.text}}}"
        if self.kind == "text":
            return self.text
        lhs = _latex(self.lhs)
        tag = f"\\tag{{{self.label}}}" if self.label else ""
        if self.rhs is None:
            return f"\\begin{{equation*}}\n  {lhs}{tag}\n\\end{{equation*}}"
        rhs = _latex(self.rhs)
        if len(lhs) > LONG_SIDE and len(rhs) > 8:
            # Both sides long (a limit of a long expression): the relation starts a new line.
            return (
                f"\\begin{{multline*}}\n  {lhs} \\\\\n  {RELATIONS[self.relation]} {rhs}{tag}"
                "\n\\end{multline*}"
            )
        body = f"{lhs} {RELATIONS[self.relation]} {rhs}"
        return f"\\begin{{equation*}}\n  {body}{tag}\n\\end{{equation*}}"

    def terminal(self) -> str:
        """Readable terminal form: prose without LaTeX, equations by ``sympy.pretty``."""
        if self.kind == "section":
            return f"\n== {self.text} =="
        if self.kind == "text":
            return _terminal_prose(self.text)
        blocks = [_pretty_block(self.lhs)]
        if self.rhs is not None:
            blocks += [[f" {_TERMINAL_RELATIONS[self.relation]} "], _pretty_block(self.rhs)]
        if self.label:
            blocks.append([f"    ({_terminal_prose(self.label)})"])
        return "\n".join("    " + line for line in _side_by_side(*blocks))

    def plain(self) -> str:
        if self.kind == "section":
            return f"\n== {self.text} =="
        if self.kind == "text":
            return self.text
        rel = (
            self.relation if self.relation in ("=", "<", ">", "<=", ">=") else f" {self.relation} "
        )
        out = f"    {sympy.sstr(self.lhs)}"
        if self.rhs is not None:
            out += f" {rel.strip()} {sympy.sstr(self.rhs)}"
        if self.label:
            out += f"    ({self.label})"
        return out


#: LaTeX of the prose and its terminal form (for :meth:`Derivation.to_terminal`).
_TERMINAL_PROSE = (
    (re.compile(r"\\partial\s*"), "∂"),
    (re.compile(r"\\rho(?![A-Za-z])"), "ρ"),
    (re.compile(r"\\alpha(?![A-Za-z])"), "α"),
    (re.compile(r"\\beta(?![A-Za-z])"), "β"),
    (re.compile(r"\\gamma(?![A-Za-z])"), "γ"),
    (re.compile(r"\\sigma(?![A-Za-z])"), "σ"),
    (re.compile(r"\\infty(?![A-Za-z])"), "∞"),
    (re.compile(r"\\leftarrow(?![A-Za-z])"), "←"),
    (re.compile(r"\\le(?![A-Za-z])"), "≤"),
    (re.compile(r"\\ge(?![A-Za-z])"), "≥"),
    (re.compile(r"\\int(?![A-Za-z])"), "∫"),
    (re.compile(r"\\hat\s*\{?y\}?"), "ŷ"),
    (re.compile(r"\\[,;!]"), " "),
    (re.compile(r"\\(?:frac|mathrm|text)(?![A-Za-z])"), ""),
    (re.compile(r"\\([A-Za-z]+)"), r"\1"),
    (re.compile(r"[{}$]"), ""),
    (re.compile(r"(?<!-)---(?!-)"), "—"),
    (re.compile(r"(?<!-)--(?!-)"), "–"),
    (re.compile(r"(?<!\\)~"), " "),
)


def _terminal_prose(text: str) -> str:
    for pattern, replacement in _TERMINAL_PROSE:
        text = pattern.sub(replacement, text)
    return text


_TERMINAL_RELATIONS = {
    "=": "=",
    "approx": "≈",
    "propto": "∝",
    "<": "<",
    ">": ">",
    "<=": "≤",
    ">=": "≥",
    "equiv": "≡",
    "implies": "⟹",
    "to": "→",
}


def _pretty_block(obj) -> list[str]:
    if isinstance(obj, str):
        obj = sympy.Symbol(obj)
    return sympy.pretty(obj, use_unicode=True, wrap_line=False).split("\n")


def _side_by_side(*blocks: list[str]) -> list[str]:
    """Join pretty-printed blocks horizontally, vertically centred."""
    height = max(len(b) for b in blocks)
    out = [""] * height
    for b in blocks:
        width = max((len(line) for line in b), default=0)
        top = (height - len(b)) // 2
        for i in range(height):
            j = i - top
            out[i] += (b[j] if 0 <= j < len(b) else "").ljust(width)
    return [line.rstrip() for line in out]


#: A subscript (or superscript) that is a word (``t_esc``, ``x_fp``, ``W^in``): set upright,
#: as in a paper. The base may carry a star (``alpha^*_MSE``).
_WORD_SUBSCRIPT = re.compile(r"^([A-Za-z]+(?:\^\*)?)_\{?([A-Za-z]{2,})\}?$")
_WORD_SUPERSCRIPT = re.compile(r"^([A-Za-z]+)\^([A-Za-z]{2,})$")
#: Subscripts that are signs rather than letters (``s_pm`` prints :math:`s_\pm`).
_SIGN_SUBSCRIPTS = {"pm": r"\pm", "mp": r"\mp"}


def _is_word(text: str) -> bool:
    return text.lower() not in greek_letters_set and text not in _SIGN_SUBSCRIPTS


class Partial(sympy.Derivative):
    """A partial derivative by parameters the object depends on implicitly.

    Printed with the object's name only, :math:`\\partial G/\\partial m_j` or
    :math:`\\partial^2 F_i/\\partial x_k \\partial x_l`, not :math:`\\frac{d}{dm_j} G(\\kappa)`.
    The object may be a symbol, an indexed symbol (:math:`F_i`) or an undefined function
    (printed by its name). Build it with ``Partial(obj, var, ..., evaluate=False)``.
    """

    @property
    def free_symbols(self):
        # ∂r/∂b_j is a quantity indexed by j: keep the variables' symbols (a Derivative drops
        # them, and a Sum over j would then pull the partial out of the sum).
        return super().free_symbols.union(*(v.free_symbols for v in self.variables))


class Increment(sympy.Function):
    """The increment :math:`\\Delta x` of a quantity (a symbol or an indexed symbol).

    ``Increment(t)`` is the time step :math:`\\Delta t`; ``Increment(m[j])`` prints
    :math:`\\Delta m_j`. It is a symbol of its own: nothing differentiates or evaluates it.
    """

    nargs = 1


class Nabla(sympy.Function):
    """The gradient :math:`\\nabla q` (``Nabla(q)``) or Hessian :math:`\\nabla^2 q`
    (``Nabla(q, 2)``) of a scalar field, optionally evaluated at a point:
    ``Nabla(q, 1, x_s)`` prints :math:`\\nabla q(x_s)`."""

    nargs = (1, 2, 3)


class LogDerivative(sympy.Function):
    """The logarithmic derivative (elasticity) :math:`d\\ln y/d\\ln x` of ``y`` in ``x``."""

    nargs = 2


def _name_of(obj) -> sympy.Basic:
    """The printed name of what a derivative acts on: a function by its name only."""
    if isinstance(obj, AppliedUndef):
        return sympy.Symbol(obj.func.__name__)
    return obj


class AppendixPrinter(LatexPrinter):
    """``sympy.latex`` with the conventions of a paper's appendix, the same in every document.

    - ``\\arctan`` rather than ``\\operatorname{atan}`` (``inv_trig_style="full"``);
    - the Heaviside step is always :math:`H(\\cdot)` (θ is a parameter vector and the theta
      neuron's phase in these documents);
    - a name written in TeX is printed as written (never split at an underscore);
    - a word subscript is upright: ``t_esc`` prints :math:`t_\\mathrm{esc}`;
    - the derivative of a one-argument undefined function with respect to its argument
      prints in prime notation, :math:`q''(\\kappa_g)`;
    - in a sum, the terms with a positive sign come first: :math:`\\sigma(c(x - x^*))`, not
      :math:`\\sigma(c(-x^* + x))`.
    """

    def __init__(self, settings=None):
        super().__init__({"inv_trig_style": "full", "fold_frac_powers": True, **(settings or {})})

    def _print_Symbol(self, expr, style="plain"):
        if "\\" in expr.name or "/" in expr.name or "{" in expr.name:
            # A name written in TeX would be split at its first "_" into a nonsense subscript
            # (``\\ell_{t(\\kappa)}``): build the object from SymPy pieces instead.
            raise ValueError(f"symbol name {expr.name!r} is TeX, not a SymPy name")
        match = _WORD_SUBSCRIPT.match(expr.name)
        if match and _is_word(match.group(2)):
            base = self._print(sympy.Symbol(match.group(1)))
            return f"{base}_{{\\mathrm{{{match.group(2)}}}}}"
        match = _WORD_SUPERSCRIPT.match(expr.name)
        if match and _is_word(match.group(2)):
            base = self._print(sympy.Symbol(match.group(1)))
            return f"{base}^{{\\mathrm{{{match.group(2)}}}}}"
        base, _, sub = expr.name.partition("_")
        if sub in _SIGN_SUBSCRIPTS:
            return f"{self._print(sympy.Symbol(base))}_{{{_SIGN_SUBSCRIPTS[sub]}}}"
        return super()._print_Symbol(expr, style=style)

    def _print_Transpose(self, expr):
        return f"{self.parenthesize(expr.arg, PRECEDENCE['Pow'])}^{{\\top}}"

    def _print_re(self, expr, exp=None):
        tex = f"\\operatorname{{Re}}{{\\left({self._print(expr.args[0])}\\right)}}"
        return f"{tex}^{{{exp}}}" if exp else tex

    def _print_Mul(self, expr):
        # A partial derivative in a numerator would stack a fraction inside a fraction
        # (∂f'/∂θ over f''): print the other factors first, then the partials.
        partials = [f for f in expr.args if isinstance(f, Partial)]
        if partials:
            rest = sympy.Mul(*[f for f in expr.args if not isinstance(f, Partial)])
            if sympy.fraction(rest)[1] != 1:
                sign = ""
                if rest.could_extract_minus_sign():
                    sign, rest = "- ", -rest
                tex = self._print(rest)
                if isinstance(rest, sympy.Add):
                    tex = f"\\left({tex}\\right)"
                return sign + tex + " " + " ".join(self._print(p) for p in partials)
        return super()._print_Mul(expr)

    def _print_MatMul(self, expr):
        coeff, rest = expr.as_coeff_mmul()
        if coeff != 1 and coeff.is_Rational and coeff > 0:
            return f"{self._print(coeff)} {self._print(sympy.MatMul(*rest.args))}"
        return super()._print_MatMul(expr)

    def _print_Heaviside(self, expr, exp=None):
        tex = f"H\\left({self._print(expr.args[0])}\\right)"
        return f"{tex}^{{{exp}}}" if exp else tex

    def _print_Derivative(self, expr):
        inner = expr.expr
        if (
            isinstance(inner, AppliedUndef)
            and len(inner.args) == 1
            and len(expr.variable_count) == 1
            and expr.variable_count[0][0] == inner.args[0]
            and expr.derivative_count <= 3
        ):
            name = self._print(sympy.Symbol(inner.func.__name__))
            primes = "'" * int(expr.derivative_count)
            # Braced like SymPy's own function calls, so that no space opens before "(".
            return f"{name}{primes}{{\\left({self._print(inner.args[0])} \\right)}}"
        return super()._print_Derivative(expr)

    def _print_Partial(self, expr):
        name = self._print(_name_of(expr.expr))
        order = int(expr.derivative_count)
        top = "\\partial" if order == 1 else f"\\partial^{{{order}}}"
        bottom = " ".join(
            f"\\partial {self._print(var)}"
            if count == 1
            else f"\\partial {self._print(var)}^{{{count}}}"
            for var, count in expr.variable_count
        )
        return f"\\frac{{{top} {name}}}{{{bottom}}}"

    def _print_Increment(self, expr, exp=None):
        tex = f"\\Delta {self._print(expr.args[0])}"
        return f"\\left({tex}\\right)^{{{exp}}}" if exp else tex

    def _print_Nabla(self, expr, exp=None):
        field, *rest = expr.args
        order = int(rest[0]) if rest else 1
        tex = "\\nabla" if order == 1 else f"\\nabla^{{{order}}}"
        tex += f" {self._print(field)}"
        if len(rest) == 2:
            tex += f"{{\\left({self._print(rest[1])} \\right)}}"
        return f"\\left({tex}\\right)^{{{exp}}}" if exp else tex

    def _print_LogDerivative(self, expr, exp=None):
        y, x = (self._print(arg) for arg in expr.args)
        tex = f"\\frac{{d \\ln {y}}}{{d \\ln {x}}}"
        return f"\\left({tex}\\right)^{{{exp}}}" if exp else tex

    def _print_Add(self, expr, order=None):
        terms = self._as_ordered_terms(expr, order=order)
        positive = [term for term in terms if not term.could_extract_minus_sign()]
        terms = positive + [term for term in terms if term.could_extract_minus_sign()]
        tex = ""
        for index, term in enumerate(terms):
            if index == 0:
                pass
            elif term.could_extract_minus_sign():
                tex += " - "
                term = -term
            else:
                tex += " + "
            term_tex = self._print(term)
            if self._needs_add_brackets(term):
                term_tex = f"\\left({term_tex}\\right)"
            tex += term_tex
        return tex


def latex(obj) -> str:
    """LaTeX of a SymPy object with :class:`AppendixPrinter` (every derivation uses it)."""
    return AppendixPrinter().doprint(obj)


def _latex(obj) -> str:
    if isinstance(obj, str):
        # Only plain symbol names are allowed as strings (rendered through a Symbol).
        return latex(sympy.Symbol(obj))
    return latex(obj)


#: Text-mode LaTeX used in prose, and its Markdown (the prose's math stays ``$...$``).
_MARKDOWN_PROSE = (
    (re.compile(r"\\textbf\{([^{}]*)\}"), r"**\1**"),
    (re.compile(r"\\emph\{([^{}]*)\}"), r"*\1*"),
    (re.compile(r"\\texttt\{([^{}]*)\}"), r"`\1`"),
    (re.compile(r"\\S(?![A-Za-z])\s*"), "§"),
    (re.compile(r"(?<!-)---(?!-)"), "—"),
    (re.compile(r"(?<!-)--(?!-)"), "–"),
    (re.compile(r"(?<!\\)~"), "\u00a0"),
)


def _markdown_prose(text: str) -> str:
    """LaTeX prose as Markdown; inline math (``$...$``) is left for the notebook's MathJax."""
    pieces = re.split(r"(\$[^$]*\$)", text)
    for i in range(0, len(pieces), 2):  # the text between the math
        for pattern, replacement in _MARKDOWN_PROSE:
            pieces[i] = pattern.sub(replacement, pieces[i])
    return "".join(pieces)


@dataclass
class Derivation:
    """An ordered record of a derivation with its named results.

    Parameters
    ----------
    key : short file-safe name (the LaTeX file is ``<key>.tex``).
    title : document title.
    abstract : one paragraph placed under the title.
    """

    key: str
    title: str
    abstract: str = ""
    steps: list[Step] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    symbols: dict[str, sympy.Symbol] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    #: How a reported closed form was checked numerically (result name -> description).
    checks: dict[str, str] = field(default_factory=dict)

    # -- recording ---------------------------------------------------------------------
    def section(self, title: str) -> Derivation:
        self.steps.append(Step("section", text=title))
        return self

    def text(self, prose: str) -> Derivation:
        """A paragraph of prose (LaTeX markup allowed, e.g. ``$r^*$``)."""
        self.steps.append(Step("text", text=prose.strip()))
        return self

    def equation(
        self,
        lhs,
        rhs=None,
        *,
        relation: str = "=",
        label: str | None = None,
        prose: str | None = None,
    ) -> Derivation:
        """Display ``lhs relation rhs`` (or a single SymPy object when ``rhs`` is None)."""
        if relation not in RELATIONS:
            raise ValueError(f"unknown relation {relation!r}")
        if prose:
            self.text(prose)
        self.steps.append(Step("equation", lhs=lhs, rhs=rhs, relation=relation, label=label))
        return self

    def result(
        self, name: str, expr, *, lhs=None, label: str | None = None, prose: str | None = None
    ) -> Any:
        """Record a named result and display it; returns ``expr`` for chaining."""
        self.results[name] = expr
        self.equation(
            lhs if lhs is not None else sympy.Symbol(name), expr, label=label, prose=prose
        )
        return expr

    def note(self, name: str, reason: str) -> None:
        """Record why a named quantity does not exist or was computed numerically."""
        self.notes[name] = reason

    # -- output ------------------------------------------------------------------------
    def body_latex(self) -> str:
        parts = []
        if self.abstract:
            parts.append("\\begin{abstract}\n" + self.abstract.strip() + "\n\\end{abstract}")
        previous = None
        for step in self.steps:
            if (
                previous is not None
                and previous.kind == "equation"
                and step.kind == "text"
                and step.text[:1].islower()
            ):
                # A sentence that goes on after a display ("which exists when ...") continues
                # the paragraph: no blank line, so no indent.
                parts[-1] += "\n" + step.latex()
            else:
                parts.append(step.latex())
            previous = step
        return "\n\n".join(parts) + "\n"

    def to_latex(self) -> str:
        """A complete, self-contained LaTeX document (deterministic: no date)."""
        return (
            "% Generated by `ghostsym derive` from SymPy expressions. Do not edit by hand.\n"
            "\\documentclass[11pt]{article}\n"
            "\\usepackage[margin=2cm]{geometry}\n"
            "\\usepackage{amsmath,amssymb}\n"
            "\\allowdisplaybreaks\n"
            f"\\title{{{self.title}}}\n"
            "\\author{ghostsym}\n"
            "\\date{}\n"
            "\\begin{document}\n"
            "\\maketitle\n\n" + self.body_latex() + "\n\\end{document}\n"
        )

    # -- notebook display (IPython's rich display protocol) ---------------------------------
    def _repr_latex_(self) -> str:
        """The document body as a LaTeX fragment (title, abstract, prose and equations).

        What a notebook frontend that typesets LaTeX, or ``nbconvert`` to LaTeX/PDF, shows.
        """
        return f"\\section*{{{self.title}}}\n\n" + self.body_latex()

    def _repr_markdown_(self) -> str:
        """The document as Markdown with ``$``/``$$`` math (what Jupyter renders in a browser)."""
        parts = [f"### {_markdown_prose(self.title)}"]
        if self.abstract:
            parts.append(f"*{_markdown_prose(self.abstract.strip())}*")
        for step in self.steps:
            if step.kind == "section":
                parts.append(f"#### {_markdown_prose(step.text)}")
            elif step.kind == "text":
                parts.append(_markdown_prose(step.text))
            else:
                body = step.latex()
                body = body.removeprefix("\\begin{equation*}\n").removesuffix("\n\\end{equation*}")
                parts.append(f"$$\n{body.strip()}\n$$")
        return "\n\n".join(parts) + "\n"

    def to_terminal(self) -> str:
        """The derivation for a terminal: prose without LaTeX markup, equations drawn by
        ``sympy.pretty`` (what ``ghostsym derive --normal-form`` prints)."""
        lines = [_terminal_prose(self.title), "=" * len(_terminal_prose(self.title))]
        if self.abstract:
            lines += [_terminal_prose(self.abstract.strip()), ""]
        lines += [s.terminal() for s in self.steps]
        return "\n".join(lines) + "\n"

    def to_text(self) -> str:
        lines = [self.title, "=" * len(self.title)]
        if self.abstract:
            lines += [self.abstract.strip(), ""]
        lines += [s.plain() for s in self.steps]
        return "\n".join(lines) + "\n"
