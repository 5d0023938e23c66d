"""File bytes of the archive: streamed uploads, archive extraction, deletes, zip/tar downloads.

No HTTP here (the routes call these functions). Everything streams in ``CHUNK_SIZE`` pieces so a
1 GiB upload or download never holds more than a few MiB in memory.

XNAT sources read for the rules below (``NrgXnat/xnat@93d33cb``, the 1.8 monorepo):

* ``web/.../utils/CatalogUtils.java`` ``storeCatalogEntry``: extraction is decided on the upload's
  file *name*; extracted entries land under the resource root with their archive-internal paths;
  existing files are reported as duplicates unless ``overwrite``; entries whose name ends in
  ``_catalog.xml`` or starts with ``.~lock-`` are not catalogued (``XNAT_CATALOGABLE_FILE_FILTER``).
  Hidden files (``.DS_Store``, ``__MACOSX/...``) are *not* filtered: XNAT catalogues them.
* ``libs/xdat/.../fileExtraction/Format.java`` + ``FileExtractor.java``: the (case-sensitive)
  name patterns ``.tar/.xar``, ``.tgz/.tar.gz``, ``.zip/.zar`` and a lone ``.gz`` (gunzipped to
  the name without ``.gz``, at the resource root).
* ``libs/xdat/.../zip/ZipUtils.java``, ``TarUtils.java``, ``web/.../ZipRepresentation.java``,
  ``SecureResource.identifyCompression``, ``SiteConfigPreferences.getZipCompressionMethod``:
  ``compression=`` is a ``ZipOutputStream`` *method* (0 = STORED, 8 = DEFLATED at zlib's default
  level 6), default = site preference ``zipCompressionMethod`` = 0, i.e. STORED; only file entries
  are written; tar.gz is a GZIPOutputStream (level 6) around a POSIX tar.
* ``web/.../files/FileList.java`` ``handleDelete`` + ``CatalogUtils.findCatEntriesWithinPath``
  + ``saveUpdatedCatalog``: which catalog entries a DELETE removes (see ``delete_files``).
"""

from __future__ import annotations

import errno
import gzip as gzip_module
import hashlib
import os
import queue
import re
import shutil
import stat
import struct
import tarfile
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .errors import BadRequest, Conflict, XnatError
from .store import FileEntry, Resource, Store

CHUNK_SIZE = 1 << 20
_QUEUE_DEPTH = 4  # chunks between the reading/hashing thread and the writer thread


@dataclass
class UploadOutcome:
    stored: list[str] = field(default_factory=list)      # relative paths written (new or overwritten)
    duplicates: list[str] = field(default_factory=list)  # existing paths left alone (no overwrite)


# -- paths --------------------------------------------------------------------------------------

_DRIVE = re.compile(r"^[A-Za-z]:$")


def clean_relpath(path: str) -> str:
    """Normalise a resource-relative path from a URL or archive entry; raise errors.BadRequest
    when it is empty, absolute, contains '..' segments that escape, NUL, or a drive/backslash trick.

    Empty and ``.`` segments are dropped (``a//./b`` -> ``a/b``) and ``..`` is resolved as long
    as it stays inside the resource (``a/../b`` -> ``b``). XNAT itself resolves archive entries
    with ``new File(destination, name)`` and no check, so a zip with ``../x`` would escape its
    resource there; the emulator refuses such names instead (zip slip). Backslashes are refused
    rather than guessed at: on Windows they are separators, on Linux legal name characters.
    The HTTP layer strips the one leading ``/`` of the URL remainder before calling this, as
    ``storeCatalogEntry`` does with ``destination.substring(1)``.
    """
    if not isinstance(path, str) or not path:
        raise BadRequest("Invalid file path: empty")
    if "\x00" in path:
        raise BadRequest("Invalid file path: contains NUL")
    if "\\" in path:
        raise BadRequest(f"Invalid file path: {path!r} contains a backslash")
    if path.startswith("/"):
        raise BadRequest(f"Invalid file path: {path!r} is absolute")
    parts: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not parts:
                raise BadRequest(f"Invalid file path: {path!r} escapes the resource directory")
            parts.pop()
            continue
        parts.append(segment)
    if not parts:
        raise BadRequest(f"Invalid file path: {path!r} names no file")
    if _DRIVE.match(parts[0]):
        raise BadRequest(f"Invalid file path: {path!r} starts with a drive letter")
    return "/".join(parts)


