"""Training RNNs on the paper's tasks: the public API of the numba RNN engine.

Everything a user or another part of ghostsym needs:

* :class:`RNNModel`, :class:`Task`, :func:`init_params` — the network, the task, the
  paper's initialisation (REFERENCE.md §1).
* :func:`loss_and_gradients` — loss and exact BPTT gradients, keyed like the parameters.
* :func:`simulate` — outputs and states of one epoch.
* :class:`TrainingConfig`, :class:`Intervention`, :func:`build_config`, :data:`PRESETS` —
  what to train; ``build_config`` takes flat options (the CLI's and a sweep file's).
* :func:`train` (one network), :func:`train_many` (many networks, both cores) — training
  with per-epoch histories, checkpoints, scheduled interventions, divergence detection.
* :func:`run_training`, :func:`load_run`, :func:`load_checkpoint` — run directories that
  survive a kill and resume bit-identically.

Semantics shared by all of them:

* **Epoch e** (0-based) is one full-batch gradient step. History entry e (``loss``,
  ``grad_norm``, ``accuracy``) is evaluated at the parameters after e updates, so entry 0 is
  the initial network. ``grad_norm`` is √Σ‖∂L/∂p‖² over the trainable parameters (or over
  ``TrainingConfig.grad_norm``).
* **Checkpoint e** = the parameters after e updates (0 = the initial ones, ``epochs`` = the
  final ones).
* **Intervention at epoch e** changes a readout constant (``c``, ``kappa_star``) before
  epoch e is evaluated — after checkpoint e — optionally resetting the optimiser's state.
* **Randomness** (random initial states, noise inside φ) is a function of (seed, epoch,
  trial, step): the same seed gives bit-identical histories however the run is chunked,
  resumed, or batched with other networks.
* **fixed_confidence readout**: :func:`loss_and_gradients` differentiates
  g(c(w_outᵀx + b_out)/‖w_out‖₁) exactly. Training, by default
  (``fixed_confidence_update="projected"``), does what the authors' code does (REFERENCE.md
  §8.4, §13.2): before every epoch project w_out ← c·w_out/‖w_out‖₁, b_out ← c·b_out/‖w_out‖₁
  in place, then step with the plain population-readout gradient at the projected point;
  ``"exact"`` trains on the exact gradient instead.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ghostsym.config import VERSION as __version__
from ghostsym.errors import DivergenceError, InputError
from ghostsym.io import savez_atomic, write_atomic, write_json
from ghostsym.numerics import spec
from ghostsym.numerics.blas import single_threaded_blas
from ghostsym.numerics.optim import OPTIMIZERS, optimizer_code
from ghostsym.numerics.rnn import READOUTS, RNNModel, init_params, layout, masks, pack, unpack
from ghostsym.numerics.spec import engine_spec
from ghostsym.numerics.tasks import Task, task_preset
from ghostsym.progress import NoProgress

__all__ = [
    "RNNModel",
    "Task",
    "Intervention",
    "TrainingConfig",
    "TrainingResult",
    "RunRecord",
    "PRESETS",
    "OPTIMIZERS",
    "build_config",
    "init_params",
    "loss_and_gradients",
    "simulate",
    "train",
    "train_many",
    "run_training",
    "load_run",
    "load_checkpoint",
    "parse_intervention",
    "task_preset",
]

MODEL_KINDS = ("rank1", "lowrank", "full")

#: Target wall time of one numba chunk between progress updates (seconds).
PROGRESS_INTERVAL = 0.25
#: Epochs of the first chunk (it also pays for loading the compiled engine).
FIRST_CHUNK_EPOCHS = 16
#: A run directory saves its resume state at least this often (seconds), besides checkpoints.
STATE_SAVE_INTERVAL = 30.0
#: Most points drawn per curve in the training plot.
PLOT_MAX_POINTS = 20000
#: Default number of checkpoints of a CLI run (``checkpoint_every = epochs // this``).
DEFAULT_CHECKPOINTS = 100

HISTORY_KEYS = ("loss", "grad_norm", "accuracy")


def _engine(activation: str):
    from ghostsym.codegen.rnn import engine

    return engine(activation)


# ---------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------
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

    ``optimizer``: "sgd", "momentum" (PyTorch's: buf = μ·buf + g, θ −= lr·buf) or "adam"
    (PyTorch's defaults β = (0.9, 0.999), ε = 1e-8). ``checkpoints``: epochs whose
    parameters are kept. ``grad_norm``: parameter names of the recorded gradient norm
    (None = all trainable). ``fixed_confidence_update``: "projected" (authors' code) or
    "exact" — see the module docstring.
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

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise InputError(
                f"unknown optimizer {self.optimizer!r}; known: {', '.join(OPTIMIZERS)}"
            )
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
        cps = tuple(sorted({int(e) for e in self.checkpoints}))
        if cps and (cps[0] < 0 or cps[-1] > self.epochs):
            raise InputError(f"checkpoints must lie in [0, {self.epochs}]")
        object.__setattr__(self, "checkpoints", cps)
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

    def replace(self, **changes) -> TrainingConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return {
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
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> TrainingConfig:
        data = dict(data)
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


#: The paper's settings as flat options of :func:`build_config` (REFERENCE.md, "Key training
#: configurations at a glance"). Learning rates of the sweep figures are the swept axis.
PRESETS: dict[str, dict] = {
    "fig3a": {"model": "rank1", "task": "da", "lr": 0.003, "epochs": 500_000, "seed": 40},
    "fig3b": {"model": "rank1", "task": "da", "lr": 0.02, "epochs": 6000, "seed": 40},
    "fig4-dcd": {
        "model": "lowrank",
        "rank": 2,
        "task": "dcd",
        "trials_per_condition": 500,
        "rate_sd": 0.3,
        "lr": 1e-3,
        "epochs": 100_000,
        "seed": 0,
        "grad_norm": ["m", "n"],
    },
    "fig4-dmts": {
        "model": "lowrank",
        "rank": 2,
        "task": "dmts",
        "trials_per_condition": 500,
        "rate_sd": 0.3,
        "noise_sd": 0.01,
        "optimizer": "adam",
        "lr": 1e-4,
        "epochs": 20_000,
        "seed": 0,
        "grad_norm": ["m", "n"],
    },
    "fig5-dcd": {
        "model": "full",
        "task": "dcd",
        "rate_sd": 0.1,
        "noise_sd": 0.01,
        "lr": 1e-2,
        "epochs": 3001,
        "seed": 3,
        "grad_norm": ["W"],
    },
    "fig5-dmts": {
        "model": "full",
        "task": "dmts-fig5",
        "rate_sd": 0.1,
        "noise_sd": 0.01,
        "lr": 1e-2,
        "epochs": 100_001,
        "seed": 3,
        "grad_norm": ["W"],
    },
    "fig6a-rank1": {"model": "rank1", "task": "da", "lr": 0.01, "epochs": 200_001},
    "fig6a-full": {"model": "full", "task": "da", "lr": 0.1, "epochs": 200_001},
    "fig6b": {"model": "lowrank", "rank": 10, "task": "da", "lr": 0.01, "epochs": 500_000},
    "fig7-dmts": {
        "model": "full",
        "task": "dmts",
        "lr": 0.1,
        "epochs": 20_000,
        "grad_norm": ["W"],
    },
    "fig7-dcd": {
        "model": "full",
        "task": "dcd-fig7",
        "lr": 0.1,
        "epochs": 20_000,
        "grad_norm": ["W"],
    },
    "fig8b": {
        "model": "rank1",
        "task": "da",
        "lr": 0.02,
        "epochs": 6100,
        "interventions": ["6000:c=0.1"],
    },
    "fig8b-learnable": {
        "model": "rank1",
        "task": "da",
        "lr": 0.02,
        "epochs": 20_000,
        "seed": 40,
        "train_confidence": True,
        "interventions": ["10000:c=1"],
    },
    "fig8c": {
        "model": "full",
        "task": "dcd",
        "trials_per_condition": 10,
        "rate_sd": 0.1,
        "noise_sd": 1e-3,
        "optimizer": "adam",
        "lr": 0.1,
        "epochs": 20_000,
        "readout": "fixed_confidence",
        "confidence": math.inf,
        "interventions": ["10000:c=1"],
        "grad_norm": ["W"],
    },
}

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
)
#: Every option :func:`build_config` accepts.
OPTIONS = (
    ("preset", "model", "rank", "task", "checkpoints", "checkpoint_every", "interventions")
    + _MODEL_OPTIONS
    + _TASK_OPTIONS
    + _TRAIN_OPTIONS
)


def build_config(**options) -> TrainingConfig:
    """A :class:`TrainingConfig` from flat options (those of ``ghostsym train``).

    ``preset`` (a key of :data:`PRESETS`) supplies defaults; ``model`` is "rank1",
    "lowrank" (with ``rank``) or "full"; ``task`` is "da", "dcd", "dmts" or a timing preset
    of :data:`ghostsym.numerics.tasks.TASK_PRESETS`. Unset model options follow the paper:
    rank one on DA reads the latent σ(10(κ − 1)); other low-rank networks read
    g(w_outᵀVᵀx + b_out) on the working-memory tasks and g(w_outᵀx + b_out) on DA; full-rank
    networks read g(w_outᵀx + b_out); g is tanh for DCD and the sigmoid otherwise;
    initialisation "da" on DA and "wm" otherwise. ``checkpoint_every`` adds every k-th epoch
    (and the last) to ``checkpoints``.
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
        **options,
    )


