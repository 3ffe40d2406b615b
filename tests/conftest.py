"""Shared test set-up: the CLI runner fixture and the repository root.

Generated kernels use the default cache (``~/.cache/ghostsym/kernels`` or
``$GHOSTSYM_CACHE_DIR``), so a second test run reuses compiled numba code."""

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def run_cli():
    """Run ``ghostsym`` as a user would (a subprocess), returning the CompletedProcess."""
    import subprocess

    def run(*args, cwd=None, env=None, timeout=600):
        # The checkout under test, wherever the subprocess runs (a git worktree included).
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        full_env = dict(os.environ, PYTHONPATH=path, **(env or {}))
        return subprocess.run(
            [sys.executable, "-m", "ghostsym.cli", *map(str, args)],
            capture_output=True,
            text=True,
            cwd=cwd,
            env=full_env,
            timeout=timeout,
        )

    return run


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
