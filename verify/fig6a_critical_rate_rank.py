"""Fig. 6A: the critical learning rate of full-rank DA networks is far above rank-one's.

Rule: the paper says that for full-rank DA networks "the critical learning rate increased by
nearly two orders of magnitude" over rank-one networks (docs/experiments.md §6.3). For each
rank, P(trapped | lr) — trapped = stuck in the no-learning zone or diverged (the sweep
report's criteria) — is fitted by :func:`ghostsym.analysis.statistics.fit_threshold`, a
logistic in log10 lr over every run (seeds trapped at every rate or at none kept as what they
are); the critical rate is its 50 % point with a 99.5 % profile-likelihood interval. The two
populations are independent, so the interval of the ratio full / rank one,
(full.low / rank1.high, full.high / rank1.low), covers the ratio with probability ≥ 0.995² ≈
0.99. "Nearly two orders of magnitude" supports a ratio in [50, 150]: "nearly two" is more
than the one and a half orders (≈ 32) one would call by that name, so at least 10^1.7 ≈ 50,
and at most two orders plus one step of the paper's full-rank grid (5/29 ≈ 0.17 decade, the
finest difference its figure resolves), 10^2.17 ≈ 150. The row passes when the ratio interval
overlaps [50, 150]; it is the documented finding ``disagrees`` when the interval lies
entirely outside it; it fails when either fit has no bounded threshold (no transition within
the grid). Every rate runs ``PLATEAU_FACTOR`` × 100/lr epochs: rank-one networks leave their
plateau at lr × epoch ≈ 72–118 (seeds 0–5, lr 0.004–0.03; docs/experiments.md §11), and above
the critical rate they collapse within ~200 epochs of that; rates that the profile cannot run
that long are not run (quick and full) or left out of the fit (the paper's own grid, whose
200,001 epochs are too short for lr < 0.001), and listed. A run still on its plateau at the
end (not trapped, loss never below half its initial value) has no outcome: it is left out of
the fit and counted in the table. Full-rank trapping is not monotone in lr for every seed
(a seed trapped at one rate can learn at a higher one); the pooled logistic fit absorbs it as
scatter, and the seeds are listed.

False-fail probability: the ratio interval misses a true ratio with probability ≤ 1 − 0.995²
≈ 1 %; when the true ratio lies in [50, 150] the interval then still overlaps the range unless
it misses on the far side, so the rule fails a true claim with probability ≤ 1 % (profile-
likelihood intervals are asymptotic: with few seeds the coverage is approximate, and
complete separation widens them to at least the gap, which only lowers the false-fail rate).
"""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ghostsym.analysis.phase_portrait import use_style  # noqa: E402
from ghostsym.verification import Outcome, check  # noqa: E402
from ghostsym.verification.sweeps import (  # noqa: E402
    affordable_rates,
    check_sweep,
    non_monotone_seeds,
    plateau_epochs,
    ratio_interval,
    trapping_fit,
)

#: Each rate runs this many plateau lengths (100/lr epochs): the slowest seed of the design
#: runs left its plateau at 118/lr, and a collapse follows within ~200 epochs.
PLATEAU_FACTOR = 2.0
#: Confidence of each rank's threshold interval (the ratio's is ≥ its square ≈ 0.99).
FIT_CONFIDENCE = 0.995
#: The range of the full / rank-one ratio "nearly two orders of magnitude" supports.
PAPER_RANGE = (50.0, 150.0)
MODELS = {"rank1": "rank one", "full": "full rank"}


def grids(ctx) -> dict:
    """Per model: (rates run, epochs cap). Quick and full run every rate for
    PLATEAU_FACTOR × 100/lr epochs (at least ``floor`` epochs); paper runs the paper's grid."""
    return ctx.pick(
        {
            "rank1": ([float(v) for v in np.logspace(-2.1, -1.3, 5)], 4000),
            "full": ([float(v) for v in np.logspace(-1, 1, 6)], 3000),
        },
        {
            "rank1": ([float(v) for v in np.logspace(-2.5, -1, 11)], 4000),
            "full": ([float(v) for v in np.logspace(-2, 1.5, 15)], 20000),
        },
        {
            "rank1": ([float(v) for v in np.logspace(-4, -1, 30)], 200001),
            "full": ([float(v) for v in np.logspace(-4, 1, 30)], 200001),
        },
    )


def spec(ctx) -> dict:
    seeds = ctx.seeds(ctx.pick(6, 10, 10))
    if ctx.profile == "paper":  # the paper's protocol: 200,001 epochs at every rate
        cases = [
            {"model": m, "epochs": epochs, "grid": {"lr": rates}}
            for m, (rates, epochs) in grids(ctx).items()
        ]
    else:
        cases = []
        for m, (rates, floor) in grids(ctx).items():
            for lr in rates:
                epochs = max(floor, plateau_epochs(lr, PLATEAU_FACTOR))
                cases.append({"model": m, "epochs": epochs, "grid": {"lr": [lr]}})
    return {
        "sweep": {"kind": "rnn", "store_every": 10, "store_tail": 200},
        "base": {"task": "da", "optimizer": "sgd"},
        "grid": {"seed": seeds},
        "cases": cases,
    }


def _curve(fit, lr):
    if not math.isfinite(fit.threshold) or not math.isfinite(fit.slope):
        return np.full_like(lr, np.nan)
    z = fit.slope * (np.log10(lr) - math.log10(fit.threshold))
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))


