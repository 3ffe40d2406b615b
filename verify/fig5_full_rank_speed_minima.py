"""Fig. 5: full-rank RNNs on DCD (and DMTS) learn the task through fixed points and ghosts.

The paper's setting (docs/experiments.md §5.1): N = 100, SGD lr 1e-2, σ_fr = 0.1, σ_noise = 0.01,
seed 3; DCD batch 2 for 3001 epochs, DMTS (T = 44) batch 4 for 100,001 epochs. At the saved
epochs every visited state (r_0 … r_T of every trial) seeds the speed-minimum search of
Eq. 39 (:func:`ghostsym.analysis.speed_minima.find_speed_minima`, inputs off), and every
minimum is classified (docs/math.md §1): fixed point (‖F‖ ≤ 1e-9), ghost (‖F‖ > 0, one
Jacobian eigenvalue ≈ 0, every other Re λ < 0), other slow point.

Measured, for the paper's seed (its claims, docs/experiments.md §5.2):

* **learns**: the loss falls to a small fraction of its initial value, accuracy is high;
* **DCD bistability**: the first saved epoch has at most one stable fixed point, a later one
  has two or more (the two new attractors of the cue-discrimination transition);
* **DCD ghost**: at a saved epoch after the bistable one there is a ghost and at least one
  trial's slowest input-off state lies nearer to that ghost than to any other speed minimum
  and within its reach (speed ≤ BOTTLENECK_SPEED_FACTOR × the ghost's speed, 2 bottleneck
  half-widths as in the Fig. 4 check) — the ghost is what slows that trial (the paper: "a
  ghost delays one trial type");
* a **seed survey** (our RNG is not PyTorch's, so "seed 3" is a different network here): the
  seeds in which the bistability → ghost sequence occurs, and (**DCD ghost persists**) those
  in which a ghost slows exactly one trial type in the last two saved epochs (the paper's
  final two panels; the other trial type takes a curved path) — each must recur in at least
  SURVEY_MIN_SEEDS seeds;
* **DMTS** (full/paper profiles): by epoch 1000 a ghost is the nearest minimum to the
  slowest state of every trial; the final network has fixed points and a ghost.

"≈ 0" for an eigenvalue: at an exact critical point of q with F ≠ 0, JᵀF = 0, so J has an
exact zero eigenvalue; numerically |λ₀| ≤ ‖∇q‖/‖F‖ ≈ 1e-15. The classification tolerance,
1e-3 in units of the leak rate 1/τ (J = −I + diag(φ′)W is centred at −1), sits twelve orders
above that residual and two below the transverse eigenvalues (|Re λ₁| ≈ 0.1–0.5 for the
ghosts of these networks); the outcomes record |λ₀| and the spectral gap of each ghost.
"""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ghostsym.analysis.speed_minima import (  # noqa: E402
    FIXED_POINT_SPEED_TOL,
    ZERO_EIGENVALUE_TOL,
    find_speed_minima,
    pca_basis,
)
from ghostsym.training import build_config, simulate, train  # noqa: E402
from ghostsym.verification import Outcome, check  # noqa: E402

