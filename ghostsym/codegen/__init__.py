"""Code generation: the single bridge from SymPy expressions to numba kernels.

SymPy expressions are printed with SymPy's Python code printer (``math.*`` functions, which
numba compiles natively) into a *real* Python module, one ``@numba.njit(cache=True)``
function per expression. The module is written into a cache directory under a name keyed by a
hash of its source, so a second run (in this or another process) neither regenerates the
source nor recompiles the functions: numba's on-disk cache sits next to the module.

Why real modules: numba cannot cache functions created with ``exec``, and a jitted function
that receives another jitted function as an argument is never served from the cache (the
dispatcher type differs in every process). Numerical code that must call generated functions
is therefore written as a *template* module (``ghostsym/numerics/*_template.py``) that uses the
generated names as globals; :func:`build_module` appends the template's source to the
generated functions, so the whole module is cacheable and a change of either the expressions
or the template changes the hash.

The codegen layer is the only place SymPy meets numba, and every kernel list lives in it,
once per model:

* :mod:`ghostsym.codegen.rnn` — the RNN engine's ``act``, ``out_sigmoid``, ``out_tanh``
  (template :mod:`ghostsym.numerics.rnn_template`);
* :mod:`ghostsym.codegen.normal_form` — a normal form's ``nf_f``, ``nf_dfdx``, ``nf_dfdr``,
  ``nf_analytic_loss``, ``nf_analytic_grad`` and, with a closed-form escape time,
  ``nf_escape_time_rho``, ``nf_escape_time_drho`` (template
  :mod:`ghostsym.numerics.normal_form_template`);
* :mod:`ghostsym.codegen.latent` — the latent-flow, ghost, gradient-projection, speed-energy
  and reference-BPTT kernels (templates ``ghostsym/numerics/latent_template.py`` and
  ``speed_template.py``);
* :mod:`ghostsym.codegen.fields` — the analysis layer's fields: φ and its derivatives, and a
  SymPy vector field's F, J, H, ∇q, ∇²q (slow points, Eq. 2);
* :mod:`ghostsym.codegen.rewriting` — no kernels: the pre-printing rewrites (tanh → exp,
  half-integer powers → square roots) the lists above apply.

This module owns no kernel list itself: it prints them (:class:`Kernel`,
:func:`function_source`, :func:`module_source`) and imports them (:func:`build_module`).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import keyword
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import sympy
from sympy.printing.pycode import PythonCodePrinter

from ghostsym import config
from ghostsym.errors import InputError
from ghostsym.io import write_atomic

#: Bumped whenever the generated source format changes (part of the hash).
CODEGEN_VERSION = "1"

_MODULE_PREFIX = "ghostsym_kernels_"


@dataclass(frozen=True)
class Kernel:
    """One generated scalar function ``name(*args) -> expr``.

    ``expr`` may be a single SymPy expression or a tuple of them (the function then
    returns a tuple). Common subexpressions are shared through ``sympy.cse``.
    """

    name: str
    args: tuple[sympy.Symbol, ...]
    expr: sympy.Expr | tuple[sympy.Expr, ...]

    def __post_init__(self):
        if not self.name.isidentifier() or keyword.iskeyword(self.name):
            raise InputError(f"kernel name {self.name!r} is not a valid Python identifier")
        object.__setattr__(self, "args", tuple(self.args))
        exprs = self.expr if isinstance(self.expr, tuple) else (self.expr,)
        free = set().union(*(sympy.sympify(e).free_symbols for e in exprs))
        missing = free - set(self.args)
        if missing:
            names = ", ".join(sorted(str(s) for s in missing))
            raise InputError(f"kernel {self.name!r}: expression uses symbols not in args: {names}")


class _KernelPrinter(PythonCodePrinter):
    """Python printer with numba-friendly choices for the functions we use."""

    def _print_Heaviside(self, expr):
        x = self._print(expr.args[0])
        h0 = expr.args[1] if len(expr.args) > 1 else sympy.S.Half
        return f"(1.0 if {x} > 0 else ({self._print(h0)} if {x} == 0 else 0.0))"

    def _print_sign(self, expr):
        x = self._print(expr.args[0])
        return f"(1.0 if {x} > 0 else (-1.0 if {x} < 0 else 0.0))"

    def _print_Infinity(self, expr):
        return "math.inf"

    def _print_NegativeInfinity(self, expr):
        return "-math.inf"

    def _print_Rational(self, expr):
        return f"({expr.p}/{expr.q})" if expr.q != 1 else f"{expr.p}.0"

    def _print_Integer(self, expr):
        return f"{int(expr)}"


def _safe_names(args: Sequence[sympy.Symbol]) -> dict[sympy.Symbol, sympy.Symbol]:
    """Map argument symbols to valid, distinct Python identifiers."""
    mapping, used = {}, set()
    for i, s in enumerate(args):
        name = s.name if s.name.isidentifier() and not keyword.iskeyword(s.name) else f"arg{i}"
        if name in used or name.startswith("_t") or name in {"math", "numba", "np"}:
            name = f"arg{i}"
        used.add(name)
        mapping[s] = sympy.Symbol(name, **s.assumptions0)
    return mapping


def function_source(kernel: Kernel, njit_options: Mapping[str, object] | None = None) -> str:
    """The Python source of one generated numba function."""
    options = dict(config.NJIT_OPTIONS if njit_options is None else njit_options)
    mapping = _safe_names(kernel.args)
    exprs = kernel.expr if isinstance(kernel.expr, tuple) else (kernel.expr,)
    exprs = [sympy.sympify(e).xreplace(mapping) for e in exprs]
    temps, reduced = sympy.cse(exprs, symbols=sympy.numbered_symbols("_t"), optimizations="basic")
    printer = _KernelPrinter({"fully_qualified_modules": True, "standard": "python3"})
    opts = ", ".join(f"{k}={v!r}" for k, v in sorted(options.items()))
    params = ", ".join(mapping[a].name for a in kernel.args)
    lines = [f"@numba.njit({opts})", f"def {kernel.name}({params}):"]
    for sym, sub in temps:
        lines.append(f"    {sym} = {printer.doprint(sub)}")
    body = [printer.doprint(e) for e in reduced]
    if isinstance(kernel.expr, tuple):
        lines.append(f"    return ({', '.join(body)},)")
    else:
        lines.append(f"    return {body[0]}")
    return "\n".join(lines) + "\n"


def _template_source(template: str) -> str:
    spec = importlib.util.find_spec(template)
    if spec is None or spec.origin is None:
        raise InputError(f"kernel template module {template!r} not found")
    return Path(spec.origin).read_text()


def module_source(
    kernels: Iterable[Kernel],
    template: str | None = None,
    njit_options: Mapping[str, object] | None = None,
) -> str:
    """Complete source of a generated module: the kernels, then the template (if any)."""
    kernels = list(kernels)
    names = [k.name for k in kernels]
    if len(set(names)) != len(names):
        raise InputError(f"duplicate kernel names: {names}")
    parts = [
        '"""Generated by ghostsym.codegen from SymPy expressions. Do not edit."""',
        "import math",
        "",
        "import numba",
        "import numpy as np",
        "",
    ]
    parts += [function_source(k, njit_options) for k in kernels]
    if template is not None:
        parts += [f"# ---- template {template} ----", _template_source(template)]
    return "\n".join(parts)


def _digest(source: str, *dependencies: str) -> str:
    import numba

    h = hashlib.sha256()
    for piece in (CODEGEN_VERSION, numba.__version__, sys.version, source, *dependencies):
        h.update(piece.encode())
        h.update(b"\0")
    return h.hexdigest()[:20]


def _package_imports(source: str, package: str) -> list[str]:
    """The modules of ``package`` that a module's source imports (absolute imports), in order."""
    out = []
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module]
        out += [n for n in names if n.split(".")[0] == package and n not in out]
    return out


