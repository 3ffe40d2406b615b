"""``ghostsym analyze RUN_DIR``: fixed points, ghosts and bifurcations of a saved training run."""

from __future__ import annotations

import sys
from pathlib import Path

from ghostsym.cli._common import positive_int

#: Checkpoints analysed at most (evenly spaced, first and last always included).
DEFAULT_MAX_CHECKPOINTS = 200


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="analyse the latent dynamics of a saved training run",
        description="For a run directory written by `ghostsym train`: fixed points, ghosts "
        "and bifurcation events at every checkpoint (rank one: certified root search; rank "
        "two: grid + Newton; rank K >= 3: seeded Newton search of the K-dimensional latent "
        "flow), speed minima of the final network (full rank); writes analysis.json and "
        "figures. RUN_DIR is checked first: config.json against the saved arrays, every "
        "analysed parameter finite and within the divergence bound (a diverged run is "
        "refused at once). --out must be new, empty or an analysis directory ghostsym wrote.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory (has config.json)")
    p.add_argument(
        "--out", metavar="DIR", default=None, help="output directory (default: RUN_DIR/analysis)"
    )
    p.add_argument(
        "--max-checkpoints",
        type=positive_int,
        default=DEFAULT_MAX_CHECKPOINTS,
        metavar="K",
        help=f"analyse at most K evenly spaced checkpoints (default: {DEFAULT_MAX_CHECKPOINTS})",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (default: one per checkpoint on stderr when it is a terminal)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from ghostsym.errors import InputError
    from ghostsym.progress import NoProgress, TqdmProgress
    from ghostsym.training.analyze import analyze_run

    run_dir = Path(args.run_dir).expanduser()
    if not run_dir.is_dir():
        raise InputError(f"run directory {str(run_dir)!r} does not exist or is not a directory")
    if not (run_dir / "config.json").exists():
        raise InputError(f"{str(run_dir)!r} is not a training run directory (no config.json)")
    out = Path(args.out).expanduser() if args.out is not None else run_dir / "analysis"
    show = not args.no_progress and sys.stderr.isatty()
    meter = TqdmProgress(unit="checkpoint") if show else NoProgress()
    doc = analyze_run(run_dir, out, args.max_checkpoints, progress=meter)
    sys.stderr.flush()  # the bar is closed; the summary follows it on stdout
    if "bifurcations" in doc:
        b = doc["bifurcations"]
        print(
            f"{len(b['epochs'])} checkpoints: fixed points per checkpoint in "
            f"[{min(b['fixed_point_counts'])}, {max(b['fixed_point_counts'])}], "
            f"{len(b['events'])} bifurcation event(s)"
        )
    if "speed_minima" in doc:
        counts = doc["speed_minima"]["counts"]
        listed = ", ".join(f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in counts.items())
        print(f"speed minima of the final network: {listed or 'none'}")
    slowest = doc.get("rank_k", {}).get("slowest_ghost")
    if slowest:
        print(f"slowest ghost: speed {slowest['speed']:.3g} at epoch {slowest['epoch']}")
    if "story" in doc:
        print(doc["story"]["text"])
    sntk = doc.get("sntk", {})
    if sntk.get("skipped"):
        print(f"state-space NTK: skipped ({sntk['skipped']})")
    elif sntk.get("epoch"):
        pr = sntk["participation_ratio"]
        low = min(range(len(pr)), key=pr.__getitem__)
        cos = [abs(c) for c in sntk["cosine"] if c is not None]
        channel = f"; top direction |cos| with ∇θ r up to {max(cos):.2f}" if cos else ""
        print(
            f"state-space NTK: effective rank (participation ratio) {pr[0]:.3g} at epoch "
            f"{sntk['epoch'][0]}, lowest {pr[low]:.3g} at epoch {sntk['epoch'][low]}{channel}"
        )
    print(f"wrote {out / 'analysis.json'} and {len(doc['figures'])} figure(s)")
    return 0
