"""Figure titles the checks share (mathtext, docs/verification.md §5).

Here, in the verification layer, because a title is rendered from the SymPy expression and
the analysis layer never imports SymPy (docs/architecture.md, tests/test_layout.py).
"""

from __future__ import annotations


def field_title(nf) -> str:
    """Mathtext of dx/dt = f (e.g. ``$\\dot x = x^{2} + r$``), with the threshold if finite."""
    import sympy

    title = rf"$\dot{{{sympy.latex(nf.state)}}} = {sympy.latex(nf.expr, order='rev-lex')}$"
    if nf.threshold is not sympy.oo:
        title += rf", $x^* = {sympy.latex(nf.threshold)}$"
    return title
