"""The whole pipeline end to end on synthetic faces (or real ones), offline, on this machine.

1. synthesise a corpus of identities (`facezoo synth`);
2. detect and align every face with MTCNN (`facezoo extract`);
3. pretrain the encoder on the many identities, held-out pair excluded;
4. publish it to the embedded local hub, so `zoo.load_encoder("effnet-face-v2")` works afterwards;
5. load it back by name (sha256-verified) and train the held-out A/B pair with staged unfreezing;
6. write previews, a loss plot with the stage changes marked, and print where everything is.

`--size`, `--steps`, `--identities` scale it up. Safe to rerun into the same `--out`: every phase
resumes (corpus, extraction, both training runs), so a second run finishes in a minute or two, and
Ctrl-C saves and tells you to rerun. Outputs go to `./facezoo-quickstart` (gitignored in the checkout).

`--corpus lfw:PATH` runs it on real people instead: the most photographed LFW DevTrain people are
the pretraining identities and the two most photographed DevTest people (never pretrained on) are the
pair; the photos are linked into OUT/corpus and aligned like any photo (the face nearest the centre).

This is a smoke run: 90 steps at 64 px prove that the pipeline works on your machine, not that it
swaps faces. The closing summary and the report say what a real run needs.
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from recipes._common import UserError, add_hub_argument, main_for, train_or_say_how_to_resume

log = logging.getLogger("facezoo.quickstart")


def add_arguments(parser):
    parser.add_argument("--out", default="facezoo-quickstart", help="output folder (default: %(default)s)")
    parser.add_argument("--encoder", default="effnet-face-v2", help="registry encoder to pretrain")
    parser.add_argument("--corpus", default="synthetic",
                        help="synthetic (default: procedural faces, needs nothing) or lfw:PATH (real people from "
                             "Labeled Faces in the Wild; see docs/real-faces.md)")
    parser.add_argument("--identities", type=int, default=6, help="pretraining identities (default: %(default)s)")
    parser.add_argument("--images", type=int, default=16, help="images per identity (default: %(default)s)")
    parser.add_argument("--size", type=int, default=64, help="face size in pixels (default: %(default)s)")
    parser.add_argument("--pretrain-steps", type=int, default=40, help="pretraining steps (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=90, help="swap-pair training steps (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=4, help="faces per identity per step")
    parser.add_argument("--schedule", default=None,
                        help="pair schedule; default 'frozen; top2@S/3; all@2S/3' for --steps S")
    results = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
    parser.add_argument("--evidence", nargs="+", metavar="JSON",
                        default=[str(results / "time_to_quality_real.json"), str(results / "time_to_quality.json")],
                        help="time-to-quality results shown in the report, those that exist (default: the committed "
                        "real-pair and synthetic-pair results in benchmarks/results/; run `facezoo bench "
                        "time-to-quality` for your own)")
    parser.add_argument("--repo", default=None, help="hub repo to publish to (default: the registry's)")
    parser.add_argument("--tag", default="v1",
                        help="tag for the encoder release when the hub has no such tag yet (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    add_hub_argument(parser)
    parser.add_argument("--quiet", "-q", action="store_true", help="no per-step progress lines")
    parser.add_argument("--verbose", action="store_true")


def _say(text: str) -> None:
    print(f"[quickstart] {text}", flush=True)


def run(args) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import hub
    import zoo
    from zoo.data.synthetic import SyntheticFaces, identity_name, write_corpus
    from zoo.publishing import encoder_metadata
    from zoo.runs import disk_usage, format_bytes
    from zoo.schedule import trainable_label
    from zoo.training import TrainConfig, train_pair

    t0 = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    spec = zoo.get_spec(args.encoder)
    repo = args.repo or spec.repo_id
    n_pre = args.identities
    if args.corpus == "synthetic":
        faces = SyntheticFaces(n_pre + 2, size=max(128, args.size), seed=args.seed)
        pretrain_ids, pair_ids = faces.split(2)
        pre_names = [identity_name(i) for i in pretrain_ids]
        pair_names = [identity_name(i) for i in pair_ids]
        _say(f"1/5 synthesising {n_pre + 2} identities x {args.images} images -> {out / 'corpus'}")
        write_corpus(out / "corpus", faces, args.images)
        corpus_label, select = "synthetic", "largest"
    elif args.corpus.startswith("lfw:"):
        pre_names, pair_names = _link_lfw(args.corpus[4:], out / "corpus", n_pre, args.images)
        corpus_label, select = "LFW", "centre"
    else:
        raise UserError(f"--corpus {args.corpus!r}: use synthetic or lfw:PATH (the LFW folder with "
                        "images_deepfunneled/ and the people files).")

    _say("2/5 detecting and aligning faces with MTCNN -> " + str(out / "faces"))
    folders = _extract_all(out, pre_names + pair_names, args.size, args.images, select=select)
    pre_folders = {name: folders[name] for name in pre_names}
    pair = {"a": folders[pair_names[0]], "b": folders[pair_names[1]]}

    _say(f"3/5 pretraining {spec.name} on {n_pre} identities for {args.pretrain_steps} steps "
         f"(pair {pair['a'].name}/{pair['b'].name} held out; `facezoo pretrain`, as any user runs it)")
    pre = _pretrain(out, spec.name, pre_folders, args)
    _drop_optimizer_state(out / "pretrain")
    encoder = zoo.load_encoder(Path(pre["encoder"]))
    pre_state = {"step": pre["step"]}
    final_loss = pre["final_loss"]

    backend = hub.get_hub(args.hub)
    _say(f"4/5 publishing the encoder to {backend.describe()} as {repo}")
    metadata = encoder_metadata(
        encoder,
        corpus=({"name": "facezoo synthetic faces", "identities": n_pre, "images": n_pre * args.images,
                 "resolution": args.size, "held_out_identities": pair_names, "generator_seed": args.seed}
                if corpus_label == "synthetic" else
                {"name": f"lfw-devtrain-{n_pre}", "kind": "lfw", "identities": n_pre,
                 "images": sum(len(list(f.glob("*.png"))) for f in pre_folders.values()),
                 "resolution": args.size, "held_out_identities": pair_names}),
        training={"recipe": "facezoo quickstart (zoo.pretrain: one identity-conditioned decoder over the "
                            "pretraining identities)",
                  "steps": pre_state["step"], "batch_size": args.batch_size * n_pre, "final_train_loss": final_loss},
        metrics={"final_train_loss": final_loss} if final_loss is not None else {})
    release = _earlier_release(out, backend, repo, pre_state["step"])
    tag = release.tag if release else _free_tag(backend, repo, args.tag)
    if release:
        _say(f"   already published by an earlier quickstart from this same pretraining run: "
             f"{repo}@{release.tag or 'main'} -> commit {release.revision[:12]}; not published again")
    else:
        release = hub.publish(encoder, repo, hub=backend, tag=tag, metadata=metadata,
                              message=f"quickstart: {pre_state['step']} steps on {n_pre} {corpus_label} identities")
        weights_sha = release.files.get("model.weights.h5", "")
        _say(f"   released {repo}@{release.tag or 'main'} -> commit {release.revision[:12]} "
             f"(model.weights.h5 sha256 {weights_sha[:16]}...)")
    if args.tag and not tag:
        _say(f"   (tag {args.tag!r} already names an earlier release on this hub, and tags never move: "
             f"this one is the latest on main, which is what {repo!r} without @tag loads)")

    # A bare entry name loads its shipped preset when it has one; the repo id names what was just published.
    from zoo.registry import get_preset
    ref = spec.name if repo == spec.repo_id and get_preset(spec.name) is None else repo
    loaded = zoo.load_encoder(ref, hub=args.hub)
    _say(f"   zoo.load_encoder({ref!r}) -> {loaded.name}, {loaded.count_params():,} parameters, "
         "verified against its sha256 manifest")

    third = max(1, args.steps // 3)
    schedule = args.schedule or f"frozen; top2@{third}; all@{2 * third}"
    _say(f"5/5 training the held-out pair with schedule {schedule!r} for {args.steps} steps")
    trainer = _resume(out / "pair", pair, args) or train_pair(
        encoder=ref, folders=pair, run_dir=out / "pair", schedule=schedule, size=args.size,
        batch_size=args.batch_size, hub=args.hub, seed=args.seed, build_only=True, decoder_width=64,
        config=TrainConfig(steps=args.steps, chunk=10, checkpoint_every=max(20, third),
                           preview_every=max(20, third), learning_rate=5e-4))
    state = _train(trainer, args.steps, args, out)
    about = what_this_run_is(args, n_pre, corpus_label)
    summary = {
        "seconds": round(time.time() - t0, 1),
        "encoder": {"repo_id": repo, "revision": release.revision, "tag": release.tag, "files": release.files},
        "pretrain": {"steps": pre_state["step"], "identities": n_pre},
        "pair": {"steps": state["step"], "stages": state["stage_history"], "run": str(out / "pair")},
        "about": about,
    }
    (out / "quickstart.json").write_text(json.dumps(summary, indent=2, default=str))
    from zoo.bench.report import write_report
    report = write_report(out, summary, model=trainer.model,
                          corpus_dir=out / ("corpus" if corpus_label == "synthetic" else "faces"),
                          pair_ids=tuple(pair_names), pair_run=out / "pair",
                          evidence_json=args.evidence)
    previews = sorted((out / "pair" / "previews").glob("*.png"))
    _say(f"done in {summary['seconds']:.0f}s. Outputs:")
    print(f"  corpus           {out / 'corpus'}")
    print(f"  aligned faces    {out / 'faces'}")
    print(f"  encoder release  {repo}@{release.tag or 'main'} -> commit {release.revision}  "
          f"(hub: {backend.describe()})")
    print(f"  swap run         {out / 'pair'}  (model.keras, state.json, losses.csv)")
    print(f"  loss plot        {out / 'pair' / 'loss.png'}")
    print(f"  report           {report}")
    print(f"  latest preview   {previews[-1] if previews else '-'}")
    print("  stage changes    " + ", ".join(f"{trainable_label(h['trainable'])}@{h['step']}"
                                           for h in state["stage_history"]))
    print(f"  disk used        {format_bytes(disk_usage(out))} in {out}")
    print("What this is:")
    for line in about:
        print(f"  {line}")
    print("Next:")
    print(f"  python -c \"import zoo; zoo.load_encoder('{ref}')\"      # the encoder, anywhere")
    print(f"  python -c \"import zoo; zoo.load_run('{out / 'pair'}')\"  # the trained pair, for swapping")
    print(f"  facezoo publish {out / 'pair'} me/my-encoder --tag v1        # publish this run's encoder")
    return 0


def _link_lfw(root: str, corpus: Path, people: int, images: int) -> tuple[list[str], list[str]]:
    """Link the photos of the `people` most photographed DevTrain people and of the two most photographed
    DevTest people (the pair) into `corpus/<name>/`, at most `images` each; (pretraining names, pair)."""
    import os
    import shutil

    from zoo.data.lfw import PEOPLE_FILES, _protocol_file, find_images_dir, read_people

    root_path = Path(root).expanduser()
    images_dir = find_images_dir(root_path)

    def top(split: str, n: int) -> list[str]:
        rows = read_people(_protocol_file(root_path, PEOPLE_FILES[split]))
        return [name for name, count in sorted(rows, key=lambda r: (-r[1], r[0])) if count >= 2][:n]

    pre, pair = top("devtrain", people), top("devtest", 2)
    for name in pre + pair:
        folder = corpus / name
        folder.mkdir(parents=True, exist_ok=True)
        for photo in sorted((images_dir / name).glob("*.jpg"))[:images]:
            link = folder / photo.name
            if not link.exists():
                try:
                    os.symlink(photo.resolve(), link)
                except OSError:  # no symlinks here (some Windows setups): copy
                    shutil.copyfile(photo, link)
    _say(f"1/5 linked {len(pre)} LFW DevTrain people and the DevTest pair {pair[0]} / {pair[1]} "
         f"(at most {images} photos each) -> {corpus}")
    return pre, pair


def _extract_all(out: Path, names: list[str], size: int, images: int, *, select: str = "largest") -> dict:
    """Detect and align every identity's corpus into OUT/faces/<identity>; resumable.

    Counts the aligned faces on disk (not only this run's: a rerun resumes and adds none), says how
    many images had no face found, and refuses only when an identity has no face at all.
    """
    from zoo.data.detect import FaceDetector
    from zoo.data.extract import extract

    folders, found, missed = {}, 0, []
    with FaceDetector() as detector:
        for name in names:
            folder = out / "faces" / name
            report = extract([out / "corpus" / name], folder, size=size, detector=detector,
                             select=select, progress=False)
            faces = len(list(folder.glob("*.png")))
            if faces == 0:
                raise UserError(
                    f"MTCNN found no face in any of the {images} images of {out / 'corpus' / name} "
                    f"(this run: {report.summary().splitlines()[0]}). Delete {out / 'faces' / name} and "
                    "rerun, or run `facezoo extract` on the folder to see each image's reason.")
            folders[name] = folder
            found += faces
            if faces < images:
                missed.append(f"{name}: {images - faces}")
    total = sum(len(list((out / "corpus" / name).iterdir())) for name in names)
    line = f"   aligned faces: {found} of {total} images"
    if missed:
        line += (f"; no face detected in {total - found} ({', '.join(missed)}): normal for extreme poses "
                 "and lighting, training uses the rest")
    _say(line)
    return folders


def _pretrain(out: Path, encoder: str, folders: dict, args) -> dict:
    """Pretrain the encoder with `zoo.pretrain` on the pretraining identities' aligned faces (linked into
    OUT/pretrain-corpus/<identity>/, a `folder:` corpus), or continue an earlier quickstart's run with
    `resume_pretrain`, as a user would; its RUN/pretrain.json dict. A run with other settings than this
    quickstart's is refused before anything is written."""
    from zoo import runs
    from zoo.errors import RunError
    from zoo.pretrain import PretrainConfig, pretrain, resume_pretrain
    from zoo.runspec import RunSpec

    run_dir, corpus = out / "pretrain", out / "pretrain-corpus"
    config = PretrainConfig(steps=args.pretrain_steps, batch_size=args.batch_size * len(folders), size=args.size,
                            learning_rate=5e-4, chunk=10, checkpoint_every=10 ** 9, decoder_width=64, seed=args.seed)
    options = dict(eval_steps=0, lfw_eval="none", progress=not args.quiet, echo=lambda line: _say("   " + line),
                   train=lambda trainer, steps: _train(trainer, steps, args, out))
    if (run_dir / runs.STATE).exists():
        try:
            spec = RunSpec.load(run_dir)
        except RunError as exc:
            raise UserError(f"{run_dir} holds a run this quickstart cannot continue ({exc}). Pass another --out, "
                            f"or delete {run_dir}.") from None
        saved = runs.read_state(run_dir).get("meta", {}).get("corpus", {}).get("identities")
        mine = (spec.kind, spec.size, spec.config.batch_size, spec.config.seed, saved)
        if mine != ("pretrain", config.size, config.batch_size, config.seed, len(folders)):
            raise UserError(f"{run_dir} holds an earlier quickstart's pretraining run with other settings than this "
                            f"one's ({saved} identities, {spec.size} px, batch {spec.config.batch_size}, seed "
                            f"{spec.config.seed}). Pass another --out, or delete {run_dir}.")
        _say(f"   resuming {run_dir} (an earlier quickstart wrote it)")
        return resume_pretrain(run_dir, steps=args.pretrain_steps, **options)
    _link_faces(folders, corpus)
    return pretrain(config, run_dir=run_dir, corpus_spec=f"folder:{corpus}", aligned=True, encoder=encoder,
                    holdout=0, **options)


