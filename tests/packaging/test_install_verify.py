"""install.sh and ``appliance bundle verify`` accept a good bundle and refuse the same
tampered ones for the same reason (one rule set, two implementations).

Bundles are sealed by the real builder (packaging/bundle.py's seal: hashing,
MANIFEST.json, a real GnuPG signature, the tar) from small hand-made folders;
install.sh runs under bash with only /usr/bin:/bin, as on a minimal Debian 12.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import subprocess
import json
import tarfile

import pytest

from appliance import bundle_manifest as bm
from tests.kit import tf_registry

from ..ansible.ansibletest import write_coderd_env
from .bundlekit import extract, install_sh, install_sh_vars, make_stage, seal, tree, verify

FILES = {
    "bin/tool.d/tool": b"#!/bin/sh\necho tool\n",
    "bin/tool": ("link", "tool.d/tool"),
    "providers/registry.terraform.io/hashicorp/null/index.json": b'{"versions": {}}\n',
    "images/blobs/sha256/" + "a" * 64: b"blob" * 1000,
    "templates/local/main.tf": b"# template\n",
}


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    root = tmp_path_factory.mktemp("keys")
    key = tf_registry.SigningKey(root / "signer", "Bundle Signer")
    rogue = tf_registry.SigningKey(root / "rogue", "Rogue Signer")
    yield key, rogue
    key.close()
    rogue.close()


@pytest.fixture(scope="module")
def good(tmp_path_factory, keys):
    """A sealed bundle: its tar."""
    root = tmp_path_factory.mktemp("good")
    return seal(make_stage(root / "stage", FILES), root / "out", keys[0]).path


@pytest.fixture
def folder(good, tmp_path):
    """The good bundle, extracted afresh for a test to tamper with."""
    return extract(good, tmp_path / "x")


def both(folder, fingerprint, tar=None, *args):
    """(install.sh, verify on the folder[, verify on the tar]) outcomes."""
    out = [install_sh(folder, fingerprint, *args), verify(folder, fingerprint, *args)]
    if tar:
        out.append(verify(tar, fingerprint, *args))
    return out


def assert_refused(outcomes, kind):
    for o in outcomes:
        assert o.code != 0 and o.kind == kind, (kind, outcomes)


def test_a_good_bundle_passes_both_and_gets_the_manifest_modes(good, folder, keys):
    key = keys[0]
    spaced = " ".join(key.fingerprint[i:i + 4] for i in range(0, 40, 4)).lower()
    (folder / "bin/tool.d/tool").chmod(0o600)      # a umask or a tar option changed it
    for o in both(folder, spaced, good):
        assert o.code == 0 and not o.error, o
    assert (folder / "bin/tool.d/tool").stat().st_mode & 0o777 == 0o755
    assert (folder / "templates/local/main.tf").stat().st_mode & 0o777 == 0o644
    manifest = bm.loads((folder / bm.MANIFEST).read_bytes())
    assert manifest["signer"] == key.fingerprint
    listed = {e["path"] for e in manifest["files"]}
    assert listed == set(FILES) | {"install.sh", bm.SIGNER_KEY}
    with tarfile.open(good) as t:
        names = t.getnames()
    assert names[1:4] == [f"{folder.name}/{bm.MANIFEST}", f"{folder.name}/{bm.SIGNATURE}",
                          f"{folder.name}/keys"]


def test_a_tampered_byte_is_refused(folder, keys, tmp_path):
    blob = folder / "images/blobs/sha256" / ("a" * 64)
    data = bytearray(blob.read_bytes())
    data[100] ^= 1
    blob.write_bytes(bytes(data))
    assert_refused(both(folder, keys[0].fingerprint), "tampered")


def test_a_tampered_byte_in_the_tar_is_refused(good, keys, tmp_path):
    data = bytearray(good.read_bytes())
    offset = data.index(b"blob" * 10)
    data[offset + 7] ^= 1
    bad = tmp_path / good.name
    bad.write_bytes(bytes(data))
    assert verify(bad, keys[0].fingerprint).kind == "tampered"
    assert_refused(both(extract(bad, tmp_path / "x"), keys[0].fingerprint), "tampered")


def test_a_missing_file_is_refused(folder, keys):
    (folder / "templates/local/main.tf").unlink()
    assert_refused(both(folder, keys[0].fingerprint), "missing")


@pytest.mark.parametrize("extra", ["templates/local/evil.tf", "images/blobs/sha256/.hidden",
                                   "empty-folder/"])
def test_an_extra_file_or_folder_is_refused(folder, keys, extra):
    if extra.endswith("/"):
        (folder / extra).mkdir()
    else:
        (folder / extra).write_bytes(b"x")
    assert_refused(both(folder, keys[0].fingerprint), "extra")


def test_links_out_of_the_folder_are_refused(folder, keys):
    link = folder / "bin/tool"
    link.unlink()
    link.symlink_to("/etc/passwd")
    assert_refused(both(folder, keys[0].fingerprint), "unsafe")


def test_a_link_where_a_file_was_is_refused(folder, keys):
    target = folder / "templates/local/main.tf"
    outside = folder.parent / "outside.tf"
    outside.write_bytes(target.read_bytes())
    target.unlink()
    target.symlink_to(outside)
    assert_refused(both(folder, keys[0].fingerprint), "unsafe")


def test_a_wrong_fingerprint_is_refused(good, folder, keys):
    assert_refused(both(folder, keys[1].fingerprint, good), "fingerprint")


@pytest.mark.parametrize("name", ["coder example", "a=b", "-coder.test", "coder..test", "x" * 64])
def test_a_hostname_that_is_no_dns_name_is_refused_before_anything(folder, keys, name):
    refused = install_sh(folder, keys[0].fingerprint, "--hostname", name)
    assert refused.code == 1 and refused.kind == "usage", refused.error
    assert "is not a DNS name" in refused.error


def test_this_hosts_name_is_held_to_the_same_rule(folder, keys, tmp_path):
    """Without --hostname, install.sh takes ``hostname -f``: refused the same way, asking for
    --hostname. A wrong fingerprint stops it at verification, were the check missing."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "hostname").write_text("#!/bin/sh\necho 'build box'\n")
    (fake / "hostname").chmod(0o755)
    refused = install_sh(folder, keys[1].fingerprint, verify_only=False, path=f"{fake}:/usr/bin:/bin")
    assert refused.code == 1 and refused.kind == "usage", refused.error
    assert "'build box' is not a DNS name" in refused.error and "--hostname NAME" in refused.error
    # --verify-only installs nothing: this host's name is not asked.
    assert install_sh(folder, keys[0].fingerprint, path=f"{fake}:/usr/bin:/bin").code == 0


