"""Grids of training runs: local processes or a Dask cluster, resumable, nothing lost.

::

    from ghostsym.sweeps.run import load_spec, run_sweep
    spec = load_spec("examples/sweeps/fig6a.toml")
    summary = run_sweep(spec, "sweeps/fig6a")                         # all local cores
    summary = run_sweep(spec, "sweeps/fig6a", scheduler="tcp://host:8786")   # a Dask cluster

**Execution.** Each point of the grid is one call of the run kind's module-level function
(see :mod:`ghostsym.sweeps.spec`), made by :func:`execute_point` with plain data only: the
kind's ``"module:function"`` name, the point's configuration dict and the storage policy.
Workers import the function themselves, so numba code is compiled (or loaded from numba's
cache) on the worker and never pickled. Locally the points run in a
``concurrent.futures.ProcessPoolExecutor`` with one single-threaded worker per core (spawned,
not forked, so no numba/OpenMP state is inherited): no scheduler, nanny, dashboard or port
to set up, and the workers exit by themselves if the sweep process is killed. With
``scheduler=ADDRESS`` the same function is submitted to a ``distributed.Client``; the
cluster's scheduler balances the load and re-runs the tasks of a worker that dies.

**Storage (the driver writes everything).** Workers only return results; the sweep process
writes them, so a cluster needs no shared file system. Layout of ``RESULTS_DIR``::

    .ghostsym.json      marker: a ghostsym sweep directory (kind "sweep" and the version)
    spec.toml           the spec of the latest invocation (earlier ones: specs/spec-<hash>.toml)
    sweep.json          kind, axes, common settings and the points (run id + axis values)
    index.json          status of every point: done / failed / pending / running / lost
    events.jsonl        append-only log: one line per run written (or lost)
    runs/<run_id>/      config.json, result.json, history.npz, params_final.npz

A run directory is written under a temporary name and renamed into place, so it either exists
complete or not at all. Re-running the same sweep skips every run that has a directory
(``done``, and ``failed`` unless ``retry_failed``), deletes leftovers of runs that were cut
off, and runs the rest; the run id is a hash of the configuration, so the same seed gives
bit-identical histories whether or not the sweep was interrupted. A run that raises (e.g.
diverges) is stored as ``failed`` with its reason and the sweep goes on; a run whose worker
keeps dying (``lost``) is not stored and is retried by the next invocation.

**Whose directory.** ``RESULTS_DIR`` must be new, empty, or a sweep directory ghostsym wrote
(:func:`ghostsym.io.claim_directory`, marker ``.ghostsym.json``; a directory of an older
version, with ghostsym's ``sweep.json`` or ``index.json`` but no marker, is accepted and
marked). A user's directory, a file, or a training run directory is refused with one line and
nothing in it is touched. One sweep at a time writes a directory
(:func:`ghostsym.io.directory_lock`).

**A different spec into an existing results directory.** The directory belongs to the sweep
recorded in its ``sweep.json``. A spec is accepted there only if it keeps every stored point
(same kind and storage policy, every recorded run id among its points): the same spec resumes,
a grid extended by new values or seeds adds its new points, and the report sees all of them.
Any other spec (a changed setting such as ``--set epochs=...``, a different kind, a subset) is
refused before anything is written, with one line naming the difference and asking for a new
``--out`` (:class:`SpecMismatchError`), so no stored run is ever hidden from ``sweep-report``.
The text of a replaced ``spec.toml`` is kept as ``specs/spec-<hash>.toml``.

**Failures are one line** (a :class:`~ghostsym.errors.GhostsymError`): a file that cannot be
written (a full disk: :class:`StorageError` names the path; the runs stored so far are
complete and no temporary file is left), an unreachable or lost scheduler, or no Dask worker
for ``worker_timeout`` seconds (the runs not done are pending: run the same command again).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import shutil
import socket
import sys
import time
import traceback
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ghostsym.config import VERSION
from ghostsym.errors import DivergenceError, GhostsymError, InputError
from ghostsym.io import (
    MARKER,
    claim_directory,
    directory_kind,
    directory_lock,
    savez_atomic,
    to_jsonable,
    write_atomic,
    write_json,
)
from ghostsym.progress import as_meter
from ghostsym.sweeps.spec import (
    RUN_KINDS,
    Point,
    StoragePolicy,
    SweepSpec,
    import_run_function,
    load_spec,
    parse_override,
    parse_spec,
)

__all__ = [
    "RUN_KINDS",
    "Point",
    "SweepSpec",
    "SpecMismatchError",
    "StorageError",
    "SweepSummary",
    "SweepRun",
    "execute_point",
    "load_sweep_run",
    "load_spec",
    "parse_override",
    "parse_spec",
    "read_index",
    "run_sweep",
]

#: Seconds between checks of running work (progress display, lost workers).
POLL_SECONDS = 0.25
#: Times a point is resubmitted after its local worker process died before it is "lost".
MAX_LOCAL_ATTEMPTS = 3
#: Seconds to wait for a Dask scheduler to answer (``--connect-timeout``), and for a worker to
#: be connected, at the start and whenever every worker is gone (``--worker-timeout``).
CONNECT_TIMEOUT = 10.0
WORKER_TIMEOUT = 60.0
#: Seconds between two writes of index.json while runs finish (it is always written at the end).
INDEX_INTERVAL = 1.0
#: Environment of local worker processes: one thread each, the pool provides parallelism.
WORKER_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}

RUNS_DIR = "runs"
STATUSES = ("done", "failed", "running", "pending", "lost")
#: The kind of directory a sweep claims (:func:`ghostsym.io.claim_directory`).
DIRECTORY_KIND = "sweep"
#: A run id: the first 16 hex digits of a SHA-256 (:func:`ghostsym.sweeps.spec.run_id_of`).
RUN_ID = re.compile(r"[0-9a-f]{16}")
#: Keys by which an unmarked sweep.json / index.json of an older version is recognised.
LEGACY_KEYS = {
    "sweep.json": {"name", "kind", "kind_ref", "axes", "points"},
    "index.json": {"name", "kind", "counts", "runs"},
}


class StorageError(GhostsymError, OSError):
    """A file of the results directory could not be written (e.g. the disk is full)."""


class SpecMismatchError(InputError):
    """The results directory holds a sweep that this spec would hide (see module docstring)."""


class SweepAbortedError(GhostsymError):
    """The sweep stopped before every run was done (lost scheduler, no workers)."""


@contextlib.contextmanager
def _writing(path: Path):
    """Turn an OSError while writing ``path`` into one line naming it."""
    try:
        yield
    except StorageError:
        raise
    except OSError as exc:
        raise StorageError(
            f"cannot write {path}: {exc.strerror or exc}; the runs finished so far are stored "
            "(free some space if the disk is full, then run the same command again)"
        ) from None


# -- one run, or a chunk of runs (executed on a worker) ------------------------------------------
def _base_outcome() -> dict:
    return {
        "status": "done",
        "reason": None,
        "traceback": None,
        "history": {},
        "params": {},
        "summary": {},
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "worker": _dask_worker_address(),
    }


def _fill_outcome(outcome: dict, kind_ref: str, result, policy: StoragePolicy) -> dict:
    """Store a run function's result (a dict) or the exception it raised in ``outcome``."""
    try:
        if isinstance(result, BaseException):
            raise result
        if not isinstance(result, dict):
            raise TypeError(f"run function {kind_ref} returned {type(result).__name__}, not dict")
        history = {k: np.asarray(v) for k, v in (result.get("history") or {}).items()}
        outcome["history"] = _thin(history, policy)
        outcome["params"] = {k: np.asarray(v) for k, v in (result.get("params") or {}).items()}
        outcome["summary"] = to_jsonable(result.get("summary") or {})
        outcome["summary"].setdefault("epochs_run", _history_length(history))
    except DivergenceError as exc:
        where = f" at epoch {exc.epoch}" if exc.epoch is not None else ""
        outcome.update(status="failed", reason=f"diverged{where}: {exc}", failure="divergence")
        outcome["summary"] = {"diverged_epoch": exc.epoch}
    except Exception as exc:  # a run that raises is recorded, the sweep goes on
        outcome.update(
            status="failed",
            reason=f"{type(exc).__name__}: {exc}",
            failure="error",
            traceback=traceback.format_exc(limit=-4),
        )
    return outcome


