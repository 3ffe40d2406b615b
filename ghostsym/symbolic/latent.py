"""Low-rank RNNs as latent dynamical systems: reduction, ghost coefficients, gradient projection.

Three derivation documents (docs/math.md §6; paper Eqs. 24–37, 47, 49):

* :func:`latent_reduction` (``rnn_latent_reduction``) — the exact reduction of a rank-one
  network (Eq. 25) and of a rank-K network with inputs (Eq. 37) to its latent variables
  κ = nᵀx, in discrete (Eq. 47) and continuous time (Eq. 24).
* :func:`latent_ghost` (``rnn_latent_ghost``) — the ghost of the latent flow: f′(κ_g) = 0,
  r_g = f(κ_g), a_g = ½f″(κ_g), the canonical r = a_g r_g and the passage time (Eqs. 26–29).
* :func:`gradient_projection` (``rnn_gradient_projection``) — ∇_θ r with its explicit part
  and its implicit part through κ_g (implicit-function theorem), and Δr ≈ −α(∇_θ r)ᵀ∇_θ L
  (Eqs. 30–35).

Everything is written per neuron with indexed sums over i = 1..N (never N expanded terms)
and for a *generic* nonlinearity φ (:func:`~ghostsym.symbolic.nonlinearities.generic_phi`);
:func:`flow_kernel_expressions` and :func:`r_gradient_kernel_expressions` specialise the
derived per-neuron terms to a named φ for code generation (``ghostsym.codegen.latent``).

SymPy only.
"""

from __future__ import annotations

import sympy
from sympy import IndexedBase, Piecewise, Rational, Sum, Symbol

from ghostsym.symbolic.derivation import Derivation, Increment, Partial
from ghostsym.symbolic.nonlinearities import DEFAULT_NONLINEARITY, generic_phi, specialize

# ---- symbols shared by the RNN documents -------------------------------------------------
N = Symbol("N", integer=True, positive=True)
K = Symbol("K", integer=True, positive=True)
i = Symbol("i", integer=True, positive=True)
j = Symbol("j", integer=True, positive=True)
k = Symbol("k", integer=True, positive=True)
ell = Symbol("l", integer=True, positive=True)
t = Symbol("t", integer=True, nonnegative=True)
time = Symbol("t", real=True)
a = Symbol("a", positive=True)
tau = Symbol("tau", positive=True)
dt = Increment(time)  # the time step Δt
kappa = Symbol("kappa", real=True)
kappa_g = Symbol("kappa_g", real=True)
r_g = Symbol("r_g", real=True)
a_g = Symbol("a_g", real=True)
f3_g = Symbol("f'''_g", real=True)
r_sym = Symbol("r", real=True)

m = IndexedBase("m")
n = IndexedBase("n")
b = IndexedBase("b")
x = IndexedBase("x")
u = IndexedBase("u")
w_in = IndexedBase("W^in")
eta = IndexedBase("eta")
kap = IndexedBase("kappa")

#: Scalar stand-ins for one neuron's parameters in generated kernels.
m_i, n_i, b_i = sympy.symbols("m_i n_i b_i", real=True)

phi = generic_phi(0)


class x_of_t(sympy.Function):  # noqa: N801 (printed name)
    """x_i(t): one neuron's state in continuous time (prints as x_i(t))."""

    nargs = 2

    def _latex(self, printer, exp=None):
        body = rf"x_{{{printer._print(self.args[0])}}}\!\left({printer._print(self.args[1])}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"


class kappa_of_t(sympy.Function):  # noqa: N801 (printed name)
    """κ_k(t): a latent variable in continuous time."""

    nargs = 2

    def _latex(self, printer, exp=None):
        body = (
            rf"\kappa_{{{printer._print(self.args[0])}}}\!"
            rf"\left({printer._print(self.args[1])}\right)"
        )
        return body if exp is None else rf"{body}^{{{exp}}}"


# ---- helpers ------------------------------------------------------------------------------
def in_range(expr):
    """Drop the ``Piecewise((e, j <= N), (0, True))`` that evaluating a Kronecker delta leaves.

    Differentiating Σ_i g_i with respect to the parameter of neuron j gives
    Σ_i δ_ij ∂g_i = ∂g_j *for 1 ≤ j ≤ N*; SymPy records the range condition as a
    Piecewise whose other branch is 0. Every index used here is in range by construction.
    """

    def pick(pw):
        (e, _cond), (other, cond2) = pw.args[0], pw.args[-1]
        if len(pw.args) != 2 or cond2 is not sympy.true or sympy.simplify(other.doit()) != 0:
            raise ValueError(f"unexpected Piecewise {pw}")
        return e

    return expr.replace(lambda e: isinstance(e, Piecewise), pick)


