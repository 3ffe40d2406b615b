"""Summaries of a stored sweep: tables, plots, stuck fractions and critical learning rates.

Definitions (all evaluated on the stored histories; ``K`` = :attr:`Criteria.window`):

* **final loss** = loss at the last epoch; **initial loss** = loss at epoch 0 (the initial
  parameters); **final accuracy** = accuracy at the last epoch.
* **learned**: median loss over the last K epochs < ``learned_ratio`` × initial loss
  (docs/experiments.md §6.4 uses L[−1]/L[0] < 1e-2; the median over K epochs keeps one oscillation
  spike from deciding it).
* **stuck in a no-learning zone**: for each of the last K epochs, accuracy ≤ the no-learning
  accuracy *and* gradient norm ≤ ``stuck_grad``. The no-learning accuracy is the score of
  the all-zero output — 0.5 on DA, the fraction of zero targets on DCD/DMTS — taken from the
  run's ``chance_accuracy`` summary (``stuck_accuracy`` overrides it). A slow plateau
  (accuracy at chance but gradient still above the threshold) is *not* stuck. A run without an
  accuracy history is stuck if its gradient stays below the threshold and it has not learned.
* **critical learning rate** (per group of the other axes): for each seed, the learning rates
  in increasing order are scanned for the first one at which the run is *trapped* (stuck or
  diverged); the seed's critical rate is the geometric midpoint of that rate and the one
  below it (the transition lies in between). Seeds trapped at every rate or at none are
  censored (reported, not averaged). The estimate is the geometric mean over the seeds,
  10^m with m the mean of log10 α*_s, and its range 10^(m ± u) with
  u = sqrt(SEM² + Δ²/12): the SEM of log10 α*_s over seeds plus the s.d. of a position
  uniform within one grid step Δ (in log10), since no estimate is finer than the grid.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ghostsym.errors import InputError
from ghostsym.io import (
    MARKER,
    claim_directory,
    directory_kind,
    to_jsonable,
    write_atomic,
    write_json,
)
from ghostsym.sweeps.data import (  # noqa: F401 (re-exported: the report's definitions)
    DEFAULT_LEARNED_RATIO,
    DEFAULT_STUCK_GRAD,
    DEFAULT_WINDOW,
    Criteria,
    RunSummary,
    SweepResults,
    load_results,
    summarise_run,
)
from ghostsym.sweeps.run import DIRECTORY_KIND, StorageError, load_sweep_run

#: At most this many panels / curves in the learning-curve figure.
MAX_PANELS = 12
MAX_POINTS_PER_CURVE = 2000


# -- aggregation ------------------------------------------------------------------------------
def _key(axes: dict, names: list[str]) -> tuple:
    return tuple(json.dumps(axes.get(n)) for n in names)


def _label(axes: dict, names: list[str]) -> str:
    return ", ".join(f"{n}={_fmt(axes.get(n))}" for n in names) or "all runs"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _mean_sem(values) -> tuple[float, float]:
    x = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if len(x) == 0:
        return math.nan, math.nan
    sem = float(np.std(x, ddof=1) / np.sqrt(len(x))) if len(x) > 1 else math.nan
    return float(np.mean(x)), sem


def group_table(results: SweepResults) -> list[dict]:
    """One row per combination of the non-seed axes: counts, means ± SEM over seeds."""
    names = results.group_axes()
    groups: dict[tuple, list[RunSummary]] = defaultdict(list)
    for r in results.runs:
        groups[_key(r.axes, names)].append(r)
    rows = []
    for runs in groups.values():
        done = [r for r in runs if r.status == "done"]
        failed = [r for r in runs if r.status == "failed"]
        loss_m, loss_s = _mean_sem([r.final_loss for r in done])
        acc_m, acc_s = _mean_sem([r.final_accuracy for r in done])
        grad_m, grad_s = _mean_sem([r.mean_grad for r in done])
        finished = len(done) + len(failed)
        rows.append(
            {
                **{n: runs[0].axes.get(n) for n in names},
                "runs": len(runs),
                "done": len(done),
                "failed": len(failed),
                "diverged": sum(r.failure == "divergence" for r in failed),
                "pending": len(runs) - finished,
                "final_loss_mean": loss_m,
                "final_loss_sem": loss_s,
                "final_loss_median": float(np.median([r.final_loss for r in done]))
                if done
                else math.nan,
                "final_accuracy_mean": acc_m,
                "final_accuracy_sem": acc_s,
                "mean_grad_norm_mean": grad_m,
                "mean_grad_norm_sem": grad_s,
                "fraction_learned": sum(r.learned for r in done) / len(done) if done else math.nan,
                "fraction_stuck": sum(r.stuck for r in done) / len(done) if done else math.nan,
                "fraction_trapped": sum(r.trapped for r in done + failed) / finished
                if finished
                else math.nan,
            }
        )
    return rows


def seed_critical_rate(rates, trapped) -> tuple[float, float, float, str | None]:
    """(estimate, lower, upper, censored) of one seed's critical rate (module docstring)."""
    order = np.argsort(rates)
    rates = np.asarray(rates, dtype=float)[order]
    trapped = np.asarray(trapped, dtype=bool)[order]
    hits = np.flatnonzero(trapped)
    if len(hits) == 0:
        return math.nan, float(rates[-1]), math.inf, "above"
    i = int(hits[0])
    if i == 0:
        return math.nan, 0.0, float(rates[0]), "below"
    return float(np.sqrt(rates[i - 1] * rates[i])), float(rates[i - 1]), float(rates[i]), None


