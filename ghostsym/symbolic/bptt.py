"""Backpropagation through time for the rank-one DA network, derived (docs/experiments.md §1.1).

Document ``rnn_rank_one_bptt``: the adjoint recursion for the latent readout
ŷ_t = σ(c(κ_t − κ*)) and the loss L = (1/T) Σ_{t=1}^{2T} (ŷ_t − y_t)² on post-update states,
obtained from the stationarity of a Lagrangian, with every local derivative computed by SymPy
and the whole recursion confirmed against direct differentiation of an unrolled network.
:func:`bptt_kernel_expressions` gives the per-neuron pieces the numba template
(``ghostsym.numerics.latent_template``) uses for its reference gradient.

SymPy only.
"""

from __future__ import annotations

import sympy
from sympy import IndexedBase, Sum, Symbol

from ghostsym.symbolic.derivation import Derivation, Partial
from ghostsym.symbolic.latent import (
    N,
    a,
    b,
    i,
    kappa,
    latent_flow,
    m,
    n,
    neuron_derivative,
    scalarize,
)
from ghostsym.symbolic.nonlinearities import DEFAULT_NONLINEARITY, generic_phi, specialize

T = Symbol("T", integer=True, positive=True)
s = Symbol("s", integer=True, positive=True)
c = Symbol("c", positive=True)
kappa_star = Symbol("kappa^*", real=True)
y_t = Symbol("y_t", real=True)
kap = IndexedBase("kappa")
lam = IndexedBase("lambda")
y = IndexedBase("y")
x0 = IndexedBase("x_0")
phi = generic_phi(0)

#: Horizon and width of the unrolled network on which the recursion is confirmed.
CHECK_STEPS, CHECK_NEURONS = 3, 2


def _partial(obj, var: str):
    """The unevaluated partial derivative of ``obj`` by the parameter named ``var``."""
    return Partial(obj, Symbol(var), evaluate=False)


class sigma(sympy.Function):  # noqa: N801 (the paper's name)
    """The logistic sigmoid σ, differentiated as σ' = σ(1 − σ) (no exponentials)."""

    nargs = 1

    def fdiff(self, argindex=1):
        return self * (1 - self)

    def _latex(self, printer, exp=None):
        body = rf"\sigma\!\left({printer._print(self.args[0])}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"


def step_map(kappa_expr=kappa):
    """G(κ) = κ + a f(κ) = (1 − a)κ + a Σ_i n_i φ(m_i κ + b_i) (Eq. 25, discrete)."""
    return sympy.expand(kappa_expr + a * latent_flow(kappa_expr)).collect(kappa_expr)


def step_loss(kappa_expr=kappa, target=y_t):
    """ℓ_t(κ) = (σ(c(κ − κ*)) − y_t)² / T: one step's share of the DA loss."""
    return (sigma(c * (kappa_expr - kappa_star)) - target) ** 2 / T


def _sigmoid_formula(expr):
    return expr.replace(lambda e: isinstance(e, sigma), lambda e: 1 / (1 + sympy.exp(-e.args[0])))


def bptt_kernel_expressions(name: str = DEFAULT_NONLINEARITY):
    """Kernel pieces for a named φ.

    Returns ``(neuron, loss)``: ``neuron`` in (m_i, n_i, b_i, κ, a) is the 5-tuple
    (per-neuron term of G, of ∂G/∂κ, ∂G/∂m_i, ∂G/∂n_i, ∂G/∂b_i) with G(κ) = (1 − a)κ +
    Σ_i term; ``loss`` in (κ, y_t, c, κ*, T) is (ℓ, ∂ℓ/∂κ, ∂ℓ/∂c).
    """
    G = step_map()
    summand = next(t for t in sympy.Add.make_args(G) if t.has(Sum))
    term = summand.args[0] if isinstance(summand, Sum) else None
    if term is None:  # a * Sum(...)
        coeff, sm = summand.as_independent(Sum)
        term = coeff * sm.function
    neuron = [scalarize(term, i), scalarize(sympy.diff(term, kappa), i)]
    for param in (m, n, b):
        neuron.append(scalarize(neuron_derivative(G, param)))
    neuron = tuple(specialize(e, name) for e in neuron)
    ell = step_loss()
    loss = tuple(_sigmoid_formula(e) for e in (ell, sympy.diff(ell, kappa), sympy.diff(ell, c)))
    return neuron, loss


