"""Fig. 4E-H: a rank-two RNN learns DMTS through transient cue-blind ghosts, then cycles gated
by ghosts.

Rank-two networks (docs/experiments.md §1.5, §4.2: N = 100, α = 0.5, σ_fr = 0.3, σ_noise = 0.01
inside the tanh, sigmoid readout of the latent) are trained with Adam on delayed match-to-sample
(cue 6 steps, delay 16, test cue 6, response 10; T = 38), one network per seed of
``ctx.seeds`` (``--seed`` draws a fresh population), all together
(:func:`ghostsym.training.train_many`). Profiles (SETTINGS): ``paper`` is the authors' run (500
trials per condition, Adam lr 1e-4, 20,000 epochs); ``quick`` and ``full`` use 10 trials per
condition and Adam lr 1e-3 for 2,000 epochs. The reason for that budget: Adam's step is ≈ lr
per parameter whatever the gradient's scale, so the distance training can travel is ∝ lr ×
epochs, 2 in both settings; the smaller batch only adds gradient noise.

At every checkpoint the input-free latent flow F(κ) = −κ + P tanh(Mκ + b) (docs/experiments.md
§4.3) is analysed with :func:`ghostsym.analysis.latent_flow.analyze_rank_two` (fixed points,
ghosts with their normal forms; docs/math.md §1–2) and 10 noise-free trials per condition are
simulated (the latent map is then exact in the input-free windows). A trial *passes* a ghost
in a window when one of its speed minima there lies within two bottleneck half-widths
√(c0/c2) of it (:func:`ghostsym.analysis.latent_flow.ghost_passages`). Per network, from the
paper's account of Fig. 4E-H:

* **learns** — final accuracy (0.5 threshold over all 38 steps) ≥ ACCURACY_MIN and loss ≤
  LOSS_FRACTION × the always-0 loss 20/152 ("the correct match/non-match output", Fig. 4G);
* **cue-blind-ghosts** — before the network has learned (checkpoint accuracy < ACCURACY_MIN)
  there is a checkpoint where the output behaves as in the delayed-activation task — it
  rises in the response window (mean response output − mean delay output ≥ DA_RISE, half of
  the cue-blind optimum 1/2) but ignores the cues (|mean response output of match − of
  non-match trials| ≤ BLIND_MAX) — and a ghost is passed by MAJORITY of all trials ("several
  transient ghosts emerged … network outputs resembled the behavior of the simpler
  delayed-activation task, responding in the same way regardless of the input patterns");
* **cycle-with-ghost** — the final network's input-free latent flow has a persistent
  oscillation (an orbit of the latent map, started from the trials' states, that after
  CYCLE_STEPS steps is not at a stable fixed point and still moves over more than
  CYCLE_MIN_EXTENT) with a ghost within two half-widths of it ("several oscillatory cycles had
  formed … with ghosts positioned in their vicinity");
* **gated-delay** — in the final network MAJORITY of the trials pass a ghost during the delay
  ("forcing trajectories to linger near a ghost until the second cue arrived").

Rule: the paper presents its network as the course of learning ("training videos for multiple
seeds are available"), so each per-network property is claimed for at least half of the
networks (p ≥ 1/2): ``learns`` over the whole population, the mechanism rows over the networks
that learn (the paper describes how a network that learns gets there; only the learners'
checkpoints are analysed). A row passes when at least k_min of the n networks show it, k_min
the largest count (at least 1) with P(Binomial(n, 1/2) < k_min) ≤ 1%; at the paper's setting
(``paper`` profile) a row ``disagrees`` when the one-sided 99% Clopper–Pearson upper bound of
the fraction is below 1/2 (the two rules are contiguous for n ≥ 7); in the shorter profiles a
shortfall is a plain fail, since a network that has not learned in a shorter run says nothing
against the paper.

False-fail probability: P(Binomial(n, 1/2) < k_min) when the claimed fraction is ≥ 1/2: 0.39%
for n = 8 (quick), 0.59% for n = 20 (paper), 0.35% for n = 32 (full), computed per row,
assuming independent networks (independent seeds). The mechanism rows count only the learners;
a row counted over fewer than 7 networks (below 7 no rule on p ≥ 1/2 reaches 1%) is ``skipped``
with its counts, not decided by a coin flip.
"""

