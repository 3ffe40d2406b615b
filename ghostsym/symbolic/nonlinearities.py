"""Nonlinearities φ in SymPy: a *generic* φ for derivations, named ones for kernels.

Derivations about RNNs (Eqs. 24–40) are written for a general smooth nonlinearity φ, so they
use :func:`generic_phi`: an undefined SymPy function ``φ`` whose derivative is ``φ'``, whose
derivative is ``φ''``, and so on. They print as :math:`\\varphi, \\varphi', \\varphi''` in
LaTeX and never expand to a particular formula. :func:`specialize` replaces every
``φ^{(k)}(z)`` in an expression by the k-th derivative of a named nonlinearity (tanh by
default), which is how generated kernels get their formulas.

Named nonlinearities live in :data:`NONLINEARITIES` (name -> function of a SymPy symbol).
Adding one is one line; everything downstream (kernels, latent flows, speed energies, BPTT)
follows from it.

SymPy only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy

from ghostsym.errors import InputError


@dataclass(frozen=True)
class Nonlinearity:
    """A named φ: its formula, and optionally the rule dφ/dz = chain(φ).

    When ``chain`` is given, every derivative is written as a polynomial in φ(z) itself
    (tanh: φ' = 1 − φ²; sigmoid: φ' = φ(1 − φ)). That form never overflows in a kernel,
    unlike, e.g., eᶻ/(1 + eᶻ)² for large z.
    """

    formula: Callable[[sympy.Expr], sympy.Expr]
    chain: Callable[[sympy.Expr], sympy.Expr] | None = None


#: Named nonlinearities. Adding one is one line here.
NONLINEARITIES: dict[str, Nonlinearity] = {
    "tanh": Nonlinearity(sympy.tanh, lambda u: 1 - u**2),
    "sigmoid": Nonlinearity(lambda z: 1 / (1 + sympy.exp(-z)), lambda u: u * (1 - u)),
    "erf": Nonlinearity(sympy.erf),
}

#: The paper's nonlinearity (docs/experiments.md §0: φ = tanh everywhere).
DEFAULT_NONLINEARITY = "tanh"

#: Highest derivative order any derivation needs (f''' enters the implicit gradient).
MAX_ORDER = 4

_GENERIC: dict[int, type] = {}


class GenericPhi(sympy.Function):
    """Base class of φ^{(k)}: an undefined nonlinearity and its derivatives.

    Subclasses carry ``order`` = k; differentiating φ^{(k)}(z) gives φ^{(k+1)}(z) times the
    chain-rule factor, so SymPy differentiates sums over neurons naturally.
    """

    nargs = 1
    order = 0

    def fdiff(self, argindex=1):
        return generic_phi(self.order + 1)(self.args[0])

    def _latex(self, printer, exp=None):
        k = self.order
        primes = "'" * k if k <= 3 else f"^{{({k})}}"
        inner = printer._print(self.args[0])
        body = rf"\varphi{primes}\!\left({inner}\right)"
        if exp is not None:
            body = rf"{body}^{{{exp}}}"
        return body


def generic_phi(order: int = 0) -> type:
    """The SymPy function class of the ``order``-th derivative of a generic φ."""
    if order < 0:
        raise InputError(f"derivative order must be >= 0, got {order}")
    if order not in _GENERIC:
        name = "varphi" + "'" * order if order <= 3 else f"varphi^({order})"
        _GENERIC[order] = type(name, (GenericPhi,), {"order": order})
    return _GENERIC[order]


def check_nonlinearity(name: str) -> str:
    """Return ``name`` if it is a known nonlinearity, else raise :class:`InputError`."""
    if name not in NONLINEARITIES:
        known = ", ".join(sorted(NONLINEARITIES))
        raise InputError(f"unknown nonlinearity {name!r}; known: {known}")
    return name


def nonlinearity(name: str, z: sympy.Expr) -> sympy.Expr:
    """φ(z) for a named nonlinearity."""
    return NONLINEARITIES[check_nonlinearity(name)].formula(z)


def derivatives(name: str, z: sympy.Symbol, order: int = MAX_ORDER) -> list[sympy.Expr]:
    """[φ(z), φ'(z), …, φ^{(order)}(z)] for a named nonlinearity, each simplified.

    With a ``chain`` rule the derivatives are polynomials in φ(z) (for tanh: 1 − tanh²,
    −2 tanh (1 − tanh²), …), the accurate and cheap form for kernels.
    """
    spec = NONLINEARITIES[check_nonlinearity(name)]
    if spec.chain is None:
        out = [spec.formula(z)]
        for _ in range(order):
            out.append(sympy.simplify(sympy.diff(out[-1], z)))
        return out
    u = sympy.Dummy("u")
    polys = [u]
    for _ in range(order):
        polys.append(sympy.factor(sympy.expand(sympy.diff(polys[-1], u) * spec.chain(u))))
    return [p.xreplace({u: spec.formula(z)}) for p in polys]


def specialize(expr: sympy.Expr, name: str = DEFAULT_NONLINEARITY) -> sympy.Expr:
    """Replace every generic φ^{(k)}(u) in ``expr`` by the named nonlinearity's k-th derivative."""
    check_nonlinearity(name)
    z = sympy.Dummy("z")
    orders = sorted({f.order for f in expr.atoms(GenericPhi)})
    if not orders:
        return expr
    derivs = derivatives(name, z, max(orders))
    return expr.replace(
        lambda e: isinstance(e, GenericPhi),
        lambda e: derivs[e.order].xreplace({z: e.args[0]}),
    )
