"""Bifurcation tracking over a sequence of constructed checkpoints."""

import math

import numpy as np
import pytest

from ghostsym.analysis.bifurcations import analyze_checkpoint, track_checkpoints
from ghostsym.analysis.latent_flow import RankOneFlow
from ghostsym.errors import InputError


def _tangent_params(u=1.0):
    n = math.cosh(u) ** 2
    kappa0 = n * math.tanh(u)
    return np.array([1.0]), np.array([n]), np.array([u - kappa0]), kappa0


def _sequence(lifts):
    m, n, b, k0 = _tangent_params()
    a = 0.5 * RankOneFlow(m, n, b).derivatives(np.array([k0]), 2)[2][0]
    return {
        10 * i: {"m": m, "n": n, "b": b + lift * np.sign(a)} for i, lift in enumerate(lifts)
    }, k0


def test_saddle_node_event_and_ghost_r():
    lifts = [4e-2, 2e-2, 1e-2, 5e-3, -5e-3, -1e-2]  # ghost shrinking, then a saddle-node
    track = track_checkpoints(_sequence(lifts)[0])
    assert track.counts.tolist() == [1, 1, 1, 1, 3, 3]
    events = track.events()
    assert len(events) == 1
    assert events[0]["epoch_before"] == 30 and events[0]["epoch_after"] == 40
    assert events[0]["saddle_node"]
    assert not track.bifurcation_free
    r = track.ghost_r
    assert np.all(np.diff(r[:4]) < 0) and np.all(r[:4] > 0)  # r → 0 before the event
    # r ≈ a_g·lift for a lifted tangency
    assert r[3] / r[2] == pytest.approx(0.5, rel=0.05)
    d = track.to_dict()
    assert d["max_fixed_points"] == 3 and d["ghost_r"][5] is None or d["ghost_r"][5] > 0


def test_bifurcation_free_sequence():
    track = track_checkpoints(_sequence([4e-2, 2e-2, 1e-2])[0])
    assert track.bifurcation_free and set(track.counts) == {1}


def test_rank_two_checkpoint():
    rng = np.random.default_rng(0)
    N = 20
    params = {
        "m": rng.normal(0, 1, (N, 2)),
        "n": rng.normal(0, 1 / math.sqrt(N), (N, 2)),
        "b": rng.normal(0, 0.1, N),
    }
    cp = analyze_checkpoint(params, epoch=5)
    assert cp.epoch == 5 and cp.n_fixed_points >= 1
    assert all(k in ("stable", "unstable", "saddle") for k in cp.fixed_point_kinds)


def test_full_rank_checkpoint_is_rejected():
    with pytest.raises(InputError, match="low-rank"):
        analyze_checkpoint({"W": np.eye(3), "b": np.zeros(3)})
    with pytest.raises(InputError):
        track_checkpoints({})


def test_story_names_the_saddle_node_and_the_flow_legend_every_marker():
    from matplotlib.colors import to_rgba

    from ghostsym.analysis import plots
    from ghostsym.training.analyze import run_story

    lifts = [4e-2, 2e-2, 1e-2, 5e-3, -5e-3, -1e-2]
    checkpoints, _ = _sequence(lifts)
    story = run_story({"loss": np.ones(60)}, track_checkpoints(checkpoints))
    assert story["fixed_points"] == {"min": 1, "max": 3, "first": 1, "last": 3}
    assert [(e["epoch_before"], e["epoch_after"]) for e in story["saddle_nodes"]] == [(30, 40)]
    assert story["ghost_birth"]["epoch"] == 0 and story["ghost_birth"]["previous_epoch"] is None
    assert "1 saddle-node event(s) between epochs 30–40 (1 → 3)" in story["text"]
    assert "present from the first analysed epoch, 0" in story["text"]

    flows = [(f"epoch {e}", (p["m"], p["n"], p["b"])) for e, p in sorted(checkpoints.items())[2:5]]
    fig = plots.plot_rank_one_flows(flows, threshold=1.0)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:3] == ["epoch 20", "epoch 30", "epoch 40"]
    for marker in ("stable fixed point", "unstable fixed point", "ghost", "threshold", "f = 0"):
        assert any(marker in label for label in labels), (marker, labels)
    curves = {
        to_rgba(line.get_color())
        for line in ax.get_lines()[: len(flows) * 1]
        if line.get_label().startswith("epoch")
    }
    threshold = [
        line
        for line in ax.get_lines()
        if line.get_xdata()[0] == 1.0 and line.get_linestyle() == "--"
    ]
    assert threshold and to_rgba(threshold[0].get_color()) not in curves
