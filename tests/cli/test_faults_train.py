"""Fault injection on ``ghostsym train`` / ``analyze`` as a user meets it (subprocesses):
a user's directory, concurrent trains, huge sizes, damaged runs, a full stdout, a small full
file system, negative numbers, file modes. (Kills at random points, then the same command
again: tests/cli/test_train_cli.py.)"""

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ghostsym.cli import NEGATIVE_NUMBER, build_parser, main
from ghostsym.training import load_run, train

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--model", "rank1", "--task", "da", "--neurons", "20", "--lr", "0.05", "--no-progress"]


def command(*args):
    return [sys.executable, "-m", "ghostsym.cli", *map(str, args)]


def environment():
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, PYTHONPATH=path)


def one_line_error(proc, command_name="train") -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"ghostsym {command_name}: error: "), proc.stderr
    return lines[0]


def snapshot(root: Path) -> dict:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    } | {str(p.relative_to(root)) + "/": None for p in root.rglob("*") if p.is_dir()}


def test_a_users_directory_is_untouched_byte_for_byte(run_cli, tmp_path):
    user = tmp_path / "results"
    (user / "resume").mkdir(parents=True)
    (user / "checkpoints").mkdir()
    (user / "resume" / "draft.txt").write_text("do not delete")
    (user / "checkpoints" / "epoch_000000001.npz").write_bytes(b"mine")
    (user / "history.npz").write_bytes(b"my history")
    before = snapshot(user)
    for args in (
        ("train", *SMALL, "--epochs", "10", "--out", user),
        ("train", "--resume", "--out", user),
    ):
        line = one_line_error(run_cli(*args))
        assert "not written by ghostsym" in line or "no config.json" in line, line
    (user / "config.json").write_text('{"my": "config"}')
    before = snapshot(user)
    for args in (
        ("train", *SMALL, "--epochs", "10", "--out", user),
        ("train", "--resume", "--out", user),
    ):
        assert "is not empty and was not written by ghostsym" in one_line_error(run_cli(*args))
    line = one_line_error(run_cli("analyze", user), "analyze")
    assert "config.json" in line
    assert snapshot(user) == before


def test_two_trains_on_one_directory_the_second_refuses(run_cli, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        command("train", *SMALL, "--epochs", "3000000", "--checkpoint-every", "1000", "--out", out),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=environment(),
    )
    try:
        deadline = time.monotonic() + 60
        while not (out / "resume" / "state.npz").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None
        for args in (("train", "--resume", "--out", out), ("train", *SMALL, "--out", out)):
            line = one_line_error(run_cli(*args))
            assert f"another training is running in {str(out)!r}" in line or "already holds" in line
        line = one_line_error(run_cli("train", "--resume", "--out", out))
        assert "another training is running" in line
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_huge_sizes_are_one_line_and_create_nothing(run_cli, tmp_path, capsys):
    out = tmp_path / "out"
    cases = [
        (["--epochs", "1000000000000000"], "epochs 1000000000000000 exceeds the limit of"),
        (["--delay", "1000000000"], "steps per trial (delay, cue, response) 2000000000"),
        (["--neurons", "10000000"], "neurons 10000000 exceeds the limit of 10,000"),
        (["--trials-per-condition", "1000000000"], "trials per epoch"),
        (["--model", "full", "--neurons", "9000"], "of memory"),
    ]
    for args, message in cases:
        assert main(["train", *args, "--out", str(out), "--no-progress"]) == 1
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and "--allow-large" in lines[0], lines
        assert not out.exists()
    line = one_line_error(run_cli("train", "--epochs", "1000000000000000", "--out", out))
    assert "exceeds the limit" in line and not out.exists()
    assert "--allow-large" in run_cli("train", "--help").stdout