def critical_rates(results: SweepResults) -> list[dict]:
    """Critical learning rate per group of the axes other than rate and seed."""
    rate, seed = results.rate_axis, results.seed_axis
    if rate is None:
        return []
    names = results.group_axes(without_rate=True)
    groups: dict[tuple, dict] = defaultdict(lambda: defaultdict(list))
    for r in results.runs:
        if r.status not in ("done", "failed") or not _positive(r.axes.get(rate)):
            continue
        s = r.axes.get(seed) if seed else None
        groups[_key(r.axes, names)][json.dumps(s)].append(r)
    rows = []
    for by_seed in groups.values():
        first = next(iter(by_seed.values()))[0]
        per_seed, censored = [], {"above": 0, "below": 0}
        for seed_key, runs in by_seed.items():
            est, lo, hi, cens = seed_critical_rate(
                [r.axes[rate] for r in runs], [r.trapped for r in runs]
            )
            per_seed.append(
                {
                    "seed": json.loads(seed_key),
                    "estimate": est,
                    "lower": lo,
                    "upper": hi,
                    "censored": cens,
                }
            )
            if cens:
                censored[cens] += 1
        logs = np.log10([p["estimate"] for p in per_seed if p["censored"] is None])
        rates_sorted = np.unique([r.axes[rate] for runs in by_seed.values() for r in runs])
        spacing = float(np.median(np.diff(np.log10(rates_sorted)))) if len(rates_sorted) > 1 else 0
        if len(logs):
            m = float(np.mean(logs))
            sem = float(np.std(logs, ddof=1) / np.sqrt(len(logs))) if len(logs) > 1 else 0.0
            # A seed's transition lies somewhere in its grid bracket: add the s.d. of a
            # uniform position within one bracket (the same for all seeds, so not / sqrt(n)).
            u = math.sqrt(sem**2 + spacing**2 / 12)
        else:
            m, sem, u = math.nan, math.nan, math.nan
        rows.append(
            {
                **{n: first.axes.get(n) for n in names},
                "critical_rate": 10**m if np.isfinite(m) else math.nan,
                "low": 10 ** (m - u) if np.isfinite(u) else math.nan,
                "high": 10 ** (m + u) if np.isfinite(u) else math.nan,
                "log10_mean": m,
                "log10_sem": sem,
                "log10_uncertainty": u,
                "seeds_used": int(len(logs)),
                "censored_above": censored["above"],
                "censored_below": censored["below"],
                "grid_log10_spacing": spacing,
                **_fit(by_seed, rate),
                "per_seed": per_seed,
            }
        )
    return rows


def on_plateau(run) -> bool:
    """A finished run that is not trapped and never got its loss below half the initial
    loss: it has not left its initial plateau, so whether it would be trapped is unknown
    (right-censored). Trapped runs (stuck or diverged) are never censored."""
    if run.trapped:
        return False
    if run.status != "done":
        return True  # failed for another reason than divergence: no outcome
    return not (np.isfinite(run.min_loss) and run.min_loss < 0.5 * run.initial_loss)


