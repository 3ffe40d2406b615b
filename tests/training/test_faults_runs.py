"""Fault injection on run directories through the Python API: user directories, other kinds,
locks, corrupt and tampered files, sizes, a full disk, divergence by magnitude, file modes."""

import errno
import json
import os
import stat
import time
from pathlib import Path

import numpy as np
import pytest

import ghostsym.io
from ghostsym.errors import DivergenceError, InputError
from ghostsym.io import MARKER, WriteError, directory_lock
from ghostsym.numerics.spec import DIVERGENCE_BOUND
from ghostsym.training import build_config, load_run, run_training, train
from ghostsym.training import config as limits
from ghostsym.training.analyze import analyze_run

SMALL = {"model": "rank1", "task": "da", "neurons": 12, "lr": 0.05, "seed": 3}


def small(**changes):
    return build_config(**{**SMALL, "epochs": 60, "checkpoint_every": 20, **changes})


def snapshot(root: Path) -> dict:
    """Every file under root: bytes, mode and mtime (what 'untouched' means)."""
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mode, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    } | {str(p.relative_to(root)) + "/": None for p in root.rglob("*") if p.is_dir()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "finished"
    run_training(small(), out)
    return out


def copy_run(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".lock"))
    return dst


# -- never touch what ghostsym did not write ------------------------------------------------
def test_a_users_directory_is_never_touched(tmp_path):
    user = tmp_path / "mine"
    (user / "resume").mkdir(parents=True)
    (user / "resume" / "thesis.tex").write_text("months of work")
    for name in ("history.npz", "status.json", "params_init.npz", "training.png"):
        (user / name).write_bytes(b"user data " + name.encode())
    (user / "config.json").write_text('{"mine": true}')
    before = snapshot(user)
    with pytest.raises(InputError, match="not written by ghostsym"):
        run_training(small(), user)
    with pytest.raises(InputError, match="not written by ghostsym"):
        run_training(None, user, resume=True)
    assert snapshot(user) == before


def test_other_kinds_and_files_are_refused(tmp_path):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / MARKER).write_text(json.dumps({"kind": "sweep", "ghostsym_version": "0"}))
    (sweep / "index.json").write_text("{}")
    before = snapshot(sweep)
    with pytest.raises(InputError, match="ghostsym sweep directory, not a run directory"):
        run_training(small(), sweep)
    assert snapshot(sweep) == before
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        run_training(small(), afile)
    assert afile.read_text() == "x"


def test_new_run_into_a_run_is_refused_and_resume_is_the_way(finished, tmp_path):
    run = copy_run(finished, tmp_path / "run")
    before = snapshot(run)
    with pytest.raises(InputError, match="already holds a training run; continue it with --resume"):
        run_training(small(lr=0.01), run)
    assert snapshot(run) == before
    result = run_training(None, run, resume=True)  # finished: returned as it is
    assert np.array_equal(result.history["loss"], train(small()).history["loss"])


def test_run_directories_from_before_the_marker_are_accepted_and_marked(finished, tmp_path):
    legacy = copy_run(finished, tmp_path / "legacy")
    (legacy / MARKER).unlink()
    with pytest.raises(InputError, match="already holds"):
        run_training(small(), legacy)
    assert not (legacy / MARKER).exists()
    run_training(None, legacy, resume=True)
    assert ghostsym.io.directory_kind(legacy) == "run"
    # ... but a config.json without ghostsym's version is somebody else's
    other = copy_run(finished, tmp_path / "other")
    (other / MARKER).unlink()
    (other / "config.json").write_text(json.dumps({"config": {}}))
    with pytest.raises(InputError, match="not written by ghostsym"):
        run_training(None, other, resume=True)


def test_resume_of_a_run_stopped_while_starting_says_what_to_do(tmp_path):
    out = ghostsym.io.claim_directory(tmp_path / "run", "run")  # killed before config.json
    with pytest.raises(InputError, match="stopped while starting.*original command again"):
        run_training(None, out, resume=True)
    run_training(small(), out)  # ... and the original command goes ahead
    with pytest.raises(InputError, match="does not exist: nothing to resume"):
        run_training(None, tmp_path / "nothing", resume=True)
    assert not (tmp_path / "nothing").exists()


def test_one_writer_per_run_directory(finished, tmp_path):
    run = copy_run(finished, tmp_path / "run")
    with directory_lock(run, "training"):
        with pytest.raises(InputError, match="another training is running in"):
            run_training(None, run, resume=True)
        fresh = tmp_path / "fresh"
        ghostsym.io.claim_directory(fresh, "run")
        with directory_lock(fresh, "training"), pytest.raises(InputError, match="another"):
            run_training(small(), fresh)
    run_training(None, run, resume=True)  # released


