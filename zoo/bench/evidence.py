"""The time-to-quality experiment: does a pretrained encoder with staged unfreezing train a pair faster?

Part of `zoo.bench`: it uses the library (`zoo.pretrain`, `zoo.training`) and no library module imports it.
This module runs the arms; the pair's faces are `zoo.bench.pairs`, the scoring `zoo.bench.scoring`, the
statistics and claims `zoo.bench.stats`, the outputs (table, PNG, README block) `zoo.bench.ttq_report`,
a card's evidence `zoo.bench.ttq_card` (both re-exported here), the settings `zoo.bench.config`.

The pair is either synthetic (the last two identities of a synthetic corpus; the encoder is pretrained
here on the others) or two real people (`--pair`, with `--pretrained` an encoder that never saw them).
The same swap model is trained on the pair under six arms, with the same data, seeds and step budget:

    scratch         random encoder, trainable from step 0           schedule "all"
    frozen-random   random encoder, frozen throughout               "frozen"   (the control for random features)
    frozen          pretrained encoder, frozen throughout            "frozen"
    open            pretrained encoder, trainable from step 0        "all"
    staged-steps    pretrained, fixed-step stages                    "frozen; top2@S/4; all@S/2"
    staged-plateau  pretrained, plateau-triggered stages             "frozen; top2@plateau; all@plateau"

Every `eval_every` steps the run is scored on held-out faces of A and B (never trained on): masked SSIM
and PSNR of each identity's reconstruction, and the swap's identity: the share of A->B swaps that an
identity probe (ridge regression on pixels, fitted on a third set of faces of A and B that no arm trains
on) calls B. The threshold is scratch's step-0 SSIM plus a fraction (default 95%) of its gain by the end,
per seed; `steps_to_threshold` is the first evaluated step at or above it (None if never).

Every record carries the git commit it ran on and `eval_code_hash`, a hash of the evaluation path's
source (`evaluation_path`): a test fails when committed results were produced by a different one.

Examples:
    >>> cfg = BenchConfig(steps=150, seeds=(0, 1, 2))
    >>> records = run_benchmark(cfg, "bench-out")
    >>> write_results(records, "benchmarks/results/time_to_quality")
"""
from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np

from zoo.bench.config import BenchConfig
from zoo.bench.pairs import PairData
from zoo.bench.provenance import git_commit, source_hash
from zoo.bench.scoring import IdentityProbe, _unit, evaluate_pair, masked_quality
from zoo.bench.stats import ARMS, apply_threshold, steps_to_threshold, summarize, validate_records
from zoo.bench.ttq_card import card_metrics, card_rows, evidence_metadata
from zoo.bench.ttq_report import (COMMAND, README_END, README_START, RESULTS_JSON, interpretation, load_records,
                                  plot_curves, readme_markers, readme_section, render_markdown, render_table,
                                  reproduce_command, results_stem, unfreeze_dips, update_readme, verdict,
                                  write_results)
from zoo.errors import InputError

__all__ = ["ARMS", "BenchConfig", "COMMAND", "IdentityProbe", "PairData", "README_END", "README_START",
           "RESULTS_JSON", "apply_threshold", "card_metrics", "card_rows", "evaluate_pair", "evaluation_hash",
           "evidence_metadata", "interpretation", "load_records", "masked_quality", "plot_curves",
           "readme_markers", "readme_section", "render_markdown", "render_table", "reproduce_command", "results_stem",
           "run_arm", "run_benchmark", "steps_to_threshold", "summarize", "unfreeze_dips", "update_readme",
           "validate_records", "verdict", "write_results"]

log = logging.getLogger("facezoo.evidence")


def evaluation_path() -> list:
    """What turns a trained model into the numbers of a results file: the pair's split, the probe, the
    masked metrics, the BatchNorm recalibration before each evaluation, the arm runner and the threshold."""
    from zoo import losses, training
    from zoo.bench import pairs

    return [pairs.split_faces, pairs.person_faces, pairs.real_pair, pairs.synthetic_pair, IdentityProbe,
            masked_quality, _unit, evaluate_pair, losses.ssim_numpy, losses.psnr, training.recalibrate_batchnorm,
            training.SwapTrainer.calibrate, _eval_callback, run_arm, steps_to_threshold, apply_threshold]


