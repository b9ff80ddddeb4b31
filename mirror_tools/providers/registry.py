"""A client for the Terraform provider registry protocol (what ``terraform init`` speaks).

Service discovery (``/.well-known/terraform.json``) gives the ``providers.v1``
base; ``NS/TYPE/versions`` lists versions and platforms;
``NS/TYPE/VERSION/download/OS/ARCH`` gives the zip's URL, its sha256, the
SHA256SUMS file, its detached signature and the GnuPG keys to check it with.
Every answer is checked for shape, so a registry answering garbage is reported
as such, naming the provider, rather than as a KeyError. The registry and
every URL it names must be HTTPS, unless the manifest marks the registry
``insecure``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests

from mirror_tools.fetch import FetchError, get_bytes
from mirror_tools.manifest import RegistryAccess


class RegistryError(FetchError):
    """The registry did not answer as the protocol says; names the provider."""


@dataclass(frozen=True)
class DownloadInfo:
    filename: str
    download_url: str
    shasum: str
    shasums_url: str
    shasums_signature_url: str
    gpg_public_keys: tuple[str, ...]


class RegistryClient:
    def __init__(self, session: requests.Session, access: RegistryAccess):
        self.session = session
        self.access = access
        self._providers_base: str | None = None
        self._https(access.base_url, f"registry {access.host}")

    def _https(self, url: str, what: str) -> str:
        """``url`` if it is HTTPS (or HTTP for an insecure registry); else RegistryError."""
        scheme = urlsplit(url).scheme
        if scheme == "https" or (scheme == "http" and self.access.insecure):
            return url
        raise RegistryError(f"{what}: {url} is not HTTPS; refused unless the manifest marks "
                            f"the registry insecure (registries.{self.access.host}.insecure: true)")

    def _get_json(self, url: str, what: str) -> dict:
        body = get_bytes(self.session, url, what=what)
        try:
            obj = json.loads(body)
        except ValueError:
            raise RegistryError(f"{what}: {url} did not answer JSON") from None
        if not isinstance(obj, dict):
            raise RegistryError(f"{what}: {url} answered {type(obj).__name__}, not a JSON object")
        return obj

    def providers_base(self) -> str:
        """The ``providers.v1`` URL from service discovery (cached)."""
        if self._providers_base is None:
            url = f"{self.access.base_url}/.well-known/terraform.json"
            body = self._get_json(url, f"registry {self.access.host} service discovery")
            base = body.get("providers.v1")
            if not isinstance(base, str):
                raise RegistryError(f"registry {self.access.host}: {url} offers no providers.v1 "
                                    "service")
            self._providers_base = self._https(urljoin(url, base.rstrip("/") + "/"),
                                               f"registry {self.access.host} service discovery")
        return self._providers_base

    def versions(self, namespace: str, ptype: str) -> dict[str, set[str]]:
        """Every version the registry has, with the platforms (``os_arch``) each supports."""
        what = f"provider {self.access.host}/{namespace}/{ptype}"
        body = self._get_json(f"{self.providers_base()}{namespace}/{ptype}/versions", what)
        out: dict[str, set[str]] = {}
        try:
            for v in body["versions"]:
                out[str(v["version"])] = {f"{p['os']}_{p['arch']}" for p in v.get("platforms") or ()}
        except (KeyError, TypeError) as exc:
            raise RegistryError(f"{what}: malformed versions list ({exc!r})") from None
        return out

    def download_info(self, namespace: str, ptype: str, version: str, platform: str) -> DownloadInfo:
        os_, arch = platform.split("_", 1)
        what = f"provider {self.access.host}/{namespace}/{ptype} {version} {platform}"
        url = f"{self.providers_base()}{namespace}/{ptype}/{version}/download/{os_}/{arch}"
        body = self._get_json(url, what)
        try:
            keys = tuple(k["ascii_armor"] for k in body["signing_keys"]["gpg_public_keys"])
            info = DownloadInfo(
                filename=str(body["filename"]),
                download_url=self._https(urljoin(url, body["download_url"]), what),
                shasum=str(body["shasum"]).lower(),
                shasums_url=self._https(urljoin(url, body["shasums_url"]), what),
                shasums_signature_url=self._https(urljoin(url, body["shasums_signature_url"]),
                                                  what),
                gpg_public_keys=keys)
        except (KeyError, TypeError) as exc:
            raise RegistryError(f"{what}: malformed download answer (missing {exc})") from None
        if "/" in info.filename or not info.filename.endswith(".zip"):
            raise RegistryError(f"{what}: unexpected file name {info.filename!r}")
        return info
