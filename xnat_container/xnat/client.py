"""The one HTTP client every job uses to talk to XNAT.

One ``requests.Session`` shared by the worker threads; every call goes through
``XnatClient.request``, which joins and quotes the path, sends with a timeout, retries what is
safe to retry (5xx, 429, resets, timeouts, and refused connections to a site that has
answered before) with exponential backoff and jitter, logs in again once when the XNAT
session has ended (401), and stops the run with ``CircuitOpen`` when requests only fail.
Bodies are streamed both ways.

Authentication follows xnatpy: Basic credentials go only to ``POST /data/JSESSION``; every other
request carries just the ``JSESSIONID`` cookie, so an ended session shows as a 401 instead of
silently creating a new Tomcat session per request. Secrets never reach URLs, logs or messages.
"""

from __future__ import annotations

import email.utils
import http.client
import http.cookiejar
import json
import logging
import os
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase, HTTPBasicAuth
from urllib3.exceptions import (ConnectTimeoutError, InsecureRequestWarning, NameResolutionError,
                                NewConnectionError, ProtocolError, ReadTimeoutError)

from .. import __version__, interrupt
from ..credentials import normalize_url
from .errors import (AuthError, BadResponse, BodyInterrupted, CircuitOpen, ConnectionFailed,
                     NotFound, RequestTimedOut, XnatError, XnatHTTPError, excerpt_of,
                     for_status)

log = logging.getLogger(__name__)

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
CONNECT_TIMEOUT = 10.0      # seconds; the read timeout is the client's ``timeout``
MAX_BACKOFF = 30.0          # cap of one backoff pause
MAX_RETRY_AFTER = 60.0      # cap of a server's Retry-After
ERROR_BODY_LIMIT = 16384    # bytes of an error body read for the excerpt
SEND_BLOCK = 256 * 1024     # bytes per socket write of an upload
# RFC 3986 pchar characters kept as they are, except ';': Tomcat cuts a segment at ';'.
_PATH_SAFE = "!$&'()*+,=:@~"
_SESSION_ID = re.compile(r"^[A-Za-z0-9._-]{8,256}$")
_TLS_PLAIN_HTTP = {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG",
                   "UNKNOWN_PROTOCOL", "HTTP_REQUEST", "UNEXPECTED_EOF_WHILE_READING"}


class _Secret:
    """A string that never shows itself in reprs, tracebacks with locals, or logs."""

    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


class ClientStats:
    """Counters shared by the worker threads (every change under one lock).

    ``requests``: HTTP requests sent (logins and retries included); ``retries``: attempts
    repeated after a transient failure; ``relogins``: logins after an ended session;
    ``bytes_sent``: bytes of completed uploads; ``bytes_received``: bytes of answers read.
    """

    FIELDS = ("requests", "retries", "relogins", "bytes_sent", "bytes_received")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = self.retries = self.relogins = 0
        self.bytes_sent = self.bytes_received = 0

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                if name not in self.FIELDS:
                    raise AttributeError(name)
                setattr(self, name, getattr(self, name) + value)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {name: getattr(self, name) for name in self.FIELDS}

    def __repr__(self) -> str:
        return "ClientStats(" + ", ".join(f"{k}={v}" for k, v in self.snapshot().items()) + ")"


class _SessionCookie(AuthBase):
    """Sends the XNAT session as a Cookie header (no Basic: an ended session must show)."""

    def __init__(self, session_id: _Secret):
        self._session_id = session_id

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Cookie"] = f"JSESSIONID={self._session_id.value}"
        return r

    def __repr__(self) -> str:
        return "<_SessionCookie ***>"


