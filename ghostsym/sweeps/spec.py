"""Sweep specifications: a TOML file describing a grid of training runs.

A spec has up to four parts (``examples/sweeps/*.toml`` has complete examples)::

    [sweep]                      # about the sweep as a whole
    kind = "rnn"                 # what one run is: a registered run kind ("rnn", "canonical",
                                 # "toy", or one a package registers: see RUN_KINDS)
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

**A spec is data, never code.** ``kind`` can only name a registered run kind: the built-in
ones (:data:`RUN_KINDS`) or one a package registers with an entry point in the group
``ghostsym.run_kinds`` (:data:`ENTRY_POINT_GROUP`); anything else (``"os:system"``, any
``module:function``) is refused before anything runs, and a worker only runs kinds registered
on it. **Every size is bounded before it is allocated:** the number of runs is counted from the
axis definitions (a ``linspace`` of a billion values is refused without being expanded) and
must not exceed :data:`MAX_POINTS` unless the caller raises the limit (``--max-runs``); a spec
file may not be larger than :data:`MAX_SPEC_BYTES`.
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

#: Built-in run kinds: name -> "module:function" of the function running one point. A package
#: adds a kind with an entry point in the group :data:`ENTRY_POINT_GROUP` (in its pyproject.toml:
#: ``[project.entry-points."ghostsym.run_kinds"]`` ``mykind = "mypkg.runs:run_one"``); a
#: built-in name cannot be replaced that way. A run function takes the point's configuration
#: (a flat dict of plain data) and returns
#: ``{"history": {name: 1-D array}, "params": {name: array}, "summary": {name: scalar}}``;
#: it raises on failure (DivergenceError names the epoch). An optional validator
#: ``<function>_validate(config)`` in the same module raises InputError for a bad point
#: before anything is submitted.
RUN_KINDS = {
    "rnn": "ghostsym.sweeps.kinds:run_rnn",
    "canonical": "ghostsym.sweeps.kinds:run_canonical",
    "toy": "ghostsym.sweeps.kinds:run_toy",
}
#: Entry-point group through which installed packages register run kinds.
ENTRY_POINT_GROUP = "ghostsym.run_kinds"

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
#: Default limit on the number of runs of one sweep (one run directory each): a larger grid is
#: almost certainly a typo. Counted from the axis definitions, before anything is expanded;
#: raised explicitly with ``max_points=`` (``ghostsym sweep --max-runs N``).
MAX_POINTS = 1_000_000
#: Values of each axis that ``--dry-run`` checks with the kind's validator (the real run checks
#: every point).
REPRESENTATIVE_VALUES = 50
#: Largest sweep spec file read (bytes).
MAX_SPEC_BYTES = 16 * 2**20


class UnregisteredKindError(InputError):
    """A spec (or a worker's task) names a run kind that is not registered."""


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
    settings: dict = field(default_factory=dict)  # the same in every point (not axes)
    overrides: dict = field(default_factory=dict)  # --set KEY=VALUE, as given
    version: str = ""  # of ghostsym, which wrote the spec

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "ghostsym_version": self.version,
            "overrides": self.overrides,
            "kind": self.kind,
            "kind_ref": self.kind_ref,
            "description": self.description,
            "seed_axis": self.seed_axis,
            "rate_axis": self.rate_axis,
            "storage": self.storage.as_dict(),
            "settings": self.settings,
            "axes": self.axes,
            "points": [{"run_id": p.run_id, "axes": p.axes} for p in self.points],
        }


# -- parsing ----------------------------------------------------------------------------------
def load_spec(
    path: str | Path, overrides: dict | None = None, *, max_points: int = MAX_POINTS
) -> SweepSpec:
    """Read a TOML sweep spec; ``overrides`` replace ``[base]`` entries (``--set key=value``)."""
    return plan_from_file(path, overrides, max_points=max_points).materialise()