def neuron_derivative(expr, param: IndexedBase, index=j):
    """∂expr/∂param_index with the Kronecker delta resolved (see :func:`in_range`)."""
    return in_range(sympy.diff(expr, param[index]).doit())


def replace_sum(expr, target: Sum, replacement):
    """Replace every Sum equal to ``target`` up to renaming of its summation index."""
    (tidx, tlo, thi) = target.limits[0]

    def matches(e):
        if not isinstance(e, Sum) or len(e.limits) != 1:
            return False
        (idx, lo, hi) = e.limits[0]
        return (lo, hi) == (tlo, thi) and e.function.xreplace({idx: tidx}) == target.function

    return expr.replace(matches, lambda e: replacement)


def scalarize(expr, index=j):
    """Indexed m_j, n_j, b_j -> the kernel scalars m_i, n_i, b_i."""
    return expr.xreplace({m[index]: m_i, n[index]: n_i, b[index]: b_i})


def latent_flow(kappa_expr=kappa, nonlin=phi):
    """f(κ) = −κ + Σ_i n_i φ(m_i κ + b_i) (Eq. 25) as an indexed sum."""
    return -kappa_expr + Sum(n[i] * nonlin(m[i] * kappa_expr + b[i]), (i, 1, N))


def flow_derivatives(order: int = 3):
    """[f, f′, …, f^{(order)}] of the rank-one latent flow, generic φ, as indexed sums."""
    out = [latent_flow()]
    for _ in range(order):
        out.append(sympy.diff(out[-1], kappa))
    return out


def _split_sum(expr):
    """expr = linear part + Σ_i summand  ->  (linear part, summand with i)."""
    sums = [term for term in sympy.Add.make_args(expr) if isinstance(term, Sum)]
    if len(sums) != 1:
        raise ValueError(f"expected one sum over neurons in {expr}")
    return expr - sums[0], sums[0].function


def flow_kernel_expressions(name: str = DEFAULT_NONLINEARITY):
    """Per-neuron terms of f, f′, f″, f‴ and their linear parts, for a named φ.

    Returns ``(linear, per_neuron)``: ``linear`` is a 4-tuple of expressions in κ (−κ, −1,
    0, 0), ``per_neuron`` a 4-tuple in (m_i, n_i, b_i, κ) such that
    f^{(p)}(κ) = linear[p] + Σ_i per_neuron[p](m_i, n_i, b_i, κ).
    """
    linear, terms = [], []
    for expr in flow_derivatives(3):
        lin, summand = _split_sum(expr)
        linear.append(sympy.sympify(lin))
        terms.append(specialize(scalarize(summand, i), name))
    return tuple(linear), tuple(terms)


