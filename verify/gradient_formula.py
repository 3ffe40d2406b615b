"""Eq. 21: the closed-form gradient of the c → ∞ DA loss against the adjoint of the simulation.

For x² + r (docs/math.md §3) the c → ∞ loss L(r) = |T − t_esc(r)| (r ≥ r*/4), T below has

    ∂L/∂r = +π/(4 r^{3/2})   for r > r*,
    ∂L/∂r = −π/(4 r^{3/2})   for r*/4 < r < r*,
    ∂L/∂r = 0                for r < r*/4 (the no-learning zone),

and for any other normal form the pipeline's ∓σ dt_esc/dρ (closed form or the escape-time
table). The measurement is the exact discrete adjoint (BPTT) of the simulated DA loss
L = dt Σ (σ(c(x_k − x*)) − y_k)² (Eq. 14) with RK4 steps, at a confidence and threshold for
which the simulated model is the c → ∞ model to far below the tolerance:

* threshold x* = 2 (the field's own threshold when it is finite); the output then switches on
  at t_esc − ∫_{x*}^∞ dx/f instead of t_esc, whose r-derivative ∫_{x*}^∞ ∂_r f/f² dx is
  ≤ 1/(3 x*³) = 0.042 for x² + r — relative ≤ 6·10⁻⁶ of |∂L/∂r| ≥ 7·10³ on the grid (at
  10 r*; the measured error there is 5.4·10⁻⁶: this bias);
* c = 40/(x* − x0): before the switch-on the output is ≤ e⁻⁴⁰ (the plateau contributes
  nothing), and the switch-on lasts 1/(c f(x*)) in time;
* dt = that switch-on time / 12: the sigmoid is sampled on 12 steps, so the discrete sum of
  the loss differs from the integral by terms ~ exp(−2π² · 12) (Poisson summation of a
  logistic bump), and RK4's local error near x*, (dt f'(x*))⁵ ≲ 10⁻¹⁰, is negligible.

The grid is ρ = σ(r − r_c) from 1.05 ρ_n to 10 ρ* (both sides of r*, excluding ±5 % around
r* and r_n, where the simulated switch-on time crosses T or 2T at a slightly different r than
t_esc does — the jumps of Eq. 21 smeared over ~0.5 % of r), and 0.1 ρ_n to 0.9 ρ_n below.

Rule: above r_n: |adjoint − derived| ≤ 10⁻⁴ |derived| at every grid point (more than 15
times the largest bias above, the finite threshold's 6·10⁻⁶; the others are smaller), with
the same sign. Below r_n: the derived gradient is exactly 0.0 (the kernel or the table returns zero,
not a small number), and the adjoint is ≤ 10⁻⁶ |∂L/∂r|(r_n⁺) (the finite-c gradient there is
~ e^{−c(x* − x(2T))} ≤ e⁻³⁰, Fig. 8A's effect, far below).

False-fail probability: none — a deterministic comparison of a closed form with a
deterministic simulation (no random starts); the tolerance is a bound on the simulation's
biases, not a statistical allowance.
"""

import math

import numpy as np

from ghostsym.verification import Outcome, case_label, check
from ghostsym.verification.titles import field_title

T = 100.0
#: Threshold of the simulated output (the field's own when finite).
X_STAR = 2.0
#: c (x* − x0): the output before the switch-on is σ(−40) ≈ e⁻⁴⁰.
C_TIMES_DISTANCE = 40.0
#: Steps per switch-on time 1/(c f(x*)).
STEPS_PER_SWITCH = 12
#: Largest number of time steps of one simulation.
MAX_STEPS = 4_000_000
#: Excluded around r* and r_n (relative to ρ): the jumps of Eq. 21, smeared by x* < ∞.
JUMP_MARGIN = 0.05
RTOL = 1e-4
ZERO_TOL = 1e-6


