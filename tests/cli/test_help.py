"""``--help`` answers: every option shows its default and a real metavar; the preset list is
complete; ``train --show-config`` prints the resolved configuration and writes nothing."""

from __future__ import annotations

import argparse
import json

import pytest

from ghostsym.cli import COMMANDS, build_parser

#: Flags that end the command instead of setting anything (they have no default to show).
NO_DEFAULT = {"-h", "--help", "--list", "--show-config", "--dry-run", "--version"}


def _subparsers():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def _helps(subparser) -> dict[str, str]:
    subparser.format_help()  # resolves the lazily formatted helps
    return {
        a.option_strings[0]: " ".join(a.help.split())
        for a in subparser._actions
        if a.option_strings and not set(a.option_strings) & NO_DEFAULT
    }


@pytest.mark.parametrize("command", [c.replace("_", "-") for c in COMMANDS])
def test_every_option_shows_its_default_and_a_real_metavar(command):
    subparser = _subparsers()[command]
    helps = _helps(subparser)
    assert helps, command
    missing = [
        flag for flag, text in helps.items() if "(default" not in text and "default:" not in text
    ]
    assert not missing, f"{command}: options without a default in --help: {missing}"
    metavars = {a.option_strings[0]: a.metavar for a in subparser._actions if a.option_strings}
    bad = [flag for flag, m in metavars.items() if m == "X"]
    assert not bad, f"{command}: placeholder metavars: {bad}"


def test_train_help_defaults_are_the_default_run(run_cli):
    res = run_cli("train", "--help")
    assert res.returncode == 0, res.stderr
    text = " ".join(res.stdout.split())
    for piece in (
        "--lr LR learning rate (default: 0.003)",
        "--epochs EPOCHS number of epochs (gradient steps) (default: 1000)",
        "(default: 0)",
        "--show-config, --dry-run",
    ):
        assert piece in text, piece
    pattern = "./runs/train-<model>-<task>-seed<seed>-<YYYYmmdd-HHMMSS>"
    assert pattern in "".join(res.stdout.split())  # argparse may wrap it at a hyphen
    from ghostsym.training import PRESETS, build_config

    assert "…" not in text.split("--preset PRESET", 1)[1].split("--rank", 1)[0]
    for name in PRESETS:
        assert f" {name}," in text or f" {name})" in text, name
    config = build_config()
    assert f"(default: {config.lr:g})" in text and config.seed == 0


def test_derive_and_verify_help_read_well(run_cli):
    derive = " ".join(run_cli("derive", "--help").stdout.split())
    assert "delay T > 0: add numbers" not in derive
    assert "--T T delay T > 0 at which to evaluate the results numerically" in derive
    verify = " ".join(run_cli("verify", "--help").stdout.split())
    assert "--seed S seed offset: every seed population of every check" in verify
    assert "(0..100000; default: 0)" in verify and "--strict" in verify
    from ghostsym import verification
    from ghostsym.cli import verify as verify_cli

    # The help's constants are kept in step with the framework's (not imported: light help).
    assert verify_cli.MAX_SEED_OFFSET == verification.MAX_SEED_OFFSET
    assert verify_cli.EXIT_USAGE == verification.EXIT_USAGE
    assert verify_cli.DEFAULT_OUT == verification.DEFAULT_OUT
    assert "--threshold EXPR" in verify


def test_show_config_prints_the_resolved_configuration_and_writes_nothing(run_cli, tmp_path):
    from ghostsym import training

    out = tmp_path / "run"
    res = run_cli("train", "--preset", "fig3b", "--lr", "0.01", "--show-config", "--out", out)
    assert res.returncode == 0, res.stderr
    shown = json.loads(res.stdout)
    assert not out.exists() and list(tmp_path.iterdir()) == []
    preset = training.PRESETS["fig3b"]
    every = max(1, preset["epochs"] // training.DEFAULT_CHECKPOINTS)
    expected = training.build_config(preset="fig3b", lr=0.01, checkpoint_every=every)
    assert shown == json.loads(json.dumps(expected.to_dict()))
    assert shown["lr"] == 0.01 and shown["epochs"] == preset["epochs"]
    assert shown["seed"] == preset["seed"]
    # --dry-run is the same flag; a run directory under the working directory is not made
    res = run_cli("train", "--dry-run", "--epochs", "7", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["epochs"] == 7 and list(tmp_path.iterdir()) == []


def test_show_config_bad_input_is_one_line(run_cli, tmp_path):
    res = run_cli("train", "--preset", "nope", "--show-config", cwd=tmp_path)
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr.startswith("ghostsym train: error: unknown preset 'nope'; known: fig3a")
    assert len(res.stderr.strip().splitlines()) == 1
    res = run_cli("train", "--resume", "--out", tmp_path / "r", "--show-config")
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1
    assert "--show-config prints a new run's configuration" in res.stderr
    assert list(tmp_path.iterdir()) == []
