"""A real video, swapped: extract two talking-head clips, train a pair, convert A's clip to B, measure.

Runs the CLI exactly as a user would (`facezoo extract`, `facezoo train`, `facezoo convert`), then checks:
- mechanics: the output keeps frame count, fps, size and audio; faces were found in >= 95% of frames;
  the background (outside the faces' boxes, grown by half) is unchanged up to codec noise;
- identity: a ridge probe fitted on held-out frames of A and B (the last 20% of each clip, never
  trained on; first half of them) must call >= 80% of the swapped held-out frames B while calling >= 80%
  of the other half of A's held-out frames A. The probe sees only what a swap is meant to change: the
  face under the template mask, in greyscale, standardised per face. `convert` keeps A's hair,
  background and clothes and matches the new face to A's colour by design, so none of those is evidence
  of identity. Two controls say the probe reads identity, not blur: A's held-out frames blurred, and
  A's clip converted to A (the same model and blend, the other decoder), must still be called A. The
  same probe on the encoder's pooled features is reported beside it.
- the judge (`zoo.judge`, when the `judge` extra is installed): ID retrieval and ID similarity of the
  swapped clip's faces, pose and expression error against A's clip (`facezoo judge`'s numbers).
The numbers go to RESULTS/real_swap.json (with the git commit) and are printed. No frame or face is
written outside WORK (never commit WORK: it holds real faces).

Examples:
    python benchmarks/real_swap.py --encoder facezoo/mobilenet-face@lfw-v1 --steps 1500
    python benchmarks/real_swap.py --tiny --work /tmp/rs      # mechanics only, a few minutes (CI)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._provenance import git_commit  # noqa: E402

HELD_OUT = 0.2


def face_data() -> Path:
    return Path(os.environ.get("FACEZOO_FACE_DATA") or ROOT.parent / "shared" / "face_data")



def facezoo(*args, log: Path) -> float:
    """Run one `facezoo` command (as `python -m recipes.cli`), its output appended to `log`; seconds."""
    start = time.perf_counter()
    with open(log, "a") as f:
        f.write("$ facezoo " + " ".join(map(str, args)) + "\n")
        f.flush()
        proc = subprocess.run([sys.executable, "-m", "recipes.cli", *map(str, args)], cwd=ROOT, stdout=f,
                              stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        sys.exit(f"facezoo {args[0]} failed (exit {proc.returncode}); see {log}")
    return time.perf_counter() - start


def face_records(folder: Path) -> list[dict]:
    from zoo.data.alignments import face_records as finished, read_alignments
    return sorted(finished(read_alignments(folder)), key=lambda r: (r["frame"], r["face"]))


def split_frames(folder: Path, out_train: Path) -> tuple[list[dict], list[dict]]:
    """Training faces (first 80% of frames) hard-linked into `out_train` with their records; held-out records."""
    from zoo.data.alignments import write_alignments

    records = face_records(folder)
    frames = sorted({r["frame"] for r in records})
    cut = frames[int(len(frames) * (1 - HELD_OUT))] if frames else 0
    train = [r for r in records if r["frame"] < cut]
    held = [r for r in records if r["frame"] >= cut]
    if out_train.exists():
        shutil.rmtree(out_train)
    out_train.mkdir(parents=True)
    for r in train:
        os.link(folder / r["crop"], out_train / r["crop"])
    write_alignments(out_train, train)
    return train, held


def crops(folder: Path, records, size: int) -> np.ndarray:
    from zoo.data.corpus import _to_square
    from zoo.data.images import read_image
    return np.stack([_to_square(read_image(folder / r["crop"]), size) for r in records])


def face_region(faces: np.ndarray) -> np.ndarray:
    """Each aligned face's pixels under the template mask, greyscale, standardised per face (N, P)."""
    from zoo.data.corpora.faces import template_mask

    inside = template_mask(faces.shape[1]) > 0.5
    grey = faces.astype(np.float64).mean(axis=-1)[:, inside]
    return (grey - grey.mean(1, keepdims=True)) / (grey.std(1, keepdims=True) + 1e-6)


def blurred(faces: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    import cv2
    return np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in faces])


def probe_calls(embed, held_a, held_b, scored: dict) -> dict:
    """Fit a ridge probe on the first half of each clip's held-out faces (embedded by `embed`); the share
    of the other half called right, and the share of each `scored` set called its expected label."""
    from zoo.probes import FeatureProbe

    fa, fb = embed(held_a), embed(held_b)
    ha, hb = len(fa) // 2, len(fb) // 2
    probe = FeatureProbe().fit(np.concatenate([fa[:ha], fb[:hb]]), ["A"] * ha + ["B"] * hb)
    out = {"unswapped_a_called_a": probe.accuracy(fa[ha:], ["A"] * (len(fa) - ha)),
           "unswapped_b_called_b": probe.accuracy(fb[hb:], ["B"] * (len(fb) - hb))}
    for key, (faces, label) in scored.items():
        out[key] = probe.accuracy(embed(faces), [label] * len(faces)) if len(faces) else float("nan")
    return {k: round(v, 4) for k, v in out.items()}


