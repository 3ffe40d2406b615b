"""Analysis of a training run directory: what ``ghostsym analyze RUN_DIR`` does.

This is the training-layer side of the dynamics analysis: it reads a run directory
(:func:`ghostsym.training.load_run`), simulates the network where seeds are needed
(:func:`ghostsym.training.simulate`), hands plain parameter arrays and trajectories to
:mod:`ghostsym.analysis` and writes ``analysis.json`` (strict JSON, :func:`ghostsym.io.json_text`)
and the figures. The analysis functions themselves take arrays and return dataclasses.

* rank one/two: :func:`ghostsym.analysis.bifurcations.track_checkpoints` (fixed points,
  ghosts and bifurcation events at every analysed checkpoint), the training-track figure and
  the latent flows (rank one) or the phase portrait of the last checkpoint (rank two);
* rank K ≥ 3: :func:`ghostsym.analysis.latent_rank_k.track_rank_k`, seeded by the states of
  one forward pass per checkpoint;
* full rank: the speed minima of the final network (:mod:`ghostsym.analysis.speed_minima`).

Before any analysis the run is checked (:func:`ghostsym.training.load_run`: config.json
against the saved arrays) and every analysed parameter set must be finite and within
±:data:`~ghostsym.numerics.spec.DIVERGENCE_BOUND` (a diverged run is refused at once, not
analysed in overflow). The output directory must be new, empty or ghostsym's analysis
directory (:func:`ghostsym.io.claim_directory`, kind "analysis"); nothing is written on a
refusal.

Every rank also gets a **story** (:func:`run_story`, ``analysis.json["story"]`` and the paragraph
``ghostsym analyze`` prints): the loss drop by the rule of :func:`loss_drop`, the ghost's birth
(the first analysed checkpoint with a ghost, its r and passage time π/√r), the fixed-point
counts and the saddle-node events; the rank-one latent-flow figure is drawn at the checkpoints
around the drop and the birth (:func:`flow_epochs`).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ghostsym.analysis import plots
from ghostsym.analysis.bifurcations import (
    BifurcationTrack,
    analyze_checkpoint,
    track_checkpoints,
)
from ghostsym.analysis.latent_flow import analyze_rank_two, rank_two_latent_from_factors
from ghostsym.analysis.latent_rank_k import latent_flow_of, minima_summary, track_rank_k
from ghostsym.analysis.points import count_kinds
from ghostsym.analysis.speed_minima import find_speed_minima
from ghostsym.errors import InputError
from ghostsym.io import claim_directory, directory_lock, json_text, write_atomic
from ghostsym.numerics.spec import DIVERGENCE_BOUND
from ghostsym.progress import as_meter
from ghostsym.training import RunRecord, load_run, simulate

#: Checkpoints analysed at most by default (evenly spaced, first and last always included).
MAX_CHECKPOINTS = 200
#: Fraction of the epochs whose median loss is the plateau (first) and the final level (last).
EDGE_FRACTION = 0.1
#: Fraction of the plateau-to-final fall that marks the drop's onset and end.
DROP_LEVEL = 0.1
#: A drop needs the final loss at most this fraction of the plateau (the loss at least halves).
MIN_DROP_RATIO = 0.5
#: :func:`loss_drop`'s rule as analysis.json states it.
DROP_RULE = (
    "plateau = median loss of the first 10 % of epochs, final = median of the last 10 %; a drop "
    "needs final <= 0.5 x plateau; onset = first epoch with loss < plateau - 10 % of "
    "(plateau - final); end = first epoch from the onset on with loss <= final + 10 % of "
    "(plateau - final)"
)


@dataclass
class RunTrack:
    """:func:`track_run`'s result: the bifurcation track of a run and the run it came from."""

    track: BifurcationTrack
    record: RunRecord


def check_range(params, where) -> None:
    """InputError if a parameter of ``params`` is not finite or beyond ±DIVERGENCE_BOUND."""
    for name, value in params.items():
        value = np.asarray(value, dtype=float)
        if not np.all(np.isfinite(value)):
            raise InputError(f"{where}: parameter {name!r} is not finite (the run diverged)")
        largest = float(np.max(np.abs(value))) if value.size else 0.0
        if largest > DIVERGENCE_BOUND:
            raise InputError(
                f"{where}: parameter {name!r} reaches {largest:.3g}, beyond ±"
                f"{DIVERGENCE_BOUND:g} (the run diverged); nothing to analyse there"
            )


