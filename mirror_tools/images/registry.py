"""A registry v2 client (OCI Distribution spec) on ``requests``.

It speaks what both sides of the air gap need: pulling manifests and blobs
from any registry (anonymous, Bearer token or Basic auth; Docker schema2 and
OCI manifests and indexes) and pushing them into the offline registry
(existence checks, cross-repository mounts, monolithic and chunked uploads
that resume from the registry's recorded offset). Every manifest and blob is
checked against its sha256 digest, so what lands on disk or in the offline
registry is byte-identical to what the upstream served.

Credentials (the login, and the tokens it earns) go to the registry's own
origin and to token endpoints the registry names only when that endpoint is
the registry's host or one of its ``auth_hosts``, over HTTPS (over plain HTTP
only to an ``insecure`` registry's own host). ``RegistryAuth`` owns the rule:
it is applied to every request and every 401 the session sees, so neither an
upload location nor a redirect on another host gets them. requests itself
drops the header when a redirect leaves the host, but a challenge answered
after that redirect would be answered again here: that is checked too.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import urlencode, urljoin, urlsplit

import requests
from requests.auth import AuthBase

from mirror_tools import fetch

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)

DOCKER_HUB = "docker.io"
DOCKER_HUB_AUTH = "auth.docker.io"   # Docker Hub's token service
CHUNK_SIZE = 8 * 1024 * 1024
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class RegistryError(Exception):
    """A registry operation failed; the message names the image and the URL."""


@dataclass(frozen=True)
class Reference:
    """A normalised image reference: ``docker.io/library/alpine:3.19``."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def pin(self) -> str:
        """What to ask the registry for: the digest when pinned, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> Reference:
    """Parse an image reference the way docker does (Docker Hub by default).

    ``alpine`` is ``docker.io/library/alpine:latest``; the first path
    component is a registry host when it has a dot, a port or is localhost.
    """
    name, _, digest = text.strip().partition("@")
    if digest and not _DIGEST.match(digest):
        raise RegistryError(f"{text}: invalid digest {digest!r} (expected sha256:<64 hex>)")
    slash = name.rfind("/")
    tag = None
    if ":" in name[slash + 1:]:
        name, tag = name.rsplit(":", 1)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB, name
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    if not repository or repository != repository.lower() or "//" in repository:
        raise RegistryError(f"{text}: invalid image reference")
    if not tag and not digest:
        tag = "latest"
    return Reference(registry, repository, tag, digest or None)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Manifest:
    """A manifest exactly as the registry served it (its bytes are its digest)."""

    data: bytes
    media_type: str
    digest: str

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


def _scope_for(method: str, url: str) -> str | None:
    """The token scope a request needs, derived from its /v2/ path."""
    path = urlsplit(url).path
    m = re.match(r"^/v2/(.+?)/(manifests|blobs|tags)/", path)
    if not m:
        return None
    actions = "pull" if method in ("GET", "HEAD") else "pull,push"
    scope = f"repository:{m.group(1)}:{actions}"
    source = re.search(r"[?&]from=([^&]+)", url)
    if source:
        scope += f" repository:{requests.utils.unquote(source.group(1))}:pull"
    return scope


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host name, port) with the scheme's default port filled in."""
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