def plan_from_file(
    path: str | Path, overrides: dict | None = None, *, max_points: int = MAX_POINTS
) -> SpecPlan:
    """The :class:`SpecPlan` of a TOML spec file: checked and counted, no point expanded."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise InputError(
                f"sweep spec {str(path)!r} is {size:,} bytes, more than the limit of "
                f"{MAX_SPEC_BYTES:,}"
            )
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"cannot read sweep spec {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"sweep spec {str(path)!r} is not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"sweep spec {str(path)!r} is not valid TOML: {exc}") from None
    return plan_spec(
        data,
        default_name=path.stem,
        overrides=overrides,
        source=effective_source(data, overrides, text, str(path)),
        max_points=max_points,
    )


def parse_spec(
    data: dict,
    *,
    default_name: str = "sweep",
    overrides: dict | None = None,
    source: str = "",
    max_points: int = MAX_POINTS,
) -> SweepSpec:
    """Build a :class:`SweepSpec` from the dict of a TOML spec (see the module docstring)."""
    return plan_spec(
        data, default_name=default_name, overrides=overrides, source=source, max_points=max_points
    ).materialise()


@dataclass
class _Case:
    fixed: dict  # base | case settings (overrides applied)
    axes: dict  # axis name -> list of values
    count: int


@dataclass
class SpecPlan:
    """A checked spec whose points are counted but not yet expanded (see :func:`plan_spec`)."""

    name: str
    kind: str
    kind_ref: str
    cases: list
    axis_names: list
    axes: dict
    count: int
    storage: StoragePolicy
    seed_axis: str
    rate_axis: str
    description: str
    source: str
    overrides: dict = field(default_factory=dict)
    version: str = ""

    def iter_points(self):
        """Every point in order, one at a time (nothing is kept)."""
        names = self.axis_names
        for case in self.cases:
            keys = list(case.axes)
            for values in itertools.product(*case.axes.values()):
                config = {**case.fixed, **dict(zip(keys, values, strict=True))}
                axes = {k: config.get(k) for k in names}
                yield Point(run_id_of(self.kind_ref, config), axes, config)

    def representative_points(self, per_axis: int = REPRESENTATIVE_VALUES):
        """Points that together take the first, the last and up to ``per_axis`` evenly spaced
        values of every axis, the other axes at their first value (for quick checks; their
        ``run_id`` is left empty)."""
        names = self.axis_names
        for case in self.cases:
            first = {k: v[0] for k, v in case.axes.items()}
            yield self._point_without_id(case, first, names)
            for k, values in case.axes.items():
                n = len(values)
                picks = sorted({round(i * (n - 1) / max(1, per_axis - 1)) for i in range(per_axis)})
                for i in picks:
                    if i:
                        yield self._point_without_id(case, {**first, k: values[i]}, names)

    @staticmethod
    def _point_without_id(case, combo, names) -> Point:
        config = {**case.fixed, **combo}
        return Point("", {k: config.get(k) for k in names}, config)

    def validate(self, points) -> None:
        """Call the kind's validator (if any) on ``points``: bad input fails before running."""
        validator = _validator(self.kind_ref)
        if validator is None:
            return
        for p in points:
            try:
                validator(p.config)
            except InputError as exc:
                where = _describe(p.axes) or "every run"
                raise InputError(f"invalid run ({where}): {exc}") from None

    def materialise(self) -> SweepSpec:
        """The :class:`SweepSpec` with every point, each validated; duplicates refused."""
        points: list[Point] = []
        seen: set[str] = set()
        for p in self.iter_points():
            if p.run_id in seen:
                raise InputError(
                    f"the grid contains the same run twice ({_describe(p.axes)}); "
                    "check overlapping cases or repeated axis values"
                )
            seen.add(p.run_id)
            points.append(p)
        spec = SweepSpec(
            name=self.name,
            kind=self.kind,
            kind_ref=self.kind_ref,
            points=points,
            axes=self.axes,
            storage=self.storage,
            seed_axis=self.seed_axis,
            rate_axis=self.rate_axis,
            description=self.description,
            source=self.source,
            settings=self.settings(),
            overrides=dict(self.overrides),
            version=self.version,
        )
        self.validate(points)
        return spec

    def settings(self) -> dict:
        """Settings that are not axes (the same in every point)."""
        out = {}
        for key in dict.fromkeys(k for c in self.cases for k in c.fixed):
            if key not in self.axis_names and key not in out:
                out[key] = self.cases[0].fixed.get(key)
        return out


