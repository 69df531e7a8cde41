"""Pretrain a global face encoder on many identities, evaluate it on held-out identities, publish it.

Examples:
    facezoo pretrain --corpus synthetic:10000 --encoder mobilenet-face --size 64 --steps 2000 \\
        --heads conditioned --holdout 50 --run runs/pre
    facezoo pretrain --corpus /data/vggface2/train --aligned --encoder effnet-face-v2 --steps 100000 \\
        --batch-size 64 --run runs/vgg --distribute data-parallel --publish team/effnet-vgg --tag v1
    facezoo pretrain --run runs/pre --resume --steps 4000        # continue a killed or finished run
    facezoo pretrain --corpus folder:/data/people --steps 5000 --identity-loss arcface:weight=0.5 \\
        --min-photos 3 --run runs/arc      # reconstruction + an ArcFace identity head on people with >= 3 photos

Corpus specs: synthetic:N, folder:ROOT (ROOT/<identity>/*.jpg), celeba:ROOT, flat:ROOT (no identities),
tar:/path/shard-{000000..000009}.tar (WebDataset shards), lfw:ROOT[:split=devtrain|devtest|all][:people=N]
(Labeled Faces in the Wild; with devtrain, --holdout K evaluates on K DevTest people and the LFW View 1
score is added). Faces that are not aligned to facezoo's template (no --aligned) are extracted once into
RUN/aligned-cache/ (LFW: into one shared cache in $FACEZOO_HOME/aligned/).
"""
from __future__ import annotations

import json

from recipes._common import add_hub_argument, main_for, train_or_say_how_to_resume


def add_arguments(parser) -> None:
    parser.add_argument("--corpus", action="append", default=None,
                        help="corpus spec: synthetic:N, folder:ROOT, celeba:ROOT, utkface:ROOT, lfw:ROOT[:split=S], "
                             "flat:ROOT, tar:PATTERN, or a path (required unless --resume); repeat it to train on "
                             "several corpora as one (LFW DevTest people are left out of a combination)")
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
    parser.add_argument("--lfw-eval-every", type=int, default=0, metavar="STEPS",
                        help="also score LFW View 1 every STEPS steps while training, into RUN/lfw_view1.json|png "
                             "(is more training still helping?); 0: at the end only (default)")
    parser.add_argument("--teacher", default="none", metavar="none|dlib[:weight=W]",
                        help="distil a teacher's face embedding beside reconstruction (dlib needs the judge "
                             "extra: pip install -e \".[judge]\"); its labels are cached in FACEZOO_HOME")
    parser.add_argument("--identity-loss", default="none", metavar="none|arcface[:weight=W,margin=M,scale=S]",
                        help="also train the encoder to name each face's identity: an ArcFace (additive angular "
                             "margin) head over the training identities on its pooled features, not part of the "
                             "released encoder; weight W beside reconstruction (default 1), margin M radians "
                             "(0.5), logit scale S (30). Needs labelled identities (folder:, celeba:, lfw:, "
                             "tar:, synthetic:), not flat:/utkface:")
    parser.add_argument("--min-photos", type=int, default=0, metavar="K",
                        help="train only on identities with at least K photos (held-out identities are "
                             "unaffected; 0: all); recorded in the run and the release card")
    parser.add_argument("--teacher-processes", type=int, default=1, metavar="N",
                        help="processes that label photos for --teacher (about 3-4 faces/s each)")
    parser.add_argument("--drop-lfw-devtest", default=None, metavar="LFW_ROOT",
                        help="leave out photos whose dlib embedding matches an LFW DevTest person (for corpora "
                             "without LFW names: celeba:, utkface:); needs the judge extra")
    parser.add_argument("--lr", type=float, default=2e-4, help="learning rate")
    parser.add_argument("--code-dim", type=int, default=64, help="conditioned head: identity code size")
    parser.add_argument("--decoder-width", type=int, default=128, help="decoder width")
    parser.add_argument("--checkpoint-every", type=int, default=100, help="steps between checkpoints")
    parser.add_argument("--chunk", type=int, default=10, help="steps per logged loss")
    parser.add_argument("--seed", type=int, default=0, help="data and weight seed")
    parser.add_argument("--workers", type=int, default=None,
                        help="data worker processes (default: one per core but one; 0: in the trainer's process)")
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


def run(args) -> int:
    if isinstance(args.corpus, list):
        from zoo.data.corpora.combined import SEPARATOR
        args.corpus = SEPARATOR.join(args.corpus)
    from pathlib import Path

    if args.virtual_devices and args.virtual_devices > 1:
        from zoo.pretrain import setup_virtual_devices
        setup_virtual_devices(args.virtual_devices)
    from zoo import pretrain as P
    from zoo.distribute import WorkerLostError

    run_dir = Path(args.run)

    def train(trainer, total):
        try:
            return train_or_say_how_to_resume(trainer, total, quiet=args.quiet,
                                              resume_command=f"facezoo pretrain --run {run_dir} --resume --steps "
                                                             f"{total}")
        except WorkerLostError as exc:
            _abort(exc)

    finish = dict(eval_steps=args.eval_steps, eval_images=args.eval_images, lfw_eval=args.lfw_eval,
                  lfw_max_pairs=args.lfw_max_pairs, publish=args.publish, tag=args.tag, hub=args.hub,
                  distribute=args.distribute, train=train, workers=args.workers,
                  teacher_processes=args.teacher_processes, lfw_eval_every=args.lfw_eval_every)
    if args.resume:
        result = P.resume_pretrain(run_dir, steps=args.steps, corpus_spec=args.corpus, aligned=args.aligned,
                                   **finish)
    else:
        from zoo.distil import parse_teacher
        from zoo.pretrain.identity import parse_identity_loss
        teacher, weight = parse_teacher(args.teacher)
        identity = parse_identity_loss(args.identity_loss)
        config = P.PretrainConfig(steps=1000 if args.steps is None else args.steps, batch_size=args.batch_size,
                                  size=args.size, heads=args.heads, learning_rate=args.lr, code_dim=args.code_dim,
                                  decoder_width=args.decoder_width, checkpoint_every=args.checkpoint_every,
                                  chunk=args.chunk, seed=args.seed, teacher=teacher, teacher_weight=weight or 1.0,
                                  min_photos=args.min_photos, **identity)
        result = P.pretrain(config, run_dir=run_dir, corpus_spec=args.corpus, aligned=args.aligned,
                            encoder=args.encoder, parent=args.parent, holdout=args.holdout,
                            drop_devtest=args.drop_lfw_devtest, **finish)
    if result is None:
        return 130
    if "worker" in result:
        return 0
    from zoo.runs import disk_usage, format_bytes
    print(f"run folder: {run_dir}: {format_bytes(disk_usage(run_dir))} on disk")
    print(json.dumps({"metrics": result["metrics"], "run": str(run_dir)}))
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
