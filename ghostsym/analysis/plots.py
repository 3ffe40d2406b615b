"""Figures of the dynamics analysis: latent flows, training tracks, phase portraits, PCA.

Every helper takes ``ax=None`` (or ``axes=``): given, it draws there; otherwise it makes a
new ``matplotlib.figure.Figure`` (Agg, no pyplot state). It returns the Figure;
:func:`save_figure` writes one to a PNG. Phase portraits are drawn by the one drawer,
:func:`ghostsym.analysis.phase_portrait.draw_portrait`; points are marked with its styles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ghostsym import io
from ghostsym.analysis.latent_flow import RankOneFlow, analyze_rank_one
from ghostsym.analysis.phase_portrait import (
    POINT_LABELS,
    POINT_STYLES,
    Portrait,
    draw_portrait,
    new_figure,
    point_key,
)
from ghostsym.analysis.speed_minima import pca_basis

#: Longest history drawn point by point; longer ones are down-sampled by a stride.
MAX_HISTORY_POINTS = 20_000
#: κ range of rank-one flow plots (docs/experiments.md §3.1: grid indices 200:800 of [−15, 15]).
FLOW_PLOT_RANGE = 8.994


def _figure(**kwargs):
    """A new Agg Figure with constrained layout (kept for scripts that compose their own)."""
    return new_figure(**kwargs)


def save_figure(fig, path, dpi: int = 120) -> Path:
    """Write ``fig`` to the PNG ``path`` atomically (:func:`ghostsym.io.save_figure`)."""
    return io.save_figure(fig, path, dpi=dpi)


def _save(fig, path) -> Path:
    return save_figure(fig, path)


def _axes(ax, figsize, **subplots):
    """(figure, axes): ``ax``'s figure, or a new figure with ``fig.subplots(**subplots)``."""
    if ax is not None:
        return ax.figure, ax
    fig = new_figure(figsize=figsize)
    return fig, fig.subplots(**subplots)


def _marker(key: str, edge: str, size: float) -> dict:
    style = dict(POINT_STYLES.get(key, POINT_STYLES["slow-point"]))
    style.update(mec=edge, ms=size)
    return style


#: Colour of the dashed κ* threshold line (Okabe–Ito reddish purple: not in the epoch map).
THRESHOLD_COLOUR = "#CC79A7"
#: Ghost diamonds (Okabe–Ito vermilion, black edge), drawn at (κ_g, r_g).
GHOST_STYLE = dict(marker="D", mfc="#D55E00", mec="k", ms=6)


def _curve_colours(n: int) -> list:
    """Colour-blind-safe epoch colours: viridis from dark blue to green (no yellow)."""
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(x) for x in np.linspace(0.0, 0.8, n)] if n > 1 else [cmap(0.0)]


