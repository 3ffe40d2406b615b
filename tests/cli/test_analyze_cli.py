"""``ghostsym analyze RUN_DIR`` through a subprocess, including bad run directories."""

import json
import shutil

import numpy as np
import pytest


@pytest.fixture(scope="module")
def rank_one_run(tmp_path_factory):
    from ghostsym.training import build_config, run_training

    out = tmp_path_factory.mktemp("runs") / "rank1"
    cfg = build_config(model="rank1", task="da", epochs=20, lr=0.01, seed=1, checkpoint_every=10)
    run_training(cfg, out)
    return out


def test_analyze_rank_one_run(run_cli, rank_one_run, tmp_path):
    out = tmp_path / "analysis"
    proc = run_cli("analyze", rank_one_run, "--out", out)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "analysis.json").read_text())
    b = doc["bifurcations"]
    assert b["epochs"] == [0, 10, 20]
    assert len(b["fixed_point_counts"]) == 3 and all(c >= 1 for c in b["fixed_point_counts"])
    for fig in doc["figures"]:
        assert (out / fig.split("/")[-1]).stat().st_size > 1000
    # the reported fixed points are roots of the saved network's latent flow
    from ghostsym.analysis.latent_flow import RankOneFlow
    from ghostsym.training import load_checkpoint

    params = load_checkpoint(rank_one_run, 20)
    flow = RankOneFlow(params["m"], params["n"], params["b"])
    kappas = np.array(b["checkpoints"][-1]["fixed_points"])
    assert np.all(np.abs(flow(kappas)) < 1e-9)
    assert "checkpoints" in proc.stdout and "wrote" in proc.stdout
    # The state-space NTK per checkpoint: a participation ratio between 1 and the number of
    # trainable parameters (m, n, b: 3N), the figure, and the summary line.
    sntk = doc["sntk"]
    assert sntk["epoch"] == [0, 10, 20]
    n_params = 3 * len(params["m"])
    assert all(1.0 <= pr <= n_params for pr in sntk["participation_ratio"])
    assert any(f.endswith("sntk.png") for f in doc["figures"])
    assert "state-space NTK: effective rank (participation ratio)" in proc.stdout


def test_missing_directory(run_cli, tmp_path):
    proc = run_cli("analyze", tmp_path / "nope")
    assert proc.returncode == 1
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_not_a_run_directory(run_cli, tmp_path):
    proc = run_cli("analyze", tmp_path)
    assert proc.returncode == 1
    assert "no config.json" in proc.stderr and "Traceback" not in proc.stderr


def test_corrupt_run_directory(run_cli, rank_one_run, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(rank_one_run, broken)
    (broken / "checkpoints" / "epoch_000000010.npz").write_bytes(b"not an npz file")
    proc = run_cli("analyze", broken, "--out", tmp_path / "a")
    assert proc.returncode == 1, proc.stdout
    assert "error" in proc.stderr and "Traceback" not in proc.stderr
    (broken / "config.json").write_text("{not json")
    proc = run_cli("analyze", broken)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_bad_option(run_cli, rank_one_run):
    proc = run_cli("analyze", rank_one_run, "--max-checkpoints", "0")
    assert proc.returncode == 2


def test_analyze_run_from_python_reports_each_checkpoint_and_writes_strict_json(
    rank_one_run, tmp_path
):
    from ghostsym.analysis.bifurcations import BifurcationTrack
    from ghostsym.training.analyze import RunTrack, analyze_run, track_run

    class Meter:
        def __init__(self):
            self.calls = []

        def start(self, total, description=""):
            self.calls.append(("start", total))

        def update(self, n=1, **postfix):
            self.calls.append(("update", n))

        def set_description(self, text):
            pass

        def close(self):
            self.calls.append(("close",))

    meter = Meter()
    doc = analyze_run(rank_one_run, tmp_path / "a", progress=meter)
    assert meter.calls == [("start", 3), ("update", 1), ("update", 1), ("update", 1), ("close",)]
    text = (tmp_path / "a" / "analysis.json").read_text()

    def refuse(constant):
        raise AssertionError(f"non-strict JSON constant {constant}")

    parsed = json.loads(text, parse_constant=refuse)  # strict JSON: no NaN / Infinity
    assert parsed["bifurcations"]["epochs"] == [0, 10, 20] == doc["bifurcations"]["epochs"]
    tracked = track_run(rank_one_run)
    assert isinstance(tracked, RunTrack) and isinstance(tracked.track, BifurcationTrack)
    assert tracked.track.epochs.tolist() == doc["bifurcations"]["epochs"]
    assert tracked.record.config.model.rank == 1


def _analyze_on_a_terminal(run_dir, out):
    """``ghostsym analyze`` with stderr on a pseudo-terminal (as in a shell); (rc, stdout, tty)."""
    import os
    import pty
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
    )
    master, slave = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 24 x 100
    proc = subprocess.Popen(
        [sys.executable, "-m", "ghostsym.cli", "analyze", str(run_dir), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
        text=True,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    stdout = proc.stdout.read()
    rc = proc.wait(timeout=300)
    os.close(master)
    return rc, stdout, b"".join(chunks).decode(errors="replace")


def test_progress_bar_on_a_terminal_and_the_summary_after_it(rank_one_run, tmp_path):
    rc, stdout, tty = _analyze_on_a_terminal(rank_one_run, tmp_path / "a")
    assert rc == 0, tty
    assert "analyze" in tty and "3/3" in tty and "checkpoint" in tty and "100%" in tty
    assert "Traceback" not in tty
    lines = stdout.strip().splitlines()
    assert lines[0].startswith("3 checkpoints: fixed points per checkpoint in")
    assert lines[-1].startswith("wrote ")
    story = json.loads((tmp_path / "a" / "analysis.json").read_text())["story"]
    assert story["text"] in lines


def test_no_bar_when_not_a_terminal_and_the_story_is_printed(run_cli, rank_one_run, tmp_path):
    proc = run_cli("analyze", rank_one_run, "--out", tmp_path / "a")
    assert proc.returncode == 0, proc.stderr
    assert "checkpoint/s" not in proc.stderr and "%|" not in proc.stderr
    story = json.loads((tmp_path / "a" / "analysis.json").read_text())["story"]
    # a 20-epoch run: no drop yet, and the paragraph says so with the rule's levels
    assert story["loss_drop"]["drop"] is False
    assert story["text"].startswith("No loss drop:") and story["text"] in proc.stdout
    assert "fixed point(s) at each of the 3 analysed checkpoints" in story["text"]
