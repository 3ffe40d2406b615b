"""The paper's canonical model dx/dt = x² + r, derived — not typed in (Eqs. 12–23).

The canonical model *is* the normal form ``x**2 + r`` run through the general DA pipeline
(:func:`ghostsym.symbolic.da.analyze`); this module only adds the paper's title, abstract
and equation numbers. :func:`derive` returns the :class:`~ghostsym.symbolic.derivation.Derivation`
whose ``results`` hold SymPy expressions in ``symbols`` = {``x``, ``r``, ``t``, ``T``, ``c``,
``x_star``} (plus ``rho``, the distance past the fold, equal to r here):

============================  ======================================  ==========
key                           expression                              paper
============================  ======================================  ==========
``trajectory``                √r · tan(√r t)                          Eq. 13
``fixed_points``              {−√(−r), √(−r)} (real for r ≤ 0)
``bifurcation_value``         0 (saddle-node)
``escape_time``               π / (2√r)                               Eq. 13
``loss``                      piecewise L(r)                          Eqs. 16–20
``dloss_dr``                  piecewise ∂L/∂r                         Eq. 21
``r_star``                    π² / (4T²)
``point_of_no_return``        π² / (16T²) = r*/4
``grad_at_r_star``            2T³/π²                                  Eq. 22
``alpha_star``                3π⁴ / (32 T⁵)                           Eq. 23
``alpha_star_exponent``       −5
``alpha_star_mse``            3π⁴ / (16 T⁴)
``alpha_star_mse_exponent``   −4
============================  ======================================  ==========

Example::

    from ghostsym.symbolic.canonical import derive
    d = derive()
    d.results["alpha_star"].subs(d.symbols["T"], 100)   # 3*pi**4/320000000000

SymPy only.
"""

from __future__ import annotations

from functools import lru_cache

from ghostsym.symbolic.da import analyze
from ghostsym.symbolic.derivation import Derivation
from ghostsym.symbolic.normal_forms import saddle_node

KEY = "canonical"

#: Paper equation numbers attached to the derived results.
PAPER_LABELS = {
    "trajectory": "Eq. 13",
    "loss": "Eqs. 16--20",
    "dloss_dr": "Eq. 21",
    "grad_at_r_star": "Eq. 22",
    "alpha_star": "Eq. 23",
}


@lru_cache(maxsize=1)
def _derive() -> Derivation:
    d = Derivation(
        KEY,
        "The canonical model of abrupt learning: $\\dot x = x^2 + r$",
        "The canonical model of Dinc et al. (arXiv 2501.02378, Eqs. 12--23), derived by "
        "ghostsym's general delayed-activation pipeline applied to the normal form "
        "$x^2 + r$: the trajectory and escape time, the saddle-node at $r = 0$ whose ghost "
        "delays the output, the three regimes of the loss in the limit of infinite "
        "confidence, the optimum $r^*$, the point of no return $r^*/4$, and the critical "
        "learning rate $\\alpha^* = 3\\pi^4/(32T^5)$ beyond which one gradient step throws "
        "$r$ into the no-learning zone.",
    )
    return analyze(saddle_node(), derivation=d, labels=PAPER_LABELS)


def derive() -> Derivation:
    """The canonical derivation (cached: SymPy work is done once per process)."""
    return _derive()