FORM = "must be postgres://... or postgresql://..."
ENCODE = "percent-encode it"


@pytest.mark.parametrize("url, error", [
    ("mysql://db.example.internal/coder", FORM), ("postgres:/db", FORM), ("db.example:5432", FORM),
    ("postgresql://coder:secret@db/coder x", FORM), ("postgres://db/\ncoder", FORM),
    ('postgresql://coder:se"cret@db/coder', ENCODE), ("postgresql://coder:it's-secret@db/coder", ENCODE),
    ("postgresql://coder:se\\cret@db/coder", ENCODE), ("postgresql://coder:$secret@db/coder", ENCODE)])
def test_a_database_url_install_sh_cannot_pass_on_is_refused_unechoed(folder, keys, url, error):
    """From --postgres-url or the environment, before anything; never echoed (a password). A
    quote, '\\' or '$' would reach coderd changed (systemd reads coderd.env): encoded, they do not."""
    for refused in (install_sh(folder, keys[0].fingerprint, "--postgres-url", url),
                    install_sh(folder, keys[0].fingerprint,
                               environ={"CODER_PG_CONNECTION_URL": url})):
        assert refused.code == 1 and refused.kind == "usage", refused.error
        assert error in refused.error
        assert url not in refused.error and "secret" not in refused.error


