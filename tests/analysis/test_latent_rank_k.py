"""Rank-K (K ≥ 3) latent flows: no missed fixed points on constructed flows, ghost and slow-point
classification, tracking over checkpoints, and ``ghostsym analyze`` on a saved rank-3 run."""

import itertools
import json
import math
import shutil

import numpy as np
import pytest

from ghostsym.analysis.latent_flow import (
    RankOneFlow,
    RankTwoFlow,
    analyze_rank_one,
    ghost_record,
    rank_two_latent,
)
from ghostsym.analysis.latent_rank_k import (
    analyze_rank_k,
    fixed_point_box,
    latent_flow_of,
    states_of,
    track_rank_k,
)
from ghostsym.analysis.points import Ghost
from ghostsym.errors import InputError

# ---------------------------------------------------------------------------------------------
# Constructed flows: three decoupled one-neuron blocks, F_k(κ) = −κ_k + n_k tanh(m_k κ_k + b_k).
# Each block is a rank-one flow whose roots the certified 1-D search finds, so the rank-3 flow's
# fixed points are exactly the Cartesian product of the three root sets.
# ---------------------------------------------------------------------------------------------


def _block_flow(blocks):
    K = len(blocks)
    M, P, b = np.zeros((K, K)), np.zeros((K, K)), np.zeros(K)
    for k, (m, n, bias) in enumerate(blocks):
        M[k, k], P[k, k], b[k] = m, n, bias
    return RankTwoFlow(M, P, b)


def _roots(block):
    return analyze_rank_one([block[0]], [block[1]], [block[2]])


def _ghost_block(lift=2e-3):
    """f(κ) = −κ + n tanh(κ + b) just past a tangency: one fixed point and a ghost, r > 0 small."""
    u = 1.0
    n = math.cosh(u) ** 2
    kappa0 = n * math.tanh(u)  # double root of the tangent flow
    b = u - kappa0
    f2 = RankOneFlow([1.0], [n], [b]).derivatives(np.array([kappa0]), 2)[2][0]
    return (1.0, n, b + lift * np.sign(f2))


BISTABLE = [(1.0, 2.0, 0.0), (1.0, 3.0, 0.3), (1.0, 2.5, -0.2)]


def test_fixed_point_box_contains_every_fixed_point():
    flow = _block_flow(BISTABLE)
    h = fixed_point_box(flow)
    roots = [[p.kappa for p in _roots(blk).fixed_points] for blk in BISTABLE]
    for k, rk in enumerate(roots):
        assert max(abs(r) for r in rk) <= h[k]
    # the ball bound ‖P‖₂√N sup|tanh| is never tighter than the box used
    assert np.all(h <= np.linalg.norm(flow.P, 2) * math.sqrt(3) * 1.05 + 1e-9)


def test_no_missed_fixed_points_product_of_three_bistable_flows():
    flow = _block_flow(BISTABLE)
    roots = [_roots(blk).fixed_points for blk in BISTABLE]
    assert [len(r) for r in roots] == [3, 3, 3]
    known = np.array(list(itertools.product(*[[p.kappa for p in r] for r in roots])))
    res = analyze_rank_k(flow)
    found = np.array([p.x for p in res.fixed_points])
    assert len(found) == 27
    dist = np.linalg.norm(known[:, None, :] - found[None, :, :], axis=2)
    assert dist.min(axis=1).max() < 1e-8  # every known fixed point found
    assert dist.min(axis=0).max() < 1e-8  # nothing spurious
    # stability: stable iff every 1-D root is stable; all unstable only for the (0-slope) source
    for p in res.fixed_points:
        slopes = [min(r, key=lambda q: abs(q.kappa - p.x[k])).slope for k, r in enumerate(roots)]
        expected = (
            "stable"
            if all(s < 0 for s in slopes)
            else "unstable"
            if all(s > 0 for s in slopes)
            else "saddle"
        )
        assert p.stability == expected
    assert sum(p.stability == "stable" for p in res.fixed_points) == 8
    assert sum(p.stability == "unstable" for p in res.fixed_points) == 1


