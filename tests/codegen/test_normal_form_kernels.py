"""One kernel list per normal form (ghostsym.codegen.normal_form)."""

import math

import pytest
import sympy as sp

from ghostsym.analysis.normal_form_numerics import NormalFormNumerics
from ghostsym.codegen import normal_form as nfc
from ghostsym.errors import InputError, NotDerivableError
from ghostsym.symbolic.normal_forms import NormalForm

x, r = sp.symbols("x r", real=True)
T = 100.0


@pytest.fixture(scope="module")
def saddle():
    return nfc.compile_derivation("x**2 + r")


def test_derivation_module_has_one_set_of_names(saddle):
    m = saddle.module
    for name in ("nf_f", "nf_dfdx", "nf_dfdr", "nf_analytic_loss", "nf_analytic_grad"):
        assert callable(getattr(m, name))
    assert saddle.closed_escape_time and saddle.compiled.has_closed_loss
    assert m.nf_f(3.0, 0.5) == 9.5 and m.nf_dfdx(3.0, 0.5) == 6.0 and m.nf_dfdr(3.0, 0.5) == 1.0
    rho = 0.01  # t_esc = π / (2 √ρ), dt_esc/dρ = −π / (4 ρ^{3/2})
    assert m.nf_escape_time_rho(rho) == pytest.approx(math.pi / (2 * math.sqrt(rho)), rel=1e-14)
    assert m.nf_escape_time_drho(rho) == pytest.approx(-math.pi / (4 * rho**1.5), rel=1e-14)
    # the template runs on the very same kernels
    assert m.da_loss(2.5e-4, 1.0, 10.0, 0.0, 0.1, 2000, 1000, 0, 1e6) > 0


def test_numbers_are_floats(saddle):
    assert (saddle.r_c, saddle.sigma, saddle.x_c, saddle.x0) == (0.0, 1, 0.0, 0.0)
    assert saddle.threshold == math.inf
    r_star = saddle.closed_value("r_star", T)
    assert isinstance(r_star, float) and r_star == pytest.approx(math.pi**2 / (4 * T**2))
    alpha = saddle.closed_value("alpha_star", T)
    assert alpha == pytest.approx(3 * math.pi**4 / (32 * T**5), rel=1e-14)
    assert saddle.closed_value("alpha_star_exponent", T) == -5.0
    with pytest.raises(InputError, match="unknown DA result"):
        saddle.closed_value("loss", T)


def test_numerics_and_simulator_share_the_compiled_module():
    """f and ∂f/∂r are compiled once: the analysis and the trainer call the same kernels."""
    num = NormalFormNumerics(NormalForm(x**4 + r, x, r))
    assert num.simulator.module is num.module
    assert num.field is num.module.nf_f and num.field_dr is num.module.nf_dfdr
    assert num.escape_time(1e-4) == pytest.approx(num.escape_time_quad(1e-4), rel=1e-9)


def test_field_without_loss_has_nan_loss_and_no_escape_kernels():
    c = nfc.compile_normal_form("x**3 + r")
    assert not c.has_closed_loss and c.loss_exprs is None
    assert math.isnan(c.module.nf_analytic_loss(1.0, T))
    assert math.isnan(c.module.nf_analytic_grad(1.0, T))
    assert not hasattr(c.module, "nf_escape_time_rho")
    assert c.module.nf_dfdx(2.0, 0.0) == 12.0


def test_canonical_loss_kernels(saddle):
    """symbolic.curvature's loss and the pipeline's print the same kernels for x² + r."""
    c = nfc.compile_canonical()
    for rv in (0.5e-4, 2.5e-4, 1e-3):
        assert c.module.nf_analytic_grad(rv, T) == saddle.module.nf_analytic_grad(rv, T)
        assert c.module.nf_analytic_loss(rv, T) == saddle.module.nf_analytic_loss(rv, T)


def test_bad_input_is_one_line():
    q = sp.Symbol("q")
    with pytest.raises(InputError, match="other than"):
        nfc.compile_field(x**2 + r + q, x, r)
    with pytest.raises(InputError, match="symbols"):
        nfc.compile_field(x**2 + r, x**2, r)
    with pytest.raises(InputError, match="x0"):
        nfc.compile_field(x**2 + r, x, r, x0=x)
    with pytest.raises(NotDerivableError, match="no ghost"):
        nfc.compile_derivation("x + r")
