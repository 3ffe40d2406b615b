"""The natural-gradient optimiser (docs/sntk.md §6): its update against a slow NumPy
reference of the same formula, its exact output Jacobian against the sNTK's forward
sensitivities, one training step against NumPy, bit identity of the batched and the
one-network engines, resume across a refresh, and bad options (one line)."""

from __future__ import annotations

import numpy as np
import pytest

from ghostsym.errors import InputError
from ghostsym.numerics.optim import natgrad_precondition, natgrad_precondition_lanes
from ghostsym.numerics.rnn import pack
from ghostsym.training import build_config
from ghostsym.training.engine import _Batch, natgrad_preconditioner, output_jacobian


def _reference(g, mask, V, s, lam):
    """V diag(1/(s²+λ)) Vᵀ g + (1/(s_k²+λ)) (g − V Vᵀ g) on the masked entries."""
    g = g.copy()
    on = mask != 0
    Vm, gm = V[on], g[on]
    proj = Vm.T @ gm
    g[on] = Vm @ (proj / (s**2 + lam)) + (gm - Vm @ proj) / (s[-1] ** 2 + lam)
    return g


def _coef(s, lam):
    c = 1.0 / (s[-1] ** 2 + lam)
    return np.concatenate([[c], 1.0 / (s**2 + lam) - c])


def test_precondition_matches_the_numpy_formula_and_lanes_are_bit_identical():
    rng = np.random.default_rng(5)
    size, k, lanes = 37, 4, 5
    mask = (rng.random(size) > 0.2).astype(float)
    grads, outs, bases, coefs = [], [], [], []
    for _ in range(lanes):
        V = np.linalg.qr(rng.normal(size=(size, k)))[0] * mask[:, None]
        V = np.linalg.qr(V)[0] * mask[:, None]  # orthonormal on the masked entries
        s = np.sort(rng.random(k) * 10)[::-1]
        lam = 0.3
        g = rng.normal(size=size)
        out = g.copy()
        natgrad_precondition(out, mask, V, _coef(s, lam), k)
        np.testing.assert_allclose(out[mask != 0], _reference(g, mask, V, s, lam)[mask != 0])
        np.testing.assert_array_equal(out[mask == 0], g[mask == 0])  # frozen: untouched
        grads.append(g)
        outs.append(out)
        bases.append(V)
        coefs.append(_coef(s, lam))
    # lanes: lane 2 inactive, lane 4 another optimiser (rank −1): both untouched
    grad_l = np.stack(grads, axis=1).copy()
    basis_l = np.stack(bases, axis=2)
    active = np.array([1, 1, 0, 1, 1])
    ranks = np.array([k, k, k, k, -1])
    natgrad_precondition_lanes(grad_l, mask, active, basis_l, np.stack(coefs), ranks)
    for lane in range(lanes):
        expect = outs[lane] if active[lane] and ranks[lane] >= 0 else grads[lane]
        np.testing.assert_array_equal(grad_l[:, lane], expect)


def test_output_jacobian_is_exact_against_forward_sensitivities():
    from ghostsym.analysis.sntk import jacobians

    options = dict(task="dcd", trials_per_condition=1, rate_sd=0.3, noise_sd=0.05)
    config = build_config(
        model="lowrank", rank=2, neurons=7, epochs=5, optimizer="natgrad", **options
    )
    batch = _Batch([config], None)
    params = batch.params(0)
    J, scale = output_jacobian(
        config, batch.theta[0], batch.train_mask, batch.ispec, batch.fspec, batch.u, batch.y, 3
    )
    ref = jacobians(config.model, params, config.task, seed=config.seed, epoch=3)
    expect = ref.matrix("outputs")
    cols = ref.columns.theta_index
    trainable = np.flatnonzero(batch.train_mask)
    np.testing.assert_array_equal(np.sort(cols), trainable)
    order = np.argsort(cols)
    np.testing.assert_allclose(J, expect[:, order], rtol=1e-9, atol=1e-12)
    assert scale == pytest.approx(config.task.loss_scale)


def test_one_natgrad_step_equals_numpy():
    from ghostsym.training import loss_and_gradients

    config = build_config(model="rank1", neurons=10, epochs=1, optimizer="natgrad", lr=0.7,
                          natgrad_rank=3, natgrad_damping=0.05)  # fmt: skip
    batch = _Batch([config], None)
    theta0 = batch.theta[0].copy()
    J, scale = output_jacobian(
        config, theta0, batch.train_mask, batch.ispec, batch.fspec, batch.u, batch.y, 0
    )
    _, sv, vt = np.linalg.svd(np.sqrt(2 * scale) * J, full_matrices=False)
    V, s = vt[:3].T, sv[:3]
    _, grads = loss_and_gradients(config.model, batch.params(0), config.task)
    g = pack(config.model, grads)[batch.train_mask != 0]
    step = V @ (V.T @ g / (s**2 + 0.05)) + (g - V @ (V.T @ g)) / (s[-1] ** 2 + 0.05)
    batch.run()
    moved = batch.theta[0] - theta0
    np.testing.assert_allclose(moved[batch.train_mask != 0], -0.7 * step, rtol=1e-9, atol=1e-15)
    np.testing.assert_array_equal(moved[batch.train_mask == 0], 0.0)
    assert batch.ng_epoch[0] == 0 and batch.ng_rank[0] == 3


