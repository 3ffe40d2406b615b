"""The training package's surface: modules by job, the training figure, progress=."""

import numpy as np
import pytest

from ghostsym import training
from ghostsym.errors import InputError
from ghostsym.training import build_config, plot_history, train

TINY = {"model": "rank1", "task": "da", "neurons": 10, "lr": 0.05, "epochs": 30}


def test_public_names_resolve_to_their_modules():
    for name in training.__all__:
        assert getattr(training, name) is not None
    assert training.build_config.__module__ == "ghostsym.training.config"
    assert training.train.__module__ == "ghostsym.training.engine"
    assert training.run_training.__module__ == "ghostsym.training.runs"
    assert training.PRESETS is training.presets.PRESETS


def test_plot_history_draws_into_given_axes_and_returns_the_figure(tmp_path):
    from matplotlib.figure import Figure

    history = train(build_config(**TINY)).history
    fig = Figure()
    axes = fig.subplots(1, 2)
    assert plot_history(history, title="t", axes=axes) is fig
    assert len(axes[0].lines) == 2 and len(axes[1].lines) == 1
    (loss_line,) = [ln for ln in axes[0].lines if ln.get_label() == "loss $L$"]
    np.testing.assert_array_equal(loss_line.get_ydata(), history["loss"])
    own = plot_history(history, tmp_path / "training.png")
    assert isinstance(own, Figure) and own is not fig
    assert (tmp_path / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_progress_true_shows_a_bar_and_bad_values_are_input_errors(capsys):
    cfg = build_config(**TINY)
    quiet = train(cfg, progress=False)
    shown = train(cfg, progress=True)
    assert np.array_equal(quiet.history["loss"], shown.history["loss"])
    assert "30/30" in capsys.readouterr().err
    with pytest.raises(InputError, match="progress must be"):
        train(cfg, progress="yes")
