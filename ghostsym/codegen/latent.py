"""Latent flows, ghost coefficients, gradient projection, speed energy and reference BPTT.

The numerical side of the RNN derivations (documents ``rnn_latent_reduction``,
``rnn_latent_ghost``, ``rnn_gradient_projection``, ``rnn_speed_minima``,
``rnn_rank_one_bptt``). Every formula is a kernel generated from the SymPy derivation
(:mod:`ghostsym.symbolic.latent`, :mod:`~ghostsym.symbolic.latent_speed`,
:mod:`~ghostsym.symbolic.bptt`) and summed over neurons by the numba templates
``ghostsym/numerics/latent_template.py`` and ``speed_template.py``; nothing here re-types a
formula. Any named nonlinearity of :mod:`ghostsym.symbolic.nonlinearities` works
(``nonlinearity="tanh"`` is the paper's).

Rank-one latent flow, f(κ) = −κ + nᵀφ(mκ + b) (Eq. 25)
    ``latent_flow(m, n, b, kappa)`` -> f at κ (scalar or array, same shape)
    ``latent_flow_derivatives(m, n, b, kappa)`` -> array (4, *shape): f, f′, f″, f‴
    ``refine_critical_point(m, n, b, kappa0)`` -> κ with f′(κ) = 0 (Newton from κ0;
        InputError when it does not converge)
    ``ghost_coefficients(m, n, b, kappa_g, leak=None)`` -> :class:`GhostCoefficients`
        (r_g = f(κ_g), a_g = ½f″(κ_g), r = a_g r_g, passage time π/√r in units of τ and,
        given the leak a = Δt/τ, in steps π/(a√r); Eqs. 26–29)
    ``latent_map(m, n, b, kappa, leak)`` -> G(κ) = κ + a f(κ), one step of the leaky map

Gradient projection (Eqs. 30–35)
    ``canonical_r_gradient(m, n, b, kappa_g)`` -> :class:`CanonicalRGradient` with
        ``m, n, b`` (∂r/∂θ, explicit + implicit through κ_g), the parts ``explicit_*`` and
        ``implicit_*``, and ``flat`` (concatenated m, n, b)
    ``projected_delta_r(grad_r, delta_m, delta_n, delta_b)`` -> (∇_θ r)ᵀΔθ
        (for gradient descent pass Δθ = −α ∇_θ L)

Full-rank speed energy q(x) = ½‖−x + φ(Wx + b)‖² (Eq. 39), column-vector convention
    ``speed_energy(W, b, x)`` -> q;  ``speed_energy_gradient(W, b, x)`` -> (q, ∇q = JᵀF)
    ``speed_energy_hvp(W, b, x, v)`` -> ∇²q v;  ``speed_energy_hessian(W, b, x)`` -> ∇²q
    ``speed_jacobian(W, b, x)`` -> J = −I + diag(φ′(Wx + b))W
    ``speed_energy_batch(W, b, X)`` -> (q per row, ∇q per row)

Rank-one DA network, reference BPTT (docs/experiments.md §1.1; a cross-check for the RNN engine)
    ``rank_one_da_loss(m, n, b, x0, targets, ...)`` -> (L, κ_0..κ_S)
    ``rank_one_da_gradient(m, n, b, x0, targets, ...)`` -> (L, ∂L/∂m, ∂L/∂n, ∂L/∂b, ∂L/∂c)
    with defaults c = 10, κ* = 1, leak a = 0.5 and T = len(targets)/2 (L = (1/T) Σ_t).
    ``da_targets(T)`` -> the DA target (T zeros, then T ones; Eq. 41).

``kernels(nonlinearity)`` returns the compiled modules (``.latent``, ``.speed``) for code
that wants to call the numba functions from its own numba code.

Kernel lists owned here (both built by :func:`kernels`, one module each per nonlinearity):
``flow_linear``, ``flow_neuron``, ``r_grad_neuron``, ``bptt_neuron``, ``da_loss_step``
(template ``ghostsym/numerics/latent_template.py``) and ``speed_neuron`` (template
``ghostsym/numerics/speed_template.py``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from ghostsym.errors import InputError

#: Newton on f′(κ) = 0: stop when |f′| is below this, or after this many steps.
CRITICAL_POINT_TOL = 1e-12
CRITICAL_POINT_MAX_ITER = 100

#: Rank-one DA defaults (docs/experiments.md §1.1): confidence, threshold, Euler leak a = Δt/τ.
DA_CONFIDENCE = 10.0
DA_THRESHOLD = 1.0
DA_LEAK = 0.5


@dataclass(frozen=True)
class Kernels:
    latent: ModuleType
    speed: ModuleType


@functools.cache
def kernels(nonlinearity: str = "tanh") -> Kernels:
    """Generate (once; cached on disk) and import the kernel modules for a nonlinearity."""
    from ghostsym import codegen
    from ghostsym.symbolic import bptt, latent_speed, nonlinearities
    from ghostsym.symbolic import latent as sym

    nonlinearities.check_nonlinearity(nonlinearity)
    linear, per_neuron = sym.flow_kernel_expressions(nonlinearity)
    neuron_args = (sym.m_i, sym.n_i, sym.b_i)
    bptt_neuron, loss = bptt.bptt_kernel_expressions(nonlinearity)
    latent_kernels = [
        codegen.Kernel("flow_linear", (sym.kappa,), linear),
        codegen.Kernel("flow_neuron", (*neuron_args, sym.kappa), per_neuron),
        codegen.Kernel(
            "r_grad_neuron",
            (*neuron_args, sym.kappa_g, sym.r_g, sym.a_g, sym.f3_g),
            sym.r_gradient_kernel_expressions(nonlinearity),
        ),
        codegen.Kernel("bptt_neuron", (*neuron_args, sym.kappa, sym.a), bptt_neuron),
        codegen.Kernel(
            "da_loss_step", (sym.kappa, bptt.y_t, bptt.c, bptt.kappa_star, bptt.T), loss
        ),
    ]
    speed_kernels = [
        codegen.Kernel(
            "speed_neuron",
            (latent_speed.x_i, latent_speed.z_i),
            latent_speed.speed_kernel_expressions(nonlinearity),
        )
    ]
    return Kernels(
        latent=codegen.build_module(
            latent_kernels,
            label=f"latent_{nonlinearity}",
            template="ghostsym.numerics.latent_template",
        ),
        speed=codegen.build_module(
            speed_kernels,
            label=f"speed_{nonlinearity}",
            template="ghostsym.numerics.speed_template",
        ),
    )


# ---- validation -------------------------------------------------------------------------------
def _vector(value, name: str, size: int | None = None) -> np.ndarray:
    arr = np.ascontiguousarray(value, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    if size is not None and arr.size != size:
        raise InputError(f"{name} has {arr.size} entries, expected {size}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} contains non-finite values")
    return arr


def _rank_one(m, n, b):
    m = _vector(m, "m")
    return m, _vector(n, "n", m.size), _vector(b, "b", m.size)


def _scalar(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise InputError(f"{name} must be finite, got {v}")
    return v


def _full_rank(W, b, x):
    W = np.ascontiguousarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] != W.shape[1] or W.size == 0:
        raise InputError(f"W must be a square matrix, got shape {W.shape}")
    if not np.all(np.isfinite(W)):
        raise InputError("W contains non-finite values")
    N = W.shape[0]
    return W, _vector(b, "b", N), _vector(x, "x", N)


# ---- rank-one latent flow --------------------------------------------------------------------
def latent_flow_derivatives(m, n, b, kappa, nonlinearity: str = "tanh") -> np.ndarray:
    """f, f′, f″, f‴ of f(κ) = −κ + nᵀφ(mκ + b) (Eq. 25): array of shape (4, *κ.shape)."""
    m, n, b = _rank_one(m, n, b)
    k = np.asarray(kappa, dtype=np.float64)
    flat = np.ascontiguousarray(k.reshape(-1))
    if not np.all(np.isfinite(flat)):
        raise InputError("kappa contains non-finite values")
    out = kernels(nonlinearity).latent.flow_on_grid(m, n, b, flat)
    return out.reshape((4, *k.shape))


def latent_flow(m, n, b, kappa, nonlinearity: str = "tanh"):
    """f(κ) = −κ + nᵀφ(mκ + b) (Eq. 25), the continuous-time latent flow (units of 1/τ)."""
    values = latent_flow_derivatives(m, n, b, kappa, nonlinearity)[0]
    return float(values) if values.ndim == 0 else values


def latent_map(m, n, b, kappa, leak: float = DA_LEAK, nonlinearity: str = "tanh"):
    """One step of the leaky latent map G(κ) = κ + a f(κ) (Eq. 25, discrete)."""
    leak = _scalar(leak, "leak")
    k = np.asarray(kappa, dtype=np.float64)
    out = k + leak * latent_flow_derivatives(m, n, b, k, nonlinearity)[0]
    return float(out) if out.ndim == 0 else out


def refine_critical_point(
    m,
    n,
    b,
    kappa0,
    nonlinearity: str = "tanh",
    tol: float = CRITICAL_POINT_TOL,
    max_iter: int = CRITICAL_POINT_MAX_ITER,
) -> float:
    """Newton's method on f′(κ) = 0 from κ0 (Eq. 27); raises InputError if it fails."""
    m, n, b = _rank_one(m, n, b)
    k, res, _ = kernels(nonlinearity).latent.newton_critical_point(
        m, n, b, _scalar(kappa0, "kappa0"), float(tol), int(max_iter)
    )
    if not (math.isfinite(k) and res <= max(tol, 1e-9)):
        raise InputError(
            f"Newton on f'(kappa) = 0 from kappa0 = {kappa0} did not converge (|f'| = {res:.3g})"
        )
    return float(k)


