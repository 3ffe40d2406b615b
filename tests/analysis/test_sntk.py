"""The sNTK: exact forward-sensitivity Jacobians against central finite differences of the
engine's own forward pass (ghostsym.training.simulate), the spectrum against NumPy's SVD,
the effective ranks on known spectra, the channel against ∇θ r, and the per-checkpoint track."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from ghostsym.analysis import sntk
from ghostsym.errors import InputError
from ghostsym.io import json_text
from ghostsym.numerics.rnn import RNNModel, init_params, pack, unpack
from ghostsym.numerics.tasks import Task
from ghostsym.training import simulate

N = 5
H = 1e-6

CASES = {
    "rank1-da-latent": (RNNModel(neurons=N, rank=1), Task(delay=4)),
    "rank1-da-trained-c-kappa": (
        RNNModel(neurons=N, rank=1, train_confidence=True, train_threshold=True),
        Task(delay=4),
    ),
    "rank2-dcd-latent-linear-noise": (
        RNNModel(neurons=N, rank=2, readout="latent_linear", output="tanh", inputs=1, init="wm"),
        Task("dcd", delay=2, cue=2, response=2, rate_sd=0.3, noise_sd=0.2),
    ),
    "full-dmts-population-noise": (
        RNNModel(neurons=N, rank=None, readout="population", inputs=1, init="wm"),
        Task("dmts", delay=2, cue=1, response=2, rate_sd=0.2, noise_sd=0.1),
    ),
    "full-da-fixed-confidence": (
        RNNModel(neurons=N, rank=None, readout="fixed_confidence", confidence=3.0),
        Task(delay=3),
    ),
    "rank3-da-population": (RNNModel(neurons=N, rank=3, readout="population"), Task(delay=3)),
}


def _perturbed(model, seed=5):
    p = init_params(model, seed=seed)
    rng = np.random.default_rng(seed)
    return {
        k: v if k in ("c", "kappa_star") else np.asarray(v + 0.3 * rng.standard_normal(np.shape(v)))
        for k, v in p.items()
    }


@pytest.mark.parametrize("case", list(CASES))
def test_jacobians_match_central_differences_of_the_engine(case):
    model, task = CASES[case]
    params = _perturbed(model)
    seed, epoch = 3, 2
    jac = sntk.jacobians(model, params, task, seed=seed, epoch=epoch)
    sim = simulate(model, params, task, seed=seed, epoch=epoch)
    # The forward pass is the engine's: same states (initial states, noise) and outputs.
    np.testing.assert_allclose(jac.states, sim["states"], rtol=0, atol=1e-13)
    np.testing.assert_allclose(jac.outputs, sim["outputs"], rtol=0, atol=1e-13)
    assert jac.columns.size == sum(np.size(params[k]) for k in model.trainable_names())
    theta = pack(model, params)
    worst = 0.0
    for c, ti in enumerate(jac.columns.theta_index):
        up, down = theta.copy(), theta.copy()
        up[ti] += H
        down[ti] -= H
        sp = simulate(model, unpack(model, up), task, seed=seed, epoch=epoch)
        sm = simulate(model, unpack(model, down), task, seed=seed, epoch=epoch)
        dx = ((sp["states"][1:] - sm["states"][1:]) / (2 * H)).transpose(1, 0, 2)
        dy = (sp["outputs"] - sm["outputs"]) / (2 * H)
        worst = max(
            worst,
            np.abs(dx - jac.state_jacobian[..., c]).max(),
            np.abs(dy - jac.output_jacobian[..., c]).max(),
        )
    assert worst < 1e-8
    # A wrong column (e.g. a swapped index) would give O(1) errors: the tangents are O(1).
    assert np.abs(jac.state_jacobian).max() > 0.1


def test_spectrum_is_the_svd_both_ways():
    rng = np.random.default_rng(1)
    for shape in ((30, 7), (6, 40)):
        J = rng.standard_normal(shape) * np.geomspace(1, 1e-2, shape[1])
        spec = sntk.spectrum(J, top=2)
        _, s, vt = np.linalg.svd(J, full_matrices=False)
        np.testing.assert_allclose(spec.eigenvalues[: s.size], s**2, rtol=1e-9, atol=1e-12)
        for k in range(2):
            assert abs(abs(spec.directions[k] @ vt[k]) - 1) < 1e-8


def test_effective_ranks_on_known_spectra():
    assert sntk.participation_ratio(np.ones(7)) == pytest.approx(7)
    assert sntk.participation_ratio([5.0, 0, 0]) == pytest.approx(1)
    assert sntk.participation_ratio([1.0, 1.0, 0.0]) == pytest.approx(2)
    assert math.isnan(sntk.participation_ratio([0.0, 0.0]))
    assert sntk.count_above([1.0, 0.02, 0.01, 0.009], 0.01) == 3
    assert sntk.count_above([], 0.01) == 0


def test_jacobian_size_is_bounded_before_allocation(monkeypatch):
    model, task = RNNModel(neurons=N, rank=None, readout="population"), Task(delay=3)
    monkeypatch.setattr(sntk, "MAX_JACOBIAN_ENTRIES", 100)
    with pytest.raises(InputError, match="above the limit"):
        sntk.jacobians(model, init_params(model), task)
    with pytest.raises(InputError, match="trials must be"):
        sntk.jacobians(model, init_params(model), task, trials=5)


def test_alignment_is_exact_for_the_ghost_gradient():
    # A rank-one network with a ghost: f(κ) = −κ + Σ v_i tanh(v_i(1.5κ + 1)) has no fixed
    # point near its speed minimum (r ≈ 0.08). The cosine of ∇θ r with itself is one; the
    # top direction's lies in [0, 1].
    model, task = RNNModel(neurons=8, rank=1), Task(delay=4)
    rng = np.random.default_rng(2)
    v = np.ones(8) / np.sqrt(8) + 0.01 * rng.standard_normal(8)
    params = {"m": 1.5 * v, "n": v, "b": 1.0 * v}
    rec = sntk.sntk_record(model, params, task)
    cols = sntk.columns(model)
    grad, r, kappa = sntk.ghost_gradient(model, params, cols)
    assert grad is not None and r > 0
    assert 0.0 <= rec["alignment"]["cosine"] <= 1.0
    spec = sntk.Spectrum(np.array([1.0]), (grad / np.linalg.norm(grad))[None, :])
    assert sntk.channel_alignment(model, params, spec, cols)["cosine"] == pytest.approx(1.0)
    full = RNNModel(neurons=4, rank=None, readout="population")
    rec_full = sntk.sntk_record(full, init_params(full), task)
    assert rec_full["alignment"]["cosine"] is None and "full-rank" in rec_full["alignment"]["why"]


def test_random_alignment_quantile_matches_sampling():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((20000, 30))
    cos = np.abs(x[:, 0]) / np.linalg.norm(x, axis=1)
    assert sntk.random_alignment_quantile(30, 0.99) == pytest.approx(
        np.quantile(cos, 0.99), rel=0.03
    )


def test_track_records_are_json_and_figure_is_written(tmp_path):
    model, task = RNNModel(neurons=6, rank=1), Task(delay=4)
    cps = {e: _perturbed(model, seed=e + 1) for e in (0, 5, 10)}
    record = SimpleNamespace(
        config=SimpleNamespace(model=model, task=task, seed=0),
        history={"loss": np.linspace(1, 0.1, 10)},
        checkpoint_epochs=sorted(cps),
        checkpoint=lambda e: cps[e],
    )
    recs = sntk.sntk_track(record)
    assert [r["epoch"] for r in recs] == [0, 5, 10]
    assert recs[1]["loss"] == pytest.approx(0.5) and math.isnan(recs[2]["loss"])
    json.loads(json_text(recs))
    for r in recs:
        assert 1 <= r["participation_ratio"] <= r["parameters"]
        assert 1 <= r["count_above"] <= r["parameters"]
    with pytest.raises(InputError, match="no checkpoint"):
        sntk.sntk_track(record, epochs=[3])
    path = sntk.plot_sntk_track(recs, tmp_path / "sntk.png")
    assert path.stat().st_size > 10_000


def test_first_ghost_epoch_uses_the_alignment_test():
    model = RNNModel(neurons=8, rank=1)
    rng = np.random.default_rng(2)
    v = np.ones(8) / np.sqrt(8) + 0.01 * rng.standard_normal(8)
    ghost = {"m": 1.5 * v, "n": v, "b": 1.0 * v}  # the ghost of the test above
    none = {"m": 0.1 * v, "n": 0.1 * v, "b": 0.0 * v}  # f ≈ −κ: one fast fixed point, no ghost
    cols = sntk.columns(model)
    assert sntk.ghost_gradient(model, none, cols)[0] is None
    cps = {0: none, 5: none, 10: ghost, 15: none, 20: ghost}
    assert sntk.first_ghost_epoch(model, cps, [0, 5, 10, 15, 20]) == 10
    assert sntk.first_ghost_epoch(model, cps, [15, 20]) == 20
    assert sntk.first_ghost_epoch(model, cps, [0, 5, 15]) is None
    with pytest.raises(InputError, match="rank-one"):
        sntk.first_ghost_epoch(RNNModel(neurons=4, rank=2), {0: {}}, [0])
