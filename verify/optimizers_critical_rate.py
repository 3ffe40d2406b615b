"""Critical learning rates of momentum and Adam next to plain gradient descent.

Protocol: the Fig. 2D setting (docs/experiments.md §2.5) — random starts r0 = 10 r* +
N(0, (r*/10)²) from ``ctx.rng``, 10,000 epochs with the analytical (c → ∞) gradient, every
start at every learning rate of a log grid — for plain GD, heavy-ball momentum (β = 0.9,
v ← βv + g, r ← r − αv) and Adam (PyTorch defaults). A run is trapped when it ends in the
no-learning zone. Gradient flow reaches r* from 10 r* within a few hundred epochs at the
rates swept, so 10,000 epochs leave every run thousands of epochs of oscillation.

What the paper's text implies (docs/math.md §4, "Other optimisers"): momentum accumulates
steps, so it is trapped below GD's α*; Adam's step is ≈ lr whatever the size of the
gradient, so it is trapped once lr is large enough that one step from just above r* crosses
the no-learning gap r* − r_n. Adam is invariant to the scale of the gradient (up to its
ε = 1e-8, negligible against |∂L/∂r| ~ 10⁵ here), and for x^p + r the loss in units of r*
does not depend on T; so Adam's critical rate is κ · (r* − r_n)(T) with a constant κ, and
its T-exponent is that of the gap, T · d ln(r* − r_n)/dT — derived here with SymPy from the
pipeline's r*(T) and r_n(T) (−2 for x² + r, −4/3 for x⁴ + r).

Rule: three rows per field, fixed before measuring. ``sgd``: no run trapped at any swept
rate below α* (the onset theorem of the critical-learning-rate check) and the 99 % interval
of the threshold fitted over all runs (``fit_threshold``, logistic in log lr) meets
[α*, 1.0723 α*] (one step of the paper's Fig. 2D grid). ``momentum``: the 99 % interval of
its fitted threshold lies inside ((1 − β) α*, α*) — below GD's α* as the paper argues, and
above the steady heavy-ball speed-up 1/(1 − β). ``adam``: Adam's threshold is fitted at each
of several delays T (fresh starts at each); the least-squares slope of ln(threshold) on
ln T is bounded by the extreme slopes allowed by the thresholds' intervals (each at
confidence 1 − 0.01/#T, so that all hold together with probability ≥ 99 %), and the derived
exponent of the gap must lie within those bounds.

False-fail probability: ``sgd`` — the onset is a theorem (0); the interval misses a true
threshold inside the band with probability ≤ 1 %. ``momentum`` — ≤ 1 % when the true
threshold lies inside ((1 − β) α*, α*) away from its ends (the design runs put it near
0.4 α*). ``adam`` — the slope bounds contain the true slope whenever every threshold's
interval covers its true threshold: probability ≥ 1 − 0.01 by the Bonferroni choice, so the
false-fail probability is ≤ 1 % when the scaling law holds.
"""

import math

import numpy as np
from matplotlib.ticker import FixedFormatter, FixedLocator, NullFormatter

from ghostsym.verification import Outcome, case_label, check
from ghostsym.verification.titles import field_title

T = 100.0
EPOCHS = 10_000
#: Heavy-ball momentum β (PyTorch convention v ← βv + g, r ← r − αv); Adam's defaults.
MOMENTUM = 0.9
#: One step of the paper's Fig. 2D grid (see the critical-learning-rate check).
DELTA = 10 ** (3 / 99) - 1
CONFIDENCE = 0.99


def _gap_exponent(num, Ts):
    """The derived T-exponent of the no-learning gap r* − r_n: SymPy's T d ln(gap)/dT at each
    T when r* and r_n have closed forms, else a central difference of the numeric values."""
    import sympy

    res, sym = num.derivation.results, num.derivation.symbols
    if res.get("r_star") is not None and res.get("point_of_no_return") is not None:
        Tsym = sym["T"]
        expr = sympy.simplify(
            Tsym * sympy.diff(sympy.log(res["r_star"] - res["point_of_no_return"]), Tsym)
        )
        return [float(expr.subs(Tsym, t)) for t in Ts], sympy.sstr(expr)

    def gap(t):
        v = num.da_values(t)
        return v["r_star"].value - v["point_of_no_return"].value

    h = 0.05
    return [
        (math.log(gap(t * math.exp(h))) - math.log(gap(t * math.exp(-h)))) / (2 * h) for t in Ts
    ], "numeric"


