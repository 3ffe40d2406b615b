"""ghostsym: the ghost mechanism of abrupt learning, derived and verified."""

from ghostsym.config import VERSION

__version__ = VERSION
