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

    spec.toml           the spec of the latest invocation
    sweep.json          kind, axes and the list of points (run id + axis values)
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
"""

from __future__ import annotations

import contextlib
import json
import os
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

from ghostsym.errors import DivergenceError, GhostsymError, InputError
from ghostsym.io import savez_atomic, write_atomic, write_json
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
#: Seconds to wait for a Dask scheduler to answer, and for its first worker to appear.
CONNECT_TIMEOUT = 10.0
WAIT_FOR_WORKERS = 60.0
#: Environment of local worker processes: one thread each, the pool provides parallelism.
WORKER_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}

RUNS_DIR = "runs"
STATUSES = ("done", "failed", "running", "pending", "lost")


# -- one run (executed on a worker) ----------------------------------------------------------------
def execute_point(kind_ref: str, config: dict, storage: dict | None = None) -> dict:
    """Run one point and return its outcome as plain data (never raises for a failed run).

    ``storage`` is :meth:`StoragePolicy.as_dict`; histories are thinned on the worker so
    that only what is kept travels back. A failing run returns ``status="failed"`` with the
    reason (the epoch, for a divergence) and a short traceback.
    """
    policy = StoragePolicy(**(storage or {}))
    started = time.time()
    t0 = time.perf_counter()
    outcome = {
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
    try:
        func = import_run_function(kind_ref)
        result = func(dict(config))
        if not isinstance(result, dict):
            raise TypeError(f"run function {kind_ref} returned {type(result).__name__}, not dict")
        history = {k: np.asarray(v) for k, v in (result.get("history") or {}).items()}
        outcome["history"] = _thin(history, policy)
        outcome["params"] = {k: np.asarray(v) for k, v in (result.get("params") or {}).items()}
        outcome["summary"] = _plain(result.get("summary") or {})
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
    outcome["seconds"] = time.perf_counter() - t0
    outcome["started"] = started
    return outcome


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


def _plain(summary: dict) -> dict:
    out = {}
    for k, v in summary.items():
        if isinstance(v, np.generic):
            v = v.item()
        elif isinstance(v, np.ndarray):
            v = v.tolist()
        out[str(k)] = v
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
    if not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def load_sweep_run(results_dir: str | Path, run_id: str) -> SweepRun:
    """One run of a sweep's results directory, by id (not a training run directory: that is
    :func:`ghostsym.training.load_run`)."""
    path = Path(results_dir) / RUNS_DIR / run_id
    try:
        config = json.loads((path / "config.json").read_text())
        result = json.loads((path / "result.json").read_text())
    except (OSError, ValueError) as exc:
        raise GhostsymError(f"run {run_id} in {results_dir} is unreadable: {exc}") from None
    return SweepRun(run_id, path, config, result)


def read_index(results_dir: str | Path) -> dict:
    """The sweep's ``index.json`` merged with ``sweep.json`` (axes and points)."""
    root = Path(results_dir)
    try:
        sweep = json.loads((root / "sweep.json").read_text())
    except FileNotFoundError:
        raise InputError(
            f"{str(root)!r} is not a sweep results directory (no sweep.json)"
        ) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {root / 'sweep.json'}: {exc}") from None
    try:
        index = json.loads((root / "index.json").read_text())
    except (OSError, ValueError):
        index = {"runs": []}
    sweep["status"] = {r["run_id"]: r for r in index.get("runs", [])}
    return sweep


