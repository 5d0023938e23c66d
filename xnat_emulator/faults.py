"""Fault injection for reliability tests: errors, mid-body resets, latency, session expiry.

Reproducible with a seed. Decided per request in a WSGI middleware, before Flask sees the
request (errors) or after it answered (resets), so a reset can hide the outcome of a write
from the client exactly as a dropped connection does. Control endpoints are exempt.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from dataclasses import asdict, replace

from .config import FaultSettings
from .formats import status_page

EXEMPT_PREFIX = "/xapi/emulator/"


class InjectedReset(Exception):
    """Raised inside the response iterator after the socket was reset."""


class FaultInjector:
    def __init__(self, settings: FaultSettings):
        self._lock = threading.Lock()
        self.expire_sessions = lambda: 0  # set by the app once auth exists
        self.configure(settings)

    def configure(self, settings: FaultSettings) -> None:
        with self._lock:
            self.settings = settings
            self._rng = random.Random(settings.seed)
            self._requests = 0
            self.counts = {"errors": 0, "resets": 0, "delayed": 0, "expiries": 0}

    def update(self, **changes) -> FaultSettings:
        self.configure(replace(self.settings, **changes))
        return self.settings

    def describe(self) -> dict:
        with self._lock:
            return {**asdict(self.settings), "injected": dict(self.counts)}

    def _decide(self) -> tuple[float, int | None, bool, bool]:
        s = self.settings
        with self._lock:
            self._requests += 1
            delay = 0.0
            if s.latency_max > 0:
                delay = self._rng.uniform(s.latency_min, s.latency_max)
                self.counts["delayed"] += 1
            error = None
            if s.error_rate and self._rng.random() < s.error_rate:
                error = self._rng.choice((500, 503))
                self.counts["errors"] += 1
            reset = bool(s.reset_rate and error is None and self._rng.random() < s.reset_rate)
            if reset:
                self.counts["resets"] += 1
            expire = bool(s.expire_sessions_every and
                          self._requests % s.expire_sessions_every == 0)
            if expire:
                self.counts["expiries"] += 1
            return delay, error, reset, expire

    def wrap(self, app):
        def middleware(environ, start_response):
            if environ.get("PATH_INFO", "").startswith(EXEMPT_PREFIX):
                return app(environ, start_response)
            delay, error, reset, expire = self._decide()
            if expire:
                self.expire_sessions()
            if delay:
                time.sleep(delay)
            if error is not None:
                body = status_page("Service temporarily unavailable (injected fault)").encode()
                start_response(f"{error} Injected", [("Content-Type", "text/html"),
                                                     ("Content-Length", str(len(body)))])
                return [body]
            if reset:
                return _reset_midway(app(environ, start_response), environ)
            return app(environ, start_response)
        return middleware


def _reset_midway(body_iter, environ):
    """Send about half of the body, then reset the TCP connection (RST, not FIN)."""
    chunks = []
    try:
        for chunk in body_iter:
            chunks.append(chunk)
            if sum(map(len, chunks)) > (1 << 20):
                break
    finally:
        close = getattr(body_iter, "close", None)
        if close:
            close()
    data = b"".join(chunks)
    if data:
        yield data[: len(data) // 2]
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
    raise InjectedReset("connection reset by fault injection")