def file_path(store: Store, resource: Resource, relpath: str) -> Path:
    """Absolute on-disk path of a stored file (the path is cleaned, so it cannot leave the
    resource directory; whether the file exists is the caller's question)."""
    return store.resource_dir(resource.id) / clean_relpath(relpath)


def archive_format(name: str) -> str | None:
    """``tar``/``tgz``/``zip``/``gz`` when XNAT's ``Format.getFormat(name)`` would extract a file
    of this name, else None. Case-sensitive like XNAT's patterns (``X.ZIP`` is stored as is)."""
    if re.fullmatch(r".*\.[tx]ar", name, re.DOTALL):
        return "tar"
    if re.fullmatch(r".*\.t(ar\.)?gz", name, re.DOTALL):
        return "tgz"
    if re.fullmatch(r".*\.z(ip|ar)", name, re.DOTALL):
        return "zip"
    if re.fullmatch(r".*\.gz", name, re.DOTALL):  # .tar.gz was caught by tgz above
        return "gz"
    return None


def _catalogable(relpath: str) -> bool:
    """XNAT's ``XNAT_CATALOGABLE_FILE_FILTER`` on the entry's file name."""
    name = relpath.rsplit("/", 1)[-1]
    return not name.endswith("_catalog.xml") and not name.startswith(".~lock-")


# -- upload -------------------------------------------------------------------------------------

@dataclass
class _Staged:
    path: Path  # a temp file under store.tmp_dir
    size: int
    md5: str


def _chunks(src, expected_size: int | None, client: bool) -> Iterator[bytes]:
    """``src.read`` in CHUNK_SIZE pieces, at most ``expected_size`` bytes. With ``client`` (the
    request body), read errors and a short body raise ``XnatError(400, "Incomplete upload")``;
    archive member read errors propagate as they are."""
    read = src.read
    remaining = -1 if expected_size is None else expected_size
    while remaining:
        try:
            chunk = read(CHUNK_SIZE if remaining < 0 or remaining > CHUNK_SIZE else remaining)
        except Exception as exc:  # the client went away mid-body
            if not client:
                raise
            raise XnatError("Incomplete upload", 400) from exc
        if not chunk:
            if remaining > 0:
                raise XnatError("Incomplete upload", 400)
            return
        if remaining > 0:
            remaining -= len(chunk)
        yield chunk


def _copy_stream(src, out, expected_size: int | None, client: bool) -> tuple[int, str]:
    """Copy ``src`` to ``out`` while hashing: (size, md5 hex).

    Hashing (~600 MB/s) and writing (page cache, then the disk's write-back) each take the
    GIL off for a 1 MiB chunk, so from the second chunk on a writer thread writes while this
    thread reads and hashes the next one (measured: ~190 -> ~260+ MB/s for 1 GiB); at most
    ``_QUEUE_DEPTH`` chunks wait in between. A one-chunk body is written inline."""
    md5 = hashlib.md5(usedforsecurity=False)
    chunks = _chunks(src, expected_size, client)
    first = next(chunks, None)
    if first is None:
        return 0, md5.hexdigest()
    md5.update(first)
    size = len(first)
    second = next(chunks, None)
    if second is None:
        out.write(first)
        return size, md5.hexdigest()

    pending: queue.Queue = queue.Queue(maxsize=_QUEUE_DEPTH)
    failure: list[BaseException] = []

    def writer() -> None:
        write, get = out.write, pending.get
        try:
            while (chunk := get()) is not None:
                write(chunk)
        except BaseException as exc:  # noqa: BLE001 - e.g. disk full: handed to the reader
            failure.append(exc)
            while get() is not None:
                pass

    thread = threading.Thread(target=writer, name="xnat-upload-writer", daemon=True)
    thread.start()
    put, update = pending.put, md5.update
    try:
        put(first)
        update(second)
        put(second)
        size += len(second)
        for chunk in chunks:
            if failure:
                break
            update(chunk)
            put(chunk)
            size += len(chunk)
    finally:
        put(None)
        thread.join()
    if failure:
        raise failure[0]
    return size, md5.hexdigest()


