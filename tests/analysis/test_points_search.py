"""The one classification (analysis/points.py), the shared search stage (analysis/search.py),
the generated φ kernels (codegen/fields.py) and the plot helpers' ax=/Figure contract."""

import numpy as np
import pytest

from ghostsym.analysis import points as P
from ghostsym.analysis import search


def test_one_vocabulary_and_rules():
    assert P.KINDS == ("fixed-point", "ghost", "slow-point", "not-a-minimum")
    J = np.diag([-1.0, -0.5, -2.0])
    fp = P.classify(np.zeros(3), np.zeros(3), J)
    assert (fp.kind, fp.stability, fp.stable, fp.label) == ("fixed-point", "stable", True, "stable")
    # a speed just above the fixed-point tolerance is not a fixed point
    F = np.array([2 * P.TOLERANCES.speed, 0.0, 0.0])
    ghost = P.classify(np.zeros(3), F, np.diag([0.0, -0.5, -2.0]))
    assert ghost.kind == "ghost" and ghost.zero_eigenvalue == 0.0
    assert sorted(ghost.transverse_eigenvalues.real) == [-2.0, -0.5]
    # transverse eigenvalue inside the margin: not decidedly stable, a slow point
    weak = P.classify(np.zeros(3), F, np.diag([0.0, -0.5 * P.TOLERANCES.transverse, -2.0]))
    assert weak.kind == "slow-point"
    # two eigenvalues near zero: no single slow direction
    assert P.classify(np.zeros(3), F, np.diag([0.0, 1e-5, -2.0])).kind == "slow-point"
    # a negative Hessian eigenvalue of q: a critical point of q that is not a minimum
    hq = np.diag([-1.0, 1.0, 1.0])
    assert P.classify(np.zeros(3), F, np.diag([0.0, -0.5, -2.0]), hq).kind == "not-a-minimum"
    # fixed points are minima of q whatever the Hessian's rounding
    assert P.classify(np.zeros(3), np.zeros(3), J, hq).kind == "fixed-point"


def test_collect_accepts_critical_points_dedups_and_counts_hits():
    # F(x) = (x² − 1, −y): fixed points (±1, 0)
    def evaluate(x):
        F = np.array([x[0] ** 2 - 1.0, -x[1]])
        J = np.array([[2 * x[0], 0.0], [0.0, -1.0]])
        H = J.T @ J + np.diag([2 * F[0], 0.0])
        return F, J, H

    ends = [
        np.array([1.0, 0.0]),
        np.array([1.0 + 1e-9, 0.0]),
        np.array([-1.0, 0.0]),
        np.array([0.3, 0.2]),  # not a critical point of q: dropped
        np.array([np.nan, 0.0]),  # not finite: dropped
    ]
    found = search.collect(ends, evaluate)
    assert [(round(p.x[0]), p.kind, p.stability, p.hits) for p in found] == [
        (1, "fixed-point", "saddle", 2),
        (-1, "fixed-point", "stable", 1),
    ]
    assert P.dedup_radius(10.0) == pytest.approx(10 * P.TOLERANCES.dedup)


def test_ghost_record_to_dict_keeps_known_fields():
    g = P.Ghost(kappa=0.5, r=0.01, r_g=0.1, a_g=0.1, passage_time=P.passage_time(0.01))
    assert g.to_dict() == {
        "kappa": 0.5,
        "r": 0.01,
        "r_g": 0.1,
        "a_g": 0.1,
        "passage_time": g.passage_time,
    }
    assert g.passage_time == pytest.approx(np.pi / 0.1)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "erf"])
def test_generated_phi_kernels_match_closed_forms(name):
    from math import erf, exp, pi, sqrt, tanh

    from ghostsym.codegen.fields import phi_functions

    z = np.linspace(-5, 5, 41).reshape(41, 1) * np.ones((1, 2))
    phi, d1 = phi_functions(name, 1)(z)
    assert phi.shape == d1.shape == z.shape
    fn = {"tanh": tanh, "sigmoid": lambda v: 1 / (1 + exp(-v)), "erf": erf}[name]
    dfn = {
        "tanh": lambda v: 1 - tanh(v) ** 2,
        "sigmoid": lambda v: exp(-v) / (1 + exp(-v)) ** 2,
        "erf": lambda v: 2 / sqrt(pi) * exp(-v * v),
    }[name]
    np.testing.assert_allclose(phi, np.vectorize(fn)(z), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(d1, np.vectorize(dfn)(z), rtol=1e-12, atol=1e-15)


def test_plot_helpers_draw_on_given_axes_and_return_the_figure():
    from ghostsym.analysis import plots
    from ghostsym.analysis.phase_portrait import new_figure

    fig = new_figure(figsize=(4, 3))
    ax = fig.subplots()
    m = np.array([1.0, 0.5])
    out = plots.plot_rank_one_flows([("net", (m, 2 * m, np.zeros(2)))], ax=ax)
    assert out is fig and ax.lines
    standalone = plots.plot_rank_one_flows([("net", (m, 2 * m, np.zeros(2)))])
    assert standalone is not fig and standalone.axes
