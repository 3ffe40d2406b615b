"""Fig. 5: full-rank RNNs on DCD (and DMTS) learn the task through fixed points and ghosts.

The paper's setting (docs/experiments.md §5.1): N = 100, SGD lr 1e-2, σ_fr = 0.1, σ_noise = 0.01;
DCD batch 2 for 3001 epochs, DMTS (T = 44) batch 4 for 100,001 epochs. The paper shows one
network (PyTorch's seed 3, which our RNG cannot reproduce); here every statement is about a
population of networks drawn with ``ctx.seeds`` (``--seed`` draws a fresh one), trained
together (:func:`ghostsym.training.train_many`). At the paper's saved epochs every visited
state (r_0 … r_T of every trial) seeds the speed-minimum search of Eq. 39
(:func:`ghostsym.analysis.speed_minima.find_speed_minima`, inputs off), and every minimum is
classified (docs/math.md §1): fixed point (‖F‖ ≤ 1e-9), ghost (‖F‖ > 0, one Jacobian
eigenvalue ≈ 0, every other Re λ < 0), other slow point.

Per network (the paper's claims, docs/experiments.md §5.2):

* **learns**: final/initial loss below LEARNED_RATIO and final accuracy ≥ LEARNED_ACCURACY;
* **bistability**: the first saved epoch has at most one stable fixed point, a later one two
  or more (the two new attractors of the cue-discrimination transition);
* **a ghost slows a trial type** at a saved epoch: a ghost is the speed minimum nearest to
  that trial's slowest input-off state, and that state lies inside the ghost's bottleneck —
  its speed at most twice the ghost's. The factor 2 is the bottleneck's definition, not a
  setting: along the normal form ds/dt = c0 + c2 s² the speed doubles at the half-width
  |s| = √(c0/c2) (docs/math.md §2), the bottleneck of the Fig. 4 analysis;
* **sequence**: bistability, then at a later saved epoch a ghost that slows a trial type;
* **ghost persists**: at each of the last two saved epochs (the paper's final two panels,
  epochs 1001 and 3001 — the claim is made at those two epochs, so they are the resolution it
  needs) a ghost slows exactly one trial type, the same one (the other takes a curved path);
* DMTS (full/paper profiles): **early ghost** — at epoch 1000 a ghost slows every trial
  type ("by epoch 1001 … a ghost … indiscriminately delayed responses for all trials");
  **final mix** — the final network has a fixed point and a ghost.

"≈ 0" for an eigenvalue: at an exact critical point of q with F ≠ 0, JᵀF = 0, so J has an
exact zero eigenvalue; numerically |λ₀| ≤ ‖∇q‖/‖F‖ ≈ 1e-15. The classification tolerance,
1e-3 in units of the leak rate 1/τ (J = −I + diag(φ′)W is centred at −1), sits twelve orders
above that residual and two below the transverse eigenvalues (|Re λ₁| ≈ 0.1–0.5 for the
ghosts of these networks); the details record |λ₀| and the spectral gap of each ghost.

Rule: the paper presents its networks as representative ("we reverse-engineered the inner
workings of two representative RNNs"), so each per-network property above is claimed for at
least half of the networks (p ≥ 1/2). A row passes when at least k_min of the n networks show
it, k_min the largest count with P(Binomial(n, 1/2) < k_min) ≤ 1% (n = 8 in quick: k_min = 1;
n = 20 in full: k_min = 5). The finding rule of every row is the complement at the same
level: the one-sided 99% Clopper–Pearson upper bound of the fraction is below 1/2 (then the
row ``disagrees`` with the paper, with the fraction and its bound as evidence). The two rules
are contiguous (k < k_min exactly when the upper bound is below 1/2), so a row is either a
pass or a disagreement. The documented finding of this check is ``dcd-ghost-persists``:
in our networks the Fig. 5B ghost does not persist to the final two panels.

False-fail probability: at most 1% per row when the claimed fraction is ≥ 1/2 (P(Binomial(n,
1/2) < k_min), computed and reported per row: 0.39% for n = 8, 0.59% for n = 20), assuming the
networks are independent draws (independent seeds); the chance of a false ``disagrees`` is the
same number.
"""

import math

import numpy as np

from ghostsym.analysis.phase_portrait import new_figure
from ghostsym.analysis.speed_minima import (
    FIXED_POINT_SPEED_TOL,
    ZERO_EIGENVALUE_TOL,
    find_speed_minima,
    pca_basis,
)
from ghostsym.training import build_config, simulate, train_many
from ghostsym.verification import Outcome, check, population_outcome