def _stage(src, directory: Path, expected_size: int | None = None, prefix: str = "upload-",
           client: bool = False) -> _Staged:
    """Stream ``src`` into a fresh uniquely named temp file in ``directory`` (removed on error)."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".part", dir=directory)
    path = Path(name)
    try:
        with open(fd, "wb") as out:  # buffered: a 1 MiB write bypasses the buffer, no copy
            size, md5 = _copy_stream(src, out, expected_size, client)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return _Staged(path, size, md5)


def receive_upload(
    store: Store, resource: Resource, relpath: str, stream, *, overwrite: bool, extract: bool,
    format: str = "", content: str = "", tags: str = "", expected_size: int | None = None,
) -> UploadOutcome:
    """Stream ``stream`` (anything with ``.read(n)``) to a temp file under ``store.tmp_dir``
    computing size and MD5, then store it at ``relpath`` or, with ``extract`` and an archive
    *name* (``archive_format`` of the last segment), unpack it under the resource root keeping
    the archive-internal paths (the URL relpath is then ignored, reference §5.1).

    All or nothing: bytes land first in temp files (archives are fully unpacked to a staging
    directory, every entry name through ``clean_relpath``), so a bad entry (``../x``, ``/abs``),
    a corrupt archive or an early end of the body (``expected_size`` not reached, or the stream
    raising: ``XnatError(400, "Incomplete upload")``) stores nothing. Then, under the store's
    lock, existing catalog rows become ``duplicates`` (left untouched) unless ``overwrite``, and
    every other file is ``os.replace``d into place and catalogued. Holding the lock across the
    rename and the row makes concurrent uploads of one path "last one wins" with bytes and row
    always matching; uploads of different paths never collide (unique temp names).
    Tar symlinks, hard links, devices and FIFOs, zip symlinks, and directory entries are skipped;
    ``*_catalog.xml`` and ``.~lock-*`` entries are skipped as XNAT does not catalogue them.
    """
    relpath = clean_relpath(relpath)
    name = relpath.rsplit("/", 1)[-1]
    kind = archive_format(name) if extract else None
    upload = _stage(stream, store.tmp_dir, expected_size, client=True)
    staging: Path | None = None
    try:
        if kind is None:
            members = {relpath: upload}
        else:
            staging = Path(tempfile.mkdtemp(prefix="extract-", dir=store.tmp_dir))
            members = _extract(upload.path, kind, name, staging)
        return _commit(store, resource, members, overwrite, format, content, tags)
    finally:
        upload.path.unlink(missing_ok=True)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _extract(archive: Path, kind: str, name: str, staging: Path) -> dict[str, _Staged]:
    """Unpack every regular-file entry of ``archive`` into ``staging``: {relpath: staged}."""
    members: dict[str, _Staged] = {}

    def add(entry_name: str, src) -> None:
        rel = clean_relpath(entry_name)  # BadRequest for the whole archive
        if _catalogable(rel):
            old = members.pop(rel, None)  # a repeated name: the later entry wins
            if old is not None:
                old.path.unlink(missing_ok=True)
            members[rel] = _stage(src, staging, prefix="entry-")

    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    if info.is_dir() or stat.S_ISLNK(info.external_attr >> 16):
                        continue
                    with zf.open(info) as src:
                        add(info.filename, src)
        elif kind in ("tar", "tgz"):
            with tarfile.open(archive, "r:gz" if kind == "tgz" else "r:") as tf:
                for member in tf:  # sequential: fine for a gzip stream
                    if not member.isreg():  # dirs, sym/hard links, devices, fifos
                        continue
                    src = tf.extractfile(member)
                    add(member.name, src)
        else:  # lone .gz -> the name without .gz, at the resource root (FileExtractor GZ)
            with gzip_module.open(archive, "rb") as src:
                add(name[: -len(".gz")], src)
    except XnatError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, gzip_module.BadGzipFile,
            RuntimeError, NotImplementedError, ValueError) as exc:
        # XNAT's FileList.handlePut answers an IOException from the unzipper with 500.
        raise XnatError(f"Unable to extract {name}: {exc}", 500) from exc
    return members


def _commit(store: Store, resource: Resource, members: dict[str, _Staged], overwrite: bool,
            format: str, content: str, tags: str) -> UploadOutcome:
    """Move staged files into the resource and catalogue them, atomically w.r.t. other callers."""
    root = store.resource_dir(resource.id)
    outcome = UploadOutcome()
    with store.transaction():
        todo: list[tuple[str, _Staged]] = []
        for rel, staged in members.items():
            if not overwrite and store.get_file(resource.id, rel) is not None:
                outcome.duplicates.append(rel)
            else:
                todo.append((rel, staged))
        _check_clashes(root, [rel for rel, _ in todo])
        for rel, staged in todo:
            dest = root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            _move(staged.path, dest)
            store.put_file(FileEntry(
                resource_id=resource.id, path=rel, size=staged.size, md5=staged.md5,
                format=format, content=content, tags=tags, mtime=dest.stat().st_mtime,
            ))
            outcome.stored.append(rel)
    return outcome


def _check_clashes(root: Path, relpaths: list[str]) -> None:
    """Refuse, before anything moves, a file where a folder is (or must be) and vice versa."""
    new = set(relpaths)
    for rel in relpaths:
        parts = rel.split("/")
        for i in range(1, len(parts)):
            ancestor = "/".join(parts[:i])
            if ancestor in new or (root / ancestor).is_file():
                raise Conflict(f"Cannot store {rel}: {ancestor} is a file")
        if (root / rel).is_dir():
            raise Conflict(f"Cannot store {rel}: it is a folder")


def _move(src: Path, dest: Path) -> None:
    try:
        os.replace(src, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        # tmp_dir on another file system: copy next to the target, then rename atomically.
        fd, name = tempfile.mkstemp(prefix=".upload-", dir=dest.parent)
        os.close(fd)
        try:
            shutil.copyfile(src, name)
            os.replace(name, dest)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise


# -- download and delete ------------------------------------------------------------------------

class FileChunks:
    """Iterator over a file's bytes in 1 MiB chunks, opened at construction (so a missing file
    fails before any response header is sent) and closed at the end or by ``close()`` (which
    WSGI servers call on response iterables)."""

    def __init__(self, path: Path, start: int = 0):
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by __next__/close
        if start:
            self._file.seek(start)

    def __iter__(self) -> FileChunks:
        return self

    def __next__(self) -> bytes:
        chunk = self._file.read(CHUNK_SIZE) if not self._file.closed else b""
        if not chunk:
            self._file.close()
            raise StopIteration
        return chunk

    def close(self) -> None:
        self._file.close()


def iter_file(path: Path, start: int = 0) -> Iterator[bytes]:
    """The file's bytes from ``start`` in 1 MiB chunks (see ``FileChunks``)."""
    return FileChunks(path, start)


