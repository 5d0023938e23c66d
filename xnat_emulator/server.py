"""Run the emulator's WSGI app on a threaded HTTP server, in this process or as a CLI."""

from __future__ import annotations

import selectors
import socket
import threading

from werkzeug.exceptions import InternalServerError
from werkzeug.serving import WSGIRequestHandler, make_server

from .app import create_app
from .config import EmulatorConfig

# Tomcat reads and discards up to maxSwallowSize (2 MiB) of a request body the application
# did not read, to keep the connection; beyond that it closes the connection.
MAX_SWALLOW = 2 << 20
# Tomcat's maxKeepAliveRequests (default 100): the answer to a connection's 100th request
# says "Connection: close" and the connection ends (XNAT's server.xml does not change it).
MAX_KEEP_ALIVE_REQUESTS = 100


class _CountingInput:
    """The request body stream, counting the bytes the application read."""

    def __init__(self, rfile):
        self._rfile = rfile
        self.consumed = 0

    def read(self, size=-1):
        data = self._rfile.read(size)
        self.consumed += len(data)
        return data

    def readinto(self, buffer):
        n = self._rfile.readinto(buffer) or 0
        self.consumed += n
        return n

    def readline(self, size=-1):
        data = self._rfile.readline(size)
        self.consumed += len(data)
        return data

    def __iter__(self):
        while line := self.readline():
            yield line


