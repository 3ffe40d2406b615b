"""Fig. 3A: rank-one networks learn the DA task through a ghost, without a bifurcation.

A population of rank-one networks (the ``fig3a`` preset: N = 100, α = 0.5, T = 20, c = 10,
κ* = 1, SGD at the paper's learning rate 0.003; docs/experiments.md §1.1, §3.2), one per seed of
``ctx.seeds(n)``, is trained together (:func:`ghostsym.training.train_many`). The epoch budget
is 1.8× (quick: 60,000 epochs) or 3× (full: 100,000) the plateau length lr × onset ≈ 100 of a
rank-one network (docs/experiments.md §11), ≈ 33,000 epochs at lr 0.003, so that a typical
network drops, forms its ghost and settles within it; a network that does not is reported
as censored and left out of the statements about the drop (it is still counted in
``learns``). The certified root
search of ghostsym.analysis.latent_flow gives all fixed points and ghosts of the latent flow
f(κ) = −κ + nᵀtanh(mκ + b) at every analysed epoch. Definitions, fixed before measuring:

* **drop onset** o: the first epoch whose loss is below 90 % of the initial loss (the plateau
  drifts by < 1 % over its ~30,000 epochs); **drop end**: the first epoch below 10 %;
* **visited ghost**: a critical point of f with r = a_g·r_g > 0 (Eqs. 26–29) whose
  bottleneck |κ − κ_g| ≤ h = √(r_g/a_g) (where the normal form's speed is at most twice its
  minimum r_g) is entered by the latent trajectory κ_{t+1} = κ_t + α f(κ_t) (Eq. 25, exact
  for rank one) from κ_0 = −0.3 Σn over the 2T steps. A ghost *below* κ_0 is visited when κ_0
  lies inside its bottleneck (the trajectory starts in it: class ``starts-inside``), and is
  not when κ_0 lies above it (class ``off-path``); a visited ghost with κ_0 < κ_g is
  ``crossed``. Every network of the population is counted as what it is;
* **ghost present at the onset**: the flow *at epoch o itself* has a visited ghost. The
  parameters of epoch o are re-trained from the stored checkpoint before it (SGD on the
  deterministic DA trial is stateless, so the replay is bit-identical — checked), so the
  order "ghost before or at the onset" is decided at one-epoch resolution: it is the finest
  resolution there is, and no coarser spacing can decide an order that the finding says
  is a few hundred epochs;
* **ghost birth** b: the first epoch from which a visited ghost is present at every analysed
  epoch to the end, found by bisection in the last gap of the stored checkpoints before it,
  each probed epoch replayed from the latest known one (one-epoch resolution; it assumes the
  ghost appears once inside that gap).

Rule: every row is a fraction of networks, and the paper states each effect as what rank-one
networks do ("the latent dynamical system has always had one fixed point"; "the emergence of
a (local) ghost point, which coincided with sharp transitions in both the loss function
(abrupt decay) and the norm of the gradient (abrupt increase)"; the abstract: "ghost points
precede abrupt transitions"), i.e. for (nearly) every network: read as a fraction p ≥
P_CLAIM = 0.9. A row passes when at least k_min of its n networks show the effect, k_min the
largest count whose false-fail probability at p = 0.9 is ≤ 1 % (n = 8: k_min = 5).
``learns``: the final loss is below 5 % of the initial one (the fixed readout σ(10(κ − 1))
leaves ≈ 1.5 % of oscillating loss). ``one-fixed-point``: exactly one fixed point at every
analysed epoch (the stored checkpoints — every 4000 epochs in quick, every 1000, the paper's
flow spacing, in full — and every replayed epoch). ``grad-peak-at-drop``: the largest
gradient norm between onset and end of the drop is at least 10× the plateau's median
gradient norm. ``ghost-forms``: at the end of training the flow has a visited ghost with
0 < r ≤ (π/(Tα))² (its passage π/√r lasts at least the delay) that has persisted from its
birth. ``ghost-before-drop``: a visited ghost is present at the onset. The documented finding
(re-measured here) is that the ghost is born *after* the onset: the row is ``disagrees`` when
the one-sided 99 % Clopper–Pearson upper bound of the fraction is below P_CLAIM; if neither
rule holds, it fails. A row with fewer than 2 counted networks (no count rule reaches 1 %
at p = 0.9; e.g. no network dropped within the budget) is ``skipped`` with the counts
(:func:`ghostsym.verification.population_outcome`), never a fail.

False-fail probability: under the claim (each network shows the effect independently with
probability ≥ 0.9) a row falsely fails with probability false_fail_at_least(k_min, n, 0.9)
≤ 1 % (0.5 % at n = 8, k_min = 5), computed and reported per row; the finding's rule
wrongly fires with probability ≤ 1 % (the Clopper–Pearson bound's coverage).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ghostsym.analysis.bifurcations import analyze_checkpoint
from ghostsym.analysis.latent_flow import RankOneFlow
from ghostsym.analysis.phase_portrait import use_style
from ghostsym.analysis.plots import plot_rank_one_flows, save_figure
from ghostsym.training import PRESETS, build_config, train, train_many
from ghostsym.verification import check, population_outcome

#: The preset whose settings the population uses (lr 0.003, docs/experiments.md §3.2).
PRESET = "fig3a"
#: "(Nearly) every network": the fraction the paper's sentences imply.
P_CLAIM = 0.9
#: Confidence of the finding's Clopper–Pearson bound.
CONFIDENCE = 0.99
#: "Learned": final loss below this fraction of the initial loss.
LEARNED_RATIO = 0.05
#: Drop onset: loss below (1 − this) × initial; drop end: loss below DROP_END × initial.
DROP_ONSET_FRACTION = 0.10
DROP_END = 0.10
#: The gradient peak of the drop must exceed the plateau's median gradient by this factor.
GRADIENT_RISE_FACTOR = 10.0


def settings(ctx) -> dict:
    """Population size, epoch budget and checkpoint spacing of this profile.

    The budget is 1.8× (quick) or 3× (full) the rank-one onset estimate 100/lr
    (docs/experiments.md §11) at the preset's lr, so a typical network drops, forms its ghost
    and settles within it."""
    lr = PRESETS[PRESET]["lr"]
    onset = 100.0 / lr
    n, factor, every = ctx.pick((8, 1.8, 4000), (24, 3.0, 1000))
    return {"n": n, "epochs": int(round(factor * onset / 1000) * 1000), "every": every}


@functools.lru_cache(maxsize=1)
def _trained(seeds: tuple[int, ...], epochs: int, every: int):
    configs = [
        build_config(preset=PRESET, seed=s, epochs=epochs, checkpoint_every=every) for s in seeds
    ]
    return tuple(train_many(configs))


def population(ctx):
    """The trained Fig. 3A population of this run (``ctx.seeds(n)``), trained once per process
    and shared with the ghost-timing and gradient-projection checks."""
    s = settings(ctx)
    ctx.progress.set_description(f"fig3a population: training {s['n']} networks")
    return list(_trained(tuple(ctx.seeds(s["n"])), s["epochs"], s["every"]))


_MEASURED: dict = {}


def measured_population(ctx) -> list[dict]:
    """:func:`measure_network` of every network of :func:`population` (computed once per
    process and shared with gradient-projection)."""
    results = population(ctx)
    key = tuple((r.config.seed, r.config.epochs) for r in results)
    if key not in _MEASURED:
        _MEASURED.clear()
        ctx.progress.set_description("fig3a population: latent flows")
        _MEASURED[key] = [measure_network(r) for r in results]
    return _MEASURED[key]


def latent_trajectory(params, cfg) -> np.ndarray:
    """κ_0 … κ_{2T} of the exact latent map κ ← κ + α f(κ) (Eq. 25) from κ_0 = x_0 Σn."""
    flow = RankOneFlow(params["m"], params["n"], params["b"])
    kappa = np.empty(cfg.task.steps + 1)
    kappa[0] = float(cfg.task.initial_state) * float(np.sum(params["n"]))
    for t in range(cfg.task.steps):
        kappa[t + 1] = kappa[t] + cfg.model.alpha * float(flow(np.array([kappa[t]]))[0])
    return kappa


def classify_ghost(ghost, kappa) -> str:
    """``crossed``, ``starts-inside`` or ``off-path`` (see the module docstring)."""
    h = math.sqrt(ghost.r_g / ghost.a_g)
    if float(np.min(np.abs(kappa - ghost.kappa))) > h:
        return "off-path"
    return "crossed" if kappa[0] < ghost.kappa else "starts-inside"


def visited_ghost(flow, params, cfg):
    """((ghost, class) of the slowest visited ghost of an analysed flow, or None; κ_0 … κ_2T)."""
    kappa = latent_trajectory(params, cfg)
    found = [(g, classify_ghost(g, kappa)) for g in flow.ghosts if g.r > 0]
    found = [(g, c) for g, c in found if c != "off-path"]
    if not found:
        return None, kappa
    return min(found, key=lambda gc: gc[0].r), kappa


class _Network:
    """One trained network: flows at analysed epochs, replays from its checkpoints."""

    def __init__(self, result):
        self.result = result
        self.cfg = result.config
        self.params = dict(result.checkpoints)
        self.flows = {}
        self.visited = {}
        self.replay_identical = True

    def flow(self, epoch):
        if epoch not in self.flows:
            self.flows[epoch] = analyze_checkpoint(self.params[epoch], epoch)
            g, _ = visited_ghost(self.flows[epoch], self.params[epoch], self.cfg)
            self.visited[epoch] = g
        return self.flows[epoch]

    def has_ghost(self, epoch) -> bool:
        self.flow(epoch)
        return self.visited[epoch] is not None

    def replay(self, start, stop, every=1):
        """Parameters of epochs start … stop, re-trained from checkpoint ``start``."""
        n = stop - start
        if n <= 0:
            return
        cfg = self.cfg.replace(epochs=n, checkpoints=tuple(range(every, n + 1, every)))
        out = train(cfg, params=self.params[start])
        for key in ("loss", "grad_norm"):
            same = np.array_equal(out.history[key], self.result.history[key][start:stop])
            self.replay_identical &= bool(same)
        for e, p in out.checkpoints.items():
            self.params.setdefault(start + e, p)

    def replay_to(self, epoch):
        """Parameters of ``epoch``, re-trained from the latest known epoch before it."""
        if epoch not in self.params:
            start = max(e for e in self.params if e < epoch)
            self.replay(start, epoch, every=epoch - start)


def measure_network(result) -> dict:
    """Everything the rows need about one network (a flat dict of numbers and classes)."""
    net = _Network(result)
    loss = np.asarray(result.history["loss"])
    grad = np.asarray(result.history["grad_norm"])
    l0 = float(loss[0])
    epochs = result.config.epochs
    coarse = sorted(result.checkpoints)
    row = {"seed": result.config.seed, "final_over_initial": float(loss[-1] / l0)}
    row["learned"] = bool(row["final_over_initial"] < LEARNED_RATIO)
    below = np.flatnonzero(loss < (1 - DROP_ONSET_FRACTION) * l0)
    onset = int(below[0]) if below.size else None
    ends = np.flatnonzero(loss < DROP_END * l0)
    end = int(ends[0]) if ends.size else None
    row.update(onset=onset, drop_end=end, ghost_at_onset=None, ghost_birth=None)
    row.update(birth_minus_onset=None, grad_peak_epoch=None, grad_rise=None)
    for e in coarse:
        net.flow(e)
    if onset is not None:
        net.replay_to(onset)
        row["ghost_at_onset"] = net.has_ghost(onset)
        # persistent birth: the first stored checkpoint from which every later one has a ghost
        with_ghost = [net.has_ghost(e) for e in coarse]
        first = next((coarse[i] for i in range(len(coarse)) if all(with_ghost[i:])), None)
        birth = None
        if first is not None and first > 0:
            a, b = max(e for e in coarse if e < first), first  # no ghost at a, a ghost at b
            while b - a > 1:
                mid = (a + b) // 2
                net.replay_to(mid)
                if net.has_ghost(mid):
                    b = mid
                else:
                    a = mid
            birth = b
        elif first == 0:
            birth = 0
        row["ghost_birth"] = birth
        row["birth_minus_onset"] = None if birth is None else birth - onset
        stop = (end if end is not None else epochs - 1) + 1
        peak = int(onset + np.argmax(grad[onset:stop]))
        plateau = float(np.median(grad[:onset])) if onset > 0 else float(grad[0])
        row["grad_peak_epoch"] = peak
        row["grad_rise"] = float(grad[peak] / max(plateau, 1e-300))
    counts = [f.n_fixed_points for f in net.flows.values()]
    row["analysed_epochs"] = len(counts)
    row["max_fixed_points"] = int(max(counts))
    row["min_fixed_points"] = int(min(counts))
    final_ghost, kappa = visited_ghost(net.flow(epochs), net.params[epochs], result.config)
    delay_tau = result.config.task.delay * result.config.model.alpha
    r_small = (math.pi / delay_tau) ** 2
    row["final_r"] = None if final_ghost is None else float(final_ghost[0].r)
    row["final_kappa_g"] = None if final_ghost is None else float(final_ghost[0].kappa)
    row["kappa_0"] = float(kappa[0])
    row["ghost_class"] = "none" if final_ghost is None else final_ghost[1]
    row["ghost_forms"] = bool(
        final_ghost is not None
        and row.get("ghost_birth") is not None
        and 0 < final_ghost[0].r <= r_small
    )
    row["replay_bit_identical"] = net.replay_identical
    row["_net"] = net
    return row


def fraction_outcome(
    label, effect, rows, claim, why, figure=None, finding=None, extra=None, columns=("seed",)
):
    """A row deciding "at least k_min of n networks show ``effect``" (module docstring):
    :func:`ghostsym.verification.population_outcome` at p = P_CLAIM, ``skipped`` with the
    counts when too few networks are counted for any rule."""
    out = population_outcome(
        label,
        [bool(effect(r)) for r in rows],
        [r["seed"] for r in rows],
        claim,
        why,
        figure,
        {c: [r.get(c) for r in rows] for c in columns if c != "seed"},
        fraction=P_CLAIM,
        confidence=CONFIDENCE,
        finding=finding,
        findings=finding is not None,
    )
    out.details.update(extra or {})
    return out


def _plot_population(path, rows):
    use_style()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.5, 4.2), constrained_layout=True)
    ax0, ax1 = fig.subplots(1, 2, width_ratios=(3, 2))
    dropped = [r for r in rows if r["onset"] is not None]
    colours = {True: "#0072B2", False: "#D55E00"}
    for r in dropped:
        net = r["_net"]
        loss = np.asarray(net.result.history["loss"])
        e = np.arange(loss.size) - r["onset"]
        sel = (e >= -3000) & (e <= 3000)
        ax0.plot(e[sel], loss[sel] / loss[0], lw=0.8, color=colours[r["ghost_at_onset"]])
        if r["ghost_birth"] is not None and abs(r["birth_minus_onset"]) <= 3000:
            ax0.plot(
                r["birth_minus_onset"],
                loss[r["ghost_birth"]] / loss[0],
                "D",
                ms=4,
                mfc="#E69F00",
                mec="k",
                zorder=5,
            )
    from matplotlib.lines import Line2D

    ax0.axvline(0, color="0.3", ls="--", lw=1)
    ax0.set_yscale("log")
    ax0.set_xlabel(r"epoch $-$ drop onset $o$")
    ax0.set_ylabel(r"$L / L_0$")
    ax0.legend(
        handles=[
            Line2D([], [], color=colours[True], label="ghost present at $o$"),
            Line2D([], [], color=colours[False], label="no ghost at $o$"),
            Line2D([], [], ls="none", marker="D", mfc="#E69F00", mec="k", label="ghost birth $b$"),
            Line2D([], [], color="0.3", ls="--", label=r"onset: $L < 0.9\,L_0$"),
        ],
        fontsize=8,
        loc="lower left",
    )
    seeds = [r["seed"] for r in dropped if r["ghost_birth"] is not None]
    diff = [r["birth_minus_onset"] for r in dropped if r["ghost_birth"] is not None]
    ax1.plot(diff, np.arange(len(diff)), "D", mfc="#E69F00", mec="k", label="$b - o$")
    ax1.axvline(0, color="0.3", ls="--", lw=1, label="drop onset")
    ax1.set_yticks(np.arange(len(diff)), [str(s) for s in seeds], fontsize=7)
    ax1.set_xlabel(r"ghost birth $-$ drop onset (epochs)")
    ax1.set_ylabel("network seed")
    ax1.legend(fontsize=8)
    fig.suptitle(r"rank one, DA, $\alpha_{\mathrm{lr}} = 0.003$: ghost birth and the loss drop")
    return save_figure(fig, path)


@check(
    id="fig3a-ghost-forms",
    claim="Rank-one RNNs learn DA abruptly without a bifurcation (exactly one fixed point "
    "throughout); the loss drop coincides with a gradient-norm peak; a ghost with small "
    "positive r forms, and ghost points precede the abrupt loss drop.",
    reference="Fig. 3A / Eqs. 25-29",
)
def run(ctx):
    rows = measured_population(ctx)
    dropped = [r for r in rows if r["onset"] is not None]
    s = settings(ctx)
    common = {"epochs": s["epochs"], "checkpoint_spacing": s["every"]}
    fig_pop = _plot_population(ctx.figure_path("population"), rows)
    first = next((r for r in rows if r["ghost_birth"] is not None), rows[0])
    net = first["_net"]
    shown = sorted(
        {e for e in (0, first["onset"], first.get("ghost_birth"), net.cfg.epochs) if e is not None}
    )
    fig_flows = save_figure(
        plot_rank_one_flows(
            [(f"epoch {e}", tuple(net.params[e][k] for k in ("m", "n", "b"))) for e in shown]
        ),
        ctx.figure_path("flows"),
    )
    censored = len(rows) - len(dropped)
    replay_ok = all(r["replay_bit_identical"] for r in rows)
    outcomes = [
        fraction_outcome(
            "learns",
            lambda r: r["learned"],
            rows,
            "the network learns the task",
            f"final loss < {LEARNED_RATIO:g} × initial within {s['epochs']} epochs "
            "(the fixed readout keeps ≈ 1.5 % oscillating loss)",
            figure=fig_pop,
            extra=common,
            columns=("seed", "final_over_initial", "onset", "drop_end"),
        ),
        fraction_outcome(
            "one-fixed-point",
            lambda r: r["min_fixed_points"] == 1 and r["max_fixed_points"] == 1,
            rows,
            "the latent flow has exactly one fixed point at every analysed epoch",
            "a bifurcation changes the number of roots of f by two; the certified root search "
            "counts every root, at every stored and every replayed epoch",
            figure=fig_flows,
            columns=("seed", "analysed_epochs", "min_fixed_points", "max_fixed_points"),
        ),
        fraction_outcome(
            "grad-peak-at-drop",
            lambda r: r["grad_rise"] >= GRADIENT_RISE_FACTOR,
            dropped,
            "the gradient norm peaks during the loss drop",
            f"the largest gradient norm from the drop onset to its end is ≥ "
            f"{GRADIENT_RISE_FACTOR:g}× the plateau's median (per-epoch histories); "
            f"{censored} network(s) without a drop in the budget are censored",
            figure=fig_pop,
            columns=("seed", "onset", "drop_end", "grad_peak_epoch", "grad_rise"),
        ),
        fraction_outcome(
            "ghost-forms",
            lambda r: r["ghost_forms"],
            dropped,
            "a visited ghost forms and persists to the end of training",
            "a visited ghost (the latent trajectory enters |κ − κ_g| ≤ √(r_g/a_g); ghosts "
            "below κ_0 count when κ_0 lies in that bottleneck) present from its birth to the "
            "end, with 0 < r ≤ (π/(Tα))²",
            figure=fig_flows,
            columns=("seed", "ghost_birth", "final_r", "final_kappa_g", "kappa_0", "ghost_class"),
        ),
    ]
    before = fraction_outcome(
        "ghost-before-drop",
        lambda r: r["ghost_at_onset"] and replay_ok,
        dropped,
        "a visited ghost is present at the loss-drop onset",
        "the flow at the onset epoch itself (replayed bit-identically from the checkpoint "
        "before it) has a visited ghost: one-epoch resolution; the abstract says ghost points "
        "precede abrupt transitions",
        figure=fig_pop,
        finding="the Fig. 3A ghost is born after the loss-drop onset: few networks have a "
        "ghost at the onset",
        extra={"replay_bit_identical": replay_ok},
        columns=("seed", "onset", "ghost_at_onset", "ghost_birth", "birth_minus_onset"),
    )
    outcomes.append(before)
    return outcomes
