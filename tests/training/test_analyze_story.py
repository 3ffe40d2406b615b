"""The story ``ghostsym analyze`` tells: loss drop by the stated rule, ghost birth, flow epochs."""

import json

import numpy as np
import pytest

from ghostsym.training import build_config, run_training
from ghostsym.training.analyze import (
    DROP_RULE,
    analyze_run,
    flow_epochs,
    loss_drop,
    run_story,
    track_run,
)


@pytest.fixture(scope="module")
def abrupt_run(tmp_path_factory):
    """The README's run: plateau near 1, abrupt drop around epoch 250, a ghost by 400."""
    out = tmp_path_factory.mktemp("story") / "abrupt"
    cfg = build_config(
        model="rank1",
        task="da",
        confidence=5.0,
        lr=0.01,
        epochs=500,
        seed=40,
        checkpoint_every=20,
    )
    run_training(cfg, out)
    return out


@pytest.fixture(scope="module")
def abrupt_analysis(abrupt_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("story") / "analysis"
    return analyze_run(abrupt_run, out), out


def _rule_by_hand(loss):
    """DROP_RULE written out independently of loss_drop."""
    n = len(loss)
    k = int(np.ceil(0.1 * n))
    plateau, final = np.median(loss[:k]), np.median(loss[-k:])
    fall = plateau - final
    onset = next(i for i in range(n) if loss[i] < plateau - 0.1 * fall)
    end = next(i for i in range(onset, n) if loss[i] <= final + 0.1 * fall)
    return plateau, final, onset, end


def test_drop_of_the_readme_run_follows_the_stated_rule(abrupt_run, abrupt_analysis):
    doc, out = abrupt_analysis
    loss = np.load(abrupt_run / "history.npz")["loss"]
    drop = doc["story"]["loss_drop"]
    plateau, final, onset, end = _rule_by_hand(loss)
    assert drop["drop"] is True and drop["rule"] == DROP_RULE
    assert drop["plateau"] == pytest.approx(plateau) and drop["final"] == pytest.approx(final)
    assert (drop["onset"], drop["end"], drop["width"]) == (onset, end, end - onset)
    # the abrupt drop of the README run: after a ~250-epoch plateau, over ~120 epochs
    assert 230 <= drop["onset"] <= 275 and 340 <= drop["end"] <= 420
    assert plateau > 0.95 and final < 0.1
    # the epochs straddle the levels: before the onset still on the plateau, after the end low
    assert loss[onset - 1] >= plateau - 0.1 * (plateau - final) > loss[onset]
    assert loss[end] <= final + 0.1 * (plateau - final) < loss[end - 1]
    # the same numbers land in analysis.json
    on_disk = json.loads((out / "analysis.json").read_text())["story"]
    assert on_disk["loss_drop"]["onset"] == onset and on_disk["loss_drop"]["end"] == end


def test_ghost_birth_and_counts(abrupt_run, abrupt_analysis):
    doc, _ = abrupt_analysis
    story = doc["story"]
    track = track_run(abrupt_run).track
    r = track.ghost_r
    first = int(np.flatnonzero(~np.isnan(r))[0])
    birth = story["ghost_birth"]
    assert birth["epoch"] == int(track.epochs[first]) and 360 <= birth["epoch"] <= 420
    assert birth["previous_epoch"] == int(track.epochs[first - 1])
    assert birth["r"] == pytest.approx(r[first]) and birth["r"] > 0
    assert birth["passage_time"] == pytest.approx(np.pi / np.sqrt(birth["r"]))
    assert story["final_ghost"]["epoch"] == 500
    assert story["fixed_points"] == {"min": 1, "max": 1, "first": 1, "last": 1}
    assert story["events"] == [] and story["saddle_nodes"] == []
    text = story["text"]
    for fact in (
        f"from epoch {story['loss_drop']['onset']} (onset)",
        f"to epoch {story['loss_drop']['end']} (end",
        f"between epochs {birth['previous_epoch']} and {birth['epoch']}",
        f"r = {birth['r']:.3g}",
        f"{birth['passage_time']:.3g} tau",
        "no bifurcation event",
    ):
        assert fact in text, (fact, text)


def test_flow_figure_epochs_bracket_the_drop_and_the_birth(abrupt_analysis):
    doc, out = abrupt_analysis
    story = doc["story"]
    shown = story["flow_epochs"]
    epochs = doc["epochs_analysed"]
    drop, birth = story["loss_drop"], story["ghost_birth"]
    assert shown[0] == epochs[0] and shown[-1] == epochs[-1]
    assert max(e for e in epochs if e <= drop["onset"]) in shown
    assert min(e for e in epochs if e >= drop["end"]) in shown
    assert birth["epoch"] in shown and birth["previous_epoch"] in shown
    assert shown != [epochs[0], epochs[len(epochs) // 2], epochs[-1]]
    assert (out / "latent_flow.png").stat().st_size > 10_000


def test_run_without_a_drop(tmp_path):
    # lr 1e-4 for 60 epochs: the loss barely moves from its plateau
    cfg = build_config(model="rank1", task="da", lr=1e-4, epochs=60, seed=3, checkpoint_every=20)
    run_training(cfg, tmp_path / "run")
    doc = analyze_run(tmp_path / "run", tmp_path / "analysis")
    drop = doc["story"]["loss_drop"]
    loss = np.load(tmp_path / "run" / "history.npz")["loss"]
    assert drop["drop"] is False and drop["onset"] is None and drop["end"] is None
    assert drop["final"] == pytest.approx(np.median(loss[-6:]))
    assert drop["final"] > 0.5 * drop["plateau"]
    assert doc["story"]["text"].startswith("No loss drop:")
    # without a drop and a ghost the figure falls back to first / middle / last
    if doc["story"]["ghost_birth"] is None:
        assert (
            doc["story"]["flow_epochs"] == [0, 20, 40, 60] or len(doc["story"]["flow_epochs"]) == 3
        )


def test_loss_drop_edge_cases():
    assert loss_drop([])["drop"] is False and loss_drop([])["plateau"] is None
    assert loss_drop([np.nan, np.nan, 1.0])["plateau"] is None  # fewer than two finite
    flat = loss_drop(np.ones(100))
    assert flat["drop"] is False and flat["plateau"] == 1.0 and flat["final"] == 1.0
    step = np.r_[np.ones(40), np.full(60, 0.1)]  # a clean step at epoch 40
    d = loss_drop(step)
    assert (d["onset"], d["end"], d["width"]) == (40, 40, 0)
    ramp = np.r_[np.ones(20), np.linspace(1, 0, 61), np.zeros(19)]  # linear 20 -> 80
    d = loss_drop(ramp)
    assert (d["onset"], d["end"]) == (27, 74)  # 10 % and 90 % of the fall
    rising = np.r_[np.full(50, 0.1), np.ones(50)]
    assert loss_drop(rising)["drop"] is False
    with_nan = step.copy()
    with_nan[41] = np.nan
    assert loss_drop(with_nan)["onset"] == 40


def test_story_and_flow_epochs_without_a_track():
    story = run_story({"loss": np.r_[np.ones(40), np.full(60, 0.1)]})
    assert "ghost_birth" not in story and story["text"].startswith("Loss drop 1 -> 0.1")
    story["ghost_birth"] = None
    assert flow_epochs([0, 10, 20, 30, 40], story) == [
        (0, "first"),
        (20, ""),
        (40, "before drop, after drop, last"),
    ]


def test_training_track_marks_the_drop_and_the_birth(abrupt_run, abrupt_analysis):
    """The track figure shades the drop (onset–end) and draws the birth, each in the legend."""
    from ghostsym.analysis.plots import plot_training_track

    doc, _ = abrupt_analysis
    story = doc["story"]
    history = {k: np.asarray(v) for k, v in np.load(abrupt_run / "history.npz").items()}
    fig = plot_training_track(history, track_run(abrupt_run).track, story=story)
    top = fig.axes[0]
    labels = [t.get_text() for t in top.get_legend().get_texts()]
    drop, birth = story["loss_drop"], story["ghost_birth"]
    assert any(f"epochs {drop['onset']}–{drop['end']}" in t for t in labels), labels
    assert any(t.startswith("ghost born") and str(birth["epoch"]) in t for t in labels), labels
    spans = [p for p in top.patches if p.get_label().startswith("loss drop")]
    xs = spans[0].get_path().vertices[:, 0] if not hasattr(spans[0], "get_x") else None
    if xs is None:
        xs = np.array([spans[0].get_x(), spans[0].get_x() + spans[0].get_width()])
    assert (xs.min(), xs.max()) == pytest.approx((drop["onset"], drop["end"]))
    bare = plot_training_track(history, track_run(abrupt_run).track)
    assert bare.axes[0].get_legend() is None  # no story, no marks
