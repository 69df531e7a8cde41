"""Pretrain a global face encoder on many identities, evaluate it on held-out identities, publish it.

Examples:
    facezoo pretrain --corpus synthetic:10000 --encoder mobilenet-face --size 64 --steps 2000 \\
        --heads conditioned --holdout 50 --run runs/pre
    facezoo pretrain --corpus /data/vggface2/train --aligned --encoder effnet-face-v2 --steps 100000 \\
        --batch-size 64 --run runs/vgg --distribute data-parallel --publish team/effnet-vgg --tag v1
    facezoo pretrain --run runs/pre --resume --steps 4000        # continue a killed or finished run

Corpus specs: synthetic:N, folder:ROOT (ROOT/<identity>/*.jpg), celeba:ROOT, flat:ROOT (no identities),
tar:/path/shard-{000000..000009}.tar (WebDataset shards), lfw:ROOT[:split=devtrain|devtest|all][:people=N]
(Labeled Faces in the Wild; with devtrain, --holdout K evaluates on K DevTest people and the LFW View 1
score is added). Faces that are not aligned to facezoo's template (no --aligned) are extracted once into
RUN/aligned-cache/ (LFW: into one shared cache in $FACEZOO_HOME/aligned/).
"""
from __future__ import annotations

import json
import logging
import time

from recipes._common import UserError, add_hub_argument, main_for, train_or_say_how_to_resume

log = logging.getLogger("facezoo.pretrain")


def add_arguments(parser) -> None:
    parser.add_argument("--corpus", default=None, help="corpus spec: synthetic:N, folder:ROOT, celeba:ROOT, "
                        "flat:ROOT, tar:PATTERN, or a path (required unless --resume)")
    parser.add_argument("--encoder", default="mobilenet-face",
                        help="encoder architecture from the registry (random init); see `facezoo encoders list`")
    parser.add_argument("--parent", default=None,
                        help="start from a pretrained encoder instead (registry name, hub repo or path); "
                             "recorded as the release's parent")
    parser.add_argument("--steps", type=int, default=None,
                        help="total training steps (default 1000; with --resume: the run's own)")
    parser.add_argument("--size", type=int, default=64, help="face size in pixels")
    parser.add_argument("--batch-size", type=int, default=16, help="global batch size")
    parser.add_argument("--heads", choices=("bank", "conditioned"), default="conditioned",
                        help="bank: one decoder per identity (tens); conditioned: one shared decoder + a "
                             "per-identity FiLM code (thousands)")
    parser.add_argument("--run", required=True, help="run folder (checkpoints, losses, encoder.keras, pretrain.json)")
    parser.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    parser.add_argument("--aligned", action="store_true",
                        help="the corpus is already aligned to facezoo's template (else extract it once)")
    parser.add_argument("--holdout", type=int, default=8,
                        help="hold out the last K identities (by sorted id) for evaluation; 0: no evaluation")
    parser.add_argument("--eval-steps", type=int, default=100,
                        help="steps of each held-out identity's fresh decoder in the transfer score (0: skip)")
    parser.add_argument("--eval-images", type=int, default=12, help="train faces per held-out identity")
    parser.add_argument("--lfw-eval", default=None, metavar="ROOT|none",
                        help="also score LFW View 1 verification (zoo.verification) on this LFW folder; default: "
                             "the corpus' own root when it is lfw:ROOT, else none")
    parser.add_argument("--lfw-max-pairs", type=int, default=None, metavar="N",
                        help="score only N matched + N mismatched pairs of each LFW list (a quick check, not "
                             "LFW's score; recorded as lfw_view1_subset_accuracy)")
    parser.add_argument("--lr", type=float, default=2e-4, help="learning rate")
    parser.add_argument("--code-dim", type=int, default=64, help="conditioned head: identity code size")
    parser.add_argument("--decoder-width", type=int, default=128, help="decoder width")
    parser.add_argument("--checkpoint-every", type=int, default=100, help="steps between checkpoints")
    parser.add_argument("--chunk", type=int, default=10, help="steps per logged loss")
    parser.add_argument("--seed", type=int, default=0, help="data and weight seed")
    parser.add_argument("--distribute", choices=("data-parallel",), default=None,
                        help="data parallelism over the local devices: keras.distribution.DataParallel "
                             "(JAX) or tf.distribute.MirroredStrategy (TensorFlow); across processes "
                             "when KERAS_DISTRIBUTION_NUM_PROCESSES (JAX) or TF_CONFIG (TensorFlow) says "
                             "so (docs/pretraining.md)")
    parser.add_argument("--virtual-devices", type=int, default=0,
                        help="split the CPU into N devices (test data parallelism without GPUs)")
    parser.add_argument("--publish", default=None, metavar="REPO", help="publish the encoder to this hub repo")
    parser.add_argument("--tag", default=None, help="release tag for --publish")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress line (errors still print)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log more")
    add_hub_argument(parser)