import math

import numpy as np

from ghostsym.analysis.latent_flow import (
    analyze_rank_two,
    ghost_passages,
    rank_two_latent_from_factors,
)
from ghostsym.analysis.phase_portrait import Portrait, auto_half_width, plot_portraits, roman
from ghostsym.training import build_config, simulate
from ghostsym.verification import check, population_outcome, sibling_check

#: (networks, trials per condition, Adam learning rate, epochs, checkpoint spacing). About 3
#: in 8 networks learn in this budget (quick, seeds 1000-1007); full trains 32 so that the
#: mechanism rows, counted over the learners, usually have the 7 a 1% rule needs. The
#: spacing 100 resolves the cue-blind phase: at 200 it was found in 3 of 9 learners, at 100
#: in 6 of the same 9, and 200 saved only a sixth of the check's time.
SETTINGS = {
    "quick": (8, 10, 1e-3, 2000, 100),
    "full": (32, 10, 1e-3, 2000, 100),
    "paper": (20, 500, 1e-4, 20_000, 500),
}
#: Noise-free trials per condition simulated at each checkpoint.
ANALYSIS_TRIALS = 10
#: Search square [−h, h]², h ≥ HALF_WIDTH and HALF_WIDTH_MARGIN × the largest |κ| visited;
#: grid spacing GRID_SPACING (as for DCD).
HALF_WIDTH = 4.0
HALF_WIDTH_MARGIN = 1.25
GRID_SPACING = 0.04
#: "Learns": at most 2 of 38 steps per trial off on average (the sigmoid output crosses 0.5
#: over a step or two at the response onset); loss below a fifth of the always-0 output's.
ACCURACY_MIN = 1 - 2 / 38
LOSS_FRACTION = 0.2
#: DA-like output: the response-window mean rises by at least half the cue-blind optimum
#: (1/2, the mean target) above the delay-window mean, and match and non-match responses
#: differ by at most BLIND_MAX (a fifth of that optimum).
DA_RISE = 0.25
BLIND_MAX = 0.1
#: Fraction of trials that must pass a ghost: a clear majority (the initial states scatter
#: the trials).
MAJORITY = 0.8
#: Persistent oscillation: the latent map iterated CYCLE_STEPS steps (α = 0.5: 2000 τ, longer
#: than any bottleneck of a ghost with ‖F‖ ≥ 1e-3) from each trial's state; over the last
#: CYCLE_TAIL steps the orbit is farther than CYCLE_FIXED_TOL from every stable fixed point
#: and spans more than CYCLE_MIN_EXTENT (a converging or ghost-held orbit does neither).
CYCLE_STEPS = 4000
CYCLE_TAIL = 1000
CYCLE_FIXED_TOL = 1e-2
CYCLE_MIN_EXTENT = 0.05
#: The rows' rule: ghostsym.verification.population_outcome at its defaults (a claimed
#: fraction of 1/2, 99 % confidence; rows counted over fewer than 7 networks are skipped).
#: Condition labels (trial i has condition i mod 4, docs/experiments.md §1.7); match first.
CONDITIONS = ("(+,+)", "(−,−)", "(−,+)", "(+,−)")
MATCH = np.array([True, True, False, False])


def _windows(task):
    """(delay, response) step ranges of the input-free windows: states κ_t for t in them."""
    c, d, r = task.cue, task.delay, task.response
    return (c, c + d + 1), (2 * c + d, 2 * c + d + r + 1)


