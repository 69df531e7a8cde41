"""A pretraining job, the library behind `facezoo pretrain`: `pretrain` starts one from a config and a
corpus spec; `resume_pretrain` continues one from its folder alone. Either opens (and aligns once) the
corpus, builds the sampler and the model, trains, saves the encoder, scores it on the held-out
identities (and LFW View 1), publishes it when asked, and writes RUN/pretrain.json, whose dict it returns.

The run's facts (corpus, holdout, encoder or parent, config) are one `zoo.runspec.RunSpec`, built here and
saved in the run's state.json; a resume reads it back. How this invocation runs the job (evaluation,
publishing, workers, progress) is a `JobOptions`, which may differ from one resume to the next.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from zoo.errors import InputError, RunError
from zoo.pretrain.config import ALIGNED_CACHE, ENCODER, RESULT, STATE, PretrainConfig
from zoo.runspec import CorpusSource, RunSpec

__all__ = ["pretrain", "resume_pretrain"]

log = logging.getLogger("facezoo.pretrain")


def pretrain(config: PretrainConfig, *, run_dir, corpus_spec: str, aligned: bool = False,
             encoder: str = "mobilenet-face", parent: str | None = None, holdout: int = 8,
             eval_steps: int = 100, eval_images: int = 12, lfw_eval=None, lfw_max_pairs: int | None = None,
             publish: str | None = None, tag: str | None = None, hub=None, distribute: str | None = None,
             progress: bool = True, train=None, callbacks=None, echo=print, workers=None,
             teacher_processes: int = 1, drop_devtest=None, lfw_eval_every: int = 0) -> dict | None:
    """Start a pretraining run in the new folder `run_dir` on `corpus_spec` (`zoo.data.corpus.open_corpus`).

    Args:
        encoder: registry architecture, built with random weights; or `parent`: a pretrained encoder
            (registry name, hub repo or path) to start from, recorded as the release's parent.
        holdout: hold out the last K identities (by sorted id) for evaluation; 0: none.
        hub: where `parent` is pulled from and the release is published to.
        The other keywords (evaluation, LFW, publishing, `distribute`, `progress`, `train`,
        `callbacks`, `echo`, `workers`) are `resume_pretrain`'s.
        config.teacher ("dlib"): distil the teacher's embedding (`zoo.distil`), labelling the training
            photos first in `teacher_processes` processes (cached: a resume labels nothing).
        config.identity_weight > 0: an ArcFace identity head beside reconstruction (`zoo.pretrain.identity`);
            config.min_photos K: train only on identities with at least K photos (held-out ones unaffected).
        drop_devtest: an LFW root: leave out the photos whose teacher embedding matches one of its
            DevTest people (`zoo.distil.drop_matches`; needs dlib), again on resume.
    Returns the dict written to RUN/pretrain.json; None if `train` returned None (interrupted); on a
    non-chief process of a multi-process run, {"step", "worker", "num_processes"} (the chief writes).
    """
    if not corpus_spec:
        raise InputError("--corpus is required (e.g. --corpus synthetic:1000); see `facezoo pretrain --help`.")
    run_dir = Path(run_dir)
    if (run_dir / STATE).exists():
        raise RunError(f"run folder {run_dir} already holds a run; pass --resume to continue it, "
                       "or choose another --run.")
    if config.steps < 1 or config.batch_size < 1:
        raise InputError(f"--steps and --batch-size must be >= 1. Received: {config.steps}, {config.batch_size}")
    if config.min_photos < 0 or config.identity_weight < 0:
        raise InputError(f"--min-photos and the --identity-loss weight must be >= 0. Received: "
                         f"{config.min_photos}, {config.identity_weight}")
    spec = RunSpec(kind="pretrain", size=config.size, config=config,
                   data=CorpusSource(corpus_spec, bool(aligned), int(holdout), str(drop_devtest) if drop_devtest else None),
                   encoder_ref=None if parent else encoder, parent=parent, pretrained=bool(parent))
    options = JobOptions(eval_steps=eval_steps, eval_images=eval_images, lfw_eval=lfw_eval,
                         lfw_max_pairs=lfw_max_pairs, publish=publish, tag=tag, hub=hub, distribute=distribute,
                         progress=progress, train=train, callbacks=callbacks, echo=echo, workers=workers,
                         teacher_processes=teacher_processes, lfw_eval_every=lfw_eval_every)
    return _job(spec, run_dir, options, resume=False)


def resume_pretrain(run_dir, *, steps: int | None = None, corpus_spec: str | None = None, aligned: bool = False,
                    eval_steps: int = 100, eval_images: int = 12, lfw_eval=None, lfw_max_pairs: int | None = None,
                    publish: str | None = None, tag: str | None = None, hub=None, distribute: str | None = None,
                    progress: bool = True, train=None, callbacks=None, echo=print, workers=None,
                    teacher_processes: int = 1, lfw_eval_every: int = 0) -> dict | None:
    """Continue a `pretrain` run from its folder: its config, corpus and holdout come from RUN/state.json.

    Args:
        steps: the new total (default: the run's own).
        corpus_spec: may only confirm the saved spec (a different one is a `RunError`).
        eval_steps, eval_images: the held-out transfer score (0 steps: skip it).
        lfw_eval: an LFW root to also score View 1 verification on ("none": never; default: the corpus'
            own root when it is LFW); `lfw_max_pairs` scores a subset.
        lfw_eval_every: also score View 1 every this many steps during training, into RUN/lfw_view1.json
            and .png (`zoo.pretrain.lfw_curve`; 0: at the end only).
        publish, tag, hub: publish the encoder to this hub repo.
        distribute: "data-parallel" or None (`Pretrainer`).
        train: `train(trainer, steps) -> state | None`, run instead of `trainer.train(steps)` (a CLI's
            Ctrl-C handling); None from it ends the job at once (returns None).
        echo: where the job's report lines go (default `print`).
        workers: data worker processes (`zoo.data.pool`; None: sized from the cores, 0: none); the
            batches, and so the weights, are the same for any count.
    Returns what `pretrain` returns.
    """
    run_dir = Path(run_dir)
    spec = RunSpec.load(run_dir, steps=steps)   # the run's facts as `pretrain` saved them
    if corpus_spec and corpus_spec != spec.data.spec:
        raise RunError(f"--resume: run {run_dir} trains on {spec.data.spec!r}, not {corpus_spec!r}.")
    if aligned and not spec.data.aligned:
        spec = dataclasses.replace(spec, data=dataclasses.replace(spec.data, aligned=True))
    options = JobOptions(eval_steps=eval_steps, eval_images=eval_images, lfw_eval=lfw_eval,
                         lfw_max_pairs=lfw_max_pairs, publish=publish, tag=tag, hub=hub, distribute=distribute,
                         progress=progress, train=train, callbacks=callbacks, echo=echo, workers=workers,
                         teacher_processes=teacher_processes, lfw_eval_every=lfw_eval_every)
    return _job(spec, run_dir, options, resume=True)


@dataclass(frozen=True)
class JobOptions:
    """How this invocation runs a pretraining job (not facts of the run: they may differ on a resume).
    Each is a keyword of `pretrain`/`resume_pretrain`, documented there."""

    eval_steps: int = 100
    eval_images: int = 12
    lfw_eval: object = None
    lfw_max_pairs: int | None = None
    publish: str | None = None
    tag: str | None = None
    hub: object = None
    distribute: str | None = None
    progress: bool = True
    train: object = None
    callbacks: object = None
    echo: object = print
    workers: int | None = None
    teacher_processes: int = 1
    lfw_eval_every: int = 0


def open_pretrain_corpus(corpus_spec: str, run_dir, size: int, *, aligned: bool = False):
    """The corpus of a run, aligned once to facezoo's template unless `aligned` (RUN/aligned-cache/; LFW:
    one cache shared by every run, in $FACEZOO_HOME), its files then decoded once at the training size
    into a shared memory-mapped crop cache (`zoo.data.crop_cache`). "A + B": the parts combined
    (`zoo.data.corpora.combined`; part N aligned under RUN/part-N/)."""
    from zoo.data.corpora.combined import combine, split_spec
    from zoo.data.corpus import ensure_aligned, open_corpus
    from zoo.data.crop_cache import with_crop_cache

    parts = split_spec(corpus_spec)
    if len(parts) > 1:
        return combine([open_pretrain_corpus(p, Path(run_dir) / f"part-{n}", size, aligned=aligned)
                        for n, p in enumerate(parts)], corpus_spec)
    corpus = open_corpus(corpus_spec, aligned=aligned)
    if not corpus.aligned:
        # a fixed public set (LFW) shares one alignment cache in $FACEZOO_HOME; others align per run
        cache = None if corpus.shared_alignment else Path(run_dir) / ALIGNED_CACHE
        log.info("corpus %s is not aligned: aligning it once (cache: %s)", corpus_spec, cache or "shared")
        corpus = ensure_aligned(corpus, cache, size)
    return with_crop_cache(corpus, size)


def _job(spec: RunSpec, run_dir: Path, options: JobOptions, *, resume: bool):
    """Open the corpus, build or resume the trainer, train, then `_finish`."""
    import keras

    from zoo.pretrain.model import memory_per_identity
    from zoo.pretrain.trainer import Pretrainer

    config, data, echo, progress = spec.config, spec.data, options.echo, options.progress
    holdout = data.holdout
    corpus = open_pretrain_corpus(data.spec, run_dir, config.size, aligned=data.aligned)
    dropped = None
    if data.drop_devtest:
        from zoo.distil import devtest_photos, drop_matches
        corpus, dropped = drop_matches(corpus, devtest_photos(data.drop_devtest),
                                       processes=options.teacher_processes, progress=progress, echo=echo)
    if holdout and corpus.num_identities <= holdout:
        raise InputError(f"--holdout {holdout} leaves no training identity: {data.spec!r} has "
                         f"{corpus.num_identities} identities.")
    sampler = corpus.sampler(config.batch_size, config.size, holdout=holdout, seed=config.seed,
                             min_photos=config.min_photos)
    if config.min_photos:
        echo(f"--min-photos {config.min_photos}: {sampler.train_ids.size} training identities kept, "
             f"{sampler.dropped} with fewer photos left out")
    if config.identity_weight > 0 and sampler.train_ids.size < 2:
        raise InputError(f"--identity-loss needs labelled identities: {data.spec!r} leaves "
                         f"{sampler.train_ids.size} training identity (flat: and utkface: folders are one "
                         "identity); use --identity-loss none or a corpus of people.")
    if config.teacher != "none":
        from zoo.distil import teacher_sampler
        sampler = teacher_sampler(sampler, corpus, config.teacher, processes=options.teacher_processes,
                                  progress=progress, echo=echo)
    keras.utils.set_random_seed(config.seed)
    started = time.perf_counter()
    if resume:
        trainer = Pretrainer.resume(run_dir, sampler, steps=config.steps, distribute=options.distribute,
                                    callbacks=options.callbacks, workers=options.workers)
        echo(f"resumed {run_dir} at step {trainer.step}")
    else:
        meta = {"corpus": corpus.summary(), "sampler": sampler.describe(),
                "dropped_devtest_photos": None if dropped is None else len(dropped)}
        built = {}
        trainer = Pretrainer.create(_builder(spec, corpus, options.hub, built), sampler, run_dir, config, meta,
                                    distribute=options.distribute, callbacks=options.callbacks,
                                    workers=options.workers, spec=lambda: built["spec"])
    _view1_during_training(trainer, corpus, run_dir, options)
    memory = memory_per_identity(trainer.model, trainer.model.optimizer)
    echo(f"{corpus.num_identities} identities ({holdout} held out), heads={config.heads}: "
         f"{memory['total_bytes']} bytes per identity (params + {memory['optimizer_slots']} optimizer slots)")
    if options.train is None:
        trainer.progress = progress
        state = trainer.train(config.steps)
    else:
        state = options.train(trainer, config.steps)
    if state is None:
        return None
    echo(f"trained to step {state['step']} in {time.perf_counter() - started:.1f} s; last loss "
         f"{state['losses'][-1][1] if state['losses'] else float('nan'):.4f}")
    encoder_model = trainer.encoder
    cluster = trainer.cluster
    if cluster is not None and cluster.multi:
        from zoo.distribute import local_copy, shutdown_jax
        from zoo.pretrain.model import find_encoder
        encoder_model = find_encoder(local_copy(trainer.model))  # plain local weights: the chief goes on alone
        shutdown_jax()
        if not cluster.is_chief:
            echo(f"worker {cluster.process_id} of {cluster.num_processes} done; the chief (process 0) writes "
                 f"the encoder, the evaluation and the release")
            return {"step": state["step"], "worker": cluster.process_id, "num_processes": cluster.num_processes}
    return _finish(encoder_model, state, spec, corpus, run_dir, memory, options)


def _lfw_root(corpus, options: JobOptions):
    """Where View 1 is scored: --lfw-eval, else the corpus' own LFW root; None for never."""
    root = options.lfw_eval or corpus.verification_root
    return None if not root or str(root) == "none" else root


