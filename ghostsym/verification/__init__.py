"""The verification framework behind ``ghostsym verify``.

A *check* compares one analytical prediction of the paper with a numerical measurement made
in the same run. Checks live one per file in the repository's ``verify/`` directory (installed
as ``ghostsym/_checks``; see :func:`verify_dir`)::

    from ghostsym.verification import Outcome, check

    @check(id="escape-time",
           claim="dx/dt = x^2 + r from x(0) = 0 escapes at t_esc = pi/(2 sqrt r).",
           reference="Eq. 13")
    def run(ctx):
        ...                       # measure, using ctx.profile / ctx.rng / ctx.options
        return Outcome(analytic=a, measured=m, tolerance=1e-6, why="…", passed=abs(m - a) <= …,
                       figure=path)

A check returns an :class:`Outcome` or a list of them (each with a distinct ``label``, built
with :func:`case_label`; the row id becomes ``id[label]``, see :func:`row_id`). An exception
inside a check makes that check fail with the exception's message; the other checks still run.

Rules every check follows (see README): the analytical value comes from the symbolic layer,
the measured value from a numerical experiment in this run, the tolerance is stated with its
reason, and ``passed`` is computed from them — never typed in.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ghostsym import config
from ghostsym.errors import DivergenceError, GhostsymError, InputError
from ghostsym.io import (
    claim_directory,
    directory_lock,
    json_text,
    save_figure,
    to_jsonable,
    writable_directory,
    write_atomic,
)
from ghostsym.progress import NoProgress, as_meter

PROFILES = ("quick", "full", "paper")
#: The first seed of a check's population at ``--seed 0`` (see :meth:`Context.seeds`).
SEED_BASE = 1000
#: How far ``--seed 1`` moves every population (and the largest population a check draws).
SEED_STRIDE = 10_000
#: The largest ``--seed`` offset (every seed stays below 2**31).
MAX_SEED_OFFSET = 100_000
#: Where :func:`verify` writes its report, relative to the working directory.
DEFAULT_OUT = "verify-report"


#: The statuses of a report row, in the order the report shows them.
STATUSES = ("error", "fail", "disagrees", "skipped", "pass")


@dataclass
class Outcome:
    """The result of one check (or of one labelled case of a check).

    ``passed`` is the verdict of the check's pre-registered rule on the paper's claim.
    ``rule`` states that rule in words and ``false_fail`` the probability that it fails when
    the claim holds (None where the check is deterministic). ``disagrees`` is set — to the
    finding, in one sentence — only when a documented finding's own pre-registered rule
    holds: the measurement contradicts a sentence of the paper (the row's status is then
    ``disagrees``, not ``fail``; see :func:`status_of`). ``skipped`` is the reason a case
    could not be measured (e.g. a field without the quantity). ``details`` holds numbers
    (and small tables: a dict of equal-length lists, or a list of flat dicts).
    """

    analytic: Any
    measured: Any
    tolerance: Any
    why: str
    passed: bool
    figure: str | os.PathLike | None = None
    label: str | None = None
    details: dict = field(default_factory=dict)
    rule: str = ""
    false_fail: float | None = None
    disagrees: str | None = None
    skipped: str | None = None

    @classmethod
    def relative(cls, analytic: float, measured: float, rtol: float, why: str, **kwargs):
        """Pass when ``|measured - analytic| <= rtol * |analytic|``."""
        err = abs(measured - analytic) / abs(analytic) if analytic != 0 else abs(measured)
        details = {"relative_error": err, **kwargs.pop("details", {})}
        return cls(
            analytic,
            measured,
            f"relative error <= {rtol:g}",
            why,
            bool(np.isfinite(err) and err <= rtol),
            details=details,
            **kwargs,
        )


def status_of(outcome: Outcome) -> str:
    """``pass`` when the rule holds; else ``skipped`` (with a reason), ``disagrees`` (a
    documented finding confirmed by its own rule) or ``fail``."""
    if outcome.skipped:
        return "skipped"
    if bool(outcome.passed):
        return "pass"
    return "disagrees" if outcome.disagrees else "fail"


@dataclass(frozen=True)
class Check:
    id: str
    claim: str
    reference: str
    func: Callable
    profiles: tuple[str, ...] = PROFILES
    source: str = ""
    normal_forms: bool = False


@dataclass
class Context:
    """What a check gets: the profile, a seeded RNG, the output directory and options."""

    profile: str
    out_dir: Path
    check_id: str
    seed: int = 0
    options: dict = field(default_factory=dict)
    progress: Any = field(default_factory=NoProgress)

    def __post_init__(self):
        # One independent, reproducible stream per check.
        self.rng = np.random.default_rng([self.seed, _stable_hash(self.check_id)])

    def seeds(self, n: int) -> list[int]:
        """``n`` network or start seeds for this run: ``SEED_BASE + SEED_STRIDE * seed`` on.

        ``ghostsym verify --seed S`` shifts every population by ``S * SEED_STRIDE``, so each
        offset draws fresh seeds; the base keeps the default populations clear of the small
        seeds (0–99) used while the checks were designed.
        """
        n = int(n)
        if not 0 < n <= SEED_STRIDE:
            raise ValueError(f"a check asks for 1..{SEED_STRIDE} seeds, not {n}")
        base = SEED_BASE + SEED_STRIDE * int(self.seed)
        return list(range(base, base + n))

    def figure_path(self, name: str | None = None) -> Path:
        fig_dir = self.out_dir / "figures"
        fig_dir.mkdir(parents=True, exist_ok=True)
        stem = self.check_id if name is None else f"{self.check_id}-{name}"
        return fig_dir / f"{_file_safe(stem)}.png"

    def save_figure(self, fig, outcomes=(), name: str | None = None, dpi: int = 110) -> Path:
        """Write ``fig`` to :meth:`figure_path`, close it, and attach the path to ``outcomes``."""
        import matplotlib.pyplot as plt

        path = save_figure(fig, self.figure_path(name), dpi=dpi)
        plt.close(fig)
        for outcome in outcomes:
            outcome.figure = path
        return path

    def pick(self, quick, full, paper=None):
        """Choose a setting by profile (``paper`` defaults to ``full``)."""
        return {"quick": quick, "full": full, "paper": full if paper is None else paper}[
            self.profile
        ]


def case_label(field=None, case: str | None = None) -> str:
    """The label of one case of a check: ``field:case``, ``field`` or ``case``.

    ``field`` is a normal form (or anything whose ``str`` is its canonical print): it is
    always printed as ``str(field)`` (SymPy's print of the field, e.g. ``r + x**2``), never as
    the text a user typed, so one field has one spelling in every row id.
    """
    parts = [str(p) for p in (field, case) if p is not None]
    if not parts or any(not p for p in parts):
        raise ValueError("a case label needs a non-empty field or case")
    return ":".join(parts)


def row_id(check_id: str, label: str | None = None) -> str:
    """The id of one report row: ``check`` or ``check[label]`` (label from :func:`case_label`)."""
    return check_id if label is None else f"{check_id}[{label}]"


def population_outcome(
    label,
    flags,
    seeds,
    claim: str,
    why: str,
    figure=None,
    details: dict | None = None,
    *,
    fraction: float = 0.5,
    confidence: float = 0.99,
    finding: str | None = None,
    findings: bool = True,
) -> Outcome:
    """The Outcome of "at least a ``fraction`` of the networks show ``claim``".

    Rule (docs/verification.md §1): pass when at least k_min of the n counted networks show
    it, k_min the strictest count whose false-fail probability at ``fraction`` is
    ≤ 1 − ``confidence`` (:func:`~ghostsym.analysis.statistics.strictest_count`); the finding
    (``disagrees``, text ``finding``) when the ``confidence`` Clopper–Pearson upper bound of
    the fraction is below ``fraction`` (only where ``findings``: a budget shorter than the
    paper's makes a shortfall a plain fail). ``flags``: per network True/False, or None for a
    network not counted (e.g. one that never learned). Too few counted networks for any rule
    at that level: ``skipped``, with the counts, never a coin flip.
    """
    from ghostsym.analysis.statistics import (
        clopper_pearson,
        false_fail_at_least,
        fewest_decisive,
        strictest_count,
    )

    counted = [bool(f) for f in flags if f is not None]
    n, k = len(counted), int(sum(counted))
    level = 1.0 - confidence
    table = {"seed": list(seeds), "shows": [None if f is None else int(bool(f)) for f in flags]}
    table.update(details or {})
    k_min = strictest_count(n, fraction, level) if n else 0
    if k_min == 0:
        need = fewest_decisive(fraction, level)
        return Outcome(
            analytic={"claimed_fraction": fraction},
            measured={"networks": k, "of": n, "fraction": k / n if n else None},
            tolerance=f">= {need} networks counted",
            why=why,
            passed=False,
            figure=figure,
            label=label,
            details={"networks": table},
            rule=claim,
            skipped=f"{n} networks counted ({k} show it): below {need} no count rule on "
            f"p >= {fraction:g} reaches a {level:.0%} false-fail probability; a larger "
            "population (full profile) decides",
        )
    ff = false_fail_at_least(k_min, n, fraction)
    lo, hi = clopper_pearson(k, n, confidence, "two")
    upper = clopper_pearson(k, n, confidence, "upper")[1]
    passed = k >= k_min
    disagrees = None
    if findings and not passed and upper < fraction:
        disagrees = (finding or f"fewer than {fraction:g} of the networks show: {claim}") + (
            f" ({k} of {n}; {confidence:.0%} upper bound {upper:.2f} < {fraction:g})"
        )
    return Outcome(
        analytic={"claimed_fraction": fraction},
        measured={"networks": k, "of": n, "fraction": k / n, "ci_low": lo, "ci_high": hi},
        tolerance=f">= {k_min} of {n} networks",
        why=why,
        passed=bool(passed),
        figure=figure,
        label=label,
        details={"networks": table},
        rule=f"{claim}: pass when >= {k_min} of {n} networks show it (P(Bin({n}, {fraction:g})"
        f" < {k_min}) = {ff:.2%}); disagrees when the {confidence:.0%} Clopper-Pearson upper "
        f"bound is < {fraction:g}",
        false_fail=ff,
        disagrees=disagrees,
    )


def _stable_hash(text: str) -> int:
    h = 0
    for ch in text.encode():
        h = (h * 131 + ch) % (2**31 - 1)
    return h


def _file_safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


# -- registration and discovery ----------------------------------------------------------
_REGISTRY: dict[str, Check] = {}


def check(
    *,
    id: str,
    claim: str,
    reference: str,
    profiles: Sequence[str] = PROFILES,
    normal_forms: bool = False,
):
    """Decorator registering a verification check (see the module docstring).

    ``normal_forms=True`` marks a check that also runs for the normal forms given with
    ``ghostsym verify --normal-form EXPR`` (read from ``ctx.options["normal_forms"]``); when
    such forms are given and no check ids are named, only these checks run.
    """

    def wrap(func):
        if id in _REGISTRY and _REGISTRY[id].func.__code__ != func.__code__:
            raise RuntimeError(f"duplicate verification check id {id!r}")
        source = getattr(sys.modules.get(func.__module__), "__file__", "") or ""
        _REGISTRY[id] = Check(id, claim, reference, func, tuple(profiles), source, normal_forms)
        return func

    return wrap


def verify_dir() -> Path:
    """Where the check files are: ``$GHOSTSYM_VERIFY_DIR`` if set; else, in a regular install,
    ``ghostsym/_checks`` (the top-level ``verify/`` folder, installed there by pyproject.toml);
    else — a checkout, editable install or not — ``verify/`` beside the ``ghostsym`` package."""
    env = os.environ.get(config.VERIFY_DIR_ENV)
    if env:
        return Path(env)
    package = Path(__file__).resolve().parent.parent
    installed = package / "_checks"
    return installed if installed.is_dir() else package.parent / "verify"


def discover(directory: Path | None = None) -> dict[str, Check]:
    """Import every ``verify/*.py`` file and return the registered checks by id, in file order."""
    directory = Path(directory) if directory is not None else verify_dir()
    if not directory.is_dir():
        raise GhostsymError(f"verification directory not found: {directory}")
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        _import_check_file(path)
    return dict(_REGISTRY)


def _import_check_file(path: Path) -> None:
    """Import one check file (once) under the name ``ghostsym_verify_<stem>``."""
    modname = f"ghostsym_verify_{path.stem}"
    if modname in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(modname, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    spec.loader.exec_module(module)


def sibling_check(file: str | os.PathLike, stem: str):
    """The check module ``stem`` beside the check file ``file`` (imported once, under the
    name :func:`discover` gives it), for checks that share another check's population."""
    path = Path(file).with_name(f"{stem}.py")
    _import_check_file(path)
    return sys.modules[f"ghostsym_verify_{path.stem}"]


@dataclass(frozen=True)
class CheckInfo:
    """What ``ghostsym verify --list`` shows of a check, read without running its file."""

    id: str
    claim: str
    reference: str
    profiles: tuple[str, ...] = PROFILES
    normal_forms: bool = False
    source: str = ""


def _decorator_info(path: Path) -> list[CheckInfo] | None:
    """The ``@check(...)`` keyword literals of one check file, parsed with :mod:`ast` (nothing
    is imported or executed); ``None`` when a keyword is not a literal or the file does not
    parse, so that the caller imports it instead."""
    import ast

    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return None
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for deco in node.decorator_list:
            func = deco.func if isinstance(deco, ast.Call) else None
            name = getattr(func, "id", None) or getattr(func, "attr", None)
            if name != "check":
                continue
            if deco.args or any(k.arg is None for k in deco.keywords):
                return None
            try:
                kw = {k.arg: ast.literal_eval(k.value) for k in deco.keywords}
            except ValueError:
                return None
            if not {"id", "claim", "reference"} <= kw.keys() or not all(
                isinstance(kw[k], str) for k in ("id", "claim", "reference")
            ):
                return None
            found.append(
                CheckInfo(
                    kw["id"],
                    kw["claim"],
                    kw["reference"],
                    tuple(kw.get("profiles", PROFILES)),
                    bool(kw.get("normal_forms", False)),
                    str(path),
                )
            )
    return found


def list_checks(directory: Path | None = None) -> list[CheckInfo]:
    """The checks of ``verify/*.py`` in file order, as :func:`discover` finds them, but read
    from the ``@check(...)`` decorators' literal keywords (no check file is imported, so
    neither SymPy nor numba is loaded: ``ghostsym verify --list`` answers at once). A file
    whose decorator is not all literals is imported, as :func:`discover` does."""
    directory = Path(directory) if directory is not None else verify_dir()
    if not directory.is_dir():
        raise GhostsymError(f"verification directory not found: {directory}")
    infos: dict[str, CheckInfo] = {}
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        parsed = _decorator_info(path)
        if parsed is None:
            _import_check_file(path)
            parsed = [
                CheckInfo(c.id, c.claim, c.reference, c.profiles, c.normal_forms, c.source)
                for c in _REGISTRY.values()
                if c.source and Path(c.source).resolve() == path.resolve()
            ]
        for info in parsed:
            if info.id in infos and infos[info.id].source != info.source:
                raise GhostsymError(f"duplicate verification check id {info.id!r}")
            infos[info.id] = info
    return list(infos.values())


def select(
    checks: dict[str, Check], ids: Sequence[str], profile: str, normal_forms_only: bool = False
) -> list[Check]:
    if profile not in PROFILES:
        raise InputError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    if ids:
        unknown = [i for i in ids if i not in checks]
        if unknown:
            raise InputError(
                f"unknown check id(s): {', '.join(unknown)}; known: {', '.join(sorted(checks))}"
            )
        return [checks[i] for i in dict.fromkeys(ids)]
    return [
        c
        for c in checks.values()
        if profile in c.profiles and (c.normal_forms or not normal_forms_only)
    ]


# -- running --------------------------------------------------------------------------------
@dataclass
class Row:
    """One report row: one case of a check (``id`` from :func:`row_id`).

    ``seconds`` is the whole check's time (every row of a check carries the same value; the
    table and ``report.md`` print it once, on the check's first row); ``check`` is the id of
    the check the row belongs to.
    """

    id: str
    claim: str
    reference: str
    analytic: Any
    measured: Any
    tolerance: Any
    why: str
    status: str
    seconds: float
    figure: str | None
    details: dict = field(default_factory=dict)
    error: str | None = None
    check: str = ""
    rule: str = ""
    false_fail: float | None = None
    finding: str | None = None
    skipped: str | None = None
    #: Where this row was measured: commit, dirty, written (UTC), backend — a merged report
    #: keeps each row's own, so rows of earlier runs are not passed off as this run's.
    run: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.check:
            self.check = self.id.split("[", 1)[0]

    def as_json(self) -> dict:
        return {k: _jsonable(v) for k, v in self.__dict__.items()}


_jsonable = to_jsonable


def run_check(chk: Check, ctx: Context) -> list[Row]:
    start = time.perf_counter()
    try:
        result = chk.func(ctx)
        outcomes = result if isinstance(result, list) else [result]
        if not outcomes or not all(isinstance(o, Outcome) for o in outcomes):
            raise TypeError(f"check {chk.id} must return an Outcome or a list of Outcomes")
    except (GhostsymError, DivergenceError, FloatingPointError, ArithmeticError) as exc:
        return [_error_row(chk, exc, time.perf_counter() - start)]
    except Exception as exc:  # a crashed check is an ``error`` row, not a crashed command
        tb = traceback.format_exc(limit=-3)
        return [_error_row(chk, exc, time.perf_counter() - start, tb)]
    seconds = time.perf_counter() - start
    rows = []
    for o in outcomes:
        rid = row_id(chk.id, o.label)
        fig = None
        if o.figure is not None:
            fig = os.path.relpath(Path(o.figure), ctx.out_dir)
        rows.append(
            Row(
                rid,
                chk.claim,
                chk.reference,
                o.analytic,
                o.measured,
                o.tolerance,
                o.why,
                status_of(o),
                seconds,
                fig,
                o.details,
                check=chk.id,
                rule=o.rule,
                false_fail=None if o.false_fail is None else float(o.false_fail),
                finding=o.disagrees,
                skipped=o.skipped,
            )
        )
    return rows


def _error_row(chk: Check, exc: BaseException, seconds: float, tb: str | None = None) -> Row:
    message = f"{type(exc).__name__}: {exc}"
    return Row(
        chk.id,
        chk.claim,
        chk.reference,
        None,
        None,
        None,
        "",
        "error",
        seconds,
        None,
        {"traceback": tb} if tb else {},
        error=message,
        check=chk.id,
    )


def run_checks(
    checks: Sequence[Check],
    *,
    profile: str,
    out_dir: Path,
    seed: int = 0,
    options: dict | None = None,
    progress=None,
    on_row=None,
) -> list[Row]:
    """Run ``checks`` in order; ``on_row(row)`` is called as each result arrives.

    ``progress``: True (a bar), False/None (silent) or a meter (:func:`ghostsym.progress.as_meter`).
    """
    progress = as_meter(progress, unit="check")
    rows: list[Row] = []
    progress.start(len(checks), "verify")
    for chk in checks:
        progress.set_description(f"verify {chk.id}")
        ctx = Context(
            profile=profile,
            out_dir=out_dir,
            check_id=chk.id,
            seed=seed,
            options=dict(options or {}),
        )
        new = run_check(chk, ctx)
        rows.extend(new)
        if on_row is not None:
            for row in new:
                on_row(row)
        progress.update(1)
    progress.close()
    return rows


def verify(
    checks: Sequence[str] = (),
    *,
    profile: str = "quick",
    out_dir: str | os.PathLike = DEFAULT_OUT,
    seed: int = 0,
    normal_forms: Sequence[str] = (),
    threshold: str | None = None,
    progress=False,
    on_row: Callable[[Row], None] | None = None,
    directory: Path | None = None,
) -> list[Row]:
    """Run verification checks as ``ghostsym verify`` does; return their rows.

    ``checks`` are check ids (default: every check of ``profile``; with ``normal_forms`` and
    no ids, only the normal-form checks). ``report.md``, ``results.json`` and ``figures/`` are
    written to ``out_dir`` (relative to the working directory); a report already there of
    the same profile and seed offset is merged (re-run checks replace their old rows), one of
    another profile or offset is refused. ``normal_forms`` are extra
    fields f(x; r) for the normal-form checks (e.g. ``["x**4 + r"]``), with the output
    threshold ``threshold`` (text as for ``ghostsym derive --threshold``; default oo);
    a field that cannot be derived is refused before any check runs; ``progress`` is
    True, False or a meter; ``directory`` overrides where the check files are
    (:func:`verify_dir`). Bad input (an unknown id or profile, a malformed normal form, an
    unwritable ``out_dir``) raises :class:`~ghostsym.errors.InputError` before any check runs.
    """
    if isinstance(checks, str):
        checks = [checks]
    selected = select(
        discover(directory), list(checks), profile, normal_forms_only=bool(normal_forms)
    )
    if threshold is not None and not normal_forms:
        raise InputError("--threshold applies to the fields of --normal-form; give one")
    if normal_forms:
        # Refuse at once, with derive's message, what cannot be checked (unknown symbols, no
        # state, no ghost); the numerics built here are cached for the checks.
        from ghostsym.analysis.normal_form_numerics import checked_normal_forms
        from ghostsym.errors import NotDerivableError

        try:
            checked_normal_forms(
                {"normal_forms": list(normal_forms), "threshold": threshold}, defaults=()
            )
        except NotDerivableError as exc:
            raise InputError(str(exc)) from None
    if not 0 <= int(seed) <= MAX_SEED_OFFSET:
        raise InputError(f"the seed offset must lie in 0..{MAX_SEED_OFFSET}, got {seed}")
    out = claim_directory(writable_directory(out_dir), "verify", legacy=_legacy_report)
    with directory_lock(out, "ghostsym verify"):
        previous = read_results(out)
        if previous is not None and (
            previous.get("profile") != profile or int(previous.get("seed_offset", 0)) != int(seed)
        ):
            raise InputError(
                f"{out} holds a report of profile {previous.get('profile')} at seed offset "
                f"{previous.get('seed_offset', 0)}; give another --out for profile {profile} "
                f"at seed offset {seed}"
            )
        start = time.perf_counter()
        rows = run_checks(
            selected,
            profile=profile,
            out_dir=out,
            seed=seed,
            options={"normal_forms": list(normal_forms), "threshold": threshold},
            progress=progress,
            on_row=on_row,
        )
        seconds = time.perf_counter() - start
        prov = _provenance(profile=profile, seed_offset=seed, backend=_backend())
        run = {k: prov[k] for k in ("commit", "dirty", "written", "backend")}
        for row in rows:
            row.run = dict(run)
        merged = rows
        if previous is not None:
            merged = merge_rows([_row_from_json(r) for r in previous.get("checks", [])], rows)
        write_report(merged, out, profile=profile, seconds=seconds, seed=seed, provenance=prov)
    return rows


def _legacy_report(path: Path) -> bool:
    """An unmarked directory holding a report an earlier ghostsym wrote (results.json with
    its profile and checks): accepted and marked; anything else unmarked is refused."""
    import json

    try:
        data = json.loads((Path(path) / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and {"profile", "checks"} <= set(data)


def _backend() -> str:
    from ghostsym.training.cuda_engine import BACKEND_ENV

    return os.environ.get(BACKEND_ENV) or "cpu"


def _provenance(**extra) -> dict:
    from ghostsym.provenance import provenance

    return provenance(**extra)


# -- reporting ------------------------------------------------------------------------------
def format_value(value, digits: int = 5) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={format_value(v, digits)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v, digits) for v in value) + "]"
    return str(value)


def _first_of_check(rows: Sequence[Row]) -> list[bool]:
    """For each row, whether it is the first row of its check (where its time is printed)."""
    seen: set[str] = set()
    first = []
    for r in rows:
        first.append(r.check not in seen)
        seen.add(r.check)
    return first


def table(rows: Sequence[Row]) -> str:
    """The plain-text table ``ghostsym verify`` prints; a check's seconds on its first row."""
    header = ("check", "status", "analytic", "measured", "seconds")
    body = [
        (
            r.id,
            r.status.upper(),
            _clip(format_value(r.analytic)),
            _clip(format_value(r.measured) if r.error is None else r.error),
            f"{r.seconds:.1f}" if first else "",
        )
        for r, first in zip(rows, _first_of_check(rows), strict=True)
    ]
    widths = [
        max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)).rstrip() for b in body]
    return "\n".join(lines)


def _clip(text: str, n: int = 48) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def order_rows(rows: Sequence[Row]) -> list[Row]:
    """Rows with errors, failures and disagreements first (stable within a status)."""
    rank = {st: k for k, st in enumerate(STATUSES)}
    return sorted(rows, key=lambda r: rank.get(r.status, 0))


def counts(rows: Sequence[Row]) -> dict[str, int]:
    """How many rows have each status (every status listed, zeros included)."""
    return {st: sum(r.status == st for r in rows) for st in STATUSES}


#: ``ghostsym verify``'s exit statuses (see :func:`exit_status`).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CRASHED = 0, 1, 2, 3


def exit_status(rows: Sequence[Row], strict: bool = False) -> int:
    """0 when every row passes, is skipped or disagrees as documented (``strict``: a
    disagreement fails too); 3 when a check crashed; else 1 when a row failed."""
    c = counts(rows)
    if c["error"]:
        return EXIT_CRASHED
    if c["fail"] or (strict and c["disagrees"]):
        return EXIT_FAILED
    return EXIT_OK


def summary_line(rows: Sequence[Row]) -> str:
    c = counts(rows)
    parts = [f"{c['pass']}/{len(rows)} checks passed"]
    parts += [f"{c[st]} {st}" for st in ("disagrees", "fail", "error", "skipped") if c[st]]
    return ", ".join(parts)


def _row_from_json(data: dict) -> Row:
    names = set(Row.__dataclass_fields__)
    return Row(**{k: v for k, v in data.items() if k in names})


def read_results(out_dir: Path) -> dict | None:
    """The ``results.json`` that :func:`write_report` wrote in ``out_dir``, or None when there
    is none (or it is not one of ours: then it is left alone and not merged)."""
    path = Path(out_dir) / "results.json"
    if not path.is_file():
        return None
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT:
        return None
    return data


#: The ``format`` tag of a ``results.json`` this module writes.
RESULTS_FORMAT = "ghostsym-verify-1"


def merge_rows(old: Sequence[Row], new: Sequence[Row]) -> list[Row]:
    """``old`` rows with every row of a re-run check replaced by the new rows of that check
    (a check re-run replaces all of its old rows, so no stale case survives); the rows of
    checks not re-run keep their place, new checks are appended."""
    rerun = {r.check for r in new}
    merged, placed = [], set()
    for r in old:
        if r.check in rerun:
            if r.check not in placed:
                merged += [n for n in new if n.check == r.check]
                placed.add(r.check)
            continue
        merged.append(r)
    merged += [n for n in new if n.check not in placed]
    return merged


def write_report(
    rows: Sequence[Row],
    out_dir: Path,
    *,
    profile: str,
    seconds: float,
    seed: int = 0,
    provenance: dict | None = None,
) -> None:
    """Write ``results.json`` and ``report.md`` (figures embedded once) atomically.

    ``results.json`` keeps numbers as numbers (``analytic``, ``measured``, ``details``) and
    prose in its own fields (``claim``, ``rule``, ``why``, ``tolerance``, ``finding``).
    """

    out_dir = Path(out_dir)
    prov = provenance or _provenance(profile=profile, seed_offset=seed, backend=_backend())
    c = counts(rows)
    payload = {
        "format": RESULTS_FORMAT,
        "profile": profile,
        "seed_offset": seed,
        "counts": c,
        "passed": c["pass"],
        "failed": len(rows) - c["pass"] - c["disagrees"] - c["skipped"],
        "seconds": seconds,
        "provenance": prov,
        "checks": [r.as_json() for r in rows],
    }
    write_atomic(out_dir / "results.json", json_text(payload, indent=2))
    write_atomic(out_dir / "report.md", report_markdown(rows, payload))


_BADGE = {
    "pass": "✅ pass",
    "fail": "❌ fail",
    "disagrees": "⚠️ disagrees",
    "error": "💥 error",
    "skipped": "⏭ skipped",
}


def report_markdown(rows: Sequence[Row], payload: dict) -> str:
    prov = payload.get("provenance", {})
    profile, seconds = payload["profile"], payload["seconds"]
    md = [
        "# ghostsym verification report",
        "",
        f"Profile `{profile}`, seed offset {payload.get('seed_offset', 0)}: "
        f"{summary_line(rows)} ({seconds:.1f} s for the checks run last).",
        "",
        _provenance_line(prov),
    ]
    commits = sorted({(r.run or {}).get("commit") or "unknown" for r in rows})
    dirty = any((r.run or {}).get("dirty") for r in rows)
    if len(commits) > 1 or dirty:
        md += [
            "",
            f"The rows were measured by {len(commits)} run(s) merged into this report "
            f"(commits {', '.join(c[:12] for c in commits)}"
            f"{'; some in a modified checkout' if dirty else ''}): each row's own commit, "
            "time and backend are in results.json (`run`).",
        ]
    ordered = order_rows(rows)
    notable = [r for r in ordered if r.status in ("error", "fail", "disagrees")]
    if notable:
        md += ["", "## Failures, errors and disagreements with the paper", ""]
        for r in notable:
            text = r.error or r.finding or r.why
            md.append(f"- {_BADGE[r.status]} `{_md(r.id)}` ({r.reference}): {_md(text or '')}")
    md += [
        "",
        "## All rows",
        "",
        "| check | reference | status | analytic | measured | rule | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for r, first in zip(ordered, _first_of_check(ordered), strict=True):
        measured = format_value(r.measured) if r.error is None else f"error: {r.error}"
        md.append(
            f"| `{_md(r.id)}` | {r.reference} | {_BADGE.get(r.status, r.status)} | "
            f"{_md(format_value(r.analytic))} | {_md(measured)} | "
            f"{_md(format_value(r.tolerance))} | {f'{r.seconds:.1f}' if first else ''} |"
        )
    shown: dict[str, str] = {}  # figure -> the row id under which it is embedded
    firsts = _first_of_check(rows)
    for r, first in zip(rows, firsts, strict=True):
        if first:
            md += ["", f"## {r.check}", "", f"**Claim** ({r.reference}): {r.claim}", ""]
            md.append(f"Time: {r.seconds:.2f} s.")
        md += ["", f"### `{r.id}` — {r.status}", ""]
        if r.error:
            md.append(f"- error: `{r.error}`")
        if r.finding:
            md.append(f"- **finding**: {r.finding}")
        if r.skipped:
            md.append(f"- skipped: {r.skipped}")
        md.append(f"- analytic: {format_value(r.analytic, 8)}")
        md.append(f"- measured: {format_value(r.measured, 8)}")
        md.append(f"- rule: {format_value(r.tolerance)}" + (f" — {r.rule}" if r.rule else ""))
        if r.false_fail is not None:
            md.append(f"- false-fail probability of the rule: {r.false_fail:.2g}")
        if r.why:
            md.append(f"- why: {r.why}")
        extra = {k: v for k, v in r.details.items() if k != "traceback"}
        if extra:
            md += ["", *details_markdown(extra)]
        if r.figure and r.figure in shown:
            md += ["", f"- figure: `{r.figure}` (shown under `{shown[r.figure]}`)"]
        elif r.figure:
            shown[r.figure] = r.id
            md += ["", f"![{r.check}]({r.figure})"]
    return "\n".join(md) + "\n"


def _provenance_line(prov: dict) -> str:
    if not prov:
        return ""
    commit = prov.get("commit")
    commit_text = (
        f"commit `{commit[:12]}`{' (modified)' if prov.get('dirty') else ''}"
        if commit
        else "no git checkout"
    )
    libs = ", ".join(f"{k} {v}" for k, v in (prov.get("libraries") or {}).items() if v)
    return (
        f"ghostsym {prov.get('ghostsym')}, {commit_text}; `{_md(str(prov.get('command', '')))}`; "
        f"Python {prov.get('python')} on {prov.get('platform')}; {libs}; "
        f"written {prov.get('written')}."
    )


#: The most rows a details table shows (the rest are counted, and are in results.json).
MAX_TABLE_ROWS = 40


def details_markdown(details: dict) -> list[str]:
    """A row's details as small Markdown tables: scalars in one two-column table; a dict of
    equal-length lists as a table with one column per key; a list of flat dicts as a table;
    a dict of scalars as a two-column table; anything else as a value."""
    scalars = {k: v for k, v in details.items() if _is_scalar(v)}
    lines: list[str] = []
    if scalars:
        lines += ["| detail | value |", "|---|---|"]
        lines += [f"| {_md(str(k))} | {_md(format_value(v, 6))} |" for k, v in scalars.items()]
    for key, value in details.items():
        if key in scalars:
            continue
        table_lines = _table_of(value)
        lines += ["", f"**{_md(str(key))}**", ""]
        lines += table_lines if table_lines else [_md(_clip(format_value(value, 6), 400))]
    return lines


def _is_scalar(v) -> bool:
    return v is None or isinstance(v, (str, bool, int, float, np.integer, np.floating))


def _table_of(value) -> list[str]:
    if isinstance(value, dict) and value and all(_is_scalar(v) for v in value.values()):
        rows = list(value.items())
        head = ["| key | value |", "|---|---|"]
        body = [f"| {_md(str(k))} | {_md(format_value(v, 6))} |" for k, v in rows]
        return head + _clip_rows(body)
    if (
        isinstance(value, dict)
        and value
        and all(
            isinstance(v, (list, tuple)) and all(_is_scalar(x) for x in v) for v in value.values()
        )
    ):
        lengths = {len(v) for v in value.values()}
        if len(lengths) == 1:
            keys = list(value)
            head = ["| " + " | ".join(_md(str(k)) for k in keys) + " |"]
            head.append("|" + "---|" * len(keys))
            body = [
                "| " + " | ".join(_md(format_value(value[k][i], 6)) for k in keys) + " |"
                for i in range(lengths.pop())
            ]
            return head + _clip_rows(body)
    if (
        isinstance(value, (list, tuple))
        and value
        and all(isinstance(v, dict) and all(_is_scalar(x) for x in v.values()) for v in value)
    ):
        keys = list(dict.fromkeys(k for v in value for k in v))
        head = ["| " + " | ".join(_md(str(k)) for k in keys) + " |"]
        head.append("|" + "---|" * len(keys))
        body = [
            "| " + " | ".join(_md(format_value(v.get(k), 6)) for k in keys) + " |" for v in value
        ]
        return head + _clip_rows(body)
    return []


def _clip_rows(body: list[str]) -> list[str]:
    if len(body) <= MAX_TABLE_ROWS:
        return body
    return body[:MAX_TABLE_ROWS] + [f"| … {len(body) - MAX_TABLE_ROWS} more rows (results.json) |"]


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
