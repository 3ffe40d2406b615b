"""Generated latent/speed/BPTT kernels vs SymPy evaluation and vs finite differences."""

import numpy as np
import pytest
import sympy

from ghostsym.codegen import latent as L
from ghostsym.errors import InputError
from ghostsym.symbolic import bptt, latent_speed
from ghostsym.symbolic import latent as sym

N = 12


@pytest.fixture(scope="module")
def theta():
    """A rank-one network whose flow has a non-degenerate critical point near κ ≈ 0.5."""
    rng = np.random.default_rng(3)
    m = 2.0 + 0.3 * rng.standard_normal(N)
    n = (1.5 / N) * (1 + 0.3 * rng.standard_normal(N))
    b = 0.2 * rng.standard_normal(N)
    return m, n, b


def _critical(m, n, b, name="tanh"):
    ks = np.linspace(0.0, 2.0, 201)
    f1 = L.latent_flow_derivatives(m, n, b, ks, name)[1]
    p = np.flatnonzero(np.sign(f1[:-1]) != np.sign(f1[1:]))[0]
    return L.refine_critical_point(m, n, b, ks[p], name)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "erf"])
def test_flow_kernels_match_sympy_sums(theta, name):
    m, n, b = theta
    kappas = np.linspace(-2.5, 2.5, 17)
    got = L.latent_flow_derivatives(m, n, b, kappas, name)
    # Reference: the derivation's indexed sums with N made concrete, evaluated by SymPy.
    exprs = [sym.specialize(e, name) for e in sym.flow_derivatives(3)]
    subs = {sym.N: N}
    for p in range(N):
        subs.update({sym.m[p + 1]: m[p], sym.n[p + 1]: n[p], sym.b[p + 1]: b[p]})
    for order, expr in enumerate(exprs):
        fn = sympy.lambdify(sym.kappa, expr.xreplace({sym.N: N}).doit().xreplace(subs), "math")
        want = np.array([fn(k) for k in kappas])
        np.testing.assert_allclose(got[order], want, rtol=1e-11, atol=1e-11)


def test_flow_derivatives_match_finite_differences(theta):
    m, n, b = theta
    k = np.linspace(-2, 2, 9)
    h = 1e-5
    f = L.latent_flow_derivatives(m, n, b, k)
    fp = L.latent_flow_derivatives(m, n, b, k + h)
    fm = L.latent_flow_derivatives(m, n, b, k - h)
    for order in range(3):
        np.testing.assert_allclose((fp[order] - fm[order]) / (2 * h), f[order + 1], atol=1e-7)


def test_latent_flow_scalar_and_map(theta):
    m, n, b = theta
    assert L.latent_flow(m, n, b, 0.3) == pytest.approx(-0.3 + n @ np.tanh(0.3 * m + b), 1e-14)
    assert L.latent_map(m, n, b, 0.3, leak=0.5) == pytest.approx(
        0.3 + 0.5 * L.latent_flow(m, n, b, 0.3)
    )


def test_ghost_coefficients_and_passage_time(theta):
    m, n, b = theta
    kg = _critical(m, n, b)
    g = L.ghost_coefficients(m, n, b, kg, leak=0.5)
    assert abs(g.slope) < 1e-10
    f = L.latent_flow_derivatives(m, n, b, kg)
    assert g.r_g == pytest.approx(f[0]) and g.a_g == pytest.approx(0.5 * f[2])
    assert g.r == pytest.approx(g.r_g * g.a_g)
    # Make it a ghost: one extra neuron with m = 0 adds a constant drive that sets
    # f(kappa_g) = r_g to a small value of the sign of a_g (kappa_g, a_g unchanged).
    target = 1e-3 * np.sign(g.a_g)
    m2, b2 = np.append(m, 0.0), np.append(b, 5.0)
    n2 = np.append(n, (target - g.r_g) / np.tanh(5.0))
    kg2 = L.refine_critical_point(m2, n2, b2, kg)
    g2 = L.ghost_coefficients(m2, n2, b2, kg2, leak=0.5)
    assert kg2 == pytest.approx(kg) and g2.is_ghost and g2.r_g == pytest.approx(target)
    assert g2.passage_time == pytest.approx(np.pi / np.sqrt(g2.r))
    assert g2.passage_steps == pytest.approx(g2.passage_time / 0.5)
    # Integrate tau dkappa/dt = f(kappa) (tau = 1, RK4) across +-8 widths sqrt(r_g/a_g).
    width = 8 * np.sqrt(abs(g2.r_g / g2.a_g))
    sgn = np.sign(g2.r_g)
    k, t, dt = kg2 - sgn * width, 0.0, 0.02
    while sgn * (k - (kg2 + sgn * width)) < 0:
        k1 = L.latent_flow(m2, n2, b2, k)
        k2 = L.latent_flow(m2, n2, b2, k + dt * k1 / 2)
        k3 = L.latent_flow(m2, n2, b2, k + dt * k2 / 2)
        k4 = L.latent_flow(m2, n2, b2, k + dt * k3)
        k += dt * (k1 + 2 * k2 + 2 * k3 + k4) / 6
        t += dt
    # The canonical time over +-8 widths is (2/pi) atan(8) of pi/sqrt(r); the cubic term of
    # f (relative size f''' s / (3 f'') ~ 0.1 at the edges here) shifts it by a few per cent.
    assert t == pytest.approx(g2.passage_time * 2 * np.arctan(8) / np.pi, rel=0.05)


