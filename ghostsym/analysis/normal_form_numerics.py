"""Numbers for the DA analysis of any normal form: closed forms evaluated, or numeric fallback.

:class:`NormalFormNumerics` takes a :class:`~ghostsym.symbolic.normal_forms.NormalForm` (or
its text) and, optionally, its symbolic DA derivation (:func:`ghostsym.symbolic.da.analyze`),
has :func:`ghostsym.codegen.normal_form.compile_derivation` compile the normal form's one
kernel list and evaluate the closed forms, and provides

* :meth:`~NormalFormNumerics.escape_time` t_esc(r) — the generated kernel of the closed form
  when there is one, adaptive quadrature of ∫ dx/f otherwise (:meth:`escape_time_quad`
  always uses quadrature);
* :meth:`~NormalFormNumerics.da_values` — r*, the point of no return, |∂L/∂r| at r*, α*, α*_MSE
  and the exponents at a given T, each with the method used ("closed form" or "numeric":
  root finding on the quadrature, exponents as d ln α*/d ln T by central differences);
* :attr:`~NormalFormNumerics.simulator` — the normal form's
  :class:`~ghostsym.numerics.normal_form.NormalFormSimulator` (simulation, exact adjoint,
  trainers) on the same compiled module, whose ``train_r(gradient="analytic")`` — the one
  implementation of gradient descent on r with the derived c → ∞ gradient — uses the
  closed-form loss kernels when the pipeline derived them and
  :meth:`~NormalFormNumerics.escape_time_table` (a cubic-Hermite table of t_esc, by
  quadrature when there is no closed form) otherwise;
* the measurement side used by the verification checks: :meth:`simulate_escape_time`
  (ODE integration to the threshold) and :meth:`simulated_loss` (the DA loss of the
  simulated model with a finite, large confidence and threshold).

For the verification checks, :func:`checked_normal_forms` lists the normal forms a check runs
(its defaults plus ``ghostsym verify --normal-form``), :meth:`NormalFormNumerics.at` bundles
the numbers at one delay T (:class:`DAAnalysis`), and :func:`trapped_fraction` runs the
learning-rate × seed sweeps of Fig. 2D. The simulator constructors :func:`normal_form_simulator`,
:func:`simulator_from_normal_form`, :func:`parse_simulator` and :func:`canonical_simulator`
live here too (codegen compiles, numerics simulates).

NumPy/SciPy over compiled kernels: no SymPy here; NormalForm objects are only passed on to
:mod:`ghostsym.codegen.normal_form`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize

from ghostsym.codegen import normal_form as nf_codegen
from ghostsym.errors import GhostsymError
from ghostsym.numerics.normal_form import (
    DEFAULT_T,
    DAGradient,
    NormalFormSimulator,
    TrainingRun,
)

__all__ = [
    "CANONICAL_ONLY",
    "DAAnalysis",
    "DAGradient",
    "DEFAULT_CHECK_NORMAL_FORMS",
    "NormalFormNumerics",
    "NormalFormSimulator",
    "TrainingRun",
    "Value",
    "analyse_normal_form",
    "canonical_simulator",
    "checked_normal_forms",
    "critical_learning_rate",
    "gradient_flow_epochs",
    "normal_form_simulator",
    "parse_simulator",
    "simulator_from_normal_form",
    "trapped_fraction",
]

#: Relative accuracy asked of every quadrature of the escape time.
QUAD_RTOL = 1e-11
#: Relative tolerance of the root finding for r* and the point of no return.
ROOT_RTOL = 1e-13
#: Step in ln T of the central difference giving the local exponent of α*(T).
EXPONENT_LOG_STEP = 0.05
#: Points of the log ρ table used by gradient descent when the loss has no closed form.
TABLE_POINTS = 600
#: ODE tolerances of :meth:`NormalFormNumerics.simulate_escape_time`.
ODE_RTOL = 1e-12
#: With the threshold at infinity a simulation stops once the time scale x / f(x) left
#: before blow-up is below ESCAPE_TAIL_REL times the elapsed time (and x > 1): nearer the
#: blow-up the remaining time would fall below the spacing of double-precision times.
ESCAPE_TAIL_REL = 1e-9


@dataclass(frozen=True)
class Value:
    """A number with how it was obtained."""

    value: float
    method: str  # "closed form" or "numeric"


class NormalFormNumerics:
    """Numerical companion of a normal form's DA derivation (see module docstring).

    ``nf``: a :class:`~ghostsym.symbolic.normal_forms.NormalForm` or its text; ``derivation``:
    its DA derivation (derived when not given). Raises
    :class:`~ghostsym.errors.NotDerivableError` when the normal form has no escape time.
    """

    def __init__(self, nf, derivation=None):
        da = nf_codegen.compile_derivation(nf, derivation)
        self.compiled = da
        self.nf = da.nf
        self.derivation = da.derivation
        self.r_c, self.sigma, self.x_c = da.r_c, da.sigma, da.x_c
        self.x_cs = tuple(da.x_cs) or (da.x_c,)
        self.x0, self.threshold = da.x0, da.threshold
        self.closed = da.closed_escape_time
        self.module = da.module
        self.field = self.module.nf_f
        self.field_dr = self.module.nf_dfdr
        self._tables: dict[float, tuple[np.ndarray, np.ndarray]] = {}
        self._da_values: dict[float, dict[str, Value | None]] = {}
        self._simulator: NormalFormSimulator | None = None

    # -- escape time ---------------------------------------------------------------------
    def rho(self, r: float) -> float:
        return self.sigma * (r - self.r_c)

    def r_of_rho(self, rho: float) -> float:
        return self.r_c + self.sigma * rho

    def escape_time(self, r: float) -> float:
        """t_esc(r): the closed form's kernel if it exists, quadrature otherwise."""
        rho = self.rho(r)
        if rho <= 0:
            return math.inf
        if self.closed:
            return float(self.module.nf_escape_time_rho(rho))
        return self.escape_time_quad(r)

    def escape_time_drho(self, rho: float) -> float:
        if self.closed:
            return float(self.module.nf_escape_time_drho(rho))
        return self._quad(rho, derivative=True)

    def escape_time_quad(self, r: float) -> float:
        """t_esc(r) = ∫_{x0}^{x*} dx / f(x; r) by adaptive quadrature, split around the ghost."""
        rho = self.rho(r)
        if rho <= 0:
            return math.inf
        return self._quad(rho, derivative=False)

    def _breakpoints(self, r: float) -> list[float]:
        f = self.field
        pts = {self.x0}
        for xc in self.x_cs:  # geometric breakpoints around every bottleneck
            f0 = f(xc, r)
            if not f0 > 0:
                raise GhostsymError(f"field not positive at the ghost for r = {r:g}")
            # Width of the bottleneck: where the speed has doubled.
            w = 1e-12
            while f(xc + w, r) < 2 * f0 and xc + w < min(self.threshold, 1e300):
                w *= 2
            pts.add(xc)
            for k in range(0, 16):
                for p in (xc + w * 4.0**k, xc - w * 4.0**k):
                    if self.x0 < p < self.threshold:
                        pts.add(p)
        if math.isfinite(self.threshold):
            pts.add(self.threshold)
        return sorted(pts)

    def _quad(self, rho: float, derivative: bool) -> float:
        r = self.r_of_rho(rho)
        f, fr, s = self.field, self.field_dr, self.sigma
        if derivative:  # dt_esc/dρ = −σ ∫ f_r / f² dx (fixed end points)

            def g(x):
                v = f(x, r)
                return -s * fr(x, r) / (v * v)
        else:

            def g(x):
                return 1.0 / f(x, r)

        pts = self._breakpoints(r)
        total = 0.0
        for a, b in zip(pts[:-1], pts[1:], strict=True):
            val, _ = integrate.quad(g, a, b, epsabs=0.0, epsrel=QUAD_RTOL, limit=400)
            total += val
        if math.isinf(self.threshold):
            # Tail to infinity through x = p/s, s in (0, 1]: a finite interval.
            p = pts[-1]

            def tail(s_):
                x = p / s_
                return g(x) * p / (s_ * s_) if math.isfinite(x) else 0.0

            val, _ = integrate.quad(tail, 0.0, 1.0, epsabs=0.0, epsrel=QUAD_RTOL, limit=400)
            total += val
        return total

    def solve_escape(self, target: float) -> float:
        """The ρ > 0 with t_esc = target (t_esc decreases monotonically in ρ)."""

        def h(logrho):
            return math.log(self._te_rho(math.exp(logrho)) / target)

        lo = hi = 0.0
        while h(hi) > 0:
            hi += 2.0
            if hi > 700:
                raise GhostsymError(f"no rho with t_esc = {target:g}")
        while h(lo) < 0:
            lo -= 2.0
            if lo < -700:
                raise GhostsymError(f"no rho with t_esc = {target:g}")
        return math.exp(optimize.brentq(h, lo, hi, xtol=1e-15, rtol=ROOT_RTOL))

    def _te_rho(self, rho: float) -> float:
        if self.closed:
            return float(self.module.nf_escape_time_rho(rho))
        return self._quad(rho, derivative=False)

    # -- DA quantities at a given T ---------------------------------------------------------
    def _numeric_alpha(self, T: float) -> tuple[float, float, float, float]:
        rho_star = self.solve_escape(T)
        rho_n = self.solve_escape(2 * T)
        G = -self.escape_time_drho(rho_star)
        return rho_star, rho_n, G, (rho_star - rho_n) / G

    def da_values(self, T: float) -> dict[str, Value | None]:
        """r*, point of no return, |∂L/∂r| at r*, α*, α*_MSE and exponents at delay T."""
        if not T > 0:
            raise GhostsymError(f"T must be > 0, got {T}")
        if T not in self._da_values:
            self._da_values[T] = self._compute_da_values(T)
        return self._da_values[T]

    def _compute_da_values(self, T: float) -> dict[str, Value | None]:
        out: dict[str, Value | None] = {}
        numeric = None
        for key in nf_codegen.DA_VALUE_KEYS:
            value = self.compiled.closed_value(key, T)
            if value is not None:
                out[key] = Value(value, "closed form")
                continue
            if numeric is None:
                numeric = self.numeric_da_values(T, exponents=True)
            out[key] = Value(numeric[key], "numeric")
        return out

    def numeric_da_values(self, T: float, *, exponents: bool = False) -> dict[str, float]:
        """r*, r_n, |∂L/∂r| at r*, α* and α*_MSE at delay T by the numerical path alone
        (quadrature and root finding, whatever closed forms exist); with ``exponents`` also
        d ln α*/d ln T by central differences."""
        rho_star, rho_n, G, a = self._numeric_alpha(T)
        out = {
            "r_star": self.r_of_rho(rho_star),
            "point_of_no_return": self.r_of_rho(rho_n),
            "grad_at_r_star": G,
            "alpha_star": a,
            "alpha_star_mse": 2 * T * a,
        }
        if exponents:
            h = EXPONENT_LOG_STEP
            a_hi = self._numeric_alpha(T * math.exp(h))[3]
            a_lo = self._numeric_alpha(T * math.exp(-h))[3]
            k = (math.log(a_hi) - math.log(a_lo)) / (2 * h)
            out["alpha_star_exponent"] = k
            out["alpha_star_mse_exponent"] = k + 1
        return out

    # -- gradient descent driven by the derived gradient -----------------------------------
    def escape_time_table(self, T: float) -> tuple[np.ndarray, np.ndarray]:
        """(table, geometry) for the trainer's table mode at delay T (cached per T).

        ``table`` rows: a uniform grid of log ρ from ρ_n/4 to 1000 ρ*, log t_esc there and the
        exact slopes d log t_esc / d log ρ (closed form, or quadrature of ∫ dx/f and of
        −σ ∫ f_r/f² dx); ``geometry`` = (r_c, σ, ρ_min = ρ_n/4), below which the escape time
        is taken as infinite (the no-learning zone starts at ρ_n).
        """
        T = float(T)
        if T not in self._tables:
            rho_star = self.solve_escape(T)
            rho_n = self.solve_escape(2 * T)
            grid = np.linspace(math.log(rho_n / 4), math.log(rho_star * 1e3), TABLE_POINTS)
            te = np.array([self._te_rho(math.exp(g)) for g in grid])
            dte = np.array([self.escape_time_drho(math.exp(g)) for g in grid])
            slope = dte * np.exp(grid) / te
            table = np.ascontiguousarray(np.stack([grid, np.log(te), slope]))
            geometry = np.array([self.r_c, float(self.sigma), rho_n / 4])
            self._tables[T] = (table, geometry)
        return self._tables[T]

    @property
    def closed_loss(self) -> tuple | None:
        """(L, ∂L/∂r) of the c → ∞ DA loss (Eqs. 16–21) as closed forms (the expressions the
        loss kernels were generated from), or None."""
        return self.compiled.compiled.loss_exprs

    @property
    def has_closed_loss(self) -> bool:
        """Whether the c → ∞ loss and its gradient are closed-form kernels."""
        return self.compiled.compiled.has_closed_loss

    @property
    def simulator(self) -> NormalFormSimulator:
        """The normal form's simulator, on the same compiled module; its analytical gradient
        is the closed-form loss's when the pipeline derived one, the escape-time table's
        otherwise."""
        if self._simulator is None:
            self._simulator = NormalFormSimulator(
                self.compiled.compiled, escape_time_table=self.escape_time_table
            )
        return self._simulator

    def at(self, T: float) -> DAAnalysis:
        """The numbers of the DA analysis at delay T, with the simulator (for the checks)."""
        vals = self.da_values(T)
        values = {k: vals[k].value for k in DAAnalysis.KEYS}
        values["grad_at_r_star"] = abs(values["grad_at_r_star"])
        return DAAnalysis(self, float(T), values)

    # -- measurements: simulating the model ---------------------------------------------------
    def simulate_escape_time(self, r: float) -> tuple[float, float]:
        """Time for dx/dt = f(x; r) from x0 to reach the threshold, by ODE integration.

        Returns ``(time, tail)``: with an infinite threshold the integration stops where
        x > 1 and x / f(x) < :data:`ESCAPE_TAIL_REL` · t, and ``tail`` = x / f(x) there is the
        order of the time left (relative error ~ ESCAPE_TAIL_REL).
        """
        f = self.field

        def rhs(t, y):
            return [f(y[0], r)]

        if math.isfinite(self.threshold):

            def hit(t, y):
                return y[0] - self.threshold
        else:

            def hit(t, y):
                x = y[0]
                if x <= 1.0:
                    return 1.0
                v = f(x, r)
                return (
                    math.log(x / v) - math.log(ESCAPE_TAIL_REL * max(t, 1e-300)) if v > 0 else 1.0
                )

        hit.terminal, hit.direction = True, -1 if math.isinf(self.threshold) else 1
        sol = integrate.solve_ivp(
            rhs, (0.0, 1e15), [self.x0], method="DOP853", rtol=ODE_RTOL, atol=1e-15, events=hit
        )
        if not sol.t_events[0].size:
            raise GhostsymError(
                f"trajectory of {self.nf} did not reach the threshold (r = {r:g}): {sol.message}"
            )
        t_end, x_end = float(sol.t_events[0][0]), float(sol.y_events[0][0][0])
        tail = 0.0 if math.isfinite(self.threshold) else x_end / f(x_end, r)
        return t_end, float(tail)

    def simulated_loss(
        self, r: float, T: float, c: float, x_star: float, x_clip: float | None = None
    ) -> float:
        """DA loss ∫₀^{2T} (σ(c(x − x*)) − y)² dt of the simulated model (Eq. 14).

        The loss is integrated alongside the state (adaptive DOP853, split at the target
        switch t = T). Once x passes ``x_clip`` (default: where c(x − x*) > 50, so the output
        is 1 to double precision) the output is exactly 1 for the rest of the trial.
        """
        f = self.field
        clip = x_clip if x_clip is not None else x_star + 50.0 / c

        def sig(z):
            return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0

        total, x, t0 = 0.0, self.x0, 0.0
        for target, t1 in ((0.0, T), (1.0, 2 * T)):
            if x >= clip:
                total += (t1 - t0) * (1.0 - target) ** 2
                t0 = t1
                continue

            def rhs(t, y, target=target):
                return [f(y[0], r), (sig(c * (y[0] - x_star)) - target) ** 2]

            def hit(t, y):
                return y[0] - clip

            hit.terminal, hit.direction = True, 1
            # A trial step may overshoot the blow-up; the solver rejects it (no warning needed).
            with np.errstate(invalid="ignore", over="ignore"):
                sol = integrate.solve_ivp(
                    rhs,
                    (t0, t1),
                    [x, 0.0],
                    method="DOP853",
                    rtol=1e-10,
                    atol=1e-12,
                    events=hit,
                    max_step=(t1 - t0) / 50,
                )
            total += sol.y[1, -1]
            x = sol.y[0, -1]
            if sol.t_events[0].size:
                t_hit = sol.t_events[0][0]
                total += (t1 - t_hit) * (1.0 - target) ** 2
                x = clip
            t0 = t1
        return float(total)


