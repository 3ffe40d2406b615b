"""The shared figure style: it ships with the package, every figure helper applies it, and the
helpers' colour codes and markers are named in a legend or colour bar."""

import fnmatch
import tomllib
from pathlib import Path

import matplotlib
import numpy as np

from ghostsym.analysis import phase_portrait, plots

ROOT = Path(__file__).resolve().parents[2]
OKABE_ITO = {"#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9", "#000000"}


def test_style_file_is_package_data():
    path = phase_portrait.STYLE_PATH
    assert path.is_file() and path.parent == Path(phase_portrait.__file__).parent
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = table["package-data"]["ghostsym.analysis"]
    assert any(fnmatch.fnmatch(path.name, p) for p in patterns)


def test_new_figure_applies_the_style():
    matplotlib.rcParams.update(matplotlib.rcParamsDefault)
    fig = phase_portrait.new_figure(figsize=(3, 2))
    (line,) = fig.subplots().plot([0, 1], [0, 1])
    assert matplotlib.colors.to_hex(line.get_color()) == "#0072b2"  # Okabe–Ito blue, not C0
    cycle = [
        matplotlib.colors.to_hex(c)
        for c in matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    ]
    assert set(cycle) <= OKABE_ITO and "#f0e442" not in cycle  # no low-contrast yellow
    assert matplotlib.rcParams["text.usetex"] is False
    assert matplotlib.rcParams["axes.formatter.use_mathtext"] is True


def _legend_texts(fig):
    legends = [ax.get_legend() for ax in fig.axes] + list(fig.legends)
    return [t.get_text() for lg in legends if lg is not None for t in lg.get_texts()]


def test_rank_one_flow_plot_names_every_curve_and_marker():
    fig = plots.plot_rank_one_flows(
        [("bistable", (2.0, 2.0, 0.0)), ("ghost", (1.0, 1.0, 0.0)), ("monostable", (0.5, 0.5, 0.0))]
    )
    texts = _legend_texts(fig)
    for name in ("bistable", "ghost", "monostable"):
        assert name in texts
    assert any("threshold" in t for t in texts)
    assert any("stable fixed point" in t for t in texts)
    (ax,) = fig.axes
    drawn = {matplotlib.colors.to_hex(line.get_color()) for line in ax.get_lines()}
    # the threshold's colour is not any curve's colour
    curves = [line for line in ax.get_lines() if line.get_label() in ("bistable", "monostable")]
    assert plots.THRESHOLD_COLOUR.lower() in drawn
    assert all(
        matplotlib.colors.to_hex(c.get_color()) != plots.THRESHOLD_COLOUR.lower() for c in curves
    )


def test_phase_portrait_has_a_colour_bar_and_marker_legend():
    from ghostsym.analysis.latent_flow import RankTwoFlow, analyze_rank_two

    # F(κ) = −κ + tanh(2κ) per coordinate: four stable points, saddles and an unstable origin
    flow = RankTwoFlow(2.0 * np.eye(2), np.eye(2), np.zeros(2))
    result = analyze_rank_two(flow)
    fig = plots.plot_phase_portrait(flow, result)
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert any("log_{10}" in y for y in labels), labels  # the colour bar names its scale
    assert any("fixed point" in t or "saddle" in t for t in _legend_texts(fig))


def test_mathtext_digits_upright_letters_italic():
    """As in TeX: "$x = 0$" sets x in italic and 0 upright (mathtext's "it" slants digits)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.mathtext import MathTextParser

    phase_portrait.use_style()
    glyphs = MathTextParser("path").parse(r"$x = 0$", dpi=72, prop=FontProperties(size=10)).glyphs
    fonts = [Path(g[0].fname).name for g in glyphs]
    slanted = ("Italic", "Oblique")
    assert any(s in fonts[0] for s in slanted), fonts
    assert not any(s in fonts[-1] for s in slanted), fonts


def test_phase_portrait_legend_names_the_nullclines():
    from ghostsym.analysis.latent_flow import RankTwoFlow, analyze_rank_two

    flow = RankTwoFlow(2.0 * np.eye(2), np.eye(2), np.zeros(2))
    fig = plots.plot_phase_portrait(flow, analyze_rank_two(flow))
    texts = _legend_texts(fig)
    assert any("nullcline" in t and r"\kappa_1" in t for t in texts), texts
    assert any("nullcline" in t and r"\kappa_2" in t for t in texts), texts
    assert "white" not in fig.axes[0].get_title()  # the colours are keyed, not told in the title


def _history(n=200, loss=None):
    e = np.arange(n, dtype=float)
    return {
        "loss": loss if loss is not None else 1.0 / (1.0 + e),
        "grad_norm": 0.1 + 0.0 * e,
        "accuracy": np.linspace(0.5, 1.0, n),
    }


def test_training_plot_uses_the_style_and_labels_its_axes():
    from ghostsym.training.plots import plot_history

    matplotlib.rcParams.update(matplotlib.rcParamsDefault)
    fig = plot_history(_history())
    top = fig.axes[0]
    colours = {matplotlib.colors.to_hex(line.get_color()) for line in top.get_lines()}
    assert colours <= OKABE_ITO, colours  # not matplotlib's red and green
    assert top.get_ylabel() and fig.axes[1].get_ylabel() == "accuracy"
    assert len(_legend_texts(fig)) == 2


class _Track:
    """The fields of a BifurcationTrack that the training-track figure reads."""

    def __init__(self, ghost_r):
        self.ghost_r = np.asarray(ghost_r, dtype=float)
        self.epochs = np.arange(self.ghost_r.size) * 10
        self.counts = np.ones(self.ghost_r.size, dtype=int)
        self.checkpoints = list(self.epochs)

    def events(self):
        return []


def test_training_track_axes_log_only_over_a_decade_and_an_empty_ghost_panel_says_so():
    narrow = np.linspace(0.47, 0.41, 200)  # a log axis would label only minor ticks
    fig = plots.plot_training_track(_history(loss=narrow), _Track(np.zeros(20)))
    loss_ax, grad_ax, _, ghost_ax = fig.axes
    assert loss_ax.get_yscale() == "linear"
    assert any("no ghost" in t.get_text() for t in ghost_ax.texts)
    wide = 1.0 / (1.0 + np.arange(200.0))
    fig = plots.plot_training_track(_history(loss=wide), _Track(np.geomspace(1e-4, 1e-2, 20)))
    assert fig.axes[0].get_yscale() == "log" and fig.axes[3].get_yscale() == "log"
    assert not fig.axes[3].texts


def test_pca_minima_legend_names_trials_start_and_points():
    from ghostsym.analysis.points import FIXED_POINT

    class Point:
        kind, stability = FIXED_POINT, "stable"
        x = np.zeros(3)

    rng = np.random.default_rng(0)
    trajectories = rng.normal(size=(2, 30, 3)).cumsum(axis=1)
    texts = _legend_texts(plots.plot_pca_minima(trajectories, [Point()]))
    assert {"trial 1", "trial 2", "start of a trial", "stable fixed point"} <= set(texts)
    many = rng.normal(size=(plots.MAX_COLOURED_TRAJECTORIES + 1, 30, 3))
    texts = _legend_texts(plots.plot_pca_minima(many, [Point()]))
    assert "trial 1" not in texts and any(t.startswith("trajectories") for t in texts)
