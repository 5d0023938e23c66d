"""Progress: one log line per session (readable in Container Service logs) and a byte bar
when a terminal is attached."""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass, field

from tqdm import tqdm

log = logging.getLogger("xnat_container")


def session_of(where: tuple[str, ...]) -> tuple[str, ...]:
    """Files are grouped by session (subject/experiment), else by their subject or project."""
    return where[:4] if len(where) >= 4 else where[:2]


@dataclass
class _Session:
    files_expected: int = 0
    files_done: int = 0
    failed: int = 0
    bytes: int = 0
    scans: set = field(default_factory=set)
    started: float | None = None      # when its first file started moving
    pending_resources: int = 0


class Progress:
    def __init__(self, total_bytes: int = 0, show_bar: bool | None = None):
        self._lock = threading.Lock()
        self._sessions: dict[tuple, _Session] = {}
        if show_bar is None:
            show_bar = sys.stderr.isatty()
        self.bar = tqdm(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024,
                        disable=not show_bar, leave=False, file=sys.stderr)

    def expect(self, action) -> None:
        with self._lock:
            s = self._sessions.setdefault(session_of(action.where), _Session())
            s.files_expected += len(action.files)
            s.pending_resources += 1
            if "scan" in action.where:
                s.scans.add(action.where[action.where.index("scan") + 1])

    def unit_started(self, action) -> None:
        """A file (or zip) of ``action`` starts moving: the session's clock starts with its
        first, so its MB/s leaves out the time its files waited in the queue."""
        with self._lock:
            s = self._sessions[session_of(action.where)]
            if s.started is None:
                s.started = time.monotonic()

    def object_done(self, action) -> None:
        log.debug("wrote %s %s", action.kind, "/".join(action.where))

    def file_done(self, action, f, failed: bool = False) -> None:
        with self._lock:
            s = self._sessions[session_of(action.where)]
            s.files_done += 1
            if failed:
                s.failed += 1
            else:
                s.bytes += f.size
                self.bar.update(f.size)
            if s.files_done == s.files_expected:
                self._finish(session_of(action.where), s)

    def resource_done(self, action) -> None:
        with self._lock:
            s = self._sessions[session_of(action.where)]
            if s.files_expected == 0 and s.files_done == 0:
                self._finish(session_of(action.where), s)

    def _finish(self, key: tuple, s: _Session) -> None:
        now = time.monotonic()
        seconds = max(now - (s.started or now), 1e-6)
        name = "/".join(key[1::2])
        kind = "session" if len(key) >= 4 else ("subject" if key else "project resources")
        line = (f"{kind}{' ' + name if name else ''}: {len(s.scans)} scans, {s.files_done - s.failed} files, "
                f"{s.bytes / 1e6:.1f} MB in {seconds:.1f} s ({s.bytes / 1e6 / seconds:.1f} MB/s)")
        if s.failed:
            line += f", {s.failed} FAILED"
        log.info(line)

    def close(self) -> None:
        self.bar.close()
