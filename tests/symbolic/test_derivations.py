"""Every registered derivation: committed .tex equals the regenerated output, and compiles."""

import shutil
from pathlib import Path

import pytest

from ghostsym.io import compile_pdf
from ghostsym.symbolic import documents

#: The committed documents (not the working directory's derivations/).
DERIVATIONS = Path(__file__).resolve().parents[2] / "derivations"


@pytest.fixture(scope="module")
def built():
    return {name: documents.build(name) for name in documents.names()}


@pytest.mark.parametrize("name", documents.names())
def test_committed_tex_is_up_to_date(built, name):
    path = DERIVATIONS / f"{name}.tex"
    assert path.exists(), f"{path} missing: run `ghostsym derive`"
    assert path.read_text() == built[name].to_latex(), (
        f"{path.name} is stale: run `ghostsym derive` (or python derivations/regenerate.py)"
    )


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_every_document_compiles(built, tmp_path):
    tex = []
    for name, derivation in built.items():
        path = tmp_path / f"{name}.tex"
        path.write_text(derivation.to_latex())
        tex.append(path)
    pdfs = compile_pdf(tex, tmp_path / "pdf")
    assert len(pdfs) == len(tex)
    assert all(p.stat().st_size > 1000 for p in pdfs)


def test_regenerate_script_uses_the_same_code(tmp_path):
    from ghostsym.cli.derive import write_documents

    paths = write_documents(tmp_path, ["canonical"])
    assert paths[0].read_text() == documents.build("canonical").to_latex()
    script = (DERIVATIONS / "regenerate.py").read_text()
    assert "from ghostsym.cli.derive import write_documents" in script
