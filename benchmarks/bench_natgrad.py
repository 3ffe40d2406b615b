"""Per-epoch cost of the natural-gradient optimiser against SGD (docs/sntk.md §6).

The same networks (rank-one and full-rank DA, N = 100, 40 steps, one trial) trained for the
same epochs with ``--optimizer sgd`` and ``--optimizer natgrad`` at several ranks k and
refresh intervals R, in one process on the same cores (``train_many``: the batched engine for
rank one, one network per thread for full rank). Reported: wall time per network-epoch and
its ratio to SGD's. The natgrad cost has two parts: two P×k products per epoch inside the
numba loop, and every R epochs a refresh of one BPTT per output (40 here) plus an SVD of
the 40×P Jacobian, so the overhead is roughly (40 + SVD)/R epochs plus the products. The
compiled engines are loaded before any timing.

Run: ``python benchmarks/bench_natgrad.py [--quick] [--networks M] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import time

from ghostsym.io import write_json
from ghostsym.training import build_config, train_many


def rate(model, networks, epochs, repeats, **options):
    """Best wall time per network-epoch (seconds) over ``repeats``."""
    configs = [
        build_config(model=model, task="da", lr=1e-3, epochs=epochs, seed=s, **options)
        for s in range(networks)
    ]
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        train_many(configs)
        best = min(best, time.perf_counter() - start)
    return best / (networks * epochs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and settings")
    parser.add_argument("--networks", type=int, default=8, help="networks per batch")
    parser.add_argument("--json", default=None, metavar="FILE", help="write the rows as JSON")
    args = parser.parse_args(argv)
    epochs = {"rank1": 1000 if args.quick else 5000, "full": 300 if args.quick else 1000}
    ks = (8,) if args.quick else (2, 8, 32)
    refreshes = (100,) if args.quick else (10, 100, 1000)
    repeats = 1 if args.quick else 3
    rows = []
    for model in ("rank1", "full"):
        # load the compiled engines (and the natgrad refresh) before timing
        rate(model, 2, 5, 1)
        rate(model, 2, 5, 1, optimizer="natgrad", natgrad_refresh=2)
        base = rate(model, args.networks, epochs[model], repeats)
        rows.append({"model": model, "optimizer": "sgd", "k": None, "R": None,
                     "us_per_epoch": base * 1e6, "ratio": 1.0})  # fmt: skip
        for k in ks:
            for r in refreshes:
                t = rate(model, args.networks, epochs[model], repeats, optimizer="natgrad",
                         natgrad_rank=k, natgrad_refresh=r)  # fmt: skip
                rows.append({"model": model, "optimizer": "natgrad", "k": k, "R": r,
                             "us_per_epoch": t * 1e6, "ratio": t / base})  # fmt: skip
    print(f"{'model':<6} {'optimizer':<8} {'k':>3} {'R':>5} {'µs/epoch':>10} {'÷ sgd':>7}")
    for row in rows:
        k = "" if row["k"] is None else row["k"]
        r = "" if row["R"] is None else row["R"]
        print(f"{row['model']:<6} {row['optimizer']:<8} {k!s:>3} {r!s:>5} "
              f"{row['us_per_epoch']:>10.1f} {row['ratio']:>7.2f}")  # fmt: skip
    if args.json:
        write_json(args.json, {"networks": args.networks, "epochs": epochs, "rows": rows})


if __name__ == "__main__":
    main()
