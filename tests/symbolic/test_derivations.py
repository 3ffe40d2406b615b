"""Every registered derivation: committed .tex equals the regenerated output, and compiles."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ghostsym.io import compile_pdf
from ghostsym.symbolic import documents

#: The committed documents (not the working directory's derivations/).
DERIVATIONS = Path(__file__).resolve().parents[2] / "derivations"


@pytest.fixture(scope="module")
def built():
    return {name: documents.build(name) for name in documents.names()}


@pytest.mark.parametrize("name", documents.names())
def test_committed_tex_is_up_to_date(built, name):
    path = DERIVATIONS / f"{name}.tex"
    assert path.exists(), f"{path} missing: run `ghostsym derive`"
    assert path.read_text() == built[name].to_latex(), (
        f"{path.name} is stale: run `ghostsym derive` (or python derivations/regenerate.py)"
    )


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_every_document_compiles(built, tmp_path):
    tex = []
    for name, derivation in built.items():
        path = tmp_path / f"{name}.tex"
        path.write_text(derivation.to_latex())
        tex.append(path)
    pdfs = compile_pdf(tex, tmp_path / "pdf")
    assert len(pdfs) == len(tex)
    assert all(p.stat().st_size > 1000 for p in pdfs)


def test_regenerate_script_uses_the_same_code(tmp_path):
    from ghostsym.cli.derive import write_documents

    paths = write_documents(tmp_path, ["canonical"])
    assert paths[0].read_text() == documents.build("canonical").to_latex()
    script = (DERIVATIONS / "regenerate.py").read_text()
    assert "from ghostsym.cli.derive import write_documents" in script


#: Artefacts of a TeX-written symbol name that SymPy split at an underscore: a subscript
#: that swallowed an argument list or a fraction (``q''(\\kappa_{g)}``, ``\\ell_{t(\\kappa)}``).
SPLIT_NAME = re.compile(r"_\{[^{}]*\)\}|_\{[A-Za-z0-9]+[(/]")
#: Words that must not appear in typeset math (SymPy's default names for arctan and sgn).
BAD_WORDS = re.compile(r"\\operatorname\{(?:atan|asin|acos|sign)\}|\\mathrm\{sign\}")
#: Overfull boxes up to this width (points) are invisible; wider ones are a defect.
OVERFULL_TOLERANCE_PT = 10.0


def test_artefact_patterns_catch_the_known_defects():
    assert SPLIT_NAME.search(r"q''(\kappa_{g)} = 2 a_{g} r_{g}")
    assert SPLIT_NAME.search(r"\ell_{t(\kappa)} = 1")
    assert SPLIT_NAME.search(r"\partial \ell_{t/\partial\kappa}")
    assert not SPLIT_NAME.search(r"x_{i,t} + \kappa_{g} + {\kappa}_{t + 1} + s_{\pm}")
    assert BAD_WORDS.search(r"\operatorname{atan}{\left(x \right)}")
    assert BAD_WORDS.search(r"\operatorname{sign}{\left(x \right)}")
    assert not BAD_WORDS.search(r"\arctan{\left(x \right)} \operatorname{sgn}(x)")


@pytest.mark.parametrize("name", documents.names())
def test_document_has_no_printing_artefacts(built, name):
    tex = built[name].to_latex()
    assert not SPLIT_NAME.findall(tex), f"{name}: a symbol name split by SymPy"
    assert not BAD_WORDS.findall(tex), f"{name}: atan/sign spelled as a word"
    assert r"\theta\left(" not in tex, f"{name}: the Heaviside step must print as H(.)"
    assert "_{esc}" not in tex, f"{name}: t_esc needs an upright subscript"


def overfull_widths(log: str) -> list[float]:
    return [float(w) for w in re.findall(r"Overfull \\[hv]box \(([0-9.]+)pt too wide\)", log)]


def test_overfull_parser():
    log = "Overfull \\hbox (129.79381pt too wide) detected at line 144\nOverfull \\hbox (0.8pt"
    assert overfull_widths(log + " too wide)") == [129.79381, 0.8]


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_no_overfull_boxes(built, tmp_path):
    """One pdflatex pass per document: no LaTeX error and no box wider than the tolerance."""
    for name, derivation in built.items():
        (tmp_path / f"{name}.tex").write_text(derivation.to_latex())
        proc = subprocess.run(
            ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        log = (tmp_path / f"{name}.log").read_text(errors="replace")
        assert proc.returncode == 0, f"{name}: LaTeX error"
        too_wide = [w for w in overfull_widths(log) if w > OVERFULL_TOLERANCE_PT]
        assert not too_wide, f"{name}: overfull boxes {too_wide} pt"


#: A partial derivative written into a subscript (``\partial_{m} r``, ``{\partial_{b} r}_{j}``).
PARTIAL_SUBSCRIPT = re.compile(r"\\partial_")
#: A total-derivative operator in a parameter of a function of many parameters
#: (``\frac{d}{d n_{j}} f``): these are partials, ∂f/∂n_j.
TOTAL_D_BY_PARAMETER = re.compile(r"\\frac\{d\}\{d \{?(?:[mnb]\}?_\{j\}|\\theta)")
#: A fraction stacked inside a fraction's numerator or an exponent (``x^{\frac{4}{3}}``).
STACKED = re.compile(r"\^\{\\frac|\\frac\{-?\s*\\frac")
#: Control characters: a "\t" or "\f" in a non-raw Python string (``u^{\top}`` became a tab).
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


def test_notation_patterns_catch_the_known_defects():
    assert PARTIAL_SUBSCRIPT.search(r"{\partial_{b} r}_{j} + \partial_\kappa R")
    assert not PARTIAL_SUBSCRIPT.search(r"\frac{\partial r}{\partial {b}_{j}}")
    assert TOTAL_D_BY_PARAMETER.search(r"\frac{d}{d n_{j}} f = 1")
    assert TOTAL_D_BY_PARAMETER.search(r"\frac{d}{d {m}_{j}} r")
    assert TOTAL_D_BY_PARAMETER.search(r"\frac{d}{d \theta_{j}} r")
    assert not TOTAL_D_BY_PARAMETER.search(r"\frac{d}{d t} x + \frac{d}{d r} L")
    assert STACKED.search(r"T^{\frac{4}{3}}")
    assert STACKED.search(r"- \frac{\frac{\partial f'}{\partial \theta_{j}}}{f''}")
    assert not STACKED.search(r"T^{4/3} \frac{1}{f''} \frac{\partial f'}{\partial \theta_{j}}")
    assert CONTROL.search("u^{\top}") and not CONTROL.search(r"u^{\top}")


@pytest.mark.parametrize("name", documents.names())
def test_document_notation(built, name):
    tex = built[name].to_latex()
    assert not PARTIAL_SUBSCRIPT.findall(tex), f"{name}: a partial derivative as a subscript"
    assert not TOTAL_D_BY_PARAMETER.findall(tex), f"{name}: d/dθ_j where ∂/∂θ_j is meant"
    assert not STACKED.findall(tex), f"{name}: a stacked fraction"
    assert not CONTROL.findall(tex), f"{name}: a control character (an unescaped backslash)"


def _names(obj) -> set[str]:
    """The names of every symbol, indexed base, matrix symbol and undefined function in obj."""
    import sympy
    from sympy.core.function import AppliedUndef

    if obj is None or isinstance(obj, (str, int, float)):
        return {obj} if isinstance(obj, str) else set()
    out = set()
    for e in sympy.preorder_traversal(obj):
        if isinstance(e, (sympy.Symbol, sympy.MatrixSymbol)):
            out.add(str(e.name))
        elif isinstance(e, sympy.IndexedBase):
            out.add(str(e.label))
        elif isinstance(e, AppliedUndef):
            out.add(e.func.__name__)
    return out


@pytest.mark.parametrize("name", documents.names())
def test_symbols_are_sympy_objects_not_tex(built, name):
    """No TeX inside a symbol's name: SymPy splits such names at "_" (``\\ell_{t(\\kappa)}``)."""
    names = set()
    for step in built[name].steps:
        if step.kind == "equation":
            names |= _names(step.lhs) | _names(step.rhs)
    tex_names = sorted(n for n in names if any(ch in n for ch in "\\{}/ "))
    assert not tex_names, f"{name}: TeX in symbol names {tex_names}"


