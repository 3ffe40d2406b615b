"""The Dask path on a real cluster: a scheduler and two workers on 127.0.0.1, one killed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from ghostsym.sweeps.run import load_sweep_run

DASK = shutil.which("dask")
pytestmark = pytest.mark.skipif(DASK is None, reason="the dask CLI is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def cluster(tmp_path):
    """``dask scheduler`` + two single-threaded ``dask worker`` processes (no nanny, so that
    SIGKILL of a worker's pid kills exactly that worker)."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    logs = []

    def start(args, name):
        log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 (closed at teardown)
        logs.append(log)
        return subprocess.Popen([DASK, *args], stdout=log, stderr=subprocess.STDOUT, env=env)

    procs = {
        "scheduler": start(
            ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], "scheduler"
        )
    }
    for name in ("w1", "w2"):
        procs[name] = start(
            [
                "worker",
                address,
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--name",
                name,
                "--death-timeout",
                "30",
            ],
            name,
        )
    try:
        wait_for(lambda: _workers(address) >= 2, 45, "two dask workers")
        yield address, procs
    finally:
        for p in procs.values():  # our own processes; a graceful dask shutdown takes ~10 s
            if p.poll() is None:
                p.kill()
            p.wait()
        for log in logs:
            log.close()


def _workers(address: str) -> int:
    from distributed import Client

    try:
        with Client(address, timeout=2, set_as_default=False) as c:
            return len(c.scheduler_info()["workers"])
    except OSError:
        return 0


SPEC = """
[sweep]
kind = "toy"
name = "dask-test"
[base]
epochs = 500
sleep = 0.5
log = "{log}"
[grid]
lr = [0.05, 0.1, 0.3, 2.5]
seed = {{ range = [0, 3] }}
"""


def test_sweep_on_cluster_survives_a_killed_worker(cluster, tmp_path, run_cli):
    address, procs = cluster
    log = tmp_path / "attempts.log"
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(log=log))
    out = tmp_path / "dask-results"
    sweep = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ghostsym.cli",
            "sweep",
            str(spec),
            "--out",
            str(out),
            "--scheduler",
            address,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    victim = procs["w1"].pid

    def victim_busy():
        if not log.exists():
            return None
        lines = [line.split() for line in log.read_text().splitlines()]
        ended = {(w[1], w[2]) for w in lines if w[0] == "end"}
        busy = [
            w
            for w in lines
            if w[0] == "start" and int(w[3]) == victim and (w[1], w[2]) not in ended
        ]
        done = sum(w[0] == "end" for w in lines)
        return busy[0] if busy and done >= 2 else None

    started = wait_for(victim_busy, 40, "worker w1 in the middle of a run")
    procs["w1"].send_signal(signal.SIGKILL)  # mid-run: the run it holds must be redone
    procs["w1"].wait()
    stdout, stderr = sweep.communicate(timeout=60)
    assert sweep.returncode == 0, stderr
    assert "9 done, 3 failed, 0 lost of 12 runs" in stdout, stdout
    assert "running=" in stderr and "failed=" in stderr  # progress bar with the counts

    # the interrupted run was started again, on the surviving worker
    lines = [line.split() for line in log.read_text().splitlines()]
    survivor = procs["w2"].pid
    restarts = [w for w in lines if w[0] == "start" and (w[1], w[2]) == (started[1], started[2])]
    assert [int(w[3]) for w in restarts] == [victim, survivor]

    # every run written exactly once; the index agrees
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    written = [e["run_id"] for e in events if e["event"] == "written"]
    assert len(written) == len(set(written)) == 12
    assert not [e for e in events if e["event"] in ("duplicate", "lost")]
    index = json.loads((out / "index.json").read_text())
    assert index["counts"] == {"done": 9, "failed": 3, "running": 0, "pending": 0, "lost": 0}

    # same results as a local sweep (without the sleep-induced timing, everything equal)
    local = tmp_path / "local-results"
    r = run_cli("sweep", spec, "--out", local, "--workers", "2", "--no-progress")
    assert r.returncode == 0, r.stderr
    for run_id in written:
        a, b = load_sweep_run(out, run_id), load_sweep_run(local, run_id)
        assert a.status == b.status and a.result["reason"] == b.result["reason"]
        for key in b.history:
            assert np.array_equal(a.history[key], b.history[key]), key
        for key in b.params:
            assert np.array_equal(a.params[key], b.params[key]), key