def trapping_fit(runs, confidence: float, rate: str = "lr"):
    """Fit P(trapped | rate) with :func:`ghostsym.analysis.statistics.fit_threshold` over
    every finished run that has left its plateau (one point per seed and rate; a seed trapped
    at every rate or at none is kept, as what it is). Returns (fit, table) where the table
    has one row per rate: runs, trapped, on the plateau (excluded)."""
    from ghostsym.analysis.statistics import fit_threshold

    finished = [r for r in runs if r.status in ("done", "failed")]
    used = [r for r in finished if not on_plateau(r)]
    rates = sorted({float(r.axes[rate]) for r in finished})
    table = {
        "lr": rates,
        "runs": [sum(float(r.axes[rate]) == x for r in finished) for x in rates],
        "trapped": [sum(float(r.axes[rate]) == x and r.trapped for r in finished) for x in rates],
        "on_plateau": [
            sum(float(r.axes[rate]) == x and on_plateau(r) for r in finished) for x in rates
        ],
    }
    if not used:
        return None, table
    fit = fit_threshold(
        [float(r.axes[rate]) for r in used], [bool(r.trapped) for r in used], confidence
    )
    return fit, table


def _fit(by_seed: dict, rate: str) -> dict:
    """The fitted trapping curve of one group: :func:`trapping_fit` over its runs — every
    finished run that has left its plateau (a seed trapped at every rate or at none kept as
    what it is; runs still on their plateau left out, as the verification checks do), its
    threshold (P = 1/2) and profile-likelihood interval."""
    runs = [r for rs in by_seed.values() for r in rs]
    fit, table = trapping_fit(runs, FIT_CONFIDENCE, rate)
    censored = int(sum(table["on_plateau"]))
    if fit is None:
        return {
            "fit_threshold": math.nan,
            "fit_low": math.nan,
            "fit_high": math.nan,
            "fit_method": "none",
            "fit_slope": math.nan,
            "fit_confidence": FIT_CONFIDENCE,
            "fit_bounded_low": False,
            "fit_bounded_high": False,
            "fit_runs": 0,
            "fit_trapped": 0,
            "fit_on_plateau": censored,
        }
    return {
        "fit_threshold": fit.threshold,
        "fit_low": fit.low,
        "fit_high": fit.high,
        "fit_method": fit.method,
        "fit_slope": fit.slope,
        "fit_confidence": fit.confidence,
        "fit_bounded_low": bool(fit.bounded[0]),
        "fit_bounded_high": bool(fit.bounded[1]),
        "fit_runs": fit.n,
        "fit_trapped": fit.events,
        "fit_on_plateau": censored,
    }


