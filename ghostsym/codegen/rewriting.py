"""Pre-printing rewrites: SymPy expressions made cheaper to evaluate before they are printed.

In the style of :mod:`sympy.codegen.rewriting`: each rewrite is a small
:class:`~sympy.codegen.rewriting.ReplaceOptim` (a ``query`` and a ``value`` for
:meth:`sympy.Basic.replace`), and one :func:`optimize` applies a list of them in order. Every
rewrite is exact in real arithmetic; it only changes which floating-point operations the
kernel performs.

:data:`TANH_AS_EXP`
    ``tanh(u) → 1 − 2/(exp(2u) + 1)``: numba compiles it to one ``exp`` call, ≈1.6× faster
    than libm's ``tanh`` (docs/performance.md §2.1), absolute error ≲ 3e-16, and
    overflow-safe in both directions (exp(2u) = ∞ gives 1, exp(2u) = 0 gives −1).
:data:`HALF_INTEGER_POWERS`
    ``b**(p/2) → sqrt(b)**p`` for |p| > 1: a square root and multiplications instead of a
    libm ``pow`` (the c → ∞ gradient of x² + r is π/(4 r^{3/2}); the Fig. 2D sweep runs ~2×
    faster). A negative power inverts the root first, ``(1/sqrt(b))**|p|``: a negative
    integer power of 0.0 raises in numba, 1/sqrt(0.0) is ∞.

Rewrite lists: :data:`RNN_REWRITES` (the RNN engine's nonlinearities and readouts,
:mod:`ghostsym.codegen.rnn`) and :data:`NORMAL_FORM_LOSS_REWRITES` (the c → ∞ loss kernels of
:mod:`ghostsym.codegen.normal_form`). This module owns no kernel list.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy
from sympy.codegen import rewriting as _sympy_rewriting
from sympy.codegen.rewriting import ReplaceOptim

__all__ = [
    "HALF_INTEGER_POWERS",
    "NORMAL_FORM_LOSS_REWRITES",
    "RNN_REWRITES",
    "TANH_AS_EXP",
    "ReplaceOptim",
    "optimize",
]

#: tanh(u) → 1 − 2/(exp(2u) + 1).
TANH_AS_EXP = ReplaceOptim(sympy.tanh, lambda u: 1 - 2 / (sympy.exp(2 * u) + 1))


def _is_half_integer_power(e) -> bool:
    return e.is_Pow and e.exp.is_Rational and e.exp.q == 2 and abs(e.exp.p) > 1


def _root_power(e):
    return sympy.UnevaluatedExpr(sympy.sqrt(e.base) ** sympy.sign(e.exp.p)) ** abs(e.exp.p)


#: b**(p/2) → sqrt(b)**p (|p| > 1), the root inverted first for p < 0.
HALF_INTEGER_POWERS = ReplaceOptim(_is_half_integer_power, _root_power)

#: What :mod:`ghostsym.codegen.rnn` applies to φ, φ′ and the readouts g, g′.
RNN_REWRITES: tuple[ReplaceOptim, ...] = (TANH_AS_EXP,)
#: What :mod:`ghostsym.codegen.normal_form` applies to the c → ∞ loss and its r-derivative.
NORMAL_FORM_LOSS_REWRITES: tuple[ReplaceOptim, ...] = (HALF_INTEGER_POWERS,)


def optimize(expr, rewrites: Sequence[ReplaceOptim]):
    """``expr`` with every rewrite applied in turn (:func:`sympy.codegen.rewriting.optimize`);
    anything that is not a SymPy expression is returned unchanged."""
    if not isinstance(expr, sympy.Basic):
        return expr
    return _sympy_rewriting.optimize(expr, rewrites)