# ---- document 1: reduction -------------------------------------------------------------------
def latent_reduction() -> Derivation:
    """Rank-one (Eq. 25) and rank-K-with-input (Eq. 37) latent systems, exact."""
    d = Derivation(
        "rnn_latent_reduction",
        "Low-rank RNNs reduce exactly to latent dynamical systems (Eqs. 24, 25, 37, 47, 49)",
        r"A recurrent network whose connectivity has rank $K$ is driven, at every time step, "
        r"only by the $K$ projections $\kappa_k = n_k^\top x$ of its state. We derive, with "
        r"index sums over the $N$ neurons and a generic smooth nonlinearity $\varphi$, the "
        r"closed equations these latent variables obey, in discrete time (the leaky Euler map "
        r"the networks are trained with) and in continuous time, first for rank one without "
        r"input and then for rank $K$ with inputs. No step is an approximation.",
    )
    d.symbols.update(N=N, K=K, a=a, tau=tau, kappa=kappa)

    d.section("Rank one, discrete time")
    d.text(
        r"The network (Eq. 47) has $N$ neurons with states $x_{i,t}$, bias $b_i$, leak "
        r"$a = \Delta t/\tau$ and connectivity $W_{ij} = m_i n_j$ (rank one, Eq. 49 with "
        r"$K = 1$). Its update is"
    )
    rec = Sum(m[i] * n[j] * x[j, t], (j, 1, N))
    step_i = (1 - a) * x[i, t] + a * phi(rec + b[i])
    d.equation(x[i, t + 1], step_i, label="47")
    d.text(
        r"The factor $m_i$ does not depend on the summation index $j$, so it leaves the sum; "
        r"what remains is the single number the whole population is driven by:"
    )
    rec_factored = sympy.factor_terms(rec)
    d.equation(rec, rec_factored)
    kappa_def = Sum(n[j] * x[j, t], (j, 1, N))
    d.equation(kap[t], kappa_def, relation="equiv", prose=r"Define the latent variable")
    step_i_latent = replace_sum(step_i.xreplace({rec: rec_factored}), kappa_def, kap[t])
    d.equation(x[i, t + 1], step_i_latent)
    d.text(
        r"Project the update on $n$: multiply by $n_i$ and sum over $i$. The sum is linear, "
        r"so it splits term by term, and the leak term is again $\kappa_t$:"
    )
    projected = Sum(n[i] * step_i_latent, (i, 1, N))
    d.equation(kap[t + 1], projected)
    expanded = sympy.factor_terms(sympy.expand(projected))
    closed = replace_sum(expanded, kappa_def, kap[t])
    d.equation(kap[t + 1], closed)
    flow = latent_flow(kap[t])
    check = sympy.expand(closed - (kap[t] + a * flow))
    if check != 0:
        raise AssertionError(f"rank-one reduction failed: residual {check}")
    d.text(r"Collecting the terms proportional to the leak $a$ gives the latent map")
    d.equation(kap[t + 1], kap[t] + a * sympy.Function("f")(kap[t]), label="25, discrete")
    d.result(
        "f",
        latent_flow(),
        lhs=sympy.Function("f")(kappa),
        prose=r"with the latent flow (a function of one variable; $m$, $n$, $b$ are its "
        r"parameters)",
    )
    d.text(
        r"\textbf{Why this is exact.} The pre-activation of neuron $i$ depends on the "
        r"state only through $\sum_j n_j x_{j,t} = \kappa_t$, and projecting on $n$ is "
        r"linear, so it commutes with the leak. Hence $\kappa_{t+1}$ is a function of "
        r"$\kappa_t$ alone: no component of $x$ orthogonal to $n$ ever enters, and nothing was "
        r"truncated or linearised. The state itself is not reduced (the part of $x_t$ "
        r"orthogonal to $n$ carries $x_0$ and the history of the drive), but every quantity "
        r"that depends on $x$ only through $\kappa$ --- the drive, and a readout "
        r"$\sigma(c(\kappa-\kappa^*))$ (Eq. 36) --- is computed exactly by the one-dimensional "
        r"map from $\kappa_0 = n^\top x_0$. A readout $w_{\mathrm{out}}^\top x$ (Eq. 48) is not "
        r"a function of $\kappa$; the latent flow is still exact there, the output is not."
    )

    d.section("Rank one, continuous time")
    d.text(
        r"In continuous time (Eq. 24, no input) every neuron obeys "
        r"$\tau\,\dot x_i = -x_i + \varphi(\cdot) + \eta_i$; the authors' code puts the noise "
        r"inside $\varphi$ instead, and both places are kept below, as $\eta_i$ (on the state) "
        r"and $\xi_i$ (on the pre-activation)."
    )
    xi = IndexedBase("xi")
    X = x_of_t
    kap_c = kappa_of_t
    rhs_c = (
        -X(i, time) + phi(m[i] * Sum(n[j] * X(j, time), (j, 1, N)) + b[i] + xi[i]) + eta[i]
    ) / tau
    d.equation(sympy.Derivative(X(i, time), time), rhs_c, label="24")
    kappa_c = Sum(n[i] * X(i, time), (i, 1, N))
    d.equation(kap_c(1, time), kappa_c, relation="equiv")
    d.text(r"Differentiate the definition (a finite sum) and insert the equation of motion:")
    dk = sympy.diff(kappa_c, time)
    d.equation(sympy.Derivative(kap_c(1, time), time), dk)
    dk = dk.replace(
        lambda e: isinstance(e, sympy.Derivative) and isinstance(e.expr, X),
        lambda e: rhs_c.xreplace({i: e.expr.args[0]}),
    )
    dk = replace_sum(sympy.factor_terms(sympy.expand(dk)), kappa_c, kap_c(1, time))
    d.equation(sympy.Derivative(kap_c(1, time), time), dk)
    resid = sympy.expand(
        tau * dk
        - (
            -kap_c(1, time)
            + Sum(n[i] * phi(m[i] * kap_c(1, time) + b[i] + xi[i]), (i, 1, N))
            + Sum(n[i] * eta[i], (i, 1, N))
        )
    )
    resid = sympy.factor_terms(resid)
    if sympy.simplify(resid.doit()) != 0:
        raise AssertionError(f"continuous-time reduction failed: {resid}")
    d.text(
        r"Without noise this is $\tau\,\dot\kappa = f(\kappa)$ with the same $f$ as the "
        r"discrete map (Eq. 25); with noise, noise on the state enters as the scalar "
        r"$\sum_i n_i \eta_i$ and noise on the pre-activation shifts each $b_i$. The Euler step "
        r"of size $\Delta t$ of this equation is exactly the discrete map above with "
        r"$a = \Delta t/\tau$, so both are the same latent system sampled differently."
    )

    d.section("Rank K with inputs")
    d.text(
        r"Let $W_{ij} = \sum_{k=1}^{K} m_{ik} n_{jk}$ ($W = U V^\top$ with the columns "
        r"$m_k$ of $U$ and $n_k$ of $V$; Eq. 49), inputs $u_{l,t}$ enter through "
        r"$W^{\mathrm{in}}$, and define $\kappa_{k,t} = \sum_j n_{jk} x_{j,t}$. "
        r"The recurrent drive of "
        r"neuron $i$ is a double sum; finite sums may be interchanged, and $m_{ik}$ leaves "
        r"the inner sum over $j$:"
    )
    drive = Sum(Sum(m[i, k] * n[j, k] * x[j, t], (k, 1, K)), (j, 1, N))
    swapped = Sum(m[i, k] * n[j, k] * x[j, t], (k, 1, K), (j, 1, N)).reorder((0, 1))
    d.equation(drive, swapped)
    inner = Sum(n[j, k] * x[j, t], (j, 1, N))
    latent_drive = Sum(sympy.factor_terms(Sum(m[i, k] * n[j, k] * x[j, t], (j, 1, N))), (k, 1, K))
    d.equation(drive, latent_drive)
    latent_drive = replace_sum(latent_drive, inner, kap[k, t])
    d.equation(drive, latent_drive)
    inp = Sum(w_in[i, ell] * u[ell, t], (ell, 1, Symbol("L", integer=True, positive=True)))
    step_k = (1 - a) * x[i, t] + a * phi(latent_drive + b[i] + inp)
    d.equation(x[i, t + 1], step_k, prose=r"so the update of neuron $i$ reads")
    kk = Symbol("k'", integer=True, positive=True)
    proj = Sum(n[i, kk] * step_k, (i, 1, N))
    closed_k = replace_sum(
        sympy.factor_terms(sympy.expand(proj)),
        Sum(n[i, kk] * x[i, t], (i, 1, N)),
        kap[kk, t],
    )
    d.equation(
        kap[kk, t + 1],
        closed_k,
        label="37, discrete",
        prose=r"and projecting on $n_{k'}$ as before closes the system:",
    )
    continuous = {kap[kk, t]: kap[kk], kap[k, t]: kap[k], u[ell, t]: u[ell]}
    d.result(
        "F_rank_K",
        (-kap[kk, t] + Sum(n[i, kk] * phi(latent_drive + b[i] + inp), (i, 1, N))).xreplace(
            continuous
        ),
        lhs=tau * Symbol("kappadot_k'"),
        label="37",
        prose=r"In continuous time, by the same steps as for rank one,",
    )
    d.text(
        r"The $K$ latent variables obey a closed $K$-dimensional system, exact for the same "
        r"reason as before: the drive depends on $x$ only through $V^\top x$, and the "
        r"projection is linear. Inputs add the term $W^{\mathrm{in}}u_t$ to every pre-activation "
        r"(it is not projected, because it sits inside $\varphi$). For $K = 1$ and no input "
        r"this is Eq. 25. The code of the rank-two figures (docs/experiments.md \S4.3) uses the "
        r"orthonormal coordinates of the SVD $W = M P$; any factorisation gives an exact "
        r"latent system, related to this one by a linear change of the latent coordinates."
    )
    return d


