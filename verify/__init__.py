"""The verification checks, one file per paper prediction (see ``ghostsym.verification``).

This folder is installed as the package ``ghostsym._checks`` (pyproject.toml maps it), so
``ghostsym verify`` finds the checks in a regular install as well as in a checkout. The
checks are loaded by ``ghostsym.verification.discover``, which skips files starting with
``_``; nothing imports this package.
"""
