"""``ghostsym sweep SPEC``: run a grid of trainings locally or on a Dask cluster, resumably."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ghostsym.cli._common import positive_float, positive_int

DEFAULT_ROOT = "sweeps"
#: ``--dry-run`` lists at most this many points (then says how many more there are).
DRY_RUN_LIST = 1000


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="run a grid of trainings (local cores or a Dask cluster), resumable",
        description="Run every point of the TOML grid SPEC (see examples/sweeps/) and store "
        "each run in --out. Re-running the same command after an interruption skips stored "
        "runs and does the rest. Runs that diverge or raise are stored as failed with their "
        "reason; exit status 1 only if some run could not be executed at all. --out must be "
        "new, empty or a results directory of this sweep (or of a smaller grid that this spec "
        "extends); a spec file is data and may only name a registered run kind.",
    )
    p.add_argument("spec", metavar="SPEC", help="sweep specification (TOML)")
    p.add_argument(
        "--out",
        metavar="DIR",
        help=f"results directory (default: ./{DEFAULT_ROOT}/<name from the spec>)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask scheduler address (e.g. tcp://10.0.0.1:8786); default: local processes",
    )
    p.add_argument(
        "--connect-timeout",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="seconds to wait for the Dask scheduler to answer (default: 10)",
    )
    p.add_argument(
        "--worker-timeout",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="with --scheduler: stop (run the same command again later) when no worker has "
        "been connected for SECONDS, at the start or after all were lost (default: 60)",
    )
    p.add_argument(
        "--max-runs",
        type=positive_int,
        default=None,
        metavar="N",
        help="refuse grids of more than N runs, counted before anything is expanded "
        "(default: 1000000)",
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="local worker processes (default: every core this process may use)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="set KEY to a TOML value everywhere (repeatable; default: none): a [base] "
        "setting (--set epochs=2000), or an axis: a list or range table replaces or makes the "
        "axis (--set 'seed=[0,1]', --set 'lr={logspace=[-4,-1,5]}'), a single value on an "
        "axis makes it an axis of that one value (--set seed=0). The results' spec.toml is "
        "the spec with these applied (docs/sweeps.md)",
    )
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="re-run runs stored as failed (default: keep them)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="count the points from the axis definitions, check the values of every axis "
        "with the kind's validator, print the resolved grid and the cost (network-epochs, "
        "and the expected time from a calibration run of a few seconds, plus the one-off "
        f"kernel compile), list the first {DRY_RUN_LIST} points and exit; writes nothing in "
        "the results directory (the real run checks every point; default: run the sweep)",
    )
    p.add_argument(
        "--backend",
        choices=("cpu", "cuda", "auto"),
        default=None,
        help="where the rnn kind trains: cpu, cuda (an NVIDIA GPU, docs/gpu.md) or auto; "
        "local workers inherit it, Dask workers read $GHOSTSYM_BACKEND on their machine "
        "(default: $GHOSTSYM_BACKEND, else cpu). Results agree with the CPU's to the "
        "tolerance of docs/gpu.md §2, not bit for bit",
    )
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bar (default: a bar on stderr)"
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from ghostsym.errors import InputError
    from ghostsym.progress import NoProgress, TqdmProgress
    from ghostsym.sweeps.run import (
        CONNECT_TIMEOUT,
        WORKER_TIMEOUT,
        check_scheduler_address,
        parse_override,
        run_sweep,
    )
    from ghostsym.sweeps.spec import MAX_POINTS, plan_from_file

    if args.scheduler is not None and args.workers is not None:
        raise InputError("--workers sets local processes; it cannot be combined with --scheduler")
    if args.scheduler is None and (args.connect_timeout or args.worker_timeout):
        raise InputError("--connect-timeout and --worker-timeout need --scheduler")
    if args.scheduler is not None:
        check_scheduler_address(args.scheduler)
    if args.backend is not None:
        import os

        from ghostsym.training.cuda_engine import BACKEND_ENV, resolve_backend

        backend = resolve_backend(args.backend)  # InputError: one line
        saved = os.environ.get(BACKEND_ENV)
        os.environ[BACKEND_ENV] = backend  # inherited by the local workers
        try:
            args.backend = None
            return run(args)
        finally:
            if saved is None:
                os.environ.pop(BACKEND_ENV, None)
            else:
                os.environ[BACKEND_ENV] = saved
    overrides = dict(parse_override(text) for text in args.overrides)
    plan = plan_from_file(args.spec, overrides=overrides, max_points=args.max_runs or MAX_POINTS)
    if args.dry_run:
        return _dry_run(plan, args.workers)
    spec = plan.materialise()
    out = Path(args.out) if args.out else Path(DEFAULT_ROOT) / spec.name
    progress = NoProgress() if args.no_progress else TqdmProgress(unit="run")
    summary = run_sweep(
        spec,
        out,
        scheduler=args.scheduler,
        workers=args.workers,
        retry_failed=args.retry_failed,
        progress=progress,
        connect_timeout=args.connect_timeout or CONNECT_TIMEOUT,
        worker_timeout=args.worker_timeout or WORKER_TIMEOUT,
    )
    where = f"on {args.scheduler}" if args.scheduler else "locally"
    print(
        f"{spec.name}: {summary.done} done, {summary.failed} failed, {summary.lost} lost "
        f"of {summary.total} runs ({summary.ran} run {where} in {summary.seconds:.1f} s, "
        f"{summary.skipped} already stored); results: {out}"
    )
    for axes, reason in summary.failures[:10]:
        label = ", ".join(f"{k}={v}" for k, v in axes.items())
        print(f"  failed: {label}: {reason}", file=sys.stderr)
    if len(summary.failures) > 10:
        print(f"  ... and {len(summary.failures) - 10} more (see index.json)", file=sys.stderr)
    if summary.lost:
        print(
            f"{summary.lost} run(s) could not be executed; run the same command again to retry",
            file=sys.stderr,
        )
        return 1
    return 0


def _dry_run(plan, workers: int | None) -> int:
    """Count and summarise from the axis definitions; check the points that together take
    every axis value; print the resolved grid, the cost (network-epochs, and the expected
    time from a short calibration run) and the first points, one at a time (a huge grid is
    never expanded)."""
    from ghostsym.sweeps.estimate import estimate
    from ghostsym.sweeps.run import default_workers

    plan.validate(plan.representative_points())
    axes = ", ".join(f"{k} ({len(v)})" for k, v in plan.axes.items())
    print(f"{plan.name}: {plan.count} runs of kind {plan.kind!r} over {axes}", flush=True)
    if plan.overrides:
        print("overrides: " + ", ".join(f"{k}={v!r}" for k, v in plan.overrides.items()))
    for name, values in plan.axes.items():
        print(f"  axis {name} = {_values(values)}")
    settings = plan.settings()
    if settings:
        print("  settings: " + ", ".join(f"{k}={v!r}" for k, v in settings.items()))
    for line in estimate(plan, workers or default_workers()).lines():
        print(line, flush=True)
    try:
        for i, p in enumerate(plan.iter_points()):
            if i == DRY_RUN_LIST:
                print(f"  ... and {plan.count - DRY_RUN_LIST} more")
                break
            print(f"  {p.run_id}  " + ", ".join(f"{k}={v}" for k, v in p.axes.items()))
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into `head`
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (silence the exit-time flush)
    return 0


def _values(values: list) -> str:
    shown = [repr(v) for v in values]
    if len(shown) > 8:
        shown = shown[:3] + [f"... ({len(values) - 5} more)"] + shown[-2:]
    return "[" + ", ".join(shown) + "]"
