"""Unit tests of ``xnat_emulator.files``: the storage side of XNAT file upload/download/delete.

References are to /work/shared/reference/xnat-rest.md (§5 Files) and to XNAT's sources
(``NrgXnat/xnat@93d33cb``: ``CatalogUtils.storeCatalogEntry``, ``fileExtraction/Format.java``,
``FileExtractor.java``, ``zip/ZipUtils.java``, ``FileList.handleDelete``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from xnat_emulator import files
from xnat_emulator.errors import BadRequest, XnatError
from xnat_emulator.store import Store

psutil = pytest.importorskip("psutil")


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "data")
    yield s
    s.close()


@pytest.fixture
def res(store):
    return store.create_resource("experiment", "XNAT_E00001", "NIFTI")


def upload(store, res, relpath, data: bytes, *, overwrite=False, extract=False, **kw):
    return files.receive_upload(store, res, relpath, io.BytesIO(data), overwrite=overwrite,
                                extract=extract, **kw)


def on_disk(store, res) -> dict[str, bytes]:
    root = store.resource_dir(res.id)
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def catalog(store, res) -> dict[str, str]:
    return {e.path: e.md5 for e in store.list_files(res.id)}


def tmp_is_empty(store) -> bool:
    return not any(store.tmp_dir.iterdir())


def make_zip(members: dict[str, bytes], dirs=()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for d in dirs:
            zf.writestr(zipfile.ZipInfo(d), b"")  # a name ending in '/' is a directory entry
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data)
    return buf.getvalue()


def make_tar(members: dict[str, bytes], mode="w", extra=()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for info in extra:
            tf.addfile(info)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Generated:
    """A reader producing ``total`` bytes of a repeated block without holding them."""

    def __init__(self, total: int, block: bytes = b"\xa5" * files.CHUNK_SIZE, on_read=None):
        self.left, self.block, self.on_read = total, block, on_read

    def read(self, n: int) -> bytes:
        if self.on_read:
            self.on_read()
        k = min(n, self.left, len(self.block))
        self.left -= k
        return self.block[:k]


class RssPeak:
    def __init__(self):
        self.proc = psutil.Process()
        self.base = self.proc.memory_info().rss
        self.peak = self.base

    def sample(self):
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 1e6


# -- upload -------------------------------------------------------------------------------------

def test_upload_stores_bytes_size_md5(store, res):
    """§5.1/§5.4: a raw-body upload stores the bytes at the URL relpath; the catalog row carries
    Size and the MD5 hex digest (listing ``digest``) plus format/content/tags as given."""
    data = os.urandom(3 * files.CHUNK_SIZE + 17)
    out = upload(store, res, "hello.txt", data, format="TEXT", content="RAW", tags="a,b")
    assert out == files.UploadOutcome(stored=["hello.txt"], duplicates=[])
    entry = store.get_file(res.id, "hello.txt")
    assert (entry.size, entry.md5) == (len(data), hashlib.md5(data).hexdigest())
    assert (entry.format, entry.content, entry.tags) == ("TEXT", "RAW", "a,b")
    assert files.file_path(store, res, "hello.txt").read_bytes() == data
    assert entry.mtime == pytest.approx(files.file_path(store, res, "hello.txt").stat().st_mtime)
    assert tmp_is_empty(store)


def test_upload_nested_path(store, res):
    """§5.1: ``files/a/b/c.txt`` is allowed; the relpath is the destination inside the
    resource and parents are created (``storeCatalogEntry``: ``saveTo.getParentFile().mkdirs()``)."""
    upload(store, res, "a/b/c.txt", b"deep")
    assert on_disk(store, res) == {"a/b/c.txt": b"deep"}
    assert list(catalog(store, res)) == ["a/b/c.txt"]


def test_duplicate_without_overwrite_leaves_file(store, res):
    """§5.1: re-uploading an existing path without ``overwrite`` is not an error: XNAT answers
    200 ``{"duplicates":["hello.txt"]}`` and leaves the file (bytes and catalog row) unchanged."""
    upload(store, res, "hello.txt", b"first", tags="t1")
    out = upload(store, res, "hello.txt", b"second", tags="t2")
    assert out == files.UploadOutcome(stored=[], duplicates=["hello.txt"])
    assert on_disk(store, res) == {"hello.txt": b"first"}
    entry = store.get_file(res.id, "hello.txt")
    assert (entry.md5, entry.tags) == (hashlib.md5(b"first").hexdigest(), "t1")
    assert tmp_is_empty(store)


def test_overwrite_replaces(store, res):
    """§5.1: ``overwrite=true`` replaces the bytes and the catalog entry."""
    upload(store, res, "hello.txt", b"first")
    out = upload(store, res, "hello.txt", b"second!", overwrite=True)
    assert out.stored == ["hello.txt"] and out.duplicates == []
    assert on_disk(store, res) == {"hello.txt": b"second!"}
    assert store.get_file(res.id, "hello.txt").size == 7


def test_incomplete_upload_stores_nothing(store, res):
    """§5.1 (emulator rule for a client that disconnects mid-body): fewer bytes than the
    declared length, or a body stream that raises, store nothing and leave no temp file."""
    with pytest.raises(XnatError) as err:
        files.receive_upload(store, res, "big.bin", Generated(1000), overwrite=False,
                             extract=False, expected_size=5000)
    assert (err.value.status, err.value.message) == (400, "Incomplete upload")

    class Broken(Generated):
        def read(self, n):
            if self.left < 3000:
                raise ConnectionResetError("peer went away")
            return super().read(min(n, 1000))

    with pytest.raises(XnatError) as err:
        files.receive_upload(store, res, "big.bin", Broken(10_000), overwrite=True, extract=False)
    assert err.value.status == 400
    assert on_disk(store, res) == {} and catalog(store, res) == {} and tmp_is_empty(store)


def test_expected_size_reads_no_further(store, res):
    """§5.1: with a Content-Length the body is exactly that many bytes."""
    out = files.receive_upload(store, res, "x.bin", io.BytesIO(b"0123456789"), overwrite=False,
                               extract=False, expected_size=4)
    assert out.stored == ["x.bin"] and on_disk(store, res) == {"x.bin": b"0123"}


def test_upload_memory_stays_flat(store, res):
    """Emulator requirement behind §5.1 large uploads: a 300 MB body streams through 1 MiB
    chunks, so resident memory grows by far less than the file."""
    rss = RssPeak()
    files.receive_upload(store, res, "big.bin", Generated(300_000_000, on_read=rss.sample),
                         overwrite=False, extract=False)
    assert store.get_file(res.id, "big.bin").size == 300_000_000
    assert rss.growth_mb < 50, rss.growth_mb


@pytest.mark.parametrize("path", ["", "/abs/x", "../x", "a/../../x", "a\\b", "C:/x", "a\x00b",
                                  ".", "a/.."])
def test_clean_relpath_rejects(path):
    """§5.1 + zip slip: a path must name a file inside the resource directory."""
    with pytest.raises(BadRequest):
        files.clean_relpath(path)


@pytest.mark.parametrize("path,expected", [("a//b/./c.txt", "a/b/c.txt"), ("a/../b", "b"),
                                           ("dir/", "dir"), ("./x", "x"), (".hidden", ".hidden"),
                                           ("a:b.txt", "a:b.txt")])
def test_clean_relpath_normalises(path, expected):
    """§5.1: relpaths such as ``a/b/c.txt`` are kept; only empty/dot segments are folded."""
    assert files.clean_relpath(path) == expected


def test_concurrent_uploads(store, res):
    """Emulator rule (XNAT serialises catalog writes with file locks): concurrent uploads of
    different files to one resource all land; of one path, the last wins and the row's size and
    MD5 always describe the bytes on disk."""
    payloads = {f"f{i}.bin": os.urandom(200_000 + i) for i in range(8)}
    same = [bytes([i]) * (300_000 + i) for i in range(8)]
    errors = []

    def run(relpath, data):
        try:
            upload(store, res, relpath, data, overwrite=True)
        except Exception as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=item) for item in payloads.items()]
    threads += [threading.Thread(target=run, args=("same.bin", d)) for d in same]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    disk = on_disk(store, res)
    assert {k: disk[k] for k in payloads} == payloads
    entry = store.get_file(res.id, "same.bin")
    assert disk["same.bin"] in same
    assert (entry.size, entry.md5) == (len(disk["same.bin"]), hashlib.md5(disk["same.bin"]).hexdigest())
    assert tmp_is_empty(store)


# -- extraction ---------------------------------------------------------------------------------

def test_extract_zip_keeps_internal_paths(store, res):
    """§5.1 (pyxnat ``put_zip``, test_17): with ``extract=true`` a ``.zip`` is unpacked under the
    resource root keeping the zip-internal paths; the URL relpath/zip name is ignored; directory
    entries make no catalog rows. XNAT's ``XNAT_CATALOGABLE_FILE_FILTER`` drops only
    ``*_catalog.xml`` and ``.~lock-*``: hidden files and ``__MACOSX`` entries are catalogued."""
    members = {
        "hello_dir/hello_xnat_dir.txt": b"one",
        "hello_dir/hello_dir2/hello_xnat_dir2.txt": b"two",
        "__MACOSX/hello_dir/._hello_xnat_dir.txt": b"mac",
        "hello_dir/.hidden": b"h",
        "hello_dir/x_catalog.xml": b"<cat/>",
        ".~lock-abc": b"lock",
    }
    data = make_zip(members, dirs=["hello_dir/", "hello_dir/hello_dir2/"])
    out = upload(store, res, "some/where/hello_dir.zip", data, extract=True, format="TXT")
    expected = {k: v for k, v in members.items() if k not in ("hello_dir/x_catalog.xml", ".~lock-abc")}
    assert sorted(out.stored) == sorted(expected) and out.duplicates == []
    assert on_disk(store, res) == expected
    assert {e.path: e.format for e in store.list_files(res.id)} == {k: "TXT" for k in expected}
    assert catalog(store, res)["hello_dir/hello_xnat_dir.txt"] == hashlib.md5(b"one").hexdigest()
    assert tmp_is_empty(store)


def test_zip_without_extract_is_stored_as_is(store, res):
    """§5.1: without ``extract`` the archive itself is stored (``hello_dir.zip``)."""
    data = make_zip({"a.txt": b"a"})
    upload(store, res, "hello_dir.zip", data)
    assert on_disk(store, res) == {"hello_dir.zip": data}


def test_extract_only_xnat_archive_names(store, res):
    """§5.1 / ``Format.java``: extraction is decided on the file name with case-sensitive
    patterns (``.zip/.zar``, ``.tar/.xar``, ``.tgz/.tar.gz``, ``.gz``); ``X.ZIP`` is kept whole."""
    assert [files.archive_format(n) for n in
            ["a.zip", "a.zar", "a.tar", "a.xar", "a.tgz", "a.tar.gz", "a.nii.gz", "a.ZIP", "a.txt"]] \
        == ["zip", "zip", "tar", "tar", "tgz", "tgz", "gz", None, None]
    data = make_zip({"a.txt": b"a"})
    upload(store, res, "UP.ZIP", data, extract=True)
    assert on_disk(store, res) == {"UP.ZIP": data}


def test_extract_duplicates_left_alone(store, res):
    """§5.1: entries that already exist are listed in ``duplicates`` (zip-internal path) and left
    unchanged unless ``overwrite``; the others are stored."""
    upload(store, res, "d/a.txt", b"old")
    out = upload(store, res, "x.zip", make_zip({"d/a.txt": b"new", "d/b.txt": b"b"}), extract=True)
    assert out == files.UploadOutcome(stored=["d/b.txt"], duplicates=["d/a.txt"])
    assert on_disk(store, res) == {"d/a.txt": b"old", "d/b.txt": b"b"}
    out = upload(store, res, "x.zip", make_zip({"d/a.txt": b"new"}), extract=True, overwrite=True)
    assert out.stored == ["d/a.txt"] and on_disk(store, res)["d/a.txt"] == b"new"


@pytest.mark.parametrize("name,mode", [("up.tar", "w"), ("up.xar", "w"), ("up.tgz", "w:gz"),
                                       ("up.tar.gz", "w:gz")])
def test_extract_tar_family(store, res, name, mode):
    """§5.1 / ``FileExtractor``: ``.tar/.xar`` (plain) and ``.tgz/.tar.gz`` (gzip) are unpacked
    under the resource root; directory entries are skipped."""
    d = tarfile.TarInfo("sub")
    d.type = tarfile.DIRTYPE
    members = {"sub/a.txt": b"A" * 5000, "./b.txt": b"B"}
    out = upload(store, res, f"ignored/{name}", make_tar(members, mode, extra=[d]), extract=True)
    assert sorted(out.stored) == ["b.txt", "sub/a.txt"]
    assert on_disk(store, res) == {"sub/a.txt": b"A" * 5000, "b.txt": b"B"}


def test_extract_tar_skips_links_and_devices(store, res):
    """Emulator safety rule on top of §5.1: tar symlinks, hard links and device nodes are never
    created (a symlink could point outside the resource); regular members still are."""
    link = tarfile.TarInfo("evil")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    hard = tarfile.TarInfo("hard")
    hard.type, hard.linkname = tarfile.LNKTYPE, "ok.txt"
    dev = tarfile.TarInfo("dev")
    dev.type = tarfile.CHRTYPE
    data = make_tar({"ok.txt": b"fine"}, extra=[link, hard, dev])
    out = upload(store, res, "t.tar", data, extract=True)
    assert out.stored == ["ok.txt"]
    root = store.resource_dir(res.id)
    assert sorted(p.name for p in root.iterdir()) == ["ok.txt"]
    assert not any(p.is_symlink() for p in root.rglob("*"))


def test_extract_lone_gz_nifti(store, res):
    """§5.1 / ``Format.GZ``: a lone ``.gz`` with extract=true is gunzipped to the name without
    ``.gz`` at the resource root (so ``x.nii.gz`` becomes ``x.nii``)."""
    from nibabel.testing import data_path

    src = Path(data_path) / "example4d.nii.gz"
    raw = gzip.decompress(src.read_bytes())
    with open(src, "rb") as f:
        out = files.receive_upload(store, res, "scans/example4d.nii.gz", f, overwrite=False,
                                   extract=True, format="NIFTI")
    assert out.stored == ["example4d.nii"]
    assert on_disk(store, res) == {"example4d.nii": raw}
    assert store.get_file(res.id, "example4d.nii").md5 == hashlib.md5(raw).hexdigest()
    # without extract the .nii.gz is kept as is
    other = Path(data_path) / "example_nifti2.nii.gz"
    upload(store, res, "example_nifti2.nii.gz", other.read_bytes())
    assert on_disk(store, res)["example_nifti2.nii.gz"] == other.read_bytes()


@pytest.mark.parametrize("bad", ["../escape.txt", "/abs.txt", "a/../../escape.txt", "C:/x.txt",
                                 "a\\..\\x.txt"])
def test_zip_slip_rejects_whole_archive(store, res, bad):
    """Zip slip (emulator rule; XNAT's own unzipper does not check): an archive with any entry
    escaping the resource directory is rejected with 400 and nothing at all is stored, not even
    the good entries before it."""
    data = make_zip({"good.txt": b"g", bad: b"evil"})
    with pytest.raises(BadRequest):
        upload(store, res, "x.zip", data, extract=True)
    assert on_disk(store, res) == {} and catalog(store, res) == {} and tmp_is_empty(store)
    assert not (store.archive_dir / "escape.txt").exists()


@pytest.mark.parametrize("bad", ["../escape.txt", "/abs.txt"])
def test_tar_slip_rejects_whole_archive(store, res, bad):
    """Same zip-slip rule for tar.gz archives."""
    data = make_tar({"good.txt": b"g", bad: b"evil"}, "w:gz")
    with pytest.raises(BadRequest):
        upload(store, res, "x.tar.gz", data, extract=True)
    assert on_disk(store, res) == {} and catalog(store, res) == {} and tmp_is_empty(store)


def test_corrupt_archive_stores_nothing(store, res):
    """XNAT ``FileList.handlePut`` answers an unzip IOException with 500; nothing is stored."""
    data = make_zip({"a.txt": b"a" * 1000, "b.txt": b"b" * 1000})
    with pytest.raises(XnatError) as err:
        upload(store, res, "x.zip", data[: len(data) // 2], extract=True)
    assert err.value.status == 500
    assert on_disk(store, res) == {} and tmp_is_empty(store)


# -- delete -------------------------------------------------------------------------------------

@pytest.fixture
def populated(store, res):
    for p in ["a.txt", "a.txt.bak", "sub/folder/x.nii", "sub/folder/y.nii", "sub/z.txt", "other/q"]:
        upload(store, res, p, p.encode())
    return store, res


def test_delete_exact_file(populated):
    """§5.2: ``DELETE files/sub/z.txt`` removes that catalog entry and its bytes."""
    store, res = populated
    assert files.delete_files(store, res, "sub/z.txt") == 1
    assert "sub/z.txt" not in catalog(store, res) and "sub/z.txt" not in on_disk(store, res)


def test_delete_folder_prunes_empty_dirs(populated):
    """§5.2 (``RT:TestFileUpload`` deletes ``files/sub/folder``): a folder path, with or without
    the trailing slash, removes the folder's entries; emptied folders are removed."""
    store, res = populated
    assert files.delete_files(store, res, "sub/folder/") == 2
    assert not (store.resource_dir(res.id) / "sub/folder").exists()
    assert files.delete_files(store, res, "sub") == 1
    assert not (store.resource_dir(res.id) / "sub").exists()
    assert sorted(catalog(store, res)) == ["a.txt", "a.txt.bak", "other/q"]


def test_delete_regex_and_prefix(populated):
    """§5.2 / ``CatalogUtils.findCatEntriesWithinPath``: a trailing ``*`` is a regex (``.*``)
    over the entry path, and any entry whose path merely *starts with* the given path matches
    too (so deleting ``a.txt`` also takes ``a.txt.bak`` in XNAT 1.8)."""
    store, res = populated
    assert files.delete_files(store, res, "sub/*") == 3
    assert files.delete_files(store, res, "a.txt") == 2
    assert sorted(catalog(store, res)) == ["other/q"]
    assert files.delete_files(store, res, "nothing*") == 0
    assert files.delete_files(store, res, "missing.txt") == 0


def test_delete_keep_bytes(populated):
    """§5.2: ``removeFiles=false`` drops the catalog entry but leaves the file on disk."""
    store, res = populated
    assert files.delete_files(store, res, "other/q", remove_files=False) == 1
    assert "other/q" not in catalog(store, res)
    assert on_disk(store, res)["other/q"] == b"other/q"


# -- download -----------------------------------------------------------------------------------

def test_iter_file_chunks_and_offset(store, res):
    """§5.3: a single-file GET streams the stored bytes (1 MiB chunks); ``start`` skips bytes."""
    data = os.urandom(2 * files.CHUNK_SIZE + 5)
    upload(store, res, "f.bin", data)
    path = files.file_path(store, res, "f.bin")
    chunks = list(files.iter_file(path))
    assert [len(c) for c in chunks] == [files.CHUNK_SIZE, files.CHUNK_SIZE, 5]
    assert b"".join(files.iter_file(path, 10)) == data[10:]
    with pytest.raises(FileNotFoundError):  # raised before any byte is produced
        files.iter_file(path.with_name("missing"))


@pytest.mark.parametrize("compression,method", [(None, zipfile.ZIP_STORED), (0, zipfile.ZIP_STORED),
                                                (8, zipfile.ZIP_DEFLATED)])
def test_zip_stream_roundtrip(tmp_path, compression, method):
    """§5.5: ``?format=zip`` is one archive of file entries only (no directory entries) named
    by the caller. ``compression`` is Java's ZipOutputStream method: XNAT 1.8's default site
    preference ``zipCompressionMethod`` is 0 (STORED), ``compression=8`` deflates."""
    (tmp_path / "d").mkdir()
    sources = {"S1/scans/1-T1/resources/NIFTI/files/a.nii": os.urandom(70_000),
               "S1/resources/R/files/ü nicode.txt": b"text " * 1000,
               "S1/resources/R/files/empty": b""}
    entries = []
    for i, (arc, data) in enumerate(sources.items()):
        p = tmp_path / f"f{i}"
        p.write_bytes(data)
        entries.append((arc, p))
    entries.append(("S1/dir", tmp_path / "d"))  # a directory is skipped
    data = b"".join(files.zip_stream(entries, compression))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == list(sources)
        assert {n: zf.read(n) for n in zf.namelist()} == sources
        assert {i.compress_type for i in zf.infolist()} == {method}


def test_zip_stream_rejects_unknown_method(tmp_path):
    """§5.5: Java's ``ZipOutputStream.setMethod`` only knows 0 and 8 (levels are not methods)."""
    with pytest.raises(BadRequest):
        files.zip_stream([], compression=9)


def test_zip_stream_zip64_records(tmp_path, monkeypatch):
    """§5.5 large downloads: ZIP64 fields are written when sizes/offsets pass 4 GiB. The limit
    is lowered here so every entry takes the ZIP64 path; zipfile must still read it."""
    monkeypatch.setattr(files, "_ZIP64_LIMIT", 0)
    p = tmp_path / "f"
    p.write_bytes(b"zip64 " * 500)
    for compression in (0, 8):
        data = b"".join(files.zip_stream([("a/f", p), ("b/f", p)], compression))
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            assert zf.testzip() is None
            assert zf.read("b/f") == p.read_bytes()


def test_zip_stream_many_entries(tmp_path):
    """§5.5: more than 65535 entries need the ZIP64 end records."""
    p = tmp_path / "one"
    p.write_bytes(b"1")
    data = b"".join(files.zip_stream((f"d/{i}", p) for i in range(65_540)))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert len(zf.infolist()) == 65_540 and zf.read("d/65539") == b"1"


@pytest.mark.parametrize("compression,size", [(None, 300_000_000), (8, 100_000_000)])
def test_zip_stream_bounded_memory(tmp_path, compression, size):
    """§5.5: the zip is produced on the fly; zipping a 300 MB (sparse) file keeps resident
    memory growth far below the file size."""
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(size)
    rss = RssPeak()
    total = 0
    for chunk in files.zip_stream([("S/big.bin", big)], compression):
        total += len(chunk)
        rss.sample()
    assert total > (size if compression is None else 0)
    assert rss.growth_mb < 50, rss.growth_mb


@pytest.mark.parametrize("gz", [False, True])
def test_tar_stream_roundtrip(tmp_path, gz):
    """§5.5: ``format=tar`` / ``tar.gz`` give a POSIX tar (gzip-compressed for tar.gz) of the
    same file entries; long names survive (XNAT's ``LONGFILE_POSIX``)."""
    long_name = "S1/" + "x" * 150 + "/resources/R/files/f.txt"
    sources = {long_name: b"long", "S1/resources/R/files/b.bin": os.urandom(10_000),
               "S1/e": b""}
    entries = []
    for i, (arc, data) in enumerate(sources.items()):
        p = tmp_path / f"f{i}"
        p.write_bytes(data)
        entries.append((arc, p))
    data = b"".join(files.tar_stream(entries, gz))
    if gz:
        assert data[:2] == b"\x1f\x8b"
    assert len(gzip.decompress(data) if gz else data) % tarfile.RECORDSIZE == 0
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        got = {m.name: tf.extractfile(m).read() for m in tf if m.isfile()}
    assert got == sources
