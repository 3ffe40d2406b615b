"""Writing derivation documents to disk and compiling them with a real TeX engine."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .errors import GhostsymError

#: TeX engines tried in order by :func:`compile_pdf`.
TEX_ENGINES = ("pdflatex",)
#: Seconds one compilation may take before it is reported as hung.
TEX_TIMEOUT = 120


def write_atomic(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` atomically; return True if the content changed."""
    path = Path(path)
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return True


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
            shutil.copyfile(Path(build) / (tex.stem + ".pdf"), pdf)
            pdfs.append(pdf)
    return pdfs
