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

# (flag, option name, converter, metavar, help); the default is added by _help (the value of
# the default run, --model rank1 --task da without a preset).
_NUMBERS = (
    ("--rank", "rank", "int", "K", "rank K of W = U Vᵀ, with --model lowrank"),
    ("--neurons", "neurons", "int", "N", "number of neurons N"),
    ("--delay", "delay", "int", "STEPS", "DA: T steps of 0 then T of 1; DCD/DMTS: delay steps"),
    ("--cue", "cue", "int", "STEPS", "DCD/DMTS cue-window steps"),
    ("--response", "response", "int", "STEPS", "DCD/DMTS response-window steps"),
    ("--trials-per-condition", "trials_per_condition", "int", "N", "batch = N × conditions"),
    ("--rate-sd", "rate_sd", "float", "SD", "σ_fr of random initial states r₀ = tanh(σ_fr ζ)"),
    ("--noise", "noise_sd", "float", "SD", "σ of the noise inside φ"),
    ("--initial-state", "initial_state", "float", "X0", "constant initial state"),
    ("--alpha", "alpha", "float", "ALPHA", "Euler leak Δt/τ"),
    (
        "--confidence",
        "confidence",
        "float",
        "C",
        "readout confidence c; 'inf' allowed for fixed_confidence",
    ),
    ("--threshold", "threshold", "float", "KAPPA", "latent readout threshold κ*"),
    ("--lr", "lr", "float", "LR", "learning rate"),
    ("--momentum", "momentum", "float", "MU", "momentum μ of --optimizer momentum"),
    ("--natgrad-rank", "natgrad_rank", "int", "K", "rank k of the natgrad preconditioner"),
    ("--natgrad-damping", "natgrad_damping", "float", "LAMBDA", "damping λ of natgrad"),
    (
        "--natgrad-refresh",
        "natgrad_refresh",
        "int",
        "EPOCHS",
        "natgrad: epochs between recomputations of the output Jacobian",
    ),
    ("--epochs", "epochs", "int", "EPOCHS", "number of epochs (gradient steps)"),
    ("--seed", "seed", "int", "SEED", "seed of the initialisation, initial states and noise"),
    ("--checkpoint-every", "checkpoint_every", "int", "K", "keep the parameters every K epochs"),
)
# (flag, option name, metavar, help)
_CHOICES = (
    ("--model", "model", "MODEL", "rank1, lowrank or full"),
    ("--task", "task", "TASK", "da, dcd, dmts, dcd-fig7 or dmts-fig5"),
    ("--readout", "readout", "READOUT", "latent, latent_linear, population or fixed_confidence"),
    ("--output", "output", "G", "readout function g: sigmoid or tanh"),
    ("--activation", "activation", "PHI", "nonlinearity φ, e.g. tanh"),
    ("--optimizer", "optimizer", "OPT", "sgd, momentum, adam or natgrad (docs/sntk.md §6)"),
    ("--fc-update", "fixed_confidence_update", "MODE", "projected (authors' code) or exact"),
    ("--dtype", "dtype", "DTYPE", "float64, or float32 (the authors' precision)"),
    ("--preset", "preset", "PRESET", "a paper setting"),
)

#: The --out default, as the help shows it (run() builds the same name).
OUT_PATTERN = "./runs/train-<model>-<task>-seed<seed>-<YYYYmmdd-HHMMSS>"


def _defaults() -> dict:
    """Flat option -> value of the default run (no options), and the preset names."""
    from ghostsym import training

    config = training.build_config().to_dict()
    flat = {**config["model"], **config["task"], **config}
    flat["model"], flat["task"] = "rank1", "da"
    for name in ("natgrad_rank", "natgrad_damping", "natgrad_refresh"):
        flat.setdefault(name, getattr(training.TrainingConfig, name))
    flat["checkpoint_every"] = (
        f"EPOCHS/{training.DEFAULT_CHECKPOINTS}, i.e. {training.DEFAULT_CHECKPOINTS} checkpoints"
    )
    flat["preset"] = "none; one of " + ", ".join(training.PRESETS)
    return flat


