"""Sweep specifications: a TOML file describing a grid of training runs.

A spec has up to four parts (``examples/sweeps/*.toml`` has complete examples)::

    [sweep]                      # about the sweep as a whole
    kind = "rnn"                 # what one run is: "rnn", "canonical", "toy" or "pkg.mod:function"
    name = "fig6a"               # default results directory name (else the file's stem)
    seed_axis = "seed"           # axis treated as replicates by sweep-report (default "seed")
    rate_axis = "lr"             # axis treated as the learning rate (default "lr")
    store_every = 10             # keep every 10th epoch of the histories ...
    store_tail = 1000            # ... plus the last 1000 epochs in full (default: keep all)
    store_dtype = "float64"      # or "float32" for very long sweeps

    [base]                       # settings shared by every run (plain TOML values)
    task = "da"
    epochs = 200001

    [grid]                       # axes; the runs are their cartesian product
    lr = { logspace = [-4, -1, 30] }   # or linspace / geomspace = [a, b, n], range = [a, b]
    seed = { range = [0, 10] }         # or a plain list: seed = [0, 1, 2]

    [[cases]]                    # optional: each case adds fixed settings and may replace axes
    model = "rank1"
    grid.lr = { logspace = [-4, -1, 30] }

A run's configuration is ``base | case | axis values``, a flat dict of plain data; its id is a
hash of that dict and the kind, so a changed setting never reuses an old result, and an
unchanged point is found again however the grid is re-ordered or extended.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ghostsym.errors import InputError

#: Built-in run kinds: name -> "module:function" of the function running one point. A run
#: function takes the point's configuration (a flat dict of plain data) and returns
#: ``{"history": {name: 1-D array}, "params": {name: array}, "summary": {name: scalar}}``;
#: it raises on failure (DivergenceError names the epoch). An optional validator
#: ``<function>_validate(config)`` in the same module raises InputError for a bad point
#: before anything is submitted.
RUN_KINDS = {
    "rnn": "ghostsym.sweeps.kinds:run_rnn",
    "canonical": "ghostsym.sweeps.kinds:run_canonical",
    "toy": "ghostsym.sweeps.kinds:run_toy",
}

SWEEP_KEYS = {
    "kind",
    "name",
    "description",
    "seed_axis",
    "rate_axis",
    "store_every",
    "store_tail",
    "store_dtype",
}
TOP_LEVEL_KEYS = {"sweep", "base", "grid", "cases"}
STORE_DTYPES = ("float64", "float32")
#: Refuse grids so large that they are almost certainly a typo (one run directory each).
MAX_POINTS = 1_000_000


@dataclass(frozen=True)
class Point:
    """One run of a sweep: its id, the values of the swept axes and the full configuration."""

    run_id: str
    axes: dict
    config: dict


@dataclass
class StoragePolicy:
    """Which epochs of the histories are kept on disk (the run itself sees every epoch)."""

    every: int = 1
    tail: int = 0
    dtype: str = "float64"

    def as_dict(self) -> dict:
        return {"every": self.every, "tail": self.tail, "dtype": self.dtype}


@dataclass
class SweepSpec:
    """A parsed sweep: the kind of run, the points and how to store them."""

    name: str
    kind: str
    kind_ref: str
    points: list[Point]
    axes: dict[str, list]
    storage: StoragePolicy = field(default_factory=StoragePolicy)
    seed_axis: str = "seed"
    rate_axis: str = "lr"
    description: str = ""
    source: str = ""

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "kind_ref": self.kind_ref,
            "description": self.description,
            "seed_axis": self.seed_axis,
            "rate_axis": self.rate_axis,
            "storage": self.storage.as_dict(),
            "axes": self.axes,
            "points": [{"run_id": p.run_id, "axes": p.axes} for p in self.points],
        }


# -- parsing ----------------------------------------------------------------------------------
def load_spec(path: str | Path, overrides: dict | None = None) -> SweepSpec:
    """Read a TOML sweep spec; ``overrides`` replace ``[base]`` entries (``--set key=value``)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"cannot read sweep spec {str(path)!r}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"sweep spec {str(path)!r} is not valid TOML: {exc}") from None
    return parse_spec(data, default_name=path.stem, overrides=overrides, source=text)