class ResultStore:
    """The results directory; only the sweep process (one at a time) writes to it."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.runs = self.root / RUNS_DIR
        self._lock_fh = None

    @contextlib.contextmanager
    def locked(self):
        import fcntl

        try:
            self.runs.mkdir(parents=True, exist_ok=True)
            fh = open(self.root / ".lock", "w")  # noqa: SIM115 (held for the whole sweep)
        except OSError as exc:
            raise InputError(
                f"cannot write to results directory {str(self.root)!r}: {exc.strerror or exc}"
            ) from None
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise InputError(
                f"another sweep is running in {str(self.root)!r} (it holds {self.root / '.lock'})"
            ) from None
        try:
            yield self
        finally:
            fh.close()

    def clean_partial(self) -> int:
        """Delete directories of runs whose writing was cut off (never renamed into place)."""
        n = 0
        for path in self.runs.glob(".tmp-*"):
            shutil.rmtree(path, ignore_errors=True)
            n += 1
        for path in self.runs.glob(".old-*"):
            shutil.rmtree(path, ignore_errors=True)
        return n

    def finished(self) -> dict[str, dict]:
        """run id -> result record of every run written completely."""
        out = {}
        for path in self.runs.iterdir():
            if path.name.startswith("."):
                continue
            try:
                out[path.name] = json.loads((path / "result.json").read_text())
            except (OSError, ValueError):
                continue  # cannot happen for renamed directories; redo the run if it does
        return out

    def write_run(self, point: Point, outcome: dict, *, replace: bool = False) -> bool:
        """Write one run atomically; False (and nothing written) if it is already stored."""
        final = self.runs / point.run_id
        if final.exists() and not replace:
            return False
        tmp = self.runs / f".tmp-{point.run_id}-{uuid.uuid4().hex[:8]}"
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
        }
        _write_json(tmp / "config.json", point.config)
        _write_npz(tmp / "history.npz", outcome.get("history") or {})
        _write_npz(tmp / "params_final.npz", outcome.get("params") or {})
        _write_json(tmp / "result.json", record)  # written last: the run's completion mark
        _fsync_dir(tmp)
        if final.exists():  # replace=True (re-running a failed run): swap, then delete
            old = self.runs / f".old-{point.run_id}-{uuid.uuid4().hex[:8]}"
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
        _fsync_dir(self.runs)
        return True

    def write_spec(self, spec: SweepSpec) -> None:
        if spec.source:
            write_atomic(self.root / "spec.toml", spec.source)
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
            "updated": datetime.now(UTC).isoformat(timespec="seconds"),
            "counts": counts,
            "runs": runs,
        }
        write_atomic(self.root / "index.json", json.dumps(payload, indent=1) + "\n")

    def log_event(self, **event) -> None:
        event = {"time": round(time.time(), 3), **event}
        with open(self.root / "events.jsonl", "a") as fh:
            fh.write(json.dumps(event) + "\n")
            fh.flush()


def _write_json(path: Path, data) -> None:
    write_json(path, data, indent=1, fsync=True)


def _write_npz(path: Path, arrays: dict) -> None:
    savez_atomic(path, arrays, fsync=True)


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
        self.flush()

    def lost(self, point: Point, reason: str, backend: str) -> None:
        self.statuses[point.run_id] = {"status": "lost", "reason": reason}
        self.store.log_event(event="lost", run_id=point.run_id, reason=reason, backend=backend)
        self.progress.update(1, **self.postfix())
        self.flush()

    def flush(self) -> None:
        self.store.write_index(self.spec, self.statuses)
        self._last_index = time.time()


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
) -> SweepSummary:
    """Run every point of ``spec`` not already stored in ``results_dir``; see module docstring.

    ``workers`` is the number of local processes (default: the cores this process may use);
    ``scheduler`` a Dask scheduler address (``tcp://host:8786``) to use instead.
    """
    progress = as_meter(progress, unit="run")
    store = ResultStore(results_dir)
    t0 = time.perf_counter()
    with store.locked():
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
                if result is not None:
                    replace.add(p.run_id)
                statuses[p.run_id] = {"status": "pending"}
                todo.append(p)
        tracker = _Tracker(store, spec, statuses, progress, replace)
        tracker.flush()
        backend = "dask" if scheduler else "local"
        dask = _DaskBackend(scheduler) if scheduler and todo else None
        if todo:
            desc = f"sweep {spec.name}" + (f" ({skipped} already done)" if skipped else "")
            progress.start(len(todo), desc)
            progress.update(0, **tracker.postfix())
            try:
                if dask is not None:
                    dask.run(todo, spec, tracker)
                else:
                    _run_local(workers or default_workers(), todo, spec, tracker)
            finally:
                tracker.running = 0
                for p in todo:  # interrupted: whatever did not finish is pending again
                    if statuses[p.run_id]["status"] == "running":
                        statuses[p.run_id] = {"status": "pending"}
                tracker.flush()
                progress.close()
                if dask is not None:
                    dask.close()
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


def default_workers() -> int:
    """Cores this process may run on (respects CPU affinity / container limits)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


# -- local backend: a process pool -----------------------------------------------------------------
def _init_local_worker(parent_pid: int) -> None:
    """Runs first in every local worker: single thread, ignore Ctrl-C, die with the parent."""
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


def _run_local(n_workers: int, todo: list[Point], spec: SweepSpec, tracker: _Tracker) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    storage = spec.storage.as_dict()
    n_workers = max(1, min(n_workers, len(todo)))

    def new_pool():
        return ProcessPoolExecutor(
            max_workers=n_workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_local_worker,
            initargs=(os.getpid(),),
        )

    queue = deque(todo)
    attempts: dict[str, int] = {}
    in_flight: dict = {}
    pool = new_pool()
    try:
        while queue or in_flight:
            while queue and len(in_flight) < n_workers:
                p = queue.popleft()
                fut = pool.submit(execute_point, spec.kind_ref, p.config, storage)
                in_flight[fut] = p
                tracker.submitted(p)
            tracker.set_running(len(in_flight))
            done, _ = wait(list(in_flight), timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                p = in_flight.pop(fut)
                try:
                    outcome = fut.result()
                except BrokenProcessPool:
                    broken = True
                    in_flight[fut] = p  # handled with the others below
                except Exception as exc:  # e.g. a result that cannot be pickled back
                    tracker.lost(p, f"{type(exc).__name__}: {exc}", "local")
                else:
                    tracker.finished(p, outcome, "local")
            if broken:
                # A worker process died (killed, segfault): every run in flight is retried
                # in a fresh pool, up to MAX_LOCAL_ATTEMPTS times.
                for p in in_flight.values():
                    attempts[p.run_id] = attempts.get(p.run_id, 0) + 1
                    if attempts[p.run_id] >= MAX_LOCAL_ATTEMPTS:
                        tracker.lost(p, "local worker process died repeatedly", "local")
                    else:
                        queue.appendleft(p)
                in_flight.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = new_pool()
    finally:
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:  # do not leave runs computing after an interrupt
            with contextlib.suppress(Exception):
                proc.terminate()


# -- Dask backend ----------------------------------------------------------------------------------
class _DaskBackend:
    """A ``distributed.Client`` connected before anything runs (bad addresses fail fast)."""

    def __init__(self, address: str):
        try:
            from distributed import Client
        except ImportError as exc:  # a core dependency, but say so clearly if it is missing
            raise InputError(f"--scheduler needs dask.distributed: {exc}") from None
        try:
            self.client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise InputError(
                f"cannot connect to the Dask scheduler at {address!r}: {exc}"
            ) from None
        try:
            self.client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS)
        except TimeoutError:
            self.close()
            raise InputError(
                f"the Dask scheduler at {address!r} has no workers "
                f"(waited {WAIT_FOR_WORKERS:.0f} s); start some with `dask worker {address}`"
            ) from None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close(timeout=5)

    def run(self, todo: list[Point], spec: SweepSpec, tracker: _Tracker) -> None:
        from distributed import as_completed

        client = self.client
        storage = spec.storage.as_dict()
        token = uuid.uuid4().hex[:8]
        by_key: dict[str, Point] = {}
        futures = []
        for p in todo:
            key = f"ghostsym-run-{p.run_id}-{token}"
            fut = client.submit(execute_point, spec.kind_ref, p.config, storage, key=key)
            by_key[key] = p
            futures.append(fut)
            tracker.submitted(p)
        remaining = len(futures)
        ac = as_completed(futures, loop=client.loop)
        last_poll = 0.0
        while remaining:
            batch = ac.next_batch(block=False)
            if not batch:
                if time.time() - last_poll > 1.0:
                    tracker.set_running(_dask_running(client, by_key))
                    last_poll = time.time()
                time.sleep(POLL_SECONDS)
                continue
            for fut in batch:
                p = by_key[fut.key]
                try:
                    outcome = fut.result() if fut.status == "finished" else None
                except Exception:  # noqa: BLE001 (inspected below)
                    outcome = None
                if outcome is None and fut.status in ("pending", "lost"):
                    # The result was lost with its worker after completing; the scheduler
                    # recomputes it, so wait for this future again.
                    ac.add(fut)
                    continue
                remaining -= 1
                if outcome is not None:
                    tracker.finished(p, outcome, "dask")
                else:
                    exc = fut.exception()
                    if isinstance(exc, ImportError):
                        raise InputError(
                            "Dask workers cannot import ghostsym "
                            f"({type(exc).__name__}: {exc}); install it on every worker"
                        )
                    tracker.lost(p, f"{type(exc).__name__}: {exc}", "dask")
                fut.release()


def _dask_running(client, by_key: dict) -> int:
    try:
        processing = client.processing()
    except Exception:
        return 0
    return sum(1 for keys in processing.values() for k in keys if k in by_key)
