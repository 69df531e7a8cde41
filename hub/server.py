"""`facezoo hub serve`: a Hub-compatible HTTP server over a local hub directory.

It speaks the subset of the Hugging Face Hub API that `huggingface_hub` (and so `keras.saving.load_model
("hf://...")`) uses for model repositories, so a team gets a private hub and the tests get the real
client. It serves the same directory layout as `hub.local.LocalHub`, so a locally published hub can be
served as is.

Endpoints (model repos only; `{repo}` is `ns/name`, `{rev}` is URL-quoted):
    POST /api/repos/create                      create a repository (409 if it exists)
    POST /api/validate-yaml                     card metadata check (always fine)
    POST /api/models/{repo}/preupload/{rev}     every file "regular" (base64 in the commit; no LFS, no Xet)
    POST /api/models/{repo}/commit/{rev}        NDJSON: header / file / deletedFile / deletedFolder lines
    POST /api/models/{repo}/tag/{rev}           create a tag (409 if it exists)
    GET  /api/models/{repo}/refs                branches and tags
    GET  /api/models/{repo}[/revision/{rev}]    repo info: "sha" and "siblings"
    GET  /api/models/{repo}/tree/{rev}[/{path}] tree listing (?recursive=true)
    HEAD|GET /{repo}/resolve/{rev}/{path}       file download: X-Repo-Commit, ETag, Content-Length, Range
    GET  /api/whoami-v2                         who the token belongs to

Auth: `Authorization: Bearer <token>` checked against the token file (one token per line, re-read on each
request so tokens can be rotated). Writes always need a valid token; reads need one unless
`--public-read`. A refused write is rejected before anything is stored. Tokens are never logged: the log
line is method, path and status.
"""
from __future__ import annotations

import base64
import hmac
import json
import logging
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from hub.base import COMMIT_RE
from hub.errors import (FacezooError, HubError, NotPublishedError, ReleaseExistsError,
                        RevisionNotFoundError)
from hub.local import LocalHub, check_path

log = logging.getLogger("facezoo.hub.server")
_BAD_TOKEN = "Invalid credentials in Authorization header"
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


class _HttpError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None,
                 extra: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}
        self.extra = extra or {}


