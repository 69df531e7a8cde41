"""Convert throughput: frames/s for 128 px faces in a 640x360 video, and where the time goes.

A synthetic clip (one moving face per frame, a few frames without one, an audio track) is converted
twice with the same warm model: once detecting faces on the fly with MTCNN, once from an alignments
file (what `facezoo extract` leaves), so the detector's share is measured side by side. Each run reports
frames/s and seconds per stage: decode (reading frames), detect (MTCNN), model (encoder + decoder),
blend (align, colour match, mask, paste back) and encode (ffmpeg pipe, audio mux, previews).

    python benchmarks/convert_bench.py [--frames 48] [--size 128] [--encoder mobilenet-face] [--batch-size 16]
"""
from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

W, H = 640, 360


def make_clip(folder: Path, frames: int, face_px: int, fps: float = 25.0):
    """A 640x360 clip of a synthetic face moving about, its ground-truth alignments file."""
    import numpy as np

    from zoo.convert import ffmpeg_exe
    from zoo.data.synthetic import SyntheticFaces

    faces = SyntheticFaces(10, size=face_px, seed=0)
    y, x = np.mgrid[0:H, 0:W]
    bg = np.stack([30 + x * 0.2, 50 + y * 0.3, 90 + 0 * x], -1).clip(0, 255).astype(np.uint8)
    images, truths = faces.batch([3] * frames, list(range(frames)))
    out, records = [], []
    src = folder / "clip.mp4"
    for t in range(frames):
        frame = bg.copy()
        if t % 12 != 11:  # every 12th frame has nobody in it
            ox = int((W - face_px) * (0.5 + 0.45 * math.sin(t / 9)))
            oy = int((H - face_px) * (0.5 + 0.4 * math.cos(t / 7)))
            frame[oy:oy + face_px, ox:ox + face_px] = images[t]
            lms = truths["landmarks"][t].astype(float) + (ox, oy)
            records.append({"type": "face", "source": str(src.resolve()), "sha256": "-", "frame": t, "face": 0,
                            "box": [ox, oy, ox + face_px, oy + face_px], "landmarks": lms.tolist(), "score": 1.0})
        out.append(frame)
    records.append({"type": "done", "source": str(src.resolve()), "sha256": "-", "frames": frames,
                    "faces": len(records)})
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{W}x{H}", "-r", str(fps), "-i", "-", "-f", "lavfi", "-i",
           f"sine=frequency=440:duration={frames / fps}", "-c:a", "aac", "-shortest",
           "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", str(src)]
    subprocess.run(cmd, input=b"".join(f.tobytes() for f in out), check=True)
    from zoo.data.alignments import ALIGNMENTS_FILE, write_alignments
    align = folder / ALIGNMENTS_FILE
    write_alignments(align, records)
    return src, align


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", type=int, default=128, help="model input (face) size")
    parser.add_argument("--face-px", type=int, default=200, help="rendered face size in the frame")
    parser.add_argument("--encoder", default="mobilenet-face")
    parser.add_argument("--decoder-width", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    import numpy as np

    import zoo
    from zoo.convert import convert
    from zoo.data.detect import FaceDetector

    with tempfile.TemporaryDirectory(prefix="convert-bench-") as tmp:
        tmp = Path(tmp)
        src, align = make_clip(tmp, args.frames, args.face_px)
        enc = zoo.build_encoder(args.encoder, input_size=args.size)
        model = zoo.build_swap_model(enc, identities=["a", "b"], decoder_width=args.decoder_width)
        model.decode(np.zeros((2, args.size, args.size, 3), np.float32), "b")  # warm up
        detector = FaceDetector(min_face_size=20).start()  # 40 trips an mtcnn 1.0 pyramid bug at 360 px
        from zoo.data.video import iter_frames
        detector.detect([next(iter_frames(src))[1]])  # warm up
        print(f"{args.frames} frames {W}x{H}, {args.size} px faces, {args.encoder} "
              f"({model.count_params() / 1e6:.1f}M params), batch {args.batch_size}, "
              f"keras backend {__import__('keras').backend.backend()}")
        rows = []
        for mode in ("detect", "alignments"):
            t0 = time.perf_counter()
            report = convert(model, [src], tmp / f"out-{mode}.mp4", to="b", batch_size=args.batch_size,
                             alignments=align if mode == "alignments" else None,
                             detector=detector, progress=False)
            wall = time.perf_counter() - t0
            rows.append((mode, report, wall))
        detector.close()
    stages = ("decode", "detect", "model", "blend", "encode")
    print(f"{'faces from':<12}{'frames/s':>9}{'faces':>7}  " + "".join(f"{s:>14}" for s in stages))
    for mode, report, wall in rows:
        total = sum(report.timings.values()) or 1.0
        cells = "".join(f"{report.timings[s]:>7.2f}s {100 * report.timings[s] / total:>4.0f}%" for s in stages)
        print(f"{mode:<12}{report.frames / wall:>9.2f}{report.faces:>7}  {cells}")
    (_, det, det_wall), (_, ali, ali_wall) = rows
    slowest = max(det.timings, key=det.timings.get)
    print(f"slowest stage with on-the-fly detection: {slowest}; alignments file vs detection: "
          f"{(det_wall / ali_wall):.2f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
