"""Real parts for the image tests and bench: images, registries, faults.

* ``write_image``/``write_index`` build small real OCI images (gzip tar
  layers, a config, a manifest, a linux/amd64 + linux/arm64 index) in an OCI
  layout written here by hand, independent of ``mirror_tools.images``, which
  ``skopeo copy`` then pushes into the upstream registry.
* ``workspace_base_rootfs`` is the smallest root file system a workspace's
  container runs the agent in.
* ``docker_registry`` runs Debian's ``/usr/bin/docker-registry`` on
  127.0.0.1 (optionally with TLS, htpasswd or token auth).
* ``token_server`` is a tiny Docker token service (ES256 JWTs with an
  ``x5c`` certificate that docker-registry trusts through ``rootcertbundle``).
* ``fault_proxy`` sits in front of a registry and answers 500, garbage or a
  truncated body for the requests a test picks, and counts requests.
* ``recording_server`` plays a hostile registry, token endpoint or redirect
  target: it answers what the test's ``route`` says and records every request
  with its ``Authorization`` header.
"""
from __future__ import annotations

import base64
import contextlib
import datetime
import gzip
import hashlib
import http.client
import http.server
import io
import json
import os
import random
import shutil
import socket
import ssl
import subprocess
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import requests

from tests.kit import process
from tests.kit.postgres import free_port
from tests.kit.tools import tool

BUSYBOX_TOOLS = ("sh", "wget", "sleep", "cat", "echo", "ls", "mkdir", "chmod", "mktemp", "env",
                 "rm", "id", "uname", "stty", "httpd")
GLIBC = ("libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "libutil.so.1", "librt.so.1",
         "libz.so.1", "libgcc_s.so.1")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


# -- building images --------------------------------------------------------------

def _blob(layout: Path, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _layer(files: dict[str, bytes] | bytes) -> tuple[bytes, str]:
    """A gzip tar layer and its diff_id (sha256 of the uncompressed tar), from files or a tar."""
    if isinstance(files, bytes):
        return (gzip.compress(files, compresslevel=1, mtime=0),
                "sha256:" + hashlib.sha256(files).hexdigest())
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(content), 0, 0o644
            tar.addfile(info, io.BytesIO(content))
    tar_bytes = raw.getvalue()
    return (gzip.compress(tar_bytes, compresslevel=1, mtime=0),
            "sha256:" + hashlib.sha256(tar_bytes).hexdigest())


def _linked_libraries(executable: str) -> list[Path]:
    """The shared libraries ``executable`` loads, as ``ldd`` resolves them here."""
    ldd = subprocess.run(["ldd", executable], capture_output=True, text=True, check=True)
    return [Path(line.split("=>")[1].split()[0]) for line in ldd.stdout.splitlines()
            if "=> /" in line]


def workspace_base_rootfs(dest: Path) -> Path:
    """The smallest root file system a workspace template's image needs (the podman
    template's README): this machine's static busybox (shell, wget, httpd for the Files
    app), openssl, which Debian's busybox wget runs for HTTPS (``openssl s_client``,
    verifying against ``SSL_CERT_FILE``), glibc, and a writable /tmp where the
    PyInstaller agent unpacks itself; a tar."""
    busybox, openssl = shutil.which("busybox"), shutil.which("openssl")
    ldd = subprocess.run(["ldd", busybox], capture_output=True, text=True, check=False) if busybox else None
    if ldd is None or "not a dynamic executable" not in ldd.stdout + ldd.stderr or not openssl:
        raise RuntimeError("a static busybox and openssl are needed to build the test image: "
                           "./dev setup --test installs them")
    root = dest / "rootfs"
    for folder in ("bin", "tmp", "etc", "home/coder", "lib/x86_64-linux-gnu", "lib64"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    shutil.copy(busybox, root / "bin" / "busybox")
    for name in BUSYBOX_TOOLS:
        (root / "bin" / name).symlink_to("busybox")
    shutil.copy(openssl, root / "bin" / "openssl")
    libraries = {Path("/lib/x86_64-linux-gnu") / lib for lib in GLIBC} | set(_linked_libraries(openssl))
    for src in libraries:
        if src.exists():
            shutil.copy(src, root / "lib/x86_64-linux-gnu" / src.name)
    shutil.copy("/lib64/ld-linux-x86-64.so.2", root / "lib64")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "tmp").chmod(0o1777)
    tar_path = dest / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(root, arcname=".")
    return tar_path


def random_bytes(size: int, seed: str) -> bytes:
    return random.Random(seed).randbytes(size)


def write_image(layout: Path, *, arch: str = "amd64", layers: list[dict[str, bytes] | bytes],
                label: str = "") -> dict:
    """Write one image's blobs into ``layout``; returns its manifest descriptor."""
    descs, diff_ids = [], []
    for files in layers:
        data, diff_id = _layer(files)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_blob(layout, data)})
        diff_ids.append(diff_id)
    config = {"architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
              "config": {"Labels": {"test": label or arch}},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           **_blob(layout, json.dumps(config).encode())},
                "layers": descs}
    return {"mediaType": OCI_MANIFEST, **_blob(layout, json.dumps(manifest).encode()),
            "platform": {"os": "linux", "architecture": arch}}


