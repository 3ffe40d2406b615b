"""The grids of the sweep verification checks (verify/fig6a, fig6b, fig7, fig8b, fig8c).

The ``paper`` profile must be the paper's exact grid (docs/experiments.md §6–§8): the same runs as
the example specs in examples/sweeps/ and the numbers of the reference tables. The other
profiles must at least parse and validate. No training runs here.
"""

import functools
import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from ghostsym.sweeps.spec import load_spec, parse_spec
from ghostsym.verification import PROFILES, SEED_BASE, Context

ROOT = Path(__file__).resolve().parents[2]
CHECKS = {
    "fig6a_critical_rate_rank": ["fig6a_rank.toml"],
    "fig6b_rank_learning": ["fig6b_rank_k.toml"],
    "fig7_full_rank_wm": ["fig7_dcd.toml", "fig7_dmts.toml"],
    "fig8b_confidence_ablation": ["fig8b_confidence_ablation.toml"],
    "fig8c_confidence_intervention": ["fig8c_confidence_intervention.toml"],
}


def _module(stem):
    name = f"ghostsym_verify_{stem}"  # the name verification.discover() uses
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "verify" / f"{stem}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@functools.cache
def _parsed(stem, profile):
    ctx = Context(profile=profile, out_dir=Path("unused"), check_id=stem)  # spec() writes nothing
    return parse_spec(_module(stem).spec(ctx), default_name=stem)


def _spec(stem, profile, _tmp_path=None):
    return _parsed(stem, profile)


def _without_seed(points):
    return sorted(
        json.dumps({k: v for k, v in p.config.items() if k != "seed"}, sort_keys=True, default=str)
        for p in points
    )


@pytest.mark.parametrize("stem", sorted(CHECKS))
def test_paper_profile_is_the_example_grid(stem, tmp_path):
    """The paper profile runs the example grid, on the seeds of ctx.seeds (same count)."""
    paper = _spec(stem, "paper", tmp_path)
    example = []
    for toml in CHECKS[stem]:
        example += load_spec(ROOT / "examples" / "sweeps" / toml).points
    assert _without_seed(paper.points) == _without_seed(example)
    assert len({p.config["seed"] for p in paper.points}) == len({p.config["seed"] for p in example})


@pytest.mark.parametrize("stem", sorted(CHECKS))
@pytest.mark.parametrize("profile", PROFILES)
def test_seeds_come_from_ctx_seeds(stem, profile):
    """--seed S shifts every seed of every grid (ctx.seeds): no hard-coded seed axis."""
    seeds = {}
    for offset in (0, 1):
        ctx = Context(profile=profile, out_dir=Path("unused"), check_id=stem, seed=offset)
        spec = parse_spec(_module(stem).spec(ctx), default_name=stem)
        seeds[offset] = sorted({p.config["seed"] for p in spec.points})
        assert set(seeds[offset]) <= set(ctx.seeds(len(seeds[offset]) + 200))
    assert min(seeds[0]) >= SEED_BASE
    assert not set(seeds[0]) & set(seeds[1])


@pytest.mark.parametrize("stem", sorted(CHECKS))
@pytest.mark.parametrize("profile", ["quick", "full"])
def test_smaller_profiles_are_subsets_in_size(stem, profile, tmp_path):
    spec = _spec(stem, profile, tmp_path)
    paper = _spec(stem, "paper", tmp_path)
    assert 0 < len(spec.points) <= len(paper.points)
    epochs = max(p.config["epochs"] for p in spec.points)
    assert epochs <= max(p.config["epochs"] for p in paper.points)


def _values(spec, key):
    return sorted({p.config[key] for p in spec.points})