# ---------------------------------------------------------------------------------------
# engine specs
# ---------------------------------------------------------------------------------------
def _specs(model: RNNModel, task: Task, fc_update: str = "exact"):
    ispec, fspec = engine_spec(model, task, projected=fc_update == "projected")
    u, y = task.arrays()
    return ispec, fspec, np.ascontiguousarray(u), np.ascontiguousarray(y)


def _default_task(model: RNNModel, task: Task | None) -> Task:
    if task is not None:
        return task
    if model.inputs:
        raise InputError("a model with inputs needs a task (dcd or dmts)")
    return Task()


# ---------------------------------------------------------------------------------------
# one epoch
# ---------------------------------------------------------------------------------------
def loss_and_gradients(
    model: RNNModel,
    params: Mapping[str, np.ndarray],
    task: Task | None = None,
    *,
    seed: int = 0,
    epoch: int = 0,
) -> tuple[float, dict[str, np.ndarray]]:
    """Loss of one epoch and its exact gradient (hand-written BPTT, numba, float64).

    Parameters
    ----------
    model : the network.
    params : named arrays, as :func:`init_params` returns them (rank-one DA: ``m``, ``n``,
        ``b``).
    task : the task and its trial conditions (default: DA, T = 20, x₀ = −0.3·1).
    seed, epoch : select the random initial states and noise (if the task has them);
        training epoch e of a run with seed s uses exactly these draws.

    Returns
    -------
    (loss, grads): ``grads[name]`` has the shape of ``params[name]``. For the
    fixed-confidence readout the gradient is that of g(c(w_outᵀx + b_out)/‖w_out‖₁).
    """
    task = _default_task(model, task)
    eng = _engine(model.activation)
    ispec, fspec, u, y = _specs(model, task)
    theta = pack(model, params)
    loss, _acc, grad, _yhat, _xs = eng.evaluate(
        theta, ispec, fspec, ispec[spec.I_READOUT], u, y, int(seed), int(epoch)
    )
    return float(loss), unpack(model, grad)


