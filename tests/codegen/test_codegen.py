"""Generated kernels equal their SymPy expressions and are served from the cache."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import sympy as sp

from ghostsym import codegen
from ghostsym.errors import InputError

x, r, z = sp.symbols("x r z")
EXPRESSIONS = [
    ((x, r), x**2 + r),
    ((x, r), x**4 + r * sp.exp(-x) / (1 + x**2)),
    ((z,), sp.tanh(z)),
    ((z,), 1 - sp.tanh(z) ** 2),
    ((z,), 1 / (1 + sp.exp(-z))),
    ((x, r), sp.sqrt(r) * sp.tan(sp.sqrt(r) * x)),
    ((x, r), sp.Rational(3, 32) * sp.pi**4 / r**5 + sp.atan(x) + sp.log(1 + x**2)),
    ((x, r), sp.Piecewise((r - x, x < r), (x**2, True))),
]


@pytest.mark.parametrize("args, expr", EXPRESSIONS, ids=[str(e) for _, e in EXPRESSIONS])
def test_kernel_matches_sympy(args, expr, tmp_path):
    fn = codegen.kernel("k", args, expr, cache_dir=tmp_path)
    rng = np.random.default_rng(0)
    for _ in range(50):
        point = rng.uniform(0.05, 1.4, size=len(args))
        exact = float(expr.subs(dict(zip(args, point, strict=True))).evalf(30))
        assert fn(*point) == pytest.approx(exact, rel=1e-12, abs=1e-14)


def test_tuple_kernel_shares_subexpressions(tmp_path):
    mod = codegen.build_module(
        [codegen.Kernel("phi_all", (z,), (sp.tanh(z), sp.diff(sp.tanh(z), z)))],
        label="tuple",
        cache_dir=tmp_path,
    )
    value, slope = mod.phi_all(0.3)
    assert value == pytest.approx(np.tanh(0.3), rel=1e-15)
    assert slope == pytest.approx(1 - np.tanh(0.3) ** 2, rel=1e-14)
    assert open(mod.__file__).read().count("math.tanh") == 1


def test_unsafe_symbol_names_are_renamed(tmp_path):
    weird = sp.Symbol("lambda")  # a Python keyword
    star = sp.Symbol("x^*")
    fn = codegen.kernel("k", (weird, star), weird * 2 + star, cache_dir=tmp_path)
    assert fn(1.0, 3.0) == 5.0


def test_heaviside_and_infinity(tmp_path):
    fn = codegen.kernel(
        "h", (x,), sp.Heaviside(x) + sp.Piecewise((sp.oo, x > 5), (x, True)), cache_dir=tmp_path
    )
    assert fn(2.0) == 3.0 and fn(-1.0) == -1.0 and fn(0.0) == 0.5
    assert fn(6.0) == float("inf")


def test_bad_kernels_are_refused(tmp_path):
    with pytest.raises(InputError, match="not in args"):
        codegen.Kernel("k", (x,), x + r)
    with pytest.raises(InputError, match="identifier"):
        codegen.Kernel("not valid", (x,), x)
    with pytest.raises(InputError, match="duplicate"):
        codegen.module_source([codegen.Kernel("a", (x,), x), codegen.Kernel("a", (x,), x)])
    with pytest.raises(InputError, match="template"):
        codegen.build_module([], template="ghostsym.numerics.no_such_template", cache_dir=tmp_path)


def test_same_source_same_module_different_source_different_module(tmp_path):
    a = codegen.build_module([codegen.Kernel("f", (x,), x**2)], label="s", cache_dir=tmp_path)
    b = codegen.build_module([codegen.Kernel("f", (x,), x**2)], label="s", cache_dir=tmp_path)
    c = codegen.build_module([codegen.Kernel("f", (x,), x**3)], label="s", cache_dir=tmp_path)
    assert a is b and a is not c
    assert c.f(2.0) == 8.0


def test_template_is_appended_and_calls_generated_kernels(tmp_path, monkeypatch):
    pkg = tmp_path / "tpl_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "euler_template.py").write_text(
        textwrap.dedent(
            """
            @numba.njit(cache=True)
            def integrate(x0, r, dt, n):
                x = x0
                for _ in range(n):
                    x = x + dt * f(x, r)
                return x
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = codegen.build_module(
        [codegen.Kernel("f", (x, r), -x + r)],
        label="tpl",
        template="tpl_pkg.euler_template",
        cache_dir=tmp_path / "cache",
    )
    # Euler for dx/dt = r - x from 0: x_n = r (1 - (1 - dt)^n)
    assert mod.integrate(0.0, 2.0, 0.1, 10) == pytest.approx(2.0 * (1 - 0.9**10), rel=1e-13)


SECOND_PROCESS = """
import json, sys, sympy as sp
from ghostsym import codegen
x, r = sp.symbols("x r")
mod = codegen.build_module([codegen.Kernel("f", (x, r), x**2 + r)], label="reuse",
                           cache_dir=sys.argv[1])
value = mod.f(3.0, 1.0)
print(json.dumps({"file": mod.__file__, "mtime": __import__("os").path.getmtime(mod.__file__),
                  "hits": sum(mod.f.stats.cache_hits.values()),
                  "misses": sum(mod.f.stats.cache_misses.values()), "value": value}))
"""


def test_second_process_reuses_module_and_numba_cache(tmp_path):
    def run():
        out = subprocess.run(
            [sys.executable, "-c", SECOND_PROCESS, str(tmp_path)],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout)

    first, second = run(), run()
    assert first["value"] == second["value"] == 10.0
    assert first["file"] == second["file"]
    assert first["mtime"] == second["mtime"], "module source was regenerated"
    assert first["misses"] == 1 and first["hits"] == 0
    assert second["hits"] == 1 and second["misses"] == 0, "numba recompiled in the 2nd process"


def test_a_change_in_a_module_the_template_imports_gives_a_fresh_module(tmp_path, monkeypatch):
    """numba caches a function by its own file: the module hash must cover the template's
    imports, or a stale compiled call into the old helper would be served from the cache."""
    pkg = tmp_path / "dep_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helper.py").write_text(
        "import numba\n\n\n@numba.njit(cache=True)\ndef scale(v):\n    return 2.0 * v\n"
    )
    (pkg / "dep_template.py").write_text(
        "from dep_pkg.helper import scale\n\n\n"
        "@numba.njit(cache=True)\ndef run(x):\n    return scale(f(x))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    kernels = [codegen.Kernel("f", (x,), x + 1)]
    kw = dict(label="dep", template="dep_pkg.dep_template", cache_dir=tmp_path / "cache")
    first = codegen.build_module(kernels, **kw)
    assert first.run(1.0) == 4.0
    assert codegen.build_module(kernels, **kw) is first
    (pkg / "helper.py").write_text(
        "import numba\n\n\n@numba.njit(cache=True)\ndef scale(v):\n    return 3.0 * v\n"
    )
    second = codegen.build_module(kernels, **kw)
    assert second is not first and second.__name__ != first.__name__
    assert codegen.module_source(kernels, "dep_pkg.dep_template") == open(first.__file__).read()
    deps = codegen.template_dependencies("dep_pkg.dep_template")
    assert len(deps) == 1 and "3.0 * v" in deps[0]
    assert codegen.template_dependencies(None) == []
