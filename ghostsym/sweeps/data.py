"""A stored sweep as labelled data: ``open_sweep(DIR)`` → an ``xarray.Dataset``.

::

    import ghostsym
    ds = ghostsym.open_sweep("sweeps/fig2d-canonical")
    ds.final_loss.sel(seed=0)                  # final loss against the learning rate
    ds.loss.mean("seed")                       # thinned learning curves, mean over seeds
    tidy_table(ds)                             # one row per run (pandas)
    ds.to_dataframe()                          # one row per run and stored epoch
    to_netcdf(ds, "fig2d.nc")                  # ghostsym sweep-report DIR --netcdf FILE

**Dimensions** are the sweep's axes (``sweep.json``), in the spec's order; a numeric axis
is sorted ascending (learning rates in numerical order, not as text), a text axis keeps the
spec's order, and an axis of other values (lists, tables, mixed types) is labelled by the
values' JSON text (named in the attribute ``json_coordinates``). Histories (``loss``,
``grad_norm``, ``accuracy``, and whatever else the kind records, e.g. ``r``) add the
dimension ``epoch``: the stored, thinned epochs (``store_every`` / ``store_tail``; the union
over the runs). **Variables** per run: ``run_id``, ``status`` (done, failed, pending, lost),
``present``, the numbers of :class:`RunSummary` (final / initial / minimum loss, accuracy,
gradient norms, ``learned``, ``stuck``, ``trapped``, ``diverged_epoch``, ``seconds``) and
every numeric value of the runs' summaries (``epochs_run``; e.g. ``r_star``, ``alpha_star``
and ``final_r`` of the canonical kind); a variable named like an axis gets the suffix
``_run``. **Attributes**: name, kind, description, ``seed_axis``, ``rate_axis``,
``ghostsym_version`` (of the sweep) and ``opened_with`` (of this reader), ``overrides`` (the
``--set`` values, JSON), ``spec`` (the stored effective ``spec.toml``), ``storage`` and
``criteria`` (the definitions below), and the analytic ``alpha_star`` / ``r_star`` when every
run of the sweep reports the same value.

**Cases** (``[[cases]]`` with different axes): one Dataset on the union of the axes, padded
— a cell that no case defines has ``present = False``, ``status = "absent"`` and NaN
numbers. The settings in which cases differ are axes already (``sweep.json``), so every run
has a coordinate on every axis, the union keeps runs of different cases comparable along the
axes they share (``ds.final_loss.sel(model="full")``), and one call gives the whole sweep;
:func:`tidy_table` drops the padding. The padding is bounded: more than :data:`MAX_CELLS`
cells, or :data:`MAX_HISTORY_VALUES` history values, is refused with one line before
anything is allocated (``histories=False`` leaves the histories out).

**Definitions** (all evaluated on the stored histories; ``K`` = :attr:`Criteria.window`):

* **final loss** = loss at the last epoch; **initial loss** = loss at epoch 0 (the initial
  parameters); **final accuracy** = accuracy at the last epoch.
* **learned**: median loss over the last K epochs < ``learned_ratio`` × initial loss
  (docs/experiments.md §6.4 uses L[−1]/L[0] < 1e-2; the median over K epochs keeps one
  oscillation spike from deciding it) — or, for a kind with a "learned" level of its own
  (:data:`ghostsym.sweeps.kinds.LEARNED_LOSS`), median loss over the last K epochs ≤ that
  level (canonical kind: normalised loss ≤ 0.1, the output switching within 10% of T of the
  target time, the level of docs/experiments.md §2.4).
* **stuck in a no-learning zone**: for each of the last K epochs, accuracy ≤ the
  no-learning accuracy *and* gradient norm ≤ ``stuck_grad``. The no-learning accuracy is the
  score of the all-zero output — 0.5 on DA, the fraction of zero targets on DCD/DMTS — taken
  from the run's ``chance_accuracy`` summary (``stuck_accuracy`` overrides it). A slow
  plateau (accuracy at chance but gradient still above the threshold) is *not* stuck. A run
  without an accuracy history is stuck if its gradient stays below the threshold and it has
  not learned.
* **trapped**: stuck, or diverged.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ghostsym.errors import InputError
from ghostsym.io import write_atomic
from ghostsym.sweeps.run import RUNS_DIR, SweepRun, load_sweep_run, read_index

#: Default tail length K (epochs) for "learned" and "stuck" (e.g. the last 50 epochs).
DEFAULT_WINDOW = 50
#: Default gradient-norm threshold of a no-learning zone. Stuck rank-one DA networks sit at
#: ≤ 5e-9, while networks on a slow plateau keep ≈ 1e-3 … 5e-2 (docs/experiments.md §11). Rank-K
#: DA networks with a trainable readout (Fig. 6B) start at 4e-2 … 0.7; in the no-learning
#: zone (all-zero output, loss 1) we measured 1e-12 … 4e-3, mostly ≤ 1e-4 — the few above
#: it count as not stuck, which only makes "stuck" conservative.
DEFAULT_STUCK_GRAD = 1e-4
#: Default "learned" threshold on final / initial loss (docs/experiments.md §6.4).
DEFAULT_LEARNED_RATIO = 1e-2


@dataclass
class Criteria:
    window: int = DEFAULT_WINDOW
    stuck_grad: float = DEFAULT_STUCK_GRAD
    stuck_accuracy: float | None = None
    learned_ratio: float = DEFAULT_LEARNED_RATIO
    #: learned = median loss over the last K epochs <= learned_loss (absolute) when set;
    #: :meth:`for_kind` sets it from the kind's :data:`~ghostsym.sweeps.kinds.LEARNED_LOSS`.
    learned_loss: float | None = None

    def for_kind(self, kind: str | None) -> Criteria:
        """These criteria with the kind's own "learned" level when none was given."""
        from ghostsym.sweeps.kinds import LEARNED_LOSS

        if self.learned_loss is None and kind in LEARNED_LOSS:
            return replace(self, learned_loss=LEARNED_LOSS[kind])
        return self

    def describe(self) -> str:
        acc = (
            "the no-learning accuracy (score of the all-zero output)"
            if self.stuck_accuracy is None
            else f"{self.stuck_accuracy:g}"
        )
        if self.learned_loss is not None:
            learned = f"<= {self.learned_loss:g}"
        else:
            learned = f"< {self.learned_ratio:g} x initial loss"
        return (
            f"stuck = for each of the last {self.window} epochs, accuracy <= {acc} and gradient "
            f"norm <= {self.stuck_grad:g}; learned = median loss over the last {self.window} "
            f"epochs {learned}"
        )


