"""ghostsym.io.write_atomic: the one writer — atomic, umask-honouring, no debris."""

import json
import os
import stat

import numpy as np
import pytest

from ghostsym import io as gio


@pytest.fixture
def umask():
    """Set the process umask for one test (and restore it)."""
    old = os.umask(0o022)
    os.umask(old)

    def set_mask(mask):
        os.umask(mask)

    yield set_mask
    os.umask(old)


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
@pytest.mark.parametrize("data", ["text ü\n", b"\x00\x01bytes"])
def test_new_file_gets_the_mode_a_plain_open_would_give(tmp_path, umask, mask, mode, data):
    umask(mask)
    path = tmp_path / "sub" / "dir" / "out.dat"  # parents are created
    assert gio.write_atomic(path, data) is True
    assert _mode(path) == mode
    expected = data.encode() if isinstance(data, str) else data
    assert path.read_bytes() == expected
    with open(tmp_path / "plain", "wb"):
        pass
    assert _mode(tmp_path / "plain") == mode


def test_replacing_a_file_takes_the_umask_not_the_old_mode(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "f.txt"
    path.write_text("old")
    path.chmod(0o600)
    gio.write_atomic(path, "new")
    assert path.read_text() == "new" and _mode(path) == 0o644


@pytest.mark.parametrize("writer", ["json", "npz"])
def test_json_and_npz_writers_honour_the_umask(tmp_path, umask, writer):
    umask(0o022)
    if writer == "json":
        path = tmp_path / "a.json"
        gio.write_json(path, {"x": np.float64(np.nan), "y": np.arange(2)})
        assert json.loads(path.read_text()) == {"x": "nan", "y": [0, 1]}
    else:
        path = tmp_path / "a.npz"
        gio.savez_atomic(path, {"a": np.arange(3)})
        with np.load(path) as data:
            assert data["a"].tolist() == [0, 1, 2]
    assert _mode(path) == 0o644


def test_skip_unchanged_keeps_the_file_and_its_mtime(tmp_path):
    path = tmp_path / "f.txt"
    gio.write_atomic(path, "same")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    inode = path.stat().st_ino
    assert gio.write_atomic(path, "same") is False
    assert path.stat().st_mtime_ns == 1_000_000_000 and path.stat().st_ino == inode
    assert gio.write_atomic(path, b"same") is False  # bytes compare equal to the text
    # Without skip_unchanged the file is rewritten; with new content it always is.
    assert gio.write_atomic(path, "same", skip_unchanged=False) is True
    assert path.stat().st_mtime_ns != 1_000_000_000
    assert gio.write_atomic(path, "changed") is True and path.read_text() == "changed"


def _listing(directory):
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("fail_at", ["fsync", "replace", "interrupt"])
def test_no_temporary_file_is_left_on_failure(tmp_path, monkeypatch, fail_at):
    path = tmp_path / "f.txt"
    path.write_text("original")

    def boom(*args, **kwargs):
        raise KeyboardInterrupt if fail_at == "interrupt" else OSError(28, "No space left")

    monkeypatch.setattr(gio.os, "replace" if fail_at == "replace" else "fsync", boom)
    with pytest.raises(KeyboardInterrupt if fail_at == "interrupt" else OSError):
        gio.write_atomic(path, "new", fsync=True)
    assert _listing(tmp_path) == ["f.txt"]
    assert path.read_text() == "original"  # a reader never sees a half-written file


def test_fsync_is_called_only_when_asked(tmp_path, monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(gio.os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    gio.write_atomic(tmp_path / "a", "x")
    assert calls == []
    gio.write_atomic(tmp_path / "b", "x", fsync=True)
    assert len(calls) == 1
    assert _listing(tmp_path) == ["a", "b"]


def test_umask_is_left_as_it_was(tmp_path, umask):
    umask(0o027)
    gio.write_atomic(tmp_path / "f", "x")
    current = os.umask(0)
    os.umask(current)
    assert current == 0o027


# -- directories ghostsym owns ---------------------------------------------------------------
def test_claim_directory_accepts_new_empty_and_own_kind(tmp_path):
    from ghostsym.io import MARKER, claim_directory, directory_kind

    new = claim_directory(tmp_path / "a" / "b", "run")
    assert directory_kind(new) == "run" and (new / MARKER).is_file()
    assert claim_directory(new, "run") == new  # the same kind again: fine
    empty = tmp_path / "empty"
    empty.mkdir()
    assert directory_kind(claim_directory(empty, "sweep")) == "sweep"


def test_claim_directory_refuses_user_files_and_other_kinds(tmp_path):
    from ghostsym.errors import InputError
    from ghostsym.io import claim_directory

    user = tmp_path / "user"
    user.mkdir()
    (user / "thesis.tex").write_text("mine")
    with pytest.raises(InputError, match="not written by ghostsym"):
        claim_directory(user, "run")
    assert sorted(p.name for p in user.iterdir()) == ["thesis.tex"]  # nothing written
    run = claim_directory(tmp_path / "run", "run")
    with pytest.raises(InputError, match="ghostsym run directory, not a sweep"):
        claim_directory(run, "sweep")
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        claim_directory(afile, "run")


def test_directory_lock_is_exclusive(tmp_path):
    from ghostsym.errors import InputError
    from ghostsym.io import directory_lock

    with directory_lock(tmp_path, "training"):
        with pytest.raises(InputError, match="another training is running"):
            with directory_lock(tmp_path, "training"):
                pass
    with directory_lock(tmp_path, "training"):  # released
        pass


def test_a_failed_write_is_one_write_error_naming_the_path_and_leaves_no_temp_file(
    tmp_path, monkeypatch
):
    import errno

    from ghostsym.errors import GhostsymError
    from ghostsym.io import WriteError, write_atomic

    def full(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("ghostsym.io.os.replace", full)
    target = tmp_path / "out" / "data.bin"
    with pytest.raises(WriteError) as info:
        write_atomic(target, b"x" * 100)
    assert str(info.value) == f"cannot write {target}: No space left on device"
    assert isinstance(info.value, GhostsymError) and isinstance(info.value, OSError)
    assert info.value.errno == errno.ENOSPC
    assert list((tmp_path / "out").iterdir()) == []  # no temp file left


def test_append_bytes_appends_and_names_the_path_on_failure(tmp_path):
    from ghostsym.io import WriteError, append_bytes

    log = tmp_path / "log.bin"
    append_bytes(log, b"ab")
    append_bytes(log, b"cd")
    assert log.read_bytes() == b"abcd"
    with pytest.raises(WriteError, match="cannot write .*missing.*log.bin"):
        append_bytes(tmp_path / "missing" / "log.bin", b"x")


def test_claim_directory_marks_a_recognised_legacy_directory(tmp_path):
    from ghostsym.errors import InputError
    from ghostsym.io import MARKER, claim_directory, directory_kind

    old = tmp_path / "old"
    old.mkdir()
    (old / "made-by-ghostsym").write_text("1")
    with pytest.raises(InputError, match="not written by ghostsym"):
        claim_directory(old, "run")
    with pytest.raises(InputError, match="not written by ghostsym"):
        claim_directory(old, "run", legacy=lambda p: False)
    assert not (old / MARKER).exists()
    assert claim_directory(old, "run", legacy=lambda p: (p / "made-by-ghostsym").exists()) == old
    assert directory_kind(old) == "run"
    with pytest.raises(InputError, match="not an analysis directory"):
        claim_directory(old, "analysis", legacy=lambda p: True)  # marked: legacy no longer asked


def test_save_figure_writes_png_atomically_with_the_umask(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure()
    fig.subplots().plot([0, 1], [1, 0])
    old = os.umask(0o077)
    try:
        path = gio.save_figure(fig, tmp_path / "sub" / "plot.png", dpi=50)
    finally:
        os.umask(old)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["plot.png"]  # no temp file left
