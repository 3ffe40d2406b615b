"""Phase portraits of 2-D latent flows (Fig. 4B-D), alone or under a loss curve (Fig. 4A).

A panel shows, for F(κ) = −κ + Pφ(Mκ + b) (:class:`ghostsym.analysis.latent_flow.RankTwoFlow`):

* the speed ‖F(κ)‖ on a log10 colour scale (docs/experiments.md §4.3 plots |F| on log10 [−1, 1]);
* the nullclines F₁ = 0 (white, solid) and F₂ = 0 (black, dashed), both in the legend;
* unit-length arrows of the flow direction on a coarse sub-grid (the authors' quiver);
* the classified points of :func:`ghostsym.analysis.latent_flow.analyze_rank_two` — stable
  fixed points filled black, unstable open, saddles orange crosses, ghosts vermilion diamonds
  with their slow direction, other slow points reddish-purple triangles (Okabe–Ito colours);
* trajectories κ_t = P x_t of the network (one colour per cue, a dot at the start).

This is the one phase-portrait drawer of ghostsym: :func:`draw_portrait` draws one panel on
a given axes (:func:`ghostsym.analysis.plots.plot_phase_portrait` uses it too), and
:data:`POINT_STYLES` are the markers every figure uses for classified points.
:func:`plot_portraits` returns one Figure (Agg, ``matplotlib.figure.Figure``, no pyplot
state): optionally the loss and gradient norm over epochs with the portrait epochs marked
(i), (ii), … on top, and one portrait per marked epoch below.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ghostsym.analysis.points import FIXED_POINT

#: Grid points per axis of the speed map.
PORTRAIT_GRID = 241
#: Arrows per axis of the quiver sub-grid.
QUIVER_PER_AXIS = 15
#: log10 ‖F‖ colour range (the authors' plot scripts use [−1, 1]; slow regions of trained
#: networks reach 1e-2, so the range is widened downwards).
LOG_SPEED_RANGE = (-2.0, 1.0)
#: Longest history drawn point by point; longer ones are down-sampled by a stride.
MAX_HISTORY_POINTS = 20_000
#: Colours of the trajectories (one per cue), visible on the viridis speed map.
TRAJECTORY_COLOURS = ("#ff7f0e", "#ff00ff", "#e6e6e6", "#17becf")
#: Length of the drawn slow direction of a ghost (fraction of the panel half-width).
SLOW_DIRECTION_LENGTH = 0.12

_ROMAN = ("i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x")
#: Markers of classified points, by :func:`point_key` (every figure of ghostsym uses these).
POINT_STYLES = {
    "stable": dict(marker="o", mfc="k", mec="w", ms=8),
    "unstable": dict(marker="o", mfc="w", mec="k", ms=8),
    "saddle": dict(marker="X", mfc="#E69F00", mec="k", ms=9),
    "saddle-node": dict(marker="s", mfc="#E69F00", mec="k", ms=8),
    "ghost": dict(marker="D", mfc="#D55E00", mec="w", ms=8),
    "slow-point": dict(marker="^", mfc="#CC79A7", mec="w", ms=8),
}
POINT_LABELS = {
    "stable": "stable fixed point",
    "unstable": "unstable fixed point",
    "saddle": "saddle",
    "saddle-node": "saddle-node",
    "ghost": "ghost",
    "slow-point": "slow point",
}


def roman(i: int) -> str:
    """(i), (ii), … marker labels of Fig. 4A."""
    return _ROMAN[i] if i < len(_ROMAN) else str(i + 1)


@dataclass
class Portrait:
    """One panel: a flow, its classified points and trajectories (label, array (T, 2)).

    ``outputs`` (optional, Fig. 4C): per trajectory label, (mean ŷ_t, s.e.m., target y_t)
    arrays over the trial, drawn under the portrait by :func:`plot_portraits`.
    """

    flow: object
    points: Sequence = ()
    trajectories: Sequence[tuple[str, np.ndarray]] = ()
    title: str = ""
    half_width: float = 3.0
    extras: dict = field(default_factory=dict)
    outputs: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)


def speed_map(flow, half_width: float, grid: int = PORTRAIT_GRID):
    """(axis, F, ‖F‖) of the flow on the square grid [−h, h]² (indexing "ij")."""
    axis = np.linspace(-half_width, half_width, grid)
    K1, K2 = np.meshgrid(axis, axis, indexing="ij")
    F = flow.field(np.stack([K1, K2], axis=-1))
    return axis, F, np.linalg.norm(F, axis=-1)


def point_key(point) -> str:
    """Style key of a classified point: the stability of a fixed point, else its kind."""
    return point.stability if point.kind == FIXED_POINT else point.kind


def draw_portrait(ax, portrait: Portrait, *, grid: int = PORTRAIT_GRID, legend: bool = True):
    """Draw one phase portrait on ``ax``; returns the colour mesh (for a colour bar)."""
    h = float(portrait.half_width)
    axis, F, speed = speed_map(portrait.flow, h, grid)
    lo, hi = LOG_SPEED_RANGE
    mesh = ax.pcolormesh(
        axis,
        axis,
        np.log10(speed.T + 1e-12),
        cmap="viridis",
        vmin=lo,
        vmax=hi,
        shading="auto",
        rasterized=True,
    )
    ax.contour(axis, axis, F[..., 0].T, levels=[0], colors="w", linewidths=1.0)
    ax.contour(axis, axis, F[..., 1].T, levels=[0], colors="k", linewidths=0.9, linestyles="--")
    stride = max(1, grid // QUIVER_PER_AXIS)
    sub = slice(stride // 2, None, stride)
    Fq = F[sub, sub]
    norm = np.linalg.norm(Fq, axis=-1, keepdims=True)
    unit = Fq / np.where(norm > 0, norm, 1.0)
    ax.quiver(
        axis[sub],
        axis[sub],
        unit[..., 0].T,
        unit[..., 1].T,
        color=(1, 1, 1, 0.55),
        angles="xy",
        scale_units="xy",
        scale=1.0 / (0.6 * (axis[1] - axis[0]) * stride),
        width=0.004,
    )
    for i, (label, traj) in enumerate(portrait.trajectories):
        traj = np.asarray(traj, dtype=float)
        colour = TRAJECTORY_COLOURS[i % len(TRAJECTORY_COLOURS)]
        ax.plot(traj[:, 0], traj[:, 1], "-", color=colour, lw=1.6, label=label, zorder=4)
        ax.plot(traj[0, 0], traj[0, 1], "o", color=colour, ms=4, zorder=4)
        ax.plot(traj[-1, 0], traj[-1, 1], ">", color=colour, ms=5, zorder=4)
    seen = set()
    for p in portrait.points:
        key = point_key(p)
        style = POINT_STYLES.get(key, POINT_STYLES["slow-point"])
        label = None if key in seen else POINT_LABELS.get(key, key)
        seen.add(key)
        ax.plot(p.x[0], p.x[1], ls="none", zorder=6, label=label, **style)
        direction = p.extras.get("slow_direction") if hasattr(p, "extras") else None
        if key == "ghost" and direction is not None:
            v = np.asarray(direction) * SLOW_DIRECTION_LENGTH * h
            ax.plot(
                [p.x[0] - v[0], p.x[0] + v[0]],
                [p.x[1] - v[1], p.x[1] + v[1]],
                "-",
                color="#D55E00",
                lw=1.5,
            )
    ax.set_xlim(-h, h)
    ax.set_ylim(-h, h)
    ax.set_aspect("equal")
    ax.set_xlabel(r"$\kappa_1$")
    ax.set_ylabel(r"$\kappa_2$")
    if portrait.title:
        ax.set_title(portrait.title, fontsize=9)
    if legend:
        handles, labels = ax.get_legend_handles_labels()
        for handle, label in nullcline_handles():
            handles.append(handle)
            labels.append(label)
        ax.legend(handles, labels, loc="lower left", fontsize=7, framealpha=0.85)
    return mesh


def nullcline_handles() -> list:
    """Legend entries (handle, label) of the two nullclines; the white line is outlined in
    grey so that it shows on a white legend."""
    from matplotlib import patheffects
    from matplotlib.lines import Line2D

    outline = [patheffects.withStroke(linewidth=3.0, foreground="0.45")]
    return [
        (
            Line2D([], [], color="w", ls="-", lw=1.2, path_effects=outline),
            r"nullcline $\dot\kappa_1 = 0$",
        ),
        (Line2D([], [], color="k", ls="--", lw=1.0), r"nullcline $\dot\kappa_2 = 0$"),
    ]


#: The one figure style of ghostsym (package data): Okabe–Ito colour cycle, mathtext labels.
STYLE_PATH = Path(__file__).with_name("ghostsym.mplstyle")


def use_style() -> Path:
    """Apply the ghostsym figure style (:data:`STYLE_PATH`) to matplotlib's rcParams.

    Every figure of ghostsym is made after this call: :func:`new_figure` calls it, and check
    scripts that use pyplot call it before their first figure. Returns the style file."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.style

    matplotlib.style.use(STYLE_PATH)
    return STYLE_PATH


