from ghostsym.symbolic.normal_forms import NormalForm
from ghostsym.verification.titles import field_title


def test_field_title_is_mathtext_with_threshold_only_when_finite():
    assert field_title(NormalForm.parse("x**2 + r")) == r"$\dot{x} = x^{2} + r$"
    titled = field_title(NormalForm.parse("x**2 + r", threshold="2"))
    assert titled == r"$\dot{x} = x^{2} + r$, $x^* = 2$"
