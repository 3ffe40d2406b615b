"""The paper's tasks: delayed activation (DA), delayed cue discrimination (DCD) and delayed
match-to-sample (DMTS) — REFERENCE.md §1.4 and §1.7.

A :class:`Task` also carries the trial conditions the paper's scripts pair with it: where the
output is read (post-update states for DA, pre-update states for the working-memory tasks,
REFERENCE.md §13.6), the initial state (DA: x₀ = −0.3·1; working memory: r₀ = tanh(σ_fr ζ),
fresh per trial and epoch) and the noise inside φ (σ_noise). Every duration is configurable;
:data:`TASK_PRESETS` holds the timings of the paper's figures.

NumPy only.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ghostsym.errors import InputError

TASKS = ("da", "dcd", "dmts")

#: Constant initial state of the DA networks (REFERENCE.md §1.1: x₀ = −0.3·1).
DA_INITIAL_STATE = -0.3


@dataclass(frozen=True)
class Task:
    """One task and its trial conditions.

    Parameters
    ----------
    name : "da", "dcd" or "dmts".
    delay : DA: T (outputs 0 for T steps, then 1 for T steps); DCD/DMTS: delay steps.
    cue, response : DCD/DMTS cue-window and response-window steps (unused for DA).
    trials_per_condition : batch = trials_per_condition × conditions (2 for DCD, 4 for
        DMTS, 1 for DA), trial i has condition i mod conditions.
    readout_timing : "post" (output t reads x_{t+1}) or "pre" (reads x_t); None = the
        paper's choice (DA post, others pre).
    initial_state : constant x₀ entries; None = random r₀ = tanh(rate_sd·ζ) (rate_sd = 0
        gives r₀ = 0). The default ("paper") is −0.3 for DA and random for the others.
    rate_sd : σ_fr of random initial states.
    noise_sd : σ_noise, added to the pre-activation inside φ, fresh per trial and step.
    """

    name: str = "da"
    delay: int = 20
    cue: int = 0
    response: int = 0
    trials_per_condition: int = 1
    readout_timing: str | None = None
    initial_state: float | None | str = "paper"
    rate_sd: float = 0.0
    noise_sd: float = 0.0

    def __post_init__(self):
        if self.name not in TASKS:
            raise InputError(f"unknown task {self.name!r}; known: {', '.join(TASKS)}")
        for field in ("delay", "cue", "response", "trials_per_condition"):
            value = getattr(self, field)
            if not isinstance(value, (int, np.integer)) or value < 0:
                raise InputError(f"task {field} must be an integer >= 0, got {value!r}")
        if self.delay < 1:
            raise InputError(f"task delay must be >= 1 step, got {self.delay}")
        if self.trials_per_condition < 1:
            raise InputError("trials_per_condition must be >= 1")
        if self.name != "da" and (self.cue < 1 or self.response < 1):
            raise InputError(f"task {self.name}: cue and response windows must be >= 1 step")
        if self.readout_timing not in (None, "post", "pre"):
            raise InputError(f"readout_timing must be 'post' or 'pre', got {self.readout_timing!r}")
        if self.initial_state == "paper":
            object.__setattr__(
                self, "initial_state", DA_INITIAL_STATE if self.name == "da" else None
            )
        if self.initial_state is not None and not math.isfinite(float(self.initial_state)):
            raise InputError(f"initial_state must be finite, got {self.initial_state!r}")
        if self.readout_timing is None:
            object.__setattr__(self, "readout_timing", "post" if self.name == "da" else "pre")
        for field in ("rate_sd", "noise_sd"):
            value = float(getattr(self, field))
            if not (math.isfinite(value) and value >= 0):
                raise InputError(f"task {field} must be finite and >= 0, got {value!r}")

    # ---- derived quantities ----------------------------------------------------------
    @property
    def conditions(self) -> int:
        return {"da": 1, "dcd": 2, "dmts": 4}[self.name]

    @property
    def trials(self) -> int:
        return self.conditions * self.trials_per_condition

    @property
    def steps(self) -> int:
        if self.name == "da":
            return 2 * self.delay
        if self.name == "dcd":
            return self.cue + self.delay + self.response
        return 2 * self.cue + self.delay + self.response

    @property
    def inputs(self) -> int:
        """Number of input channels (the DA task has none)."""
        return 0 if self.name == "da" else 1

    @property
    def loss_scale(self) -> float:
        """DA: Σ(ŷ − y)²/T (REFERENCE.md §1.1); DCD/DMTS: the mean over batch × time."""
        if self.name == "da":
            return 1.0 / self.delay
        return 1.0 / (self.trials * self.steps)

    @property
    def accuracy_rule(self) -> str:
        """'gt_half' (DA), 'ternary' (DCD, ±0.33), 'ge_half' (DMTS) — REFERENCE.md §1.1, §1.7."""
        return {"da": "gt_half", "dcd": "ternary", "dmts": "ge_half"}[self.name]

    @property
    def default_output(self) -> str:
        """The paper's readout function g: tanh for DCD, the sigmoid otherwise."""
        return "tanh" if self.name == "dcd" else "sigmoid"

    @property
    def random_initial_state(self) -> bool:
        return self.initial_state is None

    def replace(self, **changes) -> Task:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    # ---- data ------------------------------------------------------------------------
    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(inputs u of shape (B, S, D), targets y of shape (B, S)); y[:, t] is output t's."""
        steps, trials = self.steps, self.trials
        u = np.zeros((trials, steps, self.inputs))
        y = np.zeros((trials, steps))
        if self.name == "da":
            y[:, self.delay :] = 1.0
            return u, y
        cue, delay = self.cue, self.delay
        for i in range(trials):
            if self.name == "dcd":
                sign = (1.0, -1.0)[i % 2]
                u[i, :cue, 0] = sign
                y[i, cue + delay :] = sign
            else:
                first, second = ((1.0, 1.0), (-1.0, -1.0), (-1.0, 1.0), (1.0, -1.0))[i % 4]
                u[i, :cue, 0] = first
                u[i, cue + delay : 2 * cue + delay, 0] = second
                y[i, 2 * cue + delay :] = 1.0 if first == second else 0.0
        return u, y


#: The timings of the paper's figures (REFERENCE.md §1.4, §1.7), 5 ms steps.
TASK_PRESETS: dict[str, dict] = {
    "da": {"name": "da", "delay": 20},
    "dcd": {"name": "dcd", "cue": 2, "delay": 10, "response": 10},  # Figs 4A-D, 5A-B, 8C
    "dcd-fig7": {"name": "dcd", "cue": 6, "delay": 16, "response": 10},  # Fig 7C-D
    "dmts": {"name": "dmts", "cue": 6, "delay": 16, "response": 10},  # Figs 4E-H, 7A-B
    "dmts-fig5": {"name": "dmts", "cue": 2, "delay": 30, "response": 10},  # Fig 5C-D
}


def task_preset(name: str, **changes) -> Task:
    """A :class:`Task` with the paper's timing for ``name`` (a key of TASK_PRESETS)."""
    if name not in TASK_PRESETS:
        raise InputError(f"unknown task {name!r}; known: {', '.join(TASK_PRESETS)}")
    return Task(**{**TASK_PRESETS[name], **changes})
