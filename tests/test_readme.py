"""README.md stays true: its set-up and test commands are what CI runs."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_readme_has_two_setup_commands_and_ci_runs_the_test_command():
    blocks = _bash_blocks((ROOT / "README.md").read_text())
    install, test_cmd = blocks[0], blocks[1]
    assert install.startswith(".ci/install") and "ghostsym verify" in install
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert ".ci/install" in ci
    assert ci[-1].strip() == test_cmd, "the last line of .ci/run must be the README test command"


def test_ci_scripts_are_executable():
    for name in ("install", "run"):
        assert (ROOT / ".ci" / name).stat().st_mode & 0o111


def test_readme_python_example_runs_and_its_comments_are_true():
    text = (ROOT / "README.md").read_text()
    (block,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    derivation = namespace["derivation"]
    import sympy

    alpha = derivation.results["alpha_star"]
    (T,) = alpha.free_symbols
    expected = sympy.pi**3 * (4 * sympy.sqrt(3) - sympy.sqrt(6)) / (81 * 7**4)
    assert float(alpha.subs(T, 7)) == pytest.approx(float(expected), rel=1e-12)
    assert derivation.results["alpha_star_exponent"] == -4