def delete_files(store: Store, resource: Resource, relpath: str, remove_files: bool = True) -> int:
    """XNAT FileList.handleDelete: remove the catalog entries matched by ``relpath`` and, unless
    ``remove_files`` is False (``?removeFiles=false``), their bytes, then empty parent folders.
    Returns the number of entries removed (what happens when none match is decided by the HTTP
    layer: XNAT 1.8 answers 404 "No matched files", or 204 with ``accept-not-found=true``).

    Matching is ``CatalogUtils.findCatEntriesWithinPath`` verbatim: an entry matches when its
    path equals ``relpath``, **starts with** it (a plain string prefix, so ``dir/`` and ``dir``
    take the folder, and ``a.txt`` also takes ``a.txt.bak``; an empty path takes everything), or,
    when ``relpath`` ends in ``*``, fully matches ``relpath`` as a regular expression with that
    last ``*`` turned into ``.*`` (``sub/*``; ``*.txt`` matches nothing: it does not end in
    ``*``; an invalid expression is XNAT's 500).
    """
    regex = None
    if relpath.endswith("*"):
        try:
            regex = re.compile(relpath[:-1] + ".*", re.DOTALL)
        except re.error as exc:
            raise XnatError(str(exc), 500) from exc
    root = store.resource_dir(resource.id)
    with store.transaction():
        matched = [
            e for e in store.list_files(resource.id)
            if e.path == relpath or e.path.startswith(relpath)
            or (regex is not None and regex.fullmatch(e.path))
        ]
        for entry in matched:
            store.delete_file(resource.id, entry.path)
            if remove_files:
                target = root / clean_relpath(entry.path)
                target.unlink(missing_ok=True)
                _prune_empty_dirs(target.parent, root)
    return len(matched)


def _prune_empty_dirs(folder: Path, root: Path) -> None:
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:  # not empty (or gone)
            return
        folder = folder.parent


# -- zip ----------------------------------------------------------------------------------------

ZIP_STORED = 0
ZIP_DEFLATED = 8
_ZIP64_LIMIT = 0xFFFFFFFF  # a size or offset at or above this needs ZIP64 (APPNOTE 4.3.9)
_ZIP_COUNT_LIMIT = 0xFFFF
_UTF8_FLAG = 0x800  # Java's ZipOutputStream always sets it (UTF-8 names)
_DESCRIPTOR_FLAG = 0x08