#: The paper's seed and saved epochs (docs/experiments.md §5.1).
PAPER_SEED = 3
SAVED = {"dcd": (10, 200, 1000, 3000), "dmts": (100, 1000, 50_000, 100_000)}
EPOCHS = {"dcd": 3001, "dmts": 100_001}
#: The full profile trains DMTS for a fifth of the paper's epochs (the early ghost at ~1000
#: is inside it; the final-solution claim is then tested at 20,000): on 2 shared cores the
#: paper's 100,001 epochs take tens of minutes. The paper profile runs the paper's settings.
SAVED_DMTS_FULL = (100, 1000, 10_000, 20_000)
EPOCHS_DMTS_FULL = 20_001
PRESET = {"dcd": "fig5-dcd", "dmts": "fig5-dmts"}
#: "Learned": final/initial loss below this and final accuracy at least LEARNED_ACCURACY.
#: The tanh/sigmoid outputs need a step or two to cross the accuracy thresholds (±0.33, 0.5)
#: at the start of the response window, so 2 of 22 (DCD) steps per trial can stay wrong
#: (accuracy 0.955 at best in practice); 0.9 allows that and nothing more.
LEARNED_RATIO = 0.05
LEARNED_ACCURACY = 0.9
#: The seed survey passes if the bistability → ghost sequence occurs in at least this many
#: surveyed seeds: the paper shows one run and claims no frequency, so the test is that the
#: sequence recurs (is not a one-off of a single network).
SURVEY_MIN_SEEDS = 2
#: A trial is slowed by a ghost when its slowest input-off state is nearer to that ghost than
#: to any other speed minimum *and* within the ghost's reach: speed at most this factor times
#: the ghost's speed. The reach is the Fig. 4 check's: 2 bottleneck half-widths 2·√(c0/c2),
#: where the normal-form speed c0 + c2 s² is (1 + 2²)·c0 = 5 c0 (docs/math.md §2). (With 2·c0,
#: one half-width, the DCD ghost of seed 3 is not reached — speed 0.67 against 0.23 — and
#: the bistability → ghost sequence recurs in 2 of 20 seeds; reported in the outcome.)
BOTTLENECK_SPEED_FACTOR = 5.0
#: Colour range of log10 speed in the PCA plots (docs/experiments.md §5.2: [−6, 0], coolwarm).
LOG_SPEED_RANGE = (-6.0, 0.0)
#: Trial labels (trial i has condition i mod 2 or 4, docs/experiments.md §1.7).
CONDITIONS = {"dcd": ("cue +1", "cue −1"), "dmts": ("(+,+)", "(−,−)", "(−,+)", "(+,−)")}
_MARKERS = {"stable": "o", "saddle": "X", "unstable": "P", "ghost": "D", "slow-point": "^"}


def _key(point) -> str:
    return point.stability if point.kind == "fixed-point" else point.kind


def _input_off_mask(u: np.ndarray) -> np.ndarray:
    """(B, S+1) mask of states x_t (t ≥ 1) from which the next step has no input."""
    B, S = u.shape[:2]
    mask = np.ones((B, S + 1), dtype=bool)
    mask[:, 0] = False  # the random initial state
    mask[:, :S] &= np.all(u == 0, axis=2)
    return mask


def analyse_epoch(cfg, params, epoch: int) -> dict:
    """Speed minima of the network at ``epoch`` seeded from its visited states, and which
    minimum each trial's slowest input-off state is nearest to."""
    from ghostsym.analysis.speed_minima import SpeedEnergy

    sim = simulate(cfg.model, params, cfg.task, seed=cfg.seed, epoch=epoch)
    traj = np.swapaxes(np.asarray(sim["states"]), 0, 1)  # trials × (S+1) × N
    W, b = params["W"], params["b"]
    points = find_speed_minima(W, b, traj.reshape(-1, traj.shape[-1]), cfg.model.activation)
    energy = SpeedEnergy(W, b, cfg.model.activation)
    mask = _input_off_mask(np.asarray(sim["inputs"]))
    trials = []
    trial_speeds = []
    for i, states in enumerate(traj):
        idx = np.flatnonzero(mask[i])
        speeds = np.linalg.norm(np.array([energy.field(x) for x in states[idx]]), axis=1)
        trial_speeds.append((idx, speeds))
        slowest = int(idx[np.argmin(speeds)])
        dists = [float(np.linalg.norm(states[slowest] - p.x)) for p in points]
        nearest = int(np.argmin(dists)) if dists else None
        trials.append(
            {
                "slowest_step": slowest,
                "slowest_speed": float(speeds.min()),
                "median_speed": float(np.median(speeds)),
                "nearest_minimum": nearest,
                "nearest_kind": None if nearest is None else _key(points[nearest]),
                "nearest_distance": None if nearest is None else dists[nearest],
            }
        )
    ghosts = []
    for j, p in enumerate(points):
        if p.kind != "ghost":
            continue
        re = np.sort(np.real(p.eigenvalues))[::-1]
        zero = int(np.argmin(np.abs(p.eigenvalues)))
        others = np.delete(np.real(p.eigenvalues), zero)
        ghosts.append(
            {
                "index": j,
                "speed": p.speed,
                "zero_eigenvalue": float(np.abs(p.eigenvalues[zero])),
                "spectral_gap": float(-others.max()),
                "leading_real_parts": re[:3].tolist(),
                "distance_to_states": p.extras["distance"],
                "trials_slowed": [
                    i
                    for i, t in enumerate(trials)
                    if t["nearest_minimum"] == j
                    and t["slowest_speed"] <= BOTTLENECK_SPEED_FACTOR * p.speed
                ],
                "closest_approach": [
                    _closest_approach(traj[i], idx, speeds, p.x)
                    for i, (idx, speeds) in enumerate(trial_speeds)
                ],
            }
        )
    counts = {k: sum(_key(p) == k for p in points) for k in _MARKERS}
    return {
        "epoch": epoch,
        "loss": float(sim["loss"]),
        "accuracy": float(sim["accuracy"]),
        "counts": counts,
        "points": points,
        "trajectories": traj,
        "trials": trials,
        "ghosts": ghosts,
    }