def parse_spec(
    data: dict, *, default_name: str = "sweep", overrides: dict | None = None, source: str = ""
) -> SweepSpec:
    """Build a :class:`SweepSpec` from the dict of a TOML spec (see the module docstring)."""
    unknown = set(data) - TOP_LEVEL_KEYS
    if unknown:
        raise InputError(
            f"unknown table(s) in sweep spec: {', '.join(sorted(unknown))}; "
            f"expected {', '.join(sorted(TOP_LEVEL_KEYS))}"
        )
    meta = _table(data, "sweep")
    bad = set(meta) - SWEEP_KEYS
    if bad:
        raise InputError(
            f"unknown key(s) in [sweep]: {', '.join(sorted(bad))}; "
            f"expected {', '.join(sorted(SWEEP_KEYS))}"
        )
    kind = meta.get("kind", "rnn")
    if not isinstance(kind, str) or not kind:
        raise InputError("[sweep] kind must be a non-empty string")
    kind_ref = resolve_kind(kind)
    name = str(meta.get("name", default_name))
    storage = StoragePolicy(
        every=_positive_int(meta.get("store_every", 1), "[sweep] store_every"),
        tail=_nonnegative_int(meta.get("store_tail", 0), "[sweep] store_tail"),
        dtype=meta.get("store_dtype", "float64"),
    )
    if storage.dtype not in STORE_DTYPES:
        raise InputError(f"[sweep] store_dtype must be one of {', '.join(STORE_DTYPES)}")

    # --set key=value wins everywhere: in [base], in every case, and over an axis of that name
    overrides = dict(overrides or {})
    base = {**_table(data, "base"), **overrides}
    grid = _table(data, "grid")
    cases = data.get("cases", [{}])
    if not isinstance(cases, list) or not all(isinstance(c, dict) for c in cases) or not cases:
        raise InputError("[[cases]] must be a non-empty array of tables")

    points: list[Point] = []
    seen: dict[str, int] = {}
    axis_names: list[str] = []
    for ci, case in enumerate(cases):
        case = dict(case)
        case_grid = case.pop("grid", {})
        if not isinstance(case_grid, dict):
            raise InputError(f"cases[{ci}].grid must be a table of axes")
        axes = {k: expand_axis(k, v) for k, v in {**grid, **case_grid}.items()}
        for key, value in overrides.items():
            if key in axes:
                axes[key] = [value]
            if key in case:
                case[key] = value
        clash = set(axes) & set(case)
        if clash:
            raise InputError(
                f"cases[{ci}] sets {', '.join(sorted(clash))} both as a value and as an axis"
            )
        for k in axes:
            if k not in axis_names:
                axis_names.append(k)
        names = list(axes)
        n = math.prod(len(v) for v in axes.values())
        if len(points) + n > MAX_POINTS:
            raise InputError(f"the grid has more than {MAX_POINTS} points")
        for values in itertools.product(*axes.values()):
            point_axes = dict(zip(names, values, strict=True))
            config = {**base, **case, **point_axes}
            _check_plain(config)
            run_id = run_id_of(kind_ref, config)
            if run_id in seen:
                raise InputError(
                    f"the grid contains the same run twice ({_describe(point_axes)}); "
                    "check overlapping cases or repeated axis values"
                )
            seen[run_id] = len(points)
            points.append(Point(run_id, point_axes, config))

    # Settings that differ between cases are axes too (e.g. model = "rank1" / "full").
    for key in sorted({k for c in cases for k in c if k != "grid"}):
        values = {json.dumps(p.config.get(key), sort_keys=True) for p in points}
        if len(values) > 1 and key not in axis_names:
            axis_names.append(key)
    final_points = [
        Point(p.run_id, {k: p.config.get(k) for k in axis_names}, p.config) for p in points
    ]
    axes_values = {k: _unique([p.config.get(k) for p in final_points]) for k in axis_names}
    spec = SweepSpec(
        name=name,
        kind=kind,
        kind_ref=kind_ref,
        points=final_points,
        axes=axes_values,
        storage=storage,
        seed_axis=str(meta.get("seed_axis", "seed")),
        rate_axis=str(meta.get("rate_axis", "lr")),
        description=str(meta.get("description", "")),
        source=source,
    )
    validate_points(spec)
    return spec


def resolve_kind(kind: str) -> str:
    """Name of a built-in kind or ``package.module:function`` -> ``module:function``."""
    if kind in RUN_KINDS:
        return RUN_KINDS[kind]
    if ":" in kind:
        module, _, func = kind.partition(":")
        if module and func.isidentifier():
            return kind
    raise InputError(
        f"unknown run kind {kind!r}; use one of {', '.join(RUN_KINDS)} or 'package.module:function'"
    )


