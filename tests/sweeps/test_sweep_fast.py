"""The fast sweep path: batched canonical points bit-identical to per-point runs, the
derivation cache (corrupt or stale files recomputed), open_sweep against the stored files,
--set axes, --dry-run's cost, and the report's numerical ordering."""

from __future__ import annotations

import json
import math
import tomllib

import numpy as np
import pytest

from ghostsym.config import VERSION
from ghostsym.sweeps import derivations
from ghostsym.sweeps.kinds import CANONICAL_DEFAULTS, run_canonical, run_canonical_batch
from ghostsym.sweeps.run import execute_point, execute_points, run_sweep
from ghostsym.sweeps.spec import parse_spec, plan_from_file

T = 100.0
ALPHA_STAR = 3 * math.pi**4 / (32 * T**5)  # Eq. 23


_REFERENCE_SIMULATOR = None


def _reference_canonical(config: dict) -> dict:
    """The canonical run as it was before caching and batching: the SymPy derivation and a
    fresh simulator, one run per call."""
    from ghostsym.analysis.normal_form_numerics import canonical_simulator
    from ghostsym.symbolic.canonical import derive

    global _REFERENCE_SIMULATOR
    if _REFERENCE_SIMULATOR is None:
        _REFERENCE_SIMULATOR = canonical_simulator()
    cfg = {**CANONICAL_DEFAULTS, **config}
    d = derive()
    r_star = float(d.results["r_star"].subs(d.symbols["T"], float(cfg["T"])))
    rng = np.random.default_rng(int(cfg["seed"]))
    r0 = cfg["r0_factor"] * r_star + cfg["r0_jitter"] * r_star * float(rng.standard_normal())
    run = _REFERENCE_SIMULATOR.train_r(
        r0, float(cfg["lr"]), epochs=int(cfg["epochs"]), gradient="analytic", T=float(cfg["T"])
    )
    e = int(cfg["epochs"])
    return {"loss": run.loss[0, :e] / cfg["T"], "r": run.r[0, :e], "final": run.r[0, e]}


CONFIGS = [
    {"lr": lr, "seed": seed, "T": T, "epochs": 1500}
    for lr in (3e-11, 5e-10, 0.98 * ALPHA_STAR, 1.2 * ALPHA_STAR, 5e-9)
    for seed in (0, 7)
]


def test_batched_canonical_points_equal_the_per_point_runs_bit_for_bit():
    batch = run_canonical_batch(CONFIGS)
    assert len(batch) == len(CONFIGS)
    for config, got in zip(CONFIGS, batch, strict=True):
        ref = _reference_canonical(config)
        one = run_canonical(config)
        for res in (got, one):
            np.testing.assert_array_equal(res["history"]["loss"], ref["loss"])
            np.testing.assert_array_equal(res["history"]["r"], ref["r"])
            assert res["params"]["r"][0] == ref["final"]
        assert got["summary"]["alpha_star"] == pytest.approx(ALPHA_STAR, rel=1e-14)
    # a chunk through the worker entry point stores what one point at a time stores
    storage = {"every": 10, "tail": 50, "dtype": "float64"}
    chunk = execute_points("ghostsym.sweeps.kinds:run_canonical", CONFIGS[:4], storage)
    for config, outcome in zip(CONFIGS[:4], chunk, strict=True):
        alone = execute_point("ghostsym.sweeps.kinds:run_canonical", config, storage)
        assert outcome["batch"] == 4 and outcome["status"] == alone["status"] == "done"
        for k, v in alone["history"].items():
            np.testing.assert_array_equal(outcome["history"][k], v)


def test_a_bad_point_fails_alone_in_its_batch():
    out = run_canonical_batch([CONFIGS[0], {"lr": -1.0, "seed": 0}])
    assert isinstance(out[1], Exception) and "lr must be > 0" in str(out[1])
    np.testing.assert_array_equal(
        out[0]["history"]["loss"], _reference_canonical(CONFIGS[0])["loss"]
    )