def test_no_missed_fixed_points_through_the_svd_of_a_larger_network():
    """Embed the block flow in N = 10 neurons with mixed latent coordinates; compare in state
    space (x* = φ(Mκ* + b) does not depend on the latent basis)."""
    rng = np.random.default_rng(3)
    flow0 = _block_flow(BISTABLE)
    A = rng.normal(size=(3, 3)) + 3 * np.eye(3)  # any invertible change of latent basis
    N = 10
    m = np.zeros((N, 3))
    n = np.zeros((N, 3))
    m[:3] = flow0.M @ np.linalg.inv(A)
    n[:3] = (A @ flow0.P).T
    b = np.concatenate([flow0.b, rng.normal(0, 0.5, N - 3)])
    params = {"m": m, "n": n, "b": b}
    roots = [[p.kappa for p in _roots(blk).fixed_points] for blk in BISTABLE]
    known_kappa = np.array(list(itertools.product(*roots)))
    known = np.concatenate(
        [np.tanh(known_kappa @ flow0.M.T + flow0.b), np.tile(np.tanh(b[3:]), (27, 1))], axis=1
    )
    flow = latent_flow_of(params)
    # the factor-based SVD is the SVD construction of rank_two_latent (up to signs)
    ref = rank_two_latent(m @ n.T, b, 3)
    assert np.allclose(np.abs(flow.P @ ref.P.T), np.eye(3), atol=1e-10)
    res = analyze_rank_k(flow)
    states = states_of(flow, [p.x for p in res.fixed_points])
    assert len(states) == 27
    W = m @ n.T
    assert np.abs(states - np.tanh(states @ W.T + b)).max() < 1e-9  # true fixed points
    dist = np.linalg.norm(known[:, None, :] - states[None, :, :], axis=2)
    assert dist.min(axis=1).max() < 1e-7


def test_constructed_ghost_is_classified_as_ghost():
    ghost_blk = _ghost_block()
    one_d = _roots(ghost_blk)
    assert one_d.n_fixed_points == 1 and len(one_d.ghosts) == 1
    g = one_d.ghosts[0]
    assert 0 < g.r < 1e-2  # a ghost with small positive r
    stable = (1.0, 0.5, 0.0)  # f = −κ + ½tanh κ: one stable root at 0, slope −½
    res = analyze_rank_k(_block_flow([ghost_blk, stable, stable]))
    assert len(res.fixed_points) == 1
    assert len(res.ghosts) == 1 and not res.slow_points
    ghost = res.ghosts[0]
    assert ghost.x == pytest.approx([g.kappa, 0.0, 0.0], abs=1e-6)
    assert ghost.speed == pytest.approx(abs(g.r_g), rel=1e-6)
    eig = np.sort(np.real(ghost.eigenvalues))
    assert abs(eig[-1]) < 1e-6 and eig[:2] == pytest.approx([-0.5, -0.5], abs=1e-9)


def test_tracked_ghost_r_is_the_canonical_r_of_rank_one():
    """The r tracked over checkpoints means the same at every rank: c0·c2 of the normal form,
    which for the decoupled ghost block is the certified rank-one a_g·r_g."""
    ghost_blk = _ghost_block()
    g = _roots(ghost_blk).ghosts[0]
    stable = (1.0, 0.5, 0.0)
    flow = _block_flow([ghost_blk, stable, stable])
    entry = ghost_record(flow, analyze_rank_k(flow).ghosts[0])
    assert isinstance(entry, Ghost)
    assert entry.r == pytest.approx(g.r, rel=1e-6)
    assert entry.energy == pytest.approx(0.5 * g.r_g**2, rel=1e-6)
    assert abs(entry.r - entry.energy) > 0.1 * g.r  # not the same quantity
    assert entry.passage_time == pytest.approx(g.passage_time, rel=1e-6)


def test_mixed_transverse_stability_is_a_slow_point_not_a_ghost():
    ghost_blk = _ghost_block()
    g = _roots(ghost_blk).ghosts[0]
    bistable = (1.0, 2.0, 0.0)  # roots −1.915 (stable), 0 (unstable), 1.915 (stable)
    stable = (1.0, 0.5, 0.0)
    res = analyze_rank_k(_block_flow([ghost_blk, bistable, stable]))
    assert len(res.fixed_points) == 3
    assert len(res.ghosts) == 2  # the ghost × each stable root of block 2
    assert len(res.slow_points) == 1  # the ghost × the unstable root: a transverse +1 eigenvalue
    slow = res.slow_points[0]
    assert slow.x == pytest.approx([g.kappa, 0.0, 0.0], abs=1e-6)
    assert np.max(np.real(slow.eigenvalues)) == pytest.approx(1.0, abs=1e-9)
    for p in res.ghosts:
        assert abs(abs(p.x[1]) - 1.9150080481545375) < 1e-6


