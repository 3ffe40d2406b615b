"""``ghostsym derive``: regenerate the LaTeX derivations, or derive one normal form.

Without ``--normal-form`` every registered document (``ghostsym.symbolic.documents``) is
written to ``derivations/<key>.tex`` in the repository (or ``--out DIR``); ``--pdf`` also
compiles them with pdflatex. ``--json`` prints the canonical model's key results as one JSON
object instead (files are then written only when ``--out`` or ``--pdf`` is given).

With ``--normal-form EXPR`` the general DA pipeline runs on that field: ``--json`` prints the
same keys as for the canonical model (``null`` plus a reason in ``notes`` where a quantity
does not exist); otherwise the derivation is printed as text, and written as LaTeX with
``--out``/``--pdf``. ``--T`` adds numerical values, using the numeric fallback (quadrature
and root finding) where no closed form exists.

JSON layout: ``{"normal_form": {...}, "T": T|null, "confidence": c|null, "<key>": {"expr",
"latex", "method", "value"?} | null, ..., "notes": {"<key>": reason}}`` for every key of
``ghostsym.symbolic.da.RESULT_KEYS``. ``value`` is present for scalar quantities when
``--T`` is given, and always for the exponents.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ghostsym.cli._common import positive_float, writable_directory

#: Results that are numbers at a given T (others are functions of r or sets).
SCALAR_KEYS = (
    "r_star",
    "point_of_no_return",
    "grad_at_r_star",
    "alpha_star",
    "alpha_star_mse",
    "bifurcation_value",
)
EXPONENT_KEYS = ("alpha_star_exponent", "alpha_star_mse_exponent")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "derive",
        help="regenerate the LaTeX derivations / derive a normal form",
        description="Write every registered derivation to derivations/<key>.tex (or --out), "
        "or run the general delayed-activation pipeline on --normal-form.",
    )
    p.add_argument("documents", nargs="*", metavar="NAME", help="document keys (default: all)")
    p.add_argument("--out", metavar="DIR", help="output directory (default: derivations/)")
    p.add_argument("--pdf", action="store_true", help="also compile the documents with pdflatex")
    p.add_argument("--json", action="store_true", help="print the key results as JSON")
    p.add_argument("--T", type=positive_float, metavar="T", help="delay T > 0: add numbers")
    p.add_argument(
        "--c",
        type=positive_float,
        metavar="C",
        help="confidence c > 0 of the readout (recorded; the results are its c -> oo limit)",
    )
    p.add_argument("--normal-form", metavar="EXPR", help="a 1-D field f(x; r), e.g. 'x**4 + r'")
    p.add_argument("--state", default="x", help="state symbol of --normal-form (default x)")
    p.add_argument("--param", default="r", help="learnable parameter (default r)")
    p.add_argument("--x0", default="0", help="initial state (default 0)")
    p.add_argument(
        "--threshold", default="oo", help="output threshold x*: oo (default), pi or a number"
    )
    p.add_argument("--list", action="store_true", help="list the registered documents")
    p.set_defaults(func=run)


def default_out_dir() -> Path:
    from ghostsym.config import repository_root

    return repository_root() / "derivations"


def write_documents(out_dir: Path | None = None, names=None, pdf: bool = False) -> list[Path]:
    """Build the registered documents and write ``<key>.tex`` (and PDFs); return the paths."""
    from ghostsym.io import compile_pdf, write_atomic
    from ghostsym.symbolic import documents

    out_dir = Path(out_dir) if out_dir is not None else default_out_dir()
    paths = []
    for name in names or documents.names():
        derivation = documents.build(name)
        path = out_dir / f"{derivation.key}.tex"
        write_atomic(path, derivation.to_latex())
        paths.append(path)
    if pdf:
        paths += compile_pdf([p for p in paths if p.suffix == ".tex"], out_dir)
    return paths


def results_json(derivation, nf, T: float | None = None, c: float | None = None) -> dict:
    """The JSON object of ``ghostsym derive --json`` for one normal form's derivation."""
    import sympy

    from ghostsym.symbolic import da

    res = derivation.results
    out: dict = {"normal_form": nf.describe(), "T": T, "confidence": c}
    numbers = {}
    if T is not None and res.get("escape_time") is not None:
        from ghostsym.analysis.normal_form_numerics import NormalFormNumerics
        from ghostsym.errors import NotDerivableError

        try:
            numbers = NormalFormNumerics(nf, derivation).da_values(T)
        except NotDerivableError:
            numbers = {}
    notes = dict(derivation.notes)
    for key in da.RESULT_KEYS:
        expr = res.get(key)
        entry = None
        if expr is not None:
            entry = {
                "expr": sympy.sstr(expr),
                "latex": sympy.latex(expr),
                "method": da.results_method(derivation, key),
            }
            if key in EXPONENT_KEYS:
                entry["value"] = float(expr)
            elif key in SCALAR_KEYS and (T is not None or not expr.free_symbols):
                v = numbers.get(key)
                entry["value"] = (
                    v.value
                    if v is not None
                    else float(sympy.N(expr.subs(derivation.symbols["T"], T if T else 1)))
                )
        elif key in numbers and numbers[key] is not None:
            entry = {"expr": None, "latex": None, "method": "numeric", "value": numbers[key].value}
            notes[key] = notes.get(key, "") + " (value: numeric fallback at the given T)"
        out[key] = entry
    if c is not None:
        notes["confidence"] = (
            "the results are the analytical limit c -> oo of the readout "
            "sigmoid(c (x - x*)); c is recorded only"
        )
    out["notes"] = {k: v for k, v in notes.items() if k in da.RESULT_KEYS or k == "confidence"}
    return out