def simulate(
    model: RNNModel,
    params: Mapping[str, np.ndarray],
    task: Task | None = None,
    *,
    seed: int = 0,
    epoch: int = 0,
) -> dict[str, np.ndarray | float]:
    """One epoch's forward pass: ``states`` (S+1, B, N) = x₀ … x_S, ``outputs`` (B, S),
    ``targets`` (B, S), ``inputs`` (B, S, D), ``loss``, ``accuracy``."""
    task = _default_task(model, task)
    eng = _engine(model.activation)
    ispec, fspec, u, y = _specs(model, task)
    theta = pack(model, params)
    loss, acc, _grad, yhat, xs = eng.evaluate(
        theta, ispec, fspec, ispec[spec.I_READOUT], u, y, int(seed), int(epoch)
    )
    return {
        "states": xs,
        "outputs": yhat,
        "targets": y,
        "inputs": u,
        "loss": float(loss),
        "accuracy": float(acc),
    }


# ---------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------
@dataclass
class TrainingResult:
    """Outcome of training one network.

    ``history`` has ``loss``, ``grad_norm`` and ``accuracy`` arrays of length ``epochs``
    (NaN after a divergence); ``checkpoints`` maps epoch → parameter dict;
    ``diverged_epoch`` is the first epoch whose loss or gradient was not finite (or None).
    """

    config: TrainingConfig
    params_init: dict[str, np.ndarray]
    params_final: dict[str, np.ndarray]
    history: dict[str, np.ndarray]
    checkpoints: dict[int, dict[str, np.ndarray]]
    diverged_epoch: int | None = None
    seconds: float = 0.0

    @property
    def final_loss(self) -> float:
        finite = self.history["loss"][np.isfinite(self.history["loss"])]
        return float(finite[-1]) if finite.size else math.nan


