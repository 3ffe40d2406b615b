"""Every verification check states its pre-registered rule and false-fail probability, and
draws its populations from the run's seed offset (no seed constants)."""

import ast
import re
from pathlib import Path

import pytest

VERIFY = Path(__file__).resolve().parent.parent.parent / "verify"
FILES = sorted(p for p in VERIFY.glob("*.py") if not p.name.startswith("_"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_docstring_states_rule_and_false_fail_probability(path):
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    paragraphs = [p.strip() for p in doc.split("\n\n")]
    assert any(p.startswith("Rule:") for p in paragraphs), f"{path.name}: no 'Rule:' paragraph"
    assert any(p.startswith("False-fail probability:") for p in paragraphs), (
        f"{path.name}: no 'False-fail probability:' paragraph"
    )


SEED_CONSTANT = re.compile(r"\bseeds?\s*=\s*(\d+|range\(|\[\s*\d)")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_no_seed_constants(path):
    """Seeds come from ctx.seeds(n) or ctx.rng, so ``--seed`` reaches every population."""
    tree = ast.parse(path.read_text())
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg in ("seed", "seeds"):
            if isinstance(node.value, ast.Constant | ast.List | ast.Tuple) or (
                isinstance(node.value, ast.Call) and getattr(node.value.func, "id", None) == "range"
            ):
                bad.append(f"line {node.value.lineno}: {ast.unparse(node)}")
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if (
                    isinstance(k, ast.Constant)
                    and k.value == "seed"
                    and isinstance(v, ast.Constant | ast.Dict | ast.List)
                ):
                    if "ctx" not in ast.unparse(v):
                        bad.append(f"line {v.lineno}: 'seed': {ast.unparse(v)}")
    assert not bad, f"{path.name}: seed constants: {bad}"
