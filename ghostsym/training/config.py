"""What to train: :class:`TrainingConfig`, :class:`Intervention` and :func:`build_config`.

``build_config`` takes flat options (those of ``ghostsym train`` and of a sweep file's
``base`` table) and fills in the paper's choices; :data:`~ghostsym.training.presets.PRESETS`
holds the paper's settings as such options.

**Size limits.** Every size of a run is checked before anything is allocated, by
:class:`TrainingConfig` itself (so ``build_config``, sweeps, ``ghostsym train`` and a resumed
``config.json`` all refuse alike): at most :data:`MAX_EPOCHS` epochs, :data:`MAX_NEURONS`
neurons, :data:`MAX_TRIAL_STEPS` steps per trial, :data:`MAX_TRIALS` trials per epoch,
:data:`MAX_CHECKPOINTS` checkpoints, and an estimated memory (:func:`estimate_memory`:
history, parameters with optimiser state and checkpoints, the BPTT states) of at most
:data:`MAX_MEMORY` bytes. ``allow_large=True`` (``ghostsym train --allow-large``) lifts these
limits; the engine's int64 random-stream counters (:data:`COUNTER_LIMIT`) are always checked.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ghostsym.errors import InputError
from ghostsym.numerics.optim import RNN_OPTIMIZERS, optimizer_code
from ghostsym.numerics.rnn import READOUTS, RNNModel, layout, masks
from ghostsym.numerics.tasks import Task, task_preset
from ghostsym.training.presets import PRESETS

MODEL_KINDS = ("rank1", "lowrank", "full")
#: Floating-point types of a run (``TrainingConfig.dtype``).
DTYPES = ("float64", "float32")

#: Size limits of one training run (see the module docstring; ``allow_large`` lifts them).
MAX_EPOCHS = 10_000_000
MAX_NEURONS = 10_000
MAX_TRIAL_STEPS = 100_000
MAX_TRIALS = 100_000
MAX_CHECKPOINTS = 100_000
MAX_MEMORY = 4 * 2**30
#: Natural-gradient options (docs/sntk.md §6): the rank k of the preconditioner, its damping
#: λ (added to the Gauss–Newton eigenvalues s²) and the refresh interval R (epochs between
#: recomputations of the output Jacobian), with their bounds.
MAX_NATGRAD_RANK = 64
NATGRAD_DAMPING_RANGE = (1e-12, 1e6)
#: The refresh computes one BPTT per output (trials × steps of them); at most this many.
MAX_NATGRAD_OUTPUTS = 4096
#: Always checked: the engine's random-stream counter (epoch·trials + trial)·steps + step
#: must stay an int64.
COUNTER_LIMIT = 2**62
_LIFT = "lift the limits with --allow-large (allow_large=True)"


def _bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


def estimate_memory(config: TrainingConfig) -> dict[str, int]:
    """Bytes a run of ``config`` holds at once, by part: ``history`` (loss, gradient norm,
    accuracy per epoch, with the copies of the result and of history.npz), ``parameters``
    (θ, gradient, optimiser moments, masks and every checkpoint kept in the result) and
    ``states`` (the BPTT workspace of one network: states, φ', adjoints, δ's, inputs)."""
    model, task = config.model, config.task
    size = layout(model).size
    n, k, d = model.neurons, max(model.rank or 0, 1), model.inputs
    s, b = task.steps, task.trials
    return {
        "history": 8 * 3 * 4 * config.epochs,
        "parameters": 8 * size * (10 + len(config.checkpoints)),
        "states": 8 * ((3 * s + 2) * b * n + (s + 1) * b * k + b * s * (d + 3) + 2 * n),
        # natural gradient: the basis V (P × k) and the output Jacobian (trials·steps × P)
        "natgrad": (
            8 * size * (config.natgrad_rank + b * s) if config.optimizer == "natgrad" else 0
        ),
    }


def check_size(config: TrainingConfig) -> None:
    """Raise :class:`InputError` (one line) if ``config`` exceeds the size limits of the
    module docstring (unless ``config.allow_large``) or the engine's counters."""
    model, task = config.model, config.task
    if (config.epochs * task.trials + task.trials) * task.steps >= COUNTER_LIMIT:
        raise InputError(
            f"epochs × trials × steps = {config.epochs} × {task.trials} × {task.steps} is "
            f"beyond the engine's random-stream counters (< 2**62)"
        )
    if config.allow_large:
        return
    for what, value, limit in (
        ("epochs", config.epochs, MAX_EPOCHS),
        ("neurons", model.neurons, MAX_NEURONS),
        ("steps per trial (delay, cue, response)", task.steps, MAX_TRIAL_STEPS),
        ("trials per epoch (trials_per_condition × conditions)", task.trials, MAX_TRIALS),
    ):
        if value > limit:
            raise InputError(f"{what} {value} exceeds the limit of {limit:,}; {_LIFT}")
    parts = estimate_memory(config)
    total = sum(parts.values())
    if total > MAX_MEMORY:
        detail = ", ".join(f"{k} {_bytes(v)}" for k, v in parts.items())
        raise InputError(
            f"this run would need about {_bytes(total)} of memory ({detail}), above the "
            f"limit of {_bytes(MAX_MEMORY)}; {_LIFT}"
        )