@check(
    id="gradient-formula",
    claim="The gradient of the c -> oo DA loss is +-|dt_esc/dr| on the two sides of r* "
    "(pi/(4 r^{3/2}) for x^2 + r) and exactly zero below the point of no return r_n "
    "(r*/4 for x^2 + r); the adjoint of the simulated loss at large c agrees.",
    reference="Eq. 21; docs/math.md §3",
    normal_forms=True,
)
def run(ctx):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import sympy

    from ghostsym.analysis.normal_form_numerics import CANONICAL_ONLY, checked_normal_forms
    from ghostsym.analysis.phase_portrait import use_style

    use_style()
    forms = checked_normal_forms(ctx.options, CANONICAL_ONLY)
    fig, axes = plt.subplots(1, len(forms), figsize=(5.5 * len(forms), 4), squeeze=False)
    outcomes = []
    n_above, n_below = ctx.pick(12, 40), ctx.pick(4, 10)
    for ax, (_text, num) in zip(axes[0], forms, strict=True):
        a = num.at(T)
        sim = a.sim
        rho_s, rho_n = num.rho(a.values["r_star"]), num.rho(a.values["point_of_no_return"])
        finite = math.isfinite(num.threshold)
        x_star = num.threshold if finite else X_STAR
        c = C_TIMES_DISTANCE / abs(x_star - num.x0)
        grid = np.geomspace(rho_n * (1 + JUMP_MARGIN), 10 * rho_s, 4 * n_above)
        keep = np.abs(grid / rho_s - 1) > JUMP_MARGIN
        grid = grid[keep][:: max(1, keep.sum() // n_above)]
        below = np.linspace(0.1, 1 - JUMP_MARGIN * 2, n_below) * rho_n
        rows = []
        for rho in [*below, *grid]:
            r = num.r_of_rho(float(rho))
            speed = abs(num.field(x_star, r))
            dt_raw = 1.0 / (c * speed * STEPS_PER_SWITCH)
            n_half = math.ceil(T / dt_raw)
            if 2 * n_half > MAX_STEPS:
                raise RuntimeError(f"{2 * n_half} steps needed at r = {r:g}")
            dt = T / n_half
            sim_g = sim.da_loss_and_gradient(r, c=c, x_star=x_star, T=T, dt=dt, scheme="rk4").d_r
            derived = sim.analytic_loss_and_gradient(r, T)[1]
            rows.append(
                {"rho_over_rho_star": rho / rho_s, "r": r, "derived": derived,
                 "adjoint": sim_g, "dt": dt}
            )  # fmt: skip
        zone = [row for row in rows if row["rho_over_rho_star"] < rho_n / rho_s]
        active = [row for row in rows if row["rho_over_rho_star"] > rho_n / rho_s]
        scale = abs(sim.analytic_loss_and_gradient(num.r_of_rho(rho_n * 1.0001), T)[1])
        rel = np.array([abs(q["adjoint"] - q["derived"]) / abs(q["derived"]) for q in active])
        signs = all(np.sign(q["adjoint"]) == np.sign(q["derived"]) for q in active)
        exact_zero = all(q["derived"] == 0.0 for q in zone)
        zone_max = max(abs(q["adjoint"]) for q in zone) / scale
        for q in active:
            q["relative_error"] = abs(q["adjoint"] - q["derived"]) / abs(q["derived"])
        dl = num.derivation.results.get("dloss_dr")
        formula = sympy.sstr(dl) if dl is not None else "numeric"
        common = {"c": c, "x_star": x_star, "scheme": "rk4", "T": T}
        outcomes += [
            Outcome(
                analytic=float(max(abs(q["derived"]) for q in active)),
                measured=float(rel.max()),
                tolerance=f"relative error <= {RTOL:g} at every r > r_n, same sign",
                rule=f"dL/dr = {formula}: the adjoint of the simulated loss within {RTOL:g} "
                "(relative) of the derived gradient, with its sign, at every grid point above "
                "r_n (outside 5% of r* and r_n)",
                false_fail=None,
                why="finite x* shifts the switch-on's r-derivative by <= 1/(3 x*^3) (relative "
                "<= 6e-6 on the grid); 12 RK4 steps per switch-on make the discrete sum's and "
                "RK4's errors smaller still",
                passed=bool(rel.max() <= RTOL and signs),
                label=case_label(num.nf, "active"),
                details={**common, "grid": active},
            ),
            Outcome(
                analytic=0.0,
                measured=float(zone_max),
                tolerance=f"derived exactly 0.0; adjoint <= {ZERO_TOL:g} |dL/dr|(r_n+)",
                rule="below r_n the derived gradient is exactly zero and the simulated one at "
                f"c = {c:g} is below {ZERO_TOL:g} of the gradient just above r_n",
                false_fail=None,
                why="x never reaches x* within 2T, so the output stays below e^-30 and its "
                "r-derivative with it",
                passed=bool(exact_zero and zone_max <= ZERO_TOL),
                label=case_label(num.nf, "zone"),
                details={**common, "derived_exactly_zero": exact_zero, "grid": zone},
            ),
        ]
        rr = np.array([q["rho_over_rho_star"] for q in rows])
        order = np.argsort(rr)
        fine = np.geomspace(0.1 * rho_n, 10 * rho_s, 800)
        ax.plot(
            fine / rho_s,
            [sim.analytic_loss_and_gradient(num.r_of_rho(v), T)[1] for v in fine],
            "k-", lw=1, label=r"derived $\partial L/\partial r$ ($c \to \infty$)",
        )  # fmt: skip
        ax.plot(
            rr[order], np.array([q["adjoint"] for q in rows])[order], "o", mfc="none",
            color="C1", label=f"adjoint of the simulated loss, $c = {c:g}$",
        )  # fmt: skip
        ax.axvline(1, color="C4", ls="--", lw=1, label=r"$r^*$")
        ax.axvline(rho_n / rho_s, color="0.4", ls=":", lw=1, label=r"$r_n$ (point of no return)")
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1e2)
        ax.set_xlabel(r"$\rho / \rho^*$")
        ax.set_ylabel(r"$\partial L / \partial r$")
        ax.set_title(f"{field_title(num.nf)}, $T = {T:g}$")
        ax.legend(fontsize=7)
    fig.tight_layout()
    ctx.save_figure(fig, outcomes)
    return outcomes
