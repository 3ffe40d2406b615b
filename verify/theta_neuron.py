"""The theta neuron: exact period pi/sqrt(I), and the reduction's truncation error at its ghost.

d(theta)/dt = 1 - cos(theta) + (1 + cos(theta)) I, 0 < I < 1, has period pi/sqrt(I) exactly
(substitute u = tan(theta/2)). At theta = 0 its speed has a minimum with F = 2I != 0: a ghost.
The reduction of ``ghostsym.symbolic.reduction`` (Eqs. 7-11) gives c0, c2 and r there; its
leading-order passage time pi/sqrt(r) over-estimates the period by a relative amount whose
leading term SymPy derives from r (I/2 for r = I(1 - I)). This check

1. simulates the period (DOP853, rtol 1e-12, from theta = -pi to the event theta = pi) and
   compares it with pi/sqrt(I);
2. reduces the field numerically at each I (slow-point search from several starts, SVD null
   vectors, generated kernels) and compares r with the symbolic r(I);
3. fits the order and the coefficient of the truncation error (pi/sqrt(r))/T_sim - 1 against
   the derived leading term.

Rule: four deterministic comparisons. ``period``: |T_sim/(π/√I) − 1| ≤ 10⁻⁸ at every I
(DOP853 at rtol = atol = 10⁻¹² over ≤ 10³ time units). ``reduced-r``: the numerical r within
10⁻⁹ (relative) of the symbolic r(I) (both exact to round-off). ``truncation-order``: the
fitted log-log slope of the over-estimate on I ≤ 0.05 within 0.05 of the derived order (the
next term, (3/8) I², tilts the local slope by < 3I/4 ≤ 0.04). ``truncation-coefficient``: e(I)/I
at the smallest I within 1 % of the derived coefficient (the next term moves it by (3/4) I).

False-fail probability: none — no random element (the slow-point search starts are a fixed
grid of the circle, not seeds); the tolerances bound truncation and round-off.
"""

from __future__ import annotations

import math

import numpy as np
import sympy

from ghostsym.analysis import slow_points as sp_
from ghostsym.symbolic import reduction
from ghostsym.verification import Outcome, check

#: Simulated and exact periods must agree to this relative accuracy (the integrator runs at
#: rtol = atol = 1e-12 over at most ~1e3 time units; event location is exact to round-off).
PERIOD_RTOL = 1e-8
#: Numerical and symbolic r must agree to this relative accuracy (both exact to round-off).
R_RTOL = 1e-9
#: The fitted order may differ from the derived one by this much: on I <= 0.05 the next term
#: of the error, (3/8) I^2, tilts the local log-log slope by at most 3I/4 < 0.04.
ORDER_TOLERANCE = 0.05
#: The coefficient e(I)/I at the smallest I must match the derived one to this relative
#: accuracy: the next term changes it by (3/4) I relative, 7.5e-4 at I = 1e-3.
COEFFICIENT_RTOL = 0.01


def _period(field, rtol=1e-12) -> float:
    from scipy.integrate import solve_ivp

    def reach_pi(_t, y):
        return y[0] - math.pi

    reach_pi.terminal = True
    reach_pi.direction = 1.0
    sol = solve_ivp(
        lambda _t, y: field.F(y),
        (0.0, 1e6),
        [-math.pi],
        method="DOP853",
        rtol=rtol,
        atol=rtol,
        events=reach_pi,
    )
    if sol.status != 1:
        raise RuntimeError(f"theta never reached pi: {sol.message}")
    return float(sol.t_events[0][0])


