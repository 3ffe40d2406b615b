"""Run directories: :func:`run_training` trains into a directory that survives a kill and
resumes bit-identically; :func:`load_run` and :func:`load_checkpoint` read it back.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ghostsym.config import VERSION as __version__
from ghostsym.errors import DivergenceError, InputError
from ghostsym.io import savez_atomic, write_atomic, write_json
from ghostsym.progress import as_meter
from ghostsym.training.config import TrainingConfig
from ghostsym.training.engine import HISTORY_KEYS, TrainingResult, _Batch, _divergence_message
from ghostsym.training.plots import plot_history

#: A run directory saves its resume state at least this often (seconds), besides checkpoints.
STATE_SAVE_INTERVAL = 30.0
#: Default number of checkpoints of a CLI run (``checkpoint_every = epochs // this``).
DEFAULT_CHECKPOINTS = 100


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
    progress = as_meter(progress, unit="epoch")
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
        savez_atomic(out / "params_init.npz", batch.params_init[0])
        write_json(out / "status.json", {"state": "running", "epoch": 0})
        write_json(
            out / "config.json", {"ghostsym_version": __version__, "config": config.to_dict()}
        )
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
        with open(history_file, "ab") as fh:
            fh.write(rows.tobytes())
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
