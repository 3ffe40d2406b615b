"""The public API of ``import ghostsym``: every name resolves, lazily, and is documented."""

import importlib
import re
import shutil
import subprocess
import sys

import pytest

import ghostsym

HEAVY = ("sympy", "numba", "numpy", "scipy", "matplotlib")


@pytest.mark.parametrize("name", ghostsym.__all__)
def test_every_public_name_resolves_to_its_table_entry(name):
    value = getattr(ghostsym, name)
    if name == "__version__":
        assert value == ghostsym.config.VERSION
        return
    module, _, attribute = ghostsym.API[name].partition(":")
    assert value is getattr(importlib.import_module(module), attribute)
    if callable(value):
        assert (value.__doc__ or "").strip(), f"ghostsym.{name} has no docstring"


def test_all_is_the_table_and_dir_lists_it():
    assert ghostsym.__all__ == ["__version__", *ghostsym.API]
    assert len(set(ghostsym.__all__)) == len(ghostsym.__all__)
    assert set(ghostsym.__all__) <= set(dir(ghostsym))
    for target in ghostsym.API.values():
        assert re.fullmatch(r"ghostsym(\.\w+)*:\w+", target), target


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        ghostsym.no_such_name  # noqa: B018
    assert not hasattr(ghostsym, "no_such_name")


def _imported_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return out.split()


def test_import_and_help_stay_light():
    """``import ghostsym``, a foundation name and ``ghostsym --help`` import no heavy library."""
    assert _imported_after("import ghostsym") == []
    assert _imported_after("import ghostsym; ghostsym.InputError; ghostsym.as_meter") == []
    assert _imported_after("from ghostsym.cli import build_parser; build_parser()") == []
    assert "sympy" in _imported_after("import ghostsym; ghostsym.NormalForm")


def test_star_import_gives_the_public_names():
    namespace: dict = {}
    exec("from ghostsym import *", namespace)
    assert {"NormalForm", "train", "verify", "InputError"} <= set(namespace)


# -- a Derivation renders in a notebook ---------------------------------------------------
@pytest.fixture(scope="module")
def derivation():
    return ghostsym.derive(ghostsym.NormalForm.parse("x**2 + r"))


def test_ipython_display_offers_latex_and_markdown(derivation):
    formatters = pytest.importorskip("IPython.core.formatters")
    data, _ = formatters.DisplayFormatter().format(derivation)
    assert data["text/latex"] == derivation._repr_latex_()
    assert data["text/markdown"] == derivation._repr_markdown_()


def test_latex_fragment_is_the_body_under_the_title(derivation):
    latex = derivation._repr_latex_()
    assert latex.startswith(f"\\section*{{{derivation.title}}}")
    assert latex.endswith(derivation.body_latex())
    assert "\\documentclass" not in latex


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_fragment_compiles(derivation, tmp_path):
    from ghostsym.io import compile_pdf

    tex = tmp_path / "fragment.tex"
    tex.write_text(
        "\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n\\allowdisplaybreaks\n"
        "\\begin{document}\n" + derivation._repr_latex_() + "\\end{document}\n"
    )
    (pdf,) = compile_pdf([tex], tmp_path)
    assert pdf.stat().st_size > 1000


def test_markdown_has_every_section_and_equation(derivation):
    md = derivation._repr_markdown_()
    steps = derivation.steps
    blocks = re.findall(r"^\$\$\n(.+?)\n\$\$$", md, flags=re.S | re.M)
    assert len(blocks) == sum(s.kind == "equation" for s in steps)
    assert not any("\\begin{equation" in b or "$" in b for b in blocks)
    for step in steps:
        if step.kind == "section":
            assert f"#### {step.text}" in md
        elif step.kind == "equation":
            assert sympy_latex(step.lhs) in md
    prose = re.sub(r"\$\$.*?\$\$|\$[^$]*\$", "", md, flags=re.S)
    assert not re.search(r"\\(textbf|texttt|emph|S)\b", prose), "LaTeX text markup left over"
    assert "--" not in prose


def sympy_latex(obj):
    """LaTeX of an equation side as the documents print it (the derivation's own printer)."""
    import sympy

    from ghostsym.symbolic.derivation import latex

    return latex(sympy.Symbol(obj)) if isinstance(obj, str) else latex(obj)


def test_markdown_prose_conversion():
    from ghostsym.symbolic.derivation import _markdown_prose

    assert _markdown_prose(r"\textbf{Note} see \S 3 and $a--b$ -- fine~here") == (
        "**Note** see §3 and $a--b$ – fine\u00a0here"
    )
    assert _markdown_prose(r"\texttt{x} and \emph{y}") == "`x` and *y*"


def test_every_public_plot_helper_draws_on_given_axes():
    import inspect

    helpers = [name for name in ghostsym.__all__ if name.startswith("plot_")]
    assert len(helpers) >= 5
    for name in helpers:
        params = inspect.signature(getattr(ghostsym, name)).parameters
        keyword = params.get("ax") or params.get("axes")
        assert keyword is not None and keyword.default is None, name
        assert keyword.kind is inspect.Parameter.KEYWORD_ONLY, name
