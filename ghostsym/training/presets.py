"""The paper's training settings, as flat options of :func:`ghostsym.training.build_config`.

Each preset names the figure it reproduces; a sweep varies one of its options (the learning
rate of the sweep figures is the swept axis).
"""

from __future__ import annotations

import math

#: The paper's settings as flat options of :func:`build_config` (docs/experiments.md, "Key training
#: configurations at a glance"). Learning rates of the sweep figures are the swept axis.
PRESETS: dict[str, dict] = {
    "fig3a": {"model": "rank1", "task": "da", "lr": 0.003, "epochs": 500_000, "seed": 40},
    "fig3b": {"model": "rank1", "task": "da", "lr": 0.02, "epochs": 6000, "seed": 40},
    "fig4-dcd": {
        "model": "lowrank",
        "rank": 2,
        "task": "dcd",
        "trials_per_condition": 500,
        "rate_sd": 0.3,
        "lr": 1e-3,
        "epochs": 100_000,
        "seed": 0,
        "grad_norm": ["m", "n"],
    },
    "fig4-dmts": {
        "model": "lowrank",
        "rank": 2,
        "task": "dmts",
        "trials_per_condition": 500,
        "rate_sd": 0.3,
        "noise_sd": 0.01,
        "optimizer": "adam",
        "lr": 1e-4,
        "epochs": 20_000,
        "seed": 0,
        "grad_norm": ["m", "n"],
    },
    "fig5-dcd": {
        "model": "full",
        "task": "dcd",
        "rate_sd": 0.1,
        "noise_sd": 0.01,
        "lr": 1e-2,
        "epochs": 3001,
        "seed": 3,
        "grad_norm": ["W"],
    },
    "fig5-dmts": {
        "model": "full",
        "task": "dmts-fig5",
        "rate_sd": 0.1,
        "noise_sd": 0.01,
        "lr": 1e-2,
        "epochs": 100_001,
        "seed": 3,
        "grad_norm": ["W"],
    },
    "fig6a-rank1": {"model": "rank1", "task": "da", "lr": 0.01, "epochs": 200_001},
    "fig6a-full": {"model": "full", "task": "da", "lr": 0.1, "epochs": 200_001},
    "fig6b": {"model": "lowrank", "rank": 10, "task": "da", "lr": 0.01, "epochs": 500_000},
    "fig7-dmts": {
        "model": "full",
        "task": "dmts",
        "lr": 0.1,
        "epochs": 20_000,
        "grad_norm": ["W"],
    },
    "fig7-dcd": {
        "model": "full",
        "task": "dcd-fig7",
        "lr": 0.1,
        "epochs": 20_000,
        "grad_norm": ["W"],
    },
    "fig8b": {
        "model": "rank1",
        "task": "da",
        "lr": 0.02,
        "epochs": 6100,
        "interventions": ["6000:c=0.1"],
    },
    "fig8b-learnable": {
        "model": "rank1",
        "task": "da",
        "lr": 0.02,
        "epochs": 20_000,
        "seed": 40,
        "train_confidence": True,
        "interventions": ["10000:c=1"],
    },
    "fig8c": {
        "model": "full",
        "task": "dcd",
        "trials_per_condition": 10,
        "rate_sd": 0.1,
        "noise_sd": 1e-3,
        "optimizer": "adam",
        "lr": 0.1,
        "epochs": 20_000,
        "readout": "fixed_confidence",
        "confidence": math.inf,
        "interventions": ["10000:c=1"],
        "grad_norm": ["W"],
    },
}
