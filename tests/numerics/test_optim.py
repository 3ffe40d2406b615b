"""The one optimiser update (ghostsym.numerics.optim) against plain NumPy formulas."""

import math

import numpy as np
import pytest

from ghostsym.errors import InputError
from ghostsym.numerics import optim


def _reference(name, theta, grads, lr, beta1, beta2, eps):
    """PyTorch's SGD / momentum / Adam written out in NumPy, one step per gradient."""
    theta, m, v = theta.copy(), np.zeros_like(theta), np.zeros_like(theta)
    for t, g in enumerate(grads, start=1):
        if name == "sgd":
            theta = theta - lr * g
        elif name == "momentum":
            m = beta1 * m + g
            theta = theta - lr * m
        else:
            m = m + (g - m) * (1.0 - beta1)
            v = beta2 * v + (1.0 - beta2) * g * g
            step_size = lr / (1.0 - beta1**t)
            theta = theta - step_size * m / (np.sqrt(v) / math.sqrt(1.0 - beta2**t) + eps)
    return theta, m, v


@pytest.mark.parametrize("name", optim.OPTIMIZERS)
def test_update_matches_the_formulas(name):
    rng = np.random.default_rng(1)
    theta0 = rng.normal(size=7)
    grads = rng.normal(size=(5, 7))
    lr, beta1, beta2, eps = 0.01, 0.8, 0.99, 1e-8
    theta, m1, m2 = theta0.copy(), np.zeros(7), np.zeros(7)
    code = optim.optimizer_code(name)
    for t, g in enumerate(grads, start=1):
        check = optim.optimizer_step(code, theta, g, lr, beta1, beta2, eps, m1, m2, t)
        assert check == 0.0
    ref_theta, ref_m, ref_v = _reference(name, theta0, grads, lr, beta1, beta2, eps)
    if name == "adam":  # numba takes β^t by repeated squaring, Python by pow(): last-bit noise
        np.testing.assert_allclose(theta, ref_theta, rtol=1e-14, atol=0)
    else:
        assert np.array_equal(theta, ref_theta)
    if name != "sgd":
        assert np.array_equal(m1, ref_m)
    if name == "adam":
        assert np.array_equal(m2, ref_v)
    assert not np.array_equal(theta, theta0)


@pytest.mark.parametrize("name", optim.OPTIMIZERS)
def test_masked_update_leaves_frozen_entries_alone(name):
    rng = np.random.default_rng(2)
    theta0 = rng.normal(size=6)
    theta0[5] = math.inf  # a frozen entry may hold an infinite constant
    mask = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    g = rng.normal(size=6)
    code = optim.optimizer_code(name)
    full, m1f, m2f = theta0.copy(), np.zeros(6), np.zeros(6)
    optim.optimizer_step(code, full, g, 0.1, 0.9, 0.999, 1e-8, m1f, m2f, 1)
    part, m1, m2 = theta0.copy(), np.zeros(6), np.zeros(6)
    check = optim.optimizer_step_masked(code, part, g, mask, 0.1, 0.9, 0.999, 1e-8, m1, m2, 1)
    assert check == 0.0
    on = mask != 0
    assert np.array_equal(part[on], full[on])
    assert np.array_equal(part[~on], theta0[~on], equal_nan=True)
    assert not np.any(m1[~on]) and not np.any(m2[~on])


def test_non_finite_result_is_reported():
    theta = np.array([1.0, 2.0])
    check = optim.optimizer_step(
        optim.SGD, theta, np.array([np.inf, 0.0]), 1.0, 0.0, 0.0, 1e-8, theta * 0, theta * 0, 1
    )
    assert math.isnan(check)


def test_codes_and_names():
    assert [optim.optimizer_code(n) for n in optim.OPTIMIZERS] == [
        optim.SGD,
        optim.MOMENTUM,
        optim.ADAM,
    ]
    with pytest.raises(InputError, match="unknown optimizer 'gd'"):
        optim.optimizer_code("gd")