def _mixed(**options):
    """Natural gradient (two ranks, two refresh intervals) mixed with SGD and Adam."""
    settings = [
        ("natgrad", dict(natgrad_rank=3, natgrad_refresh=4)),
        ("sgd", {}),
        ("natgrad", dict(natgrad_rank=5, natgrad_refresh=7, natgrad_damping=0.1)),
        ("adam", {}),
        ("natgrad", dict(natgrad_rank=2, natgrad_refresh=1)),
    ]
    return [
        build_config(seed=j, optimizer=opt, lr=0.05 * (1 + j / 5), **extra, **options)
        for j, (opt, extra) in enumerate(settings)
    ]


def _assert_identical(a, b):
    for key in a.history:
        np.testing.assert_array_equal(a.history[key], b.history[key], err_msg=key)
    for key in ("theta", "m1", "m2", "steps", "status", "ng_basis", "ng_coef", "ng_rank",
                "ng_epoch"):  # fmt: skip
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key), err_msg=key)


@pytest.mark.parametrize(
    "options",
    [
        dict(model="rank1", neurons=9, epochs=18),
        dict(
            model="full",
            neurons=7,
            epochs=10,
            task="dmts",
            trials_per_condition=1,
            rate_sd=0.2,
            noise_sd=0.1,
        ),  # fmt: skip
    ],
    ids=["rank1-da", "full-dmts-noise"],
)
def test_batched_equals_one_network_engine_with_natgrad(options):
    configs = _mixed(**options)
    one = _Batch(configs, None, batched=False)
    one.run()
    many = _Batch(configs, None, batched=True)
    many.run()
    _assert_identical(one, many)
    assert one.ng_epoch[4] == options["epochs"] - 1  # refresh every epoch
    assert one.ng_epoch[0] == 4 * ((options["epochs"] - 1) // 4)
    assert one.ng_rank[1] == -1 and one.ng_rank[3] == -1  # sgd, adam: none


def test_resume_across_a_refresh_is_bit_identical():
    configs = _mixed(model="rank1", neurons=9, epochs=30, checkpoints=(13,))
    whole = _Batch(configs, None, batched=True)
    whole.run()
    saved = {}

    def keep(b, at_boundary):
        if b.epoch == 13:
            saved["state"] = {k: np.array(v) for k, v in b.state().items()}
            saved["history"] = {k: v.copy() for k, v in b.history.items()}

    _Batch(configs, None, batched=True).run(on_chunk=keep)
    assert saved["state"]["ng_epoch"][0] == 12  # the next refresh (16) lies after the save
    resumed = _Batch(configs, None, batched=False)
    resumed.load_state(saved["state"], saved["history"])
    resumed.run()
    _assert_identical(whole, resumed)


def test_natgrad_preconditioner_clips_rank_to_the_outputs():
    config = build_config(model="rank1", neurons=6, epochs=1, optimizer="natgrad",
                          natgrad_rank=64, delay=3)  # fmt: skip
    b = _Batch([config], None)
    _, coef, k = natgrad_preconditioner(config, b.theta[0], b.train_mask, b.ispec, b.fspec,
                                        b.u, b.y, 0)  # fmt: skip
    assert k == 6 and coef.size == 7  # 2T = 6 outputs


@pytest.mark.parametrize(
    "args, message",
    [
        (["--natgrad-rank", "0"], "natgrad_rank must be in [1, 64], got 0"),
        (["--natgrad-rank", "x"], "--natgrad-rank: not an integer: 'x'"),
        (["--natgrad-damping", "0"], "natgrad_damping must be in [1e-12, 1e+06], got 0"),
        (["--natgrad-damping", "inf"], "--natgrad-damping must be finite, got 'inf'"),
        (["--natgrad-refresh", "0"], "natgrad_refresh must be in [1, 10,000,000] epochs, got 0"),
    ],
)
def test_bad_natgrad_options_get_one_line(run_cli, args, message):
    done = run_cli("train", "--optimizer", "natgrad", *args, "--show-config")
    assert done.returncode == 1
    assert done.stderr.strip() == f"ghostsym train: error: {message}"
    assert done.stdout == ""


def test_natgrad_config_round_trip_and_limits():
    config = build_config(optimizer="natgrad", natgrad_rank=4, natgrad_damping=0.5,
                          natgrad_refresh=9)  # fmt: skip
    data = config.to_dict()
    assert (data["natgrad_rank"], data["natgrad_damping"], data["natgrad_refresh"]) == (4, 0.5, 9)
    from ghostsym.training import TrainingConfig

    assert TrainingConfig.from_dict(data) == config
    assert "natgrad_rank" not in build_config(optimizer="sgd").to_dict()
    with pytest.raises(InputError, match="natgrad computes one BPTT per output"):
        build_config(optimizer="natgrad", task="dcd", trials_per_condition=200)
    with pytest.raises(InputError, match="natgrad_rank must be an integer"):
        build_config(optimizer="natgrad", natgrad_rank=2.5)