def _structure(config: TrainingConfig) -> tuple:
    model = config.model.replace(confidence=1.0, threshold=0.0)
    return (model, config.task, config.epochs, config.grad_norm, config.fixed_confidence_update)


class _Batch:
    """Networks trained together by the engine (one per thread): state, chunking, events."""

    def __init__(self, configs: Sequence[TrainingConfig], params: Sequence[Mapping] | None):
        if not configs:
            raise InputError("no networks to train")
        first = configs[0]
        for cfg in configs[1:]:
            if _structure(cfg) != _structure(first):
                raise InputError(
                    "networks trained together must share model structure, task, epochs and "
                    "gradient-norm settings (they may differ in seed, optimiser, lr, "
                    "constants, checkpoints and interventions)"
                )
        self.configs = list(configs)
        self.model = first.model
        self.eng = _engine(self.model.activation)
        self.ispec, self.fspec, self.u, self.y = _specs(
            self.model, first.task, first.fixed_confidence_update
        )
        if params is None:
            params = [init_params(c.model, c.seed) for c in configs]
        if len(params) != len(configs):
            raise InputError("need one parameter dict per network")
        self.params_init = [{k: np.array(v, dtype=float) for k, v in p.items()} for p in params]
        self.theta = np.stack([pack(c.model, p) for c, p in zip(configs, params, strict=True)])
        count, size = self.theta.shape
        self.m1 = np.zeros((count, size))
        self.m2 = np.zeros((count, size))
        self.steps = np.zeros(count, dtype=np.int64)
        self.status = np.full(count, -1, dtype=np.int64)
        self.seeds = np.array([c.seed for c in configs], dtype=np.int64)
        self.opt_kind = np.array([optimizer_code(c.optimizer) for c in configs], dtype=np.int64)
        self.lr = np.array([float(c.lr) for c in configs])
        self.hyper = np.zeros((count, spec.HYPER_SIZE))
        for j, c in enumerate(configs):
            self.hyper[j, spec.H_BETA1] = c.momentum if c.optimizer == "momentum" else c.betas[0]
            self.hyper[j, spec.H_BETA2] = c.betas[1]
            self.hyper[j, spec.H_EPS] = c.eps
        self.train_mask, self.norm_mask = masks(self.model, first.grad_norm)
        self.epochs = first.epochs
        self.history = {k: np.full((count, self.epochs), np.nan) for k in HISTORY_KEYS}
        self.epoch = 0
        self.layout = layout(self.model)
        self.boundaries = sorted(
            {e for c in configs for e in c.checkpoints}
            | {iv.epoch for c in configs for iv in c.interventions}
            | {self.epochs}
        )

    # -- state for resume ------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        return {
            "theta": self.theta,
            "m1": self.m1,
            "m2": self.m2,
            "steps": self.steps,
            "status": self.status,
            "epoch": np.asarray(self.epoch),
        }

    def load_state(self, state: Mapping[str, np.ndarray], history: Mapping[str, np.ndarray]):
        for key in ("theta", "m1", "m2"):
            if state[key].shape != getattr(self, key).shape:
                raise InputError("resume state does not match the run's configuration")
            getattr(self, key)[...] = state[key]
        self.steps[...] = state["steps"]
        self.status[...] = state["status"]
        self.epoch = int(state["epoch"])
        for key in HISTORY_KEYS:
            self.history[key][:, : self.epoch] = history[key][:, : self.epoch]

    # -- parameters ------------------------------------------------------------------------
    def params(self, j: int) -> dict[str, np.ndarray]:
        return unpack(self.configs[j].model, self.theta[j])

    def constants(self, j: int) -> dict[str, float]:
        return {
            k: float(self.theta[j, self.layout.offsets[k]])
            for k in ("c", "kappa_star")
            if k in self.layout.offsets
        }

    def _apply_interventions(self):
        for j, cfg in enumerate(self.configs):
            for iv in cfg.interventions:
                if iv.epoch != self.epoch:
                    continue
                for name, value in iv.values:
                    self.theta[j, self.layout.offsets[name]] = value
                if iv.reset_optimizer:
                    self.m1[j] = 0.0
                    self.m2[j] = 0.0
                    self.steps[j] = 0

    # -- the loop --------------------------------------------------------------------------
    def run(self, progress=None, on_chunk: Callable[[_Batch, bool], None] | None = None):
        """Train to the last epoch; ``on_chunk(batch, at_boundary)`` after every chunk."""
        progress = progress or NoProgress()
        chunk = FIRST_CHUNK_EPOCHS
        while self.epoch < self.epochs and np.any(self.status < 0):
            self._apply_interventions()
            boundary = next(b for b in self.boundaries if b > self.epoch)
            n = min(chunk, boundary - self.epoch)
            start = time.perf_counter()
            self.eng.train_chunk(
                self.theta,
                self.m1,
                self.m2,
                self.steps,
                self.ispec,
                self.fspec,
                self.u,
                self.y,
                self.seeds,
                self.opt_kind,
                self.lr,
                self.hyper,
                self.train_mask,
                self.norm_mask,
                self.epoch,
                n,
                self.history["loss"],
                self.history["grad_norm"],
                self.history["accuracy"],
                self.status,
            )
            elapsed = time.perf_counter() - start
            first = self.epoch
            self.epoch += n
            chunk = int(min(max(1, n * PROGRESS_INTERVAL / max(elapsed, 1e-9)), 4 * n + 1))
            last = self.history["loss"][:, self.epoch - 1]
            postfix = {"loss": f"{np.nanmedian(last):.4g}"} if np.any(np.isfinite(last)) else {}
            acc = self.history["accuracy"][:, self.epoch - 1]
            if np.any(np.isfinite(acc)):
                postfix["acc"] = f"{np.nanmedian(acc):.3f}"
            progress.update(self.epoch - first, **postfix)
            if on_chunk is not None:
                on_chunk(self, self.epoch == boundary)

    def result(self, j: int, checkpoints: dict, seconds: float) -> TrainingResult:
        status = int(self.status[j])
        return TrainingResult(
            config=self.configs[j],
            params_init=self.params_init[j],
            params_final=self.params(j),
            history={k: self.history[k][j].copy() for k in HISTORY_KEYS},
            checkpoints=checkpoints,
            diverged_epoch=None if status < 0 else status,
            seconds=seconds,
        )


