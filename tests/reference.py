"""Slow, obviously correct reference implementations of the RNN engine (tests only).

Plain NumPy (SciPy only for erf and the normal quantile); nothing here calls the numba engine
or reuses its code. The engine (``ghostsym.numerics.rnn_template``) is tested against these
functions in ``tests/training/test_engine_reference.py``.

Model (column-vector convention, Eqs. 47 and 49), t = 0 … S−1:

    h_t     = W x_t + b + W_in u_t + σ_noise ξ_t,     W = Σ_k m_k n_kᵀ (rank K) or full
    x_{t+1} = (1 − α) x_t + α φ(h_t)

Output t reads the state s = t + 1 ("post", the DA networks) or s = t ("pre", the
working-memory networks):

    latent            ŷ = g(c (κ₁ − κ*)),           κ = nᵀ x_s          (Eq. 36)
    latent_linear     ŷ = g(w_outᵀ nᵀ x_s + b_out)                      (Fig. 4)
    population        ŷ = g(w_outᵀ x_s + b_out)                         (Eqs. 38, 48)
    fixed_confidence  ŷ = g(c (w_outᵀ x_s + b_out) / ‖w_out‖₁)          (Eq. 40, L1 form;
                                                                         c = ∞: population)

Loss L = scale · Σ_{trials, t} (ŷ − y)², scale = 1/T for DA (T = the delay) and 1/(B·S)
(the mean squared error) for DCD and DMTS. Trials are the task's conditions repeated
``trials_per_condition`` times (trial i has condition i mod conditions).

Randomness (random initial states x₀ = tanh(σ_fr ζ), noise ξ inside φ) is the engine's
documented counter-based stream: draw j of a stream with key k is Φ⁻¹(u_j),
u_j = (⌊mix64(k + j·γ) / 2¹¹⌋ + ½)/2⁵³ with SplitMix64's finaliser mix64 and γ its golden
increment, key(seed, stream) = mix64(mix64(seed + γ) xor stream); trial i of epoch e takes
x₀ from draws (eB + i)·N … (eB + i)·N + N − 1 of the x₀ stream and step t's noise from
draws ((eB + i)·S + t)·N + … of the noise stream. Re-implemented here with Python integers
and ``scipy.special.ndtri`` (the engine uses AS241).

Gradients: :func:`complex_step_gradient` (exact to rounding: every function above is
analytic; ‖w_out‖₁ is continued analytically as Σ sign(Re w)·w) and
:func:`richardson_gradient` (central differences, Richardson-extrapolated, float64).
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.special

READOUTS = ("latent", "latent_linear", "population", "fixed_confidence")
OUTPUTS = ("sigmoid", "tanh")
ACTIVATIONS = ("tanh", "sigmoid", "erf")

#: Accuracy of the working-memory DCD task: ŷ ≤ −0.33 → −1, ŷ ≥ 0.33 → +1, else 0.
TERNARY_THRESHOLD = 0.33

#: First step of :func:`richardson_gradient`: on the test suite's networks (N = 7, loss and
#: gradients O(10⁻³…1)) its error is ≤ 2e-10 of the largest gradient entry of each parameter,
#: truncation (larger steps) and rounding (smaller steps) balanced.
FD_STEP = 4e-3

# ---- the counter-based random stream (SplitMix64 + Φ⁻¹) --------------------------------
_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
STREAM_X0 = 0x5851F42D4C957F2D
STREAM_NOISE = 0x14057B7EF767814F


def _mix64(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def stream_key(seed: int, stream: int) -> int:
    return _mix64(_mix64((seed + _GOLDEN) & _MASK) ^ stream)


def normal_draws(key: int, first: int, count: int) -> np.ndarray:
    """Standard normal draws first … first + count − 1 of the stream with this key."""
    units = [
        ((_mix64((key + j * _GOLDEN) & _MASK) >> 11) + 0.5) / 2.0**53
        for j in range(first, first + count)
    ]
    return scipy.special.ndtri(np.array(units))


# ---- tasks -----------------------------------------------------------------------------
def conditions(task) -> int:
    return {"da": 1, "dcd": 2, "dmts": 4}[task.name]


def trials(task) -> int:
    return conditions(task) * task.trials_per_condition


def steps(task) -> int:
    if task.name == "da":
        return 2 * task.delay  # T steps of target 0, then T steps of target 1 (Eq. 41)
    if task.name == "dcd":
        return task.cue + task.delay + task.response
    return task.cue + task.delay + task.cue + task.response  # cue, delay, probe, response


def loss_scale(task) -> float:
    return 1.0 / task.delay if task.name == "da" else 1.0 / (trials(task) * steps(task))


def trial_arrays(task) -> tuple[np.ndarray, np.ndarray]:
    """(u of shape (B, S, D), y of shape (B, S)), written out trial by trial."""
    B, S = trials(task), steps(task)
    D = 0 if task.name == "da" else 1
    u = np.zeros((B, S, D))
    y = np.zeros((B, S))
    for i in range(B):
        for t in range(S):
            if task.name == "da":
                y[i, t] = 0.0 if t < task.delay else 1.0
            elif task.name == "dcd":
                sign = 1.0 if i % 2 == 0 else -1.0
                if t < task.cue:
                    u[i, t, 0] = sign
                if t >= task.cue + task.delay:
                    y[i, t] = sign
            else:
                sample, probe = [(1.0, 1.0), (-1.0, -1.0), (-1.0, 1.0), (1.0, -1.0)][i % 4]
                probe_start = task.cue + task.delay
                if t < task.cue:
                    u[i, t, 0] = sample
                if probe_start <= t < probe_start + task.cue:
                    u[i, t, 0] = probe
                if t >= probe_start + task.cue:
                    y[i, t] = 1.0 if sample == probe else 0.0
    return u, y


@functools.lru_cache(maxsize=256)
def _draws(task, neurons: int, seed: int, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    B, S, N = trials(task), steps(task), neurons
    x0 = np.empty((B, N))
    xi = np.zeros((B, S, N))
    key_x0, key_noise = stream_key(seed, STREAM_X0), stream_key(seed, STREAM_NOISE)
    for i in range(B):
        if task.initial_state is None:
            x0[i] = np.tanh(task.rate_sd * normal_draws(key_x0, (epoch * B + i) * N, N))
        else:
            x0[i] = float(task.initial_state)
        if task.noise_sd != 0.0:
            for t in range(S):
                xi[i, t] = normal_draws(key_noise, ((epoch * B + i) * S + t) * N, N)
    x0.setflags(write=False)
    xi.setflags(write=False)
    return x0, xi


def initial_states(task, neurons: int, seed: int = 0, epoch: int = 0) -> np.ndarray:
    """x₀ of every trial, shape (B, N)."""
    return _draws(task, neurons, int(seed), int(epoch))[0]


def noise(task, neurons: int, seed: int = 0, epoch: int = 0) -> np.ndarray:
    """ξ of every trial and step, shape (B, S, N) (zeros when σ_noise = 0)."""
    return _draws(task, neurons, int(seed), int(epoch))[1]


# ---- functions -------------------------------------------------------------------------
def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def activation(name: str, h):
    """φ(h); complex arguments allowed (complex-step gradients)."""
    if name == "tanh":
        return np.tanh(h)
    if name == "sigmoid":
        return _sigmoid(h)
    if name == "erf":
        return scipy.special.erf(h)
    raise ValueError(f"reference has no activation {name!r}")


def output(name: str, z):
    """The readout function g."""
    if name == "sigmoid":
        return _sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    raise ValueError(f"reference has no output function {name!r}")


def _l1(w):
    """‖w‖₁, continued analytically off the real axis: Σ sign(Re wᵢ) wᵢ."""
    return np.sum(np.where(np.real(w) >= 0, w, -w))


# ---- the network -----------------------------------------------------------------------
def recurrent_matrix(model, params) -> np.ndarray:
    """W: the full matrix, or Σ_k m_k n_kᵀ."""
    if model.rank is None:
        return np.asarray(params["W"])
    N, K = model.neurons, model.rank
    m = np.asarray(params["m"]).reshape(N, K)
    n = np.asarray(params["n"]).reshape(N, K)
    return sum(np.outer(m[:, k], n[:, k]) for k in range(K))


def _constant(model, params, name: str, fixed: float):
    return np.asarray(params[name]) if name in params else fixed


def readout(model, params, x) -> np.ndarray:
    """The readout's argument z (before g) of a state x (shape (..., N))."""
    p = params
    if model.readout in ("latent", "latent_linear"):
        kappa = x @ np.asarray(p["n"]).reshape(model.neurons, model.rank)  # κ = nᵀx
        if model.readout == "latent":
            c = _constant(model, p, "c", model.confidence)
            kappa_star = _constant(model, p, "kappa_star", model.threshold)
            return c * (kappa[..., 0] - kappa_star)
        return kappa @ np.asarray(p["w_out"]) + p["b_out"]
    a = x @ np.asarray(p["w_out"]) + p["b_out"]
    if model.readout == "fixed_confidence" and not np.isinf(model.confidence):
        return model.confidence * a / _l1(np.asarray(p["w_out"]))
    if model.readout in ("population", "fixed_confidence"):  # c = ∞ is the population readout
        return a
    raise ValueError(f"reference has no readout {model.readout!r}")


