"""The ``ghostsym`` command: parse, call the library, print one-line errors.

Each sub-command lives in ``ghostsym/cli/<name>.py`` and provides
``register(subparsers)``, which adds its parser and sets ``func`` (called with the parsed
arguments; it returns the exit status). Heavy imports (SymPy, numba) happen inside ``func``
so that ``ghostsym --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys

from ghostsym.config import VERSION as __version__
from ghostsym.errors import GhostsymError

#: Sub-command modules, in the order ``--help`` lists them.
COMMANDS = ("derive", "verify", "train", "analyze", "sweep", "sweep_report")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    try:
        status = args.func(args)
    except GhostsymError as exc:
        print(f"ghostsym {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"ghostsym {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into e.g. `head`: stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