def test_a_postgres_url_passes_and_goes_with_no_uninstall(folder, keys):
    url = "postgresql://coder:secret@db.example.internal:5432/coder?sslmode=verify-full"
    assert install_sh(folder, keys[0].fingerprint, "--postgres-url", url).code == 0
    refused = install_sh(folder, keys[0].fingerprint, "--postgres-url", url, "--uninstall")
    assert refused.kind == "usage" and "--postgres-url does not go with --uninstall" in refused.error


def test_cluster_needs_an_inventory_and_refuses_what_the_inventory_says(folder, keys, tmp_path):
    inventory = tmp_path / "cluster.yml"
    inventory.write_text("all: {}\n")
    alone = install_sh(folder, keys[0].fingerprint, "--cluster")
    assert alone.kind == "usage" and "--cluster needs --inventory FILE" in alone.error
    for option in (("--hostname", "coder.example.internal"),
                   ("--postgres-url", "postgresql://db.example.internal/coder")):
        refused = install_sh(folder, keys[0].fingerprint, "--cluster", "--inventory",
                             str(inventory), *option)
        assert refused.kind == "usage" and f"{option[0]} does not go with --cluster" in refused.error
    purge = install_sh(folder, keys[0].fingerprint, "--cluster", "--inventory", str(inventory), "--purge")
    assert purge.kind == "usage" and "--purge goes with --uninstall" in purge.error
    for uninstall in ((), ("--uninstall",), ("--uninstall", "--purge")):
        assert install_sh(folder, keys[0].fingerprint, "--cluster", "--inventory", str(inventory),
                          *uninstall).code == 0, uninstall


def test_a_short_key_id_is_not_a_fingerprint(folder, keys):
    assert_refused(both(folder, keys[0].key_id), "fingerprint")


def test_an_edited_manifest_is_refused(folder, keys):
    path = folder / bm.MANIFEST
    text = path.read_text()
    sha = hashlib.sha256((folder / "templates/local/main.tf").read_bytes()).hexdigest()
    (folder / "templates/local/main.tf").write_bytes(b"# evil\n")
    path.write_text(text.replace(sha, hashlib.sha256(b"# evil\n").hexdigest()))
    assert_refused(both(folder, keys[0].fingerprint), "signature")


def test_a_key_swapped_in_the_bundle_is_refused(folder, keys):
    """The attacker re-signs the edited manifest with their key and ships that key."""
    key, rogue = keys
    (folder / "templates/local/main.tf").write_bytes(b"# evil\n")
    manifest = bm.loads((folder / bm.MANIFEST).read_bytes())
    for e in manifest["files"]:
        if e["path"] == "templates/local/main.tf":
            e["sha256"] = hashlib.sha256(b"# evil\n").hexdigest()
            e["size"] = 7
    rogue_key = rogue.gpg.export_keys(rogue.fingerprint, armor=False)
    for e in manifest["files"]:
        if e["path"] == bm.SIGNER_KEY:
            e["sha256"], e["size"] = hashlib.sha256(rogue_key).hexdigest(), len(rogue_key)
    text = bm.dumps(manifest)
    (folder / bm.MANIFEST).write_bytes(text)
    (folder / bm.SIGNATURE).write_bytes(rogue.sign(text))
    (folder / bm.SIGNER_KEY).write_bytes(rogue_key)
    assert_refused(both(folder, key.fingerprint), "fingerprint")
    # The same bundle is good for whoever trusts the rogue key: only the fingerprint refused it.
    for o in both(folder, rogue.fingerprint):
        assert o.code == 0, o


def resign(folder, key, edit):
    """Sign a manifest the builder would not write (``edit(text) -> text``) with the real key."""
    text = edit((folder / bm.MANIFEST).read_text()).encode()
    (folder / bm.MANIFEST).write_bytes(text)
    (folder / bm.SIGNATURE).write_bytes(key.sign(text))


@pytest.mark.parametrize("path", ["templates/../../main.tf", "templates/./local/main.tf",
                                  "/etc/main.tf", "templates/local/main tf"])
def test_a_signed_manifest_naming_a_path_outside_is_refused(folder, keys, path):
    resign(folder, keys[0], lambda t: t.replace('"templates/local/main.tf"', f'"{path}"'))
    assert_refused(both(folder, keys[0].fingerprint), "unsafe")


