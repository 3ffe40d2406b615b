"""``ghostsym sweep-report RESULTS_DIR``: tables and plots of a stored sweep."""

from __future__ import annotations

from pathlib import Path

from ghostsym.cli._common import finite_float, positive_float, positive_int


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep-report",
        help="tables and plots of a sweep: final loss/accuracy, stuck fraction, critical rate",
        description="Summarise the runs stored by `ghostsym sweep`: final loss and accuracy "
        "against the swept axes, learning curves, the fraction of runs stuck in a no-learning "
        "zone and the critical learning rate with its uncertainty over seeds. Writes "
        "report.md, CSV tables, summary.json and PNG figures (default: RESULTS_DIR/report). "
        "A run is stuck if, for each of the last K epochs, its accuracy is at most the "
        "no-learning accuracy (score of the all-zero output; 0.5 on DA) and its gradient norm "
        "is at most --stuck-grad.",
    )
    p.add_argument("results", metavar="RESULTS_DIR", help="directory written by `ghostsym sweep`")
    p.add_argument("--out", metavar="DIR", help="report directory (default: RESULTS_DIR/report)")
    p.add_argument(
        "--window",
        type=positive_int,
        default=None,
        metavar="EPOCHS",
        help="epochs at the end of each run used for 'stuck' and 'learned' (default: 50)",
    )
    p.add_argument(
        "--stuck-grad",
        type=positive_float,
        default=None,
        metavar="NORM",
        help="gradient-norm threshold of a no-learning zone (default: 1e-4)",
    )
    p.add_argument(
        "--stuck-accuracy",
        type=finite_float,
        default=None,
        metavar="ACCURACY",
        help="accuracy threshold of a no-learning zone (default: each run's no-learning "
        "accuracy, 0.5 on DA)",
    )
    p.add_argument(
        "--learned-ratio",
        type=positive_float,
        default=None,
        metavar="RATIO",
        help="learned if final loss < RATIO x initial loss (default: 1e-2)",
    )
    p.add_argument(
        "--learned-loss",
        type=positive_float,
        default=None,
        metavar="LOSS",
        help="learned if the median loss over the window is at most LOSS (default: the kind's "
        "own level where it has one — canonical: 0.1, normalised loss — else --learned-ratio)",
    )
    p.add_argument(
        "--netcdf",
        metavar="FILE",
        help="also write the sweep as a labelled dataset (netCDF-4: the grid axes and epoch as "
        "dimensions, the spec, overrides and version as attributes; open it with "
        "xarray.open_dataset; default: none)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from ghostsym.sweeps.report import (
        DEFAULT_LEARNED_RATIO,
        DEFAULT_STUCK_GRAD,
        DEFAULT_WINDOW,
        Criteria,
        check_results_dir,
        format_tables,
        write_report,
    )

    results = check_results_dir(args.results)
    criteria = Criteria(
        window=args.window or DEFAULT_WINDOW,
        stuck_grad=args.stuck_grad or DEFAULT_STUCK_GRAD,
        stuck_accuracy=args.stuck_accuracy,
        learned_ratio=args.learned_ratio or DEFAULT_LEARNED_RATIO,
        learned_loss=args.learned_loss,
    )
    # the report directory is claimed like any ghostsym directory (new, empty or a report)
    out = Path(args.out).expanduser() if args.out else results / "report"
    report = write_report(results, out, criteria)
    print(format_tables(report, results))
    print(f"\nreport: {report.markdown} ({len(report.figures)} figures)")
    if args.netcdf:
        from ghostsym.sweeps.data import open_sweep, to_netcdf

        path = to_netcdf(open_sweep(results, criteria=criteria), Path(args.netcdf).expanduser())
        print(f"dataset: {path}")
    return 0
