"""`facezoo hub serve`: a Hub-compatible HTTP server over a local hub directory.

It speaks the subset of the Hugging Face Hub API that `huggingface_hub` (and so `keras.saving.load_model
("hf://...")`) uses for model repositories, so a team gets a private hub and the tests get the real
client. It serves the same directory layout as `hub.local.LocalHub`, so a locally published hub can be
served as is.

Why Starlette on uvicorn: the first version sat on the standard library's `http.server`, which its own
documentation says is not for production, and most of what a hostile or careless client found there was
HTTP parsing and limits (bodies read before the token was checked, no size limit, short bodies and
`Content-Length: -1` accepted, chunked bodies parsed as the next request, one thread held per half-sent
request). uvicorn parses HTTP with h11 (exact Content-Length, chunked decoding, a bound on the header
block, malformed framing answered 400 by the parser itself) and serves connections on one asyncio loop,
so an idle client costs a socket, not a thread; Starlette gives the response classes (JSON, streamed
files). Both are maintained, small (pure Python, no compiler) and what FastAPI runs on. Routing is done
here on the raw path, not by Starlette's router, because a revision may hold a quoted '/' that the router
would decode first. What the stack leaves out is added: a deadline for the request headers, an idle
timeout while reading a body, the `--max-body` limit checked from the headers (413) before a byte of the
body is read, authentication from the headers before any body is read, TCP_NODELAY. That plumbing lives
in `hub/_http.py`, the LFS upload path in `hub/lfs.py`; this module holds the endpoints.

Endpoints (model repos only; `{repo}` is `ns/name`, `{rev}` is URL-quoted):
    POST /api/repos/create                      create a repository (409 if it exists)
    POST /api/validate-yaml                     card metadata check (always fine)
    POST /api/models/{repo}/preupload/{rev}     "lfs" for binary or large files, "regular" otherwise
    POST /{repo}.git/info/lfs/objects/batch     LFS batch API (upload): signed PUT + verify actions
    PUT  /{repo}.git/info/lfs/objects/{oid}/{size}?expires=..&signature=..
                                                one object streamed to disk, stored only if its sha256 matches
    POST /{repo}.git/info/lfs/objects/verify    the object is stored (200) or not (404)
    POST /api/models/{repo}/commit/{rev}        NDJSON: header / file / lfsFile / deletedFile / deletedFolder
    POST /api/models/{repo}/tag/{rev}           create a tag (409 if the name is taken)
    POST|DELETE /api/models/{repo}/branch/{b}   create / delete a branch
    GET  /api/models/{repo}/refs                branches and tags
    GET  /api/models/{repo}[/revision/{rev}]    repo info: "sha" and "siblings"
    GET  /api/models/{repo}/tree/{rev}[/{path}] tree listing (?recursive=true)
    HEAD|GET /{repo}/resolve/{rev}/{path}       file download: X-Repo-Commit, ETag, Content-Length, Range
    GET  /api/whoami-v2                         who the token belongs to
    GET  /api/models/{repo}/xet-*-token/{rev}   no Xet storage here: names a refusing "CAS" whose URL says
                                                to set HF_HUB_DISABLE_XET=1 (what hf_xet shows its user)

Auth: `Authorization: Bearer <token>` checked against the token file (one token per line, UTF-8 with or
without a BOM, re-read on each request so tokens can be rotated). Writes always need a valid token; reads
need one unless `--public-read`. The LFS PUT carries no token (the client sends none, as to S3): its URL
is signed by the server with a per-process secret, bound to the repository, oid and size, and expires.
A refused write is rejected before anything is stored; an anonymous body (`--public-read`) is capped at
4 KiB; an unreadable token file is a 503 and one log line. Connections: at most `--max-conns-per-client`
per client address, 10 s for the request headers, 64 KiB of them (431 past that), and a body must keep
coming at 16 KiB/s on average once the idle timeout has passed. Tokens are never logged: the log line is method,
path, status and
milliseconds taken.

Large files never travel inside the commit: preupload answers "lfs" for them, the client streams each to
the signed PUT, and the server writes it to a temp file while hashing, keeping it only if the sha256 and
size match what was announced. No file is held whole in memory, in either direction.

Why one module of about 610 lines: it is the endpoint table above, one `HubApp` method per endpoint
sharing the app's auth, locking and error mapping; the HTTP plumbing (`hub/_http.py`) and the LFS
upload path (`hub/lfs.py`) are already modules of their own.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import re
import secrets
import stat
import sys
import time
from pathlib import Path
from urllib.parse import unquote

from hub._http import (ANONYMOUS_MAX_BODY, MAX_CONNECTIONS_PER_CLIENT, MAX_HEADER_BYTES,  # noqa: F401
                       ClientGone, HttpError, HubServer, Request, file_chunks, parse_size, run_blocking)
from hub.base import COMMIT_RE, check_path
from hub.errors import (FacezooError, HubError, IntegrityError, NotPublishedError, ReleaseExistsError,
                        RevisionNotFoundError)
from hub.lfs import LFS_THRESHOLD, LfsUploadMixin
from fzcore.errors import InputError, MissingFileError
from hub.local import LocalHub

log = logging.getLogger("facezoo.hub.server")
_BAD_TOKEN = "Invalid credentials in Authorization header"
_RANGE_RE = re.compile(r"\Abytes=(\d{0,19})-(\d{0,19})\Z")
_HOST_RE = re.compile(r"\A[A-Za-z0-9.\-\[\]:]{1,255}\Z")

DEFAULT_MAX_BODY = 64 << 20        # API bodies (JSON, NDJSON commits whose small files travel inline)
DEFAULT_MAX_FILE = 64 << 30        # one LFS object, streamed to disk
DEFAULT_IDLE_TIMEOUT = 30.0        # seconds for the request headers, and between two pieces of a body
XET_CAS_PATH = "xet-not-supported-set-HF_HUB_DISABLE_XET=1"
XET_MESSAGE = ("This hub (facezoo hub serve) has no Xet storage: set HF_HUB_DISABLE_XET=1 in the uploading "
               "client's environment (huggingface_hub then uploads through LFS, which this hub takes).")


def hf_date(iso: str | None) -> str | None:
    """ISO 8601 as the Hub writes it ('2024-01-01T00:00:00.000Z'), which huggingface_hub parses."""
    if not iso:
        return None
    import datetime as _dt
    when = _dt.datetime.fromisoformat(iso).astimezone(_dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def read_tokens(path) -> set[str]:
    """Tokens of the token file: one per line; blank lines and '#' comments ignored; a BOM is ignored."""
    if path is None:
        return set()
    lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")}


def token_file_warning(path) -> str | None:
    """A warning if the token file can be read by other users of the machine, else None."""
    if path is None:
        return None
    mode = Path(path).stat().st_mode
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        return (f"token file {path} is readable by other users (mode {stat.filemode(mode)}); "
                f"restrict it with `chmod 600 {path}`.")
    return None


class HubApp(LfsUploadMixin):
    """The ASGI application: routes one request to a handler, turns errors into Hub-style answers."""

    def __init__(self, root, token_file=None, public_read: bool = False, max_body: int = DEFAULT_MAX_BODY,
                 max_file: int = DEFAULT_MAX_FILE, idle_timeout: float = DEFAULT_IDLE_TIMEOUT):
        self.hub = LocalHub(root)
        self.token_file, self.public_read = token_file, public_read
        self.max_body, self.max_file, self.idle_timeout = max_body, max_file, idle_timeout
        self._secret = secrets.token_bytes(32)
        self._routes = {
            "GET": [self._whoami, self._refs, self._tree, self._info, self._resolve, self._xet_token],
            "HEAD": [self._resolve, self._xet_token],
            "POST": [self._xet_token, self._create_repo, self._validate_yaml, self._preupload, self._commit, self._tag,
                     self._branch, self._lfs_batch, self._lfs_verify],
            "PUT": [self._lfs_put, self._xet_token],
            "DELETE": [self._branch],
        }

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        req = Request(scope, receive, self.idle_timeout)
        started = time.perf_counter()
        try:
            head = len(req.path) + len(scope.get("query_string", b"")) + sum(
                len(k) + len(v) + 4 for k, v in scope["headers"])
            if head > MAX_HEADER_BYTES:
                raise HttpError(431, f"Request header block of {head} bytes is over this hub's limit of "
                                     f"{MAX_HEADER_BYTES} bytes.")
            response = None
            for handler in self._routes.get(req.method, []):
                response = await handler(req)
                if response is not None:
                    break
            if response is None:
                raise HttpError(404 if req.method in self._routes else 405,
                                 f"No such endpoint: {req.method} {req.path}")
        except ClientGone:
            log.info("%s %s client left mid-body", req.method, req.path)
            return
        except HttpError as err:
            response = self._error_response(err)
        except Exception as exc:  # a server must answer, not die; details stay in the server log
            log.exception("internal error on %s %s", req.method, req.path)
            response = self._error_response(HttpError(500, f"Internal error: {type(exc).__name__}"))
        if not req.body_done:
            response.headers["Connection"] = "close"     # never parse an unread body as the next request
        await response(scope, receive, send)
        log.info("%s %s %s %.1fms", req.method, req.path, response.status_code,
                 (time.perf_counter() - started) * 1000)

    @staticmethod
    def _error_response(err: HttpError):
        from starlette.responses import JSONResponse
        headers = dict(err.headers)
        # header values must be printable ASCII: a NUL or newline from a hostile path would break the answer
        headers["X-Error-Message"] = "".join(c if " " <= c <= "~" else "?" for c in err.message)[:500]
        if err.code:
            headers["X-Error-Code"] = err.code
        return JSONResponse({"error": err.message, **err.extra}, err.status, headers)

    @staticmethod
    def _json(payload, status: int = 200, headers: dict | None = None):
        from starlette.responses import JSONResponse
        return JSONResponse(payload, status, headers)

    # ---- helpers ------------------------------------------------------------------------------
    def _auth(self, req: Request, write: bool) -> None:
        """Check the token from the headers alone; called before any body is read."""
        header = req.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        if token:
            try:
                valid = read_tokens(self.token_file)
            except (OSError, UnicodeDecodeError) as exc:
                log.error("facezoo hub: cannot read the token file %s (%s); answering 503 until it is back",
                          self.token_file, type(exc).__name__)
                raise HttpError(503, "This hub cannot check tokens right now (its token file is unreadable); "
                                     "try again later.") from None
            if not any(hmac.compare_digest(token.encode(), t.encode()) for t in valid):
                raise HttpError(401, _BAD_TOKEN)
            return
        if write:
            raise HttpError(401, "A token is required to write to this hub (Authorization: Bearer ...).")
        if not self.public_read:
            raise HttpError(401, "A token is required to read from this hub (Authorization: Bearer ...).")
        req.max_body_cap = ANONYMOUS_MAX_BODY       # an anonymous reader gets no big buffer (issue 29, H10)

    def _base_url(self, req: Request) -> str:
        host = req.headers.get("host", "")
        if not _HOST_RE.match(host):
            server = req.scope.get("server") or ("127.0.0.1", 0)
            host = f"{server[0]}:{server[1]}"
        return f"http://{host}"

    async def _repo(self, ns: str, name: str) -> str:
        repo_id = f"{unquote(ns)}/{unquote(name)}"
        try:
            self.hub.repo_dir(repo_id)
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        except HubError as exc:          # a repository linked out of --root: never followed
            log.error("facezoo hub: %s", exc)
            raise HttpError(500, f"The hub's storage of {repo_id} is misconfigured; see the server log.") from None
        if not await run_blocking(self.hub.repo_exists, repo_id):
            raise HttpError(404, f"Repository {repo_id} not found", "RepoNotFound")
        return repo_id

    async def _resolve_rev(self, repo_id: str, rev: str) -> str:
        try:
            return await run_blocking(self.hub.resolve, repo_id, unquote(rev))
        except (RevisionNotFoundError, ValueError):
            shown = unquote(rev)[:200]
            raise HttpError(404, f"Revision {shown} not found in {repo_id}", "RevisionNotFound") from None

    async def _tree_of(self, repo_id: str, commit: str) -> dict:
        try:
            return await run_blocking(self.hub.tree, repo_id, commit)
        except (IntegrityError, HubError) as exc:
            raise HttpError(500, f"The hub's storage of {repo_id} is damaged: {exc}") from None

    async def _repo_route(self, req, verb: str, n_parts: int | None, write: bool, json_body: bool = False):
        """Match `/api/models/{ns}/{name}/{verb}/...` (exactly `n_parts` segments, or at least 6 when None),
        check the token from the headers, find the repository, then read the JSON body if asked.
        (repo_id, path segments, body or None), or None when the path belongs to another endpoint."""
        p = req.parts
        fits = len(p) == n_parts if n_parts else len(p) >= 6
        if not fits or p[:2] != ["api", "models"] or p[4] != verb:
            return None
        self._auth(req, write=write)
        repo_id = await self._repo(p[2], p[3])
        return repo_id, p, (await req.json_object(self.max_body) if json_body else None)

    # ---- reads --------------------------------------------------------------------------------
    async def _whoami(self, req):
        if req.parts != ["api", "whoami-v2"]:
            return None
        self._auth(req, write=False)
        return self._json({"type": "user", "name": "facezoo", "auth": {"type": "access_token"}})

    async def _refs(self, req):
        route = await self._repo_route(req, "refs", 5, write=False)
        if route is None:
            return None
        repo_id, _, _ = route
        try:
            refs = await run_blocking(self.hub.refs, repo_id)
        except HubError as exc:
            raise HttpError(500, str(exc)) from None
        return self._json({
            "branches": [{"name": k, "ref": f"refs/heads/{k}", "targetCommit": v}
                         for k, v in sorted(refs["heads"].items())],
            "tags": [{"name": k, "ref": f"refs/tags/{k}", "targetCommit": v}
                     for k, v in sorted(refs["tags"].items())],
            "converts": [], "pullRequests": []})

    async def _info(self, req):
        p = req.parts
        if p[:2] != ["api", "models"] or not (len(p) == 4 or (len(p) == 6 and p[4] == "revision")):
            return None
        self._auth(req, write=False)
        repo_id = await self._repo(p[2], p[3])
        commit = await self._resolve_rev(repo_id, p[5] if len(p) == 6 else "main")
        try:
            record = await run_blocking(self.hub.read_commit, repo_id, commit)
        except (IntegrityError, HubError) as exc:
            raise HttpError(500, f"The hub's storage of {repo_id} is damaged: {exc}") from None
        return self._json({
            "_id": repo_id, "id": repo_id, "modelId": repo_id, "author": repo_id.split("/")[0],
            "sha": commit, "lastModified": hf_date(record.get("date")), "createdAt": hf_date(record.get("date")),
            "private": not self.public_read, "disabled": False, "gated": False,
            "library_name": "keras", "tags": ["keras", "facezoo"], "downloads": 0, "likes": 0,
            "siblings": [{"rfilename": path, "size": e["size"], "blobId": e["sha256"][:40]}
                         for path, e in sorted(record["files"].items())]})

    async def _tree(self, req):
        route = await self._repo_route(req, "tree", None, write=False)
        if route is None:
            return None
        repo_id, p, _ = route
        prefix = "/".join(unquote(x) for x in p[6:]).strip("/")
        rev = unquote(p[5])
        if rev == "main" and "main" not in (await run_blocking(self.hub.refs, repo_id))["heads"]:
            files = {}                      # a new, empty repository
        else:
            files = await self._tree_of(repo_id, await self._resolve_rev(repo_id, p[5]))
        recursive = req.query.get("recursive", "").lower() in ("1", "true")
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
            entries.append({"type": "file", "path": path, "size": entry["size"], "oid": entry["sha256"][:40]})
        if prefix and not entries and not folders:
            raise HttpError(404, f"{prefix[:200]} not found in {repo_id}@{rev[:200]}", "EntryNotFound")
        return self._json([{"type": "directory", "path": f, "oid": "0" * 40} for f in sorted(folders)] + entries)

    async def _resolve(self, req):
        from starlette.responses import Response, StreamingResponse
        p = req.parts
        if len(p) < 5 or p[2] != "resolve" or p[0] == "api":
            return None
        self._auth(req, write=False)
        repo_id = await self._repo(p[0], p[1])
        commit = await self._resolve_rev(repo_id, p[3])
        path = "/".join(unquote(x) for x in p[4:])
        entry = (await self._tree_of(repo_id, commit)).get(path)
        if entry is None:
            raise HttpError(404, f"{path[:200]} not found in {repo_id}@{unquote(p[3])[:200]}", "EntryNotFound",
                             {"X-Repo-Commit": commit})
        blob = self.hub.blob_path(repo_id, entry["sha256"])
        try:
            size = (await run_blocking(blob.stat)).st_size
        except FileNotFoundError:
            raise HttpError(404, f"{path[:200]}: content missing on the server", "EntryNotFound",
                             {"X-Repo-Commit": commit}) from None
        start, end, status = 0, size - 1, 200
        range_header = req.headers.get("range")
        if range_header and req.method == "GET":
            m = _RANGE_RE.match(range_header.strip())
            if not m or not (m[1] or m[2]):
                raise HttpError(400, f"Malformed Range header (expected bytes=START-END): {range_header[:40]!r}.")
            if m[1]:
                start, end = int(m[1]), int(m[2]) if m[2] else size - 1
            else:
                start, end = max(0, size - int(m[2])), size - 1
            end = min(end, size - 1)
            if start > end:
                raise HttpError(416, "Range not satisfiable", headers={"Content-Range": f"bytes */{size}"})
            status = 206
        length = end - start + 1 if size else 0
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(length),
                   "ETag": f'"{entry["sha256"]}"', "X-Repo-Commit": commit, "Accept-Ranges": "bytes"}
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        if req.method == "HEAD":
            return Response(b"", status, headers)
        return StreamingResponse(file_chunks(blob, start, length), status, headers)

    async def _xet_token(self, req):
        """The Xet token routes (`/api/models/{repo}/xet-{read,write}-token/{rev}`) and the "CAS" they name.

        This hub has no Xet storage. huggingface_hub >= 1.0 with `hf_xet` installed uploads binary files
        only through Xet, with no fallback to LFS, and `hf_xet` shows only the status and URL of a refused
        request, not its message. So the token answer names a CAS URL on this hub that spells out what to
        do (`.../xet-not-supported-set-HF_HUB_DISABLE_XET=1`), and every request there is refused (400).
        """
        p = req.parts
        if p and p[0] == XET_CAS_PATH:
            raise HttpError(400, XET_MESSAGE, "XetNotSupported")
        if len(p) < 6 or p[:2] != ["api", "models"] or p[4] not in ("xet-write-token", "xet-read-token"):
            return None
        self._auth(req, write=p[4] == "xet-write-token")
        await self._repo(p[2], p[3])
        cas, expires = f"{self._base_url(req)}/{XET_CAS_PATH}", int(time.time()) + 600
        return self._json({"casUrl": cas, "accessToken": "xet-not-supported", "exp": expires},
                          headers={"X-Xet-Cas-Url": cas, "X-Xet-Access-Token": "xet-not-supported",
                                   "X-Xet-Token-Expiration": str(expires), "X-Error-Message": XET_MESSAGE})

    # ---- writes -------------------------------------------------------------------------------
    async def _create_repo(self, req):
        if req.parts != ["api", "repos", "create"]:
            return None
        self._auth(req, write=True)
        data = await req.json_object(self.max_body)
        if data.get("type", "model") not in (None, "model"):
            raise HttpError(400, "This hub serves model repositories only.")
        name, org = data.get("name"), data.get("organization")
        if not isinstance(name, str) or not name or not (org is None or isinstance(org, str)):
            raise HttpError(400, "Give the repository 'name' (and optionally 'organization') as strings.")
        if not org and "/" in name:
            org, name = name.split("/", 1)
        if not org:
            raise HttpError(400, f"Give the repository as 'namespace/name' (or an 'organization'): this hub "
                                 f"has no user namespace to put {name[:100]!r} in.")
        repo_id = f"{org}/{name}"
        try:
            created = await run_blocking(self.hub.create_repo, repo_id, True)
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        except HubError as exc:
            log.error("facezoo hub: %s", exc)
            raise HttpError(500, f"The hub's storage of {repo_id} is misconfigured; see the server log.") from None
        if not created:
            raise HttpError(409, "You already created this model repo",
                             extra={"url": f"{self._base_url(req)}/{repo_id}"})
        return self._json({"url": f"{self._base_url(req)}/{repo_id}", "name": repo_id, "id": repo_id})

    async def _validate_yaml(self, req):
        if req.parts != ["api", "validate-yaml"]:
            return None
        self._auth(req, write=False)
        await req.json_object(self.max_body)
        return self._json({"errors": [], "warnings": []})

    async def _preupload(self, req):
        route = await self._repo_route(req, "preupload", 6, write=True, json_body=True)
        if route is None:
            return None
        data = route[2]
        files = data.get("files", [])
        if not isinstance(files, list) or not all(isinstance(f, dict) for f in files):
            raise HttpError(400, "'files' must be a list of objects.")
        out = []
        for f in files:
            path, size, sample = f.get("path"), f.get("size", 0), f.get("sample", "")
            try:
                check_path(path)
                binary = b"\0" in base64.b64decode(sample if isinstance(sample, str) else "", validate=True)
            except (ValueError, binascii.Error) as exc:
                raise HttpError(400, f"Bad preupload entry: {exc}") from None
            large = not isinstance(size, int) or size >= LFS_THRESHOLD
            out.append({"path": path, "uploadMode": "lfs" if (binary or large) else "regular",
                        "shouldIgnore": False, "oid": None})
        return self._json({"files": out, "commitOid": None})

    async def _commit(self, req):
        route = await self._repo_route(req, "commit", 6, write=True)
        if route is None:
            return None
        repo_id, p, _ = route
        branch = unquote(p[5])
        if req.query.get("create_pr"):
            raise HttpError(400, "Pull requests are not supported by facezoo hub serve.")
        body = await req.body(self.max_body)             # whole and exact, or nothing is stored
        header, files, deletions = {}, {}, []
        try:
            for line in body.splitlines():
                if not line.strip():
                    continue
                item = json.loads(line)
                if not isinstance(item, dict) or not isinstance(item.get("value"), dict):
                    raise InputError("each line must be an object with a 'key' and an object 'value'")
                key, value = item.get("key"), item["value"]
                if key == "header":
                    header = value
                elif key == "file":
                    path = check_path(value.get("path"))
                    if value.get("encoding", "base64") != "base64" or not isinstance(value.get("content", ""), str):
                        raise HttpError(400, f"Unsupported encoding for {path}.")
                    data = base64.b64decode(value.get("content", ""), validate=True)
                    files[path] = await run_blocking(self.hub.put_blob, repo_id, [data])
                elif key == "lfsFile":
                    path = check_path(value.get("path"))
                    files[path] = await self._stored_lfs_object(repo_id, path, value)
                elif key in ("deletedFile", "deletedFolder"):
                    path = value.get("path")
                    path = check_path(path.rstrip("/") if isinstance(path, str) else path)
                    deletions.append(path + ("/" if key == "deletedFolder" else ""))
                else:
                    raise InputError(f"unknown commit operation {str(key)[:40]!r}")
        except (ValueError, KeyError, TypeError, binascii.Error, RecursionError) as exc:
            raise HttpError(400, f"Malformed commit payload: {type(exc).__name__}: {exc}") from None
        summary = header.get("summary")
        message = summary if isinstance(summary, str) and summary else "Commit with huggingface_hub"
        if isinstance(header.get("description"), str) and header["description"]:
            message += "\n\n" + header["description"]
        parent = header.get("parentCommit")
        if parent is not None and not (isinstance(parent, str) and COMMIT_RE.match(parent)):
            raise HttpError(400, "parentCommit must be a 40-hex commit id.")
        try:
            new = await run_blocking(self.hub.commit, repo_id, files, message=message, branch=branch,
                             deletions=deletions, parent=parent)
        except ReleaseExistsError as exc:
            raise HttpError(409, str(exc)) from None
        except HubError as exc:
            raise HttpError(412, str(exc)) from None
        except (FacezooError, ValueError) as exc:
            raise HttpError(400, str(exc)) from None
        return self._json({"success": True, "commitOid": new,
                           "commitUrl": f"{self._base_url(req)}/{repo_id}/commit/{new}",
                           "hookOutput": "", "pullRequestUrl": None})

    async def _tag(self, req):
        route = await self._repo_route(req, "tag", 6, write=True, json_body=True)
        if route is None:
            return None
        repo_id, p, data = route
        target = await self._resolve_rev(repo_id, p[5])
        tag = data.get("tag")
        if not isinstance(tag, str):
            raise HttpError(400, "Missing 'tag'.")
        refs = await run_blocking(self.hub.refs, repo_id)
        if tag in refs["tags"] or tag in refs["heads"]:
            raise HttpError(409, f"{tag} already exists in {repo_id} (branches and tags share one namespace).")
        try:
            await run_blocking(self.hub.create_tag, repo_id, tag, target)
        except ReleaseExistsError as exc:
            raise HttpError(409, str(exc)) from None
        except (NotPublishedError, ValueError) as exc:
            raise HttpError(400, str(exc)) from None
        return self._json({"name": tag, "ref": f"refs/tags/{tag}", "targetCommit": target})

    async def _branch(self, req):
        """POST/DELETE /api/models/{repo}/branch/{branch}: create (at startingPoint) or delete a branch."""
        route = await self._repo_route(req, "branch", 6, write=True, json_body=True)
        if route is None:
            return None
        repo_id, p, data = route
        branch = unquote(p[5])
        try:
            if req.method == "DELETE":
                await run_blocking(self.hub.delete_branch, repo_id, branch)
            else:
                start = data.get("startingPoint")
                if start is not None and not isinstance(start, str):
                    raise InputError("startingPoint must be a string")
                await run_blocking(self.hub.create_branch, repo_id, branch, None if start is None else unquote(start))
        except ReleaseExistsError as exc:
            raise HttpError(409, str(exc)) from None
        except RevisionNotFoundError as exc:
            raise HttpError(404, str(exc), "RevisionNotFound") from None
        except (NotPublishedError, ValueError) as exc:
            raise HttpError(400, str(exc)) from None
        return self._json({})

def make_server(root, host: str = "127.0.0.1", port: int = 0, token_file=None, public_read: bool = False,
                max_body: int = DEFAULT_MAX_BODY, max_file: int = DEFAULT_MAX_FILE,
                idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                max_conns_per_client: int = MAX_CONNECTIONS_PER_CLIENT) -> HubServer:
    """Build (not start) the server; `port=0` picks a free port (see `server.server_address`)."""
    if token_file is not None and not Path(token_file).is_file():
        raise MissingFileError(f"Token file {token_file} not found (one token per line).")
    if token_file is None and not public_read:
        raise InputError("Give --token-file (needed for writes) and/or --public-read.")
    if max_body < 1024 or max_file < 1 or idle_timeout <= 0:
        raise InputError(f"max_body must be at least 1024 bytes and the timeouts positive "
                         f"(max_body={max_body}, max_file={max_file}, idle_timeout={idle_timeout}).")
    if max_conns_per_client < 0:
        raise InputError(f"max_conns_per_client must be 0 (no cap) or more, not {max_conns_per_client}.")
    app = HubApp(root, token_file, public_read, max_body, max_file, idle_timeout)
    swept = app.hub.sweep_stale_temp_files()
    if swept:
        log.warning("facezoo hub: removed %d temp file(s) left by a killed upload", swept)
    return HubServer(app, host, port, idle_timeout, max_conns_per_client)


def wait_until_serving(port: int, process=None, timeout: float = 300.0, host: str = "127.0.0.1") -> bool:
    """Wait until `host:port` accepts connections, for scripts and tests that start `facezoo hub serve` as a
    subprocess. True once it does; False at once if `process` (a `subprocess.Popen`) has exited, or after
    `timeout` seconds. Generous by default: on two loaded cores the server's imports alone can take tens of
    seconds, and the wait ends as soon as the port answers."""
    import socket

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            if process is not None and process.poll() is not None:
                return False
            time.sleep(0.1)
    return False


def serve(root, host: str = "127.0.0.1", port: int = 8000, token_file=None, public_read: bool = False,
          verbose: bool = False, max_body: int = DEFAULT_MAX_BODY, max_file: int = DEFAULT_MAX_FILE,
          idle_timeout: float = DEFAULT_IDLE_TIMEOUT, max_conns_per_client: int = MAX_CONNECTIONS_PER_CLIENT) -> None:
    """Run the server until interrupted; prints one `facezoo hub: serving ... at URL` line first."""
    logger = logging.getLogger("facezoo.hub.server")
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    if not logging.getLogger().handlers and not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger.addHandler(handler)
    server = make_server(root, host, port, token_file, public_read, max_body, max_file, idle_timeout,
                         max_conns_per_client)
    warning = token_file_warning(token_file)
    if warning:
        logger.warning("facezoo hub: warning: %s", warning)
    h, p = server.server_address[:2]
    print(f"facezoo hub: serving {Path(root).resolve()} at http://{h}:{p} "
          f"(reads: {'public' if public_read else 'token'}, writes: token, max body {max_body} bytes)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sys.stdout.flush()