def write_index(layout: Path, manifests: list[dict]) -> dict:
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    return {"mediaType": OCI_INDEX, **_blob(layout, json.dumps(index).encode())}


def tag_layout(layout: Path, tag: str, descriptor: dict) -> None:
    """Name ``descriptor`` ``tag`` in the layout's index.json."""
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    path = layout / "index.json"
    index = json.loads(path.read_text()) if path.exists() else {"schemaVersion": 2, "manifests": []}
    entry = {k: v for k, v in descriptor.items() if k != "platform"}
    entry["annotations"] = {"org.opencontainers.image.ref.name": tag}
    index["manifests"] = [m for m in index["manifests"]
                          if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag]
    index["manifests"].append(entry)
    path.write_text(json.dumps(index))


def skopeo(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([tool("skopeo"), "--insecure-policy", *args],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"skopeo {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def skopeo_push(layout: Path, tag: str, dest: str, *, all_platforms: bool = False,
                fmt: str | None = None) -> None:
    """``skopeo copy oci:LAYOUT:TAG docker://DEST`` into a plain-HTTP registry."""
    extra = (["--all"] if all_platforms else []) + (["--format", fmt] if fmt else [])
    skopeo("copy", "--dest-tls-verify=false", *extra, f"oci:{layout}:{tag}", f"docker://{dest}")


# -- docker-registry ----------------------------------------------------------------

@dataclass
class Registry:
    host: str  # 127.0.0.1:PORT
    url: str   # http(s)://127.0.0.1:PORT
    root: Path
    proc: subprocess.Popen = field(repr=False)

    def digest(self, repository: str, tag: str, session: requests.Session | None = None) -> str:
        """Docker-Content-Digest of a tag, straight from the registry API."""
        resp = (session or requests).head(
            f"{self.url}/v2/{repository}/manifests/{tag}", timeout=10,
            headers={"Accept": ", ".join([OCI_MANIFEST, OCI_INDEX,
                     "application/vnd.docker.distribution.manifest.v2+json",
                     "application/vnd.docker.distribution.manifest.list.v2+json"])})
        resp.raise_for_status()
        return resp.headers["Docker-Content-Digest"]


@contextlib.contextmanager
def docker_registry(root: Path, *, tls: tuple[str, str] | None = None,
                    auth: dict | None = None) -> Iterator[Registry]:
    """Run docker-registry on 127.0.0.1 with filesystem storage under ``root``."""
    binary = tool("docker-registry")
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    http_conf: dict = {"addr": f"127.0.0.1:{port}", "secret": "test-secret"}
    if tls:
        http_conf["tls"] = {"certificate": tls[0], "key": tls[1]}
    config = {"version": 0.1, "log": {"level": "error", "accesslog": {"disabled": True}},
              "storage": {"filesystem": {"rootdirectory": str(root / "data")},
                          "delete": {"enabled": True}},
              "http": http_conf}
    if auth:
        config["auth"] = auth
    (root / "config.yml").write_text(json.dumps(config))  # JSON is YAML
    log = open(root / "registry.log", "wb")
    proc = subprocess.Popen([binary, "serve", str(root / "config.yml")], stdout=log,
                            stderr=subprocess.STDOUT)
    scheme = "https" if tls else "http"
    reg = Registry(f"127.0.0.1:{port}", f"{scheme}://127.0.0.1:{port}", root, proc)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {(root / 'registry.log').read_text()}")
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            if time.monotonic() > deadline:
                raise RuntimeError("docker-registry did not start within 20 s")
            time.sleep(0.05)
        yield reg
    finally:
        process.stop(proc, timeout=10)
        log.close()


@contextlib.contextmanager
def _serving(port: int, handler, tls: tuple[str, str] | None = None) -> Iterator[None]:
    """Serve ``handler`` on 127.0.0.1:port in a thread for the ``with`` block
    (over HTTPS when ``tls`` is a (chain, key) pair)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*tls)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# -- a Docker token service -----------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenService:
    realm: str
    service: str
    issuer: str
    cert_path: Path
    users: dict[str, str]
    requests: list[dict] = field(default_factory=list)

    def registry_auth(self) -> dict:
        """The ``auth:`` section for docker-registry's config."""
        return {"token": {"realm": self.realm, "service": self.service, "issuer": self.issuer,
                          "rootcertbundle": str(self.cert_path)}}


@contextlib.contextmanager
def token_server(folder: Path, users: dict[str, str],
                 anonymous_pull: bool = False) -> Iterator[TokenService]:
    """Issue registry tokens: ``users`` get what they ask, anonymous gets pull (or nothing)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test token signer")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    cert_path = folder / "token-signer.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    port = free_port()
    svc = TokenService(f"http://127.0.0.1:{port}/token", "test-registry", "test-issuer",
                       cert_path, users)

    def issue(subject: str, access: list[dict]) -> str:
        header = {"typ": "JWT", "alg": "ES256", "x5c": [x5c]}
        t = int(time.time())
        claims = {"iss": svc.issuer, "sub": subject, "aud": svc.service, "exp": t + 300,
                  "nbf": t - 10, "iat": t, "jti": os.urandom(8).hex(), "access": access}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            from urllib.parse import parse_qs, urlsplit
            query = parse_qs(urlsplit(self.path).query)
            user = None
            header = self.headers.get("Authorization", "")
            if header.startswith("Basic "):
                u, _, p = base64.b64decode(header[6:]).decode().partition(":")
                if users.get(u) != p:
                    self.send_response(401)
                    self.end_headers()
                    return
                user = u
            access = []
            for scope in query.get("scope", []):
                kind, _, rest = scope.partition(":")
                repo, _, actions = rest.rpartition(":")
                granted = actions.split(",") if user else (["pull"] if anonymous_pull else [])
                granted = [a for a in actions.split(",") if a in granted]
                if granted:
                    access.append({"type": kind, "name": repo, "actions": granted})
            svc.requests.append({"user": user, "scope": query.get("scope", [])})
            body = json.dumps({"token": issue(user or "", access), "expires_in": 300}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with _serving(port, Handler):
        yield svc


# -- a fault-injecting proxy ----------------------------------------------------------

class _Answering(http.server.BaseHTTPRequestHandler):
    """A quiet HTTP/1.1 handler with one way to answer."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


@dataclass
class Proxy:
    url: str
    host: str
    seen: list[tuple[str, str]] = field(default_factory=list)
    # (method, path) -> "500" | "garbage" | "truncate" | "slow" | "redirect" | None
    fault: Callable[[str, str], str | None] = lambda method, path: None


@contextlib.contextmanager
def fault_proxy(upstream: str) -> Iterator[Proxy]:
    """A plain-HTTP proxy to ``upstream`` (HOST:PORT) that injects faults."""
    port = free_port()
    proxy = Proxy(f"http://127.0.0.1:{port}", f"127.0.0.1:{port}")
    up_host, up_port = upstream.rsplit(":", 1)

    class Handler(_Answering):
        def _relay(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            proxy.seen.append((self.command, self.path))
            fault = proxy.fault(self.command, self.path)
            if fault == "slow":
                time.sleep(2)
            if fault == "redirect":  # like Docker Hub sending blobs to a CDN
                return self._answer(307, {"Location": f"http://{upstream}{self.path}"}, b"")
            if fault == "500":
                return self._answer(500, {}, b'{"errors":[{"code":"UNKNOWN","message":"injected"}]}')
            conn = http.client.HTTPConnection(up_host, int(up_port), timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            out = {k: v for k, v in resp.getheaders()
                   if k.lower() not in ("connection", "transfer-encoding", "content-length")}
            conn.close()
            if fault == "garbage" and self.command == "GET":
                data = b"\x00garbage{" + bytes(len(data))[:max(len(data) - 9, 0)]
            if fault == "truncate" and self.command == "GET":
                self.send_response(resp.status)
                for k, v in out.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.close_connection = True
                return
            self._answer(resp.status, out, data)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _relay

    with _serving(port, Handler):
        yield proxy


# -- a recording server (a hostile registry, realm or redirect target) --------------------

# route(recorder, request) -> (status, headers, body); request is what ``seen`` records.
Route = Callable[["Recorder", dict], "tuple[int, dict[str, str], bytes]"]


@dataclass
class Recorder:
    url: str                 # SCHEME://NAME:PORT, NAME being what the test asked for
    seen: list[dict] = field(default_factory=list)

    def credentials(self) -> list[str]:
        """Every Authorization header this server received."""
        return [r["authorization"] for r in self.seen if r["authorization"]]


@contextlib.contextmanager
def recording_server(route: Route, *, name: str = "127.0.0.1",
                     tls: tuple[str, str] | None = None) -> Iterator[Recorder]:
    """A server on 127.0.0.1 reached as ``name`` (``localhost`` is another host
    name for the same machine), answering ``route(recorder, request)``."""
    port = free_port()
    rec = Recorder(f"{'https' if tls else 'http'}://{name}:{port}")

    class Handler(_Answering):
        def _record(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            request = {"method": self.command, "path": self.path,
                       "authorization": self.headers.get("Authorization")}
            rec.seen.append(request)
            self._answer(*route(rec, request))

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = _record

    with _serving(port, Handler, tls):
        yield rec


# -- the seeded upstream ----------------------------------------------------------------

@dataclass
class Upstream:
    registry: Registry
    refs: dict[str, str]      # short name -> full reference on the upstream
    digests: dict[str, str]   # short name -> digest the upstream serves


def seed_upstream(reg: Registry, build: Path) -> Upstream:
    """Build small images (one shared layer) and push them with skopeo.

    small: OCI, linux/amd64, 2 layers; multi: OCI index, linux/amd64 +
    linux/arm64; docker: the small image as Docker schema2; big: one 1.5 MB
    layer (several upload chunks); alpine: ``library/alpine:3.19``, for
    Docker Hub name mapping.
    """
    shared = {"usr/lib/shared.bin": random_bytes(96 * 1024, "shared")}
    tag_layout(build, "small", write_image(build, layers=[shared, {"app/small.txt": b"small\n"}],
                                           label="small"))
    tag_layout(build, "multi", write_index(build, [
        write_image(build, arch=arch, layers=[shared, {"app/bin": random_bytes(64 * 1024, arch)}])
        for arch in ("amd64", "arm64")]))
    tag_layout(build, "big", write_image(build, layers=[{"data.bin": random_bytes(1_500_000, "big")}],
                                         label="big"))
    paths = {"small": ("small", "test/small", "1.0", {}),
             "multi": ("multi", "test/multi", "1.0", {"all_platforms": True}),
             "docker": ("small", "test/docker", "2", {"fmt": "v2s2"}),
             "big": ("big", "test/big", "1", {}),
             "alpine": ("small", "library/alpine", "3.19", {})}
    refs, digests = {}, {}
    for name, (tag, repo, rtag, kw) in paths.items():
        skopeo_push(build, tag, f"{reg.host}/{repo}:{rtag}", **kw)
        refs[name] = f"{reg.host}/{repo}:{rtag}"
        digests[name] = reg.digest(repo, rtag)
    return Upstream(reg, refs, digests)
