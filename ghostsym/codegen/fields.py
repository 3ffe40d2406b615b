"""Kernels of the fields the analysis layer studies: φ and its derivatives, SymPy vector fields.

The analysis layer (:mod:`ghostsym.analysis`) works on NumPy arrays and never sees a SymPy
expression; this module is where its expressions become compiled functions, through the one
bridge :func:`ghostsym.codegen.build_module`:

* :func:`phi_functions` — ``z -> [φ(z), φ'(z), …, φ^{(order)}(z)]`` on arrays of any shape for
  a named nonlinearity of :mod:`ghostsym.symbolic.nonlinearities` (the polynomial-in-φ forms,
  so tanh and sigmoid never overflow); each derivative is one generated scalar kernel, turned
  into a NumPy ufunc by ``numba.vectorize``.
* :func:`compile_field` — a vector field dx/dt = F(x; θ) given as SymPy components, compiled
  to kernels of F, its Jacobian J, the second-derivative tensor H, the gradient JᵀF of the
  kinetic energy q = ½‖F‖² (Eq. 2) and the Hessian of q. :meth:`CompiledField.bind` fixes θ
  and returns plain callables (:class:`FieldKernels`);
  :func:`ghostsym.analysis.slow_points.compile_field` wraps them for the slow-point search.
* :func:`symbolic_reduction` — the closed-form reduction ds/dt = c0 + c2 s² at a known slow
  point (Eqs. 7–11, :func:`ghostsym.symbolic.reduction.reduce_symbolic`) evaluated at
  numerical parameter values.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numba
import numpy as np
import sympy

from ghostsym import codegen
from ghostsym.errors import InputError

#: Signature of the vectorised φ^{(k)} kernels.
_UFUNC_SIGNATURE = ["float64(float64)"]


# ---------------------------------------------------------------------------------------------
# φ and its derivatives on arrays
# ---------------------------------------------------------------------------------------------
@functools.cache
def _phi_ufuncs(name: str, order: int) -> tuple:
    from ghostsym.symbolic.nonlinearities import check_nonlinearity, derivatives

    check_nonlinearity(name)
    z = sympy.Symbol("z", real=True)
    exprs = derivatives(name, z, order)
    kernels = [codegen.Kernel(f"phi_{k}", (z,), e) for k, e in enumerate(exprs)]
    module = codegen.build_module(kernels, label=f"phi_{name}_{order}")
    return tuple(
        numba.vectorize(_UFUNC_SIGNATURE, cache=True)(getattr(module, f"phi_{k}"))
        for k in range(order + 1)
    )


@functools.cache
def phi_functions(name: str = "tanh", order: int = 3) -> Callable:
    """Vectorised ``z -> [φ(z), φ'(z), …, φ^{(order)}(z)]`` (a list of float arrays of z's
    shape) for a named nonlinearity; the formulas are those of
    :func:`ghostsym.symbolic.nonlinearities.derivatives`."""
    ufuncs = _phi_ufuncs(name, int(order))

    def evaluate(values):
        values = np.asarray(values, dtype=float)
        return [np.asarray(fn(values), dtype=float).reshape(values.shape) for fn in ufuncs]

    return evaluate


# ---------------------------------------------------------------------------------------------
# SymPy vector fields
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldKernels:
    """Compiled callables of one field at fixed parameters (x: 1-D float array of length n).

    ``f(x)`` -> F (n,); ``jac(x)`` -> J (n, n); ``second(x)`` -> H (n, n, n) with
    H_ijk = ∂²F_i/∂x_j∂x_k; ``grad_q(x)`` -> JᵀF (n,); ``hess_q(x)`` -> ∇²q (n, n).
    """

    f: Callable[[np.ndarray], np.ndarray]
    jac: Callable[[np.ndarray], np.ndarray]
    second: Callable[[np.ndarray], np.ndarray]
    grad_q: Callable[[np.ndarray], np.ndarray]
    hess_q: Callable[[np.ndarray], np.ndarray]


class CompiledField:
    """A SymPy vector field compiled to numba kernels (F, J, H, ∇q, Hessian of q).

    ``exprs`` are the components dx_i/dt, ``state`` the state symbols (same order), ``params``
    the parameter symbols. :meth:`bind` fixes parameter values (by name or in ``params``
    order) and returns :class:`FieldKernels`. The kernels come from
    :func:`ghostsym.codegen.build_module` (cached on disk by a hash of the expressions).
    """

    def __init__(self, exprs, state, params=(), *, cache_dir=None):
        from ghostsym.symbolic import reduction

        self.exprs = tuple(sympy.sympify(e) for e in exprs)
        self.state = tuple(state)
        self.params = tuple(params)
        n = len(self.state)
        if len(self.exprs) != n:
            raise InputError(f"{len(self.exprs)} field components for {n} state variables")
        free = set().union(*(e.free_symbols for e in self.exprs))
        unknown = free - set(self.state) - set(self.params)
        if unknown:
            names = ", ".join(sorted(map(str, unknown)))
            raise InputError(f"field uses symbols that are neither state nor parameters: {names}")
        J = reduction.jacobian(self.exprs, self.state)
        H = reduction.second_derivatives(self.exprs, self.state)
        q = reduction.kinetic_energy(self.exprs)
        grad = [sympy.diff(q, s) for s in self.state]
        hess = sympy.hessian(q, self.state)
        args = self.state + self.params
        kernels = [
            codegen.Kernel("field", args, self.exprs),
            codegen.Kernel("jacobian", args, tuple(J)),
            codegen.Kernel("second", args, tuple(h for Hi in H for h in Hi)),
            codegen.Kernel("grad_q", args, tuple(grad)),
            codegen.Kernel("hess_q", args, tuple(hess)),
        ]
        self.module = codegen.build_module(kernels, label="slow_points", cache_dir=cache_dir)

    @property
    def dimension(self) -> int:
        return len(self.state)

    def parameter_values(self, values) -> tuple[float, ...]:
        """Validated parameter values in ``params`` order (a mapping by name or a sequence)."""
        if values is None:
            values = {}
        if isinstance(values, Mapping):
            by_name = {str(k): v for k, v in values.items()}
            missing = [p.name for p in self.params if p.name not in by_name]
            if missing:
                raise InputError(f"missing parameter value(s): {', '.join(missing)}")
            extra = set(by_name) - {p.name for p in self.params}
            if extra:
                raise InputError(f"unknown parameter(s): {', '.join(sorted(extra))}")
            vals = [by_name[p.name] for p in self.params]
        else:
            vals = list(values)
            if len(vals) != len(self.params):
                raise InputError(f"expected {len(self.params)} parameter values, got {len(vals)}")
        vals = [float(v) for v in vals]
        if not all(math.isfinite(v) for v in vals):
            raise InputError("parameter values must be finite")
        return tuple(vals)

    def bind(self, values: Mapping[str, float] | Sequence[float] | None = None) -> FieldKernels:
        """The kernels at the given parameter values."""
        theta = self.parameter_values(values)
        m = self.module
        n = len(self.state)

        def call(kern):
            return lambda x: np.array(kern(*x, *theta), dtype=float)

        def call_matrix(kern, shape):
            return lambda x: np.array(kern(*x, *theta), dtype=float).reshape(shape)

        return FieldKernels(
            f=call(m.field),
            jac=call_matrix(m.jacobian, (n, n)),
            second=call_matrix(m.second, (n, n, n)),
            grad_q=call(m.grad_q),
            hess_q=call_matrix(m.hess_q, (n, n)),
        )


def compile_field(exprs, state=None, params=(), **kwargs) -> CompiledField:
    """Compile SymPy field components (or a :class:`~ghostsym.symbolic.parsing.ParsedField`)."""
    if hasattr(exprs, "exprs") and hasattr(exprs, "state"):
        return CompiledField(exprs.exprs, exprs.state, exprs.params, **kwargs)
    if state is None:
        raise InputError("compile_field needs the state symbols")
    return CompiledField(exprs, state, params, **kwargs)


def symbolic_reduction(exprs, state, params, point, values: Mapping[str, float]) -> dict:
    """The closed-form reduction at the slow point ``point`` (state symbol -> expression in the
    parameters; :func:`ghostsym.symbolic.reduction.reduce_symbolic`) evaluated at ``values``
    (parameter name -> number): ``c0``, ``c2``, ``r`` and ``x_s`` as floats, the SymPy
    reduction under ``expressions``."""
    from ghostsym.symbolic import reduction

    red = reduction.reduce_symbolic(exprs, state, point)
    subs = {p: values[p.name] for p in params}
    return {
        "c0": float(red.c0.subs(subs)),
        "c2": float(red.c2.subs(subs)),
        "r": float(red.r.subs(subs)),
        "x_s": np.array([float(sympy.sympify(point[s]).subs(subs)) for s in state]),
        "expressions": red,
    }