def persistent_orbit(flow, starts, stable, alpha: float = 0.5):
    """The tail of the latent-map orbit (CYCLE_TAIL, K) of the first start that neither
    settles at a stable fixed point nor stops moving (module docstring), or None."""
    starts = np.asarray(starts, dtype=float).reshape(-1, flow.rank)
    orbits = flow.latent_map(starts, CYCLE_STEPS, alpha)[-CYCLE_TAIL:]  # (tail, S, K)
    stable = np.asarray(stable, dtype=float).reshape(-1, flow.rank)
    for j in range(starts.shape[0]):
        tail = orbits[:, j]
        if not np.all(np.isfinite(tail)):
            continue
        if stable.size:
            d = np.linalg.norm(tail[:, None, :] - stable[None], axis=-1)
            if np.min(d) <= CYCLE_FIXED_TOL:
                continue
        if np.max(np.linalg.norm(tail - tail.mean(axis=0), axis=-1)) > CYCLE_MIN_EXTENT:
            return tail
    return None


def analyse_checkpoint(model, task, params, epoch, seed):
    """Flow, classified points, trials' ghost passages and outputs at one checkpoint."""
    flow = rank_two_latent_from_factors(params["m"], params["n"], params["b"], model.activation)
    sim = simulate(model, params, task, seed=seed, epoch=epoch)
    kappa = np.asarray(sim["states"]) @ flow.P.T  # (S+1, B, 2)
    h = max(HALF_WIDTH, HALF_WIDTH_MARGIN * float(np.max(np.abs(kappa))))
    res = analyze_rank_two(flow, half_width=h, grid=int(2 * h / GRID_SPACING) + 1)
    ghosts = [p for p in res.points if p.kind == "ghost"]
    stable = [p for p in res.points if p.kind == "fixed-point" and p.stability == "stable"]
    (d0, d1), (r0, r1) = _windows(task)
    B = kappa.shape[1]
    delay_pass, any_pass = np.zeros(B, bool), np.zeros(B, bool)
    for i in range(B):
        in_delay = ghost_passages(flow, kappa[d0:d1, i], ghosts, alpha=model.alpha)
        in_resp = ghost_passages(flow, kappa[r0:r1, i], ghosts, alpha=model.alpha)
        delay_pass[i] = bool(in_delay)
        any_pass[i] = bool(in_delay or in_resp)
    outputs = np.asarray(sim["outputs"])  # (B, S), ŷ_t read from x_t
    match = MATCH[np.arange(B) % 4]
    resp = outputs[:, r0 : r1 - 1].mean(axis=1)
    delay = outputs[:, d0 : d1 - 1].mean(axis=1)
    return {
        "epoch": epoch,
        "flow": flow,
        "points": res.points,
        "ghosts": ghosts,
        "stable": stable,
        "kappa": kappa,
        "accuracy": float(sim["accuracy"]),
        "rise": float(resp.mean() - delay.mean()),
        "blindness": float(abs(resp[match].mean() - resp[~match].mean())),
        "ghost_fraction": float(any_pass.mean()),
        "delay_ghost_fraction": float(delay_pass.mean()),
        "outputs": outputs,
        "targets": np.asarray(sim["targets"]),
        "windows": ((d0, d1), (r0, r1)),
    }


def cue_blind(a) -> bool:
    """The DA-like, cue-blind phase with a ghost passed by most trials (module docstring)."""
    return bool(
        a["accuracy"] < ACCURACY_MIN
        and a["rise"] >= DA_RISE
        and a["blindness"] <= BLIND_MAX
        and a["ghost_fraction"] >= MAJORITY
    )


def cycle_with_ghost(a, alpha: float = 0.5):
    """(orbit tail or None, whether a ghost lies within two half-widths of it)."""
    (_, d1), _ = a["windows"]
    starts = np.concatenate([a["kappa"][d1 - 1], a["kappa"][-1]])
    orbit = persistent_orbit(a["flow"], starts, [p.x for p in a["stable"]], alpha)
    if orbit is None:
        return None, False
    for g in a["ghosts"]:
        w = g.extras.get("bottleneck_half_width", math.inf)
        if math.isfinite(w) and np.min(np.linalg.norm(orbit - g.x, axis=-1)) <= 2 * w:
            return orbit, True
    return orbit, False