class _UploadBody:
    """A stream seen through its declared size.

    ``__len__`` makes requests send Content-Length (XNAT rejects chunked uploads) and urllib3
    reads it ``SEND_BLOCK`` bytes at a time, so the file is never held in memory. A file that
    is shorter or longer than declared fails the upload instead of storing a truncated copy.
    """

    def __init__(self, stream: BinaryIO, size: int, what: str):
        self._stream = stream
        self._remaining = size
        self._size = size
        self._what = what

    def __len__(self) -> int:
        return self._size

    def read(self, amount: int = -1) -> bytes:
        if self._remaining <= 0:
            return b""
        interrupt.check_overdue()   # SIGTERM/SIGINT: a transfer in flight gets a grace period
        if amount is None or amount < 0 or amount > self._remaining:
            amount = self._remaining
        data = self._local_read(amount)
        if not data:
            raise XnatError(f"{self._what}: the file ended {self._remaining} bytes before the "
                            f"declared {self._size} bytes; was it changed during the upload?")
        self._remaining -= len(data)
        # Check for surplus bytes before handing over the last block: once the declared
        # length is sent the server has a complete (but cut) file.
        if self._remaining <= 0 and self._local_read(1):
            raise XnatError(f"{self._what}: the file is longer than the declared "
                            f"{self._size} bytes; was it changed during the upload?")
        return data

    def _local_read(self, amount: int) -> bytes:
        # urllib3 would take an OSError here for a network failure and retry the upload.
        try:
            return self._stream.read(amount)
        except OSError as exc:
            raise XnatError(f"{self._what}: cannot read the local file: "
                            f"{exc.strerror or exc}") from exc


class _Adapter(HTTPAdapter):
    """HTTPAdapter whose connections write uploads in large blocks (urllib3 default: 16 KiB)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("blocksize", SEND_BLOCK)
        super().init_poolmanager(*args, **kwargs)


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """The shared session keeps no cookies: the JSESSIONID is managed under the client's lock."""

    def set_ok(self, cookie, request) -> bool:
        return False

    def return_ok(self, cookie, request) -> bool:
        return False


