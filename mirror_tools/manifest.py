"""The mirror manifest: what an air-gapped network needs from the outside.

One YAML file declares the Terraform providers, the terraform binary and the
container images to carry across the gap. It is written by hand, so every
mistake is reported with the field's path and the line it is on
(``manifest.yaml:12: providers[1].versions: ...``) rather than as a traceback
from deep inside a sync.

Registry hosts can be redirected (``registries:``) so that a network, or a
test, points ``registry.terraform.io`` or ``docker.io`` at its own registry and
trusts its own CA, without the mirror layout changing: the mirror is still
keyed by the host name terraform and container runtimes know.

The offline bundle's manifest (``appliance bundle build``) is the same file
with one more section, ``bundle:`` (``BundleSpec``), read by
``load(path, bundle=True)``; mirror-sync refuses that section rather than
ignoring it, so a bundle manifest is never mistaken for a plain mirror one.

This module only parses and validates. The providers and terraform parts are
synced by ``mirror_tools.providers``/``mirror_tools.terraform_release``; the
images part is handed as ``ImageSpec`` objects to ``mirror_tools.images.sync``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEFAULT_PROVIDER_HOST = "registry.terraform.io"
DEFAULT_NAMESPACE = "hashicorp"
DEFAULT_RELEASES_URL = "https://releases.hashicorp.com"

_NAME_RE = re.compile(r"^[0-9A-Za-z](?:[0-9A-Za-z-_]{0,62}[0-9A-Za-z])?$")
_HOST_RE = re.compile(r"^[0-9A-Za-z.-]+(?::[0-9]+)?$")
_TF_PLATFORM_RE = re.compile(r"^[a-z0-9]+_[a-z0-9]+$")
_OCI_PLATFORM_RE = re.compile(r"^[a-z0-9]+/[a-z0-9]+(?:/[a-z0-9.]+)?$")
_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_DEBIAN_PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
BUNDLE_PLATFORM = "linux_amd64"
POSTGRES_CHOICES = ("embedded", "debian")
DEFAULT_TEMPLATES = ("local", "podman")


class ManifestError(ValueError):
    """The manifest cannot be used; the message names the file, line and field."""


@dataclass(frozen=True)
class RegistryAccess:
    """How to reach one registry host (Terraform or container registry).

    ``url`` replaces ``https://HOST`` as the base URL (for a Terraform registry
    it is where ``/.well-known/terraform.json`` is looked up); a plain
    ``http://`` one is refused unless ``insecure`` says so. The password is
    never written in the manifest: ``password_env`` names the environment
    variable that holds it. ``auth_hosts`` are other hosts whose token
    endpoint may receive that login (a container registry's token service).
    ``signers`` pins, per provider namespace of a Terraform registry, the
    fingerprints of the GnuPG keys allowed to sign its SHA256SUMS
    (``mirror_tools.providers.signing.pinned_signers`` adds the built-in pins).
    """
    host: str
    url: str | None = None
    ca_bundle: str | None = None
    username: str | None = None
    password_env: str | None = None
    insecure: bool = False
    auth_hosts: tuple[str, ...] = ()
    signers: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)

    @property
    def base_url(self) -> str:
        return (self.url or f"https://{self.host}").rstrip("/")

    def password(self) -> str | None:
        if not self.password_env:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise ManifestError(f"registry {self.host}: environment variable "
                                f"{self.password_env} (password_env) is not set")
        return value


@dataclass(frozen=True)
class ProviderSpec:
    """One provider to mirror: ``HOST/NAMESPACE/TYPE``, constraints, platforms.

    Each entry of ``versions`` is a Terraform version constraint string; the
    newest version matching it is mirrored (``select: newest``, what
    ``terraform providers mirror`` does), or every matching version
    (``select: all``).
    """
    host: str
    namespace: str
    type: str
    versions: tuple[str, ...]
    platforms: tuple[str, ...]
    select: str = "newest"

    @property
    def source(self) -> str:
        return f"{self.host}/{self.namespace}/{self.type}"


@dataclass(frozen=True)
class TerraformSpec:
    """The terraform binary to carry, laid out as HashiCorp's releases site.

    ``signing_keys`` is an ASCII-armoured GnuPG public key file (HashiCorp's
    release key, or the test fixture's) that must have signed SHA256SUMS.
    """
    version: str
    platforms: tuple[str, ...]
    releases_url: str = DEFAULT_RELEASES_URL
    signing_keys: str | None = None
    ca_bundle: str | None = None


@dataclass(frozen=True)
class ImageSpec:
    """One container image to carry: a reference pinned by tag or digest.

    ``platforms`` are OCI platforms (``linux/amd64``, ``linux/arm64/v8``); an
    empty list means every platform of an index. ``registry`` says how to reach
    the image's registry host when the manifest redirects it or needs a login;
    None means plain HTTPS to the host in ``ref`` with anonymous/token auth.
    """
    ref: str
    platforms: list[str] = field(default_factory=list)
    registry: RegistryAccess | None = None


@dataclass(frozen=True)
class BundleSpec:
    """What the offline bundle carries besides the mirror parts.

    ``packages`` are Debian packages added to the bundle's apt repository on
    top of what the installer always needs; ``postgres: debian`` adds
    Debian's PostgreSQL instead of relying on the embedded one; ``templates``
    names folders of ``examples/templates`` to carry.
    """
    postgres: str = "embedded"
    packages: tuple[str, ...] = ()
    templates: tuple[str, ...] = DEFAULT_TEMPLATES


@dataclass(frozen=True)
class Manifest:
    path: Path
    providers: tuple[ProviderSpec, ...] = ()
    terraform: TerraformSpec | None = None
    images: tuple[ImageSpec, ...] = ()
    registries: dict[str, RegistryAccess] = field(default_factory=dict)
    files: tuple[tuple[str, int, Path], ...] = ()
    bundle: BundleSpec | None = None

    def registry(self, host: str) -> RegistryAccess:
        return self.registries.get(host) or RegistryAccess(host=host)

    def check_files(self) -> None:
        """Every file the manifest names (keys, CA bundles) must exist before a sync starts.

        Checked here rather than when parsing so the documented example, whose
        key files live on the connected machine, still validates anywhere.
        """
        for where, line, path in self.files:
            if not path.is_file():
                raise ManifestError(f"{self.path}:{line}: {where}: file {path} does not exist")


def load(path: str | os.PathLike, bundle: bool = False) -> Manifest:
    """Read and validate a manifest file (a bundle manifest when ``bundle``)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read manifest: {exc.strerror}") from exc
    return parse(text, path, bundle)


def parse(text: str, path: Path, bundle: bool = False) -> Manifest:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ManifestError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if node is None:
        raise ManifestError(f"{path}: the manifest is empty")
    return _Reader(path, bundle).manifest(node)


def parse_provider_source(source: str) -> tuple[str, str, str]:
    """Split ``[HOST/]NAMESPACE/TYPE`` the way terraform does (defaults included)."""
    parts = source.strip().split("/")
    if len(parts) == 1:
        parts = [DEFAULT_PROVIDER_HOST, DEFAULT_NAMESPACE, parts[0]]
    elif len(parts) == 2:
        parts = [DEFAULT_PROVIDER_HOST, *parts]
    if len(parts) != 3:
        raise ValueError(f"{source!r} is not a provider source address ([HOST/]NAMESPACE/TYPE)")
    host, namespace, ptype = parts
    if not _HOST_RE.match(host):
        raise ValueError(f"{source!r}: {host!r} is not a host name")
    for label in (namespace, ptype):
        if not _NAME_RE.match(label):
            raise ValueError(f"{source!r}: {label!r} is not a valid namespace or type name")
    return host.lower(), namespace.lower(), ptype.lower()


class _Reader:
    """Walks the composed YAML nodes so every error can name its line."""

    def __init__(self, path: Path, bundle: bool = False):
        self.path = path
        self.bundle = bundle
        self.files: list[tuple[str, int, Path]] = []

    def fail(self, node: yaml.Node, where: str, message: str) -> ManifestError:
        return ManifestError(f"{self.path}:{node.start_mark.line + 1}: {where}: {message}")

    # -- node helpers -------------------------------------------------------
    def mapping(self, node, where, allowed: set[str], required: set[str] = frozenset()) -> dict:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, where, "expected a mapping")
        out: dict[str, yaml.Node] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            if name not in allowed:
                raise self.fail(key, where, f"unknown field {name!r} "
                                f"(expected one of: {', '.join(sorted(allowed))})")
            if name in out:
                raise self.fail(key, where, f"field {name!r} is given twice")
            out[name] = value
        for name in sorted(required - out.keys()):
            raise self.fail(node, where, f"missing required field {name!r}")
        return out

    def sequence(self, node, where) -> list:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, where, "expected a list")
        return node.value

    def string(self, node, where) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag == "tag:yaml.org,2002:null":
            raise self.fail(node, where, "expected a string (quote values like null, yes, 1.0)")
        return str(node.value)

    def strings(self, node, where) -> list[tuple[yaml.Node, str]]:
        """A list of strings; a single string counts as a one-element list."""
        if isinstance(node, yaml.ScalarNode):
            return [(node, self.string(node, where))]
        return [(n, self.string(n, f"{where}[{i}]")) for i, n in enumerate(self.sequence(node, where))]

    def file(self, node, where) -> str:
        """A path, relative to the manifest's folder (checked by ``Manifest.check_files``)."""
        value = Path(self.string(node, where)).expanduser()
        if not value.is_absolute():
            value = self.path.parent / value
        self.files.append((where, node.start_mark.line + 1, value))
        return str(value)

    def url(self, node, where) -> str:
        value = self.string(node, where).rstrip("/")
        if not re.match(r"^https?://[^/\s]+", value):
            raise self.fail(node, where, f"{value!r} is not an http:// or https:// URL")
        return value

    def boolean(self, node, where) -> bool:
        value = self.string(node, where)
        if node.tag != "tag:yaml.org,2002:bool":
            raise self.fail(node, where, f"{value!r} is not true or false")
        return yaml.SafeLoader.bool_values[value.lower()]

    # -- sections -----------------------------------------------------------
    def manifest(self, node) -> Manifest:
        sections = {"registries", "providers", "terraform", "images"}
        if not self.bundle and isinstance(node, yaml.MappingNode):
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == "bundle":
                    raise self.fail(key, "manifest", "the bundle section is for `appliance "
                                    "bundle build`, not mirror-sync")
        top = self.mapping(node, "manifest", sections | {"bundle"} if self.bundle else sections,
                           {"bundle", "terraform"} if self.bundle else frozenset())
        registries = self.registries(top["registries"]) if "registries" in top else {}
        providers = tuple(self.provider(n, f"providers[{i}]") for i, n in
                          enumerate(self.sequence(top["providers"], "providers"))) \
            if "providers" in top else ()
        seen: dict[str, int] = {}
        for i, spec in enumerate(providers):
            if spec.source in seen:
                raise ManifestError(f"{self.path}: providers[{i}]: {spec.source} is already "
                                    f"listed as providers[{seen[spec.source]}]; merge the entries")
            seen[spec.source] = i
        terraform = self.terraform(top["terraform"]) if "terraform" in top else None
        images = tuple(self.image(n, f"images[{i}]", registries) for i, n in
                       enumerate(self.sequence(top["images"], "images"))) \
            if "images" in top else ()
        if not (providers or terraform or images):
            raise self.fail(node, "manifest", "declares nothing to mirror "
                            "(add providers, terraform or images)")
        bundle = self.bundle_section(top["bundle"], terraform, top["terraform"]) \
            if self.bundle else None
        return Manifest(self.path, providers, terraform, images, registries, tuple(self.files),
                        bundle)

    def bundle_section(self, node, terraform: TerraformSpec, terraform_node) -> BundleSpec:
        if BUNDLE_PLATFORM not in terraform.platforms:
            raise self.fail(terraform_node, "terraform.platforms",
                            f"a bundle needs terraform for {BUNDLE_PLATFORM}")
        fields = self.mapping(node, "bundle", {"postgres", "packages", "templates"})
        postgres = "embedded"
        if "postgres" in fields:
            postgres = self.string(fields["postgres"], "bundle.postgres")
            if postgres not in POSTGRES_CHOICES:
                raise self.fail(fields["postgres"], "bundle.postgres",
                                f"{postgres!r} is not one of: {', '.join(POSTGRES_CHOICES)}")
        packages = []
        for pnode, name in self.strings(fields["packages"], "bundle.packages") \
                if "packages" in fields else ():
            if not _DEBIAN_PACKAGE_RE.match(name):
                raise self.fail(pnode, "bundle.packages", f"{name!r} is not a Debian package name")
            packages.append(name)
        templates = DEFAULT_TEMPLATES
        if "templates" in fields:
            templates = tuple(self.name_list(fields["templates"], "bundle.templates"))
        return BundleSpec(postgres, tuple(dict.fromkeys(packages)), templates)

    def name_list(self, node, where) -> list[str]:
        out = []
        for nnode, name in self.strings(node, where):
            if not _NAME_RE.match(name):
                raise self.fail(nnode, where, f"{name!r} is not a folder name")
            out.append(name)
        return out

    def registries(self, node) -> dict[str, RegistryAccess]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, "registries", "expected a mapping of host name to settings")
        out = {}
        for key, value in node.value:
            host = self.string(key, "registries").lower()
            where = f"registries.{host}"
            if not _HOST_RE.match(host):
                raise self.fail(key, where, f"{host!r} is not a host name")
            fields = self.mapping(value, where, {"url", "ca_bundle", "username", "password_env",
                                                 "insecure", "auth_hosts", "signers"})
            if "password_env" in fields and "username" not in fields:
                raise self.fail(value, where, "password_env needs username")
            url = self.url(fields["url"], f"{where}.url") if "url" in fields else None
            insecure = self.boolean(fields["insecure"], f"{where}.insecure") \
                if "insecure" in fields else False
            plain = bool(url and url.startswith("http://"))
            if plain and not insecure:
                raise self.fail(fields["url"], f"{where}.url",
                                f"{url!r} is plain HTTP: add 'insecure: true' to this registry "
                                "to allow it (its answers, and any login, then travel unencrypted)")
            if insecure and not plain:
                raise self.fail(fields["insecure"], f"{where}.insecure",
                                "only applies to an http:// url (TLS is always verified)")
            out[host] = RegistryAccess(
                host=host, url=url, insecure=insecure,
                ca_bundle=self.file(fields["ca_bundle"], f"{where}.ca_bundle")
                if "ca_bundle" in fields else None,
                username=self.string(fields["username"], f"{where}.username")
                if "username" in fields else None,
                password_env=self.string(fields["password_env"], f"{where}.password_env")
                if "password_env" in fields else None,
                auth_hosts=self.auth_hosts(fields["auth_hosts"], f"{where}.auth_hosts")
                if "auth_hosts" in fields else (),
                signers=self.signers(fields["signers"], f"{where}.signers")
                if "signers" in fields else {})
        return out

    def signers(self, node, where) -> dict[str, tuple[str, ...]]:
        """NAMESPACE -> GnuPG key fingerprints (spaces allowed, any case)."""
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, where, "expected a mapping of namespace to key fingerprints")
        out = {}
        for key, value in node.value:
            namespace = self.string(key, where).lower()
            if not _NAME_RE.match(namespace):
                raise self.fail(key, where, f"{namespace!r} is not a provider namespace")
            fingerprints = []
            for fnode, text in self.strings(value, f"{where}.{namespace}"):
                fpr = text.replace(" ", "").upper()
                if not re.match(r"^(?:[0-9A-F]{40}|[0-9A-F]{64})$", fpr):
                    raise self.fail(fnode, f"{where}.{namespace}",
                                    f"{text!r} is not a GnuPG key fingerprint (40 hex digits, "
                                    "as `gpg --fingerprint` prints it; not a short key ID)")
                fingerprints.append(fpr)
            if not fingerprints:
                raise self.fail(value, f"{where}.{namespace}", "no fingerprint given")
            out[namespace] = tuple(fingerprints)
        return out

    def auth_hosts(self, node, where) -> tuple[str, ...]:
        out = []
        for hnode, value in self.strings(node, where):
            if not re.match(r"^[0-9A-Za-z.-]+$", value):
                raise self.fail(hnode, where, f"{value!r} is not a host name (no scheme, port "
                                "or path)")
            out.append(value.lower())
        return tuple(out)

    def provider(self, node, where) -> ProviderSpec:
        from mirror_tools.providers.versions import ConstraintError, parse_constraints
        fields = self.mapping(node, where, {"source", "versions", "platforms", "select"},
                              {"source", "versions", "platforms"})
        source_node = fields["source"]
        source = self.string(source_node, f"{where}.source")
        try:
            host, namespace, ptype = parse_provider_source(source)
        except ValueError as exc:
            raise self.fail(source_node, f"{where}.source", str(exc)) from None
        versions = []
        for vnode, text in self.strings(fields["versions"], f"{where}.versions"):
            try:
                parse_constraints(text)
            except ConstraintError as exc:
                raise self.fail(vnode, f"{where}.versions", str(exc)) from None
            versions.append(text)
        if not versions:
            raise self.fail(fields["versions"], f"{where}.versions", "no version constraint given")
        platforms = self.platforms(fields["platforms"], f"{where}.platforms", _TF_PLATFORM_RE,
                                   "OS_ARCH, like linux_amd64")
        select = "newest"
        if "select" in fields:
            select = self.string(fields["select"], f"{where}.select")
            if select not in ("newest", "all"):
                raise self.fail(fields["select"], f"{where}.select",
                                f"{select!r} is not 'newest' or 'all'")
        return ProviderSpec(host, namespace, ptype, tuple(versions), platforms, select)

    def platforms(self, node, where, pattern, shape) -> tuple[str, ...]:
        out = []
        for pnode, value in self.strings(node, where):
            if not pattern.match(value):
                raise self.fail(pnode, where, f"{value!r} is not a platform ({shape})")
            if value not in out:
                out.append(value)
        if not out and pattern is _TF_PLATFORM_RE:
            raise self.fail(node, where, "no platform given")
        return tuple(out)

    def terraform(self, node) -> TerraformSpec:
        fields = self.mapping(node, "terraform",
                              {"version", "platforms", "releases_url", "signing_keys", "ca_bundle"},
                              {"version", "platforms", "signing_keys"})
        version = self.string(fields["version"], "terraform.version")
        if not _VERSION_RE.match(version):
            raise self.fail(fields["version"], "terraform.version",
                            f"{version!r} is not an exact version like 1.11.4")
        return TerraformSpec(
            version=version,
            platforms=self.platforms(fields["platforms"], "terraform.platforms", _TF_PLATFORM_RE,
                                     "OS_ARCH, like linux_amd64"),
            releases_url=self.url(fields["releases_url"], "terraform.releases_url")
            if "releases_url" in fields else DEFAULT_RELEASES_URL,
            signing_keys=self.file(fields["signing_keys"], "terraform.signing_keys"),
            ca_bundle=self.file(fields["ca_bundle"], "terraform.ca_bundle")
            if "ca_bundle" in fields else None)

    def image(self, node, where, registries: dict[str, RegistryAccess]) -> ImageSpec:
        if isinstance(node, yaml.ScalarNode):
            fields = {"ref": node}
        else:
            fields = self.mapping(node, where, {"ref", "platforms"}, {"ref"})
        ref = self.string(fields["ref"], f"{where}.ref")
        if not re.match(r"^[a-z0-9][^\s]*(?::[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})$", ref):
            raise self.fail(fields["ref"], f"{where}.ref",
                            f"{ref!r} must be pinned by tag (NAME:TAG) or digest (NAME@sha256:...)")
        platforms = self.platforms(fields["platforms"], f"{where}.platforms", _OCI_PLATFORM_RE,
                                   "OS/ARCH[/VARIANT], like linux/amd64") \
            if "platforms" in fields else ()
        return ImageSpec(ref=ref, platforms=list(platforms),
                         registry=registries.get(image_host(ref)))


def image_host(ref: str) -> str:
    """The registry host of an image reference (``docker.io`` when none is named)."""
    first, sep, _ = ref.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first.lower()
    return "docker.io"
