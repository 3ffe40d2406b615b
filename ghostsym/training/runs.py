"""Run directories: :func:`run_training` trains into a directory that survives a kill and
resumes bit-identically; :func:`load_run` and :func:`load_checkpoint` read it back.

**One behaviour per case** (``ghostsym train --out DIR``, ``run_training(config, DIR)``):

* ``DIR`` new or empty: a new run; ``DIR`` is marked as ghostsym's run directory
  (``.ghostsym.json``, :func:`ghostsym.io.claim_directory`).
* ``DIR`` holds a run (finished or not) and no ``--resume``: refused ("already holds a
  training run; continue it with --resume or choose a new --out"); nothing is touched.
* ``--resume`` (``resume=True``): continues the run from its last saved state, bit-identical
  to an uninterrupted run; a finished run is returned as it is. ``config.json`` is checked
  against the saved arrays (parameters, resume state, history) and against the size limits
  of :mod:`ghostsym.training.config` before anything is computed.
* ``DIR`` is anything else — a user's non-empty directory, a file, a sweep's results
  directory (a directory of another kind): refused with one line, nothing is written.
  Run directories written before the marker existed (ghostsym's ``config.json`` with
  ``"ghostsym_version"`` beside ``status.json``) are recognised and marked.
* One writer per run directory: the whole run holds ``DIR/.lock``
  (:func:`ghostsym.io.directory_lock`); a second ``train`` on it refuses at once.

Every file is written through :mod:`ghostsym.io` (atomic, with the user's umask); a full disk
or an unwritable directory ends the run with one line naming the file being written, and the
run resumes from its last saved state once there is room. Corrupt, truncated or missing
files are reported as one line naming the file.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ghostsym.config import VERSION as __version__
from ghostsym.errors import DivergenceError, GhostsymError, InputError
from ghostsym.io import (
    MARKER,
    append_bytes,
    claim_directory,
    directory_kind,
    directory_lock,
    savez_atomic,
    to_jsonable,
    write_atomic,
    write_error,
    write_json,
)
from ghostsym.numerics.rnn import RNNModel
from ghostsym.progress import as_meter
from ghostsym.training.config import TrainingConfig
from ghostsym.training.cuda_engine import resolve_backend
from ghostsym.training.engine import HISTORY_KEYS, TrainingResult, _Batch, _divergence_message
from ghostsym.training.plots import plot_history

#: A run directory saves its resume state at least this often (seconds), besides checkpoints.
STATE_SAVE_INTERVAL = 30.0
#: Default number of checkpoints of a CLI run (``checkpoint_every = epochs // this``).
DEFAULT_CHECKPOINTS = 100
#: The kind of a run directory's marker (:func:`ghostsym.io.claim_directory`).
RUN_KIND = "run"
_RUN_STATES = ("running", "finished", "diverged")
_CHECKPOINT_NAME = re.compile(r"epoch_(\d{9,})\.npz")


def _checkpoint_path(out: Path, epoch: int) -> Path:
    return out / "checkpoints" / f"epoch_{epoch:09d}.npz"


def is_legacy_run(path) -> bool:
    """True for a run directory written before markers existed: ghostsym's ``config.json``
    (with ``"ghostsym_version"`` and ``"config"``) beside ``status.json``."""
    path = Path(path)
    try:
        data = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(data, dict)
        and isinstance(data.get("ghostsym_version"), str)
        and isinstance(data.get("config"), dict)
        and (path / "status.json").is_file()
    )


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
        return load_checkpoint(self.path, epoch, self.config.model)

    def to_xarray(self):
        """The run as an ``xarray.Dataset``: the histories (``loss``, ``grad_norm``,
        ``accuracy``) over the dimension ``epoch``; the initial and final parameters as
        ``init_<name>`` / ``final_<name>`` over dimensions ``<name>_0``, ``<name>_1``, …;
        attributes: the configuration and status (JSON), the run directory, the checkpoint
        epochs and the ghostsym version that wrote it and that read it (the same layout as a
        sweep's :func:`ghostsym.open_sweep`, without the grid axes)."""
        try:
            import xarray
        except ImportError as exc:  # a core dependency; say so clearly if it is missing
            raise InputError(f"a labelled run needs xarray: {exc}") from None
        data = {}
        n = max((len(v) for v in self.history.values()), default=0)
        for key, values in self.history.items():
            arr = np.asarray(values, dtype=float)
            if arr.ndim == 1 and len(arr) == n:
                data[key] = (("epoch",), arr)
        for prefix, params in (("init", self.params_init), ("final", self.params_final or {})):
            for name, value in params.items():
                arr = np.asarray(value)
                data[f"{prefix}_{name}"] = (tuple(f"{name}_{i}" for i in range(arr.ndim)), arr)
        try:  # the version that wrote the run is in its marker
            written = json.loads((self.path / MARKER).read_text()).get("ghostsym_version")
        except (OSError, ValueError, AttributeError):
            written = None
        attrs = {
            "run_dir": str(self.path),
            "config": json.dumps(to_jsonable(self.config.to_dict()), sort_keys=True),
            "status": json.dumps(to_jsonable(self.status), sort_keys=True),
            "state": str(self.status.get("state", "")),
            "checkpoint_epochs": json.dumps(self.checkpoint_epochs),
            "ghostsym_version": str(written or "unknown"),
            "opened_with": __version__,
        }
        return xarray.Dataset(data, coords={"epoch": np.arange(n)}, attrs=attrs)


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a ``.npz`` file; a missing or unreadable file is one InputError."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise InputError(f"{path} is missing (incomplete run directory)") from None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(
            f"cannot read {path}: not a valid .npz file, truncated or corrupt ({reason})"
        ) from None