def test_paper_grids_match_reference(tmp_path):
    # docs/experiments.md §6.1-6.2: 30 rates each, seeds 0-9, 200,001 epochs
    s = _spec("fig6a_critical_rate_rank", "paper", tmp_path)
    rank1 = [p.config for p in s.points if p.config["model"] == "rank1"]
    full = [p.config for p in s.points if p.config["model"] == "full"]
    assert np.allclose(sorted({c["lr"] for c in rank1}), np.logspace(-4, -1, 30))
    assert np.allclose(sorted({c["lr"] for c in full}), np.logspace(-4, 1, 30))
    assert len(rank1) == len(full) == 300
    assert {c["epochs"] for c in rank1 + full} == {200001}
    # §6.4: K in {1,2,3,4,5,10,30,50,100}, lr logspace(-3, 0, 10), 10 seeds, 500,000 epochs
    s = _spec("fig6b_rank_learning", "paper", tmp_path)
    assert _values(s, "rank") == [1, 2, 3, 4, 5, 10, 30, 50, 100]
    assert np.allclose(_values(s, "lr"), np.logspace(-3, 0, 10))
    assert len(_values(s, "seed")) == 10 and _values(s, "epochs") == [500000]
    assert len(s.points) == 900
    # §7.1: DMTS (38 steps) and DCD (32 steps), 20 rates logspace(-3, 1, 20), 20 seeds
    s = _spec("fig7_full_rank_wm", "paper", tmp_path)
    assert _values(s, "task") == ["dcd-fig7", "dmts"]
    assert np.allclose(_values(s, "lr"), np.logspace(-3, 1, 20))
    assert len(_values(s, "seed")) == 20 and _values(s, "epochs") == [20000]
    assert len(s.points) == 800
    # §8.2: lr 0.02, 6000 epochs at c = 10 then 100 at each of logspace(-3, 1, 30), 100 seeds
    s = _spec("fig8b_confidence_ablation", "paper", tmp_path)
    assert np.allclose(_values(s, "intervention_c"), np.logspace(-3, 1, 30))
    assert len(_values(s, "seed")) == 100 and len(s.points) == 3000
    assert _values(s, "epochs") == [6100] and _values(s, "intervention_epoch") == [6000]
    assert _values(s, "lr") == [0.02]
    # §8.4: batch 20, Adam 0.1, noise 1e-3, sigma_fr 0.1, 10,000 + 10,000, c in {.1,.5,1,3,inf}
    s = _spec("fig8c_confidence_intervention", "paper", tmp_path)
    c = s.points[0].config
    assert (c["trials_per_condition"], c["optimizer"], c["lr"]) == (10, "adam", 0.1)
    assert (c["noise_sd"], c["rate_sd"], c["epochs"], c["intervention_epoch"]) == (
        0.001,
        0.1,
        20000,
        10000,
    )
    assert _values(s, "intervention_c") == [0.1, 0.5, 1.0, 3.0, math.inf]
    assert len(_values(s, "seed")) == 100 and len(s.points) == 500


def test_fig8c_full_uses_the_paper_setting(tmp_path):
    """Full shrinks only the number of seeds (docs/experiments.md §8.4)."""
    full = _spec("fig8c_confidence_intervention", "full", tmp_path)
    paper = _spec("fig8c_confidence_intervention", "paper", tmp_path)
    strip = lambda cfg: {k: v for k, v in cfg.items() if k != "seed"}  # noqa: E731
    assert {str(strip(p.config)) for p in full.points} == {
        str(strip(p.config)) for p in paper.points
    }
    assert len(full.points) < len(paper.points)


def test_fig6b_quick_trapping_seeds_are_fresh(tmp_path):
    """The quick trapping rate was chosen from seeds 0-14; quick confirms it on others, and
    the speed and trapping populations are distinct."""
    module = _module("fig6b_rank_learning")
    s = _spec("fig6b_rank_learning", "quick", tmp_path)
    trap = {p.config["seed"] for p in s.points if p.config["lr"] >= module.LARGE_LR}
    speed = {p.config["seed"] for p in s.points if p.config["lr"] < module.LARGE_LR}
    assert trap and min(trap) >= 15 and not trap & speed


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_fig6a_every_rate_runs_past_the_rank_one_plateau(profile, tmp_path):
    """Rank one leaves its plateau at lr x epoch ~ 72-118: every rate gets 2 x 100/lr."""
    s = _spec("fig6a_critical_rate_rank", profile, tmp_path)
    for p in s.points:
        assert p.config["epochs"] >= 200 / p.config["lr"]


