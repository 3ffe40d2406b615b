"""The sweep engine: specs, storage, local execution, failures, kill-and-resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ghostsym.errors import InputError
from ghostsym.sweeps.run import (
    ResultStore,
    execute_point,
    load_spec,
    load_sweep_run,
    parse_spec,
    read_index,
    run_sweep,
)
from ghostsym.sweeps.spec import StoragePolicy, expand_axis, run_id_of

REPO = Path(__file__).resolve().parents[2]


def toy_spec(**base) -> dict:
    return {
        "sweep": {"kind": "toy", "name": "t"},
        "base": {"epochs": 40, **base},
        "grid": {"lr": [0.1, 0.5, 2.5], "seed": {"range": [0, 3]}},
    }


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# -- specs --------------------------------------------------------------------------------------
def test_axis_forms():
    assert expand_axis("lr", {"logspace": [-3, -1, 3]}) == pytest.approx([1e-3, 1e-2, 1e-1])
    assert expand_axis("x", {"linspace": [0, 1, 3]}) == [0.0, 0.5, 1.0]
    assert expand_axis("seed", {"range": [2, 8, 3]}) == [2, 5]
    assert expand_axis("task", ["da", "dcd"]) == ["da", "dcd"]
    assert expand_axis("c", [0.1, float("inf")])[1] == float("inf")
    for bad in ({"logspace": [1, 2]}, {"range": [0.5, 2]}, {"spiral": [1, 2, 3]}, [], [1, 1], 3):
        with pytest.raises(InputError):
            expand_axis("a", bad)


def test_grid_cases_overrides_and_ids():
    data = {
        "sweep": {"kind": "toy"},
        "base": {"epochs": 10},
        "grid": {"seed": [0, 1]},
        "cases": [
            {"sleep": 0.0, "grid": {"lr": [0.1, 0.2]}},
            {"sleep": 0.0, "fail": True, "grid": {"lr": [0.3]}},
        ],
    }
    spec = parse_spec(data)
    assert len(spec.points) == 6
    # a setting that differs between cases is an axis too
    assert set(spec.axes) == {"seed", "lr", "fail"}
    assert {p.config["lr"] for p in spec.points} == {0.1, 0.2, 0.3}
    # ids are content hashes: independent of the order of axes and of the other points
    p = spec.points[0]
    assert p.run_id == run_id_of(spec.kind_ref, dict(reversed(list(p.config.items()))))
    other = parse_spec({**data, "grid": {"seed": [5, 1, 0]}})
    assert {q.run_id for q in other.points} > {q.run_id for q in spec.points if q.axes["seed"] < 2}
    # --set wins over base, cases and axes
    fixed = parse_spec(data, overrides={"lr": 0.05, "epochs": 12})
    assert len(fixed.points) == 4 and {q.config["lr"] for q in fixed.points} == {0.05}
    assert all(q.config["epochs"] == 12 for q in fixed.points)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"sweep": {"kind": "nope"}}, "unknown run kind"),
        ({"sweep": {"kind": "toy", "colour": 1}}, "unknown key"),
        ({"sweep": {"kind": "toy"}, "grids": {}}, "unknown table"),
        ({"sweep": {"kind": "toy"}, "grid": {"lr": [-1.0], "seed": [0]}}, "lr must be > 0"),
        ({"sweep": {"kind": "toy"}, "grid": {"lr": [0.1]}}, "missing setting 'seed'"),
        (
            {"sweep": {"kind": "toy"}, "grid": {"lr": [0.1], "seed": [0]}, "cases": [{}, {}]},
            "same run twice",
        ),
        ({"sweep": {"kind": "toy", "store_dtype": "int8"}}, "store_dtype"),
        ({"sweep": {"kind": "rnn"}, "base": {"task": "juggling"}}, "unknown task"),
        ({"sweep": {"kind": "rnn"}, "base": {"model": "lowrank", "rank": 500}}, "rank"),
    ],
)
def test_bad_specs_are_input_errors(data, message):
    with pytest.raises(InputError, match=message):
        parse_spec(data)


def test_example_specs_parse():
    examples = sorted((REPO / "examples" / "sweeps").glob("*.toml"))
    assert len(examples) >= 5
    for path in examples:
        spec = load_spec(path)
        assert spec.points, path


# -- one run ------------------------------------------------------------------------------------
def test_execute_point_records_failures_and_thins():
    ok = execute_point(
        "ghostsym.sweeps.kinds:run_toy",
        {"lr": 0.1, "seed": 3, "epochs": 95},
        StoragePolicy(every=10, tail=7).as_dict(),
    )
    assert ok["status"] == "done"
    epochs = ok["history"]["epoch"]
    assert list(epochs[:3]) == [0, 10, 20] and list(epochs[-7:]) == list(range(88, 95))
    full = execute_point("ghostsym.sweeps.kinds:run_toy", {"lr": 0.1, "seed": 3, "epochs": 95})
    assert np.array_equal(full["history"]["loss"][epochs], ok["history"]["loss"])

    div = execute_point("ghostsym.sweeps.kinds:run_toy", {"lr": 2.5, "seed": 0, "epochs": 200})
    assert div["status"] == "failed" and div["failure"] == "divergence"
    assert "epoch 34" in div["reason"] and div["summary"]["diverged_epoch"] == 34

    err = execute_point("ghostsym.sweeps.kinds:run_toy", {"lr": 0.1, "seed": 0, "fail": True})
    assert err["status"] == "failed" and err["failure"] == "error"
    assert err["reason"].startswith("RuntimeError: requested failure")
    assert "Traceback" in err["traceback"]


# -- local sweeps -------------------------------------------------------------------------------
def test_local_sweep_stores_everything_and_skips_on_rerun(tmp_path):
    spec = parse_spec(toy_spec())
    out = tmp_path / "res"
    s = run_sweep(spec, out, workers=2)
    assert (s.total, s.done, s.failed, s.lost, s.ran) == (9, 6, 3, 0, 9)
    index = read_index(out)
    assert {r["status"] for r in index["status"].values()} == {"done", "failed"}
    for p in spec.points:
        run = load_sweep_run(out, p.run_id)
        assert run.config == p.config and run.result["axes"] == p.axes
        if p.config["lr"] == 2.5:
            assert run.status == "failed" and "diverged at epoch" in run.result["reason"]
        else:
            direct = execute_point(spec.kind_ref, p.config)
            assert np.array_equal(run.history["loss"], direct["history"]["loss"])
            assert np.array_equal(run.params["w"], direct["params"]["w"])
    again = run_sweep(spec, out, workers=2)
    assert (again.ran, again.skipped) == (0, 9)
    retry = run_sweep(spec, out, workers=2, retry_failed=True)
    assert (retry.ran, retry.skipped, retry.failed) == (3, 6, 3)
    assert not list((out / "runs").glob(".*"))  # no temporary or replaced directories left


def test_one_sweep_per_directory_and_partial_writes_are_discarded(tmp_path):
    spec = parse_spec(toy_spec())
    out = tmp_path / "res"
    with ResultStore(out).locked(), pytest.raises(InputError, match="another sweep"):
        run_sweep(spec, out, workers=1)
    # a run cut off while being written leaves only a temporary directory
    partial = out / "runs" / f".tmp-{spec.points[0].run_id}-dead"
    partial.mkdir(parents=True)
    (partial / "config.json").write_text("{")
    s = run_sweep(spec, out, workers=2)
    assert s.ran == 9 and not partial.exists()


def test_kill_and_resume(tmp_path, run_cli):
    """SIGKILL a sweep mid-way; the rerun skips stored runs, redoes the rest, same results."""
    log = tmp_path / "attempts.log"
    spec_text = f"""
