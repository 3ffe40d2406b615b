"""Fault injection for sweeps: hostile specs, huge sizes, a user's directory, a second spec,
corrupt results, a full disk, bad and lost schedulers, lost workers.

Every refusal must be one line on stderr (``ghostsym sweep: error: ...``), never a traceback,
and must leave whatever it refused untouched.
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from test_sweep_dask import DASK, cluster, free_port, wait_for  # noqa: F401 (fixture)

from ghostsym.errors import GhostsymError, InputError
from ghostsym.io import MARKER
from ghostsym.sweeps.report import load_results
from ghostsym.sweeps.run import (
    SpecMismatchError,
    StorageError,
    execute_point,
    load_sweep_run,
    parse_spec,
    run_sweep,
)
from ghostsym.sweeps.spec import (
    MAX_POINTS,
    UnregisteredKindError,
    expand_axis,
    import_run_function,
)

ROOT = Path(__file__).resolve().parents[2]

TOY = """
[sweep]
kind = "toy"
name = "toy"
[base]
epochs = {epochs}
[grid]
lr = {lr}
seed = {{ range = [0, {seeds}] }}
"""


def toy_toml(path: Path, *, epochs=40, lr="[0.1, 0.5, 2.5]", seeds=2) -> Path:
    path.write_text(TOY.format(epochs=epochs, lr=lr, seeds=seeds))
    return path


def one_line_error(r, command="sweep", contains=()):
    """The CLI failed with exactly one line on stderr, no traceback; returns that line."""
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith(f"ghostsym {command}: error: "), lines[0]
    for text in contains:
        assert text in lines[0], lines[0]
    return lines[0]


def snapshot(root: Path) -> dict:
    """Every path under ``root`` with its bytes (None for directories) and mtime."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.name == ".lock":  # the lock file of ghostsym's own directories is re-opened
            continue
        out[str(p.relative_to(root))] = (
            None if p.is_dir() else p.read_bytes(),
            p.stat().st_mtime_ns,
        )
    return out


def leftovers(root: Path) -> list:
    """Temporary files or directories of interrupted writes."""
    return [p for p in root.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".tmp-")]


# -- a sweep file is data --------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["subprocess:run", "os:system"])
def test_hostile_kinds_are_refused_before_anything_runs(kind, tmp_path, run_cli):
    spec = tmp_path / "evil.toml"
    spec.write_text(f'[sweep]\nkind = "{kind}"\n[base]\nargs = "touch pwned"\n[grid]\nseed = [0]\n')
    out = tmp_path / "out"
    r = run_cli("sweep", spec, "--out", out, "--no-progress", cwd=tmp_path)
    one_line_error(r, contains=(f"unknown run kind {kind!r}", "a sweep file is data"))
    assert not (tmp_path / "pwned").exists() and not out.exists()


@pytest.mark.parametrize(
    "kind", ["ghostsym.sweeps.kinds:run_toy", "builtins:eval", "shutil:rmtree", "", "toy "]
)
def test_only_registered_names_resolve(kind):
    with pytest.raises(InputError):
        parse_spec({"sweep": {"kind": kind}, "grid": {"lr": [0.1], "seed": [0]}})


def test_the_worker_side_resolves_only_registered_kinds():
    for ref in ("os:system", "subprocess:run", "ghostsym.sweeps.kinds:_require_known"):
        with pytest.raises(UnregisteredKindError):
            import_run_function(ref)
        with pytest.raises(UnregisteredKindError):  # raised, not stored as a "failed" run
            execute_point(ref, {"command": "touch pwned"})


