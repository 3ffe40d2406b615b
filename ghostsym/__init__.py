"""ghostsym: the ghost mechanism of abrupt learning, derived and verified.

The public API, importable as ``import ghostsym as gs``::

    nf = gs.NormalForm.parse("x**2 + r")      # normal forms and their derivations
    derivation = gs.derive(nf)                # SymPy: t_esc, r*, alpha*, ... (renders in Jupyter)
    config = gs.build_config(model="rank1", task="da", lr=0.01, epochs=500)
    result = gs.train(config)                 # training and run directories
    track = gs.track_checkpoints(result.checkpoints)   # fixed points and ghosts over training
    rows = gs.verify(["escape-time"])         # the paper's checks, report in ./verify-report

Names are loaded on first use (PEP 562), so ``import ghostsym`` imports neither SymPy nor
numba; :data:`API` maps each public name to the ``module:attribute`` it comes from.
"""

from __future__ import annotations

import importlib

from ghostsym.config import VERSION

__version__ = VERSION

#: Every public name → "module:attribute", grouped as in the README's "From Python".
API: dict[str, str] = {
    # -- normal forms and derivations (SymPy) ----------------------------------------------
    "NormalForm": "ghostsym.symbolic.normal_forms:NormalForm",
    "saddle_node": "ghostsym.symbolic.normal_forms:saddle_node",
    "Derivation": "ghostsym.symbolic.derivation:Derivation",
    "derive": "ghostsym.symbolic.da:analyze",
    "derive_canonical": "ghostsym.symbolic.canonical:derive",
    "derivation_names": "ghostsym.symbolic.documents:names",
    "build_derivation": "ghostsym.symbolic.documents:build",
    "parse_expression": "ghostsym.symbolic.parsing:parse_expression",
    # -- training and loading runs ---------------------------------------------------------
    "RNNModel": "ghostsym.training:RNNModel",
    "Task": "ghostsym.training:Task",
    "TrainingConfig": "ghostsym.training:TrainingConfig",
    "Intervention": "ghostsym.training:Intervention",
    "TrainingResult": "ghostsym.training:TrainingResult",
    "RunRecord": "ghostsym.training:RunRecord",
    "PRESETS": "ghostsym.training:PRESETS",
    "build_config": "ghostsym.training:build_config",
    "task_preset": "ghostsym.training:task_preset",
    "init_params": "ghostsym.training:init_params",
    "simulate": "ghostsym.training:simulate",
    "loss_and_gradients": "ghostsym.training:loss_and_gradients",
    "train": "ghostsym.training:train",
    "train_many": "ghostsym.training:train_many",
    "run_training": "ghostsym.training:run_training",
    "load_run": "ghostsym.training:load_run",
    "load_checkpoint": "ghostsym.training:load_checkpoint",
    # -- analysis of runs and fields -------------------------------------------------------
    "NormalFormNumerics": "ghostsym.analysis.normal_form_numerics:NormalFormNumerics",
    "analyze_rank_one": "ghostsym.analysis.latent_flow:analyze_rank_one",
    "RankOneFlow": "ghostsym.analysis.latent_flow:RankOneFlow",
    "analyze_rank_k": "ghostsym.analysis.latent_rank_k:analyze_rank_k",
    "find_speed_minima": "ghostsym.analysis.speed_minima:find_speed_minima",
    "find_slow_points": "ghostsym.analysis.slow_points:find_slow_points",
    "analyze_checkpoint": "ghostsym.analysis.bifurcations:analyze_checkpoint",
    "track_checkpoints": "ghostsym.analysis.bifurcations:track_checkpoints",
    "BifurcationTrack": "ghostsym.analysis.bifurcations:BifurcationTrack",
    "track_run": "ghostsym.training.analyze:track_run",
    "RunTrack": "ghostsym.training.analyze:RunTrack",
    "analyze_run": "ghostsym.training.analyze:analyze_run",
    "Ghost": "ghostsym.analysis.points:Ghost",
    "Point": "ghostsym.analysis.points:Point",
    "classify_point": "ghostsym.analysis.points:classify",
    "normal_form_simulator": "ghostsym.analysis.normal_form_numerics:normal_form_simulator",
    # -- figures (each takes ax= or axes= and returns the Figure) ----------------------------
    "plot_history": "ghostsym.training.plots:plot_history",
    "plot_training_track": "ghostsym.analysis.plots:plot_training_track",
    "plot_rank_one_flows": "ghostsym.analysis.plots:plot_rank_one_flows",
    "plot_phase_portrait": "ghostsym.analysis.plots:plot_phase_portrait",
    "plot_latent_minima": "ghostsym.analysis.plots:plot_latent_minima",
    "plot_pca_minima": "ghostsym.analysis.plots:plot_pca_minima",
    # -- sweeps ----------------------------------------------------------------------------
    "SweepSpec": "ghostsym.sweeps.spec:SweepSpec",
    "load_spec": "ghostsym.sweeps.spec:load_spec",
    "run_sweep": "ghostsym.sweeps.run:run_sweep",
    "load_sweep_results": "ghostsym.sweeps.report:load_results",
    "open_sweep": "ghostsym.sweeps.data:open_sweep",
    "write_sweep_report": "ghostsym.sweeps.report:write_report",
    # -- running checks --------------------------------------------------------------------
    "verify": "ghostsym.verification:verify",
    "discover_checks": "ghostsym.verification:discover",
    "check": "ghostsym.verification:check",
    "Outcome": "ghostsym.verification:Outcome",
    # -- progress meters and errors --------------------------------------------------------
    "NoProgress": "ghostsym.progress:NoProgress",
    "TqdmProgress": "ghostsym.progress:TqdmProgress",
    "as_meter": "ghostsym.progress:as_meter",
    "GhostsymError": "ghostsym.errors:GhostsymError",
    "InputError": "ghostsym.errors:InputError",
    "DivergenceError": "ghostsym.errors:DivergenceError",
    "NotDerivableError": "ghostsym.errors:NotDerivableError",
}

__all__ = ["__version__", *API]


def __getattr__(name: str):
    try:
        target = API[name]
    except KeyError:
        raise AttributeError(f"module 'ghostsym' has no attribute {name!r}") from None
    module, _, attribute = target.partition(":")
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *API})