def test_a_signed_link_leaving_its_folder_is_refused(folder, keys):
    resign(folder, keys[0], lambda t: t.replace('"link": "tool.d/tool"', '"link": "../../etc"'))
    assert_refused(both(folder, keys[0].fingerprint), "unsafe")


def test_a_signed_manifest_in_another_form_is_refused(folder, keys):
    resign(folder, keys[0], lambda t: json.dumps(json.loads(t)))
    assert_refused(both(folder, keys[0].fingerprint), "manifest")


def test_delta_from_a_onto_a_is_b_byte_for_byte(tmp_path, keys):
    key = keys[0]
    a = dict(FILES)
    b = dict(FILES)
    b["bin/tool.d/tool"] = b"#!/bin/sh\necho tool 2\n"
    b["images/blobs/sha256/" + "b" * 64] = b"new blob"
    del b["templates/local/main.tf"]
    full_a = seal(make_stage(tmp_path / "a", a), tmp_path / "out-a", key).path
    full_b = seal(make_stage(tmp_path / "b", b), tmp_path / "out-b", key).path
    delta = seal(make_stage(tmp_path / "d", b), tmp_path / "out-d", key, since=full_a)
    assert delta.path.name == "coder-appliance-0.1.0-delta-from-0.1.0-linux-amd64.tar"
    with tarfile.open(delta.path) as t:
        carried = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    assert "providers/registry.terraform.io/hashicorp/null/index.json" not in carried
    assert {"bin/tool.d/tool", "images/blobs/sha256/" + "b" * 64, "install.sh",
            bm.SIGNER_KEY, "bin/tool"} <= carried
    manifest = delta.manifest
    assert manifest["removed"] == ["templates/local/main.tf"]
    old_text = extract(full_a, tmp_path / "old").joinpath(bm.MANIFEST).read_bytes()
    assert manifest["since"] == {"version": "0.1.0",
                                 "manifest_sha256": hashlib.sha256(old_text).hexdigest()}

    installed = extract(full_a, tmp_path / "installed")          # /opt/coder-appliance/0.1.0
    # Without the installed version, or with another build of it, the delta is refused.
    unpacked = extract(delta.path, tmp_path / "delta-alone")
    assert_refused(both(unpacked, key.fingerprint, delta.path,
                        "--installed", str(tmp_path / "nothing")), "base")
    other = extract(full_b, tmp_path / "other")
    assert_refused(both(unpacked, key.fingerprint, delta.path, "--installed", str(other)),
                   "base")
    blob = installed / "providers/registry.terraform.io/hashicorp/null/index.json"
    saved = blob.read_bytes()
    blob.write_bytes(b"changed on the host\n")
    assert_refused(both(unpacked, key.fingerprint, delta.path, "--installed", str(installed)),
                   "base")
    blob.write_bytes(saved)

    assert verify(delta.path, key.fingerprint, "--installed", str(installed)).code == 0
    assert verify(unpacked, key.fingerprint, "--installed", str(installed)).code == 0
    done = install_sh(unpacked, key.fingerprint, "--installed", str(installed))
    assert done.code == 0, done
    whole_b = extract(full_b, tmp_path / "whole-b")
    combined, expected = tree(unpacked), tree(whole_b)
    for t in (combined, expected):
        for name in (bm.MANIFEST, bm.SIGNATURE):
            t.pop(name)
    assert combined == expected
    # The completed folder is now a full bundle (its manifest names every file).
    assert verify(unpacked, key.fingerprint, "--installed", str(installed)).code == 0


@pytest.mark.parametrize("member, kind", [("../evil", "unsafe"), ("other-folder/evil", "unsafe"),
                                          ("hardlink", "extra")])
