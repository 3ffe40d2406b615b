"""The kernel list of a 1-D normal form dx/dt = f(x; r): where its SymPy meets numba.

Owns the one kernel list per normal form (:func:`kernels`), compiled into one module with the
template :mod:`ghostsym.numerics.normal_form_template` (simulator, exact discrete adjoint,
trainers), under one set of names:

``nf_f(x, r)``, ``nf_dfdx(x, r)``, ``nf_dfdr(x, r)``
    the field and its partial derivatives (``sympy.diff``);
``nf_analytic_loss(r, T)``, ``nf_analytic_grad(r, T)``
    the c → ∞ DA loss (Eqs. 16–20) and its r-derivative (Eq. 21), after the rewrites
    :data:`ghostsym.codegen.rewriting.NORMAL_FORM_LOSS_REWRITES`; NaN when there is no closed
    form;
``nf_escape_time_rho(rho)``, ``nf_escape_time_drho(rho)``
    the escape time t_esc(ρ), ρ = σ(r − r_c) the distance past the fold, and dt_esc/dρ —
    only when a DA derivation gives t_esc in closed form.

:func:`compile_field` builds the module from an expression (for the simulator alone);
:func:`compile_derivation` from a :class:`~ghostsym.symbolic.normal_forms.NormalForm` and its
DA derivation (:func:`ghostsym.symbolic.da.analyze`), and returns, beside the module, the
numbers the analysis needs as floats (:class:`CompiledDA`: fold, escape direction, threshold,
closed-form results evaluated at a delay T). Every SymPy call on the way from a normal form to
numbers is here; :mod:`ghostsym.analysis.normal_form_numerics` and
:mod:`ghostsym.numerics.normal_form` only call the compiled module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType

import sympy

from ghostsym import codegen
from ghostsym.codegen.rewriting import NORMAL_FORM_LOSS_REWRITES, optimize
from ghostsym.errors import InputError, NotDerivableError
from ghostsym.symbolic import da
from ghostsym.symbolic.normal_forms import NormalForm

#: The template completed by the kernels.
TEMPLATE = "ghostsym.numerics.normal_form_template"

#: The derivation's results that :meth:`CompiledDA.closed_value` evaluates at a delay T.
DA_VALUE_KEYS = (
    "r_star",
    "point_of_no_return",
    "grad_at_r_star",
    "alpha_star",
    "alpha_star_mse",
    "alpha_star_exponent",
    "alpha_star_mse_exponent",
)


def _as_expr(value, what: str) -> sympy.Expr:
    try:
        return sympy.sympify(value)
    except (sympy.SympifyError, TypeError) as exc:
        raise InputError(f"{what}: cannot interpret {value!r}") from exc


def _float(expr) -> float:
    return float(sympy.N(expr, 17))


def _numeric_constants(expr):
    """Constants kept as integrals (the scaling constant C) evaluated to numbers."""
    consts = {
        i: sympy.Float(_float(i), 17) for i in expr.atoms(sympy.Integral) if not i.free_symbols
    }
    return expr.xreplace(consts)


def kernels(
    expr,
    state,
    param,
    *,
    loss=None,
    escape_time=None,
) -> list[codegen.Kernel]:
    """The normal form's kernel list (the names of the module docstring).

    ``loss``: ``(L, ∂L/∂r, r_symbol, T_symbol)`` of the c → ∞ DA loss, or None (the loss
    kernels then return NaN). ``escape_time``: ``(t_esc, rho_symbol)`` in closed form, or
    None (no escape-time kernels).
    """
    out = [
        codegen.Kernel("nf_f", (state, param), expr),
        codegen.Kernel("nf_dfdx", (state, param), sympy.diff(expr, state)),
        codegen.Kernel("nf_dfdr", (state, param), sympy.diff(expr, param)),
    ]
    if loss is None:
        (a_r, a_T), value, grad = sympy.symbols("r_a T_a"), sympy.nan, sympy.nan
    else:
        value, grad, a_r, a_T = loss
    out += [
        codegen.Kernel("nf_analytic_loss", (a_r, a_T), optimize(value, NORMAL_FORM_LOSS_REWRITES)),
        codegen.Kernel("nf_analytic_grad", (a_r, a_T), optimize(grad, NORMAL_FORM_LOSS_REWRITES)),
    ]
    if escape_time is not None:
        te, rho = escape_time
        out += [
            codegen.Kernel("nf_escape_time_rho", (rho,), te),
            codegen.Kernel("nf_escape_time_drho", (rho,), sympy.diff(te, rho)),
        ]
    return out


@dataclass(frozen=True, eq=False)
class CompiledNormalForm:
    """A normal form's compiled module and what its simulator needs to call it.

    ``module`` has the kernels of :func:`kernels` and the functions of the template;
    ``x0`` is the initial state; ``has_closed_loss`` says whether ``nf_analytic_loss`` /
    ``nf_analytic_grad`` are real (else NaN). ``expr``, ``state``, ``param`` are the SymPy
    objects it was built from (for display; the numerics never look into them).
    """

    module: ModuleType
    x0: float
    has_closed_loss: bool
    expr: object
    state: object
    param: object
    loss_exprs: tuple | None = None


def compile_field(
    expr,
    state,
    param,
    *,
    x0=0.0,
    analytic_loss=None,
    analytic_grad=None,
    escape_time=None,
) -> CompiledNormalForm:
    """Compile f(x; r) given as a SymPy expression (or text SymPy can read) in its state and
    parameter symbols.

    ``analytic_loss``: optional ``(loss, r_symbol, T_symbol)``, the c → ∞ DA loss
    (Eqs. 16–20); its r-derivative is taken symbolically unless ``analytic_grad`` (an
    expression in the same symbols) is given. ``escape_time``: optional ``(t_esc, rho)``.
    """
    expr = _as_expr(expr, "normal form")
    state = _as_expr(state, "state")
    param = _as_expr(param, "parameter")
    if not (isinstance(state, sympy.Symbol) and isinstance(param, sympy.Symbol)):
        raise InputError("state and parameter must be symbols")
    extra = expr.free_symbols - {state, param}
    if extra:
        names = ", ".join(sorted(map(str, extra)))
        raise InputError(f"normal form {expr} has symbols other than {state}, {param}: {names}")
    try:
        x0 = float(_as_expr(x0, "x0"))
    except TypeError as exc:
        raise InputError(f"x0 must be a number, got {x0!r}") from exc
    loss = None
    if analytic_loss is not None:
        value, a_r, a_T = analytic_loss
        value = _as_expr(value, "analytic loss")
        grad = sympy.diff(value, a_r) if analytic_grad is None else _as_expr(analytic_grad, "")
        loss = (value, grad, a_r, a_T)
    module = codegen.build_module(
        kernels(expr, state, param, loss=loss, escape_time=escape_time),
        label="normal_form",
        template=TEMPLATE,
    )
    return CompiledNormalForm(
        module=module,
        x0=x0,
        has_closed_loss=loss is not None,
        expr=expr,
        state=state,
        param=param,
        loss_exprs=None if loss is None else loss[:2],
    )


def parse_normal_form(
    text: str, state: str = "x", param: str = "r", x0: str = "0", threshold: str = "oo"
) -> NormalForm:
    """:meth:`NormalForm.parse <ghostsym.symbolic.normal_forms.NormalForm.parse>` (the safe
    parser of user text such as ``"x**4 + r"``)."""
    return NormalForm.parse(text, state, param, x0, threshold)


def compile_normal_form(nf: NormalForm | str, **kwargs) -> CompiledNormalForm:
    """:func:`compile_field` of a :class:`~ghostsym.symbolic.normal_forms.NormalForm` (or of
    text for :func:`parse_normal_form`): its expression, symbols and x0."""
    if isinstance(nf, str):
        nf = parse_normal_form(nf)
    return compile_field(nf.expr, nf.state, nf.param, x0=nf.x0, **kwargs)


def compile_canonical() -> CompiledNormalForm:
    """dx/dt = x² + r with the c → ∞ DA loss of the symbolic layer (Eqs. 16–21)."""
    from ghostsym.symbolic.curvature import canonical_analytic_loss

    loss, r, T, x, expr = canonical_analytic_loss()
    return compile_field(expr, x, r, analytic_loss=(loss, r, T))


@dataclass(frozen=True, eq=False)
class CompiledDA:
    """A normal form, its DA derivation and their numbers (from :func:`compile_derivation`).

    Floats: ``r_c`` (bifurcation value), ``sigma`` (±1, the side ρ = σ(r − r_c) > 0 of the
    ghost), ``x_c`` (fold state), ``x0``, ``threshold`` (``math.inf`` for x* = ∞).
    ``closed_escape_time``: the module has ``nf_escape_time_rho`` / ``nf_escape_time_drho``.
    ``compiled``: the module (with its simulator facts); ``has_closed_loss`` there says
    whether the c → ∞ loss has a closed form.
    """

    nf: NormalForm
    derivation: object
    compiled: CompiledNormalForm
    r_c: float
    sigma: int
    x_c: float
    x0: float
    threshold: float
    closed_escape_time: bool
    #: Every bottleneck on the path that sets the delay (``x_c`` first); more than one when
    #: several folds share the bifurcation value (their passage times add).
    x_cs: tuple = ()

    @property
    def module(self) -> ModuleType:
        return self.compiled.module

    def closed_value(self, key: str, T: float) -> float | None:
        """The closed form of the derivation's result ``key`` (:data:`DA_VALUE_KEYS`) at
        delay ``T``, to double precision; None when the pipeline derived none."""
        if key not in DA_VALUE_KEYS:
            raise InputError(f"unknown DA result {key!r}; known: {', '.join(DA_VALUE_KEYS)}")
        expr = self.derivation.results.get(key)
        if expr is None:
            return None
        return _float(sympy.sympify(expr).subs(self.derivation.symbols["T"], T))


def compile_derivation(nf: NormalForm | str, derivation=None) -> CompiledDA:
    """The module and numbers of a normal form's DA derivation (derived here when not given).

    Raises :class:`~ghostsym.errors.NotDerivableError` (with the pipeline's reason) when the
    normal form has no ghost-induced escape time.
    """
    if isinstance(nf, str):
        nf = parse_normal_form(nf)
    derivation = derivation if derivation is not None else da.analyze(nf)
    res = derivation.results
    if res.get("escape_time") is None or res.get("escape_direction") is None:
        reason = derivation.notes.get("escape_time", "no escape time")
        raise NotDerivableError(f"normal form {nf}: {reason}")
    sym = derivation.symbols
    te = _numeric_constants(res["escape_time_rho"])
    closed_te = not te.atoms(sympy.Integral)
    analytic_loss = analytic_grad = None
    if res.get("loss") is not None and res.get("dloss_dr") is not None:
        pair = tuple(_numeric_constants(sympy.sympify(res[k])) for k in ("loss", "dloss_dr"))
        allowed = {sym["r"], sym["T"]}
        # Only a loss that is a closed form in (r, T): not when it is kept as an integral or
        # written in terms of an r* / r_n found numerically.
        if not any(e.atoms(sympy.Integral) or e.free_symbols - allowed for e in pair):
            analytic_loss, analytic_grad = (pair[0], sym["r"], sym["T"]), pair[1]
    compiled = compile_field(
        nf.expr,
        nf.state,
        nf.param,
        x0=nf.x0,
        analytic_loss=analytic_loss,
        analytic_grad=analytic_grad,
        escape_time=(te, sym["rho"]) if closed_te else None,
    )
    return CompiledDA(
        nf=nf,
        derivation=derivation,
        compiled=compiled,
        r_c=_float(res["bifurcation_value"]),
        sigma=int(res["escape_direction"]),
        x_c=_float(res["fold_state"]),
        x0=_float(nf.x0),
        threshold=math.inf if nf.threshold is sympy.oo else _float(nf.threshold),
        closed_escape_time=closed_te,
        x_cs=tuple(_float(v) for v in res.get("fold_states") or (res["fold_state"],)),
    )