def test_a_package_registers_a_kind_through_an_entry_point(tmp_path, run_cli, monkeypatch):
    site = tmp_path / "site"
    (site / "mykinds-1.0.dist-info").mkdir(parents=True)
    (site / "mykinds-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: mykinds\nVersion: 1.0\n"
    )
    (site / "mykinds-1.0.dist-info" / "entry_points.txt").write_text(
        "[ghostsym.run_kinds]\nsquare = mykinds:run_square\ntoy = os:system\n"
    )
    (site / "mykinds.py").write_text(
        "import numpy as np\n"
        "def run_square(config):\n"
        "    x = float(config['x'])\n"
        "    return {'history': {'loss': np.array([x * x])}, 'summary': {'x2': x * x}}\n"
    )
    spec = tmp_path / "sq.toml"
    spec.write_text('[sweep]\nkind = "square"\n[grid]\nx = [1.0, 2.0, 3.0]\n')
    monkeypatch.setenv("PYTHONPATH", str(site))  # run_cli puts the checkout first
    out = tmp_path / "out"
    r = run_cli("sweep", spec, "--out", out, "--workers", "2", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "3 done, 0 failed, 0 lost of 3 runs" in r.stdout
    runs = [load_sweep_run(out, p.name) for p in (out / "runs").iterdir()]
    assert sorted(run.result["summary"]["x2"] for run in runs) == [1.0, 4.0, 9.0]
    # a built-in name cannot be taken over by an entry point ("toy = os:system" is ignored)
    r = run_cli("sweep", toy_toml(tmp_path / "t.toml"), "--dry-run")
    assert r.returncode == 0 and "of kind 'toy'" in r.stdout
    # without the package the kind is unknown
    monkeypatch.delenv("PYTHONPATH")
    r = run_cli("sweep", spec, "--out", tmp_path / "out2", "--no-progress")
    one_line_error(r, contains=("unknown run kind 'square'",))


@pytest.mark.parametrize("kind", ["canonical", "toy"])
def test_unknown_base_keys_are_refused(kind):
    data = {"sweep": {"kind": kind}, "base": {"epochz": 7}, "grid": {"lr": [0.1], "seed": [0]}}
    with pytest.raises(InputError, match=f"unknown setting.*kind '{kind}': epochz"):
        parse_spec(data)


@pytest.mark.parametrize(
    "base, message",
    [
        ({"epochs": 10**12}, "epochs must be at most"),
        ({"sleep": 1e9}, "sleep must be at most"),
        ({"log": str(Path.home() / ".bashrc")}, "log must be the path of a .log file"),
    ],
)
def test_toy_kind_bounds(base, message):
    with pytest.raises(InputError, match=message):
        parse_spec({"sweep": {"kind": "toy"}, "base": base, "grid": {"lr": [0.1], "seed": [0]}})


# -- every size is bounded before it is allocated --------------------------------------------
@pytest.mark.parametrize(
    "axis",
    [
        {"linspace": [0.01, 1, 1_000_000_000]},
        {"logspace": [-4, 0, 10**15]},
        {"range": [0, 10**30]},
        {"linspace": [0, 1, float("inf")]},
    ],
)
def test_huge_axes_are_counted_not_expanded(axis):
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(InputError, match="more than|count >= 1|finite"):
            parse_spec({"sweep": {"kind": "toy"}, "grid": {"lr": axis, "seed": [0]}})
        with pytest.raises(InputError):
            expand_axis("lr", axis)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 2 and peak < 5 * 2**20


def test_grid_limit_counts_the_product_and_is_overridable():
    data = {
        "sweep": {"kind": "toy"},
        "grid": {"lr": {"linspace": [0.1, 1, 50]}, "seed": {"range": [0, 40]}},
    }
    with pytest.raises(InputError, match="more than 1,000 runs.*--max-runs"):
        parse_spec(data, max_points=1000)
    assert len(parse_spec(data, max_points=2000).points) == 2000
    assert MAX_POINTS == 1_000_000


def test_dry_run_of_a_999999_point_grid_is_quick(tmp_path, run_cli):
    spec = toy_toml(tmp_path / "big.toml", lr="{ linspace = [0.01, 1, 999999] }", seeds=1)
    t0 = time.perf_counter()
    r = run_cli("sweep", spec, "--dry-run", timeout=60)
    assert r.returncode == 0, r.stderr
    assert time.perf_counter() - t0 < 30
    lines = r.stdout.splitlines()
    assert lines[0].startswith("toy: 999999 runs of kind 'toy' over lr (999999), seed (1)")
    lr = [float(v) for v in np.linspace(0.01, 1, 999999)[[0, 1, 2, -2, -1]]]
    shown = [repr(v) for v in lr]
    assert (
        lines[1]
        == f"  axis lr = [{', '.join(shown[:3])}, ... (999994 more), {', '.join(shown[3:])}]"
    )
    assert any(
        line.startswith("cost: ") and "network-epochs in 999,999 runs" in line for line in lines
    )
    points = [line for line in lines if re.fullmatch(r"  [0-9a-f]{16}  lr=.*", line)]
    assert len(points) == 1000 and lines[-1] == "  ... and 998999 more"
    # over the limit: refused at once, nothing expanded
    r = run_cli("sweep", spec, "--dry-run", "--max-runs", "1000")
    one_line_error(r, contains=("more than 1,000 runs",))


# -- never touch what ghostsym did not write --------------------------------------------------
def test_a_users_directory_is_refused_and_left_untouched(tmp_path, run_cli):
    spec = toy_toml(tmp_path / "s.toml")
    mine = tmp_path / "mine"
    (mine / "runs").mkdir(parents=True)
    (mine / "index.json").write_text('{"my": "index"}\n')
    (mine / "spec.toml").write_text("my own notes\n")
    (mine / "runs" / "data.csv").write_text("1,2,3\n")
    before = snapshot(mine)
    r = run_cli("sweep", spec, "--out", mine, "--no-progress")
    one_line_error(r, contains=("not empty and was not written by ghostsym",))
    r = run_cli("sweep-report", mine)
    one_line_error(r, "sweep-report", contains=("no sweep.json",))
    assert snapshot(mine) == before

    # a file, and a directory of another ghostsym kind, are refused too
    afile = tmp_path / "afile"
    afile.write_text("x")
    one_line_error(run_cli("sweep", spec, "--out", afile), contains=("not a directory",))
    assert afile.read_text() == "x"
    run_dir = tmp_path / "training"
    run_dir.mkdir()
    (run_dir / MARKER).write_text('{"kind": "run", "ghostsym_version": "0.1.0"}\n')
    before = snapshot(run_dir)
    one_line_error(run_cli("sweep", spec, "--out", run_dir), contains=("ghostsym run directory",))
    assert snapshot(run_dir) == before


def test_the_report_never_writes_into_a_users_directory(tmp_path, run_cli):
    spec = parse_spec(
        {"sweep": {"kind": "toy"}, "base": {"epochs": 60}, "grid": {"lr": [0.1], "seed": [0]}}
    )
    out = tmp_path / "res"
    run_sweep(spec, out, workers=1)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.md").write_text("my report\n")
    before = snapshot(mine)
    r = run_cli("sweep-report", out, "--out", mine)
    one_line_error(r, "sweep-report", contains=("not empty and was not written by ghostsym",))
    assert snapshot(mine) == before


def test_old_results_directory_without_marker_is_accepted_and_marked(tmp_path):
    spec = parse_spec(
        {"sweep": {"kind": "toy"}, "base": {"epochs": 30}, "grid": {"lr": [0.1, 0.2], "seed": [0]}}
    )
    out = tmp_path / "old"
    run_sweep(spec, out, workers=1)
    (out / MARKER).unlink()  # as written by a version before the marker
    again = run_sweep(spec, out, workers=1)
    assert (again.ran, again.skipped) == (0, 2)
    assert json.loads((out / MARKER).read_text())["kind"] == "sweep"


def test_a_different_spec_is_refused_and_an_extension_is_accepted(tmp_path, run_cli):
    out = tmp_path / "res"
    first = toy_toml(tmp_path / "a.toml", epochs=40)
    r = run_cli("sweep", first, "--out", out, "--workers", "2", "--no-progress")
    assert r.returncode == 0, r.stderr
    before = snapshot(out)

    # the same spec again: a resume that does nothing and changes nothing it wrote
    r = run_cli("sweep", first, "--out", out, "--workers", "2", "--no-progress")
    assert r.returncode == 0 and "0 run locally" in r.stdout and "6 already stored" in r.stdout
    for name in ("sweep.json", "spec.toml") + tuple(k for k in before if k.startswith("runs")):
        assert snapshot(out)[name] == before[name], name

    # a changed setting, or a subset of the grid: refused, nothing written
    before = snapshot(out)
    changed = toy_toml(tmp_path / "b.toml", epochs=50)
    line = one_line_error(
        run_cli("sweep", changed, "--out", out, "--no-progress"),
        contains=("holds the results of another sweep", "epochs = 40 there, 50 in this spec"),
    )
    assert "new --out" in line
    subset = toy_toml(tmp_path / "c.toml", lr="[0.1, 0.5]")
    one_line_error(run_cli("sweep", subset, "--out", out), contains=("2 of them not in this spec",))
    r = run_cli("sweep", first, "--out", out, "--set", "epochs=41")
    one_line_error(r, contains=("epochs = 40 there, 41 in this spec",))
    assert snapshot(out) == before

    # an extended grid (a new rate, a new seed) adds its points; every run stays in the report
    extended = toy_toml(tmp_path / "d.toml", lr="[0.1, 0.5, 2.5, 0.05]", seeds=3)
    r = run_cli("sweep", extended, "--out", out, "--workers", "2", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "12 runs (6 run locally" in r.stdout and "6 already stored" in r.stdout
    for name, value in before.items():
        if name.startswith("runs/"):
            assert snapshot(out)[name] == value, name  # stored runs untouched
    results = load_results(out)
    assert len(results.runs) == 12 and {r.status for r in results.runs} == {"done", "failed"}
    archived = list((out / "specs").glob("spec-*.toml"))
    # the first invocation's effective spec.toml, kept when the extension replaced it
    assert [p.read_bytes() for p in archived] == [before["spec.toml"][0]]
    assert "# " + first.read_text().strip().splitlines()[-1] in archived[0].read_text()

    with pytest.raises(SpecMismatchError):  # the library refuses the same way
        run_sweep(parse_spec({"sweep": {"kind": "toy"}, "grid": {"lr": [0.3], "seed": [0]}}), out)


# -- corrupt results ----------------------------------------------------------------------------
@pytest.fixture
def small_results(tmp_path):
    spec = parse_spec(
        {"sweep": {"kind": "toy"}, "base": {"epochs": 60}, "grid": {"lr": [0.1, 0.2], "seed": [0]}}
    )
    out = tmp_path / "res"
    run_sweep(spec, out, workers=1)
    return out, spec


def test_sweep_report_on_corrupt_files_is_one_line(small_results, run_cli):
    out, spec = small_results
    run = out / "runs" / spec.points[0].run_id
    history = run / "history.npz"
    good = history.read_bytes()
    history.write_bytes(good[: len(good) // 2])  # truncated
    line = one_line_error(run_cli("sweep-report", out), "sweep-report")
    assert "history.npz" in line and f"delete {run}" in line
    history.write_bytes(good)

    sweep_json = out / "sweep.json"
    good = sweep_json.read_text()
    sweep_json.write_text(good[:40])
    one_line_error(run_cli("sweep-report", out), "sweep-report", contains=("cannot read",))
    sweep_json.write_text('{"points": [{"run_id": "../../etc", "axes": {}}], "axes": {}}')
    one_line_error(run_cli("sweep-report", out), "sweep-report", contains=("malformed",))
    sweep_json.write_text(good)
    assert run_cli("sweep-report", out).returncode == 0


@pytest.mark.parametrize(
    "target, content",
    [
        ("sweep.json", "[]"),
        ("sweep.json", '{"points": 5}'),
        ("sweep.json", '{"points": [{"run_id": 3}], "axes": {}}'),
        ("result.json", "{"),
        ("result.json", '{"status": "exploded"}'),
        ("config.json", "[1, 2]"),
        ("history.npz", "not a zip"),
        ("params_final.npz", ""),
    ],
)
def test_load_results_refuses_malformed_files(small_results, target, content):
    out, spec = small_results
    path = out / target if target == "sweep.json" else out / "runs" / spec.points[0].run_id / target
    path.write_text(content)
    with pytest.raises(InputError):
        results = load_results(out)
        for r in results.runs:  # the parameters are read on demand
            _ = load_sweep_run(out, r.run_id).params


def test_history_of_inconsistent_lengths_is_one_error(small_results):
    out, spec = small_results
    path = out / "runs" / spec.points[0].run_id / "history.npz"
    np.savez(path, loss=np.ones(60), grad_norm=np.ones(3), accuracy=np.ones(60))
    with pytest.raises(InputError, match="inconsistent"):
        load_results(out)


# -- a full disk ----------------------------------------------------------------------------------
FULL_DISK = '''
import errno, os
import ghostsym.io

class _Writer:
    def __init__(self, fh, disk):
        self.fh, self.disk = fh, disk
    def write(self, data):
        self.disk.writes += 1
        if self.disk.writes > self.disk.allowed:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.fh.write(data)
    def __getattr__(self, name):
        return getattr(self.fh, name)
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        self.fh.close()

class FullDisk:
    """ghostsym.io's view of os: the disk is full after ``allowed`` file writes."""
    def __init__(self, allowed):
        self.allowed, self.writes = allowed, 0
    def fdopen(self, fd, *args, **kwargs):
        return _Writer(os.fdopen(fd, *args, **kwargs), self)
    def __getattr__(self, name):
        return getattr(os, name)

def install(allowed):
    ghostsym.io.os = FullDisk(allowed)
'''


def test_a_full_disk_is_one_error_naming_the_path_and_leaves_no_temp_file(tmp_path, monkeypatch):
    namespace: dict = {}
    exec(compile(FULL_DISK, "fulldisk", "exec"), namespace)
    import ghostsym.io

    spec = parse_spec(
        {
            "sweep": {"kind": "toy"},
            "base": {"epochs": 50},
            "grid": {"lr": [0.1, 0.2, 0.3], "seed": {"range": [0, 3]}},
        }
    )
    out = tmp_path / "res"
    # marker, spec.toml, sweep.json, index.json, then 4 files per run: full during the 3rd run
    monkeypatch.setattr(ghostsym.io, "os", namespace["FullDisk"](4 + 4 * 2 + 2))
    with pytest.raises(StorageError) as info:
        run_sweep(spec, out, workers=1)
    message = str(info.value)
    assert isinstance(info.value, GhostsymError) and "\n" not in message
    assert (
        message.startswith(f"cannot write {out / 'runs'}/") and "No space left on device" in message
    )
    assert leftovers(out) == []
    stored = [p for p in (out / "runs").iterdir()]
    assert len(stored) == 2 and all((p / "result.json").exists() for p in stored)

    monkeypatch.setattr(ghostsym.io, "os", os)  # space freed: the same sweep completes
    again = run_sweep(spec, out, workers=2)
    assert (again.skipped, again.ran, again.done) == (2, 7, 9)
    for p in spec.points:
        direct = execute_point(spec.kind_ref, p.config)
        assert np.array_equal(
            load_sweep_run(out, p.run_id).history["loss"], direct["history"]["loss"]
        )


def test_a_full_disk_from_the_cli_is_one_line(tmp_path):
    (tmp_path / "fulldisk.py").write_text(FULL_DISK)
    spec = toy_toml(tmp_path / "s.toml")
    out = tmp_path / "res"
    code = (
        "import sys, fulldisk; fulldisk.install(9); from ghostsym.cli import main; "
        f"sys.exit(main(['sweep', {str(spec)!r}, '--out', {str(out)!r}, '--workers', '1', "
        "'--no-progress']))"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path)]))
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    line = one_line_error(r, contains=("No space left on device", "run the same command again"))
    assert f"cannot write {out}" in line and leftovers(out) == []


def test_enospc_of_the_index_in_the_final_write_does_not_hide_the_first_error(
    tmp_path, monkeypatch
):
    import ghostsym.sweeps.run as run_module

    spec = parse_spec({"sweep": {"kind": "toy"}, "grid": {"lr": [0.1, 0.2], "seed": [0]}})
    calls = {"n": 0}
    real = run_module.ResultStore.write_index

    def write_index(self, *args):
        calls["n"] += 1
        if calls["n"] > 1:  # full after the first index: the runs and the final flush fail
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, *args)

    def write_run(self, point, outcome, replace=False):
        with run_module._writing(self.runs / point.run_id):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(run_module.ResultStore, "write_index", write_index)
    monkeypatch.setattr(run_module.ResultStore, "write_run", write_run)
    with pytest.raises(StorageError, match="cannot write .*runs/"):
        run_sweep(spec, tmp_path / "res", workers=1)
    assert calls["n"] >= 2  # the final write was tried, and its error did not replace the first