# ---- document 2: ghost of the latent flow ------------------------------------------------------
def latent_ghost() -> Derivation:
    """Speed minimum κ_g, coefficients r_g, a_g, canonical r and passage time (Eqs. 26–29)."""
    d = Derivation(
        "rnn_latent_ghost",
        "The ghost of a rank-one latent flow and its canonical parameter (Eqs. 26--29)",
        r"A ghost of the latent flow $\tau\dot\kappa = f(\kappa)$ is a point where the speed "
        r"$|f|$ has a positive local minimum. Expanding $f$ to second order there maps the "
        r"latent flow onto the canonical model $\dot y = y^2 + r$ of the paper's first part, "
        r"and gives the time a trajectory needs to pass the bottleneck. Written for a general "
        r"nonlinearity $\varphi$, then specialised to $\tanh$.",
    )
    f, f1, f2, f3 = flow_derivatives(3)
    d.section("The flow and its derivatives")
    d.equation(sympy.Function("f")(kappa), f, label="25")
    d.text(r"Differentiating the sum over neurons term by term:")
    for order, derivative in enumerate((f1, f2, f3), start=1):
        d.equation(sympy.Function("f")(kappa).diff(kappa, order), derivative)

    d.section("Expansion around a critical point")
    s = Symbol("s", real=True)
    c = [e.xreplace({kappa: kappa_g}) for e in (f, f1, f2, f3)]
    taylor = sum(c[p] * s**p / sympy.factorial(p) for p in range(3))
    d.text(
        r"Write $\kappa = \kappa_g + s$. Taylor's theorem (to second order, remainder "
        r"$O(s^3)$ with coefficient $f'''/6$) gives"
    )
    d.equation(sympy.Function("f")(kappa_g + s), taylor, relation="approx")
    d.text(
        r"A speed minimum needs the linear term to vanish (Eq. 27), i.e. the weighted "
        r"gain of the population equals one:"
    )
    gain = c[1] + 1
    d.equation(gain, sympy.S.One, label="27")
    d.text(r"Then, with the two coefficients (Eq. 28)")
    d.result("r_g", c[0], lhs=r_g, label="28a")
    d.result("a_g", Rational(1, 2) * c[2], lhs=a_g, label="28b")
    F0, F1, F2 = (Symbol(nm) for nm in ("f(kappa_g)", "f'(kappa_g)", "f''(kappa_g)"))
    generic = F0 + F1 * s + F2 * s**2 / 2
    near = sympy.expand(generic.xreplace({F1: 0, F0: r_g, F2: 2 * a_g}))
    d.text(r"and Eq. 27 ($f'(\kappa_g) = 0$), the flow near $\kappa_g$ is (Eq. 26)")
    d.equation(
        tau * sympy.Derivative(Symbol("s"), Symbol("t")), near, relation="approx", label="26"
    )

    d.section("Canonical form")
    y, tp = Symbol("y", real=True), Symbol("t'", positive=True)
    d.text(
        r"Measure time in units of $\tau$ ($t' = t/\tau$) and rescale the displacement, "
        r"$y = a_g s$. Then $dy/dt' = a_g\, ds/dt' = a_g(r_g + a_g s^2)$, which in terms of $y$ "
        r"is"
    )
    dy = sympy.expand(a_g * near.xreplace({s: y / a_g}))
    d.equation(sympy.Derivative(y, tp), dy)
    r_canonical = sympy.expand(dy - y**2)
    d.result(
        "r",
        r_canonical,
        lhs=r_sym,
        label="29",
        prose=r"the canonical model (Eq. 11/12) with scale parameter",
    )
    d.text(
        r"The sign of $a_g$ does not matter: $y$ and $s$ point the same or opposite ways, and "
        r"$r$ is the product. Whether the critical point is a ghost is decided by the speed: "
        r"with $q = \tfrac12 f^2$,"
    )
    fk = sympy.Function("f")(kappa)
    q = fk**2 / 2
    qpp = sympy.diff(q, kappa, 2)
    d.equation(sympy.Function("q")(kappa).diff(kappa, 2), qpp)
    qpp_g = sympy.expand(
        qpp.xreplace(
            {sympy.Derivative(fk, (kappa, 2)): 2 * a_g, sympy.Derivative(fk, kappa): 0, fk: r_g}
        )
    )
    d.equation(
        sympy.Function("q")(kappa_g).diff(kappa_g, 2),
        qpp_g,
        relation="=",
        prose=r"and at $\kappa_g$ (where $f' = 0$, $f = r_g$, $f'' = 2a_g$)",
    )
    d.text(
        r"So $\kappa_g$ is a speed minimum with non-zero speed --- a ghost --- exactly when "
        r"$r > 0$; then the latent flow has no fixed point near $\kappa_g$. When $r < 0$ the "
        r"flow crosses zero twice near $\kappa_g$, at"
    )
    roots = sympy.solve(sympy.Eq(near, 0), s)
    d.equation(Symbol("s_pm"), sympy.Tuple(*roots))
    d.text(r"(a saddle-node pair), and $r = 0$ is the saddle-node bifurcation itself.")

    d.section("Passage time")
    d.text(
        r"For $r > 0$ the canonical model takes the time below to go from $y = -\infty$ "
        r"to $y = +\infty$ (the time spent in the bottleneck; half of it from $y = 0$, "
        r"the escape time of Eq. 13):"
    )
    rp = Symbol("r", positive=True)
    integral = sympy.Integral(1 / (y**2 + rp), (y, -sympy.oo, sympy.oo))
    passage = integral.doit()
    t_pass = Symbol("T_pass", positive=True)
    d.equation(t_pass / tau, integral)
    d.equation(t_pass / tau, passage)
    passage_tau = passage.xreplace({rp: a_g * r_g})
    d.result("passage_time", passage_tau, lhs=t_pass / tau)
    d.text(
        r"In units of the network's time steps: the leaky map $\kappa_{t+1} = \kappa_t + a f"
        r"(\kappa_t)$ is the Euler step $\Delta t = a\tau$ of $\tau\dot\kappa = f$, so a time "
        r"$T_\mathrm{pass}$ is $T_\mathrm{pass}/(a\tau)$ steps (valid when the step moves "
        r"$\kappa$ little "
        r"per step, $a|f| \ll$ the width $\sqrt{r_g/a_g}$ of the bottleneck, which holds near "
        r"a ghost with small $r$):"
    )
    d.result("passage_steps", passage_tau / a, lhs=Symbol("n_pass"))

    d.section(r"Specialisation to $\varphi = \tanh$")
    d.text(r"With $\tanh' = 1 - \tanh^2 = \operatorname{sech}^2$ the coefficients become")
    d.equation(sympy.Function("f")(kappa_g).diff(kappa_g), _sech(specialize(c[1], "tanh")))
    d.equation(a_g, _sech(specialize(Rational(1, 2) * c[2], "tanh")))
    d.text(
        r"These per-neuron terms, and those of any other named nonlinearity, are what the "
        r"generated kernels sum over neurons."
    )
    return d


