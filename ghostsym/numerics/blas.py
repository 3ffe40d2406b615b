"""One BLAS thread for ghostsym's small dense linear algebra.

The RNN kernels multiply N × N matrices by N × B batches with N ≈ 100 and B ≤ 1000, and the
speed-minimum search solves N × N systems. OpenBLAS's threads gain nothing at that size and,
when the cores are shared (another process, a sweep's other workers, numba's own threads),
their spin-waiting makes each call many times slower: measured on 2 loaded cores, a Fig. 8C
epoch took 25 ms with OpenBLAS's default threads and 1.4 ms with one (a Fig. 5 DMTS epoch
16.6 ms against 0.56 ms). Parallelism in ghostsym is across networks (``train_many``'s
prange, sweep workers), never inside one matrix product.

:func:`single_threaded_blas` limits every BLAS library loaded in the process — numpy's,
SciPy's (which numba's ``np.dot`` calls) — through threadpoolctl, and restores the previous
limits on exit.
"""

from __future__ import annotations

import contextlib

from threadpoolctl import threadpool_limits


@contextlib.contextmanager
def single_threaded_blas():
    """Context manager: BLAS calls inside run on one thread (restored afterwards)."""
    # numba's np.dot reaches BLAS through scipy.linalg.cython_blas: load it now, so that the
    # library is among those limited even before the first kernel call loads it.
    import scipy.linalg.cython_blas  # noqa: F401

    with threadpool_limits(limits=1, user_api="blas"):
        yield
