"""Benchmarks, one subcommand each: `facezoo bench time-to-quality` and `facezoo bench lfw`.

    time-to-quality   pretrained + staged unfreezing vs scratch vs frozen: swap-training time to quality
    lfw               an encoder's (or the judge's, judge:dlib) verification accuracy by LFW's protocol

Run `facezoo bench BENCHMARK --help` for a benchmark's own options.
"""
from __future__ import annotations

import argparse
import logging
import os

from recipes._common import UserError, main_for

TTQ_DOC = """`facezoo bench time-to-quality`: pretrained + staged unfreezing vs scratch vs frozen.

Pretrains an encoder on synthetic identities (the A/B pair held out), trains the same swap model on the
pair under five arms (scratch, frozen, open, staged-steps, staged-plateau) for several seeds, evaluates
every K steps on held-out renders (masked SSIM/PSNR, and the share of A->B swaps an identity probe calls
B), and writes RESULTS/time_to_quality.json|.md|.png. See `zoo.bench.evidence`.

Examples:
    facezoo bench time-to-quality                                # the default small budget (~25 min, 2 CPUs)
    facezoo bench time-to-quality --seeds 0 --arms scratch staged-steps --steps 20 --results /tmp/r
    facezoo bench time-to-quality --update-readme                # also regenerate README's results section
    facezoo bench time-to-quality --from-json benchmarks/results/time_to_quality.json --update-readme
"""