@dataclass(frozen=True)
class DAAnalysis:
    """A normal form's numerics at one delay T: ``values`` holds floats for r_star,
    point_of_no_return, grad_at_r_star (its magnitude) and alpha_star (closed form or
    numeric, :meth:`NormalFormNumerics.da_values`)."""

    KEYS = ("r_star", "point_of_no_return", "grad_at_r_star", "alpha_star")

    numerics: NormalFormNumerics
    T: float
    values: dict

    @property
    def sim(self) -> NormalFormSimulator:
        return self.numerics.simulator

    @property
    def results(self) -> dict:
        return self.numerics.derivation.results

    @property
    def symbols(self) -> dict:
        return self.numerics.derivation.symbols

    def starts(self, rng, shape) -> np.ndarray:
        """Fig. 2D starts: ρ0 = 10 ρ* + N(0, (ρ*/10)²) past the fold, as r (docs/experiments.md
        §2.5)."""
        num = self.numerics
        rho_star = num.rho(self.values["r_star"])
        return num.r_of_rho(10 * rho_star + rho_star / 10 * rng.standard_normal(shape))

    def trapped(self, run: TrainingRun, gradient: str = "analytic") -> np.ndarray:
        """Which runs end in the no-learning zone. With the analytical gradient the loss there
        is exactly T (zero gradient, r never moves again); with the simulated one, the final
        r lies past the point of no return."""
        if gradient == "analytic":
            return run.loss[:, -1] == self.T
        num = self.numerics
        return num.rho(run.r[:, -1]) < num.rho(self.values["point_of_no_return"])


