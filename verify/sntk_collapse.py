"""sNTK collapse (beyond the paper, docs/sntk.md §5): the state-space NTK's effective rank
collapses at the rank-one network's loss drop.

The setting of Fig. 3A (rank one, DA, N = 100, T = 20, c = 10, κ* = 1, SGD) for ctx.seeds
networks. The learning rate is the paper's 0.003 in the full profile and 0.01 in the quick one
(the Fig. 6A rank-one rate: the drop ≈ 3× sooner; the ghost's birth relative to the drop's
end is not the same at the two rates, docs/sntk.md §5). Budget: the onset comes
near 100–130/lr epochs, so every network trains 400/lr epochs (≥ 3× the onset) with a
checkpoint every 2/lr epochs. The drop of each network is found by the rule of
``ghostsym analyze`` (ghostsym.training.analyze.loss_drop: onset = the loss leaves its plateau
by 10 % of the fall, end = within 10 % of the final level).

Definitions, fixed before measuring: PR = (Σλ)²/Σλ² of K = J Jᵀ, J the exact Jacobian of the
states x_1 … x_S w.r.t. (m, n, b) (ghostsym.analysis.sntk). **Plateau** PR: the mean PR at the
checkpoints nearest 0.25 × and 0.5 × the onset epoch. **At the drop**: the first checkpoint at
or after the drop's end. **Collapses**: PR at the drop ≤ plateau PR / COLLAPSE_FACTOR (a rank
that falls by a factor four: the spectrum becomes dominated by a few directions). For
sntk-channel the population also records the **ghost checkpoint**: the first checkpoint at or
after the drop's end whose latent flow has a ghost by the test that defines the channel
alignment (ghostsym.analysis.sntk.first_ghost_epoch).

Population size (a power argument, the same for this check and sntk-channel): n counts the
networks whose loss drops, and each check's finding needs the one-sided 99 % Clopper–Pearson
upper bound of 0/n below one half, which holds from n = 7 on (0/6: 0.536, 0/7: 0.482,
0/8: 0.438). The quick profile draws 8 networks, so that both outcomes stay decidable if one
network does not drop within the budget; the full profile draws 24 (0/24: 0.175).

Rule: the related paper's sentence — "the first learned bifurcation coincides with a sharp
collapse of the sNTK's effective rank and a dominant parameter direction" — is a statement about
every such network. Among the n networks whose loss drops within the budget, at least k_min
collapse, with k_min the largest k for which the false-fail probability below is ≤ 1 %, and at
least MIN_DROPPED networks must drop (else the row fails as unmeasured). The finding
(``disagrees``) is recorded when the 99 % Clopper–Pearson upper bound of the collapsing fraction
is below one half.

False-fail probability: if each network collapses independently with probability ≥ 0.95 (the
claim, allowing one network in twenty to miss the factor four), the rule "at least k_min of n"
fails with probability false_fail_at_least(k_min, n, 0.95) ≤ 1 % (0.58 % for n = 8 with
k_min = 6, 0.38 % for n = 7 with k_min = 5; computed and reported per run).
"""

import functools

import numpy as np

from ghostsym.analysis.sntk import first_ghost_epoch, plot_sntk_track, sntk_record
from ghostsym.analysis.statistics import clopper_pearson, false_fail_at_least, strictest_count
from ghostsym.numerics.blas import single_threaded_blas
from ghostsym.training import build_config, train_many
from ghostsym.training.analyze import loss_drop
from ghostsym.verification import Outcome, check

COLLAPSE_FACTOR = 4.0
#: Per-network probability of the effect assumed under the claim.
CLAIM_P = 0.95
#: Fewest networks with a drop for a verdict.
MIN_DROPPED = 4
#: Epoch budget and checkpoint spacing in units of 1/lr (see the module docstring).
BUDGET_OVER_LR = 400
CHECKPOINT_OVER_LR = 2
#: Plateau reference points, as fractions of the onset epoch.
PLATEAU_FRACTIONS = (0.25, 0.5)
#: Networks drawn (the power argument of the module docstring).
QUICK_NETWORKS, FULL_NETWORKS = 8, 24


def _nearest(epochs, target):
    epochs = np.asarray(epochs)
    return int(epochs[np.argmin(np.abs(epochs - target))])


