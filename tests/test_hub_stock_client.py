"""Issue 29: a stock `huggingface_hub` client (no facezoo code) against `facezoo hub serve`.

huggingface_hub >= 1.0 with `hf_xet` uploads binary files only through Xet storage, which this hub does not
have: without HF_HUB_DISABLE_XET=1 the upload must stop with a message naming that variable; with it the
upload goes through LFS and lands as verified blobs. Downloads work with hf_xet, with it disabled, and with
it absent. Each client runs in a subprocess with a clean environment (facezoo's own client sets the
variable in its process), for the installed huggingface_hub and for the lowest version pyproject.toml
allows, when a copy of that is installed at $FACEZOO_HF_LOW (default /tmp/hf-low; CI can provide it with
`pip install --no-deps --target /tmp/hf-low huggingface_hub==2.0.0`).
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hub.local import LocalHub
from test_hub_support import ROOT, TOKEN

HF_LOW = Path(os.environ.get("FACEZOO_HF_LOW", "/tmp/hf-low"))
LOW_VERSION = "2.0.0"

_CLIENT = textwrap.dedent("""
    import json, os, sys
    import huggingface_hub
    from huggingface_hub import HfApi, hf_hub_download
    url, token, repo, folder, action = sys.argv[1:6]
    out = {"version": huggingface_hub.__version__}
    api = HfApi(endpoint=url, token=token)
    try:
        if action == "upload":
            api.create_repo(repo, exist_ok=True)
            api.upload_folder(repo_id=repo, folder_path=folder, commit_message="stock upload")
            out["ok"] = True
        else:
            path = hf_hub_download(repo, "weights.bin", endpoint=url, token=token, cache_dir=folder)
            out["ok"], out["data"] = True, open(path, "rb").read().hex()
    except Exception as exc:
        out["ok"], out["error"] = False, f"{type(exc).__name__}: {exc}"
    print("RESULT " + json.dumps(out))
""")


def _run(server, repo: str, folder: Path, action: str, *, version: str, xet: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_HUB_DISABLE_XET", "HF_TOKEN"))}
    env["PYTHONPATH"] = (str(HF_LOW) + os.pathsep if version == "low" else "")
    if xet == "disabled":
        env["HF_HUB_DISABLE_XET"] = "1"
    code = _CLIENT
    if xet == "absent":                       # as if hf_xet were not installed
        code = "import sys; sys.modules['hf_xet'] = None\n" + code
    proc = subprocess.run([sys.executable, "-c", code, server.url, TOKEN, repo, str(folder), action],
                          cwd=folder.parent, env=env, capture_output=True, text=True, timeout=300)
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert line, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(line[-1][len("RESULT "):])
    if version == "low":
        assert result["version"] == LOW_VERSION
    return result


@pytest.fixture(params=["installed", "low"])
def version(request):
    if request.param == "low" and not (HF_LOW / "huggingface_hub").is_dir():
        pytest.skip(f"huggingface_hub {LOW_VERSION} (the lowest pyproject.toml allows) is not installed at {HF_LOW}; "
                    f"`pip install --no-deps --target {HF_LOW} huggingface_hub=={LOW_VERSION}` or set FACEZOO_HF_LOW")
    return request.param


def test_stock_client_upload_needs_hf_hub_disable_xet_and_then_works(served, version, tmp_path):
    repo = f"team/stock-{version}"
    folder = tmp_path / "upload"
    folder.mkdir()
    data = bytes(range(256)) * 40 + b"\0"                         # binary: an LFS file
    (folder / "weights.bin").write_bytes(data)
    (folder / "notes.txt").write_text("a small text file travels inline\n")

    refused = _run(served, repo, folder, "upload", version=version, xet="enabled")
    assert not refused["ok"] and "HF_HUB_DISABLE_XET=1" in refused["error"], refused

    done = _run(served, repo, folder, "upload", version=version, xet="disabled")
    assert done["ok"], done
    local = LocalHub(served.root)
    tree = local.tree(repo, local.resolve(repo, "main"))
    sha = hashlib.sha256(data).hexdigest()
    assert tree["weights.bin"] == {"sha256": sha, "size": len(data)}
    assert local.blob_is_intact(repo, sha, len(data))             # stored as the same verified blobs


@pytest.mark.parametrize("xet", ["enabled", "disabled", "absent"])
def test_stock_client_downloads_with_and_without_hf_xet(served, version, xet, tmp_path):
    repo = "team/stock-download"
    data = b"\0weights" * 1000
    local = LocalHub(served.root)
    if not local.repo_exists(repo) or "weights.bin" not in local.tree(repo, local.resolve(repo, "main")):
        up = tmp_path / "up"
        up.mkdir()
        (up / "weights.bin").write_bytes(data)
        assert _run(served, repo, up, "upload", version="installed", xet="disabled")["ok"]
    got = _run(served, repo, tmp_path / "cache", "download", version=version, xet=xet)
    assert got["ok"], got
    assert bytes.fromhex(got["data"]) == data


def test_facezoo_publish_and_pull_on_the_lowest_huggingface_hub(served, tiny_keras, tmp_path):
    if not (HF_LOW / "huggingface_hub").is_dir():
        pytest.skip(f"huggingface_hub {LOW_VERSION} is not installed at {HF_LOW} (see this module's docstring)")
    code = textwrap.dedent(f"""
        import huggingface_hub, hub
        assert huggingface_hub.__version__ == {LOW_VERSION!r}, huggingface_hub.__version__
        rel = hub.publish({str(tiny_keras)!r}, "team/low-client", tag="v1", hub={served.url!r})
        snap = hub.pull("team/low-client", "v1", hub={served.url!r})
        assert snap.revision == rel.revision
        print("LOW OK", huggingface_hub.__version__)
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_HUB_DISABLE_XET")}
    env.update(PYTHONPATH=f"{HF_LOW}{os.pathsep}{ROOT}", HF_TOKEN=TOKEN, HF_HOME=str(tmp_path / "hf"),
               TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert "LOW OK 2.0.0" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-3000:]
