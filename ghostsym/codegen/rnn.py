"""The RNN engine's kernel list: its numba module, generated from SymPy nonlinearities.

Owns the kernel list of :mod:`ghostsym.numerics.rnn_template` (:func:`kernels`), three
generated functions the engine calls by name:

``act(h) -> (φ(h), φ'(h))``
    the neuronal nonlinearity φ (tanh by default, any name of
    :data:`ghostsym.symbolic.nonlinearities.NONLINEARITIES`) and its derivative, from
    ``sympy.diff`` (written as a polynomial in φ where the nonlinearity has a chain rule, so
    it never overflows).
``out_sigmoid(z)``, ``out_tanh(z)`` -> (g(z), g'(z))
    the two readout functions g of Eqs. 36, 38 and 48.

Before printing, the rewrites :data:`ghostsym.codegen.rewriting.RNN_REWRITES` are applied
(:func:`fast_form`): every ``tanh(u)`` becomes ``1 − 2/(exp(2u) + 1)`` (exact in real
arithmetic, absolute error ≲ 3e-16 in floating point, overflow-safe in both directions), which
numba compiles to an ``exp`` call that is ≈1.6× faster than libm's ``tanh``; and every
``exp`` of an engine kernel is printed as :func:`ghostsym.numerics.rnn_common.vexp`, a
branch-free exp that vectorises (libm's is a scalar call), so a loop of ``act`` over neurons
or over the lanes of the batched engine runs in SIMD (docs/performance.md §6).

Two templates are completed with the same generated functions: the one-network engine
(:data:`TEMPLATE`, :func:`engine`) and the batched engine (:data:`BATCHED_TEMPLATE`,
:func:`batched_engine`), bit-identical to each other by construction of their arithmetic
(docs/performance.md §6).
``tests/codegen/test_rnn_kernels.py`` checks the generated functions against ``np.tanh`` and
the logistic function.

This module imports SymPy (through codegen); the numerics never do.
"""

from __future__ import annotations

import functools
from types import ModuleType

import sympy

from ghostsym import codegen, config
from ghostsym.codegen.rewriting import RNN_REWRITES, optimize
from ghostsym.symbolic import nonlinearities

#: The engine's template module, completed with the generated functions.
TEMPLATE = "ghostsym.numerics.rnn_template"

#: The batched engine's template (networks side by side in SIMD lanes).
BATCHED_TEMPLATE = "ghostsym.numerics.rnn_batched_template"

#: The generated functions are inlined into the engines' loops (numba IR inlining), so a
#: loop over neurons or lanes that calls them can vectorise.
NJIT_OPTIONS = {**config.NJIT_OPTIONS, "inline": "always"}

#: Readout functions g available to the engine (generated as ``out_<name>``).
OUTPUT_FUNCTIONS = ("sigmoid", "tanh")


def fast_form(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` as printed into the engine: :data:`~ghostsym.codegen.rewriting.RNN_REWRITES`
    applied (``tanh(u)`` → ``1 − 2/(exp(2u) + 1)``: the same function, a faster kernel)."""
    return optimize(expr, RNN_REWRITES)


class _VExp(sympy.Function):
    """exp printed as the template's vectorisable ``vexp`` (same function)."""

    nargs = 1

    def _pythoncode(self, printer):
        return f"vexp({printer._print(self.args[0])})"


def _vectorisable(expr: sympy.Expr) -> sympy.Expr:
    return expr.replace(sympy.exp, _VExp)


def value_and_slope(name: str, z: sympy.Symbol) -> tuple[sympy.Expr, sympy.Expr]:
    """(φ(z), φ'(z)) of a named nonlinearity in the form printed into kernels."""
    phi, dphi = nonlinearities.derivatives(name, z, 1)
    return fast_form(phi), fast_form(dphi)


def kernels(activation: str = nonlinearities.DEFAULT_NONLINEARITY) -> list[codegen.Kernel]:
    """The generated functions the engine template expects."""
    nonlinearities.check_nonlinearity(activation)
    h, z = sympy.Symbol("h", real=True), sympy.Symbol("z", real=True)
    pairs = [("act", h, value_and_slope(activation, h))]
    pairs += [(f"out_{g}", z, value_and_slope(g, z)) for g in OUTPUT_FUNCTIONS]
    return [
        codegen.Kernel(name, (arg,), tuple(_vectorisable(e) for e in exprs))
        for name, arg, exprs in pairs
    ]


@functools.cache
def engine(activation: str = nonlinearities.DEFAULT_NONLINEARITY) -> ModuleType:
    """The compiled RNN engine for a nonlinearity (built once, cached on disk by numba)."""
    return codegen.build_module(
        kernels(activation), label=f"rnn_{activation}", template=TEMPLATE, njit_options=NJIT_OPTIONS
    )


@functools.cache
def batched_engine(activation: str = nonlinearities.DEFAULT_NONLINEARITY) -> ModuleType:
    """The compiled batched RNN engine for a nonlinearity (same generated functions)."""
    return codegen.build_module(
        kernels(activation),
        label=f"rnnb_{activation}",
        template=BATCHED_TEMPLATE,
        njit_options=NJIT_OPTIONS,
    )