def _link_faces(folders: dict, corpus: Path) -> None:
    """Link each identity's aligned faces into `corpus/<identity>/` (copies where links are refused)."""
    import os
    import shutil

    for name, folder in folders.items():
        target = corpus / name
        target.mkdir(parents=True, exist_ok=True)
        for face in sorted(Path(folder).glob("*.png")):
            link = target / face.name
            if not link.exists():
                try:
                    os.symlink(face.resolve(), link)
                except OSError:
                    shutil.copyfile(face, link)


def _resume(run_dir: Path, folders: dict, args):
    """The trainer of an earlier quickstart's run in `run_dir` (`zoo.training.resume_pair`, as any user
    resumes: the saved data stream, confirmed against this quickstart's folders, size, batch and seed),
    or None when there is none yet."""
    from zoo import runs
    from zoo.errors import RunError
    from zoo.training import resume_pair

    if not (run_dir / runs.STATE).exists():
        return None
    try:
        trainer = resume_pair(run_dir, folders=folders, size=args.size, batch_size=args.batch_size, seed=args.seed)
    except RunError as exc:
        raise UserError(f"{run_dir} holds an earlier quickstart's run with other settings than this one's: {exc} "
                        f"Pass another --out, or delete {run_dir}.") from None
    _say(f"   resuming {run_dir} at step {trainer.step} (an earlier quickstart wrote it)")
    return trainer