def execute_point(kind_ref: str, config: dict, storage: dict | None = None) -> dict:
    """Run one point and return its outcome as plain data (never raises for a failed run).

    ``storage`` is :meth:`StoragePolicy.as_dict`; histories are thinned on the worker so
    that only what is kept travels back. A failing run returns ``status="failed"`` with the
    reason (the epoch, for a divergence) and a short traceback.
    """
    policy = StoragePolicy(**(storage or {}))
    started = time.time()
    t0 = time.perf_counter()
    outcome = _base_outcome()
    # Only a kind registered on this machine runs, and a kind that cannot be imported here is
    # not a failed run (it would be stored and skipped): both raise, and the sweep stops.
    func = import_run_function(kind_ref)
    try:
        result = func(dict(config))
    except Exception as exc:  # noqa: BLE001 (recorded by _fill_outcome)
        result = exc
    _fill_outcome(outcome, kind_ref, result, policy)
    outcome["seconds"] = time.perf_counter() - t0
    outcome["started"] = started
    return outcome


def kind_hook(kind_ref: str, hook: str):
    """The kind's optional ``<function>_<hook>`` (``batch``, ``group``, ``prepare``), or None.

    ``batch(configs) -> list`` runs many points at once (a result dict or the exception of a
    failed point, per point; bit-identical to running each alone); ``group(config) -> str``
    says which points can share one batch; ``prepare(config)`` loads or compiles the kernels
    a point needs (the "compiling kernels" stage)."""
    import importlib

    import_run_function(kind_ref)
    module_name, _, func_name = kind_ref.partition(":")
    return getattr(importlib.import_module(module_name), f"{func_name}_{hook}", None)


def execute_points(kind_ref: str, configs: list[dict], storage: dict | None = None) -> list[dict]:
    """Run a chunk of points (one batch of the kind when it has one) and return one outcome
    per point, as :func:`execute_point` would (never raises for failed runs). Should the
    batch itself raise, every point is run alone, so one bad point cannot fail the others."""
    batch = kind_hook(kind_ref, "batch")
    if batch is None:
        return [execute_point(kind_ref, c, storage) for c in configs]
    policy = StoragePolicy(**(storage or {}))
    started = time.time()
    t0 = time.perf_counter()
    try:
        results = batch([dict(c) for c in configs])
        if not isinstance(results, list) or len(results) != len(configs):
            raise TypeError(f"{kind_ref}_batch returned no list of {len(configs)} results")
    except Exception:  # noqa: BLE001 (each point alone then reports its own failure)
        return [execute_point(kind_ref, c, storage) for c in configs]
    share = (time.perf_counter() - t0) / len(configs)
    outcomes = []
    for result in results:
        outcome = _fill_outcome(_base_outcome(), kind_ref, result, policy)
        outcome.update(seconds=share, started=started, batch=len(configs))
        outcomes.append(outcome)
    return outcomes


def prepare_worker(kind_ref: str, configs: list[dict]) -> dict:
    """Load or compile the kernels of ``configs`` (one per group of the sweep) on this
    process; returns the pid and the seconds it took. Failures are left to the runs."""
    t0 = time.perf_counter()
    prepare = kind_hook(kind_ref, "prepare")
    for config in configs if prepare is not None else ():
        with contextlib.suppress(Exception):
            prepare(dict(config))
    return {"pid": os.getpid(), "host": socket.gethostname(), "seconds": time.perf_counter() - t0}


#: A chunk of a batched kind is at most this many points ...
MAX_CHUNK_POINTS = 512
#: ... and holds at most this many history values (points x epochs: 32 M floats = 256 MB).
MAX_CHUNK_VALUES = 32_000_000
#: Chunks per worker and group: several, so that the load balances and progress moves.
CHUNKS_PER_WORKER = 4
#: Groups whose kernels the "compiling kernels" stage prepares (the first ones of the sweep).
MAX_PREPARED_GROUPS = 8