def _check_unrolled() -> None:
    """Direct d/dθ of the unrolled loss equals the adjoint formula (generic φ, symbolic)."""
    H, Nn = CHECK_STEPS, CHECK_NEURONS
    ms = sympy.symbols(f"m0:{Nn}")
    ns = sympy.symbols(f"n0:{Nn}")
    bs = sympy.symbols(f"b0:{Nn}")
    xs = sympy.symbols(f"x0:{Nn}")
    ys = sympy.symbols(f"y1:{H + 1}")
    sub = {T: Symbol("T_", positive=True)}

    def G(k):
        return (1 - a) * k + a * sum(ns[p] * phi(ms[p] * k + bs[p]) for p in range(Nn))

    ks = [sum(ns[p] * xs[p] for p in range(Nn))]
    for _ in range(H):
        ks.append(G(ks[-1]))
    L = sum(step_loss(ks[t], ys[t - 1]) for t in range(1, H + 1)).xreplace(sub)
    # Adjoint, exactly as the document states it.
    lams = [None] * (H + 1)
    dl = [
        sympy.diff(step_loss(kappa, ys[t - 1]).xreplace(sub), kappa).xreplace({kappa: ks[t]})
        if t >= 1
        else 0
        for t in range(H + 1)
    ]
    kk = Symbol("kk")
    dG = sympy.diff(G(kk), kk)
    lams[H] = dl[H]
    for t in range(H - 1, -1, -1):
        lams[t] = dl[t] + lams[t + 1] * dG.xreplace({kk: ks[t]})
    for p in range(Nn):
        for param, extra in ((ms[p], 0), (bs[p], 0), (ns[p], xs[p])):
            adj = (
                sum(lams[t + 1] * sympy.diff(G(kk), param).xreplace({kk: ks[t]}) for t in range(H))
                + lams[0] * extra
            )
            if sympy.expand(sympy.diff(L, param) - adj) != 0:
                raise AssertionError(f"adjoint recursion disagrees with d/d{param}")


