"""The quickstart's report: one `report.html` in the output folder, images as relative PNG links.

Sections: the data it made (a grid of sample faces from the corpus), the encoder it published (hub repo,
revision, sha256 of each file), the schedule's stage changes, the pair's loss curve (stage changes marked)
and, when given, a time-to-quality curve, the training previews, and a converted sample (one of A's corpus
images swapped to B with its ground-truth landmarks).

Examples:
    >>> write_report("facezoo-quickstart", summary, model=trainer.model, pair_ids=("id00006", "id00007"))
"""
from __future__ import annotations

import html
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np

from zoo.errors import MissingFileError

log = logging.getLogger("facezoo.report")

REPORT = "report.html"
ASSETS = "report"


def _rel(path, root) -> str:
    return Path(os.path.relpath(Path(path).resolve(), Path(root).resolve())).as_posix()


def _img(path, root, alt: str, width: int | None = None) -> str:
    w = f' width="{width}"' if width else ""
    return (f'<figure><img src="{html.escape(_rel(path, root))}" alt="{html.escape(alt)}"{w}>'
            f"<figcaption>{html.escape(alt)}</figcaption></figure>")


def corpus_grid(corpus_dir, identities, per_identity: int = 6, size: int = 64) -> np.ndarray:
    """Rows: identities, columns: their first images (RGB uint8), read from `corpus_dir/<identity>/*.png`."""
    from zoo.data.images import read_image

    rows = []
    per_identity = min(per_identity, max((len(list(Path(corpus_dir, n).glob("*.png"))) for n in identities),
                                         default=0)) or 1
    for name in identities:
        files = sorted(Path(corpus_dir, name).glob("*.png"))[:per_identity]
        if not files:
            continue
        tiles = [_fit(read_image(f), size) for f in files]
        tiles += [np.zeros((size, size, 3), np.uint8)] * (per_identity - len(tiles))
        rows.append(np.concatenate(tiles, axis=1))
    if not rows:
        raise MissingFileError(f"no PNG faces under {corpus_dir} for {list(identities)}")
    return np.concatenate(rows, axis=0)


def _fit(image, size: int) -> np.ndarray:
    import cv2
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def converted_sample(model, corpus_dir, identity: str, to: str = "b") -> tuple[np.ndarray, np.ndarray, str]:
    """(original, swapped, relative path) for the first image of `identity` in the corpus, swapped `to`,
    using the ground-truth landmarks in `corpus_dir/landmarks.jsonl`."""
    from zoo.convert import swap_image
    from zoo.data.images import read_image
    from zoo.data.synthetic import LANDMARKS_FILE

    with open(Path(corpus_dir) / LANDMARKS_FILE) as f:
        for line in f:
            rec = json.loads(line)
            if rec["identity"] == identity:
                break
        else:
            raise MissingFileError(f"{identity} has no entry in {Path(corpus_dir) / LANDMARKS_FILE}")
    image = read_image(Path(corpus_dir) / rec["path"])
    out = swap_image(model, image, to=to, landmarks=np.asarray(rec["landmarks"], np.float64))
    return image, out, rec["path"]