def _r_of(m, n, b, k0):
    return L.ghost_coefficients(m, n, b, L.refine_critical_point(m, n, b, k0)).r


def test_r_gradient_matches_finite_differences_including_implicit_part(theta):
    m, n, b = theta
    kg = _critical(m, n, b)
    g = L.canonical_r_gradient(m, n, b, kg)
    assert g.r == pytest.approx(L.ghost_coefficients(m, n, b, kg).r)
    h = 1e-6
    for name, total, implicit in (
        ("m", g.m, g.implicit_m),
        ("n", g.n, g.implicit_n),
        ("b", g.b, g.implicit_b),
    ):
        params = {"m": m, "n": n, "b": b}
        fd = np.empty(N)
        for j in range(N):
            e = np.zeros(N)
            e[j] = h
            plus, minus = dict(params), dict(params)
            plus[name] = params[name] + e
            minus[name] = params[name] - e
            fd[j] = (_r_of(**plus, k0=kg) - _r_of(**minus, k0=kg)) / (2 * h)
        np.testing.assert_allclose(total, fd, rtol=1e-6, atol=1e-8)
        # The implicit part is not negligible here: dropping it breaks the match.
        assert np.max(np.abs(total - implicit - fd)) > 1e-4


def test_r_gradient_kernels_match_sympy(theta):
    m, n, b = theta
    kg = _critical(m, n, b)
    g = L.canonical_r_gradient(m, n, b, kg)
    f0, _, f2, f3 = L.latent_flow_derivatives(m, n, b, kg)
    exprs = sym.r_gradient_kernel_expressions("tanh")
    args = (sym.m_i, sym.n_i, sym.b_i, sym.kappa_g, sym.r_g, sym.a_g, sym.f3_g)
    fns = [sympy.lambdify(args, e, "math") for e in exprs]
    got = [g.explicit_m, g.implicit_m, g.explicit_n, g.implicit_n, g.explicit_b, g.implicit_b]
    for fn, arr in zip(fns, got, strict=True):
        want = [fn(m[p], n[p], b[p], kg, f0, 0.5 * f2, f3) for p in range(N)]
        np.testing.assert_allclose(arr, want, rtol=1e-12, atol=1e-14)


def test_projected_delta_r_predicts_small_gradient_step(theta):
    m, n, b = theta
    kg = _critical(m, n, b)
    g = L.canonical_r_gradient(m, n, b, kg)
    rng = np.random.default_rng(0)
    dm, dn, db = (1e-5 * rng.standard_normal(N) for _ in range(3))
    predicted = L.projected_delta_r(g, dm, dn, db)
    measured = _r_of(m + dm, n + dn, b + db, kg) - g.r
    assert predicted == pytest.approx(measured, rel=1e-3)


