"""Progress meters are objects passed in: the library stays silent, the CLI shows progress.

(The pattern of diffrax's ``NoProgressMeter`` / ``TqdmProgressMeter``.) A meter has
``start(total, description)``, ``update(n, **postfix)``, ``set_description(text)`` and
``close()``. Library functions that take ``progress=`` pass it through :func:`as_meter`, so
``progress=True`` shows a ``tqdm.auto`` bar (text in a terminal, a widget in a notebook),
``progress=False`` (or ``None``) shows nothing, and a meter object is used as it is.
"""

from __future__ import annotations

import sys

from ghostsym.errors import InputError

#: The methods that make an object a progress meter.
METER_METHODS = ("start", "update", "set_description", "close")


class NoProgress:
    """A progress meter that shows nothing (the library default)."""

    def start(self, total: int, description: str = "") -> None:
        pass

    def update(self, n: int = 1, **postfix) -> None:
        pass

    def set_description(self, description: str) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class TqdmProgress(NoProgress):
    """A tqdm bar on stderr; ``postfix`` keywords (loss=…, epochs_per_s=…) are shown beside it."""

    def __init__(self, unit: str = "it", file=None, auto: bool = False):
        self.unit = unit
        self.auto = auto
        self.file = file if file is not None or auto else sys.stderr
        self._bar = None

    def start(self, total: int, description: str = "") -> None:
        if self.auto:
            # tqdm.auto: a widget under a Jupyter kernel, a text bar everywhere else.
            from tqdm.auto import tqdm
        else:
            from tqdm import tqdm

        self.close()
        options = {"file": self.file} if self.file is not None else {}
        self._bar = tqdm(
            total=total,
            desc=description,
            unit=self.unit,
            dynamic_ncols=True,
            mininterval=0.2,
            **options,
        )

    def update(self, n: int = 1, **postfix) -> None:
        if self._bar is None:
            return
        if postfix:
            self._bar.set_postfix(postfix, refresh=False)
        self._bar.update(n)

    def set_description(self, description: str) -> None:
        if self._bar is not None:
            self._bar.set_description(description)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def as_meter(progress, unit: str = "it"):
    """The progress meter that a ``progress=`` argument asks for.

    ``True`` gives a ``tqdm.auto`` bar counting ``unit`` (text on stderr in a terminal, a
    widget in a notebook); ``False`` or ``None`` gives :class:`NoProgress`; an object with the
    meter methods (``start``, ``update``, ``set_description``, ``close``) is returned as it
    is. Anything else raises :class:`~ghostsym.errors.InputError`.
    """
    if progress is True:
        return TqdmProgress(unit=unit, auto=True)
    if progress is None or progress is False:
        return NoProgress()
    if all(callable(getattr(progress, name, None)) for name in METER_METHODS):
        return progress
    raise InputError(
        f"progress must be True, False, None or a progress meter (an object with "
        f"{', '.join(METER_METHODS)}), not {progress!r}"
    )