def template_dependencies(template: str | None) -> list[str]:
    """Sources of the modules of the template's own package (``ghostsym`` for ghostsym's
    templates) that the template imports, transitively, sorted by module name.

    numba's on-disk cache of a function is keyed by its own file only: a jitted function
    that calls one from another module (the templates call
    :func:`ghostsym.numerics.optim.optimizer_step`) would keep the old machine code after
    that module changed. These sources are therefore part of the generated module's hash.
    """
    if template is None:
        return []
    package = template.split(".")[0]
    seen: dict[str, str] = {}
    todo = _package_imports(_template_source(template), package)
    while todo:
        name = todo.pop()
        if name in seen or importlib.util.find_spec(name) is None:
            continue
        seen[name] = _template_source(name)
        todo += _package_imports(seen[name], package)
    return [seen[name] for name in sorted(seen)]


def build_module(
    kernels: Iterable[Kernel],
    *,
    label: str = "kernels",
    template: str | None = None,
    njit_options: Mapping[str, object] | None = None,
    cache_dir: Path | None = None,
) -> ModuleType:
    """Write (if absent) and import the module of generated kernels.

    Parameters
    ----------
    kernels : the functions to generate.
    label : a readable part of the module name (``[a-z0-9_]``).
    template : dotted name of a template module whose source is appended; its functions
        can call the generated kernels by name.
    njit_options : overrides :data:`ghostsym.config.NJIT_OPTIONS` for generated functions.
    cache_dir : overrides :func:`ghostsym.config.kernel_cache_dir`.

    Returns the imported module; importing the same source twice returns the same module
    object, and a later process finds the module and numba's cache on disk. The module's
    name hashes its source and the sources of the ghostsym modules the template imports
    (:func:`template_dependencies`), so a change to either gives a fresh module.
    """
    if not label.replace("_", "").isalnum():
        raise InputError(f"kernel module label {label!r} must be alphanumeric/underscore")
    source = module_source(kernels, template, njit_options)
    modname = f"{_MODULE_PREFIX}{label}_{_digest(source, *template_dependencies(template))}"
    if modname in sys.modules:
        return sys.modules[modname]
    directory = Path(cache_dir) if cache_dir is not None else config.kernel_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{modname}.py"
    if not path.exists() or path.read_text() != source:
        # Atomic write: concurrent processes may generate the same module.
        write_atomic(path, source, skip_unchanged=False)
    spec = importlib.util.spec_from_file_location(modname, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[modname]
        raise
    return module


def kernel(name: str, args: Sequence[sympy.Symbol], expr, **kwargs):
    """Convenience: build one kernel and return the compiled function."""
    module = build_module([Kernel(name, tuple(args), expr)], label=name, **kwargs)
    return getattr(module, name)