def _help(dest: str, text: str):
    """The help of one option with its default, formatted when --help is shown."""

    def lazy():
        value = _defaults()[dest]
        if dest == "preset":
            return f"{text} (default: {value}); --show-config prints what it sets"
        if dest == "readout":
            value = (
                f"{value} for rank1 on DA, latent_linear for low rank on DCD/DMTS, else population"
            )
        elif dest == "output":
            value = f"{value} with the latent readout, else the task's: tanh on DCD"
        elif dest in ("delay", "cue", "response", "initial_state"):
            what = "the task's" if dest == "initial_state" else "the task's timing"
            value = f"{value:g} on DA, else {what}"
        elif isinstance(value, float):
            value = f"{value:g}"
        return f"{text} (default: {value})".replace("%", "%%")

    return lazy


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
            "continues with --resume. The defaults shown are those of a run without --preset "
            "(rank1 on DA); --show-config prints the configuration any options resolve to."
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
    for flag, dest, metavar, help_text in _CHOICES:
        action = parser.add_argument(flag, dest=dest, default=None, metavar=metavar)
        action.help = _help(dest, help_text)  # formatted by Parser.format_help
    for flag, dest, _kind, metavar, help_text in _NUMBERS:
        action = parser.add_argument(flag, dest=dest, default=None, metavar=metavar)
        action.help = _help(dest, help_text)  # formatted by Parser.format_help
    parser.add_argument(
        "--train-confidence",
        action="store_true",
        default=None,
        help="make the latent readout's c trainable (default: fixed)",
    )
    parser.add_argument(
        "--train-threshold",
        action="store_true",
        default=None,
        help="make the latent readout's κ* trainable (default: fixed)",
    )
    parser.add_argument(
        "--checkpoints",
        default=None,
        metavar="E1,E2,…",
        help="epochs whose parameters are kept, besides --checkpoint-every (default: none)",
    )
    parser.add_argument(
        "--intervene",
        dest="interventions",
        action="append",
        default=None,
        metavar="EPOCH:c=VALUE[:reset]",
        help="set a readout constant at an epoch (repeatable), e.g. 10000:c=1; "
        "':reset' also resets the optimiser state (default: none)",
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
        help=f"run directory (default: {OUT_PATTERN})",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out DIR from its last saved state (default: a new run)",
    )
    parser.add_argument(
        "--show-config",
        "--dry-run",
        dest="show_config",
        action="store_true",
        help="print the resolved configuration (config.json of the run these options would "
        "start) as JSON and exit: nothing is trained and --out is not created",
    )
    parser.add_argument(
        "--allow-large",
        action="store_true",
        help="lift the size limits (epochs, neurons, steps, trials, checkpoints, memory; "
        "default: limited, see below)",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (default: a bar on stderr)"
    )
    parser.add_argument(
        "--backend",
        choices=("cpu", "cuda", "auto"),
        default="cpu",
        help="engine: cpu (default), cuda (an NVIDIA GPU, docs/gpu.md) or auto (cuda when a "
        "device is present)",
    )
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
    for _flag, dest, _metavar, _text in _CHOICES:
        if getattr(args, dest) is not None:
            options[dest] = getattr(args, dest)
    for flag, dest, kind, _metavar, _text in _NUMBERS:
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
        if args.show_config:
            raise InputError(
                "--show-config prints a new run's configuration; the run to resume has its "
                f"own in {args.out}/config.json"
            )
        out = Path(args.out)
        result = training.run_training(
            None,
            out,
            resume=True,
            progress=progress,
            allow_large=args.allow_large,
            backend=args.backend,
        )
    else:
        preset = training.PRESETS.get(options.get("preset"), {})
        if "checkpoint_every" not in options and "checkpoints" not in options:
            epochs = options.get("epochs") or preset.get("epochs")
            epochs = epochs or training.TrainingConfig.epochs
            options["checkpoint_every"] = max(1, epochs // training.DEFAULT_CHECKPOINTS)
        config = training.build_config(allow_large=args.allow_large, **options)
        if args.show_config:
            from ghostsym.io import json_text

            print(json_text(config.to_dict()), end="")
            return 0
        if args.out is None:
            kind = options.get("model", preset.get("model", "rank1"))
            stamp = time.strftime("%Y%m%d-%H%M%S")
            out = Path("runs") / f"train-{kind}-{config.task.name}-seed{config.seed}-{stamp}"
        else:
            out = Path(args.out)
        result = training.run_training(config, out, progress=progress, backend=args.backend)
    history = result.history
    print(
        f"trained {result.config.epochs} epochs in {result.seconds:.1f} s: "
        f"loss {history['loss'][0]:.4g} -> {history['loss'][-1]:.4g}, "
        f"accuracy {history['accuracy'][0]:.3f} -> {history['accuracy'][-1]:.3f}"
    )
    print(f"run directory: {out}")
    return 0