def test_resume_of_damaged_runs_is_one_line(run_cli, tmp_path, capsys):
    good = tmp_path / "good"
    assert run_cli("train", *SMALL, "--epochs", "50", "--out", good).returncode == 0
    damages = {
        "truncated": lambda r: (r / "params_init.npz").write_bytes(b"PK\x03\x04"),
        "missing": lambda r: (r / "params_init.npz").unlink(),
        "epochs": lambda r: (r / "config.json").write_text(
            (r / "config.json").read_text().replace('"epochs": 50', '"epochs": 1000000000000000')
        ),
        "neurons": lambda r: (r / "config.json").write_text(
            (r / "config.json").read_text().replace('"neurons": 20', '"neurons": 21')
        ),
    }
    messages = {
        "truncated": "params_init.npz: not a valid .npz file, truncated or corrupt",
        "missing": "params_init.npz is missing (incomplete run directory)",
        "epochs": "config.json: epochs 1000000000000000 exceeds the limit",
        "neurons": "params_init.npz does not match config.json",
    }
    for name, damage in damages.items():
        run = tmp_path / name
        shutil.copytree(good, run)
        damage(run)
        resume = ["train", "--resume", "--no-progress", "--out", str(run)]
        for args in (resume, ["analyze", str(run)]):
            assert main(args) == 1
            lines = capsys.readouterr().err.strip().splitlines()
            assert len(lines) == 1 and messages[name] in lines[0], lines
    # and as a user runs it
    assert messages["truncated"] in one_line_error(
        run_cli("train", "--resume", "--out", tmp_path / "truncated")
    )


def test_a_full_stdout_is_one_line(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this platform")
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            command("verify", "--list"),
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=environment(),
            timeout=120,
        )
    assert proc.stderr.strip() == (
        "ghostsym verify: error: cannot write to standard output: No space left on device"
    ), proc.stderr
    assert proc.returncode == 1
    # a closed pipe (| head) ends quietly
    proc = subprocess.run(
        f"{sys.executable} -m ghostsym.cli verify --list | head -c 1",
        shell=True,
        capture_output=True,
        text=True,
        env=environment(),
        timeout=120,
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr and proc.stderr == ""


def test_a_small_full_file_system_then_the_same_command_again(tmp_path):
    """A 48 kB tmpfs fills up: one line naming the file being written, no temp file; after
    making room (remount), --resume finishes bit-identically. Needs permission to mount."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(mnt)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        out = mnt / "run"
        args = ["--neurons", "100", "--epochs", "200", "--checkpoint-every", "1", "--no-progress"]
        proc = subprocess.run(
            command("train", *args, "--out", out),
            capture_output=True,
            text=True,
            env=environment(),
            timeout=300,
        )
        line = one_line_error(proc)
        assert line.startswith(f"ghostsym train: error: cannot write {out}/"), line
        assert line.endswith(": No space left on device"), line
        assert not list(mnt.rglob("*.tmp"))
        subprocess.run(["mount", "-o", "remount,size=8m", str(mnt)], check=True)
        proc = subprocess.run(
            command("train", "--resume", "--no-progress", "--out", out),
            capture_output=True,
            text=True,
            env=environment(),
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        record = load_run(out)
        reference = train(record.config)
        assert np.array_equal(record.history["loss"], reference.history["loss"])
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_negative_numbers_in_any_notation_are_values():
    parser = build_parser()
    for text, value in (("-3e-1", -0.3), ("-.3", -0.3), ("-3E-1", -0.3), ("-0.3", -0.3)):
        args = parser.parse_args(["train", "--initial-state", text])
        assert float(args.initial_state) == value
    assert parser.parse_args(["train", "--initial-state", "-inf"]).initial_state == "-inf"
    for word in ("-x", "--out", "-1e", "-e5"):
        assert not NEGATIVE_NUMBER.match(word)
    subparsers = next(a for a in parser._actions if hasattr(a, "choices") and a.choices)
    for name, sub in subparsers.choices.items():
        assert sub._negative_number_matcher is NEGATIVE_NUMBER, name


def test_negative_exponent_through_the_command(run_cli, tmp_path):
    out = tmp_path / "run"
    proc = run_cli("train", *SMALL, "--epochs", "5", "--initial-state", "-3e-1", "--out", out)
    assert proc.returncode == 0, proc.stderr
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["task"]["initial_state"] == -0.3


def test_run_directory_modes_follow_the_umask(tmp_path):
    umask = 0o077  # 022 and 077 in-process: tests/training/test_faults_runs.py
    out = tmp_path / "run"
    proc = subprocess.run(
        command("train", *SMALL, "--epochs", "30", "--out", out),
        capture_output=True,
        text=True,
        env=environment(),
        preexec_fn=lambda: os.umask(umask),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    paths = list(out.rglob("*"))
    assert {"config.json", "history.npz", "training.png", ".ghostsym.json"} <= {
        p.name for p in paths
    }
    for p in paths:
        expected = (0o777 if p.is_dir() else 0o666) & ~umask
        assert stat.S_IMODE(p.stat().st_mode) == expected, (p, oct(p.stat().st_mode))