def _open(args, run_dir, size):
    from zoo.data.corpus import ensure_aligned, open_corpus
    from zoo.pretrain import ALIGNED_CACHE

    corpus = open_corpus(args.corpus, aligned=args.aligned)
    if not corpus.aligned:
        # LFW's photos are one fixed set: every run shares one alignment cache in $FACEZOO_HOME.
        cache = None if corpus.kind == "lfw" else run_dir / ALIGNED_CACHE
        log.info("corpus %s is not aligned: aligning it once (cache: %s)", args.corpus, cache or "shared")
        corpus = ensure_aligned(corpus, cache, size)
    return corpus


def run(args) -> int:
    from pathlib import Path

    if args.virtual_devices and args.virtual_devices > 1:
        from zoo.pretrain import setup_virtual_devices
        setup_virtual_devices(args.virtual_devices)
    import keras

    import zoo
    from zoo import pretrain as P
    from zoo.io import write_json

    run_dir = Path(args.run)
    if args.resume:
        state = P.read_state(run_dir)
        meta = state["meta"]
        config = P.PretrainConfig.from_state(state, args.steps)
        args.corpus = args.corpus or meta["corpus_spec"]
        args.aligned = args.aligned or meta.get("aligned", False)
        if args.corpus != meta["corpus_spec"]:
            raise UserError(f"--resume: run {run_dir} trains on {meta['corpus_spec']!r}, not {args.corpus!r}.")
        holdout = int(meta["holdout"])
    else:
        if not args.corpus:
            raise UserError("--corpus is required (e.g. --corpus synthetic:1000); see `facezoo pretrain --help`.")
        if (run_dir / P.STATE).exists():
            raise UserError(f"run folder {run_dir} already holds a run; pass --resume to continue it, "
                            "or choose another --run.")
        args.steps = 1000 if args.steps is None else args.steps
        if args.steps < 1 or args.batch_size < 1:
            raise UserError(f"--steps and --batch-size must be >= 1. Received: {args.steps}, {args.batch_size}")
        config = P.PretrainConfig(steps=args.steps, batch_size=args.batch_size, size=args.size, heads=args.heads,
                                  learning_rate=args.lr, code_dim=args.code_dim, decoder_width=args.decoder_width,
                                  checkpoint_every=args.checkpoint_every, chunk=args.chunk, seed=args.seed)
        holdout = int(args.holdout)
    corpus = _open(args, run_dir, config.size)
    if holdout and corpus.num_identities <= holdout:
        raise UserError(f"--holdout {holdout} leaves no training identity: {args.corpus!r} has "
                        f"{corpus.num_identities} identities.")
    sampler = corpus.sampler(config.batch_size, config.size, holdout=holdout, seed=config.seed)
    keras.utils.set_random_seed(config.seed)
    started = time.perf_counter()
    if args.resume:
        trainer = P.Pretrainer.resume(run_dir, sampler, steps=config.steps,
                                      distribute=args.distribute)
        print(f"resumed {run_dir} at step {trainer.step}")
    else:
        parent = args.parent

        def build():
            if parent:
                encoder = zoo.load_encoder(parent, trainable=True, hub=args.hub)
                if int(encoder.input_shape[1]) != config.size:
                    raise UserError(f"--parent {parent} takes {encoder.input_shape[1]} px faces; pass "
                                    f"--size {encoder.input_shape[1]}.")
            else:
                encoder = zoo.build_encoder(args.encoder, input_size=config.size)
            return P.build_pretrain_model(encoder, corpus.num_identities, heads=config.heads, size=config.size,
                                          code_dim=config.code_dim, film_scales=config.film_scales,
                                          decoder_width=config.decoder_width, inter=config.inter,
                                          inter_channels=config.inter_channels, bottleneck=config.bottleneck)

        meta = {"corpus_spec": args.corpus, "aligned": bool(args.aligned), "holdout": holdout,
                "encoder": None if parent else args.encoder, "parent": parent,
                "corpus": corpus.summary(), "sampler": sampler.describe()}
        trainer = P.Pretrainer.create(build, sampler, run_dir, config, meta, distribute=args.distribute)
    memory = P.memory_per_identity(trainer.model, trainer.model.optimizer)
    print(f"{corpus.num_identities} identities ({holdout} held out), heads={config.heads}: "
          f"{memory['total_bytes']} bytes per identity (params + {memory['optimizer_slots']} optimizer slots)")
    from zoo.distribute import WorkerLostError
    try:
        state = train_or_say_how_to_resume(trainer, config.steps, quiet=args.quiet,
                                           resume_command=f"facezoo pretrain --run {run_dir} --resume --steps "
                                                          f"{config.steps}")
    except WorkerLostError as exc:
        _abort(exc)
    if state is None:
        return 130
    print(f"trained to step {state['step']} in {time.perf_counter() - started:.1f} s; last loss "
          f"{state['losses'][-1][1] if state['losses'] else float('nan'):.4f}")

    encoder = trainer.encoder
    cluster = trainer.cluster
    if cluster is not None and cluster.multi:
        from zoo.distribute import local_copy, shutdown_jax
        encoder = P.find_encoder(local_copy(trainer.model))  # plain local weights: the chief goes on alone
        shutdown_jax()
        if not cluster.is_chief:
            print(f"worker {cluster.process_id} of {cluster.num_processes} done; the chief (process 0) writes "
                  f"the encoder, the evaluation and the release")
            return 0
    P.save_encoder(encoder, run_dir / P.ENCODER)
    metrics = {}
    if holdout and args.eval_steps > 0:
        _, held = corpus.split(holdout)
        metrics = P.evaluate_encoder(encoder, corpus, held, config.size, eval_steps=args.eval_steps,
                                     train_images=args.eval_images, seed=config.seed)
        print(f"held-out evaluation on {metrics['heldout_identities']} identities: transfer SSIM "
              f"{metrics['transfer_ssim']:.4f}, linear probe accuracy {metrics['probe_accuracy']:.3f} "
              f"(chance {metrics['probe_chance']:.3f})")
    lfw_root = args.lfw_eval or (getattr(corpus, "root", None) if corpus.kind == "lfw" else None)
    if lfw_root and str(lfw_root) != "none":
        from zoo.verification import lfw_verification
        lfw = lfw_verification(encoder, lfw_root, view=1, max_pairs=args.lfw_max_pairs)
        key = "lfw_view1_subset_accuracy" if lfw["subset"] else "lfw_view1_accuracy"
        metrics[key] = lfw["accuracy"]
        print(f"LFW View 1 verification accuracy: {100 * lfw['accuracy']:.2f}% ({lfw['pairs']} DevTest pairs"
              f"{', a subset' if lfw['subset'] else ''})")
    losses = state["losses"]
    meta = state["meta"]
    result = {"step": state["step"], "config": config.to_dict(), "corpus": meta["corpus"],
              "holdout": holdout, "metrics": metrics, "memory_per_identity": memory,
              "final_loss": losses[-1][1] if losses else None, "train_seconds": state["seconds"],
              "encoder": str(run_dir / P.ENCODER), "parent": meta.get("parent"),
              "backend": keras.backend.backend(), "distribute": args.distribute}
    if args.publish:
        import hub
        metadata = P.release_metadata(
            encoder, encoder_name=meta.get("encoder"), corpus_summary=meta["corpus"], config=config,
            metrics={**metrics, "final_train_loss": result["final_loss"] or float("nan")}, parent=meta.get("parent"),
            extra_training={"holdout_identities": holdout, "identity_heads": config.heads,
                            "bytes_per_identity": memory["total_bytes"], "backend": keras.backend.backend()})
        release = hub.publish(encoder, args.publish, tag=args.tag, hub=args.hub, metadata=metadata,
                              message=f"facezoo pretrain: {state['step']} steps on {meta['corpus']['name']}")
        result["release"] = {"repo_id": release.repo_id, "revision": release.revision, "tag": release.tag}
        print(f"published {release.repo_id}@{release.tag or 'main'} -> commit {release.revision}")
    write_json(run_dir / P.RESULT, result)
    from zoo.runs import disk_usage, format_bytes
    print(f"run folder: {run_dir}: {format_bytes(disk_usage(run_dir))} on disk")
    print(json.dumps({"metrics": metrics, "run": str(run_dir)}))
    return 0


def _abort(exc) -> None:
    """Print a lost-worker error and exit at once: the engines' exit handlers would wait for the dead
    peer (JAX's shutdown barrier, up to its heartbeat timeout) before the job could fail."""
    import os
    import sys
    print(f"facezoo: error: {exc}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(3)


def main():
    main_for(__name__, add_arguments, run)


if __name__ == "__main__":
    main()
