"""What a sweep will cost, before it runs (``ghostsym sweep --dry-run``).

**Network-epochs** are counted from the plan (:class:`~ghostsym.sweeps.spec.SpecPlan`): the
epochs of every point, summed, without expanding the grid (an ``epochs`` axis is summed over
its values; otherwise a case's points share the epochs of its first point).

**Expected time** comes from a short calibration in this process, bounded by
:data:`CALIBRATION_SECONDS`: for up to :data:`CALIBRATION_GROUPS` groups of points that share
one batch (the kind's ``group`` key), the kernels are loaded or compiled (timed apart: it is
paid once per worker), then a few points of the group are run through
:func:`ghostsym.sweeps.run.execute_points` — exactly what a worker runs — at e and 2e epochs,
doubling e until the longer run takes :data:`CALIBRATION_TARGET` seconds. The two timings
give a cost per point (overhead) and per network-epoch; the estimate is their sum over the
grid divided by the workers, plus the compile time, plus the time to store the runs
(:data:`STORE_SECONDS_PER_RUN`, measured on a local disk). Groups not calibrated are costed
at the slowest calibrated rate. It is an estimate: a learning rate that trains differently
(diverging early, say) costs differently.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

#: Wall-clock budget of the calibration runs (seconds; the one-off compile is extra).
CALIBRATION_SECONDS = 3.0
#: Seconds the longer calibration run of a group aims for.
CALIBRATION_TARGET = 0.25
#: Groups calibrated (the first ones of the sweep).
CALIBRATION_GROUPS = 4
#: Points per calibration run of a batched kind (a kind without ``batch``: 2).
CALIBRATION_POINTS = 32
#: Seconds to write one run directory (five small files, fsync'd).
STORE_SECONDS_PER_RUN = 0.004


@dataclass
class Estimate:
    runs: int
    network_epochs: int
    workers: int
    seconds: float = math.nan  # expected wall time
    compile_seconds: float = 0.0  # load / compile of the kernels (once per worker)
    per_epoch: float = math.nan  # seconds per network-epoch, one core (slowest group)
    per_point: float = math.nan  # seconds of overhead per point
    calibrated_groups: int = 0
    groups: int = 0
    notes: list = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"cost: {self.network_epochs:,} network-epochs in {self.runs:,} runs"]
        if math.isfinite(self.seconds):
            rate = (
                f"{1.0 / self.per_epoch:,.0f} network-epochs/s per worker"
                if self.per_epoch > 0
                else "epochs too fast to time"
            )
            out.append(
                f"expected time: {_duration(self.seconds)} on {self.workers} worker(s) "
                f"({rate}, {self.per_point * 1e3:.2g} ms per "
                f"run overhead, kernels ready in {self.compile_seconds:.1f} s; calibrated on "
                f"{self.calibrated_groups} of {self.groups} group(s))"
            )
        out += [f"note: {n}" for n in self.notes]
        return out


def _duration(s: float) -> str:
    if s < 90:
        return f"{s:.1f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def network_epochs(plan) -> int:
    """Σ epochs over the points of ``plan`` (see the module docstring)."""
    from ghostsym.sweeps.run import _epochs_of, kind_hook

    epochs_hook = kind_hook(plan.kind_ref, "epochs")
    total = 0
    for case in plan.cases:
        counts = {k: len(v) for k, v in case.axes.items()}
        n = math.prod(counts.values())
        if n == 0:
            continue
        if "epochs" in case.axes:
            others = n // counts["epochs"]
            total += others * sum(_epochs_of({"epochs": e}) for e in case.axes["epochs"])
            continue
        first = {**case.fixed, **{k: v[0] for k, v in case.axes.items()}}
        try:
            e = int(epochs_hook(first)) if epochs_hook is not None else _epochs_of(first)
        except Exception:  # noqa: BLE001 (an invalid point is reported by validation)
            e = _epochs_of(first)
        total += n * e
    return total


def estimate(plan, workers: int, *, budget: float = CALIBRATION_SECONDS) -> Estimate:
    """The :class:`Estimate` of ``plan`` run on ``workers`` local workers."""
    from ghostsym.sweeps.run import (
        Point,
        _epochs_of,
        execute_points,
        kind_hook,
        plan_chunks,
    )

    est = Estimate(plan.count, network_epochs(plan), workers)
    if plan.count == 0:
        est.seconds = 0.0
        return est
    # representative points: the first of each group, from the first points of each case
    sample: list[Point] = []
    for case in plan.cases:
        for i, p in enumerate(_case_points(plan, case)):
            if i == 4 * CALIBRATION_POINTS:
                break
            sample.append(p)
    group = kind_hook(plan.kind_ref, "group")
    batched = kind_hook(plan.kind_ref, "batch") is not None
    groups: dict[str, list[Point]] = {}
    for p in sample:
        try:
            key = group(dict(p.config)) if group is not None else ""
        except Exception:  # noqa: BLE001
            continue
        groups.setdefault(key, []).append(p)
    est.groups = len(groups)
    prepare = kind_hook(plan.kind_ref, "prepare")
    storage = plan.storage.as_dict()
    started = time.perf_counter()
    rates, overheads = [], []
    for points in list(groups.values())[:CALIBRATION_GROUPS]:
        if time.perf_counter() - started > budget:
            est.notes.append("calibration budget spent before every group was timed")
            break
        t0 = time.perf_counter()
        if prepare is not None:
            try:
                prepare(dict(points[0].config))
            except Exception:  # noqa: BLE001 (the run reports it)
                pass
        est.compile_seconds = max(est.compile_seconds, time.perf_counter() - t0)
        size = CALIBRATION_POINTS if batched else 2
        chunk = plan_chunks(points, plan, 1)[0][:size] if batched else points[:size]
        full = max(_epochs_of(p.config) for p in chunk)
        e = max(1, min(full, 10))
        timings = None
        while True:
            t1 = _time(execute_points, plan.kind_ref, chunk, e, storage)
            t2 = _time(execute_points, plan.kind_ref, chunk, 2 * e, storage)
            timings = (e, t1, t2)
            spent = time.perf_counter() - started
            if t2 >= CALIBRATION_TARGET or 2 * e >= full or spent + 3 * t2 > budget:
                break
            e *= 2
        e, t1, t2 = timings
        per_epoch = max(t2 - t1, 0.0) / (e * len(chunk))
        per_point = max(t1 - per_epoch * e * len(chunk), 0.0) / len(chunk)
        rates.append(per_epoch)
        overheads.append(per_point)
        est.calibrated_groups += 1
    if not rates:
        return est
    est.per_epoch = max(rates)
    est.per_point = max(overheads)
    work = est.network_epochs * est.per_epoch + est.runs * est.per_point
    est.seconds = work / max(1, workers) + est.compile_seconds + est.runs * STORE_SECONDS_PER_RUN
    return est


def _case_points(plan, case):
    import itertools

    from ghostsym.sweeps.run import Point

    keys = list(case.axes)
    for values in itertools.product(*case.axes.values()):
        config = {**case.fixed, **dict(zip(keys, values, strict=True))}
        yield Point("", {k: config.get(k) for k in plan.axis_names}, config)


def _time(execute_points, kind_ref, chunk, epochs: int, storage) -> float:
    from ghostsym.sweeps.run import kind_hook

    shorten = kind_hook(kind_ref, "calibration")
    configs = [
        shorten(dict(p.config), epochs) if shorten else {**p.config, "epochs": epochs}
        for p in chunk
    ]
    t0 = time.perf_counter()
    execute_points(kind_ref, configs, storage)
    return time.perf_counter() - t0