def test_printer_conventions():
    import sympy

    from ghostsym.symbolic.derivation import Increment, LogDerivative, Nabla, Partial, latex

    m, x = sympy.IndexedBase("m"), sympy.IndexedBase("x")
    j, k, ell = sympy.symbols("j k l")
    assert latex(Partial(sympy.Symbol("r"), m[j], evaluate=False)) == (
        r"\frac{\partial r}{\partial {m}_{j}}"
    )
    hess = Partial(sympy.IndexedBase("F")[j], x[k], x[ell], evaluate=False)
    assert latex(hess) == r"\frac{\partial^{2} {F}_{j}}{\partial {x}_{k} \partial {x}_{l}}"
    assert latex(Increment(m[j])) == r"\Delta {m}_{j}"
    assert latex(Nabla(sympy.Symbol("q"), 2, sympy.Symbol("x_s"))) == (
        r"\nabla^{2} q{\left(x_{s} \right)}"
    )
    assert latex(LogDerivative(sympy.Symbol("alpha^*"), sympy.Symbol("T"))) == (
        r"\frac{d \ln \alpha^{*}}{d \ln T}"
    )
    assert latex(sympy.Symbol("W^in")) == r"W^{\mathrm{in}}"
    assert latex(sympy.Symbol("t_esc")) == r"t_{\mathrm{esc}}"
    assert latex(sympy.Symbol("s_pm")) == r"s_{\pm}"
    assert latex(sympy.Symbol("T") ** sympy.Rational(4, 3)) == "T^{4/3}"
    with pytest.raises(ValueError, match="is TeX"):
        latex(sympy.Symbol(r"\partial_\kappa R"))