class _QuietHandler(WSGIRequestHandler):
    """HTTP/1.1 keep-alive like Tomcat; one log line per request only when asked.

    werkzeug's own ``run_wsgi`` answers every request with ``Connection: close`` (it cannot
    drain an unread body before the next request line). Tomcat keeps connections open, and
    clients (requests, pyxnat, xnatpy, the copier) reuse them, so every request here would
    pay a new connection and a new thread. This ``run_wsgi`` is werkzeug's (3.x) with
    keep-alive: a body the application left unread is swallowed when small, else the answer
    says ``Connection: close`` (as Tomcat does past ``maxSwallowSize``). A connection idle
    for ``idle_timeout`` between requests is closed, as Tomcat does after keepAliveTimeout.
    """

    protocol_version = "HTTP/1.1"
    # Tomcat's connectors set TCP_NODELAY (tcpNoDelay=true): small answers go out at once.
    disable_nagle_algorithm = True
    verbose = False
    idle_timeout: float | None = None  # seconds; None: wait for the next request forever

    def log_request(self, code="-", size="-"):
        if self.verbose:
            super().log_request(code, size)

    def setup(self):
        super().setup()
        self.requests_served = 0
        self.server.track(self.connection, True)

    def finish(self):
        self.server.track(self.connection, False)
        super().finish()

    def handle_one_request(self):
        """Close a connection whose next request line does not start within
        ``idle_timeout``; once it has, the request's body and answer take what they take
        (Tomcat's keepAliveTimeout is the wait for another request, not a request limit)."""
        if not self._next_request_started():
            self.close_connection = True
            return
        self.requests_served += 1
        super().handle_one_request()

    def _next_request_started(self) -> bool:
        """Whether a byte of the next request arrives in time (or was already read ahead)."""
        previous = self.connection.gettimeout()
        self.connection.settimeout(self.idle_timeout)
        try:
            return bool(self.rfile.peek(1))
        except OSError:  # timed out (TimeoutError) or dropped by the client
            return False
        finally:
            self.connection.settimeout(previous)

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")

        self.environ = environ = self.make_environ()
        chunked_request = environ.get("wsgi.input_terminated", False)
        counting = None
        if not chunked_request:
            counting = _CountingInput(environ["wsgi.input"])
            environ["wsgi.input"] = counting
        try:
            declared = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        status_set = headers_set = status_sent = headers_sent = None
        chunk_response = False
        must_close = False

        def unread() -> int:
            return max(0, declared - counting.consumed) if counting is not None else 0

        def write(data: bytes) -> None:
            nonlocal status_sent, headers_sent, chunk_response, must_close
            assert status_set is not None, "write() before start_response"
            assert headers_set is not None, "write() before start_response"
            if status_sent is None:
                status_sent, headers_sent = status_set, headers_set
                try:
                    code_str, msg = status_sent.split(None, 1)
                except ValueError:
                    code_str, msg = status_sent, ""
                code = int(code_str)
                self.send_response(code, msg)
                header_keys = set()
                for key, value in headers_sent:
                    self.send_header(key, value)
                    header_keys.add(key.lower())
                if (not ("content-length" in header_keys
                         or environ["REQUEST_METHOD"] == "HEAD"
                         or (100 <= code < 200) or code in {204, 304})
                        and self.protocol_version >= "HTTP/1.1"):
                    chunk_response = True
                    self.send_header("Transfer-Encoding", "chunked")
                # A chunked request body cannot be measured here, and a large unread body
                # is not worth swallowing: close after this answer.
                must_close = (self.close_connection or unread() > MAX_SWALLOW
                              or (chunked_request and code >= 400)
                              or self.requests_served >= MAX_KEEP_ALIVE_REQUESTS)
                if must_close:
                    self.send_header("Connection", "close")
                self.end_headers()
            assert isinstance(data, bytes), "applications must write bytes"
            if data:
                if chunk_response:
                    self.wfile.write(hex(len(data))[2:].encode())
                    self.wfile.write(b"\r\n")
                self.wfile.write(data)
                if chunk_response:
                    self.wfile.write(b"\r\n")
            self.wfile.flush()

        def start_response(status, headers, exc_info=None):
            nonlocal status_set, headers_set
            if exc_info:
                try:
                    if headers_sent:
                        raise exc_info[1].with_traceback(exc_info[2])
                finally:
                    exc_info = None
            elif headers_set:
                raise AssertionError("Headers already set")
            status_set, headers_set = status, headers
            return write

        def execute(app) -> None:
            application_iter = app(environ, start_response)
            try:
                for data in application_iter:
                    write(data)
                if not headers_sent:
                    write(b"")
                if chunk_response:
                    self.wfile.write(b"0\r\n\r\n")
            finally:
                if must_close:
                    self.close_connection = True
                    self._drain_for_close()
                else:
                    self._swallow(unread())
                if hasattr(application_iter, "close"):
                    application_iter.close()

        try:
            execute(self.server.app)
        except self.connection_dropped_errors() as e:
            self.close_connection = True
            self.connection_dropped(e, environ)
        except Exception as e:
            if self.server.passthrough_errors:
                raise
            if status_sent is not None:
                self.close_connection = True   # a body was cut: the connection is unusable
            try:
                if status_sent is None:
                    status_set = headers_set = None
                    must_close = True
                execute(InternalServerError())
            except Exception:
                pass
            from werkzeug.debug.tbtools import DebugTraceback
            msg = DebugTraceback(e).render_traceback_text()
            self.server.log("error", f"Error on request:\n{msg}")

    @staticmethod
    def connection_dropped_errors():
        return (ConnectionError, socket.timeout)

    def _swallow(self, remaining: int) -> None:
        """Read the rest of a small unread request body so the next request line is next."""
        while remaining > 0:
            data = self.rfile.read(min(remaining, 1 << 16))
            if not data:
                self.close_connection = True
                return
            remaining -= len(data)

    def _drain_for_close(self) -> None:
        """werkzeug's drain before closing: the client then sees the answer, not a reset."""
        selector = selectors.DefaultSelector()
        selector.register(self.connection, selectors.EVENT_READ)
        total_size = total_reads = 0
        try:
            while selector.select(timeout=0.01):
                data = self.rfile.read1(10_000_000) if hasattr(self.rfile, "read1") else b""
                total_size += len(data)
                total_reads += 1
                if not data or total_size >= 10_000_000_000 or total_reads > 1000:
                    break
        except OSError:
            pass
        finally:
            selector.close()


class EmulatorServer:
    """A started emulator: ``url`` is where it answers; ``stop()`` shuts it down."""

    def __init__(self, config: EmulatorConfig, host: str = "127.0.0.1", port: int = 0,
                 verbose: bool = False):
        self.app = create_app(config)
        idle = config.keep_alive_timeout if config.keep_alive_timeout > 0 else None
        handler = type("Handler", (_QuietHandler,), {"verbose": verbose, "idle_timeout": idle})
        self._server = make_server(host, port, self.app, threaded=True, request_handler=handler)
        self._server.daemon_threads = True
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._server.track = self._track
        self.host = host
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self.app.config["XNAT_SITE_URL"] = config.site_url or self.url
        self._thread: threading.Thread | None = None

    def _track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

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
        # Kept-alive connections end with the server, as when Tomcat stops.
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.app.extensions["xnat_store"].close()
