"""Bifurcation tracking over training (Fig. 3A-B): fixed points and ghosts at every checkpoint.

For each checkpoint of a rank-one network the latent flow f(κ) = −κ + nᵀφ(mκ + b) is analysed
with the certified root search of :mod:`ghostsym.analysis.latent_flow`: the number and kinds
of its fixed points and its ghosts (r > 0). Between consecutive checkpoints a change of the
fixed-point count is a **bifurcation event**; a change by two is the signature of a
saddle-node (a pair created or annihilated). The paper's claims are read off directly:
bifurcation-free learning keeps the count at one (Fig. 3A), a too-large learning rate
produces an event and the no-learning zone (Fig. 3B).

Rank-two checkpoints (``m``, ``n`` of shape (N, 2)) are analysed with the 2-D latent flow
(docs/experiments.md §4.3); rank K ≥ 3 with the K-dimensional latent flow of
:mod:`ghostsym.analysis.latent_rank_k` (seeded, not certified, search).

Input: a mapping ``{epoch: {"m": …, "n": …, "b": …}}`` of parameter arrays. Run directories
are read by :mod:`ghostsym.training.analyze` (``track_run``, ``analyze_run``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ghostsym.analysis.latent_flow import (
    analyze_rank_one,
    analyze_rank_two,
    ghost_record,
    rank_two_latent_from_factors,
)
from ghostsym.analysis.points import Ghost
from ghostsym.errors import InputError


@dataclass
class CheckpointFlow:
    """The latent flow's fixed points and ghosts at one checkpoint."""

    epoch: int
    n_fixed_points: int
    fixed_point_kinds: list[str]
    fixed_points: list[float | list[float]]
    ghosts: list[Ghost]

    @property
    def slowest_ghost(self) -> Ghost | None:
        """The ghost with the smallest r (longest passage): the bottleneck that sets timing."""
        return min(self.ghosts, key=lambda g: g.r) if self.ghosts else None

    def to_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "n_fixed_points": self.n_fixed_points,
            "fixed_point_kinds": list(self.fixed_point_kinds),
            "fixed_points": list(self.fixed_points),
            "ghosts": [g.to_dict() for g in self.ghosts],
        }


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
            [c.slowest_ghost.r if c.slowest_ghost else np.nan for c in self.checkpoints]
        )

    @property
    def ghost_kappa(self) -> np.ndarray:
        return np.array(
            [
                c.slowest_ghost.kappa if c.slowest_ghost and self.rank == 1 else np.nan
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
            "checkpoints": [c.to_dict() for c in self.checkpoints],
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
        return CheckpointFlow(
            int(epoch),
            res.n_fixed_points,
            [p.kind for p in res.fixed_points],
            [p.kappa for p in res.fixed_points],
            res.ghosts,
        )
    if rank == 2:
        flow = rank_two_latent_from_factors(m, n, b, nonlinearity)
        res = analyze_rank_two(flow)
        fps = res.fixed_points
        ghosts = [ghost_record(flow, p) for p in res.ghosts]
        return CheckpointFlow(
            int(epoch), len(fps), [p.stability for p in fps], [p.x.tolist() for p in fps], ghosts
        )
    raise InputError(f"bifurcation tracking supports rank 1 and 2, got rank {rank}")


def track_checkpoints(checkpoints: Mapping[int, Mapping[str, np.ndarray]], nonlinearity="tanh"):
    """Analyse every checkpoint (sorted by epoch) and return a :class:`BifurcationTrack`.

    Every rank reports the canonical r = c0·c2 of each ghost (r = a_g·r_g in rank one); rank
    two and higher also its speed and energy ½‖F‖².
    """
    if not checkpoints:
        raise InputError("no checkpoints to analyse")
    flows = [analyze_checkpoint(checkpoints[e], e, nonlinearity) for e in sorted(checkpoints)]
    m = np.asarray(checkpoints[min(checkpoints)]["m"])
    return BifurcationTrack(1 if m.ndim == 1 else m.shape[1], flows)
