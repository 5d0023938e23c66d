"""XnatClient against the emulator over real HTTP: login, errors, streaming, re-login, retries,
circuit breaker, timeouts, TLS and secrets.

Every test runs with DEBUG logging captured; the ``leaks`` fixture checks afterwards that no
password or session id reached the log, a client's repr or a checked exception message.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import socket
import threading
import time

import pytest
from nibabel.testing import data_path

from xnat_container.xnat import (AuthError, CircuitOpen, ConnectionFailed, Forbidden, NotFound,
                                 RequestTimedOut, XnatClient, XnatError, XnatHTTPError)
from xnat_emulator.config import FaultSettings, User

NIFTI = os.path.join(data_path, "example4d.nii.gz")
with open(NIFTI, "rb") as _f:
    NIFTI_BYTES = _f.read()
ADMIN_PW = "adm-Pw!7qZ"
BOB_PW = "bob-Pw!9xK"
USERS = (User("admin", ADMIN_PW, admin=True), User("bob", BOB_PW))
FAST = {"backoff": 0.01, "timeout": 10.0}


class RecordingClient(XnatClient):
    """Remembers every session id it was given, so the leak check knows what to look for."""

    def __init__(self, *args, seen: set[str], **kwargs):
        super().__init__(*args, **kwargs)
        self._seen = seen

    def _login_locked(self) -> None:
        super()._login_locked()
        self._seen.add(self._session[0].value)


class Leaks:
    def __init__(self, caplog):
        self.caplog = caplog
        self.secrets: set[str] = {ADMIN_PW, BOB_PW}
        self.clients: list[XnatClient] = []
        self.messages: list[str] = []

    def client(self, url: str, user: str = "admin", password: str = ADMIN_PW,
               **kwargs) -> XnatClient:
        if password:
            self.secrets.add(password)
        client = RecordingClient(url, user, password, seen=self.secrets, **{**FAST, **kwargs})
        self.clients.append(client)
        return client

    def check(self, exc: BaseException) -> str:
        """The exception's message, after checking it is one line."""
        message = str(exc)
        assert "\n" not in message and message.strip() == message, message
        self.messages.append(message)
        return message

    def verify(self) -> None:
        texts = [self.caplog.text, *self.messages, *(repr(c) for c in self.clients)]
        for secret in self.secrets:
            for text in texts:
                assert secret not in text, f"secret leaked into {text[:200]!r}"


@pytest.fixture(autouse=True)
def leaks(caplog, make_emulator):
    """Depends on make_emulator so clients are closed before their emulators stop."""
    caplog.set_level(logging.DEBUG)
    found = Leaks(caplog)
    yield found
    for client in found.clients:
        client.close()
    found.verify()


@pytest.fixture
def site(make_emulator):
    """An emulator with distinctive passwords (admin, and bob who is no admin)."""
    return make_emulator(users=USERS)


def admin_http(emu):
    return emu.http(user="admin", password=ADMIN_PW)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- login, listings, errors -------------------------------------------------------------------

def test_login_and_get_rows(site, leaks):
    """Login gets a session; listings come back as rows of strings; later requests use it."""
    client = leaks.client(site.url + "/")
    assert client.url == site.url
    client.request("PUT", "/data/projects/PROJ1")
    client.request("PUT", "/data/projects/PROJ1/subjects/SUBJ_1",
                   params={"xsiType": "xnat:subjectData"})
    assert [r["ID"] for r in client.get_rows("/data/projects")] == ["PROJ1"]
    subjects = client.get_rows("/data/projects/PROJ1/subjects")
    assert [r["label"] for r in subjects] == ["SUBJ_1"]
    assert client.get_text("/data/auth") == "User 'admin' is logged in"
    assert client.stats.requests == 6 and client.stats.relogins == 0
    assert repr(client) == f"<XnatClient {site.url} user='admin'>"


