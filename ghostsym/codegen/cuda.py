"""The CUDA engine's kernel list: the same SymPy nonlinearities as the CPU engine, completed
into :mod:`ghostsym.numerics.cuda_template`.

The generated functions are exactly those of :func:`ghostsym.codegen.rnn.kernels` — ``act(h)
-> (φ(h), φ'(h))`` and the readout functions ``out_sigmoid``, ``out_tanh`` — printed once,
rewritten once (:func:`ghostsym.codegen.rnn.fast_form`), so the device evaluates the very
expressions the CPU engine evaluates. They are printed as ``numba.njit`` functions like
every generated kernel; the template re-targets their Python source to the device with
``numba.cuda.jit(device=True)`` (docs/gpu.md §1), so no second printer is needed.

Whether ``numba.cuda`` is the real target or numba's CUDA simulator is decided by
``NUMBA_ENABLE_CUDASIM`` when numba is first imported; the module is the same in both.
"""

from __future__ import annotations

import functools
from types import ModuleType

from ghostsym import codegen
from ghostsym.codegen.rnn import kernels
from ghostsym.symbolic import nonlinearities

#: The CUDA engine's template module, completed with the generated functions.
TEMPLATE = "ghostsym.numerics.cuda_template"


@functools.cache
def engine(activation: str = nonlinearities.DEFAULT_NONLINEARITY) -> ModuleType:
    """The CUDA engine for a nonlinearity: a module with ``train_kernel``, ``train_chunk``
    (the CPU engine's arguments), ``device_available`` and ``device_name``. The kernel is
    compiled for the device at its first launch."""
    return codegen.build_module(kernels(activation), label=f"cuda_{activation}", template=TEMPLATE)


def cuda_available() -> bool:
    """True when numba sees a CUDA device (or runs the CUDA simulator); never raises."""
    try:
        from numba import cuda

        return bool(cuda.is_available())
    except Exception:  # a broken CUDA installation counts as "no device"
        return False