def plot_rank_one_flows(
    flows: Sequence[tuple[str, object]], threshold: float | None = 1.0, *, ax=None
):
    """f(κ) for several rank-one networks (label, (m, n, b)) with fixed points and ghosts.

    Matches Fig. 3B/3D: dashed f = 0 (grey), dashed threshold κ* (reddish purple, a colour no
    curve has), markers at fixed points in the curve's colour (filled stable, open unstable,
    squares saddle-node) and ghosts (vermilion diamonds at (κ_g, r_g)). Curves are coloured
    along viridis in the given order; the legend (beside the axes) names every curve and
    every kind of marker drawn. On a new figure with a ghost, a second panel below shows the
    same curves at the ghosts' scale (|f| up to 4 × the largest r_g), where the bottleneck is
    visible. Returns the Figure.
    """
    from matplotlib.lines import Line2D

    results = [analyze_rank_one(None, None, None, flow=RankOneFlow(*p)) for _, p in flows]
    ghost_rg = [abs(g.r_g) for res in results for g in res.ghosts]
    zoom = None
    if ax is None and ghost_rg:
        # A ghost's speed r_g is tiny next to the flow's range: a second panel shows the
        # bottleneck at the scale of the ghosts.
        fig = new_figure(figsize=(8.2, 6.4))
        ax, zoom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1.4))
    else:
        fig, ax = _axes(ax, (8.2, 4.2))
    drawn: set[str] = set()
    for target in (ax, zoom) if zoom is not None else (ax,):
        drawn |= _draw_flows(target, flows, results, label=target is ax)
    if zoom is not None:
        half = 4 * max(ghost_rg)
        zoom.set_ylim(-half, half)
        zoom.set_ylabel(r"$f(\kappa)$, zoomed")
        zoom.set_title(rf"near the bottleneck: $|f| \leq {half:.2g}$ (4 × the largest $r_g$)")
        zoom.set_xlabel(r"$\kappa$")
    handles, _ = ax.get_legend_handles_labels()
    grey = "0.45"
    proxies = {
        "stable": (dict(_marker("stable", "k", 7), mfc=grey), "stable fixed point (filled)"),
        "unstable": (
            dict(_marker("unstable", grey, 7), mfc="w", mew=1.5),
            "unstable fixed point (open)",
        ),
        "saddle-node": (_marker("saddle-node", "k", 7), "saddle-node (square)"),
        "ghost": (GHOST_STYLE, r"ghost $(\kappa_g, r_g)$ (diamond)"),
    }
    for key, (style, text) in proxies.items():
        if key in drawn:
            handles.append(Line2D([], [], ls="none", label=text, **style))
    if threshold is not None:
        for target in (ax, zoom) if zoom is not None else (ax,):
            target.axvline(threshold, color=THRESHOLD_COLOUR, ls="--", lw=1.4)
        handles.append(
            Line2D(
                [],
                [],
                color=THRESHOLD_COLOUR,
                ls="--",
                lw=1.4,
                label=rf"threshold $\kappa^* = {threshold:g}$",
            )
        )
    handles.append(Line2D([], [], color="0.55", ls="--", lw=0.8, label=r"$f = 0$"))
    if zoom is None:
        ax.set_xlabel(r"$\kappa$")
    ax.set_ylabel(r"$f(\kappa) = \tau\,\dot\kappa$")
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, borderaxespad=0.0
    )
    return fig


def _draw_flows(ax, flows, results, *, label: bool) -> set[str]:
    """Draw the curves of :func:`plot_rank_one_flows` and their points; the kinds drawn."""
    kappa = np.linspace(-FLOW_PLOT_RANGE, FLOW_PLOT_RANGE, 1201)
    drawn: set[str] = set()
    colours = _curve_colours(len(flows))
    for colour, (name, (m, n, b)), res in zip(colours, flows, results, strict=True):
        flow = RankOneFlow(m, n, b)
        ax.plot(kappa, flow(kappa), color=colour, lw=1.3, label=str(name) if label else None)
        for p in res.fixed_points:
            style = _marker(p.kind, "k", 7)
            if p.kind == "stable":
                style["mfc"] = colour
            elif p.kind == "unstable":
                style.update(mfc="w", mec=colour, mew=1.5)
            ax.plot(p.kappa, 0.0, ls="none", zorder=5, **style)
            drawn.add(p.kind)
        for g in res.ghosts:
            ax.plot(g.kappa, g.r_g, ls="none", zorder=6, **GHOST_STYLE)
            drawn.add("ghost")
    ax.axhline(0.0, color="0.55", ls="--", lw=0.8)
    return drawn


#: Colours of the story marks on the training track (Okabe-Ito; the loss is C0, the gradient
#: norm C3, the ghost's r C4, so none of these repeats a curve's colour).
DROP_COLOUR, BIRTH_COLOUR, EVENT_COLOUR = "0.55", "#009E73", "#E69F00"


