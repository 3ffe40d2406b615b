"""``ghostsym train`` as a user runs it: a subprocess, a run directory, a kill, a resume."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ghostsym.cli import main
from ghostsym.training import TrainingConfig, load_run, train

SMALL = ["--model", "rank1", "--task", "da", "--neurons", "20", "--lr", "0.05"]


def test_train_writes_a_complete_run_directory(run_cli, tmp_path):
    out = tmp_path / "run"
    proc = run_cli("train", *SMALL, "--epochs", "300", "--checkpoint-every", "100", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "epoch" in proc.stderr  # the progress bar (epochs/s)
    assert "run directory" in proc.stdout
    for name in (
        "config.json",
        "params_init.npz",
        "params_final.npz",
        "history.npz",
        "training.png",
        "status.json",
    ):
        assert (out / name).exists(), name
    with np.load(out / "history.npz") as h:
        assert sorted(h.files) == ["accuracy", "grad_norm", "loss"]
        assert h["loss"].shape == (300,)
    with np.load(out / "params_final.npz") as p:
        assert sorted(p.files) == ["b", "m", "n"]
    record = load_run(out)
    assert record.checkpoint_epochs == [0, 100, 200, 300]
    assert json.loads((out / "status.json").read_text())["state"] == "finished"
    again = run_cli("train", *SMALL, "--epochs", "300", "--out", out)
    assert again.returncode == 1 and "already holds" in again.stderr


BAD_INPUT = [
    (["--model", "lowrank", "--rank", "200"], "rank 200 exceeds"),
    (["--epochs", "-5"], "--epochs must be >= 0"),
    (["--epochs", "0"], "--epochs must be > 0"),
    (["--task", "xor"], "unknown task 'xor'"),
    (["--lr", "nan"], "--lr: not a number"),
    (["--lr", "inf"], "--lr must be finite"),
    (["--lr", "-1"], "learning rate must be finite and > 0"),
    (["--optimizer", "lbfgs"], "unknown optimizer"),
    (["--intervene", "5:q=1"], "interventions set 'c'"),
    (["--model", "full", "--readout", "latent"], "needs a low-rank network"),
]


@pytest.mark.parametrize("args, message", BAD_INPUT)
def test_bad_input_gets_one_line_error(capsys, tmp_path, args, message):
    status = main(["train", *args, "--out", str(tmp_path / "x"), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ghostsym train: error:"), err
    assert message in lines[0]
    assert not (tmp_path / "x" / "config.json").exists()


def test_bad_input_through_the_command(run_cli, tmp_path):
    for args, message in (BAD_INPUT[0], BAD_INPUT[5], (["--resume"], "--resume needs --out")):
        proc = run_cli("train", *args)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1, proc.stderr
        assert lines[0].startswith("ghostsym train: error:") and message in lines[0]
    proc = run_cli("train", "--resume", "--lr", "0.1", "--out", tmp_path)
    assert proc.returncode == 1 and "do not also pass" in proc.stderr


def _train_process(*args):
    return subprocess.Popen(
        [sys.executable, "-m", "ghostsym.cli", "train", *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def test_kills_at_random_points_then_the_same_command_give_the_uninterrupted_results(tmp_path):
    """SIGKILL at random moments — start-up, set-up, training (after a saved state) — each
    followed by what a user types next: the first command again while the directory holds
    no config.json, else --resume. The result equals an uninterrupted run bit for bit, and
    resuming a finished run is a no-op."""
    out = tmp_path / "run"
    first = [*SMALL, "--epochs", "100000", "--checkpoint-every", "1000", "--no-progress"]
    rng = random.Random(16)
    state = out / "resume" / "state.npz"
    kills = []
    for delay in (rng.uniform(0.0, 1.0), rng.uniform(1.0, 2.0), None, None):
        resumable = (out / "config.json").exists()
        args = ["--resume", "--no-progress"] if resumable else first
        proc = _train_process(*args, "--out", out)
        try:
            if delay is None:  # kill once a state (beyond the one loaded) has been saved
                saved = state.stat().st_mtime_ns if state.exists() else 0
                deadline = time.monotonic() + 120
                while proc.poll() is None and time.monotonic() < deadline:
                    if state.exists() and state.stat().st_mtime_ns != saved:
                        break
                    time.sleep(0.02)
            else:
                time.sleep(delay)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills.append(load_run(out).status["epoch"] if resumable else -1)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
    assert any(epoch > 0 for epoch in kills), kills  # at least one kill mid-training
    record = load_run(out)
    assert record.status["state"] == "running" and record.params_final is None
    resumed = subprocess.run(
        [sys.executable, "-m", "ghostsym.cli", "train", "--resume", "--out", out, "--no-progress"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr
    finished = load_run(out)
    assert finished.status["state"] == "finished"
    assert not (out / "resume").exists()

    config = TrainingConfig.from_dict(json.loads((out / "config.json").read_text())["config"])
    reference = train(config)
    for key in ("loss", "grad_norm", "accuracy"):
        assert np.array_equal(finished.history[key], reference.history[key]), key
    for name, value in reference.params_final.items():
        assert np.array_equal(finished.params_final[name], value), name
    for epoch in (0, 1000, *kills, 100000):
        if epoch in finished.checkpoint_epochs:
            got = finished.checkpoint(epoch)
            assert all(np.array_equal(got[k], reference.checkpoints[epoch][k]) for k in got)

    # resuming a finished run is a no-op
    before = (out / "history.npz").stat().st_mtime_ns
    again = subprocess.run(
        [sys.executable, "-m", "ghostsym.cli", "train", "--resume", "--out", out, "--no-progress"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr
    assert (out / "history.npz").stat().st_mtime_ns == before
