"""A regular (non-editable) install works from any directory and writes only where asked.

The wheel is built from a copy of the checkout, installed with ``--no-deps`` into a
throw-away venv that sees the system's NumPy/numba/SymPy (``--system-site-packages``), and
the installed ``ghostsym`` command is run from an unrelated working directory.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: What the wheel is built from (everything else in the checkout is not part of it).
SOURCES = ("pyproject.toml", "README.md", "ghostsym", "verify")


def test_every_package_of_the_source_tree_is_installed():
    """pyproject.toml lists the packages explicitly (verify/ is mapped into ghostsym._checks)."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "ghostsym").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert set(setuptools["packages"]) == found | {"ghostsym._checks"}
    assert setuptools["package-dir"] == {"ghostsym._checks": "verify"}
    assert (ROOT / "verify" / "__init__.py").is_file()


def _can_build_without_isolation() -> bool:
    if importlib.util.find_spec("wheel") is None:
        return False
    import setuptools

    major = int(re.match(r"\d+", setuptools.__version__).group())
    return major >= 68


def _files(directory: Path) -> dict[str, int]:
    """Every file under ``directory`` except bytecode caches (Python's and numba's)."""
    return {
        str(p.relative_to(directory)): p.stat().st_mtime_ns
        for p in directory.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv bin directory, site-packages) of a fresh install of the wheel."""
    base = tmp_path_factory.mktemp("install")
    src = base / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, src / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_REQUIRE_VIRTUALENV")}
    # Without isolation when the system's setuptools/wheel can build it; else pip fetches them.
    isolation = ["--no-build-isolation"] if _can_build_without_isolation() else []
    wheels = base / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", *isolation, "-w", wheels, src],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheels.glob("ghostsym-*.whl")
    venv = base / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", venv], check=True, timeout=120
    )
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    pip = subprocess.run(
        [bin_dir / "python", "-m", "pip", "install", "-q", "--no-deps", wheel],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    site = subprocess.run(
        [
            bin_dir / "python",
            "-c",
            "import ghostsym, pathlib; print(pathlib.Path(ghostsym.__file__).parent)",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=base,
        check=True,
    )
    package = Path(site.stdout.strip())
    assert package.is_relative_to(venv), f"ghostsym imported from {package}, not the venv"
    return bin_dir, package.parent, env


@pytest.mark.slow
def test_installed_commands_work_from_anywhere_and_write_only_where_asked(installed, tmp_path):
    bin_dir, site_packages, env = installed
    before = _files(site_packages)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()

    def ghostsym(*args):
        proc = subprocess.run(
            [bin_dir / "ghostsym", *map(str, args)],
            capture_output=True,
            text=True,
            cwd=cwd,
            env=env,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc

    listing = ghostsym("verify", "--list").stdout
    ids = [line.split()[0] for line in listing.splitlines()]
    scripts = [p for p in (ROOT / "verify").glob("*.py") if not p.name.startswith("_")]
    assert len(ids) == len(scripts) and "escape-time" in ids, listing

    run = ghostsym("verify", "escape-time", "--no-progress")
    assert re.search(r"(\d+)/\1 checks passed", run.stdout), run.stdout
    report = cwd / "verify-report"
    assert (report / "report.md").is_file() and (report / "results.json").is_file()
    assert list((report / "figures").glob("escape-time*.png"))

    out = tmp_path / "tex"
    ghostsym("derive", "--out", out, "--pdf")
    tex = sorted(p.stem for p in out.glob("*.tex"))
    assert "canonical" in tex and len(tex) >= 5
    assert sorted(p.stem for p in out.glob("*.pdf")) == tex

    ghostsym("derive", "canonical")  # default: ./derivations of the working directory
    assert (cwd / "derivations" / "canonical.tex").is_file()

    assert _files(site_packages) == before, "a command wrote into the installation"
    assert not (site_packages / "derivations").exists()
    assert not (site_packages / "verify-report").exists()