def add_arguments(parser) -> None:
    """One subcommand per benchmark, each with only its own flags (`facezoo bench lfw --help`)."""
    from recipes.bench_lfw import add_arguments as add_lfw_arguments
    from recipes.bench_lfw import __doc__ as lfw_doc

    sub = parser.add_subparsers(dest="which", required=True, metavar="BENCHMARK")
    ttq = sub.add_parser("time-to-quality", help="pretrained + staged unfreezing vs scratch vs frozen (swap "
                         "training time to a quality threshold)", description=TTQ_DOC.strip(),
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    add_ttq_arguments(ttq)
    lfw = sub.add_parser("lfw", help="an encoder's (or the judge's) face-verification accuracy by LFW's protocol",
                         description=lfw_doc.strip(), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_lfw_arguments(lfw)


def add_ttq_arguments(parser) -> None:
    from zoo.bench.evidence import ARMS, BenchConfig

    d = BenchConfig()
    parser.add_argument("--encoder", default=d.encoder, help="registry encoder (default: %(default)s)")
    parser.add_argument("--size", type=int, default=d.size, help="face size in pixels (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=d.steps, help="pair training steps per arm (default: %(default)s)")
    parser.add_argument("--eval-every", type=int, default=d.eval_every, help="steps between evaluations")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(d.seeds), help="seeds (default: 0 1 2)")
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(d.arms), help="arms to run")
    parser.add_argument("--single-seed-arms", nargs="+", choices=ARMS, default=[], metavar="ARM",
                        help="run these arms on the first seed only (a budget cut; the results say so)")
    parser.add_argument("--batch-size", type=int, default=d.batch_size, help="faces per identity per step")
    parser.add_argument("--decoder-width", type=int, default=d.decoder_width)
    parser.add_argument("--identities", type=int, default=d.identities,
                        help="synthetic identities; the last two are the pair, held out of pretraining")
    parser.add_argument("--pretrain-steps", type=int, default=d.pretrain_steps)
    parser.add_argument("--pretrained", default=None,
                        help="use this encoder (.keras path or hub ref) instead of pretraining one")
    parser.add_argument("--plateau-window", type=int, default=d.plateau_window,
                        help="staged-plateau: steps per loss window of the plateau trigger (default: %(default)s)")
    parser.add_argument("--plateau-threshold", type=float, default=d.plateau_threshold,
                        help="staged-plateau: relative loss improvement under which a stage opens (default: %(default)s)")
    parser.add_argument("--chunk", type=int, default=d.chunk,
                        help="steps per training chunk; evaluations land on chunk ends (default: %(default)s)")
    parser.add_argument("--final-evals", type=int, default=d.final_evals,
                        help="a run's final numbers are the mean of its last N evaluations (default: %(default)s)")
    parser.add_argument("--pair", nargs=2, default=None, metavar=("A", "B"),
                        help="train a real pair instead of the synthetic one: each person is lfw:NAME (LFW under "
                             "--lfw or $FACEZOO_FACE_DATA/lfw), a folder of photos or of `facezoo extract` faces, "
                             "or a video; needs --pretrained (an encoder that never saw them)")
    parser.add_argument("--probe-fraction", type=float, default=d.probe_fraction,
                        help="real pair: share of each person's faces for the identity probe (default: %(default)s)")
    parser.add_argument("--eval-fraction", type=float, default=d.eval_fraction,
                        help="real pair: share of each person's faces held out and scored (default: %(default)s)")
    parser.add_argument("--data-seed", type=int, default=d.data_seed,
                        help="seed of the data: the synthetic corpus, or how a real pair's photos are split "
                             "(default: %(default)s)")
    parser.add_argument("--name", default=None,
                        help="results file stem (default: time_to_quality, or time_to_quality_real with --pair)")
    parser.add_argument("--threshold", type=float, default=d.threshold,
                        help="fraction of scratch's final SSIM that defines the threshold (default: %(default)s)")
    parser.add_argument("--out", default="runs/time-to-quality",
                        help="work folder: runs, the pretrained encoder, reused when settings match (default: %(default)s)")
    parser.add_argument("--results", default="benchmarks/results",
                        help="folder for time_to_quality.json|.md|.png (default: %(default)s)")
    parser.add_argument("--from-json", default=None,
                        help="skip training: regenerate the table, plot (and README) from this results JSON")
    parser.add_argument("--update-readme", nargs="?", const="README.md", default=None, metavar="README",
                        help="regenerate the README's results section from the results (default README.md)")
    parser.add_argument("--verbose", "-v", action="store_true")
    parser.add_argument("--lfw", default=None, metavar="ROOT",
                        help="LFW folder for lfw:NAME pair people (default: ../shared/face_data/lfw, then "
                             "$FACEZOO_FACE_DATA/lfw)")


def run(args) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")
    from pathlib import Path

    if args.which == "lfw":
        from recipes.bench_lfw import run_lfw
        return run_lfw(args)
    from zoo.bench import evidence

    if args.from_json:
        path = Path(args.from_json)
        if not path.exists():
            raise UserError(f"--from-json {path}: no such file. Run `facezoo bench time-to-quality` first.")
        try:
            records = evidence.load_records(path)
        except (ValueError, KeyError) as exc:
            raise UserError(f"--from-json {path} is not a time-to-quality results file: {exc}") from None
    else:
        if "scratch" not in args.arms:
            raise UserError("--arms must include scratch: the threshold is defined from its final SSIM.")
        if args.eval_every < 1 or args.steps < 1:
            raise UserError("--steps and --eval-every must be at least 1.")
        cfg = evidence.BenchConfig(encoder=args.encoder, size=args.size, steps=args.steps,
                                   eval_every=args.eval_every, seeds=tuple(args.seeds), arms=tuple(args.arms),
                                   batch_size=args.batch_size, decoder_width=args.decoder_width,
                                   identities=args.identities, pretrain_steps=args.pretrain_steps,
                                   pretrained=args.pretrained, threshold=args.threshold,
                                   pair=tuple(_pair_spec(p, args.lfw) for p in args.pair or ()),
                                   probe_fraction=args.probe_fraction, eval_fraction=args.eval_fraction,
                                   plateau_window=args.plateau_window, plateau_threshold=args.plateau_threshold,
                                   chunk=args.chunk, final_evals=args.final_evals,
                                   single_seed_arms=tuple(args.single_seed_arms), data_seed=args.data_seed)
        for name, frac in (("--probe-fraction", args.probe_fraction), ("--eval-fraction", args.eval_fraction)):
            if not 0 < frac < 0.5:
                raise UserError(f"{name} {frac}: give a share between 0 and 0.5.")
        records = evidence.run_benchmark(cfg, args.out, progress=lambda s: print(f"[bench] {s}", flush=True))
    stem = args.name or evidence.results_stem(records)
    paths = evidence.write_results(records, Path(args.results) / stem)
    print(evidence.render_markdown(records))
    for kind, p in paths.items():
        print(f"  {kind:<5} {p}")
    if args.update_readme:
        evidence.update_readme(args.update_readme, records)
        print(f"  README section regenerated in {args.update_readme}")
    return 0


def _pair_spec(spec: str, lfw_root) -> str:
    """`lfw:NAME` with `--lfw ROOT` given: `lfw:ROOT:NAME`; anything else unchanged."""
    if lfw_root and spec.startswith("lfw:") and ":" not in spec[4:]:
        return f"lfw:{lfw_root}:{spec[4:]}"
    return spec


def main():
    main_for(__name__, add_arguments, run)


if __name__ == "__main__":
    main()