def plan_spec(
    data: dict,
    *,
    default_name: str = "sweep",
    overrides: dict | None = None,
    source: str = "",
    max_points: int = MAX_POINTS,
) -> SpecPlan:
    """Check a spec and count its points from the axis definitions, expanding nothing until
    the count is within ``max_points``."""
    if not isinstance(data, dict):
        raise InputError("a sweep spec must be a table")
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

    # --set KEY=VALUE wins everywhere (see apply_overrides); then plan the effective spec
    overrides = dict(overrides or {})
    _check_plain(overrides)
    data = apply_overrides(data, overrides)
    base = dict(_table(data, "base"))
    _check_plain(base)
    grid = _table(data, "grid")
    cases = data.get("cases", [{}])
    if not isinstance(cases, list) or not all(isinstance(c, dict) for c in cases) or not cases:
        raise InputError("[[cases]] must be a non-empty array of tables")

    # 1. count every case's points from the axis definitions (nothing expanded yet)
    defined = []
    total = 0
    for ci, case in enumerate(cases):
        case = dict(case)
        case_grid = case.pop("grid", {})
        if not isinstance(case_grid, dict):
            raise InputError(f"cases[{ci}].grid must be a table of axes")
        axes_def = {k: v for k, v in {**grid, **case_grid}.items()}
        clash = set(axes_def) & set(case)
        if clash:
            raise InputError(
                f"cases[{ci}] sets {', '.join(sorted(clash))} both as a value and as an axis"
            )
        _check_plain(case)
        counts = {k: axis_count(k, v) for k, v in axes_def.items()}
        n = math.prod(counts.values())
        total += n
        if total > max_points:
            largest = max(counts, key=counts.get) if counts else None
            detail = f" (axis {largest!r} alone has {counts[largest]:,} values)" if largest else ""
            raise InputError(
                f"the grid has more than {max_points:,} runs{detail}; check the axis "
                "definitions, or raise the limit explicitly (ghostsym sweep --max-runs N)"
            )
        defined.append((case, axes_def, n))

    # 2. expand the axes (bounded now) and work out which settings vary
    plan_cases = []
    axis_names: list[str] = []
    for case, axes_def, n in defined:
        axes = {k: expand_axis(k, v, limit=max_points) for k, v in axes_def.items()}
        for k in axes:
            if k not in axis_names:
                axis_names.append(k)
        plan_cases.append(_Case({**base, **case}, axes, n))
    # Settings that differ between cases are axes too (e.g. model = "rank1" / "full").
    for key in sorted({k for c in cases for k in c if k != "grid"}):
        if key in axis_names:
            continue
        values = {json.dumps(c.fixed.get(key), sort_keys=True) for c in plan_cases}
        if len(values) > 1:
            axis_names.append(key)
    axes_values = {}
    for k in axis_names:
        collected = []
        for c in plan_cases:
            if c.count == 0:
                continue
            collected.extend(c.axes[k] if k in c.axes else [c.fixed.get(k)])
        axes_values[k] = _unique(collected)
    return SpecPlan(
        name=name,
        kind=kind,
        kind_ref=kind_ref,
        cases=plan_cases,
        axis_names=axis_names,
        axes=axes_values,
        count=total,
        storage=storage,
        seed_axis=str(meta.get("seed_axis", "seed")),
        rate_axis=str(meta.get("rate_axis", "lr")),
        description=str(meta.get("description", "")),
        source=source,
        overrides=overrides,
        version=_version(),
    )


def _version() -> str:
    from ghostsym.config import VERSION

    return VERSION


