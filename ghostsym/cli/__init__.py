"""The ``ghostsym`` command: parse, call the library, print one-line errors.

Each sub-command lives in ``ghostsym/cli/<name>.py`` and provides
``register(subparsers)``, which adds its parser and sets ``func`` (called with the parsed
arguments; it returns the exit status). Heavy imports (SymPy, numba) happen inside ``func``
so that ``ghostsym --help`` stays fast (an ``epilog`` may be a function, called only when the
help is shown).

Every failure is one line on stderr: a :class:`~ghostsym.errors.GhostsymError` (exit 1), an
OSError such as a full disk (the file named, exit 1), running out of memory (exit 1), an
interrupt (exit 130); standard output is flushed inside, so a full or closed stdout
(``> /dev/full``) is one line too and a broken pipe (``| head``) ends quietly (exit 141).
Option values may be negative numbers in any notation (``--initial-state -3e-1``, ``-1e3``,
``-.5``, ``-inf``), for every sub-command.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import importlib.util
import os
import re
import sys

from ghostsym.config import VERSION as __version__
from ghostsym.errors import GhostsymError

#: Sub-command modules, in the order ``--help`` lists them.
COMMANDS = ("derive", "verify", "train", "analyze", "sweep", "sweep_report")


#: What argparse takes for a negative number rather than an option (its own pattern knows
#: only ``-3`` and ``-0.3``): integers, decimals, exponent notation, inf and nan.
NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.I)


class Parser(argparse.ArgumentParser):
    """ArgumentParser with :data:`NEGATIVE_NUMBER` and lazily formatted epilogs; the
    sub-command parsers are of this class too (``add_subparsers`` uses the parent's)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = NEGATIVE_NUMBER

    def format_help(self) -> str:
        if callable(self.epilog):
            self.epilog = self.epilog()
        for action in self._actions:  # a help set to a function after add_argument: lazy
            if callable(action.help):
                action.help = action.help()
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="ghostsym",
        description="Derive and numerically verify the ghost mechanism of abrupt learning.",
    )
    parser.add_argument("--version", action="version", version=f"ghostsym {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        modname = f"ghostsym.cli.{name}"
        if importlib.util.find_spec(modname) is None:
            continue
        importlib.import_module(modname).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    stdout = sys.stdout
    sys.stdout = _GuardedStdout(stdout)
    try:
        status = args.func(args)
        sys.stdout.flush()  # here, so that a full or closed stdout is reported below
    except _StdoutError as exc:
        _drop_stdout(stdout)
        reason = exc.error.strerror or os.strerror(exc.error.errno or errno.EIO)
        return _fail(args.command, f"cannot write to standard output: {reason}")
    except GhostsymError as exc:
        return _fail(args.command, exc)
    except KeyboardInterrupt:
        print(f"ghostsym {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into e.g. `head`: stop quietly, as Unix tools do.
        _drop_stdout(stdout)
        return 141
    except MemoryError:
        return _fail(args.command, "out of memory (a smaller run, or more memory, is needed)")
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename is not None else ""
        return _fail(args.command, f"{where}{exc.strerror or exc}")
    finally:
        sys.stdout = stdout
    return int(status or 0)


class _StdoutError(Exception):
    """Standard output could not be written (not a broken pipe: a full disk, /dev/full)."""

    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error


class _GuardedStdout:
    """``sys.stdout`` during a command: its write/flush failures become :class:`_StdoutError`
    (broken pipes stay BrokenPipeError), so they are told apart from failures on files."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _StdoutError(exc) from None

    def flush(self):
        try:
            return self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _StdoutError(exc) from None

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _fail(command: str, message) -> int:
    text = " ".join(str(message).split("\n"))
    try:
        print(f"ghostsym {command}: error: {text}", file=sys.stderr)
    except OSError:
        pass
    return 1


def _drop_stdout(stream) -> None:
    """Point stdout at /dev/null so that the interpreter's final flush cannot fail again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":
    sys.exit(main())
