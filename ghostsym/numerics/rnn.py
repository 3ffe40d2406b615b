"""RNN models: architecture, named parameters, the paper's initialisations, flat packing.

The engine works on one flat float64 vector θ per network; users see a dict of named NumPy
arrays (the paper's names). This module defines both views and the map between them.

Parameter names and (public) shapes, N neurons, rank K, D input channels:

==============  ===================  ==============================================
name            shape                meaning
==============  ===================  ==============================================
``m``, ``n``    (N,) if K = 1        W = Σ_k m_k n_kᵀ = m nᵀ (low rank, Eq. 49);
                else (N, K)          column k of ``m`` is m_k, of ``n`` is n_k
``W``           (N, N)               full-rank recurrent matrix (column convention)
``b``           (N,)                 bias inside φ
``w_in``        (N, D)               input weights (tasks with input only)
``w_out``       (N,) or (K,)         population (or latent-linear) readout weights
``b_out``       ()                   readout bias
``c``           ()                   confidence, only when trainable
``kappa_star``  ()                   latent threshold κ*, only when trainable
==============  ===================  ==============================================

Fixed readout constants (c, κ*) are fields of :class:`RNNModel`, not parameters.

NumPy only.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ghostsym.errors import InputError


@dataclass(frozen=True)
class Readout:
    """One readout ŷ = g(z) of the engine (how z is computed is the kernel's part; see
    :mod:`ghostsym.numerics.spec` for adding one).

    ``weights``: None (no ``w_out``/``b_out``), "latent" (``w_out`` has K entries, z reads
    κ = Vᵀx) or "population" (N entries, z reads x). ``constants``: the readout constants
    ("c", "kappa_star") that get a slot in θ; ``trainable``: those a model may train.
    ``low_rank_only``: needs W = U Vᵀ. ``infinite_confidence``: c = ∞ is allowed.
    """

    name: str
    weights: str | None
    constants: tuple[str, ...] = ()
    trainable: tuple[str, ...] = ()
    low_rank_only: bool = False
    infinite_confidence: bool = False
    doc: str = ""


#: The engine's readouts; a readout's engine code is its index here.
READOUT_TABLE: tuple[Readout, ...] = (
    Readout(
        "latent",
        None,
        ("c", "kappa_star"),
        ("c", "kappa_star"),
        low_rank_only=True,
        doc="σ(c(κ₁ − κ*)), Eq. 36",
    ),
    Readout("latent_linear", "latent", low_rank_only=True, doc="g(w_outᵀκ + b_out), Fig. 4"),
    Readout("population", "population", doc="g(w_outᵀx + b_out), Eqs. 38, 48"),
    Readout(
        "fixed_confidence",
        "population",
        ("c",),
        infinite_confidence=True,
        doc="g(c(w_outᵀx + b_out)/‖w_out‖₁), Eq. 40 (c = ∞ ≡ population)",
    ),
)
READOUTS = tuple(r.name for r in READOUT_TABLE)
#: Readout functions g (engine code = index; generated as ``out_<name>`` by codegen).
OUTPUTS = ("sigmoid", "tanh")


def readout_definition(name: str) -> Readout:
    """The :class:`Readout` called ``name`` (InputError if unknown)."""
    for readout in READOUT_TABLE:
        if readout.name == name:
            return readout
    raise InputError(f"unknown readout {name!r}; known: {', '.join(READOUTS)}")


INIT_SCHEMES = ("da", "wm")

#: Names a parameter dict may contain, in θ order.
PARAMETER_ORDER = ("m", "n", "W", "b", "w_in", "w_out", "b_out", "c", "kappa_star")


@dataclass(frozen=True)
class RNNModel:
    """A discrete-time rate network x_{t+1} = (1 − α)x_t + α φ(W x_t + b + W_in u_t + noise).

    Parameters
    ----------
    neurons : N.
    rank : K with 1 ≤ K ≤ N (W = U Vᵀ, computed as U(Vᵀx)), or None for a full matrix W.
    readout : "latent" σ(c(κ₁ − κ*)) (Eq. 36, low rank only); "latent_linear"
        g(w_outᵀVᵀx + b_out) (Fig. 4); "population" g(w_outᵀx + b_out) (Eqs. 38/48);
        "fixed_confidence" g(c(w_outᵀx + b_out)/‖w_out‖₁) (Eq. 40 in the authors' L1 form,
        docs/experiments.md §13.2; c = inf behaves as "population").
    output : readout function g, "sigmoid" or "tanh".
    activation : φ, a name of ghostsym.symbolic.nonlinearities (tanh by default).
    alpha : Euler leak Δt/τ (0.5 in every script).
    confidence, threshold : c and κ* (fixed unless ``train_confidence`` /
        ``train_threshold``; then they appear in the parameter dict as "c", "kappa_star").
    inputs : number of input channels D (0: no ``w_in``).
    init : "da" (docs/experiments.md §1.1-1.3: N(0, 1/N) entries, b = 0) or "wm" (§1.5-1.6:
        PyTorch-default/xavier ranges; low rank: n ~ N(0, 1/N), m ~ N(0, 1), b ~ N(0, 0.1²)).
    frozen : parameter names excluded from training (they keep their initial values).
    """

    neurons: int = 100
    rank: int | None = 1
    readout: str = "latent"
    output: str = "sigmoid"
    activation: str = "tanh"
    alpha: float = 0.5
    confidence: float = 10.0
    threshold: float = 1.0
    train_confidence: bool = False
    train_threshold: bool = False
    inputs: int = 0
    init: str = "da"
    frozen: tuple[str, ...] = ()

    def __post_init__(self):
        n = self.neurons
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise InputError(f"neurons must be a positive integer, got {n!r}")
        if self.rank is not None:
            if not isinstance(self.rank, (int, np.integer)) or self.rank < 1:
                raise InputError(f"rank must be a positive integer (or None), got {self.rank!r}")
            if self.rank > n:
                raise InputError(f"rank {self.rank} exceeds the number of neurons {n}")
        readout = readout_definition(self.readout)
        if readout.low_rank_only and self.rank is None:
            raise InputError(f"the {self.readout} readout needs a low-rank network (set a rank)")
        if self.output not in OUTPUTS:
            raise InputError(f"unknown output function {self.output!r}; known: sigmoid, tanh")
        if not (0 < self.alpha <= 1):
            raise InputError(f"alpha must be in (0, 1], got {self.alpha!r}")
        c = float(self.confidence)
        if math.isnan(c) or c <= 0 or (math.isinf(c) and not readout.infinite_confidence):
            raise InputError(f"confidence must be > 0 and finite, got {self.confidence!r}")
        if not math.isfinite(float(self.threshold)):
            raise InputError(f"threshold must be finite, got {self.threshold!r}")
        if self.train_confidence and "c" not in readout.trainable:
            raise InputError("a trainable confidence needs the latent readout")
        if self.train_threshold and "kappa_star" not in readout.trainable:
            raise InputError("a trainable threshold needs the latent readout")
        if not isinstance(self.inputs, (int, np.integer)) or self.inputs < 0:
            raise InputError(f"inputs must be an integer >= 0, got {self.inputs!r}")
        if self.init not in INIT_SCHEMES:
            raise InputError(f"unknown init scheme {self.init!r}; known: da, wm")
        object.__setattr__(self, "frozen", tuple(self.frozen))
        unknown = set(self.frozen) - set(self.parameter_names())
        if unknown:
            raise InputError(f"cannot freeze unknown parameters: {', '.join(sorted(unknown))}")

    # ---- structure -----------------------------------------------------------------------
    @property
    def low_rank(self) -> bool:
        return self.rank is not None

    @property
    def readout_definition(self) -> Readout:
        return readout_definition(self.readout)

    def parameter_names(self) -> tuple[str, ...]:
        """Names in the parameter dict (θ order)."""
        names = ["m", "n"] if self.low_rank else ["W"]
        names.append("b")
        if self.inputs:
            names.append("w_in")
        if self.readout_definition.weights is not None:
            names += ["w_out", "b_out"]
        if self.train_confidence:
            names.append("c")
        if self.train_threshold:
            names.append("kappa_star")
        return tuple(names)

    def trainable_names(self) -> tuple[str, ...]:
        return tuple(p for p in self.parameter_names() if p not in self.frozen)

    def shape(self, name: str) -> tuple[int, ...]:
        n, k, d = self.neurons, self.rank or 0, self.inputs
        shapes = {
            "m": (n,) if k == 1 else (n, k),
            "n": (n,) if k == 1 else (n, k),
            "W": (n, n),
            "b": (n,),
            "w_in": (n, d),
            "w_out": (k,) if self.readout_definition.weights == "latent" else (n,),
            "b_out": (),
            "c": (),
            "kappa_star": (),
        }
        return shapes[name]

    def replace(self, **changes) -> RNNModel:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["frozen"] = list(self.frozen)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> RNNModel:
        data = dict(data)
        data["frozen"] = tuple(data.get("frozen", ()))
        return cls(**data)


@dataclass(frozen=True)
class Layout:
    """Offsets of every parameter (and readout constant) in the flat vector θ."""

    offsets: dict[str, int]
    size: int

    def slot(self, name: str) -> slice:
        o = self.offsets[name]
        return slice(o, o + self._sizes[name])

    @property
    def _sizes(self) -> dict[str, int]:
        names = sorted(self.offsets, key=self.offsets.get)
        bounds = [self.offsets[p] for p in names] + [self.size]
        return {p: bounds[i + 1] - bounds[i] for i, p in enumerate(names)}


def layout(model: RNNModel) -> Layout:
    """θ layout: the parameters, then slots for c and κ* (always present if the readout uses
    them, trainable or not)."""
    sizes = {p: int(np.prod(model.shape(p), dtype=np.int64)) for p in model.parameter_names()}
    for name in model.readout_definition.constants:
        sizes.setdefault(name, 1)
    offsets, pos = {}, 0
    for name in PARAMETER_ORDER:
        if name in sizes:
            offsets[name] = pos
            pos += sizes[name]
    return Layout(offsets, pos)


def _to_internal(model: RNNModel, name: str, value: np.ndarray) -> np.ndarray:
    """Engine storage: m, n as K×N (rows = vectors), w_in as D×N; the rest as is."""
    if name in ("m", "n") and value.ndim == 2 or name == "w_in":
        return value.T
    return value


def pack(model: RNNModel, params: dict) -> np.ndarray:
    """The flat θ of a parameter dict (validated: names, shapes, finite values)."""
    names = model.parameter_names()
    missing = [p for p in names if p not in params]
    extra = [p for p in params if p not in names]
    if missing or extra:
        raise InputError(
            f"parameters do not match the model: missing {missing or 'none'}, "
            f"unexpected {extra or 'none'}"
        )
    lay = layout(model)
    theta = np.empty(lay.size)
    for name in names:
        value = np.asarray(params[name], dtype=np.float64)
        if value.shape != model.shape(name):
            raise InputError(
                f"parameter {name!r} has shape {value.shape}, expected {model.shape(name)}"
            )
        if not np.all(np.isfinite(value)):
            raise InputError(f"parameter {name!r} has non-finite entries")
        theta[lay.slot(name)] = _to_internal(model, name, value).ravel()
    if "c" in lay.offsets and "c" not in names:
        theta[lay.offsets["c"]] = model.confidence
    if "kappa_star" in lay.offsets and "kappa_star" not in names:
        theta[lay.offsets["kappa_star"]] = model.threshold
    return theta


def unpack(model: RNNModel, theta: np.ndarray) -> dict[str, np.ndarray]:
    """The parameter dict of a flat θ (copies)."""
    lay = layout(model)
    out = {}
    for name in model.parameter_names():
        shape = model.shape(name)
        flat = np.array(theta[lay.slot(name)])
        if name in ("m", "n") and len(shape) == 2 or name == "w_in":
            out[name] = flat.reshape(shape[::-1]).T.copy()
        else:
            out[name] = flat.reshape(shape)
    return out


def masks(model: RNNModel, norm_names=None) -> tuple[np.ndarray, np.ndarray]:
    """(train mask, gradient-norm mask) over θ: 1 on trainable entries / on the entries the
    recorded gradient norm includes (default: all trainable parameters, docs/experiments.md
    §1.1)."""
    lay = layout(model)
    train = np.zeros(lay.size)
    for name in model.trainable_names():
        train[lay.slot(name)] = 1.0
    if norm_names is None:
        return train, train.copy()
    norm = np.zeros(lay.size)
    for name in norm_names:
        if name not in model.parameter_names():
            raise InputError(f"gradient-norm parameter {name!r} is not a parameter of the model")
        norm[lay.slot(name)] = 1.0
    return train, norm


def init_params(model: RNNModel, seed: int = 0) -> dict[str, np.ndarray]:
    """The paper's initialisation (docs/experiments.md §0, §1.1-1.6) from NumPy's PCG64(seed).

    (The distributions are the authors'; the random streams are NumPy's, not PyTorch's.)
    """
    rng = np.random.default_rng(seed)
    n, k, d = model.neurons, model.rank, model.inputs
    sd = 1.0 / math.sqrt(n)
    params: dict[str, np.ndarray] = {}

    def xavier(fan_in, fan_out, shape):
        a = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-a, a, size=shape)

    if model.init == "da":
        if model.low_rank:
            params["m"] = rng.normal(0.0, sd, size=model.shape("m"))
            params["n"] = rng.normal(0.0, sd, size=model.shape("n"))
        else:
            params["W"] = rng.normal(0.0, sd, size=(n, n))
        params["b"] = np.zeros(n)
        if d:
            params["w_in"] = xavier(d, n, (n, d))
        if model.readout_definition.weights is not None:
            params["w_out"] = rng.normal(0.0, sd, size=model.shape("w_out"))
            params["b_out"] = np.asarray(rng.normal(0.0, sd))
    else:
        if model.low_rank:
            params["n"] = rng.normal(0.0, sd, size=model.shape("n"))  # S_l, s.d. 1/√N
            params["m"] = rng.normal(0.0, 1.0, size=model.shape("m"))  # S_rᵀ, s.d. 1
        else:
            params["W"] = xavier(n, n, (n, n))
        if d:
            params["w_in"] = xavier(d, n, (n, d))
        if model.low_rank:
            params["b"] = rng.normal(0.0, 0.1, size=n)
        else:
            params["b"] = rng.uniform(-1.0, 1.0, size=n)
        if model.readout_definition.weights is not None:
            fan_in = k if model.readout_definition.weights == "latent" else n
            params["w_out"] = xavier(fan_in, 1, model.shape("w_out"))
            bound = 1.0 / math.sqrt(fan_in)
            params["b_out"] = np.asarray(rng.uniform(-bound, bound))
    if model.train_confidence:
        params["c"] = np.asarray(float(model.confidence))
    if model.train_threshold:
        params["kappa_star"] = np.asarray(float(model.threshold))
    return {name: params[name] for name in model.parameter_names()}
