"""Fig. 8B: stuck rank-one networks recover when the readout confidence c is lowered."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ghostsym.verification import Outcome, check  # noqa: E402
from ghostsym.verification.sweeps import check_sweep, history  # noqa: E402

PHASE1 = 6000  # epochs at c = 10 (docs/experiments.md §8.2)
PHASE2 = 100  # epochs after the change of c
BASELINE_C = 10.0
STUCK_WINDOW = 50  # stuck at the switch: accuracy <= 0.5 for epochs 5950-5999
# (docs/experiments.md §8.2)
#: The confidences of the paper's phase 2, logspace(-3, 1, 30).
PAPER_CS = [float(c) for c in np.logspace(-3, 1, 30)]


def spec(ctx) -> dict:
    # full: the ten confidences the paper plots, c_all[2::3] of logspace(-3, 1, 30), which
    # end at the baseline c = 10 (docs/experiments.md §8.2); paper: all thirty.
    cs = ctx.pick([0.1, 0.3, BASELINE_C], PAPER_CS[2::3], {"logspace": [-3, 1, len(PAPER_CS)]})
    seeds = ctx.pick(8, 100, 100)
    return {
        "sweep": {"kind": "rnn"},
        "base": {
            "model": "rank1",
            "task": "da",
            "optimizer": "sgd",
            "lr": 0.02,
            "epochs": PHASE1 + PHASE2,
            "intervention_epoch": PHASE1,
        },
        "grid": {"seed": {"range": [0, seeds]}, "intervention_c": cs},
    }


@check(
    id="fig8b-confidence-ablation",
    claim="Rank-one DA networks stuck in the no-learning zone at lr 0.02 (accuracy <= 0.5 for "
    "50 epochs after having learned) recover when c is lowered from 10; with c = 10 they stay.",
    reference="Fig. 8B",
)
def run(ctx):
    results = check_sweep(ctx, spec(ctx))
    runs = [r for r in results.runs if r.status == "done"]
    cs = sorted({r.axes["intervention_c"] for r in runs})
    baseline = min(cs, key=lambda c: abs(np.log(c / BASELINE_C)))
    stuck_seeds, recovered = set(), {c: {} for c in cs}
    curves = {c: [] for c in cs}
    for r in runs:
        h = history(results, r.run_id)
        acc = h["accuracy"]
        before = acc[PHASE1 - STUCK_WINDOW : PHASE1]
        if np.max(before) <= 0.5 and np.max(acc[:PHASE1]) > 0.5:  # docs/experiments.md §8.2 filter
            seed, c = r.axes["seed"], r.axes["intervention_c"]
            stuck_seeds.add(seed)
            recovered[c][seed] = bool(np.max(acc[PHASE1:]) > 0.5)
            curves[c].append(acc[PHASE1 - 200 :])
    rate = {c: np.mean(list(v.values())) if v else np.nan for c, v in recovered.items()}
    lower = [c for c in cs if c < 1.5]  # "lowered" clearly below the baseline
    best = max(rate[c] for c in lower)
    passed = bool(len(stuck_seeds) >= 2 and rate[baseline] <= 0.25 and best >= 0.75)

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    epochs = np.arange(PHASE1 - 200, PHASE1 + PHASE2)
    cmap = plt.get_cmap("viridis")
    for i, c in enumerate(cs):
        if curves[c]:
            axes[0].plot(
                epochs,
                np.mean(curves[c], axis=0),
                color=cmap(i / max(1, len(cs) - 1)),
                label=f"c={c:.3g}",
            )
    axes[0].axvline(PHASE1, color="r", ls="--")
    axes[0].set(xlabel="epoch", ylabel="accuracy (mean over stuck networks)")
    axes[0].legend(fontsize=6)
    axes[1].semilogx(cs, [rate[c] for c in cs], "o-")
    axes[1].set(xlabel="new confidence c", ylabel="recovery rate", ylim=(-0.05, 1.05))
    fig.tight_layout()
    path = ctx.save_figure(fig)
    return Outcome(
        analytic="recovery for lowered c, none at c = 10 (paper)",
        measured={f"c={c:.3g}": rate[c] for c in cs} | {"stuck networks": len(stuck_seeds)},
        tolerance="recovery(c=10) <= 0.25, best recovery for c <= 1 >= 0.75, >= 2 stuck nets",
        why="recovery = accuracy > 0.5 at some epoch within 100 epochs after the change. The "
        "analysis (Fig. 8A) predicts a vanishing gradient in the zone at c = 10 and an "
        "orders-of-magnitude larger one for small c; thresholds leave room for finite samples",
        passed=passed,
        figure=path,
        details={"stuck_seeds": sorted(stuck_seeds), "sweep": str(results.results_dir)},
    )