def hf_date(iso: str | None) -> str | None:
    """ISO 8601 as the Hub writes it ('2024-01-01T00:00:00.000Z'), which huggingface_hub parses."""
    if not iso:
        return None
    import datetime as _dt
    when = _dt.datetime.fromisoformat(iso).astimezone(_dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def read_tokens(path) -> set[str]:
    """Tokens of the token file: one per line; blank lines and '#' comments ignored."""
    if path is None:
        return set()
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")}


class HubRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "facezoo-hub/1"
    hub: LocalHub = None          # set by make_server
    token_file = None
    public_read = False

    # ---- plumbing -----------------------------------------------------------------------------
    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        pass  # replaced by _log: never echo headers (tokens) or query strings

    def _log(self, status: int) -> None:
        path = urlsplit(self.path).path
        log.info("%s %s %s", self.command, path, status)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload=None, headers: dict | None = None, body: bytes | None = None):
        if body is None:
            body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self._log(status)

    def _error(self, err: _HttpError):
        headers = dict(err.headers)
        headers["X-Error-Message"] = err.message.replace("\n", " ")[:500]
        if err.code:
            headers["X-Error-Code"] = err.code
        self._send(err.status, {"error": err.message, **err.extra}, headers)

    def _auth(self, write: bool) -> None:
        header = self.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        if token:
            valid = read_tokens(self.token_file)
            if not any(hmac.compare_digest(token.encode(), t.encode()) for t in valid):
                raise _HttpError(401, _BAD_TOKEN)
            return
        if write:
            raise _HttpError(401, "A token is required to write to this hub (Authorization: Bearer ...).")
        if not self.public_read:
            raise _HttpError(401, "A token is required to read from this hub (Authorization: Bearer ...).")

    def _base_url(self) -> str:
        return f"http://{self.headers.get('Host') or '%s:%s' % self.server.server_address[:2]}"

    def _dispatch(self, routes):
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p != ""]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            for handler in routes:
                if handler(parts, query):
                    return
            raise _HttpError(404, f"No such endpoint: {self.command} {url.path}")
        except _HttpError as err:
            if self.command in ("POST", "PUT", "DELETE") and not getattr(self, "_body_read", False):
                self.close_connection = True
            self._error(err)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a server must answer, not die; details stay in the server log
            log.exception("internal error on %s %s", self.command, url.path)
            self.close_connection = True
            self._error(_HttpError(500, f"Internal error: {type(exc).__name__}"))

    def do_GET(self):
        self._dispatch([self._whoami, self._refs, self._tree, self._info, self._resolve])

    def do_HEAD(self):
        self._dispatch([self._resolve])

    def do_POST(self):
        self._body_read = False
        self._dispatch([self._create_repo, self._validate_yaml, self._preupload, self._commit, self._tag,
                        self._branch])

    def do_DELETE(self):
        self._body_read = False
        self._dispatch([self._branch])

    # ---- helpers ------------------------------------------------------------------------------
    def _repo(self, ns: str, name: str) -> str:
        repo_id = f"{unquote(ns)}/{unquote(name)}"
        try:
            self.hub.repo_dir(repo_id)
        except ValueError as exc:
            raise _HttpError(400, str(exc)) from None
        if not self.hub.repo_exists(repo_id):
            raise _HttpError(404, f"Repository {repo_id} not found", "RepoNotFound")
        return repo_id

    def _resolve_rev(self, repo_id: str, rev: str) -> str:
        try:
            return self.hub.resolve(repo_id, unquote(rev))
        except (RevisionNotFoundError, ValueError):
            raise _HttpError(404, f"Revision {unquote(rev)} not found in {repo_id}", "RevisionNotFound") from None

    def _read_json_body(self) -> dict:
        body = self._body()
        self._body_read = True
        try:
            return json.loads(body or b"{}")
        except ValueError:
            raise _HttpError(400, "Request body is not JSON.") from None

    # ---- reads --------------------------------------------------------------------------------
    def _whoami(self, parts, query) -> bool:
        if parts != ["api", "whoami-v2"]:
            return False
        self._auth(write=False)
        self._send(200, {"type": "user", "name": "facezoo", "auth": {"type": "access_token"}})
        return True

    def _refs(self, parts, query) -> bool:
        if len(parts) != 5 or parts[:2] != ["api", "models"] or parts[4] != "refs":
            return False
        self._auth(write=False)
        repo_id = self._repo(parts[2], parts[3])
        refs = self.hub.refs(repo_id)
        self._send(200, {
            "branches": [{"name": k, "ref": f"refs/heads/{k}", "targetCommit": v}
                         for k, v in sorted(refs["heads"].items())],
            "tags": [{"name": k, "ref": f"refs/tags/{k}", "targetCommit": v}
                     for k, v in sorted(refs["tags"].items())],
            "converts": [], "pullRequests": []})
        return True

    def _info(self, parts, query) -> bool:
        if parts[:2] != ["api", "models"] or not (len(parts) == 4 or (len(parts) == 6 and parts[4] == "revision")):
            return False
        self._auth(write=False)
        repo_id = self._repo(parts[2], parts[3])
        commit = self._resolve_rev(repo_id, parts[5] if len(parts) == 6 else "main")
        record = self.hub.read_commit(repo_id, commit)
        self._send(200, {
            "_id": repo_id, "id": repo_id, "modelId": repo_id, "author": repo_id.split("/")[0],
            "sha": commit, "lastModified": hf_date(record.get("date")), "createdAt": hf_date(record.get("date")),
            "private": not self.public_read, "disabled": False, "gated": False,
            "library_name": "keras", "tags": ["keras", "facezoo"], "downloads": 0, "likes": 0,
            "siblings": [{"rfilename": p, "size": e["size"], "blobId": e["sha256"][:40]}
                         for p, e in sorted(record["files"].items())]})
        return True

    def _tree(self, parts, query) -> bool:
        if len(parts) < 6 or parts[:2] != ["api", "models"] or parts[4] != "tree":
            return False
        self._auth(write=False)
        repo_id = self._repo(parts[2], parts[3])
        prefix = "/".join(unquote(p) for p in parts[6:]).strip("/")
        rev = unquote(parts[5])
        if rev == "main" and "main" not in self.hub.refs(repo_id)["heads"]:
            files = {}                      # a new, empty repository
        else:
            files = self.hub.tree(repo_id, self._resolve_rev(repo_id, parts[5]))
        recursive = query.get("recursive", "").lower() in ("1", "true")
        base = prefix + "/" if prefix else ""
        entries, folders = [], set()
        for path, entry in sorted(files.items()):
            if not path.startswith(base):
                continue
            rest = path[len(base):]
            if "/" in rest and not recursive:
                folders.add(base + rest.split("/")[0])
                continue
            if recursive:
                segs = rest.split("/")[:-1]
                folders.update(base + "/".join(segs[:i + 1]) for i in range(len(segs)))
            entries.append({"type": "file", "path": path, "size": entry["size"],
                            "oid": entry["sha256"][:40]})
        if prefix and not entries and not folders:
            raise _HttpError(404, f"{prefix} not found in {repo_id}@{rev}", "EntryNotFound")
        out = [{"type": "directory", "path": f, "oid": "0" * 40} for f in sorted(folders)] + entries
        self._send(200, out)
        return True

    def _resolve(self, parts, query) -> bool:
        if len(parts) < 5 or parts[2] != "resolve" or parts[0] == "api":
            return False
        self._auth(write=False)
        repo_id = self._repo(parts[0], parts[1])
        commit = self._resolve_rev(repo_id, parts[3])
        path = "/".join(unquote(p) for p in parts[4:])
        entry = self.hub.tree(repo_id, commit).get(path)
        if entry is None:
            raise _HttpError(404, f"{path} not found in {repo_id}@{unquote(parts[3])}", "EntryNotFound",
                             {"X-Repo-Commit": commit})
        blob = self.hub.blob_path(repo_id, entry["sha256"])
        try:
            f = open(blob, "rb")
        except FileNotFoundError:
            raise _HttpError(404, f"{path}: content missing on the server", "EntryNotFound",
                             {"X-Repo-Commit": commit}) from None
        with f:
            size = blob.stat().st_size
            start, end, status = 0, size - 1, 200
            m = _RANGE_RE.match(self.headers.get("Range", "") or "")
            if m and self.command == "GET" and (m[1] or m[2]):
                if m[1]:
                    start, end = int(m[1]), int(m[2]) if m[2] else size - 1
                else:
                    start, end = max(0, size - int(m[2])), size - 1
                end = min(end, size - 1)
                if start > end:
                    raise _HttpError(416, "Range not satisfiable", headers={"Content-Range": f"bytes */{size}"})
                status = 206
            length = end - start + 1 if size else 0
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(length))
            self.send_header("ETag", f'"{entry["sha256"]}"')
            self.send_header("X-Repo-Commit", commit)
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            if self.command == "GET":
                f.seek(start)
                remaining = length
                while remaining > 0:
                    block = f.read(min(1 << 20, remaining))
                    if not block:
                        break
                    self.wfile.write(block)
                    remaining -= len(block)
        self._log(status)
        return True

    # ---- writes -------------------------------------------------------------------------------
    def _create_repo(self, parts, query) -> bool:
        if parts != ["api", "repos", "create"]:
            return False
        data = self._read_json_body()
        self._auth(write=True)
        if data.get("type", "model") not in (None, "model"):
            raise _HttpError(400, "This hub serves model repositories only.")
        name, org = data.get("name"), data.get("organization")
        if not org and isinstance(name, str) and "/" in name:
            org, name = name.split("/", 1)
        repo_id = f"{org}/{name}"
        try:
            created = self.hub.create_repo(repo_id, exist_ok=True)
        except ValueError as exc:
            raise _HttpError(400, str(exc)) from None
        if not created:
            raise _HttpError(409, "You already created this model repo",
                             extra={"url": f"{self._base_url()}/{repo_id}"})
        self._send(200, {"url": f"{self._base_url()}/{repo_id}", "name": repo_id, "id": repo_id})
        return True

    def _validate_yaml(self, parts, query) -> bool:
        if parts != ["api", "validate-yaml"]:
            return False
        self._read_json_body()
        self._auth(write=False)
        self._send(200, {"errors": [], "warnings": []})
        return True

    def _preupload(self, parts, query) -> bool:
        if len(parts) != 6 or parts[:2] != ["api", "models"] or parts[4] != "preupload":
            return False
        data = self._read_json_body()
        self._auth(write=True)
        self._repo(parts[2], parts[3])
        files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
                 for f in data.get("files", [])]
        self._send(200, {"files": files, "commitOid": None})
        return True

    def _commit(self, parts, query) -> bool:
        if len(parts) != 6 or parts[:2] != ["api", "models"] or parts[4] != "commit":
            return False
        body = self._body()
        self._body_read = True
        self._auth(write=True)
        repo_id = self._repo(parts[2], parts[3])
        branch = unquote(parts[5])
        if COMMIT_RE.match(branch) or branch in self.hub.refs(repo_id)["tags"]:
            raise _HttpError(400, f"Commits go on a branch; {branch!r} is not one.", "RevisionNotFound")
        if query.get("create_pr"):
            raise _HttpError(400, "Pull requests are not supported by facezoo hub serve.")
        header, files, deletions = {}, {}, []
        try:
            for line in body.splitlines():
                if not line.strip():
                    continue
                item = json.loads(line)
                key, value = item.get("key"), item.get("value") or {}
                if key == "header":
                    header = value
                elif key == "file":
                    path = check_path(value["path"])
                    if value.get("encoding", "base64") != "base64":
                        raise _HttpError(400, f"Unsupported encoding for {path}.")
                    data = base64.b64decode(value.get("content", ""), validate=True)
                    files[path] = self.hub.put_blob(repo_id, [data])
                elif key in ("deletedFile", "deletedFolder"):
                    deletions.append(check_path(value["path"].rstrip("/"))
                                     + ("/" if key == "deletedFolder" else ""))
                elif key == "lfsFile":
                    raise _HttpError(400, "LFS uploads are not supported: this hub takes regular uploads "
                                          "(its preupload answers uploadMode=regular).")
                else:
                    raise _HttpError(400, f"Unknown commit operation {key!r}.")
        except (ValueError, KeyError, TypeError) as exc:
            raise _HttpError(400, f"Malformed commit payload: {type(exc).__name__}: {exc}") from None
        message = header.get("summary") or "Commit with huggingface_hub"
        if header.get("description"):
            message += "\n\n" + header["description"]
        try:
            new = self.hub.commit(repo_id, files, message=message, branch=branch, deletions=deletions,
                                  parent=header.get("parentCommit"))
        except HubError as exc:
            raise _HttpError(412, str(exc)) from None
        except (FacezooError, ValueError) as exc:
            raise _HttpError(400, str(exc)) from None
        self._send(200, {"success": True, "commitOid": new, "commitUrl": f"{self._base_url()}/{repo_id}/commit/{new}",
                         "hookOutput": "", "pullRequestUrl": None})
        return True

    def _tag(self, parts, query) -> bool:
        if len(parts) != 6 or parts[:2] != ["api", "models"] or parts[4] != "tag":
            return False
        data = self._read_json_body()
        self._auth(write=True)
        repo_id = self._repo(parts[2], parts[3])
        target = self._resolve_rev(repo_id, parts[5])
        tag = data.get("tag")
        if not isinstance(tag, str):
            raise _HttpError(400, "Missing 'tag'.")
        if tag in self.hub.refs(repo_id)["tags"]:
            raise _HttpError(409, f"Tag {tag} already exists in {repo_id}.")
        try:
            self.hub.create_tag(repo_id, tag, target)
        except ReleaseExistsError as exc:
            raise _HttpError(409, str(exc)) from None
        except (NotPublishedError, ValueError) as exc:
            raise _HttpError(400, str(exc)) from None
        self._send(200, {"name": tag, "ref": f"refs/tags/{tag}", "targetCommit": target})
        return True


    def _branch(self, parts, query) -> bool:
        """POST/DELETE /api/models/{repo}/branch/{branch}: create (at startingPoint) or delete a branch."""
        if len(parts) != 6 or parts[:2] != ["api", "models"] or parts[4] != "branch":
            return False
        data = self._read_json_body() if self.command == "POST" else (self._body() or b"", {})[1]
        self._body_read = True
        self._auth(write=True)
        repo_id = self._repo(parts[2], parts[3])
        branch = unquote(parts[5])
        try:
            if self.command == "DELETE":
                self.hub.delete_branch(repo_id, branch)
            else:
                start = data.get("startingPoint")
                self.hub.create_branch(repo_id, branch, None if start is None else unquote(start))
        except ReleaseExistsError as exc:
            raise _HttpError(409, str(exc)) from None
        except RevisionNotFoundError as exc:
            raise _HttpError(404, str(exc), "RevisionNotFound") from None
        except (NotPublishedError, ValueError) as exc:
            raise _HttpError(400, str(exc)) from None
        self._send(200, {})
        return True


def make_server(root, host: str = "127.0.0.1", port: int = 0, token_file=None,
                public_read: bool = False) -> ThreadingHTTPServer:
    """Build (not start) the server; `port=0` picks a free port (see `server.server_address`)."""
    if token_file is not None and not Path(token_file).is_file():
        raise FileNotFoundError(f"Token file {token_file} not found (one token per line).")
    if token_file is None and not public_read:
        raise ValueError("Give --token-file (needed for writes) and/or --public-read.")
    handler = type("Handler", (HubRequestHandler,), {
        "hub": LocalHub(root), "token_file": token_file, "public_read": public_read})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def serve(root, host: str = "127.0.0.1", port: int = 8000, token_file=None, public_read: bool = False,
          verbose: bool = False) -> None:
    """Run the server until interrupted; prints one `facezoo hub: serving ... at URL` line first."""
    logger = logging.getLogger("facezoo.hub.server")
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    if verbose and not logging.getLogger().handlers and not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger.addHandler(handler)
    server = make_server(root, host, port, token_file, public_read)
    h, p = server.server_address[:2]
    print(f"facezoo hub: serving {Path(root).resolve()} at http://{h}:{p} "
          f"(reads: {'public' if public_read else 'token'}, writes: token)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sys.stdout.flush()