def test_check_sweep_keeps_a_different_grid_beside_the_stored_one(tmp_path):
    """A check's results directory holding another grid (an older version, another option)
    is left as it is; the new grid runs beside it and resumes there."""
    from ghostsym.sweeps.run import read_index
    from ghostsym.verification.sweeps import check_sweep

    ctx = Context(
        profile="quick", out_dir=tmp_path, check_id="faketoy", options={"scheduler": None}
    )

    def grid(epochs):
        return {
            "sweep": {"kind": "toy"},
            "base": {"epochs": epochs},
            "grid": {"lr": [0.1, 0.2], "seed": [0]},
        }

    first = check_sweep(ctx, grid(30))
    home = tmp_path / "sweeps" / "faketoy-quick"
    assert first.results_dir == home and len(first.runs) == 2
    stored = (home / "sweep.json").read_bytes()
    second = check_sweep(ctx, grid(40))
    assert second.results_dir.parent == home.parent and second.results_dir != home
    assert second.results_dir.name.startswith("faketoy-quick-")
    assert (home / "sweep.json").read_bytes() == stored
    assert {p["run_id"] for p in read_index(home)["points"]} == {r.run_id for r in first.runs}
    again = check_sweep(ctx, grid(40))  # the same grid again finds its own directory
    assert again.results_dir == second.results_dir


# -- the population helpers of ghostsym.verification.sweeps -------------------------------------
def _run(lr, seed, trapped=False, min_ratio=0.01, status="done"):
    from ghostsym.sweeps.report import RunSummary

    r = RunSummary("x", {"lr": lr, "seed": seed}, status)
    r.initial_loss, r.min_loss = 1.0, min_ratio
    r.stuck = trapped
    return r


def test_plateau_epochs_and_affordable_rates():
    from ghostsym.verification.sweeps import affordable_rates, plateau_epochs

    assert plateau_epochs(0.01, 2.0) == 20000
    assert plateau_epochs(0.003, 3.0) == 100000
    kept, dropped = affordable_rates([1e-4, 1e-3, 1e-2], 2.0, 200001)
    assert kept == [1e-3, 1e-2] and dropped == [1e-4]
    with pytest.raises(ValueError):
        plateau_epochs(0.0, 2.0)


def test_on_plateau_censors_only_undecided_runs():
    from ghostsym.verification.sweeps import on_plateau

    assert on_plateau(_run(0.01, 1, trapped=False, min_ratio=0.9))  # never left the plateau
    assert not on_plateau(_run(0.01, 1, trapped=False, min_ratio=0.1))  # learned
    assert not on_plateau(_run(0.01, 1, trapped=True, min_ratio=0.9))  # trapped counts
    diverged = _run(0.01, 1, status="failed", min_ratio=float("nan"))
    diverged.failure = "divergence"
    assert not on_plateau(diverged)


def test_trapping_fit_excludes_plateau_runs_and_finds_the_step():
    from ghostsym.verification.sweeps import non_monotone_seeds, trapping_fit

    runs = []
    for seed in range(4):
        for lr in (0.01, 0.02, 0.04, 0.08):
            runs.append(_run(lr, seed, trapped=lr >= 0.04))
    runs.append(_run(0.08, 9, trapped=False, min_ratio=0.99))  # censored: would break the step
    fit, table = trapping_fit(runs, 0.99)
    assert fit.method == "separated" and fit.low <= 0.02 and fit.high >= 0.04
    assert 0.02 < fit.threshold < 0.04
    assert table["on_plateau"] == [0, 0, 0, 1] and table["trapped"] == [0, 0, 4, 4]
    assert non_monotone_seeds(runs) == []
    runs.append(_run(0.16, 2, trapped=False))  # seed 2 learns again above its trapped rates
    assert non_monotone_seeds(runs) == [2]


def test_ratio_interval_and_sign_test_min():
    from ghostsym.analysis.statistics import ThresholdFit
    from ghostsym.verification.sweeps import ratio_interval, sign_test_min

    def fit(t, lo, hi):
        return ThresholdFit(t, lo, hi, 5.0, 0.99, "logistic", 10, 5, (True, True), (lo, hi))

    assert ratio_interval(fit(1.0, 0.5, 2.0), fit(0.01, 0.008, 0.0125)) == pytest.approx(
        (40.0, 250.0)
    )
    assert sign_test_min(7, 0.01) == 7  # 1/128 < 0.01
    assert sign_test_min(6, 0.01) == 7  # 1/64 > 0.01: impossible
    assert sign_test_min(10, 0.011) == 9
