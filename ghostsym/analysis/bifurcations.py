"""Bifurcation tracking over training (Fig. 3A-B): fixed points and ghosts at every checkpoint.

For each checkpoint of a rank-one network the latent flow f(κ) = −κ + nᵀφ(mκ + b) is analysed
with the certified root search of :mod:`ghostsym.analysis.latent_flow`: the number and kinds
of its fixed points and its ghosts (r > 0). Between consecutive checkpoints a change of the
fixed-point count is a **bifurcation event**; a change by two is the signature of a
saddle-node (a pair created or annihilated). The paper's claims are read off directly:
bifurcation-free learning keeps the count at one (Fig. 3A), a too-large learning rate
produces an event and the no-learning zone (Fig. 3B).

Rank-two checkpoints (``m``, ``n`` of shape (N, 2)) are analysed with the 2-D latent flow
(REFERENCE.md §4.3); rank K ≥ 3 with the K-dimensional latent flow of
:mod:`ghostsym.analysis.latent_rank_k` (:func:`analyze_run`; seeded, not certified, search);
full-rank networks by the speed minima of their final parameters
(:mod:`ghostsym.analysis.speed_minima`).

Input: a mapping ``{epoch: {"m": …, "n": …, "b": …}}`` or a run directory of
:func:`ghostsym.training.run_training`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ghostsym.analysis.latent_flow import (
    analyze_rank_one,
    analyze_rank_two,
    rank_two_latent_from_factors,
)
from ghostsym.analysis.latent_rank_k import ghost_entry
from ghostsym.errors import InputError


@dataclass
class CheckpointFlow:
    """The latent flow's fixed points and ghosts at one checkpoint."""

    epoch: int
    n_fixed_points: int
    fixed_point_kinds: list[str]
    fixed_points: list[float | list[float]]
    ghosts: list[dict]

    @property
    def slowest_ghost(self) -> dict | None:
        """The ghost with the smallest r (longest passage): the bottleneck that sets timing."""
        return min(self.ghosts, key=lambda g: g["r"]) if self.ghosts else None


@dataclass
class BifurcationTrack:
    """Fixed-point count, events and ghost r over a sequence of checkpoints."""

    rank: int
    checkpoints: list[CheckpointFlow]
    extras: dict = field(default_factory=dict)

    @property
    def epochs(self) -> np.ndarray:
        return np.array([c.epoch for c in self.checkpoints], dtype=int)

    @property
    def counts(self) -> np.ndarray:
        return np.array([c.n_fixed_points for c in self.checkpoints], dtype=int)

    @property
    def ghost_r(self) -> np.ndarray:
        """r of the slowest ghost per checkpoint (NaN where there is none)."""
        return np.array(
            [c.slowest_ghost["r"] if c.slowest_ghost else np.nan for c in self.checkpoints]
        )

    @property
    def ghost_kappa(self) -> np.ndarray:
        return np.array(
            [
                c.slowest_ghost["kappa"] if c.slowest_ghost and self.rank == 1 else np.nan
                for c in self.checkpoints
            ]
        )

    def events(self) -> list[dict]:
        """Consecutive checkpoints between which the fixed-point count changes."""
        out = []
        cps = self.checkpoints
        for before, after in zip(cps[:-1], cps[1:], strict=True):
            if before.n_fixed_points != after.n_fixed_points:
                change = after.n_fixed_points - before.n_fixed_points
                out.append(
                    {
                        "epoch_before": before.epoch,
                        "epoch_after": after.epoch,
                        "count_before": before.n_fixed_points,
                        "count_after": after.n_fixed_points,
                        "saddle_node": abs(change) == 2,
                    }
                )
        return out

    @property
    def bifurcation_free(self) -> bool:
        return not self.events()

    def to_dict(self) -> dict:
        return {
            "rank": self.rank,
            "epochs": self.epochs.tolist(),
            "fixed_point_counts": self.counts.tolist(),
            "max_fixed_points": int(self.counts.max()) if self.checkpoints else 0,
            "events": self.events(),
            "ghost_r": [None if np.isnan(r) else float(r) for r in self.ghost_r],
            "checkpoints": [asdict(c) for c in self.checkpoints],
            **self.extras,
        }


