"""The CUDA backend of the training engine: the same batch of networks, trained on a GPU.

:func:`resolve_backend` turns ``"cpu"``, ``"cuda"`` or ``"auto"`` into the engine to use
(``auto``: cuda when numba sees a device); asking for cuda without one is a one-line
:class:`~ghostsym.errors.InputError` (``no CUDA device: …``). :func:`engine` returns the
CUDA engine of a nonlinearity (:func:`ghostsym.codegen.cuda.engine`), whose
``train_chunk`` takes exactly the arguments of the CPU engine's: the batch of
:mod:`ghostsym.training.engine` (``_Batch``: packing, chunking, interventions,
checkpoints, resume state, ``TrainingResult``) drives either one unchanged, and a chunk of
epochs runs entirely on the device (docs/gpu.md §1). :func:`train_arrays` is the same
launch for callers that pack their own arrays (the benchmark) and want θ snapshots taken
inside the kernel.

Results agree with the CPU engine to float64 rounding, within the tolerance of
docs/gpu.md §2 (:data:`RTOL`, :data:`ATOL`).

NumPy only here: numba.cuda lives in the generated module.
"""

from __future__ import annotations

import os

import numpy as np

from ghostsym.errors import InputError

#: The backends a training can run on.
BACKENDS = ("cpu", "cuda", "auto")

#: Agreement of a CUDA-trained network with the CPU engine (docs/gpu.md §2): every history
#: value and parameter entry a of the device and b of the CPU satisfies
#: |a − b| ≤ ATOL + RTOL·|b| for runs of at most MAX_TOLERANCE_EPOCHS epochs.
RTOL = 1e-9
ATOL = 1e-11
MAX_TOLERANCE_EPOCHS = 50

NO_DEVICE = (
    "no CUDA device: numba.cuda.is_available() is false (needs an NVIDIA GPU, its driver and "
    "numba-cuda); use --backend cpu"
)


def cuda_available() -> bool:
    """True when numba sees a CUDA device (or runs the CUDA simulator)."""
    from ghostsym.codegen.cuda import cuda_available as available

    return available()


#: Environment variable holding the backend of trainings that do not name one
#: (``ghostsym verify --backend`` and ``ghostsym sweep --backend`` set it, so that their
#: checks and local worker processes train there; set it on Dask workers yourself).
BACKEND_ENV = "GHOSTSYM_BACKEND"


def resolve_backend(backend: str | None = "cpu") -> str:
    """``"cpu"`` or ``"cuda"``: the engine a training uses. ``None`` means the value of
    ``$GHOSTSYM_BACKEND`` (default ``"cpu"``); ``"auto"`` picks cuda when a device is present.
    InputError (one line) for an unknown name, or for ``"cuda"`` without a device."""
    if backend is None:
        backend = os.environ.get(BACKEND_ENV) or "cpu"
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    if backend == "cpu":
        return "cpu"
    if cuda_available():
        return "cuda"
    if backend == "auto":
        return "cpu"
    raise InputError(NO_DEVICE)


def engine(activation: str):
    """The CUDA engine of a nonlinearity (InputError ``no CUDA device: …`` without one).

    Its ``train_chunk`` has the CPU engine's arguments and in-place results."""
    if not cuda_available():
        raise InputError(NO_DEVICE)
    from ghostsym.codegen.cuda import engine as build

    return build(activation)


def device_name() -> str:
    """The CUDA device's name ("none" without one)."""
    if not cuda_available():
        return "none"
    from ghostsym.codegen.cuda import engine as build

    return build().device_name()


def train_arrays(
    activation: str,
    arrays: dict[str, np.ndarray],
    first_epoch: int,
    n_epochs: int,
    snap_epochs=(),
) -> dict[int, np.ndarray]:
    """One launch on packed arrays (the keys are the CPU ``train_chunk``'s argument names:
    theta, m1, m2, steps_done, ispec, fspec, u, y, seeds, opt_kind, lr, hyper, train_mask,
    norm_mask, loss_hist, norm_hist, acc_hist, status), updated in place.

    Returns {epoch: θ (C × P)} for each epoch of ``snap_epochs`` inside (first_epoch,
    first_epoch + n_epochs], taken in the kernel after the update that reaches it; rows of
    networks that had diverged by then are NaN."""
    eng = engine(activation)
    lo, hi = int(first_epoch), int(first_epoch) + int(n_epochs)
    epochs = sorted({int(e) for e in snap_epochs if lo < int(e) <= hi})
    snaps = np.full((len(epochs), *arrays["theta"].shape), np.nan)
    names = (
        "theta m1 m2 steps_done ispec fspec u y seeds opt_kind lr hyper train_mask norm_mask"
    ).split()
    eng.train_chunk(
        *(arrays[k] for k in names),
        lo,
        hi - lo,
        arrays["loss_hist"],
        arrays["norm_hist"],
        arrays["acc_hist"],
        arrays["status"],
        snap_epochs=np.array(epochs, dtype=np.int64),
        snaps=snaps,
    )
    return {e: snaps[q] for q, e in enumerate(epochs)}
