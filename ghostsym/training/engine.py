"""Training on the compiled engine: one epoch (:func:`loss_and_gradients`, :func:`simulate`)
and whole runs of one or many networks (:func:`train`, :func:`train_many`).

The numba engines train a batch of networks in chunks of epochs: the one-network engine
(:mod:`ghostsym.numerics.rnn_template`, compiled per nonlinearity by
:func:`ghostsym.codegen.rnn.engine`, one network per thread) for a single network, and the
batched engine (:mod:`ghostsym.numerics.rnn_batched_template`,
:func:`ghostsym.codegen.rnn.batched_engine`: blocks of :data:`BATCH_LANES` networks side by
side in SIMD lanes, blocks in parallel) whenever two or more networks train together. The two
are bit-identical (docs/performance.md §6), so which one ran never changes a result. This
module packs configurations into its arrays (:func:`ghostsym.numerics.spec.engine_spec`),
sizes the chunks for progress updates, applies interventions and checkpoints at chunk
boundaries, and unpacks the results.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ghostsym.errors import DivergenceError, InputError
from ghostsym.numerics import spec
from ghostsym.numerics.blas import single_threaded_blas
from ghostsym.numerics.optim import NATGRAD, RNN_OPTIMIZERS, optimizer_code
from ghostsym.numerics.rnn import RNNModel, init_params, layout, masks, pack, unpack
from ghostsym.numerics.rnn_common import project_readout
from ghostsym.numerics.spec import DIVERGENCE_BOUND, engine_spec
from ghostsym.numerics.tasks import Task
from ghostsym.progress import as_meter
from ghostsym.training import cuda_engine
from ghostsym.training.config import TrainingConfig
from ghostsym.training.cuda_engine import resolve_backend

#: Target wall time of one numba chunk between progress updates (seconds).
PROGRESS_INTERVAL = 0.25
#: Epochs of the first chunk (it also pays for loading the compiled engine).
FIRST_CHUNK_EPOCHS = 16

HISTORY_KEYS = ("loss", "grad_norm", "accuracy")

#: Networks per block of the batched engine (docs/performance.md §6).
BATCH_LANES = 8
#: Fewest networks for which :func:`train_many` uses the batched engine.
BATCH_MIN = 2

DTYPES = {"float64": np.float64, "float32": np.float32}


def _engine(activation: str):
    from ghostsym.codegen.rnn import engine

    return engine(activation)


def _batched_engine(activation: str):
    from ghostsym.codegen.rnn import batched_engine

    return batched_engine(activation)


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
    ``diverged_epoch`` is the first epoch whose loss or gradient was not finite, or whose
    parameters or final states lay beyond ±DIVERGENCE_BOUND (or None).
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
    return (
        model,
        config.task,
        config.epochs,
        config.grad_norm,
        config.fixed_confidence_update,
        config.dtype,
    )


class _Batch:
    """Networks trained together by an engine: state, chunking, events.

    ``batched``: None picks the batched engine for ≥ :data:`BATCH_MIN` low-rank networks and
    the one-network engine otherwise (full rank: each network streams its own W, so lanes
    gain nothing there, docs/performance.md §6); True/False forces one (the results are the
    same). ``backend``: "cpu", "cuda" (one network per GPU thread, docs/gpu.md §1) or
    "auto"."""

    def __init__(
        self,
        configs: Sequence[TrainingConfig],
        params: Sequence[Mapping] | None,
        batched: bool | None = None,
        backend: str | None = None,
    ):
        if not configs:
            raise InputError("no networks to train")
        first = configs[0]
        for cfg in configs[1:]:
            if _structure(cfg) != _structure(first):
                raise InputError(
                    "networks trained together must share model structure, task, epochs, dtype "
                    "and gradient-norm settings (they may differ in seed, optimiser, lr, "
                    "constants, checkpoints and interventions)"
                )
        self.configs = list(configs)
        self.model = first.model
        self.backend = resolve_backend(backend)
        self.dtype = DTYPES[first.dtype]
        if self.backend == "cuda":  # same train_chunk arguments, run on the GPU (docs/gpu.md §1)
            if first.dtype != "float64":
                raise InputError("the cuda backend trains in float64 only; use --dtype float64")
            self.batched = False
            self.eng = cuda_engine.engine(self.model.activation)
        else:
            if batched is None:
                batched = len(configs) >= BATCH_MIN and first.model.rank is not None
            self.batched = bool(batched)
            if self.batched:
                self.eng = _batched_engine(self.model.activation)
            else:
                self.eng = _engine(self.model.activation)
        self.ispec, self.fspec, self.u, self.y = _specs(
            self.model, first.task, first.fixed_confidence_update
        )
        if params is None:
            params = [init_params(c.model, c.seed) for c in configs]
        if len(params) != len(configs):
            raise InputError("need one parameter dict per network")
        self.params_init = [{k: np.array(v, dtype=float) for k, v in p.items()} for p in params]
        self.theta = np.stack(
            [pack(c.model, p) for c, p in zip(configs, params, strict=True)]
        ).astype(self.dtype)
        count, size = self.theta.shape
        self.m1 = np.zeros((count, size), self.dtype)
        self.m2 = np.zeros((count, size), self.dtype)
        self.steps = np.zeros(count, dtype=np.int64)
        self.status = np.full(count, -1, dtype=np.int64)
        self.seeds = np.array([c.seed for c in configs], dtype=np.int64)
        self.opt_kind = np.array(
            [optimizer_code(c.optimizer, RNN_OPTIMIZERS) for c in configs], dtype=np.int64
        )
        natgrad = self.opt_kind == NATGRAD
        if self.backend == "cuda" and natgrad.any():
            raise InputError("the cuda backend does not run --optimizer natgrad; use --backend cpu")
        # natural-gradient preconditioners (docs/sntk.md §6): basis V, coefficients, rank,
        # epoch of the last refresh (−1: refresh at the next chunk)
        kmax = max([c.natgrad_rank for c, ng in zip(configs, natgrad, strict=True) if ng] or [0])
        self.ng_basis = np.zeros((count, size, kmax))
        self.ng_coef = np.zeros((count, kmax + 1))
        self.ng_rank = np.full(count, -1, dtype=np.int64)
        self.ng_epoch = np.full(count, -1, dtype=np.int64)
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
            "ng_basis": self.ng_basis,
            "ng_coef": self.ng_coef,
            "ng_rank": self.ng_rank,
            "ng_epoch": self.ng_epoch,
        }

    def load_state(self, state: Mapping[str, np.ndarray], history: Mapping[str, np.ndarray]):
        keys = ["theta", "m1", "m2"]
        if np.any(self.opt_kind == NATGRAD):  # states written before natgrad lack these
            keys += ["ng_basis", "ng_coef", "ng_rank", "ng_epoch"]
        for key in keys:
            if key not in state or state[key].shape != getattr(self, key).shape:
                raise InputError("resume state does not match the run's configuration")
            getattr(self, key)[...] = state[key]
        self.steps[...] = state["steps"]
        self.status[...] = state["status"]
        self.epoch = int(state["epoch"])
        for key in HISTORY_KEYS:
            self.history[key][:, : self.epoch] = history[key][:, : self.epoch]

    # -- parameters ------------------------------------------------------------------------
    def params(self, j: int) -> dict[str, np.ndarray]:
        return unpack(self.configs[j].model, self.theta[j].astype(np.float64))

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
                self.ng_epoch[j] = -1  # θ changed outside training: a fresh Jacobian

    # -- natural gradient ------------------------------------------------------------------
    def _natgrad_due(self) -> np.ndarray:
        """Networks whose natural-gradient preconditioner is refreshed at this epoch."""
        period = np.array([c.natgrad_refresh for c in self.configs])
        return (
            (self.opt_kind == NATGRAD)
            & (self.status < 0)
            & ((self.ng_epoch < 0) | (self.epoch >= self.ng_epoch + period))
        )

    def _natgrad_next(self) -> int:
        """The next epoch at which some natural-gradient network refreshes (or the end)."""
        nxt = self.epochs
        for j, cfg in enumerate(self.configs):
            if self.opt_kind[j] == NATGRAD and self.status[j] < 0:
                nxt = min(nxt, int(self.ng_epoch[j]) + cfg.natgrad_refresh)
        return nxt

    def _natgrad_refresh(self):
        for j in np.flatnonzero(self._natgrad_due()):
            basis, coef, rank = natgrad_preconditioner(
                self.configs[j],
                self.theta[j],
                self.train_mask,
                self.ispec,
                self.fspec,
                self.u,
                self.y,
                self.epoch,
            )
            if rank > 0:
                self.ng_basis[j] = 0.0
                self.ng_basis[j, :, :rank] = basis
                self.ng_coef[j] = 0.0
                self.ng_coef[j, : rank + 1] = coef
                self.ng_rank[j] = rank
            self.ng_epoch[j] = self.epoch

    # -- the loop --------------------------------------------------------------------------
    def run(self, progress=None, on_chunk: Callable[[_Batch, bool], None] | None = None):
        """Train to the last epoch; ``on_chunk(batch, at_boundary)`` after every chunk."""
        progress = as_meter(progress, unit="epoch")
        chunk = FIRST_CHUNK_EPOCHS
        while self.epoch < self.epochs and np.any(self.status < 0):
            self._apply_interventions()
            self._natgrad_refresh()
            boundary = next(b for b in self.boundaries if b > self.epoch)
            boundary = min(boundary, self._natgrad_next())
            n = min(chunk, boundary - self.epoch)
            start = time.perf_counter()
            if self.backend == "cuda":  # the device engine has no natgrad arguments
                extra = ()
            else:
                extra = (self.ng_basis, self.ng_coef, self.ng_rank)
            if self.batched:
                extra += (BATCH_LANES,)
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
                *extra,
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


def output_jacobian(config: TrainingConfig, theta, train_mask, ispec, fspec, u, y, epoch):
    """The output Jacobian ∂ŷ/∂θ (rows: trial, step; columns: the entries with
    ``train_mask != 0``) of epoch ``epoch`` at ``theta``, exactly, by one BPTT of the
    engine's own ``loss_grad`` per output (docs/sntk.md §6): with targets y' = ŷ except
    y'_o = ŷ_o − 1, every other output's error is exactly 0 (it contributes nothing), so
    ∂L'/∂θ = 2·scale·e_o·∂ŷ_o/∂θ with the known e_o = ŷ_o − y'_o. The derivative is that of
    what the engine trains (the projected fixed-confidence readout included), in float64.
    Returns (J, scale) with ``scale`` the loss scale."""
    eng = _engine(config.model.activation)
    theta = np.array(theta, dtype=np.float64)
    readout = int(ispec[spec.I_READOUT])
    if readout == spec.READOUT_FIXED_CONFIDENCE and ispec[spec.I_PROJECT] == 1:
        project_readout(theta, ispec)
        readout = spec.READOUT_POPULATION
    seed, epoch = int(config.seed), int(epoch)
    *_, yhat, _xs = eng.evaluate(theta, ispec, fspec, readout, u, y, seed, epoch)
    idx = np.flatnonzero(train_mask)
    trials, steps = yhat.shape
    scale = float(fspec[spec.F_LOSS_SCALE])
    jac = np.empty((trials * steps, idx.size))
    target = np.ascontiguousarray(yhat.copy())
    for tr in range(trials):
        for t in range(steps):
            target[tr, t] = yhat[tr, t] - 1.0
            err = yhat[tr, t] - target[tr, t]
            grad = eng.evaluate(theta, ispec, fspec, readout, u, target, seed, epoch)[2]
            jac[tr * steps + t] = grad[idx] / (2.0 * scale * err)
            target[tr, t] = yhat[tr, t]
    return jac, scale


def natgrad_preconditioner(config: TrainingConfig, theta, train_mask, ispec, fspec, u, y, epoch):
    """(V [P, k], coefficients [k + 1], k) of the low-rank natural gradient at θ
    (docs/sntk.md §6): the top-k right singular vectors V and singular values s of the
    Gauss–Newton-scaled output Jacobian √(2·scale)·J (so that VᵀF V = diag(s²), F the
    Gauss–Newton matrix of the loss), damping λ, coefficients c = 1/(s_k² + λ) and
    1/(s_i² + λ) − c (:func:`ghostsym.numerics.optim.natgrad_precondition`).
    k = min(natgrad_rank, outputs, trainable entries); k = 0 (keep the previous
    preconditioner) if J is not finite."""
    jac, scale = output_jacobian(config, theta, train_mask, ispec, fspec, u, y, epoch)
    if not np.all(np.isfinite(jac)):
        return None, None, 0
    jac *= math.sqrt(2.0 * scale)
    _, sv, vt = np.linalg.svd(jac, full_matrices=False)
    k = min(config.natgrad_rank, sv.size)
    idx = np.flatnonzero(train_mask)
    basis = np.zeros((train_mask.size, k))
    basis[idx] = vt[:k].T
    damping = config.natgrad_damping
    comp = 1.0 / (sv[k - 1] ** 2 + damping)
    coef = np.concatenate([[comp], 1.0 / (sv[:k] ** 2 + damping) - comp])
    return basis, coef, k


def _divergence_message(result: TrainingResult) -> str:
    cfg = result.config
    epoch = result.diverged_epoch
    trained = [
        np.asarray(result.params_final[p], dtype=float).ravel()
        for p in cfg.model.trainable_names()
        if p in result.params_final
    ]
    values = np.concatenate(trained) if trained else np.zeros(0)
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    loss = result.history["loss"]
    evaluated = epoch < loss.size and np.isfinite(loss[epoch])
    if not np.all(np.isfinite(values)):
        why = "parameters are not finite"
    elif largest > DIVERGENCE_BOUND:
        why = f"parameters beyond ±{DIVERGENCE_BOUND:g} (largest |θ| = {largest:.3g})"
    elif evaluated and np.isfinite(result.history["grad_norm"][epoch]):
        why = f"states beyond ±{DIVERGENCE_BOUND:g}"
    else:
        why = "loss or gradient is not finite"
    return (
        f"training diverged at epoch {epoch}: {why} ({cfg.optimizer}, lr {cfg.lr:g}); "
        "try a smaller learning rate"
    )


def train_many(
    configs: Sequence[TrainingConfig],
    *,
    params: Sequence[Mapping[str, np.ndarray]] | None = None,
    progress=None,
    backend: str | None = None,
) -> list[TrainingResult]:
    """Train many independent networks at once on all cores: two or more low-rank networks
    in the batched engine (blocks of :data:`BATCH_LANES` networks in SIMD lanes, blocks in
    parallel), full-rank ones one per thread.

    ``backend``: "cpu", "cuda" (one network per GPU thread, docs/gpu.md; agrees
    with the CPU to the tolerance of docs/gpu.md §2) or "auto" (cuda when a device is
    present); None (default) reads ``$GHOSTSYM_BACKEND`` (default cpu); "cuda" without a
    device is an InputError ``no CUDA device: …``.

    The configurations must share model structure, task, epochs and dtype; they may differ in
    seed, optimiser and learning rate, readout constants, checkpoints and interventions.
    Each network's history is bit-identical to training it alone with :func:`train`.
    Diverged networks stop and report ``diverged_epoch``; nothing is raised.
    """
    start = time.perf_counter()
    batch = _Batch(configs, params, backend=backend)
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
    progress = as_meter(progress, unit="epoch")
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
    backend: str | None = None,
) -> TrainingResult:
    """Train one network (see the module docstring for epochs, checkpoints, interventions).

    ``params`` defaults to :func:`init_params` (model, seed). A diverging run raises
    :class:`~ghostsym.errors.DivergenceError` naming the epoch, or, with ``throw=False``,
    returns the result with ``diverged_epoch`` set.
    """
    result = train_many(
        [config], params=None if params is None else [params], progress=progress, backend=backend
    )[0]
    if throw and result.diverged_epoch is not None:
        raise DivergenceError(_divergence_message(result), epoch=result.diverged_epoch)
    return result