@dataclass
class RunSummary:
    """The numbers the report uses for one point of the sweep."""

    run_id: str
    axes: dict
    status: str  # done | failed | pending | running | lost
    reason: str | None = None
    failure: str | None = None  # divergence | error (failed runs)
    initial_loss: float = math.nan
    final_loss: float = math.nan
    min_loss: float = math.nan
    final_accuracy: float = math.nan
    max_accuracy: float = math.nan
    tail_grad: float = math.nan  # max gradient norm over the last K epochs
    mean_grad: float = math.nan  # mean gradient norm over all stored epochs
    epochs: int = 0
    learned: bool = False
    stuck: bool = False
    diverged_epoch: float = math.nan
    seconds: float = math.nan
    summary: dict = field(default_factory=dict)  # the run's numeric summary values

    @property
    def trapped(self) -> bool:
        """Stuck in a no-learning zone, or diverged: the run is past its critical rate."""
        return self.stuck or self.failure == "divergence"


@dataclass
class SweepResults:
    results_dir: Path
    meta: dict  # sweep.json (+ "status" from index.json)
    runs: list[RunSummary] = field(default_factory=list)
    criteria: Criteria | None = None  # as applied (the kind's "learned" level included)

    @property
    def axes(self) -> dict:
        return self.meta.get("axes", {})

    @property
    def seed_axis(self) -> str | None:
        a = self.meta.get("seed_axis", "seed")
        return a if a in self.axes else None

    @property
    def rate_axis(self) -> str | None:
        a = self.meta.get("rate_axis", "lr")
        return a if a in self.axes else None

    def group_axes(self, *, without_rate: bool = False) -> list[str]:
        drop = {self.seed_axis} | ({self.rate_axis} if without_rate else set())
        return [a for a in self.axes if a not in drop]


