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
