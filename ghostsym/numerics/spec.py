"""The RNN engine's table of models, tasks and readouts: one definition, read by both sides.

The numba engines (:mod:`ghostsym.numerics.rnn_template`, and the batched
:mod:`ghostsym.numerics.rnn_batched_template`) receive a network's structure as
two small arrays, ``ispec`` (integers) and ``fspec`` (floats), and its parameters as one flat
θ. The slots of those arrays are defined once, here, by :data:`ISPEC_SLOTS` and
:data:`FSPEC_SLOTS`; from them this module generates

* the integer constants the kernel indexes with: ``I_<SLOT>`` (``I_N``, ``I_O_WOUT``, …),
  ``ISPEC_SIZE``, ``F_<SLOT>``, ``FSPEC_SIZE``, and the optimiser-table columns ``H_<NAME>``,
  ``HYPER_SIZE`` (numba reads module-level integers as compile-time constants);
* the codes of the vocabularies: ``READOUT_<NAME>`` (index in
  :data:`ghostsym.numerics.rnn.READOUTS`), ``OUTPUT_<NAME>`` (in ``rnn.OUTPUTS``),
  ``ACCURACY_<RULE>`` (in :data:`ghostsym.numerics.tasks.ACCURACY_RULES`);
* :func:`engine_spec`, the one packing of an (RNNModel, Task) into ``ispec``/``fspec``,
  which fails if any slot is left unfilled.

How to add a task
-----------------
1. Append a :class:`~ghostsym.numerics.tasks.TaskDefinition` to
   :data:`~ghostsym.numerics.tasks.TASK_TABLE`: its periods (trial timing as data, each
   period's duration read from a :class:`~ghostsym.numerics.tasks.Task` field), its
   conditions (input and target per period), accuracy rule, output g, loss normalisation,
   readout timing and initial state. Nothing else changes if it reuses an accuracy rule.
2. Only for a new accuracy rule: append its name to
   :data:`~ghostsym.numerics.tasks.ACCURACY_RULES` (``ACCURACY_<RULE>`` is generated here)
   and add its branch to ``is_correct`` in ``rnn_common.py`` — the one place in the kernels
   (both engines call it).
3. Optionally: a timing preset in :data:`~ghostsym.numerics.tasks.TASK_PRESETS`, and the
   task's forward pass in ``tests/reference.py`` so the engine is tested against it.

How to add a readout
--------------------
1. Append a :class:`~ghostsym.numerics.rnn.Readout` to
   :data:`~ghostsym.numerics.rnn.READOUT_TABLE`: its weights (none, over κ or over x), the
   readout constants it keeps in θ and which of them may be trained (parameter names,
   shapes, θ layout and initialisation follow from it; ``READOUT_<NAME>`` is generated here).
2. Add its z to ``readout_z`` in ``rnn_common.py`` (shared by both engines) and its BPTT
   readout term (∂L/∂z pushed back) to ``loss_grad`` in ``rnn_template.py`` and, with the same
   operations per lane, in ``rnn_batched_template.py``; ``tests/training/test_batched_engine.py``
   checks that the two agree bit for bit.
3. Optionally: make it a default in :func:`ghostsym.training.build_config`, and add it to
   ``tests/reference.py``.

A new ``ispec``/``fspec`` slot is one entry in :data:`ISPEC_SLOTS`/:data:`FSPEC_SLOTS` plus
its value in :func:`engine_spec`.

numba-free NumPy; imported by the kernel template and by ``ghostsym.training``.
"""

from __future__ import annotations

import numpy as np

from ghostsym.errors import InputError
from ghostsym.numerics.rnn import OUTPUTS, READOUTS, RNNModel, layout
from ghostsym.numerics.tasks import ACCURACY_RULES, Task

#: Divergence by magnitude: a trainable parameter or a final state with |value| beyond this
#: stops the run as diverged at that epoch, exactly like a non-finite loss or gradient.
#: Trained networks of the paper stay within |θ| ~ 10²; float64 overflows near 1e308, and a
#: run far beyond this bound only spends its remaining epochs in overflow.
DIVERGENCE_BOUND = 1e8

#: θ offset slots of ``ispec``: (slot, parameter name); −1 when the model lacks it.
OFFSET_SLOTS = (
    ("O_U", "m"),
    ("O_V", "n"),
    ("O_W", "W"),
    ("O_B", "b"),
    ("O_WIN", "w_in"),
    ("O_WOUT", "w_out"),
    ("O_BOUT", "b_out"),
    ("O_C", "c"),
    ("O_KS", "kappa_star"),
)

