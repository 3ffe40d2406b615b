"""Slow points, classification and the reduction to x^2 + r, symbolic and numerical."""

import math

import numpy as np
import pytest
import sympy as sp

from ghostsym.analysis import slow_points as S
from ghostsym.errors import InputError, NotDerivableError
from ghostsym.symbolic import reduction as R
from ghostsym.symbolic.parsing import parse_vector_field

x, y = sp.symbols("x y", real=True)
mu = sp.Symbol("mu", positive=True)


# -- symbolic ---------------------------------------------------------------------------------
def test_theta_neuron_reduces_to_r_equal_I_times_1_minus_I():
    (g,), (theta,), (current,) = R.theta_neuron_field()
    red = R.reduce_symbolic([g], [theta], {theta: 0})
    assert sp.simplify(red.c0 - 2 * current) == 0
    assert sp.simplify(red.c2 - (1 - current) / 2) == 0
    assert sp.simplify(red.r - current * (1 - current)) == 0
    points = R.solve_slow_points([g], [theta])
    assert {sp.simplify(p[theta]) for p in points} >= {0, sp.pi}


def test_non_normal_example_closed_form():
    exprs, state, (m, b) = R.example_field()
    points = R.solve_slow_points(exprs, state)
    assert points == [{state[0]: 0, state[1]: -m / 2}]
    red = R.reduce_symbolic(exprs, state, points[0])
    assert red.c0 == m and sp.simplify(red.c2 - (1 + b)) == 0
    assert sp.simplify(red.r - m * (1 + b)) == 0
    # left and right null vectors differ; p is normalised against v
    assert red.u.normalized() != red.v.normalized()
    assert sp.simplify((red.p.T * red.v)[0]) == 1
    assert sp.simplify(red.p.T * red.J) == sp.zeros(1, 2)
    assert red.transverse_eigenvalues == {-1: 1}
    assert R.classify_symbolic(red, {"mu": 0.01, "b": 0.5}) == "ghost"


def test_reduction_in_skewed_coordinates_gives_the_same_r():
    # The example written in sheared, stretched coordinates (x = 2X, y = Y + X/3). q is not
    # invariant under such maps, so the slow point moves (it is found again by SymPy), but
    # the canonical parameter r = c0 c2 is the same.
    a, c = sp.Rational(2), sp.Rational(1, 3)
    X, Y = sp.symbols("X Y", real=True)
    xs, ys = a * X, Y + c * X
    M = sp.Matrix([[a, 0], [c, 1]])
    G = M.inv() * sp.Matrix([mu + xs**2 + ys, -ys + xs**2 / 2])
    (point,) = R.solve_slow_points(list(G), [X, Y])
    assert point[Y] != -mu / 2  # not the image of the original slow point (0, -mu/2)
    red = R.reduce_symbolic(list(G), [X, Y], point)
    assert sp.simplify(red.r - mu * sp.Rational(3, 2)) == 0


def test_reduce_symbolic_refuses_non_slow_points_and_degenerate_ones():
    exprs, state, _ = R.example_field()
    with pytest.raises(InputError, match="not a slow point"):
        R.reduce_symbolic(exprs, state, {state[0]: 1, state[1]: 0})
    with pytest.raises(NotDerivableError, match="2-dimensional null space"):
        R.reduce_symbolic([mu + x**2, mu + y**2], [x, y], {x: 0, y: 0})
    with pytest.raises(NotDerivableError, match="nilpotent"):
        R.reduce_symbolic([y, mu + x**2], [x, y], {x: 0, y: 0})


def test_reduction_document_builds_and_is_registered():
    from ghostsym.symbolic import documents

    doc = documents.build("reduction")
    m, b = sp.symbols("mu b", positive=True)
    assert sp.simplify(doc.results["example_r"] - m * (1 + b)) == 0
    current = sp.Symbol("I", positive=True)
    assert sp.simplify(doc.results["theta_r"] - current * (1 - current)) == 0
    assert doc.results["theta_relative_error_leading"] == current / 2
    latex = doc.to_latex()
    for tag in range(1, 12):
        if tag in (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2):
            assert f"\\tag{{{tag}}}" in latex, tag


