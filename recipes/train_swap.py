"""Train a face-swap pair (or a few dozen identities) on a shared encoder, unfreezing it in stages.

The encoder comes from the hub (`--encoder effnet-face-v2`, a `name@tag`, a repo id or a `.keras`
path) or is built from scratch (`--encoder-weights none`). One decoder per identity is attached, and
the schedule decides when the encoder's blocks start to train.

Examples:
  facezoo train --encoder effnet-face-v2 --a faces/alice --b faces/bob --run runs/ab \\
      --schedule "frozen; top2@plateau; all@plateau" --steps 5000 --size 128
  facezoo train --run runs/ab --resume --steps 8000
  facezoo train --encoder mobilenet-face --encoder-weights none --a A --b B --run runs/scratch \\
      --schedule all

Schedule stages: frozen | all | topK | pattern:GLOB, each @STEP or @plateau[(window=W,threshold=T)]
with an optional :lr=MULT (encoder learning-rate multiplier). Or a TOML file (--schedule-file).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from recipes._common import UserError, add_hub_argument, main_for, train_or_say_how_to_resume

log = logging.getLogger("facezoo.train")
DEFAULT_BATCH = 8
DEFAULT_SEED = 0


def add_arguments(parser):
    data = parser.add_argument_group("data")
    data.add_argument("--a", metavar="DIR", help="aligned faces of identity A (a `facezoo extract` folder)")
    data.add_argument("--b", metavar="DIR", help="aligned faces of identity B")
    data.add_argument("--identity", action="append", default=[], metavar="NAME=DIR",
                      help="more identities (repeatable), for models with more than two decoders")
    data.add_argument("--workers", type=int, default=None,
                      help="data worker processes (default: one per core but one; 0: in the trainer's process)")
    model = parser.add_argument_group("model")
    model.add_argument("--encoder", default="effnet-face-v2",
                       help="registry name, name@revision, hub repo id, or .keras path (default: %(default)s)")
    model.add_argument("--encoder-weights", choices=("hub", "none"), default="hub",
                       help="'hub': load pretrained weights via zoo.load_encoder; 'none': random init")
    model.add_argument("--decoder-width", type=int, default=128, help="decoder width (default: %(default)s)")
    model.add_argument("--inter", choices=("dense", "conv", "none"), default="dense",
                       help="shared bottleneck kind (default: %(default)s)")
    add_hub_argument(model)
    train = parser.add_argument_group("training")
    train.add_argument("--run", required=True, metavar="DIR", help="run folder (checkpoints, previews, logs)")
    train.add_argument("--resume", action="store_true", help="continue the run in --run from its last checkpoint")
    train.add_argument("--schedule", default="frozen; top2@plateau; all@plateau",
                       help="freeze schedule (default: %(default)r)")
    train.add_argument("--schedule-file", metavar="TOML", help="freeze schedule as [[stage]] TOML tables")
    train.add_argument("--plateau-window", type=int, default=None, help="default plateau window, steps")
    train.add_argument("--plateau-threshold", type=float, default=None,
                       help="default plateau threshold: relative improvement between windows")
    train.add_argument("--steps", type=int, default=1000, help="total steps (default: %(default)s)")
    train.add_argument("--size", type=int, default=64, help="face size in pixels (default: %(default)s)")
    train.add_argument("--batch-size", type=int, default=None,
                       help=f"faces per identity per step (default: {DEFAULT_BATCH}; --resume keeps the run's)")
    train.add_argument("--lr", type=float, default=2e-4, help="learning rate (default: %(default)s)")
    train.add_argument("--checkpoint-every", type=int, default=200, help="steps between checkpoints")
    train.add_argument("--preview-every", type=int, default=100, help="steps between preview grids")
    train.add_argument("--log-every", type=int, default=10, help="steps per loss record (plateau resolution)")
    train.add_argument("--stage-switch", choices=("auto", "recompile", "switch"), default="auto",
                       help="how stages change: 'recompile' retraces the graph at each change (40 s to minutes "
                            "on a CPU), 'switch' compiles once and switches by variables (frozen steps cost "
                            "more); 'auto' takes the switch on short runs (default: %(default)s)")
    train.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                       help="mixed precision for GPUs (default: %(default)s)")
    train.add_argument("--seed", type=int, default=None,
                       help=f"data seed (default: {DEFAULT_SEED}; --resume keeps the run's)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress line (errors still print)")
    parser.add_argument("--verbose", action="store_true")


def identity_folders(args) -> dict[str, str]:
    folders = {}
    if args.a:
        folders["a"] = args.a
    if args.b:
        folders["b"] = args.b
    for item in args.identity:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise UserError(f"--identity takes NAME=DIR. Received: {item!r}")
        if name in folders:
            raise UserError(f"Identity {name!r} given twice.")
        folders[name] = folder
    for name, folder in folders.items():
        if Path(folder).is_file():
            raise UserError(f"--{name} {folder} is a file; training takes a folder of aligned faces. Extract "
                            f"them first: `facezoo extract {folder} -o faces/{name}`, then --{name} faces/{name}.")
        if not Path(folder).is_dir():
            raise UserError(f"Face folder for identity {name!r} does not exist: {folder}. Make one with "
                            "`facezoo extract PHOTOS_OR_VIDEO -o DIR`.")
    return folders


def set_precision(precision: str) -> None:
    import keras

    policy = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}[precision]
    keras.config.set_dtype_policy(policy)


def run(args) -> int:
    from zoo.refs import EncoderRef
    from zoo.schedule import trainable_label
    from zoo.training import TrainConfig, resume_pair, train_pair

    folders = identity_folders(args)
    run_dir = Path(args.run)
    set_precision(args.precision)
    if args.resume:
        if not (run_dir / "state.json").exists():
            raise UserError(f"--resume: no run to resume in {run_dir} (no state.json).")
        # The data stream comes from the run folder; the flags may only confirm it.
        trainer = resume_pair(run_dir, steps=args.steps, batch_size=args.batch_size, seed=args.seed,
                              folders=folders or None, workers=args.workers)
    else:
        if len(folders) < 2:
            raise UserError("Give at least two identities: --a DIR --b DIR (and --identity NAME=DIR).")
        if (run_dir / "state.json").exists():
            raise UserError(f"Run folder {run_dir} already holds a run; pass --resume to continue it or "
                            "choose another --run.")
        schedule = _schedule(args)
        encoder = EncoderRef.parse(args.encoder)   # the one parse of --encoder: the object goes down to the loader
        trainer = train_pair(
            encoder=encoder, folders=folders, run_dir=run_dir, schedule=schedule,
            size=args.size, batch_size=DEFAULT_BATCH if args.batch_size is None else args.batch_size,
            seed=DEFAULT_SEED if args.seed is None else args.seed, pretrained=args.encoder_weights == "hub",
            hub=args.hub, decoder_width=args.decoder_width, inter=args.inter,
            workers=args.workers,
            config=TrainConfig(steps=args.steps, learning_rate=args.lr, chunk=args.log_every,
                               checkpoint_every=args.checkpoint_every, preview_every=args.preview_every,
                               stage_switch=args.stage_switch),
            build_only=True)
    state = train_or_say_how_to_resume(trainer, args.steps, quiet=args.quiet,
                                       resume_command=f"facezoo train --run {run_dir} --resume --steps "
                                                      f"{args.steps or trainer.config.steps}")
    if state is None:  # Ctrl-C: the checkpoint and loss.png are written; say what is on disk, as at the end
        _disk_summary(run_dir)
        return 130
    print(f"trained {state['step']} steps; stages: " +
          ", ".join(f"{trainable_label(h['trainable'])}@{h['step']}({h['reason']})"
                    for h in state["stage_history"]))
    _disk_summary(run_dir)
    return 0


def _disk_summary(run_dir: Path) -> None:
    from zoo.runs import disk_usage, format_bytes
    print(f"run folder: {run_dir}  (model.keras, previews/, loss.png, losses.csv, logs/): "
          f"{format_bytes(disk_usage(run_dir))} on disk", flush=True)


def _schedule(args):
    from zoo.schedule import FreezeSchedule

    if args.schedule_file:
        return FreezeSchedule.from_toml(args.schedule_file)
    return FreezeSchedule.parse(args.schedule, window=args.plateau_window, threshold=args.plateau_threshold)


def main():
    main_for(__name__, add_arguments, run)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