def test_bad_password_is_an_auth_error(site, leaks):
    """A rejected login is AuthError: one line naming site and user, without the password."""
    client = leaks.client(site.url, password="wrong-Pw-123")
    with pytest.raises(AuthError) as info:
        client.get_rows("/data/projects")
    assert leaks.check(info.value) == (
        f"XNAT at {site.url} rejected the credentials for user 'admin'")
    assert not info.value.retryable
    requests_sent = client.stats.requests
    with pytest.raises(AuthError):  # remembered: the bad password is not sent again
        client.get_rows("/data/projects")
    assert client.stats.requests == requests_sent
    for user, password in (("nobody", "x-Pw-1"), ("admin", "")):
        with pytest.raises(AuthError) as info:
            leaks.client(site.url, user, password).login()
        assert f"user '{user}'" in leaks.check(info.value)


def test_session_refused_after_token_invalidated(site, leaks):
    """An alias token invalidated mid-run (the Container Service at finalize): the ended session
    looks anonymous (401), the re-login is refused too -> AuthError, no secret in it."""
    http = admin_http(site)
    token = http.get("/data/services/tokens/issue").json()
    leaks.secrets.add(token["secret"])
    client = leaks.client(site.url, token["alias"], token["secret"])
    assert client.get_rows("/data/projects") == []
    http.get(f"/data/services/tokens/invalidate/{token['alias']}").raise_for_status()
    with pytest.raises(AuthError) as info:
        client.get_rows("/data/projects")
    assert token["alias"] in leaks.check(info.value)
    assert client.stats.relogins == 0


def test_wrong_path_prefix_says_so(site, leaks):
    """A URL with a prefix the site does not have: NotFound saying there is no XNAT API there."""
    client = leaks.client(site.url + "/xnat")
    with pytest.raises(NotFound) as info:
        client.login()
    message = leaks.check(info.value)
    assert message.startswith(f"no XNAT REST API at {site.url}/xnat")


def test_not_found_has_the_h3_text(site, leaks):
    """404 -> NotFound with status, method, url and the <h3> text of XNAT's status page."""
    client = leaks.client(site.url)
    with pytest.raises(NotFound) as info:
        client.get_rows("/data/projects/NOPE/subjects")
    err = info.value
    assert (err.status, err.method) == (404, "GET")
    assert err.url == f"{site.url}/data/projects/NOPE/subjects"
    assert err.excerpt == "Unable to identify project NOPE"
    assert not err.retryable
    assert leaks.check(err) == (f"XNAT at {site.url} answered 404 Not Found to GET "
                                "/data/projects/NOPE/subjects: Unable to identify project NOPE")


def test_forbidden(site, leaks):
    """403 -> Forbidden (a non-admin asking for an admin-only endpoint)."""
    client = leaks.client(site.url, "bob", BOB_PW)
    with pytest.raises(Forbidden) as info:
        client.request("PUT", "/xapi/emulator/faults", data=b"{}",
                       headers={"Content-Type": "application/json"})
    assert info.value.status == 403
    assert "Only site administrators" in leaks.check(info.value)


def test_html_page_with_200_is_an_error(site, leaks):
    """XNAT answers some requests with an HTML page and 200; unless HTML was asked for, that is
    an XnatHTTPError (xnatpy's _check_response), not data."""
    client = leaks.client(site.url)
    client.request("PUT", "/data/projects/HTML1")
    with pytest.raises(XnatHTTPError) as info:
        client.get_bytes("/data/projects/HTML1")  # no format: XNAT's default is HTML
    assert info.value.status == 200 and "HTML page" in leaks.check(info.value)
    assert client.get_text("/data/projects/HTML1", {"format": "html"}).lstrip().startswith("<")
    assert b"HTML1" in client.get_bytes("/data/projects/HTML1", {"format": "xml"})


def test_labels_with_spaces_and_unicode_are_quoted(site, leaks):
    """Unquoted paths with spaces, unicode, '#', '?' and '%' reach the server as one segment."""
    client = leaks.client(site.url)
    client.request("PUT", "/data/projects/Q1")
    name = "dir with space/ünï #1?%.txt"
    client.upload(f"/data/projects/Q1/resources/R/files/{name}", lambda: io.BytesIO(b"hi"), 2)
    rows = client.get_rows("/data/projects/Q1/resources/R/files")
    assert [r["URI"].split("/files/", 1)[1] for r in rows] == [name]
    assert client.get_bytes(f"/data/projects/Q1/resources/R/files/{name}") == b"hi"


