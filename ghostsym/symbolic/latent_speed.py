"""Speed minima of a full-rank RNN (Eq. 39): q, ∇q = JᵀF, ∇²q = JᵀJ + Σ_i F_i∇²F_i, ghost test.

Document ``rnn_speed_minima`` (docs/math.md §1 and §7). Written per neuron with index sums over
i, j, k, l = 1..N and a generic φ; the matrix forms are confirmed by expanding a small
network (N = 3) completely. :func:`speed_kernel_expressions` gives the per-neuron pieces the
numba template (``ghostsym.numerics.speed_template``) sums.

SymPy only.
"""

from __future__ import annotations

import sympy
from sympy import IndexedBase, Rational, Sum, Symbol
from sympy.simplify.simplify import sum_simplify

from ghostsym.symbolic.derivation import Derivation, Nabla, Partial
from ghostsym.symbolic.latent import N, i, in_range, j, k
from ghostsym.symbolic.nonlinearities import DEFAULT_NONLINEARITY, generic_phi, specialize

W = IndexedBase("W")
x = IndexedBase("x")
b = IndexedBase("b")
z = IndexedBase("z")
ell = Symbol("l", integer=True, positive=True)
phi = generic_phi(0)

#: Scalar stand-ins for one neuron in generated kernels.
x_i, z_i = sympy.symbols("x_i z_i", real=True)

#: Size of the fully expanded network used to confirm the matrix forms.
CHECK_SIZE = 3


def _name_preactivations(expr):
    """Σ_j W_{p,j} x_j + b_p -> z_p, so displayed formulas stay short."""

    def is_drive(e):
        return (
            isinstance(e, sympy.Add)
            and len(e.args) == 2
            and any(isinstance(t, Sum) and t.function.has(W) for t in e.args)
        )

    def row(e):
        summ = next(t for t in e.args if isinstance(t, Sum))
        w = next(a for a in summ.function.atoms(sympy.Indexed) if a.base == W)
        return z[w.indices[0]]

    return expr.replace(is_drive, row)


def _field(idx):
    """F_idx(x) = −x_idx + φ(Σ_j W_idx,j x_j + b_idx)."""
    return -x[idx] + phi(Sum(W[idx, j] * x[j], (j, 1, N)) + b[idx])


def speed_kernel_expressions(name: str = DEFAULT_NONLINEARITY):
    """Per-neuron (F_i, ∂F_i/∂z_i, ∂²F_i/∂z_i²) in (x_i, z_i) for a named φ."""
    F = -x_i + phi(z_i)
    return tuple(specialize(e, name) for e in (F, sympy.diff(F, z_i), sympy.diff(F, z_i, 2)))


def _check_matrix_forms():
    """Expand a CHECK_SIZE-neuron network completely; confirm ∇q = JᵀF and the Hessian."""
    n = CHECK_SIZE
    Wm = sympy.Matrix(n, n, lambda p, q: Symbol(f"W{p}{q}"))
    xv = sympy.Matrix(n, 1, lambda p, _: Symbol(f"x{p}"))
    bv = sympy.Matrix(n, 1, lambda p, _: Symbol(f"b{p}"))
    zv = Wm * xv + bv
    F = -xv + zv.applyfunc(phi)
    q = Rational(1, 2) * (F.T * F)[0]
    J = F.jacobian(xv)
    D1 = sympy.diag(*[generic_phi(1)(e) for e in zv])
    D2F = sympy.diag(*[F[p] * generic_phi(2)(zv[p]) for p in range(n)])
    grad = sympy.Matrix([q]).jacobian(xv).T
    hess = sympy.hessian(q, list(xv))
    ok = (
        sympy.expand(J - (-sympy.eye(n) + D1 * Wm)) == sympy.zeros(n, n)
        and sympy.expand(grad - J.T * F) == sympy.zeros(n, 1)
        and sympy.expand(hess - (J.T * J + Wm.T * D2F * Wm)) == sympy.zeros(n, n)
    )
    if not ok:
        raise AssertionError("matrix forms of the speed energy failed the N = 3 check")
    return True


