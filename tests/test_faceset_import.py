"""Importing faceswap (.fsa) and DeepFaceLab (aligned JPEG) face sets, and refusing hostile pickles.

The files are built from the formats' definitions (faceswap lib/serializer.py + lib/align/alignments.py,
DeepFaceLab DFLIMG/DFLJPG.py) around real photos and a real clip from ../shared, with 68-point landmarks
laid out around the points the real MTCNN finds (eye rings centred on its eyes, nose tip and mouth
corners on its points), so an imported crop must match facezoo's own extraction of the same frame.
"""
import os
import pickle
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from zoo.data import align
from zoo.data.extract import extract, face_records, read_alignments
from zoo.data.faceset_import import five_points, import_dfl, import_faceswap, read_dfl_metadata
from zoo.data.safe_pickle import UnsafePickleError, safe_loads

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "face_data"
PHOTOS = [SHARED / "lfw" / "images_deepfunneled" / n / f"{n}_0001.jpg" for n in ("Tony_Blair", "Colin_Powell")]
CLIP = SHARED / "videos" / "speaker1.mp4"
needs_photos = pytest.mark.skipif(not all(p.is_file() for p in PHOTOS),
                                  reason="LFW photos absent (../shared/face_data)")
needs_clip = pytest.mark.skipif(not CLIP.is_file(), reason=f"real clip {CLIP} absent (../shared/face_data)")


def landmarks68(five, box):
    """68 iBUG points around MTCNN's 5: rings of 6 around each eye (their mean is the eye), 30 = nose tip,
    48/54 = mouth corners; jaw, brows, nose bridge and lips placed plausibly from the box."""
    five = np.asarray(five, np.float64)
    x0, y0, x1, y1 = box
    pts = np.zeros((68, 2))
    t = np.linspace(0, np.pi, 17)
    pts[0:17] = np.stack([(x0 + x1) / 2 - (x1 - x0) / 2 * np.cos(t), y0 + (y1 - y0) * (0.45 + 0.5 * np.sin(t))], 1)
    eye_d = np.linalg.norm(five[1] - five[0])
    ring = np.stack([np.cos(np.arange(6) * np.pi / 3), np.sin(np.arange(6) * np.pi / 3)], 1) * 0.15 * eye_d
    pts[36:42] = five[0] + ring
    pts[42:48] = five[1] + ring
    pts[17:22] = five[0] + np.stack([np.linspace(-0.3, 0.3, 5) * eye_d, np.full(5, -0.3 * eye_d)], 1)
    pts[22:27] = five[1] + np.stack([np.linspace(-0.3, 0.3, 5) * eye_d, np.full(5, -0.3 * eye_d)], 1)
    pts[27:31] = np.linspace((five[0] + five[1]) / 2, five[2], 4)
    pts[31:36] = five[2] + np.stack([np.linspace(-0.2, 0.2, 5) * eye_d, np.full(5, 0.1 * eye_d)], 1)
    pts[48:68] = np.linspace(five[3], five[4], 20)
    pts[48], pts[54] = five[3], five[4]
    return pts


def test_five_points_from_68():
    five = np.array([[30, 40], [70, 41], [50, 60], [35, 80], [66, 79]], float)
    assert np.allclose(five_points(landmarks68(five, (10, 20, 90, 100))), five)


@pytest.fixture(scope="module")
def detector():
    from zoo.data.detect import FaceDetector

    det = FaceDetector(min_face_size=40).start()
    yield det
    det.close()


def fsa_bytes(data):
    """faceswap's .fsa: zlib-compressed pickle of {"__meta__", "__data__"} (lib/serializer.py)."""
    return zlib.compress(pickle.dumps({"__meta__": {"version": 2.3}, "__data__": data}))


def fs_face(face, arrays=True):
    x0, y0, x1, y1 = face["box"]
    lm = landmarks68(face["landmarks"], face["box"])
    return {"x": int(x0), "y": int(y0), "w": int(x1 - x0), "h": int(y1 - y0),
            "landmarks_xy": lm.astype(np.float32) if arrays else lm.tolist(), "mask": {}, "identity": {},
            "thumb": None}


