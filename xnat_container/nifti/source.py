"""Open the import source safely: a folder as it is, a ``.zip`` or ``.tar.gz`` extracted into a
temporary folder after every entry was checked.

An archive with an absolute path, a ``..`` component, a link or a device is refused as a whole
(zip-slip). In a folder, a symbolic link that points outside the folder is refused file by file
(reported by the layout as rejected) so an import never reads what the user did not hand over.
"""

from __future__ import annotations

import gzip
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath


class SourceError(Exception):
    """The source cannot be used at all; the text is the one line the user sees."""


def _safe_member(name: str) -> bool:
    name = name.replace("\\", "/")
    if not name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return False
    return ".." not in PurePosixPath(name).parts


def archive_kind(path: Path) -> str:
    name = path.name.lower()
    if path.is_dir():
        return "folder"
    if name.endswith(".zip"):
        return "zip"
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        return "tar"
    raise SourceError(f"{path}: not a folder, a .zip or a .tar.gz")


def _extract_zip(path: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            for info in infos:
                mode = info.external_attr >> 16
                if not _safe_member(info.filename):
                    raise SourceError(f"{path}: unsafe entry {info.filename!r} (absolute or "
                                      "outside the archive); nothing imported")
                if stat.S_ISLNK(mode):
                    raise SourceError(f"{path}: entry {info.filename!r} is a symbolic link; "
                                      "nothing imported")
            for info in infos:
                target = dest / info.filename.replace("\\", "/")
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise SourceError(f"{path}: not a readable zip ({exc})") from exc


def _extract_tar(path: Path, dest: Path) -> None:
    try:
        with tarfile.open(path) as tf:
            members = tf.getmembers()
            for m in members:
                if not _safe_member(m.name):
                    raise SourceError(f"{path}: unsafe entry {m.name!r} (absolute or outside "
                                      "the archive); nothing imported")
                if m.issym() or m.islnk():
                    raise SourceError(f"{path}: entry {m.name!r} is a link; nothing imported")
                if not (m.isfile() or m.isdir()):
                    raise SourceError(f"{path}: entry {m.name!r} is not a file or folder; "
                                      "nothing imported")
            # The "data" filter re-checks all of the above in the standard library.
            tf.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise SourceError(f"{path}: not a readable tar archive ({exc})") from exc


class Source:
    """Context manager giving ``root``: the folder to import (extracted for archives)."""

    def __init__(self, path: Path, temp_dir: Path | None = None):
        self.path = Path(path)
        self.temp_dir = temp_dir
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.root: Path = self.path

    def __enter__(self) -> Source:
        if not self.path.exists():
            raise SourceError(f"{self.path}: no such file or folder")
        kind = archive_kind(self.path)
        if kind == "folder":
            self.root = self.path.resolve()
            return self
        self._tmp = tempfile.TemporaryDirectory(prefix="xnat-import-", dir=self.temp_dir)
        dest = Path(self._tmp.name)
        try:
            (_extract_zip if kind == "zip" else _extract_tar)(self.path, dest)
        except OSError as exc:      # disk full in the temporary folder, unreadable archive
            self._tmp.cleanup()
            raise SourceError(f"{self.path}: cannot extract it into the temporary folder "
                              f"{dest.parent}: {exc.strerror or exc}") from exc
        except BaseException:
            self._tmp.cleanup()
            raise
        self.root = _single_top_folder(dest)
        return self

    def __exit__(self, *exc) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def _single_top_folder(dest: Path) -> Path:
    """An archive of one folder (``ds.zip`` holding ``ds/...``) is imported from that folder."""
    entries = [e for e in dest.iterdir() if not e.name.startswith((".", "__MACOSX"))]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].name.startswith("sub-"):
        return entries[0].resolve()
    return dest.resolve()


def walk_files(root: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Every regular file under ``root`` (sorted, hidden files left out) and the refused ones
    as (relative path, reason): links that lead outside ``root`` or to no file."""
    files: list[Path] = []
    refused: list[tuple[str, str]] = []
    root = root.resolve()

    def unreadable(exc: OSError) -> None:
        rel = Path(exc.filename).relative_to(root).as_posix() if exc.filename else "."
        refused.append((rel, f"cannot read the folder: {exc.strerror or exc}"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        base = Path(dirpath)
        for d in list(dirnames):
            if (base / d).is_symlink():
                dirnames.remove(d)
                refused.append(((base / d).relative_to(root).as_posix(),
                                "symbolic link to a folder: not followed"))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            p = base / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                real = p.resolve()
                if not real.is_relative_to(root):
                    refused.append((rel, "symbolic link pointing outside the source folder"))
                    continue
                if not real.is_file():
                    refused.append((rel, "symbolic link to no regular file"))
                    continue
            elif not p.is_file():
                continue
            files.append(p)
    return files, refused
