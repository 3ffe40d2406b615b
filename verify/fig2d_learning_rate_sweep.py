"""Fig. 2D: a sharp critical learning rate at α* — analytical and simulated gradients.

The paper's sweep (docs/experiments.md §2.5): T = 100, 100 rates logspace(−11, −8) (in units of
the canonical α*, so other normal forms run at the same relative rates), 10 random starts
r0 = 10 r* + N(0, (r*/10)²) per rate from ``ctx.rng``, 10,000 epochs of gradient descent with
the analytical (c → ∞) gradient. A second, smaller sweep uses the exact adjoint gradient of
the simulated finite-c model (Euler, x* = 1) around α*, run for 1.5× (full: 3×) the
gradient-flow time the slowest rate needs to reach r* from the farthest start.

Why c = 30 for the simulated gradient (theory, computed in the check). Below r_n the finite-c
gradient is small but not zero (Fig. 8A), so a run that lands just below r_n can climb back
before the budget ends. A trapping step at (1 + δ) α* lands at most δ (r* − r_n) below r_n; a
run landing at depth d is rescued when the gradient-flow time ∫_{r_n−d}^{r_n} dr/(α*|∂L_c/∂r|)
is within the budget. The largest rescued depth d_esc therefore moves the simulated critical
rate up by about d_esc / (r* − r_n). The check computes this shift: at c = 10 it is 15 %
(x² + r) and 33 % (x⁴ + r) — the size of the 26 % / 47 % excess once measured with c = 10 —
and at c = 30 below 1.2 %, far inside the tolerance. The rule requires the computed shift at
the c used to be at most a third of the tolerance, so the setting is justified by the
check's own numbers, not by its outcome.

Rule: ``analytic-gradient`` — no run trapped at any rate below α* (the onset theorem of the
critical-learning-rate check); the runs from one grid step (7.23 %) above α* on trapped, "all"
read as "each run trapped with probability ≥ 0.99" (the theory does not make it certain:
crossings can settle on cycles that avoid the trapping window) and tested as at least k_min
of the n runs there, k_min the strictest count with P(Bin(n, 0.99) < k_min) ≤ 0.5 %; and the
99 % interval of the threshold fitted over all 1,000 runs (``fit_threshold``) meets
[α*, 1.0723 α*]. ``simulated-gradient`` — the 99 % interval of the threshold fitted over all
simulated runs meets [α*, 1.15 α*], and the computed rescue shift is ≤ 0.05. The 0.15 is a
design margin fixed before measuring, not a computed bound: it was sized from estimates of
three terms — x* = 1 is crossed ~1 time unit before t_esc (α* ∝ T⁻⁵ moves by ~5 %), finite-c
smoothing of the kink at r* (not quantified), and the rescue shift (computed in the check,
below 1.2 % at c = 30, and required to be at most a third of the margin).

False-fail probability: the onset condition is a theorem (0); the sharpness count fails with
probability P(Bin(n, 0.99) < k_min) ≤ 0.5 %, computed in the check (n = 34 rates × 10 starts
= 340, k_min = 331: 0.26 %); each fitted interval misses a true threshold inside its band
with probability ≤ 1 %; the rescue shift is a deterministic computation. ``analytic-gradient``:
≤ 1 % + the computed count term (union bound), ≈ 1.3 %. ``simulated-gradient``: ≤ 1 %
provided the true simulated threshold lies inside the design margin, which the check does not
prove.
"""

import numpy as np

from ghostsym.verification import Outcome, case_label, check
from ghostsym.verification.titles import field_title

T = 100.0
#: The paper's grid logspace(-11, -8, 100) in units of the canonical α* (9.132e-10).
LR_LO, LR_HI = 1e-11 / 9.132102284437729e-10, 1e-8 / 9.132102284437729e-10
#: One step of the paper's grid: the resolution at which it calls the transition sharp.
DELTA = 10 ** (3 / 99) - 1
#: Band above α* for the simulated gradient's threshold: a design margin (module docstring).
SIM_TOL = 0.15
#: "All trapped" one grid step above α*, read as a per-run probability, and the false-fail
#: share of that count (module docstring).
SHARP_FRACTION = 0.99
SHARP_LEVEL = 0.005
CONFIDENCE = 0.99
PLOT_EPOCHS = (1000, 2000, 3000, 5000, 10000)
#: Simulated gradient: a large confidence, with dt small enough that ŷ's turn-on spans
#: several steps (c·dt·f(x*) = 0.3) so the discrete loss is not a staircase; c is justified
#: by the computed rescue shift (module docstring), c = 10 is shown for comparison.
SIM_C, SIM_X_STAR, SIM_DT = 30.0, 1.0, 0.01
COMPARE_C = 10.0


