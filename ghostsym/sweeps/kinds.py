"""Built-in run kinds of ``ghostsym sweep``: functions that run one point of a grid.

Each takes a flat dict of plain data and returns
``{"history": {...}, "params": {...}, "summary": {...}}``; a failing run raises (a
:class:`~ghostsym.errors.DivergenceError` names the epoch). ``<name>_validate(config)`` checks a
point before anything is submitted: it refuses unknown settings (``epochz = 7`` is an error,
not a silently ignored typo) and sizes beyond the stated limits. They are importable
module-level functions so that a Dask worker imports them itself (and compiles any numba code
there); nothing but plain data and the function's name is sent over the wire.

* ``run_rnn``       -- one training of the RNN engine (:mod:`ghostsym.training`).
* ``run_canonical`` -- gradient descent on the canonical model's r with the analytic loss of
  docs/experiments.md §2.3 (Fig. 2D): a cheap run with a known critical learning rate
  α* = 3π⁴/(32T⁵) (Eq. 23), used to test the sweep machinery and the report.
* ``run_toy``       -- gradient descent on a quadratic, with optional sleep / failure: for
  testing the machinery only.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ghostsym.errors import DivergenceError, InputError

# -- canonical model (docs/experiments.md §2.3, §2.5) ----------------------------------------------
CANONICAL_DEFAULTS = {
    "T": 100.0,  # delay of the DA task
    "epochs": 10_000,
    "r0_factor": 10.0,  # initial r = r0_factor r* ...
    "r0_jitter": 0.1,  # ... + N(0, (r0_jitter r*)^2), drawn from the run's seed (Fig. 2D)
}
#: A kind's own "learned" level: learned = median loss over the report's window <= this
#: (:class:`ghostsym.sweeps.data.Criteria`). Canonical kind: normalised loss L/T <= 0.1, the
#: output switching within 10% of T of the target time (the level of docs/experiments.md
#: §2.4); a ratio to the initial loss (0.68 at r0 = 10 r*) would ask for 0.0068, which runs
#: oscillating about r* do not reach.
LEARNED_LOSS = {"canonical": 0.1}
#: Settings of the canonical kind: the swept ones plus :data:`CANONICAL_DEFAULTS`.
CANONICAL_KEYS = ("lr", "seed", *CANONICAL_DEFAULTS)
#: Settings of the toy kind (``sleep``, ``fail`` and ``log`` are test hooks).
TOY_KEYS = ("lr", "seed", "epochs", "sleep", "fail", "log")
#: Largest ``epochs`` of the canonical and toy kinds (their histories hold a few float64
#: arrays of this length: 10^7 epochs are 80 MB each).
MAX_EPOCHS = 10_000_000
#: Longest ``sleep`` (seconds) of the toy kind.
MAX_SLEEP = 600.0


def run_canonical_validate(config: dict) -> None:
    _require_known(config, CANONICAL_KEYS, "canonical")
    _require_number(config, "lr", positive=True)
    _require_int(config, "seed", minimum=0)
    cfg = {**CANONICAL_DEFAULTS, **config}
    _require_number(cfg, "T", positive=True)
    _require_int(cfg, "epochs", minimum=1, maximum=MAX_EPOCHS)
    _require_number(cfg, "r0_factor", positive=True)
    _require_number(cfg, "r0_jitter", positive=False)


def run_canonical(config: dict) -> dict:
    """Gradient descent on r of ẋ = x² + r with the analytic DA loss (docs/experiments.md §2.3).

    The loss, its gradient and r* come from the symbolic layer (``ghostsym.symbolic.canonical``,
    cached per process and on disk by :mod:`ghostsym.sweeps.derivations`) and the descent runs
    in the numba trainer of :mod:`ghostsym.numerics.normal_form`. Loss is recorded normalised,
    L̃ = L/T (1 inside the no-learning zone r < r*/4); the update uses the gradient of the
    un-normalised loss, as in the authors' script. The step readout's accuracy over [0, 2T] is
    1 − L̃/2 (0.5 in the no-learning zone). :func:`run_canonical_batch` runs many points in one
    call of the trainer, with bit-identical results.
    """
    outcome = run_canonical_batch([config])[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def run_canonical_group(config: dict) -> str:
    """Points with the same key share one trainer call (the same T and epochs)."""
    cfg = {**CANONICAL_DEFAULTS, **config}
    return f"T={float(cfg['T'])!r} epochs={int(cfg['epochs'])}"


def run_canonical_epochs(config: dict) -> int:
    return int({**CANONICAL_DEFAULTS, **config}["epochs"])


def run_toy_epochs(config: dict) -> int:
    return int(config.get("epochs", 100))


def run_rnn_epochs(config: dict) -> int:
    return int(rnn_training_config(config).epochs)


def run_rnn_calibration(config: dict, epochs: int) -> dict:
    """The point shortened to ``epochs`` for the cost calibration of ``--dry-run`` (its
    checkpoints and interventions, which may lie later, dropped)."""
    drop = {"checkpoints", "checkpoint_every", "interventions", *INTERVENTION_KEYS}
    return {**{k: v for k, v in config.items() if k not in drop}, "epochs": epochs}


def run_canonical_prepare(config: dict) -> None:
    """Load (or compile) the kernels of the trainer: one epoch of one point."""
    run_canonical_batch([{**config, "epochs": 1}])


def run_canonical_batch(configs: list[dict]) -> list:
    """:func:`run_canonical` of every point: a result dict, or the exception of a failed one.

    Points of the same delay T and number of epochs go through one call of
    ``NormalFormSimulator.train_r`` (independent runs, so each is bit-identical to training
    it alone)."""
    from ghostsym.sweeps.derivations import canonical

    out: list = [None] * len(configs)
    groups: dict[str, list[int]] = {}
    for i, config in enumerate(configs):
        try:
            run_canonical_validate(config)
        except InputError as exc:
            out[i] = exc
            continue
        groups.setdefault(run_canonical_group(config), []).append(i)
    if not groups:
        return out
    derivation = canonical()
    sim = derivation.simulator()
    for idx in groups.values():
        cfgs = [{**CANONICAL_DEFAULTS, **configs[i]} for i in idx]
        T, epochs = float(cfgs[0]["T"]), int(cfgs[0]["epochs"])
        numbers = derivation.numbers(T)
        r_star = numbers["r_star"]
        r0 = np.empty(len(idx))
        for j, cfg in enumerate(cfgs):
            rng = np.random.default_rng(int(cfg["seed"]))
            jitter = cfg["r0_jitter"] * r_star * float(rng.standard_normal())
            r0[j] = cfg["r0_factor"] * r_star + jitter
        lrs = np.array([float(cfg["lr"]) for cfg in cfgs])
        run = sim.train_r(r0, lrs, epochs=epochs, gradient="analytic", T=T)
        summary = {
            "r_star": r_star,
            "alpha_star": numbers["alpha_star"],
            "point_of_no_return": numbers["point_of_no_return"],
            "chance_accuracy": 0.5,
        }
        for j, i in enumerate(idx):
            if run.diverged[j] >= 0:
                epoch = int(run.diverged[j])
                out[i] = DivergenceError(f"r became non-finite at epoch {epoch}", epoch=epoch)
                continue
            loss = run.loss[j, :epochs] / T
            out[i] = {
                "history": {
                    "loss": loss,
                    "grad_norm": np.abs(run.grad[j, :epochs]),
                    "accuracy": 1.0 - loss / 2,
                    "r": run.r[j, :epochs],
                },
                "params": {"r": np.array([run.r[j, epochs]])},
                "summary": {**summary, "final_r": float(run.r[j, epochs])},
            }
    return out


def run_toy_validate(config: dict) -> None:
    _require_known(config, TOY_KEYS, "toy")
    _require_number(config, "lr", positive=True)
    _require_int(config, "seed", minimum=0)
    _require_int({"epochs": 100, **config}, "epochs", minimum=1, maximum=MAX_EPOCHS)
    _require_number({"sleep": 0.0, **config}, "sleep", positive=False)
    if float(config.get("sleep", 0.0)) > MAX_SLEEP:
        raise InputError(f"sleep must be at most {MAX_SLEEP:g} s, got {config['sleep']!r}")
    log = config.get("log")
    if log is not None and (not isinstance(log, str) or not log.endswith(".log")):
        # a spec names this file, so it may only append to a file of its own kind
        raise InputError(f"log must be the path of a .log file, got {log!r}")


def run_toy(config: dict) -> dict:
    """Gradient descent on ½‖w‖² in 8 dimensions from a seeded start (diverges for lr > 2).

    Extra settings for tests: ``sleep`` (seconds, before training), ``fail`` (raise a
    RuntimeError), ``log`` (append "start/end run_seed lr pid" lines to this file).
    """
    run_toy_validate(config)
    import os

    lr, epochs = float(config["lr"]), int(config.get("epochs", 100))
    tag = f"seed={config['seed']} lr={config['lr']!r}"
    log = config.get("log")
    if log:
        with open(log, "a") as fh:
            fh.write(f"start {tag} {os.getpid()}\n")
    if config.get("sleep"):
        time.sleep(float(config["sleep"]))
    if config.get("fail"):
        raise RuntimeError(f"requested failure ({tag})")
    w = np.random.default_rng(int(config["seed"])).standard_normal(8)
    loss = np.empty(epochs)
    grad = np.empty(epochs)
    acc = np.empty(epochs)
    for k in range(epochs):
        loss[k] = 0.5 * float(w @ w)
        grad[k] = math.sqrt(float(w @ w))
        acc[k] = float(np.mean(np.abs(w) < 0.5))
        if not math.isfinite(loss[k]) or loss[k] > 1e12:
            raise DivergenceError(f"loss {loss[k]:.3g} at epoch {k}", epoch=k)
        w = w - lr * w
    if log:
        with open(log, "a") as fh:
            fh.write(f"end {tag} {os.getpid()}\n")
    return {
        "history": {"loss": loss, "grad_norm": grad, "accuracy": acc},
        "params": {"w": w},
        "summary": {"chance_accuracy": 0.5},
    }


# -- RNN engine --------------------------------------------------------------------------------
#: Sweep settings that build one intervention of the RNN kind (e.g. an axis over the new
#: confidence): at ``intervention_epoch`` set c to ``intervention_c`` (and/or κ* to
#: ``intervention_kappa_star``), resetting the optimiser state if ``intervention_reset``.
INTERVENTION_KEYS = (
    "intervention_epoch",
    "intervention_c",
    "intervention_kappa_star",
    "intervention_reset",
)


def rnn_training_config(config: dict):
    """The :class:`ghostsym.training.TrainingConfig` of a sweep point (flat options of
    :func:`ghostsym.training.build_config` plus :data:`INTERVENTION_KEYS`)."""
    training = _training_module()
    options = {k: v for k, v in config.items() if k not in INTERVENTION_KEYS}
    interventions = list(options.pop("interventions", ()) or ())
    if any(k in config for k in INTERVENTION_KEYS):
        if "intervention_epoch" not in config:
            raise InputError("intervention_c / intervention_kappa_star need intervention_epoch")
        values = {
            name: config[f"intervention_{name}"]
            for name in ("c", "kappa_star")
            if f"intervention_{name}" in config
        }
        if not values:
            raise InputError("intervention_epoch needs intervention_c or intervention_kappa_star")
        interventions.append(
            training.Intervention(
                config["intervention_epoch"],
                values,
                reset_optimizer=bool(config.get("intervention_reset", False)),
            )
        )
    options["interventions"] = interventions
    return training.build_config(**options)


def run_rnn_validate(config: dict) -> None:
    rnn_training_config(config)


def run_rnn(config: dict) -> dict:
    """One training of the RNN engine; histories ``loss``, ``grad_norm``, ``accuracy``.

    ``params`` holds the final parameters and, for each checkpoint e, ``checkpoint_<e>.<name>``.
    ``summary["chance_accuracy"]`` is the accuracy of the all-zero output (the no-learning
    level of :mod:`ghostsym.sweeps.report`): the fraction of zero targets.
    :func:`run_rnn_batch` trains many points through one ``train_many`` call.
    """
    training = _training_module()
    cfg = rnn_training_config(config)
    result = training.train(cfg, throw=True)  # a divergence raises, naming the epoch
    return _rnn_result(cfg, result)


def _rnn_result(cfg, result) -> dict:
    params = {k: np.asarray(v) for k, v in result.params_final.items()}
    for epoch, ckpt in sorted(result.checkpoints.items()):
        params.update({f"checkpoint_{epoch}.{k}": np.asarray(v) for k, v in ckpt.items()})
    _u, y = cfg.task.arrays()
    return {
        "history": {k: np.asarray(v) for k, v in result.history.items()},
        "params": params,
        "summary": {
            "chance_accuracy": float(np.mean(np.asarray(y) == 0)),
            "train_seconds": result.seconds,
        },
    }


def run_rnn_group(config: dict) -> str:
    """Points with the same key go through one ``train_many`` call: the same model structure
    (constants c and κ* aside), task, epochs and gradient-norm settings. Should the engine
    still refuse a group, its points are trained one at a time."""
    cfg = rnn_training_config(config)
    model = cfg.model.replace(confidence=1.0, threshold=0.0)
    return repr((model, cfg.task, cfg.epochs, cfg.grad_norm, cfg.fixed_confidence_update))


def run_rnn_prepare(config: dict) -> None:
    """Load (or compile) the engine's kernels: one epoch of the point's network."""
    import dataclasses

    cfg = rnn_training_config(config)
    cfg = dataclasses.replace(cfg, epochs=1, checkpoints=(), interventions=())
    _training_module().train_many([cfg])


def run_rnn_batch(configs: list[dict]) -> list:
    """:func:`run_rnn` of every point through ``train_many`` (bit-identical histories); a
    result dict, or the exception of a failed point, per point."""
    training = _training_module()
    out: list = [None] * len(configs)
    cfgs, where = [], []
    for i, config in enumerate(configs):
        try:
            cfgs.append(rnn_training_config(config))
            where.append(i)
        except InputError as exc:
            out[i] = exc
    if not cfgs:
        return out
    try:
        results = training.train_many(cfgs)
    except InputError:  # not one structure after all: one network at a time
        results = [training.train(c, throw=False) for c in cfgs]
    for i, cfg, result in zip(where, cfgs, results, strict=True):
        if result.diverged_epoch is not None:
            out[i] = DivergenceError(_divergence_text(result), epoch=result.diverged_epoch)
        else:
            out[i] = _rnn_result(cfg, result)
    return out


def _divergence_text(result) -> str:
    """The engine's own divergence message (what ``train(throw=True)`` raises)."""
    try:
        from ghostsym.training.engine import _divergence_message
    except ImportError:
        cfg, epoch = result.config, result.diverged_epoch
        return f"training diverged at epoch {epoch} ({cfg.optimizer}, lr {cfg.lr:g})"
    return _divergence_message(result)


