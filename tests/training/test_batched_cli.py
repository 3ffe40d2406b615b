"""``ghostsym train --dtype`` as a user runs it: float32 runs record their dtype; a bad value
gets one line."""

from __future__ import annotations

import json

import numpy as np


def test_train_float32_records_dtype_and_rounds_parameters(run_cli, tmp_path):
    out = tmp_path / "run32"
    proc = run_cli("train", "--dtype", "float32", "--epochs", "4", "--neurons", "6", "--out", out)
    assert proc.returncode == 0, proc.stderr
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["dtype"] == "float32"
    final = np.load(out / "params_final.npz")
    for name in final.files:  # stored as float64, every value a float32 number
        values = final[name]
        np.testing.assert_array_equal(values, values.astype(np.float32).astype(np.float64))


def test_train_bad_dtype_is_one_line(run_cli, tmp_path):
    proc = run_cli("train", "--dtype", "float16", "--epochs", "2", "--out", tmp_path / "bad")
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "ghostsym train: error: unknown dtype 'float16'; known: float64, float32"
    )
    assert not (tmp_path / "bad").exists()
