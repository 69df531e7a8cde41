"""zoo.bench.report: the quickstart's report.html, its images on disk, and loading them in headless Chromium."""
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from zoo.bench import evidence, report


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def quickstart_like(tmp_path_factory):
    """A quickstart-shaped folder: corpus, a tiny trained-shape pair model, loss plot and previews."""
    import zoo
    from zoo.data.synthetic import SyntheticFaces, write_corpus
    from zoo.preview import write_png

    out = tmp_path_factory.mktemp("qs")
    write_corpus(out / "corpus", SyntheticFaces(4, size=64, seed=0), 2)
    model = zoo.build_swap_model(zoo.build_encoder("mobilenet-face", input_size=32), ["a", "b"],
                                 decoder_width=16, inter_channels=16, bottleneck=32)
    pair = out / "pair"
    (pair / "previews").mkdir(parents=True)
    for step in (10, 20):
        write_png(pair / "previews" / f"step-{step:08d}.png", np.full((32, 96, 3), step * 5, np.uint8))
    write_png(pair / "loss.png", np.zeros((40, 60, 3), np.uint8))
    summary = {"seconds": 12.5, "encoder": {"repo_id": "facezoo/mobilenet-face", "revision": "abc123",
                                            "files": {"model.weights.h5": "f" * 64, "config.json": "e" * 64}},
               "pretrain": {"steps": 60, "identities": 2},
               "pair": {"steps": 20, "stages": [{"step": 0, "trainable": "none", "reason": "start"},
                                                {"step": 10, "trainable": "all", "reason": "step"}]}}
    from _support import ttq_records
    from zoo.bench import evidence
    results = evidence.write_results(ttq_records(), out / "results" / "time_to_quality")
    html_path = report.write_report(out, summary, model=model, corpus_dir=out / "corpus",
                                    pair_ids=("id00002", "id00003"), pair_run=pair, evidence_json=results["json"])
    return out, html_path


def test_report_has_every_section_and_its_images_exist(quickstart_like):
    out, html_path = quickstart_like
    text = html_path.read_text()
    for needle in ("<h2>Data</h2>", "<h2>Encoder</h2>", "abc123", "f" * 64, "<h2>Stage changes</h2>",
                   "<h2>Curves</h2>", "<h2>Previews</h2>", "<h2>Converted sample</h2>",
                   "<h2>Time to quality, synthetic pair: the committed benchmark (not this run)</h2>", "<td>staged-steps</td>", evidence.COMMAND):
        assert needle in text, needle
    srcs = re.findall(r'<img src="([^"]+)"', text)
    assert any(s.endswith("time_to_quality.png") for s in srcs)
    assert len(srcs) >= 7 and all(not s.startswith(("/", "file:", "http")) for s in srcs)  # relative links
    for path in report.image_sources(html_path):
        assert path.exists() and path.read_bytes()[:4] == b"\x89PNG", path
    assert "skipped" not in text


def test_report_images_load_in_headless_chromium(quickstart_like, tmp_path):
    exe = _chromium()
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    out, html_path = quickstart_like
    probe = html_path.with_name("report-probe.html")  # the report plus a script that records each image
    probe.write_text(html_path.read_text().replace(
        "</body>", "<script>window.addEventListener('load', () => { const r = document.createElement('pre');"
                   "r.id = 'loaded'; r.textContent = JSON.stringify([...document.images].map("
                   "i => [i.getAttribute('src'), i.complete, i.naturalWidth])); document.body.appendChild(r);"
                   "});</script></body>"))
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
           "--allow-file-access-from-files", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    m = re.search(r'<pre id="loaded">(.*?)</pre>', done.stdout, flags=re.S)
    assert m, f"chromium did not run the page script: {done.stderr[-2000:]}"
    import html as _html
    images = json.loads(_html.unescape(m.group(1)))
    assert len(images) >= 7
    broken = [src for src, complete, width in images if not complete or width == 0]
    assert not broken, f"images that did not load: {broken}"