def trapped_fraction(a: DAAnalysis, lrs, seeds: int, rng, *, epochs: int, **train_kwargs):
    """The Fig. 2D sweep: ``seeds`` starts (:meth:`DAAnalysis.starts`) per learning rate,
    ``epochs`` of ``a.sim.train_r`` (``gradient="analytic"`` unless given; divergence raises).

    Returns ``(fraction trapped per learning rate, the TrainingRun)``; runs are ordered
    learning-rate-major (row i·seeds + j: rate i, seed j).
    """
    lrs = np.asarray(lrs, float)
    train_kwargs.setdefault("gradient", "analytic")
    r0 = a.starts(rng, (lrs.size, seeds))
    run = a.sim.train_r(
        r0.ravel(), np.repeat(lrs, seeds), epochs=epochs, T=a.T, throw=True, **train_kwargs
    )
    frac = a.trapped(run, train_kwargs["gradient"]).reshape(lrs.size, seeds).mean(axis=1)
    return frac, run


def critical_learning_rate(lrs, trapped_fraction, level: float = 0.5) -> float:
    """The learning rate where the trapped fraction first reaches ``level``.

    Geometric interpolation between the last rate below the level and the first at or
    above it (learning rates are swept on a log grid). NaN when the level is never reached
    or is already reached at the smallest rate.
    """
    lrs = np.asarray(lrs, float)
    frac = np.asarray(trapped_fraction, float)
    above = np.flatnonzero(frac >= level)
    if above.size == 0 or above[0] == 0:
        return float("nan")
    j = int(above[0])
    f0, f1 = frac[j - 1], frac[j]
    w = (level - f0) / (f1 - f0)
    return float(np.exp(np.log(lrs[j - 1]) + w * (np.log(lrs[j]) - np.log(lrs[j - 1]))))


