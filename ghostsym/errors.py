"""The project's own exceptions.

Everything the user can cause (bad input, a diverging simulation, an unusable directory)
raises a subclass of :class:`GhostsymError`; ``ghostsym.cli.main`` turns those into a
one-line message and a non-zero exit. Any other exception is a bug.
"""


class GhostsymError(Exception):
    """Base class of every error the user can cause."""


class InputError(GhostsymError, ValueError):
    """Invalid user input: a parameter out of range, an unknown name, a malformed expression."""


class DivergenceError(GhostsymError, ArithmeticError):
    """A simulation or training run produced non-finite values."""

    def __init__(self, message: str, epoch: int | None = None):
        super().__init__(message)
        self.epoch = epoch


class NotDerivableError(GhostsymError):
    """A quantity does not exist (or has no closed form) for the given model."""
