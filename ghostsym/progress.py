"""Progress meters are objects passed in: the library stays silent, the CLI shows progress.

(The pattern of diffrax's ``NoProgressMeter`` / ``TqdmProgressMeter``.)
"""

from __future__ import annotations

import sys


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

    def __init__(self, unit: str = "it", file=None):
        self.unit = unit
        self.file = file if file is not None else sys.stderr
        self._bar = None

    def start(self, total: int, description: str = "") -> None:
        from tqdm import tqdm

        self.close()
        self._bar = tqdm(
            total=total,
            desc=description,
            unit=self.unit,
            file=self.file,
            dynamic_ncols=True,
            mininterval=0.2,
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