def plan_chunks(todo: list[Point], spec: SweepSpec, n_workers: int) -> list[list[Point]]:
    """Chunks of points run together: points of one group (the kind's ``group`` key) in
    chunks of a few per worker, bounded by :data:`MAX_CHUNK_POINTS` and
    :data:`MAX_CHUNK_VALUES`; one point per chunk for a kind without ``batch``."""
    if kind_hook(spec.kind_ref, "batch") is None or not todo:
        return [[p] for p in todo]
    group = kind_hook(spec.kind_ref, "group")
    groups: dict[str, list[Point]] = {}
    for p in todo:
        try:
            key = group(dict(p.config)) if group is not None else ""
        except Exception:  # noqa: BLE001 (a point that cannot be grouped runs alone)
            key = f"alone {p.run_id}"
        groups.setdefault(key, []).append(p)
    chunks = []
    for points in groups.values():
        epochs = max(_epochs_of(p.config) for p in points)
        limit = max(1, min(MAX_CHUNK_POINTS, MAX_CHUNK_VALUES // epochs))
        size = max(1, min(limit, math.ceil(len(points) / (n_workers * CHUNKS_PER_WORKER))))
        chunks += [points[i : i + size] for i in range(0, len(points), size)]
    return chunks


def _epochs_of(config: dict) -> int:
    e = config.get("epochs", 1)
    return int(e) if isinstance(e, int) and not isinstance(e, bool) and e > 0 else 1


def prepare_configs(todo: list[Point], spec: SweepSpec) -> list[dict]:
    """One configuration per group of ``todo`` (at most :data:`MAX_PREPARED_GROUPS`), for
    the "compiling kernels" stage; empty for a kind without ``prepare``."""
    if kind_hook(spec.kind_ref, "prepare") is None:
        return []
    group = kind_hook(spec.kind_ref, "group")
    seen: dict[str, dict] = {}
    for p in todo:
        try:
            key = group(dict(p.config)) if group is not None else ""
        except Exception:  # noqa: BLE001
            continue
        if key not in seen:
            seen[key] = dict(p.config)
            if len(seen) == MAX_PREPARED_GROUPS:
                break
    return list(seen.values())


def _dask_worker_address() -> str | None:
    if "distributed" not in sys.modules:
        return None
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return None


def _history_length(history: dict) -> int:
    return max((len(v) for v in history.values() if v.ndim == 1), default=0)


def _thin(history: dict, policy: StoragePolicy) -> dict:
    """Keep every ``policy.every``-th epoch plus the last ``policy.tail`` epochs in full."""
    n = _history_length(history)
    out = {}
    if n and policy.every > 1:
        keep = np.union1d(np.arange(0, n, policy.every), np.arange(max(0, n - policy.tail), n))
        keep = np.union1d(keep, [n - 1])
        out["epoch"] = keep.astype(np.int64)
    else:
        keep = None
        out["epoch"] = np.arange(n, dtype=np.int64)
    for name, arr in history.items():
        if arr.ndim == 1 and len(arr) == n and keep is not None:
            arr = arr[keep]
        if policy.dtype == "float32" and arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
        out[name] = arr
    return out


# -- storage ---------------------------------------------------------------------------------------
@dataclass
class SweepRun:
    """One stored run of a sweep: configuration, result record, histories, final parameters."""

    run_id: str
    path: Path
    config: dict
    result: dict
    _history: dict | None = None
    _params: dict | None = None

    @property
    def status(self) -> str:
        return self.result["status"]

    @property
    def history(self) -> dict:
        if self._history is None:
            self._history = _load_npz(self.path / "history.npz")
        return self._history

    @property
    def params(self) -> dict:
        if self._params is None:
            self._params = _load_npz(self.path / "params_final.npz")
        return self._params


def _load_npz(path: Path) -> dict:
    import zipfile

    if not path.exists():
        return {}
    redo = f"delete {path.parent} and run the same sweep again to redo this run"
    try:
        with np.load(path, allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            return {k: np.asarray(data[k]) for k in data.files}
    except (OSError, ValueError, EOFError, KeyError, AttributeError, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot read {path} ({type(exc).__name__}: {exc}); {redo}") from None


def load_sweep_run(results_dir: str | Path, run_id: str) -> SweepRun:
    """One run of a sweep's results directory, by id (not a training run directory: that is
    :func:`ghostsym.training.load_run`)."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise InputError(f"{run_id!r} is not a run id (16 hex digits)")
    path = Path(results_dir) / RUNS_DIR / run_id
    try:
        config = json.loads((path / "config.json").read_text())
        result = json.loads((path / "result.json").read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"run {run_id} in {results_dir} is unreadable: {exc}") from None
    if (
        not isinstance(config, dict)
        or not isinstance(result, dict)
        or result.get("status") not in STATUSES
    ):
        raise InputError(
            f"run {run_id} in {results_dir} is malformed (config.json or result.json was not "
            f"written by ghostsym); delete {path} and run the same sweep again to redo it"
        )
    return SweepRun(run_id, path, config, result)


def read_sweep_json(root: Path) -> dict:
    """``root/sweep.json``, checked to be one ghostsym wrote (one-line error otherwise)."""
    path = Path(root) / "sweep.json"
    try:
        sweep = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(
            f"{str(root)!r} is not a sweep results directory (no sweep.json)"
        ) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    problem = None
    if not isinstance(sweep, dict):
        problem = "not a JSON object"
    elif not isinstance(sweep.get("points"), list):
        problem = "no list of points"
    elif not isinstance(sweep.get("axes", {}), dict):
        problem = "axes is not an object"
    else:
        for i, point in enumerate(sweep["points"]):
            if (
                not isinstance(point, dict)
                or not isinstance(point.get("run_id"), str)
                or not RUN_ID.fullmatch(point["run_id"])
                or not isinstance(point.get("axes"), dict)
            ):
                problem = f"point {i} is not a run id with axis values"
                break
    if problem:
        raise InputError(f"{path} is malformed ({problem}); it was not written by ghostsym")
    return sweep


def read_index(results_dir: str | Path) -> dict:
    """The sweep's ``index.json`` merged with ``sweep.json`` (axes and points).

    ``index.json`` only records the status of runs that are not stored (pending, lost): an
    unreadable one is ignored (every such run then counts as pending)."""
    root = Path(results_dir)
    sweep = read_sweep_json(root)
    try:
        index = json.loads((root / "index.json").read_text())
    except (OSError, ValueError):
        index = {}
    runs = index.get("runs") if isinstance(index, dict) else None
    sweep["status"] = {
        r["run_id"]: r
        for r in (runs if isinstance(runs, list) else [])
        if isinstance(r, dict) and isinstance(r.get("run_id"), str)
    }
    return sweep


def _is_legacy_sweep_dir(root: Path) -> bool:
    for name, keys in LEGACY_KEYS.items():
        try:
            data = json.loads((root / name).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and keys <= set(data):
            return True
    return False


def claim_results_dir(root: str | Path) -> Path:
    """Make ``root`` a sweep results directory: new, empty, or one ghostsym wrote (an older
    one without the marker is recognised by its sweep.json / index.json and marked)."""
    root = Path(root)
    marker = root / MARKER
    if (
        root.is_dir()
        and not marker.exists()
        and directory_kind(root) is None
        and _is_legacy_sweep_dir(root)
    ):
        with _writing(marker):
            write_json(marker, {"kind": DIRECTORY_KIND, "ghostsym_version": VERSION})
    return claim_directory(root, DIRECTORY_KIND)


class ResultStore:
    """The results directory; only the sweep process (one at a time) writes to it."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.runs = self.root / RUNS_DIR
        self._lock_fh = None

    @contextlib.contextmanager
    def locked(self):
        """Claim the directory (:func:`claim_results_dir`) and hold its lock (one sweep)."""
        claim_results_dir(self.root)
        with directory_lock(self.root, "sweep"):
            with _writing(self.runs):
                self.runs.mkdir(parents=True, exist_ok=True)
            yield self

    def check_same_sweep(self, spec: SweepSpec) -> None:
        """Refuse ``spec`` if it would hide a stored point (see the module docstring)."""
        if not (self.root / "sweep.json").exists():
            return
        stored = read_sweep_json(self.root)
        ids = {p.run_id for p in spec.points}
        missing = [p for p in stored["points"] if p["run_id"] not in ids]
        storage = stored.get("storage")
        diffs = []
        if stored.get("kind_ref", spec.kind_ref) != spec.kind_ref:
            diffs.append(f"kind {stored.get('kind')!r} there, {spec.kind!r} in this spec")
        if isinstance(storage, dict) and storage != spec.storage.as_dict():
            for key, value in spec.storage.as_dict().items():
                if storage.get(key) != value:
                    diffs.append(f"store_{key} {storage.get(key)!r} there, {value!r} here")
        if not missing and not diffs:
            return
        if not diffs:
            diffs = self._setting_differences(stored, spec, missing)
        n = len(stored["points"])
        raise SpecMismatchError(
            f"{str(self.root)!r} holds the results of another sweep ({stored.get('name')!r}, "
            f"{n} runs, {len(missing)} of them not in this spec; "
            f"{'; '.join(diffs[:3]) or 'other points'}): nothing was run, so that no stored "
            "run is hidden; use a new --out (a spec that keeps every stored run and adds more "
            "is accepted here)"
        )

    def _setting_differences(self, stored: dict, spec: SweepSpec, missing: list) -> list:
        old = stored.get("settings")
        if not isinstance(old, dict):  # older sweep.json: the configuration of a stored run
            old = None
            for p in missing:
                try:
                    config = json.loads((self.runs / p["run_id"] / "config.json").read_text())
                except (OSError, ValueError):
                    continue
                if isinstance(config, dict):
                    old = {k: v for k, v in config.items() if k not in p["axes"]}
                    break
        if old is None:
            return []
        new = spec.settings
        out = []
        for key in sorted(set(old) | set(new), key=str):
            if key in stored.get("axes", {}) or key in spec.axes:
                continue
            a, b = old.get(key, "(unset)"), new.get(key, "(unset)")
            if json.dumps(a, sort_keys=True) != json.dumps(b, sort_keys=True):
                out.append(f"{key} = {_short(a)} there, {_short(b)} in this spec")
        for key in stored.get("axes", {}):
            if key not in spec.axes:
                out.append(f"axis {key!r} there, not in this spec")
        return out

    def clean_partial(self) -> int:
        """Delete directories of runs whose writing was cut off (never renamed into place)."""
        n = 0
        for path in self.root.glob(".*.tmp"):  # a file of io.write_atomic cut off by a kill
            with contextlib.suppress(OSError):
                path.unlink()
        for path in self.runs.glob(".tmp-*"):
            shutil.rmtree(path, ignore_errors=True)
            n += 1
        for path in self.runs.glob(".old-*"):
            shutil.rmtree(path, ignore_errors=True)
        return n

    def finished(self) -> dict[str, dict]:
        """run id -> result record of every run written completely. A run directory whose
        result.json is unreadable or not ghostsym's (damaged by hand) maps to None: it is
        redone, and replaced atomically."""
        out = {}
        for path in self.runs.iterdir():
            if path.name.startswith("."):
                continue
            try:
                record = json.loads((path / "result.json").read_text())
            except (OSError, ValueError):
                record = None
            ok = isinstance(record, dict) and record.get("status") in ("done", "failed")
            out[path.name] = record if ok else None
        return out

    def write_run(self, point: Point, outcome: dict, *, replace: bool = False) -> bool:
        """Write one run atomically; False (and nothing written) if it is already stored."""
        final = self.runs / point.run_id
        if final.exists() and not replace:
            return False
        tmp = self.runs / f".tmp-{point.run_id}-{uuid.uuid4().hex[:8]}"
        try:
            with _writing(final):
                self._write_run(point, outcome, tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)  # no half-written run left behind
            raise
        return True

    def write_runs(self, items: list[tuple[Point, dict]], replace: set[str]) -> list[bool]:
        """Write a chunk of runs, each atomically as :meth:`write_run` does, with one
        flush to disk for the whole chunk (``os.sync`` once, instead of six ``fsync`` calls
        per run) before the directories are renamed into place. Returns, per run, whether
        it was written (False: already stored). On an error the runs renamed so far stay
        stored and no temporary directory is left."""
        staged: list[tuple[Point, Path, Path] | None] = []
        try:
            for point, outcome in items:
                final = self.runs / point.run_id
                if final.exists() and point.run_id not in replace:
                    staged.append(None)
                    continue
                tmp = self.runs / f".tmp-{point.run_id}-{uuid.uuid4().hex[:8]}"
                staged.append((point, tmp, final))
                with _writing(final):
                    self._write_files(point, outcome, tmp, fsync=False)
            with _writing(self.runs):
                os.sync()  # every file of the chunk is on disk before any rename
            for entry in staged:
                if entry is not None:
                    point, tmp, final = entry
                    with _writing(final):
                        self._place(point.run_id, tmp, final)
            with _writing(self.runs):
                _fsync_dir(self.runs)
        except BaseException:
            for entry in staged:
                if entry is not None:
                    shutil.rmtree(entry[1], ignore_errors=True)
            raise
        return [entry is not None for entry in staged]

    def _write_run(self, point: Point, outcome: dict, tmp: Path, final: Path) -> None:
        self._write_files(point, outcome, tmp, fsync=True)
        self._place(point.run_id, tmp, final)
        _fsync_dir(self.runs)

    def _write_files(self, point: Point, outcome: dict, tmp: Path, *, fsync: bool) -> None:
        tmp.mkdir()
        record = {
            "run_id": point.run_id,
            "status": outcome["status"],
            "reason": outcome.get("reason"),
            "failure": outcome.get("failure"),
            "axes": point.axes,
            "summary": outcome.get("summary", {}),
            "seconds": outcome.get("seconds"),
            "started": outcome.get("started"),
            "written": time.time(),
            "host": outcome.get("host"),
            "pid": outcome.get("pid"),
            "worker": outcome.get("worker"),
            "traceback": outcome.get("traceback"),
            "batch": outcome.get("batch", 1),
            "ghostsym_version": VERSION,
        }
        write_json(tmp / "config.json", point.config, indent=1, fsync=fsync)
        savez_atomic(tmp / "history.npz", outcome.get("history") or {}, fsync=fsync)
        savez_atomic(tmp / "params_final.npz", outcome.get("params") or {}, fsync=fsync)
        # written last: the run's completion mark
        write_json(tmp / "result.json", record, indent=1, fsync=fsync)
        if fsync:
            _fsync_dir(tmp)

    def _place(self, run_id: str, tmp: Path, final: Path) -> None:
        if final.exists():  # replace=True (re-running a failed run): swap, then delete
            old = self.runs / f".old-{run_id}-{uuid.uuid4().hex[:8]}"
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)

    def write_spec(self, spec: SweepSpec) -> None:
        path = self.root / "spec.toml"
        if spec.source:
            with _writing(path):
                try:
                    old = path.read_text()
                except (OSError, UnicodeDecodeError):
                    old = None
                if old is not None and old != spec.source:  # keep the earlier spec's text
                    digest = hashlib.sha256(old.encode()).hexdigest()[:12]
                    write_atomic(self.root / "specs" / f"spec-{digest}.toml", old)
                write_atomic(path, spec.source)
        with _writing(self.root / "sweep.json"):
            write_atomic(self.root / "sweep.json", json.dumps(spec.as_json(), indent=1) + "\n")

    def write_index(self, spec: SweepSpec, statuses: dict[str, dict]) -> None:
        counts = {s: 0 for s in STATUSES}
        runs = []
        for p in spec.points:
            entry = statuses[p.run_id]
            counts[entry["status"]] += 1
            runs.append({"run_id": p.run_id, "axes": p.axes, **entry})
        payload = {
            "name": spec.name,
            "kind": spec.kind,
            "ghostsym_version": VERSION,
            "updated": datetime.now(UTC).isoformat(timespec="seconds"),
            "counts": counts,
            "runs": runs,
        }
        with _writing(self.root / "index.json"):
            write_atomic(self.root / "index.json", json.dumps(payload, indent=1) + "\n")

    def log_event(self, **event) -> None:
        event = {"time": round(time.time(), 3), **event}
        path = self.root / "events.jsonl"
        with _writing(path), open(path, "a") as fh:
            start = fh.seek(0, os.SEEK_END)
            try:
                fh.write(json.dumps(event) + "\n")
                fh.flush()
            except OSError:
                with contextlib.suppress(OSError):
                    fh.truncate(start)  # no half line
                raise


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- the sweep -------------------------------------------------------------------------------------
@dataclass
class SweepSummary:
    results_dir: Path
    total: int
    done: int
    failed: int
    lost: int
    skipped: int  # already stored before this invocation
    ran: int  # written by this invocation
    seconds: float
    backend: str
    failures: list = field(default_factory=list)  # (axes, reason) of failed runs, this call

    @property
    def complete(self) -> bool:
        return self.done + self.failed == self.total


class _Tracker:
    """Bookkeeping shared by the backends: writes results, the index, events and progress."""

    def __init__(self, store: ResultStore, spec: SweepSpec, statuses: dict, progress, replace):
        self.store, self.spec, self.statuses = store, spec, statuses
        self.progress = progress
        self.replace = replace
        self.running = 0
        self.ran = 0
        self.failures: list = []
        self._last_index = 0.0

    def counts(self) -> dict:
        c = {s: 0 for s in STATUSES}
        for e in self.statuses.values():
            c[e["status"]] += 1
        return c

    def postfix(self) -> dict:
        c = self.counts()
        return {"done": c["done"], "running": self.running, "failed": c["failed"]}

    def submitted(self, point: Point) -> None:
        self.statuses[point.run_id] = {"status": "running"}

    def set_running(self, n: int) -> None:
        if n != self.running:
            self.running = n
            self.progress.update(0, **self.postfix())
        if time.time() - self._last_index > 5.0:
            self.flush()

    def finished(self, point: Point, outcome: dict, backend: str) -> None:
        written = self.store.write_run(point, outcome, replace=point.run_id in self.replace)
        self._record(point, outcome, backend, written)

    def finished_many(self, points: list[Point], outcomes: list[dict], backend: str) -> None:
        """:meth:`finished` for a chunk, written with one flush (:meth:`ResultStore.write_runs`)."""
        if len(points) == 1:
            self.finished(points[0], outcomes[0], backend)
            return
        written = self.store.write_runs(list(zip(points, outcomes, strict=True)), self.replace)
        for point, outcome, was_written in zip(points, outcomes, written, strict=True):
            self._record(point, outcome, backend, was_written)

    def _record(self, point: Point, outcome: dict, backend: str, written: bool) -> None:
        self.replace.discard(point.run_id)
        where = outcome.get("worker") or f"{outcome.get('host')}:{outcome.get('pid')}"
        self.store.log_event(
            event="written" if written else "duplicate",
            run_id=point.run_id,
            status=outcome["status"],
            worker=where,
            backend=backend,
            seconds=round(outcome.get("seconds") or 0.0, 4),
        )
        if written:
            self.ran += 1
            self.statuses[point.run_id] = _status_entry(outcome)
            if outcome["status"] == "failed":
                self.failures.append((point.axes, outcome.get("reason")))
        self.running = max(0, self.running - 1)
        self.progress.update(1, **self.postfix())
        if time.time() - self._last_index > INDEX_INTERVAL:
            self.flush()

    def lost(self, point: Point, reason: str, backend: str) -> None:
        self.statuses[point.run_id] = {"status": "lost", "reason": reason}
        self.store.log_event(event="lost", run_id=point.run_id, reason=reason, backend=backend)
        self.progress.update(1, **self.postfix())
        self.flush()

    def flush(self) -> None:
        self.store.write_index(self.spec, self.statuses)
        self._last_index = time.time()


class _Staged:
    """The sweep's meter with a "compiling kernels…" stage first (its own bar over the
    workers); run updates during that stage are held and shown when the run bar starts."""

    def __init__(self, meter, total: int, description: str):
        self.meter, self.total, self.description = meter, total, description
        self.compiling = False
        self.ready = 0
        self.workers = 0
        self.held = 0
        self.postfix: dict = {}

    def start_compiling(self, workers: int) -> None:
        self.compiling, self.workers, self.ready = True, workers, 0
        self.meter.start(workers, "compiling kernels…")
        self.meter.update(0, workers="0 ready")

    def worker_ready(self) -> None:
        if not self.compiling:
            return
        self.ready += 1
        self.meter.update(1, workers=f"{self.ready} ready")
        if self.ready >= self.workers:
            self.end_compiling()

    def end_compiling(self) -> None:
        if self.compiling:
            self.compiling = False
            self.meter.close()
        self.meter.start(self.total, self.description)
        self.meter.update(self.held, **self.postfix)
        self.held = 0

    def start(self, total: int, description: str = "") -> None:
        self.total, self.description = total, description
        self.meter.start(total, description)

    def update(self, n: int = 1, **postfix) -> None:
        if self.compiling:
            self.held += n
            self.postfix = postfix or self.postfix
        else:
            self.meter.update(n, **postfix)

    def set_description(self, description: str) -> None:
        self.meter.set_description(description)

    def close(self) -> None:
        self.meter.close()


def _status_entry(result: dict) -> dict:
    entry = {"status": result["status"], "seconds": result.get("seconds")}
    if result.get("reason"):
        entry["reason"] = result["reason"]
    return entry


def run_sweep(
    spec: SweepSpec,
    results_dir: str | Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    retry_failed: bool = False,
    progress=None,
    connect_timeout: float = CONNECT_TIMEOUT,
    worker_timeout: float = WORKER_TIMEOUT,
) -> SweepSummary:
    """Run every point of ``spec`` not already stored in ``results_dir``; see module docstring.

    ``workers`` is the number of local processes (default: the cores this process may use);
    ``scheduler`` a Dask scheduler address (``tcp://host:8786``) to use instead, reached within
    ``connect_timeout`` seconds; with no worker connected for ``worker_timeout`` seconds the
    sweep stops (:class:`SweepAbortedError`; run it again to do the rest).
    """
    if scheduler is not None:
        scheduler = check_scheduler_address(scheduler)
    progress = as_meter(progress, unit="run")
    # Connect first: an unreachable scheduler fails before anything is written.
    dask = None
    if scheduler is not None:
        dask = _DaskBackend(
            scheduler, connect_timeout=connect_timeout, worker_timeout=worker_timeout
        )
    try:
        return _run_sweep(spec, Path(results_dir), dask, workers, retry_failed, progress)
    finally:
        if dask is not None:
            dask.close()


def _run_sweep(spec, results_dir, dask, workers, retry_failed, progress) -> SweepSummary:
    store = ResultStore(results_dir)
    t0 = time.perf_counter()
    with store.locked():
        store.check_same_sweep(spec)
        store.clean_partial()
        store.write_spec(spec)
        stored = store.finished()
        statuses: dict[str, dict] = {}
        todo: list[Point] = []
        replace: set[str] = set()
        skipped = 0
        for p in spec.points:
            result = stored.get(p.run_id)
            if result is not None and (result["status"] == "done" or not retry_failed):
                statuses[p.run_id] = _status_entry(result)
                skipped += 1
            else:
                if p.run_id in stored:  # failed (with retry_failed), or damaged: replace it
                    replace.add(p.run_id)
                statuses[p.run_id] = {"status": "pending"}
                todo.append(p)
        tracker = _Tracker(store, spec, statuses, progress, replace)
        tracker.flush()
        backend = "dask" if dask is not None else "local"
        if todo:
            desc = f"sweep {spec.name}" + (f" ({skipped} already done)" if skipped else "")
            staged = _Staged(progress, len(todo), desc)
            tracker.progress = staged
            try:
                if dask is not None:
                    dask.run(todo, spec, tracker)
                else:
                    _run_local(workers or default_workers(), todo, spec, tracker)
            except BaseException:
                # Interrupted or failed: record what is pending, but never let a second error
                # (e.g. the same full disk) replace the first one.
                _reset_running(tracker, todo)
                with contextlib.suppress(Exception):
                    tracker.flush()
                raise
            else:
                _reset_running(tracker, todo)
                tracker.flush()
            finally:
                progress.close()
        counts = tracker.counts()
    return SweepSummary(
        results_dir=Path(results_dir),
        total=len(spec.points),
        done=counts["done"],
        failed=counts["failed"],
        lost=counts["lost"],
        skipped=skipped,
        ran=tracker.ran,
        seconds=time.perf_counter() - t0,
        backend=backend,
        failures=tracker.failures,
    )


def _reset_running(tracker: _Tracker, todo: list[Point]) -> None:
    tracker.running = 0
    for p in todo:  # whatever did not finish is pending again
        if tracker.statuses[p.run_id]["status"] == "running":
            tracker.statuses[p.run_id] = {"status": "pending"}


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def default_workers() -> int:
    """Cores this process may run on (respects CPU affinity / container limits)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


# -- local backend: a process pool -----------------------------------------------------------------
def _init_local_worker(parent_pid: int, ready=None, kind_ref=None, prepare=()) -> None:
    """Runs first in every local worker: single thread, ignore Ctrl-C, die with the parent;
    then the "compiling kernels" stage (``prepare_worker``), reported on ``ready``."""
    import signal
    import threading

    os.environ.update(WORKER_ENV)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the sweep process handles Ctrl-C

    def watch():
        while True:
            if os.getppid() != parent_pid:  # parent gone (e.g. SIGKILL): stop computing
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True, name="ghostsym-parent-watch").start()
    if prepare:
        info = prepare_worker(kind_ref, list(prepare))
        if ready is not None:
            with contextlib.suppress(Exception):
                ready.put(info)


def _run_local(n_workers: int, todo: list[Point], spec: SweepSpec, tracker: _Tracker) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    storage = spec.storage.as_dict()
    n_workers = max(1, min(n_workers, len(todo)))
    chunks = plan_chunks(todo, spec, n_workers)
    n_workers = max(1, min(n_workers, len(chunks)))
    prepare = prepare_configs(todo, spec)
    context = multiprocessing.get_context("spawn")
    ready = context.SimpleQueue() if prepare else None
    staged = tracker.progress
    if prepare:
        staged.start_compiling(n_workers)
    else:
        staged.end_compiling()

    def new_pool():
        return ProcessPoolExecutor(
            max_workers=n_workers,
            mp_context=context,
            initializer=_init_local_worker,
            initargs=(os.getpid(), ready, spec.kind_ref, tuple(prepare)),
        )

    queue = deque(chunks)
    attempts: dict[str, int] = {}
    in_flight: dict = {}
    pool = new_pool()
    try:
        while queue or in_flight:
            while queue and len(in_flight) < n_workers:
                chunk = queue.popleft()
                fut = pool.submit(execute_points, spec.kind_ref, [p.config for p in chunk], storage)
                in_flight[fut] = chunk
                for p in chunk:
                    tracker.submitted(p)
            tracker.set_running(sum(len(c) for c in in_flight.values()))
            done, _ = wait(list(in_flight), timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            while ready is not None and not ready.empty():  # drained, rebuilt pools too
                ready.get()
                staged.worker_ready()
            if done and staged.compiling:
                staged.end_compiling()  # a worker is past its stage: show the runs
            broken = False
            for fut in done:
                chunk = in_flight.pop(fut)
                try:
                    outcomes = fut.result()
                except BrokenProcessPool:
                    broken = True
                    in_flight[fut] = chunk  # handled with the others below
                except InputError:  # the kind cannot run here: stop (nothing is stored)
                    raise
                except Exception as exc:  # e.g. a result that cannot be pickled back
                    for p in chunk:
                        tracker.lost(p, f"{type(exc).__name__}: {exc}", "local")
                else:
                    tracker.finished_many(chunk, outcomes, "local")
            if broken:
                # A worker process died (killed, segfault): every run in flight is retried
                # in a fresh pool, up to MAX_LOCAL_ATTEMPTS times.
                if staged.compiling:
                    staged.end_compiling()
                for chunk in in_flight.values():
                    retry = []
                    for p in chunk:
                        attempts[p.run_id] = attempts.get(p.run_id, 0) + 1
                        if attempts[p.run_id] >= MAX_LOCAL_ATTEMPTS:
                            tracker.lost(p, "local worker process died repeatedly", "local")
                        else:
                            retry.append(p)
                    if retry:
                        queue.appendleft(retry)
                in_flight.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = new_pool()
    finally:
        if staged.compiling:
            staged.end_compiling()
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:  # do not leave runs computing after an interrupt
            with contextlib.suppress(Exception):
                proc.terminate()


# -- Dask backend ----------------------------------------------------------------------------------
_ADDRESS = re.compile(r"(?:(tcp|tls|ws|wss|ucx)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})")


def check_scheduler_address(address: str) -> str:
    """``address`` if it is a Dask scheduler address (``[tcp://]HOST:PORT``), else InputError."""
    m = _ADDRESS.fullmatch(address.strip()) if isinstance(address, str) else None
    if m is None or not 1 <= int(m.group(3)) <= 65535:
        raise InputError(
            f"{address!r} is not a Dask scheduler address (expected tcp://HOST:PORT, e.g. "
            "tcp://10.0.0.1:8786)"
        )
    return address.strip()


_CLIENT_CLASS = None


def _client_class():
    """``distributed.Client`` whose ``__del__`` stays quiet for a client that never connected
    (distributed would try to close it at exit and print a traceback)."""
    global _CLIENT_CLASS
    if _CLIENT_CLASS is None:
        from distributed import Client

        class QuietClient(Client):
            def __del__(self):
                if getattr(self, "_ghostsym_connected", False):
                    with contextlib.suppress(Exception):
                        super().__del__()

        _CLIENT_CLASS = QuietClient
    return _CLIENT_CLASS


#: Loggers silenced while a sweep talks to Dask: a lost scheduler or worker is reported by the
#: sweep in one line, not by a stream of reconnection tracebacks.
_DASK_LOGGERS = ("distributed", "tornado", "asyncio")


def _silence_loggers(prefixes) -> dict:
    """Disable the loggers named ``prefix`` or ``prefix.*`` (they may have levels of their
    own); returns logger -> previous ``disabled`` for restoring."""
    import distributed  # noqa: F401 (its import configures its loggers)

    names = [
        name
        for name in list(logging.root.manager.loggerDict)
        if any(name == p or name.startswith(p + ".") for p in prefixes)
    ]
    previous = {}
    for name in {*prefixes, *names}:
        logger = logging.getLogger(name)
        previous[logger] = logger.disabled
        logger.disabled = True
    return previous


class _DaskBackend:
    """A ``distributed.Client`` connected before anything runs (bad addresses fail fast)."""

    def __init__(
        self,
        address: str,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        worker_timeout: float = WORKER_TIMEOUT,
    ):
        self.address = check_scheduler_address(address)
        self.worker_timeout = float(worker_timeout)
        self.client = None
        try:
            _client_class()
        except ImportError as exc:  # a core dependency, but say so clearly if it is missing
            raise InputError(f"--scheduler needs dask.distributed: {exc}") from None
        self._silenced = _silence_loggers(_DASK_LOGGERS)
        try:
            client = _client_class()(address, timeout=connect_timeout, set_as_default=False)
        except Exception as exc:  # noqa: BLE001 (any failure to connect is one line)
            self.close()
            raise InputError(
                f"cannot connect to the Dask scheduler at {address!r}: {exc}"
            ) from None
        client._ghostsym_connected = True
        self.client = client
        try:
            client.wait_for_workers(1, timeout=self.worker_timeout)
        except Exception:  # noqa: BLE001 (a timeout, or the scheduler went away)
            self.close()
            raise InputError(
                f"the Dask scheduler at {address!r} has no workers "
                f"(waited {self.worker_timeout:g} s); start some with `dask worker {address}`"
            ) from None

    def close(self) -> None:
        if self.client is not None:
            import gc

            with contextlib.suppress(Exception):
                self.client.close(timeout=5)
            self.client = None
            gc.collect()  # tasks cut off by the close report "never retrieved" while silenced
        for logger, disabled in getattr(self, "_silenced", {}).items():
            logger.disabled = disabled
        self._silenced = {}

    def _abort(self, what: str, tracker: _Tracker) -> SweepAbortedError:
        left = sum(1 for e in tracker.statuses.values() if e["status"] in ("running", "pending"))
        return SweepAbortedError(
            f"{what}; {left} run(s) not done (the finished ones are stored): "
            "run the same command again"
        )

    def _check_cluster(self, tracker: _Tracker, state: dict) -> None:
        """Stop with one line if the scheduler is gone or no worker is left for too long."""
        client = self.client
        now = time.time()
        if client.status != "running":
            state.setdefault("disconnected", now)
            if now - state["disconnected"] > self.worker_timeout:
                raise self._abort(f"lost the Dask scheduler at {self.address!r}", tracker)
            return
        state.pop("disconnected", None)
        try:
            n = len(client.nthreads())
        except Exception:  # noqa: BLE001 (the connection is checked on the next poll)
            return
        if n:
            state.pop("no_workers", None)
            return
        state.setdefault("no_workers", now)
        if now - state["no_workers"] > self.worker_timeout:
            raise self._abort(
                f"no Dask worker connected to {self.address!r} for {self.worker_timeout:g} s "
                "(all lost?); start workers",
                tracker,
            )

    def _prepare(self, todo: list[Point], spec: SweepSpec, tracker: _Tracker, token: str):
        """The "compiling kernels" stage: one task pinned to each connected worker."""
        staged = tracker.progress
        configs = prepare_configs(todo, spec)
        try:
            workers = list(self.client.nthreads()) if configs else []
        except Exception:  # noqa: BLE001 (the runs will compile where they land)
            workers = []
        if not workers:
            staged.end_compiling()
            return
        staged.start_compiling(len(workers))
        futures = [
            self.client.submit(
                prepare_worker,
                spec.kind_ref,
                configs,
                key=f"ghostsym-prepare-{i}-{token}",
                workers=[w],
                allow_other_workers=False,
                pure=False,
            )
            for i, w in enumerate(workers)
        ]
        pending = dict(zip(futures, workers, strict=True))
        while pending and self.client.status == "running":
            try:
                connected = set(self.client.nthreads())
            except Exception:  # noqa: BLE001 (checked again on the next poll)
                connected = set(pending.values())
            # ready, or gone (a worker that left compiles nothing for this sweep)
            for fut in [f for f, w in pending.items() if f.done() or w not in connected]:
                del pending[fut]
                staged.worker_ready()
            if pending:
                time.sleep(POLL_SECONDS)
        for fut in futures:
            with contextlib.suppress(Exception):
                fut.release()
        if staged.compiling:
            staged.end_compiling()

    def run(self, todo: list[Point], spec: SweepSpec, tracker: _Tracker) -> None:
        from distributed import as_completed

        client = self.client
        storage = spec.storage.as_dict()
        token = uuid.uuid4().hex[:8]
        self._prepare(todo, spec, tracker, token)
        by_key: dict[str, list[Point]] = {}
        futures = []
        try:
            n_workers = max(1, len(client.nthreads()))
        except Exception:  # noqa: BLE001
            n_workers = 1
        for chunk in plan_chunks(todo, spec, n_workers):
            first = chunk[0].run_id
            key = f"ghostsym-run-{first}-{len(chunk)}-{token}"
            configs = [p.config for p in chunk]
            fut = client.submit(execute_points, spec.kind_ref, configs, storage, key=key)
            by_key[key] = chunk
            futures.append(fut)
            for p in chunk:
                tracker.submitted(p)
        remaining = len(futures)
        ac = as_completed(futures, loop=client.loop)
        last_poll = 0.0
        state: dict = {}
        while remaining:
            if time.time() - last_poll > 1.0:  # also while results keep coming back
                self._check_cluster(tracker, state)
                tracker.set_running(_dask_running(client, by_key))
                last_poll = time.time()
            batch = ac.next_batch(block=False)
            if not batch:
                time.sleep(POLL_SECONDS)
                continue
            waiting_again = 0
            for fut in batch:
                chunk = by_key[fut.key]
                try:
                    # bounded: a result whose worker dies while it is fetched would otherwise
                    # block here until it is recomputed, i.e. forever without workers
                    timeout = self.worker_timeout
                    outcome = fut.result(timeout=timeout) if fut.status == "finished" else None
                except TimeoutError:
                    ac.add(fut)  # fetched again on the next batch; the cluster is checked
                    waiting_again += 1
                    continue
                except Exception:  # noqa: BLE001 (inspected below)
                    outcome = None
                if outcome is None and fut.status in ("pending", "lost"):
                    # The result was lost with its worker after completing; the scheduler
                    # recomputes it, so wait for this future again.
                    ac.add(fut)
                    waiting_again += 1
                    continue
                if outcome is None and client.status != "running":
                    # cancelled because the connection to the scheduler is gone
                    raise self._abort(f"lost the Dask scheduler at {self.address!r}", tracker)
                remaining -= 1
                if outcome is not None:
                    tracker.finished_many(chunk, outcome, "dask")
                else:
                    exc = fut.exception()
                    if isinstance(exc, ImportError):
                        raise InputError(
                            "Dask workers cannot import ghostsym "
                            f"({type(exc).__name__}: {exc}); install it on every worker"
                        )
                    if isinstance(exc, InputError):  # e.g. the kind is not registered there
                        raise InputError(f"on a Dask worker: {exc}")
                    for p in chunk:
                        tracker.lost(p, f"{type(exc).__name__}: {exc}", "dask")
                fut.release()
            if waiting_again == len(batch):
                time.sleep(POLL_SECONDS)  # nothing came back yet: do not spin


def _dask_running(client, by_key: dict) -> int:
    try:
        processing = client.processing()
    except Exception:
        return 0
    return sum(len(by_key[k]) for keys in processing.values() for k in keys if k in by_key)
