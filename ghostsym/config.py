"""Named tunables, in one place (STUMPY's ``config.py`` pattern)."""

import os
from pathlib import Path

#: The package version (pyproject.toml reads it from here).
VERSION = "0.1.0"

#: Environment variable that overrides where generated numba kernels are written.
KERNEL_CACHE_ENV = "GHOSTSYM_CACHE_DIR"

#: Environment variable that overrides where ``ghostsym verify`` looks for check files
#: (default: the installed ``ghostsym/_checks``, or ``verify/`` beside the package in a checkout).
VERIFY_DIR_ENV = "GHOSTSYM_VERIFY_DIR"

#: Keyword arguments of every numba-compiled function generated or written in ghostsym.
#: ``error_model="numpy"`` lets loops with divisions vectorise (docs/performance.md §2.2).
NJIT_OPTIONS = {"cache": True, "error_model": "numpy"}


def kernel_cache_dir() -> Path:
    """Directory for generated kernel modules (and numba's cache of them)."""
    env = os.environ.get(KERNEL_CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ghostsym" / "kernels"
