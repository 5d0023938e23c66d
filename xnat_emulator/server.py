"""Run the emulator's WSGI app on a threaded HTTP server, in this process or as a CLI."""

from __future__ import annotations

import threading

from werkzeug.serving import WSGIRequestHandler, make_server

from .app import create_app
from .config import EmulatorConfig


class _QuietHandler(WSGIRequestHandler):
    """HTTP/1.1 keep-alive like Tomcat; one log line per request only when asked."""

    protocol_version = "HTTP/1.1"
    verbose = False

    def log_request(self, code="-", size="-"):
        if self.verbose:
            super().log_request(code, size)


class EmulatorServer:
    """A started emulator: ``url`` is where it answers; ``stop()`` shuts it down."""

    def __init__(self, config: EmulatorConfig, host: str = "127.0.0.1", port: int = 0,
                 verbose: bool = False):
        self.app = create_app(config)
        handler = type("Handler", (_QuietHandler,), {"verbose": verbose})
        self._server = make_server(host, port, self.app, threaded=True, request_handler=handler)
        self._server.daemon_threads = True
        self.host = host
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self.app.config["XNAT_SITE_URL"] = config.site_url or self.url
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def start(self) -> "EmulatorServer":
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=10)
        self.app.extensions["xnat_store"].close()