@check(
    id="theta-neuron",
    claim=(
        "The theta neuron's simulated period equals pi/sqrt(I); the reduction at the ghost "
        "theta = 0 gives r with pi/sqrt(r) over-estimating the period by a relative I/2 + O(I^2)."
    ),
    reference="docs/math.md §2, §9 (Eq. 11)",
)
def run(ctx):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (g,), (theta,), (current,) = reduction.theta_neuron_field()
    candidates = reduction.solve_slow_points([g], [theta])
    if not any(sympy.simplify(c[theta]) == 0 for c in candidates):
        raise RuntimeError(f"theta = 0 is not among the closed-form slow points {candidates}")
    red = reduction.reduce_symbolic([g], [theta], {theta: 0})
    r_expr = red.r
    exact_error = sympy.simplify(sympy.sqrt(current / r_expr) - 1)
    leading = sympy.series(exact_error, current, 0, 2).removeO()
    coeff, order = leading.as_coeff_exponent(current)
    coeff, order = float(coeff), float(order)

    currents = np.array(
        ctx.pick(
            [0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001],
            [0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 5e-4, 2e-4, 1e-4],
        )
    )
    compiled = sp_.compile_field([g], [theta], [current])
    starts = np.linspace(-2.5, 2.5, 6)[:, None]
    periods, exact, r_sym, r_num, kinds = [], [], [], [], []
    ctx.progress.start(len(currents), "theta-neuron")
    for value in currents:
        field = compiled.at([value])
        periods.append(_period(field))
        exact.append(math.pi / math.sqrt(value))
        r_sym.append(float(r_expr.subs(current, value)))
        points = sp_.find_slow_points(field, starts)
        ghost = [p for p in points if p.kind == sp_.GHOST and abs(p.x[0]) < 1e-6]
        kinds.append([p.kind for p in points])
        r_num.append(sp_.reduce_to_canonical(field, ghost[0].x).r if ghost else math.nan)
        ctx.progress.update(1)
    ctx.progress.close()
    periods, exact = np.array(periods), np.array(exact)
    r_sym, r_num = np.array(r_sym), np.array(r_num)
    predicted = math.pi / np.sqrt(r_sym)
    trunc = predicted / periods - 1

    period_err = np.abs(periods / exact - 1)
    r_err = np.abs(r_num / r_sym - 1)
    small = currents <= 0.05
    slope, intercept = np.polyfit(np.log(currents[small]), np.log(trunc[small]), 1)
    smallest = int(np.argmin(currents))
    measured_coeff = float(trunc[smallest] / currents[smallest])

    from ghostsym.analysis.phase_portrait import use_style

    use_style()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].loglog(currents, periods, "o", label="simulated period")
    axes[0].loglog(currents, exact, "-", label=r"$\pi/\sqrt{I}$ (exact)")
    axes[0].loglog(
        currents, predicted, "--", label=rf"$\pi/\sqrt{{r}}$, $r = {sympy.latex(r_expr)}$"
    )
    axes[0].set_xlabel(r"$I$")
    axes[0].set_ylabel("period")
    axes[0].legend(fontsize=8)
    axes[1].loglog(currents, trunc, "o", label=r"$(\pi/\sqrt{r})/T_{\mathrm{sim}} - 1$")
    axes[1].loglog(
        currents[small],
        np.exp(intercept) * currents[small] ** slope,
        "k:",
        label=f"fit: slope {slope:.4f}",
    )
    axes[1].loglog(
        currents, coeff * currents**order, "-", lw=1, label=f"derived ${sympy.latex(leading)}$"
    )
    axes[1].set_xlabel(r"$I$")
    axes[1].set_ylabel("relative over-estimate")
    axes[1].legend(fontsize=8)
    fig.suptitle(
        r"Theta neuron $\dot\theta = 1 - \cos\theta + (1 + \cos\theta) I$: exact period and "
        "the reduction's truncation error"
    )
    fig.tight_layout()
    path = ctx.save_figure(fig, dpi=120)

    common = {"I": currents}
    return [
        Outcome(
            analytic=exact,
            measured=periods,
            tolerance=f"relative error <= {PERIOD_RTOL:g} at every I",
            why="DOP853 at rtol = atol = 1e-12 over at most ~1e3 time units",
            passed=bool(np.all(period_err <= PERIOD_RTOL)),
            figure=path,
            label="period",
            details={**common, "max_relative_error": float(period_err.max())},
        ),
        Outcome(
            analytic=sympy.sstr(r_expr),
            measured=r_num,
            tolerance=f"numerical r within {R_RTOL:g} (relative) of the symbolic r(I)",
            why="the symbolic reduction at theta = 0 and the numerical one (slow point found "
            "by minimising q, generated kernels) are both exact to round-off",
            passed=bool(np.all(r_err <= R_RTOL)),
            label="reduced-r",
            details={
                **common,
                "r_symbolic": r_sym,
                "max_relative_difference": float(np.nanmax(r_err)),
                "c0": sympy.sstr(red.c0),
                "c2": sympy.sstr(red.c2),
                "classified_points": kinds[0],
                "r_equals_I_times_1_minus_I": bool(
                    sympy.simplify(r_expr - current * (1 - current)) == 0
                ),
            },
        ),
        Outcome(
            analytic=order,
            measured=float(slope),
            tolerance=f"|fitted order - {order:g}| <= {ORDER_TOLERANCE}",
            why="fit on I <= 0.05; the O(I^2) term tilts the local slope by < 3I/4",
            passed=bool(abs(slope - order) <= ORDER_TOLERANCE),
            figure=path,
            label="truncation-order",
            details={**common, "relative_overestimate": trunc, "derived_leading": str(leading)},
        ),
        Outcome.relative(
            coeff,
            measured_coeff,
            COEFFICIENT_RTOL,
            "e(I)/I at the smallest I; the next term shifts it by (3/4) I relative",
            label="truncation-coefficient",
            figure=path,
            details={"I": float(currents[smallest])},
        ),
    ]