def forward(model, params, task, *, seed: int = 0, epoch: int = 0) -> dict:
    """One epoch: ``states`` (S+1, B, N), ``outputs`` (B, S), ``targets``, ``inputs``,
    ``loss`` and ``accuracy``. Parameters may be complex (complex-step derivatives)."""
    p = {k: np.asarray(v) for k, v in params.items()}
    dtype = np.result_type(float, *p.values())
    N, B, S, alpha = model.neurons, trials(task), steps(task), model.alpha
    u, y = trial_arrays(task)
    W = recurrent_matrix(model, p)
    w_in = p.get("w_in", np.zeros((N, 0)))
    xi = noise(task, N, seed, epoch)
    x = np.zeros((S + 1, B, N), dtype)
    x[0] = initial_states(task, N, seed, epoch)
    for t in range(S):  # rows are trials: x Wᵀ is (W x) for every trial
        h = x[t] @ W.T + p["b"] + u[:, t] @ w_in.T + task.noise_sd * xi[:, t]
        x[t + 1] = (1 - alpha) * x[t] + alpha * activation(model.activation, h)
    read = 1 if task.readout_timing == "post" else 0
    yhat = output(model.output, readout(model, p, x[read : read + S])).T  # (B, S)
    loss = loss_scale(task) * np.sum((yhat - y) ** 2)
    return {
        "states": x,
        "outputs": yhat,
        "targets": y,
        "inputs": u,
        "loss": loss,
        "accuracy": accuracy(task, np.real(yhat), y),
    }