def _closest_approach(states, idx, speeds, x) -> dict:
    """A trial's nearest input-off state to ``x``: step, distance, and its speed relative to
    the trial's median input-off speed (reported, not tested)."""
    d = np.linalg.norm(states[idx] - x, axis=1)
    k = int(np.argmin(d))
    return {
        "step": int(idx[k]),
        "distance": float(d[k]),
        "speed_over_median": float(speeds[k] / np.median(speeds)),
    }


def analyse_run(task: str, seed: int, epochs: int, saved) -> dict:
    cfg = build_config(preset=PRESET[task], seed=seed, epochs=epochs, checkpoints=saved)
    result = train(cfg)
    return {
        "task": task,
        "seed": seed,
        "history": result.history,
        "seconds": result.seconds,
        "epochs": [analyse_epoch(cfg, result.checkpoints[e], e) for e in saved],
    }


def bistability_then_ghost(run: dict) -> dict:
    """First saved epoch with ≥ 2 stable fixed points (after a first epoch with ≤ 1), and the
    first later saved epoch with a ghost that is nearest to some trial's slowest state."""
    eps = run["epochs"]
    stable = [e["counts"]["stable"] for e in eps]
    bistable = None
    if stable[0] <= 1:
        bistable = next((e["epoch"] for e in eps[1:] if e["counts"]["stable"] >= 2), None)
    ghost = None
    if bistable is not None:
        ghost = next(
            (
                e["epoch"]
                for e in eps
                if e["epoch"] > bistable and any(g["trials_slowed"] for g in e["ghosts"])
            ),
            None,
        )
    return {"stable_counts": stable, "bistable_epoch": bistable, "ghost_epoch": ghost}


def _summary(run: dict) -> list[dict]:
    out = []
    for e in run["epochs"]:
        out.append(
            {
                "epoch": e["epoch"],
                "accuracy": e["accuracy"],
                "counts": e["counts"],
                "ghosts": [{k: v for k, v in g.items() if k != "index"} for g in e["ghosts"]],
                "trials": e["trials"],
            }
        )
    return out


