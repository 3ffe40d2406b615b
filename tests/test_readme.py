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


def _python_block(section: str) -> str:
    """The one ```python block of the README section titled ``section``."""
    text = (ROOT / "README.md").read_text()
    parts = re.split(r"^## ", text, flags=re.M)
    (body,) = [p for p in parts if p.startswith(section + "\n")]
    (block,) = re.findall(r"```python\n(.*?)```", body, flags=re.S)
    return block


def _run(block: str) -> dict:
    namespace: dict = {"__name__": "__readme__"}
    exec(compile(block, "README.md", "exec"), namespace)
    return namespace


def test_readme_python_example_runs_and_its_comments_are_true():
    block = _python_block("Adding a normal form")
    assert "import ghostsym as gs" in block
    derivation = _run(block)["derivation"]
    import sympy

    alpha = derivation.results["alpha_star"]
    (T,) = alpha.free_symbols
    expected = sympy.pi**3 * (4 * sympy.sqrt(3) - sympy.sqrt(6)) / (81 * 7**4)
    assert float(alpha.subs(T, 7)) == pytest.approx(float(expected), rel=1e-12)
    assert derivation.results["alpha_star_exponent"] == -4


def test_from_python_walkthrough_runs_and_its_comments_are_true(tmp_path, monkeypatch):
    """The notebook-style walk-through: only ``import ghostsym`` names, and what it says holds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import sympy

    block = _python_block("From Python")
    imports = re.findall(r"^(?:import|from) .*$", block, flags=re.M)
    assert imports == ["import matplotlib.pyplot as plt", "import ghostsym as gs"]
    used = set(re.findall(r"\bgs\.(\w+)", block))  # public names only, no module paths
    import ghostsym

    assert used <= set(ghostsym.__all__), used - set(ghostsym.__all__)
    monkeypatch.chdir(tmp_path)  # nothing may be written anywhere
    ns = _run(block)
    assert list(tmp_path.iterdir()) == []

    derivation = ns["derivation"]
    assert isinstance(derivation, ghostsym.Derivation)
    T = derivation.symbols["T"]
    assert sympy.simplify(derivation.results["r_star"] - sympy.pi**2 / (4 * T**2)) == 0
    assert sympy.simplify(derivation.results["alpha_star"] - 3 * sympy.pi**4 / (32 * T**5)) == 0
    assert ns["config"].task.delay == 20 and ns["config"].epochs == 500

    loss = ns["loss"]
    assert loss.shape == (500,)
    assert loss[:200].min() > 0.95  # the plateau near 1 for 200 epochs
    assert loss[-1] < 0.1 < 0.5 < loss[200]  # then the abrupt drop

    track = ns["track"]
    assert list(track.epochs) == list(range(0, 501, 20))
    assert set(track.counts) == {1}  # one fixed point throughout
    r = track.ghost_r
    assert np.isnan(r[track.epochs < 200]).all()  # no ghost on the plateau
    assert np.isfinite(r[-5:]).all() and (0 < r[-5:]).all() and (r[-5:] < 0.05).all()

    fig = ns["fig"]
    assert fig is ns["axes"][0].figure  # the helper drew on the given axes, returned their figure
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert labels == [
        "loss",
        r"gradient norm $\|\nabla_\theta L\|$",
        "fixed points",
        r"ghost $r = a_g r_g$",
    ]
    assert len(fig.axes[0].lines[0].get_xdata()) == 500
    plt.close(fig)


def test_predictions_table_is_generated_from_the_committed_results():
    """The README's predictions table is what results/verify-*.json give, never typed."""
    from ghostsym.verification import readme

    assert readme.main(["--root", str(ROOT), "--check"]) == 0, (
        "README.md is stale: run python -m ghostsym.verification.readme"
    )
