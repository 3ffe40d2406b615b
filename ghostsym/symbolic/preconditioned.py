"""The canonical model under Gauss–Newton preconditioning: its critical learning rate, derived.

Beyond the paper (docs/sntk.md §4). In the c → ∞ limit the DA loss of a normal form depends on
r only through one observable, the onset time of the response, o(r) = t_esc(r)
(Eqs. 16–20: L = |t_esc − T| while the output turns on within the trial, L = T beyond the
point of no return). That onset time is the model's **output** here. The Gauss–Newton /
natural-gradient metric of a scalar parameter with one output is F(r) = (∂o/∂r)², damped to
F + λ, and the preconditioned update is

    r ← r − α (∂L/∂r) / ((∂t_esc/∂r)² + λ).

(The per-time-step outputs ŷ_t = σ(c(x_t − x*)) give Σ_t (∂ŷ_t/∂r)² = (∂t_esc/∂r)² Σ_t (∂ŷ_t/∂t)²
near the jump: the same metric times a factor that grows like c and does not depend on r to
leading order, i.e. a rescaling of α; the onset-time metric is its finite c → ∞ form.)

Derived, for any normal form the DA pipeline (:func:`ghostsym.symbolic.da.analyze`) gives a
closed-form escape time t_esc(ρ), ρ the distance past the fold:

* ``step`` — the update in ρ on the early side, −α G/(G² + λ) with G = |dt_esc/dρ|;
* ``trap_rate`` — the rate A_λ(ρ) = (ρ − ρ_n)(G² + λ)/G above which one step from ρ lands past
  the point of no return ρ_n;
* undamped (λ = 0): ``trap_rate_scaled`` A(vρ*)/T as a function of v = ρ/ρ* alone (for a
  power-law t_esc = Cρ^(−β): β(v − 2^(−1/β)) v^(−1−β)), so the whole dynamics in v depends on
  α/T only and the critical rate grows **linearly** in T — ``alpha_gn_exponent`` = 1, against
  α* ∝ T⁻⁵ for plain gradient descent (Eq. 23);
* A decreases in v beyond ``v_turn``, so the binding step is the *first* one, from the start
  v₀ (for gradient descent it is the last, from next to r*): ``alpha_gn_start`` = T·h(v₀),
  at the Fig. 2D start v₀ = 10 (``START_RATIO``); ``alpha_gn_optimum`` = T·h(1)
  (the rate safe for every start just above r*; 3T/8 for x² + r);
* ``gain_over_gd`` = α_GN(v₀ → 1)/α* = G(ρ*)², and with damping the two limits: λ ≪ G*² gives
  the Gauss–Newton rates, λ ≫ G*² gives gradient descent with rate α/λ (``damped_limit``
  = lim_{λ→∞} A_λ(ρ*)/λ = α*).

SymPy only.
"""

from __future__ import annotations

import sympy

from ghostsym.errors import NotDerivableError
from ghostsym.symbolic.da import analyze
from ghostsym.symbolic.derivation import Derivation, Increment, LogDerivative
from ghostsym.symbolic.normal_forms import NormalForm, saddle_node

KEY = "preconditioned_canonical"
#: The start of the Fig. 2D protocol in units of the optimum: ρ₀ = 10 ρ* (docs/experiments.md
#: §2.5).
START_RATIO = 10


def _positive_root(eq, x):
    roots = [s for s in sympy.solve(eq, x) if s.is_positive is not False]
    if len(roots) != 1:
        raise NotDerivableError(f"cannot solve {eq} = 0 uniquely for {x} > 0 (roots {roots})")
    return sympy.simplify(roots[0])