def rescue_shift(a, c, epochs) -> float:
    """d_esc / (r* − r_n): the largest depth below r_n from which gradient flow at α* on the
    finite-c loss climbs back to r_n within ``epochs``, relative to the no-learning gap."""
    rs, rn, alpha = (a.values[k] for k in ("r_star", "point_of_no_return", "alpha_star"))
    grid = np.linspace(0.5 * rn, rn, 400)
    g = a.sim.loss_landscape(grid, [c], x_star=SIM_X_STAR, T=T, dt=0.3 / c)["d_r"][0]
    inv = 1.0 / (alpha * np.maximum(-g, 1e-300))
    seg = (inv[1:] + inv[:-1]) / 2 * np.diff(grid)
    tau = np.concatenate([np.cumsum(seg[::-1])[::-1], [0.0]])  # flow time from grid[i] to r_n
    return float((rn - grid[tau <= epochs].min()) / (rs - rn))


@check(
    id="fig2d-learning-rate-sweep",
    claim="Over learning rates and random starts, trapping in the no-learning zone switches on "
    "sharply at alpha* = |r* - r_n| / |dL/dr|_{r*} (Eq. 23), with the analytical gradient and "
    "with the exact gradient of the simulated finite-c model.",
    reference="Fig. 2D / Eq. 23",
    normal_forms=True,
)
def run(ctx):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ghostsym.analysis.normal_form_numerics import (
        CANONICAL_ONLY,
        checked_normal_forms,
        gradient_flow_epochs,
        trapped_fraction,
    )
    from ghostsym.analysis.phase_portrait import use_style
    from ghostsym.analysis.statistics import (
        false_fail_at_least,
        fit_threshold,
        strictest_count,
    )

    use_style()
    forms = checked_normal_forms(ctx.options, CANONICAL_ONLY)
    fig, axes = plt.subplots(2, len(forms), figsize=(5.5 * len(forms), 8), squeeze=False)
    outcomes = []
    for col, (_text, num) in enumerate(forms):
        a = num.at(T)
        rs_, alpha = a.values["r_star"], a.values["alpha_star"]

        # -- analytical gradient: the paper's sweep at full scale (fast) --------------------
        n_lr, n_seeds, epochs = 100, 10, 10_000
        lrs = alpha * np.geomspace(LR_LO, LR_HI, n_lr)
        frac, run_ = trapped_fraction(a, lrs, n_seeds, ctx.rng, epochs=epochs)
        trapped = a.trapped(run_).reshape(n_lr, n_seeds)
        fit = fit_threshold(np.repeat(lrs, n_seeds), trapped.ravel(), CONFIDENCE)
        onset = bool(not trapped[lrs < alpha].any())
        above = lrs >= (1 + DELTA) * alpha
        n_above = int(trapped[above].size)
        k_sharp = strictest_count(n_above, SHARP_FRACTION, SHARP_LEVEL)
        ff_sharp = false_fail_at_least(k_sharp, n_above, SHARP_FRACTION)
        sharp = bool(k_sharp > 0 and trapped[above].sum() >= k_sharp)
        none_below = lrs[(frac == 0) & (lrs < alpha * 2)]
        all_from = lrs[frac == 1]
        located = bool(fit.high >= alpha and fit.low <= (1 + DELTA) * alpha)
        outcomes.append(
            Outcome(
                analytic=alpha,
                measured={"threshold": fit.threshold, "ci_low": fit.low, "ci_high": fit.high},
                tolerance=f"none trapped below alpha*, >= {k_sharp} of {n_above} from (1 + "
                f"{DELTA:.4f}) alpha*, "
                "99% interval meets [alpha*, (1 + delta) alpha*]",
                rule=f"{n_lr} rates x {n_seeds} random starts, {epochs} epochs: no run trapped "
                f"below alpha*, at least {k_sharp} of the {n_above} runs from one paper-grid "
                f"step above alpha* trapped (P(Bin({n_above}, {SHARP_FRACTION:g}) < {k_sharp}) "
                f"= {ff_sharp:.2%}), and the 99% interval of the fitted threshold meets "
                "[alpha*, (1 + delta) alpha*]",
                false_fail=ff_sharp + (1 - CONFIDENCE),
                why=f"onset {'holds' if onset else 'FAILS'}, trapped above "
                f"{'holds' if sharp else 'FAILS'}, location {'holds' if located else 'FAILS'} "
                "(alpha* is the onset of trapping; the 50% point sits slightly above it)",
                passed=onset and sharp and located,
                label=case_label(num.nf, "analytic-gradient"),
                details={
                    "fit_method": fit.method,
                    "threshold_over_alpha_star": fit.threshold / alpha,
                    "none_trapped_up_to": float(none_below.max()) if none_below.size else np.nan,
                    "all_trapped_from": float(all_from.min()) if all_from.size else np.nan,
                    "untrapped_from_1_plus_delta": int((~trapped[above]).sum()),
                    "sharp_k_min": k_sharp,
                    "sharp_runs": n_above,
                    "sharp_false_fail": ff_sharp,
                },
            )
        )
        ax = axes[0, col]
        loss = (run_.loss / T).reshape(n_lr, n_seeds, -1)
        colors = plt.cm.viridis(np.linspace(0, 1, len(PLOT_EPOCHS)))
        for e, color in zip(PLOT_EPOCHS, colors, strict=True):
            mean = loss[:, :, e].mean(axis=1)
            sem = loss[:, :, e].std(axis=1) / np.sqrt(n_seeds)
            ax.errorbar(lrs, mean, yerr=sem, color=color, label=str(e), fmt=".-", ms=3)
        ax.axvline(alpha, color="k", ls="--", lw=1, label=r"$\alpha^*$ (Eq. 23)")
        ax.set(xscale="log", yscale="log", xlabel=r"learning rate $\alpha$", ylabel=r"$L / T$")
        ax.set_title(f"{field_title(num.nf)}: analytical gradient")
        ax.legend(title="epoch", fontsize=7)

        # -- simulated gradient (exact adjoint of the finite-c model) ----------------------
        n_lr_s, n_seeds_s = ctx.pick(7, 16), ctx.pick(3, 10)
        lo, hi = ctx.pick((0.77, 1.3), (0.6, 1.6))  # not centred on α*
        lrs_s = alpha * np.geomspace(lo, hi, n_lr_s)
        # Trapping is decided on the first arrival at r*: run 1.5x (full: 3x) the gradient-
        # flow time the slowest rate needs to get there from the farthest start.
        arrival = gradient_flow_epochs(a, lrs_s[0], 10.5 * rs_, rs_)
        epochs_s = int(np.ceil(ctx.pick(1.5, 3.0) * arrival / 100)) * 100
        frac_s, run_s = trapped_fraction(
            a,
            lrs_s,
            n_seeds_s,
            ctx.rng,
            epochs=epochs_s,
            gradient="simulated",
            c=SIM_C,
            x_star=SIM_X_STAR,
            dt=SIM_DT,
            record_every=epochs_s // 100,
        )
        fit_s = fit_threshold(
            np.repeat(lrs_s, n_seeds_s), a.trapped(run_s, "simulated"), CONFIDENCE
        )
        shift = rescue_shift(a, SIM_C, epochs_s)
        shift_cmp = rescue_shift(a, COMPARE_C, epochs_s)
        located_s = bool(fit_s.high >= alpha and fit_s.low <= (1 + SIM_TOL) * alpha)
        outcomes.append(
            Outcome(
                analytic=alpha,
                measured={
                    "threshold": fit_s.threshold,
                    "ci_low": fit_s.low,
                    "ci_high": fit_s.high,
                },
                tolerance=f"99% interval meets [alpha*, {1 + SIM_TOL:g} alpha*]; computed "
                f"rescue shift <= {SIM_TOL / 3:.2g}",
                rule=f"{n_lr_s} rates x {n_seeds_s} random starts, exact adjoint of the c = "
                f"{SIM_C:g} model: the 99% interval of the fitted threshold meets [alpha*, "
                f"(1 + {SIM_TOL:g}) alpha*], and the computed rescue shift at c = {SIM_C:g} is "
                f"at most {SIM_TOL / 3:.2g} (0.15: a design margin, module docstring)",
                false_fail=1 - CONFIDENCE,
                why="finite c smooths the kink at r*; x* = 1 is crossed ~1 time unit before "
                f"t_esc (alpha* ∝ T^-5 moves ~5%); computed rescue shift {shift:.3g} at c = "
                f"{SIM_C:g} ({shift_cmp:.3g} at c = {COMPARE_C:g})",
                passed=bool(located_s and shift <= SIM_TOL / 3),
                label=case_label(num.nf, "simulated-gradient"),
                details={
                    "c": SIM_C,
                    "x_star": SIM_X_STAR,
                    "dt": SIM_DT,
                    "epochs": epochs_s,
                    "seeds": n_seeds_s,
                    "fit_method": fit_s.method,
                    "rescue_shift": shift,
                    f"rescue_shift_at_c={COMPARE_C:g}": shift_cmp,
                    "sweep": {
                        "lr_over_alpha_star": (lrs_s / alpha).tolist(),
                        "trapped_fraction": frac_s.tolist(),
                    },
                },
            )
        )
        ax = axes[1, col]
        ax.plot(lrs / alpha, frac, "o-", ms=3, label=r"analytical gradient ($c \to \infty$)")
        ax.plot(lrs_s / alpha, frac_s, "s-", ms=4, label=f"simulated gradient, $c = {SIM_C:g}$")
        ax.axvline(1, color="k", ls="--", lw=1, label=r"$\alpha^*$")
        ax.axvspan(
            fit.low / alpha, fit.high / alpha, color="C2", alpha=0.3,
            label="fitted threshold (analytical), 99% interval",
        )  # fmt: skip
        ax.set(xscale="log", xlabel=r"$\alpha / \alpha^*$", ylabel=r"fraction trapped ($r < r_n$)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    ctx.save_figure(fig, outcomes)
    return outcomes
