"""Keep-alive limits, over real sockets: the idle timeout and the requests per connection.

Tomcat closes a kept-alive connection that waits longer than ``keepAliveTimeout`` for its next
request; the attribute defaults to ``connectionTimeout`` (Tomcat's HTTP connector reference,
tomcat.apache.org/tomcat-8.0-doc/config/http.html: "The number of milliseconds this Connector
will wait for another HTTP request before closing the connection. The default value is to use
the value that has been set for the connectionTimeout attribute"), which XNAT's server.xml sets
to 20000 (NrgXnat/xnat-docker-compose ``tomcat/server.xml``:
``<Connector port="8080" protocol="HTTP/1.1" connectionTimeout="20000" .../>``). It is a wait
for the next request, so a request whose body or answer is slow is not cut by it.
"""

from __future__ import annotations

import base64
import http.client
import time

import requests

from xnat_emulator.config import FaultSettings

IDLE = 0.5
AUTH = {"Authorization": "Basic " + base64.b64encode(b"admin:admin").decode()}


def _connection(emu) -> http.client.HTTPConnection:
    host, port = emu.url.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=10)


def _get(conn, path: str = "/data/auth") -> http.client.HTTPResponse:
    conn.request("GET", path, headers=AUTH)
    response = conn.getresponse()
    response.read()
    return response


def test_idle_connection_closed_by_the_server(make_emulator):
    """Requests close together share one connection; once it has idled ``keep_alive_timeout``
    the server closes it (the client reads EOF, not an answer), not before."""
    emu = make_emulator(keep_alive_timeout=IDLE)
    conn = _connection(emu)
    assert _get(conn).status == 200
    sock = conn.sock
    time.sleep(IDLE / 5)
    assert _get(conn).status == 200
    assert conn.sock is sock  # kept alive: no new connection
    idle_since = time.monotonic()
    assert sock.recv(1) == b""  # blocks until the server closes it
    waited = time.monotonic() - idle_since
    assert IDLE * 0.8 <= waited < IDLE + 5, waited
    conn.close()


def _local_port(session: requests.Session, url: str) -> int:
    """The client port of the connection that carried a 200 answer."""
    with session.get(url, stream=True, timeout=10) as r:
        port = r.raw.connection.sock.getsockname()[1]
        assert r.status_code == 200 and "is logged in" in r.text
    return port


def test_requests_reconnects_after_the_server_closed_an_idle_connection(make_emulator):
    """``requests`` (xnat_container's client) reuses a kept-alive connection, and after the
    server closed it for idling finds it dropped and opens a new one: the request after the
    idle time just works."""
    emu = make_emulator(keep_alive_timeout=IDLE)
    with requests.Session() as session:
        session.auth = ("admin", "admin")
        url = f"{emu.url}/data/auth"
        first = _local_port(session, url)
        assert _local_port(session, url) == first  # reused
        time.sleep(IDLE * 3)
        assert _local_port(session, url) != first  # reconnected, transparently


def test_slow_body_and_slow_answer_are_not_cut(make_emulator):
    """The idle timeout is not a request timeout: a form body sent in pieces with pauses longer
    than it, and an answer that takes longer than it (injected latency), both complete on a
    connection that is then still kept alive."""
    emu = make_emulator(keep_alive_timeout=IDLE)
    conn = _connection(emu)
    body = b"username=admin&password=admin"
    conn.putrequest("POST", "/data/services/auth")
    conn.putheader("Content-Type", "application/x-www-form-urlencoded")
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    for piece in (body[:10], body[10:20], body[20:]):
        time.sleep(IDLE * 2)
        conn.send(piece)
    response = conn.getresponse()
    assert response.status == 200 and len(response.read().strip()) == 32
    assert _get(conn).status == 200
    conn.close()

    slow = make_emulator(keep_alive_timeout=IDLE,
                         faults=FaultSettings(latency_min=IDLE * 3, latency_max=IDLE * 3))
    conn = _connection(slow)
    started = time.monotonic()
    assert _get(conn).status == 200
    assert time.monotonic() - started >= IDLE * 3
    sock = conn.sock
    assert _get(conn).status == 200 and conn.sock is sock
    conn.close()


def test_connection_closed_after_100_requests(make_emulator):
    """Tomcat's maxKeepAliveRequests (default 100, XNAT's server.xml keeps it): the answer to
    a connection's 100th request says ``Connection: close`` and the server ends it; the
    101st request needs a new connection (``requests`` opens one without a word)."""
    emu = make_emulator()
    conn = _connection(emu)
    first = _get(conn)
    sock = conn.sock
    assert first.getheader("Connection") != "close"
    for _ in range(98):
        assert _get(conn).getheader("Connection") != "close"
    assert conn.sock is sock                      # 99 answers on one connection
    last = _get(conn)
    assert last.getheader("Connection") == "close"
    assert conn.sock is None                      # http.client closed it as asked
    conn.close()
    with requests.Session() as session:
        session.auth = ("admin", "admin")
        url = emu.url + "/data/auth"
        first = _local_port(session, url)
        assert all(_local_port(session, url) == first for _ in range(98))
        hundredth = session.get(url, timeout=10)
        assert hundredth.status_code == 200 and hundredth.headers["Connection"] == "close"
        assert _local_port(session, url) != first
