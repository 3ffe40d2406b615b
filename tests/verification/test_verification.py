"""The verification framework, driven through ``ghostsym verify`` as a user runs it."""

import json
import re
import textwrap
from pathlib import Path

import pytest

DUMMY_CHECKS = {
    "good.py": """
        from ghostsym.verification import Outcome, check

        @check(id="good", claim="Two plus two is four.", reference="Eq. 0")
        def run(ctx):
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            measured = float(sum(ctx.rng.integers(2, 3, size=2)))
            fig, ax = plt.subplots()
            ax.plot([0, 1], [0, measured])
            path = ctx.figure_path()
            fig.savefig(path)
            plt.close(fig)
            return Outcome.relative(4.0, measured, 1e-12, why="integers are exact",
                                    figure=path)
    """,
    "bad.py": """
        from ghostsym.verification import Outcome, check

        @check(id="bad", claim="One equals two.", reference="Fig. 0")
        def run(ctx):
            return Outcome(analytic=1.0, measured=2.0, tolerance=0.1, why="demo",
                           passed=abs(2.0 - 1.0) <= 0.1)
    """,
    "boom.py": """
        from ghostsym.verification import check

        @check(id="boom", claim="Raises.", reference="Fig. 9", profiles=("full",))
        def run(ctx):
            raise FloatingPointError("simulation diverged at epoch 7")
    """,
    "finding.py": """
        from ghostsym.verification import Outcome, check

        @check(id="finding", claim="The moon is cheese.", reference="Fig. 1",
               profiles=("full",))
        def run(ctx):
            return Outcome(analytic=1.0, measured=0.0, tolerance="k >= 9 of 10", why="demo",
                           passed=False, rule="at least 9 of 10", false_fail=0.004,
                           disagrees="0 of 10 seeds are cheese (99% upper bound 0.37)",
                           details={"per_seed": {"seed": [1, 2], "cheese": [False, False]}})
    """,
    "cases.py": """
        from ghostsym.verification import Outcome, check

        @check(id="cases", claim="Each normal form is itself.", reference="§8",
               normal_forms=True)
        def run(ctx):
            forms = ["x**2 + r", *ctx.options.get("normal_forms", [])]
            return [Outcome(f, f, "exact", "strings", True, label=f) for f in forms]
    """,
}


@pytest.fixture
def verify_dir(tmp_path):
    d = tmp_path / "verify"
    d.mkdir()
    for name, src in DUMMY_CHECKS.items():
        (d / name).write_text(textwrap.dedent(src))
    return d


def test_report_files_and_exit_status(run_cli, verify_dir, tmp_path):
    out = tmp_path / "report"
    res = run_cli(
        "verify", "--out", out, "--no-progress", env={"GHOSTSYM_VERIFY_DIR": str(verify_dir)}
    )
    assert res.returncode == 1, res.stderr  # "bad" fails
    assert "good" in res.stdout and "PASS" in res.stdout and "FAIL" in res.stdout
    data = json.loads((out / "results.json").read_text())
    rows = {c["id"]: c for c in data["checks"]}
    assert set(rows) == {"good", "bad", "cases[x**2 + r]"}  # boom is full-profile only
    for row in rows.values():
        for key in (
            "id",
            "claim",
            "reference",
            "analytic",
            "measured",
            "tolerance",
            "status",
            "seconds",
            "figure",
        ):
            assert key in row
    assert rows["good"]["status"] == "pass" and rows["bad"]["status"] == "fail"
    assert rows["good"]["measured"] == 4.0
    assert (out / rows["good"]["figure"]).is_file()
    report = (out / "report.md").read_text()
    assert f"![good]({rows['good']['figure']})" in report
    assert "One equals two." in report


def test_selected_passing_check_exits_zero(run_cli, verify_dir, tmp_path):
    res = run_cli(
        "verify",
        "good",
        "--out",
        tmp_path / "o",
        "--no-progress",
        env={"GHOSTSYM_VERIFY_DIR": str(verify_dir)},
    )
    assert res.returncode == 0, res.stderr
    assert "1/1 checks passed" in res.stdout