def speed_minima() -> Derivation:
    """q(x) = ½‖−x + φ(Wx + b)‖², its gradient, Hessian, Jacobian and the ghost criteria."""
    d = Derivation(
        "rnn_speed_minima",
        "Speed minima of a full-rank RNN: energy, gradient, Hessian and the ghost test (Eq. 39)",
        r"Fixed points, slow points and ghosts of $\tau\dot x = F(x) = -x + \varphi(Wx + b)$ "
        r"are local minima of the kinetic energy $q(x) = \tfrac12\|F(x)\|^2$ (Eqs. 2, 39). We "
        r"derive, neuron by neuron, the Jacobian of $F$, the gradient and the Hessian of $q$ "
        r"that a minimiser needs, and state the classification of docs/math.md \S1 for this "
        r"Jacobian. Inputs are off (they would only shift $b$).",
    )
    d.section("Field and Jacobian")
    d.text(r"Neuron $i$ has pre-activation $z_i = \sum_j W_{ij} x_j + b_i$ and velocity")
    Fi = _field(i)
    F_ = IndexedBase("F")
    J_ = IndexedBase("J")
    q_ = Symbol("q")
    d.equation(F_[i], Fi, label="24")
    d.text(
        r"Differentiating with respect to $x_k$: the leak gives a Kronecker delta, and the sum "
        r"over $j$ keeps its $k$-th term."
    )
    Jik = _name_preactivations(in_range(sympy.diff(Fi, x[k]).doit()))
    d.result("J", Jik, lhs=J_[i, k])
    d.text(r"In matrix form, with $D_1 = \mathrm{diag}(\varphi'(z))$: $J = -I + D_1 W$.")

    d.section("Energy and gradient")
    q = Rational(1, 2) * Sum(Fi**2, (i, 1, N))
    d.equation(q_, q, label="39")
    grad = _name_preactivations(in_range(sympy.diff(q, x[k]).doit()))
    d.result("grad_q", sum_simplify(sympy.expand(grad)), lhs=Partial(q_, x[k], evaluate=False))
    d.text(
        r"The first two terms are $-F_k$, the diagonal part of $J$; the sum is the "
        r"$D_1 W$ part. Together: $\partial q/\partial x_k = \sum_i F_i J_{ik}$, i.e. (Eq. 4)"
    )
    Fm, Jm, Wm = (sympy.MatrixSymbol(s, N, N) for s in ("F", "J", "W"))
    Fv = sympy.MatrixSymbol("F", N, 1)
    d.equation(Nabla(q_), Jm.T * Fv, label="4")

    d.section("Hessian")
    d.text(r"The second derivatives of one component of the field are")
    d2F = _name_preactivations(in_range(in_range(sympy.diff(Fi, x[k], x[ell]).doit())))
    d.result("hess_F", d2F, lhs=Partial(F_[i], x[k], x[ell], evaluate=False))
    d.text(r"and differentiating $\sum_i F_i J_{ik}$ once more by the product rule gives")
    hessian = Sum(J_[i, k] * J_[i, ell] + F_[i] * d2F, (i, 1, N))
    d.equation(Partial(q_, x[k], x[ell], evaluate=False), hessian)
    D2 = sympy.MatrixSymbol("D_2", N, N)
    d.equation(
        Nabla(q_, 2),
        Jm.T * Jm + Wm.T * D2 * Wm,
        prose=r"In matrix form, with $D_2 = \mathrm{diag}(F \odot \varphi''(z))$,",
    )
    v = sympy.MatrixSymbol("v", N, 1)
    d.equation(
        Nabla(q_, 2) * v,
        Jm.T * (Jm * v) + Wm.T * (D2 * (Wm * v)),
        prose=r"and a Hessian-vector product costs three matrix-vector products and no "
        r"$N\times N$ Hessian:",
    )
    _check_matrix_forms()
    d.text(
        rf"All three matrix forms ($J$, $\nabla q = J^\top F$, $\nabla^2 q = J^\top J + "
        rf"W^\top D_2 W$) were confirmed by expanding a network of $N = {CHECK_SIZE}$ neurons "
        r"completely and differentiating $q$ directly. Note $\sum_i F_i\nabla^2 F_i$ vanishes "
        r"at a fixed point, where the Hessian is $J^\top J$."
    )

    d.section("Classification (docs/math.md \\S1 for this Jacobian)")
    lam, mu = Symbol("lambda"), Symbol("mu")
    d.text(
        r"A minimum $x_s$ of $q$ with $q(x_s) = 0$ is a fixed point. Otherwise $F(x_s) \neq 0$ "
        r"and $\nabla q = J^\top F = 0$ (Eq. 5) makes $u = F/\|F\|$ a left null vector of $J$: "
        r"$J$ has an eigenvalue $\lambda = 0$. Since $J + I = D_1 W$,"
    )
    D1 = sympy.MatrixSymbol("D_1", N, N)
    ev = sympy.MatrixSymbol("e", N, 1)
    d.equation(
        (-sympy.Identity(N) + D1 * Wm) * ev, lam * ev, prose=r"for an eigenvector $e$ of $J$:"
    )
    d.equation(D1 * Wm * ev, (lam + 1) * ev, prose="that is,")
    d.equation(
        lam,
        sympy.solve(sympy.Eq(mu, lam + 1), lam)[0],
        prose=r"so with $\mu$ the eigenvalues of $D_1 W$,",
    )
    d.text(
        r"so a slow point of this network is a state where the gain-weighted connectivity "
        r"$\mathrm{diag}(\varphi'(Wx_s + b))\,W$ has an eigenvalue exactly $1$. It is a "
        r"\textbf{ghost} when every other eigenvalue $\mu$ has $\mathrm{Re}\,\mu < 1$ "
        r"(transverse stability, Eq. 6: all other $\mathrm{Re}\,\lambda < 0$), and another "
        r"slow point when some $\mathrm{Re}\,\mu > 1$. Numerically: classify by $q \approx 0$ "
        r"(fixed point), else by one $|\lambda| \approx 0$ with the rest $\mathrm{Re}\,\lambda "
        r"< 0$ (ghost). The leaky map $x_{t+1} = x_t + aF(x_t)$ has the same fixed and slow "
        r"points; its Jacobian $I + aJ$ has eigenvalues $1 + a\lambda$. The authors' code "
        r"minimises $\|F\|^2$ without the factor $\tfrac12$ (docs/experiments.md \S5.2): same "
        r"minima."
    )
    return d