# -- sizes ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options, message",
    [
        ({"epochs": 10**15}, "epochs 1000000000000000 exceeds the limit"),
        ({"delay": 10**9}, "steps per trial (delay, cue, response) 2000000000 exceeds"),
        ({"neurons": 10**7}, "neurons 10000000 exceeds the limit"),
        ({"trials_per_condition": 10**9}, "trials per epoch"),
        ({"model": "full", "neurons": 9000}, "would need about"),
        ({"epochs": 10**7, "checkpoint_every": 1}, "checkpoints, above the limit"),
        ({"epochs": 10**19, "allow_large": True}, "random-stream counters"),
    ],
)
def test_sizes_are_bounded_before_allocation(options, message, tmp_path):
    started = time.perf_counter()
    with pytest.raises(InputError) as info:
        build_config(**{"model": "rank1", **options})
    assert message in str(info.value) and "\n" not in str(info.value)
    if not options.get("allow_large"):
        assert "--allow-large" in str(info.value)
    assert time.perf_counter() - started < 2.0


def test_allow_large_lifts_the_limits_and_is_recorded(tmp_path):
    config = build_config(**SMALL, epochs=limits.MAX_EPOCHS + 1, allow_large=True)
    assert config.epochs == limits.MAX_EPOCHS + 1 and config.allow_large
    assert config == build_config(**SMALL, epochs=limits.MAX_EPOCHS + 1, allow_large=True)
    with pytest.raises(InputError, match="exceeds the limit"):
        config.replace(allow_large=False)
    out = tmp_path / "large"
    wide = build_config(**{**SMALL, "neurons": limits.MAX_NEURONS + 1}, epochs=2, allow_large=True)
    run_training(wide, out)
    assert json.loads((out / "config.json").read_text())["allow_large"] is True
    assert load_run(out).config.model.neurons == limits.MAX_NEURONS + 1


# -- corrupt, missing and tampered files ---------------------------------------------------
def interrupted(finished: Path, dst: Path) -> Path:
    """A copy of the finished run made to look killed at epoch 40 (resume state saved)."""
    from ghostsym.numerics.rnn import pack
    from ghostsym.training.runs import _HISTORY_ROW

    run = copy_run(finished, dst)
    record = load_run(run)
    reference = train(record.config)
    (run / "resume").mkdir()
    rows = np.empty(40, dtype=_HISTORY_ROW)
    for k in rows.dtype.names:
        rows[k] = reference.history[k][:40]
    (run / "resume" / "history.bin").write_bytes(rows.tobytes())
    cp = record.checkpoint(40)
    theta = pack(record.config.model, cp)[None, :]
    np.savez(
        run / "resume" / "state.npz",
        theta=theta,
        m1=np.zeros_like(theta),
        m2=np.zeros_like(theta),
        steps=np.array([40]),
        status=np.array([-1]),
        epoch=np.asarray(40),
    )
    for name in ("history.npz", "params_final.npz", "training.png"):
        (run / name).unlink()
    (run / "checkpoints" / "epoch_000000060.npz").unlink()
    (run / "status.json").write_text(json.dumps({"state": "running", "epoch": 40}))
    return run


def test_resume_from_a_saved_state_is_bit_identical(finished, tmp_path):
    run = interrupted(finished, tmp_path / "run")
    result = run_training(None, run, resume=True)
    reference = train(small())
    for key in ("loss", "grad_norm", "accuracy"):
        assert np.array_equal(result.history[key], reference.history[key]), key
    assert not (run / "resume").exists()


def _tamper_config(run: Path, change):
    data = json.loads((run / "config.json").read_text())
    change(data["config"])
    (run / "config.json").write_text(json.dumps(data))