@check(
    id="fig6a-critical-rate-rank",
    claim="Full-rank DA networks have a critical learning rate nearly two orders of magnitude "
    "above that of rank-one networks.",
    reference="Fig. 6A",
)
def run(ctx):
    results = check_sweep(ctx, spec(ctx))
    fits, tables, dropped, nonmono = {}, {}, {}, {}
    for model, (rates, epochs) in grids(ctx).items():
        runs = [r for r in results.runs if r.axes["model"] == model]
        if ctx.profile == "paper":
            kept, dropped[model] = affordable_rates(rates, PLATEAU_FACTOR, epochs)
            runs = [r for r in runs if r.axes["lr"] in kept]
        else:
            dropped[model] = []
        fits[model], tables[model] = trapping_fit(runs, FIT_CONFIDENCE)
        nonmono[model] = non_monotone_seeds(runs)
    r1, fr = fits["rank1"], fits["full"]
    usable = all(
        f is not None and f.method in ("logistic", "separated") and all(f.bounded) for f in (r1, fr)
    )
    if usable:
        ratio = fr.threshold / r1.threshold
        lo, hi = ratio_interval(fr, r1)
    else:
        ratio = lo = hi = math.nan
    passed = bool(usable and lo <= PAPER_RANGE[1] and hi >= PAPER_RANGE[0])
    outside = usable and not passed
    disagrees = None
    if outside:
        side = "below" if hi < PAPER_RANGE[0] else "above"
        disagrees = (
            f"the full-rank / rank-one ratio of critical learning rates is {ratio:.3g} "
            f"(99% interval {lo:.3g}–{hi:.3g}), entirely {side} the range "
            f"{PAPER_RANGE[0]:g}–{PAPER_RANGE[1]:g} that 'nearly two orders of magnitude' supports"
        )

    use_style()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, model in enumerate(MODELS):
        color = f"C{i}"
        t, f = tables[model], fits[model]
        lr = np.array(t["lr"])
        decided = np.array(t["runs"]) - np.array(t["on_plateau"])
        frac = np.where(decided > 0, np.array(t["trapped"]) / np.maximum(decided, 1), np.nan)
        axes[0].plot(lr, frac, "o", color=color, label=f"{MODELS[model]}: fraction trapped")
        if f is not None:
            grid = np.logspace(np.log10(lr.min()) - 0.2, np.log10(lr.max()) + 0.2, 200)
            axes[0].plot(
                grid,
                _curve(f, grid),
                "-",
                color=color,
                lw=1.2,
                label=rf"{MODELS[model]}: fit, $\alpha^* = {f.threshold:.3g}$",
            )
            axes[0].axvspan(f.low, f.high, color=color, alpha=0.15)
        runs = [r for r in results.runs if r.axes["model"] == model and r.status == "done"]
        loss = [np.nanmedian([r.final_loss for r in runs if r.axes["lr"] == x]) for x in lr]
        axes[1].plot(lr, loss, "o-", color=color, label=MODELS[model])
    axes[0].set(
        xscale="log",
        xlabel=r"learning rate $\alpha$",
        ylabel=r"$P(\mathrm{trapped}\mid\alpha)$",
        ylim=(-0.05, 1.05),
        title=rf"ratio $\alpha^*_\mathrm{{full}}/\alpha^*_1 = {ratio:.3g}$ "
        rf"[{lo:.3g}, {hi:.3g}]; paper: [{PAPER_RANGE[0]:g}, {PAPER_RANGE[1]:g}]",
    )
    axes[0].legend(fontsize=7, title="shaded: 99.5% interval", title_fontsize=7)
    axes[1].set(
        xscale="log",
        yscale="log",
        xlabel=r"learning rate $\alpha$",
        ylabel=r"final loss $L$ (median over seeds)",
    )
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    path = ctx.save_figure(fig)

    def fit_row(model):
        f = fits[model]
        return {
            "model": model,
            "threshold": f.threshold if f else math.nan,
            "low": f.low if f else math.nan,
            "high": f.high if f else math.nan,
            "method": f.method if f else "no runs",
            "runs used": f.n if f else 0,
            "trapped": f.events if f else 0,
            "non-monotone seeds": len(nonmono[model]),
        }

    details = {
        "fits": [fit_row(m) for m in MODELS],
        "sweep": str(results.results_dir),
    }
    for model in MODELS:
        details[f"{model} per rate"] = tables[model]
        if dropped[model]:
            details[f"{model} rates left out (cannot leave the plateau)"] = dropped[model]
        if nonmono[model]:
            details[f"{model} non-monotone seeds"] = nonmono[model]
    return Outcome(
        analytic={"low": PAPER_RANGE[0], "high": PAPER_RANGE[1]},
        measured={
            "ratio": ratio,
            "ratio low": lo,
            "ratio high": hi,
            "rank1": r1.threshold if r1 else math.nan,
            "full": fr.threshold if fr else math.nan,
        },
        tolerance=f"99% ratio interval overlaps [{PAPER_RANGE[0]:g}, {PAPER_RANGE[1]:g}]",
        rule="logistic fits of P(trapped | lr) per rank (99.5% profile-likelihood intervals); "
        "pass when the interval of the full / rank-one ratio of the 50% points overlaps "
        f"[{PAPER_RANGE[0]:g}, {PAPER_RANGE[1]:g}]; disagrees when it lies outside",
        false_fail=1 - FIT_CONFIDENCE**2,
        disagrees=disagrees,
        why="no closed form exists for either rank; 'nearly two orders of magnitude' read as "
        "10^1.7–10^2.17 (module docstring). Every rate ran long enough to leave its plateau "
        f"({PLATEAU_FACTOR:g} × 100/lr epochs); runs still on it are excluded, not counted",
        passed=passed,
        figure=path,
        details=details,
    )