@dataclass(frozen=True)
class GhostCoefficients:
    """Ghost coefficients at a critical point κ_g of the latent flow (Eqs. 26–29).

    ``is_ghost`` is r > 0 (a speed minimum with non-zero speed); the passage times are
    π/√r (units of τ) and π/(a√r) (steps of the leaky map), NaN when r ≤ 0.
    """

    kappa_g: float
    r_g: float
    a_g: float
    r: float
    slope: float  # f′(κ_g), ≈ 0 at a critical point
    third: float  # f‴(κ_g)
    passage_time: float
    passage_steps: float

    @property
    def is_ghost(self) -> bool:
        return self.r > 0


def ghost_coefficients(
    m, n, b, kappa_g, leak: float | None = None, nonlinearity: str = "tanh"
) -> GhostCoefficients:
    """r_g = f(κ_g), a_g = ½f″(κ_g), r = a_g r_g and the passage time (Eqs. 26–29).

    The passage time from far below to far above the bottleneck is π/√r in units of τ;
    with the leak a = Δt/τ of the discrete network it is π/(a√r) steps.
    """
    f0, f1, f2, f3 = latent_flow_derivatives(m, n, b, _scalar(kappa_g, "kappa_g"), nonlinearity)
    r_g, a_g = float(f0), 0.5 * float(f2)
    r = a_g * r_g
    passage = math.pi / math.sqrt(r) if r > 0 else math.nan
    steps = passage / _scalar(leak, "leak") if leak is not None else math.nan
    return GhostCoefficients(float(kappa_g), r_g, a_g, r, float(f1), float(f3), passage, steps)