def plot_training_track(
    history: Mapping[str, np.ndarray], track, title: str = "", *, story=None, axes=None
):
    """Loss, gradient norm, fixed-point count and ghost r on one epoch axis (Fig. 3A/3C).

    ``story``: the run's story (:func:`ghostsym.training.analyze.run_story`: its
    ``loss_drop`` and ``ghost_birth``); given, the loss drop is shaded from its onset to its
    end and the ghost's first analysed epoch is a vertical line, in every panel, with a legend.
    ``axes``: four axes to draw on (default: a new figure). Returns the Figure."""
    if axes is None:
        fig = new_figure(figsize=(7, 7.4))
        axes = fig.subplots(4, 1, sharex=True, height_ratios=(2, 2, 1, 1.5))
    else:
        fig = axes[0].figure
    loss = np.asarray(history.get("loss", []), dtype=float)
    stride = max(1, loss.size // MAX_HISTORY_POINTS)
    for ax, key, colour in ((axes[0], "loss", "C0"), (axes[1], "grad_norm", "C3")):
        values = np.asarray(history.get(key, []), dtype=float)[::stride]
        values = np.where(values > 0, values, np.nan)
        ax.plot(np.arange(0, values.size * stride, stride), values, color=colour, lw=0.8)
        ax.set_yscale("log")
        ax.set_ylabel({"loss": "loss", "grad_norm": r"gradient norm $\|\nabla_\theta L\|$"}[key])
    axes[2].step(track.epochs, track.counts, where="post", color="k")
    axes[2].set_ylabel("fixed points")
    top = max(3, int(track.counts.max()) + 1) if track.checkpoints else 3
    axes[2].set_ylim(-0.2, top)
    axes[2].set_yticks(range(0, top + 1))
    r = track.ghost_r
    axes[3].plot(track.epochs, np.where(r > 0, r, np.nan), "D-", color="C4", ms=3, lw=0.8)
    if np.any(r > 0):
        axes[3].set_yscale("log")
    axes[3].set_ylabel(r"ghost $r = a_g r_g$")
    axes[3].set_xlabel("epoch")
    handles = _story_marks(axes, story or {})
    for i, event in enumerate(track.events()):
        for ax in axes:
            line = ax.axvline(event["epoch_after"], color=EVENT_COLOUR, ls=":", lw=1.2)
        if i == 0:
            line.set_label("fixed-point count changes")
            handles.append(line)
    if handles:
        axes[0].legend(handles=handles, loc="lower left")
    if title:
        axes[0].set_title(title)
    return fig


def _story_marks(axes, story) -> list:
    """Shade the loss drop and draw the ghost's birth in every panel; the legend handles."""
    handles = []
    drop = story.get("loss_drop") or {}
    if drop.get("drop"):
        onset, end = drop["onset"], drop["end"]
        span = [ax.axvspan(onset, end, color=DROP_COLOUR, alpha=0.25, lw=0) for ax in axes][0]
        span.set_label(f"loss drop: epochs {onset}–{end} (10 %–90 % of the fall)")
        handles.append(span)
    birth = story.get("ghost_birth")
    if birth is not None:
        epoch = birth["epoch"]
        line = [ax.axvline(epoch, color=BIRTH_COLOUR, ls="--", lw=1.2) for ax in axes][0]
        since = birth.get("previous_epoch")
        when = f"at epoch {epoch}" if since is None else f"between epochs {since} and {epoch}"
        line.set_label(f"ghost born {when} ($r = {birth['r']:.3g}$ at {epoch})")
        handles.append(line)
    return handles


def plot_phase_portrait(flow, result, trajectories=None, title: str = "", *, ax=None):
    """The phase portrait of a 2-D latent flow with the points of
    :func:`~ghostsym.analysis.latent_flow.analyze_rank_two` (``result``), drawn by
    :func:`~ghostsym.analysis.phase_portrait.draw_portrait` over the searched square, with a
    colour bar of log10 ‖F‖. Returns the Figure."""
    fig, ax = _axes(ax, (6, 5.2))
    trajs = [(f"trajectory {i + 1}", t) for i, t in enumerate(trajectories or ())]
    portrait = Portrait(
        flow,
        result.points,
        trajs,
        title or r"latent flow (white: $\dot\kappa_1 = 0$, black: $\dot\kappa_2 = 0$)",
        float(result.half_width),
    )
    mesh = draw_portrait(ax, portrait)
    fig.colorbar(mesh, ax=ax, label=r"$\log_{10}\,\|F(\kappa)\|$")
    return fig


def plot_pca_minima(trajectories, points, mean=None, basis=None, title: str = "", *, ax=None):
    """Trajectories (trials × time × N) projected on their first two PCs with minima marked.
    Returns the Figure."""
    trajectories = np.asarray(trajectories, dtype=float)
    if mean is None or basis is None:
        mean, basis = pca_basis(trajectories.reshape(-1, trajectories.shape[-1]), 2)
    fig, ax = _axes(ax, (6, 5))
    for i, traj in enumerate(trajectories):
        pcs = (traj - mean) @ basis[:2].T
        ax.plot(pcs[:, 0], pcs[:, 1], color=f"C{i % 10}", lw=1)
        ax.plot(pcs[0, 0], pcs[0, 1], "o", color=f"C{i % 10}", ms=3)
    _mark_points(ax, points, lambda x: (x - mean) @ basis[:2].T, edge="r", size=9)
    ax.set_xlabel("PC1")
    ax.set_ylabel("PC2")
    ax.set_title(title or "trajectories and speed minima")
    return fig


def _mark_points(ax, points, project, *, edge="k", size=8.0, legend=True):
    seen = set()
    for p in points:
        key = point_key(p)
        label = None if key in seen else POINT_LABELS.get(key, key)
        seen.add(key)
        q = project(np.asarray(p.x))
        ax.plot(q[0], q[1], ls="none", zorder=5, label=label, **_marker(key, edge, size))
    if legend and seen:
        ax.legend(loc="best", fontsize=8)


def plot_latent_minima(flow, analysis, trajectories=None, title: str = "", *, axes=None):
    """Two panels: the first two latent coordinates (κ₁, κ₂) and the top-2 PCA plane of the
    latent trajectories (``trajectories``: trials × T × N states) of a rank-K flow, with the
    speed minima of ``analysis`` (:class:`~ghostsym.analysis.latent_rank_k.RankKAnalysis`)
    marked by kind. Returns the Figure."""
    K = flow.M.shape[1]
    pts = np.array([p.x for p in analysis.points]).reshape(-1, K)
    lat = None
    if trajectories is not None:
        tr = np.asarray(trajectories, dtype=float)  # (trials, T, N)
        lat = (tr @ flow.P.T).reshape(-1, tr.shape[-2], K)
    cloud = np.concatenate([lat.reshape(-1, K), pts]) if lat is not None else pts
    if cloud.shape[0] >= 2:
        mean = cloud.mean(axis=0)
        _, _, Vt = np.linalg.svd(cloud - mean, full_matrices=False)
        basis = Vt[:2] if Vt.shape[0] >= 2 else np.eye(K)[:2]
    else:
        mean, basis = np.zeros(K), np.eye(K)[:2]
    if axes is None:
        fig = new_figure(figsize=(10, 4.5))
        axes = fig.subplots(1, 2)
    else:
        fig = axes[0].figure
    projections = (
        (r"$\kappa_1$", r"$\kappa_2$", lambda a: a[..., :2]),
        ("PC 1", "PC 2", lambda a: (a - mean) @ basis.T),
    )
    for ax, (xl, yl, proj) in zip(axes, projections, strict=True):
        if lat is not None:
            for t in lat:
                q = proj(t)
                ax.plot(q[:, 0], q[:, 1], color="0.6", lw=0.6)
                ax.plot(q[0, 0], q[0, 1], ".", color="0.4", ms=3)
        _mark_points(ax, analysis.points, proj)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
    if title:
        fig.suptitle(title)
    return fig