class RegistryAuth(AuthBase):
    """Answers a registry's 401 challenge and replays the request.

    Bearer challenges get a token from the realm for the scope (with Basic
    credentials when given); tokens are cached per scope until they expire,
    so each repository costs one token round trip. Basic challenges switch the
    session to sending credentials up front. Request bodies are bytes, so a
    challenged upload can be replayed.

    Only requests to the registry's origin (``base``) carry or earn
    credentials; see :meth:`realm_refusal` for where the login may go to get
    a token.
    """

    def __init__(self, session: requests.Session, base: str, username: str | None = None,
                 password: str | None = None, *, insecure: bool = False,
                 auth_hosts: Iterable[str] = ()):
        self.session = session
        self.origin = _origin(base)
        self.insecure = insecure
        self.auth_hosts = {h.lower() for h in auth_hosts}
        self.credentials = (username, password or "") if username else None
        self.tokens: dict[str, tuple[str, float]] = {}
        self.basic = False
        self.lock = threading.Lock()

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        header = self._header(_scope_for(r.method, r.url) or "") \
            if _origin(r.url) == self.origin else None
        if header:
            r.headers["Authorization"] = header
        r.register_hook("response", self._handle_401)
        return r

    def realm_refusal(self, realm: str) -> str | None:
        """Why the login may not be sent to token endpoint ``realm``; None if it may."""
        scheme, host, _ = _origin(realm)
        own = self.origin[1]
        if host != own and host not in self.auth_hosts:
            return (f"{host or realm!r} is neither the registry's host ({own}) nor one of its "
                    f"auth_hosts")
        if scheme == "https" or (scheme == "http" and self.insecure and host == own):
            return None
        return ("it is not HTTPS (plain HTTP only to an insecure registry's own host)"
                if scheme == "http" else f"it is not HTTPS ({scheme or 'no scheme'})")

    def _basic(self) -> str:
        user, password = self.credentials
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def _header(self, scope: str) -> str | None:
        if self.basic and self.credentials:
            return self._basic()
        with self.lock:
            token, expires = self.tokens.get(scope, (None, 0.0))
        return f"Bearer {token}" if token and expires > time.monotonic() else None

    def _handle_401(self, r: requests.Response, **kwargs) -> requests.Response:
        if r.status_code != 401 or (self.basic and "Authorization" in r.request.headers):
            return r  # not challenged, or our credentials were refused
        if _origin(r.request.url) != self.origin:
            return r  # another host (a redirect, an upload location): never our credentials
        scheme, params = _parse_challenge(r.headers.get("WWW-Authenticate", ""))
        scope = _scope_for(r.request.method, r.request.url) or ""
        if scheme == "bearer" and "realm" in params:
            header = f"Bearer {self._token(params, scope)}"
        elif scheme == "basic" and self.credentials:
            self.basic = True
            header = self._basic()
        else:
            return r
        r.content  # drain the refused answer so the connection can be reused
        r.close()
        prep = r.request.copy()
        prep.headers["Authorization"] = header
        retried = r.connection.send(prep, **kwargs)
        retried.history.append(r)
        retried.request = prep
        return retried

    def _token(self, challenge: dict[str, str], scope: str) -> str:
        wanted = challenge.get("scope") or scope
        query = [("service", challenge["service"])] if "service" in challenge else []
        query += [("scope", s) for s in wanted.split(" ") if s]
        url = challenge["realm"]
        if query:
            url += ("&" if "?" in url else "?") + urlencode(query)
        refusal = self.realm_refusal(url) if self.credentials else None
        if refusal:
            raise RegistryError(f"token endpoint {challenge['realm']} named by registry "
                                f"{self.origin[1]}: credentials are not sent there: {refusal}; "
                                "if it is the registry's own token service, list its host in "
                                "the registry's auth_hosts (images push: --auth-host)")
        # requests drops this header if the token endpoint redirects to another host.
        auth = requests.auth.HTTPBasicAuth(*self.credentials) if self.credentials else _NoAuth()
        try:
            resp = self.session.get(url, auth=auth, timeout=(10, 60))
        except requests.RequestException as exc:
            raise RegistryError(f"token endpoint {challenge['realm']} unreachable: {exc}") from exc
        if resp.status_code != 200:
            raise RegistryError(f"token endpoint {challenge['realm']} refused "
                                f"scope {wanted or '(none)'}: HTTP {resp.status_code}")
        try:
            body = resp.json()
            token = body.get("token") or body["access_token"]
        except (ValueError, KeyError) as exc:
            raise RegistryError(f"token endpoint {challenge['realm']} answered "
                                f"without a token") from exc
        expires = time.monotonic() + max(int(body.get("expires_in", 60)) - 10, 5)
        with self.lock:
            # A token for "A B" is also good for A alone and B alone.
            for key in {scope, wanted, *wanted.split(" ")}:
                self.tokens[key] = (token, expires)
        return token


class _NoAuth(AuthBase):
    """Keeps the session's registry auth off the token request itself."""

    def __call__(self, r):
        return r


def _error_detail(resp: requests.Response) -> str:
    try:
        errors = resp.json().get("errors") or []
        text = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
    except (ValueError, AttributeError):
        text = ""
    return f"HTTP {resp.status_code}" + (f" ({text})" if text else "")