def _slope_bounds(x, lo, hi):
    """Least-squares slope of y on x minimised and maximised over y_i in [lo_i, hi_i]."""
    w = (x - x.mean()) / np.sum((x - x.mean()) ** 2)
    return float(np.sum(np.where(w > 0, w * lo, w * hi))), float(
        np.sum(np.where(w > 0, w * hi, w * lo))
    )


@check(
    id="optimizers-critical-rate",
    claim="Momentum lowers the critical learning rate below plain GD's alpha* (the paper "
    "argues so in words); Adam, whose step is ~lr whatever the gradient, is trapped once lr "
    "exceeds a threshold proportional to the no-learning gap r* - r_n, so its critical rate "
    "scales with T as that gap does (T^-2 for x^2 + r).",
    reference="Sec. 2 discussion / Eq. 23",
    normal_forms=True,
)
def run(ctx):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ghostsym.analysis.normal_form_numerics import (
        CANONICAL_ONLY,
        checked_normal_forms,
        trapped_fraction,
    )
    from ghostsym.analysis.phase_portrait import use_style
    from ghostsym.analysis.statistics import fit_threshold

    use_style()
    forms = checked_normal_forms(ctx.options, CANONICAL_ONLY)
    fig, axes = plt.subplots(2, len(forms), figsize=(5.5 * len(forms), 7.5), squeeze=False)
    outcomes = []
    n_lr, seeds = ctx.pick(60, 150), ctx.pick(10, 20)
    Ts = np.array(ctx.pick([25.0, 50.0, 100.0, 200.0, 400.0], [25.0, 50.0, 100.0, 200.0, 400.0]))
    adam_conf = 1 - (1 - CONFIDENCE) / len(Ts)
    for col, (_text, num) in enumerate(forms):
        a = num.at(T)
        rs_, rn, alpha = (a.values[k] for k in ("r_star", "point_of_no_return", "alpha_star"))
        scaled = np.geomspace(1e-2, 10, n_lr)  # lr / α* (GD, momentum)
        res = {}
        for opt in ("sgd", "momentum"):
            frac, run_ = trapped_fraction(
                a, scaled * alpha, seeds, ctx.rng, epochs=EPOCHS, optimizer=opt,
                momentum=MOMENTUM, record_every=EPOCHS,
            )  # fmt: skip
            trapped = a.trapped(run_)
            fit = fit_threshold(np.repeat(scaled, seeds), trapped, CONFIDENCE)
            res[opt] = (fit, frac, trapped.reshape(n_lr, seeds))
        sgd, mom = res["sgd"][0], res["momentum"][0]
        onset = bool(not res["sgd"][2][scaled < 1].any())
        outcomes += [
            Outcome(
                analytic=1.0,
                measured={"threshold": sgd.threshold, "ci_low": sgd.low, "ci_high": sgd.high},
                tolerance=f"none trapped below 1; 99% interval meets [1, {1 + DELTA:.4f}]",
                rule="Plain GD, lr in units of alpha*: no run trapped below alpha*, and the 99% "
                "interval of the fitted threshold meets [alpha*, (1 + delta) alpha*], delta one "
                "step of the paper's Fig. 2D grid",
                false_fail=1 - CONFIDENCE,
                why=f"the onset at alpha* is a theorem of the update; lr grid step "
                f"{scaled[1] / scaled[0] - 1:.1%}; onset {'holds' if onset else 'FAILS'}",
                passed=bool(onset and sgd.high >= 1 and sgd.low <= 1 + DELTA),
                label=case_label(num.nf, "sgd"),
                details={"seeds": seeds, "epochs": EPOCHS, "fit_method": sgd.method},
            ),
            Outcome(
                analytic={"low": 1 - MOMENTUM, "high": 1.0},
                measured={"threshold": mom.threshold, "ci_low": mom.low, "ci_high": mom.high},
                tolerance=f"99% interval inside ({1 - MOMENTUM:g}, 1) (units of alpha*)",
                rule="Heavy-ball momentum, lr in units of alpha*: the 99% interval of the fitted "
                "threshold lies inside (1 - beta, 1)",
                false_fail=1 - CONFIDENCE,
                why="the heavy ball's velocity grows up to 1/(1-β) times the gradient step, "
                "so the overshoot past r* comes at a lower rate than GD's, but the velocity "
                "never reaches its steady state on the way down",
                passed=bool(1 - MOMENTUM < mom.low and mom.high < 1),
                label=case_label(num.nf, "momentum"),
                details={"beta": MOMENTUM, "seeds": seeds, "fit_method": mom.method},
            ),
        ]

        # -- Adam: its threshold in units of the gap r* - r_n at several T -------------
        exponents, exponent_text = _gap_exponent(num, Ts)
        adam_scaled = np.geomspace(0.25, 8.0, n_lr)
        table = {"T": [], "gap": [], "threshold": [], "ci_low": [], "ci_high": [], "method": []}
        frac_at_T = None
        for t in Ts:
            at = num.at(float(t))
            gap = at.values["r_star"] - at.values["point_of_no_return"]
            frac, run_ = trapped_fraction(
                at, adam_scaled * gap, seeds, ctx.rng, epochs=EPOCHS, optimizer="adam",
                record_every=EPOCHS,
            )  # fmt: skip
            fit = fit_threshold(np.repeat(adam_scaled * gap, seeds), at.trapped(run_), adam_conf)
            for k, v in zip(
                table,
                (float(t), gap, fit.threshold, fit.low, fit.high, fit.method),
                strict=True,
            ):
                table[k].append(v)
            if t == T:
                frac_at_T = frac
        lx = np.log(Ts)
        th = np.array(table["threshold"])
        finite = bool(np.all(np.isfinite(th)))
        slope = float(np.polyfit(lx, np.log(th), 1)[0]) if finite else float("nan")
        s_lo, s_hi = _slope_bounds(lx, np.log(table["ci_low"]), np.log(table["ci_high"]))
        derived_slope = float(np.polyfit(lx, np.log(table["gap"]), 1)[0])
        outcomes.append(
            Outcome(
                analytic=derived_slope,
                measured={"slope": slope, "slope_low": s_lo, "slope_high": s_hi},
                tolerance=f"derived exponent within the slope bounds of the {adam_conf:.1%} "
                "threshold intervals",
                rule=f"Adam: d ln(lr_c)/d ln T equals the exponent of r* - r_n, derived "
                f"T d ln(r* - r_n)/dT = {exponent_text}; pass when it lies within the extreme "
                "least-squares slopes allowed by the per-T threshold intervals (Bonferroni: "
                "all hold together at 99%)",
                false_fail=1 - CONFIDENCE,
                why="Adam's step does not depend on the gradient's scale, and the loss in units "
                "of r* does not depend on T, so lr_c = kappa (r* - r_n)(T); kappa = "
                f"{float(np.median(th / np.array(table['gap']))):.3g} measured",
                passed=bool(finite and s_lo <= derived_slope <= s_hi),
                label=case_label(num.nf, "adam"),
                details={
                    "derived_exponent_at_T": exponents,
                    "thresholds": table,
                    "kappa": list(th / np.array(table["gap"])),
                    "seeds": seeds,
                    "betas": (0.9, 0.999),
                },
            )
        )
        ax = axes[0, col]
        ax.semilogx(scaled, res["sgd"][1], "o-", ms=2, label=r"GD, lr / $\alpha^*$")
        ax.semilogx(scaled, res["momentum"][1], "s-", ms=2, label=r"momentum, lr / $\alpha^*$")
        ax.semilogx(adam_scaled, frac_at_T, "^-", ms=2, label=r"Adam, lr / $(r^* - r_n)$")
        ax.axvline(1, color="k", ls="--", lw=1, label=r"$\alpha^*$ (GD, Eq. 23)")
        ax.set(xlabel="scaled learning rate", ylabel="fraction trapped")
        ax.set_title(field_title(num.nf))
        ax.legend(fontsize=7)
        ax = axes[1, col]
        ax.errorbar(
            Ts, th, yerr=[th - np.array(table["ci_low"]), np.array(table["ci_high"]) - th],
            fmt="o", color="C2", label="Adam threshold (fitted, interval)",
        )  # fmt: skip
        ref = np.array(table["gap"]) * float(np.median(th / np.array(table["gap"])))
        ax.loglog(Ts, ref, "k--", lw=1, label=rf"$\kappa\,(r^* - r_n)$, slope {derived_slope:.3f}")
        # label the measured delays only (log minor labels crowd: "3×10¹4×10¹")
        ax.xaxis.set_major_locator(FixedLocator(Ts))
        ax.xaxis.set_major_formatter(FixedFormatter([f"{t:g}" for t in Ts]))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set(xlabel=r"delay $T$", ylabel="Adam critical lr")
        ax.legend(fontsize=7)
    fig.tight_layout()
    ctx.save_figure(fig, outcomes)
    return outcomes