#: Integer slots: (name, meaning).
ISPEC_SLOTS = (
    ("N", "neurons"),
    ("K", "rank (0 = full-rank W)"),
    ("D", "input channels"),
    ("S", "time steps per trial"),
    ("B", "trials per epoch"),
    ("READOUT", "READOUT_* code"),
    ("OUTPUT", "OUTPUT_* code"),
    ("POST", "1: output t reads x_{t+1}; 0: reads x_t"),
    ("ACCURACY", "ACCURACY_* code"),
    ("RANDOM_X0", "1: x_0 = tanh(σ_fr ζ) per trial and epoch; 0: x_0 = const"),
    ("PROJECT", "1: fixed-confidence readout trained the authors' way (project, then step)"),
    *((slot, f"offset of {name} in θ (−1 = absent)") for slot, name in OFFSET_SLOTS),
    ("P", "total number of entries of θ"),
)

#: Float slots: (name, meaning).
FSPEC_SLOTS = (
    ("ALPHA", "Euler leak a = Δt/τ"),
    ("LOSS_SCALE", "L = scale · Σ (ŷ − y)²"),
    ("X0", "constant initial state value (DA: −0.3)"),
    ("RATE_SD", "σ_fr of random initial states r_0 = tanh(σ_fr ζ)"),
    ("NOISE_SD", "σ_noise inside φ"),
)

#: Columns of the per-network optimiser table (Adam β₁ or momentum μ, β₂, ε).
HYPER_SLOTS = (("BETA1", "Adam β₁ or momentum μ"), ("BETA2", "Adam β₂"), ("EPS", "Adam ε"))


def _generate(prefix: str, names) -> dict[str, int]:
    return {f"{prefix}{name.upper()}": code for code, name in enumerate(names)}


_CONSTANTS = {
    **_generate("I_", (s for s, _ in ISPEC_SLOTS)),
    **_generate("F_", (s for s, _ in FSPEC_SLOTS)),
    **_generate("H_", (s for s, _ in HYPER_SLOTS)),
    **_generate("READOUT_", READOUTS),
    **_generate("OUTPUT_", OUTPUTS),
    **_generate("ACCURACY_", ACCURACY_RULES),
    "ISPEC_SIZE": len(ISPEC_SLOTS),
    "FSPEC_SIZE": len(FSPEC_SLOTS),
    "HYPER_SIZE": len(HYPER_SLOTS),
}
globals().update(_CONSTANTS)
#: Every generated constant name (the kernel template imports these by name).
CONSTANTS = tuple(_CONSTANTS)


def engine_spec(
    model: RNNModel, task: Task, projected: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(ispec, fspec) of a model on a task; ``projected``: train a fixed-confidence readout
    the authors' way (``TrainingConfig.fixed_confidence_update == "projected"``)."""
    if model.inputs != task.inputs:
        raise InputError(
            f"model has {model.inputs} input channels but task {task.name} has {task.inputs}"
        )
    lay = layout(model)
    ivalues = {
        "N": model.neurons,
        "K": model.rank or 0,
        "D": model.inputs,
        "S": task.steps,
        "B": task.trials,
        "READOUT": READOUTS.index(model.readout),
        "OUTPUT": OUTPUTS.index(model.output),
        "POST": 1 if task.readout_timing == "post" else 0,
        "ACCURACY": ACCURACY_RULES.index(task.accuracy_rule),
        "RANDOM_X0": 1 if task.random_initial_state else 0,
        "PROJECT": 1 if projected else 0,
        **{slot: lay.offsets.get(name, -1) for slot, name in OFFSET_SLOTS},
        "P": lay.size,
    }
    fvalues = {
        "ALPHA": model.alpha,
        "LOSS_SCALE": task.loss_scale,
        "X0": 0.0 if task.initial_state is None else float(task.initial_state),
        "RATE_SD": task.rate_sd,
        "NOISE_SD": task.noise_sd,
    }
    return (
        np.array([ivalues[s] for s, _ in ISPEC_SLOTS], dtype=np.int64),
        np.array([float(fvalues[s]) for s, _ in FSPEC_SLOTS]),
    )