def features(encoder, faces: np.ndarray) -> np.ndarray:
    f = encoder.predict(faces.astype(np.float32) / 255.0, batch_size=32, verbose=0)
    return f.mean(axis=(1, 2)) if f.ndim == 4 else f


def background_change(src: Path, out: Path, records: list[dict]) -> dict:
    """Mean |out - src| per pixel outside every face box grown by 50%, against inside (0-255 levels)."""
    from zoo.data.video import iter_frames

    boxes: dict[int, list] = {}
    for r in records:
        boxes.setdefault(r["frame"], []).append(r["box"])
    outside, inside = [], []
    for (i, a), (_, b) in zip(iter_frames(src), iter_frames(out)):
        m = np.zeros(a.shape[:2], bool)
        for x0, y0, x1, y1 in boxes.get(i, []):
            w, h = x1 - x0, y1 - y0
            m[max(0, int(y0 - h / 4)):int(y1 + h / 4), max(0, int(x0 - w / 4)):int(x1 + w / 4)] = True
        d = np.abs(a.astype(np.int16) - b.astype(np.int16)).mean(axis=2)
        outside.append(float(d[~m].mean()))
        if m.any():
            inside.append(float(d[m].mean()))
    return {"outside_faces_mean_abs": round(float(np.mean(outside)), 3),
            "inside_faces_mean_abs": round(float(np.mean(inside)), 3) if inside else None}