# -- streaming ----------------------------------------------------------------------------------

class ReadSpy(io.FileIO):
    """A file that records the size of each read, to show uploads are read in blocks."""

    reads: list[int]

    def read(self, size=-1):
        data = super().read(size)
        self.reads.append(size)
        return data


def test_nifti_upload_and_download_streamed(site, leaks, tmp_path):
    """A real NIFTI goes up in blocks with Content-Length (never chunked) and comes back
    byte-identical through iter_content; XNAT's digest equals the local MD5."""
    client = leaks.client(site.url)
    client.request("PUT", "/data/projects/NII")
    size = os.path.getsize(NIFTI)
    opened: list[ReadSpy] = []

    def open_body():
        spy = ReadSpy(NIFTI, "rb")
        spy.reads = []
        opened.append(spy)
        return spy

    path = "/data/projects/NII/resources/NIFTI/files/example4d.nii.gz"
    r = client.upload(path, open_body, size, params={"format": "NIFTI"})
    assert r.status_code == 200 and r.text == ""
    assert r.request.headers["Content-Length"] == str(size)
    assert "Transfer-Encoding" not in r.request.headers
    spy = opened[-1]
    assert spy.closed and len(spy.reads) > 1 and all(0 < n < size for n in spy.reads)
    assert client.stats.bytes_sent == size

    before = client.stats.bytes_received
    target = tmp_path / "copy.nii.gz"
    chunks = 0
    with client.download(path) as r, open(target, "wb") as out:
        for chunk in r.iter_content(65536):
            out.write(chunk)
            chunks += 1
    assert chunks > 1
    assert target.read_bytes() == NIFTI_BYTES
    assert client.stats.bytes_received - before == size

    md5 = hashlib.md5(NIFTI_BYTES).hexdigest()
    [row] = client.get_rows("/data/projects/NII/resources/NIFTI/files")
    assert (row["digest"], row["Size"]) == (md5, str(size))

    again = client.upload(path, open_body, size)  # existing file, no overwrite
    assert again.json() == {"duplicates": ["example4d.nii.gz"]}


def test_upload_of_a_file_that_changed_size_fails(site, leaks):
    """A body shorter or longer than declared fails the upload instead of storing a cut file."""
    client = leaks.client(site.url)
    client.request("PUT", "/data/projects/SZ")
    for size in (10, 2):
        with pytest.raises(XnatError) as info:
            client.upload("/data/projects/SZ/resources/R/files/x.bin",
                          lambda: io.BytesIO(b"12345"), size)
        assert "declared" in leaks.check(info.value)
    # Whether the server got as far as creating resource R before the body broke off is a
    # race; what matters is that no cut file was stored.
    try:
        stored = client.get_rows("/data/projects/SZ/resources/R/files")
    except NotFound:
        stored = []
    assert stored == []


# -- sessions -----------------------------------------------------------------------------------

def test_relogin_after_sessions_expire(site, leaks):
    """All sessions ended on the server: the next request logs in again once and succeeds."""
    client = leaks.client(site.url)
    assert client.get_rows("/data/projects") == []
    admin_http(site).post("/xapi/emulator/sessions/expire").raise_for_status()
    assert client.get_rows("/data/projects") == []
    assert client.stats.relogins == 1
    assert client.get_rows("/data/projects") == []
    assert client.stats.relogins == 1


def test_eight_threads_on_an_expired_session_log_in_once(site, leaks):
    """8 threads hitting the ended session together cause exactly one re-login."""
    client = leaks.client(site.url)
    client.request("PUT", "/data/projects/T8")
    admin_http(site).post("/xapi/emulator/sessions/expire").raise_for_status()
    barrier = threading.Barrier(8)
    results, errors = [], []

    def work():
        barrier.wait()
        try:
            results.append(client.get_rows("/data/projects"))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and len(results) == 8
    assert client.stats.relogins == 1