def is_legacy_analysis(path) -> bool:
    """An analysis directory written before markers existed (ghostsym's analysis.json)."""
    try:
        doc = json.loads((Path(path) / "analysis.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and {"run_dir", "epochs_analysed", "figures"} <= set(doc)


def track_run(run_dir, epochs=None) -> RunTrack:
    """The bifurcation track of a run directory; ``epochs`` selects checkpoints (default all)."""
    record = load_run(run_dir)
    available = record.checkpoint_epochs
    if epochs is not None:
        missing = sorted(set(epochs) - set(available))
        if missing:
            raise InputError(f"run {str(run_dir)!r} has no checkpoints at epochs {missing}")
        available = sorted(epochs)
    if not available:
        raise InputError(f"run {str(run_dir)!r} has no checkpoints to analyse")
    checkpoints = {e: record.checkpoint(e) for e in available}
    for e, params in checkpoints.items():
        check_range(params, f"{str(run_dir)!r}, checkpoint of epoch {e}")
    activation = record.config.model.activation
    return RunTrack(track_checkpoints(checkpoints, activation), record)


def _select(epochs: list[int], k: int) -> list[int]:
    if len(epochs) <= k:
        return list(epochs)
    idx = np.unique(np.linspace(0, len(epochs) - 1, k).round().astype(int))
    return [epochs[i] for i in idx]


def loss_drop(loss) -> dict:
    """The loss drop of a history by :data:`DROP_RULE` (epoch = index into ``loss``).

    Returns ``{"rule", "epochs", "plateau", "final", "drop": bool, "onset", "end", "width"}``;
    onset/end/width are None without a drop (fewer than two finite values, or the final level
    above ``MIN_DROP_RATIO`` × plateau).
    """
    loss = np.asarray(loss, dtype=float).ravel()
    out = {"rule": DROP_RULE, "epochs": int(loss.size), "plateau": None, "final": None}
    out.update(drop=False, onset=None, end=None, width=None)
    finite = np.isfinite(loss)
    if int(finite.sum()) < 2:
        return out
    edge = max(1, int(np.ceil(EDGE_FRACTION * loss.size)))
    head, tail = loss[:edge], loss[-edge:]
    if not (np.isfinite(head).any() and np.isfinite(tail).any()):
        return out
    plateau, final = float(np.nanmedian(head)), float(np.nanmedian(tail))
    out.update(plateau=plateau, final=final)
    fall = plateau - final
    if not (fall > 0 and final <= MIN_DROP_RATIO * plateau):
        return out
    below = np.flatnonzero(finite & (loss < plateau - DROP_LEVEL * fall))
    if below.size == 0:
        return out
    onset = int(below[0])
    near = np.flatnonzero(finite[onset:] & (loss[onset:] <= final + DROP_LEVEL * fall))
    if near.size == 0:
        return out
    end = onset + int(near[0])
    out.update(drop=True, onset=onset, end=end, width=end - onset)
    return out


def ghost_birth(track) -> dict | None:
    """The first analysed checkpoint with a ghost: epoch, the previous analysed epoch (None
    when the ghost is there from the first), the slowest ghost's r, κ and passage time π/√r."""
    for i, cp in enumerate(track.checkpoints):
        ghost = cp.slowest_ghost
        if ghost is not None:
            return {
                "epoch": int(cp.epoch),
                "previous_epoch": int(track.checkpoints[i - 1].epoch) if i else None,
                "r": float(ghost.r),
                "kappa": ghost.kappa,
                "passage_time": ghost.passage_time,
            }
    return None


def run_story(history, track=None) -> dict:
    """The story of a run: its loss drop (:func:`loss_drop`) and, given a bifurcation track,
    the ghost's birth (:func:`ghost_birth`), the ghost at the last checkpoint, the fixed-point
    counts and the bifurcation events (saddle-node: the count changes by two). Adds "text", the
    paragraph ``ghostsym analyze`` prints."""
    story: dict = {"loss_drop": loss_drop(history.get("loss", []))}
    if track is not None and track.checkpoints:
        counts = track.counts
        events = track.events()
        last = track.checkpoints[-1].slowest_ghost
        story.update(
            ghost_birth=ghost_birth(track),
            final_ghost=None
            if last is None
            else {
                "epoch": int(track.checkpoints[-1].epoch),
                "r": float(last.r),
                "passage_time": last.passage_time,
            },
            checkpoints=len(track.checkpoints),
            fixed_points={
                "min": int(counts.min()),
                "max": int(counts.max()),
                "first": int(counts[0]),
                "last": int(counts[-1]),
            },
            events=events,
            saddle_nodes=[e for e in events if e["saddle_node"]],
        )
    story["text"] = story_text(story)
    return story


def _g(x) -> str:
    return f"{x:.3g}"


def story_text(story: dict) -> str:
    """One short paragraph of :func:`run_story`'s facts."""
    drop = story["loss_drop"]
    if drop["plateau"] is None:
        parts = ["No loss history to read a drop from."]
    elif drop["drop"]:
        parts = [
            f"Loss drop {_g(drop['plateau'])} -> {_g(drop['final'])} from epoch {drop['onset']} "
            f"(onset) to epoch {drop['end']} (end; {drop['width']} epochs; 10 %/90 % of the "
            "fall from the plateau, median of the first 10 % of epochs, to the final level, "
            "median of the last 10 %)."
        ]
    else:
        parts = [
            f"No loss drop: loss {_g(drop['plateau'])} -> {_g(drop['final'])} over "
            f"{drop['epochs']} epochs (a drop needs the final level <= half the plateau)."
        ]
    if "checkpoints" not in story:
        return " ".join(parts)
    birth = story["ghost_birth"]
    if birth is None:
        parts.append(f"No ghost at any of the {story['checkpoints']} analysed checkpoints.")
    else:
        when = (
            f"between epochs {birth['previous_epoch']} and {birth['epoch']}"
            if birth["previous_epoch"] is not None
            else f"present from the first analysed epoch, {birth['epoch']}"
        )
        tp = birth["passage_time"]
        passage = f", passage time pi/sqrt(r) = {_g(tp)} tau" if tp is not None else ""
        parts.append(f"Ghost born {when}: r = {_g(birth['r'])}{passage}.")
        final = story["final_ghost"]
        if final is not None and final["epoch"] != birth["epoch"]:
            parts.append(f"At epoch {final['epoch']} its r = {_g(final['r'])}.")
    fp = story["fixed_points"]
    n = story["checkpoints"]
    if fp["min"] == fp["max"]:
        parts.append(f"{fp['min']} fixed point(s) at each of the {n} analysed checkpoints")
    else:
        parts.append(
            f"Fixed points per checkpoint {fp['min']}-{fp['max']} ({fp['first']} at the first, "
            f"{fp['last']} at the last of {n} analysed checkpoints)"
        )
    sn = story["saddle_nodes"]
    others = len(story["events"]) - len(sn)
    if not story["events"]:
        parts[-1] += "; no bifurcation event (no saddle-node)."
    else:
        where = ", ".join(
            f"{e['epoch_before']}-{e['epoch_after']} ({e['count_before']}->{e['count_after']})"
            for e in sn
        )
        text = f"; {len(sn)} saddle-node event(s)" + (f" between epochs {where}" if sn else "")
        if others:
            text += f" and {others} other change(s) of the count"
        parts[-1] += text + "."
    return " ".join(parts)


def flow_epochs(epochs, story: dict, k: int = 3) -> list[tuple[int, str]]:
    """The checkpoints the rank-one latent-flow figure shows, each with its role: the first;
    the last analysed at or before the drop's onset and the first at or after its end; the one
    before the ghost's birth and the birth; the last. Without a drop or a ghost: ``k`` evenly
    spaced ones (first, middle, last)."""
    epochs = sorted(epochs)
    roles: dict[int, list[str]] = {}

    def add(epoch, role):
        if epoch is not None:
            roles.setdefault(int(epoch), []).append(role)

    add(epochs[0], "first")
    drop = story.get("loss_drop", {})
    if drop.get("drop"):
        add(max((e for e in epochs if e <= drop["onset"]), default=None), "before drop")
        add(min((e for e in epochs if e >= drop["end"]), default=None), "after drop")
    birth = story.get("ghost_birth")
    if birth is not None:
        add(birth["previous_epoch"], "no ghost yet")
        add(birth["epoch"], "ghost born")
    add(epochs[-1], "last")
    if len(roles) <= 2:
        for e in _select(epochs, k):
            add(e, "")
    return [(e, ", ".join(r for r in roles[e] if r)) for e in sorted(roles)]


def _figure(fig, path: Path) -> str:
    return str(plots.save_figure(fig, path))


def analyze_run(run_dir, out_dir, max_checkpoints: int = MAX_CHECKPOINTS, progress=None) -> dict:
    """Analyse a run directory; write ``analysis.json`` and figures into ``out_dir``.

    Rank one/two: the bifurcation track over (at most ``max_checkpoints``) checkpoints, the
    training-track figure (loss, gradient norm, fixed-point count, ghost r) and the latent flow
    at the checkpoints around the loss drop and the ghost's birth (rank one) or the phase
    portrait of the last (rank two). Rank K ≥ 3: the speed minima of the K-dimensional latent
    flow at every analysed checkpoint (seeded by the states of one forward pass, a Sobol set in
    the fixed-point box and the previous checkpoint's minima), the same track, and the final
    minima in the (κ₁, κ₂) and PCA planes. Full rank: speed minima of the final parameters from
    the states of one forward pass. Every rank: ``doc["story"]`` (:func:`run_story`; rank one
    adds ``flow_epochs``, the checkpoints the latent-flow figure shows, :func:`flow_epochs`).
    ``progress`` (True, a meter, or False/None) advances once per analysed checkpoint. Returns
    the JSON document.
    """
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if max_checkpoints < 1:
        raise InputError(f"max_checkpoints must be >= 1, got {max_checkpoints}")
    record = load_run(run_dir)
    checkpoints = {}
    for epoch in _select(record.checkpoint_epochs, max_checkpoints):
        try:
            checkpoints[epoch] = record.checkpoint(epoch)
        except InputError:
            raise
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            raise InputError(
                f"{str(run_dir)!r}: checkpoint of epoch {epoch} is unreadable (corrupt .npz file)"
            ) from None
    if not checkpoints:
        checkpoints = {0: record.params_init}
        if record.params_final is not None:
            checkpoints[record.config.epochs] = record.params_final
    for epoch, params in checkpoints.items():
        check_range(params, f"{str(run_dir)!r}, parameters of epoch {epoch}")
    claim_directory(out_dir, "analysis", legacy=is_legacy_analysis)
    with directory_lock(out_dir, "analysis"):
        return _analyze(record, run_dir, out_dir, checkpoints, progress)


def _analyze(record, run_dir: Path, out_dir: Path, checkpoints: dict, progress) -> dict:
    model = record.config.model
    history = {k: np.asarray(v) for k, v in record.history.items()}
    doc: dict = {
        "run_dir": str(run_dir),
        "model": model.to_dict(),
        "status": record.status,
        "epochs_analysed": sorted(checkpoints),
        "figures": [],
    }
    meter = as_meter(progress)
    full_rank = model.rank is None
    meter.start(1 if full_rank else len(checkpoints), "analyze")
    try:
        if model.rank in (1, 2):
            doc.update(_analyze_low_rank(model, checkpoints, history, out_dir, meter))
        elif not full_rank:
            doc.update(_analyze_rank_k(record, checkpoints, history, out_dir, meter))
        else:
            doc.update(_analyze_full_rank(record, checkpoints, out_dir, run_dir))
            doc["story"] = run_story(history)
            meter.update(1)
    finally:
        meter.close()
    write_atomic(out_dir / "analysis.json", json_text(doc))
    return doc


def _analyze_low_rank(model, checkpoints, history, out_dir: Path, meter) -> dict:
    """Rank one/two: the bifurcation track and its figures."""
    flows = []
    for epoch in sorted(checkpoints):
        flows.append(analyze_checkpoint(checkpoints[epoch], epoch, model.activation))
        meter.update(1)
    track = BifurcationTrack(model.rank, flows)
    story = run_story(history, track)
    track_fig = plots.plot_training_track(history, track, story=story)
    figures = [_figure(track_fig, out_dir / "training_track.png")]
    final = checkpoints[max(checkpoints)]
    if model.rank == 1:
        shown = flow_epochs(checkpoints, story)
        curves = [
            (
                f"epoch {e}" + (f" ({role})" if role else ""),
                (checkpoints[e]["m"], checkpoints[e]["n"], checkpoints[e]["b"]),
            )
            for e, role in shown
        ]
        story["flow_epochs"] = [e for e, _ in shown]
        threshold = float(final.get("kappa_star", model.threshold))
        fig = plots.plot_rank_one_flows(curves, threshold)
        figures.append(_figure(fig, out_dir / "latent_flow.png"))
    else:
        flow = rank_two_latent_from_factors(final["m"], final["n"], final["b"], model.activation)
        fig = plots.plot_phase_portrait(flow, analyze_rank_two(flow))
        figures.append(_figure(fig, out_dir / "phase_portrait.png"))
    return {"story": story, "bifurcations": track.to_dict(), "figures": figures}


def _visited_states(record, params):
    """States of one forward pass of the run's task (trials × time × N), or None."""
    try:
        states = simulate(record.config.model, params, record.config.task, seed=record.config.seed)
    except InputError:
        return None  # e.g. non-finite parameters: the search runs on its other seeds
    return np.swapaxes(np.asarray(states["states"]), 0, 1)


def _analyze_rank_k(record, checkpoints, history, out_dir: Path, meter) -> dict:
    """Rank K ≥ 3: speed minima of the K-dimensional latent flow at every checkpoint, the
    training track and the minima of the final network in the (κ₁, κ₂) and PCA planes."""
    model = record.config.model
    visited = {e: _visited_states(record, p) for e, p in checkpoints.items()}
    visited = {e: v for e, v in visited.items() if v is not None}
    track, analyses = track_rank_k(
        checkpoints, model.activation, visited, rank=model.rank, progress=meter
    )
    final_epoch = max(checkpoints)
    final = analyses[final_epoch]
    minima = plots.plot_latent_minima(
        latent_flow_of(checkpoints[final_epoch], model.activation),
        final,
        visited.get(final_epoch),
        title=f"rank {model.rank}, epoch {final_epoch}: speed minima of the latent flow",
    )
    story = run_story(history, track)
    figures = [
        _figure(
            plots.plot_training_track(history, track, story=story), out_dir / "training_track.png"
        ),
        _figure(minima, out_dir / "latent_minima.png"),
    ]
    ghosts = [(p.speed, e, p) for e, a in analyses.items() for p in a.ghosts]
    slowest = None
    if ghosts:
        speed, epoch, point = min(ghosts, key=lambda t: t[0])
        slowest = {"epoch": epoch, "speed": speed, "kappa": point.x.tolist()}
    return {
        "story": story,
        "bifurcations": track.to_dict(),
        "speed_minima": {"epoch": final_epoch, **final.to_dict()},
        "rank_k": {"per_checkpoint": minima_summary(analyses), "slowest_ghost": slowest},
        "figures": figures,
    }


def _analyze_full_rank(record, checkpoints, out_dir: Path, run_dir: Path) -> dict:
    """Full rank: speed minima of the final parameters from one forward pass's states."""
    model = record.config.model
    final_epoch = max(checkpoints)
    final = checkpoints[final_epoch]
    W = final.get("W")
    if W is None:
        raise InputError(f"{str(run_dir)!r}: full-rank checkpoint without W")
    states = np.asarray(
        simulate(model, final, record.config.task, seed=record.config.seed)["states"]
    )
    trajectories = np.swapaxes(states, 0, 1)  # trials × time × N
    points = find_speed_minima(
        W, final["b"], trajectories.reshape(-1, W.shape[0]), model.activation
    )
    fig = plots.plot_pca_minima(trajectories, points)
    return {
        "speed_minima": {
            "epoch": final_epoch,
            "points": [p.to_dict() for p in points],
            "counts": count_kinds(points),
        },
        "figures": [_figure(fig, out_dir / "speed_minima_pca.png")],
    }
