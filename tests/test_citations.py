"""Every citation resolves: to a section of docs/ or to an equation of the paper.

Docstrings, comments, check references, reports, CLI help, example sweeps, the generated
derivations and the documentation itself cite documents as ``docs/math.md §4`` or
``docs/experiments.md §8.4`` (``\\S8.4`` in LaTeX) and the paper's equations as ``Eq. 23``.
This test fails when

* a cited ``*.md`` document is not in the repository;
* a cited § section is not a numbered heading of that document (``## 4.`` / ``### 8.4``);
* an ``Eq. N`` is outside the paper's equation numbers;
* a document that never was part of the repository is named anywhere, or code mentions an
  issue number instead of saying what it means (see docs/README.md, "How the code cites").
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Where citations are resolved (the product: code, checks, examples, derivations, docs).
CITING = ("ghostsym", "verify", "examples", "derivations", "docs", "tests", "benchmarks")
CITING_FILES = ("README.md",)
#: Where the paper's equation numbers are checked (tests may use fake ones in fixtures).
EQUATION_SCOPE = ("ghostsym", "verify", "examples", "derivations", "docs", "README.md")
#: Where an "issue N" is a defect: code says what it means instead.
CODE = ("ghostsym", "verify", "examples", "derivations", "tests", "benchmarks")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".tex", ".txt", ".cfg"}
#: The paper (arXiv 2501.02378v2) numbers its equations 1 to 49 (Eq. 49: W = AB of rank K).
PAPER_EQUATIONS = range(1, 50)
#: Names of files ghostsym writes (outputs, not citations of documents).
WRITTEN_FILES = {"report.md"}
#: Documents that are not part of the repository and must not be cited (assembled so that
#: this file does not contain them).
FOREIGN = tuple(name + ".md" for name in ("MATH", "REFERENCE", "PERFORMANCE", "STYLE"))

_MARK = r"(?:\\{1,2}S|§)"
#: The same documents cited without ".md" ("REFERENCE §13.3").
FOREIGN_BARE = re.compile(r"\b(?:" + "|".join(n[:-3] for n in FOREIGN) + r")\s*(?:\\{1,2}S|§)")
_NUM = r"\d+(?:\.\d+)*"
_REF = (
    _MARK + r"\s*(?P<n>" + _NUM + r")(?:\s+items?\s+(?P<i>\d+)(?:\s*[–-]+\s*(?P<j>\d+))?)?"
    r"(?:\s*[–-]+\s*(?:" + _MARK + r"\s*)?(?P<m>" + _NUM + r"))?"
)
DOC = re.compile(r"(?<![\w/.-])(?P<doc>[\w./-]*\w\.md)\b(?P<tail>(?:[ ,]*" + _MARK + r"[^\n]*)?)")
REF = re.compile(_REF)
REF_LIST = re.compile(r"[ ,]*" + _REF + r"(?:\s*(?:,|and)\s*" + _REF.replace("?P<", "?P<x") + ")*")
HEADING = re.compile(r"^#{1,6}\s+§?\s*(" + _NUM + r")[.\s]", re.MULTILINE)
EQ = re.compile(r"\bEqs?\.\s*(\d+)((?:\s*(?:[–/]|-{1,2})\s*\d+|\s*(?:,|and)\s*\d{1,2}\b)*)")
ISSUE = re.compile(r"\bissues?\s+#?\d+\b", re.IGNORECASE)
URL = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def sections_of(path: Path) -> set[str]:
    """The section numbers of a Markdown document's numbered headings."""
    return set(HEADING.findall(path.read_text(encoding="utf-8")))


def _inside(path: Path, root: Path) -> bool:
    return root.resolve() in path.resolve().parents


def _refs(tail: str) -> list[str]:
    """Section numbers a citation's tail names: "§1.1-1.3, §13.2" -> 1.1, 1.3, 13.2."""
    m = REF_LIST.match(tail)
    if not m:
        return []
    out: list[str] = []
    for r in REF.finditer(m.group(0)):
        n = r.group("n")
        if r.group("i"):
            out.append(f"{n}.{r.group('i')}")
            if r.group("j"):
                out.append(f"{n}.{r.group('j')}")
        else:
            out.append(n)
        if r.group("m"):
            out.append(r.group("m"))
    return out


def _equations(first: str, rest: str) -> list[int]:
    return [int(first)] + [int(n) for n in re.findall(r"\d+", rest)]


def check_text(rel: str, text: str, root: Path = ROOT) -> list[Problem]:
    """Every citation problem in one file's text (``rel`` is its path from ``root``)."""
    problems: list[Problem] = []
    top = rel.split("/")[0]
    here = (root / rel).parent
    cache: dict[Path, set[str]] = {}
    for row, raw in enumerate(text.split("\n"), start=1):
        line = URL.sub(lambda m: " " * len(m.group(0)), raw)
        for name in FOREIGN:
            if re.search(r"(?<![\w/.-])" + re.escape(name), line):
                problems.append(Problem(rel, row, f"cites {name}, which is not in the repository"))
        for m in FOREIGN_BARE.finditer(line):
            problems.append(Problem(rel, row, f"{m.group(0)!r} cites a document not in the repo"))
        if top in CODE:
            for m in ISSUE.finditer(line):
                problems.append(Problem(rel, row, f"{m.group(0)!r}: say what it means instead"))
        if top in EQUATION_SCOPE:
            for m in EQ.finditer(line):
                for n in _equations(m.group(1), m.group(2)):
                    if n not in PAPER_EQUATIONS:
                        problems.append(Problem(rel, row, f"Eq. {n}: the paper has Eqs. 1-49"))
        for m in DOC.finditer(line):
            doc = m.group("doc")
            if doc in FOREIGN or Path(doc).name in WRITTEN_FILES:
                continue
            target = next(
                (p for p in (root / doc, here / doc) if p.is_file() and _inside(p, root)),
                None,
            )
            if target is None:
                problems.append(Problem(rel, row, f"cites {doc}, which is not in the repository"))
                continue
            refs = _refs(m.group("tail"))
            if refs:
                known = cache.setdefault(target, sections_of(target))
                for ref in refs:
                    if ref not in known:
                        problems.append(Problem(rel, row, f"{doc} has no section §{ref}"))
    return problems