#: The paper's saved epochs (docs/experiments.md §5.1).
SAVED = {"dcd": (10, 200, 1000, 3000), "dmts": (100, 1000, 50_000, 100_000)}
EPOCHS = {"dcd": 3001, "dmts": 100_001}
#: DMTS runs the paper's schedule (100,001 epochs, its saved epochs) in the full and paper
#: profiles: the 8 networks train together in about 4 minutes on 2 cores, and a shorter
#: budget (20,001 epochs, used before) reported networks that had not learned yet as a
#: finding against the paper (dmts-learns 0 of 8). Quick does not train DMTS.
PRESET = {"dcd": "fig5-dcd", "dmts": "fig5-dmts"}
#: Networks per population (quick, full, paper): 8 is the smallest n for which a rule at
#: p = 1/2 has a false-fail probability ≤ 1% (P(Bin(7, 1/2) = 0) = 0.78% would allow 7, but 8
#: leaves a margin); 20 gives k_min = 5 (a rule that rejects fractions well below 1/2).
POPULATION = {"quick": 8, "full": 20, "paper": 20}
DMTS_POPULATION = {"full": 8, "paper": 8}
#: The rows' rule: ghostsym.verification.population_outcome at its defaults (a claimed
#: fraction of 1/2, 99 % confidence; rows counted over fewer than 7 networks are skipped).
#: "Learned": final/initial loss below this and final accuracy at least LEARNED_ACCURACY.
#: The tanh/sigmoid outputs need a step or two to cross the accuracy thresholds (±0.33, 0.5)
#: at the start of the response window, so 2 of 22 (DCD) steps per trial can stay wrong
#: (accuracy 0.955 at best in practice); 0.9 allows that and nothing more.
LEARNED_RATIO = 0.05
LEARNED_ACCURACY = 0.9
#: A trial's slowest state is inside a ghost's bottleneck when its speed is at most this
#: factor × the ghost's speed: the normal form's speed doubles at the half-width (module
#: docstring; fixed by the theory, not chosen).
BOTTLENECK_SPEED_FACTOR = 2.0
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
                # slowest-state speed / ghost speed of the trials nearest to this ghost
                # (<= BOTTLENECK_SPEED_FACTOR: inside its bottleneck; NaN: no trial nearest)
                "nearest_speed_ratio": min(
                    (t["slowest_speed"] / p.speed for t in trials if t["nearest_minimum"] == j),
                    default=math.nan,
                ),
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


def analyse_population(task: str, seeds, epochs: int, saved, progress=None) -> list[dict]:
    """Train one network per seed together (train_many) and analyse its saved epochs."""
    cfgs = [
        build_config(preset=PRESET[task], seed=s, epochs=epochs, checkpoints=saved) for s in seeds
    ]
    results = train_many(cfgs, progress=progress)
    runs = []
    for cfg, result in zip(cfgs, results, strict=True):
        analysed = [
            analyse_epoch(cfg, result.checkpoints[e], e) for e in saved if e in result.checkpoints
        ]
        runs.append(
            {
                "task": task,
                "seed": cfg.seed,
                "history": result.history,
                "seconds": result.seconds,
                "diverged": result.diverged_epoch is not None,
                "epochs": analysed,
            }
        )
    return runs


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


def _trials_slowed_by_ghosts(epoch: dict) -> list[int]:
    return sorted({t % 4 for g in epoch["ghosts"] for t in g["trials_slowed"]})


def network_flags(run: dict) -> dict:
    """The per-network properties of the module docstring."""
    loss = np.asarray(run["history"]["loss"], dtype=float)
    acc = float(np.asarray(run["history"]["accuracy"])[-1])
    ratio = float(loss[-1] / loss[0]) if loss[0] > 0 else math.inf
    complete = len(run["epochs"]) == len(SAVED[run["task"]]) or run["task"] == "dmts"
    seq = bistability_then_ghost(run) if run["epochs"] else {}
    last_two = [_trials_slowed_by_ghosts(e) for e in run["epochs"][-2:]]
    any_ghost = any(_trials_slowed_by_ghosts(e) for e in run["epochs"])
    return {
        "learns": bool(not run["diverged"] and ratio < LEARNED_RATIO and acc >= LEARNED_ACCURACY),
        "loss_ratio": ratio,
        "final_accuracy": acc,
        "bistable_epoch": seq.get("bistable_epoch"),
        "ghost_epoch": seq.get("ghost_epoch"),
        "bistability": complete and seq.get("bistable_epoch") is not None,
        "ghost": complete and any_ghost,
        "sequence": complete and seq.get("ghost_epoch") is not None,
        "persists": complete
        and len(last_two) == 2
        and all(len(v) == 1 for v in last_two)
        and last_two[0] == last_two[1],
        "last_two_slowed": " / ".join(",".join(map(str, v)) or "-" for v in last_two),
    }