# -- schedulers and workers ---------------------------------------------------------------------
def test_bad_scheduler_addresses_are_one_line_and_quick(tmp_path, run_cli):
    spec = toy_toml(tmp_path / "s.toml")
    out = tmp_path / "res"
    for address in ("garbage", "http://127.0.0.1:9", "tcp://127.0.0.1:99999"):
        r = run_cli("sweep", spec, "--out", out, "--scheduler", address)
        one_line_error(r, contains=("is not a Dask scheduler address",))
    t0 = time.perf_counter()
    r = run_cli(
        "sweep",
        spec,
        "--out",
        out,
        "--scheduler",
        f"tcp://127.0.0.1:{free_port()}",
        "--connect-timeout",
        "1",
        "--no-progress",
    )
    one_line_error(r, contains=("cannot connect to the Dask scheduler",))
    assert time.perf_counter() - t0 < 15  # and no Client.__del__ traceback at exit
    assert not out.exists()  # nothing written for a sweep that could not start
    r = run_cli("sweep", spec, "--connect-timeout", "1")
    one_line_error(r, contains=("need --scheduler",))


SLOW = """
[sweep]
kind = "toy"
[base]
epochs = 50
sleep = 1.0
[grid]
lr = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
seed = [0]
"""


def _sweep_on(address, spec, out, *extra):
    cmd = [sys.executable, "-m", "ghostsym.cli", "sweep", str(spec), "--out", str(out)]
    cmd += ["--scheduler", address, "--no-progress", *extra]
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _first_run_written(out: Path):
    events = out / "events.jsonl"
    return events.exists() and '"written"' in events.read_text()