@dataclass(frozen=True)
class Intervention:
    """At epoch ``epoch`` set readout constants (``{"c": 1.0}``; names "c", "kappa_star"),
    optionally resetting the optimiser state (moments and step count)."""

    epoch: int
    values: tuple[tuple[str, float], ...]
    reset_optimizer: bool = False

    def __post_init__(self):
        values = self.values.items() if isinstance(self.values, Mapping) else self.values
        values = tuple((str(k), float(v)) for k, v in values)
        object.__setattr__(self, "values", values)
        if not isinstance(self.epoch, (int, np.integer)) or self.epoch < 0:
            raise InputError(f"intervention epoch must be an integer >= 0, got {self.epoch!r}")
        if not values:
            raise InputError("an intervention must set at least one constant")
        for name, value in values:
            if name not in ("c", "kappa_star"):
                raise InputError(f"interventions set 'c' or 'kappa_star', not {name!r}")
            if math.isnan(value) or (name == "c" and value <= 0):
                raise InputError(f"intervention {name}={value}: must be a number (c > 0)")
            if name == "kappa_star" and not math.isfinite(value):
                raise InputError("intervention kappa_star must be finite")

    def to_dict(self) -> dict:
        return {
            "epoch": int(self.epoch),
            "values": dict(self.values),
            "reset_optimizer": self.reset_optimizer,
        }


def parse_intervention(text: str) -> Intervention:
    """Parse ``"EPOCH:NAME=VALUE[,NAME=VALUE...][:reset]"``.

    E.g. ``"10000:c=1"`` (keep the optimiser state), ``"6000:c=0.1:reset"``."""
    parts = text.strip().split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("reset", "keep")):
        raise InputError(f"intervention {text!r}: expected EPOCH:NAME=VALUE[,...][:reset]")
    try:
        epoch = int(parts[0])
        values = {}
        for item in parts[1].split(","):
            name, value = item.split("=")
            values[name.strip()] = float(value)
    except ValueError:
        raise InputError(
            f"intervention {text!r}: expected EPOCH:NAME=VALUE[,...][:reset]"
        ) from None
    return Intervention(epoch, values, reset_optimizer=len(parts) == 3 and parts[2] == "reset")