def quantities(nf: NormalForm | None = None, start_ratio=START_RATIO) -> dict:
    """The preconditioned-update results (SymPy expressions) for a normal form (default
    x² + r); keys as in the module docstring plus the symbols ``rho``, ``T``, ``v``,
    ``alpha``, ``lambda``. NotDerivableError without a closed-form escape time."""
    if nf is None:
        from ghostsym.symbolic.canonical import derive

        nf, base = saddle_node(), derive()  # the same pipeline, cached per process
    else:
        base = analyze(nf)
    s = base.symbols
    rho, T = s["rho"], s["T"]
    te = base.results.get("escape_time_rho")
    if te is None or te.has(sympy.Integral):
        raise NotDerivableError(f"{nf}: the escape time has no closed form")
    v = sympy.Symbol("v", positive=True)
    alpha, lam = sympy.Symbol("alpha", positive=True), sympy.Symbol("lambda", nonnegative=True)
    rho_star = _positive_root(te - T, rho)
    rho_n = _positive_root(te - 2 * T, rho)
    G = sympy.simplify(-sympy.diff(te, rho))
    step = -alpha * G / (G**2 + lam)
    trap = (rho - rho_n) * (G**2 + lam) / G
    undamped = sympy.simplify((rho - rho_n) * G)
    scaled = sympy.simplify(undamped.subs(rho, v * rho_star) / T)
    if T in scaled.free_symbols:
        raise NotDerivableError(f"{nf}: A(v rho*)/T depends on T ({scaled})")
    dh = sympy.simplify(sympy.diff(scaled, v))
    turns = [x for x in sympy.solve(sympy.Eq(dh, 0), v) if x.is_positive]
    v_turn = sympy.simplify(turns[0]) if len(turns) == 1 else None
    at_start = sympy.simplify(T * scaled.subs(v, start_ratio))
    at_opt = sympy.simplify(T * scaled.subs(v, 1))
    exponent = sympy.simplify(T * sympy.diff(sympy.log(at_start), T))
    alpha_star = base.results["alpha_star"]
    g_star = sympy.simplify(G.subs(rho, rho_star))
    return {
        "escape_time_rho": te,
        "rho_star": rho_star,
        "point_of_no_return_rho": rho_n,
        "G": G,
        "step": step,
        "trap_rate": trap,
        "trap_rate_undamped": undamped,
        "trap_rate_scaled": scaled,
        "trap_rate_scaled_slope": dh,
        "v_turn": v_turn,
        "alpha_gn_start": at_start,
        "alpha_gn_optimum": at_opt,
        "alpha_gn_exponent": exponent,
        "alpha_star": alpha_star,
        "alpha_star_exponent": base.results.get("alpha_star_exponent"),
        "grad_at_r_star": g_star,
        "gain_over_gd": sympy.simplify(at_opt / alpha_star),
        "damping_crossover": sympy.simplify(g_star**2),
        "damped_limit": sympy.simplify(sympy.limit(trap.subs(rho, rho_star) / lam, lam, sympy.oo)),
        "start_ratio": sympy.Integer(start_ratio),
        "symbols": {"rho": rho, "T": T, "v": v, "alpha": alpha, "lambda": lam},
    }