def _view1_during_training(trainer, corpus, run_dir, options: JobOptions) -> None:
    """Keep the View 1 curve consistent with the step trained from, and score it every
    `options.lfw_eval_every` steps (one process only: the others would wait on the chief)."""
    from zoo.pretrain import lfw_curve

    root = _lfw_root(corpus, options)
    if root is None or not trainer.is_chief:
        return
    lfw_curve.keep_until(run_dir, trainer.step)
    if options.lfw_eval_every > 0 and (trainer.cluster is None or not trainer.cluster.multi):
        trainer.callbacks.append(lfw_curve.view1_callback(
            run_dir, root, options.lfw_eval_every, lambda: trainer.step, last=lambda: trainer.target_steps,
            max_pairs=options.lfw_max_pairs, echo=options.echo))


def _builder(spec: RunSpec, corpus, hub, built: dict):
    """The model builder `Pretrainer.create` calls (inside the distribution scope). It completes the run's
    spec with the encoder's resolved `EncoderInfo` (the registry spec, or the parent's release) in
    `built["spec"]`, so the release of a resumed or parent-started run still carries its spec."""

    def build():
        import zoo
        from zoo.distil import TEACHER_DIM
        from zoo.pretrain.identity import IDENTITY_DIM
        from zoo.pretrain.model import build_pretrain_model

        config = spec.config
        if spec.parent:
            enc = zoo.load_encoder(spec.parent, trainable=True, hub=hub)
            if int(enc.input_shape[1]) != config.size:
                raise InputError(f"--parent {spec.parent} takes {enc.input_shape[1]} px faces; pass "
                                 f"--size {enc.input_shape[1]}.")
        else:
            enc = zoo.build_encoder(spec.encoder_ref, input_size=config.size)
        info = zoo.encoder_info(enc)
        built["spec"] = dataclasses.replace(spec, encoder=info.to_dict() if info is not None else None)
        return build_pretrain_model(enc, corpus.num_identities, heads=config.heads, size=config.size,
                                    code_dim=config.code_dim, film_scales=config.film_scales,
                                    decoder_width=config.decoder_width, inter=config.inter,
                                    inter_channels=config.inter_channels, bottleneck=config.bottleneck,
                                    teacher_dim=0 if config.teacher == "none" else TEACHER_DIM,
                                    identity_dim=IDENTITY_DIM if config.identity_weight > 0 else 0,
                                    arcface_margin=config.arcface_margin, arcface_scale=config.arcface_scale)

    return build