def test_crashing_check_is_an_error_row_and_exit_3(run_cli, verify_dir, tmp_path):
    out = tmp_path / "o"
    res = run_cli(
        "verify",
        "boom",
        "good",
        "--profile",
        "full",
        "--out",
        out,
        "--no-progress",
        env={"GHOSTSYM_VERIFY_DIR": str(verify_dir)},
    )
    assert res.returncode == 3
    assert "Traceback" not in res.stderr
    rows = {c["id"]: c for c in json.loads((out / "results.json").read_text())["checks"]}
    assert rows["boom"]["status"] == "error"
    assert "diverged at epoch 7" in rows["boom"]["error"]
    assert rows["good"]["status"] == "pass"


def test_normal_form_option_selects_normal_form_checks(run_cli, verify_dir, tmp_path):
    out = tmp_path / "o"
    res = run_cli(
        "verify",
        "--normal-form",
        "x**4 + r",
        "--out",
        out,
        "--no-progress",
        env={"GHOSTSYM_VERIFY_DIR": str(verify_dir)},
    )
    assert res.returncode == 0, res.stderr
    ids = [c["id"] for c in json.loads((out / "results.json").read_text())["checks"]]
    assert ids == ["cases[x**2 + r]", "cases[x**4 + r]"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["no-such-check"], "unknown check id(s): no-such-check"),
        (["--profile", "huge"], "invalid choice"),
        (["--seed", "-3"], "must be >= 0"),
        (["--seed", "100001"], "must be <= 100000"),
    ],
)
def test_bad_input_is_one_line(run_cli, verify_dir, tmp_path, args, message):
    res = run_cli(
        "verify", *args, "--out", tmp_path / "o", env={"GHOSTSYM_VERIFY_DIR": str(verify_dir)}
    )
    assert res.returncode == 2  # usage errors exit 2, unlike a failing row (1)
    assert message in res.stderr
    assert "Traceback" not in res.stderr