@needs_photos
def test_faceswap_frames_folder_matches_facezoo_extraction(tmp_path, detector):
    frames = tmp_path / "frames"
    frames.mkdir()
    for p in PHOTOS:
        (frames / p.name).write_bytes(p.read_bytes())
    ours = extract([frames], tmp_path / "ours", size=128, select="centre", detector=detector, progress=False)
    assert ours.faces == 2
    faces = face_records(read_alignments(tmp_path / "ours"))
    table = {Path(f["source"]).name: {"faces": [fs_face(f)], "video_meta": {}} for f in faces}
    fsa = tmp_path / "alignments.fsa"
    fsa.write_bytes(fsa_bytes(table))
    counts = import_faceswap(fsa, frames, tmp_path / "imported", size=128)
    assert counts["faces"] == 2 and counts["missing"] == []
    got = {Path(r["source"]).name: r for r in face_records(read_alignments(tmp_path / "imported"))}
    for f in faces:
        r = got[Path(f["source"]).name]
        assert r["source"] == f["source"] and r["frame"] == 0 and r["imported_from"] == "faceswap"
        assert np.allclose(r["matrix"], f["matrix"], atol=1e-3)  # the same geometry as extraction
        a = cv2.imread(str(tmp_path / "ours" / f["crop"])).astype(int)
        b = cv2.imread(str(tmp_path / "imported" / r["crop"])).astype(int)
        assert np.abs(a - b).mean() < 1.0
    from zoo.data.dataset import FolderSource  # what `facezoo train --a FOLDER` reads
    source = FolderSource(tmp_path / "imported")
    assert len(source) == 2 and all(source.read(i)[1].shape == (5, 2) for i in range(2))


@needs_clip
def test_faceswap_video_import_through_the_cli_feeds_convert(tmp_path, detector):
    from zoo.convert.pipeline import _Alignments

    cap = cv2.VideoCapture(str(CLIP))
    clip = tmp_path / "talk.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 22, (352, 352))
    for _ in range(3):
        writer.write(cv2.resize(cap.read()[1], (352, 352), interpolation=cv2.INTER_AREA))
    writer.release()
    from zoo.data.video import iter_frames
    rgbs = [rgb for _, rgb in iter_frames(clip)]
    table, detected = {}, []
    for i, found in enumerate(detector.detect(rgbs)):
        detected.append(found[0].landmarks)
        f = {"box": found[0].box.tolist(), "landmarks": found[0].landmarks}
        table[f"talk_{i + 1:06d}.png"] = {"faces": [fs_face(f, arrays=False)], "video_meta": {}}
    fsa = tmp_path / "talk_alignments.fsa"
    fsa.write_bytes(fsa_bytes(table))
    out = subprocess.run([sys.executable, "-m", "recipes.cli", "extract", "--from-faceswap", str(fsa), str(clip),
                          "-o", str(tmp_path / "faces"), "--size", "64"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "imported 3 faces from 3 frames" in out.stdout
    records = face_records(read_alignments(tmp_path / "faces"))
    assert [r["frame"] for r in records] == [0, 1, 2]
    for r, five in zip(records, detected):
        assert np.allclose(r["landmarks"], five, atol=0.01)  # the 5 points MTCNN found, back from 68
        assert np.abs(np.asarray(r["landmarks_crop"]) - align.template_landmarks(64)).max() < 3
        assert (tmp_path / "faces" / r["crop"]).is_file()
    assert sorted(_Alignments(tmp_path / "faces").faces_of(clip)) == [0, 1, 2]  # convert finds them


def dfl_jpeg(rgb, meta: bytes) -> bytes:
    """A JPEG with DeepFaceLab's APP15 segment (pickled dict) after the last APPn (DFLJPG.dump)."""
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 95])
    data = buf.tobytes()
    pos = 2
    while data[pos + 1] & 0xF0 == 0xE0:  # skip the APPn segments
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    return data[:pos] + b"\xff\xef" + (len(meta) + 2).to_bytes(2, "big") + meta + data[pos:]