def _is_range(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _RANGES


def apply_overrides(data: dict, overrides: dict) -> dict:
    """The spec ``data`` with ``--set KEY=VALUE`` applied (a new dict; ``data`` is untouched).

    * KEY is an axis (of ``[grid]`` or of a case's grid): a list or a range table
      (``seed=[0,1]``, ``lr={logspace=[-4,-1,5]}``) replaces its values everywhere; a single
      value makes it an axis of that one value (``--set seed=0``: every run has seed 0, and
      the results still carry the ``seed`` coordinate).
    * KEY is not an axis and VALUE is a list or a range table: it becomes a new axis of every
      case (``--set 'seed=[0,1]'``), unless ``[base]`` holds a list or table for KEY (a
      list-valued setting such as ``checkpoints``): that setting is then replaced. (A
      list-valued setting absent from ``[base]`` is given as an axis of one value:
      ``--set 'checkpoints=[[0,100]]'``.)
    * Otherwise VALUE replaces the setting in ``[base]`` and in every case that sets KEY.
    """
    import copy

    data = copy.deepcopy(data)
    if not overrides:
        return data
    base = data.setdefault("base", {})
    grid = data.setdefault("grid", {})
    if not isinstance(base, dict) or not isinstance(grid, dict):
        return data  # refused with one line by plan_spec
    cases = data.get("cases")
    case_list = [c for c in cases if isinstance(c, dict)] if isinstance(cases, list) else []
    for key, value in overrides.items():
        as_axis = isinstance(value, list) or _is_range(value)
        case_grids = [
            c["grid"] for c in case_list if isinstance(c.get("grid"), dict) and key in c["grid"]
        ]
        is_axis = key in grid or bool(case_grids)
        listed_setting = isinstance(base.get(key), (list, dict))
        if is_axis or (as_axis and not listed_setting):
            values = value if as_axis else [value]
            grid[key] = values
            for g in case_grids:
                g[key] = values
            base.pop(key, None)
            for c in case_list:
                c.pop(key, None)
        else:
            base[key] = value
            for c in case_list:
                if key in c:
                    c[key] = value
    return data


def effective_source(data: dict, overrides: dict | None, text: str, path: str = "") -> str:
    """The TOML text stored as the results' ``spec.toml``: the spec with the ``--set``
    overrides applied (so that it reproduces the sweep), headed by the version, the file and
    the overrides, followed by the file as given (commented out)."""
    overrides = dict(overrides or {})
    lines = [f"# The sweep as run, written by ghostsym {_version()}."]
    if path:
        lines.append(f"# Spec file: {path}")
    if overrides:
        given = " ".join(f"--set {k}={_toml_value(v)}" for k, v in overrides.items())
        lines.append(f"# Overrides (applied below): {given}")
    else:
        lines.append("# Overrides: none")
    try:
        body = toml_text(apply_overrides(data, overrides))
    except (TypeError, ValueError):
        return text  # not representable (refused later with one line)
    lines += ["", body.rstrip("\n"), "", "# ---- the spec file as given ----"]
    lines += [f"# {line}".rstrip() for line in text.splitlines()]
    return "\n".join(lines) + "\n"


_BARE_KEY = __import__("re").compile(r"[A-Za-z0-9_-]+")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        inner = ", ".join(f"{_toml_key(str(k))} = {_toml_value(x)}" for k, x in v.items())
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"{v!r} is not a TOML value")


def toml_text(data: dict) -> str:
    """TOML text of a spec (tables ``[sweep]``, ``[base]``, ``[grid]``, ``[[cases]]``;
    ``tomllib.loads`` of it gives ``data`` back)."""
    out = []
    for name in ("sweep", "base", "grid"):
        table = data.get(name)
        if isinstance(table, dict) and (table or name != "grid"):
            out.append(f"[{name}]")
            out += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items()]
            out.append("")
    for case in data.get("cases") or []:
        out.append("[[cases]]")
        out += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in case.items()]
        out.append("")
    return "\n".join(out)


def registered_kinds() -> dict[str, str]:
    """name -> ``module:function`` of every run kind a spec may name: the built-in ones and
    those installed packages register in the entry-point group :data:`ENTRY_POINT_GROUP`."""
    from importlib.metadata import entry_points

    kinds = {}
    try:
        found = entry_points(group=ENTRY_POINT_GROUP)
    except Exception:  # noqa: BLE001 (a broken installed distribution must not stop a sweep)
        found = ()
    for ep in found:
        module, attr = getattr(ep, "module", ""), getattr(ep, "attr", "")
        if ep.name in RUN_KINDS or not module or not attr or not attr.isidentifier():
            continue  # a built-in name cannot be replaced; malformed entries are ignored
        kinds.setdefault(ep.name, f"{module}:{attr}")
    return {**RUN_KINDS, **kinds}


def resolve_kind(kind: str) -> str:
    """The ``module:function`` of a registered run kind; anything else is refused."""
    kinds = registered_kinds()
    if isinstance(kind, str) and kind in kinds:
        return kinds[kind]
    raise UnregisteredKindError(
        f"unknown run kind {kind!r}: a sweep file is data and may only name a registered run "
        f"kind ({', '.join(sorted(kinds))}); a package registers one with an entry point in "
        f"the group {ENTRY_POINT_GROUP!r}"
    )


