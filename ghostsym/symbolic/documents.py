"""Registry of the derivation documents that ``ghostsym derive`` writes.

Each entry maps a document key (the file name ``derivations/<key>.tex``) to
``"module:function"``; the function takes no arguments and returns a
:class:`~ghostsym.symbolic.derivation.Derivation`. Entries are imported lazily, in order.
To add a document, write the function and add one line here.
"""

from __future__ import annotations

import importlib

from ghostsym.errors import InputError
from ghostsym.symbolic.derivation import Derivation

DOCUMENTS: dict[str, str] = {
    "reduction": "ghostsym.symbolic.reduction:reduction_document",
    "canonical": "ghostsym.symbolic.canonical:derive",
    "normal_form_quartic": "ghostsym.symbolic.da:quartic_document",
    "rnn_latent_reduction": "ghostsym.symbolic.latent:latent_reduction",
    "rnn_latent_ghost": "ghostsym.symbolic.latent:latent_ghost",
    "rnn_gradient_projection": "ghostsym.symbolic.latent:gradient_projection",
    "rnn_speed_minima": "ghostsym.symbolic.latent_speed:speed_minima",
    "rnn_rank_one_bptt": "ghostsym.symbolic.bptt:rank_one_bptt",
    "curvature_bound": "ghostsym.symbolic.curvature:curvature_bound",
    "preconditioned_canonical": "ghostsym.symbolic.preconditioned:preconditioned",
}


def names() -> list[str]:
    """The keys of the registered derivation documents, in the order they are written."""
    return list(DOCUMENTS)


def build(name: str) -> Derivation:
    """Build the derivation document registered as ``name``."""
    try:
        target = DOCUMENTS[name]
    except KeyError:
        known = ", ".join(DOCUMENTS) or "(none)"
        raise InputError(f"unknown derivation {name!r}; known: {known}") from None
    module, _, func = target.partition(":")
    derivation = getattr(importlib.import_module(module), func)()
    if derivation.key != name:
        raise RuntimeError(f"document {target} has key {derivation.key!r}, registered as {name!r}")
    return derivation
