"""Argument types and checks shared by the sub-commands (errors are one line, exit 2)."""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

from ghostsym.errors import InputError


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    value = nonnegative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be > 0, got 0")
    return value


def writable_directory(path: str | os.PathLike) -> Path:
    """Create ``path`` if needed and make sure files can be written there."""
    directory = Path(path).expanduser()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):  # a probe that leaves nothing behind
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InputError(f"cannot write to output directory {str(directory)!r}: {reason}") from None
    return directory