def _divergence_message(result: TrainingResult) -> str:
    cfg = result.config
    return (
        f"training diverged at epoch {result.diverged_epoch}: loss or gradient is not finite "
        f"({cfg.optimizer}, lr {cfg.lr:g}); try a smaller learning rate"
    )


def train_many(
    configs: Sequence[TrainingConfig],
    *,
    params: Sequence[Mapping[str, np.ndarray]] | None = None,
    progress=None,
) -> list[TrainingResult]:
    """Train many independent networks at once, one per thread on all cores (prange).

    The configurations must share model structure, task and epochs; they may differ in
    seed, optimiser and learning rate, readout constants, checkpoints and interventions.
    Each network's history is bit-identical to training it alone with :func:`train`.
    Diverged networks stop and report ``diverged_epoch``; nothing is raised.
    """
    start = time.perf_counter()
    batch = _Batch(configs, params)
    kept: list[dict[int, dict]] = [{} for _ in configs]

    def save_checkpoints(b: _Batch, at_boundary: bool):
        if not at_boundary:
            return
        for j, cfg in enumerate(b.configs):
            if b.epoch in cfg.checkpoints and b.status[j] < 0:
                kept[j][b.epoch] = b.params(j)

    for j, cfg in enumerate(configs):
        if 0 in cfg.checkpoints:
            kept[j][0] = batch.params(j)
    progress = progress or NoProgress()
    progress.start(batch.epochs, f"{len(configs)} networks")
    try:
        with single_threaded_blas():  # parallel across networks, not inside BLAS
            batch.run(progress, save_checkpoints)
    finally:
        progress.close()
    seconds = time.perf_counter() - start
    return [batch.result(j, kept[j], seconds) for j in range(len(configs))]


