"""``ghostsym sweep SPEC``: run a grid of trainings locally or on a Dask cluster, resumably."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ghostsym.cli._common import positive_int, writable_directory

DEFAULT_ROOT = "sweeps"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="run a grid of trainings (local cores or a Dask cluster), resumable",
        description="Run every point of the TOML grid SPEC (see examples/sweeps/) and store "
        "each run in --out. Re-running the same command after an interruption skips stored "
        "runs and does the rest. Runs that diverge or raise are stored as failed with their "
        "reason; exit status 1 only if some run could not be executed at all.",
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
        help="override a [base] setting with a TOML value, e.g. --set epochs=2000 (repeatable)",
    )
    p.add_argument("--retry-failed", action="store_true", help="re-run runs stored as failed")
    p.add_argument("--dry-run", action="store_true", help="list the points and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from ghostsym.errors import InputError
    from ghostsym.progress import NoProgress, TqdmProgress
    from ghostsym.sweeps.run import load_spec, parse_override, run_sweep

    if args.scheduler is not None and args.workers is not None:
        raise InputError("--workers sets local processes; it cannot be combined with --scheduler")
    overrides = dict(parse_override(text) for text in args.overrides)
    spec = load_spec(args.spec, overrides=overrides)
    out = Path(args.out) if args.out else Path(DEFAULT_ROOT) / spec.name
    if args.dry_run:
        axes = ", ".join(f"{k} ({len(v)})" for k, v in spec.axes.items())
        print(f"{spec.name}: {len(spec.points)} runs of kind {spec.kind!r} over {axes}")
        try:
            for p in spec.points:
                print(f"  {p.run_id}  " + ", ".join(f"{k}={v}" for k, v in p.axes.items()))
        except BrokenPipeError:  # e.g. piped into `head`
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (silence the exit-time flush)
        return 0
    writable_directory(out)
    progress = NoProgress() if args.no_progress else TqdmProgress(unit="run")
    summary = run_sweep(
        spec,
        out,
        scheduler=args.scheduler,
        workers=args.workers,
        retry_failed=args.retry_failed,
        progress=progress,
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
