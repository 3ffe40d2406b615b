"""Writing files: atomically, with the user's permissions, and JSON that is always JSON.

The one home of ghostsym's file writing. Every file ghostsym writes goes through
:func:`write_atomic` (a temporary file in the target directory, then ``os.replace``), so a
reader — or a run killed mid-write — never sees half a file. Temporary files are created
private (``mkstemp``: mode 0600) and given the mode a plain ``open`` would have given them
(0666 masked by the process umask) before they are renamed into place. A write that fails
(a full disk, a read-only directory) leaves no temporary file behind and raises
:class:`WriteError`, a one-line :class:`~ghostsym.errors.GhostsymError` naming the path.

Also here: :func:`to_jsonable` (NumPy scalars and arrays, non-finite floats as strings) and
:func:`compile_pdf`, the TeX engine that turns derivation documents into PDFs.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from ghostsym.config import VERSION
from ghostsym.errors import GhostsymError, InputError

#: TeX engines tried in order by :func:`compile_pdf`.
TEX_ENGINES = ("pdflatex",)
#: Seconds one compilation may take before it is reported as hung.
TEX_TIMEOUT = 120


class WriteError(GhostsymError, OSError):
    """A file could not be written (``errno`` as the OSError's; the message names the path).

    Both a :class:`~ghostsym.errors.GhostsymError` (the CLI prints it as one line) and an
    :class:`OSError` (code that handles OSError keeps working)."""

    def __init__(self, errno: int | None, message: str):
        super().__init__(errno, message)

    def __str__(self) -> str:
        return str(self.args[1])


def write_error(exc: OSError, path=None) -> WriteError:
    """The :class:`WriteError` of an OSError met while writing ``path`` (or
    ``exc.filename``): "cannot write PATH: No space left on device"."""
    if isinstance(exc, WriteError):
        return exc
    where = exc.filename if path is None and exc.filename is not None else path
    reason = exc.strerror or str(exc) or type(exc).__name__
    return WriteError(exc.errno, f"cannot write {where}: {reason}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(
    path: Path, data: str | bytes, *, fsync: bool = False, skip_unchanged: bool = True
) -> bool:
    """Write ``data`` (text or bytes) to ``path`` atomically; return True if it changed.

    The directory is created if needed. With ``skip_unchanged`` an identical file is left
    untouched (its mtime too); ``fsync`` flushes the data to disk before the rename (for
    files whose presence marks a completed run).
    """
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if skip_unchanged and path.is_file():
        try:
            if path.read_bytes() == raw:
                return False
        except OSError:
            pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise write_error(exc, path) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise write_error(exc, path) from None
        raise
    return True


def append_bytes(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path`` (created with the umask's mode if missing): for logs whose
    readers drop a partial last record. A failure raises :class:`WriteError` naming ``path``."""
    path = Path(path)
    try:
        with open(path, "ab") as fh:
            fh.write(data)
    except OSError as exc:
        raise write_error(exc, path) from None


def to_jsonable(value):
    """``value`` with NumPy scalars/arrays as Python numbers/lists, dict keys as strings,
    non-finite floats as the strings "inf", "-inf", "nan" (strict JSON has no such numbers)
    and any other object as its ``str``."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else str(v)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if value is None or isinstance(value, str):
        return value
    return str(value)


def json_text(data, indent: int = 2) -> str:
    """Strict JSON text of ``data`` (through :func:`to_jsonable`), ending in a newline."""
    return json.dumps(to_jsonable(data), indent=indent, allow_nan=False) + "\n"


def write_json(path: Path, data, *, indent: int = 2, fsync: bool = False) -> bool:
    """Atomically write ``data`` as strict JSON (see :func:`json_text`)."""
    return write_atomic(path, json_text(data, indent), fsync=fsync, skip_unchanged=False)


def savez_atomic(path: Path, arrays: Mapping[str, np.ndarray], *, fsync: bool = False) -> None:
    """Atomically write ``arrays`` as an uncompressed ``.npz`` file."""
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
    write_atomic(path, buffer.getvalue(), fsync=fsync, skip_unchanged=False)


def save_figure(fig, path: Path, *, dpi: int = 120, format: str | None = None) -> Path:
    """Atomically write a matplotlib Figure (PNG unless ``path`` or ``format`` says
    otherwise); returns the path."""
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=format or (path.suffix.lstrip(".") or "png"), dpi=dpi)
    write_atomic(path, buffer.getvalue(), skip_unchanged=False)
    return path


def tex_engine() -> str:
    for engine in TEX_ENGINES:
        found = shutil.which(engine)
        if found:
            return found
    raise GhostsymError(
        "no TeX engine found (need pdflatex; on Debian: apt-get install texlive-latex-base "
        "texlive-latex-recommended)"
    )


def _first_error(log: str) -> str:
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("!"):
            context = " ".join(s.strip() for s in lines[i : i + 3] if s.strip())
            return context[:300]
    return "unknown LaTeX error (see the .log file)"


def compile_pdf(tex_files: Iterable[Path], out_dir: Path | None = None) -> list[Path]:
    """Compile each ``.tex`` file with pdflatex (twice, for references); return the PDFs.

    Raises :class:`GhostsymError` naming the file and the first LaTeX error.
    """
    engine = tex_engine()
    pdfs = []
    for tex in map(Path, tex_files):
        target_dir = Path(out_dir) if out_dir is not None else tex.parent
        target_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="ghostsym-tex-") as build:
            cmd = [
                engine,
                "-interaction=nonstopmode",
                "-halt-on-error",
                f"-output-directory={build}",
                str(tex.resolve()),
            ]
            for _ in range(2):
                try:
                    proc = subprocess.run(
                        cmd, capture_output=True, text=True, timeout=TEX_TIMEOUT, cwd=build
                    )
                except subprocess.TimeoutExpired:
                    raise GhostsymError(f"{tex.name}: pdflatex timed out") from None
                if proc.returncode != 0:
                    log_path = Path(build) / (tex.stem + ".log")
                    log = log_path.read_text(errors="replace") if log_path.exists() else proc.stdout
                    raise GhostsymError(f"{tex.name}: LaTeX error: {_first_error(log)}")
            pdf = target_dir / (tex.stem + ".pdf")
            write_atomic(
                pdf, (Path(build) / (tex.stem + ".pdf")).read_bytes(), skip_unchanged=False
            )
            pdfs.append(pdf)
    return pdfs


def writable_directory(path: str | os.PathLike) -> Path:
    """Create ``path`` if needed and make sure files can be written there (else InputError)."""
    directory = Path(path).expanduser()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):  # a probe that leaves nothing behind
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InputError(f"cannot write to output directory {str(directory)!r}: {reason}") from None
    return directory


# -- directories ghostsym owns -----------------------------------------------------------------
#: The marker file that says a directory was written by ghostsym, and of which kind.
MARKER = ".ghostsym.json"


def directory_kind(path: Path) -> str | None:
    """The kind recorded in ``path``'s marker ("run", "sweep", ...), or None if unmarked."""
    marker = Path(path) / MARKER
    try:
        data = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    kind = data.get("kind") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) else None