def _finish(encoder, state, spec: RunSpec, corpus, run_dir, memory, options: JobOptions) -> dict:
    """Save the encoder, evaluate it, publish it when asked, write RUN/pretrain.json; its dict."""
    import keras

    from zoo.io import write_json
    from zoo.pretrain.evaluation import evaluate_encoder
    from zoo.pretrain.release import run_encoder_info, save_encoder
    from zoo.distil import teacher_card
    from zoo.pretrain.identity import identity_card
    from zoo.publishing import encoder_metadata

    config, holdout, echo = spec.config, spec.data.holdout, options.echo
    eval_steps, publish, tag, hub = options.eval_steps, options.publish, options.tag, options.hub
    save_encoder(encoder, run_dir / ENCODER)
    metrics = {}
    if holdout and eval_steps > 0:
        _, held = corpus.split(holdout)
        metrics = evaluate_encoder(encoder, corpus, held, config.size, eval_steps=eval_steps,
                                   train_images=options.eval_images, seed=config.seed)
        echo(f"held-out evaluation on {metrics['heldout_identities']} identities: transfer SSIM "
             f"{metrics['transfer_ssim']:.4f}, linear probe accuracy {metrics['probe_accuracy']:.3f} "
             f"(chance {metrics['probe_chance']:.3f})")
    lfw_root = _lfw_root(corpus, options)
    curve = None
    if lfw_root:
        from zoo.pretrain.lfw_curve import add_point
        from zoo.verification import lfw_verification
        lfw = lfw_verification(encoder, lfw_root, view=1, max_pairs=options.lfw_max_pairs)
        key = "lfw_view1_subset_accuracy" if lfw["subset"] else "lfw_view1_accuracy"
        metrics[key] = lfw["accuracy"]
        curve = add_point(run_dir, state["step"], lfw)
        echo(f"LFW View 1 verification accuracy: {100 * lfw['accuracy']:.2f}% ({lfw['pairs']} DevTest pairs"
             f"{', a subset' if lfw['subset'] else ''})")
    losses = state["losses"]
    meta = state["meta"]
    result = {"step": state["step"], "config": config.to_dict(), "corpus": meta["corpus"],
              "holdout": holdout, "metrics": metrics, "memory_per_identity": memory,
              "final_loss": losses[-1][1] if losses else None, "train_seconds": state["seconds"],
              "encoder": str(run_dir / ENCODER), "parent": spec.parent,
              "backend": keras.backend.backend(), "distribute": options.distribute,
              "teacher": teacher_card(config.teacher, config.teacher_weight),
              "identity_objective": identity_card(config), "min_photos": config.min_photos,
              "lfw_view1_curve": curve}
    if publish:
        import hub as hublib
        metadata = encoder_metadata(
            encoder, info=run_encoder_info(encoder, meta, config.size), corpus=meta["corpus"],
            metrics={**metrics, "final_train_loss": result["final_loss"] or float("nan")}, parent=spec.parent,
            training={"recipe": "facezoo pretrain", "steps": config.steps, "batch_size": config.batch_size,
                      "size": config.size, "heads": config.heads, "learning_rate": config.learning_rate,
                      "holdout_identities": holdout, "identity_heads": config.heads,
                      "bytes_per_identity": memory["total_bytes"],
                      "teacher": teacher_card(config.teacher, config.teacher_weight),
                      "identity_objective": identity_card(config), "min_photos": config.min_photos,
                      "training_identities": (meta.get("sampler") or {}).get("train_identities")})
        release = hublib.publish(encoder, publish, tag=tag, hub=hub, metadata=metadata,
                                  message=f"facezoo pretrain: {state['step']} steps on {meta['corpus']['name']}")
        result["release"] = {"repo_id": release.repo_id, "revision": release.revision, "tag": release.tag}
        echo(f"published {release.repo_id}@{release.tag or 'main'} -> commit {release.revision}")
    write_json(run_dir / RESULT, result)
    return result
