"""The state-space neural tangent kernel (sNTK) of an RNN, and its bifurcation channel.

For a network θ on a task (one epoch's trials, the engine's initial states and noise), the
Jacobian J of the states x_1 … x_S (stacked over trials, time steps and neurons: B·S·N rows) —
or of the outputs ŷ_t (B·S rows) — with respect to the trainable parameters (P columns) is
computed exactly by forward sensitivities (:mod:`ghostsym.numerics.sntk_template`, compiled
by :func:`ghostsym.codegen.sntk.module`; docs/sntk.md §2). Forward rather than one BPTT per
output: reverse mode needs one adjoint pass per row of J — B·S·N = 4000 state rows for the
rank-one DA network (N = 100, T = 20) — while forward mode needs one tangent column per
parameter, P = (2K + 1)N + (readout) = 300 for rank one; and a single forward sweep yields the
state and the output Jacobians together. For full rank (P ≈ N² ≥ S·N) the two counts are
comparable; forward mode stays one BLAS product W·(∂x) per step.

From J: the kernel K = J Jᵀ, its eigenvalues λ₁ ≥ λ₂ ≥ … (the squared singular values of J,
computed from the smaller of J Jᵀ and JᵀJ), the **effective rank** as the participation ratio
PR = (Σλ)²/Σλ² (1 when one direction carries everything, P for a flat spectrum) and as the
count of eigenvalues ≥ :data:`EIGEN_FRACTION` × λ₁, and the top parameter-space directions
(right singular vectors of J: the parameter changes that move the states most).

**The channel** (docs/sntk.md §3): for a rank-one network with a ghost, the cosine between the
top direction and ∇_θ r (Eq. 35, explicit + implicit kernels of :mod:`ghostsym.codegen.latent`,
via :mod:`ghostsym.analysis.projection`). Rank two and higher: not supported — the package
has r for a rank-two ghost (:func:`ghostsym.analysis.latent_flow.ghost_reduction`) but no
∇_θ r kernel for it; :func:`channel_alignment` says so in its record.

:func:`sntk_track` evaluates every checkpoint of a run (a RunRecord-like object: the analysis
layer reads no run directories — ``ghostsym.training.load_run`` gives one) into JSON-ready
records; :func:`plot_sntk_track` draws effective rank and loss over epochs and the spectra.

NumPy over compiled kernels; no SymPy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ghostsym.errors import InputError
from ghostsym.numerics.rnn import RNNModel, layout, pack
from ghostsym.numerics.spec import I_READOUT, engine_spec
from ghostsym.numerics.tasks import Task

#: Eigenvalues counted by the effective rank "count": λ ≥ EIGEN_FRACTION · λ₁.
EIGEN_FRACTION = 0.01
#: Largest Jacobian (entries, 8 bytes each) allocated: 6·10⁷ ≈ 480 MB.
MAX_JACOBIAN_ENTRIES = 60_000_000
#: Top directions kept per sNTK.
TOP_DIRECTIONS = 3
#: Leading eigenvalues kept in a track record (the spectrum figure's data).
SPECTRUM_KEEP = 40
#: Checkpoints ``ghostsym analyze`` evaluates the sNTK at (evenly spaced; a full-rank sNTK
#: of N = 100 costs seconds per checkpoint).
SNTK_CHECKPOINTS = 40


def _module(activation: str):
    from ghostsym.codegen.sntk import module

    return module(activation)


@dataclass(frozen=True)
class Columns:
    """The parameters differentiated: θ index, kind code and indices of every column."""

    theta_index: np.ndarray
    kind: np.ndarray
    k: np.ndarray
    i: np.ndarray
    names: tuple[str, ...]  # parameter name of each column

    @property
    def size(self) -> int:
        return int(self.theta_index.size)


def columns(model: RNNModel, names: Sequence[str] | None = None, mod=None) -> Columns:
    """Columns for the parameters ``names`` (default: the model's trainable ones), in θ order."""
    mod = mod if mod is not None else _module(model.activation)
    names = tuple(model.trainable_names() if names is None else names)
    lay = layout(model)
    n, k = model.neurons, model.rank or 0
    unknown = [p for p in names if p not in lay.offsets]
    if unknown:
        raise InputError(f"not parameters of the model: {', '.join(unknown)}")
    idx, kind, kk, ii, nm = [], [], [], [], []

    def add(name, offset, code, a, b):
        idx.append(offset)
        kind.append(code)
        kk.append(a)
        ii.append(b)
        nm.append(name)

    for name in sorted(names, key=lambda p: lay.offsets[p]):
        o = lay.offsets[name]
        if name == "b":
            for i in range(n):
                add(name, o + i, mod.COL_B, 0, i)
        elif name in ("m", "n"):
            code = mod.COL_U if name == "m" else mod.COL_V
            for r in range(k):
                for i in range(n):
                    add(name, o + r * n + i, code, r, i)
        elif name == "W":
            for i in range(n):
                for j in range(n):
                    add(name, o + i * n + j, mod.COL_W, i, j)
        elif name == "w_in":
            for c in range(model.inputs):
                for i in range(n):
                    add(name, o + c * n + i, mod.COL_WIN, c, i)
        elif name == "w_out":
            for i in range(lay.slot(name).stop - o):
                add(name, o + i, mod.COL_WOUT, 0, i)
        else:
            code = {"b_out": mod.COL_BOUT, "c": mod.COL_C, "kappa_star": mod.COL_KS}[name]
            add(name, o, code, 0, 0)
    as_int = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731
    return Columns(as_int(idx), as_int(kind), as_int(kk), as_int(ii), tuple(nm))


@dataclass(frozen=True)
class Jacobians:
    """One epoch's states and outputs and their exact Jacobians w.r.t. the columns.

    ``states`` (S+1, B, N) = x₀ … x_S; ``outputs`` (B, S); ``state_jacobian`` (B, S, N, P) =
    ∂x_s/∂θ_p for s = 1 … S; ``output_jacobian`` (B, S, P) = ∂ŷ_t/∂θ_p.
    """

    states: np.ndarray
    outputs: np.ndarray
    state_jacobian: np.ndarray
    output_jacobian: np.ndarray
    columns: Columns

    def matrix(self, of: str = "states") -> np.ndarray:
        """J as a matrix: rows (trial, step, neuron) for states, (trial, step) for outputs."""
        if of == "states":
            return self.state_jacobian.reshape(-1, self.columns.size)
        if of == "outputs":
            return self.output_jacobian.reshape(-1, self.columns.size)
        raise InputError(f"sNTK of {of!r}: choose states or outputs")


def jacobians(
    model: RNNModel,
    params: Mapping[str, np.ndarray],
    task: Task | None = None,
    *,
    seed: int = 0,
    epoch: int = 0,
    trials: int | None = None,
    names: Sequence[str] | None = None,
) -> Jacobians:
    """The exact state and output Jacobians of one epoch (first ``trials`` trials, all by
    default) w.r.t. the parameters ``names`` (default: the trainable ones)."""
    task = task if task is not None else Task()
    mod = _module(model.activation)
    ispec, fspec = engine_spec(model, task)
    u, _y = task.arrays()
    theta = pack(model, params)
    cols = columns(model, names, mod)
    b_all, s, n = task.trials, task.steps, model.neurons
    b = b_all if trials is None else int(trials)
    if not 1 <= b <= b_all:
        raise InputError(f"trials must be in [1, {b_all}], got {trials!r}")
    entries = b * (s + 1) * n * cols.size
    if entries > MAX_JACOBIAN_ENTRIES:
        raise InputError(
            f"the Jacobian would have {entries:,} entries ({b} trials x {s + 1} states x {n} "
            f"neurons x {cols.size} parameters), above the limit of {MAX_JACOBIAN_ENTRIES:,}; "
            "use fewer trials or parameters"
        )
    xs = np.empty((s + 1, b, n))
    yhat = np.empty((b, s))
    jx = np.empty((b, s + 1, n, cols.size))
    jy = np.empty((b, s, cols.size))
    mod.jacobians(
        theta,
        ispec,
        fspec,
        int(ispec[I_READOUT]),
        np.ascontiguousarray(u[:b]),
        int(seed),
        int(epoch),
        cols.kind,
        cols.k,
        cols.i,
        xs,
        yhat,
        jx,
        jy,
    )
    return Jacobians(xs, yhat, jx[:, 1:], jy, cols)


# ---- spectrum and effective rank ------------------------------------------------------------
def participation_ratio(eigenvalues) -> float:
    """(Σλ)²/Σλ² of non-negative eigenvalues (NaN when all are zero)."""
    lam = np.clip(np.asarray(eigenvalues, dtype=float), 0.0, None)
    sq = float(np.sum(lam**2))
    return float(np.sum(lam) ** 2 / sq) if sq > 0 else math.nan


def count_above(eigenvalues, fraction: float = EIGEN_FRACTION) -> int:
    """Number of eigenvalues ≥ ``fraction`` × the largest."""
    lam = np.asarray(eigenvalues, dtype=float)
    if lam.size == 0 or not lam.max() > 0:
        return 0
    return int(np.sum(lam >= fraction * lam.max()))


@dataclass(frozen=True)
class Spectrum:
    """Eigenvalues of K = J Jᵀ (descending, the nonzero part: min(rows, P) values) and the
    top right singular vectors of J (rows of ``directions``, unit norm, sign fixed so that
    the largest-magnitude entry is positive)."""

    eigenvalues: np.ndarray
    directions: np.ndarray

    @property
    def participation_ratio(self) -> float:
        return participation_ratio(self.eigenvalues)

    def count_above(self, fraction: float = EIGEN_FRACTION) -> int:
        return count_above(self.eigenvalues, fraction)

    @property
    def top_fraction(self) -> float:
        """λ₁ / Σλ: the share of the kernel's trace in the top direction."""
        total = float(np.sum(self.eigenvalues))
        return float(self.eigenvalues[0] / total) if total > 0 else math.nan


def spectrum(J: np.ndarray, top: int = TOP_DIRECTIONS) -> Spectrum:
    """The spectrum of K = J Jᵀ and the top ``top`` parameter directions of J (rows × P)."""
    J = np.asarray(J, dtype=float)
    if J.ndim != 2 or not np.all(np.isfinite(J)):
        raise InputError("the Jacobian must be a finite matrix")
    rows, p = J.shape
    if p <= rows:
        lam, vec = np.linalg.eigh(J.T @ J)
        order = np.argsort(lam)[::-1]
        lam, dirs = lam[order], vec[:, order[:top]].T
    else:
        lam, vec = np.linalg.eigh(J @ J.T)
        order = np.argsort(lam)[::-1]
        lam = lam[order]
        left = vec[:, order[:top]]
        dirs = (J.T @ left).T
        norms = np.linalg.norm(dirs, axis=1, keepdims=True)
        dirs = dirs / np.where(norms > 0, norms, 1.0)
    lam = np.clip(lam, 0.0, None)
    for d in dirs:
        if d[np.argmax(np.abs(d))] < 0:
            d *= -1.0
    return Spectrum(lam, np.ascontiguousarray(dirs))


def sntk(
    model: RNNModel,
    params: Mapping[str, np.ndarray],
    task: Task | None = None,
    *,
    of: str = "states",
    seed: int = 0,
    epoch: int = 0,
    trials: int | None = None,
    top: int = TOP_DIRECTIONS,
) -> tuple[Spectrum, Jacobians]:
    """The sNTK spectrum of ``of`` ("states" or "outputs") and the Jacobians it came from."""
    jac = jacobians(model, params, task, seed=seed, epoch=epoch, trials=trials)
    return spectrum(jac.matrix(of), top), jac


# ---- the channel: top direction vs ∇θ r ------------------------------------------------------
def ghost_gradient(model: RNNModel, params: Mapping[str, np.ndarray], cols: Columns):
    """(∇_θ r over the columns, r, κ_g) of the slowest ghost of a rank-one network, or
    (None, None, None) when the latent flow has no ghost. InputError for other ranks."""
    from ghostsym.analysis.projection import canonical_r, slowest_ghost
    from ghostsym.codegen.latent import canonical_r_gradient

    if model.rank != 1:
        raise InputError(
            "grad_theta r is available for rank-one networks only (no rank-two kernel)"
        )
    m, n, b = (np.asarray(params[k], dtype=float) for k in ("m", "n", "b"))
    try:
        kappa = slowest_ghost(m, n, b)
        kappa, r = canonical_r(m, n, b, kappa, model.activation)
        grad = canonical_r_gradient(m, n, b, kappa, model.activation)
    except InputError:
        return None, None, None
    parts = {"m": grad.m, "n": grad.n, "b": grad.b}
    out = np.zeros(cols.size)
    for p, (name, i) in enumerate(zip(cols.names, cols.i, strict=True)):
        if name in parts:
            out[p] = parts[name][i]
    return out, float(r), float(kappa)


def channel_alignment(model: RNNModel, params, spec: Spectrum, cols: Columns) -> dict:
    """|cos| between the top sNTK direction and ∇_θ r (rank one; a reason otherwise)."""
    if model.rank != 1:
        why = (
            "full-rank network: no ghost coefficient r"
            if model.rank is None
            else f"rank {model.rank}: no grad_theta r kernel beyond rank one"
        )
        return {"cosine": None, "r": None, "kappa_g": None, "why": why}
    grad, r, kappa = ghost_gradient(model, params, cols)
    if grad is None:
        return {"cosine": None, "r": None, "kappa_g": None, "why": "no ghost"}
    norm = float(np.linalg.norm(grad))
    cos = abs(float(spec.directions[0] @ grad)) / norm if norm > 0 else math.nan
    return {"cosine": cos, "r": r, "kappa_g": kappa, "why": None}


def first_ghost_epoch(model: RNNModel, checkpoints: Mapping[int, Mapping], epochs) -> int | None:
    """The first of ``epochs`` (in the order given) whose parameters have a ghost by the test
    that defines the channel alignment (:func:`ghost_gradient` not None), or None."""
    cols = columns(model)
    for e in epochs:
        if ghost_gradient(model, checkpoints[e], cols)[0] is not None:
            return int(e)
    return None


def random_alignment_quantile(p: int, q: float) -> float:
    """The q-quantile of |cos| between a fixed vector and a uniformly random direction in
    R^p: |cos|² ~ Beta(½, (p−1)/2) (the null of "no alignment")."""
    from scipy import stats

    return float(math.sqrt(stats.beta.ppf(q, 0.5, (p - 1) / 2.0)))


# ---- per checkpoint ------------------------------------------------------------------------
def sntk_record(
    model: RNNModel,
    params: Mapping[str, np.ndarray],
    task: Task | None = None,
    *,
    of: str = "states",
    seed: int = 0,
    epoch: int = 0,
    trials: int | None = None,
    fraction: float = EIGEN_FRACTION,
    keep: int = SPECTRUM_KEEP,
) -> dict:
    """One checkpoint's sNTK summary (JSON-ready): effective rank (participation ratio and
    count ≥ ``fraction``·λ₁), λ₁/Σλ, the leading ``keep`` eigenvalues and the channel."""
    spec, jac = sntk(model, params, task, of=of, seed=seed, epoch=epoch, trials=trials)
    return {
        "of": of,
        "parameters": jac.columns.size,
        "rows": int(jac.matrix(of).shape[0]),
        "participation_ratio": spec.participation_ratio,
        "count_above": spec.count_above(fraction),
        "fraction": float(fraction),
        "top_fraction": spec.top_fraction,
        "trace": float(np.sum(spec.eigenvalues)),
        "eigenvalues": [float(v) for v in spec.eigenvalues[:keep]],
        "alignment": channel_alignment(model, params, spec, jac.columns),
    }


def sntk_checkpoints(
    model: RNNModel,
    task: Task | None,
    checkpoints: Mapping[int, Mapping[str, np.ndarray]],
    *,
    seed: int = 0,
    loss=None,
    of: str = "states",
    trials: int | None = None,
    fraction: float = EIGEN_FRACTION,
    progress=None,
) -> list[dict]:
    """Per-checkpoint sNTK records (epoch order) of parameter sets ``{epoch: params}``; the
    sNTK of checkpoint e uses the draws of epoch e (the epoch whose loss the history records
    at those parameters). Each record: ``epoch``, ``loss`` (``loss[e]``, NaN past its end or
    without a history) and :func:`sntk_record`'s fields. BLAS runs single-threaded."""
    from ghostsym.numerics.blas import single_threaded_blas

    loss = np.asarray(() if loss is None else loss, dtype=float)
    out = []
    with single_threaded_blas():
        for e in sorted(checkpoints):
            rec = sntk_record(
                model, checkpoints[e], task, of=of, seed=seed, epoch=e, trials=trials,
                fraction=fraction,
            )  # fmt: skip
            lo = float(loss[e]) if e < loss.size else math.nan
            out.append({"epoch": int(e), "loss": lo, **rec})
            if progress is not None:
                progress.update(1)
    return out


def sntk_summary(records: Sequence[dict]) -> dict:
    """The per-checkpoint table ``ghostsym analyze`` reports: epoch, loss, participation
    ratio, count, λ₁/Σλ and channel cosine as equal-length lists (JSON-ready)."""
    keys = ("epoch", "loss", "participation_ratio", "count_above", "top_fraction")
    table = {k: [r[k] for r in records] for k in keys}
    table["cosine"] = [r["alignment"]["cosine"] for r in records]
    table["r"] = [r["alignment"]["r"] for r in records]
    reasons = {r["alignment"]["why"] for r in records if r["alignment"]["why"]}
    table["alignment_note"] = sorted(reasons)
    table["fraction"] = records[0]["fraction"] if records else EIGEN_FRACTION
    return table


def sntk_track(
    record,
    epochs: Sequence[int] | None = None,
    *,
    of: str = "states",
    trials: int | None = None,
    fraction: float = EIGEN_FRACTION,
    progress=None,
) -> list[dict]:
    """Per-checkpoint sNTK records of a run (:func:`sntk_checkpoints`).

    ``record``: a :class:`ghostsym.training.RunRecord` (``ghostsym.training.load_run(dir)``;
    the analysis layer reads no run directories itself) or any object with ``config``
    (``model``, ``task``, ``seed``), ``history`` (``loss``), ``checkpoint_epochs`` and
    ``checkpoint(epoch)``. ``epochs``: the checkpoints to evaluate (default: all).
    """
    cfg = record.config
    available = list(record.checkpoint_epochs)
    chosen = available if epochs is None else [int(e) for e in epochs]
    missing = sorted(set(chosen) - set(available))
    if missing:
        raise InputError(f"the run has no checkpoint at epoch(s) {missing[:5]}")
    cps = {e: record.checkpoint(e) for e in chosen}
    return sntk_checkpoints(
        cfg.model, cfg.task, cps, seed=cfg.seed, loss=record.history.get("loss"), of=of,
        trials=trials, fraction=fraction, progress=progress,
    )  # fmt: skip


# ---- figure -------------------------------------------------------------------------------
def plot_sntk_track(records: Sequence[dict], path, spectrum_epochs: Sequence[int] = (), title=""):
    """Effective rank (participation ratio, count ≥ fraction·λ₁) and loss over epochs, the
    channel cosine when present, and the normalised spectra λ_i/λ₁ at ``spectrum_epochs``
    (default: first, middle, last). Returns the path."""
    import io as _io

    from ghostsym.analysis.phase_portrait import new_figure
    from ghostsym.io import write_atomic

    if not records:
        raise InputError("no sNTK records to plot")
    ep = np.array([r["epoch"] for r in records], dtype=float)
    pr = np.array([r["participation_ratio"] for r in records], dtype=float)
    cnt = np.array([r["count_above"] for r in records], dtype=float)
    loss = np.array([r["loss"] for r in records], dtype=float)
    cos = np.array(
        [np.nan if r["alignment"]["cosine"] is None else r["alignment"]["cosine"] for r in records]
    )
    frac = records[0]["fraction"]
    if not spectrum_epochs:
        spectrum_epochs = sorted({int(ep[0]), int(ep[len(ep) // 2]), int(ep[-1])})
    fig = new_figure(figsize=(10, 4))
    ax, ax_s = fig.subplots(1, 2, width_ratios=(1.5, 1))
    ax.semilogy(ep, pr, "-o", ms=3, label="participation ratio $(\\sum\\lambda)^2/\\sum\\lambda^2$")
    ax.semilogy(ep, cnt, "-s", ms=3, label=f"count $\\lambda_i \\geq {frac:g}\\,\\lambda_1$")
    ax.set_xlabel("epoch")
    ax.set_ylabel("sNTK effective rank")
    ax2 = ax.twinx()
    ax2.semilogy(ep, loss, color="0.3", lw=1.2, ls="--", label="loss $L$")
    ax2.set_ylabel("loss $L$")
    handles = ax.get_legend_handles_labels()
    h2 = ax2.get_legend_handles_labels()
    if np.any(np.isfinite(cos)):
        ax3 = ax.twinx()
        ax3.spines["right"].set_position(("axes", 1.15))
        ax3.plot(ep, cos, "D-", color="C3", lw=1, ms=4, label="$|\\cos(v_1, \\nabla_\\theta r)|$")
        ax3.set_ylim(0, 1.05)
        ax3.set_ylabel("$|\\cos(v_1, \\nabla_\\theta r)|$")
        h3 = ax3.get_legend_handles_labels()
        h2 = (h2[0] + h3[0], h2[1] + h3[1])
    ax.legend(handles[0] + h2[0], handles[1] + h2[1], fontsize=7, loc="best")
    if title:
        ax.set_title(title)
    by_epoch = {int(r["epoch"]): r for r in records}
    for k, e in enumerate(spectrum_epochs):
        if e not in by_epoch:
            continue
        lam = np.asarray(by_epoch[e]["eigenvalues"], dtype=float)
        if lam.size and lam[0] > 0:
            ax_s.semilogy(np.arange(1, lam.size + 1), lam / lam[0], "-o", ms=3, color=f"C{k}",
                          label=f"epoch {e}")  # fmt: skip
    ax_s.axhline(frac, color="k", ls=":", lw=0.8, label=f"fraction ${frac:g}$")
    ax_s.set_xlabel("index $i$")
    ax_s.set_ylabel("$\\lambda_i / \\lambda_1$ of $K = J J^\\top$")
    ax_s.set_title("sNTK spectrum")
    ax_s.legend(fontsize=7)
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    write_atomic(path, buf.getvalue())
    return path