def test_unwritable_output_directory(run_cli, verify_dir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    res = run_cli(
        "verify", "good", "--out", blocker / "sub", env={"GHOSTSYM_VERIFY_DIR": str(verify_dir)}
    )
    assert res.returncode == 2  # a bad --out is a usage error
    assert res.stderr.count("\n") == 1 and "cannot write to output directory" in res.stderr


def test_save_figure_writes_closes_and_attaches(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ghostsym.verification import Context, Outcome

    ctx = Context(profile="quick", out_dir=tmp_path, check_id="demo-check")
    outcomes = [Outcome(1, 1, 0, "why", True, label=k) for k in ("a", "b")]
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = ctx.save_figure(fig, outcomes, name="panel")
    assert path == tmp_path / "figures" / "demo-check-panel.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [o.figure for o in outcomes] == [path, path]
    assert not plt.fignum_exists(fig.number)


def test_default_out_dir_is_in_the_working_directory(run_cli, verify_dir, tmp_path):
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    res = run_cli(
        "verify", "good", "--no-progress", cwd=cwd, env={"GHOSTSYM_VERIFY_DIR": str(verify_dir)}
    )
    assert res.returncode == 0, res.stderr
    assert (cwd / "verify-report" / "report.md").is_file()
    assert "report: verify-report/report.md" in res.stdout


def test_verify_dir_env_installed_checks_and_checkout(monkeypatch, tmp_path, repo_root):
    import ghostsym.verification as v

    monkeypatch.setenv("GHOSTSYM_VERIFY_DIR", str(tmp_path))
    assert v.verify_dir() == tmp_path
    monkeypatch.delenv("GHOSTSYM_VERIFY_DIR")
    # A checkout (editable install or PYTHONPATH): verify/ beside the package.
    assert v.verify_dir() == repo_root / "verify"
    # A regular install: verify/ was installed as ghostsym/_checks (pyproject.toml).
    package = tmp_path / "site-packages" / "ghostsym"
    (package / "verification").mkdir(parents=True)
    (package / "_checks").mkdir()
    monkeypatch.setattr(v, "__file__", str(package / "verification" / "__init__.py"))
    assert v.verify_dir() == package / "_checks"


def test_missing_verification_directory_is_one_line(run_cli, tmp_path):
    res = run_cli("verify", "--list", env={"GHOSTSYM_VERIFY_DIR": str(tmp_path / "none")})
    assert res.returncode == 1
    assert res.stderr.strip() == (
        f"ghostsym verify: error: verification directory not found: {tmp_path / 'none'}"
    )


def test_library_verify_validates_before_writing(verify_dir, tmp_path):
    from ghostsym.errors import InputError
    from ghostsym.verification import verify

    out = tmp_path / "never"
    with pytest.raises(InputError, match="unknown check id"):
        verify(["nope"], out_dir=out, directory=verify_dir)
    with pytest.raises(InputError, match="unknown profile"):
        verify(profile="huge", out_dir=out, directory=verify_dir)
    assert not out.exists()
    rows = verify("good", out_dir=out, directory=verify_dir)
    assert [(r.id, r.status) for r in rows] == [("good", "pass")]
    data = json.loads((out / "results.json").read_text())
    assert data["passed"] == 1 and data["profile"] == "quick"


def test_cli_default_out_is_the_library_default():
    from ghostsym import verification
    from ghostsym.cli import verify as cli_verify

    assert cli_verify.DEFAULT_OUT == verification.DEFAULT_OUT == "verify-report"


def test_list_reads_the_checks_without_importing_them(run_cli, repo_root):
    """`verify --list` parses the @check decorators: no check file, SymPy or numba is loaded,
    and it shows what importing the files registers."""
    import subprocess
    import sys

    code = (
        "import sys; from ghostsym.cli import main; main(['verify', '--list']); "
        "print(sorted(m for m in ('sympy', 'numba', 'scipy') if m in sys.modules)); "
        "print(any(m.startswith('ghostsym_verify_') for m in sys.modules))"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=repo_root, timeout=120
    )
    assert res.returncode == 0, res.stderr
    *rows, loaded, imported = res.stdout.splitlines()
    assert loaded == "[]" and imported == "False"
    from ghostsym import verification

    # the registry also holds checks other tests registered from their own directories
    checks = {
        k: c
        for k, c in verification.discover().items()
        if Path(c.source).resolve().parent == verification.verify_dir().resolve()
    }
    infos = verification.list_checks()  # in file order; the registry may be in import order
    assert sorted(i.id for i in infos) == sorted(checks)
    for info in infos:
        chk = checks[info.id]
        assert (info.claim, info.reference, info.profiles, info.normal_forms) == (
            chk.claim,
            chk.reference,
            chk.profiles,
            chk.normal_forms,
        )
    assert rows == [f"{i.id:32s} {i.reference:18s} {i.claim}" for i in infos]


SHARED_CHECK = """
    from ghostsym.verification import Outcome, case_label, check

    class Field:  # prints canonically, as a NormalForm does
        def __str__(self):
            return "r + x**2"

    @check(id="shared", claim="Three cases, one figure.", reference="Eq. 1")
    def run(ctx):
        import time
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        time.sleep(0.35)
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
        path = ctx.figure_path()
        fig.savefig(path)
        plt.close(fig)
        return [Outcome(1.0, 1.0, 0.0, "exact", True, figure=path,
                        label=case_label(Field(), case)) for case in ("a", "b", "c")]
"""


def test_rows_of_one_check_share_time_and_figure_once(run_cli, tmp_path):
    d = tmp_path / "verify"
    d.mkdir()
    (d / "shared.py").write_text(textwrap.dedent(SHARED_CHECK))
    (d / "good.py").write_text(textwrap.dedent(DUMMY_CHECKS["good.py"]))
    out = tmp_path / "o"
    res = run_cli("verify", "--out", out, "--no-progress", env={"GHOSTSYM_VERIFY_DIR": str(d)})
    assert res.returncode == 0, res.stderr
    data = json.loads((out / "results.json").read_text())
    rows = data["checks"]
    ids = [r["id"] for r in rows]
    assert ids == ["good", "shared[r + x**2:a]", "shared[r + x**2:b]", "shared[r + x**2:c]"]
    assert [r["check"] for r in rows] == ["good", "shared", "shared", "shared"]
    # every row carries the whole check's time (not a share of it) ...
    shared = [r["seconds"] for r in rows[1:]]
    assert len(set(shared)) == 1 and shared[0] >= 0.35
    # ... and the printed table shows it once, on the check's first row
    cells = {
        c[0]: c
        for c in (re.split(r"\s{2,}", line.strip()) for line in res.stdout.splitlines())
        if c[0].startswith("shared[")
    }
    assert cells["shared[r + x**2:a]"] == [
        "shared[r + x**2:a]",
        "PASS",
        "1",
        "1",
        f"{shared[0]:.1f}",
    ]
    assert cells["shared[r + x**2:b]"][1:] == ["PASS", "1", "1"]  # no seconds
    assert cells["shared[r + x**2:c]"][1:] == ["PASS", "1", "1"]
    report = (out / "report.md").read_text()
    md_rows = [line for line in report.splitlines() if line.startswith("| `shared[")]
    assert [line.rsplit("|", 2)[1].strip() for line in md_rows] == [f"{shared[0]:.1f}", "", ""]
    # the figure is embedded once; the other rows point at it
    figure = rows[1]["figure"]
    assert all(r["figure"] == figure for r in rows[1:])
    assert report.count(f"]({figure})") == 1
    assert report.count(f"`{figure}` (shown under `shared[r + x**2:a]`)") == 2
    assert report.count("## shared\n") == 1 and report.count("Three cases, one figure.") == 1


def test_case_label_prints_a_field_one_way():
    from ghostsym.codegen.normal_form import parse_normal_form
    from ghostsym.verification import case_label, row_id

    spellings = ["x**2+r", "x**2 + r", "r + x**2", "r+x^2"]
    labels = {case_label(parse_normal_form(s), "large-c") for s in spellings}
    assert labels == {"r + x**2:large-c"}
    assert case_label(parse_normal_form("x**2 + r")) == "r + x**2"
    assert case_label(case="speed") == "speed"
    assert row_id("fig2a-loss-landscape", "r + x**2:large-c") == (
        "fig2a-loss-landscape[r + x**2:large-c]"
    )
    assert row_id("good") == "good"
    with pytest.raises(ValueError):
        case_label()


def test_disagreement_exits_zero_listed_first_and_strict_exits_one(run_cli, verify_dir, tmp_path):
    env = {"GHOSTSYM_VERIFY_DIR": str(verify_dir)}
    out = tmp_path / "o"
    res = run_cli(
        "verify", "good", "finding", "--profile", "full", "--out", out, "--no-progress", env=env
    )
    assert res.returncode == 0, res.stderr
    assert "disagrees with the paper: finding: 0 of 10 seeds are cheese" in res.stdout
    table_lines = [ln for ln in res.stdout.splitlines() if ln.startswith(("good", "finding"))]
    assert table_lines[0].startswith("finding")  # disagreements before passes
    data = json.loads((out / "results.json").read_text())
    assert data["counts"]["disagrees"] == 1 and data["counts"]["pass"] == 1
    row = {c["id"]: c for c in data["checks"]}["finding"]
    assert row["status"] == "disagrees" and row["false_fail"] == 0.004
    assert row["rule"] == "at least 9 of 10" and row["finding"].startswith("0 of 10")
    report = (out / "report.md").read_text()
    head = report.split("## All rows")[0]
    assert "⚠️ disagrees `finding`" in head  # listed before the table
    assert "| seed | cheese |" in report  # a dict of lists is a table
    strict = run_cli(
        "verify",
        "good",
        "finding",
        "--profile",
        "full",
        "--out",
        tmp_path / "s",
        "--strict",
        "--no-progress",
        env=env,
    )
    assert strict.returncode == 1


def test_report_records_provenance(run_cli, verify_dir, tmp_path):
    out = tmp_path / "o"
    res = run_cli(
        "verify",
        "good",
        "--seed",
        "3",
        "--out",
        out,
        "--no-progress",
        env={"GHOSTSYM_VERIFY_DIR": str(verify_dir)},
    )
    assert res.returncode == 0, res.stderr
    data = json.loads((out / "results.json").read_text())
    prov = data["provenance"]
    from ghostsym.config import VERSION

    assert prov["ghostsym"] == VERSION and prov["seed_offset"] == 3 and prov["profile"] == "quick"
    assert "verify good --seed 3" in prov["command"]
    assert prov["libraries"]["numpy"] and prov["python"]
    assert data["seed_offset"] == 3
    assert f"ghostsym {VERSION}" in (out / "report.md").read_text()


def test_running_one_check_merges_into_the_report(run_cli, verify_dir, tmp_path):
    env = {"GHOSTSYM_VERIFY_DIR": str(verify_dir)}
    out = tmp_path / "o"
    run_cli("verify", "--out", out, "--no-progress", env=env)
    before = [c["id"] for c in json.loads((out / "results.json").read_text())["checks"]]
    assert set(before) == {"good", "bad", "cases[x**2 + r]"}
    res = run_cli("verify", "good", "--out", out, "--no-progress", env=env)
    assert res.returncode == 0
    after = json.loads((out / "results.json").read_text())["checks"]
    assert [c["id"] for c in after] == before  # merged in place, nothing discarded
    # Another seed offset (or profile) would mix populations: refused, one line, exit 2.
    res = run_cli("verify", "good", "--seed", "1", "--out", out, "--no-progress", env=env)
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert "seed offset 0" in res.stderr


def test_seed_offset_moves_every_population():
    from ghostsym.verification import SEED_STRIDE, Context

    a = Context(profile="quick", out_dir=Path("."), check_id="x", seed=0).seeds(5)
    b = Context(profile="quick", out_dir=Path("."), check_id="x", seed=1).seeds(5)
    assert a == list(range(a[0], a[0] + 5)) and not set(a) & set(b)
    assert b[0] - a[0] == SEED_STRIDE and min(a) >= 100
    with pytest.raises(ValueError):
        Context(profile="quick", out_dir=Path("."), check_id="x").seeds(SEED_STRIDE + 1)


def test_never_writes_into_a_directory_ghostsym_did_not_write(run_cli, verify_dir, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.md").write_text("my notes")
    res = run_cli(
        "verify",
        "good",
        "--out",
        mine,
        "--no-progress",
        env={"GHOSTSYM_VERIFY_DIR": str(verify_dir)},
    )
    assert res.returncode == 2 and "was not written by ghostsym" in res.stderr
    assert (mine / "report.md").read_text() == "my notes"
    assert sorted(p.name for p in mine.iterdir()) == ["report.md"]


def test_each_row_records_the_run_that_measured_it(run_cli, verify_dir, tmp_path):
    out = tmp_path / "o"
    res = run_cli(
        "verify",
        "good",
        "--out",
        out,
        "--no-progress",
        env={"GHOSTSYM_VERIFY_DIR": str(verify_dir), "GHOSTSYM_BACKEND": "cpu"},
    )
    assert res.returncode == 0, res.stderr
    data = json.loads((out / "results.json").read_text())
    (row,) = data["checks"]
    assert set(row["run"]) == {"commit", "dirty", "written", "backend"}
    assert row["run"]["backend"] == "cpu" and data["provenance"]["backend"] == "cpu"
    assert (out / ".ghostsym.json").is_file()