def learned(history, baseline) -> tuple[bool, float]:
    """(learns, final accuracy): medians over the last 1% of the epochs (at least 5)."""
    loss = np.asarray(history["loss"], dtype=float)
    acc = np.asarray(history["accuracy"], dtype=float)
    tail = max(5, loss.size // 100)
    final_loss, final_acc = float(np.median(loss[-tail:])), float(np.median(acc[-tail:]))
    ok = math.isfinite(final_loss) and final_acc >= ACCURACY_MIN
    return bool(ok and final_loss <= LOSS_FRACTION * baseline), final_acc


def evaluate_network(analyses, history, baseline, alpha) -> dict:
    """The per-network properties of the module docstring from its checkpoint analyses."""
    learns, final_acc = learned(history, baseline)
    blind = [cue_blind(a) for a in analyses]
    first_learned = next(
        (i for i, a in enumerate(analyses) if a["accuracy"] >= ACCURACY_MIN), len(analyses)
    )
    blind_idx = next((i for i in range(first_learned) if blind[i]), None)
    final = analyses[-1]
    orbit, near = cycle_with_ghost(final, alpha)
    final["orbit"] = orbit
    return {
        "learns": learns,
        "final_accuracy": final_acc,
        "cue_blind": blind_idx is not None,
        "cue_blind_epoch": -1 if blind_idx is None else analyses[blind_idx]["epoch"],
        "cycle": orbit is not None,
        "cycle_with_ghost": bool(near),
        "gated_delay": bool(final["delay_ghost_fraction"] >= MAJORITY),
        "final_ghosts": len(final["ghosts"]),
        "final_delay_ghost_fraction": final["delay_ghost_fraction"],
        "blind_index": blind_idx,
        "learned_index": first_learned,
    }


def _figure(ctx, analyses, history, info, lr, tpc, seed, which="the first that learns"):
    """Loss and phase portraits (one trial per condition, outputs by condition) of the
    population's first network: start, its cue-blind checkpoint, when it learns, final."""
    shown = {0, len(analyses) - 1}
    for idx in (info["blind_index"], info["learned_index"]):
        if idx is not None and idx < len(analyses):
            shown.add(idx)
    portraits = []
    for i, idx in enumerate(sorted(shown)):
        a = analyses[idx]
        trajs, outs = [], {}
        for c, name in enumerate(CONDITIONS):
            rows = np.arange(c, a["outputs"].shape[0], 4)
            trajs.append((name, a["kappa"][:, rows[0]]))
            outs[name] = (
                a["outputs"][rows].mean(axis=0),
                a["outputs"][rows].std(axis=0) / math.sqrt(rows.size),
                a["targets"][rows[0]],
            )
        near = [p for p in a["points"] if np.max(np.abs(p.x)) <= 10]
        h = min(10.0, auto_half_width(near, trajs))
        portraits.append(
            Portrait(
                a["flow"], a["points"], trajs, f"({roman(i)}) epoch {a['epoch']}", h, outputs=outs
            )
        )
    fig = plot_portraits(
        portraits,
        history=history,
        marker_epochs=[analyses[i]["epoch"] for i in sorted(shown)],
        title=rf"rank two, DMTS, Adam $\eta = {lr:g}$, {tpc} trials per condition, seed {seed} "
        f"({which})",
    )
    return ctx.save_figure(fig, name="portraits")


@check(
    id="fig4-rank-two-dmts",
    claim="A rank-two RNN trained with Adam learns DMTS: early, transient ghosts give a "
    "cue-blind, delayed-activation-like output; finally oscillatory cycles with ghosts near "
    "them gate the trajectories during the delay and the output reports match/non-match.",
    reference="Fig. 4E-H",
)
def run(ctx):
    setting = SETTINGS[ctx.profile]
    _, tpc, lr, epochs, every = setting
    dcd = sibling_check(__file__, "fig4_rank_two_dcd")
    seeds, cfgs, results = dcd.train_population(ctx, "fig4-dmts", setting, "fig4 DMTS")
    model = cfgs[0].model
    task = build_config(preset="fig4-dmts", trials_per_condition=ANALYSIS_TRIALS, noise_sd=0.0).task
    baseline = 2 * task.response / (4 * task.steps)  # always-0 output: MSE 20/152
    ctx.progress.set_description("fig4 DMTS: latent flows")
    infos, figure = [], None
    for cfg, res in zip(cfgs, results, strict=True):
        history = {k: np.asarray(v) for k, v in res.history.items()}
        ok, final_acc = learned(history, baseline)
        ok = ok and res.diverged_epoch is None and bool(res.checkpoints)
        infos.append({"learns": ok, "final_accuracy": final_acc})
        # the mechanism rows are about networks that learn: only those are analysed
        if ok:
            analyses = [
                analyse_checkpoint(model, task, res.checkpoints[e], e, cfg.seed)
                for e in sorted(res.checkpoints)
            ]
            infos[-1] = evaluate_network(analyses, history, baseline, model.alpha)
            if figure is None:  # the first network that learns
                figure = _figure(ctx, analyses, history, infos[-1], lr, tpc, cfg.seed)
    if figure is None and results[0].checkpoints:  # none learns: the population's first
        res, history = results[0], {k: np.asarray(v) for k, v in results[0].history.items()}
        analyses = [
            analyse_checkpoint(model, task, res.checkpoints[e], e, cfgs[0].seed)
            for e in sorted(res.checkpoints)
        ]
        info = evaluate_network(analyses, history, baseline, model.alpha)
        figure = _figure(
            ctx, analyses, history, info, lr, tpc, cfgs[0].seed, "none learns: the first"
        )

    def col(key, default=None):
        """Per network; None (not counted) for networks that did not learn."""
        return [
            i[key] if i["learns"] or key in ("learns", "final_accuracy") else default for i in infos
        ]

    paper = ctx.profile == "paper"
    majority = f">= {MAJORITY:.0%} of the trials within 2 half-widths √(c0/c2) of a ghost"
    return [
        population_outcome(
            "learns",
            col("learns"),
            seeds,
            f"final accuracy >= {ACCURACY_MIN:.3f} and loss <= {LOSS_FRACTION} x {baseline:.3f}",
            "0.5-threshold accuracy over all 38 steps, at most 2 steps per trial "
            "off (graded onset); medians of the last 1% of epochs",
            figure,
            {"final_accuracy": col("final_accuracy")},
            findings=paper,
        ),
        population_outcome(
            "cue-blind-ghosts",
            col("cue_blind"),
            seeds,
            "before learning, a checkpoint with a delayed-activation-like, "
            "cue-blind output and a ghost passed by most trials",
            f"response − delay output >= {DA_RISE}, |match − non-match| <= "
            f"{BLIND_MAX}; " + majority + "; -1 in the table: none",
            figure,
            {"cue_blind_epoch": col("cue_blind_epoch")},
            findings=paper,
        ),
        population_outcome(
            "cycle-with-ghost",
            col("cycle_with_ghost"),
            seeds,
            "the final input-free latent flow has a persistent oscillation "
            "with a ghost within two half-widths of it",
            f"orbit after {CYCLE_STEPS} steps not at a stable fixed point and "
            f"spanning > {CYCLE_MIN_EXTENT}",
            figure,
            {
                "cycle": [None if c is None else int(c) for c in col("cycle")],
                "final_ghosts": col("final_ghosts"),
            },
            findings=paper,
        ),
        population_outcome(
            "gated-delay",
            col("gated_delay"),
            seeds,
            "in the final network most trials pass a ghost during the delay",
            majority,
            figure,
            {"delay_ghost_fraction": col("final_delay_ghost_fraction")},
            findings=paper,
        ),
    ]
