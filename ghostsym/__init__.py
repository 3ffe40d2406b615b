"""ghostsym: the ghost mechanism of abrupt learning, derived and verified."""

__version__ = "0.1.0"
