"""Fig. 3A: a rank-one network learns the DA task through a ghost, without a bifurcation.

A rank-one network (docs/experiments.md §1.1: N = 100, α = 0.5, T = 20, c = 10, κ* = 1, SGD at the
paper's learning rate 0.003, seed 40) is trained on DA. At every checkpoint the certified root
search of ghostsym.analysis.latent_flow finds all fixed points and ghosts of the latent flow
f(κ) = −κ + nᵀtanh(mκ + b).

The order of events is measured, not assumed. The coarse run locates the abrupt drop; the
window around it is re-trained from the checkpoint before it (DA is deterministic, so the
resumed histories are bit-identical — checked) with checkpoints every few epochs, and the
first epoch with a ghost is then pinned to one epoch by re-training the last gap with a
checkpoint per epoch. Definitions:

* **drop onset**: the first epoch whose loss is below (1 − DROP_ONSET_FRACTION) × the
  initial loss (the loss has left its plateau by more than 10 %);
* **ghost birth**: the first analysed epoch whose latent flow has a ghost, i.e. a critical
  point of f with r = a_g·r_g > 0 (a speed minimum with f ≠ 0, Eqs. 26–29);
* **gradient peak of the drop**: the largest gradient norm between the checkpoint before the
  window and the end of the drop (loss < DROP_END_FRACTION × initial).

Outcomes: the network learns; exactly one fixed point at every analysed epoch (no
bifurcation); the gradient peak of the drop lies in the drop; a ghost forms and persists with
small r on the latent path κ0 → κ*; the ghost's birth coincides with the drop at the
resolution of the paper's own flow snapshots (Results text and docs/experiments.md §3.2: "coinciding
with an abrupt loss decay"); and the strict order — the abstract says ghost points *precede*
abrupt transitions, so that outcome passes only if ghost birth < drop onset, and it reports
the measured order either way. (Measured at one-epoch resolution for seeds 0, 1, 2 and 40:
the ghost is born 300–500 epochs *after* the onset, when the single fixed point has already
crossed the threshold and the loss is at ~2 % — a finding the paper's 1000-epoch snapshots
could not resolve.)
"""

import numpy as np

from ghostsym.analysis.bifurcations import BifurcationTrack, analyze_checkpoint
from ghostsym.analysis.plots import plot_rank_one_flows, plot_training_track, save_figure
from ghostsym.training import build_config, train
from ghostsym.verification import Outcome, check

#: The paper's seed and learning rate (docs/experiments.md §3.2).
SEED = 40
LR = 0.003
#: "Learned": final loss below this fraction of the initial loss (Fig. 6B uses 1e-2 on a
#: trainable readout; the fixed σ(10(κ − 1)) readout leaves ≈ 0.015 of oscillating loss).
LEARNED_RATIO = 0.05
#: Drop onset: the loss has fallen by more than this fraction of its initial value. (The
#: plateau itself drifts by < 1 % over its ~35,000 epochs, so 10 % is unambiguous.)
DROP_ONSET_FRACTION = 0.10
#: End of the drop: the loss is below this fraction of its initial value.
DROP_END_FRACTION = 0.10
#: The gradient peak must exceed the plateau's gradient norm by at least this factor to count
#: as an abrupt rise (the plateau gradient: the median gradient norm before the drop onset).
GRADIENT_RISE_FACTOR = 10.0
#: The paper's Fig. 3A script stores the latent flow every 1000 epochs (docs/experiments.md §3.2):
#: its "the ghost emerges coinciding with the abrupt loss decay" is a statement at that resolution.
PAPER_FLOW_SPACING = 1000


class _Resumer:
    """Re-train a window from a checkpoint with denser checkpoints; verify bit-identity."""

    def __init__(self, base_cfg, history):
        self.base_cfg = base_cfg
        self.history = history
        self.bit_identical = True

    def run(self, start_params, start, stop, every):
        n = stop - start
        cfg = self.base_cfg.replace(
            epochs=n, checkpoints=tuple(sorted(set(range(0, n + 1, every)) | {n}))
        )
        result = train(cfg, params=start_params)
        for key in ("loss", "grad_norm"):
            same = np.array_equal(result.history[key], self.history[key][start:stop])
            self.bit_identical &= bool(same)
        return {start + e: p for e, p in result.checkpoints.items()}


def _has_ghost(flow):
    return bool(flow.ghosts)


