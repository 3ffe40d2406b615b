"""sNTK channel (beyond the paper, docs/sntk.md §5): at the loss drop the top sNTK parameter
direction is the ghost's direction ∇_θ r.

The networks and checkpoints of sntk-collapse (Fig. 3A setting, ctx.seeds, the same training:
shared within one ``ghostsym verify`` process). At the first checkpoint at or after each
network's drop end, v₁ = the top right singular vector of the state Jacobian J (w.r.t.
m, n, b) and ∇_θ r of the slowest ghost of the latent flow (Eq. 35: explicit + implicit
kernels, ghostsym.codegen.latent). The statistic per network is |cos(v₁, ∇_θ r)|; a network
without a ghost at that checkpoint counts as not aligned.

Rule: the related paper finds the sNTK "dominated by a rank-one, highly amplified channel that
corresponds to learning in a classical normal form"; in the ghost picture the normal form's
parameter is r, so the claim is that v₁ points along ∇_θ r. A network is **aligned** when
|cos| ≥ MIN_COSINE = 0.5 (an angle of at most 60°; a random direction in R^300 has
|cos| ≥ 0.19 with probability 0.1 % only). Among the n networks whose loss drops, at least
k_min must be aligned (k_min as in sntk-collapse: false-fail ≤ 1 % at p = 0.95), with at least
four dropped networks. The finding (``disagrees``) is recorded when the 99 % Clopper–Pearson
upper bound of the aligned fraction is below one half.

False-fail probability: if each network is aligned independently with probability ≥ 0.95, the
rule fails with probability false_fail_at_least(k_min, n, 0.95) ≤ 1 % (reported per run).
"""

from pathlib import Path

import numpy as np

from ghostsym.analysis.phase_portrait import new_figure
from ghostsym.analysis.sntk import random_alignment_quantile
from ghostsym.analysis.statistics import clopper_pearson, false_fail_at_least
from ghostsym.io import write_atomic
from ghostsym.verification import Outcome, check

MIN_COSINE = 0.5


def _collapse():
    import importlib.util
    import sys

    name = "ghostsym_verify_sntk_collapse"
    if name not in sys.modules:
        path = Path(__file__).with_name("sntk_collapse.py")
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _plot(path, cos, parameters):
    import io

    fig = new_figure(figsize=(5, 3.6))
    ax = fig.subplots()
    finite = np.asarray([c for c in cos if c is not None], dtype=float)
    ax.hist(finite, bins=np.linspace(0, 1, 21), color="C0", label="networks at the drop")
    ax.axvline(MIN_COSINE, color="k", ls="--", label=f"aligned: $|\\cos| \\geq {MIN_COSINE:g}$")
    q = random_alignment_quantile(parameters, 0.999)
    ax.axvline(q, color="C1", ls=":", label=f"random direction, 99.9% quantile ({q:.2f})")
    ax.set_xlabel("$|\\cos(v_1, \\nabla_\\theta r)|$")
    ax.set_ylabel("networks")
    ax.set_title("top sNTK direction vs. $\\nabla_\\theta r$")
    ax.legend(fontsize=7)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    write_atomic(path, buf.getvalue())
    return path


@check(
    id="sntk-channel",
    claim="At the rank-one network's loss drop the top sNTK parameter direction aligns with "
    "grad_theta r of the ghost (|cos| >= 0.5).",
    reference="docs/sntk.md §5, Eq. 35",
)
def run(ctx):
    col = _collapse()
    seeds, lr = col.settings(ctx)
    ctx.progress.set_description("sntk-channel: training")
    pop = col.population(seeds, lr)
    table, cos_all, params = [], [], 0
    for row in pop:
        rec = row["records"].get("drop")
        if rec is None:
            continue
        params = rec["parameters"]
        al = rec["alignment"]
        cos_all.append(al["cosine"])
        table.append(
            {
                "seed": row["seed"],
                "checkpoint": rec["epoch"],
                "cosine": np.nan if al["cosine"] is None else al["cosine"],
                "r": np.nan if al["r"] is None else al["r"],
                "aligned": bool(al["cosine"] is not None and al["cosine"] >= MIN_COSINE),
            }
        )
    n = len(table)
    k = sum(r["aligned"] for r in table)
    need = col.k_min(n)
    ff = false_fail_at_least(need, n, col.CLAIM_P) if n else None
    upper = clopper_pearson(k, n, 0.99, "upper")[1] if n else float("nan")
    passed = bool(n >= col.MIN_DROPPED and need > 0 and k >= need)
    finding = None
    if n >= col.MIN_DROPPED and upper < 0.5:
        finding = (
            f"the top sNTK direction had |cos| >= {MIN_COSINE:g} with grad_theta r in only {k} "
            f"of {n} networks at the drop (99% upper bound {upper:.2f} < 1/2)"
        )
    figure = _plot(ctx.figure_path(), cos_all, params) if n else None
    finite = [c for c in cos_all if c is not None]
    return [
        Outcome(
            analytic={"min_cosine": MIN_COSINE, "k_min": need},
            measured={
                "aligned": k,
                "dropped": n,
                "median_cosine": float(np.median(finite)) if finite else float("nan"),
            },
            tolerance=f"at least {need} of {n} networks with |cos| >= {MIN_COSINE:g}",
            why="the sNTK's dominant channel is learning in the normal form's parameter r",
            passed=passed,
            figure=figure,
            rule=f"at least k_min of the n dropped networks aligned (k_min: false-fail <= 1% "
            f"at p = {col.CLAIM_P}); at least {col.MIN_DROPPED} must drop",
            false_fail=ff,
            disagrees=finding,
            details={
                "lr": lr,
                "table": table,
                "upper_99": upper,
                "random_q999": random_alignment_quantile(max(params, 2), 0.999),
            },
        )
    ]