class XnatClient:
    """A logged-in XNAT site, safe to share between threads.

    ``timeout`` is the read timeout of every request (the connect timeout is at most 10 s);
    ``retries`` the number of repeated attempts after a transient failure, paused
    ``backoff * 2**n`` seconds with jitter; ``breaker_threshold`` consecutive failed requests
    (after their retries) raise CircuitOpen for this and every later request.
    """

    def __init__(self, url: str, user: str, password: str, *, verify: bool = True,
                 timeout: float = 60.0, retries: int = 5, backoff: float = 0.5,
                 breaker_threshold: int = 25, pool_size: int = 16,
                 breaker_seconds: float = 30.0):
        if retries < 0 or breaker_threshold < 1 or timeout <= 0 or pool_size < 1:
            raise ValueError("retries >= 0, breaker_threshold >= 1, timeout > 0 and "
                             "pool_size >= 1 are required")
        self.url = normalize_url(url)
        self.user = user
        self._password = _Secret(password)
        self.verify = verify
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.breaker_threshold = breaker_threshold
        # A site that has not answered anything for this long (and failed a few requests in a
        # row) is gone: stop, rather than wait out every request's retries one after another.
        self.breaker_seconds = breaker_seconds
        self._last_answer = time.monotonic()
        self.stats = ClientStats()
        self._timeouts = (min(CONNECT_TIMEOUT, timeout), timeout)
        self._host = urlsplit(self.url).netloc
        self._random = random.Random()

        self._http = requests.Session()
        adapter = _Adapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self._http.mount("https://", adapter)
        self._http.mount("http://", adapter)
        self._http.cookies.set_policy(_NoCookies())
        self._http.headers["User-Agent"] = (
            f"xnat-container/{__version__} {requests.utils.default_user_agent()}")
        self._http.verify = verify
        # requests reads the proxy variables (and matches NO_PROXY) again for every request
        # when trust_env is on: a fifth of the copier's CPU time on small files. This client
        # talks to one site, so the environment is read once, here, with the same rules.
        self._http.trust_env = False
        self._http.proxies = requests.utils.get_environ_proxies(self.url)
        self._tls_verify: bool | str = verify
        if verify is True:
            self._tls_verify = (os.environ.get("REQUESTS_CA_BUNDLE")
                                or os.environ.get("CURL_CA_BUNDLE") or True)
        self._http.verify = self._tls_verify
        if not verify:
            urllib3.disable_warnings(InsecureRequestWarning)
            log.warning("TLS certificate verification is off for %s", self.url)

        # (session id, generation); replaced as a whole so readers never see half of it.
        self._session: tuple[_Secret, int] | None = None
        self._generation = 0
        self._login_lock = threading.Lock()
        self._breaker_lock = threading.Lock()
        self._failures = 0
        self._last_failure: XnatError | None = None
        self._open = False
        self._answered = False  # it answered once: DNS errors, refusals are then transient
        self._auth_failure: AuthError | None = None  # rejected credentials stay rejected

    def __repr__(self) -> str:
        return f"<XnatClient {self.url} user={self.user!r}>"

    def __enter__(self) -> XnatClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- session ------------------------------------------------------------------------------

    def login(self) -> None:
        """Open an XNAT session (``POST /data/JSESSION`` with Basic credentials).

        AuthError when XNAT rejects the login, ConnectionFailed when it cannot be reached.
        """
        with self._login_lock:
            self._guarded(self._login_locked)

    def close(self) -> None:
        """End the XNAT session (``DELETE /data/JSESSION``); errors are ignored."""
        session, self._session = self._session, None
        if session is not None:
            try:
                self.stats.add(requests=1)
                self._http.request("DELETE", self.url + "/data/JSESSION",
                                   auth=_SessionCookie(session[0]), allow_redirects=False,
                                   timeout=(self._timeouts[0], min(self.timeout, 10.0))).close()
            except requests.RequestException as exc:
                log.debug("ending the XNAT session at %s failed: %s", self.url,
                          _classify(exc)[1])
        self._http.close()

    def _login_locked(self) -> None:
        """Log in; the caller holds ``_login_lock``. Retries transient failures.

        A rejected login is remembered: the other threads waiting for the lock then fail at
        once instead of each sending the bad credentials again.
        """
        if self._auth_failure is not None:
            raise AuthError(self._auth_failure.url, self._auth_failure.user)
        try:
            r = self._exchange("POST", "/data/JSESSION", login=True, may_retry=True,
                               ok=(200,))
        except AuthError as exc:
            self._auth_failure = exc
            raise
        except NotFound as exc:
            raise NotFound(exc.status, exc.method, exc.url, exc.excerpt,
                           f"no XNAT REST API at {self.url} (POST /data/JSESSION answered "
                           "404); check the URL and its path prefix") from None
        text = r.text.strip()
        session_id = text if _SESSION_ID.match(text) else r.cookies.get("JSESSIONID")
        if not session_id:
            raise BadResponse(f"{self.url} did not return a session id for POST "
                              "/data/JSESSION; is it an XNAT site?")
        self._generation += 1
        self._session = (_Secret(session_id), self._generation)
        log.debug("logged in to %s as %s", self.url, self.user)

    def _current_session(self) -> tuple[_Secret, int]:
        session = self._session
        if session is None:
            with self._login_lock:
                if self._session is None:
                    self._login_locked()
                session = self._session
        assert session is not None
        return session

    def _relogin(self, seen_generation: int) -> None:
        """Log in again unless another thread already did since ``seen_generation``."""
        with self._login_lock:
            current = self._session
            if current is not None and current[1] != seen_generation:
                return
            log.info("XNAT session at %s ended; logging in again as %s", self.url, self.user)
            self._session = None
            self._login_locked()
            self.stats.add(relogins=1)

    # -- requests -----------------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: dict | None = None, data: Any = None,
                body: Callable[[], tuple[BinaryIO | bytes, int]] | None = None,
                headers: dict | None = None, stream: bool = False,
                ok: tuple[int, ...] = (200, 201), retry: bool | None = None
                ) -> requests.Response:
        """Send ``method path`` (an unquoted path starting with '/') and return the answer.

        ``body`` is a factory of ``(stream or bytes, size)`` called for every attempt, so a
        retry re-opens the stream; it is sent with Content-Length, never chunked. ``retry``
        None retries GET/HEAD/PUT/DELETE but not POST (a POST may have taken effect); a
        request that never reached the server (refused, DNS: once the site has answered) or
        got a 401 is always repeated.
        With ``stream`` the caller must close the response (``download()`` does). Without it,
        an HTML page answered with 200 to a request not asking for HTML is an XnatHTTPError.
        """
        method = method.upper()
        if data is not None and hasattr(data, "read"):
            raise TypeError("pass streams as body=<factory> so that a retry can re-open them")
        may_retry = method in IDEMPOTENT if retry is None else retry
        return self._guarded(self._exchange, method, path, params=params, data=data,
                             body=body, headers=headers, stream=stream, ok=ok,
                             may_retry=may_retry)

    def get_json(self, path: str, params: dict | None = None) -> Any:
        """The JSON document at ``path`` (``format=json`` added for /data paths)."""
        params = dict(params or {})
        if path.startswith(("/data/", "/REST/")):
            params.setdefault("format", "json")
        r = self.request("GET", path, params=params, ok=(200,))
        try:
            return json.loads(r.content)
        except ValueError:
            raise BadResponse(f"XNAT at {self.url} answered GET {path} with something that is "
                              f"not JSON: {excerpt_of(r.content[:2000])!r}") from None

    def get_rows(self, path: str, params: dict | None = None) -> list[dict[str, str]]:
        """The rows (``ResultSet.Result``) of an XNAT listing."""
        params = dict(params or {})
        params["format"] = "json"
        document = self.get_json(path, params)
        try:
            rows = document["ResultSet"]["Result"]
        except (KeyError, TypeError):
            rows = None
        if not isinstance(rows, list):
            raise BadResponse(f"XNAT at {self.url} answered GET {path} with JSON that is not "
                              "a listing (no ResultSet.Result)")
        return rows

    def get_text(self, path: str, params: dict | None = None) -> str:
        """A text answer (XNAT sends UTF-8, often without saying so)."""
        r = self.request("GET", path, params=params, ok=(200,))
        declared = "charset=" in r.headers.get("Content-Type", "").lower()
        return r.content.decode(r.encoding if declared and r.encoding else "utf-8", "replace")

    def get_bytes(self, path: str, params: dict | None = None) -> bytes:
        """A small document (XML) as bytes; use ``download()`` for files."""
        return self.request("GET", path, params=params, ok=(200,)).content

    @contextmanager
    def download(self, path: str, params: dict | None = None) -> Iterator[requests.Response]:
        """A streamed GET: read ``r.iter_content(...)`` inside the ``with``.

        Retried until the body starts; a connection lost while the caller reads the body raises
        ConnectionFailed (retryable) so a caller can start the file again. The connection is
        released on exit and the bytes read are added to ``stats.bytes_received``.
        """
        r = self.request("GET", path, params=params, stream=True, ok=(200,))
        try:
            yield r
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            reason, detail = _classify(exc)
            if reason == "timeout":
                raise RequestTimedOut(f"XNAT at {self.url} stopped sending {path} for "
                                      f"{self.timeout:g} s", host=self._host,
                                      reason=reason) from exc
            raise BodyInterrupted(f"connection to XNAT at {self.url} broke while downloading "
                                  f"{path}: {detail}", host=self._host, reason=reason) from exc
        finally:
            try:
                received = r.raw.tell()
            except (AttributeError, OSError, ValueError):
                received = 0
            self.stats.add(bytes_received=received)
            r.close()

    def upload(self, path: str, open_body: Callable[[], BinaryIO], size: int,
               params: dict | None = None, retry: bool = True) -> requests.Response:
        """PUT a file as the raw body (``inbody=true``, application/octet-stream).

        ``open_body`` is called for every attempt (a retry re-opens the file). The answer is
        returned as is: XNAT says 200 with ``{"duplicates": [...]}`` when the file existed and
        ``overwrite`` was not asked for; the caller decides what that means. ``retry=False``:
        one attempt, for an upload whose repetition would not be harmless.
        """
        if size <= 0:
            raise XnatError(f"cannot upload {path}: XNAT rejects empty (0-byte) uploads")
        r = self.request("PUT", path, params={**(params or {}), "inbody": "true"},
                         body=lambda: (open_body(), size),
                         headers={"Content-Type": "application/octet-stream"}, retry=retry)
        self.stats.add(bytes_sent=size)
        return r

    # -- internals ----------------------------------------------------------------------------

    def _guarded(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``call`` under the circuit breaker: count failures, reset on any answer."""
        self._check_circuit()
        try:
            result = call(*args, **kwargs)
        except CircuitOpen:
            raise
        except XnatError as exc:
            if exc.retryable:
                self._record_failure(exc)
            else:
                self._record_answer()
            raise
        self._record_answer()
        return result

    def _check_circuit(self) -> None:
        if self._open:
            raise CircuitOpen(self.url, self._failures, self._last_failure or "")

    def _record_failure(self, exc: XnatError) -> None:
        with self._breaker_lock:
            self._failures += 1
            self._last_failure = exc
            silent = time.monotonic() - self._last_answer
            gone = self._failures >= 3 and silent >= self.breaker_seconds
            if (self._failures >= self.breaker_threshold or gone) and not self._open:
                self._open = True
                log.error("giving up on %s after %d consecutive failures", self.url,
                          self._failures)
            failures, opened = self._failures, self._open
        if opened:
            raise CircuitOpen(self.url, failures, exc) from exc

    def _record_answer(self) -> None:
        with self._breaker_lock:
            if not self._open:
                self._failures = 0
                self._last_answer = time.monotonic()

    def _url_for(self, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/': {path!r}")
        return self.url + "/".join(quote(segment, safe=_PATH_SAFE)
                                   for segment in path.split("/"))

    def _exchange(self, method: str, path: str, *, login: bool = False, params: dict | None = None,
                  data: Any = None, body: Callable[[], tuple[BinaryIO | bytes, int]] | None = None,
                  headers: dict | None = None, stream: bool = False,
                  ok: tuple[int, ...] = (200, 201), may_retry: bool = True) -> requests.Response:
        """The retry loop of one request. ``login``: Basic credentials, 401 is final."""
        url = self._url_for(path)
        attempts = 0          # failed attempts that count against ``retries``
        relogins = 0          # sessions ended under this request (other threads' too)
        while True:
            self._check_circuit()
            interrupt.check()    # after SIGTERM/SIGINT no request is sent, no retry either
            if login:
                auth: AuthBase = HTTPBasicAuth(self.user, self._password.value)
                generation = -1
            else:
                session_id, generation = self._current_session()
                auth = _SessionCookie(session_id)
            started = time.monotonic()
            try:
                r = self._send(method, url, path, params=params, data=data, body=body,
                               headers=headers, auth=auth)
            except requests.RequestException as exc:
                failure = self._connection_failure(exc, method, path, attempts)
                if self._should_retry(failure, may_retry, attempts):
                    attempts += 1
                    self._pause(attempts, method, path, failure)
                    continue
                raise failure from exc
            status = r.status_code
            log.debug("%s %s -> %d (%.2f s)", method, r.url, status, time.monotonic() - started)
            self._answered = True

            if status == 401:
                _release(r)
                if login:
                    raise AuthError(self.url, self.user)
                # A session can end again before this request used the new one (the server
                # ended all sessions, another thread logged in); only a session refused time
                # after time means the server will not take ours.
                if relogins > max(1, self.retries):
                    raise AuthError(self.url, self.user, "the new session was refused too")
                if relogins:   # ended again at once: let the other threads' storm pass
                    interrupt.sleep(self._random.uniform(0, self.backoff * relogins))
                self._relogin(generation)
                relogins += 1
                continue

            if status in ok:
                if stream:
                    return r
                try:
                    content = r.content
                except requests.RequestException as exc:
                    _release(r)
                    failure = self._connection_failure(exc, method, path, attempts)
                    if may_retry and attempts < self.retries:
                        attempts += 1
                        self._pause(attempts, method, path, failure)
                        continue
                    raise failure from exc
                finally:
                    r.close()
                self.stats.add(bytes_received=len(content))
                # XNAT's error pages with 200; an error status the caller accepts (409 on
                # re-creating a resource) comes with its HTML status page as body.
                if (status < 300 and _looks_like_html(content)
                        and not _wants_html(params, headers)):
                    raise for_status(status, method, url, excerpt_of(content[:ERROR_BODY_LIMIT]),
                                     f"XNAT at {self.url} answered {method} {path} with an HTML "
                                     f"page instead of data: {excerpt_of(content[:4096])}")
                return r

            error = self._http_error(r, method, url, path)
            if error.retryable and may_retry and attempts < self.retries:
                attempts += 1
                self._pause(attempts, method, path, error, _retry_after(r))
                continue
            if attempts:
                error.args = (f"{error.message} (after {attempts + 1} attempts)",)
            raise error

    def _send(self, method: str, url: str, path: str, *, params: dict | None, data: Any,
              body: Callable[[], tuple[BinaryIO | bytes, int]] | None, headers: dict | None,
              auth: AuthBase) -> requests.Response:
        """One attempt. Always ``stream=True``, so error bodies are read only in part."""
        opened = None
        if body is not None:
            opened, size = body()
            if isinstance(opened, (bytes, bytearray, memoryview)):
                if len(opened) != size:
                    raise ValueError(f"body of {method} {path} has {len(opened)} bytes, "
                                     f"declared {size}")
                data = bytes(opened)
            else:
                data = _UploadBody(opened, size, f"{method} {path}")
        self.stats.add(requests=1)
        try:
            return self._http.request(method, url, params=params, data=data, headers=headers,
                                      auth=auth, timeout=self._timeouts, allow_redirects=False,
                                      stream=True, verify=self._tls_verify)
        finally:
            if opened is not None and hasattr(opened, "close"):
                opened.close()

    def _should_retry(self, failure: ConnectionFailed, may_retry: bool, attempts: int) -> bool:
        if attempts >= self.retries or failure.reason == "tls":
            return False
        if failure.reason in ("dns", "refused") and not self._answered:
            return False  # a mistyped host or port: say so now, not after a minute of retries
        never_sent = failure.reason in ("dns", "refused", "unreachable", "connect-timeout")
        return may_retry or never_sent

    def _pause(self, attempt: int, method: str, path: str, why: XnatError,
               retry_after: float | None = None) -> None:
        delay = min(MAX_BACKOFF, self.backoff * 2 ** (attempt - 1))
        delay = delay / 2 + self._random.uniform(0, delay / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
        self.stats.add(retries=1)
        log.info("retrying %s %s in %.2f s (attempt %d of %d): %s", method, path, delay,
                 attempt + 1, self.retries + 1, why)
        interrupt.sleep(delay)

    def _connection_failure(self, exc: BaseException, method: str, path: str,
                            attempts: int) -> ConnectionFailed:
        reason, detail = _classify(exc)
        after = f" (after {attempts + 1} attempts)" if attempts else ""
        host = urlsplit(self.url).hostname or self._host
        if reason in ("reset", "other") and not self._answered and _speaks_tls(self.url):
            https = "https" + self.url[len("http"):]
            return ConnectionFailed(f"XNAT at {self.url} answers only HTTPS on that port: use "
                                    f"{https}", host=self._host, reason="tls")
        if reason == "dns":
            message = f"cannot resolve the host name '{host}' of {self.url}: {detail}"
        elif reason == "tls":
            message = f"TLS/SSL failure talking to {self.url}: {detail}"
        elif reason in ("refused", "unreachable"):
            message = f"cannot connect to XNAT at {self.url}: {detail}"
        elif reason == "connect-timeout":
            message = (f"cannot connect to XNAT at {self.url}: no answer within "
                       f"{self._timeouts[0]:g} s")
        elif reason == "timeout":
            return RequestTimedOut(f"XNAT at {self.url} did not answer {method} {path} within "
                                   f"{self.timeout:g} s{after}", host=self._host, reason=reason)
        elif reason == "reset":
            message = f"connection to XNAT at {self.url} broke during {method} {path}: {detail}"
        else:
            message = f"cannot talk to XNAT at {self.url} ({method} {path}): {detail}"
        return ConnectionFailed(message + after, host=self._host, reason=reason)

    def _http_error(self, r: requests.Response, method: str, url: str,
                    path: str) -> XnatHTTPError:
        try:
            raw = r.raw.read(ERROR_BODY_LIMIT, decode_content=True) or b""
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
            raw = b""
        finally:
            _release(r)
        status = r.status_code
        if 300 <= status < 400:
            location = _shown_location(r.headers.get("Location", ""))
            return for_status(status, method, url, location,
                              f"XNAT at {self.url} redirected {method} {path} to {location} "
                              f"({status}); use the URL of the XNAT site itself")
        excerpt = excerpt_of(raw)
        # Tomcat 8.5+ sends no reason phrase; use the standard one.
        reason = http.client.responses.get(status, r.reason or "")
        message = f"XNAT at {self.url} answered {status} {reason} to {method} {path}"
        return for_status(status, method, url, excerpt,
                          f"{message}: {excerpt}" if excerpt else message)


def _speaks_tls(url: str, timeout: float = 3.0) -> bool:
    """Whether an ``http://`` URL's port completes a TLS handshake (an HTTPS server that
    closed the plain-HTTP connection without answering). Certificates are not checked here:
    only the protocol is."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((parts.hostname, parts.port or 80), timeout) as sock, \
                context.wrap_socket(sock, server_hostname=parts.hostname):
            return True
    except (OSError, ValueError):
        return False