def _sech(expr):
    """Write the factor pair (tanh z − 1)(tanh z + 1) = −sech² z as it reads in a paper."""

    def is_pair(e):
        if not e.is_Mul:
            return False
        pairs = [f for f in e.args if f.is_Add and len(f.args) == 2 and f.has(sympy.tanh)]
        return len(pairs) >= 2

    def rewrite(e):
        factors = list(e.args)
        for f in factors:
            z = next((t.args[0] for t in f.args if isinstance(t, sympy.tanh)), None)
            if z is not None and f == sympy.tanh(z) + 1 and f - 2 in factors:
                factors.remove(f)
                factors.remove(f - 2)
                return -(sympy.sech(z) ** 2) * sympy.Mul(*factors)
        return e

    z = sympy.Symbol("z", real=True)
    if sympy.simplify((sympy.tanh(z) - 1) * (sympy.tanh(z) + 1) + sympy.sech(z) ** 2) != 0:
        raise AssertionError("the identity (tanh - 1)(tanh + 1) = -sech^2 failed")
    out = expr.replace(is_pair, rewrite)
    # Constants leave the sum: ½ Σ −2 g_i reads −Σ g_i.
    return out.replace(lambda e: isinstance(e, Sum), sympy.factor_terms)


# ---- document 3: gradient projection -------------------------------------------------------------
def _r_gradient_parts():
    """Per-neuron explicit and implicit parts of ∂r/∂θ_j, θ ∈ (m, n, b), generic φ.

    Returns (symbolic dict for the document, kernel dict in r_g, a_g, f'''_g).
    """
    f, f1, f2, f3 = (e.xreplace({kappa: kappa_g}) for e in flow_derivatives(3))
    R = Rational(1, 2) * f2 * f
    dR_dkappa = Rational(1, 2) * (f3 * f + f2 * f1)
    at_g = {f + kappa_g: r_g + kappa_g, f2: 2 * a_g, f3: f3_g}  # the three sums
    parts = {}
    for name, param in (("m", m), ("n", n), ("b", b)):
        df = neuron_derivative(f, param)
        df1 = neuron_derivative(f1, param)
        df2 = neuron_derivative(f2, param)
        explicit = neuron_derivative(R, param)
        dkg = -df1 / f2
        implicit = Rational(1, 2) * f3 * f * dkg  # f' = 0 at κ_g kills ½ f'' f'
        # The same parts in terms of the ghost coefficients (what kernels evaluate).
        explicit_g = sympy.expand(a_g * df + Rational(1, 2) * r_g * df2)
        implicit_g = -r_g * f3_g * df1 / (4 * a_g)
        chk_e = sympy.expand(explicit.xreplace(at_g) - explicit_g)
        chk_i = sympy.simplify(implicit.xreplace(at_g) - implicit_g)
        if chk_e != 0 or chk_i != 0:
            raise AssertionError(f"gradient of r w.r.t. {name}: residual {chk_e}, {chk_i}")
        parts[name] = dict(
            df=df,
            df1=df1,
            df2=df2,
            explicit=explicit,
            dkg=dkg,
            implicit=implicit,
            explicit_g=explicit_g,
            implicit_g=implicit_g,
        )
    return parts, dR_dkappa