[sweep]
kind = "toy"
name = "killme"
[base]
epochs = 300
sleep = 0.4
log = "{log}"
[grid]
lr = [0.05, 0.1, 0.2]
seed = {{ range = [0, 4] }}
"""
    spec = write_toml(tmp_path / "kill.toml", spec_text)
    out = tmp_path / "res"
    cmd = [
        sys.executable,
        "-m",
        "ghostsym.cli",
        "sweep",
        str(spec),
        "--out",
        str(out),
        "--workers",
        "2",
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    events = out / "events.jsonl"
    deadline = time.time() + 30
    while time.time() < deadline:
        if events.exists() and events.read_text().count('"written"') >= 4:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {json.loads(line)["run_id"] for line in events.read_text().splitlines()}
    assert 4 <= len(before) < 12
    stored = {
        p.name: (p / "result.json").stat().st_mtime_ns
        for p in (out / "runs").iterdir()
        if not p.name.startswith(".")
    }
    assert set(stored) == before
    # the workers notice that the sweep process is gone and stop
    pids = {int(line.split()[-1]) for line in log.read_text().splitlines()}
    deadline = time.time() + 5
    while time.time() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids)

    r = run_cli("sweep", spec, "--out", out, "--workers", "2", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "12 done" in r.stdout and f"{len(before)} already stored" in r.stdout
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    written = [e["run_id"] for e in lines if e["event"] == "written"]
    assert len(written) == len(set(written)) == 12  # every run stored exactly once
    for name, mtime in stored.items():  # finished runs were not touched
        assert (out / "runs" / name / "result.json").stat().st_mtime_ns == mtime
    index = json.loads((out / "index.json").read_text())
    assert index["counts"]["done"] == 12

    ref = tmp_path / "ref"
    r = run_cli("sweep", spec, "--out", ref, "--workers", "2", "--no-progress")
    assert r.returncode == 0, r.stderr
    for run_id in written:
        a, b = load_sweep_run(out, run_id), load_sweep_run(ref, run_id)
        for key in ("loss", "grad_norm", "accuracy"):
            assert np.array_equal(a.history[key], b.history[key])  # bit-identical
        assert np.array_equal(a.params["w"], b.params["w"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for its (dead) parent's reaper counts as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


# -- CLI ----------------------------------------------------------------------------------------
def test_cli_sweep_and_bad_input(tmp_path, run_cli):
    spec = write_toml(
        tmp_path / "s.toml",
        '[sweep]\nkind = "canonical"\n[base]\nepochs = 200\n'
        "[grid]\nlr = { logspace = [-10, -9, 3] }\nseed = [0, 1]\n",
    )
    r = run_cli("sweep", spec, "--dry-run")
    assert r.returncode == 0 and "6 runs of kind 'canonical'" in r.stdout
    r = run_cli("sweep", spec, "--out", tmp_path / "o", "--workers", "1", "--set", "epochs=300")
    assert r.returncode == 0, r.stderr
    assert "6 done, 0 failed, 0 lost of 6 runs" in r.stdout
    assert "sweep" in r.stderr and "running=" in r.stderr  # the progress bar
    cfg = json.loads(next((tmp_path / "o" / "runs").glob("*/config.json")).read_text())
    assert cfg["epochs"] == 300

    bad = write_toml(tmp_path / "bad.toml", "[sweep\nkind=")
    cases = [
        (["sweep", tmp_path / "missing.toml"], "cannot read sweep spec"),
        (["sweep", bad], "not valid TOML"),
        (["sweep", spec, "--set", "lr=-1"], "lr must be > 0"),
        (["sweep", spec, "--set", "novalue"], "--set needs key=value"),
        (["sweep", spec, "--scheduler", "tcp://127.0.0.1:9", "--workers", "2"], "cannot be"),
    ]
    for args, message in cases:
        r = run_cli(*args)
        assert r.returncode == 1, (args, r.stderr)
        assert message in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    r = run_cli("sweep", spec, "--workers", "0")
    assert r.returncode == 2 and "Traceback" not in r.stderr