def check_parameters(model: RNNModel, params: Mapping, where) -> None:
    """``params`` has exactly the model's parameter names and shapes, or InputError saying
    that ``where`` does not match config.json (missing recurrent parameters named first)."""
    names = model.parameter_names()
    missing = [p for p in names if p not in params]
    extra = sorted(p for p in params if p not in names)
    if missing or extra:
        core = [p for p in missing if p in ("m", "n", "W", "b")]
        rest = [p for p in missing if p not in core]
        parts = []
        if core:
            parts.append(f"missing {core}")
        if rest:
            parts.append(f"missing {'also ' if core else ''}{rest}")
        if extra:
            parts.append(f"unexpected {extra}")
        raise InputError(f"{where} does not match config.json: {', '.join(parts)}")
    for name in names:
        shape = np.shape(params[name])
        if shape != model.shape(name):
            raise InputError(
                f"{where} does not match config.json: {name!r} has shape {shape}, the "
                f"configured model ({model.neurons} neurons) needs {model.shape(name)}"
            )


def load_checkpoint(run_dir, epoch: int, model: RNNModel | None = None) -> dict[str, np.ndarray]:
    """Parameters after ``epoch`` updates of a saved run. Readout constants in force at
    that epoch are stored beside them as ``_c`` / ``_kappa_star`` and left out here.
    With ``model`` the arrays are checked against it (names and shapes)."""
    path = _checkpoint_path(Path(run_dir), int(epoch))
    if not path.exists():
        raise InputError(f"run {str(run_dir)!r} has no checkpoint at epoch {epoch}")
    params = {k: v for k, v in _load_npz(path).items() if not k.startswith("_")}
    if model is not None:
        check_parameters(model, params, f"checkpoint of epoch {epoch} ({path})")
    return params


def _read_config(out: Path, allow_large: bool = False) -> tuple[TrainingConfig, bool]:
    path = out / "config.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{str(out)!r} is not a training run directory (no config.json)") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        raise InputError(f"{path} is not a ghostsym run configuration (no 'config' table)")
    large = bool(data.get("allow_large", False)) or allow_large
    try:
        return TrainingConfig.from_dict(data["config"], allow_large=large), large
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"{path} is not a valid run configuration ({exc!r})") from None


def _read_status(out: Path, epochs: int) -> dict:
    path = out / "status.json"
    try:
        status = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path} is missing (incomplete run directory)") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    epoch = status.get("epoch") if isinstance(status, dict) else None
    if (
        not isinstance(status, dict)
        or status.get("state") not in _RUN_STATES
        or not isinstance(epoch, int)
        or not 0 <= epoch <= epochs
    ):
        raise InputError(f"{path} is not a valid run status (or does not match config.json)")
    return status


def _check_history(history: Mapping, epochs: int, where) -> dict:
    if set(history) != set(HISTORY_KEYS) or any(
        np.shape(history[k]) != (epochs,) for k in HISTORY_KEYS
    ):
        raise InputError(
            f"{where} does not match config.json: expected {', '.join(HISTORY_KEYS)} of "
            f"{epochs} epochs"
        )
    return dict(history)