# -- faults -------------------------------------------------------------------------------------

def test_retries_under_injected_faults(make_emulator, leaks):
    """With 30 % 5xx and 10 % connection resets, 50 GETs and 20 uploads all succeed through
    retries, and every uploaded file has the right MD5 on the server."""
    emu = make_emulator(users=USERS, faults=FaultSettings(error_rate=0.3, reset_rate=0.1,
                                                          seed=7))
    client = leaks.client(emu.url, retries=10)
    client.request("PUT", "/data/projects/FAULTS")
    for _ in range(50):
        assert client.get_rows("/data/projects")[0]["ID"] == "FAULTS"
    expected = {}
    for i in range(20):
        data = os.urandom(20_000 + i)
        expected[f"f{i:02d}.bin"] = hashlib.md5(data).hexdigest()
        r = client.upload(f"/data/projects/FAULTS/resources/R/files/f{i:02d}.bin",
                          lambda data=data: io.BytesIO(data), len(data))
        assert r.status_code == 200
    rows = client.get_rows("/data/projects/FAULTS/resources/R/files")
    assert {r["Name"]: r["digest"] for r in rows} == expected
    injected = admin_http(emu).get("/xapi/emulator/faults").json()["injected"]
    assert injected["errors"] > 0 and injected["resets"] > 0
    assert client.stats.retries > 0


def test_post_is_not_retried_by_default(make_emulator, leaks):
    """A POST may have taken effect before a 5xx: not repeated unless retry=True; GET is."""
    emu = make_emulator(users=USERS)
    client = leaks.client(emu.url, retries=2)
    client.login()
    admin_http(emu).put("/xapi/emulator/faults", json={"error_rate": 1.0}).raise_for_status()
    with pytest.raises(XnatHTTPError) as info:
        client.request("POST", "/data/projects", params={"ID": "NEWP"})
    assert info.value.retryable and client.stats.retries == 0
    leaks.check(info.value)
    with pytest.raises(XnatHTTPError):
        client.request("POST", "/data/projects", params={"ID": "NEWP"}, retry=True)
    assert client.stats.retries == 2


def test_connection_lost_during_download(make_emulator, leaks):
    """A reset after the body started is not hidden: ConnectionFailed (retryable), one line,
    so the caller can fetch the file again."""
    emu = make_emulator(users=USERS)
    client = leaks.client(emu.url)
    client.request("PUT", "/data/projects/DL")
    path = "/data/projects/DL/resources/R/files/example4d.nii.gz"
    client.upload(path, lambda: io.BytesIO(NIFTI_BYTES), len(NIFTI_BYTES))
    admin_http(emu).put("/xapi/emulator/faults", json={"reset_rate": 1.0}).raise_for_status()
    with pytest.raises(ConnectionFailed) as info, client.download(path) as r:
        for _chunk in r.iter_content(65536):
            pass
    assert info.value.retryable and info.value.reason == "reset"
    assert leaks.check(info.value).startswith(
        f"connection to XNAT at {emu.url} broke while downloading {path}")


def test_circuit_breaker_opens(make_emulator, leaks):
    """A server that only fails: after N consecutive failed requests CircuitOpen, one line;
    later requests fail at once without sending anything."""
    emu = make_emulator(users=USERS, faults=FaultSettings(error_rate=1.0, seed=1))
    client = leaks.client(emu.url, retries=2, breaker_threshold=3)
    started = time.monotonic()
    for _ in range(2):
        with pytest.raises(XnatHTTPError) as info:
            client.get_rows("/data/projects")
        assert info.value.retryable and info.value.status in (500, 503)
        assert "after 3 attempts" in leaks.check(info.value)
    with pytest.raises(CircuitOpen) as info:
        client.get_rows("/data/projects")
    message = leaks.check(info.value)
    assert message.startswith(f"stopped after 3 consecutive failures talking to {emu.url}: ")
    assert "injected fault" in message
    sent = client.stats.requests
    with pytest.raises(CircuitOpen):
        client.get_rows("/data/projects")
    assert client.stats.requests == sent == 9
    assert time.monotonic() - started < 5