def _ghost_table(runs) -> list[dict]:
    rows = []
    for run in runs:
        for e in run["epochs"]:
            for g in e["ghosts"]:
                rows.append(
                    {
                        "seed": run["seed"],
                        "epoch": e["epoch"],
                        "speed": g["speed"],
                        "zero_eigenvalue": g["zero_eigenvalue"],
                        "spectral_gap": g["spectral_gap"],
                        "trials_slowed": ",".join(map(str, g["trials_slowed"])) or "-",
                        "nearest_speed_ratio": g["nearest_speed_ratio"],
                    }
                )
    return rows


# ---------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------
def plot_training(runs: list[dict], path) -> str:
    """Loss of every network of the population against epoch (log-log), saved epochs
    marked (Fig. 5A/C); the first network's gradient norm."""
    fig = new_figure(figsize=(6.5, 4))
    ax = fig.subplots()
    for i, run in enumerate(runs):
        hist = run["history"]
        epochs = np.arange(1, len(hist["loss"]) + 1)
        ax.plot(
            epochs,
            hist["loss"],
            color="C0",
            lw=0.6,
            alpha=0.5,
            label=r"loss $L$ (each network)" if i == 0 else None,
        )
    first = runs[0]["history"]
    ax.plot(
        np.arange(1, len(first["grad_norm"]) + 1),
        first["grad_norm"],
        color="C1",
        lw=0.6,
        label=r"$\|\partial L/\partial W\|$ (first network)",
    )
    for j, e in enumerate(
        SAVED[runs[0]["task"]]
        if runs[0]["task"] == "dcd"
        else [x["epoch"] for x in runs[0]["epochs"]]
    ):
        ax.axvline(e + 1, color="0.5", ls="--", lw=0.8, label="saved epochs" if j == 0 else None)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="epoch",
        title=f"full rank, {runs[0]['task'].upper()}: {len(runs)} networks",
    )
    ax.legend(loc="lower left", fontsize=8)
    fig.savefig(path, dpi=110)
    return str(path)


def plot_pca(run: dict, path) -> str:
    """3-D PCA of one network's trajectories at each saved epoch with its speed minima
    (Fig. 5B/D): PCA fitted on all stored states of all saved epochs; minima coloured by
    log10 speed and marked by class; ghosts annotated with the trial types they slow."""
    import matplotlib

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
    fig = new_figure(figsize=(6 * cols, 5 * rows))
    cmap = matplotlib.colormaps["coolwarm"]
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
            f"epoch {e['epoch']} (accuracy {e['accuracy']:.2f})"
            + ("\n" + "; ".join(slowed) if slowed else ""),
            fontsize=9,
        )
        ax.set(xlim=limits[0], ylim=limits[1], zlim=limits[2])
        ax.set_xlabel(r"$\mathrm{PC}_1$")
        ax.set_ylabel(r"$\mathrm{PC}_2$")
        ax.set_zlabel(r"$\mathrm{PC}_3$")
    sm = matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, ax=fig.axes, shrink=0.5, pad=0.08, label=r"$\log_{10}\|F(x)\|$")
    fig.suptitle(
        f"full rank, {run['task'].upper()}, seed {run['seed']} (first of the population): "
        "trajectories (one colour per trial type) and speed minima"
    )
    fig.savefig(path, dpi=90)
    return str(path)