def _plot_window(path, history, lo, hi, flows, marks, every):
    from ghostsym.analysis.plots import _figure, _save

    fig = _figure(figsize=(7, 6.5))
    axes = fig.subplots(3, 1, sharex=True, height_ratios=(2, 2, 2))
    epochs = np.arange(lo, hi + 1)
    axes[0].plot(epochs, history["loss"][lo : hi + 1], color="C0", lw=1)
    axes[0].set_ylabel("loss")
    axes[0].set_yscale("log")
    axes[1].plot(epochs, history["grad_norm"][lo : hi + 1], color="C3", lw=1)
    axes[1].set_ylabel("gradient norm")
    axes[1].set_yscale("log")
    ep = np.array(sorted(e for e in flows if lo <= e <= hi))
    r = np.array([flows[e].slowest_ghost.r if flows[e].ghosts else np.nan for e in ep])
    axes[2].plot(ep, np.where(r > 0, r, np.nan), "D-", color="C3", ms=2.5, lw=0.8, label="ghost")
    axes[2].plot(
        ep[np.isnan(r)], np.zeros(np.isnan(r).sum()), "|", color="0.5", ms=6, label="no ghost"
    )
    axes[2].set_ylabel(r"ghost $r = a_g r_g$")
    axes[2].set_xlabel(f"epoch (latent flow analysed every {every} epochs, 1 near the birth)")
    styles = {
        "drop onset": ("C0", "--"),
        "steepest descent": ("C2", ":"),
        "gradient peak": ("C4", "-."),
        "ghost birth": ("k", "-"),
    }
    for name, epoch in marks.items():
        if epoch is None:
            continue
        colour, ls = styles[name]
        for i, ax in enumerate(axes):
            ax.axvline(epoch, color=colour, ls=ls, lw=1, label=name if i == 0 else None)
    axes[2].set_xlim(lo, hi)
    axes[0].legend(fontsize=8, loc="lower left")
    axes[2].legend(fontsize=8, loc="upper left")
    axes[0].set_title(r"rank one, DA, $\alpha = 0.003$: fine resolution around the abrupt drop")
    return _save(fig, path)