def _training_module():
    try:
        from ghostsym import training
    except ImportError as exc:
        raise InputError(f"the RNN engine (ghostsym.training) is not available: {exc}") from None
    return training


# -- validation helpers ------------------------------------------------------------------------
def _require_number(config: dict, key: str, *, positive: bool) -> None:
    if key not in config:
        raise InputError(f"missing setting {key!r}")
    v = config[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise InputError(f"{key} must be a finite number, got {v!r}")
    if positive and v <= 0:
        raise InputError(f"{key} must be > 0, got {v!r}")
    if not positive and v < 0:
        raise InputError(f"{key} must be >= 0, got {v!r}")


def _require_int(config: dict, key: str, *, minimum: int, maximum: int | None = None) -> None:
    if key not in config:
        raise InputError(f"missing setting {key!r}")
    v = config[key]
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise InputError(f"{key} must be an integer >= {minimum}, got {v!r}")
    if maximum is not None and v > maximum:
        raise InputError(f"{key} must be at most {maximum:,}, got {v:,}")


def _require_known(config: dict, known, kind: str) -> None:
    unknown = sorted(set(config) - set(known))
    if unknown:
        raise InputError(
            f"unknown setting(s) for kind {kind!r}: {', '.join(unknown)}; "
            f"expected {', '.join(sorted(known))}"
        )