def judge(swapped: Path, work: Path, clip_a: Path, every_n: int) -> dict:
    """The judge's numbers for the swapped clip (up to 100 frames, evenly spaced): ID retrieval of B among
    A, B and 20 LFW people, ID similarity, and pose/expression error against A's clip. Skipped, with the
    reason printed, when the judge extra is not installed."""
    from recipes.judge import format_report
    from zoo.errors import FacezooError
    from zoo.judge import available, judge_swaps

    ok, why = available()
    if not ok:
        print(f"judge: skipped ({why})")
        return {"skipped": why}
    try:
        report = judge_swaps([str(swapped)], target=[work / "B-train"], source=[work / "A-train"],
                             pairs=[clip_a] if every_n == 1 else None, aligned=True)
    except FacezooError as exc:
        print(f"judge: not run ({exc})")
        return {"skipped": str(exc)}
    print(format_report(report))
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a", default="speaker1", help="clip of identity A (a name in face_data/videos or a path)")
    p.add_argument("--b", default="speaker2", help="clip of identity B")
    p.add_argument("--encoder", default=None,
                   help="pretrained encoder ref (e.g. the LFW-pretrained release); default: random init")
    p.add_argument("--arch", default="mobilenet-face", help="architecture when --encoder is not given")
    p.add_argument("--schedule", default="frozen; top2@plateau(window=100); all@plateau(window=100)")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--every-n", type=int, default=1, help="use every Nth frame in extract and convert")
    p.add_argument("--tiny", action="store_true", help="mechanics only: 6 steps, every 3rd frame")
    p.add_argument("--work", default="runs/real-swap", help="work folder (holds real faces: never commit it)")
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--hub", default=None)
    args = p.parse_args(argv)
    if args.tiny:
        args.steps, args.every_n = 6, 3
    clips = []
    for name in (args.a, args.b):
        path = Path(name) if Path(name).suffix else face_data() / "videos" / f"{name}.mp4"
        if not path.is_file():
            sys.exit(f"clip {path} not found: pass a video path, or put the face data at ../shared/face_data "
                     "(or $FACEZOO_FACE_DATA)")
        clips.append(path)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    log = work / "commands.log"
    log.write_text("")
    timings = {}
    from zoo.data.video import video_info

    folders, info = [], []
    for label, clip in zip("AB", clips):
        folder = work / label
        timings[f"extract_{label}"] = facezoo("extract", clip, "-o", folder, "--size", 128, "--largest-only",
                                              "--every-n", args.every_n, log=log)
        folders.append(folder)
        info.append(video_info(clip))
    found = []
    for folder, vi in zip(folders, info):
        frames = -(-vi.frame_count // args.every_n)
        found.append(len({r["frame"] for r in face_records(folder)}) / max(1, frames))
    (train_a, held_a), (train_b, held_b) = [split_frames(f, work / f"{f.name}-train") for f in folders]
    run = work / "run"
    if run.exists():
        shutil.rmtree(run)
    enc = ["--encoder", args.encoder] if args.encoder else ["--encoder", args.arch, "--encoder-weights", "none"]
    hub = ["--hub", args.hub] if args.hub else []
    timings["train"] = facezoo("train", *enc, *hub, "--a", work / "A-train", "--b", work / "B-train", "--run", run,
                               "--schedule", args.schedule if args.encoder else "all", "--steps", args.steps,
                               "--size", args.size, "--batch-size", args.batch_size,
                               "--checkpoint-every", max(args.steps, 1), "--preview-every", max(args.steps, 1),
                               log=log)
    out = work / "swapped.mp4"
    timings["convert"] = facezoo("convert", "--run", run, "--to", "b", clips[0], "-o", out, "--alignments",
                                 folders[0], "--largest", "--every-n", args.every_n, "--no-progress", log=log)
    recon = work / "reconstructed.mp4"  # the control: A's clip through the same model and blend, to A
    timings["convert_control"] = facezoo("convert", "--run", run, "--to", "a", clips[0], "-o", recon, "--alignments",
                                         folders[0], "--largest", "--every-n", args.every_n, "--no-progress", log=log)
    from zoo.convert import has_audio

    src_info, out_info = info[0], video_info(out)
    expected_frames = -(-src_info.frame_count // args.every_n)
    mechanics = {"frames_in": expected_frames, "frames_out": out_info.frame_count,
                 "fps_in": round(src_info.fps / args.every_n, 3), "fps_out": round(out_info.fps, 3),
                 "size_in": list(src_info.size), "size_out": list(out_info.size),
                 "audio_in": has_audio(clips[0]), "audio_out": has_audio(out),
                 "face_share_a": round(found[0], 4), "face_share_b": round(found[1], 4)}
    if args.every_n == 1:
        mechanics.update(background_change(clips[0], out, face_records(folders[0])))
    # Identity: a probe on held-out frames only. The swapped (A->B) and control (A->A) faces are the
    # output videos' faces, found again by `facezoo extract`, at A's held-out frames.
    held_frames = {r["frame"] // args.every_n for r in held_a}
    outputs = {}
    for key, video in (("swapped", out), ("recon", recon)):
        folder = work / f"{key}-faces"
        if folder.exists():
            shutil.rmtree(folder)
        facezoo("extract", video, "-o", folder, "--size", 128, "--largest-only", log=log)
        outputs[key] = (folder, [r for r in face_records(folder) if r["frame"] in held_frames])
    def held_out_faces(size: int):
        """(A's and B's held-out faces, the scored sets: swapped, control A->A, blurred A) at `size` px."""
        faces_a, faces_b = crops(folders[0], held_a, size), crops(folders[1], held_b, size)
        scored = {"swapped_called_b": (crops(*outputs["swapped"], size), "B"),
                  "recon_called_a": (crops(*outputs["recon"], size), "A"),
                  "blurred_a_called_a": (blurred(faces_a), "A")}
        return faces_a, faces_b, scored

    faces_a, faces_b, scored = held_out_faces(args.size)
    identity = {"probe": "ridge on the face under the template mask, greyscale, standardised per face; fitted "
                         "on the first half of each clip's held-out frames",
                "heldout_frames_a": len(faces_a), "heldout_frames_b": len(faces_b),
                "swapped_frames_scored": len(scored["swapped_called_b"][0]),
                "recon_frames_scored": len(scored["recon_called_a"][0]),
                **probe_calls(face_region, faces_a, faces_b, scored)}
    import zoo

    probe_encoder = zoo.load_encoder(args.encoder, hub=args.hub) if args.encoder else \
        zoo.build_encoder(args.arch, input_size=args.size)
    identity["encoder_features"] = {
        "probe": "the same ridge probe on the encoder's pooled features of the whole aligned crop",
        **probe_calls(lambda x: features(probe_encoder, x), *held_out_faces(int(probe_encoder.input_shape[1])))}
    swapped_b = identity["swapped_called_b"]
    checks = {
        "frames_kept": mechanics["frames_out"] == mechanics["frames_in"],
        "fps_kept": abs(mechanics["fps_out"] - mechanics["fps_in"]) < 0.05,
        "size_kept": mechanics["size_out"] == mechanics["size_in"],
        "audio_kept": mechanics["audio_out"] == mechanics["audio_in"],
        "faces_found_95": min(found) >= 0.95,
        "swapped_called_b_80": swapped_b >= 0.8,
        "unswapped_called_a_80": identity["unswapped_a_called_a"] >= 0.8,
        "controls_called_a_80": min(identity["recon_called_a"], identity["blurred_a_called_a"]) >= 0.8,
    }
    if "outside_faces_mean_abs" in mechanics:
        checks["background_unchanged"] = mechanics["outside_faces_mean_abs"] < 3.0
    result = {"commit": git_commit(), "clips": [c.name for c in clips], "encoder": args.encoder or f"random:{args.arch}",
              "schedule": args.schedule if args.encoder else "all", "steps": args.steps, "size": args.size,
              "batch_size": args.batch_size, "every_n": args.every_n, "tiny": args.tiny,
              "mechanics": mechanics, "identity": identity, "checks": checks,
              "seconds": {k: round(v, 1) for k, v in timings.items()},
              "command": "python benchmarks/real_swap.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    result["judge"] = judge(out, work, clips[0], args.every_n)
    name = "real_swap_tiny.json" if args.tiny else "real_swap.json"
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    from zoo.io import write_json
    write_json(results / name, result)
    print(json.dumps(result, indent=2))
    print(f"wrote {results / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
