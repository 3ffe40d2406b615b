"""sNTK channel (beyond the paper, docs/sntk.md §5): the top sNTK parameter direction is the
ghost's direction ∇_θ r — at the loss drop, and at the ghost's first checkpoint.

The networks and checkpoints of sntk-collapse (Fig. 3A setting, ctx.seeds, the same training:
shared within one ``ghostsym verify`` process; its docstring gives the population size's power
argument: n ≥ 7 dropped networks make 0/n decidable as a finding, 8 are drawn). v₁ = the top
right singular vector of the state Jacobian J (w.r.t. m, n, b) and ∇_θ r of the slowest ghost
of the latent flow (Eq. 35: explicit + implicit kernels, ghostsym.codegen.latent). The
statistic per network is |cos(v₁, ∇_θ r)|. Two rows, each over the n networks whose loss
drops, with definitions fixed before measuring:

* ``drop``: at the first checkpoint at or after the drop's end (the checkpoint of
  sntk-collapse); a network without a ghost there counts as not aligned;
* ``ghost``: at the **ghost checkpoint**, the first checkpoint at or after the drop's end whose
  latent flow has a ghost by the test that makes the cosine defined
  (ghostsym.analysis.sntk.first_ghost_epoch); a network without a ghost at any checkpoint up
  to the end of the budget counts as not aligned. This row was added after the ``drop`` row
  had measured no ghost at the drop in 6 of 6 networks (the ghost is born after the drop,
  as verify/fig3a_ghost_forms.py finds); its rule was written before it was measured.

Rule: the related paper finds the sNTK "dominated by a rank-one, highly amplified channel that
corresponds to learning in a classical normal form"; in the ghost picture the normal form's
parameter is r, so the claim is that v₁ points along ∇_θ r while the network learns through
the normal form — at the drop, and wherever the normal form (the ghost) exists. A network is
**aligned** when |cos| ≥ MIN_COSINE = 0.5 (an angle of at most 60°; a random direction in
R^300 has |cos| ≥ 0.19 with probability 0.1 % only). Per row: among the n dropped networks at
least k_min must be aligned (k_min as in sntk-collapse: the largest count with false-fail
≤ 1 % at p = 0.95; n = 8: 6), with at least four dropped networks. The finding
(``disagrees``) is recorded when the one-sided 99 % Clopper–Pearson upper bound of the aligned
fraction is below one half; otherwise a row that misses k_min fails (inconclusive).

False-fail probability: if each network is aligned independently with probability ≥ 0.95, a
row fails with probability false_fail_at_least(k_min, n, 0.95) ≤ 1 % (0.58 % at n = 8,
reported per row); the finding's rule wrongly fires with probability ≤ 1 % (the bound's
coverage).
"""

import numpy as np

from ghostsym.analysis.phase_portrait import new_figure
from ghostsym.analysis.sntk import random_alignment_quantile
from ghostsym.analysis.statistics import clopper_pearson, false_fail_at_least, strictest_count
from ghostsym.io import write_atomic
from ghostsym.verification import Outcome, check, sibling_check

MIN_COSINE = 0.5
#: The two pre-registered places (population record role → row label, what it is).
PLACES = (
    ("drop", "the first checkpoint at or after the drop's end"),
    ("ghost", "the first checkpoint at or after the drop's end with a ghost"),
)


def _collapse():
    """The sntk_collapse check module (its population is shared)."""
    return sibling_check(__file__, "sntk_collapse")


def _plot(path, cosines, parameters):
    import io

    fig = new_figure(figsize=(5.2, 3.6))
    ax = fig.subplots()
    bins = np.linspace(0, 1, 21)
    for k, (role, _) in enumerate(PLACES):
        finite = np.asarray([c for c in cosines[role] if c is not None], dtype=float)
        missing = sum(c is None for c in cosines[role])
        ax.hist(finite, bins=bins, color=f"C{k}", alpha=0.6,
                label=f"at the {role} checkpoint ({missing} without a ghost)")  # fmt: skip
    ax.axvline(MIN_COSINE, color="k", ls="--", label=f"aligned: $|\\cos| \\geq {MIN_COSINE:g}$")
    q = random_alignment_quantile(max(parameters, 2), 0.999)
    ax.axvline(q, color="C2", ls=":", label=f"random direction, 99.9% quantile ({q:.2f})")
    ax.set_xlabel("$|\\cos(v_1, \\nabla_\\theta r)|$")
    ax.set_ylabel("networks")
    ax.set_title("top sNTK direction vs. $\\nabla_\\theta r$")
    ax.legend(fontsize=7)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    write_atomic(path, buf.getvalue())
    return path