# ---------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------
def plot_training(runs: list[dict], path) -> str:
    """Loss and ‖∂L/∂W‖ against epoch (log-log), saved epochs marked (Fig. 5A/C)."""
    fig, axes = plt.subplots(1, len(runs), figsize=(5.5 * len(runs), 4), squeeze=False)
    for ax, run in zip(axes[0], runs, strict=True):
        hist = run["history"]
        epochs = np.arange(1, len(hist["loss"]) + 1)
        stride = max(1, epochs.size // 20000)
        ax.plot(epochs[::stride], hist["loss"][::stride], color="C0", lw=0.8, label="loss")
        ax.plot(epochs[::stride], hist["grad_norm"][::stride], color="C3", lw=0.8, label="‖∂L/∂W‖")
        for e in run["epochs"]:
            ax.axvline(e["epoch"] + 1, color="0.5", ls="--", lw=0.8)
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="epoch",
            title=f"full rank, {run['task'].upper()}, seed {run['seed']}",
        )
        ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def plot_pca(run: dict, path) -> str:
    """3-D PCA of the trajectories at each saved epoch with the speed minima (Fig. 5B/D):
    PCA fitted on all stored states of all saved epochs; minima coloured by log10 speed and
    marked by class; ghosts annotated with the trials they slow."""
    eps = run["epochs"]
    all_states = np.concatenate(
        [e["trajectories"].reshape(-1, e["trajectories"].shape[-1]) for e in eps]
    )
    mean, basis = pca_basis(all_states, 3)
    pcs = np.concatenate(
        [(all_states - mean) @ basis.T]
        + [((p.x - mean) @ basis.T)[None, :] for e in eps for p in e["points"]]
    )
    pad = 0.05 * (pcs.max(axis=0) - pcs.min(axis=0))
    limits = list(zip(pcs.min(axis=0) - pad, pcs.max(axis=0) + pad, strict=True))
    cols = 2 if len(eps) == 4 else len(eps)
    rows = math.ceil(len(eps) / cols)
    fig = plt.figure(figsize=(6 * cols, 5 * rows))
    cmap = plt.get_cmap("coolwarm")
    norm = matplotlib.colors.Normalize(*LOG_SPEED_RANGE)
    conditions = CONDITIONS[run["task"]]
    for k, e in enumerate(eps):
        ax = fig.add_subplot(rows, cols, k + 1, projection="3d")
        for i, traj in enumerate(e["trajectories"]):
            pc = (traj - mean) @ basis.T
            colour = f"C{i % 10}"
            ax.plot(pc[:, 0], pc[:, 1], pc[:, 2], color=colour, lw=1.2, label=conditions[i % 4])
            ax.scatter(*pc[0], color=colour, s=10)
        for p in e["points"]:
            pc = (p.x - mean) @ basis.T
            logs = math.log10(max(p.speed, 10 ** LOG_SPEED_RANGE[0]))
            ax.scatter(
                *pc,
                marker=_MARKERS[_key(p)],
                s=70,
                color=cmap(norm(logs)),
                edgecolor="k",
                depthshade=False,
                label=_key(p),
            )
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))
        ax.legend(unique.values(), unique.keys(), loc="upper left", fontsize=7, ncol=2)
        slowed = [
            f"ghost slows {', '.join(conditions[t % 4] for t in g['trials_slowed'])}"
            for g in e["ghosts"]
            if g["trials_slowed"]
        ]
        ax.set_title(
            f"epoch {e['epoch']} (acc {e['accuracy']:.2f})"
            + ("\n" + "; ".join(slowed) if slowed else ""),
            fontsize=9,
        )
        ax.set(xlim=limits[0], ylim=limits[1], zlim=limits[2])
        ax.set_xlabel("PC1")
        ax.set_ylabel("PC2")
        ax.set_zlabel("PC3")
    sm = matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, ax=fig.axes, shrink=0.5, pad=0.08, label="log10 speed ‖F‖")
    fig.suptitle(
        f"full rank, {run['task'].upper()}, seed {run['seed']}: trajectories "
        "(one colour per trial) and speed minima"
    )
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return str(path)


# ---------------------------------------------------------------------------------------
# outcomes
# ---------------------------------------------------------------------------------------
def _learns(run: dict, label: str, figure) -> Outcome:
    loss = np.asarray(run["history"]["loss"])
    acc = float(np.asarray(run["history"]["accuracy"])[-1])
    ratio = float(loss[-1] / loss[0])
    return Outcome(
        analytic=f"final/initial loss < {LEARNED_RATIO}, final accuracy >= {LEARNED_ACCURACY}",
        measured={"loss_ratio": ratio, "final_accuracy": acc, "final_loss": float(loss[-1])},
        tolerance={"loss_ratio": LEARNED_RATIO, "accuracy": LEARNED_ACCURACY},
        why="the readout needs one or two steps to cross the accuracy thresholds when the "
        "response window opens; everything else must be right",
        passed=bool(ratio < LEARNED_RATIO and acc >= LEARNED_ACCURACY),
        figure=figure,
        label=label,
        details={"training_seconds": run["seconds"], "seed": run["seed"]},
    )