def analyze_checkpoint(params: Mapping[str, np.ndarray], epoch: int = 0, nonlinearity="tanh"):
    """:class:`CheckpointFlow` of one low-rank parameter dict (keys m, n, b)."""
    missing = {"m", "n", "b"} - set(params)
    if missing:
        raise InputError(
            f"checkpoint at epoch {epoch} lacks low-rank parameters {sorted(missing)} "
            "(bifurcation tracking needs a rank-one or rank-two network)"
        )
    m, n, b = (np.asarray(params[k], dtype=float) for k in ("m", "n", "b"))
    rank = 1 if m.ndim == 1 else m.shape[1]
    if rank == 1:
        res = analyze_rank_one(m.ravel(), n.ravel(), b)
        ghosts = [
            {"kappa": g.kappa, "r_g": g.r_g, "a_g": g.a_g, "r": g.r, "passage_time": g.passage_time}
            for g in res.ghosts
        ]
        return CheckpointFlow(
            int(epoch),
            res.n_fixed_points,
            [p.kind for p in res.fixed_points],
            [p.kappa for p in res.fixed_points],
            ghosts,
        )
    if rank == 2:
        flow = rank_two_latent_from_factors(m, n, b, nonlinearity)
        res = analyze_rank_two(flow)
        fps = [p for p in res["points"] if p.kind == "fixed-point"]
        ghosts = [ghost_entry(flow, p) for p in res["points"] if p.kind == "ghost"]
        return CheckpointFlow(
            int(epoch), len(fps), [p.stability for p in fps], [p.x.tolist() for p in fps], ghosts
        )
    raise InputError(f"bifurcation tracking supports rank 1 and 2, got rank {rank}")


def track_checkpoints(checkpoints: Mapping[int, Mapping[str, np.ndarray]], nonlinearity="tanh"):
    """Analyse every checkpoint (sorted by epoch) and return a :class:`BifurcationTrack`.

    For rank two the ghost ``r`` field is q = ½‖F‖² at the ghost (its speed energy), the
    natural multi-dimensional analogue; rank one reports the canonical r = a_g r_g.
    """
    if not checkpoints:
        raise InputError("no checkpoints to analyse")
    flows = [analyze_checkpoint(checkpoints[e], e, nonlinearity) for e in sorted(checkpoints)]
    m = np.asarray(checkpoints[min(checkpoints)]["m"])
    return BifurcationTrack(1 if m.ndim == 1 else m.shape[1], flows)


def track_run(run_dir, epochs=None):
    """(track, run record) for a run directory; ``epochs`` selects checkpoints (default all)."""
    from ghostsym.training import load_run

    record = load_run(Path(run_dir))
    available = record.checkpoint_epochs
    if epochs is not None:
        missing = sorted(set(epochs) - set(available))
        if missing:
            raise InputError(f"run {str(run_dir)!r} has no checkpoints at epochs {missing}")
        available = sorted(epochs)
    if not available:
        raise InputError(f"run {str(run_dir)!r} has no checkpoints to analyse")
    checkpoints = {e: record.checkpoint(e) for e in available}
    activation = record.config.model.activation
    return track_checkpoints(checkpoints, activation), record


# ---------------------------------------------------------------------------------------------
# A whole run directory
# ---------------------------------------------------------------------------------------------


def _load_run(run_dir: Path):
    import zipfile

    from ghostsym.training import load_run

    if not run_dir.exists():
        raise InputError(f"run directory {str(run_dir)!r} does not exist")
    if not run_dir.is_dir():
        raise InputError(f"{str(run_dir)!r} is not a directory")
    try:
        return load_run(run_dir)
    except InputError:
        raise
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise InputError(f"{str(run_dir)!r}: incomplete or corrupt run directory ({exc})") from None


def _select(epochs: list[int], k: int) -> list[int]:
    if len(epochs) <= k:
        return list(epochs)
    idx = np.unique(np.linspace(0, len(epochs) - 1, k).round().astype(int))
    return [epochs[i] for i in idx]