def gradient_flow_epochs(a: DAAnalysis, lr: float, r_hi: float, r_lo: float) -> float:
    """Epochs gradient flow dr/de = −α ∂L/∂r (c → ∞ gradient) needs from r_hi down to r_lo,
    ∫ dr / (α ∂L/∂r), on the early side of r*."""
    return float(
        integrate.quad(
            lambda r: 1.0 / (lr * a.sim.analytic_loss_and_gradient(r, a.T)[1]), r_lo, r_hi
        )[0]
    )


#: Normal forms a normal-form verification check runs by default: the paper's
#: saddle-node and the quartic fold; the simulation-heavy checks run the saddle-node only
#: (``defaults=CANONICAL_ONLY``). ``ghostsym verify --normal-form EXPR`` adds more.
DEFAULT_CHECK_NORMAL_FORMS = ("x**2 + r", "x**4 + r")
CANONICAL_ONLY = ("x**2 + r",)


def checked_normal_forms(
    options: dict | None = None, defaults: Sequence[str] = DEFAULT_CHECK_NORMAL_FORMS
) -> list[tuple[str, NormalFormNumerics]]:
    """(text, numerics) for ``defaults`` then ``options["normal_forms"]`` (with the output
    threshold ``options["threshold"]``, default oo), each normal form once (the first text
    naming it is kept; numerics are cached per process).

    Raises :class:`~ghostsym.errors.NotDerivableError` (with the pipeline's reason) for a user
    normal form that has no ghost-induced delay.
    """
    out, seen = [], set()
    options = options or {}
    threshold = options.get("threshold") or "oo"
    user = list(options.get("normal_forms") or [])
    for i, text in enumerate([*defaults, *user]):
        thr = threshold if i >= len(defaults) else "oo"
        nf = nf_codegen.parse_normal_form(text, threshold=thr)
        key = (str(nf), str(nf.threshold))
        if key in seen:
            continue
        seen.add(key)
        out.append((text, _cached_numerics(nf)))
    return out


