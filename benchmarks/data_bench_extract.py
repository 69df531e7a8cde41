"""Extraction throughput vs raw MTCNN on the same images: the overhead facezoo adds (target <= 10%).

Raw: `mtcnn.detect_faces` on in-memory RGB batches. Extraction: `zoo.data.extract.extract` on the same
images as PNG files (read + sha256 + detect + align + write crop + fsync'd alignments line), with the
same warm detector and batch size. Both run --repeats times, interleaved; the best of each is compared.
The added work (everything but detection) is also timed alone, which other load disturbs less.

    python benchmarks/data_bench_extract.py [--images 32] [--batch-size 16] [--size 256]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    from skimage import data

    from zoo.data.detect import FaceDetector
    from zoo.data.extract import extract
    from zoo.data.images import write_image

    base = data.astronaut()
    images = [np.ascontiguousarray(np.roll(base, (3 * i, 5 * i), axis=(0, 1))) for i in range(args.images)]
    work = Path(tempfile.mkdtemp(prefix="facezoo-bench-"))
    try:
        for i, img in enumerate(images):
            write_image(work / "in" / f"img{i:03d}.png", img)
        detector = FaceDetector(min_face_size=20).start()
        mtcnn = detector._core.mtcnn  # the very same networks
        kwargs = dict(box_format="xyxy", output_type="numpy", min_face_size=20)
        mtcnn.detect_faces(images[:args.batch_size], **kwargs)  # warm-up (tracing)

        # Interleaved repeats; the minimum of each is the least disturbed by other load on the machine.
        raw_times, ext_times, n_raw, faces = [], [], 0, 0
        for r in range(args.repeats):
            t = time.perf_counter()
            n_raw = 0
            for k in range(0, len(images), args.batch_size):
                rows = mtcnn.detect_faces(images[k:k + args.batch_size], **kwargs)
                n_raw += int((np.asarray(rows)[:, 5] >= 0.9).sum()) if len(rows) else 0
            raw_times.append(time.perf_counter() - t)

            t = time.perf_counter()
            report = extract([work / "in"], work / f"out{r}", size=args.size, batch_size=args.batch_size,
                             detector=detector, progress=False)
            ext_times.append(time.perf_counter() - t)
            faces = report.faces

        # The work extraction adds around detection, timed alone (robust to load from other processes).
        from zoo.data.align import align_face
        from zoo.data.alignments import AlignmentsJournal
        from zoo.data.images import read_image
        from zoo.io import sha256_file
        found = [f[0] for f in detector.detect(images)]
        journal = AlignmentsJournal(work / "side.jsonl")
        side = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            for i, face in enumerate(found):
                path = work / "in" / f"img{i:03d}.png"
                sha256_file(path)
                img = read_image(path)
                crop, _ = align_face(img, face.landmarks, args.size)
                write_image(work / "side" / f"{i}.png", crop)
                journal.write({"face": i, "landmarks": face.landmarks.tolist()})
            side.append(time.perf_counter() - t)
        journal.close()
        detector.close()
        raw, ext, extra = min(raw_times), min(ext_times), min(side)
        print(f"{args.images} images 512x512, batch {args.batch_size}, crops {args.size} px, "
              f"{n_raw} raw faces, {faces} extracted faces, best of {args.repeats}")
        print(f"raw mtcnn.detect_faces : {raw:7.2f} s  {n_raw / raw:6.1f} faces/s")
        print(f"facezoo extract        : {ext:7.2f} s  {faces / ext:6.1f} faces/s")
        print(f"overhead, end to end   : {100 * (ext / raw - 1):+6.1f} %  (target <= 10 %)")
        print(f"overhead, added work   : {100 * extra / raw:+6.1f} %  (read+sha256+align+write crop+fsync'd "
              f"line, {1000 * extra / len(images):.1f} ms/face, timed alone)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