# -- numerical ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def example():
    exprs, state, params = R.example_field()
    return exprs, state, params, S.compile_field(exprs, state, params)


def test_generated_kernels_match_sympy(example):
    exprs, state, params, compiled = example
    values = {"mu": 0.3, "b": 0.7}
    field = compiled.at(values)
    subs_p = {p: values[p.name] for p in params}
    rng = np.random.default_rng(0)
    q = R.kinetic_energy(exprs)
    for _ in range(5):
        pt = rng.uniform(-1, 1, 2)
        subs = {**subs_p, **dict(zip(state, pt, strict=True))}
        F = np.array([float(e.subs(subs)) for e in exprs])
        J = np.array(R.jacobian(exprs, state).subs(subs), dtype=float)
        Hq = np.array(sp.hessian(q, state).subs(subs), dtype=float)
        H = np.array(
            [np.array(h.subs(subs), dtype=float) for h in R.second_derivatives(exprs, state)]
        )
        np.testing.assert_allclose(field.F(pt), F, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(field.J(pt), J, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(field.H(pt), H, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(field.hess_q(pt), Hq, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(field.grad_q(pt), J.T @ F, rtol=1e-12, atol=1e-14)


def test_grad_and_hessian_of_q_against_finite_differences(example):
    *_, compiled = example
    field = compiled.at({"mu": 0.2, "b": 1.3})
    pt = np.array([0.4, -0.3])
    h = 1e-6
    fd_grad = np.array([(field.q(pt + h * e) - field.q(pt - h * e)) / (2 * h) for e in np.eye(2)])
    np.testing.assert_allclose(field.grad_q(pt), fd_grad, rtol=1e-7, atol=1e-9)
    fd_hess = np.array(
        [(field.grad_q(pt + h * e) - field.grad_q(pt - h * e)) / (2 * h) for e in np.eye(2)]
    ).T
    np.testing.assert_allclose(field.hess_q(pt), fd_hess, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("mu_value", [1e-1, 1e-3, 1e-5])
def test_numeric_reduction_matches_symbolic(example, mu_value):
    exprs, state, params, compiled = example
    field = compiled.at({"mu": mu_value, "b": 0.5})
    starts = np.random.default_rng(1).uniform(-1, 1, size=(5, 2))
    points = S.find_slow_points(field, starts)
    assert [p.kind for p in points] == [S.GHOST]
    assert points[0].hits == 5
    np.testing.assert_allclose(points[0].x, [0, -mu_value / 2], atol=1e-12)
    red = S.reduce_to_canonical(field, points[0].x)
    assert red.c0 == pytest.approx(mu_value, rel=1e-9)
    assert red.c2 == pytest.approx(1.5, rel=1e-9)
    assert red.r == pytest.approx(1.5 * mu_value, rel=1e-9)
    assert red.passage_time == pytest.approx(math.pi / math.sqrt(1.5 * mu_value), rel=1e-9)
    assert np.linalg.norm(red.v) == pytest.approx(1) and red.p @ red.v == pytest.approx(1)
    # A purely numerical field (no second derivatives: central differences of J) agrees.
    bare = S.FieldFunctions(f=field.f, jac=field.jac)
    red_fd = S.reduce_to_canonical(bare, S.find_slow_points(bare, starts)[0].x)
    assert red_fd.r == pytest.approx(red.r, rel=1e-6)


def test_reduce_symbolic_or_numeric_paths_agree(example):
    exprs, state, params, _ = example
    values = {"mu": 1e-3, "b": 0.5}
    sym = S.reduce_symbolic_or_numeric(
        exprs, state, params, values, point={state[0]: 0, state[1]: -params[0] / 2}
    )
    num = S.reduce_symbolic_or_numeric(exprs, state, params, values, x0s=[[0.3, 0.1]])
    assert (sym["method"], num["method"]) == ("symbolic", "numeric")
    assert num["r"] == pytest.approx(sym["r"], rel=1e-9)


def test_classification_of_all_kinds():
    X, Y = sp.symbols("X Y", real=True)
    a = sp.Symbol("a", real=True)
    # a = -1: fixed points at X = +-1 (stable at -1, saddle at +1); a > 0: ghost at the origin.
    ghosty = S.compile_field([a + X**2, -Y], [X, Y], [a])
    fps = S.find_slow_points(ghosty.at([-1.0]), [[-0.8, 0.2], [1.2, -0.1], [-1.1, 0.0]])
    kinds = sorted((round(p.x[0]), p.kind, p.stable) for p in fps)
    assert kinds == [(-1, S.FIXED_POINT, True), (1, S.FIXED_POINT, False)]
    assert [p.kind for p in S.find_slow_points(ghosty.at([0.01]), [[0.5, 0.5]])] == [S.GHOST]
    # transversely unstable: a slow point that is not a ghost
    unstable = S.compile_field([a + X**2, Y], [X, Y], [a])
    (pt,) = S.find_slow_points(unstable.at([0.01]), [[0.3, 0.2]])
    assert pt.kind == S.SLOW_POINT and not pt.stable
    # theta = pi maximises the theta neuron's speed: a critical point of q, not a minimum
    (g,), (theta,), (current,) = R.theta_neuron_field()
    neuron = S.compile_field([g], [theta], [current]).at([0.1])
    assert S.classify_field_point(neuron, [math.pi]).kind == S.NOT_MINIMUM
    assert S.find_slow_points(neuron, [[math.pi]]) == []
    (kept,) = S.find_slow_points(neuron, [[math.pi]], include_non_minima=True)
    assert kept.kind == S.NOT_MINIMUM


def test_reduce_to_canonical_refuses_degenerate_points():
    X, Y = sp.symbols("X Y", real=True)
    a = sp.Symbol("a", real=True)
    double = S.compile_field([a + X**2, a + Y**2], [X, Y], [a]).at([0.1])
    with pytest.raises(NotDerivableError, match="more than one small singular value"):
        S.reduce_to_canonical(double, [0.0, 0.0])
    nilpotent = S.compile_field([Y, a + X**2], [X, Y], [a]).at([0.1])
    with pytest.raises(NotDerivableError, match="nilpotent"):
        S.reduce_to_canonical(nilpotent, [0.0, 0.0])


def test_passage_time_of_the_canonical_model_matches_its_exact_window_time():
    X = sp.Symbol("X", real=True)
    field = S.compile_field([mu + X**2], [X], [mu]).at([1e-4])
    L = 0.5
    T = S.bottleneck_passage_time(field, [0.0], [1.0], L)
    exact = 2 / math.sqrt(1e-4) * math.atan(L / math.sqrt(1e-4))
    assert T == pytest.approx(exact, rel=1e-9)


def test_parsed_fields_compile_and_bad_inputs_are_refused():
    parsed = parse_vector_field(["mu + x^2 + y", "-y + 0.5*x^2"], ["x", "y"], ["mu"])
    compiled = S.compile_field(parsed)
    with pytest.raises(InputError, match="missing parameter"):
        compiled.at({})
    with pytest.raises(InputError, match="unknown parameter"):
        compiled.at({"mu": 1.0, "nu": 2.0})
    with pytest.raises(InputError, match="finite"):
        compiled.at([math.nan])
    with pytest.raises(InputError, match="starting points"):
        S.find_slow_points(compiled.at([0.1]), [])
    with pytest.raises(InputError, match="neither state nor parameters"):
        S.compile_field([x + y], [x], [])


def test_symbolic_and_numerical_classification_share_one_vocabulary():
    from ghostsym.analysis.points import FIXED_POINT, GHOST, KINDS

    exprs, state, _ = R.example_field()
    red = R.reduce_symbolic(exprs, state, R.solve_slow_points(exprs, state)[0])
    assert R.classify_symbolic(red, {"mu": 0.01, "b": 0.5}) == GHOST
    assert R.classify_symbolic(red, {"mu": 0, "b": 0.5}) == FIXED_POINT
    assert set(KINDS) >= {GHOST, FIXED_POINT, "slow-point", "not-a-minimum"}