def _train(trainer, steps: int, args, out: Path) -> dict:
    state = train_or_say_how_to_resume(trainer, steps, quiet=args.quiet, resume_command=f"facezoo quickstart "
                                       f"--out {out}" + (f" --hub {args.hub}" if args.hub else ""))
    if state is None:
        raise KeyboardInterrupt  # the CLI exits 130 (recipes._common.run_reporting_errors)
    return state


def _earlier_release(out: Path, backend, repo: str, pretrain_step: int):
    """The release an earlier quickstart into `out` published from the same pretraining step, if the
    hub still has that commit; None otherwise (then this run publishes)."""
    from hub import HubError, Release

    try:
        earlier = json.loads((out / "quickstart.json").read_text())
        enc = earlier["encoder"]
        if enc["repo_id"] != repo or earlier["pretrain"]["steps"] != pretrain_step:
            return None
        if backend.resolve(repo, enc["revision"]) != enc["revision"]:
            return None
    except (OSError, ValueError, KeyError, TypeError, HubError):
        return None
    return Release(repo_id=repo, revision=enc["revision"], tag=enc.get("tag"), files=enc.get("files") or {})


def _drop_optimizer_state(run_dir: Path) -> None:
    """The finished pretraining run is only a source for the encoder release: its optimizer moments
    (twice its weights) would double the quickstart's disk. Without them, a rerun with more
    --pretrain-steps continues with a fresh optimizer."""
    from zoo import runs
    from zoo.runs import format_bytes

    path = runs.checkpoint_dir(run_dir) / runs.OPTIMIZER
    if path.exists():
        size = path.stat().st_size
        path.unlink()
        _say(f"   dropped the finished pretraining run's optimizer state ({format_bytes(size)}): the "
             "quickstart keeps only what it needs")


