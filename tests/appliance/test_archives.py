"""appliance.archives: hostile tars are refused, bombs stop at the limits, extraction stays inside.

These run on every Python the suite runs on: the machine's and, in CI's fresh
Debian 12 pass, the system's 3.11.2, which has no tarfile extraction filters.
"""
from __future__ import annotations

import bz2
import io
import lzma
import os
import stat
import subprocess
import sys
import tarfile
import time
import zlib
from pathlib import Path

import pytest

from appliance import archives
from appliance.archives import ArchiveError, Limits

from tests.kit.provisioning import make_tar, make_tar_of as _tar, tar_member as _member

MiB = 1024 * 1024
COMPRESSORS = {
    "gzip": lambda: zlib.compressobj(6, zlib.DEFLATED, 31),
    "bzip2": lambda: bz2.BZ2Compressor(9),
    "xz": lambda: lzma.LZMACompressor(preset=0),
}


BAD_ARCHIVES = {
    "traversal": (_tar(_member("../evil.tf")), "'../evil.tf' points outside"),
    "nested traversal": (_tar(_member("a/../../evil")), "'a/../../evil' points outside"),
    "absolute": (_tar(_member("/etc/passwd")), "'/etc/passwd' has an absolute path"),
    "symlink out": (_tar(_member("link", tarfile.SYMTYPE, "../../etc/passwd")),
                    "'link' is a symlink pointing outside"),
    "symlink absolute": (_tar(_member("link", tarfile.SYMTYPE, "/etc/passwd")),
                         "'link' is a symlink to an absolute path"),
    "hardlink out": (_tar(_member("hl", tarfile.LNKTYPE, "../x")),
                     "'hl' is a hard link pointing outside"),
    "char device": (_tar(_member("dev", tarfile.CHRTYPE)), "'dev' is a device, fifo"),
    "block device": (_tar(_member("blk", tarfile.BLKTYPE)), "'blk' is a device, fifo"),
    "fifo": (_tar(_member("pipe", tarfile.FIFOTYPE)), "'pipe' is a device, fifo"),
    "garbage": (b"this is not a tar archive at all" * 40, "corrupt or unreadable tar"),
    "truncated": (make_tar({"main.tf": "x" * 5000, "b.tf": "y" * 5000})[:3000],
                  "corrupt or unreadable tar|'main.tf' is truncated"),
    "gzip garbage": (b"\x1f\x8b" + b"\0" * 100, "corrupt or unreadable tar"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARCHIVES))
def test_check_and_extract_refuse(case, tmp_path):
    data, message = BAD_ARCHIVES[case]
    with pytest.raises(ArchiveError, match=message.replace("(", r"\(")):
        archives.check(data)
    with pytest.raises(ArchiveError, match=message.replace("(", r"\(")):
        archives.extract(data, tmp_path)
    assert not (tmp_path.parent / "evil.tf").exists() and not (tmp_path / "pipe").exists()


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_compressed_archives_extract(kind, tmp_path):
    plain = make_tar({"main.tf": "terraform {}\n", "sub/run.sh": "echo hi\n"})
    c = COMPRESSORS[kind]()
    data = c.compress(plain) + c.flush()
    assert archives.extract(data, tmp_path) == ["main.tf", "sub/run.sh"]
    assert (tmp_path / "sub" / "run.sh").read_text() == "echo hi\n"
    assert archives.read_file(data, "./main.tf") == b"terraform {}\n"
    assert archives.read_file(data, "missing") is None