def preconditioned(nf: NormalForm | None = None) -> Derivation:
    """The derivation document (registered as ``preconditioned_canonical``)."""
    q = quantities(nf)
    sym = q["symbols"]
    rho, T, v, alpha, lam = sym["rho"], sym["T"], sym["v"], sym["alpha"], sym["lambda"]
    nf = nf if nf is not None else saddle_node()
    d = Derivation(
        KEY,
        "Beyond the paper: the canonical model under Gauss--Newton preconditioning",
        "Gradient descent on the canonical parameter $r$ has a critical learning rate "
        "$\\alpha^* = 3\\pi^4/(32T^5)$ (Eq. 23) because the loss gradient explodes next to the "
        "optimum. Preconditioning the update by the Gauss--Newton metric of the model's "
        "output -- the onset time of the response -- turns it into a step of fixed size in "
        "time units. We derive that update for a normal form, the learning rate above which "
        "it throws $r$ past the point of no return, and its scaling with $T$: linear, "
        "instead of $T^{-5}$.",
    )
    d.symbols.update({k: val for k, val in sym.items()})
    d.section(f"The output and its metric for $\\dot x = {sympy.latex(nf.expr)}$")
    d.text(
        "In the limit of infinite confidence the loss depends on $r$ only through the time "
        "$o(r) = t_\\mathrm{esc}(r)$ at which the output turns on: $L = |t_\\mathrm{esc} - T|$ "
        "while $t_\\mathrm{esc} < 2T$ and $L = T$ beyond the point of no return (Eqs. 16--20). "
        "We take $o$ as the model's output. For one scalar parameter the Gauss--Newton "
        "(natural-gradient) metric is $F = (\\partial o/\\partial r)^2$; with damping "
        "$\\lambda$ the update is $r \\leftarrow r - \\alpha\\,(\\partial L/\\partial r)/(F + "
        "\\lambda)$. (The metric of the per-step outputs $\\hat y_t$ is the same up to a factor "
        "that grows like $c$ and does not depend on $r$ to leading order: a rescaling of "
        "$\\alpha$.) In the distance $\\rho$ past the fold the escape time is"
    )
    d.result("escape_time_rho", q["escape_time_rho"], lhs=sympy.Symbol("t_esc"))
    d.text("with the optimum and the point of no return at")
    d.result("rho_star", q["rho_star"], lhs=sympy.Symbol("rho^*"))
    d.result("point_of_no_return_rho", q["point_of_no_return_rho"], lhs=sympy.Symbol("rho_n"))
    d.text(
        "On both sides of $\\rho^*$ (and short of $\\rho_n$) $|\\partial L/\\partial\\rho| = "
        "|\\partial o/\\partial \\rho| = G(\\rho)$ with"
    )
    d.result("G", q["G"], lhs=sympy.Symbol("G"))
    d.section("The preconditioned step and the trap")
    d.text("On the early side ($\\rho > \\rho^*$) one step moves $\\rho$ by")
    d.result("step", q["step"], lhs=Increment(rho))
    d.text(
        "and lands past the point of no return, where the gradient vanishes for ever, when "
        "$\\alpha$ exceeds"
    )
    d.result("trap_rate", q["trap_rate"], lhs=sympy.Symbol("A_lambda"))
    d.section("Undamped Gauss--Newton: a rate linear in $T$")
    d.text("Without damping the trap rate is $A(\\rho) = (\\rho - \\rho_n)\\,G(\\rho)$;")
    d.result("trap_rate_undamped", q["trap_rate_undamped"], lhs=sympy.Symbol("A"))
    d.text(
        "in units of the optimum, $\\rho = v\\rho^*$, it is $T$ times a function of $v$ alone. "
        "The same holds for the whole update ($\\Delta\\rho/\\rho$ depends on $v$ and "
        "$\\alpha/T$ only), so every trajectory in $v$ is fixed by $\\alpha/T$:"
    )
    d.result("trap_rate_scaled", q["trap_rate_scaled"], lhs=sympy.Symbol("A") / T)
    if q["v_turn"] is not None:
        d.text(
            "Its slope in $v$ is negative beyond $v_\\mathrm{turn}$, which lies below the "
            "optimum $v = 1$:"
        )
        d.result("v_turn", q["v_turn"], lhs=sympy.Symbol("v_turn"))
    d.text(
        "So on the early side the steps become safer as $\\rho$ approaches $\\rho^*$ -- the "
        "opposite of gradient descent, whose last step next to the optimum is the dangerous "
        "one. From a start $v_0$ the steps descend through $v < v_0$ (a late-side step lands "
        "at most at $1 + \\alpha/(\\beta T) < v_0$ for the rates in question), so the binding "
        "step is the first. With the start of Fig. 2D, $v_0 = "
        f"{int(q['start_ratio'])}$, the critical rate of the preconditioned update is"
    )
    d.result("alpha_gn_start", q["alpha_gn_start"], lhs=sympy.Symbol("alpha^*_GN"))
    d.equation(
        sympy.Symbol("alpha^*_GN"),
        T ** q["alpha_gn_exponent"],
        relation="propto",
        prose="It is linear in the delay,",
    )
    d.result(
        "alpha_gn_exponent",
        q["alpha_gn_exponent"],
        lhs=LogDerivative(sympy.Symbol("alpha^*_GN"), T),
    )
    d.text("against the gradient-descent exponent")
    d.equation(LogDerivative(sympy.Symbol("alpha^*"), T), q["alpha_star_exponent"])
    d.text("For starts just above the optimum ($v_0 \\to 1$) the rate is")
    d.result("alpha_gn_optimum", q["alpha_gn_optimum"], lhs=sympy.Symbol("alpha^*_opt"))
    d.text(
        "which exceeds the gradient-descent rate $\\alpha^*$ by the square of the gradient at "
        "the optimum:"
    )
    d.result(
        "gain_over_gd", q["gain_over_gd"], lhs=sympy.Symbol("alpha^*_opt") / sympy.Symbol("alpha^*")
    )
    d.section("Damping interpolates to gradient descent")
    d.text(
        "With $\\lambda \\gg G(\\rho^*)^2$ the update is gradient descent with rate "
        "$\\alpha/\\lambda$, and the trap rate at the optimum divided by $\\lambda$ tends to "
        "Eq. 23:"
    )
    d.result(
        "damped_limit",
        q["damped_limit"],
        lhs=sympy.Limit(sympy.Symbol("A_lambda") / lam, lam, sympy.oo),
    )
    d.text("The crossover between the two regimes is at")
    d.result("damping_crossover", q["damping_crossover"], lhs=sympy.Symbol("lambda_c"))
    d.text(
        f"(Symbols: ${sympy.latex(alpha)}$ the learning rate, ${sympy.latex(lam)}$ the damping, "
        f"${sympy.latex(rho)}$ the distance past the fold, ${sympy.latex(v)} = "
        f"{sympy.latex(rho)}/{sympy.latex(rho)}^*$.)"
    )
    return d
