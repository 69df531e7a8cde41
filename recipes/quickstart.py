"""The whole pipeline end to end on synthetic faces, offline, on this machine.

1. synthesise a corpus of identities (`facezoo synth`);
2. detect and align every face with MTCNN (`facezoo extract`);
3. pretrain the encoder on the many identities, held-out pair excluded;
4. publish it to the embedded local hub, so `zoo.load_encoder("effnet-face-v2")` works afterwards;
5. load it back by name (sha256-verified) and train the held-out A/B pair with staged unfreezing;
6. write previews, a loss plot with the stage changes marked, and print where everything is.

`--size`, `--steps`, `--identities` scale it up.
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from recipes._common import add_hub_argument, main_for

log = logging.getLogger("facezoo.quickstart")


def add_arguments(parser):
    parser.add_argument("--out", default="facezoo-quickstart", help="output folder (default: %(default)s)")
    parser.add_argument("--encoder", default="effnet-face-v2", help="registry encoder to pretrain")
    parser.add_argument("--identities", type=int, default=6, help="pretraining identities (default: %(default)s)")
    parser.add_argument("--images", type=int, default=16, help="images per identity (default: %(default)s)")
    parser.add_argument("--size", type=int, default=64, help="face size in pixels (default: %(default)s)")
    parser.add_argument("--pretrain-steps", type=int, default=40, help="pretraining steps (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=90, help="swap-pair training steps (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=4, help="faces per identity per step")
    parser.add_argument("--schedule", default=None,
                        help="pair schedule; default 'frozen; top2@S/3; all@2S/3' for --steps S")
    parser.add_argument("--evidence", default=str(Path(__file__).resolve().parents[1] / "benchmarks/results/time_to_quality.json"),
                        metavar="JSON", help="time-to-quality results shown in the report (default: the "
                        "committed benchmarks/results/time_to_quality.json; run `facezoo bench time-to-quality` "
                        "for your own)")
    parser.add_argument("--repo", default=None, help="hub repo to publish to (default: the registry's)")
    parser.add_argument("--seed", type=int, default=0)
    add_hub_argument(parser)
    parser.add_argument("--verbose", action="store_true")


def _say(text: str) -> None:
    print(f"[quickstart] {text}", flush=True)


def run(args) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import hub
    import zoo
    from zoo.data.detect import FaceDetector
    from zoo.data.extract import extract
    from zoo.data.synthetic import SyntheticFaces, identity_name, write_corpus
    from zoo.errors import DataError
    from zoo.publishing import encoder_metadata
    from zoo.training import TrainConfig, train_pair

    t0 = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    spec = zoo.get_spec(args.encoder)
    repo = args.repo or spec.repo_id
    n_pre = args.identities
    faces = SyntheticFaces(n_pre + 2, size=max(128, args.size), seed=args.seed)
    pretrain_ids, pair_ids = faces.split(2)

    _say(f"1/5 synthesising {n_pre + 2} identities x {args.images} images -> {out / 'corpus'}")
    write_corpus(out / "corpus", faces, args.images)

    _say("2/5 detecting and aligning faces with MTCNN -> " + str(out / "faces"))
    folders = {}
    with FaceDetector() as detector:
        for ident in range(n_pre + 2):
            name = identity_name(ident)
            report = extract([out / "corpus" / name], out / "faces" / name, size=args.size, detector=detector,
                             largest_only=True, progress=False)
            folders[name] = out / "faces" / name
            if report.faces == 0:
                raise DataError(f"MTCNN found no face for synthetic identity {name} in {out / 'corpus' / name}; "
                                "check the OpenCV/mtcnn install (`facezoo extract` on one image shows the detector's view).")
    pre_folders = {identity_name(i): folders[identity_name(i)] for i in pretrain_ids}
    pair = {"a": folders[identity_name(pair_ids[0])], "b": folders[identity_name(pair_ids[1])]}
    _say(f"   aligned faces: {sum(len(list(f.glob('*.png'))) for f in folders.values())} "
         f"({time.time() - t0:.0f}s so far)")

    _say(f"3/5 pretraining {spec.name} on {n_pre} identities for {args.pretrain_steps} steps "
         f"(pair {pair['a'].name}/{pair['b'].name} held out)")
    pre = train_pair(encoder=spec.name, folders=pre_folders, run_dir=out / "pretrain", schedule="all",
                     size=args.size, batch_size=args.batch_size, pretrained=False, decoder_width=64,
                     seed=args.seed, build_only=True,
                     config=TrainConfig(steps=args.pretrain_steps, chunk=10, checkpoint_every=10 ** 9,
                                        preview_every=10 ** 9, learning_rate=5e-4))
    pre_state = pre.train()
    encoder = pre.model.encoder
    final_loss = pre.stage_losses[-1] if pre.stage_losses else None

    _say(f"4/5 publishing the encoder to {hub.get_hub(args.hub).describe()} as {repo}")
    metadata = encoder_metadata(
        encoder, spec.name,
        corpus={"name": "facezoo synthetic faces", "identities": n_pre, "images": n_pre * args.images,
                "resolution": args.size, "held_out_identities": [identity_name(i) for i in pair_ids],
                "generator_seed": args.seed},
        training={"recipe": "facezoo quickstart (swap-model decoders over the pretraining identities)",
                  "steps": pre_state["step"], "batch_size_per_identity": args.batch_size,
                  "final_train_loss": final_loss},
        metrics={"final_train_loss": final_loss} if final_loss is not None else {})
    release = hub.publish(encoder, repo, hub=args.hub, metadata=metadata,
                          message=f"quickstart: {pre_state['step']} steps on {n_pre} synthetic identities")
    weights_sha = release.files.get("model.weights.h5", "")
    _say(f"   released {repo}@{release.revision[:12]} (model.weights.h5 sha256 {weights_sha[:16]}...)")

    loaded = zoo.load_encoder(spec.name if repo == spec.repo_id else repo, hub=args.hub)
    _say(f"   zoo.load_encoder({spec.name!r}) -> {loaded.name}, {loaded.count_params():,} parameters, "
         "verified against its sha256 manifest")

    third = max(1, args.steps // 3)
    schedule = args.schedule or f"frozen; top2@{third}; all@{2 * third}"
    _say(f"5/5 training the held-out pair with schedule {schedule!r} for {args.steps} steps")
    trainer = train_pair(encoder=spec.name if repo == spec.repo_id else repo, folders=pair,
                         run_dir=out / "pair", schedule=schedule, size=args.size, batch_size=args.batch_size,
                         hub=args.hub, seed=args.seed, build_only=True, decoder_width=64,
                         config=TrainConfig(steps=args.steps, chunk=10, checkpoint_every=max(20, third),
                                            preview_every=max(20, third), learning_rate=5e-4))
    state = trainer.train()
    summary = {
        "seconds": round(time.time() - t0, 1),
        "encoder": {"repo_id": repo, "revision": release.revision, "files": release.files},
        "pretrain": {"steps": pre_state["step"], "identities": n_pre},
        "pair": {"steps": state["step"], "stages": state["stage_history"], "run": str(out / "pair")},
    }
    (out / "quickstart.json").write_text(json.dumps(summary, indent=2, default=str))
    from zoo.bench.report import write_report
    report = write_report(out, summary, model=trainer.model, corpus_dir=out / "corpus",
                          pair_ids=(identity_name(pair_ids[0]), identity_name(pair_ids[1])), pair_run=out / "pair",
                          evidence_json=args.evidence)
    previews = sorted((out / "pair" / "previews").glob("*.png"))
    _say(f"done in {summary['seconds']:.0f}s. Outputs:")
    print(f"  corpus           {out / 'corpus'}")
    print(f"  aligned faces    {out / 'faces'}")
    print(f"  encoder release  {repo}@{release.revision}  (hub: {hub.get_hub(args.hub).describe()})")
    print(f"  swap run         {out / 'pair'}  (model.keras, state.json, losses.csv)")
    print(f"  loss plot        {out / 'pair' / 'loss.png'}")
    print(f"  report           {report}")
    print(f"  latest preview   {previews[-1] if previews else '-'}")
    print("  stage changes    " + ", ".join(f"{h['trainable']}@{h['step']}" for h in state["stage_history"]))
    print(f"Load the encoder anywhere: python -c \"import zoo; zoo.load_encoder('{spec.name}')\"")
    return 0


def main():
    main_for(__name__, add_arguments, run)


if __name__ == "__main__":
    main()
