"""Fig. 7: full-rank networks on DMTS and DCD have a critical learning rate; above it the
time-averaged gradient is small and individual runs sit in no-learning zones.

Rule: the paper says both tasks show "a critical learning rate ... beyond which learning
failed", that "at high learning rates, gradients remained small even when averaged over the
full training window", and that individual runs showed no-learning zones "in which gradients
were effectively zero" (docs/experiments.md §7.2). Per task: (a) P(trapped | lr) (stuck or
diverged) fitted by :func:`ghostsym.analysis.statistics.fit_threshold` over every run has a
threshold whose 99 % profile-likelihood interval is bounded on both sides (a transition inside
the grid); (b) the time-averaged gradient norm of W of the runs above that interval is smaller
than of the runs below it, one-sided Mann–Whitney p < 0.01; (c) at least one run above the
interval is stuck in a no-learning zone (not merely diverged). All three must hold.

False-fail probability: (a) misses a true transition inside the grid only when the top or
bottom rates show no contrast, ≤ 1 % by the interval's construction; (b) with complete
separation of the two groups (design: the old quick grid on seeds 0–1 gave a median ratio
< 0.1) the exact Mann–Whitney p is 1/C(n_a + n_b, n_a) ≤ 0.003 for the quick sizes, and the
rule fails only if several pairs invert; (c) with a stuck probability ≥ 0.5 per run above the
interval, it fails with probability ≤ 0.5^n (n ≥ 6 runs above: ≤ 1.6 %). Together ≈ 1–3 %
per row in quick, less in full (more seeds).
"""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ghostsym.analysis.phase_portrait import use_style  # noqa: E402
from ghostsym.analysis.statistics import mann_whitney  # noqa: E402
from ghostsym.verification import Outcome, check  # noqa: E402
from ghostsym.verification.sweeps import check_sweep, trapping_fit  # noqa: E402

CONFIDENCE = 0.99
ALPHA = 0.01
#: The false-fail probability stated in the module docstring (quick; full is lower).
FALSE_FAIL = 0.03
TASKS = {"dmts": "dmts", "dcd": "dcd-fig7"}  # Fig. 7 timings (docs/experiments.md §1.7)


def spec(ctx) -> dict:
    lr, seeds, epochs = ctx.pick(
        ({"logspace": [-2, 1, 7]}, 3, 1500),
        ({"logspace": [-3, 1, 13]}, 10, 10000),
        ({"logspace": [-3, 1, 20]}, 20, 20000),
    )
    return {
        "sweep": {"kind": "rnn", "store_every": 10, "store_tail": 200},
        "base": {"model": "full", "optimizer": "sgd", "epochs": epochs, "grad_norm": ["W"]},
        "grid": {"seed": ctx.seeds(seeds), "task": list(TASKS.values()), "lr": lr},
    }


@check(
    id="fig7-full-rank-wm",
    claim="Full-rank networks on DMTS and DCD have a critical learning rate; above it the "
    "time-averaged gradient norm is small and runs are stuck in no-learning zones.",
    reference="Fig. 7",
)
def run(ctx):
    results = check_sweep(ctx, spec(ctx))
    outcomes = []
    use_style()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, (label, task) in zip(axes, TASKS.items(), strict=True):
        runs = [r for r in results.runs if r.axes["task"] == task]
        fit, table = trapping_fit(runs, CONFIDENCE)
        usable = bool(
            fit is not None and fit.method in ("logistic", "separated") and all(fit.bounded)
        )
        done = [r for r in runs if r.status == "done" and np.isfinite(r.mean_grad)]
        above = [r for r in done if usable and r.axes["lr"] > fit.high]
        below = [r for r in done if usable and r.axes["lr"] < fit.low]
        g_above = [r.mean_grad for r in above]
        g_below = [r.mean_grad for r in below]
        p_grad = (
            mann_whitney(g_above, g_below, alternative="less")
            if len(above) and len(below)
            else math.nan
        )
        stuck_above = sum(r.stuck for r in above)
        passed = bool(usable and p_grad < ALPHA and stuck_above >= 1)
        stuck = np.array([r.stuck for r in done])
        lrs = np.array([r.axes["lr"] for r in done])
        grads = np.array([r.mean_grad for r in done])
        ax.scatter(lrs[~stuck], grads[~stuck], s=12, color="C0", label="not stuck")
        ax.scatter(lrs[stuck], grads[stuck], s=12, color="C1", label="stuck (no-learning zone)")
        if usable:
            ax.axvspan(
                fit.low,
                fit.high,
                color="0.5",
                alpha=0.25,
                label=rf"$\alpha^*$ 99% interval ({fit.threshold:.3g})",
            )
        ax.set(
            xscale="log",
            yscale="log",
            xlabel=r"learning rate $\alpha$",
            ylabel=r"time-averaged $\|\partial L/\partial W\|$",
            title=label.upper(),
        )
        ax.legend(fontsize=7)
        outcomes.append(
            Outcome(
                label=label,
                analytic="a critical rate; above it small mean gradient and stuck runs (paper)",
                measured={
                    "critical_rate": fit.threshold if fit else math.nan,
                    "low": fit.low if fit else math.nan,
                    "high": fit.high if fit else math.nan,
                    "grad above / below (medians)": float(np.median(g_above) / np.median(g_below))
                    if g_above and g_below
                    else math.nan,
                    "mann_whitney_p": p_grad,
                    "stuck above": stuck_above,
                    "runs above": len(above),
                },
                tolerance=f"bounded threshold interval, Mann–Whitney p < {ALPHA:g}, "
                ">= 1 stuck run above",
                rule="fit P(trapped | lr) (99% profile interval bounded on both sides); "
                "time-averaged gradient above the interval < below it (one-sided "
                f"Mann–Whitney p < {ALPHA:g}); at least one run above it stuck",
                false_fail=FALSE_FAIL,
                why="the paper shows the effect in box plots (Fig. 7); trapped = stuck or "
                "diverged, stuck = accuracy at the all-zero level and gradient <= 1e-4 over "
                "the last 50 epochs (sweep report criteria)",
                passed=passed,
                details={"per rate": table, "fit method": fit.method if fit else "no runs"},
            )
        )
    fig.tight_layout()
    ctx.save_figure(fig, outcomes)
    return outcomes