class RegistryClient:
    """One registry host: ``127.0.0.1:5000``, ``ghcr.io``, ``docker.io``…"""

    def __init__(self, host: str, session: requests.Session | None = None, *,
                 base_url: str | None = None, username: str | None = None,
                 password: str | None = None, insecure: bool = False,
                 auth_hosts: Iterable[str] = ()):
        """``base_url`` (``http://127.0.0.1:5000``) overrides ``https://HOST``:
        a plain-HTTP registry (only with ``insecure``), or a host redirected to
        a local mirror. ``auth_hosts`` are other hosts whose token endpoints
        may receive the login (Docker Hub's ``auth.docker.io`` is built in)."""
        self.host = host
        api_host = "registry-1.docker.io" if host == DOCKER_HUB else host
        self.base = (base_url or f"https://{api_host}").rstrip("/") + "/v2/"
        scheme = urlsplit(self.base).scheme
        if scheme != "https" and not (scheme == "http" and insecure):
            raise RegistryError(f"registry {host}: {self.base} is plain HTTP; refused unless "
                                "the registry is marked insecure (manifest: insecure: true; "
                                "images push: --insecure-http)")
        if host == DOCKER_HUB and not base_url:
            auth_hosts = (*auth_hosts, DOCKER_HUB_AUTH)
        self.session = session or fetch.session()
        self.session.auth = RegistryAuth(self.session, self.base, username, password,
                                         insecure=insecure, auth_hosts=auth_hosts)

    def _send(self, method: str, url: str, what: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", (10, 300))
        try:
            return self.session.request(method, url, **kwargs)
        except requests.RequestException as exc:
            raise RegistryError(f"{what}: {method} {url} failed: {exc}") from exc

    def _expect(self, resp: requests.Response, codes: tuple[int, ...], what: str) -> None:
        if resp.status_code not in codes:
            raise RegistryError(f"{what}: {resp.request.method} {resp.url} answered "
                                f"{_error_detail(resp)}")

    def ping(self) -> None:
        """``GET /v2/``: the registry speaks v2 and our credentials work."""
        resp = self._send("GET", self.base, f"registry {self.host}")
        self._expect(resp, (200,), f"registry {self.host}")

    # -- pulling ---------------------------------------------------------------

    def get_manifest(self, repository: str, reference: str, what: str) -> Manifest:
        """Fetch a manifest or index by tag or digest and verify its digest."""
        url = f"{self.base}{repository}/manifests/{reference}"
        resp = self._send("GET", url, what, headers={"Accept": ", ".join(MANIFEST_TYPES)})
        if resp.status_code == 404:
            raise RegistryError(f"{what}: manifest unknown in {self.host}/{repository} "
                                f"({_error_detail(resp)})")
        self._expect(resp, (200,), what)
        data = resp.content
        digest = sha256_digest(data)
        for claimed in (reference if reference.startswith("sha256:") else None,
                        resp.headers.get("Docker-Content-Digest")):
            if claimed and claimed != digest:
                raise RegistryError(f"{what}: manifest digest mismatch: expected {claimed}, "
                                    f"the bytes served hash to {digest}")
        media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        if media_type not in MANIFEST_TYPES:
            media_type = _media_type_of(data, what)
        return Manifest(data, media_type, digest)

    def blob_exists(self, repository: str, digest: str, what: str) -> bool:
        resp = self._send("HEAD", f"{self.base}{repository}/blobs/{digest}", what)
        if resp.status_code == 404:
            return False
        self._expect(resp, (200,), what)
        return True

    def manifest_digest(self, repository: str, reference: str, what: str) -> str | None:
        """The digest the registry holds under a tag (HEAD), or None."""
        resp = self._send("HEAD", f"{self.base}{repository}/manifests/{reference}", what,
                          headers={"Accept": ", ".join(MANIFEST_TYPES)})
        if resp.status_code == 404:
            return None
        self._expect(resp, (200,), what)
        return resp.headers.get("Docker-Content-Digest")

    def download_blob(self, repository: str, digest: str, dest: Path, what: str,
                      progress: fetch.Progress | None = None) -> None:
        """Stream a blob to ``dest`` atomically, following redirects, checking sha256."""
        url = f"{self.base}{repository}/blobs/{digest}"
        try:
            fetch.download(self.session, url, dest, what=what,
                           sha256=digest.split(":", 1)[1], progress=progress)
        except fetch.FetchError as exc:
            raise RegistryError(str(exc)) from exc

    # -- pushing ---------------------------------------------------------------

    def put_manifest(self, repository: str, reference: str, manifest: Manifest,
                     what: str) -> None:
        url = f"{self.base}{repository}/manifests/{reference}"
        resp = self._send("PUT", url, what, data=manifest.data,
                          headers={"Content-Type": manifest.media_type})
        self._expect(resp, (201, 200), what)
        served = resp.headers.get("Docker-Content-Digest")
        if served and served != manifest.digest:
            raise RegistryError(f"{what}: registry stored digest {served}, "
                                f"expected {manifest.digest}")

    def upload_blob(self, repository: str, digest: str, path: Path, what: str, *,
                    mount_from: str | None = None, resume: str | None = None,
                    on_location: Callable[[str | None], None] = lambda loc: None,
                    on_bytes: Callable[[int], None] = lambda n: None,
                    chunk_size: int = CHUNK_SIZE) -> str:
        """Upload ``path`` as blob ``digest``; returns "mounted" or "uploaded".

        ``resume`` is an upload location saved by an interrupted run: the
        registry's recorded offset (GET on the location) says where to carry
        on; when the registry no longer knows the upload, or refuses to carry
        on, the upload restarts cleanly. ``on_location`` is told every new
        location (None when done) so the caller can save it between chunks.
        """
        location, offset = None, 0
        if resume:
            offset = self._upload_offset(resume, what)
            location = resume if offset is not None else None
            offset = offset or 0
        if location is None:
            location = self._start_upload(repository, digest, mount_from, what)
            if location is None:
                on_location(None)
                return "mounted"
            offset = 0
        on_location(location)
        try:
            self._send_chunks(location, path, digest, offset, what, on_location, on_bytes,
                              chunk_size)
        except _UploadRefused:
            location = self._start_upload(repository, digest, None, what)
            on_location(location)
            self._send_chunks(location, path, digest, 0, what, on_location, on_bytes,
                              chunk_size)
        on_location(None)
        return "uploaded"

    def _start_upload(self, repository: str, digest: str, mount_from: str | None,
                      what: str) -> str | None:
        url = f"{self.base}{repository}/blobs/uploads/"
        if mount_from:
            url += "?" + urlencode({"mount": digest, "from": mount_from})
        resp = self._send("POST", url, what, headers={"Content-Length": "0"})
        if resp.status_code == 201 and mount_from:
            return None
        self._expect(resp, (202,), what)
        return urljoin(self.base, resp.headers["Location"])

    def _upload_offset(self, location: str, what: str) -> int | None:
        """Where an earlier upload stopped, or None when the registry forgot it."""
        resp = self._send("GET", location, what)
        if resp.status_code != 204:
            return None
        end = resp.headers.get("Range", "0-0").rpartition("-")[2]
        # docker/distribution reports "0-0" for an empty upload.
        return int(end) + 1 if end and int(end) > 0 else 0

    def _send_chunks(self, location: str, path: Path, digest: str, offset: int, what: str,
                     on_location, on_bytes, chunk_size: int) -> None:
        size = path.stat().st_size
        with open(path, "rb") as f:
            f.seek(offset)
            if offset == 0 and size <= chunk_size:
                self._finish(location, digest, f.read(), what)  # monolithic
                on_bytes(size)
                return
            while offset < size:
                data = f.read(chunk_size)
                resp = self._send("PATCH", location, what, data=data, headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(data) - 1}"})
                if resp.status_code in (404, 416):
                    raise _UploadRefused()
                self._expect(resp, (202,), what)
                offset += len(data)
                location = urljoin(self.base, resp.headers["Location"])
                on_location(location)
                on_bytes(len(data))
        self._finish(location, digest, b"", what)

    def _finish(self, location: str, digest: str, data: bytes, what: str) -> None:
        url = location + ("&" if "?" in location else "?") + urlencode({"digest": digest})
        resp = self._send("PUT", url, what, data=data,
                          headers={"Content-Type": "application/octet-stream"})
        if resp.status_code in (404, 416) and not data:
            raise _UploadRefused()
        self._expect(resp, (201,), what)


class _UploadRefused(Exception):
    """The registry no longer accepts this upload session; start a new one."""


def _media_type_of(data: bytes, what: str) -> str:
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise RegistryError(f"{what}: manifest is not JSON") from exc
    media_type = doc.get("mediaType") if isinstance(doc, dict) else None
    if media_type in MANIFEST_TYPES:
        return media_type
    if isinstance(doc, dict) and doc.get("schemaVersion") == 2:
        return OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    raise RegistryError(f"{what}: unsupported manifest (schema 1 or unknown media type "
                        f"{media_type!r}); only Docker schema2 and OCI are carried")