def test_read_timeout_is_retried_then_fails(make_emulator, leaks):
    """Answers slower than the client's timeout: retried, then RequestTimedOut (one line)."""
    emu = make_emulator(users=USERS)
    client = leaks.client(emu.url, timeout=0.3, retries=1)
    client.login()
    admin_http(emu).put("/xapi/emulator/faults",
                        json={"latency_min": 1.0, "latency_max": 1.0}).raise_for_status()
    started = time.monotonic()
    with pytest.raises(RequestTimedOut) as info:
        client.get_rows("/data/projects")
    assert time.monotonic() - started < 2
    assert isinstance(info.value, ConnectionFailed) and info.value.retryable
    assert leaks.check(info.value) == (f"XNAT at {emu.url} did not answer GET /data/projects "
                                       "within 0.3 s (after 2 attempts)")
    assert client.stats.retries == 1


def test_connection_refused_at_first_contact_fails_at_once(leaks):
    """Nothing listening where the site has never answered (a wrong port, a site that is
    down): ConnectionFailed naming the URL at once, not after retries."""
    url = f"http://127.0.0.1:{closed_port()}"
    client = leaks.client(url, retries=2)
    with pytest.raises(ConnectionFailed) as info:
        client.login()
    assert leaks.check(info.value) == f"cannot connect to XNAT at {url}: connection refused"
    assert info.value.reason == "refused" and client.stats.retries == 0


def test_connection_refused_after_an_answer_is_retried(make_emulator, leaks):
    """Once the site has answered, a refused connection may be a restart: retried with
    backoff (the request never reached a server), then ConnectionFailed."""
    emu = make_emulator(users=USERS)
    client = leaks.client(emu.url, retries=2, backoff=0.05)
    client.login()
    emu.stop()
    with pytest.raises(ConnectionFailed) as info:
        client.get_rows("/data/projects")
    assert leaks.check(info.value) == (f"cannot connect to XNAT at {emu.url}: connection "
                                       "refused (after 3 attempts)")
    assert info.value.reason == "refused" and client.stats.retries == 2


def test_unknown_host_fails_at_once(leaks):
    """A host name that does not resolve is reported at once, not after a minute of retries."""
    client = leaks.client("https://no-such-host.invalid")
    with pytest.raises(ConnectionFailed) as info:
        client.login()
    assert "cannot resolve the host name 'no-such-host.invalid'" in leaks.check(info.value)
    assert client.stats.retries == 0


def test_tls_to_a_plain_http_port(site, leaks):
    """https:// to a plain-HTTP port: ConnectionFailed that says TLS/SSL, not retried."""
    url = site.url.replace("http://", "https://")
    client = leaks.client(url)
    with pytest.raises(ConnectionFailed) as info:
        client.login()
    message = leaks.check(info.value)
    assert message.startswith(f"TLS/SSL failure talking to {url}")
    assert info.value.reason == "tls" and client.stats.retries == 0


def test_secrets_stay_out_of_logs_and_messages(site, leaks):
    """Passwords and session ids are in no log line (DEBUG, urllib3 included), no repr and no
    message, across login, re-login, errors and close (the leaks fixture checks after)."""
    client = leaks.client(site.url)
    client.get_rows("/data/projects")
    admin_http(site).post("/xapi/emulator/sessions/expire").raise_for_status()
    client.get_rows("/data/projects")
    with pytest.raises(NotFound) as info:
        client.get_json("/data/projects/NOPE")
    leaks.check(info.value)
    assert len(leaks.secrets) >= 3  # both passwords and at least two session ids
    assert "JSESSIONID" not in leaks.caplog.text
    state = {k: v for k, v in vars(client).items() if k != "_seen"}  # _seen: the test's
    assert not any(secret in repr(state) for secret in leaks.secrets)
    client.close()
    assert "Authorization" not in leaks.caplog.text