@functools.lru_cache(maxsize=4)
def population(seeds: tuple, lr: float) -> list[dict]:
    """Train the networks and measure the sNTK at plateau and drop (shared by sntk-channel)."""
    epochs = int(round(BUDGET_OVER_LR / lr))
    every = int(round(CHECKPOINT_OVER_LR / lr))
    cfgs = [
        build_config(model="rank1", task="da", epochs=epochs, lr=lr, seed=s, checkpoint_every=every)
        for s in seeds
    ]
    results = train_many(cfgs)
    out = []
    with single_threaded_blas():
        for res in results:
            drop = loss_drop(res.history["loss"])
            row = {"seed": res.config.seed, "drop": drop, "records": {}, "ghost_epoch": None}
            cps = sorted(res.checkpoints)
            if drop["drop"] and res.diverged_epoch is None:
                marks = {
                    f"plateau_{f}": _nearest(cps, f * drop["onset"]) for f in PLATEAU_FRACTIONS
                }
                after = [e for e in cps if e >= drop["end"]]
                if after:
                    marks["drop"] = after[0]
                born = first_ghost_epoch(res.config.model, res.checkpoints, after)
                row["ghost_epoch"] = born
                if born is not None:
                    marks["ghost"] = born
                done = {}
                for role, e in marks.items():
                    if e not in done:
                        rec = sntk_record(
                            res.config.model, res.checkpoints[e], res.config.task, epoch=e
                        )
                        rec["epoch"] = e
                        rec["loss"] = float(res.history["loss"][min(e, epochs - 1)])
                        done[e] = rec
                    row["records"][role] = done[e]
            out.append(row)
    return out


def _summary(pop):
    rows = []
    for row in pop:
        recs = row["records"]
        if "drop" not in recs:
            rows.append({"seed": row["seed"], "dropped": False})
            continue
        plateau = float(
            np.mean([recs[f"plateau_{f}"]["participation_ratio"] for f in PLATEAU_FRACTIONS])
        )
        at = recs["drop"]["participation_ratio"]
        rows.append(
            {
                "seed": row["seed"],
                "dropped": True,
                "onset": row["drop"]["onset"],
                "end": row["drop"]["end"],
                "drop_checkpoint": recs["drop"]["epoch"],
                "pr_plateau": plateau,
                "pr_drop": at,
                "ratio": plateau / at,
                "top_fraction_drop": recs["drop"]["top_fraction"],
                "collapsed": bool(at <= plateau / COLLAPSE_FACTOR),
            }
        )
    return rows


def settings(ctx):
    lr = ctx.pick(0.01, 0.003)
    seeds = tuple(ctx.seeds(ctx.pick(QUICK_NETWORKS, FULL_NETWORKS)))
    return seeds, lr


@check(
    id="sntk-collapse",
    claim="At the rank-one network's loss drop the effective rank of the state-space NTK "
    "collapses (participation ratio falls by at least a factor four from the plateau).",
    reference="docs/sntk.md §5, Fig. 3A",
)
def run(ctx):
    seeds, lr = settings(ctx)
    ctx.progress.set_description("sntk-collapse: training")
    pop = population(seeds, lr)
    rows = _summary(pop)
    dropped = [r for r in rows if r["dropped"]]
    n = len(dropped)
    k = sum(r["collapsed"] for r in dropped)
    need = strictest_count(n, CLAIM_P, 0.01)
    ff = false_fail_at_least(need, n, CLAIM_P) if n else None
    upper = clopper_pearson(k, n, 0.99, "upper")[1] if n else float("nan")
    passed = bool(n >= MIN_DROPPED and need > 0 and k >= need)
    finding = None
    if n >= MIN_DROPPED and upper < 0.5:
        finding = (
            f"the sNTK participation ratio fell by a factor {COLLAPSE_FACTOR:g} in only {k} of "
            f"{n} networks (99% upper bound {upper:.2f} < 1/2)"
        )
    figure = None
    example = next((row for row in pop if "drop" in row["records"]), None)
    if example is not None:
        unique = {r["epoch"]: r for r in example["records"].values()}
        recs = [unique[e] for e in sorted(unique)]
        figure = plot_sntk_track(
            recs,
            ctx.figure_path(),
            spectrum_epochs=[r["epoch"] for r in recs],
            title=f"rank one, DA, lr {lr:g}, seed {example['seed']}",
        )
    table = [{k2: v for k2, v in r.items() if k2 != "dropped"} for r in dropped]
    return [
        Outcome(
            analytic={"collapse_factor": COLLAPSE_FACTOR, "k_min": need},
            measured={"collapsed": k, "dropped": n, "networks": len(rows)},
            tolerance=f"at least {need} of {n} networks: PR_drop <= PR_plateau/{COLLAPSE_FACTOR:g}",
            why="a network learning through the bifurcation channel has its sNTK dominated by "
            "one direction at the drop",
            passed=passed,
            figure=figure,
            rule=f"at least k_min of the n dropped networks collapse (k_min: false-fail <= 1% at "
            f"p = {CLAIM_P}); at least {MIN_DROPPED} must drop",
            false_fail=ff,
            disagrees=finding,
            details={"lr": lr, "table": table, "upper_99": upper},
        )
    ]
