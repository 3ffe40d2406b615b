"""Critical learning rates of momentum and Adam next to plain gradient descent."""

import numpy as np

from ghostsym.verification import Outcome, case_label, check

T = 100.0
N_SEEDS = 10
EPOCHS = 10_000
#: Heavy-ball momentum β (PyTorch convention v ← βv + g, r ← r − αv) and Adam's defaults.
MOMENTUM = 0.9
#: A transition is "sharp" when the learning rates from the first trapped run to all runs
#: trapped span less than this factor (the sweep covers a factor of 1000).
SHARP = 2.0


def _width(lrs, frac):
    """Ratio of the smallest all-trapped rate to the largest never-trapped rate."""
    never, always = lrs[frac == 0], lrs[frac == 1]
    if not never.size or not always.size:
        return float("inf")
    return float(always.min() / never[never < always.min()].max())


@check(
    id="optimizers-critical-rate",
    claim="Momentum lowers the critical learning rate below plain GD's alpha* (the paper "
    "argues so in words); Adam, whose step is ~lr whatever the gradient, is trapped once lr "
    "exceeds a threshold of the order of r*. Analytical (c -> oo) gradient, 10 random starts.",
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
        critical_learning_rate,
        trapped_fraction,
    )

    forms = checked_normal_forms(ctx.options, CANONICAL_ONLY)
    fig, axes = plt.subplots(1, len(forms), figsize=(5.5 * len(forms), 4), squeeze=False)
    outcomes = []
    n_lr = ctx.pick(60, 150)
    for col, (text, num) in enumerate(forms):
        a = num.at(T)
        rs_, alpha = a.values["r_star"], a.values["alpha_star"]
        scaled = np.geomspace(1e-2, 10, n_lr)  # lr / α* (GD, momentum) or lr / r* (Adam)
        spacing = float(scaled[1] / scaled[0] - 1)
        res = {}
        for opt, unit in (("sgd", alpha), ("momentum", alpha), ("adam", rs_)):
            frac, _ = trapped_fraction(
                a,
                scaled * unit,
                N_SEEDS,
                ctx.rng,
                epochs=EPOCHS,
                optimizer=opt,
                momentum=MOMENTUM,
                record_every=100,
            )
            res[opt] = (critical_learning_rate(scaled, frac), _width(scaled, frac), frac)
        sgd, mom, adam = res["sgd"][0], res["momentum"][0], res["adam"][0]
        outcomes += [
            Outcome.relative(
                1.0,
                sgd,
                spacing + 0.01,
                why=f"critical lr / α* for plain GD; lr grid spacing {spacing:.1%}",
                label=case_label(num.nf, "sgd"),
            ),
            Outcome(
                analytic=f"between (1-β) = {1 - MOMENTUM:g} and 1 (units of α*)",
                measured=mom,
                tolerance=f"{1 - MOMENTUM:g} < measured < 1, transition within x{SHARP}",
                why="the heavy ball's velocity grows up to 1/(1-β) times the gradient step, "
                "so the overshoot past r* comes at a lower rate than GD's, but the velocity "
                "never reaches its steady state on the way down",
                passed=bool(1 - MOMENTUM < mom < 1 and res["momentum"][1] < SHARP),
                label=case_label(num.nf, "momentum"),
                details={"transition_width": res["momentum"][1], "beta": MOMENTUM},
            ),
            Outcome(
                analytic="a sharp threshold (units of r*; no closed form)",
                measured=adam,
                tolerance=f"finite, transition within x{SHARP}",
                why="Adam normalises the gradient, so its threshold is a step size in r; "
                "compare GD's first step at α*: "
                f"{alpha * a.sim.analytic_loss_and_gradient(10 * rs_, T)[1] / rs_:.3g} r*",
                passed=bool(np.isfinite(adam) and res["adam"][1] < SHARP),
                label=case_label(num.nf, "adam"),
                details={"transition_width": res["adam"][1], "betas": (0.9, 0.999)},
            ),
        ]
        ax = axes[0, col]
        for opt, unit in (("sgd", "α*"), ("momentum", "α*"), ("adam", "r*")):
            ax.semilogx(scaled, res[opt][2], "o-", ms=2, label=f"{opt} (lr in units of {unit})")
        ax.axvline(1, color="k", ls="--", lw=1)
        ax.set(xlabel="scaled learning rate", ylabel="fraction trapped", title=f"dx/dt = {text}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    ctx.save_figure(fig, outcomes)
    return outcomes
