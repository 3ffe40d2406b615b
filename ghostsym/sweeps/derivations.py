"""Derivations a sweep needs, cached per process and on disk (shared by every worker).

A canonical run (:func:`ghostsym.sweeps.kinds.run_canonical`) needs the compiled module of
dx/dt = x² + r with its c → ∞ DA loss (docs/experiments.md §2.3) and the numbers r*, r_n and
α* at its delay T (Eq. 23). Deriving them is SymPy work (``sympy.solve`` in the DA
quantities: about a second per process) whose result never changes for a given ghostsym, so

* **per process** the simulator and the numbers at each T are kept in memory;
* **on disk** one JSON file next to the kernel cache
  (``<kernel_cache_dir>/../derivations/canonical-<key>.json``) records the generated
  module's name, file and the SHA-256 of its source, and the numbers at every T met so far.
  ``<key>`` hashes the ghostsym version and the source of every module the derivation and
  the kernels come from (``ghostsym/symbolic``, ``ghostsym/codegen``, ``ghostsym/numerics``),
  so a changed derivation never reads an old file (a stale file is simply not found). The
  file is written atomically (:func:`ghostsym.io.write_json`) and carries a SHA-256 of its
  own entries; a file that does not parse, whose checksum or key does not match, or whose
  module source has changed is ignored and the derivation recomputed (and the file
  rewritten). Workers on other machines (Dask) each fill their own cache.

A worker that finds the file loads the generated module straight from the kernel cache
(numba then loads its compiled code from its own cache): no SymPy is imported at all.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ghostsym import config
from ghostsym.io import write_json

#: Format of the cache file (bumped when its layout changes).
CACHE_FORMAT = 1
#: The derivation's numbers kept per delay T.
CANONICAL_NUMBERS = ("r_star", "point_of_no_return", "alpha_star")
#: Source folders whose modules the canonical derivation and its kernels come from.
SOURCE_PACKAGES = ("symbolic", "codegen", "numerics")
#: Largest cache file read (bytes): it holds a few numbers per delay.
MAX_CACHE_BYTES = 4 * 2**20
_MODULE_NAME = re.compile(r"ghostsym_kernels_[a-z0-9_]+")


@dataclass(frozen=True)
class LoadedNormalForm:
    """What :class:`~ghostsym.numerics.normal_form.NormalFormSimulator` needs of a compiled
    normal form, for a module loaded from the kernel cache (no SymPy objects)."""

    module: ModuleType
    x0: float
    has_closed_loss: bool


def cache_dir() -> Path:
    """Directory of the derivation cache files (a sibling of the kernel cache)."""
    return config.kernel_cache_dir().parent / "derivations"


_SOURCE_KEY: str | None = None


def source_key() -> str:
    """Hash of the version and of the sources the derivation depends on (16 hex digits)."""
    global _SOURCE_KEY
    if _SOURCE_KEY is None:
        root = Path(__file__).resolve().parent.parent
        h = hashlib.sha256(f"format {CACHE_FORMAT}; ghostsym {config.VERSION}".encode())
        for package in SOURCE_PACKAGES:
            for path in sorted((root / package).rglob("*.py")):
                h.update(str(path.relative_to(root)).encode())
                h.update(path.read_bytes())
        _SOURCE_KEY = h.hexdigest()[:16]
    return _SOURCE_KEY


def _checksum(entries: dict) -> str:
    text = json.dumps(entries, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _float_text(x: float) -> str:
    return repr(float(x))  # round-trips exactly


class CanonicalDerivation:
    """The canonical model's simulator and numbers, cached (see the module docstring)."""

    def __init__(self, directory: Path | None = None):
        self.directory = Path(directory) if directory is not None else cache_dir()
        self._simulator = None
        self._numbers: dict[float, dict[str, float]] = {}
        self.hits = {"memory": 0, "disk": 0, "derived": 0}

    @property
    def path(self) -> Path:
        return self.directory / f"canonical-{source_key()}.json"

    # -- the file ----------------------------------------------------------------------
    def _read(self) -> dict | None:
        """The file's entries if it is intact and current, else None (never raises)."""
        try:
            if self.path.stat().st_size > MAX_CACHE_BYTES:
                return None
            data = json.loads(self.path.read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            return None
        if not isinstance(data, dict) or data.get("key") != source_key():
            return None
        entries = data.get("entries")
        if not isinstance(entries, dict) or data.get("checksum") != _checksum(entries):
            return None
        return entries

    def _write(self, entries: dict) -> None:
        payload = {"key": source_key(), "entries": entries, "checksum": _checksum(entries)}
        try:
            write_json(self.path, payload, indent=1)
        except OSError:  # a cache that cannot be written only costs time
            pass

    def _update(self, **changes) -> None:
        entries = self._read() or {}
        for name, value in changes.items():
            if name == "numbers":
                entries.setdefault("numbers", {}).update(value)
            else:
                entries[name] = value
        self._write(entries)

    # -- the simulator -----------------------------------------------------------------
    def simulator(self):
        """The canonical :class:`~ghostsym.numerics.normal_form.NormalFormSimulator`."""
        if self._simulator is not None:
            self.hits["memory"] += 1
            return self._simulator
        from ghostsym.numerics.normal_form import NormalFormSimulator

        entries = self._read() or {}
        loaded = _load_module(entries.get("module"))
        if loaded is not None:
            self.hits["disk"] += 1
            self._simulator = NormalFormSimulator(loaded)
            return self._simulator
        from ghostsym.analysis.normal_form_numerics import canonical_simulator

        self.hits["derived"] += 1
        sim = canonical_simulator()
        module_file = getattr(sim.module, "__file__", None)
        if module_file:
            source = Path(module_file).read_bytes()
            self._update(
                module={
                    "name": sim.module.__name__,
                    "file": str(Path(module_file).resolve()),
                    "sha256": hashlib.sha256(source).hexdigest(),
                    "x0": _float_text(sim.x0),
                    "has_closed_loss": bool(sim.has_closed_analytic),
                }
            )
        self._simulator = sim
        return sim

    # -- the numbers at one delay ------------------------------------------------------
    def numbers(self, T: float) -> dict[str, float]:
        """r*, the point of no return r_n and α* of the un-normalised loss at delay T."""
        T = float(T)
        if T in self._numbers:
            self.hits["memory"] += 1
            return self._numbers[T]
        stored = ((self._read() or {}).get("numbers") or {}).get(_float_text(T))
        values = _parse_numbers(stored)
        if values is not None:
            self.hits["disk"] += 1
        else:
            self.hits["derived"] += 1
            values = derive_canonical_numbers(T)
            self._update(numbers={_float_text(T): {k: _float_text(v) for k, v in values.items()}})
        self._numbers[T] = values
        return values


def derive_canonical_numbers(T: float) -> dict[str, float]:
    """r*, r_n and α* at delay T from the symbolic derivation (the uncached path)."""
    from ghostsym.symbolic.canonical import derive

    d = derive()
    sym_T = d.symbols["T"]
    return {k: float(d.results[k].subs(sym_T, float(T))) for k in CANONICAL_NUMBERS}


def _parse_numbers(stored) -> dict[str, float] | None:
    if not isinstance(stored, dict):
        return None
    try:
        values = {k: float(stored[k]) for k in CANONICAL_NUMBERS}
    except (KeyError, TypeError, ValueError):
        return None
    return values if all(math.isfinite(v) for v in values.values()) else None


def _load_module(entry) -> LoadedNormalForm | None:
    """The generated module an intact cache entry names, or None (then it is rebuilt)."""
    if not isinstance(entry, dict):
        return None
    name, file, digest = entry.get("name"), entry.get("file"), entry.get("sha256")
    if not (isinstance(name, str) and _MODULE_NAME.fullmatch(name)):
        return None
    try:
        x0 = float(entry["x0"])
        closed = entry["has_closed_loss"]
        path = Path(file)
        kernels = config.kernel_cache_dir().resolve()
        # only a module of the kernel cache, named as codegen names it, with the same source
        if path.parent != kernels or path.name != f"{name}.py" or not isinstance(closed, bool):
            return None
        source = path.read_bytes()
    except (KeyError, TypeError, ValueError, OSError):
        return None
    if hashlib.sha256(source).hexdigest() != digest:
        return None
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception:  # noqa: BLE001 (a module that does not load is rebuilt)
            del sys.modules[name]
            return None
    return LoadedNormalForm(module, x0, closed)


_CANONICAL: CanonicalDerivation | None = None


def canonical() -> CanonicalDerivation:
    """The process's :class:`CanonicalDerivation` (the default cache directory)."""
    global _CANONICAL
    if _CANONICAL is None or _CANONICAL.directory != cache_dir():
        _CANONICAL = CanonicalDerivation()
    return _CANONICAL