def import_run_function(kind_ref: str):
    """Import the function behind a registered kind's ``module:function`` (on whichever
    process runs it); a reference that no kind registered here names is refused."""
    import importlib

    if kind_ref not in registered_kinds().values():
        raise UnregisteredKindError(
            f"run function {kind_ref!r} is not a run kind registered on this machine "
            f"(entry-point group {ENTRY_POINT_GROUP!r}); install the package that provides it"
        )
    module_name, _, func_name = kind_ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"cannot import run kind module {module_name!r}: {exc}") from None
    try:
        return getattr(module, func_name)
    except AttributeError:
        raise InputError(f"module {module_name!r} has no run function {func_name!r}") from None


def _validator(kind_ref: str):
    import importlib

    import_run_function(kind_ref)
    module_name, _, func_name = kind_ref.partition(":")
    return getattr(importlib.import_module(module_name), f"{func_name}_validate", None)


_RANGES = ("logspace", "linspace", "geomspace", "range")


def axis_count(name: str, value: Any) -> int:
    """Number of values of one axis, from its definition (checked; nothing is expanded)."""
    if isinstance(value, list):
        return len(value)
    if not isinstance(value, dict):
        raise InputError(f"axis {name!r} must be a list of values or a range table")
    if len(value) != 1:
        raise InputError(f"axis {name!r}: give exactly one of {', '.join(_RANGES)}")
    ((how, args),) = value.items()
    if how not in _RANGES:
        raise InputError(
            f"axis {name!r}: unknown range {how!r}; use logspace, linspace, geomspace or range"
        )
    if not isinstance(args, list) or not all(_is_number(a) and math.isfinite(a) for a in args):
        raise InputError(f"axis {name!r}: {how} needs a list of finite numbers")
    if how == "range":
        if len(args) not in (2, 3) or not all(isinstance(a, int) for a in args):
            raise InputError(f"axis {name!r}: range = [start, stop] or [start, stop, step]")
        start, stop, step = (*args, 1) if len(args) == 2 else args
        if step == 0:
            raise InputError(f"axis {name!r}: range step must not be 0")
        if step > 0:
            return max(0, (stop - start + step - 1) // step)
        return max(0, (start - stop - step - 1) // -step)
    if len(args) != 3 or args[2] != int(args[2]) or args[2] < 1:
        raise InputError(f"axis {name!r}: {how} = [start, stop, count] with count >= 1")
    if how == "geomspace" and (args[0] <= 0 or args[1] <= 0):
        raise InputError(f"axis {name!r}: geomspace needs positive start and stop")
    return int(args[2])


def expand_axis(name: str, value: Any, *, limit: int = MAX_POINTS) -> list:
    """The list of values of one axis (a list, or a table naming a numpy-style range); an axis
    of more than ``limit`` values is refused before it is expanded."""
    import numpy as np

    n = axis_count(name, value)
    if n > limit:
        raise InputError(
            f"axis {name!r} has {n:,} values, more than the limit of {limit:,} runs; check its "
            "definition, or raise the limit explicitly (ghostsym sweep --max-runs N)"
        )
    if isinstance(value, list):
        values = list(value)
    else:
        ((how, args),) = value.items()
        if how == "range":
            values = list(range(*args))
        else:
            values = [float(v) for v in getattr(np, how)(args[0], args[1], n)]
    if not values:
        raise InputError(f"axis {name!r} has no values")
    for v in values:
        if not isinstance(v, _SCALARS):
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
    value = value.strip()
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError as exc:
        if value[:1] in "[{\"'" or not value:
            raise InputError(
                f"--set {key}: {value!r} is not a TOML value ({exc}); e.g. --set 'seed=[0, 1]' "
                "or --set 'lr={ logspace = [-4, -1, 5] }'"
            ) from None
        parsed = value  # a bare word is a string: task=dcdt
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


_SCALARS = (str, int, float)  # bool is an int


def _unique(values: list) -> list:
    """``values`` without repeats, in order (compared as JSON: 1, 1.0 and true differ)."""
    seen, out = set(), []
    for v in values:
        key = (type(v), repr(v)) if isinstance(v, _SCALARS) else json.dumps(v, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def _describe(axes: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in axes.items())