def run(args) -> int:
    from ghostsym.errors import InputError
    from ghostsym.symbolic import documents

    if args.list:
        for name in documents.names():
            print(name)
        return 0
    if args.normal_form is not None:
        if args.documents:
            raise InputError("give either document names or --normal-form, not both")
        return _run_normal_form(args)
    if args.json:
        from ghostsym.symbolic import canonical
        from ghostsym.symbolic.normal_forms import saddle_node

        print(json.dumps(results_json(canonical.derive(), saddle_node(), args.T, args.c), indent=2))
        if args.out is None and not args.pdf:
            return 0
    for name in args.documents:
        if name not in documents.DOCUMENTS:
            raise InputError(f"unknown derivation {name!r}; known: {', '.join(documents.names())}")
    out_dir = writable_directory(args.out) if args.out else default_out_dir()
    paths = write_documents(out_dir, args.documents or None, pdf=args.pdf)
    stream = sys.stderr if args.json else sys.stdout
    for p in paths:
        print(p, file=stream)
    return 0


def _run_normal_form(args) -> int:
    from ghostsym.io import compile_pdf, write_atomic
    from ghostsym.symbolic import da
    from ghostsym.symbolic.normal_forms import NormalForm

    nf = NormalForm.parse(args.normal_form, args.state, args.param, args.x0, args.threshold)
    derivation = da.analyze(nf)
    if args.json:
        print(json.dumps(results_json(derivation, nf, args.T, args.c), indent=2))
    else:
        print(derivation.to_text())
        if args.T is not None:
            data = results_json(derivation, nf, args.T, args.c)
            print(f"Values at T = {args.T:g}:")
            for key in (*SCALAR_KEYS, *EXPONENT_KEYS):
                entry = data[key]
                if entry is not None and "value" in entry:
                    print(f"    {key} = {entry['value']:.10g}  ({entry['method']})")
                else:
                    print(f"    {key}: none — {data['notes'].get(key, '')}")
    if args.out or args.pdf:
        out_dir = writable_directory(args.out) if args.out else writable_directory(".")
        path = out_dir / f"{derivation.key}.tex"
        write_atomic(path, derivation.to_latex())
        paths = [path]
        if args.pdf:
            paths += compile_pdf([path], out_dir)
        for p in paths:
            print(p, file=sys.stderr)
    return 0