def train(
    config: TrainingConfig,
    *,
    params: Mapping[str, np.ndarray] | None = None,
    progress=None,
    throw: bool = True,
) -> TrainingResult:
    """Train one network (see the module docstring for epochs, checkpoints, interventions).

    ``params`` defaults to :func:`init_params` (model, seed). A diverging run raises
    :class:`~ghostsym.errors.DivergenceError` naming the epoch, or, with ``throw=False``,
    returns the result with ``diverged_epoch`` set.
    """
    result = train_many([config], params=None if params is None else [params], progress=progress)[0]
    if throw and result.diverged_epoch is not None:
        raise DivergenceError(_divergence_message(result), epoch=result.diverged_epoch)
    return result


# ---------------------------------------------------------------------------------------
# run directories
# ---------------------------------------------------------------------------------------
def _atomic_write_bytes(path: Path, data: bytes) -> None:
    write_atomic(path, data, skip_unchanged=False)


def _atomic_savez(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    savez_atomic(path, arrays)


def _atomic_json(path: Path, data) -> None:
    write_json(path, data)


def _checkpoint_path(out: Path, epoch: int) -> Path:
    return out / "checkpoints" / f"epoch_{epoch:09d}.npz"


@dataclass
class RunRecord:
    """A run directory's contents (see :func:`run_training`)."""

    path: Path
    config: TrainingConfig
    status: dict
    params_init: dict[str, np.ndarray]
    params_final: dict[str, np.ndarray] | None
    history: dict[str, np.ndarray]
    checkpoint_epochs: list[int]

    def checkpoint(self, epoch: int) -> dict[str, np.ndarray]:
        return load_checkpoint(self.path, epoch)


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def load_checkpoint(run_dir, epoch: int) -> dict[str, np.ndarray]:
    """Parameters after ``epoch`` updates of a saved run. Readout constants in force at
    that epoch are stored beside them as ``_c`` / ``_kappa_star`` and left out here."""
    path = _checkpoint_path(Path(run_dir), int(epoch))
    if not path.exists():
        raise InputError(f"run {str(run_dir)!r} has no checkpoint at epoch {epoch}")
    return {k: v for k, v in _load_npz(path).items() if not k.startswith("_")}


def load_run(run_dir) -> RunRecord:
    """Read a run directory written by :func:`run_training` (finished or not)."""
    out = Path(run_dir)
    cfg_path = out / "config.json"
    if not cfg_path.exists():
        raise InputError(f"{str(out)!r} is not a training run directory (no config.json)")
    try:
        config = TrainingConfig.from_dict(json.loads(cfg_path.read_text())["config"])
        status = json.loads((out / "status.json").read_text())
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise InputError(f"{str(out)!r}: unreadable run metadata ({exc})") from None
    if (out / "history.npz").exists():
        history = _load_npz(out / "history.npz")
    else:
        history = _read_partial_history(out, config.epochs)
    final = _load_npz(out / "params_final.npz") if (out / "params_final.npz").exists() else None
    cps = sorted(int(p.stem.split("_")[1]) for p in (out / "checkpoints").glob("epoch_*.npz"))
    return RunRecord(out, config, status, _load_npz(out / "params_init.npz"), final, history, cps)


_HISTORY_ROW = np.dtype([(k, "<f8") for k in HISTORY_KEYS])


def _read_partial_history(out: Path, epochs: int, upto: int | None = None) -> dict:
    history = {k: np.full(epochs, np.nan) for k in HISTORY_KEYS}
    path = out / "resume" / "history.bin"
    if path.exists():
        raw = path.read_bytes()
        rows = np.frombuffer(
            raw[: len(raw) // _HISTORY_ROW.itemsize * _HISTORY_ROW.itemsize], dtype=_HISTORY_ROW
        )
        rows = rows[: epochs if upto is None else upto]
        for k in HISTORY_KEYS:
            history[k][: rows.size] = rows[k]
    return history


def plot_history(history: Mapping[str, np.ndarray], path, title: str = "") -> None:
    """Loss and gradient norm (log y) and accuracy against epoch, written with Agg."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    loss = np.asarray(history["loss"])
    stride = max(1, loss.size // PLOT_MAX_POINTS)
    epochs = np.arange(loss.size)[::stride]
    fig = Figure(figsize=(7, 5.5), constrained_layout=True)
    ax1, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    for key, colour in (("loss", "C0"), ("grad_norm", "C3")):
        values = np.asarray(history[key])[::stride]
        positive = np.where(values > 0, values, np.nan)
        ax1.plot(epochs, positive, color=colour, lw=0.8, label=key.replace("_", " "))
    ax1.set_yscale("log")
    ax1.legend(loc="best")
    ax1.set_title(title)
    ax2.plot(epochs, np.asarray(history["accuracy"])[::stride], color="C2", lw=0.8)
    ax2.set_ylim(-0.02, 1.02)
    ax2.set_ylabel("accuracy")
    ax2.set_xlabel("epoch")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    _atomic_write_bytes(Path(path), buffer.getvalue())


def run_training(
    config: TrainingConfig | None,
    out_dir,
    *,
    resume: bool = False,
    params: Mapping[str, np.ndarray] | None = None,
    progress=None,
) -> TrainingResult:
    """Train one network into a run directory that survives a kill.

    Layout of ``out_dir``::

        config.json          {"ghostsym_version", "config": TrainingConfig.to_dict()}
        status.json          {"state": running|finished|diverged, "epoch", "diverged_epoch"}
        params_init.npz      named arrays
        params_final.npz     named arrays (when finished or diverged)
        history.npz          loss, grad_norm, accuracy (one entry per epoch; entry 0 = initial)
        checkpoints/epoch_000001000.npz   parameters after 1000 updates (+ _c, _kappa_star)
        training.png         loss / gradient norm / accuracy against epoch
        resume/              state.npz + history.bin while unfinished (removed at the end)

    With ``resume=True`` the configuration is read from ``out_dir/config.json`` (``config``
    must be None or equal to it) and training continues from the last saved state (saved at
    every checkpoint and at least every STATE_SAVE_INTERVAL seconds); the results are
    bit-identical to an uninterrupted run. A diverging run writes everything, then raises
    :class:`~ghostsym.errors.DivergenceError`.
    """
    start = time.perf_counter()
    out = Path(out_dir)
    progress = progress or NoProgress()
    if resume:
        record = load_run(out)
        if config is not None and config.to_dict() != record.config.to_dict():
            raise InputError(f"{str(out)!r} holds a run with a different configuration")
        config = record.config
        if record.status.get("state") in ("finished", "diverged"):
            result = TrainingResult(
                config,
                record.params_init,
                record.params_final or record.params_init,
                record.history,
                {e: record.checkpoint(e) for e in record.checkpoint_epochs},
                record.status.get("diverged_epoch"),
                0.0,
            )
            if result.diverged_epoch is not None:
                raise DivergenceError(_divergence_message(result), epoch=result.diverged_epoch)
            return result
        batch = _Batch([config], [record.params_init])
        state_path = out / "resume" / "state.npz"
        if state_path.exists():
            state = _load_npz(state_path)
            batch.load_state(
                {k: np.asarray(v) for k, v in state.items()},
                {
                    k: v[None, :]
                    for k, v in _read_partial_history(
                        out, config.epochs, int(state["epoch"])
                    ).items()
                },
            )
    else:
        if config is None:
            raise InputError("run_training needs a configuration (or resume=True)")
        if (out / "config.json").exists():
            raise InputError(
                f"{str(out)!r} already holds a training run; use --resume or another --out"
            )
        out.mkdir(parents=True, exist_ok=True)
        batch = _Batch([config], None if params is None else [params])
        shutil.rmtree(out / "resume", ignore_errors=True)
        _atomic_savez(out / "params_init.npz", batch.params_init[0])
        _atomic_json(out / "status.json", {"state": "running", "epoch": 0})
        _atomic_json(
            out / "config.json", {"ghostsym_version": __version__, "config": config.to_dict()}
        )
    (out / "checkpoints").mkdir(exist_ok=True)
    (out / "resume").mkdir(exist_ok=True)
    history_file = out / "resume" / "history.bin"
    # keep exactly the rows of the epochs already done (a kill may leave a longer tail)
    rows = np.empty(batch.epoch, dtype=_HISTORY_ROW)
    for k in HISTORY_KEYS:
        rows[k] = batch.history[k][0, : batch.epoch]
    _atomic_write_bytes(history_file, rows.tobytes())
    written = {"history": batch.epoch, "state_time": time.perf_counter()}

    def save_checkpoint(b: _Batch):
        arrays = dict(b.params(0))
        arrays.update({f"_{k}": np.asarray(v) for k, v in b.constants(0).items()})
        _atomic_savez(_checkpoint_path(out, b.epoch), arrays)

    def save_state(b: _Batch):
        rows = np.empty(b.epoch - written["history"], dtype=_HISTORY_ROW)
        for k in HISTORY_KEYS:
            rows[k] = b.history[k][0, written["history"] : b.epoch]
        with open(history_file, "ab") as fh:
            fh.write(rows.tobytes())
        written["history"] = b.epoch
        _atomic_savez(out / "resume" / "state.npz", b.state())
        _atomic_json(out / "status.json", {"state": "running", "epoch": b.epoch})
        written["state_time"] = time.perf_counter()

    if batch.epoch == 0 and 0 in config.checkpoints:
        save_checkpoint(batch)

    def on_chunk(b: _Batch, at_boundary: bool):
        if at_boundary and b.epoch in config.checkpoints and b.status[0] < 0:
            save_checkpoint(b)
            save_state(b)
        elif time.perf_counter() - written["state_time"] > STATE_SAVE_INTERVAL:
            save_state(b)

    progress.start(config.epochs, "train")
    progress.update(batch.epoch)
    try:
        batch.run(progress, on_chunk)
    finally:
        progress.close()
    result = batch.result(0, {}, time.perf_counter() - start)
    _atomic_savez(out / "history.npz", result.history)
    _atomic_savez(out / "params_final.npz", result.params_final)
    cfg = config
    model_name = f"rank {cfg.model.rank}" if cfg.model.low_rank else "full rank"
    title = f"{model_name}, {cfg.task.name.upper()}, {cfg.optimizer} lr {cfg.lr:g}, seed {cfg.seed}"
    plot_history(result.history, out / "training.png", title)
    state = "finished" if result.diverged_epoch is None else "diverged"
    _atomic_json(
        out / "status.json",
        {
            "state": state,
            "epoch": batch.epoch if result.diverged_epoch is None else result.diverged_epoch,
            "diverged_epoch": result.diverged_epoch,
        },
    )
    shutil.rmtree(out / "resume", ignore_errors=True)
    result.checkpoints = {
        e: load_checkpoint(out, e) for e in config.checkpoints if _checkpoint_path(out, e).exists()
    }
    if result.diverged_epoch is not None:
        raise DivergenceError(_divergence_message(result), epoch=result.diverged_epoch)
    return result