@pytest.fixture(scope="module")
def full_rank():
    rng = np.random.default_rng(1)
    W = 1.5 * rng.standard_normal((N, N)) / np.sqrt(N)
    return W, 0.3 * rng.standard_normal(N), rng.standard_normal(N)


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_speed_energy_vs_direct_formula_and_fd(full_rank, name):
    W, b, x = full_rank
    phi = {"tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z))}[name]

    def q(v):
        F = -v + phi(W @ v + b)
        return 0.5 * F @ F

    val, grad = L.speed_energy_gradient(W, b, x, name)
    assert val == pytest.approx(q(x), rel=1e-13)
    assert L.speed_energy(W, b, x, name) == val
    h = 1e-6
    eye = np.eye(N)
    fd = np.array([(q(x + h * eye[k]) - q(x - h * eye[k])) / (2 * h) for k in range(N)])
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)
    H = L.speed_energy_hessian(W, b, x, name)
    fdH = np.array(
        [
            (
                L.speed_energy_gradient(W, b, x + h * eye[k], name)[1]
                - L.speed_energy_gradient(W, b, x - h * eye[k], name)[1]
            )
            / (2 * h)
            for k in range(N)
        ]
    )
    np.testing.assert_allclose(H, fdH, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(H, H.T, atol=1e-13)
    v = np.linspace(-1, 1, N)
    np.testing.assert_allclose(L.speed_energy_hvp(W, b, x, v, name), H @ v, atol=1e-12)
    J = L.speed_jacobian(W, b, x, name)
    F = lambda v: -v + phi(W @ v + b)  # noqa: E731
    fdJ = np.array([(F(x + h * eye[k]) - F(x - h * eye[k])) / (2 * h) for k in range(N)]).T
    np.testing.assert_allclose(J, fdJ, atol=1e-8)
    qs, gs = L.speed_energy_batch(W, b, np.stack([x, 2 * x]), name)
    assert qs[0] == pytest.approx(val) and qs[1] == pytest.approx(q(2 * x))
    np.testing.assert_allclose(gs[0], grad)


def test_speed_kernel_matches_sympy():
    exprs = latent_speed.speed_kernel_expressions("tanh")
    mod = L.kernels("tanh").speed
    fns = [sympy.lambdify((latent_speed.x_i, latent_speed.z_i), e, "math") for e in exprs]
    for xv, zv in [(0.3, -1.2), (-2.0, 0.7), (1.0, 4.0), (0.0, 0.0)]:
        got = mod.speed_neuron(xv, zv)
        for fn, gv in zip(fns, got, strict=True):
            assert gv == pytest.approx(fn(xv, zv), rel=1e-13, abs=1e-15)


def test_bptt_kernels_match_sympy():
    neuron, loss = bptt.bptt_kernel_expressions("tanh")
    mod = L.kernels("tanh").latent
    nargs = (sym.m_i, sym.n_i, sym.b_i, sym.kappa, sym.a)
    largs = (sym.kappa, bptt.y_t, bptt.c, bptt.kappa_star, bptt.T)
    for point in [(0.4, -0.2, 0.1, 0.7, 0.5), (-1.3, 0.05, -0.4, -2.0, 0.1)]:
        for fn_e, gv in zip(neuron, mod.bptt_neuron(*point), strict=True):
            want = float(fn_e.subs(dict(zip(nargs, point, strict=True))))
            assert gv == pytest.approx(want, rel=1e-12)
    for point in [(0.8, 0.0, 10.0, 1.0, 20.0), (1.3, 1.0, 2.0, 1.0, 20.0)]:
        for fn_e, gv in zip(loss, mod.da_loss_step(*point), strict=True):
            want = float(fn_e.subs(dict(zip(largs, point, strict=True))))
            assert gv == pytest.approx(want, rel=1e-12)


def test_rank_one_bptt_matches_full_network_and_finite_differences(theta):
    m, n, b = theta
    rng = np.random.default_rng(5)
    x0 = -0.3 * np.ones(N) + 0.1 * rng.standard_normal(N)
    T = 6
    y = L.da_targets(T)
    c, ks, a = 2.0, 0.2, 0.5  # low confidence: gradients are O(1), FD is informative
    loss, kappas = L.rank_one_da_loss(m, n, b, x0, y, c=c, kappa_star=ks, leak=a)
    # Full N-dimensional network (docs/experiments.md §1.1), independently.
    x = x0.copy()
    full = 0.0
    for t in range(2 * T):
        x = (1 - a) * x + a * np.tanh(m * (n @ x) + b)
        assert n @ x == pytest.approx(kappas[t + 1], abs=1e-12)
        full += (1 / (1 + np.exp(-c * (n @ x - ks))) - y[t]) ** 2 / T
    assert loss == pytest.approx(full, rel=1e-12)
    _, gm, gn, gb, gc = L.rank_one_da_gradient(m, n, b, x0, y, c=c, kappa_star=ks, leak=a)
    h = 1e-6

    def Lf(**kw):
        p = {"m": m, "n": n, "b": b, "c": c}
        p.update(kw)
        return L.rank_one_da_loss(p["m"], p["n"], p["b"], x0, y, c=p["c"], kappa_star=ks, leak=a)[0]

    eye = np.eye(N)
    for name, grad, vec in (("m", gm, m), ("n", gn, n), ("b", gb, b)):
        fd = np.array(
            [
                (Lf(**{name: vec + h * eye[j]}) - Lf(**{name: vec - h * eye[j]})) / (2 * h)
                for j in range(N)
            ]
        )
        assert np.max(np.abs(fd)) > 1e-4
        np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)
    assert gc == pytest.approx((Lf(c=c + h) - Lf(c=c - h)) / (2 * h), rel=1e-6)


def test_bad_input_is_a_clear_error(theta):
    m, n, b = theta
    with pytest.raises(InputError, match="unknown nonlinearity"):
        L.latent_flow(m, n, b, 0.0, nonlinearity="relu6")
    with pytest.raises(InputError, match="expected"):
        L.latent_flow(m, n[:-1], b, 0.0)
    with pytest.raises(InputError, match="non-finite"):
        L.latent_flow(m, n, b, np.nan)
    with pytest.raises(InputError, match="square"):
        L.speed_energy(np.ones((2, 3)), np.ones(2), np.ones(2))
    with pytest.raises(InputError, match="positive integer"):
        L.da_targets(0)
