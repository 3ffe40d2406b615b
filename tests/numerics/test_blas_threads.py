"""BLAS runs on one thread inside ghostsym's numerics, and the caller's setting comes back."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from ghostsym.numerics.blas import single_threaded_blas
from ghostsym.training import build_config, train


def _blas_threads() -> list[int]:
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_single_threaded_blas_limits_every_blas_library_and_restores():
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        assert before and max(before) == 2  # numpy's and SciPy's OpenBLAS
        with single_threaded_blas():
            inside = _blas_threads()
            assert len(inside) >= len(before)
            assert set(inside) == {1}
        assert _blas_threads()[: len(before)] == before


def test_training_uses_one_blas_thread_and_restores(monkeypatch):
    from ghostsym.training import engine

    seen = []
    real_run = engine._Batch.run

    def spy(self, *args, **kwargs):
        seen.append(_blas_threads())
        return real_run(self, *args, **kwargs)

    monkeypatch.setattr(engine._Batch, "run", spy)
    cfg = build_config(model="full", task="dcd", epochs=3, lr=1e-2, seed=0)
    with threadpool_limits(limits=2, user_api="blas"):
        result = train(cfg)
        after = _blas_threads()
    assert seen and set(seen[0]) == {1}
    assert max(after) == 2
    assert np.all(np.isfinite(result.history["loss"]))