def test_derivation_cache_on_disk_and_corrupt_or_stale_files(tmp_path):
    want = derivations.derive_canonical_numbers(T)
    first = derivations.CanonicalDerivation(tmp_path)
    assert first.numbers(T) == want and first.hits["derived"] == 1
    first.simulator()
    assert first.path.is_file()
    # a new process (a new instance) reads both from the file: nothing derived
    second = derivations.CanonicalDerivation(tmp_path)
    assert second.numbers(T) == want
    second.simulator()
    assert second.hits == {"memory": 0, "disk": 2, "derived": 0}
    good = first.path.read_text()

    def fresh_after(text: str) -> derivations.CanonicalDerivation:
        first.path.write_text(text)
        d = derivations.CanonicalDerivation(tmp_path)
        assert d.numbers(T) == want  # never a wrong number
        d.simulator()
        return d

    data = json.loads(good)
    tampered = json.loads(good)
    tampered["entries"]["numbers"][repr(T)]["alpha_star"] = "1e-3"  # checksum now wrong
    bad_module = json.loads(good)
    bad_module["entries"]["module"]["sha256"] = "0" * 64
    bad_module["checksum"] = derivations._checksum(bad_module["entries"])
    stale = dict(data, key="0123456789abcdef")
    for text in ("", "{not json", good[: len(good) // 2], json.dumps(tampered), json.dumps(stale)):
        d = fresh_after(text)
        assert d.hits["derived"] == 2, text[:40]
        assert json.loads(d.path.read_text())["checksum"] == data["checksum"]  # rewritten
    d = fresh_after(json.dumps(bad_module))  # module source changed: the module is rebuilt
    assert d.hits == {"memory": 0, "disk": 1, "derived": 1}


@pytest.fixture(scope="module")
def small_canonical(tmp_path_factory):
    """A canonical sweep whose spec lists the rates out of order, with a --set axis."""
    root = tmp_path_factory.mktemp("fast")
    spec_file = root / "spec.toml"
    spec_file.write_text(
        '[sweep]\nkind = "canonical"\nname = "fast"\nstore_every = 10\nstore_tail = 20\n'
        "[base]\nT = 100.0\nepochs = 3000\n"
        "[grid]\nlr = [1e-9, 2e-11, 1e-10, 8e-10]\nseed = [0]\n"
    )
    spec = plan_from_file(spec_file, {"seed": [0, 1, 2]}).materialise()
    out = root / "results"
    summary = run_sweep(spec, out, workers=2)
    assert summary.done == 12
    return out


def test_sweep_batches_points_and_records_spec_overrides_and_version(small_canonical):
    out = small_canonical
    results = [json.loads(p.read_text()) for p in out.glob("runs/*/result.json")]
    assert len(results) == 12 and all(r["ghostsym_version"] == VERSION for r in results)
    assert max(r["batch"] for r in results) > 1  # points shared trainer calls
    for r in results[:3]:
        config = json.loads((out / "runs" / r["run_id"] / "config.json").read_text())
        with np.load(out / "runs" / r["run_id"] / "history.npz") as h:
            alone = execute_point("ghostsym.sweeps.kinds:run_canonical", config, r_storage(out))
            np.testing.assert_array_equal(h["loss"], alone["history"]["loss"])
    text = (out / "spec.toml").read_text()
    assert f"ghostsym {VERSION}" in text and "--set seed=[0, 1, 2]" in text
    effective = tomllib.loads(text)
    assert effective["grid"]["seed"] == [0, 1, 2] and effective["base"]["epochs"] == 3000
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["overrides"] == {"seed": [0, 1, 2]} and sweep["ghostsym_version"] == VERSION
    # the stored spec reproduces the sweep: the same run ids, no --set needed
    again = parse_spec(effective).points
    assert [p.run_id for p in again] == [p["run_id"] for p in sweep["points"]]


def r_storage(out) -> dict:
    return json.loads((out / "sweep.json").read_text())["storage"]


def test_open_sweep_dims_attrs_and_values_against_the_index(small_canonical, tmp_path):
    import ghostsym

    xr = pytest.importorskip("xarray")
    ds = ghostsym.open_sweep(small_canonical)
    assert ds["final_loss"].dims == ("lr", "seed")
    assert ds["loss"].dims == ("lr", "seed", "epoch")
    assert list(ds["lr"].values) == [2e-11, 1e-10, 8e-10, 1e-9]  # numerical, not spec order
    assert list(ds["seed"].values) == [0, 1, 2]
    assert ds.attrs["ghostsym_version"] == VERSION and ds.attrs["kind"] == "canonical"
    assert json.loads(ds.attrs["overrides"]) == {"seed": [0, 1, 2]}
    assert "--set seed=[0, 1, 2]" in ds.attrs["spec"]
    assert ds.attrs["alpha_star"] == pytest.approx(ALPHA_STAR, rel=1e-14)
    index = json.loads((small_canonical / "index.json").read_text())
    assert len(index["runs"]) == 12
    for entry in index["runs"]:
        cell = ds.sel(lr=entry["axes"]["lr"], seed=entry["axes"]["seed"])
        assert str(cell["run_id"].values) == entry["run_id"]
        assert str(cell["status"].values) == entry["status"] == "done"
        with np.load(small_canonical / "runs" / entry["run_id"] / "history.npz") as h:
            assert float(cell["final_loss"]) == h["loss"][-1]
            np.testing.assert_array_equal(cell["loss"].sel(epoch=h["epoch"]).values, h["loss"])
    df = ghostsym.sweeps.data.tidy_table(ds)
    assert len(df) == 12 and {"lr", "seed", "final_loss", "learned", "trapped"} <= set(df)
    # the kind's own "learned" level: alpha = 1e-10 is below L/T = 0.1 from epoch 1534 on
    assert bool(ds["learned"].sel(lr=1e-10).all()) and not ds["learned"].sel(lr=1e-9).any()
    nc = ghostsym.sweeps.data.to_netcdf(ds, tmp_path / "s.nc")
    with xr.open_dataset(nc) as back:
        np.testing.assert_array_equal(back["final_loss"].values, ds["final_loss"].values)
        assert back.attrs["overrides"] == ds.attrs["overrides"]


def test_open_sweep_of_cases_is_the_padded_union(tmp_path):
    from ghostsym.sweeps.data import open_sweep, tidy_table

    spec = parse_spec(
        {
            "sweep": {"kind": "toy"},
            "base": {"epochs": 10},
            "grid": {"seed": [0, 1]},
            "cases": [{"grid": {"lr": [0.1, 0.2]}}, {"epochs": 20, "grid": {"lr": [0.3]}}],
        }
    )
    run_sweep(spec, tmp_path / "r", workers=1)
    ds = open_sweep(tmp_path / "r")
    assert set(ds["present"].dims) == {"seed", "lr", "epochs"}
    assert int(ds["present"].sum()) == 6 and ds["present"].size == 12
    assert set(np.unique(ds["status"].values)) == {"done", "absent"}
    assert np.isnan(ds["final_loss"].sel(lr=0.3, epochs=10)).all()
    assert len(tidy_table(ds)) == 6


def test_report_orders_rates_numerically_and_draws_the_analytic_rate(
    small_canonical, tmp_path, monkeypatch
):
    from ghostsym.sweeps import report

    drawn = {}

    def keep(fig, path):
        drawn[path.name] = [
            (line.get_label(), np.asarray(line.get_xdata(), float))
            for ax in fig.axes
            for line in ax.lines
        ]
        import matplotlib.pyplot as plt

        plt.close(fig)
        return path

    monkeypatch.setattr(report, "_save", keep)
    rep = report.write_report(small_canonical, tmp_path / "rep")
    curves = [x for label, x in drawn["stuck_fraction.png"] if label.startswith("stuck")]
    assert curves and all(np.all(np.diff(x) > 0) for x in curves)
    assert any("alpha^*" in label for label, _ in drawn["stuck_fraction.png"])
    assert any("r^*" in label for label, _ in drawn["final_r.png"])
    (crit,) = rep.critical
    assert {"fit_threshold", "fit_low", "fit_high", "fit_method"} <= set(crit)
    assert crit["fit_low"] <= crit["fit_high"] and crit["fit_method"] in ("logistic", "separated")


def test_set_axis_dry_run_cost_and_bad_set_values(tmp_path, run_cli):
    spec = tmp_path / "toy.toml"
    spec.write_text(
        '[sweep]\nkind = "toy"\n[base]\nepochs = 30\n[grid]\nlr = [0.1, 0.2]\nseed = [0]\n'
    )
    r = run_cli("sweep", spec, "--dry-run", "--set", "seed=[0, 1, 2]", "--workers", "1")
    assert r.returncode == 0, r.stderr
    assert "6 runs of kind 'toy'" in r.stdout and "axis seed = [0, 1, 2]" in r.stdout
    assert "cost: 180 network-epochs in 6 runs" in r.stdout and "expected time:" in r.stdout
    assert not (tmp_path / "sweeps").exists()
    r = run_cli("sweep", spec, "--dry-run", "--set", "seed=4")  # one value: an axis of one
    assert "2 runs" in r.stdout and "axis seed = [4]" in r.stdout
    for bad, message in (
        ("seed=[0,", "--set seed: '[0,' is not a TOML value"),
        ("seed=[]", "axis 'seed' has no values"),
        ("lr={logspace=[1]}", "logspace = [start, stop, count]"),
    ):
        r = run_cli("sweep", spec, "--dry-run", "--set", bad)
        assert r.returncode == 1 and message in r.stderr, (bad, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_batched_rnn_points_equal_the_per_point_runs():
    from ghostsym.sweeps.kinds import run_rnn, run_rnn_batch, run_rnn_group

    configs = [
        {"model": "rank1", "task": "da", "neurons": 12, "epochs": 40, "lr": lr, "seed": seed}
        for lr in (0.01, 0.05)
        for seed in (0, 1)
    ]
    assert len({run_rnn_group(c) for c in configs}) == 1  # one train_many call
    assert run_rnn_group({**configs[0], "neurons": 13}) != run_rnn_group(configs[0])
    for config, got in zip(configs, run_rnn_batch(configs), strict=True):
        alone = run_rnn(config)
        for k, v in alone["history"].items():
            np.testing.assert_array_equal(got["history"][k], v)
        for k, v in alone["params"].items():
            np.testing.assert_array_equal(got["params"][k], v)


def test_a_chunk_that_cannot_be_written_leaves_no_half_run(tmp_path, monkeypatch):
    import errno

    from ghostsym.sweeps import run as run_module

    spec = parse_spec(
        {
            "sweep": {"kind": "canonical"},
            "base": {"epochs": 20},
            "grid": {"lr": [1e-10, 2e-10, 3e-10], "seed": [0]},
        }
    )
    outcomes = execute_points(spec.kind_ref, [p.config for p in spec.points])
    store = run_module.ResultStore(tmp_path / "r")
    with store.locked():
        calls = {"n": 0}
        real = run_module.savez_atomic

        def full_disk(path, arrays, **kw):
            calls["n"] += 1
            if calls["n"] == 4:  # the 2nd run's history
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
            return real(path, arrays, **kw)

        monkeypatch.setattr(run_module, "savez_atomic", full_disk)
        items = list(zip(spec.points, outcomes, strict=True))
        with pytest.raises(run_module.StorageError, match="No space left on device"):
            store.write_runs(items, set())
        assert list(store.runs.iterdir()) == []  # nothing half-written, nothing renamed
        monkeypatch.setattr(run_module, "savez_atomic", real)
        assert store.write_runs(items, set()) == [True, True, True]
        assert store.write_runs(items, set()) == [False, False, False]  # already stored
        assert sorted(store.finished()) == sorted(p.run_id for p in spec.points)