def accuracy(task, yhat, y) -> float:
    """Share of (trial, step) outputs classified as the target (DA: ŷ > ½; DMTS: ŷ ≥ ½;
    DCD: ternary at ±0.33)."""
    if task.name == "da":
        pred = np.where(yhat > 0.5, 1.0, 0.0)
    elif task.name == "dmts":
        pred = np.where(yhat >= 0.5, 1.0, 0.0)
    else:
        pred = np.where(
            yhat <= -TERNARY_THRESHOLD, -1.0, np.where(yhat >= TERNARY_THRESHOLD, 1.0, 0.0)
        )
    return float(np.mean(pred == y))


def loss(model, params, task, *, seed: int = 0, epoch: int = 0):
    return forward(model, params, task, seed=seed, epoch=epoch)["loss"]


# ---- gradients of the reference loss ---------------------------------------------------
def complex_step_gradient(
    model, params, task, *, seed: int = 0, epoch: int = 0, h: float = 1e-30
) -> dict[str, np.ndarray]:
    """∂L/∂p = Im L(p + i h e_j)/h for every entry j of every parameter: no cancellation,
    exact to rounding for an analytic loss."""
    base = {k: np.asarray(v, dtype=complex) for k, v in params.items()}
    grads = {}
    for name, value in base.items():
        g = np.zeros(value.shape)
        for index in np.ndindex(value.shape):
            bumped = dict(base)
            bumped[name] = value.copy()
            bumped[name][index] += 1j * h
            g[index] = np.imag(loss(model, bumped, task, seed=seed, epoch=epoch)) / h
        grads[name] = g
    return grads


def loss_difference(model, plus, minus, task, *, seed: int = 0, epoch: int = 0) -> float:
    """L(plus) − L(minus) without cancelling against L itself:
    scale · Σ (ŷ₊ − ŷ₋)(ŷ₊ + ŷ₋ − 2y), the same quantity as a difference of two losses."""
    a = forward(model, plus, task, seed=seed, epoch=epoch)
    b = forward(model, minus, task, seed=seed, epoch=epoch)
    y = a["targets"]
    return loss_scale(task) * np.sum(
        (a["outputs"] - b["outputs"]) * (a["outputs"] + b["outputs"] - 2 * y)
    )


def richardson_gradient(
    model, params, task, *, seed: int = 0, epoch: int = 0, h: float = FD_STEP
) -> dict[str, np.ndarray]:
    """Central differences D(h), D(h/2), D(h/4) of the reference loss in float64
    (:func:`loss_difference`), Richardson-extrapolated to O(h⁶). For the fixed-confidence
    readout, w_out entries use h ≤ |w|/2: no difference straddles the kink of ‖w_out‖₁."""
    base = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    kinked = model.readout == "fixed_confidence" and not np.isinf(model.confidence)

    def central(name, index, step):
        plus, minus = dict(base), dict(base)
        plus[name], minus[name] = base[name].copy(), base[name].copy()
        plus[name][index] += step
        minus[name][index] -= step
        return loss_difference(model, plus, minus, task, seed=seed, epoch=epoch) / (2 * step)

    grads = {}
    for name, value in base.items():
        g = np.zeros(value.shape)
        for index in np.ndindex(value.shape):
            step = h
            if kinked and name == "w_out":
                step = min(h, abs(value[index]) / 2)
            d1, d2, d3 = (central(name, index, step / 2**k) for k in range(3))
            r1, r2 = (4 * d2 - d1) / 3, (4 * d3 - d2) / 3
            g[index] = (16 * r2 - r1) / 15
        grads[name] = g
    return grads


# ---- training steps ----------------------------------------------------------------------
def project_readout(model, params) -> dict[str, np.ndarray]:
    """The authors' fixed-confidence projection: w_out, b_out ← c·(w_out, b_out)/‖w_out‖₁."""
    out = {k: np.array(v, dtype=float) for k, v in params.items()}
    if np.isinf(model.confidence):
        return out
    f = model.confidence / np.sum(np.abs(out["w_out"]))
    out["w_out"] = out["w_out"] * f
    out["b_out"] = np.asarray(out["b_out"] * f)
    return out