def rank_one_bptt() -> Derivation:
    """The adjoint (BPTT) recursion of the rank-one DA network with latent readout."""
    d = Derivation(
        "rnn_rank_one_bptt",
        "Backpropagation through time for the rank-one delayed-activation network",
        r"The rank-one network of Figs.~3, 6A and 8B is trained by gradient descent on the "
        r"delayed-activation loss. Because its latent variable obeys an exact scalar map, the "
        r"gradient with respect to all $3N$ parameters follows from a scalar adjoint recursion. "
        r"We derive it from a Lagrangian, with each local derivative computed symbolically, "
        r"and confirm it against direct differentiation of an unrolled network. Hand-written "
        r"BPTT kernels can be checked line by line against this document.",
    )
    G = step_map()
    d.section("Forward pass")
    d.text(
        r"From a fixed initial state $x_0$ (not trained; $x_0 = -0.3\cdot\mathbf 1$ in the "
        r"paper's runs), the latent variable starts at"
    )
    k0 = Sum(n[i] * x0[i], (i, 1, N))
    d.equation(kap[0], k0)
    d.text(r"and follows the leaky map (Eq. 25, discrete) $\kappa_{t+1} = G(\kappa_t)$ with")
    d.result("G", G, lhs=sympy.Function("G")(kappa))
    d.text(
        r"The output is read from the post-update latent states, $t = 1, \dots, 2T$ "
        r"(Eq. 36), and compared with the target $y_t = 0$ for $t \le T$, $1$ after (Eq. 41):"
    )
    d.equation(Symbol("yhat_t"), sigma(c * (kap[Symbol("t")] - kappa_star)), label="36")
    tt = Symbol("t", integer=True, positive=True)
    Lsum = Sum(step_loss(kap[tt], y[tt]) * T, (tt, 1, 2 * T)) / T
    d.equation(Symbol("L"), Lsum)
    d.text(
        r"The reduction is exact for every value of the parameters (document "
        r"\texttt{rnn\_latent\_reduction}), so $L(\theta)$ computed through the scalar map is "
        r"the same function as through the $N$-dimensional network, and so are its gradients: "
        r"BPTT through the network and through $\kappa$ agree exactly. The parameters enter "
        r"through $G$ at every step and, for $n$, through $\kappa_0 = n^\top x_0$."
    )

    d.section("Local derivatives")
    d.text(r"One step's loss and its derivatives (SymPy, with $\sigma' = \sigma(1-\sigma)$):")
    ell = step_loss()
    ell_of = sympy.Function("ell_t")(kappa, c)
    d.equation(ell_of, ell)
    dl_dk = sympy.factor(sympy.diff(ell, kappa))
    d.result("dl_dkappa", dl_dk, lhs=ell_of.diff(kappa))
    d.result("dl_dc", sympy.factor(sympy.diff(ell, c)), lhs=ell_of.diff(c))
    d.text(r"The step map's derivative in the state:")
    dG = sympy.diff(G, kappa)
    G_of = sympy.Function("G")(kappa)
    d.result("dG_dkappa", dG, lhs=G_of.diff(kappa))
    d.text(r"and in the parameters of neuron $j$ (a Kronecker delta picks the $j$-th term):")
    for name, param in (("m", m), ("n", n), ("b", b)):
        d.result(f"dG_d{name}", neuron_derivative(G, param), lhs=_partial(G_of, f"{name}_j"))
    d.result("dk0_dn", neuron_derivative(k0, n), lhs=_partial(Symbol("kappa_0"), "n_j"))

    d.section("Adjoint recursion")
    d.text(
        r"Treat $\kappa_0, \dots, \kappa_{2T}$ as independent and enforce the dynamics with "
        r"multipliers $\lambda_t$:"
    )
    t0 = Symbol("t", integer=True, nonnegative=True)
    lag = (
        Lsum
        - Sum(lam[t0 + 1] * (kap[t0 + 1] - sympy.Function("G")(kap[t0])), (t0, 0, 2 * T - 1))
        - lam[0] * (kap[0] - k0)
    )
    d.equation(Symbol("Lcal"), lag)
    d.text(
        r"On trajectories of the network the constraints vanish, so $\mathcal L = L$ for any "
        r"$\lambda$; choosing $\lambda$ so that $\partial\mathcal L/\partial\kappa_s = 0$ "
        r"removes every derivative of the states, and $dL/d\theta = \partial\mathcal L/"
        r"\partial\theta$. The variable $\kappa_s$ ($1 \le s < 2T$) appears in three terms: "
        r"its loss, the constraint that defines it and the one that defines $\kappa_{s+1}$:"
    )
    Gf = sympy.Function("G")
    ellf = sympy.Function("ell_s")
    local = (
        ellf(kap[s]) - lam[s] * (kap[s] - Gf(kap[s - 1])) - lam[s + 1] * (kap[s + 1] - Gf(kap[s]))
    )
    d.equation(Symbol("Lcal_s"), local)
    stationarity = sympy.diff(local, kap[s])
    d.equation(stationarity, 0)
    lam_s = sympy.solve(sympy.Eq(stationarity, 0), lam[s])[0]
    d.result("lambda_s", lam_s, lhs=lam[s])
    d.text(
        r"Explicitly, for $1 \le s < 2T$, with $\partial\ell_s/\partial\kappa$ and "
        r"$G'$ from above at $\kappa = \kappa_s$:"
    )
    lam_explicit = dl_dk.xreplace({kappa: kap[s], y_t: y[s]}) + lam[s + 1] * dG.xreplace(
        {kappa: kap[s]}
    )
    d.equation(lam[s], lam_explicit)
    d.text(
        r"At the ends: $\kappa_{2T}$ has no successor, so $\lambda_{2T} = "
        r"\partial\ell_{2T}/\partial\kappa(\kappa_{2T})$; $\kappa_0$ is not scored, so "
        r"$\lambda_0 = \lambda_1 G'(\kappa_0)$. The gradient is then "
        r"$\partial\mathcal L/\partial\theta$:"
    )
    tt0 = Symbol("t", integer=True, nonnegative=True)
    for name, param in (("m", m), ("b", b), ("n", n)):
        term = neuron_derivative(G, param).xreplace({kappa: kap[tt0]})
        grad = Sum(lam[tt0 + 1] * term, (tt0, 0, 2 * T - 1))
        if name == "n":
            grad = grad + lam[0] * neuron_derivative(k0, n)
        d.result(f"dL_d{name}", grad, lhs=_partial(Symbol("L"), f"{name}_j"))
    dLdc = Sum(
        sympy.factor(sympy.diff(ell, c)).xreplace({kappa: kap[tt], y_t: y[tt]}), (tt, 1, 2 * T)
    )
    d.result(
        "dL_dc",
        dLdc,
        lhs=_partial(Symbol("L"), "c"),
        prose=r"and, when the confidence is trainable (docs/experiments.md \S8.3), directly",
    )
    _check_unrolled()
    d.text(
        rf"\textbf{{Check.}} For a network of $N = {CHECK_NEURONS}$ neurons unrolled over "
        rf"{CHECK_STEPS} scored steps, with $\varphi$ generic, SymPy differentiated the loss "
        r"directly with respect to every $m_j, n_j, b_j$ and obtained exactly the "
        r"expressions this recursion gives (the difference expands to zero)."
    )
    d.text(
        r"Cost: one forward pass storing $\kappa_t$, one backward pass, each $O(NT)$; no "
        r"$N$-dimensional state is needed. The per-neuron pieces above, specialised to a "
        r"named $\varphi$, are the generated kernels of the reference implementation."
    )
    return d
