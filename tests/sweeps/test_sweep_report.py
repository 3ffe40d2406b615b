"""sweep-report: definitions (stuck, learned, critical rate) and the report on a real sweep."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ghostsym.sweeps.report import (
    Criteria,
    critical_rates,
    load_results,
    seed_critical_rate,
)
from ghostsym.sweeps.run import ResultStore, parse_spec, run_sweep

T = 100.0
ALPHA_STAR = 3 * math.pi**4 / (32 * T**5)  # Eq. 23, the canonical model's critical rate


def test_seed_critical_rate_brackets_and_censoring():
    rates = [1e-3, 1e-2, 1e-1, 1.0]
    est, lo, hi, cens = seed_critical_rate(rates, [False, False, True, True])
    assert (lo, hi, cens) == (1e-2, 1e-1, None) and est == pytest.approx(math.sqrt(1e-3))
    # the first trapped rate decides, even if a larger rate happens to escape
    assert seed_critical_rate(rates[::-1], [False, True, False, False])[1:3] == (1e-2, 1e-1)
    assert seed_critical_rate(rates, [False] * 4)[3] == "above"
    assert seed_critical_rate(rates, [True] * 4)[3] == "below"


def _fake_sweep(tmp_path, histories: dict):
    """A results directory whose runs have the given histories (toy kind, lr x seed)."""
    spec = parse_spec(
        {
            "sweep": {"kind": "toy"},
            "grid": {"lr": sorted({k[0] for k in histories}), "seed": [0]},
        }
    )
    store = ResultStore(tmp_path / "fake")
    with store.locked():
        store.write_spec(spec)
        for p in spec.points:
            h = histories[(p.axes["lr"], p.axes["seed"])]
            outcome = {
                "status": "done",
                "history": h,
                "params": {},
                "summary": {"chance_accuracy": 0.5, "epochs_run": len(h["loss"])},
            }
            store.write_run(p, outcome)
    return store.root


def test_stuck_needs_chance_accuracy_and_small_gradient(tmp_path):
    n = 200
    ones = np.ones(n)
    histories = {
        # collapsed into the no-learning zone: accuracy 0.5, gradient 1e-9
        (0.1, 0): {"loss": ones, "grad_norm": 1e-9 * ones, "accuracy": 0.5 * ones},
        # slow plateau: accuracy 0.5 but the gradient is still 1e-3 -> not stuck
        (0.01, 0): {"loss": ones, "grad_norm": 1e-3 * ones, "accuracy": 0.5 * ones},
        # learned: loss falls 1000x, accuracy 1
        (0.02, 0): {
            "loss": np.geomspace(1, 1e-3, n),
            "grad_norm": 1e-9 * ones,
            "accuracy": np.r_[0.5 * ones[:100], ones[100:]],
        },
        # stuck only in the last 20 epochs: not stuck for K = 50, stuck for K = 10
        (0.05, 0): {
            "loss": ones,
            "grad_norm": np.r_[1e-2 * ones[:180], 1e-9 * ones[:20]],
            "accuracy": 0.5 * ones,
        },
    }
    root = _fake_sweep(tmp_path, histories)
    runs = {r.axes["lr"]: r for r in load_results(root, Criteria(window=50)).runs}
    assert runs[0.1].stuck and not runs[0.1].learned
    assert not runs[0.01].stuck
    assert runs[0.02].learned and not runs[0.02].stuck
    assert not runs[0.05].stuck
    assert load_results(root, Criteria(window=10)).runs[3].stuck
    assert not load_results(root, Criteria(stuck_grad=1e-10)).runs[0].stuck
    # the trapped runs start at lr 0.1 (0.05 is not stuck with K = 50): bracket (0.05, 0.1]
    (crit,) = critical_rates(load_results(root))
    assert crit["critical_rate"] == pytest.approx(math.sqrt(0.05 * 0.1))


@pytest.fixture(scope="module")
def canonical_sweep(tmp_path_factory):
    """Fig. 2D in miniature: GD on the canonical model's r over learning rates and starts."""
    spec = parse_spec(
        {
            "sweep": {"kind": "canonical", "name": "canon", "store_every": 10, "store_tail": 100},
            "base": {"T": T, "epochs": 2500},
            "grid": {"lr": {"logspace": [-10.5, -8.5, 13]}, "seed": {"range": [0, 4]}},
        }
    )
    out = tmp_path_factory.mktemp("canon") / "results"
    summary = run_sweep(spec, out, workers=2)
    assert summary.done == 52
    return out