@check(
    id="fig3a-ghost-forms",
    claim="A rank-one RNN learns DA abruptly without a bifurcation (exactly one fixed point "
    "throughout); the loss drop coincides with a gradient-norm peak; a ghost with small "
    "positive r forms before the abrupt loss drop.",
    reference="Fig. 3A / Eqs. 25-29",
)
def run(ctx):
    epochs, every, fine = ctx.pick((40_000, 200, 10), (60_000, 100, 5), (500_000, 1000, 5))
    cfg = build_config(
        model="rank1", task="da", epochs=epochs, lr=LR, seed=SEED, checkpoint_every=every
    )
    ctx.progress.set_description("fig3a: training")
    result = train(cfg)
    history = {k: np.asarray(v) for k, v in result.history.items()}
    loss, grad = history["loss"], history["grad_norm"]
    l0 = float(loss[0])
    ratio = float(loss[-1] / l0)

    ctx.progress.set_description("fig3a: latent flows (coarse)")
    flows = {e: analyze_checkpoint(result.checkpoints[e], e) for e in sorted(result.checkpoints)}
    coarse = sorted(flows)
    coarse_ghost = next((e for e in coarse if _has_ghost(flows[e])), None)

    below_onset = np.nonzero(loss < (1 - DROP_ONSET_FRACTION) * l0)[0]
    below_end = np.nonzero(loss < DROP_END_FRACTION * l0)[0]
    onset = int(below_onset[0]) if below_onset.size else None
    drop_end = int(below_end[0]) if below_end.size else None

    details: dict = {
        "checkpoint_spacing": every,
        "fine_spacing": fine,
        "initial_loss": l0,
        "drop_onset_epoch": onset,
        "drop_end_epoch": drop_end,
        "coarse_first_ghost_epoch": coarse_ghost,
    }
    resumer = _Resumer(cfg, history)
    params = dict(result.checkpoints)  # epoch -> parameters, coarse and fine

    def analyse(new):
        for e, p in new.items():
            params.setdefault(e, p)
            if e not in flows:
                flows[e] = analyze_checkpoint(p, e)

    marks: dict = {}
    window = None
    ghost_birth = None
    if onset is not None:
        # the window: from the coarse checkpoint before the earlier of (onset, coarse ghost)
        # to the coarse checkpoint at or after the later of (end of drop, coarse ghost)
        first = min(onset, coarse_ghost if coarse_ghost is not None else onset)
        lo = max([e for e in coarse if e < first] or [0])
        last = max(drop_end if drop_end is not None else onset, coarse_ghost or 0)
        hi = min([e for e in coarse if e >= last] or [epochs])
        window = (lo, hi)
        ctx.progress.set_description("fig3a: fine window")
        analyse(resumer.run(params[lo], lo, hi, fine))
        ep = sorted(e for e in flows if lo <= e <= hi)
        birth = next((e for e in ep if _has_ghost(flows[e])), None)
        if birth == lo:
            # a ghost already at the window's first checkpoint: its birth is not in the
            # window, so no order can be claimed
            details["ghost_present_at_window_start"] = lo
            birth = None
        if birth is not None:
            before = max(e for e in ep if e < birth)
            if birth - before > 1:
                # pin the birth to one epoch: re-train the last gap with a checkpoint per epoch
                analyse(resumer.run(params[before], before, birth, 1))
                ep = sorted(e for e in flows if lo <= e <= hi)
                birth = next(e for e in ep if _has_ghost(flows[e]))
        ghost_birth = birth
        steepest = int(lo + np.argmax(-np.diff(loss[lo : hi + 1])) + 1)
        stop = (drop_end if drop_end is not None else hi) + 1
        peak = int(lo + np.argmax(grad[lo:stop]))
        marks = {
            "drop onset": onset,
            "steepest descent": steepest,
            "gradient peak": peak,
            "ghost birth": ghost_birth,
        }
        # the drop happens where the single fixed point crosses the threshold κ* = 1
        crossing = next(
            (e for e in ep if flows[e].fixed_points and min(flows[e].fixed_points) > 1.0), None
        )
        details.update(
            {
                "window": list(window),
                "resumed_history_bit_identical": resumer.bit_identical,
                "steepest_descent_epoch": steepest,
                "grad_peak_epoch": peak,
                "grad_peak": float(grad[peak]),
                "plateau_grad_median": float(np.median(grad[:onset])),
                "global_grad_max_epoch": int(np.argmax(grad)),
                "global_grad_max": float(np.max(grad)),
                "ghost_birth_epoch": ghost_birth,
                "ghost_birth_minus_onset": None if ghost_birth is None else ghost_birth - onset,
                "fixed_point_above_threshold_epoch": crossing,
            }
        )
        if ghost_birth is not None:
            details.update(
                {
                    "loss_at_ghost_birth": float(loss[ghost_birth]),
                    "ghost_at_birth": flows[ghost_birth].slowest_ghost.to_dict(),
                    # κ0 = x0·Σn (x0 = −0.3·1): the ghost should lie on the path κ0 → κ* = 1
                    "kappa0_at_birth": float(
                        cfg.task.initial_state * np.sum(params[ghost_birth]["n"])
                    ),
                    "fixed_point_at_birth": flows[ghost_birth].fixed_points,
                }
            )

    counts = np.array([flows[e].n_fixed_points for e in sorted(flows)])
    track = BifurcationTrack(1, [flows[e] for e in coarse])
    fig_track = save_figure(
        plot_training_track(history, track, title="rank one, DA, lr 0.003"),
        ctx.figure_path("track"),
    )
    # initial, last analysed before the drop onset, ghost birth, final
    analysed = sorted(flows)
    before_onset = max((e for e in analysed if onset is not None and e <= onset), default=None)
    shown = sorted({e for e in (0, before_onset, ghost_birth, epochs) if e in flows})
    flow_plots = [(f"epoch {e}", tuple(params[e][k] for k in ("m", "n", "b"))) for e in shown]
    fig_flows = save_figure(plot_rank_one_flows(flow_plots), ctx.figure_path("flows"))
    fig_window = (
        _plot_window(ctx.figure_path("drop-window"), history, *window, flows, marks, fine)
        if window
        else None
    )
    outcomes = [
        Outcome(
            analytic=f"final/initial loss < {LEARNED_RATIO}",
            measured=ratio,
            tolerance=LEARNED_RATIO,
            why="the fixed readout σ(10(κ−1)) keeps ≈1.5% oscillating loss after learning",
            passed=bool(ratio < LEARNED_RATIO),
            figure=fig_flows,
            label="learns",
            details=details,
        ),
        Outcome(
            analytic=1,
            measured=int(counts.max()),
            tolerance=0,
            why="a bifurcation changes the number of roots of f by two; certified root "
            "search counts every root (no grid misses), at every coarse and fine checkpoint",
            passed=bool(counts.min() == 1 and counts.max() == 1),
            figure=fig_track,
            label="one-fixed-point",
            details={"checkpoints": int(counts.size), "min": int(counts.min())},
        ),
    ]
    if onset is None:
        outcomes.append(
            Outcome("loss drop", None, None, "no abrupt drop in this run", False, label="drop")
        )
        return outcomes
    peak = marks["gradient peak"]
    rise = float(grad[peak] / max(float(np.median(grad[:onset])), 1e-300))
    outcomes.append(
        Outcome(
            analytic=f"gradient peak of the drop within [onset {onset}, end {drop_end}] "
            f"and ≥ {GRADIENT_RISE_FACTOR:g}× the plateau's median gradient",
            measured=f"epoch {peak}, {rise:.0f}× (steepest loss descent at epoch "
            f"{marks['steepest descent']})",
            tolerance=f"≥ {GRADIENT_RISE_FACTOR:g}×",
            why="Fig. 3A: the abrupt loss decay coincides with an abrupt rise of the gradient "
            "norm; per-epoch histories, so the epochs are exact",
            passed=bool(
                onset <= peak <= (drop_end if drop_end is not None else window[1])
                and rise >= GRADIENT_RISE_FACTOR
            ),
            figure=fig_window,
            label="grad-peak-at-drop",
            details=details,
        )
    )
    # the ghost that forms: present from its birth to the end, with 0 < r ≤ r_small, on the
    # latent path κ0 → κ* (κ0 = −0.3 Σn for x0 = −0.3·1)
    delay_tau = cfg.task.delay * cfg.model.alpha
    r_small = (np.pi / delay_tau) ** 2
    final = flows[epochs]
    final_ghost = final.slowest_ghost
    kappa0 = float(cfg.task.initial_state * np.sum(params[epochs]["n"]))
    persists = ghost_birth is not None and all(
        flows[e].ghosts for e in sorted(flows) if e >= ghost_birth
    )
    forms_ok = (
        persists
        and final_ghost is not None
        and 0 < final_ghost.r <= r_small
        and kappa0 < final_ghost.kappa < cfg.model.threshold
    )
    outcomes.append(
        Outcome(
            analytic=f"ghost from its birth to the end, 0 < r ≤ (π/(Tα))² = {r_small:.3g}, "
            f"κ0 < κ_g < κ* = {cfg.model.threshold:g}",
            measured=None
            if final_ghost is None
            else f"final r = {final_ghost.r:.3g}, κ_g = {final_ghost.kappa:.3f}, "
            f"κ0 = {kappa0:.3f}; present at every analysed epoch ≥ birth: {persists}",
            tolerance=f"r ≤ {r_small:.3g}",
            why="a small r means the bottleneck passage π/√r (τ units) lasts at least the "
            "delay T·α; the ghost must lie on the latent path from κ0 to the threshold",
            passed=bool(forms_ok),
            figure=fig_flows,
            label="ghost-forms",
            details={
                **details,
                "final_ghost": None if final_ghost is None else final_ghost.to_dict(),
                "kappa0_final": kappa0,
            },
        )
    )
    # the fine window is a replay of the coarse run: its timings count only if it is one
    replay_ok = resumer.bit_identical
    coincide_ok = (
        replay_ok and ghost_birth is not None and abs(ghost_birth - onset) <= PAPER_FLOW_SPACING
    )
    outcomes.append(
        Outcome(
            analytic=f"|ghost birth − drop onset| ≤ {PAPER_FLOW_SPACING} epochs",
            measured=None
            if ghost_birth is None
            else f"ghost birth {ghost_birth}, drop onset {onset} "
            f"(difference {ghost_birth - onset:+d} epochs, plateau {onset} epochs); "
            f"window replay bit-identical: {replay_ok}",
            tolerance=f"{PAPER_FLOW_SPACING} epochs",
            why="the paper's claim that the ghost's emergence coincides with the abrupt loss "
            f"decay is made from flows stored every {PAPER_FLOW_SPACING} epochs "
            "(docs/experiments.md §3.2), so coincidence means within one of its snapshot "
            "intervals; the fine window must replay the coarse run bit for bit",
            passed=bool(coincide_ok),
            figure=fig_window,
            label="ghost-at-drop",
            details=details,
        )
    )
    birth_ok = replay_ok and ghost_birth is not None and ghost_birth < onset
    order = (
        "no ghost in the window"
        if ghost_birth is None
        else f"ghost birth at epoch {ghost_birth}, {abs(ghost_birth - onset)} epochs "
        f"{'before' if ghost_birth < onset else 'after'} the drop onset {onset}"
    )
    outcomes.append(
        Outcome(
            analytic=f"ghost birth < drop onset ({onset})",
            measured=order,
            tolerance="strict order, 1-epoch resolution at the birth",
            why=f"drop onset = first epoch with loss < {1 - DROP_ONSET_FRACTION:.0%} of the "
            "initial loss; ghost = critical point of f with r = a_g r_g > 0; the birth is "
            "located on checkpoints every "
            f"{fine} epochs and refined to 1 epoch; the paper says the ghost precedes the "
            "abrupt transition",
            passed=bool(birth_ok and ratio < LEARNED_RATIO),
            figure=fig_window,
            label="ghost-before-drop",
            details=details,
        )
    )
    return outcomes