def _release(r: requests.Response) -> None:
    try:
        r.close()
    except Exception as exc:  # noqa: BLE001 - a broken connection must not mask the error
        log.debug("releasing a connection failed: %s", type(exc).__name__)


def _looks_like_html(content: bytes) -> bool:
    """XNAT (like xnatpy's _check_response expects) can answer 200 with an HTML error page."""
    head = content[:256].lstrip().lower()
    return head.startswith((b"<html", b"<!doctype"))


def _wants_html(params: dict | None, headers: dict | None) -> bool:
    if params and str(params.get("format", "")).lower() == "html":
        return True
    accept = next((v for k, v in (headers or {}).items() if k.lower() == "accept"), "")
    return "text/html" in accept.lower()


def _retry_after(r: requests.Response) -> float | None:
    value = r.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _shown_location(location: str) -> str:
    """A redirect target without any query (it may carry a token) or user info."""
    parts = urlsplit(location)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else parts.path


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and everything it wraps (requests -> urllib3 -> socket/ssl errors)."""
    found: list[BaseException] = []
    stack: list[Any] = [exc]
    while stack:
        e = stack.pop()
        if not isinstance(e, BaseException) or any(e is f for f in found):
            continue
        found.append(e)
        stack.extend((e.__cause__, e.__context__, getattr(e, "reason", None)))
        stack.extend(a for a in e.args if isinstance(a, BaseException))
    return found


def _classify(exc: BaseException) -> tuple[str, str]:
    """``(reason, short description)`` of a transport error, without URLs or secrets."""
    chain = _causes(exc)

    def first(*types: type) -> Any:
        return next((e for e in chain if isinstance(e, types)), None)

    if (e := first(ssl.SSLCertVerificationError)) is not None:
        return "tls", e.verify_message or "certificate verify failed"
    if (e := first(ssl.SSLError)) is not None:
        code = getattr(e, "reason", None) or ""
        text = code.replace("_", " ").lower() if code else _short(e)
        if code in _TLS_PLAIN_HTTP:
            text += " (does that port speak plain http://?)"
        return "tls", text
    if first(requests.exceptions.SSLError, urllib3.exceptions.SSLError) is not None:
        return "tls", _short(first(requests.exceptions.SSLError, urllib3.exceptions.SSLError))
    if first(NameResolutionError, socket.gaierror) is not None:
        return "dns", "name lookup failed"
    if first(ConnectionRefusedError) is not None:
        return "refused", "connection refused"
    if first(NewConnectionError) is not None:
        os_error = next((e for e in chain if isinstance(e, OSError) and e.errno), None)
        return "unreachable", (os_error.strerror if os_error is not None and os_error.strerror
                               else "network unreachable")
    if first(ConnectTimeoutError, requests.exceptions.ConnectTimeout) is not None:
        return "connect-timeout", "connection timed out"
    if first(ReadTimeoutError, requests.exceptions.ReadTimeout, TimeoutError,
             socket.timeout) is not None:
        return "timeout", "timed out"
    if first(ConnectionResetError) is not None:
        return "reset", "connection reset by the server"
    if first(BrokenPipeError) is not None:
        return "reset", "connection closed by the server while sending"
    if first(http.client.RemoteDisconnected) is not None:
        return "reset", "the server closed the connection without answering"
    if first(http.client.IncompleteRead, ProtocolError,
             requests.exceptions.ChunkedEncodingError) is not None:
        return "reset", "the answer ended early"
    if first(requests.exceptions.ConnectionError) is not None:
        return "other", "connection error"
    return "other", _short(exc)


def _short(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = str(exc)
    # urllib3 messages embed "HTTPSConnectionPool(host=..., port=...): ... (Caused by X(...))"
    match = re.search(r"\(Caused by \w+\((.*)\)\)\s*$", text)
    text = match.group(1) if match else text
    return " ".join(text.split())[:200] or type(exc).__name__


__all__ = ["ClientStats", "XnatClient"]