def load_run(run_dir, *, allow_large: bool = False) -> RunRecord:
    """Read a run directory written by :func:`run_training` (finished or not).

    ``config.json`` is checked against the size limits (``allow_large`` lifts them, as does
    a run started with them lifted) and the saved arrays against ``config.json``: parameter
    names and shapes, history length. Anything missing, unreadable or inconsistent raises
    one :class:`~ghostsym.errors.InputError` naming the file."""
    out = Path(run_dir)
    if not out.is_dir():
        raise InputError(f"run directory {str(out)!r} does not exist or is not a directory")
    config, _ = _read_config(out, allow_large)
    status = _read_status(out, config.epochs)
    model = config.model
    params_init = _load_npz(out / "params_init.npz")
    check_parameters(model, params_init, out / "params_init.npz")
    if status["state"] != "running":
        for name in ("history.npz", "params_final.npz"):
            if not (out / name).exists():
                raise InputError(f"{out / name} is missing (incomplete run directory)")
    if (out / "history.npz").exists():
        history = _check_history(_load_npz(out / "history.npz"), config.epochs, out / "history.npz")
    else:
        history = _read_partial_history(out, config.epochs)
    final = None
    if (out / "params_final.npz").exists():
        final = _load_npz(out / "params_final.npz")
        check_parameters(model, final, out / "params_final.npz")
    cps = sorted(
        int(m.group(1))
        for p in (out / "checkpoints").glob("epoch_*.npz")
        if (m := _CHECKPOINT_NAME.fullmatch(p.name))
    )
    beyond = [e for e in cps if e > config.epochs]
    if beyond:
        raise InputError(
            f"{out / 'checkpoints'} has checkpoints past the configured {config.epochs} epochs "
            f"(epoch {beyond[0]}): it does not match config.json"
        )
    return RunRecord(out, config, status, params_init, final, history, cps)


_HISTORY_ROW = np.dtype([(k, "<f8") for k in HISTORY_KEYS])