def write_report(out_dir, summary: dict, *, model=None, corpus_dir=None, data_identities=None,
                 pair_ids=None, pair_run=None, extra_curves=None, evidence_json=None,
                 title: str = "facezoo quickstart") -> Path:
    """Write OUT/report.html and its images under OUT/report/; return the HTML path.

    Args:
        summary: the quickstart summary (encoder repo_id/revision/files, pretrain, pair stages, seconds).
        model: the trained pair's `SwapModel`, for the converted sample (skipped when None).
        corpus_dir: the synthetic corpus folder (`<identity>/*.png` + `landmarks.jsonl`).
        data_identities: identity folder names to show in the data grid (default: all in the corpus).
        pair_ids: (A, B) identity folder names of the pair.
        pair_run: the pair's run folder (loss.png, previews/).
        extra_curves: more PNGs to show under "curves".
        evidence_json: time-to-quality results JSON files (`zoo.bench.evidence`; one path or a list, e.g. the
            real pair's and the synthetic pair's): each one's per-arm table, claims and curves (the PNG next to
            it) are shown, those that do not exist skipped, with where they come from and the command that reproduces them.
    """
    from zoo.io import atomic_write
    from zoo.preview import write_png
    from zoo.schedule import trainable_label

    out = Path(out_dir)
    assets = out / ASSETS
    assets.mkdir(parents=True, exist_ok=True)
    parts = [f"<h1>{html.escape(title)}</h1>",
             f"<p>Finished in {summary.get('seconds', '?')} s.</p>"]
    if summary.get("about"):  # what was run, what quality to expect at that budget, a real run's command
        parts.append("<h2>What this run is</h2>")
        parts.extend(f"<p>{html.escape(str(line))}</p>" for line in summary["about"])

    # data
    if corpus_dir is not None and Path(corpus_dir).exists():
        names = list(data_identities or sorted(p.name for p in Path(corpus_dir).iterdir() if p.is_dir()))
        grid = write_png(assets / "data.png", corpus_grid(corpus_dir, names[:8]))
        parts.append("<h2>Data</h2>")
        parts.append(f"<p>Corpus <code>{html.escape(str(corpus_dir))}</code>: "
                     f"{len(names)} identities (rows: the first {min(8, len(names))}).</p>")
        parts.append(_img(grid, out, "sample faces of the corpus"))

    # encoder
    enc = summary.get("encoder") or {}
    if enc:
        parts.append("<h2>Encoder</h2>")
        parts.append(f"<p>Published <code>{html.escape(str(enc.get('repo_id')))}</code> at revision "
                     f"<code>{html.escape(str(enc.get('revision')))}</code>"
                     + (f" after {summary['pretrain'].get('steps')} steps on "
                        f"{summary['pretrain'].get('identities')} identities" if summary.get("pretrain") else "")
                     + ".</p>")
        files = enc.get("files") or {}
        if files:
            parts.append("<table><tr><th>file</th><th>sha256</th></tr>" + "".join(
                f"<tr><td><code>{html.escape(k)}</code></td><td><code>{html.escape(str(v))}</code></td></tr>"
                for k, v in sorted(files.items())) + "</table>")

    # stages
    pair = summary.get("pair") or {}
    stages = pair.get("stages") or []
    if stages:
        parts.append("<h2>Stage changes</h2><table><tr><th>step</th><th>trainable</th><th>reason</th></tr>")
        parts.append("".join(f"<tr><td>{int(s.get('step', 0))}</td><td>{html.escape(trainable_label(str(s.get('trainable'))))}"
                             f"</td><td>{html.escape(str(s.get('reason')))}</td></tr>" for s in stages))
        parts.append("</table>")

    # curves
    curves = []
    if pair_run is not None and (Path(pair_run) / "loss.png").exists():
        curves.append((shutil.copyfile(Path(pair_run) / "loss.png", assets / "loss.png"),
                       "the pair's training loss (dashed: stage changes)"))
    for k, path in enumerate(extra_curves or []):
        if Path(path).exists():
            curves.append((shutil.copyfile(path, assets / f"curve-{k}.png"), Path(path).stem.replace("_", " ")))
    if curves:
        parts.append("<h2>Curves</h2>")
        parts.extend(_img(p, out, alt) for p, alt in curves)

    # time to quality
    evidence = [evidence_json] if isinstance(evidence_json, (str, Path)) else list(evidence_json or [])
    for path in evidence:
        if Path(path).exists():
            parts.extend(_evidence_section(Path(path), out, assets))

    # previews
    previews = sorted((Path(pair_run) / "previews").glob("*.png")) if pair_run is not None else []
    if previews:
        parts.append("<h2>Previews</h2><p>Columns: A, A→A, A→B, B, B→B, B→A.</p>")
        for p in previews[-3:]:
            dst = shutil.copyfile(p, assets / f"preview-{p.name}")
            parts.append(_img(dst, out, f"preview at {p.stem}"))

    # converted sample
    if model is not None and corpus_dir is not None and pair_ids:
        try:
            original, swapped, rel = converted_sample(model, corpus_dir, pair_ids[0], to="b")
            parts.append("<h2>Converted sample</h2>"
                         f"<p><code>{html.escape(rel)}</code> (identity A) swapped to B with "
                         "<code>zoo.swap_image</code> and its ground-truth landmarks.</p>")
            parts.append(_img(write_png(assets / "convert-source.png", original), out, "source (A)"))
            parts.append(_img(write_png(assets / "convert-swapped.png", swapped), out, "swapped to B"))
        except Exception as exc:  # noqa: BLE001 - the report must not fail the run
            log.warning("converted sample skipped: %s", exc)
            parts.append(f"<h2>Converted sample</h2><p>skipped: {html.escape(str(exc))}</p>")

    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}figure{display:inline-block;"
             "margin:0 1em 1em 0}img{max-width:100%;image-rendering:pixelated;border:1px solid #ccc}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")
    path = out / REPORT
    with atomic_write(path, "w") as f:
        f.write(page)
    return path


def _evidence_section(path: Path, out: Path, assets: Path) -> list[str]:
    """HTML for a time-to-quality results file: provenance, the per-arm table, the curves."""
    from zoo.bench.evidence import evidence_metadata

    ev = evidence_metadata(path)  # the same summary a published card shows
    parts = [f"<h2>Time to quality, {html.escape(ev['title'])}: the committed benchmark (not this run)</h2>",
             "<p>These numbers come from facezoo's time-to-quality benchmark, not from the run above. "
             f"From <code>{html.escape(str(path))}</code>: {html.escape(ev['setup'])}; threshold "
             f"{html.escape(ev['threshold'])}. Reproduce with <code>{html.escape(ev['command'])}</code>.</p>",
             "<table><tr><th>arm</th><th>runs reaching threshold</th><th>mean steps to threshold</th>"
             "<th>final SSIM (mean ± std)</th><th>swaps called B</th></tr>"]
    for r in ev["arms"]:
        steps = "never" if r["steps_to_threshold"] is None else r["steps_to_threshold"]
        parts.append(f"<tr><td>{html.escape(r['arm'])}</td><td>{r['reached']}/{r['runs']}</td><td>{steps}</td>"
                     f"<td>{r['final_ssim']} ± {r['final_ssim_std']}</td><td>{r['swap_b']}</td></tr>")
    parts.append("</table>")
    if ev.get("claims"):
        parts.append("<ul>" + "".join(f"<li>{html.escape(c)}</li>" for c in ev["claims"]) + "</ul>")
    parts.extend(f"<p>{html.escape(note)}</p>" for note in ev["verdict"])
    png = path.with_suffix(".png")
    if png.exists():
        parts.append(_img(shutil.copyfile(png, assets / png.name), out,
                          "time-to-quality curves per arm (stage changes marked)"))
    return parts


def image_sources(html_path) -> list[Path]:
    """The files the report's <img> tags point at (resolved against the report's folder)."""
    import re
    text = Path(html_path).read_text()
    return [Path(html_path).parent / html.unescape(src) for src in re.findall(r'<img src="([^"]+)"', text)]
