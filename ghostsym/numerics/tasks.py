"""The paper's tasks: delayed activation (DA), delayed cue discrimination (DCD) and delayed
match-to-sample (DMTS) — docs/experiments.md §1.4 and §1.7.

A :class:`Task` also carries the trial conditions the paper's scripts pair with it: where the
output is read (post-update states for DA, pre-update states for the working-memory tasks,
docs/experiments.md §13.6), the initial state (DA: x₀ = −0.3·1; working memory: r₀ = tanh(σ_fr ζ),
fresh per trial and epoch) and the noise inside φ (σ_noise). Every duration is configurable;
:data:`TASK_PRESETS` holds the timings of the paper's figures.

NumPy only.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ghostsym.errors import InputError

#: Constant initial state of the DA networks (docs/experiments.md §1.1: x₀ = −0.3·1).
DA_INITIAL_STATE = -0.3

#: Accuracy rules the engine knows (engine code = index): DA 1[(ŷ > ½) = y], DMTS
#: 1[(ŷ ≥ ½) = y], DCD ŷ → −1 (≤ −0.33), +1 (≥ 0.33), else 0.
ACCURACY_RULES = ("gt_half", "ge_half", "ternary")


@dataclass(frozen=True)
class TaskDefinition:
    """A task as data (timing and trial structure, as in neurogym's ``timing`` dicts).

    ``periods``: the trial's epochs in order, ``(period name, Task field holding its
    duration)``; ``conditions``: one mapping per trial condition, ``{period: (input,
    target)}`` with None for "no input" / "target 0" (the input lies on channel 0; a task
    whose conditions set no input has no input channel). ``loss``: "per_delay" (Σ(ŷ − y)²/T,
    T = ``delay``) or "mean" (mean over batch × time). The remaining fields are the paper's
    trial conditions for the task (docs/experiments.md §1.4, §1.7, §13.6).
    """

    name: str
    periods: tuple[tuple[str, str], ...]
    conditions: tuple[Mapping[str, tuple[float | None, float | None]], ...]
    accuracy_rule: str
    output: str = "sigmoid"
    loss: str = "mean"
    readout_timing: str = "pre"
    initial_state: float | None = None
    doc: str = ""

    @property
    def inputs(self) -> int:
        return int(any(i is not None for c in self.conditions for i, _ in c.values()))

    @property
    def duration_fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f for _, f in self.periods))


#: The tasks; adding one is adding a TaskDefinition here (see ghostsym.numerics.spec).
TASK_TABLE: tuple[TaskDefinition, ...] = (
    TaskDefinition(
        "da",
        periods=(("wait", "delay"), ("respond", "delay")),
        conditions=({"respond": (None, 1.0)},),
        accuracy_rule="gt_half",
        loss="per_delay",
        readout_timing="post",
        initial_state=DA_INITIAL_STATE,
        doc="delayed activation: output 0 for T steps, then 1 for T steps",
    ),
    TaskDefinition(
        "dcd",
        periods=(("cue", "cue"), ("delay", "delay"), ("response", "response")),
        conditions=(
            {"cue": (1.0, None), "response": (None, 1.0)},
            {"cue": (-1.0, None), "response": (None, -1.0)},
        ),
        accuracy_rule="ternary",
        output="tanh",
        doc="delayed cue discrimination: report the cue's sign after the delay",
    ),
    TaskDefinition(
        "dmts",
        periods=(("sample", "cue"), ("delay", "delay"), ("test", "cue"), ("response", "response")),
        conditions=(
            {"sample": (1.0, None), "test": (1.0, None), "response": (None, 1.0)},
            {"sample": (-1.0, None), "test": (-1.0, None), "response": (None, 1.0)},
            {"sample": (-1.0, None), "test": (1.0, None), "response": (None, 0.0)},
            {"sample": (1.0, None), "test": (-1.0, None), "response": (None, 0.0)},
        ),
        accuracy_rule="ge_half",
        doc="delayed match-to-sample: 1 if sample and test cues agree, else 0",
    ),
)
TASKS = tuple(t.name for t in TASK_TABLE)


def task_definition(name: str) -> TaskDefinition:
    """The :class:`TaskDefinition` called ``name`` (InputError if unknown)."""
    for definition in TASK_TABLE:
        if definition.name == name:
            return definition
    raise InputError(f"unknown task {name!r}; known: {', '.join(TASKS)}")


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
        definition = task_definition(self.name)
        for field in ("delay", "cue", "response", "trials_per_condition"):
            value = getattr(self, field)
            if not isinstance(value, (int, np.integer)) or value < 0:
                raise InputError(f"task {field} must be an integer >= 0, got {value!r}")
        if self.delay < 1:
            raise InputError(f"task delay must be >= 1 step, got {self.delay}")
        if self.trials_per_condition < 1:
            raise InputError("trials_per_condition must be >= 1")
        short = [f for f in definition.duration_fields if getattr(self, f) < 1]
        if short:
            raise InputError(f"task {self.name}: {' and '.join(short)} must be >= 1 step")
        if self.readout_timing not in (None, "post", "pre"):
            raise InputError(f"readout_timing must be 'post' or 'pre', got {self.readout_timing!r}")
        if self.initial_state == "paper":
            object.__setattr__(self, "initial_state", definition.initial_state)
        if self.initial_state is not None and not math.isfinite(float(self.initial_state)):
            raise InputError(f"initial_state must be finite, got {self.initial_state!r}")
        if self.readout_timing is None:
            object.__setattr__(self, "readout_timing", definition.readout_timing)
        for field in ("rate_sd", "noise_sd"):
            value = float(getattr(self, field))
            if not (math.isfinite(value) and value >= 0):
                raise InputError(f"task {field} must be finite and >= 0, got {value!r}")

    # ---- derived quantities ----------------------------------------------------------
    @property
    def definition(self) -> TaskDefinition:
        return task_definition(self.name)

    @property
    def periods(self) -> tuple[tuple[str, int], ...]:
        """(period name, steps) in trial order (neurogym's ``timing``)."""
        return tuple((p, int(getattr(self, f))) for p, f in self.definition.periods)

    @property
    def conditions(self) -> int:
        return len(self.definition.conditions)

    @property
    def trials(self) -> int:
        return self.conditions * self.trials_per_condition

    @property
    def steps(self) -> int:
        return sum(n for _, n in self.periods)

    @property
    def inputs(self) -> int:
        """Number of input channels (the DA task has none)."""
        return self.definition.inputs

    @property
    def loss_scale(self) -> float:
        """DA: Σ(ŷ − y)²/T (docs/experiments.md §1.1); DCD/DMTS: the mean over batch × time."""
        if self.definition.loss == "per_delay":
            return 1.0 / self.delay
        return 1.0 / (self.trials * self.steps)

    @property
    def accuracy_rule(self) -> str:
        """'gt_half' (DA), 'ternary' (DCD, ±0.33), 'ge_half' (DMTS) — docs/experiments.md §1.1,
        §1.7."""
        return self.definition.accuracy_rule

    @property
    def default_output(self) -> str:
        """The paper's readout function g: tanh for DCD, the sigmoid otherwise."""
        return self.definition.output

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
        conditions = self.definition.conditions
        for i in range(trials):
            condition = conditions[i % len(conditions)]
            start = 0
            for period, length in self.periods:
                given, target = condition.get(period, (None, None))
                if given is not None:
                    u[i, start : start + length, 0] = given
                if target is not None:
                    y[i, start : start + length] = target
                start += length
        return u, y


#: The timings of the paper's figures (docs/experiments.md §1.4, §1.7), 5 ms steps.
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
