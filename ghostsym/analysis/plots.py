"""Figures of the dynamics analysis: latent flows, training tracks, phase portraits, PCA.

Every function writes one PNG with the Agg backend (``matplotlib.figure.Figure``, no pyplot
state) and returns the path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

#: Longest history drawn point by point; longer ones are down-sampled by a stride.
MAX_HISTORY_POINTS = 20_000
#: κ range of rank-one flow plots (REFERENCE.md §3.1: grid indices 200:800 of [−15, 15]).
FLOW_PLOT_RANGE = 8.994

_KIND_STYLE = {
    "stable": ("o", "k"),
    "unstable": ("o", "w"),
    "saddle-node": ("s", "C1"),
    "saddle": ("X", "C1"),
    "ghost": ("D", "C3"),
    "slow-point": ("^", "C4"),
    "fixed-point": ("o", "k"),
}


def _figure(**kwargs):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(constrained_layout=True, **kwargs)


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def plot_rank_one_flows(flows: Sequence[tuple[str, object]], path, threshold: float | None = 1.0):
    """f(κ) for several rank-one networks (label, (m, n, b)) with fixed points and ghosts.

    Matches Fig. 3B/3D: dashed f = 0, dashed threshold κ* (orange), markers at fixed points
    (filled stable, open unstable, squares saddle-node) and ghosts (red diamonds at (κ_g, r_g)).
    """
    from ghostsym.analysis.latent_flow import RankOneFlow, analyze_rank_one

    fig = _figure(figsize=(6.5, 4.2))
    ax = fig.subplots()
    kappa = np.linspace(-FLOW_PLOT_RANGE, FLOW_PLOT_RANGE, 1201)
    for i, (label, (m, n, b)) in enumerate(flows):
        flow = RankOneFlow(m, n, b)
        colour = f"C{i % 10}"
        ax.plot(kappa, flow(kappa), color=colour, lw=1.2, label=str(label))
        res = analyze_rank_one(None, None, None, flow=flow)
        for p in res.fixed_points:
            marker, face = _KIND_STYLE[p.kind]
            ax.plot(p.kappa, 0.0, marker, mfc=face, mec=colour, ms=7, zorder=5)
        for g in res.ghosts:
            ax.plot(g.kappa, g.r_g, "D", color="C3", ms=6, zorder=5)
    ax.axhline(0.0, color="0.4", ls="--", lw=0.8)
    if threshold is not None:
        ax.axvline(threshold, color="C1", ls="--", lw=0.8)
    ax.set_xlabel("κ")
    ax.set_ylabel("f(κ) = dκ/dt · τ")
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def plot_training_track(history: Mapping[str, np.ndarray], track, path, title: str = ""):
    """Loss, gradient norm, fixed-point count and ghost r on one epoch axis (Fig. 3A/3C)."""
    fig = _figure(figsize=(7, 7))
    axes = fig.subplots(4, 1, sharex=True, height_ratios=(2, 2, 1, 1.5))
    loss = np.asarray(history.get("loss", []), dtype=float)
    stride = max(1, loss.size // MAX_HISTORY_POINTS)
    for ax, key, colour in ((axes[0], "loss", "C0"), (axes[1], "grad_norm", "C3")):
        values = np.asarray(history.get(key, []), dtype=float)[::stride]
        values = np.where(values > 0, values, np.nan)
        ax.plot(np.arange(0, values.size * stride, stride), values, color=colour, lw=0.8)
        ax.set_yscale("log")
        ax.set_ylabel(key.replace("_", " "))
    axes[2].step(track.epochs, track.counts, where="post", color="k")
    axes[2].set_ylabel("# fixed points")
    axes[2].set_ylim(-0.2, max(3, int(track.counts.max()) + 1) if track.checkpoints else 3)
    r = track.ghost_r
    axes[3].plot(track.epochs, np.where(r > 0, r, np.nan), "D-", color="C3", ms=3, lw=0.8)
    if np.any(r > 0):
        axes[3].set_yscale("log")
    axes[3].set_ylabel("ghost r")
    axes[3].set_xlabel("epoch")
    for event in track.events():
        for ax in axes:
            ax.axvline(event["epoch_after"], color="C1", ls=":", lw=1)
    if title:
        axes[0].set_title(title)
    return _save(fig, path)


def plot_phase_portrait(flow, result: Mapping, path, trajectories=None, title: str = ""):
    """2-D latent speed map (log10 ‖F‖), nullclines, streamlines and classified points."""
    axis = np.asarray(result["grid_axis"])
    speed = np.asarray(result["speed"])
    F = np.asarray(result["field"])
    fig = _figure(figsize=(6, 5.2))
    ax = fig.subplots()
    mesh = ax.pcolormesh(
        axis, axis, np.log10(speed.T + 1e-12), cmap="viridis", vmin=-3, vmax=1, shading="auto"
    )
    fig.colorbar(mesh, ax=ax, label="log10 ‖F(κ)‖")
    ax.contour(axis, axis, F[..., 0].T, levels=[0], colors="w", linewidths=1.0)
    ax.contour(axis, axis, F[..., 1].T, levels=[0], colors="C1", linewidths=1.0, linestyles="--")
    ax.streamplot(axis, axis, F[..., 0].T, F[..., 1].T, color=(1, 1, 1, 0.35), density=0.8)
    for traj in trajectories or ():
        traj = np.asarray(traj)
        ax.plot(traj[:, 0], traj[:, 1], color="C6", lw=1)
    for p in result["points"]:
        key = p.stability if p.kind == "fixed-point" else p.kind
        marker, face = _KIND_STYLE.get(key, ("o", "k"))
        ax.plot(p.x[0], p.x[1], marker, mfc=face, mec="r", ms=8, zorder=5, label=key)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    if unique:
        ax.legend(unique.values(), unique.keys(), loc="upper right", fontsize=8)
    ax.set_xlim(axis[0], axis[-1])
    ax.set_ylim(axis[0], axis[-1])
    ax.set_xlabel("κ₁")
    ax.set_ylabel("κ₂")
    ax.set_title(title or "latent flow (white: κ̇₁ = 0, orange: κ̇₂ = 0)")
    return _save(fig, path)


def plot_pca_minima(trajectories, points, path, mean=None, basis=None, title: str = ""):
    """Trajectories (trials × time × N) projected on their first two PCs with minima marked."""
    from ghostsym.analysis.speed_minima import pca_basis

    trajectories = np.asarray(trajectories, dtype=float)
    if mean is None or basis is None:
        mean, basis = pca_basis(trajectories.reshape(-1, trajectories.shape[-1]), 2)
    fig = _figure(figsize=(6, 5))
    ax = fig.subplots()
    for i, traj in enumerate(trajectories):
        pcs = (traj - mean) @ basis[:2].T
        ax.plot(pcs[:, 0], pcs[:, 1], color=f"C{i % 10}", lw=1)
        ax.plot(pcs[0, 0], pcs[0, 1], "o", color=f"C{i % 10}", ms=3)
    for p in points:
        pc = (p.x - mean) @ basis[:2].T
        key = p.stability if p.kind == "fixed-point" else p.kind
        marker, face = _KIND_STYLE.get(key, ("o", "k"))
        ax.plot(pc[0], pc[1], marker, mfc=face, mec="r", ms=9, zorder=5, label=key)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    if unique:
        ax.legend(unique.values(), unique.keys(), loc="best", fontsize=8)
    ax.set_xlabel("PC1")
    ax.set_ylabel("PC2")
    ax.set_title(title or "trajectories and speed minima")
    return _save(fig, path)
