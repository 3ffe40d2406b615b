"""The state-space NTK kernels: the RNN engine's φ, φ' and readouts, with the sNTK template.

The kernel list is the engine's own (:func:`ghostsym.codegen.rnn.kernels`: ``act`` →
(φ, φ') from ``sympy.diff`` of the named nonlinearity, ``out_sigmoid``/``out_tanh``), so the
Jacobian differentiates exactly the network the engine trains; the template
:mod:`ghostsym.numerics.sntk_template` holds the forward-sensitivity recursion.

This module imports SymPy (through codegen); the numerics never do.
"""

from __future__ import annotations

import functools
from types import ModuleType

from ghostsym import codegen
from ghostsym.codegen.rnn import kernels
from ghostsym.symbolic import nonlinearities

#: The sNTK template module, completed with the generated functions.
TEMPLATE = "ghostsym.numerics.sntk_template"


@functools.cache
def module(activation: str = nonlinearities.DEFAULT_NONLINEARITY) -> ModuleType:
    """The compiled sNTK kernels for a nonlinearity (built once, cached on disk by numba)."""
    return codegen.build_module(kernels(activation), label=f"sntk_{activation}", template=TEMPLATE)
