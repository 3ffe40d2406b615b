"""The package's folders are its data flow, and the imports obey it (docs/architecture.md).

symbolic → codegen → numerics → analysis → training → sweeps → verification → cli, with a
few foundation modules (errors, config, progress, io) that any layer may use. Every import
statement is scanned, including those inside functions: a function-level import is still a
dependency, and hiding a circle behind one is exactly what this test exists to forbid.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ghostsym"

#: The layers in data-flow order; a module may import its own layer and the ones before it.
LAYERS = (
    "symbolic",
    "codegen",
    "numerics",
    "analysis",
    "training",
    "sweeps",
    "verification",
    "cli",
)
#: Modules every layer may import; they import nothing of ghostsym but each other.
FOUNDATION = ("errors", "config", "progress", "io", "provenance")
#: ghostsym layers a layer must not import although they come before it.
SKIPPED = {
    # numerics is numba + NumPy: it never sees a SymPy object (templates are completed by
    # codegen, which reads them as text).
    "numerics": {"symbolic", "codegen"},
    # analysis gets compiled kernels from codegen, never expressions.
    "analysis": {"symbolic"},
}
#: Third-party packages each layer may import directly (the standard library is free).
THIRD_PARTY = {
    "foundation": {"numpy", "tqdm"},
    "symbolic": {"sympy"},
    "codegen": {"sympy", "numba", "numpy"},
    "numerics": {"numba", "numpy", "threadpoolctl"},
    "analysis": {"numba", "numpy", "scipy", "matplotlib", "threadpoolctl"},
    "training": {"numpy", "matplotlib", "threadpoolctl"},
    "sweeps": {"numpy", "matplotlib", "dask", "distributed"},
    "verification": {"numpy", "scipy", "matplotlib", "sympy"},
    "cli": {"numpy", "sympy"},
}
#: Single files allowed one more package than their layer, and why.
FILE_EXCEPTIONS = {
    # loads the BLAS library that numba's np.dot calls, so that threadpoolctl can limit it
    "ghostsym/numerics/blas.py": {"scipy"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "api"  # ghostsym/__init__.py: the public surface, re-exports every layer
    head = parts[1]
    if head in FOUNDATION:
        return "foundation"
    if head == "__main__":
        return "cli"
    if head in LAYERS:
        return head
    raise AssertionError(f"{module}: not in a layer folder nor a foundation module")


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = _module_name(path).split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # "from ghostsym.analysis import search" imports the submodule search: record an
            # edge to each name that is a module, and to the package only for other names.
            subs = [f"{mod}.{a.name}" for a in node.names if _is_module(f"{mod}.{a.name}")]
            if len(subs) < len(node.names):
                out.append((node.lineno, mod))
            out += [(node.lineno, sub) for sub in subs]
    return out


def _is_module(name: str) -> bool:
    if not name.startswith("ghostsym."):
        return False
    candidate = PACKAGE.joinpath(*name.split(".")[1:])
    return candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file()


def _files():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _internal_target(name: str) -> str | None:
    """The ghostsym module (or package) an import names, or None if it is external."""
    if name != "ghostsym" and not name.startswith("ghostsym."):
        return None
    parts = name.split(".")
    # "ghostsym.training.load_run" style imports name an attribute: trim to a module
    while len(parts) > 1:
        candidate = PACKAGE.joinpath(*parts[1:])
        if candidate.with_suffix(".py").exists() or (candidate / "__init__.py").exists():
            break
        parts = parts[:-1]
    return ".".join(parts)


def violations() -> list[str]:
    problems = []
    for path in _files():
        module = _module_name(path)
        layer = _layer(module)
        if layer == "api":
            continue
        for line, name in _imports(path):
            where = f"{path.relative_to(ROOT)}:{line}"
            target = _internal_target(name)
            if target is None:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top == "__future__":
                    continue
                allowed = THIRD_PARTY[layer] | FILE_EXCEPTIONS.get(
                    str(path.relative_to(ROOT)), set()
                )
                if top not in allowed:
                    problems.append(f"{where}: {layer} imports {top}")
                continue
            if target == "ghostsym":
                if layer != "cli":
                    problems.append(f"{where}: imports the public API package from inside")
                continue
            tlayer = _layer(target)
            if tlayer == "api":
                continue
            if layer == "foundation":
                if tlayer != "foundation":
                    problems.append(f"{where}: foundation module imports {target}")
                continue
            if tlayer == "foundation":
                continue
            if LAYERS.index(tlayer) > LAYERS.index(layer):
                problems.append(f"{where}: upward import {layer} → {target}")
            elif tlayer in SKIPPED.get(layer, ()):
                problems.append(f"{where}: {layer} must not import {target}")
    return problems


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in _files():
        module = _module_name(path)
        deps = graph.setdefault(module, set())
        for _, name in _imports(path):
            target = _internal_target(name)
            if target and target != module and target != "ghostsym":
                deps.add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _package_edges_ok(graph):
    """A package's __init__ importing its own submodules is not a circle of concepts."""
    return {
        m: {d for d in deps if not (d.startswith(m + ".") and m.count(".") >= 1)}
        for m, deps in graph.items()
    }


def test_every_module_lives_in_a_layer():
    for path in _files():
        _layer(_module_name(path))


def test_imports_follow_the_data_flow():
    problems = violations()
    assert not problems, "layer rule broken:\n" + "\n".join(problems)


def test_no_import_circles():
    found = cycles(_package_edges_ok(import_graph()))
    assert not found, "import circles:\n" + "\n".join(" ↔ ".join(c) for c in found)


# --- the checker itself ---------------------------------------------------------------
def test_checker_sees_function_level_and_relative_imports(tmp_path, monkeypatch):
    fake = PACKAGE / "analysis" / "_layout_probe.py"
    monkeypatch.setattr(
        Path,
        "read_text",
        lambda self, *a, **k: (
            ("def f():\n    from ..training import load_run\n    import sympy\n")
            if self == fake
            else _read_text(self, *a, **k)
        ),
    )
    assert _imports(fake) == [(2, "ghostsym.training"), (3, "sympy")]


def test_checker_sees_submodules_imported_from_a_package(monkeypatch):
    fake = PACKAGE / "analysis" / "_layout_probe.py"
    source = "def f():\n    from ghostsym.analysis import latent_flow, points\n"
    monkeypatch.setattr(
        Path, "read_text", lambda self, *a, **k: source if self == fake else _read_text(self)
    )
    found = {name for _, name in _imports(fake)}
    assert {"ghostsym.analysis.latent_flow", "ghostsym.analysis.points"} <= found
    graph = {"ghostsym.analysis.search": {"ghostsym.analysis.latent_flow"}}
    graph["ghostsym.analysis.latent_flow"] = {"ghostsym.analysis.search"}
    assert cycles(graph) == [["ghostsym.analysis.latent_flow", "ghostsym.analysis.search"]]
    assert _internal_target("ghostsym.training.load_run") == "ghostsym.training"
    assert _layer("ghostsym.errors") == "foundation"
    with pytest.raises(AssertionError):
        _layer("ghostsym.loose_module")


_read_text = Path.read_text


def test_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
