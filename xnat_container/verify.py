"""Verify: after the transfer, every source file is on the target with the same size and MD5.

The target is listed again (its listings carry each file's MD5 ``digest``). Where the target
site keeps no checksums, the file is read back and hashed: a file that cannot be verified
fails the run. Objects written in this run must also carry the source's metadata.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from . import tree
from .copy import metadata
from .copy.targets import resource_path
from .interrupt import Interrupted
from .xnat.client import XnatClient
from .xnat.errors import XnatError

CHUNK = 1 << 20


@dataclass
class Verification:
    verified_files: int = 0
    verified_bytes: int = 0
    hashed_on_target: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)   # (where, reason)

    @property
    def ok(self) -> bool:
        return not self.failures


def verify(source: tree.Project, target: tree.Project | None, client: XnatClient,
           project_id: str, streamed_md5: dict[tuple, str], written: list[tuple[str, ...]],
           left_alone: set[tuple] = frozenset()) -> Verification:
    """``left_alone``: (where, resource key, path) of files that differ and were kept on
    purpose (no ``--overwrite``); they are reported by the plan, not failed here."""
    result = Verification()
    if target is None:
        result.failures.append((project_id, "target project not found after the copy"))
        return result
    for where, res, t_res in _pairs(source, target):
        base = resource_path(project_id, where, res)
        for path, f in res.files.items():
            if (where, res.key, path) in left_alone:
                continue
            t_file = t_res.files.get(path) if t_res else None
            if t_file is None:
                result.failures.append((f"{base}/files/{path}", "missing on the target"))
                continue
            expected = f.md5 or streamed_md5.get((where, res.key, path), "")
            actual = t_file.md5
            if not actual:
                actual = _hash_remote(client, t_file.uri)
                result.hashed_on_target += 1
            if t_file.size != f.size:
                result.failures.append((f"{base}/files/{path}",
                                        f"size {t_file.size} on the target, {f.size} on the source"))
            elif not expected:
                result.failures.append((f"{base}/files/{path}", "no MD5 known for the source"))
            elif actual != expected:
                result.failures.append((f"{base}/files/{path}", "MD5 differs from the source"))
            else:
                result.verified_files += 1
                result.verified_bytes += f.size
    for where in written:
        src, dst = source.find(where), target.find(where)
        name = "/".join(where) or "project"
        level = not where
        if dst is None:
            result.failures.append((name, "object missing on the target"))
        elif src is not None and (metadata.comparable(src.xml, project_level=level)
                                  != metadata.comparable(dst.xml, project_level=level)):
            result.failures.append((name, "metadata differs from the source"))
    return result


def _hash_remote(client: XnatClient, uri: str) -> str:
    md5 = hashlib.md5()
    try:
        with client.download(uri) as response:
            for chunk in response.iter_content(CHUNK):
                md5.update(chunk)
    except Interrupted:
        raise
    except XnatError:
        return ""
    return md5.hexdigest()


def _pairs(source: tree.Project, target: tree.Project):
    """(where, source resource, target resource or None) over the whole source tree."""
    for where, res in source.walk_resources():
        item = target.find(where)
        key = res.key
        yield where, res, item.resources.get(key) if item is not None else None