@pytest.mark.skipif(DASK is None, reason="the dask CLI is not installed")
def test_every_worker_lost_stops_with_a_timeout(cluster, tmp_path):  # noqa: F811
    address, procs = cluster
    spec = tmp_path / "slow.toml"
    spec.write_text(SLOW)
    out = tmp_path / "res"
    sweep = _sweep_on(address, spec, out, "--worker-timeout", "2")
    wait_for(lambda: _first_run_written(out), 40, "a first run")
    for name in ("w1", "w2"):
        procs[name].send_signal(signal.SIGKILL)
        procs[name].wait()
    t0 = time.time()
    _stdout, stderr = sweep.communicate(timeout=40)
    assert time.time() - t0 < 20
    r = subprocess.CompletedProcess(sweep.args, sweep.returncode, _stdout, stderr)
    one_line_error(
        r, contains=("no Dask worker connected", "for 2 s", "run the same command again")
    )
    stored = [p for p in (out / "runs").iterdir() if not p.name.startswith(".")]
    index = json.loads((out / "index.json").read_text())
    assert 1 <= index["counts"]["done"] == len(stored) < 8
    assert index["counts"]["running"] == 0 and index["counts"]["pending"] == 8 - len(stored)


@pytest.mark.skipif(DASK is None, reason="the dask CLI is not installed")
def test_a_lost_scheduler_is_one_line(cluster, tmp_path):  # noqa: F811
    address, procs = cluster
    spec = tmp_path / "slow.toml"
    spec.write_text(SLOW)
    out = tmp_path / "res"
    sweep = _sweep_on(address, spec, out, "--worker-timeout", "3")
    wait_for(lambda: _first_run_written(out), 40, "a first run")
    procs["scheduler"].send_signal(signal.SIGKILL)
    procs["scheduler"].wait()
    _stdout, stderr = sweep.communicate(timeout=40)
    r = subprocess.CompletedProcess(sweep.args, sweep.returncode, _stdout, stderr)
    one_line_error(r, contains=("lost the Dask scheduler", "run the same command again"))
    assert json.loads((out / "index.json").read_text())["counts"]["running"] == 0