def _positive(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0


# -- writing ------------------------------------------------------------------------------------
@dataclass
class Report:
    out_dir: Path
    markdown: Path
    figures: list[Path]
    groups: list[dict]
    critical: list[dict]
    text: str


def write_report(
    results_dir: str | Path, out_dir: str | Path | None = None, criteria: Criteria | None = None
) -> Report:
    """Write report.md, runs.csv, groups.csv, critical_rates.csv, summary.json and figures."""
    criteria = criteria or Criteria()
    results = load_results(results_dir, criteria)
    out = Path(out_dir) if out_dir is not None else Path(results_dir) / "report"
    claim_report_dir(out)
    try:
        return _write_report(results, out, criteria)
    except StorageError:
        raise
    except OSError as exc:
        raise StorageError(f"cannot write the report in {out}: {exc.strerror or exc}") from None


#: The kind of directory a report claims (:func:`ghostsym.io.claim_directory`).
REPORT_KIND = "sweep-report"
_REPORT_FILES = ("report.md", "summary.json")


def claim_report_dir(out: Path) -> Path:
    """The report's directory: new, empty or a report directory ghostsym wrote (an older one,
    unmarked but with report.md and summary.json, is accepted and marked)."""
    from ghostsym.config import VERSION

    out = Path(out)
    marker = out / MARKER
    if (
        out.is_dir()
        and not marker.exists()
        and all((out / name).is_file() for name in _REPORT_FILES)
    ):
        try:
            write_json(marker, {"kind": REPORT_KIND, "ghostsym_version": VERSION})
        except OSError as exc:
            raise InputError(f"cannot write to {str(out)!r}: {exc.strerror or exc}") from None
    return claim_directory(out, REPORT_KIND)


def _write_report(results: SweepResults, out: Path, criteria: Criteria) -> Report:
    groups = group_table(results)
    critical = critical_rates(results)
    _write_csv(out / "runs.csv", [_run_row(r) for r in results.runs])
    _write_csv(out / "groups.csv", groups)
    _write_csv(
        out / "critical_rates.csv",
        [{k: v for k, v in c.items() if k != "per_seed"} for c in critical],
    )
    payload = {"criteria": criteria.__dict__, "groups": groups, "critical_rates": critical}
    write_atomic(out / "summary.json", json.dumps(_jsonable(payload), indent=1) + "\n")
    figures = _plots(results, groups, critical, out)
    text = _markdown(results, groups, critical, criteria, figures, out)
    write_atomic(out / "report.md", text)
    return Report(out, out / "report.md", figures, groups, critical, text)


def _run_row(r: RunSummary) -> dict:
    return {
        "run_id": r.run_id,
        **r.axes,
        "status": r.status,
        "epochs": r.epochs,
        "initial_loss": r.initial_loss,
        "final_loss": r.final_loss,
        "min_loss": r.min_loss,
        "final_accuracy": r.final_accuracy,
        "max_accuracy": r.max_accuracy,
        "tail_grad_norm": r.tail_grad,
        "mean_grad_norm": r.mean_grad,
        "learned": r.learned,
        "stuck": r.stuck,
        "reason": r.reason or "",
    }


def _write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        write_atomic(path, "")
        return
    cols = list(dict.fromkeys(k for row in rows for k in row))
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    for row in rows:
        w.writerow({k: _cell(row.get(k)) for k in cols})
    write_atomic(path, buf.getvalue())


def _cell(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


_jsonable = to_jsonable


def _pm(m: float, s: float, digits: int = 3) -> str:
    if not np.isfinite(m):
        return "–"
    return f"{m:.{digits}g}" + (f" ± {s:.2g}" if np.isfinite(s) else "")


def _markdown(results, groups, critical, criteria, figures, out) -> str:
    meta = results.meta
    counts = defaultdict(int)
    for r in results.runs:
        counts[r.status] += 1
    names = results.group_axes()
    lines = [
        f"# Sweep report: {meta.get('name', '')}",
        "",
        f"Kind `{meta.get('kind')}`, {len(results.runs)} runs over "
        + ", ".join(f"{k} ({len(v)})" for k, v in results.axes.items())
        + ". Status: "
        + ", ".join(f"{counts[s]} {s}" for s in ("done", "failed", "pending", "lost") if counts[s])
        + ".",
        "",
        f"Definitions: {criteria.describe()}; trapped = stuck or diverged. Means ± SEM over "
        f"{'the seed axis `' + results.seed_axis + '`' if results.seed_axis else 'runs'}.",
        "",
        "## Final values by " + (", ".join(names) or "run"),
        "",
        "| "
        + " | ".join(
            names
            + [
                "runs",
                "failed",
                "final loss",
                "final accuracy",
                "mean grad norm",
                "learned",
                "stuck",
                "trapped",
            ]
        )
        + " |",
        "|" + "---|" * (len(names) + 8),
    ]
    for g in groups:
        cells = [_fmt(g[n]) for n in names] + [
            str(g["runs"]),
            str(g["failed"]),
            _pm(g["final_loss_mean"], g["final_loss_sem"]),
            _pm(g["final_accuracy_mean"], g["final_accuracy_sem"]),
            _pm(g["mean_grad_norm_mean"], g["mean_grad_norm_sem"]),
            _frac(g["fraction_learned"]),
            _frac(g["fraction_stuck"]),
            _frac(g["fraction_trapped"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if critical:
        cnames = results.group_axes(without_rate=True)
        lines += [
            "",
            f"## Critical learning rate (`{results.rate_axis}`)",
            "",
            "| "
            + " | ".join(
                cnames
                + [
                    "critical rate",
                    "range (± u)",
                    f"fitted threshold ({FIT_CONFIDENCE:.0%} interval)",
                    "seeds",
                    "never trapped",
                    "always trapped",
                    "grid step",
                ]
            )
            + " |",
            "|" + "---|" * (len(cnames) + 7),
        ]
        for c in critical:
            rng = f"{c['low']:.3g} – {c['high']:.3g}" if np.isfinite(c["low"]) else "–"
            cells = [_fmt(c[n]) for n in cnames] + [
                f"{c['critical_rate']:.3g}" if np.isfinite(c["critical_rate"]) else "–",
                rng,
                _fit_text(c),
                str(c["seeds_used"]),
                str(c["censored_above"]),
                str(c["censored_below"]),
                f"×{10 ** c['grid_log10_spacing']:.3g}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    failed = [r for r in results.runs if r.status == "failed"]
    if failed:
        lines += ["", "## Failed runs", ""]
        for r in failed[:50]:
            lines.append(f"- {_label(r.axes, list(r.axes))}: {r.reason}")
        if len(failed) > 50:
            lines.append(f"- … and {len(failed) - 50} more (runs.csv)")
    if figures:
        lines += ["", "## Figures", ""]
        lines += [f"![{f.stem}]({f.relative_to(out)})" for f in figures]
    return "\n".join(lines) + "\n"


def _fit_text(c: dict) -> str:
    t = c.get("fit_threshold", math.nan)
    lo = ("≤ " if not c.get("fit_bounded_low", True) else "") + f"{c.get('fit_low', math.nan):.3g}"
    hi = f"{c.get('fit_high', math.nan):.3g}" + (
        " or more" if not c.get("fit_bounded_high", True) else ""
    )
    est = f"{t:.3g}" if np.isfinite(t) else "–"
    return f"{est} [{lo}, {hi}] ({c.get('fit_method', '?')})"


def _frac(x: float) -> str:
    return f"{x:.2f}" if np.isfinite(x) else "–"


# -- plots --------------------------------------------------------------------------------------
#: Confidence of the fitted trapping threshold's profile-likelihood interval.
FIT_CONFIDENCE = 0.95
#: Axis labels (mathtext) of the axes the built-in kinds sweep.
AXIS_LABELS = {"lr": r"learning rate $\alpha$", "seed": "seed", "c": "confidence $c$"}
#: Colours of the reference lines of analytic predictions (the style's black and grey).
REFERENCE_COLOR = "0.15"


def _axis_label(name: str) -> str:
    return AXIS_LABELS.get(name, name.replace("_", r"\_") if "$" in name else name)


def _plots(results: SweepResults, groups, critical, out: Path) -> list[Path]:
    """The figures, drawn from the tidy table of :func:`ghostsym.sweeps.data.open_sweep`
    (numeric axes in numerical order), with the kind's analytic α* and r* as labelled
    reference lines and the fitted trapping curve with its interval."""
    from ghostsym.analysis.phase_portrait import use_style
    from ghostsym.sweeps.data import sweep_dataset, tidy_table

    use_style()
    import matplotlib.pyplot as plt

    ds = sweep_dataset(results, histories=False)
    table = tidy_table(ds)
    analytic = {k: ds.attrs[k] for k in ("alpha_star", "r_star") if k in ds.attrs}
    figures = []
    x_axis = results.rate_axis or next(iter(results.group_axes()), None)
    series = [a for a in results.group_axes() if a != x_axis]
    done = table[table["status"] == "done"]
    finished = table[table["status"].isin(["done", "failed"])]
    if x_axis is not None and len(done):
        alpha = analytic.get("alpha_star") if x_axis == results.rate_axis else None
        for quantity, ylabel, fname, log in (
            ("final_loss", "final loss", "final_loss.png", True),
            ("final_accuracy", "final accuracy", "final_accuracy.png", False),
            ("mean_grad_norm", "time-averaged gradient norm", "mean_grad_norm.png", True),
        ):
            if quantity not in done or not np.any(np.isfinite(done[quantity])):
                continue
            fig, ax = plt.subplots(figsize=(6, 4))
            _axis_plot(ax, done, x_axis, series, quantity, log)
            _reference_alpha(ax, alpha)
            ax.set_xlabel(_axis_label(x_axis))
            ax.set_ylabel(ylabel + " (mean ± SEM; dots: runs)")
            _legend(ax)
            figures.append(_save(fig, out / fname))
        if "final_r" in done and "r_star" in analytic:
            figures.append(_final_r_plot(done, x_axis, series, analytic, alpha, out, plt))
        figures.append(_stuck_plot(results, finished, x_axis, series, critical, alpha, out, plt))
        figures.append(_learning_curves(results, x_axis, series, out / "learning_curves.png", plt))
    if critical and any(
        np.isfinite(c["critical_rate"]) or np.isfinite(c.get("fit_threshold", np.nan))
        for c in critical
    ):
        figures.append(
            _critical_plot(
                results, critical, analytic.get("alpha_star"), out / "critical_rate.png", plt
            )
        )
    return [f for f in figures if f is not None]


def _reference_alpha(ax, alpha) -> None:
    if alpha is not None and np.isfinite(alpha):
        ax.axvline(
            alpha, color=REFERENCE_COLOR, ls="--", lw=1.0, label=r"analytic $\alpha^*$ (Eq. 23)"
        )


def _legend(ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=7)


def _series(df, series_axes):
    """(label, rows) per combination of ``series_axes`` (one series when there are none)."""
    if not series_axes:
        return [("", df)]
    out = []
    for key, sub in df.groupby(series_axes, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        out.append(
            (", ".join(f"{n}={_fmt(v)}" for n, v in zip(series_axes, key, strict=True)), sub)
        )
    return out


def _positions(df, x_axis):
    """x values to plot: the axis itself when numeric, else category positions (with the
    tick labels)."""
    x = df[x_axis]
    if np.issubdtype(x.dtype, np.number):
        return x.to_numpy(dtype=float), None
    cats = list(dict.fromkeys(x))
    return np.array([cats.index(v) for v in x], dtype=float), cats


def _set_xscale(ax, values) -> None:
    v = np.asarray([x for x in values if _numeric([x])], dtype=float)
    if v.size and v.min() > 0 and v.max() / v.min() > 20:
        ax.set_xscale("log")


def _numeric(values) -> bool:
    return bool(len(values)) and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        for v in values
    )


def _axis_plot(ax, df, x_axis, series, quantity, log) -> None:
    cats = None
    for label, sel in _series(df, series):
        xs, cats = _positions(sel, x_axis)
        ys = sel[quantity].to_numpy(dtype=float)
        line = ax.plot([], [], "o-", ms=3, label=label or None)[0]
        ax.scatter(xs, ys, s=6, alpha=0.35, color=line.get_color())
        ux = np.unique(xs)  # sorted numerically
        stats = [_mean_sem(ys[xs == x]) for x in ux]
        m = np.array([a for a, _ in stats])
        e = np.nan_to_num(np.array([b for _, b in stats]))
        line.set_data(ux, m)
        ax.errorbar(ux, m, yerr=e, fmt="none", ecolor=line.get_color(), capsize=2)
    if cats is not None:
        ax.set_xticks(range(len(cats)))
        ax.set_xticklabels([str(c) for c in cats], fontsize=7)
    else:
        _set_xscale(ax, df[x_axis].tolist())
    values = df[quantity].to_numpy(dtype=float)
    if log and np.any(np.isfinite(values)) and np.nanmin(values) > 0:
        ax.set_yscale("log")


def _final_r_plot(done, x_axis, series, analytic, alpha, out, plt):
    """Final r / r* against the rate: the target r* and the point of no return drawn."""
    fig, ax = plt.subplots(figsize=(6, 4))
    r_star = analytic["r_star"]
    df = done.assign(final_r_ratio=done["final_r"] / r_star)
    _axis_plot(ax, df, x_axis, series, "final_r_ratio", False)
    ax.axhline(1.0, color=REFERENCE_COLOR, ls="-.", lw=1.0, label=r"$r^*$ (target, $t_{esc} = T$)")
    if "point_of_no_return" in done and np.isfinite(done["point_of_no_return"]).any():
        rn = float(np.nanmedian(done["point_of_no_return"])) / r_star
        ax.axhline(rn, color=REFERENCE_COLOR, ls=":", lw=1.0, label=r"$r_n$ (point of no return)")
    _reference_alpha(ax, alpha)
    ax.set_xlabel(_axis_label(x_axis))
    ax.set_ylabel(r"final $r\,/\,r^*$ (mean ± SEM; dots: runs)")
    _legend(ax)
    return _save(fig, out / "final_r.png")


def _logistic(x, fit):
    z = fit["fit_slope"] * (np.log10(x) - np.log10(fit["fit_threshold"]))
    return 1.0 / (1.0 + np.exp(-np.clip(z, -700.0, 700.0)))


def _stuck_plot(results, finished, x_axis, series, critical, alpha, out, plt):
    """Fraction stuck and trapped per rate (numerical order), the fitted trapping curve and
    its threshold interval, and the analytic α*."""
    fig, ax = plt.subplots(figsize=(6, 4))
    by_label = {}
    if critical:
        cnames = results.group_axes(without_rate=True)
        for c in critical:
            label = ", ".join(f"{n}={_fmt(c.get(n))}" for n in cnames)
            by_label[label] = c
    numeric = True
    for label, sel in _series(finished, series):
        xs, cats = _positions(sel, x_axis)
        numeric = numeric and cats is None
        if cats is not None:
            continue
        ux = np.unique(xs)
        stuck = [float(np.mean(sel["stuck"].to_numpy()[xs == x])) for x in ux]
        trapped = [float(np.mean(sel["trapped"].to_numpy()[xs == x])) for x in ux]
        suffix = f" ({label})" if label else ""
        line = ax.plot(ux, stuck, "o-", ms=3, label="stuck" + suffix)[0]
        color = line.get_color()
        ax.plot(ux, trapped, "x--", ms=4, color=color, label="stuck or diverged" + suffix)
        fit = by_label.get(label)
        if fit and np.isfinite(fit.get("fit_threshold", np.nan)) and x_axis == results.rate_axis:
            grid = np.geomspace(ux.min(), ux.max(), 400) if ux.min() > 0 else ux
            if np.isfinite(fit.get("fit_slope", np.nan)):
                ax.plot(
                    grid,
                    _logistic(grid, fit),
                    "-",
                    lw=1.5,
                    alpha=0.6,
                    color=color,
                    label="fitted trapping curve" + suffix,
                )
            ax.axvspan(
                fit["fit_low"],
                fit["fit_high"],
                color=color,
                alpha=0.12,
                label=rf"fitted $\alpha_c$, {FIT_CONFIDENCE:.0%} interval" + suffix,
            )
    if numeric:
        _set_xscale(ax, finished[x_axis].tolist())
    _reference_alpha(ax, alpha)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel(_axis_label(x_axis))
    ax.set_ylabel("fraction of runs")
    _legend(ax)
    return _save(fig, out / "stuck_fraction.png")


def _run_series(runs, series_axes):
    groups = defaultdict(list)
    for r in runs:
        groups[_key(r.axes, series_axes)].append(r)
    return [(_label(v[0].axes, series_axes) if series_axes else "", v) for v in groups.values()]


def _learning_curves(results, x_axis, series, path, plt):
    done = [r for r in results.runs if r.status == "done"]
    values = list(dict.fromkeys(json.dumps(r.axes.get(x_axis)) for r in done))
    try:
        values.sort(key=lambda v: float(json.loads(v)))
    except (TypeError, ValueError):
        pass
    if len(values) > MAX_PANELS:
        idx = np.unique(np.linspace(0, len(values) - 1, MAX_PANELS).round().astype(int))
        values = [values[i] for i in idx]
    if not values:
        return None
    ncol = min(4, len(values))
    nrow = math.ceil(len(values) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.6 * nrow), squeeze=False)
    labels = [lbl for lbl, _ in _run_series(done, series)]
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colors = {lbl: cycle[i % len(cycle)] for i, lbl in enumerate(labels)}
    for ax, v in zip(axes.flat, values, strict=False):
        positive = True
        for label, sel in _run_series(
            [r for r in done if json.dumps(r.axes.get(x_axis)) == v], series
        ):
            for r in sel:
                h = load_sweep_run(results.results_dir, r.run_id).history
                if "loss" not in h:
                    continue
                ep = np.asarray(h.get("epoch", np.arange(len(h["loss"])))) + 1
                loss = np.asarray(h["loss"], dtype=float)
                positive = positive and bool(np.nanmin(loss) > 0)
                step = max(1, len(loss) // MAX_POINTS_PER_CURVE)
                ax.plot(ep[::step], loss[::step], lw=0.7, alpha=0.7, color=colors.get(label))
        ax.set_xscale("log")
        if positive:
            ax.set_yscale("log")
        ax.set_title(f"{_axis_label(x_axis)} = {_fmt(json.loads(v))}", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(values) :]:
        ax.axis("off")
    if series and labels:
        handles = [plt.Line2D([], [], color=colors[lbl], label=lbl) for lbl in labels]
        fig.legend(handles=handles, fontsize=7, loc="lower right")
    fig.supxlabel("epoch")
    fig.supylabel("loss")
    return _save(fig, path)


def _critical_plot(results, critical, alpha, path, plt):
    names = results.group_axes(without_rate=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    numeric_x = len(names) == 1 and _numeric([c[names[0]] for c in critical])
    for i, c in enumerate(critical):
        x = c[names[0]] if numeric_x else i
        ests = [p["estimate"] for p in c["per_seed"] if p["censored"] is None]
        ax.scatter(
            [x] * len(ests),
            ests,
            s=10,
            alpha=0.4,
            color="0.5",
            label="per seed" if i == 0 else None,
        )
        if np.isfinite(c["critical_rate"]):
            lo = c["critical_rate"] - (c["low"] if np.isfinite(c["low"]) else c["critical_rate"])
            hi = (c["high"] if np.isfinite(c["high"]) else c["critical_rate"]) - c["critical_rate"]
            ax.errorbar(
                [x],
                [c["critical_rate"]],
                yerr=[[lo], [hi]],
                fmt="o",
                color="C0",
                capsize=3,
                label="geometric mean ± u" if i == 0 else None,
            )
        if np.isfinite(c.get("fit_threshold", np.nan)):
            t = c["fit_threshold"]
            ax.errorbar(
                [x],
                [t],
                yerr=[[t - c["fit_low"]], [c["fit_high"] - t]],
                fmt="s",
                color="C3",
                capsize=3,
                ms=4,
                label=f"fitted threshold, {FIT_CONFIDENCE:.0%} interval" if i == 0 else None,
            )
    if alpha is not None and np.isfinite(alpha):
        ax.axhline(
            alpha, color=REFERENCE_COLOR, ls="--", lw=1.0, label=r"analytic $\alpha^*$ (Eq. 23)"
        )
    if numeric_x:
        ax.set_xlabel(_axis_label(names[0]))
        _set_xscale(ax, [c[names[0]] for c in critical])
    else:
        ax.set_xticks(range(len(critical)))
        ax.set_xticklabels([_label(c, names) for c in critical], fontsize=7, rotation=20)
    ax.set_yscale("log")
    ax.set_ylabel(f"critical {_axis_label(results.rate_axis)}")
    _legend(ax)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    from ghostsym.io import save_figure

    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path


def format_tables(report: Report, results_dir) -> str:
    """Short plain-text version of the report for the terminal."""
    lines = []
    for g in report.groups:
        keys = [k for k in g if k not in _GROUP_STAT_KEYS]
        label = ", ".join(f"{k}={_fmt(g[k])}" for k in keys) or "all"
        lines.append(
            f"{label:40s} runs={g['runs']:<4d} failed={g['failed']:<3d} "
            f"loss={_pm(g['final_loss_mean'], g['final_loss_sem'])}  "
            f"acc={_pm(g['final_accuracy_mean'], g['final_accuracy_sem'])}  "
            f"stuck={_frac(g['fraction_stuck'])}"
        )
    for c in report.critical:
        keys = [k for k in c if k not in _CRIT_STAT_KEYS]
        label = ", ".join(f"{k}={_fmt(c[k])}" for k in keys) or "all"
        est = f"{c['critical_rate']:.3g}" if np.isfinite(c["critical_rate"]) else "–"
        rng = f" ({c['low']:.3g} – {c['high']:.3g})" if np.isfinite(c["low"]) else ""
        lines.append(
            f"critical rate [{label}]: {est}{rng} from {c['seeds_used']} seeds "
            f"(never trapped {c['censored_above']}, always trapped {c['censored_below']}); "
            f"fitted threshold {_fit_text(c)}"
        )
    return "\n".join(lines)


_GROUP_STAT_KEYS = {
    "runs",
    "done",
    "failed",
    "diverged",
    "pending",
    "final_loss_mean",
    "final_loss_sem",
    "final_loss_median",
    "final_accuracy_mean",
    "final_accuracy_sem",
    "mean_grad_norm_mean",
    "mean_grad_norm_sem",
    "fraction_learned",
    "fraction_stuck",
    "fraction_trapped",
}
_CRIT_STAT_KEYS = {
    "critical_rate",
    "low",
    "high",
    "log10_mean",
    "log10_sem",
    "log10_uncertainty",
    "seeds_used",
    "censored_above",
    "censored_below",
    "grid_log10_spacing",
    "per_seed",
    "fit_threshold",
    "fit_low",
    "fit_high",
    "fit_method",
    "fit_slope",
    "fit_confidence",
    "fit_bounded_low",
    "fit_bounded_high",
    "fit_runs",
    "fit_trapped",
    "fit_on_plateau",
}


def check_results_dir(path) -> Path:
    p = Path(path)
    kind = directory_kind(p)
    if kind not in (None, DIRECTORY_KIND):
        raise InputError(
            f"{str(p)!r} is a ghostsym {kind} directory, not a sweep results directory"
        )
    if not (p / "sweep.json").exists():
        raise InputError(f"{str(p)!r} is not a sweep results directory (no sweep.json)")
    return p