FAULTS = {
    "truncated params_init": (
        lambda r: (r / "params_init.npz").write_bytes((r / "params_init.npz").read_bytes()[:99]),
        "params_init.npz: not a valid .npz file, truncated or corrupt",
    ),
    "missing params_init": (
        lambda r: (r / "params_init.npz").unlink(),
        "params_init.npz is missing",
    ),
    "truncated state": (
        lambda r: (r / "resume" / "state.npz").write_bytes(b"PK\x03\x04 nothing"),
        "state.npz: not a valid .npz file",
    ),
    "truncated history.bin": (
        lambda r: (r / "resume" / "history.bin").write_bytes(b"\0" * 24 * 10),
        "holds fewer than the 40 epochs",
    ),
    "state of another size": (
        lambda r: np.savez(
            r / "resume" / "state.npz",
            **{
                **dict(np.load(r / "resume" / "state.npz")),
                "theta": np.zeros((1, 7)),
            },
        ),
        "state.npz does not match config.json",
    ),
    "epochs 10**15": (
        lambda r: _tamper_config(r, lambda c: c.update(epochs=10**15)),
        "epochs 1000000000000000 exceeds the limit",
    ),
    "neurons": (
        lambda r: _tamper_config(r, lambda c: c["model"].update(neurons=30)),
        "params_init.npz does not match config.json",
    ),
    "config not json": (
        lambda r: (r / "config.json").write_text("{not json"),
        "config.json",
    ),
    "status": (
        lambda r: (r / "status.json").write_text('{"state": "running", "epoch": 10000}'),
        "status.json is not a valid run status",
    ),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_resume_refuses_corrupt_or_tampered_runs_in_one_line(finished, tmp_path, fault):
    run = interrupted(finished, tmp_path / "run")
    damage, message = FAULTS[fault]
    damage(run)
    before = snapshot(run)
    with pytest.raises(InputError) as info:
        run_training(None, run, resume=True)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert {k: v for k, v in snapshot(run).items() if k != ".lock"} == {
        k: v for k, v in before.items() if k != ".lock"
    }


# -- a full disk -----------------------------------------------------------------------------
def test_a_full_disk_is_one_line_naming_the_file_and_leaves_no_temp_file(tmp_path, monkeypatch):
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def fdopen(fd, *args, **kwargs):
        fh = real_fdopen(fd, *args, **kwargs)
        name = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else ""
        return Full(fh) if ".history.npz." in name else fh

    out = tmp_path / "run"
    monkeypatch.setattr(ghostsym.io.os, "fdopen", fdopen)
    if not os.path.exists("/proc/self/fd"):
        pytest.skip("needs /proc/self/fd to pick the file that fails")
    with pytest.raises(WriteError) as info:
        run_training(small(), out)
    assert str(info.value) == f"cannot write {out / 'history.npz'}: No space left on device"
    assert info.value.errno == errno.ENOSPC and isinstance(info.value, OSError)
    assert not list(out.rglob("*.tmp"))
    monkeypatch.setattr(ghostsym.io.os, "fdopen", real_fdopen)
    result = run_training(None, out, resume=True)  # room again: the same command finishes
    assert np.array_equal(result.history["loss"], train(small()).history["loss"])


# -- divergence by magnitude -------------------------------------------------------------
def test_huge_parameters_stop_the_run_as_diverged(tmp_path):
    result = train(small(lr=1e308), throw=False)
    assert result.diverged_epoch == 1
    assert np.isfinite(result.history["loss"][0]) and np.isnan(result.history["loss"][1])
    with pytest.raises(DivergenceError, match=r"diverged at epoch 1: parameters beyond ±1e\+08"):
        run_training(small(lr=1e308), tmp_path / "run")
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["state"] == "diverged" and status["diverged_epoch"] == 1


def test_huge_states_stop_the_run_as_diverged():
    # x0 = 1e9 decays as (1 - α)^S: after S = 2 steps the final state is still beyond 1e8
    result = train(small(initial_state=1e9, delay=1), throw=False)
    assert result.diverged_epoch == 0
    with pytest.raises(DivergenceError, match="states beyond"):
        train(small(initial_state=1e9, delay=1))
    assert train(small(initial_state=1e7, delay=1), throw=False).diverged_epoch is None


def test_analyze_refuses_out_of_range_parameters_at_once(finished, tmp_path):
    run = copy_run(finished, tmp_path / "run")
    cp = run / "checkpoints" / "epoch_000000040.npz"
    with np.load(cp) as data:
        arrays = dict(data)
    arrays["m"] = arrays["m"] * 0 + 3e304
    np.savez(cp, **arrays)
    started = time.perf_counter()
    with pytest.raises(InputError, match=r"parameters of epoch 40: parameter 'm' reaches 3e\+304"):
        analyze_run(run, tmp_path / "analysis")
    arrays["m"][0] = np.inf
    np.savez(cp, **arrays)
    with pytest.raises(InputError, match="'m' is not finite"):
        analyze_run(run, tmp_path / "analysis")
    assert time.perf_counter() - started < 5.0
    assert not (tmp_path / "analysis").exists()
    assert DIVERGENCE_BOUND == 1e8


def test_analyze_never_writes_into_a_users_directory(finished, tmp_path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "analysis.json").write_text("my own analysis")
    before = snapshot(user)
    with pytest.raises(InputError, match="not written by ghostsym"):
        analyze_run(finished, user)
    assert snapshot(user) == before
    # its own analysis directory, marked or from before the marker, is rewritten
    own = tmp_path / "analysis"
    analyze_run(finished, own, max_checkpoints=2)
    (own / MARKER).unlink()
    analyze_run(finished, own, max_checkpoints=2)
    assert ghostsym.io.directory_kind(own) == "analysis"
    with pytest.raises(InputError, match="ghostsym analysis directory, not a run directory"):
        run_training(small(), own)


# -- file modes ----------------------------------------------------------------------------
@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_run_files_honour_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        out = tmp_path / "run"
        run_training(small(), out)
        analyze_run(out, out / "analysis")
    finally:
        os.umask(old)
    paths = [p for p in out.rglob("*")]
    assert any(p.name == "history.npz" for p in paths)
    for p in paths:
        mode = stat.S_IMODE(p.stat().st_mode)
        expected = (0o777 if p.is_dir() else 0o666) & ~umask
        assert mode == expected, (p, oct(mode))