def _partial(obj, *variables):
    """∂obj/∂variables, printed with the object's name (:class:`Partial`)."""
    return Partial(obj, *variables, evaluate=False)


def _name_partials(expr, fname: str, kg_f, dk):
    """Name the partial derivatives SymPy's chain rule leaves as Derivative/Subs objects.

    The chain rule of ``F(θ_j, κ_g(θ_j))`` leaves a ``Subs`` (the partial in the first slot,
    θ_j) and a ``Derivative`` in the second slot (κ); both become :class:`Partial` of the
    function's name.
    """
    theta = kg_f.args[0]
    expr = expr.replace(
        lambda e: isinstance(e, sympy.Subs), lambda e: _partial(Symbol(fname), theta)
    )
    expr = expr.xreplace({sympy.Derivative(kg_f, theta): dk})
    return expr.replace(
        lambda e: isinstance(e, sympy.Derivative) and not isinstance(e, Partial),
        lambda e: _partial(Symbol(fname), kappa),
    )


def r_gradient_kernel_expressions(name: str = DEFAULT_NONLINEARITY):
    """Per-neuron (explicit, implicit) ∂r/∂m_j, ∂r/∂n_j, ∂r/∂b_j for a named φ.

    Arguments of every expression: (m_i, n_i, b_i, κ_g, r_g, a_g, f‴_g). Returned as a
    6-tuple (explicit_m, implicit_m, explicit_n, implicit_n, explicit_b, implicit_b).
    """
    parts, _ = _r_gradient_parts()
    out = []
    for p in ("m", "n", "b"):
        for part in ("explicit_g", "implicit_g"):
            out.append(specialize(scalarize(parts[p][part]), name))
    return tuple(out)