def _article(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def claim_directory(path: Path, kind: str, *, legacy=None) -> Path:
    """Make ``path`` a ghostsym directory of ``kind`` and return it.

    ``path`` must be new, empty, or already marked as this kind by ghostsym; anything else
    (a user's directory, a file, a directory of another kind) raises
    :class:`~ghostsym.errors.InputError` and nothing is written. The marker records the kind
    and the version that created the directory. ``legacy(path) -> bool`` recognises an
    unmarked directory that ghostsym wrote before markers existed (e.g. a run directory by
    its config.json); such a directory is accepted and marked.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{str(path)!r} exists and is not a directory")
    if path.is_dir():
        found = directory_kind(path)
        if found == kind:
            return path
        try:
            entries = [p.name for p in path.iterdir()]
        except OSError as exc:
            raise InputError(f"cannot read directory {str(path)!r}: {exc.strerror}") from None
        if found is not None:
            raise InputError(
                f"{str(path)!r} is a ghostsym {found} directory, not {_article(kind)} "
                "directory; choose another --out"
            )
        if entries and not (found is None and legacy is not None and legacy(path)):
            raise InputError(
                f"{str(path)!r} is not empty and was not written by ghostsym "
                f"(no {MARKER}); ghostsym never writes into such a directory: choose a new "
                "or empty --out"
            )
    try:
        path.mkdir(parents=True, exist_ok=True)
        write_json(path / MARKER, {"kind": kind, "ghostsym_version": VERSION})
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if isinstance(exc, WriteError):
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise InputError(f"cannot write to {str(path)!r}: {reason}") from None
    return path


@contextlib.contextmanager
def directory_lock(path: Path, what: str):
    """Hold an exclusive lock on ``path/.lock`` for the duration (one writer per directory);
    a second holder gets :class:`~ghostsym.errors.InputError` naming ``what`` is running."""
    import fcntl

    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fh = open(path / ".lock", "a")  # noqa: SIM115 (held; "a" leaves its mtime alone)
    except OSError as exc:
        raise InputError(f"cannot write to {str(path)!r}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise InputError(
            f"another {what} is running in {str(path)!r} (it holds {path / '.lock'})"
        ) from None
    try:
        yield path
    finally:
        fh.close()