# ---- gradient projection ------------------------------------------------------------------------
@dataclass(frozen=True)
class CanonicalRGradient:
    """∇_θ r at a ghost, per neuron: total = explicit + implicit (through κ_g)."""

    m: np.ndarray
    n: np.ndarray
    b: np.ndarray
    explicit_m: np.ndarray
    explicit_n: np.ndarray
    explicit_b: np.ndarray
    implicit_m: np.ndarray
    implicit_n: np.ndarray
    implicit_b: np.ndarray
    r: float

    @property
    def flat(self) -> np.ndarray:
        return np.concatenate([self.m, self.n, self.b])


def canonical_r_gradient(m, n, b, kappa_g, nonlinearity: str = "tanh") -> CanonicalRGradient:
    """∂r/∂m, ∂r/∂n, ∂r/∂b of r = a_g r_g at the critical point κ_g (Eqs. 29–31).

    κ_g must satisfy f′(κ_g) = 0 (use :func:`refine_critical_point`); the implicit part
    uses dκ_g/dθ = −(∂f′/∂θ)/f″(κ_g) and needs a_g ≠ 0.
    """
    m, n, b = _rank_one(m, n, b)
    parts, rg, ag, _ = kernels(nonlinearity).latent.r_gradient_parts(
        m, n, b, _scalar(kappa_g, "kappa_g")
    )
    if ag == 0.0:
        raise InputError("a_g = f''(kappa_g)/2 = 0: the critical point is degenerate")
    return CanonicalRGradient(
        m=parts[0] + parts[1],
        n=parts[2] + parts[3],
        b=parts[4] + parts[5],
        explicit_m=parts[0],
        implicit_m=parts[1],
        explicit_n=parts[2],
        implicit_n=parts[3],
        explicit_b=parts[4],
        implicit_b=parts[5],
        r=float(rg * ag),
    )


def projected_delta_r(grad_r: CanonicalRGradient, delta_m, delta_n, delta_b) -> float:
    """Δr ≈ (∇_θ r)ᵀΔθ (Eq. 31); for gradient descent Δθ = −α∇_θL gives Eq. 35."""
    N = grad_r.m.size
    return float(
        grad_r.m @ _vector(delta_m, "delta_m", N)
        + grad_r.n @ _vector(delta_n, "delta_n", N)
        + grad_r.b @ _vector(delta_b, "delta_b", N)
    )


