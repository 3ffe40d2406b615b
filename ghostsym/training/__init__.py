"""Training RNNs on the paper's tasks: the public API of the numba RNN engine.

Everything a user or another part of ghostsym needs:

* :class:`RNNModel`, :class:`Task`, :func:`init_params` — the network, the task, the
  paper's initialisation (docs/experiments.md §1).
* :func:`loss_and_gradients` — loss and exact BPTT gradients, keyed like the parameters.
* :func:`simulate` — outputs and states of one epoch.
* :class:`TrainingConfig`, :class:`Intervention`, :func:`build_config`, :data:`PRESETS` —
  what to train; ``build_config`` takes flat options (the CLI's and a sweep file's).
* :func:`train` (one network), :func:`train_many` (many networks, both cores) — training
  with per-epoch histories, checkpoints, scheduled interventions, divergence detection.
* :func:`run_training`, :func:`load_run`, :func:`load_checkpoint` — run directories that
  survive a kill and resume bit-identically.

Modules, by job: :mod:`~ghostsym.training.config` (what to train),
:mod:`~ghostsym.training.presets` (the paper's settings), :mod:`~ghostsym.training.engine`
(epochs and runs on the compiled engine), :mod:`~ghostsym.training.runs` (run directories),
:mod:`~ghostsym.training.plots` (the training figure). ``progress=`` takes True (a
``tqdm.auto`` bar), False/None or a meter (:func:`ghostsym.progress.as_meter`).

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
  (``fixed_confidence_update="projected"``), does what the authors' code does (docs/experiments.md
  §8.4, §13.2): before every epoch project w_out ← c·w_out/‖w_out‖₁, b_out ← c·b_out/‖w_out‖₁
  in place, then step with the plain population-readout gradient at the projected point;
  ``"exact"`` trains on the exact gradient instead.
"""

from ghostsym.numerics.optim import OPTIMIZERS
from ghostsym.numerics.rnn import RNNModel, init_params
from ghostsym.numerics.tasks import Task, task_preset
from ghostsym.training.config import (
    MODEL_KINDS,
    OPTIONS,
    Intervention,
    TrainingConfig,
    build_config,
    parse_intervention,
)
from ghostsym.training.engine import (
    HISTORY_KEYS,
    TrainingResult,
    loss_and_gradients,
    simulate,
    train,
    train_many,
)
from ghostsym.training.plots import plot_history
from ghostsym.training.presets import PRESETS
from ghostsym.training.runs import (
    DEFAULT_CHECKPOINTS,
    RunRecord,
    load_checkpoint,
    load_run,
    run_training,
)

__all__ = [
    "RNNModel",
    "Task",
    "Intervention",
    "TrainingConfig",
    "TrainingResult",
    "RunRecord",
    "PRESETS",
    "OPTIMIZERS",
    "OPTIONS",
    "MODEL_KINDS",
    "HISTORY_KEYS",
    "DEFAULT_CHECKPOINTS",
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
    "plot_history",
    "task_preset",
]