def test_the_difference_is_named_for_a_sweep_json_of_an_older_version(tmp_path):
    def spec(epochs):
        return parse_spec(
            {
                "sweep": {"kind": "toy"},
                "base": {"epochs": epochs},
                "grid": {"lr": [0.1], "seed": [0]},
            }
        )

    out = tmp_path / "res"
    run_sweep(spec(30), out, workers=1)
    data = json.loads((out / "sweep.json").read_text())
    del data["settings"]  # written before sweep.json recorded the common settings
    (out / "sweep.json").write_text(json.dumps(data))
    with pytest.raises(SpecMismatchError, match="epochs = 30 there, 31 in this spec"):
        run_sweep(spec(31), out, workers=1)


def test_a_damaged_result_json_is_redone_by_the_next_sweep(small_results):
    out, spec = small_results
    damaged = out / "runs" / spec.points[0].run_id / "result.json"
    damaged.write_text('{"status": 1}')
    again = run_sweep(spec, out, workers=1)
    assert (again.ran, again.skipped, again.done) == (1, 1, 2)
    run = load_sweep_run(out, spec.points[0].run_id)
    direct = execute_point(spec.kind_ref, spec.points[0].config)
    assert run.status == "done" and np.array_equal(run.history["loss"], direct["history"]["loss"])
    assert leftovers(out) == [] and not list((out / "runs").glob(".old-*"))
