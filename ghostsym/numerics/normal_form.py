"""Simulate, differentiate and train 1-D normal forms dx/dt = f(x; r) on the DA task.

:class:`NormalFormSimulator` drives a normal form's compiled module — the kernels of
:func:`ghostsym.codegen.normal_form.kernels` completed by the template
:mod:`ghostsym.numerics.normal_form_template` (integrators, the exact discrete adjoint, the
trainers) — with NumPy arrays; it never sees a SymPy object, so a new normal form needs no
hand-written numerics. It is built from a compiled bundle (anything with ``module``, ``x0``
and ``has_closed_loss``, e.g. :class:`ghostsym.codegen.normal_form.CompiledNormalForm`);
the usual constructors are in :mod:`ghostsym.analysis.normal_form_numerics`::

    import sympy as sp
    from ghostsym.analysis.normal_form_numerics import normal_form_simulator
    x, r = sp.symbols("x r")
    sim = normal_form_simulator(x**2 + r, x, r)
    g = sim.da_loss_and_gradient(2.5e-4, c=1.0)        # DAGradient(loss, d_r, d_c, d_x_star)
    run = sim.train_r(r0=[2.5e-3], lr=[1e-10], epochs=3000)

``train_r(gradient="analytic")`` is the one trainer driven by the c → ∞ gradient (Eq. 21):
closed-form kernels, or, for a loss without closed form, an escape-time table (see
:class:`ghostsym.analysis.normal_form_numerics.NormalFormNumerics`, whose ``simulator``
chooses). Its parameter update is the one SGD / momentum / Adam of
:mod:`ghostsym.numerics.optim`.

Conventions (the authors' scripts, docs/experiments.md §2.2): Euler (or Heun / RK4) steps
of ``dt`` from ``x0``; n = round(2T/dt) steps; the state is clipped to [−cap, cap] after
every step (the paper clips at +1e6; the cap is absorbing for blow-up to +∞ because every
further step overshoots it again) — so a finite-time blow-up never produces NaN, and a
clipped step passes no derivative; ŷ_k = σ(c (x_k − x*)) scored on post-update states
k = 1..n with target 1 iff k > round(T/dt); L = dt Σ_k (ŷ_k − y_k)², the *un-normalised*
loss whose gradient the paper's updates use (divide by T for the plotted loss).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType

import numba
import numpy as np

from ghostsym.errors import DivergenceError, InputError
from ghostsym.numerics.optim import OPTIMIZERS, optimizer_code

#: The paper's defaults (docs/experiments.md §2.2): delay T, Euler step, threshold x*, clip.
DEFAULT_T = 100.0
DEFAULT_DT = 0.1
DEFAULT_X_STAR = 10.0
DEFAULT_CAP = 1e6

SCHEMES = {"euler": 0, "heun": 1, "rk4": 2}
GRADIENTS = {"simulated": 0, "analytic": 1}
#: Trainer mode of ``gradient="analytic"`` when the c → ∞ gradient is read from an
#: escape-time table (``GRAD_TABLE`` of the template) rather than closed-form kernels.
_GRAD_TABLE = 2
_NO_TABLE = (np.zeros((3, 0)), np.zeros(3))

#: A batch trains on one thread when runs × epochs × (time steps per epoch; 1 for the
#: analytical gradient) is below this: a parallel region costs more than it saves for small
#: batches (8 runs × 10,000 analytical epochs: 1 ms on one thread, 20 ms on two busy cores).
PARALLEL_MIN_WORK = 1_000_000

#: Momentum and Adam defaults (PyTorch's).
DEFAULT_MOMENTUM = 0.9
DEFAULT_ADAM_BETAS = (0.9, 0.999)
DEFAULT_ADAM_EPS = 1e-8

__all__ = [
    "DAGradient",
    "NormalFormSimulator",
    "OPTIMIZERS",
    "TrainingRun",
]


@dataclass(frozen=True)
class DAGradient:
    """The discrete DA loss and its exact gradient."""

    loss: float
    d_r: float
    d_c: float
    d_x_star: float


@dataclass
class TrainingRun:
    """Histories of a batch of runs: arrays of shape (runs, epochs // record_every + 1).

    Row j is epoch j·record_every, before that epoch's update (row 0: the start; last row:
    the final r). ``diverged[i]`` is the first epoch with a non-finite value, or −1; the
    rows after a divergence are NaN.
    """

    loss: np.ndarray
    r: np.ndarray
    grad: np.ndarray
    diverged: np.ndarray
    lr: np.ndarray
    r0: np.ndarray
    record_every: int

    @property
    def epochs(self) -> np.ndarray:
        return np.arange(self.loss.shape[1]) * self.record_every

    def raise_on_divergence(self) -> None:
        bad = np.flatnonzero(self.diverged >= 0)
        if bad.size:
            i = int(bad[0])
            raise DivergenceError(
                f"{bad.size} of {self.diverged.size} runs diverged (first: run {i}, "
                f"lr={self.lr[i]:g}, epoch {int(self.diverged[i])})",
                epoch=int(self.diverged[i]),
            )


class NormalFormSimulator:
    """Numerics of one compiled normal form f(x; r) (see the module docstring).

    Parameters
    ----------
    compiled : the compiled normal form: ``module`` (the template completed by the kernels),
        ``x0`` (initial state, a float) and ``has_closed_loss`` (the module's c → ∞ loss
        kernels are real rather than NaN).
    escape_time_table : for a normal form whose c → ∞ loss has no closed form, a callable
        ``T -> (table, geometry)`` giving the escape-time table of the template's
        ``GRAD_TABLE`` mode (rows log ρ, log t_esc, d log t_esc / d log ρ; geometry
        (r_c, σ, ρ_min)), e.g. :meth:`ghostsym.analysis.normal_form_numerics.NormalFormNumerics
        .escape_time_table`; used only when the closed-form loss is absent.
    """

    def __init__(
        self,
        compiled,
        *,
        escape_time_table: Callable[[float], tuple[np.ndarray, np.ndarray]] | None = None,
    ):
        self.compiled = compiled
        self.module: ModuleType = compiled.module
        self.x0 = float(compiled.x0)
        self.has_closed_analytic = bool(compiled.has_closed_loss)
        self.escape_time_table = None if self.has_closed_analytic else escape_time_table
        self.has_analytic = self.has_closed_analytic or escape_time_table is not None

    # -- helpers -------------------------------------------------------------------------
    @staticmethod
    def _grid(T: float, dt: float) -> tuple[int, int]:
        if not (T > 0 and dt > 0 and math.isfinite(T) and math.isfinite(dt)):
            raise InputError(f"T and dt must be positive and finite (T={T}, dt={dt})")
        return int(round(2 * T / dt)), int(round(T / dt))

    @staticmethod
    def _scheme(scheme: str) -> int:
        try:
            return SCHEMES[scheme]
        except KeyError:
            raise InputError(f"unknown scheme {scheme!r}; choose {', '.join(SCHEMES)}") from None

    # -- public API ------------------------------------------------------------------------
    def simulate(
        self, r: float, *, T=DEFAULT_T, dt=DEFAULT_DT, scheme="euler", cap=DEFAULT_CAP
    ) -> np.ndarray:
        """The clipped trajectory x_0..x_n over [0, 2T] (n = round(2T/dt))."""
        n, _ = self._grid(T, dt)
        out = np.empty(n + 1)
        self.module.trajectory(float(r), self.x0, float(dt), n, self._scheme(scheme), cap, out)
        return out

    def output(self, r, *, c=1.0, x_star=DEFAULT_X_STAR, **kwargs) -> np.ndarray:
        """ŷ_k = σ(c (x_k − x*)) along :meth:`simulate`'s trajectory (stable sigmoid)."""
        z = c * (self.simulate(r, **kwargs) - x_star)
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))

    def da_loss(
        self,
        r,
        *,
        c=1.0,
        x_star=DEFAULT_X_STAR,
        T=DEFAULT_T,
        dt=DEFAULT_DT,
        scheme="euler",
        cap=DEFAULT_CAP,
    ) -> float:
        """The discrete DA loss L(r) (un-normalised)."""
        n, n_t = self._grid(T, dt)
        args = (float(r), float(c), float(x_star), self.x0, float(dt), n, n_t)
        return self.module.da_loss(*args, self._scheme(scheme), float(cap))

    def da_loss_and_gradient(
        self,
        r,
        *,
        c=1.0,
        x_star=DEFAULT_X_STAR,
        T=DEFAULT_T,
        dt=DEFAULT_DT,
        scheme="euler",
        cap=DEFAULT_CAP,
    ) -> DAGradient:
        """L and its exact gradient w.r.t. r, c and x* (hand-written discrete adjoint)."""
        n, n_t = self._grid(T, dt)
        xs, jx, jr = np.empty(n + 1), np.empty(n), np.empty(n)
        args = (float(r), float(c), float(x_star), self.x0, float(dt), n, n_t)
        out = self.module.da_loss_gradient(*args, self._scheme(scheme), float(cap), xs, jx, jr)
        return DAGradient(*map(float, out))

    def loss_landscape(
        self,
        rs,
        cs,
        *,
        x_star=DEFAULT_X_STAR,
        T=DEFAULT_T,
        dt=DEFAULT_DT,
        scheme="euler",
        cap=DEFAULT_CAP,
    ) -> dict[str, np.ndarray]:
        """Loss and gradients on a grid, in parallel: arrays of shape (len(cs), len(rs))."""
        n, n_t = self._grid(T, dt)
        rs = np.ascontiguousarray(rs, dtype=float)
        cs = np.ascontiguousarray(np.atleast_1d(cs), dtype=float)
        out = self.module.loss_gradient_grid(
            rs, cs, float(x_star), self.x0, float(dt), n, n_t, self._scheme(scheme), float(cap)
        )
        return {
            "loss": out[..., 0],
            "d_r": out[..., 1],
            "d_c": out[..., 2],
            "d_x_star": out[..., 3],
        }

    def analytic_loss_and_gradient(self, r, T=DEFAULT_T) -> tuple[float, float]:
        """The c → ∞ loss and gradient that ``train_r(gradient="analytic")`` uses: the
        closed-form kernels, or the escape-time table (NaN when the model has neither)."""
        if self.escape_time_table is not None:
            out = self.module.analytic_loss_gradient_table(float(r), float(T), *self._table(T))
            return float(out[0]), float(out[1])
        return (
            float(self.module.nf_analytic_loss(float(r), float(T))),
            float(self.module.nf_analytic_grad(float(r), float(T))),
        )

    def _table(self, T) -> tuple[np.ndarray, np.ndarray]:
        table, geometry = self.escape_time_table(float(T))
        return (
            np.ascontiguousarray(table, dtype=np.float64),
            np.ascontiguousarray(geometry, dtype=np.float64),
        )

    def train_r(
        self,
        r0,
        lr,
        *,
        epochs: int,
        optimizer: str = "sgd",
        gradient: str = "simulated",
        c=1.0,
        x_star=DEFAULT_X_STAR,
        T=DEFAULT_T,
        dt=DEFAULT_DT,
        scheme="euler",
        cap=DEFAULT_CAP,
        momentum=DEFAULT_MOMENTUM,
        betas=DEFAULT_ADAM_BETAS,
        eps=DEFAULT_ADAM_EPS,
        record_every: int = 1,
        throw: bool = False,
    ) -> TrainingRun:
        """Train r on the DA loss for many independent runs at once (numba ``prange``).

        ``r0`` and ``lr`` broadcast against each other (e.g. a grid of learning rates × seeds,
        flattened). ``optimizer`` is one of :data:`~ghostsym.numerics.optim.OPTIMIZERS`:
        ``sgd``, ``momentum`` (heavy ball v ← βv + g, r ← r − αv) or ``adam`` (the update of
        :func:`ghostsym.numerics.optim.optimizer_step`); ``gradient`` is ``simulated``
        (exact adjoint of the discrete model) or ``analytic`` (the c → ∞ gradient, Eq. 21:
        closed-form kernels, or the escape-time table). Divergence (a non-finite loss,
        gradient or r) is recorded per run; ``throw=True`` raises :class:`DivergenceError`
        instead. In the no-learning zone the analytical gradient is exactly zero, so a
        trapped run has ``loss == T`` from then on.
        """
        code = optimizer_code(optimizer)
        if gradient not in GRADIENTS:
            raise InputError(f"unknown gradient {gradient!r}; choose {', '.join(GRADIENTS)}")
        if gradient == "analytic" and not self.has_analytic:
            raise InputError("gradient='analytic' needs analytic_loss for this normal form")
        if epochs < 0 or record_every < 1 or epochs % record_every:
            raise InputError("epochs must be >= 0 and a multiple of record_every >= 1")
        r0, lr = np.broadcast_arrays(np.asarray(r0, float), np.asarray(lr, float))
        r0 = np.ascontiguousarray(r0.ravel())
        lr = np.ascontiguousarray(lr.ravel())
        n, n_t = self._grid(T, dt)
        beta1 = momentum if optimizer == "momentum" else betas[0]
        mode, (table, geometry) = GRADIENTS[gradient], _NO_TABLE
        if mode == GRADIENTS["analytic"] and not self.has_closed_analytic:
            mode, (table, geometry) = _GRAD_TABLE, self._table(T)
        work = r0.size * max(epochs, 1) * (n if mode == GRADIENTS["simulated"] else 1)
        with _threads(1 if work < PARALLEL_MIN_WORK else None):
            loss, rh, gh, div = self.module.train_batch(
                r0,
                lr,
                int(epochs),
                code,
                float(beta1),
                float(betas[1]),
                float(eps),
                mode,
                float(c),
                float(x_star),
                self.x0,
                float(dt),
                n,
                n_t,
                self._scheme(scheme),
                float(cap),
                float(T),
                int(record_every),
                table,
                geometry,
            )
        run = TrainingRun(loss, rh, gh, div, lr, r0, int(record_every))
        if throw:
            run.raise_on_divergence()
        return run


@contextmanager
def _threads(n: int | None):
    """Run the block with ``n`` numba threads (all of them when None)."""
    before = numba.get_num_threads()
    if n is not None:
        numba.set_num_threads(min(n, before))
    try:
        yield
    finally:
        numba.set_num_threads(before)
