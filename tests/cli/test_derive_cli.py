"""``ghostsym derive`` through the command line, as a user runs it."""

import json
import shutil
from pathlib import Path

import pytest


def test_canonical_json_with_T(run_cli):
    proc = run_cli("derive", "--json", "--T", "100")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    for key in (
        "escape_time",
        "r_star",
        "point_of_no_return",
        "grad_at_r_star",
        "alpha_star",
        "alpha_star_exponent",
        "alpha_star_mse",
        "alpha_star_mse_exponent",
    ):
        assert {"expr", "latex"} <= set(data[key]), key
    assert data["alpha_star"]["expr"] == "3*pi**4/(32*T**5)"
    assert data["alpha_star"]["value"] == pytest.approx(9.1321e-10, rel=1e-4)
    assert data["alpha_star_exponent"]["value"] == -5
    assert data["alpha_star_mse_exponent"]["value"] == -4
    assert data["r_star"]["value"] == pytest.approx(2.4674e-4, rel=1e-4)


def test_json_without_T_has_no_values_for_T_dependent_results(run_cli):
    proc = run_cli("derive", "--json")
    data = json.loads(proc.stdout)
    assert "value" not in data["alpha_star"]
    assert data["alpha_star_exponent"]["value"] == -5


def test_normal_form_quartic_json(run_cli):
    proc = run_cli("derive", "--normal-form", "x**4 + r", "--T", "50", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["alpha_star_exponent"]["expr"] == "-11/3"
    assert data["alpha_star"]["method"] == "closed form"
    assert data["alpha_star"]["value"] > 0


def test_normal_form_without_ghost_gives_null_and_reason(run_cli):
    proc = run_cli("derive", "--normal-form", "x + r", "--T", "10", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    for key in ("r_star", "point_of_no_return", "alpha_star", "alpha_star_exponent"):
        assert data[key] is None
        assert "no ghost" in data["notes"][key]


def test_normal_form_text_and_latex_output(run_cli, tmp_path):
    proc = run_cli("derive", "--normal-form", "x**3 + r", "--out", tmp_path, "--T", "20")
    assert proc.returncode == 0, proc.stderr
    assert "alpha_star_exponent = -4" in proc.stdout
    tex = list(tmp_path.glob("*.tex"))
    assert len(tex) == 1 and "\\begin{document}" in tex[0].read_text()


def test_default_out_dir_is_derivations_in_the_working_directory(run_cli, tmp_path, repo_root):
    committed = repo_root / "derivations" / "canonical.tex"
    mtime = committed.stat().st_mtime_ns
    proc = run_cli("derive", "canonical", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    written = tmp_path / "derivations" / "canonical.tex"
    assert written.read_text() == committed.read_text()
    assert proc.stdout.split() == [str(Path("derivations") / "canonical.tex")]
    assert committed.stat().st_mtime_ns == mtime  # the checkout is not touched


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_normal_form_pdf_default_out_dir_is_in_the_working_directory(run_cli, tmp_path):
    proc = run_cli("derive", "--normal-form", "x**2 + r", "--pdf", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.suffix for p in (tmp_path / "derivations").iterdir()) == [".pdf", ".tex"]


def test_help_states_the_default_out_dir(run_cli):
    proc = run_cli("derive", "--help")
    assert "default: ./derivations in the working directory" in " ".join(proc.stdout.split())


def test_documents_to_out_dir(run_cli, tmp_path):
    proc = run_cli("derive", "canonical", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "canonical.tex").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--T", "0"], "--T"),
        (["--T", "-3"], "--T"),
        (["--c", "0"], "--c"),
        (["--c", "-1"], "--c"),
        (["--normal-form", "__import__('os').system('true')"], "invalid expression"),
        (["--normal-form", "x**2 + y"], "unknown symbol"),
        (["--normal-form", "x**2 + r", "--threshold", "-1"], "threshold"),
        (["no_such_document"], "unknown derivation"),
    ],
)
def test_bad_input_is_one_line_error(run_cli, args, message):
    proc = run_cli("derive", *args)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert message in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("ghostsym derive: error:")


def test_unwritable_out_dir(run_cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = run_cli("derive", "canonical", "--out", blocker / "sub")
    assert proc.returncode == 1
    assert "cannot write" in proc.stderr and "Traceback" not in proc.stderr