def _dcd_outcomes(run: dict, fig_train, fig_pca) -> list[Outcome]:
    seq = bistability_then_ghost(run)
    summary = _summary(run)
    bistable = Outcome(
        analytic="<= 1 stable fixed point at the first saved epoch, >= 2 at a later one",
        measured={
            "stable_fixed_points": dict(zip(SAVED["dcd"], seq["stable_counts"], strict=True)),
            "first_bistable_epoch": seq["bistable_epoch"],
        },
        tolerance=f"counts are exact (fixed point: ‖F‖ <= {FIXED_POINT_SPEED_TOL:g}, all Re λ < 0)",
        why="a fixed point of q is a zero of F, found to ‖F‖ ~ 1e-15 by Newton with the exact "
        f"Hessian; {FIXED_POINT_SPEED_TOL:g} separates it from any slow point by orders of "
        "magnitude",
        passed=seq["bistable_epoch"] is not None,
        figure=fig_pca,
        label="dcd-bistability",
        details={"epochs": summary},
    )
    ghost_epoch = seq["ghost_epoch"]
    ghost_info = None
    if ghost_epoch is not None:
        e = next(x for x in run["epochs"] if x["epoch"] == ghost_epoch)
        ghost_info = next(g for g in e["ghosts"] if g["trials_slowed"])
    ghost = Outcome(
        analytic="a ghost (|λ0| <= tol, other Re λ < -tol) after the bistable epoch, nearest "
        "speed minimum to some trial's slowest input-off state",
        measured={
            "ghost_epoch": ghost_epoch,
            "speed": None if ghost_info is None else ghost_info["speed"],
            "zero_eigenvalue": None if ghost_info is None else ghost_info["zero_eigenvalue"],
            "spectral_gap": None if ghost_info is None else ghost_info["spectral_gap"],
            "trials_slowed": None if ghost_info is None else ghost_info["trials_slowed"],
        },
        tolerance=f"zero eigenvalue tol {ZERO_EIGENVALUE_TOL:g} (units of 1/τ)",
        why="JᵀF = 0 at a slow point forces an exact zero eigenvalue (measured ~1e-15); the "
        "transverse eigenvalues are O(0.1), so 1e-3 separates the two by orders of magnitude; "
        "'slows a trial': the trial is slowest nearer the ghost than any other minimum and "
        "within 2 bottleneck half-widths (speed <= 5x the ghost's, the normal form's speed "
        "there), the reach used for the rank-two ghosts of Fig. 4",
        passed=ghost_epoch is not None,
        figure=fig_pca,
        label="dcd-ghost",
        details={"train_figure": fig_train},
    )
    return [bistable, ghost]


def _trials_slowed_by_ghosts(epoch: dict) -> list[int]:
    return sorted({t for g in epoch["ghosts"] for t in g["trials_slowed"]})


def _survey_outcomes(runs: list[dict], figure) -> list[Outcome]:
    rows = []
    for run in runs:
        seq = bistability_then_ghost(run)
        last_two = {e["epoch"]: _trials_slowed_by_ghosts(e) for e in run["epochs"][-2:]}
        rows.append(
            {
                "seed": run["seed"],
                "final_accuracy": float(run["history"]["accuracy"][-1]),
                **seq,
                "ghost_epochs": [e["epoch"] for e in run["epochs"] if e["ghosts"]],
                "final_trials_slowed_by_a_ghost": _trials_slowed_by_ghosts(run["epochs"][-1]),
                "last_two_slowed": last_two,
                # the same single trial type slowed by a ghost at both epochs
                "ghost_persists": all(len(v) == 1 for v in last_two.values())
                and len({tuple(v) for v in last_two.values()}) == 1,
            }
        )
    hits = [r["seed"] for r in rows if r["ghost_epoch"] is not None]
    final_ghost = [r["seed"] for r in rows if len(r["final_trials_slowed_by_a_ghost"]) == 1]
    persisting = [r["seed"] for r in rows if r["ghost_persists"]]
    persists = Outcome(
        analytic="a ghost slowing exactly one trial type, the same one, at each of the last "
        f"two saved epochs (Fig. 5B, final two panels), in >= {SURVEY_MIN_SEEDS} seeds",
        measured={
            "seeds_with_persisting_ghost": persisting,
            "fraction": len(persisting) / len(rows),
            f"seed_{PAPER_SEED}": next(
                (r["last_two_slowed"] for r in rows if r["seed"] == PAPER_SEED), None
            ),
        },
        tolerance=SURVEY_MIN_SEEDS,
        why="the paper's final panels show one network (PyTorch's seed 3, which our RNG cannot "
        "reproduce): the ghost for one cue, a curved trajectory for the other; the claim is "
        "that trained networks use this solution, so it must recur across seeds ('slows' as "
        "in dcd-ghost)",
        passed=len(persisting) >= SURVEY_MIN_SEEDS,
        figure=figure,
        label="dcd-ghost-persists",
    )
    sequence = Outcome(
        analytic=f"bistability -> ghost sequence in >= {SURVEY_MIN_SEEDS} seeds",
        measured={
            "seeds_with_sequence": hits,
            "fraction": len(hits) / len(rows),
            "seeds_with_final_ghost_for_one_trial": final_ghost,
        },
        tolerance=SURVEY_MIN_SEEDS,
        why="the paper shows one network (PyTorch's seed 3, not reproducible with our RNG); "
        "the sequence should recur, not be one network's accident",
        passed=len(hits) >= SURVEY_MIN_SEEDS,
        figure=figure,
        label="dcd-seed-survey",
        details={"seeds": rows},
    )
    return [sequence, persists]