def import_run_function(kind_ref: str):
    """Import the function behind ``module:function`` (on whichever process runs it)."""
    import importlib

    module_name, _, func_name = kind_ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"cannot import run kind module {module_name!r}: {exc}") from None
    try:
        return getattr(module, func_name)
    except AttributeError:
        raise InputError(f"module {module_name!r} has no run function {func_name!r}") from None


def validate_points(spec: SweepSpec) -> None:
    """Call the kind's validator (if any) on every point, so bad input fails before running."""
    import importlib

    module_name, _, func_name = spec.kind_ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"cannot import run kind module {module_name!r}: {exc}") from None
    if not hasattr(module, func_name):
        raise InputError(f"module {module_name!r} has no run function {func_name!r}")
    validator = getattr(module, f"{func_name}_validate", None)
    if validator is None:
        return
    for p in spec.points:
        try:
            validator(p.config)
        except InputError as exc:
            where = _describe(p.axes) or "every run"
            raise InputError(f"invalid run ({where}): {exc}") from None


def expand_axis(name: str, value: Any) -> list:
    """The list of values of one axis (a list, or a table naming a numpy-style range)."""
    import numpy as np

    if isinstance(value, list):
        values = list(value)
    elif isinstance(value, dict):
        if len(value) != 1:
            raise InputError(
                f"axis {name!r}: give exactly one of logspace, linspace, geomspace, range"
            )
        ((how, args),) = value.items()
        if not isinstance(args, list) or not all(_is_number(a) for a in args):
            raise InputError(f"axis {name!r}: {how} needs a list of numbers")
        if how in ("logspace", "linspace", "geomspace"):
            if len(args) != 3 or int(args[2]) != args[2] or args[2] < 1:
                raise InputError(f"axis {name!r}: {how} = [start, stop, count] with count >= 1")
            if how == "geomspace" and (args[0] <= 0 or args[1] <= 0):
                raise InputError(f"axis {name!r}: geomspace needs positive start and stop")
            values = [float(v) for v in getattr(np, how)(args[0], args[1], int(args[2]))]
        elif how == "range":
            if len(args) not in (2, 3) or not all(isinstance(a, int) for a in args):
                raise InputError(f"axis {name!r}: range = [start, stop] or [start, stop, step]")
            if len(args) == 3 and args[2] == 0:
                raise InputError(f"axis {name!r}: range step must not be 0")
            values = list(range(*args))
        else:
            raise InputError(
                f"axis {name!r}: unknown range {how!r}; use logspace, linspace, geomspace or range"
            )
    else:
        raise InputError(f"axis {name!r} must be a list of values or a range table")
    if not values:
        raise InputError(f"axis {name!r} has no values")
    for v in values:
        _check_plain({name: v})
    if len(_unique(values)) != len(values):
        raise InputError(f"axis {name!r} repeats a value")
    return values


def run_id_of(kind_ref: str, config: dict) -> str:
    """Content hash of a run: the same kind and configuration always get the same id."""
    text = json.dumps({"kind": kind_ref, "config": config}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` with a TOML value (``epochs=1000``, ``task="dcdt"``, ``c=inf``)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise InputError(f"--set needs key=value, got {text!r}")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()  # a bare word is a string: task=dcdt
    return key, parsed


# -- helpers ----------------------------------------------------------------------------------
def _table(data: dict, key: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise InputError(f"[{key}] must be a table")
    return value


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _positive_int(x, what: str) -> int:
    if not isinstance(x, int) or isinstance(x, bool) or x < 1:
        raise InputError(f"{what} must be a positive integer")
    return x


def _nonnegative_int(x, what: str) -> int:
    if not isinstance(x, int) or isinstance(x, bool) or x < 0:
        raise InputError(f"{what} must be a non-negative integer")
    return x


def _check_plain(config: dict) -> None:
    """Configurations travel to workers as plain data (JSON-representable, no objects)."""
    for key, value in config.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise InputError(f"setting {key!r} is not plain data: {value!r}") from None


def _unique(values: list) -> list:
    seen, out = set(), []
    for v in values:
        key = json.dumps(v, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def _describe(axes: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in axes.items())