def test_a_hostile_tar_is_refused(good, keys, tmp_path, member, kind):
    """What tar -xf would write outside the folder, or a hard link (unlisted), in the tar."""
    bad = tmp_path / good.name
    bad.write_bytes(good.read_bytes())
    with tarfile.open(good) as t:
        top = t.getnames()[0]
    with tarfile.open(bad, "a") as t:
        if member == "hardlink":
            info = tarfile.TarInfo(f"{top}/templates/local/copy.tf")
            info.type, info.linkname = tarfile.LNKTYPE, f"{top}/templates/local/main.tf"
            t.addfile(info)
        else:
            info = tarfile.TarInfo(member)
            info.size = 4
            t.addfile(info, io.BytesIO(b"evil"))
    assert verify(bad, keys[0].fingerprint).kind == kind


def test_verification_writes_nothing_outside_the_folder(folder, keys, tmp_path):
    """A passing and a failing check leave HOME, TMPDIR and the folder's parent as they were."""
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    before = sorted(p.name for p in folder.parent.iterdir())
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(tmp)}
    for extra, code in ((["--verify-only"], 0), ([], 1)):
        done = subprocess.run(["bash", str(folder / "install.sh"), "--fingerprint",
                               keys[0].fingerprint, *extra], capture_output=True, text=True,
                              cwd=tmp_path, env=env, timeout=120)
        assert done.returncode == code, done.stderr
        (folder / "templates/local/main.tf").write_bytes(b"# evil\n")
    assert "tampered: templates/local/main.tf" in done.stderr
    assert not list(home.iterdir()) and not list(tmp.iterdir())
    assert sorted(p.name for p in folder.parent.iterdir()) == before


def test_a_gzipped_bundle_is_verified_as_it_is(good, keys, tmp_path):
    """docs/benchmarks.md: the tar may be gzipped for the trip; verify reads it as it is."""
    packed = tmp_path / (good.name + ".gz")
    packed.write_bytes(gzip.compress(good.read_bytes(), 1))
    assert verify(packed, keys[0].fingerprint).code == 0
    data = bytearray(good.read_bytes())
    data[data.index(b"blob" * 10) + 7] ^= 1
    packed.write_bytes(gzip.compress(bytes(data), 1))
    assert verify(packed, keys[0].fingerprint).kind == "tampered"


@pytest.mark.parametrize("url", ["postgresql://coder:50%off-secret@db/coder",
                                 "postgresql://coder:se%zzcret@db/coder",
                                 "postgresql://coder:se%00cret@db/coder"])
def test_a_database_url_libpq_would_echo_is_refused_unechoed(folder, keys, url):
    """attack15: a '%' that is no percent-encoding (or encodes NUL) passed install.sh, and then
    libpq refused the URL with the password in its message ('invalid percent-encoded token:
    "50%off-secret"'), which coderd check-import printed into the playbook's output and coderd
    itself into its journal (a traceback). It should be refused here, before anything, like
    the quotes install.sh already refuses."""
    refused = install_sh(folder, keys[0].fingerprint, "--postgres-url", url)
    assert refused.code == 1 and refused.kind == "usage", refused.error
    assert "write '%' as %25" in refused.error and "secret" not in refused.error


@pytest.mark.parametrize("url", ["postgresql://coder:p{{7*7}}x-secret@db/coder",
                                 "postgresql://coder:p{{x{#x}}-secret@db/coder",
                                 "postgresql://coder:p%7B%7B7*7%7D%7D%25-secret@db/coder"])
def test_a_database_url_reaches_coderd_env_unrendered(tmp_path, url):
    """attack15: install.sh hands the URL to Ansible in a vars file (-e @FILE), whose strings
    Ansible rendered as Jinja templates: 'p{{7*7}}x' reached coderd.env as 'p49x' (coderd
    then failed to log in, with nothing saying why) and 'p{{x' failed the playbook with a
    template syntax error. The file install.sh writes marks it !unsafe: the bundled Ansible
    writes it into coderd.env, through the role's own task and template, byte for byte."""
    extra_vars = tmp_path / "vars.yml"
    extra_vars.write_text(install_sh_vars("--postgres-url", url))
    (tmp_path / "ansible").mkdir()
    written = write_coderd_env(tmp_path / "ansible", extra_vars)
    assert f"\nCODER_PG_CONNECTION_URL={url}\n".encode() in written, written.decode()