def analyze_run(run_dir, out_dir, max_checkpoints: int = 200) -> dict:
    """Analyse a run directory; write ``analysis.json`` and figures into ``out_dir``.

    Rank one/two: :func:`track_checkpoints` over (at most ``max_checkpoints``) checkpoints,
    the training-track figure (loss, gradient norm, fixed-point count, ghost r) and the
    latent flow at the first, middle and last analysed checkpoint (rank one) or the phase
    portrait of the last (rank two). Rank K ≥ 3: the speed minima of the K-dimensional latent
    flow at every analysed checkpoint (seeded by the states of one forward pass, a Sobol set
    in the fixed-point box and the previous checkpoint's minima), the same track, and the
    final minima in the (κ₁, κ₂) and PCA planes. Full rank: speed minima of the final
    parameters from the states of one forward pass. Returns the JSON document.
    """
    import json
    import zipfile

    from ghostsym.analysis import plots
    from ghostsym.io import write_atomic

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if max_checkpoints < 1:
        raise InputError(f"max_checkpoints must be >= 1, got {max_checkpoints}")
    record = _load_run(run_dir)
    model = record.config.model
    checkpoints = {}
    for epoch in _select(record.checkpoint_epochs, max_checkpoints):
        try:
            checkpoints[epoch] = record.checkpoint(epoch)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            raise InputError(
                f"{str(run_dir)!r}: checkpoint of epoch {epoch} is unreadable (corrupt .npz file)"
            ) from None
    if not checkpoints:
        checkpoints = {0: record.params_init}
        if record.params_final is not None:
            checkpoints[record.config.epochs] = record.params_final
    history = {k: np.asarray(v) for k, v in record.history.items()}
    doc: dict = {
        "run_dir": str(run_dir),
        "model": model.to_dict(),
        "status": record.status,
        "epochs_analysed": sorted(checkpoints),
        "figures": [],
    }
    final_epoch = max(checkpoints)
    final = checkpoints[final_epoch]
    if model.rank in (1, 2):
        track = track_checkpoints(checkpoints, model.activation)
        doc["bifurcations"] = track.to_dict()
        doc["figures"].append(
            str(plots.plot_training_track(history, track, out_dir / "training_track.png"))
        )
        if model.rank == 1:
            epochs = sorted(checkpoints)
            shown = sorted({epochs[0], epochs[len(epochs) // 2], epochs[-1]})
            flows = [
                (f"epoch {e}", (checkpoints[e]["m"], checkpoints[e]["n"], checkpoints[e]["b"]))
                for e in shown
            ]
            threshold = float(final.get("kappa_star", model.threshold))
            doc["figures"].append(
                str(plots.plot_rank_one_flows(flows, out_dir / "latent_flow.png", threshold))
            )
        else:
            flow = rank_two_latent_from_factors(
                final["m"], final["n"], final["b"], model.activation
            )
            res = analyze_rank_two(flow)
            doc["figures"].append(
                str(plots.plot_phase_portrait(flow, res, out_dir / "phase_portrait.png"))
            )
    elif model.rank is not None:
        extra = _analyze_rank_k(record, checkpoints, out_dir, history)
        doc["figures"] += extra.pop("figures")
        doc.update(extra)
    else:
        from ghostsym.analysis.speed_minima import find_speed_minima
        from ghostsym.training import simulate

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
        doc["speed_minima"] = {
            "epoch": final_epoch,
            "points": [p.to_dict() for p in points],
            "counts": {
                k: sum(p.kind == k for p in points) for k in ("fixed-point", "ghost", "slow-point")
            },
        }
        doc["figures"].append(
            str(plots.plot_pca_minima(trajectories, points, out_dir / "speed_minima_pca.png"))
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "analysis.json", json.dumps(doc, indent=2, default=_json_default) + "\n")
    return doc


def _visited_states(record, params):
    """States of one forward pass of the run's task (trials × time × N), or None."""
    from ghostsym.training import simulate

    try:
        states = simulate(record.config.model, params, record.config.task, seed=record.config.seed)
    except InputError:
        return None  # e.g. non-finite parameters: the search runs on its other seeds
    return np.swapaxes(np.asarray(states["states"]), 0, 1)


def _analyze_rank_k(record, checkpoints, out_dir: Path, history) -> dict:
    """Rank K ≥ 3: speed minima of the K-dimensional latent flow at every checkpoint
    (:mod:`ghostsym.analysis.latent_rank_k`), the training track and the minima of the final
    network in the (κ₁, κ₂) and PCA planes."""
    from ghostsym.analysis import plots
    from ghostsym.analysis.latent_rank_k import (
        latent_flow_of,
        minima_summary,
        plot_latent_minima,
        track_rank_k,
    )

    model = record.config.model
    visited = {e: _visited_states(record, p) for e, p in checkpoints.items()}
    visited = {e: v for e, v in visited.items() if v is not None}
    track, analyses = track_rank_k(checkpoints, model.activation, visited, rank=model.rank)
    final_epoch = max(checkpoints)
    final = analyses[final_epoch]
    figures = [
        str(plots.plot_training_track(history, track, out_dir / "training_track.png")),
        str(
            plot_latent_minima(
                latent_flow_of(checkpoints[final_epoch], model.activation),
                final,
                out_dir / "latent_minima.png",
                visited.get(final_epoch),
                title=f"rank {model.rank}, epoch {final_epoch}: speed minima of the latent flow",
            )
        ),
    ]
    ghosts = [(p.speed, e, p) for e, a in analyses.items() for p in a.ghosts]
    slowest = None
    if ghosts:
        speed, epoch, point = min(ghosts, key=lambda t: t[0])
        slowest = {"epoch": epoch, "speed": speed, "kappa": point.x.tolist()}
    return {
        "bifurcations": track.to_dict(),
        "speed_minima": {"epoch": final_epoch, **final.to_dict()},
        "rank_k": {
            "per_checkpoint": minima_summary(analyses),
            "slowest_ghost": slowest,
        },
        "figures": figures,
    }


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