_NUMERICS_CACHE: dict = {}


def _cached_numerics(nf) -> NormalFormNumerics:
    # SymPy objects as the key: srepr is not stable (it lists a symbol's assumptions once
    # they have been computed), equality and hashing are.
    key = (nf.expr, nf.state, nf.param, nf.x0, nf.threshold)
    if key not in _NUMERICS_CACHE:
        _NUMERICS_CACHE[key] = NormalFormNumerics(nf)
    return _NUMERICS_CACHE[key]


def analyse_normal_form(nf="x**2 + r", T: float = DEFAULT_T) -> DAAnalysis:
    """:meth:`NormalFormNumerics.at` for ``nf`` (text or NormalForm), cached per process."""
    if isinstance(nf, str):
        nf = nf_codegen.parse_normal_form(nf)
    return _cached_numerics(nf).at(T)


# -- simulator constructors: codegen compiles the kernels, numerics drives them --------------
def normal_form_simulator(
    expr, state, param, *, x0=0.0, analytic_loss=None, analytic_grad=None, escape_time_table=None
) -> NormalFormSimulator:
    """The simulator of f(x; r) given as a SymPy expression in its state and parameter symbols.

    ``analytic_loss``: optional ``(loss, r_symbol, T_symbol)``, the c → ∞ DA loss
    (Eqs. 16–20) used by ``train_r(gradient="analytic")``; its r-derivative is taken
    symbolically unless ``analytic_grad`` is given. ``escape_time_table``: for a loss without
    closed form, ``T -> (table, geometry)`` (:meth:`NormalFormNumerics.escape_time_table`).
    """
    compiled = nf_codegen.compile_field(
        expr, state, param, x0=x0, analytic_loss=analytic_loss, analytic_grad=analytic_grad
    )
    return NormalFormSimulator(compiled, escape_time_table=escape_time_table)


def simulator_from_normal_form(nf, **kwargs) -> NormalFormSimulator:
    """:func:`normal_form_simulator` of a :class:`~ghostsym.symbolic.normal_forms.NormalForm`
    (its expression, symbols and x0); keyword arguments as there."""
    return normal_form_simulator(nf.expr, nf.state, nf.param, x0=nf.x0, **kwargs)


def parse_simulator(
    text: str, state: str = "x", param: str = "r", x0: str = "0", **kwargs
) -> NormalFormSimulator:
    """The simulator of user text such as ``"x**4 + r"`` (the safe parser of
    ``NormalForm.parse``); keyword arguments as for :func:`normal_form_simulator`."""
    nf = nf_codegen.parse_normal_form(text, state, param, x0)
    return simulator_from_normal_form(nf, **kwargs)


def canonical_simulator() -> NormalFormSimulator:
    """dx/dt = x² + r with the analytical DA loss of the symbolic layer (Eqs. 16–21)."""
    return NormalFormSimulator(nf_codegen.compile_canonical())
