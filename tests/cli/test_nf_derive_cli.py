"""``ghostsym derive --normal-form`` and ``verify --normal-form`` on the fields of the issue
"new normal forms that are always right or say why not", as a user runs them."""

import json
import math

import pytest
from scipy import integrate, optimize


def _strict(text):
    def refuse(token):
        raise AssertionError(f"non-JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def _json(run_cli, *args):
    proc = run_cli("derive", "--json", *args, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return _strict(proc.stdout)


def _one_line_error(proc, cmd, fragment, status=1):
    """One line, no traceback; ``status`` 1 (derive) or 2 (verify's usage errors)."""
    assert proc.returncode == status
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"ghostsym {cmd}: error:"), proc.stderr
    assert fragment in lines[0], lines[0]
    return lines[0]


def test_quartic_plus_square_is_not_a_zero_escape_time(run_cli):
    """SymPy's definite integral of dx/(x^4 + x^2 + r) is 0: rejected, numbers by quadrature."""
    d = _json(run_cli, "--normal-form", "x**4 + x**2 + r", "--T", "10")
    assert d["escape_time"]["method"] == "quadrature"
    assert "closed form rejected" in d["notes"]["escape_time"]
    rs, rn = d["r_star"]["value"], d["point_of_no_return"]["value"]
    assert d["r_star"]["method"] == "numeric" and 0 < rn < rs

    def t_esc(r):
        return integrate.quad(lambda x: 1 / (x**4 + x**2 + r), 0, math.inf, epsrel=1e-12)[0]

    assert math.isclose(t_esc(0.01), 14.3393430238637, rel_tol=1e-9)
    assert math.isclose(t_esc(rs), 10, rel_tol=1e-7)
    assert math.isclose(t_esc(rn), 20, rel_tol=1e-7)


def test_second_fold_sets_the_delay(run_cli):
    d = _json(run_cli, "--normal-form", "x**4 - x**2 + r", "--T", "10")
    assert d["bifurcation_value"]["value"] == 0.25
    assert math.isclose(d["r_star"]["value"], 0.29376054, rel_tol=1e-6)
    assert math.isclose(d["point_of_no_return"]["value"], 0.26191447, rel_tol=1e-6)
    assert math.isclose(d["alpha_star"]["value"], 2.510487e-4, rel_tol=1e-5)
    assert "sqrt(2)/2" in d["notes"]["bottleneck"] and "x = 0" in d["notes"]["bottleneck"]


def test_two_bottlenecks_at_the_same_r_c_add(run_cli):
    d = _json(run_cli, "--normal-form", "(x - 1)**2*(x - 3)**2 + r", "--T", "10")
    assert "add" in d["notes"]["bottleneck"]
    rs = d["r_star"]["value"]

    def f(x):
        return 1 / ((x - 1) ** 2 * (x - 3) ** 2 + rs)

    pts = [0, 1, 3]
    t = sum(
        integrate.quad(f, a, b, epsrel=1e-12, limit=200)[0]
        for a, b in zip(pts, pts[1:], strict=False)
    )
    t += integrate.quad(f, 3, math.inf, epsrel=1e-12, limit=200)[0]
    assert math.isclose(t, 10, rel_tol=1e-6)


def test_blocked_path_is_reported_with_its_fixed_point(run_cli):
    d = _json(run_cli, "--normal-form", "x**2 + r - x**4")
    assert d["r_star"] is None
    assert "blocked by a fixed point" in d["notes"]["r_star"] and "x ~" in d["notes"]["r_star"]


@pytest.mark.parametrize("threshold, value", [("pi", math.pi), ("sqrt(2)", 2**0.5), ("E", math.e)])
def test_irrational_thresholds(run_cli, threshold, value):
    d = _json(run_cli, "--normal-form", "x**2 + r", "--threshold", threshold, "--T", "3")

    def t_esc(rho):  # ∫_0^x* dx/(x² + ρ)
        return math.atan(value / math.sqrt(rho)) / math.sqrt(rho)

    rho = optimize.brentq(lambda u: t_esc(math.exp(u)) - 3, -20, 5, xtol=1e-14)
    assert math.isclose(d["r_star"]["value"], math.exp(rho), rel_tol=1e-8)


def test_extreme_T_gives_strict_json_and_exact_values(run_cli):
    d = _json(run_cli, "--normal-form", "x**2 + r", "--T", "1e200")
    assert d["r_star"]["value"] is None
    assert d["r_star"]["value_exact"].startswith("2.4674011002")  # pi²/4T², not 0.0
    assert "underflows" in d["notes"]["r_star"]
    assert d["alpha_star"]["value"] is None and "e-" in d["alpha_star"]["value_exact"]
    assert d["alpha_star_exponent"]["value"] == -5.0


@pytest.mark.parametrize(
    "field, fragment",
    [
        ("(x**100)**100 + r", "exponent 10000 (after folding powers)"),
        ("((x**10)**10)**10 + r", "exponent 1000 (after folding powers)"),
        ("x**2 + r + exp(exp(exp(100)))", "exp of a constant larger than 700"),
        ("oo*x + r", "contains infinity"),
    ],
)
def test_unbounded_fields_are_refused_in_one_line(run_cli, field, fragment):
    _one_line_error(run_cli("derive", "--normal-form", field, timeout=60), "derive", fragment)


def test_self_power_field_finishes(run_cli):
    d = _json(run_cli, "--normal-form", "x**x + r", "--T", "10")
    assert math.isclose(d["bifurcation_value"]["value"], -math.exp(-math.exp(-1)), rel_tol=1e-12)
    assert d["r_star"]["method"] == "numeric" and d["r_star"]["value"] > -math.exp(-math.exp(-1))


def test_inflection_text_fits_the_field(run_cli):
    proc = run_cli("derive", "--normal-form", "x**3 + r")
    assert proc.returncode == 0, proc.stderr
    assert "A ghost is born where two fixed points merge" not in proc.stdout
    assert "inflection" in proc.stdout
    assert "sign(r)" in proc.stdout and "(-r)**(1/3)" not in proc.stdout  # the real root
    assert "$" not in proc.stdout and "\\partial" not in proc.stdout  # terminal, not LaTeX
    d = _json(run_cli, "--normal-form", "x**3 + r")
    assert "sign(r)" in d["fixed_points"]["expr"]
    assert "agrees with quadrature" in d["r_star"]["check"]


@pytest.mark.parametrize("field", ["y**2 + r", "x + r", "x**2 + r - x**4", "oo*x + r"])
def test_verify_refuses_at_once_with_derives_message(run_cli, tmp_path, field):
    proc = run_cli("verify", "--normal-form", field, "--out", tmp_path / "v", "--no-progress")
    line = _one_line_error(proc, "verify", "", status=2)
    derive = run_cli("derive", "--json", "--normal-form", field)
    if derive.returncode == 0:  # derive reports the reason in its notes
        reason = _strict(derive.stdout)["notes"]["escape_time"]
        assert reason in line
    else:
        assert derive.stderr.strip().split("error: ", 1)[1] == line.split("error: ", 1)[1]
    assert not (tmp_path / "v" / "results.json").exists()


def test_verify_threshold_needs_a_normal_form(run_cli, tmp_path):
    proc = run_cli("verify", "--threshold", "pi", "--out", tmp_path / "v")
    _one_line_error(proc, "verify", "--threshold", status=2)


def test_verify_snic_field_with_threshold_pi(run_cli, tmp_path):
    """The SNIC field r + 1 - cos(x) to the threshold pi, end to end through verify: its rows
    pass with the pipeline's closed forms (r* = (sqrt(T^2 + pi^2) - T)/T at T = 100)."""
    proc = run_cli(
        "verify",
        "escape-time",
        "r-star",
        "--normal-form",
        "r + 1 - cos(x)",
        "--threshold",
        "pi",
        "--out",
        tmp_path / "v",
        "--no-progress",
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {c["id"]: c for c in _strict((tmp_path / "v" / "results.json").read_text())["checks"]}
    assert len(rows) == 6  # x^2 + r and x^4 + r (defaults) and the SNIC field, two checks each
    snic = "r - cos(x) + 1 (x* = pi)"
    for check in ("escape-time", "r-star"):
        assert rows[f"{check}[{snic}]"]["status"] == "pass", rows[f"{check}[{snic}]"]
    T = 100.0
    assert rows[f"r-star[{snic}]"]["analytic"] == pytest.approx(
        (math.sqrt(T**2 + math.pi**2) - T) / T, rel=1e-12
    )
    # t_esc = pi / sqrt(r (r + 2)) to x = pi (r_c = 0, sigma = 1: rho = r), at the worst point
    r_worst = rows[f"escape-time[{snic}]"]["details"]["worst_rho"]
    assert rows[f"escape-time[{snic}]"]["analytic"] == pytest.approx(
        math.pi / math.sqrt(r_worst * (r_worst + 2)), rel=1e-12
    )