def new_figure(**kwargs):
    """A new Agg ``matplotlib.figure.Figure`` in the ghostsym style (:func:`use_style`) with
    constrained layout (no pyplot state)."""
    use_style()
    from matplotlib.figure import Figure

    return Figure(constrained_layout=True, **kwargs)


def draw_history(ax, history: Mapping[str, np.ndarray], marker_epochs: Sequence[int] = ()):
    """Loss and gradient norm (each divided by its maximum, log y) with marked epochs."""
    loss = np.asarray(history.get("loss", []), dtype=float)
    stride = max(1, loss.size // MAX_HISTORY_POINTS)
    epochs = np.arange(loss.size)[::stride]
    for key, colour, label in (  # the spiky gradient first, the loss drawn over it
        ("grad_norm", "C3", "gradient norm / max"),
        ("loss", "C0", "loss / max"),
    ):
        values = np.asarray(history.get(key, []), dtype=float)
        if values.size == 0:
            continue
        peak = np.nanmax(values) if np.any(np.isfinite(values)) else 1.0
        scaled = values[::stride] / (peak if peak > 0 else 1.0)
        lw = 1.2 if key == "loss" else 0.5
        ax.plot(epochs, np.where(scaled > 0, scaled, np.nan), color=colour, lw=lw, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    for i, e in enumerate(marker_epochs):
        ax.axvline(e, color="k", ls=":", lw=0.8)
        ax.annotate(
            f"({roman(i)})",
            (e, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, -10),
            textcoords="offset points",
            fontsize=8,
        )
    ax.legend(loc="lower left", fontsize=7)


def auto_half_width(points=(), trajectories=(), minimum: float = 1.5, margin: float = 1.25):
    """A panel half-width showing every point and trajectory (with a margin)."""
    extent = [minimum / margin]
    extent += [float(np.max(np.abs(p.x))) for p in points]
    extent += [float(np.max(np.abs(np.asarray(t)))) for _, t in trajectories]
    return margin * max(extent)


def draw_outputs(ax, portrait: Portrait):
    """Mean output ± s.e.m. per trajectory label against the target (Fig. 4C)."""
    for i, (label, (mean, sem, target)) in enumerate(portrait.outputs.items()):
        colour = TRAJECTORY_COLOURS[i % len(TRAJECTORY_COLOURS)]
        t = np.arange(len(mean))
        ax.fill_between(t, mean - sem, mean + sem, color=colour, alpha=0.3, lw=0)
        ax.plot(t, mean, color=colour, lw=1.4, label=label)
        ax.plot(t, target, color=colour, lw=0.9, ls="--")
    ax.axhline(0.0, color="0.6", lw=0.6)
    ax.set_xlabel("step")
    ax.set_ylabel(r"output $\hat y$")
    ax.set_ylim(-1.15, 1.15)


def plot_portraits(
    portraits: Sequence[Portrait],
    *,
    history: Mapping[str, np.ndarray] | None = None,
    marker_epochs: Sequence[int] = (),
    title: str = "",
    grid: int = PORTRAIT_GRID,
    fig=None,
):
    """Phase portraits side by side, under the loss curve when ``history`` is given and
    above the output traces when the portraits carry ``outputs``. Draws into ``fig`` (a
    Figure or SubFigure; default a new Figure) and returns it."""
    n = max(1, len(portraits))
    with_outputs = any(p.outputs for p in portraits)
    heights = ([2.2] if history is not None else []) + [3.6] + ([1.8] if with_outputs else [])
    if fig is None:
        fig = new_figure(figsize=(3.3 * n + 0.8, sum(heights)))
    rows = (
        list(fig.subfigures(len(heights), 1, height_ratios=heights)) if len(heights) > 1 else [fig]
    )
    if history is not None:
        top = rows.pop(0)
        draw_history(top.subplots(), history, marker_epochs)
    bottom = rows.pop(0)
    if title:
        fig.suptitle(title, fontsize=10)
    if with_outputs:
        out_axes = np.atleast_1d(rows.pop(0).subplots(1, n, sharey=True))
        for ax, portrait in zip(out_axes, portraits, strict=False):
            draw_outputs(ax, portrait)
    axes = np.atleast_1d(bottom.subplots(1, n))
    mesh = None
    legend: dict = {}
    for ax, portrait in zip(axes, portraits, strict=False):
        mesh = draw_portrait(ax, portrait, grid=grid, legend=False)
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    if mesh is not None:
        for handle, label in nullcline_handles():
            legend.setdefault(label, handle)
        bottom.colorbar(mesh, ax=list(axes), label=r"$\log_{10}\,\|F(\kappa)\|$", shrink=0.8)
    if legend:
        bottom.legend(
            list(legend.values()),
            list(legend.keys()),
            loc="outside lower center",
            ncol=min(len(legend), 7),
            fontsize=7,
            frameon=False,
        )
    return fig