def evaluation_hash() -> str:
    """`source_hash` of `evaluation_path()`: recorded in every results record as `eval_code_hash`."""
    return source_hash(evaluation_path())


def _eval_trainer_class():
    """A SwapTrainer whose `extra_callbacks` (what `run_arm` sets) are its `callbacks=`: Keras callbacks run
    during fit (evaluation without refitting)."""
    from zoo.training import SwapTrainer

    class EvalTrainer(SwapTrainer):
        @property
        def extra_callbacks(self) -> list:
            return self.callbacks

        @extra_callbacks.setter
        def extra_callbacks(self, value) -> None:
            self.callbacks = list(value)

    return EvalTrainer


def _eval_callback(trainer, every: int, evaluate, curve: list, clock: dict):
    import keras

    class Evaluate(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if trainer.step % every == 0 and (not curve or curve[-1]["step"] != trainer.step):
                point(trainer.step)

    def point(step):
        train_seconds = time.perf_counter() - clock["start"] - clock["eval"]
        t = time.perf_counter()
        trainer.calibrate()  # BatchNorm statistics that lag the weights would understate quality
        result = evaluate()
        clock["eval"] += time.perf_counter() - t
        curve.append({"step": int(step), **result, "seconds": round(train_seconds, 2),
                      "stage": trainer.stage_index})
        log.info("step %d: ssim %.4f psnr %.2f swap_b %.2f", step, result["ssim"], result["psnr"],
                 result["swap_b"])

    return Evaluate(), point


def run_arm(arm: str, seed: int, cfg: BenchConfig, encoder_path, data: PairData, probe: IdentityProbe,
            run_dir) -> dict:
    """Train one arm for `cfg.steps` steps, evaluating every `cfg.eval_every`; return its record."""
    import keras

    import zoo
    from zoo.data.dataset import ArraySource, FaceDataset
    from zoo.training import TrainConfig

    keras.utils.set_random_seed(int(seed))
    if arm in ("scratch", "frozen-random"):  # random init: trained from step 0, or frozen throughout
        encoder = zoo.build_encoder(cfg.encoder, input_size=cfg.size)
    else:
        encoder = keras.saving.load_model(str(encoder_path), compile=False, safe_mode=True)
    model = zoo.build_swap_model(encoder, ["a", "b"], decoder_width=cfg.decoder_width,
                                 inter_channels=cfg.inter_channels, bottleneck=cfg.bottleneck)
    dataset = FaceDataset([ArraySource(data.train["a"]), ArraySource(data.train["b"])],
                          batch_size=cfg.batch_size, size=cfg.size, seed=int(seed))
    # Evaluations run at chunk ends: a chunk that divides eval_every puts them exactly on the grid.
    config = TrainConfig(steps=cfg.steps, learning_rate=cfg.learning_rate,
                         chunk=math.gcd(int(cfg.chunk), int(cfg.eval_every)),
                         checkpoint_every=10 ** 9, preview_every=10 ** 9, tensorboard=False)
    trainer = _eval_trainer_class()(model, cfg.schedule(arm), dataset, run_dir, config)
    curve: list[dict] = []
    clock = {"start": time.perf_counter(), "eval": 0.0}
    callback, point = _eval_callback(trainer, int(cfg.eval_every), lambda: evaluate_pair(model, data, probe),
                                     curve, clock)
    trainer.extra_callbacks = [callback]
    point(0)
    trainer.train(int(cfg.steps))
    if curve[-1]["step"] != trainer.step:
        point(trainer.step)
    seconds = time.perf_counter() - clock["start"] - clock["eval"]
    # The end of a run is the mean of its last `final_evals` evaluations: one evaluation of a model in
    # mid-training swings by about 0.01 SSIM from step to step, more than some differences between arms.
    last = curve[-max(1, min(int(cfg.final_evals), len(curve) - 1)):]
    final = {k: round(float(np.mean([p[k] for p in last])), 5) for k in ("ssim", "psnr", "swap_b", "swap_contrast")}
    return {"arm": arm, "seed": int(seed), "schedule": cfg.schedule(arm), "steps": int(trainer.step),
            "steps_to_threshold": None, "seconds_to_threshold": None, "threshold": None,
            "final_ssim": final["ssim"], "final_psnr": final["psnr"], "final_swap_b": final["swap_b"],
            "final_swap_contrast": final["swap_contrast"], "seconds": round(seconds, 1),
            "eval_seconds": round(clock["eval"], 1), "final_evals": len(last),
            "stages": [{"step": int(h["step"]), "trainable": h["trainable"], "reason": h["reason"]}
                       for h in trainer.history],
            "curve": curve}


def pretrain_encoder(cfg: BenchConfig, corpus, out_dir) -> tuple[Path, dict]:
    """Pretrain `cfg.encoder` on every identity but the last two (conditioned heads); save encoder.keras.

    Reuses OUT/pretrain/encoder.keras when it exists with the same settings.
    """
    import keras

    import zoo
    from zoo.pretrain import PretrainConfig, Pretrainer, build_pretrain_model, find_encoder, save_encoder

    run = Path(out_dir) / "pretrain"
    path = run / "encoder.keras"
    info_path = run / "encoder-info.json"
    want = {"encoder": cfg.encoder, "size": cfg.size, "steps": cfg.pretrain_steps, "batch": cfg.pretrain_batch,
            "identities": cfg.identities, "data_seed": cfg.data_seed, "held_out": [cfg.identities - 2,
                                                                                   cfg.identities - 1]}
    if path.exists() and info_path.exists():
        info = json.loads(info_path.read_text())
        if info.get("settings") == want:
            log.info("reusing the pretrained encoder %s", path)
            return path, info
    keras.utils.set_random_seed(cfg.data_seed)
    pcfg = PretrainConfig(steps=cfg.pretrain_steps, batch_size=cfg.pretrain_batch, size=cfg.size,
                          decoder_width=cfg.decoder_width, inter_channels=cfg.inter_channels,
                          bottleneck=cfg.bottleneck, chunk=10, checkpoint_every=10 ** 9,
                          learning_rate=cfg.learning_rate, seed=cfg.data_seed)
    encoder = zoo.build_encoder(cfg.encoder, input_size=cfg.size)
    model = build_pretrain_model(encoder, cfg.identities, heads="conditioned", decoder_width=cfg.decoder_width,
                                 inter_channels=cfg.inter_channels, bottleneck=cfg.bottleneck)
    sampler = corpus.sampler(cfg.pretrain_batch, cfg.size, holdout=2, seed=cfg.data_seed)
    t = time.perf_counter()
    trainer = Pretrainer(model, sampler, run, pcfg)
    state = trainer.train(cfg.pretrain_steps)
    save_encoder(find_encoder(model), path)
    info = {"settings": want, "seconds": round(time.perf_counter() - t, 1),
            "final_loss": state["losses"][-1][1] if state["losses"] else None}
    from zoo.io import write_json
    write_json(info_path, info)
    return path, info


def run_benchmark(cfg: BenchConfig, out_dir, *, progress=print) -> list[dict]:
    """Get the encoder (pretrain one, or `cfg.pretrained`), load the pair, fit the probe, run every arm for
    every seed; return the records, each stamped with the git commit and the evaluation-path hash."""
    from zoo.bench.pairs import real_pair, synthetic_pair
    from zoo.data.corpus import SyntheticCorpus
    from zoo.schedule import trainable_label

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    needs_encoder = any(a not in ("scratch", "frozen-random") for a in cfg.arms)
    if cfg.pair:
        if needs_encoder and not cfg.pretrained:
            raise InputError("a real pair needs --pretrained (the encoder pretrained without the pair's people, "
                             "for example mobilenet-face.lfw-v1, the shipped preset): facezoo pretrains only synthetic "
                             "encoders inside this benchmark.")
        data = real_pair(cfg.pair, cfg.size, probe_fraction=cfg.probe_fraction, eval_fraction=cfg.eval_fraction,
                         split_seed=cfg.data_seed)
        pair_ids = list(data.names)
        progress(f"pair: A = {data.names[0]}, B = {data.names[1]}; faces per person (train/probe/eval): "
                 + ", ".join(f"{k.upper()} {c['train']}/{c['probe']}/{c['eval']}" for k, c in data.counts().items()))
    else:
        corpus = SyntheticCorpus(cfg.identities, seed=cfg.data_seed)
        pair_ids = [cfg.identities - 2, cfg.identities - 1]
        data = synthetic_pair(corpus, pair_ids, cfg.size, train_images=cfg.train_images,
                              eval_images=cfg.eval_images, probe_images=cfg.probe_images)
    if cfg.pretrained and needs_encoder:
        encoder_path, pre_info = _pretrained_path(cfg, out_dir), {"source": cfg.pretrained}
        _check_same_architecture(cfg, encoder_path)
    elif needs_encoder:
        progress(f"pretraining {cfg.encoder} at {cfg.size} px on {cfg.identities - 2} synthetic identities "
                 f"for {cfg.pretrain_steps} steps (pair {pair_ids} held out)")
        encoder_path, pre_info = pretrain_encoder(cfg, corpus, out_dir)
    else:
        encoder_path, pre_info = None, {}
    probe = IdentityProbe().fit(np.concatenate([data.probe["a"], data.probe["b"]]),
                                np.repeat([0, 1], [len(data.probe["a"]), len(data.probe["b"])]))
    probe_acc = probe.accuracy(np.concatenate([data.eval["a"], data.eval["b"]]),
                               np.repeat([0, 1], [len(data.eval["a"]), len(data.eval["b"])]))
    progress(f"identity probe: {probe_acc:.2%} right on the held-out faces of A and B (chance 50%)")
    common = {"config": cfg.to_dict(), "pretrain": pre_info, "probe_accuracy": round(probe_acc, 4),
              "pair": pair_ids, "pair_sources": data.sources, "pair_counts": data.counts(),
              "git_commit": git_commit(), "eval_code_hash": evaluation_hash()}
    records = []
    for arm, seed in cfg.runs():
        t = time.perf_counter()
        rec = run_arm(arm, seed, cfg, encoder_path, data, probe, out_dir / "runs" / f"{arm}-seed{seed}")
        rec.update(common)
        records.append(rec)
        progress(f"{arm:>15} seed {seed}: final ssim {rec['final_ssim']:.4f} psnr {rec['final_psnr']:.2f} "
                 f"swap->B {rec['final_swap_b']:.2f} (contrast {rec['final_swap_contrast']:+.2f}); stages "
                 + ", ".join(f"{trainable_label(s['trainable'])}@{s['step']}" for s in rec["stages"])
                 + f" ({time.perf_counter() - t:.0f}s, {time.perf_counter() - t0:.0f}s total)")
    apply_threshold(records, cfg.threshold)
    for r in records:
        r["total_seconds"] = round(time.perf_counter() - t0, 1)
    return records


def _check_same_architecture(cfg: BenchConfig, encoder_path) -> None:
    """The random-init arms must build the pretrained encoder's architecture, or the comparison is void."""
    import keras

    import zoo

    pretrained = keras.saving.load_model(str(encoder_path), compile=False, safe_mode=True)
    fresh = zoo.build_encoder(cfg.encoder, input_size=cfg.size)
    if pretrained.count_params() != fresh.count_params() or pretrained.output_shape != fresh.output_shape:
        raise InputError(f"--pretrained {cfg.pretrained} is not a {cfg.encoder} at {cfg.size} px "
                         f"({pretrained.count_params()} parameters, output {pretrained.output_shape}; a fresh "
                         f"{cfg.encoder} has {fresh.count_params()}, {fresh.output_shape}): pass the matching "
                         "--encoder and --size, so scratch and frozen-random use the same architecture.")


def _pretrained_path(cfg: BenchConfig, out_dir) -> Path:
    """A .keras file of `cfg.pretrained` (a path, or a hub ref loaded and saved once into OUT)."""
    if str(cfg.pretrained).endswith(".keras") and Path(cfg.pretrained).exists():
        return Path(cfg.pretrained)
    from zoo.pretrain import save_encoder
    from zoo.training import prepare_encoder

    encoder, _ = prepare_encoder(cfg.pretrained, size=cfg.size)
    return save_encoder(encoder, Path(out_dir) / "pretrained.keras")