def _bomb(kind: str, header: tarfile.TarInfo, zeros: int) -> bytes:
    """A compressed tar: one header, then ``zeros`` zero bytes, compressed as they stream."""
    c = COMPRESSORS[kind]()
    parts = [c.compress(header.tobuf(format=tarfile.GNU_FORMAT))]
    block = b"\0" * MiB
    for _ in range(zeros // MiB):
        parts.append(c.compress(block))
    parts.append(c.flush())
    return b"".join(parts)


def _long_name_bomb(kind: str, claimed: int, zeros: int) -> bytes:
    header = _member("././@LongLink", tarfile.GNUTYPE_LONGNAME, size=claimed)
    return _bomb(kind, header, zeros)


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_long_name_header_bomb_is_refused_before_it_is_read(kind):
    # What the attack measured: a long-name header that claims 600 MiB.
    data = _long_name_bomb(kind, 600 * MiB, 2 * MiB)
    with pytest.raises(ArchiveError, match="header of .* bytes .* over the limit of 65536"):
        archives.check(data)


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_data_bomb_stops_at_the_limit(kind):
    big = _bomb(kind, _member("big", size=64 * MiB), 64 * MiB)
    assert len(big) < 200_000
    with pytest.raises(ArchiveError, match="'big' declares a size of 67108864 bytes"):
        archives.check(big, Limits(max_bytes=8 * MiB))
    # Members each under the limit, together over it: the decompressed stream stops there.
    c = COMPRESSORS[kind]()
    many = c.compress(make_tar({f"part{i}": b"\0" * (3 * MiB) for i in range(4)})) + c.flush()
    with pytest.raises(ArchiveError, match="expands past 8388608 bytes"):
        archives.check(many, Limits(max_bytes=8 * MiB))
    # Skipping a member's data (a folder listing never reads it) counts too.
    with pytest.raises(ArchiveError, match="expands past 8388608 bytes"):
        for _ in archives.members(many, Limits(max_bytes=8 * MiB)):
            pass


def test_member_count_limit():
    with pytest.raises(ArchiveError, match="'f3' is past the limit of 3 members"):
        archives.check(make_tar({f"f{i}": "" for i in range(5)}), Limits(max_members=3))


# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent (pytest).
BOMB_CHECKER = """
import sys
from appliance import archives
data = open(sys.argv[1], "rb").read()
try:
    archives.check(data)
except archives.ArchiveError as exc:
    print("refused:", exc)
status = open("/proc/self/status").read()
print(int(status.split("VmHWM:")[1].split()[0]) // 1024)
"""


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_bombs_keep_memory_bounded(kind, tmp_path):
    """The 600 MiB long name of the measured attack, with its zeros, and a 150 MiB member
    under the default 100 MiB limit: the checking process stays far below either size."""
    cases = {"long-name": _long_name_bomb(kind, 600 * MiB, 600 * MiB if kind == "gzip" else 8 * MiB),
             "data": _bomb(kind, _member("big", size=150 * MiB), 150 * MiB)}
    for name, data in cases.items():
        path = tmp_path / f"{name}.bomb"
        path.write_bytes(data)
        out = subprocess.run([sys.executable, "-c", BOMB_CHECKER, str(path)], check=True,
                             capture_output=True, text=True, cwd=Path(__file__).parents[2]).stdout
        refusal, peak_mib = out.splitlines()[0], int(out.splitlines()[-1])
        assert refusal.startswith("refused:"), (name, out)
        assert peak_mib < 60, f"{kind} {name} bomb: peak {peak_mib} MiB ({refusal})"


def test_extraction_modes_links_and_replacements(tmp_path):
    data = _tar(
        _member("dir", tarfile.DIRTYPE, mode=0o777),
        _member("dir/run.sh", size=3, mode=0o4777),  # setuid, world-writable
        _member("dir/secret", size=1, mode=0o000),
        _member("dir/link.tf", tarfile.SYMTYPE, "run.sh"),
        _member("dir/hard", tarfile.LNKTYPE, "dir/run.sh"),
        _member("dir/run.sh", size=3, mode=0o755),  # a later member replaces an earlier one
        data={"dir/run.sh": b"new", "dir/secret": b"s"})
    archives.extract(data, tmp_path)
    run = tmp_path / "dir" / "run.sh"
    assert run.read_bytes() == b"new"
    assert stat.S_IMODE(run.stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "dir" / "secret").stat().st_mode) == 0o600
    assert (tmp_path / "dir" / "link.tf").read_bytes() == b"new"
    assert (tmp_path / "dir" / "hard").stat().st_nlink == 1  # replaced, so no longer linked
    assert not stat.S_IMODE((tmp_path / "dir").stat().st_mode) & 0o022