def _row(col, pop, role, where, lr, figure, params):
    table, cos = [], []
    for row in pop:
        rec = row["records"].get("drop")
        if rec is None:  # the loss did not drop within the budget
            continue
        rec = row["records"].get(role)
        al = rec["alignment"] if rec is not None else {"cosine": None, "r": None}
        cos.append(al["cosine"])
        entry = {
            "seed": row["seed"],
            "drop_end": row["drop"]["end"],
            "checkpoint": rec["epoch"] if rec is not None else np.nan,
            "after_drop_end": rec["epoch"] - row["drop"]["end"] if rec is not None else np.nan,
            "cosine": np.nan if al["cosine"] is None else al["cosine"],
            "r": np.nan if al["r"] is None else al["r"],
            "pr": rec["participation_ratio"] if rec is not None else np.nan,
            "aligned": bool(al["cosine"] is not None and al["cosine"] >= MIN_COSINE),
        }
        table.append(entry)
    n = len(table)
    k = sum(r["aligned"] for r in table)
    need = strictest_count(n, col.CLAIM_P, 0.01)
    ff = false_fail_at_least(need, n, col.CLAIM_P) if n else None
    upper = clopper_pearson(k, n, 0.99, "upper")[1] if n else float("nan")
    passed = bool(n >= col.MIN_DROPPED and need > 0 and k >= need)
    finding = None
    if n >= col.MIN_DROPPED and upper < 0.5:
        finding = (
            f"the top sNTK direction had |cos| >= {MIN_COSINE:g} with grad_theta r in only {k} "
            f"of {n} networks at {where} ({len([c for c in cos if c is not None])} had a "
            f"ghost there; 99% upper bound {upper:.2f} < 1/2)"
        )
    finite = [c for c in cos if c is not None]
    outcome = Outcome(
        analytic={"min_cosine": MIN_COSINE, "k_min": need},
        measured={
            "aligned": k,
            "with_ghost": len(finite),
            "dropped": n,
            "median_cosine": float(np.median(finite)) if finite else float("nan"),
        },
        tolerance=f"at least {need} of {n} networks with |cos| >= {MIN_COSINE:g} at {where}",
        why="the sNTK's dominant channel is learning in the normal form's parameter r",
        passed=passed,
        figure=figure,
        label=role,
        rule=f"at {where}: at least k_min of the n dropped networks aligned (k_min: false-fail "
        f"<= 1% at p = {col.CLAIM_P}; a network without a ghost counts as not aligned); at "
        f"least {col.MIN_DROPPED} must drop; finding when the 99% upper bound < 1/2",
        false_fail=ff,
        disagrees=finding,
        details={
            "lr": lr,
            "table": table,
            "upper_99": upper,
            "random_q999": random_alignment_quantile(max(params, 2), 0.999),
        },
    )
    return outcome, cos


@check(
    id="sntk-channel",
    claim="The top sNTK parameter direction of a rank-one network aligns with grad_theta r of "
    "the ghost (|cos| >= 0.5): at the loss drop, and at the ghost's first checkpoint.",
    reference="docs/sntk.md §5, Eq. 35",
)
def run(ctx):
    col = _collapse()
    seeds, lr = col.settings(ctx)
    ctx.progress.set_description("sntk-channel: training")
    pop = col.population(seeds, lr)
    params = max((rec["parameters"] for row in pop for rec in row["records"].values()), default=2)
    path = ctx.figure_path()
    outcomes, cosines = [], {}
    for role, where in PLACES:
        o, cos = _row(col, pop, role, where, lr, None, params)
        outcomes.append(o)
        cosines[role] = cos
    if any(cosines.values()):
        figure = _plot(path, cosines, params)
        for o in outcomes:
            o.figure = figure
    return outcomes
