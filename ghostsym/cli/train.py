"""``ghostsym train``: train one RNN on DA, DCD or DMTS into a resumable run directory.

Every option maps to :func:`ghostsym.training.build_config`; unset options take the paper's
value (or the preset's, with ``--preset``). Numbers are parsed here, not by argparse, so that
bad input gets the one-line error of ``ghostsym.cli.main``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from ghostsym.errors import InputError

# (flag, option name, converter, help)
_NUMBERS = (
    ("--rank", "rank", "int", "rank K of W = U Vᵀ (with --model lowrank)"),
    ("--neurons", "neurons", "int", "number of neurons N (default 100)"),
    ("--delay", "delay", "int", "DA: T steps of 0 then T of 1; DCD/DMTS: delay steps"),
    ("--cue", "cue", "int", "DCD/DMTS cue-window steps"),
    ("--response", "response", "int", "DCD/DMTS response-window steps"),
    ("--trials-per-condition", "trials_per_condition", "int", "batch = this × conditions"),
    ("--rate-sd", "rate_sd", "float", "σ_fr of random initial states r₀ = tanh(σ_fr ζ)"),
    ("--noise", "noise_sd", "float", "σ of the noise inside φ"),
    ("--initial-state", "initial_state", "float", "constant initial state (DA: −0.3)"),
    ("--alpha", "alpha", "float", "Euler leak Δt/τ (default 0.5)"),
    (
        "--confidence",
        "confidence",
        "float",
        "readout confidence c (latent: 10; 'inf' allowed for fixed_confidence)",
    ),
    ("--threshold", "threshold", "float", "latent readout threshold κ* (default 1)"),
    ("--lr", "lr", "float", "learning rate"),
    ("--momentum", "momentum", "float", "momentum μ (optimizer momentum)"),
    ("--epochs", "epochs", "int", "number of epochs (gradient steps)"),
    ("--seed", "seed", "int", "seed of the initialisation, initial states and noise"),
    (
        "--checkpoint-every",
        "checkpoint_every",
        "int",
        f"keep the parameters every K epochs (default: epochs/{100})",
    ),
)
_CHOICES = (
    ("--model", "model", "rank1, lowrank or full (default rank1)"),
    ("--task", "task", "da, dcd, dmts, dcd-fig7 or dmts-fig5 (default da)"),
    ("--readout", "readout", "latent, latent_linear, population or fixed_confidence"),
    ("--output", "output", "readout function g: sigmoid or tanh"),
    ("--activation", "activation", "nonlinearity φ (default tanh)"),
    ("--optimizer", "optimizer", "sgd, momentum or adam (default sgd)"),
    ("--fc-update", "fixed_confidence_update", "projected (authors' code, default) or exact"),
    ("--preset", "preset", "a paper setting: fig3a, fig3b, fig4-dcd, …, fig8c"),
)


def _limits() -> dict:
    from ghostsym.numerics.spec import DIVERGENCE_BOUND
    from ghostsym.training import config as c

    return {
        "epochs": c.MAX_EPOCHS,
        "neurons": c.MAX_NEURONS,
        "steps": c.MAX_TRIAL_STEPS,
        "trials": c.MAX_TRIALS,
        "checkpoints": c.MAX_CHECKPOINTS,
        "memory": f"{c.MAX_MEMORY / 2**30:g} GiB",
        "bound": DIVERGENCE_BOUND,
    }


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train an RNN on DA, DCD or DMTS (resumable run directory)",
        description=(
            "Train a rank-one, rank-K or full-rank RNN on the delayed-activation, "
            "delayed-cue-discrimination or delayed-match-to-sample task. The run directory "
            "holds config.json, params_init.npz, params_final.npz, history.npz (loss, "
            "grad_norm, accuracy per epoch), checkpoints/ and training.png; a killed run "
            "continues with --resume."
        ),
        epilog=lambda: (  # formatted when --help is shown (keeps `ghostsym --help` fast)
            "--out DIR must be new, empty, or a run directory ghostsym wrote (marked by "
            ".ghostsym.json); ghostsym never writes into a directory of yours or into a "
            "sweep's results. A new run into a directory that already holds one is refused: "
            "continue it with --resume (bit-identical to an uninterrupted run; the "
            "configuration comes from DIR/config.json, checked against the saved arrays) or "
            "choose a new --out. One process at a time trains into a directory (DIR/.lock). "
            "Sizes are limited before anything is allocated: at most {epochs:,} epochs, "
            "{neurons:,} neurons, {steps:,} steps per trial, {trials:,} trials per epoch, "
            "{checkpoints:,} checkpoints and about {memory} of memory; --allow-large lifts "
            "these limits. A run whose loss or gradient is not finite, or whose parameters "
            "or states leave ±{bound:g}, stops as diverged at that epoch."
        ).format(**_limits()),
    )
    for flag, dest, help_text in _CHOICES:
        parser.add_argument(flag, dest=dest, default=None, metavar="NAME", help=help_text)
    for flag, dest, _kind, help_text in _NUMBERS:
        parser.add_argument(flag, dest=dest, default=None, metavar="X", help=help_text)
    parser.add_argument(
        "--train-confidence",
        action="store_true",
        default=None,
        help="make the latent readout's c trainable",
    )
    parser.add_argument(
        "--train-threshold",
        action="store_true",
        default=None,
        help="make the latent readout's κ* trainable",
    )
    parser.add_argument(
        "--checkpoints",
        default=None,
        metavar="E1,E2,…",
        help="epochs whose parameters are kept (besides --checkpoint-every)",
    )
    parser.add_argument(
        "--intervene",
        dest="interventions",
        action="append",
        default=None,
        metavar="EPOCH:c=VALUE[:reset]",
        help="set a readout constant at an epoch (repeatable), e.g. 10000:c=1; "
        "':reset' also resets the optimiser state",
    )
    parser.add_argument(
        "--grad-norm",
        default=None,
        metavar="P1,P2",
        help="parameters of the recorded gradient norm (default: all trainable)",
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="run directory (default: ./runs/train-<model>-<task>-<time>)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out DIR from its last saved state",
    )
    parser.add_argument(
        "--allow-large",
        action="store_true",
        help="lift the size limits (epochs, neurons, steps, trials, checkpoints, memory)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def _number(flag: str, text: str, kind: str):
    try:
        value = int(text) if kind == "int" else float(text)
    except ValueError:
        raise InputError(
            f"{flag}: not {'an integer' if kind == 'int' else 'a number'}: {text!r}"
        ) from None
    if kind == "float" and math.isnan(value):
        raise InputError(f"{flag}: not a number: {text!r}")
    if kind == "float" and math.isinf(value) and flag != "--confidence":
        raise InputError(f"{flag} must be finite, got {text!r}")
    if kind == "int" and value < 0:
        raise InputError(f"{flag} must be >= 0, got {value}")
    return value


def _options(args) -> dict:
    options = {}
    for _flag, dest, _help in _CHOICES:
        if getattr(args, dest) is not None:
            options[dest] = getattr(args, dest)
    for flag, dest, kind, _help in _NUMBERS:
        text = getattr(args, dest)
        if text is not None:
            options[dest] = _number(flag, text, kind)
    if options.get("epochs") == 0:
        raise InputError("--epochs must be > 0")
    for dest in ("train_confidence", "train_threshold"):
        if getattr(args, dest):
            options[dest] = True
    if args.checkpoints is not None:
        options["checkpoints"] = [
            _number("--checkpoints", e, "int") for e in args.checkpoints.split(",") if e
        ]
    if args.interventions is not None:
        options["interventions"] = list(args.interventions)
    if args.grad_norm is not None:
        options["grad_norm"] = [p for p in args.grad_norm.split(",") if p]
    return options


def run(args) -> int:
    from ghostsym import training

    options = _options(args)
    progress = not args.no_progress  # True: a bar counting epochs (progress.as_meter)
    if args.resume:
        if args.out is None:
            raise InputError("--resume needs --out DIR (the run to continue)")
        if options:
            flags = ", ".join(sorted(options))
            raise InputError(
                f"--resume takes the configuration from {args.out}/config.json; "
                f"do not also pass options ({flags})"
            )
        out = Path(args.out)
        result = training.run_training(
            None, out, resume=True, progress=progress, allow_large=args.allow_large
        )
    else:
        if "checkpoint_every" not in options and "checkpoints" not in options:
            epochs = options.get("epochs")
            if epochs is None and options.get("preset") in training.PRESETS:
                epochs = training.PRESETS[options["preset"]].get("epochs")
            epochs = epochs or training.TrainingConfig.epochs
            options["checkpoint_every"] = max(1, epochs // training.DEFAULT_CHECKPOINTS)
        config = training.build_config(allow_large=args.allow_large, **options)
        if args.out is None:
            kind = options.get("model", "rank1")
            stamp = time.strftime("%Y%m%d-%H%M%S")
            out = Path("runs") / f"train-{kind}-{config.task.name}-seed{config.seed}-{stamp}"
        else:
            out = Path(args.out)
        result = training.run_training(config, out, progress=progress)
    history = result.history
    print(
        f"trained {result.config.epochs} epochs in {result.seconds:.1f} s: "
        f"loss {history['loss'][0]:.4g} -> {history['loss'][-1]:.4g}, "
        f"accuracy {history['accuracy'][0]:.3f} -> {history['accuracy'][-1]:.3f}"
    )
    print(f"run directory: {out}")
    return 0