def test_critical_rate_of_the_canonical_model_matches_eq_23(canonical_sweep):
    results = load_results(canonical_sweep)
    (crit,) = critical_rates(results)
    assert crit["seeds_used"] == 4
    # the analytic alpha* lies within the estimate's stated uncertainty
    assert crit["low"] <= ALPHA_STAR <= crit["high"]
    assert crit["high"] / crit["low"] < 2  # and that uncertainty is informative
    stuck_by_lr = {}
    for r in results.runs:
        stuck_by_lr.setdefault(r.axes["lr"], []).append(r.stuck)
    for lr, stuck in stuck_by_lr.items():
        # Eq. 23: trapped above alpha*, never below (away from the seed-dependent edge)
        if lr > 1.1 * ALPHA_STAR:
            assert all(stuck), lr
        elif lr < 0.9 * ALPHA_STAR:
            assert not any(stuck), lr


def test_report_files_and_cli(canonical_sweep, tmp_path, run_cli):
    out = tmp_path / "rep"
    r = run_cli("sweep-report", canonical_sweep, "--out", out, "--window", "20")
    assert r.returncode == 0, r.stderr
    assert "critical rate [all]:" in r.stdout and "report:" in r.stdout
    names = {f.name for f in out.glob("*.png")}
    assert {
        "final_loss.png",
        "learning_curves.png",
        "stuck_fraction.png",
        "critical_rate.png",
    } <= names
    for name in names:
        assert (out / name).stat().st_size > 5000
    text = (out / "report.md").read_text()
    assert "Critical learning rate" in text and "stuck = for each of the last 20 epochs" in text
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["groups"]) == 13 and summary["critical_rates"][0]["seeds_used"] == 4
    rows = (out / "runs.csv").read_text().splitlines()
    assert len(rows) == 53 and rows[0].startswith("run_id,lr,seed,status")

    r = run_cli("sweep-report", tmp_path / "nothing")
    assert r.returncode == 1 and "not a sweep results directory" in r.stderr
    assert "Traceback" not in r.stderr
    r = run_cli("sweep-report", canonical_sweep, "--stuck-grad", "-1")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_report_fit_is_the_checks_fit_without_plateau_runs():
    # The sweep report draws the same trapping fit as the verification checks: a run still
    # on its plateau (untrapped, loss never below half) is left out, not counted as learned.
    from ghostsym.sweeps import report
    from ghostsym.verification import sweeps as vsweeps

    assert vsweeps.trapping_fit is report.trapping_fit and vsweeps.on_plateau is report.on_plateau
    runs = []
    for seed in range(4):
        for lr in (0.01, 0.02, 0.04, 0.08):
            r = report.RunSummary("x", {"lr": lr, "seed": seed}, "done")
            r.initial_loss, r.min_loss, r.stuck = 1.0, 0.01, lr >= 0.04
            runs.append(r)
    censored = report.RunSummary("x", {"lr": 0.08, "seed": 9}, "done")
    censored.initial_loss, censored.min_loss, censored.stuck = 1.0, 0.99, False
    runs.append(censored)
    by_seed = {}
    for r in runs:
        by_seed.setdefault(r.axes["seed"], []).append(r)
    row = report._fit(by_seed, "lr")
    assert row["fit_method"] == "separated" and row["fit_runs"] == 16
    assert row["fit_on_plateau"] == 1 and 0.02 < row["fit_threshold"] < 0.04