@dataclass(frozen=True)
class TrainingConfig:
    """What to train: model, task, optimiser, schedule. JSON-serialisable (``to_dict``).

    ``optimizer``: "sgd", "momentum" (PyTorch's: buf = μ·buf + g, θ −= lr·buf), "adam"
    (PyTorch's defaults β = (0.9, 0.999), ε = 1e-8) or "natgrad" (low-rank natural gradient /
    Gauss–Newton, docs/sntk.md §6, with ``natgrad_rank`` k, damping ``natgrad_damping`` λ
    and refresh interval ``natgrad_refresh`` R epochs). ``checkpoints``: epochs whose
    parameters are kept. ``grad_norm``: parameter names of the recorded gradient norm
    (None = all trainable). ``fixed_confidence_update``: "projected" (authors' code) or
    "exact" — see the module docstring. ``allow_large`` lifts the size limits (module
    docstring); it is not part of the configuration (``to_dict``, equality).
    """

    model: RNNModel = field(default_factory=RNNModel)
    task: Task = field(default_factory=Task)
    optimizer: str = "sgd"
    lr: float = 0.003
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    epochs: int = 1000
    seed: int = 0
    checkpoints: tuple[int, ...] = ()
    interventions: tuple[Intervention, ...] = ()
    grad_norm: tuple[str, ...] | None = None
    fixed_confidence_update: str = "projected"
    dtype: str = "float64"
    natgrad_rank: int = 8
    natgrad_damping: float = 1.0
    natgrad_refresh: int = 100
    allow_large: bool = field(default=False, compare=False)

    def __post_init__(self):
        optimizer_code(self.optimizer, RNN_OPTIMIZERS)  # InputError on unknown names
        self._check_natgrad()
        lr = float(self.lr)
        if not math.isfinite(lr) or lr <= 0:
            raise InputError(f"learning rate must be finite and > 0, got {self.lr!r}")
        if not isinstance(self.epochs, (int, np.integer)) or self.epochs < 1:
            raise InputError(f"epochs must be a positive integer, got {self.epochs!r}")
        if not isinstance(self.seed, (int, np.integer)) or not 0 <= self.seed < 2**63:
            raise InputError(f"seed must be an integer in [0, 2**63), got {self.seed!r}")
        b1, b2 = (float(b) for b in self.betas)
        if not (0 <= b1 < 1 and 0 <= b2 < 1) or not 0 <= self.momentum < 1 or not self.eps > 0:
            raise InputError("optimizer hyper-parameters: need 0 <= beta, momentum < 1, eps > 0")
        object.__setattr__(self, "betas", (b1, b2))
        if self.model.inputs != self.task.inputs:
            raise InputError(
                f"model has {self.model.inputs} input channels but task {self.task.name} "
                f"provides {self.task.inputs}"
            )
        cps = self.checkpoints
        if not hasattr(cps, "__len__"):
            cps = tuple(cps)
        if not self.allow_large and len(cps) > MAX_CHECKPOINTS:
            raise InputError(
                f"{len(cps):,} checkpoints exceed the limit of {MAX_CHECKPOINTS:,}; {_LIFT}"
            )
        cps = tuple(sorted({int(e) for e in cps}))
        if cps and (cps[0] < 0 or cps[-1] > self.epochs):
            raise InputError(f"checkpoints must lie in [0, {self.epochs}]")
        object.__setattr__(self, "checkpoints", cps)
        check_size(self)  # before anything of the run's size is allocated (masks below)
        ivs = tuple(
            iv if isinstance(iv, Intervention) else parse_intervention(iv)
            for iv in self.interventions
        )
        lay = layout(self.model)
        for iv in ivs:
            if iv.epoch >= self.epochs:
                raise InputError(f"intervention at epoch {iv.epoch} is past the last epoch")
            for name, value in iv.values:
                if name not in lay.offsets:
                    raise InputError(f"the {self.model.readout} readout has no constant {name!r}")
                if name == "c" and math.isinf(value) and self.model.readout != "fixed_confidence":
                    raise InputError("c = inf is only meaningful for the fixed_confidence readout")
        object.__setattr__(self, "interventions", tuple(sorted(ivs, key=lambda iv: iv.epoch)))
        if self.grad_norm is not None:
            object.__setattr__(self, "grad_norm", tuple(self.grad_norm))
            masks(self.model, self.grad_norm)  # validates the names
        if self.fixed_confidence_update not in ("projected", "exact"):
            raise InputError("fixed_confidence_update must be 'projected' or 'exact'")
        if self.dtype not in DTYPES:
            raise InputError(f"unknown dtype {self.dtype!r}; known: {', '.join(DTYPES)}")

    def _check_natgrad(self):
        k, lam, r = self.natgrad_rank, self.natgrad_damping, self.natgrad_refresh
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise InputError(f"natgrad_rank must be an integer, got {k!r}")
        if not 1 <= k <= MAX_NATGRAD_RANK:
            raise InputError(f"natgrad_rank must be in [1, {MAX_NATGRAD_RANK}], got {k}")
        try:
            lam = float(lam)
        except (TypeError, ValueError):
            raise InputError(f"natgrad_damping must be a number, got {lam!r}") from None
        lo, hi = NATGRAD_DAMPING_RANGE
        if not lo <= lam <= hi:
            raise InputError(f"natgrad_damping must be in [{lo:g}, {hi:g}], got {lam:g}")
        if isinstance(r, bool) or not isinstance(r, (int, np.integer)):
            raise InputError(f"natgrad_refresh must be an integer, got {r!r}")
        if not 1 <= r <= MAX_EPOCHS:
            raise InputError(f"natgrad_refresh must be in [1, {MAX_EPOCHS:,}] epochs, got {r}")
        object.__setattr__(self, "natgrad_rank", int(k))
        object.__setattr__(self, "natgrad_damping", lam)
        object.__setattr__(self, "natgrad_refresh", int(r))
        outputs = self.task.trials * self.task.steps
        if self.optimizer == "natgrad" and outputs > MAX_NATGRAD_OUTPUTS:
            raise InputError(
                f"natgrad computes one BPTT per output, and this task has {outputs:,} "
                f"(trials × steps), above the limit of {MAX_NATGRAD_OUTPUTS:,}; use fewer trials"
            )

    def replace(self, **changes) -> TrainingConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """JSON-ready; the natgrad options appear only for ``optimizer == "natgrad"`` (so
        the dictionaries, and sweep run keys, of the other optimisers are unchanged)."""
        data = {
            "model": self.model.to_dict(),
            "task": self.task.to_dict(),
            "optimizer": self.optimizer,
            "lr": float(self.lr),
            "momentum": float(self.momentum),
            "betas": list(self.betas),
            "eps": float(self.eps),
            "epochs": int(self.epochs),
            "seed": int(self.seed),
            "checkpoints": [int(e) for e in self.checkpoints],
            "interventions": [iv.to_dict() for iv in self.interventions],
            "grad_norm": None if self.grad_norm is None else list(self.grad_norm),
            "fixed_confidence_update": self.fixed_confidence_update,
            "dtype": self.dtype,
        }
        if self.optimizer == "natgrad":
            data["natgrad_rank"] = int(self.natgrad_rank)
            data["natgrad_damping"] = float(self.natgrad_damping)
            data["natgrad_refresh"] = int(self.natgrad_refresh)
        return data

    @classmethod
    def from_dict(cls, data: Mapping, *, allow_large: bool = False) -> TrainingConfig:
        data = dict(data)
        data["allow_large"] = bool(allow_large)
        data["model"] = RNNModel.from_dict(data["model"])
        data["task"] = Task(**data["task"])
        data["betas"] = tuple(data.get("betas", (0.9, 0.999)))
        data["checkpoints"] = tuple(data.get("checkpoints", ()))
        data["interventions"] = tuple(
            Intervention(iv["epoch"], iv["values"], iv.get("reset_optimizer", False))
            for iv in data.get("interventions", ())
        )
        if data.get("grad_norm") is not None:
            data["grad_norm"] = tuple(data["grad_norm"])
        return cls(**data)