def _read_partial_history(out: Path, epochs: int, upto: int | None = None) -> dict:
    history = {k: np.full(epochs, np.nan) for k in HISTORY_KEYS}
    path = out / "resume" / "history.bin"
    if path.exists():
        with open(path, "rb") as fh:  # at most the configured epochs' rows
            raw = fh.read(_HISTORY_ROW.itemsize * (epochs if upto is None else upto))
        rows = np.frombuffer(
            raw[: len(raw) // _HISTORY_ROW.itemsize * _HISTORY_ROW.itemsize], dtype=_HISTORY_ROW
        )
        rows = rows[: epochs if upto is None else upto]
        for k in HISTORY_KEYS:
            history[k][: rows.size] = rows[k]
    return history


def run_training(
    config: TrainingConfig | None,
    out_dir,
    *,
    resume: bool = False,
    params: Mapping[str, np.ndarray] | None = None,
    progress=None,
    allow_large: bool = False,
    backend: str | None = None,
) -> TrainingResult:
    """Train one network into a run directory that survives a kill (``backend``: "cpu",
    "cuda" or "auto", as :func:`ghostsym.training.train_many`).

    Layout of ``out_dir``::

        .ghostsym.json       marker: {"kind": "run", "ghostsym_version"}
        .lock                held by the process training into the directory
        config.json          {"ghostsym_version", "config": TrainingConfig.to_dict()}
                             (+ "allow_large": true if the size limits were lifted)
        status.json          {"state": running|finished|diverged, "epoch", "diverged_epoch"}
        params_init.npz      named arrays
        params_final.npz     named arrays (when finished or diverged)
        history.npz          loss, grad_norm, accuracy (one entry per epoch; entry 0 = initial)
        checkpoints/epoch_000001000.npz   parameters after 1000 updates (+ _c, _kappa_star)
        training.png         loss / gradient norm / accuracy against epoch
        resume/              state.npz + history.bin while unfinished (removed at the end)

    ``out_dir`` must be new, empty or ghostsym's run directory, and a new run refuses a
    directory that already holds one (see the module docstring for every case). With
    ``resume=True`` the configuration is read from ``out_dir/config.json`` (``config`` must
    be None or equal to it), checked against the saved arrays, and training continues from
    the last saved state (saved at every checkpoint and at least every STATE_SAVE_INTERVAL
    seconds); the results are bit-identical to an uninterrupted run. ``allow_large`` lifts
    the size limits when resuming (a new run takes them from ``config.allow_large``). A
    diverging run writes everything, then raises :class:`~ghostsym.errors.DivergenceError`.
    """
    backend = resolve_backend(backend)  # no device: one line, before --out is created
    out = Path(out_dir)
    if resume:
        if not out.is_dir():
            raise InputError(f"run directory {str(out)!r} does not exist: nothing to resume")
        if not (out / "config.json").is_file():
            if directory_kind(out) == RUN_KIND:
                raise InputError(
                    f"{str(out)!r} holds no config.json yet (the run was stopped while "
                    "starting): nothing to resume; run the original command again"
                )
            raise InputError(
                f"{str(out)!r} is not a training run directory (no config.json): nothing to resume"
            )
    else:
        if config is None:
            raise InputError("run_training needs a configuration (or resume=True)")
        _refuse_existing_run(out)
    claim_directory(out, RUN_KIND, legacy=is_legacy_run)
    with directory_lock(out, "training"):
        try:
            return _run_locked(config, out, resume, params, progress, allow_large, backend)
        except GhostsymError:
            raise
        except OSError as exc:
            raise write_error(exc, exc.filename or out) from None


def _refuse_existing_run(out: Path) -> None:
    if (out / "config.json").is_file() and (directory_kind(out) == RUN_KIND or is_legacy_run(out)):
        raise InputError(
            f"{str(out)!r} already holds a training run; continue it with --resume or "
            "choose a new --out"
        )


def _run_locked(
    config, out: Path, resume: bool, params, progress, allow_large: bool, backend: str | None
):
    start = time.perf_counter()
    if resume:
        record = load_run(out, allow_large=allow_large)
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
        progress = as_meter(progress, unit="epoch")
        batch = _Batch([config], [record.params_init], backend=backend)
        state_path = out / "resume" / "state.npz"
        if state_path.exists():
            _load_resume_state(batch, out, state_path, config)
    else:
        _refuse_existing_run(out)  # again, now that this process holds the lock
        progress = as_meter(progress, unit="epoch")
        batch = _Batch([config], None if params is None else [params], backend=backend)
        shutil.rmtree(out / "resume", ignore_errors=True)
        savez_atomic(out / "params_init.npz", batch.params_init[0])
        write_json(out / "status.json", {"state": "running", "epoch": 0})
        meta = {"ghostsym_version": __version__, "config": config.to_dict()}
        if config.allow_large:
            meta["allow_large"] = True
        write_json(out / "config.json", meta)
    (out / "checkpoints").mkdir(exist_ok=True)
    (out / "resume").mkdir(exist_ok=True)
    history_file = out / "resume" / "history.bin"
    # keep exactly the rows of the epochs already done (a kill may leave a longer tail)
    rows = np.empty(batch.epoch, dtype=_HISTORY_ROW)
    for k in HISTORY_KEYS:
        rows[k] = batch.history[k][0, : batch.epoch]
    write_atomic(history_file, rows.tobytes(), skip_unchanged=False)
    written = {"history": batch.epoch, "state_time": time.perf_counter()}

    def save_checkpoint(b: _Batch):
        arrays = dict(b.params(0))
        arrays.update({f"_{k}": np.asarray(v) for k, v in b.constants(0).items()})
        savez_atomic(_checkpoint_path(out, b.epoch), arrays)

    def save_state(b: _Batch):
        rows = np.empty(b.epoch - written["history"], dtype=_HISTORY_ROW)
        for k in HISTORY_KEYS:
            rows[k] = b.history[k][0, written["history"] : b.epoch]
        append_bytes(history_file, rows.tobytes())
        written["history"] = b.epoch
        savez_atomic(out / "resume" / "state.npz", b.state())
        write_json(out / "status.json", {"state": "running", "epoch": b.epoch})
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
    savez_atomic(out / "history.npz", result.history)
    savez_atomic(out / "params_final.npz", result.params_final)
    cfg = config
    model_name = f"rank {cfg.model.rank}" if cfg.model.low_rank else "full rank"
    title = f"{model_name}, {cfg.task.name.upper()}, {cfg.optimizer} lr {cfg.lr:g}, seed {cfg.seed}"
    plot_history(result.history, out / "training.png", title)
    state = "finished" if result.diverged_epoch is None else "diverged"
    write_json(
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


def _load_resume_state(batch: _Batch, out: Path, state_path: Path, config: TrainingConfig):
    """Load ``resume/state.npz`` and the history rows it needs, checked against the run."""
    state = _load_npz(state_path)
    missing = [k for k in ("theta", "m1", "m2", "steps", "status", "epoch") if k not in state]
    try:
        epoch = int(state["epoch"]) if not missing else -1
    except (TypeError, ValueError):
        epoch = -1
    if missing or not 0 <= epoch <= config.epochs:
        raise InputError(
            f"{state_path} does not match config.json (missing {missing or 'nothing'}, epoch "
            f"{epoch} of {config.epochs})"
        )
    history_file = out / "resume" / "history.bin"
    rows = history_file.stat().st_size // _HISTORY_ROW.itemsize if history_file.exists() else 0
    history = _read_partial_history(out, config.epochs, epoch)
    if rows < epoch:
        raise InputError(
            f"{out / 'resume' / 'history.bin'} holds fewer than the {epoch} epochs of "
            f"{state_path} (truncated); delete {out / 'resume'} to restart the run from epoch 0"
        )
    try:
        batch.load_state(
            {k: np.asarray(v) for k, v in state.items()},
            {k: v[None, :] for k, v in history.items()},
        )
    except (InputError, ValueError, TypeError):
        raise InputError(
            f"{state_path} does not match config.json (parameter vector of another size)"
        ) from None