@needs_photos
def test_dfl_aligned_jpeg_is_recropped_with_facezoo_geometry(tmp_path, detector):
    rgb = cv2.imread(str(PHOTOS[0]))[:, :, ::-1].copy()
    face = detector.detect([rgb])[0][0]
    lm = landmarks68(face.landmarks, face.box)
    # DFL's own aligned image: a rotated, scaled 256 px crop; its landmarks are in that image's pixels
    to_dfl = cv2.getRotationMatrix2D((125, 125), 12, 1.3)
    to_dfl[:, 2] += 3
    aligned = cv2.warpAffine(rgb, to_dfl, (256, 256), borderMode=cv2.BORDER_REFLECT_101)
    meta = {"face_type": "whole_face", "landmarks": align.transform_points(lm, to_dfl).tolist(),
            "source_filename": "00001.png", "source_rect": [int(v) for v in face.box],
            "source_landmarks": lm.tolist(), "image_to_face_mat": to_dfl.astype(np.float32),
            "eyebrows_expand_mod": 1.0, "xseg_mask": None}
    dfl_dir = tmp_path / "aligned"
    dfl_dir.mkdir()
    (dfl_dir / "00001_0.jpg").write_bytes(dfl_jpeg(aligned, pickle.dumps(meta)))
    assert read_dfl_metadata(dfl_dir / "00001_0.jpg")["source_filename"] == "00001.png"
    out = subprocess.run([sys.executable, "-m", "recipes.cli", "extract", "--from-dfl", str(dfl_dir),
                          "-o", str(tmp_path / "faces"), "--size", "128"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    (r,) = face_records(read_alignments(tmp_path / "faces"))
    assert r["imported_from"] == "deepfacelab" and r["dfl_source"] == "00001.png"
    # photo -> DFL image -> facezoo crop is facezoo's own photo -> crop alignment
    own_crop, own = align.align_face(rgb, five_points(lm), 128)
    chained = np.asarray(r["matrix"]) @ np.vstack([to_dfl, [0, 0, 1]])
    assert np.allclose(chained, own, atol=1e-3)
    got = cv2.imread(str(tmp_path / "faces" / r["crop"]))[:, :, ::-1].astype(int)
    centre = np.s_[32:96, 32:96]  # the face; the edges lie outside DFL's tighter image (reflected there)
    assert np.abs(got[centre] - own_crop[centre].astype(int)).mean() < 6  # resampled twice, JPEG'd once


class Payload:
    """A pickle that writes a file when unpickled: what a hostile .fsa would hold."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (exec, (f"open({self.target!r}, 'w').write('ran')",))


def test_hostile_fsa_and_dfl_never_run_code(tmp_path):
    proof = tmp_path / "proof.txt"
    pickle.loads(pickle.dumps(Payload(proof)))  # the payload is real: plain pickle runs it
    assert proof.read_text() == "ran"
    target = tmp_path / "pwned.txt"
    fsa = tmp_path / "evil.fsa"
    fsa.write_bytes(fsa_bytes({"f_000001.png": {"faces": [{"x": 0, "landmarks_xy": Payload(target)}]}}))
    (tmp_path / "frames").mkdir()
    with pytest.raises(UnsafePickleError, match=r"evil\.fsa asks to run builtins\.exec .* refused"):
        import_faceswap(fsa, tmp_path / "frames", tmp_path / "out")
    dfl_dir = tmp_path / "aligned"
    dfl_dir.mkdir()
    evil = pickle.dumps({"landmarks": Payload(target)})
    (dfl_dir / "x.jpg").write_bytes(dfl_jpeg(np.zeros((64, 64, 3), np.uint8), evil))
    with pytest.raises(UnsafePickleError, match="builtins.exec"):
        import_dfl(dfl_dir, tmp_path / "out2")
    assert not target.exists()
    for evil in (pickle.dumps(os.system), pickle.dumps(np.array([Payload(target)], dtype=object)),
                 pickle.dumps(np.ma.masked_array([1, 2]))):
        with pytest.raises(UnsafePickleError):
            safe_loads(evil)
    assert not target.exists()
    plain = {"a": [1, 2.5, None, True, b"x", ("t",)], "arr": np.arange(6, dtype=np.float32).reshape(3, 2),
             "s": np.float64(2.5)}
    back = safe_loads(pickle.dumps(plain))
    assert back["a"] == plain["a"] and np.array_equal(back["arr"], plain["arr"]) and back["s"] == 2.5