# -- loading and classification --------------------------------------------------------------
def load_results(results_dir: str | Path, criteria: Criteria | None = None) -> SweepResults:
    """Read every point of the sweep in ``results_dir`` and classify the stored runs."""
    root = Path(results_dir)
    meta = read_index(root)
    criteria = (criteria or Criteria()).for_kind(meta.get("kind"))
    results = SweepResults(root, meta, criteria=criteria)
    for point in meta.get("points", []):
        run_id, axes = point["run_id"], point["axes"]
        if (root / RUNS_DIR / run_id / "result.json").exists():
            results.runs.append(summarise_run(load_sweep_run(root, run_id), axes, criteria))
        else:
            status = meta["status"].get(run_id, {}).get("status", "pending")
            status = "pending" if status in ("running", "done", "failed") else status
            results.runs.append(RunSummary(run_id, axes, status))
    return results


def summarise_run(run: SweepRun, axes: dict, criteria: Criteria) -> RunSummary:
    """The numbers of one stored run; a run whose files do not fit together is one error."""
    try:
        return _summarise_run(run, axes, criteria)
    except InputError:  # already says which file
        raise
    except (ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        raise InputError(
            f"run {run.run_id} in {run.path.parent.parent} is inconsistent "
            f"({type(exc).__name__}: {exc}); delete {run.path} and run the same sweep again "
            "to redo it"
        ) from None


def _summarise_run(run: SweepRun, axes: dict, criteria: Criteria) -> RunSummary:
    res = run.result
    s = RunSummary(run.run_id, axes, res["status"], res.get("reason"), res.get("failure"))
    summary = res.get("summary") if isinstance(res.get("summary"), dict) else {}
    s.summary = {
        k: float(v)
        for k, v in summary.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    if isinstance(res.get("seconds"), (int, float)):
        s.seconds = float(res["seconds"])
    if s.failure == "divergence" and isinstance(summary.get("diverged_epoch"), int):
        s.diverged_epoch = float(summary["diverged_epoch"])
    if s.status != "done":
        return s
    h = run.history
    if "loss" not in h or len(h["loss"]) == 0:
        return s
    loss = np.asarray(h["loss"], dtype=float)
    n = int(res.get("summary", {}).get("epochs_run", len(loss)))
    epoch = np.asarray(h.get("epoch", np.arange(len(loss))))
    tail = epoch >= n - criteria.window
    if not tail.any():
        tail = np.zeros(len(loss), bool)
        tail[-1] = True
    s.epochs = n
    s.initial_loss, s.final_loss = float(loss[0]), float(loss[-1])
    s.min_loss = float(np.nanmin(loss))
    if criteria.learned_loss is not None:
        s.learned = bool(np.median(loss[tail]) <= criteria.learned_loss)
    else:
        s.learned = bool(np.median(loss[tail]) < criteria.learned_ratio * s.initial_loss)
    grad = np.asarray(h["grad_norm"], dtype=float) if "grad_norm" in h else None
    if grad is not None:
        s.tail_grad = float(np.max(grad[tail]))
        s.mean_grad = float(np.mean(grad))
    quiet = grad is not None and bool(np.all(grad[tail] <= criteria.stuck_grad))
    if "accuracy" in h:
        acc = np.asarray(h["accuracy"], dtype=float)
        s.final_accuracy = float(acc[-1])
        s.max_accuracy = float(np.nanmax(acc))
        chance = criteria.stuck_accuracy
        if chance is None:
            chance = float(res.get("summary", {}).get("chance_accuracy", 0.5))
        s.stuck = quiet and bool(np.all(acc[tail] <= chance + 1e-12))
    else:
        s.stuck = quiet and not s.learned
    return s


# -- the labelled view -------------------------------------------------------------------------
#: Largest number of grid cells (product of the axis lengths) of one Dataset.
MAX_CELLS = 10_000_000
#: Largest number of history values (cells × stored epochs × histories) read into one Dataset.
MAX_HISTORY_VALUES = 100_000_000
#: Per-run numbers of :class:`RunSummary` that become variables.
RUN_NUMBERS = (
    "initial_loss",
    "final_loss",
    "min_loss",
    "final_accuracy",
    "max_accuracy",
    "tail_grad",
    "mean_grad",
    "diverged_epoch",
    "seconds",
)
RUN_FLAGS = ("learned", "stuck", "trapped")
#: Variable names of RUN_NUMBERS where they differ from the attribute.
VARIABLE_NAMES = {"tail_grad": "tail_grad_norm", "mean_grad": "mean_grad_norm"}
#: Summary values that, when every run reports the same one, become attributes.
ANALYTIC_ATTRS = ("alpha_star", "r_star", "point_of_no_return")


def _xarray():
    try:
        import xarray
    except ImportError as exc:  # a core dependency; say so clearly if it is missing
        raise InputError(f"labelled sweep results need xarray: {exc}") from None
    return xarray


def _numeric(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def coordinate(values: list) -> tuple[np.ndarray, dict, bool]:
    """(coordinate array, JSON text of a value -> position, is_json) of one axis."""
    keys = [json.dumps(v, sort_keys=True) for v in values]
    if values and all(_numeric(v) for v in values):
        order = sorted(range(len(values)), key=lambda i: float(values[i]))
        kind = np.int64 if all(isinstance(v, int) for v in values) else np.float64
        coord = np.array([values[i] for i in order], dtype=kind)
        return coord, {keys[i]: j for j, i in enumerate(order)}, False
    if values and all(isinstance(v, str) for v in values):
        return np.array(values, dtype=object), {k: i for i, k in enumerate(keys)}, False
    return np.array(keys, dtype=object), {k: i for i, k in enumerate(keys)}, True


def sweep_dataset(results: SweepResults, *, histories: bool = True):
    """The ``xarray.Dataset`` of loaded :class:`SweepResults` (see the module docstring)."""
    xr = _xarray()
    meta = results.meta
    axes = {k: list(v) for k, v in (meta.get("axes") or {}).items()}
    names = list(axes)
    coords, lookup, json_axes = {}, {}, []
    for name in names:
        coords[name], lookup[name], is_json = coordinate(axes[name])
        if is_json:
            json_axes.append(name)
    shape = tuple(len(coords[n]) for n in names)
    cells = math.prod(shape)
    if cells > MAX_CELLS:
        raise InputError(
            f"the grid of {results.results_dir} has {cells:,} cells (axes "
            f"{', '.join(f'{n} ({len(coords[n])})' for n in names)}), more than the limit of "
            f"{MAX_CELLS:,} for one Dataset"
        )
    index = {}
    for i, r in enumerate(results.runs):
        try:
            pos = tuple(lookup[n][json.dumps(r.axes.get(n), sort_keys=True)] for n in names)
        except KeyError:
            raise InputError(
                f"run {r.run_id} in {results.results_dir} has axis values outside sweep.json "
                "(the files were not written by ghostsym)"
            ) from None
        index[pos] = i
    positions = list(index)
    where = tuple(np.array([p[k] for p in positions], dtype=np.int64) for k in range(len(names)))
    runs = [results.runs[index[p]] for p in positions]

    def variable(values, fill, dtype):
        arr = np.full(shape, fill, dtype=dtype)
        if positions:
            arr[where] = np.asarray(values, dtype=dtype)
        return (names, arr)

    data = {
        "run_id": variable([r.run_id for r in runs], "", object),
        "status": variable([r.status for r in runs], "absent", object),
        "present": variable([True] * len(runs), False, bool),
    }
    for attr in RUN_NUMBERS:
        data[VARIABLE_NAMES.get(attr, attr)] = variable(
            [float(getattr(r, attr)) for r in runs], np.nan, float
        )
    for attr in RUN_FLAGS:
        data[attr] = variable([bool(getattr(r, attr)) for r in runs], False, bool)
    summary_keys = list(dict.fromkeys(k for r in runs for k in r.summary))
    for key in summary_keys:
        if key in data or key in names or key == "epoch":
            continue
        data[key] = variable([r.summary.get(key, np.nan) for r in runs], np.nan, float)
    epochs = None
    if histories:
        epochs, stacked = _histories(results, runs, shape, where)
        for key, arr in stacked.items():
            data[key if key not in data else f"{key}_history"] = ([*names, "epoch"], arr)
    # a variable named like an axis (an axis "epochs", say) is suffixed "_run"
    data = {(f"{k}_run" if k in coords or k == "epoch" else k): v for k, v in data.items()}
    all_coords = dict(coords)
    if epochs is not None:
        all_coords["epoch"] = epochs
    ds = xr.Dataset(data, coords=all_coords)
    ds.attrs.update(_attributes(results, runs, json_axes))
    return ds


def _histories(results, runs, shape, where):
    """(union of the stored epochs, name -> array of shape (*grid, epoch)) of the done runs;
    the size is bounded from the stored files before anything is allocated."""
    done = [(k, r) for k, r in enumerate(runs) if r.status == "done"]
    loaded = {}
    epoch_sets, names = [], {}
    total = 0
    for k, r in done:
        h = load_sweep_run(results.results_dir, r.run_id).history
        n = max((len(v) for v in h.values() if v.ndim == 1), default=0)
        total += n
        if math.prod(shape) * max(n, 1) * max(len(h), 1) > MAX_HISTORY_VALUES:
            raise InputError(
                f"the histories of {results.results_dir} would take more than "
                f"{MAX_HISTORY_VALUES:,} values in one Dataset; open it with histories=False"
            )
        ep = np.asarray(h.get("epoch", np.arange(n)), dtype=np.int64)
        epoch_sets.append(ep)
        loaded[k] = (ep, h)
        for name, v in h.items():
            if name != "epoch" and v.ndim == 1 and len(v) == len(ep):
                names.setdefault(name, None)
    if not loaded:
        return None, {}
    epochs = np.unique(np.concatenate(epoch_sets))
    if math.prod(shape) * len(epochs) * len(names) > MAX_HISTORY_VALUES:
        raise InputError(
            f"the histories of {results.results_dir} would take more than "
            f"{MAX_HISTORY_VALUES:,} values in one Dataset; open it with histories=False"
        )
    out = {name: np.full((*shape, len(epochs)), np.nan) for name in names}
    for k, (ep, h) in loaded.items():
        cell = tuple(w[k] for w in where)
        at = np.searchsorted(epochs, ep)
        for name in names:
            v = h.get(name)
            if v is not None and v.ndim == 1 and len(v) == len(ep):
                out[name][cell][at] = v
    return epochs, out


def _attributes(results: SweepResults, runs, json_axes) -> dict:
    from ghostsym.config import VERSION

    meta = results.meta
    try:
        spec = (Path(results.results_dir) / "spec.toml").read_text()
    except (OSError, UnicodeDecodeError):
        spec = ""
    attrs = {
        "name": str(meta.get("name", "")),
        "kind": str(meta.get("kind", "")),
        "description": str(meta.get("description", "")),
        "seed_axis": str(results.seed_axis or ""),
        "rate_axis": str(results.rate_axis or ""),
        "ghostsym_version": str(meta.get("ghostsym_version", "unknown (before 0.1.0)")),
        "opened_with": VERSION,
        "overrides": json.dumps(meta.get("overrides") or {}, sort_keys=True),
        "spec": spec,
        "storage": json.dumps(meta.get("storage") or {}, sort_keys=True),
        "settings": json.dumps(meta.get("settings") or {}, sort_keys=True, default=str),
        "criteria": results.criteria.describe() if results.criteria else "",
        "json_coordinates": json.dumps(json_axes),
    }
    for key in ANALYTIC_ATTRS:
        values = {r.summary[key] for r in runs if key in r.summary}
        if len(values) == 1:
            attrs[key] = float(values.pop())
    return attrs


def open_sweep(
    results_dir: str | Path, *, histories: bool = True, criteria: Criteria | None = None
):
    """The sweep stored in ``results_dir`` as an ``xarray.Dataset`` (module docstring):
    dimensions the grid axes (plus ``epoch`` for the histories unless ``histories=False``),
    the effective spec, overrides and version as attributes."""
    return sweep_dataset(load_results(results_dir, criteria), histories=histories)


def tidy_table(ds):
    """One row per run of a sweep Dataset (a pandas DataFrame; padding cells of cases and
    the histories left out), the axes as columns."""
    flat = ds.drop_dims("epoch") if "epoch" in ds.dims else ds
    df = flat.to_dataframe().reset_index()
    return df[df["present"]].reset_index(drop=True)


def to_netcdf(ds, path: str | Path) -> Path:
    """Write a sweep Dataset as netCDF-4 (atomically, through :mod:`ghostsym.io`)."""
    path = Path(path)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            scratch = Path(tmp) / "sweep.nc"
            ds.to_netcdf(scratch, engine="netcdf4")
            data = scratch.read_bytes()
    except ImportError as exc:
        raise InputError(f"writing netCDF needs the netCDF4 package: {exc}") from None
    write_atomic(path, data)
    return path
