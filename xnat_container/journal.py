"""The journal: what a run had started writing, so a killed run can be resumed safely.

Objects are created by label and files are skipped when already present, so a re-run
naturally continues where a killed one stopped. What it cannot tell on its own is whether a
file on the target that differs from the source is somebody's newer version or the remains
of our own interrupted upload. The journal records each upload before it starts and clears
it once verified; on the next run, a differing file still recorded is ours to replace.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

Where = tuple[str, ...]


class Journal:
    def __init__(self, path: Path, job: dict[str, str]):
        """``job`` identifies the copy (source and target URL and project): a journal of a
        different job in the same folder is not mixed up with this one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.job = json.dumps(job, sort_keys=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL with synchronous=NORMAL: a commit survives the process being killed (what the
        # journal is for) without an fsync per upload; only a power cut may lose the last few.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS inflight (job TEXT, location TEXT, resource TEXT, "
            "path TEXT, PRIMARY KEY (job, location, resource, path))")

    def started(self, where: Where, resource: str, paths: list[str]) -> None:
        with self._lock:
            self._db.executemany(
                "INSERT OR IGNORE INTO inflight VALUES (?,?,?,?)",
                [(self.job, json.dumps(where), resource, p) for p in paths])

    def finished(self, where: Where, resource: str, paths: list[str]) -> None:
        with self._lock:
            self._db.executemany(
                "DELETE FROM inflight WHERE job=? AND location=? AND resource=? AND path=?",
                [(self.job, json.dumps(where), resource, p) for p in paths])

    def interrupted(self) -> set[tuple[Where, str, str]]:
        """Uploads started by an earlier run of this job and never verified."""
        with self._lock:
            rows = self._db.execute(
                "SELECT location, resource, path FROM inflight WHERE job=?", (self.job,))
            return {(tuple(json.loads(loc)), res, path) for loc, res, path in rows}

    def close(self) -> None:
        with self._lock:
            self._db.close()
