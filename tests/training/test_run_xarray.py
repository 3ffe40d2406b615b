"""load_run(DIR).to_xarray(): a training run as labelled data, values as stored."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ghostsym.config import VERSION
from ghostsym.training import build_config, load_run, run_training

xr = pytest.importorskip("xarray")


def test_run_to_xarray_matches_the_run_directory(tmp_path):
    cfg = build_config(
        model="rank1", task="da", neurons=12, lr=0.05, seed=3, epochs=40, checkpoint_every=20
    )
    out = tmp_path / "run"
    run_training(cfg, out)
    record = load_run(out)
    ds = record.to_xarray()
    assert dict(ds.sizes)["epoch"] == 40
    np.testing.assert_array_equal(ds["epoch"].values, np.arange(40))
    for key in ("loss", "grad_norm", "accuracy"):
        assert ds[key].dims == ("epoch",)
        np.testing.assert_array_equal(ds[key].values, record.history[key])
    for name, value in record.params_final.items():
        np.testing.assert_array_equal(ds[f"final_{name}"].values, value)
        np.testing.assert_array_equal(ds[f"init_{name}"].values, record.params_init[name])
    assert json.loads(ds.attrs["config"]) == json.loads(json.dumps(cfg.to_dict()))
    assert ds.attrs["state"] == "finished"
    assert ds.attrs["ghostsym_version"] == VERSION == ds.attrs["opened_with"]
    assert json.loads(ds.attrs["checkpoint_epochs"]) == record.checkpoint_epochs
    # the labelled run survives netCDF
    nc = tmp_path / "run.nc"
    ds.to_netcdf(nc)
    with xr.open_dataset(nc) as back:
        np.testing.assert_array_equal(back["loss"].values, record.history["loss"])
        assert back.attrs["config"] == ds.attrs["config"]
