"""Health service for orchestrators probing the image (``xnat-container serve``).

``/healthz``: the process answers. ``/readyz``: the configured XNAT answers and the
credentials work; checked at most every ``cache_seconds``, with a short timeout, so a probe
storm never becomes a storm of logins on XNAT. ``/version``: what is running.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from flask import Flask, jsonify

from . import __version__
from .credentials import CredentialsMissing, normalize_url, resolve_credentials
from .xnat.client import XnatClient
from .xnat.errors import XnatError


@dataclass
class Readiness:
    ready: bool
    reason: str
    checked_at: float


class ReadinessProbe:
    """Logs in to the XNAT named by ``XNAT_HOST`` with ``XNAT_USER``/``XNAT_PASS`` (or netrc)."""

    def __init__(self, cache_seconds: float = 10.0, timeout: float = 5.0):
        self.cache_seconds = cache_seconds
        self.timeout = timeout
        self._lock = threading.Lock()
        self._last: Readiness | None = None

    def check(self) -> Readiness:
        with self._lock:
            now = time.monotonic()
            if self._last is None or now - self._last.checked_at >= self.cache_seconds:
                self._last = Readiness(*self._probe(), checked_at=now)
            return self._last

    def _probe(self) -> tuple[bool, str]:
        url = os.environ.get("XNAT_HOST")
        if not url:
            return False, "XNAT_HOST is not set"
        try:
            url = normalize_url(url)
            user, password = resolve_credentials(url, "XNAT_USER", "XNAT_PASS", interactive=False)
            client = XnatClient(url, user, password, timeout=self.timeout, retries=0,
                                verify=os.environ.get("XNAT_VERIFY_TLS", "true") != "false")
            with client:
                client.login()
        except (ValueError, CredentialsMissing, XnatError) as exc:
            return False, str(exc)
        return True, f"XNAT at {url} accepts the credentials"


def create_app(probe: ReadinessProbe | None = None) -> Flask:
    app = Flask("xnat_container.health")
    probe = probe or ReadinessProbe()

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz():
        state = probe.check()
        body = {"status": "ready" if state.ready else "unavailable", "reason": state.reason,
                "checked_seconds_ago": round(time.monotonic() - state.checked_at, 1)}
        return jsonify(body), 200 if state.ready else 503

    @app.get("/version")
    def version():
        return jsonify({"name": "xnat-container", "version": __version__})

    return app


def serve(bind: str, workers: int = 1, threads: int = 4) -> None:
    """Run the app under gunicorn (one worker: the probe cache lives in the process)."""
    from gunicorn.app.base import BaseApplication

    class _Server(BaseApplication):
        def load_config(self):
            for key, value in {"bind": bind, "workers": workers, "threads": threads,
                               "timeout": 30, "accesslog": "-"}.items():
                self.cfg.set(key, value)

        def load(self):
            return create_app()

    _Server().run()
