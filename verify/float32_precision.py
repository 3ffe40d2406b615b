"""float32 against float64 at the Fig. 3B setting: does precision change how often learners
collapse?

The authors trained in float32. At the Fig. 3B setting (rank-one DA, SGD, lr 0.02, 6000
epochs) a learner — a network whose accuracy exceeds 0.5 at some epoch — may later collapse
into the no-learning zone (final accuracy 0.5 with the gradient norm collapsed, the end state
of the fig3b-saddle-node check). The same seeds (the same initial parameters; ``ctx.seeds``)
are trained twice, in float64 and in float32 (parameters, optimiser moments, states and
gradients stored in float32, docs/performance.md §6), and the fraction of learners that
collapse is compared between the two precisions.

Rule: fixed before measuring: Fisher's exact two-sided test of (collapsed learners /
learners) in float32 against float64; the check passes — "the collapse fraction does not
depend on the precision" — when p ≥ 0.01. A failure is a finding: precision changes the
population's collapse rate (the measured fractions and their 99 % Clopper–Pearson intervals
are in the details). With few learners the test has little power; the learner counts are
reported with the verdict.

False-fail probability: if the two fractions are equal, Fisher's exact test rejects with
probability at most 0.01 (it is conservative), so the check fails by chance with probability
≤ 1 %.
"""

import numpy as np

from ghostsym.analysis.statistics import clopper_pearson, fisher_exact
from ghostsym.training import build_config, train_many
from ghostsym.verification import Outcome, check

#: Significance level of the pre-registered Fisher test (= the false-fail bound).
LEVEL = 0.01
#: "Gradient collapses by orders of magnitude" (as in fig3b-saddle-node).
GRAD_COLLAPSE = 1e-6


def _classify(result):
    acc = np.asarray(result.history["accuracy"])
    grad = np.asarray(result.history["grad_norm"])
    learned = bool(np.any(acc > 0.5))
    finite = grad[np.isfinite(grad)]
    collapsed = bool(
        learned
        and result.diverged_epoch is None
        and acc[-1] == 0.5
        and finite.size
        and finite[-1] / finite.max() < GRAD_COLLAPSE
    )
    return learned, collapsed


@check(
    id="float32-precision",
    claim="Training in float32 instead of float64 does not change the fraction of learners "
    "that collapse at the Fig. 3B learning rate.",
    reference="Fig. 3B; docs/performance.md §6",
)
def run(ctx):
    seeds = ctx.seeds(ctx.pick(12, 96))
    counts = {}
    rows = {}
    for dtype in ("float64", "float32"):
        ctx.progress.set_description(f"float32-precision: {len(seeds)} seeds, {dtype}")
        configs = [build_config(preset="fig3b", seed=s, dtype=dtype) for s in seeds]
        results = train_many(configs)
        flags = [_classify(r) for r in results]
        learners = sum(f[0] for f in flags)
        collapsed = sum(f[1] for f in flags)
        counts[dtype] = (collapsed, learners)
        rows[dtype] = {
            "learners": learners,
            "collapsed": collapsed,
            "interval_99": list(clopper_pearson(collapsed, learners)) if learners else None,
            "collapsed_seeds": [s for s, f in zip(seeds, flags, strict=True) if f[1]],
            "learner_seeds": [s for s, f in zip(seeds, flags, strict=True) if f[0]],
        }
    (c32, n32), (c64, n64) = counts["float32"], counts["float64"]
    _odds, p = fisher_exact(c32, n32, c64, n64)
    return [
        Outcome(
            analytic="same collapse fraction in float32 and float64",
            measured=f"float32 {c32}/{n32}, float64 {c64}/{n64} learners collapse (p = {p:.3g})",
            tolerance=f"Fisher exact p >= {LEVEL}",
            why=f"{len(seeds)} seeds at lr 0.02; false-fail probability <= {LEVEL} when the "
            "fractions are equal; few learners mean little power",
            passed=bool(p >= LEVEL),
            label="collapse-fraction",
            details={"seeds": list(seeds), "p_value": p, **rows},
        )
    ]