def test_tracking_counts_a_saddle_node_and_shrinking_ghost():
    """A lift sequence through the tangency: ghost speed shrinks, then two fixed points appear
    (a saddle-node event), exactly as the rank-one tracker sees it."""
    stable = (1.0, 0.5, 0.0)
    lifts = [4e-2, 2e-2, 1e-2, -1e-2]
    checkpoints = {}
    for i, lift in enumerate(lifts):
        blk = _ghost_block(lift)
        flow = _block_flow([blk, stable, stable])
        # as a parameter dict m (N×K), n (N×K) with W = m nᵀ = M P
        checkpoints[10 * i] = {"m": flow.M, "n": flow.P.T, "b": flow.b}
    track, analyses = track_rank_k(checkpoints)
    assert track.rank == 3
    assert track.counts.tolist() == [1, 1, 1, 3]
    events = track.events()
    assert len(events) == 1 and events[0]["saddle_node"] and events[0]["epoch_after"] == 30
    speeds = [analyses[e].ghosts[0].speed for e in (0, 10, 20)]
    assert speeds[0] > speeds[1] > speeds[2] > 0
    assert track.to_dict()["search"]["sobol_starts"] > 0


def test_bad_parameters_are_input_errors():
    with pytest.raises(InputError, match="lacks"):
        latent_flow_of({"m": np.ones((4, 3)), "b": np.zeros(4)})
    with pytest.raises(InputError, match="non-finite"):
        latent_flow_of({"m": np.full((4, 3), np.nan), "n": np.ones((4, 3)), "b": np.zeros(4)})
    with pytest.raises(InputError):
        analyze_rank_k(_block_flow(BISTABLE), half_width=-1.0)
    with pytest.raises(InputError):
        track_rank_k({})


# ---------------------------------------------------------------------------------------------
# ghostsym analyze on a saved rank-3 run (subprocess)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rank_three_run(tmp_path_factory):
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("runs") / "rank3"
    proc = subprocess.run(
        [sys.executable, "-m", "ghostsym.cli", "train", "--model", "lowrank", "--rank", "3"]
        + ["--epochs", "30", "--lr", "0.1", "--checkpoint-every", "10", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return out


def test_analyze_rank_three_run(run_cli, rank_three_run, tmp_path):
    out = tmp_path / "analysis"
    proc = run_cli("analyze", rank_three_run, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "speed minima" in proc.stdout and "checkpoints" in proc.stdout
    doc = json.loads((out / "analysis.json").read_text())
    b = doc["bifurcations"]
    assert b["rank"] == 3 and b["epochs"] == [0, 10, 20, 30]
    assert all(c >= 1 for c in b["fixed_point_counts"])
    assert [r["epoch"] for r in doc["rank_k"]["per_checkpoint"]] == [0, 10, 20, 30]
    for fig in doc["figures"]:
        assert (out / fig.split("/")[-1]).stat().st_size > 1000
    assert {"training_track.png", "latent_minima.png"} <= {f.split("/")[-1] for f in doc["figures"]}
    # the reported fixed points of the final network are fixed points of the saved network
    from ghostsym.training import load_checkpoint

    params = load_checkpoint(rank_three_run, 30)
    flow = latent_flow_of(params)
    fps = [p for p in doc["speed_minima"]["points"] if p["kind"] == "fixed-point"]
    assert fps and len(fps) == b["fixed_point_counts"][-1]
    x = states_of(flow, [p["x"] for p in fps])
    W = params["m"] @ params["n"].T
    assert np.abs(x - np.tanh(x @ W.T + params["b"])).max() < 1e-8


def test_analyze_rank_three_bad_checkpoint(run_cli, rank_three_run, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(rank_three_run, broken)
    path = broken / "checkpoints" / "epoch_000000010.npz"
    np.savez(path, m=np.ones((100, 3)), b=np.zeros(100))  # no n
    proc = run_cli("analyze", broken, "--out", tmp_path / "a")
    assert proc.returncode == 1, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "epoch 10" in lines[0] and "['n']" in lines[0]


def test_seed_counts_shrink_with_rank():
    from ghostsym.analysis.latent_rank_k import MIN_STARTS, SOBOL_STARTS, seed_counts

    assert seed_counts(3)[0] == SOBOL_STARTS
    assert seed_counts(20)[0] < SOBOL_STARTS
    assert seed_counts(100) == (MIN_STARTS, MIN_STARTS)