# ---------------------------------------------------------------------------------------
# outcomes
# ---------------------------------------------------------------------------------------
def _dcd_outcomes(runs, fig_train, fig_pca) -> list[Outcome]:
    seeds = [r["seed"] for r in runs]
    flags = [network_flags(r) for r in runs]
    col = {k: [f[k] for f in flags] for k in flags[0]}
    numbers = {
        "loss_ratio": col["loss_ratio"],
        "final_accuracy": col["final_accuracy"],
        "bistable_epoch": [-1 if e is None else e for e in col["bistable_epoch"]],
        "ghost_epoch": [-1 if e is None else e for e in col["ghost_epoch"]],
        "last_two_slowed": col["last_two_slowed"],
    }
    ghosts = _ghost_table(runs)
    return [
        population_outcome(
            "dcd-learns",
            col["learns"],
            seeds,
            f"final/initial loss < {LEARNED_RATIO} and final accuracy >= {LEARNED_ACCURACY}",
            "the readout needs one or two steps to cross the accuracy thresholds when the "
            "response window opens; everything else must be right",
            fig_train,
            {k: numbers[k] for k in ("loss_ratio", "final_accuracy")},
        ),
        population_outcome(
            "dcd-bistability",
            col["bistability"],
            seeds,
            "<= 1 stable fixed point at the first saved epoch, >= 2 at a later one",
            f"fixed point: ‖F‖ <= {FIXED_POINT_SPEED_TOL:g} after Newton with the exact Hessian "
            "(found to ~1e-15), all Re λ < 0; counts are exact",
            fig_pca,
            {"bistable_epoch": numbers["bistable_epoch"]},
        ),
        population_outcome(
            "dcd-ghost",
            col["ghost"],
            seeds,
            "at a saved epoch a ghost slows a trial type (its slowest input-off state is "
            "nearest to the ghost and inside its bottleneck, speed <= 2x the ghost's)",
            f"ghost: one |λ| <= {ZERO_EIGENVALUE_TOL:g} (JᵀF = 0 forces an exact zero, measured "
            "~1e-15), the others Re λ < 0; the bottleneck is where the normal-form speed "
            "c0 + c2 s² has doubled (docs/math.md §2); -1 in the table: never",
            fig_pca,
            {"ghost_epoch": numbers["ghost_epoch"]},
        ),
        population_outcome(
            "dcd-seed-survey",
            col["sequence"],
            seeds,
            "bistability, then at a later saved epoch a ghost that slows a trial type",
            "the order of the paper's account (two new fixed points during the early drop, "
            "'at later stages' a ghost); ghosts as in dcd-ghost",
            fig_pca,
            {"bistable_epoch": numbers["bistable_epoch"], "ghost_epoch": numbers["ghost_epoch"]},
        ),
        population_outcome(
            "dcd-ghost-persists",
            col["persists"],
            seeds,
            "a ghost slows exactly one trial type, the same one, at each of the last two "
            "saved epochs (Fig. 5B, final two panels)",
            "the paper's final panels (epochs 1001, 3001): the ghost delays one cue, a curved "
            "trajectory the other; the table lists the trial types slowed at the two epochs",
            fig_pca,
            {"last_two_slowed": numbers["last_two_slowed"]},
            finding="in our networks the Fig. 5B ghost does not persist: fewer than half "
            "have a ghost slowing one trial type at both final saved epochs",
        ),
    ], ghosts


def _dmts_outcomes(runs, fig_train, fig_pca) -> list[Outcome]:
    seeds = [r["seed"] for r in runs]
    early, final, learns = [], [], []
    for run in runs:
        f = network_flags(run)
        learns.append(f["learns"])
        eps = {e["epoch"]: e for e in run["epochs"]}
        e1 = eps.get(1000)
        early.append(bool(e1 and len(_trials_slowed_by_ghosts(e1)) == 4))
        last = run["epochs"][-1] if run["epochs"] else None
        n_fixed = sum(last["counts"][k] for k in ("stable", "saddle", "unstable")) if last else 0
        final.append(bool(last and n_fixed >= 1 and last["counts"]["ghost"] >= 1))
    return [
        population_outcome(
            "dmts-learns",
            learns,
            seeds,
            f"final/initial loss < {LEARNED_RATIO} and final accuracy >= {LEARNED_ACCURACY}",
            "as for DCD",
            fig_train,
        ),
        population_outcome(
            "dmts-early-ghost",
            early,
            seeds,
            "at epoch 1000 ghosts slow all four trial types",
            "the paper: by epoch 1001 a ghost delays all trials "
            "indiscriminately ('slows' as in dcd-ghost)",
            fig_pca,
        ),
        population_outcome(
            "dmts-final-mix",
            final,
            seeds,
            "final network: >= 1 fixed point and >= 1 ghost",
            "the paper: the final solution combines fixed points and a ghost",
            fig_pca,
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
    n = POPULATION[ctx.profile]
    ctx.progress.set_description(f"fig5: DCD, {n} networks")
    dcd = analyse_population("dcd", ctx.seeds(n), EPOCHS["dcd"], SAVED["dcd"], ctx.progress)
    fig_train = plot_training(dcd, ctx.figure_path("training"))
    fig_dcd = plot_pca(dcd[0], ctx.figure_path("dcd-pca"))
    outcomes, ghosts = _dcd_outcomes(dcd, fig_train, fig_dcd)
    outcomes[2].details["ghosts"] = ghosts
    if ctx.profile != "quick":
        m = DMTS_POPULATION[ctx.profile]
        epochs, saved = EPOCHS["dmts"], SAVED["dmts"]
        ctx.progress.set_description(f"fig5: DMTS, {m} networks")
        # a different population from the DCD one (seeds after the DCD networks')
        dmts = analyse_population("dmts", ctx.seeds(n + m)[n:], epochs, saved, ctx.progress)
        fig_dmts_train = plot_training(dmts, ctx.figure_path("dmts-training"))
        fig_dmts = plot_pca(dmts[0], ctx.figure_path("dmts-pca"))
        outcomes += _dmts_outcomes(dmts, fig_dmts_train, fig_dmts)
    return outcomes