_MODEL_OPTIONS = (
    "neurons",
    "readout",
    "output",
    "activation",
    "alpha",
    "confidence",
    "threshold",
    "train_confidence",
    "train_threshold",
    "init",
    "frozen",
)
_TASK_OPTIONS = (
    "delay",
    "cue",
    "response",
    "trials_per_condition",
    "readout_timing",
    "initial_state",
    "rate_sd",
    "noise_sd",
)
_TRAIN_OPTIONS = (
    "optimizer",
    "lr",
    "momentum",
    "betas",
    "eps",
    "epochs",
    "seed",
    "grad_norm",
    "fixed_confidence_update",
    "dtype",
    "natgrad_rank",
    "natgrad_damping",
    "natgrad_refresh",
)
#: Every option :func:`build_config` accepts.
OPTIONS = (
    ("preset", "model", "rank", "task", "checkpoints", "checkpoint_every", "interventions")
    + _MODEL_OPTIONS
    + _TASK_OPTIONS
    + _TRAIN_OPTIONS
)


def build_config(*, allow_large: bool = False, **options) -> TrainingConfig:
    """A :class:`TrainingConfig` from flat options (those of ``ghostsym train``).

    ``preset`` (a key of :data:`PRESETS`) supplies defaults; ``model`` is "rank1",
    "lowrank" (with ``rank``) or "full"; ``task`` is "da", "dcd", "dmts" or a timing preset
    of :data:`ghostsym.numerics.tasks.TASK_PRESETS`. Unset model options follow the paper:
    rank one on DA reads the latent σ(10(κ − 1)); other low-rank networks read
    g(w_outᵀVᵀx + b_out) on the working-memory tasks and g(w_outᵀx + b_out) on DA; full-rank
    networks read g(w_outᵀx + b_out); g is tanh for DCD and the sigmoid otherwise;
    initialisation "da" on DA and "wm" otherwise. ``checkpoint_every`` adds every k-th epoch
    (and the last) to ``checkpoints``. Sizes are checked against the limits of the module
    docstring before anything is allocated; ``allow_large=True`` lifts them.
    """
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise InputError(f"unknown training options: {', '.join(sorted(unknown))}")
    options = {k: v for k, v in options.items() if v is not None}
    preset = options.pop("preset", None)
    if preset is not None:
        if preset not in PRESETS:
            raise InputError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
        options = {**PRESETS[preset], **options}
    kind = options.pop("model", "rank1")
    if kind not in MODEL_KINDS:
        raise InputError(f"unknown model {kind!r}; known: {', '.join(MODEL_KINDS)}")
    rank = options.pop("rank", None)
    if kind == "rank1":
        if rank not in (None, 1):
            raise InputError("--model rank1 has rank 1; use --model lowrank --rank K")
        rank = 1
    elif kind == "lowrank":
        rank = 1 if rank is None else rank
    else:
        if rank is not None:
            raise InputError("a full-rank model takes no rank; use --model lowrank --rank K")
    task_name = options.pop("task", "da")
    task = task_preset(task_name, **{k: options.pop(k) for k in _TASK_OPTIONS if k in options})
    model_kw = {k: options.pop(k) for k in _MODEL_OPTIONS if k in options}
    if "readout" not in model_kw:
        if kind == "rank1" and task.name == "da":
            readout = "latent"
        elif rank is not None and task.name != "da":
            readout = "latent_linear"
        else:
            readout = "population"
        model_kw["readout"] = readout
    if model_kw["readout"] not in READOUTS:
        raise InputError(f"unknown readout {model_kw['readout']!r}; known: {', '.join(READOUTS)}")
    model_kw.setdefault(
        "output", "sigmoid" if model_kw["readout"] == "latent" else task.default_output
    )
    model_kw.setdefault("init", "da" if task.name == "da" else "wm")
    if "frozen" in model_kw:
        model_kw["frozen"] = tuple(model_kw["frozen"])
    model = RNNModel(rank=rank, inputs=task.inputs, **model_kw)
    epochs = options.get("epochs", TrainingConfig.epochs)
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise InputError(f"epochs must be a positive integer, got {epochs!r}")
    checkpoints = set(options.pop("checkpoints", ()))
    every = options.pop("checkpoint_every", None)
    if every is not None:
        if not isinstance(every, (int, np.integer)) or every < 1:
            raise InputError(f"checkpoint_every must be a positive integer, got {every!r}")
        if not allow_large and epochs // every + 2 > MAX_CHECKPOINTS:
            raise InputError(
                f"checkpoint_every {every} gives about {epochs // every + 1:,} checkpoints, "
                f"above the limit of {MAX_CHECKPOINTS:,}; {_LIFT}"
            )
        checkpoints |= set(range(0, epochs + 1, every)) | {epochs}
    interventions = tuple(
        iv if isinstance(iv, Intervention) else parse_intervention(iv)
        for iv in options.pop("interventions", ())
    )
    if "betas" in options:
        options["betas"] = tuple(options["betas"])
    if "grad_norm" in options:
        options["grad_norm"] = tuple(options["grad_norm"])
    return TrainingConfig(
        model=model,
        task=task,
        checkpoints=tuple(checkpoints),
        interventions=interventions,
        allow_large=bool(allow_large),
        **options,
    )