def gradient_projection() -> Derivation:
    """∇_θ r (explicit + implicit through κ_g) and Δr ≈ −α (∇_θ r)ᵀ∇_θ L (Eqs. 30–35)."""
    d = Derivation(
        "rnn_gradient_projection",
        "How a parameter update moves the ghost: the gradient projection (Eqs. 30--35)",
        r"The canonical parameter of a rank-one network's ghost, $r = a_g r_g$, is a function "
        r"of the $3N$ parameters $\theta = (m, n, b)$, explicitly and through the position "
        r"$\kappa_g(\theta)$ of the ghost. We derive its gradient per neuron, the implicit "
        r"part by the implicit-function theorem, and the first-order change of $r$ under a "
        r"gradient-descent step.",
    )
    f, f1, f2, f3 = (e.xreplace({kappa: kappa_g}) for e in flow_derivatives(3))
    d.section("$r$ as a function of the parameters")
    d.text(r"At the ghost, with all sums evaluated at $\kappa = \kappa_g$ (Eqs. 27--29):")
    d.equation(f1, 0, label="27")
    R = Rational(1, 2) * f2 * f
    d.equation(r_sym, R, label="29")
    d.text(
        r"Write $R(\theta, \kappa) = \tfrac12 f''(\kappa;\theta) f(\kappa;\theta)$, so "
        r"$r(\theta) = R(\theta, \kappa_g(\theta))$. For one parameter $\theta_j$ (any of "
        r"$m_j, n_j, b_j$) the chain rule gives an explicit and an implicit part:"
    )
    th = Symbol("theta_j", real=True)
    Rf = sympy.Function("R")
    kg_f = sympy.Function("kappa_g")(th)
    dk = _partial(kappa_g, th)
    total = _name_partials(sympy.diff(Rf(th, kg_f), th), "R", kg_f, dk)
    d.equation(_partial(r_sym, th), total, label="31")
    d.section("Implicit part: the implicit-function theorem")
    d.text(
        r"$\kappa_g(\theta)$ is defined by $f'(\kappa_g(\theta);\theta) = 0$ for all $\theta$. "
        r"Differentiating this identity:"
    )
    Fp = sympy.Function("f'")
    ident = _name_partials(sympy.diff(Fp(kg_f, th), th), "f'", kg_f, dk)
    d.equation(ident, 0)
    fp_k, fp_t = Symbol("f''"), _partial(Symbol("f'"), th)
    # Solve for stand-ins: SymPy would evaluate the unevaluated partials (to 0) while solving.
    u_dk, u_ft = sympy.Dummy("dk"), sympy.Dummy("ft")
    sol = sympy.solve(sympy.Eq(u_ft + fp_k * u_dk, 0), u_dk)[0].xreplace({u_ft: fp_t})
    d.equation(dk, sol, prose=r"The derivative of $f'$ in $\kappa$ is $f''$, hence")
    d.text(
        r"which exists when $f''(\kappa_g) \neq 0$, i.e. $a_g \neq 0$ (the non-degeneracy "
        r"the reduction to $\dot y = y^2 + r$ already required). The $\kappa$-derivative of "
        r"$R$ at $\kappa_g$ is"
    )
    parts, dR_dkappa = _r_gradient_parts()
    ff = sympy.Function("f")(kappa)
    generic_dR = sympy.diff(Rational(1, 2) * sympy.diff(ff, kappa, 2) * ff, kappa)
    d.equation(_partial(Symbol("R"), kappa), generic_dR)
    if (
        sympy.expand(
            generic_dR.doit()
            .replace(sympy.Function("f"), lambda _: latent_flow())
            .doit()
            .xreplace({kappa: kappa_g})
            - dR_dkappa
        )
        != 0
    ):
        raise AssertionError("d R / d kappa disagrees with the sum form")
    d.text(r"and its second term vanishes by Eq. 27, leaving $\tfrac12 f''' f$.")

    d.section("Per-neuron partial derivatives")
    d.text(
        r"Differentiating the sums over neurons with respect to the parameters of neuron "
        r"$j$ picks the $j$-th term (a Kronecker delta). For the output weight $n_j$, the "
        r"input weight $m_j$ and the bias $b_j$:"
    )
    params = {"m": m[j], "n": n[j], "b": b[j]}
    for p in ("n", "m", "b"):
        P = parts[p]
        sym = params[p]
        d.equation(_partial(Symbol("f"), sym), P["df"])
        d.equation(_partial(Symbol("f'"), sym), P["df1"])
        d.equation(_partial(Symbol("f''"), sym), P["df2"])
    d.section("The gradient of $r$")
    d.text(
        r"Putting the pieces together and writing the sums evaluated at $\kappa_g$ through the "
        r"ghost coefficients ($f = r_g$, $f'' = 2a_g$, $f''' = f'''_g$), each component of "
        r"$\nabla_\theta r$ is the explicit part $\partial R/\partial\theta_j$ plus the "
        r"implicit part $(\partial R/\partial\kappa)(\partial\kappa_g/\partial\theta_j)$ "
        r"(Eq. 31):"
    )
    R_sym = Symbol("R")
    for p in ("n", "m", "b"):
        P = parts[p]
        sym = params[p]
        explicit = _partial(R_sym, sym)
        implicit = sympy.Mul(_partial(R_sym, kappa), _partial(kappa_g, sym), evaluate=False)
        d.equation(_partial(r_sym, sym), sympy.Add(explicit, implicit, evaluate=False))
        d.equation(explicit, P["explicit_g"])
        d.equation(implicit, P["implicit_g"])
        d.results[f"dr_d{p}_explicit"] = P["explicit_g"]
        d.results[f"dr_d{p}_implicit"] = P["implicit_g"]
    d.text(
        r"The implicit part is the change of $r$ caused by the ghost sliding along $\kappa$; "
        r"it is proportional to $r_g$, so it matters most when the ghost is slow but not "
        r"degenerate, and it diverges as $a_g \to 0$, where the ghost ceases to exist."
    )
    d.text(
        r"For the sum over neurons the implicit parts share the factor "
        r"$-r_g f'''_g/(4a_g)$, which multiplies $\partial f'/\partial\theta_j$, i.e. "
        r"$\nabla_\theta r = a_g\nabla_\theta f + \tfrac12 r_g \nabla_\theta f'' - "
        r"(r_g f'''_g/4 a_g)\,\nabla_\theta f'$, every gradient taken at fixed $\kappa_g$."
    )

    d.section("First-order update of $r$ (Eqs. 30--35)")
    dm, dn, db = (Increment(p[j]) for p in (m, n, b))
    gm, gn, gb = (_partial(r_sym, p[j]) for p in (m, n, b))
    loss = Symbol("L")
    Lm, Ln, Lb = (_partial(loss, p[j]) for p in (m, n, b))
    alpha = Symbol("alpha", positive=True)
    dr = Sum(gm * dm + gn * dn + gb * db, (j, 1, N))
    d.text(
        r"$r(\theta)$ is analytic in $\theta$ for finite $N$ and smooth $\varphi$, so a small "
        r"update $\Delta\theta$ changes it by the first-order Taylor term (Eqs. 30--31), "
        r"with error $O(\|\Delta\theta\|^2)$:"
    )
    d.equation(Increment(r_sym), dr, relation="approx", label="31")
    d.text(
        r"Gradient descent on the loss updates every parameter by "
        r"$\Delta\theta_j = -\alpha\,\partial L/\partial\theta_j$ (Eq. 33). Substituting:"
    )
    gd = {dm: -alpha * Lm, dn: -alpha * Ln, db: -alpha * Lb}
    projected = sympy.factor_terms(dr.xreplace(gd))
    d.equation(Increment(r_sym), projected, relation="approx", label="34--35")
    d.text(
        r"i.e. $\Delta r \approx (\nabla_\theta r)^\top\Delta\theta = "
        r"-\alpha\,(\nabla_\theta r)^\top\nabla_\theta L$: the canonical parameter moves by the "
        r"projection of the loss gradient on $\nabla_\theta r$, the coefficient vector of "
        r"Eq. 34. Compared with the canonical model's own update $\Delta r = -\alpha\,\partial L/"
        r"\partial r$ (Eq. 32), the network's effective learning rate on $r$ is set by how "
        r"the loss gradient aligns with $\nabla_\theta r$."
    )
    d.results["delta_r"] = projected
    return d
