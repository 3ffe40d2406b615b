"""The training figure: loss and gradient norm (log scale) and accuracy against epoch."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ghostsym.io import save_figure

#: Most points drawn per curve in the training plot.
PLOT_MAX_POINTS = 20000


def plot_history(history: Mapping[str, np.ndarray], path=None, title: str = "", *, axes=None):
    """Loss and gradient norm (log y, upper panel) and accuracy (lower panel) against epoch.

    ``history`` has ``loss``, ``grad_norm`` and ``accuracy`` arrays (as
    :class:`~ghostsym.training.TrainingResult.history`). ``axes``: a pair (upper, lower) of
    matplotlib axes to draw into; None makes a new figure (no pyplot state). ``path``: also
    write the figure there as a PNG. Returns the Figure.
    """
    if axes is None:
        from ghostsym.analysis.phase_portrait import new_figure  # the package style

        fig = new_figure(figsize=(7, 5.5))
        ax1, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    else:
        ax1, ax2 = axes
        fig = ax1.figure
    loss = np.asarray(history["loss"])
    stride = max(1, loss.size // PLOT_MAX_POINTS)
    epochs = np.arange(loss.size)[::stride]
    # Okabe–Ito blue and vermilion (the style's C0 and C3); the spiky gradient under the loss.
    for key, colour, label, lw in (
        ("grad_norm", "C3", r"gradient norm $\|\nabla_\theta L\|$", 0.5),
        ("loss", "C0", "loss $L$", 1.0),
    ):
        values = np.asarray(history[key])[::stride]
        positive = np.where(values > 0, values, np.nan)
        ax1.plot(epochs, positive, color=colour, lw=lw, label=label)
    ax1.set_yscale("log")
    ax1.set_ylabel("loss, gradient norm")
    ax1.legend(loc="best")
    ax1.set_title(title)
    ax2.plot(epochs, np.asarray(history["accuracy"])[::stride], color="C2", lw=1.0)
    ax2.set_ylim(-0.02, 1.02)
    ax2.set_ylabel("accuracy")
    ax2.set_xlabel("epoch")
    if path is not None:
        save_figure(fig, Path(path), dpi=110)
    return fig