def _dos_time(mtime: float) -> tuple[int, int]:
    t = time.localtime(mtime)
    if t.tm_year < 1980:
        return 0, (1 << 5) | 1  # 1980-01-01 00:00
    if t.tm_year > 2107:
        return (23 << 11) | (59 << 5) | 29, (127 << 9) | (12 << 5) | 31
    return ((t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2),
            ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday)


def zip_stream(entries: Iterable[tuple[str, Path]], compression: int | None = None) -> Iterator[bytes]:
    """Build a zip ON THE FLY (no temp file, bounded memory) of ``(arcname, path)`` pairs and
    yield its bytes as they are produced.

    ``compression`` is XNAT's ``?compression=``, which is a ``java.util.zip`` *method*, not a
    level: 0 = STORED, 8 = DEFLATED (zlib level 6, Java's default); None = the site default
    ``zipCompressionMethod`` = 0, so XNAT 1.8 zips are STORED unless asked. Any other value makes
    Java's ``ZipOutputStream.setMethod`` throw; here it is a ``BadRequest`` raised at call time
    (before any byte), which the HTTP layer can turn into a status.

    Layout as Java's ``ZipOutputStream`` writes it (so Java's streaming ``ZipInputStream`` reads
    it too): file entries only (directories and vanished paths skipped), UTF-8 flag; STORED
    entries with CRC and sizes in the local header (the file is read twice through one open
    handle, as ``ZipUtils.addEntry`` does); DEFLATED entries with zeros there and a data
    descriptor, 64-bit only when a size reached 4 GiB. ZIP64 extra fields appear per entry only
    for a size or offset at or above 4 GiB, the ZIP64 end records only when the entry count,
    directory size or offset needs them.
    """
    if compression is None:
        compression = ZIP_STORED
    if compression not in (ZIP_STORED, ZIP_DEFLATED):
        raise BadRequest(f"invalid compression method {compression}")
    return _zip_chunks(entries, compression)


def _regular_files(entries: Iterable[tuple[str, Path]]
                   ) -> Iterator[tuple[str, Path, BinaryIO, os.stat_result]]:
    """Open each entry once and yield it with its ``fstat``, open until the next one is asked
    for; directories, vanished paths and non-regular files are skipped, as XNAT archives
    write file entries only."""
    for arcname, path in entries:
        try:
            f = open(path, "rb", buffering=0)  # noqa: SIM115 - the `with f` below closes it
        except (IsADirectoryError, FileNotFoundError):
            continue
        with f:
            st = os.fstat(f.fileno())
            if stat.S_ISREG(st.st_mode):
                yield arcname, path, f, st


def _zip_chunks(entries: Iterable[tuple[str, Path]], method: int) -> Iterator[bytes]:
    offset = 0
    central: list[bytes] = []
    for arcname, path, f, st in _regular_files(entries):
        name = arcname.encode("utf-8")
        dostime, dosdate = _dos_time(st.st_mtime)
        flags = _UTF8_FLAG
        read = f.read
        header_offset = offset
        if method == ZIP_STORED:
            crc, usize = 0, 0
            while chunk := read(CHUNK_SIZE):
                crc = zlib.crc32(chunk, crc)
                usize += len(chunk)
            f.seek(0)
            local_zip64 = usize >= _ZIP64_LIMIT
            if local_zip64:
                extra = struct.pack("<HHQQ", 1, 16, usize, usize)
                hsize = 0xFFFFFFFF
            else:
                extra, hsize = b"", usize
            version = 45 if local_zip64 else 20
            header = struct.pack("<IHHHHHIIIHH", 0x04034B50, version, flags, method, dostime,
                                 dosdate, crc, hsize, hsize, len(name), len(extra)) + name + extra
            yield header
            offset += len(header)
            written = 0
            while chunk := read(CHUNK_SIZE):
                yield chunk
                written += len(chunk)
            if written != usize:
                raise OSError(f"{path} changed while being zipped")
            offset += written
            csize = usize
        else:
            flags |= _DESCRIPTOR_FLAG
            # Java's writeLOC for a descriptor entry: CRC and sizes 0, no ZIP64 extra; its
            # ZipInputStream then picks the descriptor's width from the actual sizes.
            version = 20
            header = struct.pack("<IHHHHHIIIHH", 0x04034B50, version, flags, method, dostime,
                                 dosdate, 0, 0, 0, len(name), 0) + name
            yield header
            offset += len(header)
            compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
            compress = compressor.compress
            crc, usize, csize = 0, 0, 0
            while chunk := read(CHUNK_SIZE):
                crc = zlib.crc32(chunk, crc)
                usize += len(chunk)
                out = compress(chunk)
                if out:
                    yield out
                    csize += len(out)
            out = compressor.flush()
            if out:
                yield out
                csize += len(out)
            offset += csize
            if usize >= _ZIP64_LIMIT or csize >= _ZIP64_LIMIT:
                descriptor = struct.pack("<IIQQ", 0x08074B50, crc, csize, usize)
            else:
                descriptor = struct.pack("<IIII", 0x08074B50, crc, csize, usize)
            yield descriptor
            offset += len(descriptor)
        fields = []
        cd_usize, cd_csize, cd_offset = usize, csize, header_offset
        if usize >= _ZIP64_LIMIT:
            fields.append(usize)
            cd_usize = 0xFFFFFFFF
        if csize >= _ZIP64_LIMIT:
            fields.append(csize)
            cd_csize = 0xFFFFFFFF
        if header_offset >= _ZIP64_LIMIT:
            fields.append(header_offset)
            cd_offset = 0xFFFFFFFF
        cd_extra = struct.pack(f"<HH{len(fields)}Q", 1, 8 * len(fields), *fields) if fields else b""
        if fields:
            version = 45
        central.append(
            struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, version, version, flags, method, dostime,
                        dosdate, crc, cd_csize, cd_usize, len(name), len(cd_extra), 0, 0, 0, 0,
                        cd_offset) + name + cd_extra
        )
    yield from _zip_end(central, offset)