def _files(root: Path) -> list[str]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
        listed = [f for f in out if f and (root / f).is_file()]
    except (OSError, subprocess.CalledProcessError):
        listed = [str(p.relative_to(root)) for p in root.rglob("*") if ".git" not in p.parts]
    return sorted(f for f in listed if Path(f).suffix in TEXT_SUFFIXES)


#: This file plants bad citations in its own fixtures.
SELF = "tests/test_citations.py"


def scan(root: Path = ROOT) -> list[Problem]:
    problems: list[Problem] = []
    for rel in _files(root):
        if rel == SELF:
            continue
        path = root / rel
        top = rel.split("/")[0]
        if top not in CITING and rel not in CITING_FILES:
            # elsewhere only foreign documents are looked for
            text = path.read_text(encoding="utf-8", errors="replace")
            for row, line in enumerate(text.split("\n"), start=1):
                for name in FOREIGN:
                    if re.search(r"(?<![\w/.-])" + re.escape(name), line):
                        problems.append(Problem(rel, row, f"cites {name}"))
            continue
        problems += check_text(rel, path.read_text(encoding="utf-8", errors="replace"), root)
    return problems


def test_every_citation_resolves():
    problems = scan()
    assert not problems, f"{len(problems)} unresolved citations:\n" + "\n".join(
        map(str, problems[:60])
    )


def test_docs_have_the_cited_structure():
    docs = ROOT / "docs"
    for name in ("README.md", "math.md", "experiments.md", "performance.md", "architecture.md"):
        assert (docs / name).is_file(), name
    math_sections = sections_of(docs / "math.md")
    assert {str(n) for n in range(1, 11)} <= math_sections
    experiments = sections_of(docs / "experiments.md")
    assert {"0", "1.1", "1.7", "2.6", "4.5", "8.4", "11", "12"} <= experiments
    assert {f"13.{n}" for n in range(1, 21)} <= experiments
    # every equation of the paper is stated in docs/math.md (ranges count: "Eqs. 42–43")
    stated: set[int] = set()
    for m in EQ.finditer((docs / "math.md").read_text(encoding="utf-8")):
        numbers = _equations(*m.groups())
        stated |= set(numbers)
        if re.match(r"\s*[–-]", m.group(2)):
            stated |= set(range(numbers[0], numbers[1] + 1))
    assert set(PAPER_EQUATIONS) <= stated, sorted(set(PAPER_EQUATIONS) - stated)


# -- the checker itself -------------------------------------------------------------------


@pytest.fixture
def fake_repo(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text(
        "# Guide\n\n## 1. One\n\n### 1.2 Two\n\n## 13. Traps\n"
    )
    (tmp_path / "ghostsym").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    "line, expected",
    [
        ("see docs/guide.md §1.2", None),
        ("see docs/guide.md §1, §1.2 and §13", None),
        ("see docs/guide.md \\S1.2 in LaTeX", None),
        ("outputs go to report.md", None),
        ("Eqs. 16–20 and Eq. 49, 100 epochs", None),
        ("https://example.org/NOTES.md is a link", None),
        ("see docs/guide.md §1.3", "no section §1.3"),
        ("see docs/guide.md §1-1.4", "no section §1.4"),
        ("see docs/guide.md §13 item 2", "no section §13.2"),
        ("see docs/missing.md", "docs/missing.md, which is not in the repository"),
        ("see NOTES.md §2", "NOTES.md, which is not in the repository"),
        ("as in " + "REFERENCE" + ".md §8.4", "not in the repository"),
        ("style: " + "STYLE" + ".md", "not in the repository"),
        ("noise inside φ, " + "REFERENCE" + " §13.3", "cites a document not in the repo"),
        ("Eq. 50 of the paper", "Eq. 50"),
        ("Eqs. 48–51", "Eq. 51"),
        ("as asked in " + "issue" + " 7", "say what it means"),
    ],
)
def test_checker_catches_bad_citations(fake_repo, line, expected):
    rel = "ghostsym/module.py"
    (fake_repo / rel).write_text(f'"""{line}"""\n')
    problems = check_text(rel, (fake_repo / rel).read_text(), fake_repo)
    if expected is None:
        assert problems == []
    else:
        assert len(problems) >= 1 and any(expected in str(p) for p in problems), problems


def test_scan_finds_a_planted_bad_citation(fake_repo):
    (fake_repo / "ghostsym" / "ok.py").write_text("# docs/guide.md §1.2\n")
    (fake_repo / "ghostsym" / "bad.py").write_text("x = 1\n# docs/guide.md §9\n")
    (fake_repo / "notes.txt").write_text("from " + "MATH" + ".md\n")
    problems = [str(p) for p in scan(fake_repo)]
    assert any(p.startswith("ghostsym/bad.py:2:") and "§9" in p for p in problems), problems
    assert any(p.startswith("notes.txt:1:") for p in problems), problems
    assert not any("ok.py" in p for p in problems), problems
