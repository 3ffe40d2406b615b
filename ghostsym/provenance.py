"""Where a result came from: the record every report and results file carries.

:func:`provenance` gathers, without importing anything heavy, the ghostsym version, the git
commit of the checkout the package runs from (when it is one), the command line, the Python
and platform, and the versions of the libraries the numbers depend on (read from the
installed distributions' metadata, so nothing is imported to ask).
"""

from __future__ import annotations

import datetime
import platform
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from ghostsym.config import VERSION

#: The distributions whose versions a result records.
LIBRARIES = ("numpy", "scipy", "sympy", "numba", "llvmlite", "matplotlib", "xarray", "dask")


def _git_commit() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git checkout holding the package, or (None, None)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None, None
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None, None
    return head or None, bool(dirty)


def library_versions(names=LIBRARIES) -> dict[str, str | None]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def provenance(argv: list[str] | None = None, **extra) -> dict:
    """The provenance record: ``extra`` (e.g. profile, seed offset) added to the common fields."""
    commit, dirty = _git_commit()
    argv = sys.argv if argv is None else argv
    prog = Path(argv[0]).name if argv else "python"
    return {
        "ghostsym": VERSION,
        "commit": commit,
        "dirty": dirty,
        "command": shlex.join(
            ["ghostsym" if prog in ("ghostsym", "__main__.py") else prog] + list(argv[1:])
        ),
        **extra,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "libraries": library_versions(),
        "written": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
