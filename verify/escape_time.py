"""Escape time: the derived t_esc(r) against an ODE integration of dx/dt = f(x; r).

For x**2 + r the derived escape time is π/(2√r) (Eq. 13); for x**4 + r and any normal form
given with ``--normal-form`` it is whatever the general DA pipeline derived (closed form, or
the quadrature of ∫ dx/f when there is none). The measurement integrates the ODE from x0
with an adaptive 8th-order Runge–Kutta method (rtol 1e-12) until the threshold is reached —
for an infinite threshold, until the time left before blow-up, ~x/f(x), is below 1e-9 of the
elapsed time — at parameters spanning six decades of distance ρ past the fold.

Rule: |t_ODE − t_esc| ≤ 10⁻⁸ t_esc at every ρ of the grid (six decades), 10 times the
integration's stopping error ESCAPE_TAIL_REL = 10⁻⁹ (its own error is ~10⁻¹²).

False-fail probability: none — a deterministic integration compared with a closed form or
quadrature.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ghostsym.analysis.normal_form_numerics import (  # noqa: E402
    ESCAPE_TAIL_REL,
    checked_normal_forms,
)
from ghostsym.analysis.phase_portrait import use_style  # noqa: E402
from ghostsym.verification import Outcome, case_label, check  # noqa: E402
from ghostsym.verification.titles import field_title

#: Relative tolerance: the integration stops where the time left is ~1e-9 of the elapsed
#: time (ESCAPE_TAIL_REL) and its own error is ~1e-12 per unit time; 1e-8 leaves a factor 10.
RTOL = 10 * ESCAPE_TAIL_REL


@check(
    id="escape-time",
    claim="The derived escape time t_esc(r) (pi/(2 sqrt r) for x^2 + r) equals the time an "
    "ODE integration of dx/dt = f(x; r) from x0 takes to reach the threshold.",
    reference="Eq. 13; docs/math.md §8",
    normal_forms=True,
)
def run(ctx):
    rhos = np.logspace(-6, 0, ctx.pick(7, 25))
    outcomes = []
    for _, num in checked_normal_forms(ctx.options):
        analytic, measured, tails = [], [], []
        for rho in rhos:
            r = num.r_of_rho(rho)
            analytic.append(num.escape_time(r))
            t, tail = num.simulate_escape_time(r)
            measured.append(t)
            tails.append(tail)
        analytic, measured = np.array(analytic), np.array(measured)
        rel = np.abs(measured - analytic) / analytic
        worst = int(np.argmax(rel))
        use_style()
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 3.6))
        ax.loglog(rhos, analytic, "-", label="derived $t_{esc}$")
        ax.loglog(rhos, measured, "o", mfc="none", label="ODE integration")
        ax.set_xlabel(r"$\rho = \sigma (r - r_c)$")
        ax.set_ylabel("escape time")
        ax.set_title(field_title(num.nf))
        ax.legend()
        ax2.loglog(rhos, np.maximum(rel, 1e-17), "s-")
        ax2.axhline(RTOL, color="k", ls="--", label="tolerance")
        ax2.set_xlabel(r"$\rho$")
        ax2.set_ylabel("relative difference")
        ax2.legend()
        fig.tight_layout()
        path = ctx.figure_path(num.nf.label())
        fig.savefig(path, dpi=110)
        plt.close(fig)
        method = "closed form" if num.closed else "quadrature"
        outcomes.append(
            Outcome(
                analytic=float(analytic[worst]),
                measured=float(measured[worst]),
                tolerance=f"relative error <= {RTOL:g} at every r",
                why="the integration stops where the time left before blow-up is ~1e-9 of "
                "the elapsed time, and its own relative error is ~1e-12",
                passed=bool(np.all(rel <= RTOL)),
                figure=path,
                label=case_label(num.nf),
                details={
                    "derived_by": method,
                    "escape_time": str(num.derivation.results["escape_time"]),
                    "rho": rhos,
                    "max_relative_error": float(rel.max()),
                    "worst_rho": float(rhos[worst]),
                    "time_left_at_stop": tails,
                },
            )
        )
    return outcomes
