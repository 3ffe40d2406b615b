"""The README's predictions table is generated from committed results (and only from them)."""

import json

import pytest

from ghostsym.verification import readme as gen


def _results(profile, rows, seconds=12.0):
    counts = {s: sum(r["status"] == s for r in rows) for s in gen._MARK}
    return {
        "format": "ghostsym-verify-1",
        "profile": profile,
        "seed_offset": 0,
        "counts": counts,
        "seconds": seconds,
        "provenance": {"ghostsym": "9.9", "commit": "abcdef1234567890", "machine": "x86_64"},
        "checks": rows,
    }


ROW = {
    "id": "demo[a]",
    "check": "demo",
    "claim": "The thing holds. More words.",
    "reference": "Eq. 1",
    "analytic": 1.0,
    "measured": 1.0004,
    "status": "pass",
    "seconds": 7.0,
}


def test_table_lists_both_profiles_findings_and_rows(tmp_path):
    finding = {**ROW, "id": "demo[b]", "status": "disagrees", "finding": "0 of 10 seeds (≤ 0.37)"}
    quick = _results("quick", [ROW, finding])
    full = _results("full", [{**ROW, "measured": 0.9999}], seconds=3600)
    text = gen.table(quick, full)
    assert "`--profile quick` (seed offset 0): 1 of 2 rows pass, 1 disagrees, in 7 s" in text
    assert "commit `abcdef123456`" in text
    assert "- `demo[b]` (Eq. 1; quick): 0 of 10 seeds (≤ 0.37)" in text
    line = next(ln for ln in text.splitlines() if "`demo[a]`" in ln)
    assert line.startswith("| The thing holds. |") and "1.0004" in line and "0.9999" in line
    row_b = next(ln for ln in text.splitlines() if ln.startswith("|") and "`demo[b]`" in ln)
    assert row_b.startswith("|  |")  # the claim is printed once per check
    assert row_b.endswith("| – | – |")  # no full-profile row


def test_render_replaces_only_the_marked_section_and_check_detects_staleness(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "verify-quick.json").write_text(json.dumps(_results("quick", [ROW])))
    readme = f"# T\n\nbefore\n{gen.START}\nold typed table\n{gen.END}\nafter\n"
    (tmp_path / "README.md").write_text(readme)
    assert gen.main(["--root", str(tmp_path), "--check"]) == 1
    assert gen.main(["--root", str(tmp_path)]) == 0
    text = (tmp_path / "README.md").read_text()
    assert text.startswith("# T\n\nbefore\n") and text.endswith(f"{gen.END}\nafter\n")
    assert "old typed table" not in text and "`demo[a]`" in text
    assert gen.main(["--root", str(tmp_path), "--check"]) == 0
    with pytest.raises(ValueError):
        gen.render("no markers", "x")


def test_import_refuses_another_profile(tmp_path):
    rep = tmp_path / "rep"
    rep.mkdir()
    (rep / "results.json").write_text(json.dumps(_results("full", [ROW])))
    with pytest.raises(SystemExit, match="not 'quick'"):
        gen.import_results(tmp_path, "quick", rep)
    assert gen.import_results(tmp_path, "full", rep).name == "verify-full.json"


def test_a_merged_report_sums_its_checks_times_names_each_commit_and_lists_failures():
    """A report merged from two runs: its time is every check's own (not the last run's),
    both commits are named with their row counts, and a failing row is listed with its rule."""
    old = {**ROW, "run": {"commit": "1111111111111111"}}
    same_check = {**ROW, "id": "demo[c]", "run": {"commit": "1111111111111111"}}
    failing = {
        **ROW,
        "id": "other[x]",
        "check": "other",
        "seconds": 30.0,
        "status": "fail",
        "measured": {"aligned": 19},
        "tolerance": "at least 20 of 24",
        "run": {"commit": "2222222222222222"},
    }
    text = gen.table(None, _results("full", [old, same_check, failing], seconds=30.0))
    summary = next(ln for ln in text.splitlines() if ln.startswith("- `--profile full`"))
    assert "in 37 s of check time" in summary  # 7 s (demo, once) + 30 s (other)
    assert "commit `111111111111` (2 rows), commit `222222222222` (1 row)" in summary
    assert "Rows that fail their pre-registered rule" in text
    assert "- `other[x]` (Eq. 1, full): fail: measured aligned=19; needed at least 20 of 24" in (
        text
    )


def test_a_finding_quotes_the_profile_that_disagrees():
    """A row that disagrees in quick but fails in full quotes quick's finding, not full's
    prose; one that disagrees in both quotes full's (the larger population)."""
    q = {**ROW, "status": "disagrees", "finding": "0 of 8 (quick)"}
    f = {**ROW, "status": "fail", "why": "prose", "tolerance": "at least 20 of 24"}
    text = gen.table(_results("quick", [q]), _results("full", [f]))
    assert "- `demo[a]` (Eq. 1; quick): 0 of 8 (quick)" in text and "prose" not in text
    both = gen.table(_results("quick", [q]), _results("full", [{**q, "finding": "1 of 24"}]))
    assert "- `demo[a]` (Eq. 1; quick, full): 1 of 24" in both
