"""``ghostsym verify``: run the verification checks and write the report."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ghostsym.cli._common import nonnegative_int

#: Kept in step with ghostsym.verification.DEFAULT_OUT (not imported: --help stays light).
DEFAULT_OUT = "verify-report"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "verify",
        help="check every analytical prediction against numerics",
        description="Run verification checks (one file per check in verify/); print a table, "
        f"write report.md, results.json and figures to --out (default ./{DEFAULT_OUT} in the "
        "working directory); exit 1 if any check fails.",
    )
    p.add_argument("checks", nargs="*", metavar="CHECK", help="check ids (default: all)")
    p.add_argument(
        "--profile",
        default="quick",
        choices=("quick", "full", "paper"),
        metavar="PROFILE",
        help="quick, full or paper; quick: minutes on 2 cores; full: about an hour; paper: "
        "the paper's exact scale (cluster) (default: quick)",
    )
    p.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"output directory (default: ./{DEFAULT_OUT} in the working directory)",
    )
    p.add_argument(
        "--seed",
        type=nonnegative_int,
        default=0,
        metavar="SEED",
        help="base random seed (default: 0)",
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
        mark = "pass" if row.status == "pass" else "FAIL"
        progress_write = getattr(getattr(progress, "_bar", None), "write", None)
        check_id = getattr(row, "check", row.id)
        time_text = "" if check_id in timed else f" ({row.seconds:.1f} s)"  # once per check
        timed.add(check_id)
        line = f"[{mark}] {row.id}{time_text}" + (f": {row.error}" if row.error else "")
        (progress_write or (lambda s: print(s, file=sys.stderr)))(line)

    start = time.perf_counter()
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
    seconds = time.perf_counter() - start
    print(verification.table(rows))
    n_fail = sum(r.status != "pass" for r in rows)
    print(
        f"\n{len(rows) - n_fail}/{len(rows)} checks passed in {seconds:.1f} s; "
        f"report: {Path(args.out) / 'report.md'}"
    )
    return 1 if n_fail else 0