def _zip_end(central: list[bytes], cd_offset: int) -> Iterator[bytes]:
    cd_size = 0
    batch: list[bytes] = []
    batch_len = 0
    for record in central:  # the central directory, in ~1 MiB pieces
        batch.append(record)
        batch_len += len(record)
        if batch_len >= CHUNK_SIZE:
            yield b"".join(batch)
            cd_size += batch_len
            batch, batch_len = [], 0
    cd_size += batch_len
    count = len(central)
    tail = b"".join(batch)
    if count >= _ZIP_COUNT_LIMIT or cd_size >= _ZIP64_LIMIT or cd_offset >= _ZIP64_LIMIT:
        eocd64_offset = cd_offset + cd_size
        tail += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, cd_size,
                            cd_offset)
        tail += struct.pack("<IIQI", 0x07064B50, 0, eocd64_offset, 1)
    tail += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, min(count, 0xFFFF), min(count, 0xFFFF),
                        min(cd_size, 0xFFFFFFFF), min(cd_offset, 0xFFFFFFFF), 0)
    yield tail


# -- tar ----------------------------------------------------------------------------------------

def tar_stream(entries: Iterable[tuple[str, Path]], gzip: bool) -> Iterator[bytes]:
    """Same as ``zip_stream`` for ``format=tar`` / ``tar.gz``: a POSIX (pax) tar of the file
    entries (XNAT: Ant ``TarOutputStream`` with ``LONGFILE_POSIX``), gzip-compressed at level 6
    when ``gzip`` (``GZIPOutputStream`` default). Headers are built with ``tarfile.TarInfo`` and
    the data streamed here, since ``TarFile.addfile`` would buffer a whole member."""
    chunks = _tar_chunks(entries)
    return _gzip_chunks(chunks) if gzip else chunks


def _tar_chunks(entries: Iterable[tuple[str, Path]]) -> Iterator[bytes]:
    total = 0
    for arcname, path, f, st in _regular_files(entries):
        info = tarfile.TarInfo(arcname)
        info.size = st.st_size
        info.mtime = int(st.st_mtime)
        info.mode = 0o644
        header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        yield header
        total += len(header)
        remaining = st.st_size
        while remaining > 0:
            chunk = f.read(min(remaining, CHUNK_SIZE))
            if not chunk:
                raise OSError(f"{path} shrank while being archived")
            yield chunk
            remaining -= len(chunk)
        pad = -st.st_size % tarfile.BLOCKSIZE
        total += st.st_size + pad
        if pad:
            yield b"\0" * pad
    end = 2 * tarfile.BLOCKSIZE
    end += -(total + end) % tarfile.RECORDSIZE  # like tarfile/GNU tar: whole 10 KiB records
    yield b"\0" * end


def _gzip_chunks(chunks: Iterator[bytes]) -> Iterator[bytes]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: gzip header and trailer
    compress = compressor.compress
    for chunk in chunks:
        out = compress(chunk)
        if out:
            yield out
    yield compressor.flush()