def test_symlinks_cannot_be_chained_out(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    # Each target is inside by its text, but 'up' resolves to dest's parent on disk.
    chain = _tar(_member("here", tarfile.SYMTYPE, "."), _member("up", tarfile.SYMTYPE, "here/.."))
    for order in (chain, _tar(_member("up", tarfile.SYMTYPE, "here/.."),
                              _member("here", tarfile.SYMTYPE, "."))):
        with pytest.raises(ArchiveError, match="'up' is a symlink that resolves outside"):
            archives.check(order)
        with pytest.raises(ArchiveError, match="'up' is a symlink that resolves outside"):
            archives.extract(order, dest)
        assert not any(p.is_symlink() for p in dest.iterdir()), "a refused link was left behind"
    # Writing through a symlinked folder is refused, even one pointing inside.
    through = _tar(_member("sub", tarfile.DIRTYPE), _member("alias", tarfile.SYMTYPE, "sub"),
                   _member("alias/x", size=1), data={"alias/x": b"x"})
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    with pytest.raises(ArchiveError, match="'alias/x' would be written through the symlink 'alias'"):
        archives.check(through)
    with pytest.raises(ArchiveError, match="'alias/x' would be written through the symlink 'alias'"):
        archives.extract(through, fresh)
    assert not (fresh / "sub" / "x").exists()


def test_a_file_replaces_a_symlink_instead_of_writing_through_it(tmp_path):
    (tmp_path / "target").write_text("untouched")
    data = _tar(_member("x", tarfile.SYMTYPE, "target"), _member("x", size=3),
                data={"x": b"new"})
    archives.extract(data, tmp_path)
    assert (tmp_path / "target").read_text() == "untouched"
    assert not (tmp_path / "x").is_symlink() and (tmp_path / "x").read_text() == "new"


def test_hard_link_to_a_symlink_is_refused(tmp_path):
    data = _tar(_member("f", size=1), _member("s", tarfile.SYMTYPE, "f"),
                _member("h", tarfile.LNKTYPE, "s"), data={"f": b"f"})
    with pytest.raises(ArchiveError, match="'h' is a hard link to 's', which is not a file"):
        archives.check(data)


def test_nothing_is_chowned(tmp_path):
    member = _member("owned", size=1)
    member.uid, member.gid = 4242, 4242
    archives.extract(_tar(member, data={"owned": b"x"}), tmp_path)
    assert (tmp_path / "owned").stat().st_uid == os.getuid()



def _raw_header(name: bytes = b"f", *, size: bytes = b"%011o\0" % 1, mtime: bytes = b"0" * 11 + b"\0",
                type: bytes = b"0") -> bytes:
    """A ustar header block written byte by byte, for fields tarfile would never write."""
    h = bytearray(512)
    h[0:len(name)], h[100:108], h[108:116], h[116:124] = name, b"0000644\0", b"0" * 7 + b"\0", b"0" * 7 + b"\0"
    h[124:136], h[136:148], h[156:157] = size, mtime, type
    h[257:263], h[263:265] = b"ustar\0", b"00"
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def _pax(body: bytes, type: bytes = b"x") -> bytes:
    return _raw_header(b"PaxHeader", size=b"%011o\0" % len(body), type=type) + body \
        + b"\0" * (-len(body) % 512)


def make_tar_pax(pax_headers: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("sp")
        info.size, info.pax_headers = 1, pax_headers
        tar.addfile(info, io.BytesIO(b"x"))
    return out.getvalue()


FILE = _raw_header() + b"x" + b"\0" * 511
END = b"\0" * 1024
HOSTILE_HEADERS = {
    # What a review found, each once accepted, hung coderd, or raised something else.
    "sparse, 2^80 bytes": (_raw_header(b"s", type=b"S") + b"\0" * 512 + END, "sparse files are refused"),
    "pax sparse": (make_tar_pax({"GNU.sparse.size": str(2 ** 31), "GNU.sparse.map": "0,1"}),
                   "'sp' is a device, fifo, sparse or special file"),
    "global pax, 1,000 records": (_pax(b"".join(b"12 k%05d=v\n" % i for i in range(1_000)), b"g")
                                  + FILE + END, "pax header holds more than 64 records"),
    "pax length run of digits": (_pax(b"1" * 50_000 + b" \n") + FILE + END, "pax header is malformed"),
    "pax records of '2 '": (_pax(b"2 " * 20_000 + b"x=\n") + FILE + END, "pax header is malformed"),
    "pax length 10^20": (_pax(b"99999999999999999999 path=../victim\n") + FILE + END,
                         "pax header is malformed"),
    "negative base-256 size": (_raw_header(size=b"\xff" * 11 + b"\0") + b"x" * 512 + END,
                               # Python 3.11.2's tarfile refuses it itself, later ones parse it
                               "declares a size of -256 bytes|corrupt or unreadable tar"),
    "huge base-256 mtime": (_raw_header(mtime=b"\x80" + b"\x7f" * 11) + b"x" + b"\0" * 511 + END,
                            "impossible time"),
    "name of 256 bytes": (make_tar({"a" * 256: "x"}), "too long for a file system"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_HEADERS))
def test_hostile_headers_are_refused_quickly(case, tmp_path):
    data, message = HOSTILE_HEADERS[case]
    start = time.monotonic()
    with pytest.raises(ArchiveError, match=message):
        archives.check(data)
    with pytest.raises(ArchiveError, match=message):
        archives.extract(data, tmp_path)
    assert time.monotonic() - start < 2, f"{case}: {time.monotonic() - start:.1f}s"


@pytest.mark.parametrize("members, message", [
    ((_member("d", tarfile.DIRTYPE), _member("d/f", size=0), _member("d", tarfile.SYMTYPE, ".")),
     "'d' would replace a folder"),
    ((_member("d", size=0), _member("d", tarfile.SYMTYPE, "."), _member("d/g", size=0)),
     "'d/g' would be written through the symlink 'd'"),
    ((_member("f", size=0), _member("f/g", size=0)), "'f/g' would be written under the file 'f'"),
    ((_member("s", tarfile.SYMTYPE, "."), _member("h", tarfile.LNKTYPE, "s/../victim")),
     "'h' is a hard link to 's/../victim', which is not a file that comes before it"),
])
def test_what_extraction_would_refuse_the_upload_check_refuses(members, message, tmp_path):
    data = _tar(*members)
    with pytest.raises(ArchiveError, match=message):
        archives.check(data)
    with pytest.raises(ArchiveError, match=message):
        archives.extract(data, tmp_path)


def _with_xz_dictionary(data: bytes, prop: int) -> bytes:
    """An xz stream whose (only) block header claims another LZMA2 dictionary size.

    The header is 12 bytes of stream header, then the block header: its size,
    flags, filter id 0x21, one property byte (the dictionary), padding, CRC32.
    """
    start = 12
    size = (data[start] + 1) * 4
    header = bytearray(data[start:start + size])
    assert header[2:4] == b"\x21\x01", header.hex()
    header[4] = prop
    header[-4:] = zlib.crc32(bytes(header[:-4])).to_bytes(4, "little")
    return data[:start] + bytes(header) + data[start + size:]


def test_xz_dictionary_memory_is_bounded(tmp_path):
    """The review's attack: an xz tar claiming a 1.5 GiB dictionary kept 90 MiB of zeros
    in memory as it decompressed (LZMAFile has no memory limit)."""
    bomb = _with_xz_dictionary(_bomb("xz", _member("big", size=90 * MiB), 90 * MiB), 35)
    path = tmp_path / "dict.bomb"
    path.write_bytes(bomb)
    out = subprocess.run([sys.executable, "-c", BOMB_CHECKER, str(path)], check=True,
                         capture_output=True, text=True, cwd=Path(__file__).parents[2]).stdout
    refusal, peak_mib = out.splitlines()[0], int(out.splitlines()[-1])
    assert refusal.startswith("refused:") and "dictionary is too large" in refusal, out
    assert peak_mib < 60, f"peak {peak_mib} MiB ({refusal})"
    # xz -8's 32 MiB dictionary still passes.
    c = lzma.LZMACompressor(preset=0)
    small = _with_xz_dictionary(c.compress(make_tar({"main.tf": "x"})) + c.flush(), 24)
    assert archives.check(small) == ["main.tf"]


def test_deep_archive_is_refused_in_linear_time(tmp_path):
    """The review's archive: 600 members named a/a/.../a/fN, 2,047 folders deep (10.7 KB
    gzipped), took coderd 46 s to check: every ancestor of every member was rebuilt."""
    deep = "a/" * 2047
    c = COMPRESSORS["gzip"]()
    bomb = c.compress(_tar(*(_member(f"{deep}f{i}", size=0) for i in range(600)))) + c.flush()
    for run in (archives.check, lambda data: archives.extract(data, tmp_path)):
        start = time.monotonic()
        with pytest.raises(ArchiveError, match="more than 64 folders deep"):
            run(bomb)
        assert time.monotonic() - start < 0.5
    with pytest.raises(ArchiveError, match="more than 64 folders deep"):
        archives.check(_tar(_member("l", tarfile.SYMTYPE, "b/" * 64 + "c")))
    # Members as deep as allowed cost little more than flat ones (tarfile's parsing dominates).
    timings = []
    for folder in ("", "a/" * 63):
        members = _tar(*(_member(f"{folder}f{i}", size=0) for i in range(2000)))
        start = time.monotonic()
        assert len(archives.check(members)) == 2000
        timings.append(time.monotonic() - start)
    assert timings[1] < 3 * timings[0] + 0.5, timings
    # Only the parent is looked up, yet a link higher up is still refused.
    with pytest.raises(ArchiveError, match="'d/e/f' would be written through the symlink 'd'"):
        archives.check(_tar(_member("d", tarfile.SYMTYPE, "."), _member("d/e/f", size=0)))
    with pytest.raises(ArchiveError, match="'d' would replace a folder"):
        archives.check(_tar(_member("d/e/f", size=0), _member("d", tarfile.SYMTYPE, ".")))


def test_links_chained_through_deep_folders_are_resolved_once():
    """37 links, each down 31 folders and back up to the next, and 3,000 links to the
    first: resolving each of those through the whole chain again took 2 s."""
    down, up = "a/" * 31, "../" * 31
    chain = [_member(f"c{k}", tarfile.SYMTYPE, f"{down}{up}c{k + 1}") for k in range(37)]
    entries = [_member(f"l{i}", tarfile.SYMTYPE, "c0") for i in range(3000)]
    timings = []
    for members in (entries, [*chain, _member("c37", tarfile.SYMTYPE, "."), *entries]):
        data = _tar(*members)
        start = time.monotonic()
        archives.check(data)
        timings.append(time.monotonic() - start)
    assert timings[1] < 3 * timings[0] + 0.5, timings
    # A loop through deep folders is still refused.
    with pytest.raises(ArchiveError, match="'c0' is a symlink that resolves outside"):
        archives.check(_tar(*chain[:5], _member("c5", tarfile.SYMTYPE, f"{down}{up}c0")))


def test_the_template_tar_leaves_out_what_coder_templates_push_leaves_out(tmp_path):
    """attack15: ``coder templates push`` (and ``coderd check-import``) packed everything but
    .git and .terraform: a local terraform run's state (which holds every secret of the
    resources it made), tfvars files and hidden files such as .env went into coderd, where
    every template administrator can download them (GET /files/{id}), and terraform reads
    *.auto.tfvars as its own. Coder's provisionersdk.Tar leaves out hidden files and folders
    (but .terraform.lock.hcl), anything named *.tfstate*, terraform.tfvars(.json) and
    *.auto.tfvars(.json)."""
    from appliance.archives import template_tar

    (tmp_path / "main.tf").write_text("terraform {}\n")
    (tmp_path / ".terraform.lock.hcl").write_text("# lock\n")
    for name in ("terraform.tfstate", "terraform.tfstate.backup", "terraform.tfvars",
                 "terraform.tfvars.json", "prod.auto.tfvars", ".env", ".ssh/id_ed25519",
                 "sub/.secret"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("secret\n")
    names = tarfile.open(fileobj=io.BytesIO(template_tar(tmp_path))).getnames()
    assert sorted(n for n in names if not n.endswith("/")) == [".terraform.lock.hcl", "main.tf"]


def test_the_template_tar_stops_at_the_upload_limit_without_reading_the_rest(tmp_path):
    """attack15: template_tar read the whole folder into memory before anything checked its
    size: a 1 GiB disk image beside main.tf took 1 GiB and 4.5 s, only for coderd to refuse
    anything over 10 MiB. Coder's provisionersdk.Tar writes through a limit and stops with
    'Archive too big. Must be <= N bytes' as soon as it is passed."""
    import tracemalloc

    from appliance.archives import template_tar
    from server.files import MAX_FILE_SIZE

    (tmp_path / "main.tf").write_text("terraform {}\n")
    with open(tmp_path / "disk.img", "wb") as f:
        f.truncate(8 * MAX_FILE_SIZE)  # sparse: nothing on disk
    tracemalloc.start()
    try:
        with pytest.raises(Exception) as exc:
            template_tar(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(MAX_FILE_SIZE) in str(exc.value) or "limit" in str(exc.value)
    assert peak < 2 * MAX_FILE_SIZE


def test_a_folder_sent_by_a_browser_is_packed_as_a_pushed_one():
    """The dashboard's folder upload: the chosen folder's name dropped, the same files left
    out as ``template_tar`` leaves out, and a path that could escape refused."""
    left_out: list[tuple[str, str]] = []
    data = archives.uploaded_template_tar([
        ("tpl/main.tf", b"terraform {}"), ("tpl/sub/x.sh", b"echo"), ("tpl/.git/config", b"s"),
        ("tpl/terraform.tfstate", b"{}"), ("tpl/prod.auto.tfvars", b"a = 1"),
        ("tpl/.terraform.lock.hcl", b"# lock")], left_out)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert sorted(tar.getnames()) == [".terraform.lock.hcl", "main.tf", "sub/x.sh"]
    assert sorted(left_out) == [(".git/config", "hidden"), ("prod.auto.tfvars", "variables"),
                                ("terraform.tfstate", "state")]
    assert archives.check(data) == [".terraform.lock.hcl", "main.tf", "sub/x.sh"]
    for files, problem in (
            ([("tpl/../etc/passwd", b"x"), ("tpl/main.tf", b"")], "outside the archive"),
            ([("/abs/main.tf", b"")], "absolute path"),
            ([("a/main.tf", b""), ("a/./main.tf", b"")], "twice"),
            ([("tpl/notes.txt", b"")], "no .tf file"),
            ([("tpl/main.tf", b"x" * (archives.UPLOAD_LIMIT + 1))], "too big")):
        with pytest.raises((archives.TemplateFolderError, ArchiveError), match=problem):
            archives.uploaded_template_tar(files)
