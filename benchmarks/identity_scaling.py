"""Does pretraining on more identities give a better encoder? Transfer score vs identity count.

For each N in --identities, pretrain the same encoder (conditioned head) on `synthetic:N` for the same
step budget, then score it on the same held-out identities (synthetic ids beyond every N, so never
trained on): a fresh decoder per held-out identity for --eval-steps steps, masked SSIM on unseen images
(transfer score), and a ridge probe on pooled features. An untrained encoder (N = 0) is the baseline.
Also times one training step at each N (the conditioned head's step cost should not grow with N).

Writes benchmarks/results/identity_scaling.{json,png}. The default budget runs in under 20 minutes on a
2-core CPU:

    python benchmarks/identity_scaling.py                       # N = 1, 16, 256, 4096; 250 steps, 32 px
    python benchmarks/identity_scaling.py --steps 20 --eval-steps 10 --identities 1 16 --holdout 3   # smoke
    python benchmarks/identity_scaling.py --corpus lfw:../shared/face_data/lfw --identities 16 128 1024 4038 \
        --size 64 --holdout 20                                  # real people: LFW DevTrain, scored on DevTest

With `--corpus lfw:ROOT`, N people are drawn (seeded) from LFW DevTrain, the held-out identities are the
most photographed DevTest people (never trained on), the LFW View 1 verification accuracy is added for
each N, and the results go to identity_scaling_lfw.{json,png}.

`--objective classify` is the diagnostic for a flat curve: the same encoder, sampler and step budget,
but trained to name each face's identity (softmax over the N people on the pooled features, the
objective of face-recognition encoders) instead of reconstructing it through a per-identity decoder
code. The conditioned head hands the decoder each identity through its code, so reconstruction never
asks the encoder to carry identity; classification does. `--tag` names the results file
(identity_scaling_lfw_TAG.json), so such runs sit beside the main curve.

`--objective distil` is facezoo's pretraining with a teacher (`facezoo pretrain --teacher dlib`): the
reconstruction objective plus dlib's 128-d embedding of each training photo through a projection head.

    python benchmarks/identity_scaling.py --corpus lfw:../shared/face_data/lfw --objective distil \
        --identities 16 128 1024 4038 --size 64 --holdout 20 --steps 1000 --tag distil
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run from a checkout


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identities", type=int, nargs="+", default=[1, 16, 256, 4096])
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--encoder", default="mobilenet-face")
    parser.add_argument("--holdout", type=int, default=6, help="held-out identities scored for every N")
    parser.add_argument("--eval-steps", type=int, default=50)
    parser.add_argument("--decoder-width", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--corpus", default="synthetic",
                        help="synthetic (default) or lfw:ROOT (DevTrain people; held out: DevTest people)")
    parser.add_argument("--objective", choices=("reconstruct", "classify", "distil"), default="reconstruct",
                        help="reconstruct: facezoo's pretraining (conditioned decoder); classify: softmax "
                             "over the training identities on pooled features (the diagnostic); distil: "
                             "reconstruction plus dlib's embedding of each photo (`facezoo pretrain --teacher "
                             "dlib`; lfw: only, needs the judge extra)")
    parser.add_argument("--teacher-weight", type=float, default=1.0, help="distil: the teacher loss's weight")
    parser.add_argument("--teacher-processes", type=int, default=2,
                        help="distil: processes labelling the photos (cached: a rerun labels nothing)")
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate (default: the pretrainer's for reconstruct, 1e-3 for classify)")
    parser.add_argument("--min-images", type=int, default=1,
                        help="lfw: draw only DevTrain people with at least this many aligned photos (71%% of "
                             "DevTrain people have one, which teaches a photo, not a person)")
    parser.add_argument("--tag", default="", help="results file suffix: identity_scaling[_lfw]_TAG.json")
    args = parser.parse_args(argv)

    import tempfile

    import keras

    import zoo
    from zoo.data.corpus import open_corpus
    from zoo.pretrain import (PretrainConfig, Pretrainer, build_pretrain_model, evaluate_encoder, find_encoder)


    lfw = args.corpus.startswith("lfw:")
    if args.objective == "distil" and not lfw:
        parser.error("--objective distil needs photos: --corpus lfw:ROOT (a synthetic face has no teacher label)")
    top = max(args.identities)
    if lfw:
        from zoo.data.corpus import ensure_aligned
        from zoo.verification import lfw_verification

        eval_corpus = ensure_aligned(open_corpus(args.corpus), None, args.size)
        train_all, held = eval_corpus.split(args.holdout)
        held = held.tolist()
        train_all = np.array([i for i in train_all if len(eval_corpus.files[i]) >= args.min_images])
        if top > len(train_all):
            parser.error(f"--identities {top}: {args.corpus} has {len(train_all)} DevTrain people with "
                         f"{args.min_images}+ aligned faces")
        draw = np.random.default_rng(args.seed).permutation(train_all)
    else:
        # One evaluation corpus: ids top .. top+holdout-1 are beyond every training range (ids 0..N-1).
        eval_corpus = open_corpus(f"synthetic:{top + args.holdout}:seed={args.seed}")
        held = list(range(top, top + args.holdout))
    rows = []

    def score(encoder):
        metrics = evaluate_encoder(encoder, eval_corpus, held, args.size, eval_steps=args.eval_steps, seed=args.seed)
        if lfw:
            metrics["lfw_view1_accuracy"] = lfw_verification(encoder, eval_corpus.root, view=1)["accuracy"]
        return metrics

    def training_data(n):
        if lfw:   # n DevTrain people, a seeded draw; the model has one identity code per corpus identity
            return eval_corpus, eval_corpus.num_identities, draw[:n]
        return open_corpus(f"synthetic:{n}:seed={args.seed}"), n, None   # = eval_corpus's first n identities

    keras.utils.set_random_seed(args.seed)
    t0 = time.perf_counter()
    baseline = score(zoo.build_encoder(args.encoder, input_size=args.size))
    rows.append({"identities": 0, "label": "untrained", **baseline})
    print(f"N=0 (untrained): transfer SSIM {baseline['transfer_ssim']:.4f}, probe {baseline['probe_accuracy']:.3f}"
          + (f", LFW View 1 {baseline['lfw_view1_accuracy']:.4f}" if lfw else ""), flush=True)
    for n in args.identities:
        keras.utils.set_random_seed(args.seed)
        corpus, codes, train_ids = training_data(n)
        lr = {"learning_rate": args.lr} if args.lr else {"learning_rate": 1e-3} if args.objective == "classify" else {}
        teacher = {"teacher": "dlib", "teacher_weight": args.teacher_weight} if args.objective == "distil" else {}
        config = PretrainConfig(steps=args.steps, batch_size=args.batch_size, size=args.size, chunk=10,
                                checkpoint_every=10 ** 9, decoder_width=args.decoder_width, seed=args.seed, **lr,
                                **teacher)
        if args.objective == "classify":
            sampler = corpus.sampler(args.batch_size, args.size, seed=args.seed, train_ids=train_ids,
                                     holdout=args.holdout if lfw else 0)
            encoder = zoo.build_encoder(args.encoder, input_size=args.size)
            start = time.perf_counter()
            losses, steady = train_classifier(encoder, sampler, codes, args.steps, config.learning_rate)
            metrics = score(encoder)
            state = {"losses": [(args.steps, losses[-1])]}
        else:
            sampler = corpus.sampler(args.batch_size, args.size, seed=args.seed, train_ids=train_ids,
                                     holdout=args.holdout if lfw else 0)
            if teacher:     # the N people's photos labelled by dlib (cached by content, shared with pretrain)
                from zoo.distil import TEACHER_DIM, teacher_sampler
                sampler = teacher_sampler(sampler, corpus, "dlib", processes=args.teacher_processes)
            with tempfile.TemporaryDirectory(prefix="facezoo-scaling-") as tmp:
                trainer = Pretrainer.create(
                    lambda: build_pretrain_model(zoo.build_encoder(args.encoder, input_size=args.size), codes,
                                                 size=args.size, decoder_width=args.decoder_width,
                                                 teacher_dim=TEACHER_DIM if teacher else 0),
                    sampler, tmp, config)
                start = time.perf_counter()
                trainer.train(min(10, args.steps))          # first chunk: tracing
                warm = time.perf_counter()
                state = trainer.train(args.steps)
                steady = (time.perf_counter() - warm) / max(1, args.steps - min(10, args.steps))
                metrics = score(find_encoder(trainer.model))
        rows.append({"identities": n, "steps": args.steps, "final_loss": state["losses"][-1][1],
                     "step_ms": round(steady * 1000, 1), "train_seconds": round(time.perf_counter() - start, 1),
                     **metrics})
        print(f"N={n}: transfer SSIM {metrics['transfer_ssim']:.4f}, probe {metrics['probe_accuracy']:.3f}, "
              + (f"LFW View 1 {metrics['lfw_view1_accuracy']:.4f}, " if lfw else "")
              + f"{steady * 1000:.0f} ms/step, loss {state['losses'][-1][1]:.4f}", flush=True)
    from benchmarks._provenance import git_commit
    result = {"benchmark": "identity_scaling", "corpus": "lfw-devtrain" if lfw else "synthetic",
              "objective": args.objective, "tag": args.tag, "learning_rate": config.learning_rate,
              "teacher": ({"name": "dlib", "weight": args.teacher_weight, "note": "distilled from dlib's face "
                           "recognizer, which also judges swaps: View 1 here is not independent of it"}
                          if args.objective == "distil" else None),
              "min_images": args.min_images,
              "commit": git_commit(), "backend": keras.backend.backend(), "encoder": args.encoder,
              "size": args.size, "steps": args.steps, "batch_size": args.batch_size, "holdout": args.holdout,
              "eval_steps": args.eval_steps, "seconds": round(time.perf_counter() - t0, 1), "rows": rows,
              "command": "python benchmarks/identity_scaling.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from zoo.io import write_json
    stem = ("identity_scaling_lfw" if lfw else "identity_scaling") + (f"_{args.tag}" if args.tag else "")
    write_json(out / f"{stem}.json", result)
    _plot(rows, out / f"{stem}.png", result)
    base = rows[0]["transfer_ssim"]
    for r in rows[1:]:
        print(f"N={r['identities']:>5}: transfer SSIM / untrained = {r['transfer_ssim'] / base:.3f}")
        if lfw:
            print(f"N={r['identities']:>5}: LFW View 1 {r['lfw_view1_accuracy']:.4f} "
                  f"(untrained {rows[0]['lfw_view1_accuracy']:.4f})")
    print(f"wrote {out / stem}.json and .png in {result['seconds']:.0f} s")
    return 0


def train_classifier(encoder, sampler, num_classes: int, steps: int, learning_rate: float):
    """Train `encoder` in place to name each face's identity: pooled features -> softmax over
    `num_classes`, AdamW, the sampler's batches (warped inputs, their identities). Per-step losses and the
    steady seconds per step (after the first, tracing step)."""
    import keras

    face = keras.Input(tuple(encoder.input_shape[1:]))
    logits = keras.layers.Dense(num_classes, name="identity_logits")(
        keras.layers.GlobalAveragePooling2D()(encoder(face)))
    model = keras.Model(face, logits)
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    losses, warm = [], None
    for step in range(steps):
        x, ids, _ = sampler.batch(step)
        losses.append(float(model.train_on_batch(x, ids)))
        if step == 0:
            warm = time.perf_counter()
        elif step % 50 == 0:
            print(f"  classify step {step}/{steps} loss {np.mean(losses[-50:]):.4f}", flush=True)
    return losses, (time.perf_counter() - warm) / max(1, steps - 1)


def _plot(rows, path, result) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zoo.io import atomic_path

    trained = [r for r in rows if r["identities"] > 0]
    lfw = "lfw_view1_accuracy" in rows[0]
    fig, axes = plt.subplots(1, 2 if lfw else 1, figsize=(11 if lfw else 6, 4), squeeze=False)
    panels = [("transfer_ssim", "transfer score (masked SSIM, held-out ids)")]
    if lfw:
        panels.append(("lfw_view1_accuracy", "LFW View 1 verification accuracy"))
    for ax, (key, label) in zip(axes[0], panels):
        ax.plot([r["identities"] for r in trained], [r[key] for r in trained], "o-", label="pretrained")
        ax.axhline(rows[0][key], color="grey", ls="--", label="untrained encoder")
        ax.set_xscale("log", base=2)
        ax.set_xlabel(f"pretraining identities N ({result.get('corpus', 'synthetic')})")
        ax.set_ylabel(label)
        ax.legend()
    fig.suptitle(f"{result['encoder']} {result['size']} px, {result['steps']} steps, "
                 f"{result.get('objective', 'reconstruct')}, {result['backend']}")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
