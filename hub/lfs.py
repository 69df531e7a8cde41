"""The Hub's LFS upload path, as `facezoo hub serve` implements it (a mixin of `hub.server.HubApp`).

`huggingface_hub` asks `preupload` how to send each file; for "lfs" files it asks the batch API
(`POST /{repo}.git/info/lfs/objects/batch`) for an upload action per object, PUTs the file there in one
streamed request, then calls the verify action, and finally names the object in the commit (`lfsFile`).
The PUT carries no token (the client sends none, as to S3), so its URL is signed by the server: an HMAC
over repository, oid, size and expiry with a per-process secret. The server streams the body into a temp
file while hashing it and keeps it only if size and sha256 are what the URL announced. A stored object
counts as present only if its bytes still hash to its name, so a bit-flipped blob is uploaded again.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote, unquote

from hub._http import BLOCK, HttpError, run_blocking
from hub.base import SHA256_RE
from hub.errors import IntegrityError
from fzcore.errors import InputError

LFS_THRESHOLD = 1 << 20            # files this big, or binary ones, go through LFS
LFS_URL_SECONDS = 3600             # how long a signed upload URL stays valid
LFS_BATCH_MAX_OBJECTS = 256        # objects in one batch request (each stored one is hashed to check it)


class LfsUploadMixin:
    """The batch, PUT and verify endpoints; needs `self.hub`, `self.max_body`, `self.max_file`, `self._auth`,
    `self._repo`, `self._json`, `self._base_url` and `self._secret` from the app."""

    def _lfs_repo_parts(self, req, tail: list[str]) -> tuple[str, str] | None:
        p = req.parts
        n = len(tail)
        if len(p) < 2 + n or not p[1].endswith(".git") or p[2:2 + len(tail)] != tail:
            return None
        return p[0], p[1][:-len(".git")]

    async def _lfs_json_route(self, req, verb: str):
        """`POST /{repo}.git/info/lfs/objects/{verb}`: token checked from the headers, repository found,
        JSON body read. (the path's (ns, name), repo_id, body), or None for another endpoint's path."""
        names = self._lfs_repo_parts(req, ["info", "lfs", "objects", verb])
        if names is None or len(req.parts) != 6:
            return None
        self._auth(req, write=True)
        repo_id = await self._repo(*names)
        return names, repo_id, await req.json_object(self.max_body)

    def _signature(self, repo_id: str, oid: str, size: int, expires: int) -> str:
        msg = f"{repo_id}\n{oid}\n{size}\n{expires}".encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()

    async def _lfs_batch(self, req):
        route = await self._lfs_json_route(req, "batch")
        if route is None:
            return None
        names, repo_id, data = route
        if data.get("operation") != "upload":
            raise HttpError(400, "This hub's LFS batch API takes uploads only (downloads go through /resolve).")
        objects = data.get("objects")
        if not isinstance(objects, list) or not all(isinstance(o, dict) for o in objects):
            raise HttpError(400, "'objects' must be a list of {oid, size}.")
        if len(objects) > LFS_BATCH_MAX_OBJECTS:
            raise HttpError(413, f"{len(objects)} objects in one LFS batch request; this hub takes at most "
                                 f"{LFS_BATCH_MAX_OBJECTS} (huggingface_hub sends 256 per request).")
        unique = {}
        for obj in objects:               # each object is hashed at most once per request
            unique.setdefault(repr((obj.get("oid"), obj.get("size"))), obj)
        objects = list(unique.values())
        expires = int(time.time()) + LFS_URL_SECONDS
        base = f"{self._base_url(req)}/{quote(names[0])}/{quote(names[1])}.git/info/lfs/objects"
        out = []
        for obj in objects:
            oid, size = obj.get("oid"), obj.get("size")
            if (not isinstance(oid, str) or not SHA256_RE.match(oid) or not isinstance(size, int)
                    or isinstance(size, bool) or size < 0):
                raise HttpError(400, "Each LFS object needs a sha256 'oid' and an integer 'size'.")
            if size > self.max_file:
                out.append({"oid": oid, "size": size, "error": {
                    "code": 413, "message": f"{size} bytes is over this hub's file limit of {self.max_file}."}})
                continue
            entry = {"oid": oid, "size": size, "authenticated": True}
            # A stored object counts only if its bytes still hash to its name: a bit-flipped blob is
            # uploaded again instead of being trusted.
            if not await run_blocking(self.hub.blob_is_intact, repo_id, oid, size):
                sig = self._signature(repo_id, oid, size, expires)
                entry["actions"] = {
                    "upload": {"href": f"{base}/{oid}/{size}?expires={expires}&signature={sig}",
                               "expires_in": LFS_URL_SECONDS},
                    "verify": {"href": f"{base}/verify", "expires_in": LFS_URL_SECONDS}}
            out.append(entry)
        return self._json({"transfer": "basic", "objects": out, "hash_algo": "sha256"},
                          headers={"Content-Type": "application/vnd.git-lfs+json"})

    async def _lfs_put(self, req):
        names = self._lfs_repo_parts(req, ["info", "lfs", "objects"])
        if names is None or len(req.parts) != 7:
            return None
        oid, size_text = req.parts[5], req.parts[6]
        expires, signature = req.query.get("expires", ""), req.query.get("signature", "")
        if not (SHA256_RE.match(oid) and size_text.isdigit() and len(size_text) <= 19 and expires.isdigit()
                and len(expires) <= 12):
            raise HttpError(400, "Malformed LFS upload URL.")
        size, repo_id = int(size_text), f"{unquote(names[0])}/{unquote(names[1])}"
        # bytes, not str: compare_digest raises on a non-ASCII str (a 500 before; issue 29)
        if not hmac.compare_digest(signature.encode("utf-8", "surrogateescape"),
                                   self._signature(repo_id, oid, size, int(expires)).encode()):
            raise HttpError(403, "This upload URL is not signed by this hub; ask the LFS batch API for one.")
        if int(expires) < time.time():
            raise HttpError(403, "This upload URL has expired; ask the LFS batch API for a new one.")
        await self._repo(*names)
        declared = req.content_length()
        if declared is not None and declared != size:
            raise HttpError(400, f"Content-Length {declared} differs from the announced size {size}.")
        writer = await run_blocking(self.hub.open_blob_writer, repo_id)
        try:
            buffer = []
            too_long = HttpError(400, f"Upload of {oid[:12]}… is longer than the announced {size} bytes.")
            async for chunk in req.chunks_upto(size, too_long):
                buffer.append(chunk)
                if sum(map(len, buffer)) >= BLOCK:
                    await run_blocking(writer.write, b"".join(buffer))
                    buffer = []
            if buffer:
                await run_blocking(writer.write, b"".join(buffer))
            try:
                await run_blocking(writer.finish, oid, size)
            except IntegrityError as exc:
                raise HttpError(400, f"{repo_id}: {exc}") from None
        finally:
            await run_blocking(writer.abort)
        from starlette.responses import Response
        return Response(b"", 200)

    async def _lfs_verify(self, req):
        route = await self._lfs_json_route(req, "verify")
        if route is None:
            return None
        _, repo_id, data = route
        oid, size = data.get("oid"), data.get("size")
        if not isinstance(oid, str) or not SHA256_RE.match(oid):
            raise HttpError(400, "'oid' must be a sha256.")
        try:
            stored = (await run_blocking(self.hub.blob_path(repo_id, oid).stat)).st_size
        except FileNotFoundError:
            raise HttpError(404, f"Object {oid[:12]}… is not stored in {repo_id}.") from None
        if size is not None and stored != size:
            raise HttpError(404, f"Object {oid[:12]}… has {stored} bytes, not {size}.")
        return self._json({"oid": oid, "size": stored})


    async def _stored_lfs_object(self, repo_id: str, path: str, value: dict) -> dict:
        oid, size = value.get("oid"), value.get("size")
        if not isinstance(oid, str) or not SHA256_RE.match(oid):
            raise InputError(f"lfsFile {path}: 'oid' must be a sha256")
        try:
            stored = (await run_blocking(self.hub.blob_path(repo_id, oid).stat)).st_size
        except FileNotFoundError:
            raise HttpError(400, f"lfsFile {path}: object {oid[:12]}… was never uploaded; upload it through "
                                  "the LFS batch API first.") from None
        if size is not None and size != stored:
            raise HttpError(400, f"lfsFile {path}: object {oid[:12]}… has {stored} bytes, not {size}.")
        return {"sha256": oid, "size": stored}