def _dmts_outcomes(run: dict, fig_pca) -> list[Outcome]:
    saved = [e["epoch"] for e in run["epochs"]]
    eps = {e["epoch"]: e for e in run["epochs"]}
    early = eps[saved[1]]
    n_trials = len(early["trials"])
    all_slowed = [g for g in early["ghosts"] if len(g["trials_slowed"]) == n_trials]
    final = eps[saved[-1]]
    n_fixed = sum(final["counts"][k] for k in ("stable", "saddle", "unstable"))
    summary = _summary(run)
    return [
        Outcome(
            analytic=f"at epoch {saved[1]} a ghost nearest to every trial's slowest "
            "input-off state",
            measured={
                "ghosts": [(g["speed"], g["trials_slowed"]) for g in early["ghosts"]],
                "trial_nearest": [t["nearest_kind"] for t in early["trials"]],
            },
            tolerance=f"zero eigenvalue tol {ZERO_EIGENVALUE_TOL:g}",
            why="the paper: by epoch 1001 a ghost delays all trials indiscriminately",
            passed=bool(all_slowed),
            figure=fig_pca,
            label="dmts-early-ghost",
            details={"epochs": summary},
        ),
        Outcome(
            analytic="final network: >= 1 fixed point and >= 1 ghost",
            measured={"counts": final["counts"]},
            tolerance="exact counts",
            why="the paper: the final solution combines fixed points and a ghost",
            passed=bool(n_fixed >= 1 and final["counts"]["ghost"] >= 1),
            figure=fig_pca,
            label="dmts-final-mix",
        ),
    ]


@check(
    id="fig5-full-rank-speed-minima",
    claim="A full-rank RNN learns DCD (and DMTS): speed minima of Eq. 39 show two new stable "
    "fixed points (bistability) during the early loss drop and later a ghost (one zero "
    "eigenvalue, the rest stable) that slows one trial type.",
    reference="Fig. 5",
)
def run(ctx):
    survey_seeds = ctx.pick(range(6), range(20))
    with_dmts = ctx.profile != "quick"
    ctx.progress.set_description("fig5: DCD, paper seed")
    dcd = analyse_run("dcd", PAPER_SEED, EPOCHS["dcd"], SAVED["dcd"])
    runs = [dcd]
    dmts = None
    if with_dmts:
        ctx.progress.set_description("fig5: DMTS, paper seed")
        epochs, saved = ctx.pick(
            None, (EPOCHS_DMTS_FULL, SAVED_DMTS_FULL), (EPOCHS["dmts"], SAVED["dmts"])
        )
        dmts = analyse_run("dmts", PAPER_SEED, epochs, saved)
        runs.append(dmts)
    fig_train = plot_training(runs, ctx.figure_path("training"))
    fig_dcd = plot_pca(dcd, ctx.figure_path("dcd-pca"))
    outcomes = [_learns(dcd, "dcd-learns", fig_train)]
    outcomes += _dcd_outcomes(dcd, fig_train, fig_dcd)
    ctx.progress.set_description("fig5: DCD seed survey")
    survey = [
        dcd if s == PAPER_SEED else analyse_run("dcd", s, EPOCHS["dcd"], SAVED["dcd"])
        for s in survey_seeds
    ]
    outcomes += _survey_outcomes(survey, fig_dcd)
    if dmts is not None:
        fig_dmts = plot_pca(dmts, ctx.figure_path("dmts-pca"))
        outcomes.append(_learns(dmts, "dmts-learns", fig_train))
        outcomes += _dmts_outcomes(dmts, fig_dmts)
    return outcomes
