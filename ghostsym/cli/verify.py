"""``ghostsym verify``: run the verification checks and write the report."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ghostsym.cli._common import nonnegative_int

#: Kept in step with ghostsym.verification.DEFAULT_OUT and MAX_SEED_OFFSET (not imported:
#: --help stays light; tests/cli check they agree).
DEFAULT_OUT = "verify-report"
MAX_SEED_OFFSET = 100_000
#: Exit status on a usage error (an unknown check id, profile or a bad option value).
EXIT_USAGE = 2


def seed_offset(text: str) -> int:
    value = nonnegative_int(text)
    if value > MAX_SEED_OFFSET:
        raise argparse.ArgumentTypeError(f"must be <= {MAX_SEED_OFFSET}, got {text!r}")
    return value


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "verify",
        help="check every analytical prediction against numerics",
        description="Run verification checks (one file per check in verify/); print a table, "
        f"write report.md, results.json and figures to --out (default ./{DEFAULT_OUT} in the "
        "working directory; a report there of the same profile and seed is merged). Exit "
        "status, over the rows this command ran: 0 when every row passes or disagrees with "
        "the paper as documented, 1 when a row fails (or, with --strict, disagrees), 2 on a "
        "usage error, 3 when a check crashed.",
    )
    p.add_argument("checks", nargs="*", metavar="CHECK", help="check ids (default: all)")
    p.add_argument(
        "--profile",
        default="quick",
        choices=("quick", "full", "paper"),
        metavar="PROFILE",
        help="quick, full or paper; quick: minutes on 2 cores; full: over an hour (each "
        "check's time is in results.json); paper: the paper's exact scale (cluster) "
        "(default: quick)",
    )
    p.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"output directory (default: ./{DEFAULT_OUT} in the working directory)",
    )
    p.add_argument(
        "--seed",
        type=seed_offset,
        default=0,
        metavar="S",
        help="seed offset: every seed population of every check (network initialisations, "
        "noise, random starts) moves to fresh seeds; verdicts hold at any offset within each "
        f"row's stated false-fail probability (0..{MAX_SEED_OFFSET}; default: 0)",
    )
    p.add_argument(
        "--backend",
        choices=("cpu", "cuda", "auto"),
        default=None,
        help="where the checks train networks: cpu, cuda (an NVIDIA GPU, docs/gpu.md) or auto "
        "(default: $GHOSTSYM_BACKEND, else cpu)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when a row disagrees with the paper too (default: a documented "
        "disagreement exits 0)",
    )
    p.add_argument(
        "--normal-form",
        action="append",
        default=[],
        metavar="EXPR",
        dest="normal_forms",
        help="also check this normal form f(x; r), e.g. 'x**4 + r' (repeatable); "
        "without CHECK ids only the normal-form checks run (default: none)",
    )
    p.add_argument(
        "--threshold",
        default=None,
        metavar="EXPR",
        help="output threshold x* of the --normal-form fields: oo, pi, sqrt(2), E or a number "
        "(default: oo)",
    )
    p.add_argument("--list", action="store_true", help="list the checks and exit")
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bar (default: a bar on stderr)"
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from ghostsym import verification
    from ghostsym.progress import NoProgress, TqdmProgress

    if args.list:
        for chk in verification.list_checks():  # read from the files: no SymPy, no numba
            print(f"{chk.id:32s} {chk.reference:18s} {chk.claim}")
        return 0
    progress = NoProgress() if args.no_progress else TqdmProgress(unit="check")

    timed: set[str] = set()

    def show(row):
        mark = {"pass": "pass", "fail": "FAIL", "error": "ERROR"}.get(row.status, row.status)
        progress_write = getattr(getattr(progress, "_bar", None), "write", None)
        check_id = getattr(row, "check", row.id)
        time_text = "" if check_id in timed else f" ({row.seconds:.1f} s)"  # once per check
        timed.add(check_id)
        line = f"[{mark}] {row.id}{time_text}" + (f": {row.error}" if row.error else "")
        (progress_write or (lambda s: print(s, file=sys.stderr)))(line)

    import os

    from ghostsym.errors import InputError
    from ghostsym.training.cuda_engine import BACKEND_ENV

    saved = os.environ.get(BACKEND_ENV)
    start = time.perf_counter()
    try:
        if args.backend is not None:
            from ghostsym.training.cuda_engine import resolve_backend

            os.environ[BACKEND_ENV] = resolve_backend(args.backend)  # for this command only
        rows = verification.verify(
            args.checks,
            profile=args.profile,
            out_dir=args.out,
            seed=args.seed,
            normal_forms=args.normal_forms,
            threshold=args.threshold,
            progress=progress,
            on_row=show,
        )
    except InputError as exc:
        progress.close()
        print(f"ghostsym verify: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if saved is None:
            os.environ.pop(BACKEND_ENV, None)
        else:
            os.environ[BACKEND_ENV] = saved
    seconds = time.perf_counter() - start
    ordered = verification.order_rows(rows)
    print(verification.table(ordered))
    for r in ordered:
        if r.status == "disagrees":
            print(f"\ndisagrees with the paper: {r.id}: {r.finding}")
    print(
        f"\n{verification.summary_line(rows)} in {seconds:.1f} s; "
        f"report: {Path(args.out) / 'report.md'}"
    )
    return verification.exit_status(rows, strict=args.strict)