def _free_tag(backend, repo: str, tag: str | None) -> str | None:
    """`tag` when the hub has no release by that name yet, else None (tags are immutable)."""
    if not tag:
        return None
    from hub.errors import NotPublishedError
    try:
        taken = {name for name, _ in backend.list_releases(repo)}
    except NotPublishedError:
        return tag
    return None if tag in taken else tag


def what_this_run_is(args, identities: int, corpus: str = "synthetic") -> list[str]:
    """What the quickstart ran, what quality to expect from that budget, and a real run's command."""
    return [
        f"A smoke run: the encoder pretrained for {args.pretrain_steps} steps on {identities} {corpus} "
        f"identities, then the pair trained for {args.steps} steps at {args.size} px (batch {args.batch_size} "
        "per identity) on a CPU. It proves the pipeline works on this machine; it does not make a usable swap.",
        "Expect blurry, greyish previews and a convert that looks like a blur filter: faceswap and DeepFaceLab "
        "models need tens of thousands of steps at 128 px or more before faces are sharp, i.e. hours to days on "
        "a GPU.",
        "A real run on your own faces (GPU): `facezoo extract VIDEO_OR_PHOTOS_A -o faces/a`, the same for B, "
        "then `facezoo train --encoder effnet-face-v2 --a faces/a --b faces/b --run runs/ab --size 128 "
        "--steps 50000 --batch-size 16 --precision bf16` (pretrain a stronger encoder first with "
        "`facezoo pretrain --corpus synthetic:10000 --steps 20000 --size 128 --publish me/effnet-face`).",
        *FROZEN_START,
    ]


# When the pretrained, frozen start pays, from benchmarks/results/time_to_quality_real.md and DESIGN.md's
# "Evidence" (tests/test_training_followable.py checks these numbers against the committed results).
FROZEN_START = [
    "When the pretrained, frozen start pays: early. On a real LFW pair (64 px, 2 CPUs) it reached held-out "
    "quality in 300 steps against 917 from scratch. While frozen it does not swap: only 35% of its A->B swaps "
    "read as B (scratch 82%), and a short run can draw the same average face for every input until the "
    "encoder is unfrozen, so judge the swap after the last stage.",
    "Unfrozen (staged-plateau) it ended at SSIM 0.572 against scratch's 0.548, with 66% of swaps read as B; "
    "given thousands of steps scratch catches up (synthetic pair, 3,000 steps: scratch 0.666, staged 0.670). "
    "README: 'When a frozen start pays'.",
]


def main():
    main_for(__name__, add_arguments, run)


if __name__ == "__main__":
    main()