# ---- full-rank speed energy ----------------------------------------------------------
def speed_energy(W, b, x, nonlinearity: str = "tanh") -> float:
    """q(x) = ½‖−x + φ(Wx + b)‖² (Eq. 39)."""
    return speed_energy_gradient(W, b, x, nonlinearity)[0]


def speed_energy_gradient(W, b, x, nonlinearity: str = "tanh") -> tuple[float, np.ndarray]:
    """(q, ∇q) with ∇q = JᵀF (Eq. 4)."""
    W, b, x = _full_rank(W, b, x)
    q, g = kernels(nonlinearity).speed.speed_value_grad(W, b, x)
    return float(q), g


def speed_energy_hvp(W, b, x, v, nonlinearity: str = "tanh") -> np.ndarray:
    """∇²q v = Jᵀ(Jv) + Wᵀ((F ⊙ φ″) ⊙ Wv), without forming the Hessian."""
    W, b, x = _full_rank(W, b, x)
    return kernels(nonlinearity).speed.speed_hvp(W, b, x, _vector(v, "v", x.size))


def speed_energy_hessian(W, b, x, nonlinearity: str = "tanh") -> np.ndarray:
    """∇²q = JᵀJ + Σ_i F_i ∇²F_i = JᵀJ + Wᵀ diag(F ⊙ φ″(z)) W."""
    W, b, x = _full_rank(W, b, x)
    return kernels(nonlinearity).speed.speed_hessian(W, b, x)


def speed_jacobian(W, b, x, nonlinearity: str = "tanh") -> np.ndarray:
    """J = −I + diag(φ′(Wx + b)) W, the Jacobian of F(x) = −x + φ(Wx + b)."""
    W, b, x = _full_rank(W, b, x)
    return kernels(nonlinearity).speed.speed_jacobian(W, b, x)


def speed_energy_batch(W, b, X, nonlinearity: str = "tanh") -> tuple[np.ndarray, np.ndarray]:
    """q and ∇q for every row of X (shape (B, N))."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise InputError(f"X must be a 2-D array of states, got shape {X.shape}")
    W, b, _ = _full_rank(W, b, X[0] if len(X) else np.zeros(0))
    if X.shape[1] != W.shape[0] or not np.all(np.isfinite(X)):
        raise InputError(f"X must have {W.shape[0]} finite columns, got shape {X.shape}")
    return kernels(nonlinearity).speed.speed_value_grad_batch(W, b, X)


# ---- rank-one DA reference BPTT -----------------------------------------------------------------
def da_targets(T: int) -> np.ndarray:
    """The DA target of docs/experiments.md §1.4: T zeros then T ones (outputs t = 1..2T)."""
    if int(T) != T or T < 1:
        raise InputError(f"T must be a positive integer, got {T}")
    return np.concatenate([np.zeros(int(T)), np.ones(int(T))])


def _da_args(m, n, b, x0, targets, c, kappa_star, leak, T):
    m, n, b = _rank_one(m, n, b)
    x0 = _vector(x0, "x0", m.size)
    targets = _vector(targets, "targets")
    norm = targets.size / 2 if T is None else _scalar(T, "T")
    if norm <= 0:
        raise InputError(f"T must be positive, got {norm}")
    return (
        m,
        n,
        b,
        x0,
        targets,
        _scalar(c, "c"),
        _scalar(kappa_star, "kappa_star"),
        _scalar(leak, "leak"),
        float(norm),
    )


def rank_one_da_loss(
    m,
    n,
    b,
    x0,
    targets,
    c=DA_CONFIDENCE,
    kappa_star=DA_THRESHOLD,
    leak=DA_LEAK,
    T=None,
    nonlinearity: str = "tanh",
):
    """L = (1/T) Σ_t (σ(c(κ_t − κ*)) − y_t)² over post-update latents, and κ_0..κ_S."""
    args = _da_args(m, n, b, x0, targets, c, kappa_star, leak, T)
    loss, kappas = kernels(nonlinearity).latent.da_forward(*args)
    return float(loss), kappas


def rank_one_da_gradient(
    m,
    n,
    b,
    x0,
    targets,
    c=DA_CONFIDENCE,
    kappa_star=DA_THRESHOLD,
    leak=DA_LEAK,
    T=None,
    nonlinearity: str = "tanh",
):
    """(L, ∂L/∂m, ∂L/∂n, ∂L/∂b, ∂L/∂c) by the derived adjoint recursion (rnn_rank_one_bptt)."""
    args = _da_args(m, n, b, x0, targets, c, kappa_star, leak, T)
    loss, gm, gn, gb, gc = kernels(nonlinearity).latent.da_gradient(*args)
    return float(loss), gm, gn, gb, float(gc)
